"""The compiled modules and PyPI's long description. Metadata lives in setup.cfg;
this file holds what setup.cfg cannot express."""
import configparser
import os
import pathlib
import re
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ["_buffer", "_shm", "mmap", "_inventory", "sync"]

# Release builds carry no debug information and no symbol table (-g0, -s: the
# wheel is a fifth of the size); a sanitizer build (CFLAGS with -fsanitize, as
# tox -e sanitizers) keeps them for its reports.
_debug = "-fsanitize" in os.environ.get("CFLAGS", "")
_compile_args = [] if _debug else ["-g0"]
_link_args = [] if _debug or sys.platform != "linux" else ["-s"]  # ld64: -s is obsolete

extensions = [
    Extension(f"sysvshm.{name}", [f"sysvshm/{name}.pyx"], include_dirs=["sysvshm/includes"],
              extra_compile_args=_compile_args, extra_link_args=_link_args)
    for name in MODULES
]



def long_description():
    """README.md as PyPI shows it: the clone-and-build commands become
    ``pip install sysvshm``, and relative links point at the project's home."""
    here = pathlib.Path(__file__).resolve().parent
    cfg = configparser.ConfigParser()
    cfg.read(here / "setup.cfg")
    home = cfg["metadata"]["url"].rstrip("/")
    versions = re.findall(r"Programming Language :: Python :: (3\.\d+)$",
                          cfg["metadata"]["classifiers"], re.M)
    text = (here / "README.md").read_text(encoding="utf-8")
    heading = "## On a fresh machine\n"
    start = text.find(heading)
    if start < 0:
        # Never fail a build over the PyPI page; the test suite checks the page
        # (tests/test_first_run.py) and fails there instead.
        print(f"setup.py: warning: README.md has no {heading.strip()!r} section to replace "
              "with pip install sysvshm; the PyPI description is README.md as it is",
              file=sys.stderr)
        start = end = 0
        install = ""
    else:
        end = text.find("\n## ", start + len(heading))
        end = len(text) if end < 0 else end + 1
        install = (
            "## Install\n\n"
            "```sh\npython3 -m pip install sysvshm\npython3 -m sysvshm demo\n```\n\n"
            f"Wheels: CPython {versions[0]}-{versions[-1]} on Linux x86_64 (manylinux2014: "
            "glibc 2.17 or later).\nElsewhere pip builds the sdist, which needs a C compiler."
            "\n\n"
        )
    text = text[:start] + install + text[end:]
    return re.sub(r"\]\((?!https?://|#)([^)\s]+)\)",
                  lambda m: f"]({home}/blob/main/{m.group(1)})", text)


setup(
    long_description=long_description(),
    ext_modules=cythonize(
        extensions,
        # The Cython compiler directives, for every module, in this one place (the
        # .pyx files carry no "# cython:" header; tests/test_config.py checks).
        compiler_directives={"language_level": 3, "embedsignature": True,
                             "embedsignature.format": "python"},
    )
)
