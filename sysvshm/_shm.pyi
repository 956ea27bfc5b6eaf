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
"""The size of a memory page in bytes (sysconf(_SC_PAGESIZE))."""
SHMLBA: int
"""Attach addresses are rounded down to a multiple of this with SHM_RND."""
IPC_PRIVATE: int
"""The key that always creates a new segment, found only by its id."""
IPC_CREAT: int
"""shmget flag: create the segment if the key has none."""
IPC_EXCL: int
"""shmget flag, with IPC_CREAT: fail with FileExistsError if the key has a segment."""
IPC_NOWAIT: int
"""The IPC flag for calls that could block; no shared memory call does."""
IPC_RMID: int
"""shmctl command: destroy the segment after the last detach."""
IPC_SET: int
"""shmctl command: set the owner and permission bits."""
IPC_STAT: int
"""shmctl command: return the segment's stat_result."""
IPC_INFO: int
"""shmctl command: return the system limits (shminfo)."""
SHM_INFO: int
"""shmctl command: return the system's usage (shm_info)."""
SHM_STAT: int
"""shmctl command: stat_result by index into the kernel's table."""
SHM_STAT_ANY: int
"""shmctl command: SHM_STAT without the read-permission check (Linux 4.17)."""
SHM_LOCK: int
"""shmctl command: keep the segment's pages in RAM."""
SHM_UNLOCK: int
"""shmctl command: let the segment's pages be swapped again."""
SHM_RDONLY: int
"""shmat flag: attach read-only."""
SHM_RND: int
"""shmat flag: round the attach address down to SHMLBA (accepted; the kernel picks it)."""
SHM_REMAP: int
"""shmat flag: replace a mapping at the address (refused with ValueError)."""
SHM_EXEC: int
"""shmat flag: allow executing the segment's contents."""
SHM_HUGETLB: int
"""shmget flag: back the segment with huge pages."""
SHM_HUGE_2MB: int
"""shmget flag, with SHM_HUGETLB: 2 MiB huge pages."""
SHM_HUGE_1GB: int
"""shmget flag, with SHM_HUGETLB: 1 GiB huge pages."""
SHM_NORESERVE: int
"""shmget flag: reserve no swap space for the segment."""

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
    def key(self) -> int:
        """The segment's key (IPC_PRIVATE is 0); readable after close()."""
    @property
    def shmid(self) -> int:
        """The segment's id; readable after close()."""
    def stat(self) -> stat_result:
        """shmctl(IPC_STAT): the segment's stat_result."""
    def remove(self) -> None:
        """shmctl(IPC_RMID): destroy the segment when the last process detaches."""
    def lock(self) -> None:
        """shmctl(SHM_LOCK): keep the segment's pages in RAM."""
    def unlock(self) -> None:
        """shmctl(SHM_UNLOCK): let the segment's pages be swapped again."""
    def chmod(self, mode: int) -> None:
        """shmctl(IPC_SET): set the permission bits."""
    def chown(self, uid: int, gid: int) -> None:
        """shmctl(IPC_SET): set the owner; -1 keeps the current uid or gid."""
    def resize(self, newsize: int, /) -> None:
        """Always refused (SystemError): a System V segment cannot change size."""
    def __reduce__(self) -> tuple[Any, ...]: ...

def ftok(path: Union[str, bytes, os.PathLike[str], os.PathLike[bytes]], proj_id: int) -> int:
    """ftok(3): a key from an existing file's inode and a project id (1-255)."""
def shmget(key: int, size: int = 0, flags: int = 0) -> int:
    """shmget(2): the id of the segment of key, created if flags has IPC_CREAT."""
def shmat(shmid: int, flags: int = 0, *, prefault: bool = False) -> shm:
    """shmat(2): attach the segment shmid and return it as a shm object."""
def shmdt(seg: shm) -> None:
    """shmdt(2): detach seg (the same as seg.close())."""
# The result's type depends on cmd (stat_result, shminfo, shm_info or None), which
# is a plain int at type-checking time, as with fcntl.fcntl().
def shmctl(
    shmid: int, cmd: int, buf: Union[stat_result, Mapping[str, int], None] = None
) -> Any:
    """shmctl(2): run cmd on shmid (IPC_STAT, IPC_SET, IPC_RMID, SHM_LOCK, ...)."""
