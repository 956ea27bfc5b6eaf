"""sysvshm.sync across processes: owner death (kill -9, threads, pid namespaces,
thread ids reused), many processes counting under a lock and with atomics, found
by inheritance (fork), by pickling (spawn) and by key (unrelated programs), fork
with a lock held, and another process scribbling over the words.
"""
import multiprocessing
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

# The layout of a lock (syncops.h): the word at +8.
WORD = 8
CLONE_NEWNS, CLONE_NEWTIME = 0x00020000, 0x00000080
PROCS, INCREMENTS = 8, 10_000


def _hold_and_report(buf, offset, w, half_write=False):
    lock = sync.Lock(buf, offset)
    lock.acquire()
    if half_write:
        buf[200:204] = b"HALF"
    os.write(w, b"held")
    time.sleep(600)


def _forked(target, *args):
    pid = os.fork()
    if pid == 0:
        try:
            target(*args)
        finally:
            os._exit(1)
    return _proc.started(pid)


@pytest.mark.parametrize("reap", [True, False], ids=["reaped", "zombie"])
def test_kill_9_of_a_holder_is_found_by_the_next_acquirer(make_shm, reap):
    seg = make_shm(4096)
    lock = sync.Lock.create(seg, 64)
    r, w = os.pipe()
    pid = _forked(_hold_and_report, seg, 64, w, True)
    try:
        assert os.read(r, 4) == b"held"
        assert lock.owner is not None and lock.owner != threading.get_native_id()
        os.kill(pid, signal.SIGKILL)
        if reap:
            os.waitpid(pid, 0)
        else:
            while _proc_state(pid) != "Z":
                time.sleep(0.01)
        t0 = time.monotonic()
        with pytest.raises(sync.OwnerDiedError):
            lock.acquire(timeout=10)
        assert time.monotonic() - t0 < 10
        assert seg[200:204] == b"HALF"
        seg[200:204] = b"GOOD"  # repaired
        lock.mark_consistent()
        lock.release()
        with lock:
            assert seg[200:204] == b"GOOD"
    finally:
        os.close(r)
        os.close(w)
        if not reap:
            os.waitpid(pid, 0)
        del lock


def _proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _wait_and_report(buf, offset, q):
    lock = sync.Lock(buf, offset)
    try:
        lock.acquire(timeout=30)
        q.put("acquired")
    except sync.OwnerDiedError:
        lock.mark_consistent()
        lock.release()
        q.put("owner died")


def test_a_blocked_waiter_learns_of_a_kill_9_within_its_timeout(make_shm):
    seg = make_shm(4096)
    lock = sync.Lock.create(seg, 0)
    ctx = multiprocessing.get_context("fork")
    r, w = os.pipe()
    holder = _forked(_hold_and_report, seg, 0, w)
    q = ctx.Queue()
    waiter = ctx.Process(target=_wait_and_report, args=(seg, 0, q))
    try:
        assert os.read(r, 4) == b"held"
        waiter.start()
        time.sleep(0.3)  # the waiter sleeps on the word
        os.kill(holder, signal.SIGKILL)
        os.waitpid(holder, 0)
        assert q.get(timeout=20) == "owner died"
        waiter.join(20)
        assert waiter.exitcode == 0
        assert lock.acquire(timeout=5)
        lock.release()
    finally:
        if waiter.is_alive():
            waiter.kill()
        os.close(r)
        os.close(w)
        del lock


