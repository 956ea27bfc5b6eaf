"""Sphinx configuration for the sysvshm documentation."""
import ast
import pathlib

_ROOT = pathlib.Path(__file__).resolve().parent.parent


def _package_version():
    # setup.cfg takes the version from sysvshm.__version__; read it from the source
    # instead of importing the package, which needs the compiled build.
    tree = ast.parse((_ROOT / "sysvshm" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "__version__"):
            return ast.literal_eval(node.value)
    raise RuntimeError("sysvshm/__init__.py sets no __version__")


project = "sysvshm"
author = "The sysvshm developers"
copyright = "2026, The sysvshm developers (MIT License)"  # as LICENSE
release = _package_version()
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.doctest", "sphinx.ext.intersphinx"]
exclude_patterns = ["_build", "_inventories"]
html_theme = "alabaster"

# Every cross-reference must resolve (sphinx -W turns a miss into an error).
nitpicky = True

# :manpage:`shmget(2)` links to the Linux man-pages project.
manpages_url = "https://man7.org/linux/man-pages/man{section}/{page}.{section}.html"

# Links to the stdlib go to docs.python.org, but the inventory is a committed file
# (tools/python_inventory.py writes it): the build must work offline, since CI
# reaches nothing beyond the package indexes.
intersphinx_mapping = {"python": ("https://docs.python.org/3", "_inventories/python.inv")}
