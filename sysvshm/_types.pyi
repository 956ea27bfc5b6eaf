from typing import NamedTuple

__all__ = ["stat_result", "shminfo", "shm_info", "limits_result"]

class stat_result(NamedTuple):
    """One segment's ``struct shmid_ds`` (shmctl IPC_STAT / SHM_STAT)."""

    shmid: int
    key: int
    """The key_t, signed as in C (ipcs prints it as unsigned hex)."""
    uid: int
    gid: int
    cuid: int
    cgid: int
    mode: int
    """Permission bits only (``mode & 0o777``)."""
    size: int
    """shm_segsz: the size the creator asked for, not page-rounded."""
    atime: int
    dtime: int
    ctime: int
    cpid: int
    lpid: int
    nattch: int
    removed: bool
    """IPC_RMID was called; destroyed at the last detach (SHM_DEST)."""
    locked: bool
    """SHM_LOCK is in effect (SHM_LOCKED)."""
    rss: int | None = None
    """Resident bytes, where the kernel reports them."""
    swap: int | None = None
    """Swapped bytes, where the kernel reports them."""

class shminfo(NamedTuple):
    """The system limits (shmctl IPC_INFO, Linux)."""

    shmmax: int
    """Largest segment, in bytes."""
    shmmin: int
    """Smallest segment, in bytes."""
    shmmni: int
    """Most segments in the system."""
    shmseg: int
    """Most segments one process may attach."""
    shmall: int
    """Most shared memory in the system, in pages."""
    highest_index: int
    """shmctl's return value: the highest used index."""

class shm_info(NamedTuple):
    """The system's current usage (shmctl SHM_INFO, Linux)."""

    used_ids: int
    """Segments that exist."""
    shm_tot: int
    """Pages of all segments."""
    shm_rss: int
    """Resident pages."""
    shm_swp: int
    """Swapped pages."""
    swap_attempts: int
    swap_successes: int
    highest_index: int

class limits_result(NamedTuple):
    """System V shared memory limits, current usage and this process's RLIMIT_MEMLOCK."""

    shmmax: int
    """Largest segment, bytes (kernel.shmmax)."""
    shmmin: int
    """Smallest segment, bytes."""
    shmmni: int
    """Most segments in the system (kernel.shmmni)."""
    shmseg: int
    """Most segments attached by one process."""
    shmall: int
    """Most shared memory in the system, pages (kernel.shmall)."""
    used_ids: int
    """Segments that exist now."""
    shm_tot: int
    """Pages in all segments."""
    shm_rss: int
    """Resident pages."""
    shm_swp: int
    """Swapped pages."""
    pagesize: int
    memlock_soft: int | None
    """RLIMIT_MEMLOCK in bytes, None for unlimited."""
    memlock_hard: int | None
