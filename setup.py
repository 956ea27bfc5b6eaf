"""The compiled modules. Metadata lives in setup.cfg; this file only lists the
Cython extensions, which setup.cfg cannot express."""
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ["_errors", "_buffer", "_shm", "mmap"]

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

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": 3, "embedsignature": True,
                             "embedsignature.format": "python"},
    )
)
