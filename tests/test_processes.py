"""Across processes: multiprocessing under fork/spawn/forkserver, other users, and
system limits in a private IPC namespace."""
import errno
import multiprocessing
import os
import pickle

import _children
import _proc
import pytest

import sysvshm

TIMEOUT = 60
START_METHODS = [m for m in ("fork", "spawn", "forkserver")
                 if m in multiprocessing.get_all_start_methods()]


run_process = _proc.run_process


@pytest.mark.parametrize("method", START_METHODS)
def test_child_attaches_by_id_and_writes(method, seg):
    run_process(method, _children.write_by_id, seg.shmid, 100, b"from the child")
    assert seg[100:114] == b"from the child"


@pytest.mark.parametrize("method", START_METHODS)
def test_segment_object_passed_to_a_child(method, seg):
    seg.seek(10)
    run_process(method, _children.write_through_pickled, seg, 0, b"pickled")
    assert seg[:7] == b"pickled"
    assert seg.tell() == 10
    assert seg.stat().nattch == 1


@pytest.mark.parametrize("method", START_METHODS)
def test_read_only_stays_read_only_in_the_child(method, seg):
    ro = sysvshm.shmat(seg.shmid, sysvshm.SHM_RDONLY)
    try:
        run_process(method, _children.read_only_write_attempt, ro)
    finally:
        ro.close()
    assert seg[0] == 0


def test_pool_map_over_one_segment(seg):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.starmap(_children.write_by_id, [(seg.shmid, i * 8, b"%08d" % i) for i in range(16)])
    assert seg[:128] == b"".join(b"%08d" % i for i in range(16))


# -- forked helpers for root-only tests ------------------------------------------------

in_child = _proc.in_child


def become_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def _other_user_checks(shmid_private, shmid_shared, payload):
    become_nobody()
    with pytest.raises(PermissionError):
        sysvshm.shmat(shmid_private)
    with pytest.raises(PermissionError):
        sysvshm.shmat(shmid_private, sysvshm.SHM_RDONLY)
    with pytest.raises(PermissionError):
        sysvshm.shmctl(shmid_private, sysvshm.IPC_STAT)
    with pytest.raises(PermissionError):
        sysvshm.shm(shmid=shmid_shared)
    ro = sysvshm.shm(shmid=shmid_shared, access=sysvshm.ACCESS_READ)
    assert ro[:len(payload)] == payload
    with pytest.raises(TypeError):
        ro[0] = 0
    ro.close()
    for shmid in (shmid_private, shmid_shared):
        with pytest.raises(PermissionError):
            sysvshm.shmctl(shmid, sysvshm.IPC_RMID)
        with pytest.raises(PermissionError):
            sysvshm.shmctl(shmid, sysvshm.IPC_SET, {"mode": 0o666})
        with pytest.raises(PermissionError):
            sysvshm.shmctl(shmid, sysvshm.IPC_SET, {"uid": 65534})
        with pytest.raises(PermissionError):
            sysvshm.shmctl(shmid, sysvshm.SHM_LOCK)


@pytest.mark.root
@pytest.mark.parametrize("shared_mode", [0o640, 0o644])
def test_another_user_is_kept_out(make_shm, shared_mode):
    private = make_shm(4096)
    shared = make_shm(4096, mode=shared_mode)
    if shared_mode == 0o640:
        shared.chown(-1, 65534)  # nobody's group may read
    shared[:6] = b"public"
    in_child(_other_user_checks, private.shmid, shared.shmid, b"public")
    assert private.stat().mode == 0o600 and not private.stat().removed
    assert shared.stat().mode == shared_mode


# -- limits in a private IPC namespace -------------------------------------------------

unshare_ipc = _proc.unshare_ipc


def set_limit(name, value):
    with open(f"/proc/sys/kernel/{name}", "w") as f:
        f.write(str(value))


def _exhaust_shmmni():
    unshare_ipc()
    set_limit("shmmni", 3)
    segs = [sysvshm.shm(size=4096) for _ in range(3)]
    with pytest.raises(OSError) as info:
        sysvshm.shm(size=4096)
    assert info.value.errno == errno.ENOSPC
    assert "shmmni=3" in str(info.value)
    with pytest.raises(OSError, match="shmmni=3"):
        sysvshm.shmget(sysvshm.IPC_PRIVATE, 10, 0o600)
    assert sysvshm.shmctl(0, sysvshm.SHM_INFO).used_ids == 3
    for s in segs:
        s.remove()
        s.close()
    assert sysvshm.shmctl(0, sysvshm.SHM_INFO).used_ids == 0


def _exhaust_shmmax():
    unshare_ipc()
    set_limit("shmmax", 8192)
    with pytest.raises(OSError) as info:
        sysvshm.shm(size=8193)
    assert info.value.errno == errno.EINVAL
    assert "shmmax=8192" in str(info.value)
    s = sysvshm.shm(size=8192)
    s.remove()
    s.close()
    assert sysvshm.shmctl(0, sysvshm.SHM_INFO).used_ids == 0


def _exhaust_shmall():
    unshare_ipc()
    set_limit("shmall", 4)
    first = sysvshm.shm(size=3 * sysvshm.PAGESIZE)
    with pytest.raises(OSError) as info:
        sysvshm.shm(size=2 * sysvshm.PAGESIZE)
    assert info.value.errno == errno.ENOSPC
    assert "shmall=4" in str(info.value) and "3 in use" in str(info.value)
    assert sysvshm.shmctl(0, sysvshm.SHM_INFO).used_ids == 1
    first.remove()
    first.close()
    assert sysvshm.shmctl(0, sysvshm.SHM_INFO).used_ids == 0


@_proc.needs_ipc_namespace()
@pytest.mark.parametrize("scenario", [_exhaust_shmmni, _exhaust_shmmax, _exhaust_shmall],
                         ids=["shmmni", "shmmax", "shmall"])
def test_exhausted_limits_are_named(scenario):
    in_child(scenario)


def test_unpickle_in_another_process_after_remove_fails_cleanly(seg):
    blob = pickle.dumps(seg)
    seg.remove()
    seg.close()

    def attach():
        with pytest.raises(FileNotFoundError):
            pickle.loads(blob)

    in_child(attach)


def _sleep_for_ever():
    import time
    time.sleep(600)


def test_in_child_kills_a_child_that_hangs_and_fails():
    import time

    def children():
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            return set(f.read().split())

    before = children()
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match="still running after 1s: killed"):
        _proc.in_child(_sleep_for_ever, timeout=1)
    assert time.monotonic() - t0 < 30
    assert children() <= before  # killed and reaped: no zombie left behind
