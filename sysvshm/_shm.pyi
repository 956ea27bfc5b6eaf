import os
from typing import Any, Mapping, Union

from sysvshm._buffer import MappedBuffer
from sysvshm._types import stat_result

# Linux; each constant exists at run time only where the platform defines it.
__all__ = [
    "IPC_CREAT",
    "IPC_EXCL",
    "IPC_INFO",
    "IPC_NOWAIT",
    "IPC_PRIVATE",
    "IPC_RMID",
    "IPC_SET",
    "IPC_STAT",
    "PAGESIZE",
    "SHMLBA",
    "SHM_EXEC",
    "SHM_HUGETLB",
    "SHM_HUGE_1GB",
    "SHM_HUGE_2MB",
    "SHM_INFO",
    "SHM_LOCK",
    "SHM_NORESERVE",
    "SHM_RDONLY",
    "SHM_REMAP",
    "SHM_RND",
    "SHM_STAT",
    "SHM_STAT_ANY",
    "SHM_UNLOCK",
    "ftok",
    "shm",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
]

PAGESIZE: int
SHMLBA: int
IPC_PRIVATE: int
IPC_CREAT: int
IPC_EXCL: int
IPC_NOWAIT: int
IPC_RMID: int
IPC_SET: int
IPC_STAT: int
IPC_INFO: int
SHM_INFO: int
SHM_STAT: int
SHM_STAT_ANY: int
SHM_LOCK: int
SHM_UNLOCK: int
SHM_RDONLY: int
SHM_RND: int
SHM_REMAP: int
SHM_EXEC: int
SHM_HUGETLB: int
SHM_HUGE_2MB: int
SHM_HUGE_1GB: int
SHM_NORESERVE: int

class shm(MappedBuffer):
    """A System V shared memory segment, attached, with the interface of mmap.mmap."""

    def __init__(
        self,
        key: int = 0,
        size: int = 0,
        flags: int = 0,
        mode: int = 0o600,
        *,
        access: int = 0,
        shmid: int | None = None,
        prefault: bool = False,
    ) -> None: ...
    @property
    def key(self) -> int: ...
    @property
    def shmid(self) -> int: ...
    def stat(self) -> stat_result: ...
    def remove(self) -> None: ...
    def lock(self) -> None: ...
    def unlock(self) -> None: ...
    def chmod(self, mode: int) -> None: ...
    def chown(self, uid: int, gid: int) -> None: ...
    def resize(self, newsize: int, /) -> None: ...
    def __reduce__(self) -> tuple[Any, ...]: ...

def ftok(path: Union[str, bytes, os.PathLike[str], os.PathLike[bytes]], proj_id: int) -> int: ...
def shmget(key: int, size: int = 0, flags: int = 0) -> int: ...
def shmat(shmid: int, flags: int = 0, *, prefault: bool = False) -> shm: ...
def shmdt(seg: shm) -> None: ...
# The result's type depends on cmd (stat_result, shminfo, shm_info or None), which
# is a plain int at type-checking time, as with fcntl.fcntl().
def shmctl(
    shmid: int, cmd: int, buf: Union[stat_result, Mapping[str, int], None] = None
) -> Any: ...
def _lookup(key: int) -> int: ...
def _rebuild(cls: type[shm], shmid: int, access: int, size: int, flags: int) -> shm: ...
