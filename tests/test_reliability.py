"""Reliability: a catalogue of bad inputs, threads racing close(), processes writing
concurrently, and resource use over many cycles. Nothing may crash the interpreter."""
import hashlib
import multiprocessing
import os
import signal
import threading

import _children
import _proc
import pytest
from _stress import scaled

import sysvshm
import sysvshm.mmap as smmap
from sysvshm import shared_memory

PAGE = sysvshm.PAGESIZE


def _removed_id():
    shmid = sysvshm.shmget(sysvshm.IPC_PRIVATE, 10, 0o600)
    sysvshm.shmctl(shmid, sysvshm.IPC_RMID)
    return shmid


def _closed_shm():
    seg = sysvshm.shm(size=10)
    seg.remove()
    seg.close()
    return seg


def _closed_mmap():
    m = smmap.mmap(-1, 10)
    m.close()
    return m


# (description, callable, expected exception). Each runs in this process: a crash
# would take the whole test run down with it.
CATALOGUE = [
    ("ftok: None path", lambda: sysvshm.ftok(None, 1), TypeError),
    ("ftok: NUL in path", lambda: sysvshm.ftok("/tmp\0x", 1), ValueError),
    ("ftok: proj_id 0", lambda: sysvshm.ftok("/tmp", 0), ValueError),
    ("ftok: proj_id str", lambda: sysvshm.ftok("/tmp", "1"), TypeError),
    ("ftok: proj_id huge", lambda: sysvshm.ftok("/tmp", 2**40), OverflowError),
    ("ftok: non-UTF-8 missing path", lambda: sysvshm.ftok(b"/nonexistent/\xff", 1),
     FileNotFoundError),
    ("shmget: key 2**32", lambda: sysvshm.shmget(2**32, 10), OverflowError),
    ("shmget: key -2**31-1", lambda: sysvshm.shmget(-2**31 - 1, 10), OverflowError),
    ("shmget: negative size", lambda: sysvshm.shmget(0, -1), ValueError),
    ("shmget: huge size", lambda: sysvshm.shmget(0, 2**64), OverflowError),
    ("shmget: flags str", lambda: sysvshm.shmget(0, 10, "x"), TypeError),
    ("shmget: bytes key", lambda: sysvshm.shmget(b"k", 10), TypeError),
    ("shmget: conflicting EXCL without CREAT on missing key",
     lambda: sysvshm.shmget(0x7E7E7E7E, 10, sysvshm.IPC_EXCL), FileNotFoundError),
    ("shmat: negative id", lambda: sysvshm.shmat(-1), OverflowError),
    ("shmat: removed id", lambda: sysvshm.shmat(_removed_id()), FileNotFoundError),
    ("shmat: SHM_REMAP", lambda: sysvshm.shmat(0, sysvshm.SHM_REMAP), ValueError),
    ("shmat: float flags", lambda: sysvshm.shmat(0, 1.0), TypeError),
    ("shmdt: not a segment", lambda: sysvshm.shmdt(None), TypeError),
    ("shmctl: removed id STAT", lambda: sysvshm.shmctl(_removed_id(), sysvshm.IPC_STAT),
     FileNotFoundError),
    ("shmctl: removed id RMID", lambda: sysvshm.shmctl(_removed_id(), sysvshm.IPC_RMID),
     FileNotFoundError),
    ("shmctl: unknown cmd", lambda: sysvshm.shmctl(0, 12345), ValueError),
    ("shmctl: cmd str", lambda: sysvshm.shmctl(0, "stat"), TypeError),
    ("shmctl: IPC_SET bad buf", lambda: sysvshm.shmctl(0, sysvshm.IPC_SET, 1), TypeError),
    ("shmctl: IPC_SET bad mode",
     lambda: sysvshm.shmctl(0, sysvshm.IPC_SET, {"mode": 0o10000}), ValueError),
    ("shmctl: SHM_STAT bad index", lambda: sysvshm.shmctl(2**31 - 1, sysvshm.SHM_STAT),
     OSError),
    ("shm: negative size", lambda: sysvshm.shm(size=-5), ValueError),
    ("shm: zero size private", lambda: sysvshm.shm(size=0), ValueError),
    ("shm: huge size", lambda: sysvshm.shm(size=2**63), OverflowError),
    ("shm: ACCESS_COPY", lambda: sysvshm.shm(size=10, access=3), ValueError),
    ("shm: bad access", lambda: sysvshm.shm(size=10, access=42), ValueError),
    ("shm: perm bits in flags", lambda: sysvshm.shm(size=10, flags=0o644), ValueError),
    ("shm: mode too big", lambda: sysvshm.shm(size=10, mode=0o7777), ValueError),
    ("shm: removed shmid", lambda: sysvshm.shm(shmid=_removed_id()), FileNotFoundError),
    ("shm: closed stat", lambda: _closed_shm().stat(), ValueError),
    ("shm: closed read", lambda: _closed_shm().read(), ValueError),
    ("shm: closed view", lambda: memoryview(_closed_shm()), ValueError),
    ("shm: closed slice set", lambda: _closed_shm().__setitem__(slice(0, 1), b"x"),
     ValueError),
    ("shm: closed pickle", lambda: __import__("pickle").dumps(_closed_shm()), ValueError),
    ("remove: both", lambda: sysvshm.remove(shmid=1, key=1), TypeError),
    ("remove: removed id", lambda: sysvshm.remove(shmid=_removed_id()), FileNotFoundError),
    ("remove: key out of range", lambda: sysvshm.remove(key=-2**40), OverflowError),
    ("mmap: negative length", lambda: smmap.mmap(-1, -1), OverflowError),
    ("mmap: huge length", lambda: smmap.mmap(-1, 2**62), OSError),
    ("mmap: negative offset", lambda: smmap.mmap(-1, 10, offset=-PAGE), OverflowError),
    ("mmap: unaligned offset", lambda: smmap.mmap(-1, 10, offset=1), OSError),
    ("mmap: closed fd", lambda: smmap.mmap(987654, 10), OSError),
    ("mmap: access and prot", lambda: smmap.mmap(-1, 10, prot=1, access=1), ValueError),
    ("mmap: MAP_FIXED", lambda: smmap.mmap(-1, 10, flags=0x11), ValueError),
    ("mmap: hugetlb unreserved",
     lambda: smmap.mmap(-1, 2 << 20, flags=smmap.MAP_PRIVATE | smmap.MAP_HUGETLB), OSError),
    ("mmap: closed resize", lambda: _closed_mmap().resize(10), ValueError),
    ("mmap: closed mlock", lambda: _closed_mmap().mlock(), ValueError),
    ("mmap: closed mincore", lambda: _closed_mmap().mincore(), ValueError),
    ("mmap: resize negative", lambda: smmap.mmap(-1, 10, flags=smmap.MAP_PRIVATE).resize(-1),
     ValueError),
    ("mmap: mlock beyond", lambda: smmap.mmap(-1, 10).mlock(10), ValueError),
    ("mmap: madvise bad advice", lambda: smmap.mmap(-1, 10).madvise(12345), OSError),
    ("SharedMemory: NUL name",
     lambda: shared_memory.SharedMemory("a\0", create=True, size=1), ValueError),
    ("SharedMemory: bytes name", lambda: shared_memory.SharedMemory(b"n"), TypeError),
    ("SharedMemory: zero size", lambda: shared_memory.SharedMemory(create=True, size=0),
     ValueError),
    ("SharedMemory: negative size", lambda: shared_memory.SharedMemory("x", size=-1),
     ValueError),
    ("SharedMemory: huge size",
     lambda: shared_memory.SharedMemory(create=True, size=2**64), OverflowError),
    ("SharedMemory: missing", lambda: shared_memory.SharedMemory("sysvshm-missing-name"),
     FileNotFoundError),
    ("ShareableList: unsupported type", lambda: shared_memory.ShareableList([[1]]), KeyError),
    ("ShareableList: missing name", lambda: shared_memory.ShareableList(name="nope-nope"),
     FileNotFoundError),
]


