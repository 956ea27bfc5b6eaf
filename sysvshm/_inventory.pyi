from typing import List

from sysvshm._types import limits_result as limits_result
from sysvshm._types import stat_result

__all__ = ["segments", "limits", "remove", "limits_result"]

def segments() -> List[stat_result]:
    """A stat_result for every segment the caller may see, ordered by id."""

def limits() -> limits_result:
    """shmctl(IPC_INFO) limits, shmctl(SHM_INFO) usage and RLIMIT_MEMLOCK."""

def remove(shmid: int | None = None, key: int | None = None) -> None:
    """IPC_RMID the segment given by exactly one of *shmid* or *key*."""

def pid_alive(pid: int) -> bool | None:
    """Whether *pid* exists in this pid namespace; None for pid <= 0 (unknown)."""

def pid_gone(pid: int) -> bool:
    """The pid is known (> 0) and kill(pid, 0) says no such process (ESRCH)."""

def never_attached(st: stat_result) -> bool:
    """No process ever attached to the segment (atime and dtime are 0)."""

def is_orphan(st: stat_result, keyed: bool = False) -> bool:
    """Whether nothing will ever use or remove the segment; conservative."""

def command_of(pid: int) -> str | None:
    """The command line of *pid* where /proc lets us read it, else None."""
