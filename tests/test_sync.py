"""sysvshm.sync: locks, semaphores and atomic integers inside shared memory, in one
process: placement, threading's API and errors, owner death by thread, timeouts,
signals, no system call when uncontended, scribbled bytes (in a child, which
must exit cleanly).  Across processes: tests/test_sync_processes.py.
"""
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import _proc
import pytest
from _stress import scaled

import sysvshm
from sysvshm import sync

ALL_PLACED = [sync.Lock, sync.RLock, sync.Semaphore, sync.BoundedSemaphore,
              sync.AtomicInt32, sync.AtomicUInt32, sync.AtomicInt64, sync.AtomicUInt64]
LOCKS = [sync.Lock, sync.RLock]
ATOMICS = {sync.AtomicInt32: (4, -2**31, 2**31 - 1), sync.AtomicUInt32: (4, 0, 2**32 - 1),
           sync.AtomicInt64: (8, -2**63, 2**63 - 1), sync.AtomicUInt64: (8, 0, 2**64 - 1)}

# ---- placement -------------------------------------------------------------------

@pytest.mark.parametrize("cls", ALL_PLACED)
def test_size_and_alignment(cls):
    assert cls.SIZE in (4, 8, 32) and cls.ALIGNMENT in (4, 8)
    assert cls.SIZE % cls.ALIGNMENT == 0
    buf = bytearray(cls.SIZE)
    obj = cls.create(buf, 0)
    assert obj.offset == 0 and obj.obj is buf


