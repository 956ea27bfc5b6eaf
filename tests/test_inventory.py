"""segments(), limits(), remove() against ipcs -m and /proc."""
import os
import resource
import shutil
import subprocess

import _proc
import pytest

import sysvshm


def ipcs_rows():
    """`ipcs -m` as dicts keyed by shmid (key, owner, perms, bytes, nattch, status)."""
    out = subprocess.run(["ipcs", "-m"], check=True, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[0].startswith("0x"):
            rows[int(parts[1])] = {"key": int(parts[0], 16), "owner": parts[2],
                                   "perms": int(parts[3], 8), "bytes": int(parts[4]),
                                   "nattch": int(parts[5]), "status": parts[6:]}
    return rows


needs_ipcs = pytest.mark.skipif(shutil.which("ipcs") is None, reason="ipcs not installed")


@needs_ipcs
def test_segments_match_ipcs_and_proc(make_shm, free_key):
    a = make_shm(5000, mode=0o640)
    b = sysvshm.shm(free_key, 123, sysvshm.IPC_CREAT)
    try:
        b[0] = 1
        b.lock()
        a.remove()
        # ipcs first: forking it (Python 3.9's subprocess forks) makes the child
        # the segments' last pid (lpid), so the reads compared come after it.
        ipcs = ipcs_rows()
        segs = {st.shmid: st for st in sysvshm.segments()}
        for seg in (a, b):
            st, row, proc = segs[seg.shmid], ipcs[seg.shmid], _proc.row(seg.shmid)
            assert st.key & 0xFFFFFFFF == row["key"]
            assert st.size == row["bytes"] == proc["size"] == len(seg)
            assert st.mode == row["perms"] & 0o777
            assert st.nattch == row["nattch"] == 1
            assert (st.cpid, st.lpid, st.uid, st.cuid) == (
                proc["cpid"], proc["lpid"], proc["uid"], proc["cuid"])
            assert st.rss == proc["rss"] and st.swap == proc["swap"]
            assert st._replace(rss=None, swap=None, atime=0) == seg.stat()._replace(atime=0)
        assert segs[a.shmid].removed and "dest" in ipcs[a.shmid]["status"]
        assert segs[b.shmid].locked and "locked" in ipcs[b.shmid]["status"]
        assert segs[b.shmid].key == free_key
        assert segs[b.shmid].rss == sysvshm.PAGESIZE  # one page touched
        assert list(segs) == sorted(segs)
    finally:
        b.unlock()
        b.remove()
        b.close()


def test_limits_match_proc():
    lim = sysvshm.limits()
    for name in ("shmmax", "shmmni", "shmall"):
        with open(f"/proc/sys/kernel/{name}") as f:
            assert getattr(lim, name) == int(f.read())
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    unlimited = resource.RLIM_INFINITY
    assert lim.memlock_soft == (None if soft == unlimited else soft)
    assert lim.memlock_hard == (None if hard == unlimited else hard)
    assert lim.pagesize == os.sysconf("SC_PAGESIZE") and lim.shmmin == 1


def test_limits_usage_counts_a_new_segment(make_shm):
    for _ in range(10):  # others may create or remove segments meanwhile
        before = sysvshm.limits()
        seg = make_shm(3 * sysvshm.PAGESIZE)
        after = sysvshm.limits()
        if after.used_ids == before.used_ids + 1:
            break
        seg.remove()
    assert after.shm_tot - before.shm_tot == 3


def test_remove_by_id_and_by_key(make_shm, free_key):
    seg = make_shm(100)
    sysvshm.remove(shmid=seg.shmid)
    assert seg.stat().removed
    shmid = sysvshm.shmget(free_key, 10, sysvshm.IPC_CREAT | 0o600)
    sysvshm.remove(key=free_key)
    with pytest.raises(FileNotFoundError):
        sysvshm.shmctl(shmid, sysvshm.IPC_STAT)


@pytest.mark.parametrize("kwargs,exc", [({}, TypeError), ({"shmid": 1, "key": 2}, TypeError),
                                        ({"key": 0}, ValueError), ({"key": 2**40}, OverflowError),
                                        ({"shmid": "x"}, TypeError)])
def test_remove_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        sysvshm.remove(**kwargs)


def test_remove_missing(free_key):
    with pytest.raises(FileNotFoundError):
        sysvshm.remove(key=free_key)


def test_table_walk_fallback_agrees_with_proc(make_shm):
    # Platforms without /proc/sysvipc/shm list segments with SHM_STAT(_ANY);
    # on Linux both ways exist, so they must agree.
    from sysvshm import _inventory

    seg = make_shm(777)
    walked = {st.shmid: st for st in _inventory._by_index()}
    listed = {st.shmid: st for st in sysvshm.segments()}
    assert walked[seg.shmid]._replace(atime=0) == listed[seg.shmid]._replace(
        rss=None, swap=None, atime=0)


def test_segments_without_proc_walks_the_table(make_shm, monkeypatch):
    # Where /proc/sysvipc/shm is missing (a container without it, another OS),
    # segments() lists what the GIL-free walk of the kernel's table finds.
    from sysvshm import _inventory

    segs = [make_shm(size) for size in (1, 4096, 5000)]
    segs[1].remove()
    listed = {st.shmid: st for st in sysvshm.segments()}
    monkeypatch.setattr(_inventory, "_PROC", "/nonexistent/sysvipc/shm")
    walked = sysvshm.segments()
    assert [st.shmid for st in walked] == sorted(st.shmid for st in walked)
    by_id = {st.shmid: st for st in walked}
    for seg in segs:
        st = by_id[seg.shmid]
        assert (st.rss, st.swap) == (None, None)  # only /proc reports them
        assert st._replace(atime=0) == listed[seg.shmid]._replace(rss=None, swap=None, atime=0)
    assert by_id[segs[1].shmid].removed and not by_id[segs[0].shmid].removed


def _dead_pid():
    """The pid of a child that has exited and been reaped: provably gone (ESRCH)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def _stat(**fields):
    """A stat_result as segments() builds them: an unkeyed, unattached segment whose
    creator is gone and that nobody ever attached (lpid 0, atime and dtime 0)."""
    from sysvshm._types import stat_result

    base = dict(shmid=1, key=0, uid=0, gid=0, cuid=0, cgid=0, mode=0o600, size=4096,
                atime=0, dtime=0, ctime=1700000000, cpid=_dead_pid(), lpid=0, nattch=0,
                removed=False, locked=False, rss=0, swap=0)
    base.update(fields)
    return stat_result(**base)


def test_is_orphan_needs_known_gone_pids():
    from sysvshm._inventory import is_orphan

    dead, used = _dead_pid(), dict(atime=1700000001, dtime=1700000002)
    assert is_orphan(_stat())  # creator gone, nobody ever attached
    assert is_orphan(_stat(lpid=dead, **used))  # creator and last user gone
    # pid 0: the process is in a pid namespace we cannot see. Unknown, never gone.
    assert not is_orphan(_stat(cpid=0))
    assert not is_orphan(_stat(cpid=0, lpid=0, **used))
    assert not is_orphan(_stat(cpid=0, lpid=dead, **used))
    assert not is_orphan(_stat(lpid=0, **used))  # someone attached: lpid 0 is unknown
    assert not is_orphan(_stat(cpid=-1))
    # A live creator or last user (ourselves; pid 1 is alive even if kill says EPERM).
    assert not is_orphan(_stat(cpid=os.getpid()))
    assert not is_orphan(_stat(lpid=os.getpid(), **used))
    assert not is_orphan(_stat(lpid=1, **used))
    assert not is_orphan(_stat(cpid=0), keyed=True)


def test_is_orphan_attached_removed_or_keyed():
    from sysvshm._inventory import is_orphan

    assert not is_orphan(_stat(nattch=1))
    assert not is_orphan(_stat(removed=True))
    for key in (42, -1, 0x7FFFFFFF):
        assert not is_orphan(_stat(key=key))  # made on purpose, maybe to outlive its creator
        assert is_orphan(_stat(key=key), keyed=True)
        assert not is_orphan(_stat(key=key, cpid=0), keyed=True)
        assert not is_orphan(_stat(key=key, nattch=2), keyed=True)


def test_pid_alive_unknown_for_pid_0():
    from sysvshm._inventory import command_of, pid_alive

    assert pid_alive(0) is None and pid_alive(-5) is None  # unknown, not False
    assert pid_alive(os.getpid()) is True and pid_alive(1) is True
    assert pid_alive(_dead_pid()) is False
    assert command_of(0) is None
    assert command_of(os.getpid())
