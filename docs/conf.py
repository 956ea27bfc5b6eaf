"""Sphinx configuration for the sysvshm documentation."""
project = "sysvshm"
author = "The sysvshm developers"
extensions = ["sphinx.ext.doctest", "sphinx.ext.intersphinx"]
intersphinx_mapping = {"python": ("https://docs.python.org/3", None)}
exclude_patterns = ["_build"]
html_theme = "alabaster"
