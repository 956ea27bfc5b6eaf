"""sysvshm: System V shared memory for Python, with the interface of mmap.

``sysvshm.shm`` is a segment object that behaves like ``mmap.mmap``; the
functions ftok, shmget, shmat, shmdt and shmctl mirror the C API of
<sys/ipc.h> and <sys/shm.h> as the os module mirrors system calls.
"""
try:
    from sysvshm._buffer import ACCESS_DEFAULT, ACCESS_READ, ACCESS_WRITE  # noqa: F401
except ModuleNotFoundError as _exc:  # pragma: no cover (a source tree without a build)
    if _exc.name != "sysvshm._buffer":
        raise
    raise ImportError(
        "sysvshm is being imported from its source tree, which holds no compiled build: "
        "install it (python3 -m pip install .) and run Python outside the tree or with -I"
    ) from None
from sysvshm._shm import *  # noqa: F401,F403  (the platform's constants)
from sysvshm._shm import __all__ as _shm_all

__version__ = "0.1.0"

__all__ = sorted(
    [*_shm_all, "ACCESS_DEFAULT", "ACCESS_READ", "ACCESS_WRITE", "stat_result",
     "shminfo", "shm_info", "segments", "limits", "limits_result", "remove",
     "__version__"]
)


# The inventory and the result types are loaded on first use, as concurrent.futures
# loads its executors: most importers (sysvshm.mmap, a worker attaching one
# segment) never need them.
_LAZY = {"segments": "_inventory", "limits": "_inventory", "remove": "_inventory",
         "stat_result": "_types", "shminfo": "_types", "shm_info": "_types",
         "limits_result": "_types"}


def __getattr__(name):
    if name in _LAZY:
        if _LAZY[name] == "_inventory":
            from sysvshm import _inventory as module
        else:
            from sysvshm import _types as module
        value = globals()[name] = getattr(module, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
