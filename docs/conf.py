"""Sphinx configuration for the sysvshm documentation."""
project = "sysvshm"
author = "The sysvshm developers"
extensions = ["sphinx.ext.doctest"]
# No intersphinx: the docs build offline (CI has no network beyond package indexes).
exclude_patterns = ["_build"]
html_theme = "alabaster"
