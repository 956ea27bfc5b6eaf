"""Result types of shmctl(): plain named tuples, like os.stat_result's fields."""
from typing import NamedTuple, Optional

__all__ = ["stat_result", "shminfo", "shm_info"]


class stat_result(NamedTuple):
    """One segment's ``struct shmid_ds`` (shmctl IPC_STAT / SHM_STAT)."""

    shmid: int
    key: int  #: the key_t, signed as in C (ipcs prints it as unsigned hex)
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int  #: permission bits only (``mode & 0o777``)
    size: int  #: shm_segsz: the size the creator asked for, not page-rounded
    atime: int
    dtime: int
    ctime: int
    cpid: int
    lpid: int
    nattch: int
    removed: bool  #: IPC_RMID was called; destroyed at the last detach (SHM_DEST)
    locked: bool  #: SHM_LOCK is in effect (SHM_LOCKED)
    rss: Optional[int] = None  #: resident bytes, where the kernel reports them
    swap: Optional[int] = None  #: swapped bytes, where the kernel reports them


class shminfo(NamedTuple):
    """The system limits (shmctl IPC_INFO, Linux)."""

    shmmax: int  #: largest segment, in bytes
    shmmin: int  #: smallest segment, in bytes
    shmmni: int  #: most segments in the system
    shmseg: int  #: most segments one process may attach
    shmall: int  #: most shared memory in the system, in pages
    highest_index: int  #: shmctl's return value: the highest used index


class shm_info(NamedTuple):
    """The system's current usage (shmctl SHM_INFO, Linux)."""

    used_ids: int  #: segments that exist
    shm_tot: int  #: pages of all segments
    shm_rss: int  #: resident pages
    shm_swp: int  #: swapped pages
    swap_attempts: int
    swap_successes: int
    highest_index: int
