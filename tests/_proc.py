"""Reading /proc/sysvipc/shm in tests, and telling our segments from anyone else's.

The machine is shared (tox runs environments in parallel), so "a segment appeared"
is not enough to blame a test: a segment is ours when this process created it, or
a process that has since exited or whose parent is this process.
"""
import os


def rows():
    """Every segment in /proc/sysvipc/shm, as dicts of ints (perms parsed as octal)."""
    with open("/proc/sysvipc/shm") as f:
        header = next(f).split()
        return [{k: int(v, 8 if k == "perms" else 10) for k, v in zip(header, line.split())}
                for line in f if line.strip()]


def row(shmid):
    for r in rows():
        if r["shmid"] == shmid:
            return r
    return None


def _parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # gone


def ours(r, me=None):
    me = me or os.getpid()
    if r["cpid"] == me:
        return True
    parent = _parent_of(r["cpid"])
    return parent is None or parent == me


def own_ids():
    """Ids of the segments this test process (or its children) created."""
    me = os.getpid()
    return {r["shmid"] for r in rows() if ours(r, me)}
