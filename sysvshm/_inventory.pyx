"""What exists and what the system allows: segments(), limits(), remove().

On Linux the inventory comes from /proc/sysvipc/shm, which lists every segment
(with resident and swapped sizes) whatever its permissions; elsewhere, or without
/proc, _by_index() walks the kernel's table with shmctl(SHM_STAT_ANY or SHM_STAT).
This module is that walk's one home.
"""
from libc.errno cimport errno
from libc.stdlib cimport free, realloc
from libc.string cimport memset

from sysvshm._errors cimport raise_oserror
from sysvshm._shm cimport stat_result_of
from sysvshm.includes cimport compat

import os

from sysvshm import _shm
from sysvshm._types import limits_result, stat_result

__all__ = ["segments", "limits", "remove", "limits_result"]

_PROC = "/proc/sysvipc/shm"


cdef struct _Found:
    int shmid  # SHM_STAT's return value: the id of the segment at that index
    compat.sysvshm_stat_t st


def _proc_rows():
    with open(_PROC) as f:
        header = f.readline().split()
        for line in f:
            fields = line.split()
            if len(fields) == len(header):
                yield dict(zip(header, fields))


def _from_proc(row):
    mode = int(row["perms"], 8)
    key = int(row["key"])
    return stat_result(
        int(row["shmid"]), key, int(row["uid"]), int(row["gid"]), int(row["cuid"]),
        int(row["cgid"]), mode & 0o777, int(row["size"]), int(row["atime"]),
        int(row["dtime"]), int(row["ctime"]), int(row["cpid"]), int(row["lpid"]),
        int(row["nattch"]), bool(mode & compat.SYSVSHM_SHM_DEST),
        bool(mode & compat.SYSVSHM_SHM_LOCKED),
        int(row["rss"]) if "rss" in row else None,
        int(row["swap"]) if "swap" in row else None)


def _by_index():
    """A stat_result for every segment at an index up to SHM_INFO's highest one.

    The whole walk runs in one GIL-free loop: a table of thousands of indexes is
    thousands of shmctl() calls, which other threads should not wait behind.
    """
    if not (compat.SYSVSHM_HAVE_SHM_INFO
            and (compat.SYSVSHM_HAVE_SHM_STAT_ANY or compat.SYSVSHM_HAVE_SHM_STAT)):
        raise NotImplementedError("this platform offers no way to list segments")
    # SHM_STAT_ANY (Linux 4.17) reads segments whatever their permissions.
    cdef int cmd = compat.SHM_STAT_ANY if compat.SYSVSHM_HAVE_SHM_STAT_ANY else compat.SHM_STAT
    cdef compat.sysvshm_usage_t usage
    cdef _Found *found = NULL
    cdef _Found *grown
    cdef int highest, index, shmid, err = 0
    cdef size_t i, count = 0, room = 0
    cdef bint no_memory = False
    memset(&usage, 0, sizeof(usage))
    with nogil:
        highest = compat.sysvshm_shm_info(&usage)
        if highest == -1:
            err = errno
        for index in range(highest + 1):
            if count == room:
                # Sized by the segments that exist, not by the highest index (the
                # table may be sparse); grown if segments appear meanwhile.
                room = 2 * room if room else <size_t>usage.used_ids + 16
                grown = <_Found *>realloc(found, room * sizeof(_Found))
                if grown == NULL:
                    no_memory = True
                    break
                found = grown
            shmid = compat.sysvshm_stat(index, cmd, &found[count].st)
            if shmid != -1:  # else a free slot, or (SHM_STAT) one we may not read
                found[count].shmid = shmid
                count += 1
    try:
        if highest == -1:
            raise_oserror(err, "SHM_INFO")
        if no_memory:
            raise MemoryError()
        return [stat_result_of(found[i].shmid, &found[i].st) for i in range(count)]
    finally:
        free(found)


def segments():
    """A stat_result for every segment the caller may see, ordered by id."""
    try:
        found = [_from_proc(row) for row in _proc_rows()]
    except FileNotFoundError:
        found = _by_index()
    return sorted(found, key=lambda st: st.shmid)


def limits():
    """shmctl(IPC_INFO) limits, shmctl(SHM_INFO) usage and RLIMIT_MEMLOCK."""
    import resource  # here: a module few callers of the package need

    info = _shm.shmctl(0, _shm.IPC_INFO)
    usage = _shm.shmctl(0, _shm.SHM_INFO)
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    unlimited = resource.RLIM_INFINITY
    return limits_result(
        info.shmmax, info.shmmin, info.shmmni, info.shmseg, info.shmall, usage.used_ids,
        usage.shm_tot, usage.shm_rss, usage.shm_swp, _shm.PAGESIZE,
        None if soft == unlimited else soft, None if hard == unlimited else hard)


def remove(shmid=None, key=None):
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


def pid_alive(pid):
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


def pid_gone(pid):
    """The pid is known (> 0) and kill(pid, 0) says no such process (ESRCH)."""
    return pid > 0 and pid_alive(pid) is False


def never_attached(st):
    """No process ever attached to the segment, so it has no last user (lpid 0)."""
    return st.atime == 0 and st.dtime == 0


def is_orphan(st, keyed=False):
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


def command_of(pid):
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


def _proc_is_ours():
    """Whether /proc shows this process's pid namespace (/proc/self is our pid)."""
    try:
        return os.readlink("/proc/self") == str(os.getpid())
    except OSError:
        return False