@pytest.mark.parametrize("call,exc", [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_bad_input_gets_a_clear_exception(call, exc):
    before = _proc.own_ids()
    with pytest.raises(exc) as info:
        call()
    assert str(info.value)  # a message, not a bare exception
    import gc
    gc.collect()
    assert _proc.own_ids() == before  # and nothing was created or left behind


# -- threads ------------------------------------------------------------------------------

ROUNDS = scaled(5000, 600)  # close-while-in-use rounds per test (tests/_stress.py)


def race(make, use, rounds):
    errors = []

    def worker(obj, stop):
        while not stop.is_set():
            try:
                use(obj)
            except (ValueError, BufferError, FileNotFoundError):
                pass  # closed or removed under us: a clean Python error
            except Exception as exc:  # anything else is a bug
                errors.append(repr(exc))
                return

    for _ in range(rounds):
        obj, finish = make()
        stop = threading.Event()
        threads = [threading.Thread(target=worker, args=(obj, stop)) for _ in range(3)]
        for t in threads:
            t.start()
        while True:
            try:
                finish(obj)
                break
            except BufferError:
                continue  # a view is alive: try again, as a user would
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:5]


def use_buffer(m):
    m[0] = 1
    m[1:9] = b"12345678"
    bytes(m[0:64])
    m.find(b"5")
    m.seek(0)
    m.write(b"ab")
    m.seek(0)
    m.readinto(bytearray(8))
    m.madvise(0)
    with memoryview(m) as v:
        v[2] = 3


@pytest.mark.stress
def test_threads_race_close_and_remove_on_shm():
    def make():
        return sysvshm.shm(size=PAGE), lambda s: (s.remove(), s.close())

    race(make, use_buffer, ROUNDS)


@pytest.mark.stress
def test_threads_race_close_on_mmap():
    race(lambda: (smmap.mmap(-1, PAGE), smmap.mmap.close), lambda m: (use_buffer(m), m.mincore()),
         ROUNDS)


@pytest.mark.stress
def test_threads_race_close_on_shared_memory():
    def make():
        block = shared_memory.SharedMemory(create=True, size=PAGE)
        return block, lambda b: (b.close(), b.unlink())

    def use(block):
        buf = block.buf
        if buf is None:
            raise ValueError("closed")
        buf[0] = 1
        bytes(buf[:16])

    race(make, use, scaled(300, 30))  # each close+unlink waits out the GIL convoy of 3 spinners


# -- processes -------------------------------------------------------------------------------

def test_eight_processes_write_disjoint_regions(make_shm):
    region = 64 * 1024
    seg = make_shm(8 * region)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(8)
    procs = [ctx.Process(target=_children.region_writer, args=(seg.shmid, i, region, 50, barrier))
             for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    for i in range(8):
        chunk = seg[i * region:(i + 1) * region]
        assert hashlib.sha256(chunk).digest() == hashlib.sha256(bytes([i + 1]) * region).digest()


def test_a_writer_killed_mid_write_leaves_other_regions_intact(make_shm):
    region = 64 * 1024
    seg = make_shm(4 * region)
    seg[:] = b"\xaa" * (4 * region)
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    p = ctx.Process(target=_children.endless_writer, args=(seg.shmid, 1, region, ready))
    p.start()
    assert ready.wait(60)
    os.kill(p.pid, signal.SIGKILL)
    p.join(60)
    assert p.exitcode == -signal.SIGKILL
    for i in (0, 2, 3):
        assert seg[i * region:(i + 1) * region] == b"\xaa" * region
    assert seg.stat().nattch == 1  # the killed process's attach is gone


# -- resources over many cycles -------------------------------------------------------------

def rss_kib():
    return _proc.status_kib("VmRSS")


def assert_flat(cycle, warmup, rounds):
    """Run cycle() many times: open fds must not change, nor RSS grow by 1 MiB."""
    for _ in range(warmup):  # warm up allocator caches
        cycle()
    rss, fds = rss_kib(), len(os.listdir("/proc/self/fd"))
    for _ in range(rounds):
        cycle()
    assert len(os.listdir("/proc/self/fd")) == fds
    if not _proc.SANITIZED:  # ASan's quarantine holds freed memory on purpose
        assert rss_kib() - rss < 1024, f"RSS grew by {rss_kib() - rss} KiB"


@pytest.mark.stress
def test_many_cycles_keep_memory_and_fds_flat():
    def cycle():
        seg = sysvshm.shm(size=PAGE)
        other = sysvshm.shmat(seg.shmid)
        other[0] = 1
        assert seg[0] == 1 and bytes(seg[:8]) == b"\x01" + bytes(7)
        seg.remove()
        other.close()
        seg.close()

    assert_flat(cycle, warmup=2000, rounds=scaled(200_000, 50_000))


def test_many_mmap_and_shared_memory_cycles_keep_memory_flat():
    def cycle():
        m = smmap.mmap(-1, PAGE)
        m[0] = 1
        m.close()
        block = shared_memory.SharedMemory(create=True, size=64)
        block.buf[0] = 1
        block.close()
        block.unlink()

    assert_flat(cycle, warmup=500, rounds=10_000)