@pytest.mark.parametrize("cls", ALL_PLACED)
def test_every_bad_placement_raises_and_writes_nothing(cls):
    buf = bytearray(b"\xaa" * 256)
    before = bytes(buf)
    bad = [
        ((buf, -cls.ALIGNMENT), ValueError, "offset cannot be negative"),
        ((buf, 256 - cls.SIZE + cls.ALIGNMENT), ValueError, "Buffer size too small"),
        ((buf, 2**62), ValueError, "Buffer size too small"),
        ((bytearray(cls.SIZE - 1), 0), ValueError, "Buffer size too small"),
        ((buf, 1.0), TypeError, "integer"),
        ((buf, "8"), TypeError, "integer"),
        ((bytes(64), 0), TypeError, "writable"),
        ((memoryview(buf).toreadonly(), 0), TypeError, "writable"),
        ((42, 0), TypeError, "bytes-like object is required"),
        ((memoryview(buf)[::2], 0), BufferError, "contiguous"),
    ]
    if cls.ALIGNMENT > 1:
        bad.append(((buf, cls.ALIGNMENT // 2), ValueError, "misaligned"))
    for args, exc, words in bad:
        for make in (cls.create, cls):
            with pytest.raises(exc, match=words):
                make(*args)
    assert bytes(buf) == before
    del bad, args
    buf.append(0)  # no export left behind by a failure (it would refuse a resize)


def test_a_readonly_mmap_and_segment_are_refused(make_shm, tmp_path):
    import mmap
    path = tmp_path / "f"
    path.write_bytes(bytes(4096))
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        with pytest.raises(TypeError, match="writable"):
            sync.Lock.create(m, 0)
    seg = make_shm(4096)
    ro = sysvshm.shm(shmid=seg.shmid, access=sysvshm.ACCESS_READ)
    with pytest.raises(TypeError, match="writable"):
        sync.Semaphore.create(ro, 0)
    ro.close()


@pytest.mark.parametrize("cls", [sync.Lock, sync.RLock, sync.Semaphore,
                                 sync.BoundedSemaphore])
def test_attaching_to_bytes_that_are_not_one_raises(cls):
    buf = bytearray(64)
    with pytest.raises(ValueError, match="never initialized"):
        cls(buf, 0)
    buf[:] = os.urandom(64)
    buf[0] ^= 0x01 if buf[:4] == b"svsy" else 0
    with pytest.raises(ValueError, match="not a sysvshm.sync object"):
        cls(buf, 0)
    other = sync.Lock if cls is not sync.Lock else sync.Semaphore
    other.create(buf, 0)
    with pytest.raises(ValueError, match=f"holds an? {other.__name__}, not an? {cls.__name__}"):
        cls(buf, 0)
    cls.create(buf, 0)
    buf[6] = 99  # the layout version
    with pytest.raises(ValueError, match="layout version 99"):
        cls(buf, 0)


def test_a_sync_object_holds_the_segment_open(make_shm):
    seg = make_shm(4096)
    lock = sync.Lock.create(seg, 64)
    counter = sync.AtomicInt64.create(seg, 128)
    with pytest.raises(BufferError):
        seg.close()
    seg.remove()  # IPC_RMID: the memory stays until the last detach, and works
    with lock:
        assert counter.add(1) == 0
    assert not lock.locked() and counter.load() == 1
    del lock
    with pytest.raises(BufferError):
        seg.close()
    del counter
    seg.close()
    assert seg.closed


def test_objects_cannot_be_pickled_or_placed_twice():
    import pickle
    buf = bytearray(64)
    for obj in (sync.Lock.create(buf, 0), sync.AtomicInt32.create(buf, 32)):
        with pytest.raises(TypeError, match="cannot pickle"):
            pickle.dumps(obj)
        with pytest.raises(TypeError, match="placed already"):
            obj.__init__(bytearray(64), 0)


def test_a_new_object_is_usable_only_once_placed():
    lock = sync.Lock.__new__(sync.Lock)
    assert "uninitialized" in repr(lock)
    with pytest.raises(ValueError, match="uninitialized"):
        lock.acquire()
    with pytest.raises(ValueError, match="uninitialized"):
        sync.AtomicInt64.__new__(sync.AtomicInt64).load()


# ---- Lock and RLock in one process -------------------------------------------------

@pytest.mark.parametrize("cls", LOCKS)
def test_lock_api_as_threading(cls):
    buf = bytearray(32)
    lock = cls.create(buf)
    assert not lock.locked() and lock.owner is None
    assert lock.acquire() is True
    assert lock.locked() and lock.owner == threading.get_native_id()
    assert cls(buf).locked()  # another object attached to the same bytes
    lock.release()
    assert not lock.locked()
    with lock:
        assert lock.locked()
    assert not lock.locked()
    with pytest.raises(ValueError, match="can't specify a timeout for a non-blocking call"):
        lock.acquire(False, 1)
    with pytest.raises(ValueError, match="timeout value must be"):
        lock.acquire(True, -2)
    with pytest.raises(ValueError, match="NaN"):
        lock.acquire(timeout=float("nan"))
    with pytest.raises(OverflowError):
        lock.acquire(timeout=1e300)
    with pytest.raises(TypeError):
        lock.acquire(timeout="1")
    assert not lock.locked()


def _outcome(lock, args):
    try:
        got = lock.acquire(*args)
    except Exception as exc:  # noqa: BLE001 - compared below
        return type(exc), str(exc)
    if got:
        lock.release()
    return got


def test_arguments_are_refused_as_threading_refuses_them():
    mine = sync.Lock.create(bytearray(32))
    theirs = threading.Lock()

    class EqualsAll:
        def __eq__(self, other):
            return True

        def __float__(self):
            return -1.0
    # What threading accepts (blocking became any truth value in 3.12/3.13) and
    # refuses, with its words: the same here.
    cases = [(False, 1), (True, -2), (True, float("nan")), (True, "x"), (True, -1 + 0j),
             (True, EqualsAll()), (False, EqualsAll()), (None, -1), (1.5, -1), ("x", -1),
             (True, -1.0), (True, True), (2, -1), (1, 0.01)]
    for args in cases:
        ours, std = _outcome(mine, args), _outcome(theirs, args)
        if sys.version_info < (3, 10) and isinstance(args[1], complex):
            # (3.9's threading took complex through __int__: its own words)
            ours, std = ours[0], std[0]
        assert ours == std, args
        assert not mine.locked()
    with pytest.raises(OverflowError):  # (threading's words vary by version)
        mine.acquire(True, 10 ** 400)


def test_release_errors_are_threadings():
    lock, rlock = sync.Lock.create(bytearray(32)), sync.RLock.create(bytearray(32))
    with pytest.raises(RuntimeError, match="^release unlocked lock$"):
        lock.release()
    with pytest.raises(RuntimeError, match="^cannot release un-acquired lock$"):
        rlock.release()


@pytest.mark.parametrize("cls", LOCKS)
def test_release_by_another_thread_is_a_runtime_error(cls):
    lock = cls.create(bytearray(32))
    lock.acquire()
    errors = []

    def other():
        try:
            lock.release()
        except RuntimeError as e:
            errors.append(str(e))
        errors.append(lock.acquire(timeout=0.05))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors == ["cannot release un-acquired lock", False]
    assert lock.locked() and lock._is_owned()
    lock.release()


def test_rlock_reentrancy_and_count():
    rlock = sync.RLock.create(bytearray(32))
    for depth in range(1, 6):
        assert rlock.acquire()
        assert f"count={depth}" in repr(rlock)
    for _ in range(5):
        assert rlock.locked()
        rlock.release()
    assert not rlock.locked()
    with pytest.raises(RuntimeError):
        rlock.release()


def test_threading_condition_on_an_rlock_held_twice():
    # Condition.wait() must release the RLock whatever its depth (_release_save)
    # and take it back at that depth (_acquire_restore), as threading.RLock.
    rlock = sync.RLock.create(bytearray(32))
    cond = threading.Condition(rlock)
    items, seen = [], []
    holding = threading.Event()

    def consumer():
        with cond:
            with cond:
                holding.set()
                seen.append(cond.wait_for(lambda: items, timeout=10))
                seen.append(repr(rlock))
    t = threading.Thread(target=consumer)
    t.start()
    assert holding.wait(10)
    t0 = time.monotonic()
    with cond:  # only possible once the consumer's wait released both levels
        items.append(1)
        cond.notify()
    t.join(10)
    assert time.monotonic() - t0 < 5  # woken by notify(), not by its timeout
    assert seen[0] == [1]  # the predicate, true
    assert "count=2" in seen[1]
    assert not rlock.locked()


def test_rlock_release_save_and_acquire_restore_refuse_bad_use():
    rlock = sync.RLock.create(bytearray(32))
    with pytest.raises(RuntimeError, match="un-acquired"):
        rlock._release_save()
    with pytest.raises(ValueError, match="at least 1"):
        rlock._acquire_restore((0, 0))
    with pytest.raises(OverflowError):
        rlock._acquire_restore((-1, 0))
    assert not rlock.locked()


def test_acquire_restore_keeps_the_depth_when_the_owner_died():
    rlock = sync.RLock.create(bytearray(32))
    rlock.acquire()
    rlock.acquire()
    state = rlock._release_save()
    assert state == (2, threading.get_native_id())
    t = threading.Thread(target=rlock.acquire)  # dies holding it
    t.start()
    t.join()
    with pytest.raises(sync.OwnerDiedError):
        rlock._acquire_restore(state)
    assert "count=2" in repr(rlock)  # the caller's two releases match
    rlock.mark_consistent()
    rlock.release()
    rlock.release()
    assert not rlock.locked()


def test_a_signal_while_condition_wait_takes_the_rlock_back_is_raised_once_held():
    # threading.RLock's _acquire_restore takes the lock back before a signal
    # handler's exception (Ctrl-C) leaves wait(): the with block's release must
    # find it held, not hide the exception behind "cannot release un-acquired lock".
    class Interrupted(Exception):
        pass

    def interrupted(*args):
        raise Interrupted

    rlock = sync.RLock.create(bytearray(32))
    cond = threading.Condition(rlock)

    def notifier():
        with cond:
            cond.notify()
            timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
            timer.start()  # while the waiter waits for the lock
            time.sleep(0.5)
            timer.join()
    old = signal.signal(signal.SIGUSR1, interrupted)
    t = threading.Thread(target=notifier)
    try:
        with pytest.raises(Interrupted):
            with cond:
                with cond:
                    t.start()
                    cond.wait(10)
                raise AssertionError("not reached")
    finally:
        t.join(10)
        signal.signal(signal.SIGUSR1, old)
    assert not rlock.locked()


def test_not_recoverable_from_condition_wait_is_not_hidden_by_the_release():
    rlock = sync.RLock.create(bytearray(32))
    cond = threading.Condition(rlock)
    seen = []
    waiting = threading.Event()

    def waiter():
        try:
            with cond:
                waiting.set()
                cond.wait(timeout=1)
        except BaseException as e:
            seen.append(e)
    t = threading.Thread(target=waiter)
    t.start()
    assert waiting.wait(10)
    k = threading.Thread(target=rlock.acquire)  # dies holding it
    k.start()
    k.join()
    with pytest.raises(sync.OwnerDiedError):
        rlock.acquire()
    rlock.release()  # without mark_consistent(): not recoverable
    t.join(10)
    assert [type(e) for e in seen] == [sync.NotRecoverableError]
    assert not rlock.locked()


def test_a_lock_acquired_again_by_its_owner_refuses_to_wait_for_ever():
    lock = sync.Lock.create(bytearray(32))
    lock.acquire()
    with pytest.raises(RuntimeError, match="would wait for ever"):
        lock.acquire()
    assert lock.acquire(False) is False
    t0 = time.monotonic()
    assert lock.acquire(timeout=0.1) is False
    assert time.monotonic() - t0 >= 0.1
    lock.release()


@pytest.mark.parametrize("timeout", [0.05, 0.3])
def test_timeouts_are_kept(timeout):
    buf = bytearray(64)
    lock = sync.Lock.create(buf)
    sem = sync.Semaphore.create(buf, 32, value=0)
    lock.acquire()
    waits = []

    def other():
        for call in (lambda: lock.acquire(timeout=timeout),
                     lambda: sem.acquire(timeout=timeout)):
            t0 = time.monotonic()
            waits.append((call(), time.monotonic() - t0))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    lock.release()
    for got, took in waits:
        assert got is False
        # Never early; late only by scheduling noise on a loaded machine.
        assert timeout <= took < timeout + 1.0, took


def test_waiting_releases_the_gil():
    lock = sync.Lock.create(bytearray(32))
    lock.acquire()
    spins = [0]
    stop = time.monotonic() + 0.5

    def waiter():
        lock.acquire(timeout=0.5)

    t = threading.Thread(target=waiter)
    t.start()
    while time.monotonic() < stop:
        spins[0] += 1
    t.join()
    lock.release()
    assert spins[0] > 1000


def test_a_waiter_is_woken_by_release():
    lock = sync.Lock.create(bytearray(32))
    lock.acquire()
    got = []
    t = threading.Thread(target=lambda: got.append((lock.acquire(timeout=30), time.monotonic())))
    t.start()
    time.sleep(0.2)
    released = time.monotonic()
    lock.release()
    t.join(30)
    assert got and got[0][0] is True
    assert got[0][1] - released < 5  # woken, not left to time out
    # the waiter's thread is gone holding it: the next acquirer learns
    with pytest.raises(sync.OwnerDiedError):
        lock.acquire(timeout=5)
    lock.mark_consistent()
    lock.release()


# ---- owner death -----------------------------------------------------------------

def test_a_thread_that_dies_holding_a_lock_is_found():
    lock = sync.Lock.create(bytearray(32))
    t = threading.Thread(target=lock.acquire)
    t.start()
    t.join()
    assert lock.locked()
    with pytest.raises(sync.OwnerDiedError, match="died holding it"):
        lock.acquire(timeout=5)
    assert lock._is_owned()  # held by the caller, for repair
    lock.mark_consistent()
    lock.release()
    assert lock.acquire(timeout=1)
    lock.release()


def test_release_without_repair_makes_the_lock_unusable_everywhere():
    buf = bytearray(32)
    lock = sync.Lock.create(buf)
    t = threading.Thread(target=lock.acquire)
    t.start()
    t.join()
    with pytest.raises(sync.OwnerDiedError):
        lock.acquire()
    lock.release()  # without mark_consistent()
    for attempt in (lambda: lock.acquire(), lambda: sync.Lock(buf).acquire(False),
                    lambda: lock.acquire(timeout=0.1)):
        with pytest.raises(sync.NotRecoverableError, match="not recoverable"):
            attempt()
        assert not lock.locked()
    sync.Lock.create(buf)  # made anew, it works
    assert lock.acquire(timeout=1)
    lock.release()


def test_mark_consistent_needs_the_lock_and_a_dead_owner():
    lock = sync.Lock.create(bytearray(32))
    with pytest.raises(RuntimeError, match="without holding it"):
        lock.mark_consistent()
    with lock:
        with pytest.raises(RuntimeError, match="no owner died"):
            lock.mark_consistent()


# ---- many processes --------------------------------------------------------------


# ---- semaphores ------------------------------------------------------------------

def test_semaphore_api_as_threading():
    buf = bytearray(64)
    sem = sync.Semaphore.create(buf, 0, value=2)
    assert sem.value == 2 and sync.Semaphore(buf, 0).value == 2
    assert sem.acquire() and sem.acquire()
    assert sem.acquire(False) is False and sem.acquire(timeout=0) is False
    assert sem.acquire(timeout=-5) is False  # as threading: a negative timeout is zero
    sem.release(2)
    assert sem.value == 2
    with sem:
        assert sem.value == 1
    with pytest.raises(ValueError, match="^can't specify timeout for non-blocking acquire$"):
        sem.acquire(False, 1)
    with pytest.raises(ValueError, match="^n must be one or more$"):
        sem.release(0)
    with pytest.raises(ValueError, match="^semaphore initial value must be >= 0$"):
        sync.Semaphore.create(buf, 32, value=-1)
    with pytest.raises(ValueError, match="<= 2147483647"):
        sync.Semaphore.create(buf, 32, value=2**31)


def test_semaphore_bounds():
    buf = bytearray(64)
    sem = sync.BoundedSemaphore.create(buf, 0, value=2)
    with pytest.raises(ValueError, match="^Semaphore released too many times$"):
        sem.release()
    assert sem.acquire() and sem.acquire()
    with pytest.raises(ValueError, match="too many"):
        sem.release(3)
    assert sem.value == 0  # a refused release changes nothing
    sem.release(2)
    assert sync.BoundedSemaphore(buf, 0).value == 2
    plain = sync.Semaphore.create(buf, 32, value=2**31 - 1)
    with pytest.raises(OverflowError):
        plain.release()
    with pytest.raises(OverflowError):
        sync.Semaphore.create(bytearray(32), 0, value=0).release(2**40)


def test_release_n_wakes_n_waiters():
    sem = sync.Semaphore.create(bytearray(32), 0, value=0)
    got = []
    threads = [threading.Thread(target=lambda: got.append(sem.acquire(timeout=30)))
               for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    sem.release(3)
    for t in threads:
        t.join(30)
    assert got == [True] * 3 and sem.value == 0


# ---- atomic integers -------------------------------------------------------------

@pytest.mark.parametrize("cls", list(ATOMICS))
def test_atomic_operations_and_wrap_around(cls):
    size, low, high = ATOMICS[cls]
    buf = bytearray(16)
    a = cls.create(buf, 8, value=5)
    assert a.load() == 5 and int(a) == 5
    assert a.add(3) == 5 and a.load() == 8
    assert a.sub() == 8 and a.load() == 7
    assert a.exchange(1) == 7 and a.load() == 1
    assert a.compare_exchange(1, 9) is True and a.load() == 9
    assert a.compare_exchange(1, 10) is False and a.load() == 9
    a.store(high)
    assert a.add(1) == high and a.load() == low  # wraps, as in C
    assert a.sub(1) == low and a.load() == high
    for bad in (low - 1, high + 1):
        for op in (a.store, a.add, a.exchange, lambda v: cls.create(buf, 8, value=v)):
            with pytest.raises(OverflowError, match=f"holds {low} to {high}"):
                op(bad)
    assert a.load() == high  # refused values change nothing
    with pytest.raises(TypeError):
        a.store(1.0)
    assert cls(buf, 8).load() == high  # attaching reads what is there
    fmt = {(4, True): "<i", (4, False): "<I", (8, True): "<q", (8, False): "<Q"}
    assert struct.unpack_from(fmt[size, low < 0], buf, 8)[0] == high


@pytest.mark.parametrize("cls", list(ATOMICS))
def test_wait_returns_at_once_when_the_value_differs_and_times_out_otherwise(cls):
    a = cls.create(bytearray(8), 0, value=3)
    assert a.wait(4, timeout=5) is True
    t0 = time.monotonic()
    assert a.wait(3, timeout=0.2) is False
    assert time.monotonic() - t0 >= 0.2
    assert a.notify() == 0 and a.notify_all() == 0
    with pytest.raises(ValueError):
        a.notify(-1)


def test_wait_sees_a_change_in_the_high_half_of_a_64_bit_integer():
    a = sync.AtomicUInt64.create(bytearray(8), 0, value=1)
    timer = threading.Timer(0.1, a.store, (1 | 1 << 40,))  # no notify: the slice sees it
    timer.start()
    assert a.wait(1, timeout=10) is True and a.load() == 1 | 1 << 40
    timer.join()  # no thread left running when a later test forks


# ---- signals ---------------------------------------------------------------------

_CTRL_C = """
import sys, threading, time
from sysvshm import sync
buf = bytearray(64)
lock = sync.Lock.create(buf, 0)
sem = sync.Semaphore.create(buf, 32, value=0)
atom = sync.AtomicInt32.create(buf, 40)

def hold():
    lock.acquire()
    time.sleep(600)

threading.Thread(target=hold, daemon=True).start()
while not lock.locked():
    pass
print("ready", flush=True)
for wait in (lambda: lock.acquire(), lambda: sem.acquire(), lambda: atom.wait(0)):
    try:
        wait()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


def test_ctrl_c_interrupts_a_blocked_wait():
    with subprocess.Popen([sys.executable, "-c", _CTRL_C], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd="/") as proc:
        try:
            assert proc.stdout.readline() == "ready\n"
            for _ in range(3):
                time.sleep(0.3)
                proc.send_signal(signal.SIGINT)
                assert proc.stdout.readline() == "interrupted\n"
            assert proc.wait(30) == 0, proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_a_signal_handler_runs_while_a_thread_waits():
    lock = sync.Lock.create(bytearray(32))
    t = threading.Thread(target=lock.acquire)
    t.start()
    t.join()
    seen = []
    old = signal.signal(signal.SIGUSR1, lambda *a: seen.append(1))
    try:
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        sem = sync.Semaphore.create(bytearray(32), 0, value=0)
        assert sem.acquire(timeout=1) is False
        assert seen == [1]
        timer.join()
    finally:
        signal.signal(signal.SIGUSR1, old)


# ---- no system call when uncontended --------------------------------------------

_UNCONTENDED = """
import os
from sysvshm import sync
lock, rlock = sync.Lock.create(bytearray(32)), sync.RLock.create(bytearray(32))
sem = sync.Semaphore.create(bytearray(32), 0, value=1)
atom = sync.AtomicInt64.create(bytearray(8))
with lock, rlock, sem:  # the first use reads the thread's identity
    pass
def loop():
    for _ in range(1000):
        with lock:
            with rlock:
                with rlock:
                    atom.add(1)
        with sem:
            atom.compare_exchange(0, 1)
loop()  # warm
try:
    os.close(-12345)  # markers strace shows
except OSError:
    pass
loop()
try:
    os.close(-54321)
except OSError:
    pass
"""


@pytest.mark.skipif(not __import__("shutil").which("strace"), reason="needs strace")
def test_uncontended_operations_make_no_system_call(tmp_path):
    out = tmp_path / "trace"
    subprocess.run(["strace", "-o", str(out), sys.executable, "-c", _UNCONTENDED],
                   check=True, cwd="/", timeout=120)
    lines = out.read_text().splitlines()
    start = next(i for i, x in enumerate(lines) if "close(-12345)" in x)
    end = next(i for i, x in enumerate(lines) if "close(-54321)" in x)
    assert lines[start + 1:end] == []


# ---- threads, forks, and closing under a lock -------------------------------------

@pytest.mark.stress
@pytest.mark.parametrize("cls", LOCKS)
def test_threads_count_exactly(cls):
    lock = cls.create(bytearray(32))
    box = [0]
    n = scaled(50_000, 5000)

    def work():
        for _ in range(n):
            with lock:
                v = box[0]
                time.sleep(0) if v % 997 == 0 else None
                box[0] = v + 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert box[0] == 4 * n and not lock.locked()


def test_closing_the_segment_under_waiting_threads_is_refused(make_shm):
    seg = make_shm(4096)
    lock = sync.Lock.create(seg, 0)
    atom = sync.AtomicInt32.create(seg, 64)
    lock.acquire()
    stop = threading.Event()
    refused = []

    def closer():
        while not stop.is_set():
            try:
                seg.close()
            except BufferError:
                refused.append(1)
            try:
                seg.resize(8192)
            except (BufferError, OSError, ValueError):
                pass

    threads = [threading.Thread(target=lock.acquire, kwargs={"timeout": 0.5}),
               threading.Thread(target=atom.wait, args=(0,), kwargs={"timeout": 0.5}),
               threading.Thread(target=closer)]
    for t in threads:
        t.start()
    threads[0].join()
    threads[1].join()
    stop.set()
    threads[2].join()
    assert refused and not seg.closed
    lock.release()
    del lock, atom
    seg.close()


# ---- bytes another process scribbled ---------------------------------------------

def _scribbled_lock_never_crashes_or_blocks_past_its_timeout(seed):
    import random
    from functools import partial

    rng = random.Random(seed)
    buf = bytearray(64)
    for _ in range(scaled(4000, 400)):
        cls = rng.choice([sync.Lock, sync.RLock])
        lock = cls.create(buf, 0)
        if rng.random() < 0.5:
            lock.acquire()
        n = rng.randrange(1, 9)
        pos = rng.randrange(8, 33 - n)  # anything after the header
        buf[pos:pos + n] = rng.randbytes(n)
        t0 = time.monotonic()
        for op in (partial(lock.acquire, timeout=0.01), lock.release, lock.locked,
                   partial(lock.acquire, False), lock.mark_consistent, lock.__repr__):
            try:
                op()
            except (RuntimeError, sync.OwnerDiedError, sync.NotRecoverableError):
                pass
        assert time.monotonic() - t0 < 5, "a waiter's timeout did not hold"
        sem = rng.choice([sync.Semaphore, sync.BoundedSemaphore]).create(buf, 32, value=1)
        pos = rng.randrange(40, 61)
        buf[pos:pos + 4] = rng.randbytes(4)
        for op in (partial(sem.acquire, timeout=0.01), sem.release,
                   partial(sem.release, 2**31 - 1)):
            try:
                op()
            except (ValueError, OverflowError):
                pass


@pytest.mark.stress
@pytest.mark.parametrize("seed", range(3))
def test_scribbled_bytes_give_errors_or_timeouts_never_a_crash(seed):
    _proc.in_child(_scribbled_lock_never_crashes_or_blocks_past_its_timeout, seed)




def _start_time_of_this_thread():
    with open("/proc/thread-self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def test_the_word_records_the_owners_thread_id_and_start_time():
    buf = bytearray(32)
    lock = sync.Lock.create(buf)
    seen = []

    def take():
        with lock:
            word = struct.unpack_from("<Q", buf, 8)[0]
            seen.append((word & 0x3FFFFFFF, word >> 32,
                         threading.get_native_id(), _start_time_of_this_thread() & 0xFFFFFFFF))

    take()
    t = threading.Thread(target=take)
    t.start()
    t.join()
    for tid, start, native, real_start in seen:
        assert (tid, start) == (native, real_start)
    assert seen[0][0] != seen[1][0]


# ---- found by a fresh-eyes attack ------------------------------------------------

def _attach_to_bytes_that_are_not_one_then_use_it():
    buf = bytearray(64)
    for cls in (sync.Lock, sync.RLock, sync.Semaphore, sync.BoundedSemaphore):
        obj = cls.__new__(cls)
        with pytest.raises(ValueError, match="never initialized"):
            obj.__init__(buf, 0)  # placed, then the header check fails
        with pytest.raises(ValueError, match="uninitialized"):
            obj.acquire(False)  # was a NULL dereference
        assert "uninitialized" in repr(obj)
        del obj
    buf.append(0)  # and the failed attach left no export behind


def test_a_failed_attach_leaves_the_object_uninitialized():
    _proc.in_child(_attach_to_bytes_that_are_not_one_then_use_it)


def test_an_offset_whose_index_places_the_object_leaks_no_export():
    buf, other = bytearray(64), bytearray(64)
    sync.Lock.create(buf, 0)
    sync.Lock.create(other, 0)
    lock = sync.Lock.__new__(sync.Lock)

    class Sneaky:
        def __index__(self):
            lock.__init__(other, 0)  # placed meanwhile, on other bytes
            return 0

    with pytest.raises(TypeError, match="placed already"):
        lock.__init__(buf, Sneaky())
    assert lock.obj is other
    lock = None  # (not del: Sneaky's method refers to the name)
    buf.append(0)  # neither export was lost: both buffers can be resized again
    other.append(0)


def test_a_not_recoverable_lock_stays_so_when_its_taker_died():
    # A thread that acquires a not recoverable lock holds it for a moment (until
    # acquire() releases it and raises); dying there must not make it recoverable.
    buf = bytearray(32)
    lock = sync.Lock.create(buf)
    t = threading.Thread(target=lock.acquire)
    t.start()
    t.join()
    struct.pack_into("<I", buf, 16, 2)  # SV_NOT_RECOVERABLE, the owner dead
    for _ in range(2):
        with pytest.raises(sync.NotRecoverableError, match="not recoverable"):
            lock.acquire(timeout=1)
        assert not lock.locked()


def test_a_negative_32_bit_value_is_waited_on():
    a = sync.AtomicInt32.create(bytearray(4), 0, value=-1)
    t0 = time.monotonic()
    assert a.wait(-1, timeout=0.2) is False  # it was returning True at once
    assert time.monotonic() - t0 >= 0.2
    assert a.wait(-2, timeout=5) is True
    assert a.compare_exchange(-1, -2) and a.load() == -2


def test_notify_0_wakes_nobody():
    a = sync.AtomicInt32.create(bytearray(4), 0)
    woke = []
    t = threading.Thread(target=lambda: woke.append(a.wait(0, timeout=0.2)))
    t.start()
    time.sleep(0.1)
    assert a.notify(0) == 0  # FUTEX_WAKE with 0 wakes one
    t.join()
    assert woke == [False]