def test_a_live_owner_with_another_start_time_is_a_dead_one():
    # A thread id the kernel handed to a new thread after the owner died: the
    # start time in the word does not match, so the owner is dead.
    buf = bytearray(32)
    lock = sync.Lock.create(buf)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with open(f"/proc/{sleeper.pid}/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
        struct.pack_into("<Q", buf, WORD, ((start + 1) & 0xFFFFFFFF) << 32 | sleeper.pid)
        with pytest.raises(sync.OwnerDiedError, match=f"thread {sleeper.pid}"):
            lock.acquire(timeout=2)
        lock.mark_consistent()
        lock.release()
        # With its own start time it is alive: wait, and time out.
        struct.pack_into("<Q", buf, WORD, (start & 0xFFFFFFFF) << 32 | sleeper.pid)
        assert lock.acquire(timeout=0.3) is False
        assert lock.acquire(False) is False
    finally:
        sleeper.kill()
        sleeper.wait()


def _hold_in_a_new_pid_namespace(buf, w):
    _proc.unshare(_proc.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:  # pid 1 of a new namespace
        lock = sync.Lock(buf, 0)
        lock.acquire()
        os.write(w, f"{lock.owner} ".encode())
        time.sleep(600)
        os._exit(0)
    os.write(w, f"{pid} ".encode())  # its pid out here
    os.waitpid(pid, 0)
    os._exit(0)


@pytest.mark.root(reason="unshares the pid namespace in a child")
def test_an_owner_in_another_pid_namespace_is_never_judged_dead(make_shm):
    seg = make_shm(4096)
    lock = sync.Lock.create(seg, 0)
    r, w = os.pipe()
    pid = _forked(_hold_in_a_new_pid_namespace, seg, w)
    holder = None
    try:
        words = b""
        while words.count(b" ") < 2:
            words += os.read(r, 40)
        owner, holder = sorted(int(x) for x in words.split())
        assert owner == 1 and lock.owner == 1  # its id in its own namespace
        assert lock.acquire(timeout=0.5) is False  # waits; never a false "owner died"
    finally:
        if holder:
            os.kill(holder, signal.SIGKILL)  # then its parent reaps it and exits
        else:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        os.close(w)
        del lock


def _count_under_lock(buf, offset, n):
    lock = sync.Lock(buf, offset)
    view = memoryview(buf).cast("B")[offset + 32:offset + 40].cast("Q")
    for _ in range(n):
        with lock:
            view[0] += 1  # a plain read-modify-write: only the lock makes it exact
    view.release()


def _count_atomically(buf, offset, n):
    counter = sync.AtomicInt64(buf, offset)
    for _ in range(n):
        counter.add(1)


def _run_all(method, target, buf, offset, n):
    ctx = multiprocessing.get_context(method)
    procs = [ctx.Process(target=target, args=(buf, offset, n)) for _ in range(PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, "a counting process did not finish in 120 s"
    assert [p.exitcode for p in procs] == [0] * PROCS


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_processes_count_exactly_under_a_lock(make_shm, method):
    seg = make_shm(4096)
    lock = sync.Lock.create(seg, 64)
    _run_all(method, _count_under_lock, seg, 64, INCREMENTS)
    assert struct.unpack_from("Q", seg, 96)[0] == PROCS * INCREMENTS
    assert not lock.locked()
    del lock


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_processes_count_exactly_with_atomic_add(make_shm, method):
    seg = make_shm(4096)
    counter = sync.AtomicInt64.create(seg, 64)
    _run_all(method, _count_atomically, seg, 64, INCREMENTS)
    assert counter.load() == PROCS * INCREMENTS
    del counter


_BY_KEY = """
import sys
import sysvshm
import sysvshm
from sysvshm import sync
seg = sysvshm.shm({key})  # found by its key: nothing inherited
lock, counter = sync.Lock(seg, 0), sync.AtomicUInt32(seg, 32)
plain = memoryview(seg)[40:48].cast("Q")
for _ in range({n}):
    with lock:
        plain[0] += 1
    counter.add(1)
plain.release()
del lock, counter
seg.close()
"""


def test_unrelated_processes_that_found_the_segment_by_key(free_key):
    seg = sysvshm.shm(free_key, 4096, sysvshm.IPC_CREAT | sysvshm.IPC_EXCL)
    lock = sync.Lock.create(seg, 0)
    counter = sync.AtomicUInt32.create(seg, 32)
    code = _BY_KEY.format(key=free_key, n=INCREMENTS)
    procs = [_proc.started(subprocess.Popen([sys.executable, "-c", code], cwd="/",
                                             stderr=subprocess.PIPE, text=True))
             for _ in range(PROCS)]
    try:
        errors = [p.communicate(timeout=180)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * PROCS, errors
        assert counter.load() == PROCS * INCREMENTS
        assert struct.unpack_from("Q", seg, 40)[0] == PROCS * INCREMENTS
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        del lock, counter
        seg.close()


def _take_and_give(buf, n):
    sem = sync.BoundedSemaphore(buf, 0)
    inside = sync.AtomicInt32(buf, 32)
    most = sync.AtomicInt32(buf, 36)
    for _ in range(n):
        with sem:
            now = inside.add(1) + 1
            old = most.load()
            while now > old and not most.compare_exchange(old, now):
                old = most.load()
            inside.sub(1)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_semaphore_bounds_how_many_processes_are_inside(make_shm, method):
    seg = make_shm(4096)
    sem = sync.BoundedSemaphore.create(seg, 0, value=2)
    inside, most = sync.AtomicInt32.create(seg, 32), sync.AtomicInt32.create(seg, 36)
    ctx = multiprocessing.get_context(method)
    procs = [ctx.Process(target=_take_and_give, args=(seg, 2000)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    assert 1 <= most.load() <= 2 and inside.load() == 0 and sem.value == 2
    del sem, inside, most


def _answer(buf, rounds):
    ping, pong = sync.Semaphore(buf, 0), sync.Semaphore(buf, 32)
    for _ in range(rounds):
        if not ping.acquire(timeout=60):
            os._exit(3)
        struct.pack_into("q", buf, 72, struct.unpack_from("q", buf, 64)[0] * 3)
        pong.release()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_ping_pong_hands_over_the_data_written_before_each_post(make_shm, method):
    # The waiter may take the semaphore while it spins, without sleeping: what
    # the poster wrote before release() must be what the taker reads.
    seg = make_shm(4096)
    ping = sync.Semaphore.create(seg, 0, value=0)
    pong = sync.Semaphore.create(seg, 32, value=0)
    rounds = scaled(30000, 3000)
    p = multiprocessing.get_context(method).Process(target=_answer, args=(seg, rounds))
    p.start()
    try:
        for i in range(rounds):
            struct.pack_into("q", seg, 64, i)
            ping.release()
            assert pong.acquire(timeout=60)
            assert struct.unpack_from("q", seg, 72)[0] == 3 * i
    finally:
        p.join(60)
        if p.exitcode is None:
            p.kill()
            p.join()
    assert p.exitcode == 0
    assert ping.value == 0 and pong.value == 0
    del ping, pong


def _sleep_until_changed(buf, q):
    a = sync.AtomicInt32(buf, 0)
    q.put("waiting")
    q.put(a.wait(0, timeout=60))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_notify_wakes_sleepers_in_other_processes(make_shm, method):
    seg = make_shm(4096)
    a = sync.AtomicInt32.create(seg, 0)
    ctx = multiprocessing.get_context(method)
    q = ctx.Queue()
    procs = [ctx.Process(target=_sleep_until_changed, args=(seg, q)) for _ in range(3)]
    for p in procs:
        p.start()
    for _ in procs:
        assert q.get(timeout=60) == "waiting"
    woke = 0
    deadline = time.monotonic() + 30
    while woke < 3 and time.monotonic() < deadline:  # until all three sleep in the kernel
        time.sleep(0.05)
        woke = len(_futex_sleepers(procs))
    a.store(1)
    assert a.notify_all() >= 0
    assert [q.get(timeout=10) for _ in procs] == [True] * 3
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    del a


def _futex_sleepers(procs):
    out = []
    for p in procs:
        try:
            with open(f"/proc/{p.pid}/wchan") as f:
                if "futex" in f.read():
                    out.append(p.pid)
        except OSError:
            pass
    return out


def _in_forked_child_of_a_holder(buf):
    lock = sync.Lock(buf, 0)
    assert lock.locked()
    try:
        lock.release()
    except RuntimeError as e:
        assert str(e) == "cannot release un-acquired lock"
    else:
        raise AssertionError("a forked child released its parent's lock")
    assert lock.acquire(timeout=0.2) is False  # the parent lives: no "owner died"


def test_a_forked_child_does_not_own_its_parents_lock(make_shm):
    seg = make_shm(4096)
    lock = sync.Lock.create(seg, 0)
    lock.acquire()
    try:
        _proc.in_child(_in_forked_child_of_a_holder, seg)
        assert lock._is_owned()
    finally:
        lock.release()
        del lock


def _child_uses_its_own_identity(buf):
    lock = sync.Lock(buf, 0)
    with lock:  # the child's thread id, not the parent's cached one
        assert lock.owner == threading.get_native_id() == os.getpid()


def test_a_forked_child_acquires_as_itself(make_shm):
    seg = make_shm(4096)
    lock = sync.Lock.create(seg, 0)
    with lock:
        pass  # the parent's identity is cached now
    _proc.in_child(_child_uses_its_own_identity, seg)
    assert not lock.locked()
    del lock


def _scribble_while_others_wait(buf, stop):
    import random

    rng = random.Random(1)
    while not stop.value:
        struct.pack_into("<Q", buf, WORD, rng.getrandbits(64))
        struct.pack_into("<I", buf, 32 + 8, rng.getrandbits(32))


@pytest.mark.stress
def test_a_process_scribbling_the_words_cannot_hold_a_waiter_past_its_timeout(make_shm):
    seg = make_shm(4096)
    lock = sync.Lock.create(seg, 0)
    sem = sync.Semaphore.create(seg, 32, value=0)
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Value("b", 0, lock=False)
    vandal = ctx.Process(target=_scribble_while_others_wait, args=(seg, stop))
    vandal.start()
    try:
        for _ in range(scaled(200, 20)):
            t0 = time.monotonic()
            for op in (lock.acquire, sem.acquire):
                try:
                    if op(timeout=0.05):
                        try:
                            lock.release()
                        except RuntimeError:
                            pass  # the vandal took it from us: an error, not a crash
                except (sync.OwnerDiedError, sync.NotRecoverableError, RuntimeError):
                    pass
            assert time.monotonic() - t0 < 5
    finally:
        stop.value = 1
        vandal.join(10)
        del lock, sem
    assert vandal.exitcode == 0


_HOLD_BY_KEY = """
import sys, time
import sysvshm
from sysvshm import sync
seg = sysvshm.shm({key})
lock = sync.Lock(seg, 0)
lock.acquire()
seg[100:104] = b"HALF"
print("held", flush=True)
time.sleep(600)
"""


def test_an_unrelated_holder_killed_by_key_is_found(free_key):
    seg = sysvshm.shm(free_key, 4096, sysvshm.IPC_CREAT | sysvshm.IPC_EXCL)
    lock = sync.Lock.create(seg, 0)
    with subprocess.Popen([sys.executable, "-c", _HOLD_BY_KEY.format(key=free_key)],
                          stdout=subprocess.PIPE, text=True, cwd="/") as holder:
        _proc.started(holder.pid)
        try:
            assert holder.stdout.readline() == "held\n"
            assert lock.owner == holder.pid
            holder.kill()
            holder.wait()
            with pytest.raises(sync.OwnerDiedError, match=f"thread {holder.pid}"):
                lock.acquire(timeout=10)
            assert seg[100:104] == b"HALF"
            lock.mark_consistent()
            lock.release()
        finally:
            if holder.poll() is None:
                holder.kill()
    del lock
    seg.remove()
    seg.close()


# ---- views of /proc and of time that differ (a fresh-eyes attack) -----------------

def _mount_own_proc():
    # A new mount namespace with a /proc of this process's pid namespace.
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    _proc.unshare(CLONE_NEWNS)
    for args in ((b"none", b"/", None, 0x4000 | 0x40000, None),  # MS_REC | MS_PRIVATE
                 (b"proc", b"/proc", b"proc", 0, None)):
        if libc.mount(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))


def _hold_then_wait_from_a_second_view(buf, w, holder_mounts, waiter_mounts, before_waiter):
    # In a child: in a new pid namespace, one process holds the lock and another
    # waits for it.  Either may see /proc of the outer namespace (its numbers, its
    # start times) or mount one of its own.
    _proc.unshare(_proc.CLONE_NEWPID)
    if os.fork() == 0:  # pid 1 of the namespace, with the outer /proc
        try:
            r2, w2 = os.pipe()
            holder = os.fork()
            if holder == 0:
                if holder_mounts:
                    _mount_own_proc()
                lock = sync.Lock.create(buf, 0)  # of this namespace: its owners are judged
                lock.acquire()
                os.write(w2, b"h")
                time.sleep(600)
                os._exit(0)
            os.read(r2, 1)
            before_waiter()
            waiter = os.fork()
            if waiter == 0:
                if waiter_mounts:
                    _mount_own_proc()
                try:
                    got = repr(sync.Lock(buf, 0).acquire(timeout=0.3))
                except sync.OwnerDiedError:
                    got = "OwnerDiedError"
                os.write(w2, got.encode())
                os._exit(0)
            os.waitpid(waiter, 0)
            got = os.read(r2, 100).decode()
            os.write(w, f"{got} {sync.Lock(buf, 0).owner == holder}".encode())
            os.kill(holder, signal.SIGKILL)
            os.waitpid(holder, 0)
        finally:
            os._exit(0)
    os.wait()
    os._exit(0)


def _judge_from_a_second_view(seg, *how):
    r, w = os.pipe()
    pid = _forked(_hold_then_wait_from_a_second_view, seg, w, *how)
    try:
        os.close(w)
        out = os.read(r, 100).decode()
    finally:
        os.waitpid(pid, 0)
        os.close(r)
    return out


@pytest.mark.root(reason="unshares the pid and mount namespaces in a child")
def test_an_owner_that_sees_another_namespaces_proc_is_not_judged_dead(make_shm):
    # The holder sees the outer /proc: the start time there under its thread id is
    # some other thread's, and a waiter that reads its own /proc must not judge
    # the holder dead by it.
    assert _judge_from_a_second_view(make_shm(4096), False, True, lambda: None) == \
        "False True"


@pytest.mark.root(reason="unshares the pid and mount namespaces in a child")
def test_a_waiter_that_sees_another_namespaces_proc_by_chance_at_its_pid(make_shm):
    # The waiter sees the outer /proc, where by chance its pid there is the one it
    # has in its namespace (set here with ns_last_pid): /proc/self resolves to it
    # there, but /proc/<owner> is somebody else.
    def next_pids_agree():
        for _ in range(100):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(w, os.readlink("/proc/self").encode())
                os._exit(0)
            os.close(w)
            outer = int(os.read(r, 20))
            os.close(r)
            os.waitpid(pid, 0)
            if outer == pid:
                return
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(outer))  # the next pid here: outer + 1, as likely there
        pytest.skip("could not make the pids agree")

    out = _judge_from_a_second_view(make_shm(4096), True, False, next_pids_agree)
    assert out == "False True", out


def _hold_in_a_new_time_namespace(buf, w):
    try:
        _proc.unshare(CLONE_NEWTIME)
        with open("/proc/self/timens_offsets", "w") as f:
            f.write("boottime 1000 0")
    except OSError as e:
        os.write(w, f"skip {e}".encode())
        os._exit(0)
    if os.fork() == 0:  # in the new time namespace, the same pid namespace
        lock = sync.Lock(buf, 0)
        lock.acquire()
        os.write(w, f"{os.getpid()}".encode())
        time.sleep(600)
        os._exit(0)
    os.wait()
    os._exit(0)


@pytest.mark.root(reason="unshares the time namespace in a child")
def test_an_owner_in_another_time_namespace_is_never_judged_dead(make_shm):
    # /proc shows each reader start times shifted by its own time namespace's
    # boottime offset: they cannot be compared across time namespaces.
    seg = make_shm(4096)
    lock = sync.Lock.create(seg, 0)
    r, w = os.pipe()
    pid = _forked(_hold_in_a_new_time_namespace, seg, w)
    holder = None
    try:
        said = os.read(r, 200).decode()
        if said.startswith("skip"):
            pytest.skip(f"no time namespace: {said}")
        holder = int(said)
        assert lock.acquire(timeout=0.5) is False  # waits; never a false "owner died"
        assert lock.acquire(False) is False
    finally:
        if holder:
            os.kill(holder, signal.SIGKILL)  # then its parent reaps it and exits
        else:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        os.close(w)
        del lock
