"""The compiled modules. Metadata lives in setup.cfg; this file only lists the
Cython extensions, which setup.cfg cannot express."""
from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ["_errors", "_buffer", "_shm", "mmap"]

extensions = [
    Extension(f"sysvshm.{name}", [f"sysvshm/{name}.pyx"], include_dirs=["sysvshm/includes"])
    for name in MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": 3, "embedsignature": True},
    )
)
