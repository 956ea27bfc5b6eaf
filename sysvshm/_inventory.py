"""What exists and what the system allows: segments(), limits(), remove().

On Linux the inventory comes from /proc/sysvipc/shm, which lists every segment
(with resident and swapped sizes) whatever its permissions; elsewhere it walks the
kernel's table with shmctl(SHM_STAT_ANY or SHM_STAT).
"""
import os
import resource
from typing import Dict, Iterator, List, NamedTuple, Optional

from sysvshm import _shm
from sysvshm._types import stat_result

__all__ = ["segments", "limits", "remove", "limits_result"]

_PROC = "/proc/sysvipc/shm"
_SHM_DEST = 0o1000  # mode bits the kernel adds (shmctl(2): SHM_DEST, SHM_LOCKED)
_SHM_LOCKED = 0o2000


class limits_result(NamedTuple):
    """System V shared memory limits, current usage and this process's RLIMIT_MEMLOCK."""

    shmmax: int  #: largest segment, bytes (kernel.shmmax)
    shmmin: int  #: smallest segment, bytes
    shmmni: int  #: most segments in the system (kernel.shmmni)
    shmseg: int  #: most segments attached by one process
    shmall: int  #: most shared memory in the system, pages (kernel.shmall)
    used_ids: int  #: segments that exist now
    shm_tot: int  #: pages in all segments
    shm_rss: int  #: resident pages
    shm_swp: int  #: swapped pages
    pagesize: int
    memlock_soft: Optional[int]  #: RLIMIT_MEMLOCK in bytes, None for unlimited
    memlock_hard: Optional[int]


def _proc_rows() -> Iterator[Dict[str, str]]:
    with open(_PROC) as f:
        header = f.readline().split()
        for line in f:
            fields = line.split()
            if len(fields) == len(header):
                yield dict(zip(header, fields))


def _from_proc(row: Dict[str, str]) -> stat_result:
    mode = int(row["perms"], 8)
    key = int(row["key"])
    return stat_result(
        int(row["shmid"]), key, int(row["uid"]), int(row["gid"]), int(row["cuid"]),
        int(row["cgid"]), mode & 0o777, int(row["size"]), int(row["atime"]),
        int(row["dtime"]), int(row["ctime"]), int(row["cpid"]), int(row["lpid"]),
        int(row["nattch"]), bool(mode & _SHM_DEST), bool(mode & _SHM_LOCKED),
        int(row["rss"]) if "rss" in row else None,
        int(row["swap"]) if "swap" in row else None)


def _by_index() -> List[stat_result]:
    cmd = getattr(_shm, "SHM_STAT_ANY", None) or getattr(_shm, "SHM_STAT", None)
    if cmd is None:
        raise NotImplementedError("this platform offers no way to list segments")
    found = []
    for index in range(_shm.shmctl(0, _shm.SHM_INFO).highest_index + 1):
        try:
            found.append(_shm.shmctl(index, cmd))
        except OSError:
            continue  # a free slot, or (SHM_STAT) one we may not read
    return found


def segments() -> List[stat_result]:
    """A stat_result for every segment the caller may see, ordered by id."""
    try:
        found = [_from_proc(row) for row in _proc_rows()]
    except FileNotFoundError:
        found = _by_index()
    return sorted(found, key=lambda st: st.shmid)


def limits() -> limits_result:
    """shmctl(IPC_INFO) limits, shmctl(SHM_INFO) usage and RLIMIT_MEMLOCK."""
    info = _shm.shmctl(0, _shm.IPC_INFO)
    usage = _shm.shmctl(0, _shm.SHM_INFO)
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    unlimited = resource.RLIM_INFINITY
    return limits_result(
        info.shmmax, info.shmmin, info.shmmni, info.shmseg, info.shmall, usage.used_ids,
        usage.shm_tot, usage.shm_rss, usage.shm_swp, _shm.PAGESIZE,
        None if soft == unlimited else soft, None if hard == unlimited else hard)


def remove(shmid: Optional[int] = None, key: Optional[int] = None) -> None:
    """IPC_RMID the segment given by exactly one of *shmid* or *key*.

    The kernel destroys it once the last process detaches.
    """
    if (shmid is None) == (key is None):
        raise TypeError("remove() takes exactly one of shmid= or key=")
    if key is not None:
        if key == _shm.IPC_PRIVATE:
            raise ValueError("IPC_PRIVATE names no single segment; remove by shmid")
        _shm.shmctl(_shm.shmget(key), _shm.IPC_RMID)
    elif shmid is not None:
        _shm.shmctl(shmid, _shm.IPC_RMID)


def pid_alive(pid: int) -> Optional[bool]:
    """Whether a process with this pid exists, as this process's pid namespace sees it.

    None for pid <= 0, meaning *unknown*: the kernel reports pid 0 for a process
    in a pid namespace the caller cannot see (containers of one pod may share IPC
    but not pids), and for a segment nobody has attached to (lpid). Never treat
    None as "gone". PermissionError from kill(pid, 0) means the process exists.
    """
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_gone(pid: int) -> bool:
    """The pid is known (> 0) and kill(pid, 0) says no such process (ESRCH)."""
    return pid > 0 and pid_alive(pid) is False


def never_attached(st: stat_result) -> bool:
    """No process ever attached to the segment, so it has no last user (lpid 0)."""
    return st.atime == 0 and st.dtime == 0


def is_orphan(st: stat_result, keyed: bool = False) -> bool:
    """Whether nothing will ever use or remove the segment; conservative.

    True only when nobody is attached (nattch 0), it is not already marked for
    destruction, its key is IPC_PRIVATE (any key if *keyed*), its creator (cpid)
    is known and gone, and its last user (lpid) is known and gone or there never
    was one (nobody ever attached: atime and dtime are 0). A pid is known when it
    is > 0 and gone when kill(pid, 0) fails with ESRCH; pid 0 means unknown.
    """
    if st.nattch != 0 or st.removed:
        return False
    if st.key != _shm.IPC_PRIVATE and not keyed:
        return False
    if not pid_gone(st.cpid):
        return False
    if st.lpid == 0 and never_attached(st):
        return True
    return pid_gone(st.lpid)


def command_of(pid: int) -> Optional[str]:
    """The command line of *pid* where /proc lets us read it, else None.

    None too for pid <= 0 (unknown) and when /proc belongs to another pid
    namespace than this process's, where /proc/PID would be some other process.
    """
    if pid <= 0 or not _proc_is_ours():
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if not raw:
        # A kernel thread or a zombie: its name, which any process may set to any
        # bytes (prctl PR_SET_NAME), so decoded as leniently as the command line.
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                return f"[{f.read().strip().decode(errors='replace')}]"
        except OSError:
            return None
    return " ".join(part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0"))


def _proc_is_ours() -> bool:
    """Whether /proc shows this process's pid namespace (/proc/self is our pid)."""
    try:
        return os.readlink("/proc/self") == str(os.getpid())
    except OSError:
        return False
