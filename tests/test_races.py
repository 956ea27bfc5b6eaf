"""Concurrency stress: every operation that lets the GIL go (bulk copies, prefault,
mlock/munlock, madvise, flush, mincore) or replaces the address (mmap.resize), raced
against readers, writers, exporters (memoryview, numpy.frombuffer) and closers in
other threads, and fork() in the middle of a GIL-free copy or of a close() that
waits for one.

A race that goes wrong crashes the interpreter, so every test runs its threads in a
fresh child interpreter (``python -c``) that must exit 0 within a timeout: a SIGSEGV
or SIGBUS fails the test instead of ending the run. The child functions (child_*)
run by hand as well; a failure message prints the command line that reproduces it.

In a racing thread an operation may succeed, with the right data, or raise one of
the clean errors the test allows (closed, exported, out of range after a resize);
anything else, and any wrong byte, fails the test. Every thread must have completed
operations, and each test checks that the race it is about really happened.

The data is a pattern with a period of 251 bytes and no zero byte: where a map was
shrunk and grown again (a private or file map), a byte may also read as 0.
"""
import collections
import faulthandler
import itertools
import mmap as std
import os
import pathlib
import random
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings

import _proc
import pytest
from _stress import scaled

import sysvshm
import sysvshm.mmap as smmap
from sysvshm import _buffer

# Every test here runs longer under SYSVSHM_STRESS=1 (tox -e stress).
pytestmark = pytest.mark.stress

np = pytest.importorskip("numpy")

HERE = pathlib.Path(__file__).resolve().parent
PAGE = std.PAGESIZE
MiB = 1 << 20
BIG = 64 * MiB
STREAM = _buffer._stream_threshold    # copies from this size release the GIL
SPLIT = 32 * MiB                      # ... and from this size use several threads
SHIFT = 251 * 65536                   # a multiple of the period: same bytes 16 MiB on
# How long each child races (tests/_stress.py). The default stays 1.5 s: several races
# assert that an interleaving was met (a resize refused by a copy in flight), which a
# shorter run misses now and then (0.6 s failed once in CI on 3.13).
SECONDS = scaled(4.0, 1.5)
TIMEOUT = 120                         # for a child, however loaded the machine
MAP_KINDS = ["private", "shared", "file"]

CLOSED = {(ValueError, "mmap closed or invalid")}
RESIZED = {
    (IndexError, "mmap index out of range"),
    (IndexError, "mmap slice assignment is wrong size"),
    (ValueError, "seek out of range"),
    (ValueError, "data out of range"),
    (BufferError, "mmap can't resize with extant buffers exported."),
    (BufferError, "mmap can't resize while another thread is using it"),
}
PINNED = "mmap can't resize while another thread is using it"
EXPORTED = "mmap can't resize with extant buffers exported."


# -- the parent: run a child, fail on a signal, a timeout or a non-zero exit ------------

def run_child(child, *args, timeout=TIMEOUT):
    code = f"import test_races; test_races.{child.__name__}{args!r}"
    repro = f"cd {HERE} && {sys.executable} -c {code!r}"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=HERE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _proc.started(proc.pid)  # segments it may leave are this test's
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"child still running after {timeout}s (deadlock?); reproduce with:\n"
                    f"{repro}\n{out.decode(errors='replace')}")
    rc = proc.returncode
    how = f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with {rc}"
    assert rc == 0, (f"child {how}; reproduce with:\n{repro}\n"
                     f"{out.decode(errors='replace')}")


# -- in the child ------------------------------------------------------------------------

PAT = None   # the pattern, BIG + PAGE bytes (built in the child only)
NEEDLE_AT = 100


def _setup():
    global PAT
    period = bytes(1 + 7 * i % 251 for i in range(251))
    PAT = (period * ((BIG + PAGE) // 251 + 1))[:BIG + PAGE]
    faulthandler.enable()  # a crash prints every thread's stack
    faulthandler.dump_traceback_later(TIMEOUT - 20, exit=True)  # so does a deadlock
    warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: fork() with threads
    sys.setswitchinterval(1e-6)
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK,
                           (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass  # no CAP_SYS_RESOURCE: mlock() takes what the limit allows (_lockable)


def _needle():
    return PAT[NEEDLE_AT:NEEDLE_AT + 8]


def _check(data, start, strict, what):
    """data was read at offset start: each byte must be the pattern's, or 0 unless strict."""
    if isinstance(data, np.ndarray):
        data = data.tobytes()
    n = len(data)
    assert start + n <= len(PAT), f"{what}: {n} bytes at {start} is past the end"
    if n == 0 or data == PAT[start:start + n]:
        return
    got = np.frombuffer(data, np.uint8)
    expected = np.frombuffer(PAT, np.uint8, n, start)
    bad = got != expected
    if not strict:
        bad &= got != 0
    if bad.any():
        i = int(np.argmax(bad))
        raise AssertionError(f"{what}: byte {start + i} is {got[i]}, not "
                             f"{expected[i]}{'' if strict else ' or 0'} ({n} bytes at {start})")


def _check_byte(value, i, strict, what):
    assert value == PAT[i] or (not strict and value == 0), f"{what}: byte {i} is {value}"


def _span(size, small=STREAM, large=16 * MiB):
    """A random range [a, a+n) inside size bytes; n >= STREAM, and at times >= SPLIT."""
    if size >= SPLIT and random.random() < 0.2:
        n = random.randint(SPLIT, size)
    else:
        n = random.randint(small, min(large, size))
    return random.randint(0, size - n), n


def _lockable(size):
    """How much one mlock() may lock: all, unless RLIMIT_MEMLOCK could not be raised."""
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY:
        return size
    return max(PAGE, soft // 8 // PAGE * PAGE)


def _paced(op):
    """Mark op to be followed by an idle spell about as long as it took: a thread that
    exports or pins the address then leaves windows for close() and resize(), as
    programs do (six threads that always hold an export would starve them for good)."""
    op.paced = True
    return op


def _address(obj):
    return np.frombuffer(obj, np.uint8).ctypes.data  # the export ends with the array


def _mapped(addr):
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split(None, 1)[0].split("-"))
            if lo <= addr < hi:
                return True
    return False


class Race:
    """Threads repeating operations on shared objects, and what came of them."""

    def __init__(self, allowed):
        self.allowed = allowed
        self.ok = collections.Counter()        # name -> operations that succeeded
        self.refused = collections.Counter()   # (name, message) -> allowed errors
        self.late = collections.Counter()      # name -> successes ending after a close()
        self.bad = []
        self.failed = threading.Event()
        self.close_refused = 0
        self.rounds = 0
        self._lock = threading.Lock()

    def _loop(self, name, op, stop, started, closed):
        ok = late = 0
        refused = collections.Counter()
        paced = getattr(op, "paced", False)
        while not stop.is_set():
            t = time.perf_counter()
            try:
                op()
            except Exception as exc:
                if (type(exc), str(exc)) not in self.allowed:
                    self.bad.append(f"thread {name!r}: {traceback.format_exc()}")
                    self.failed.set()
                    break
                refused[(name, f"{type(exc).__name__}: {exc}")] += 1
            else:
                ok += 1
                late += closed.is_set()
            started.set()
            if paced:
                time.sleep((time.perf_counter() - t) * random.uniform(0, 2))
        started.set()
        with self._lock:
            self.ok[name] += ok
            self.late[name] += late
            self.refused.update(refused)

    def _start(self, ops, stop, closed):
        started = {name: threading.Event() for name in ops}
        threads = [threading.Thread(target=self._loop, name=name,
                                    args=(name, op, stop, started[name], closed))
                   for name, op in ops.items()]
        for t in threads:
            t.start()
        return threads, started

    def hammer(self, ops, seconds):
        """Run ops (name -> callable) in one thread each for *seconds*."""
        stop, closed = threading.Event(), threading.Event()
        threads, _ = self._start(ops, stop, closed)
        self.failed.wait(seconds)
        stop.set()
        for t in threads:
            t.join()
        self.rounds += 1

    def rounds_until_closed(self, make, ops_for, seconds, min_rounds, delay):
        """Rounds of: a new object, ops_for(obj) in one thread each, and once every
        thread has run, close() from this thread after a random delay."""
        deadline = time.monotonic() + seconds
        while (self.rounds < min_rounds or time.monotonic() < deadline) and not self.bad:
            obj = make()
            stop, closed = threading.Event(), threading.Event()
            threads, started = self._start(ops_for(obj), stop, closed)
            for event in started.values():
                event.wait(30)
            time.sleep(random.uniform(0, delay))
            self.close(obj, deadline=time.monotonic() + 10)
            closed.set()
            time.sleep(0.002)  # let the threads run into the closed object
            stop.set()
            for t in threads:
                t.join()
            self.rounds += 1

    def close(self, obj, deadline):
        while True:
            try:
                obj.close()
                return
            except BufferError as exc:  # a thread holds an export: retry, as a user would
                assert str(exc) == "cannot close exported pointers exist", exc
                self.close_refused += 1
                assert time.monotonic() < deadline, "close() refused for 10 s"
                time.sleep(0)

    def check(self, names, closes=False):
        """No unexpected outcome, every thread completed operations, and with closes,
        the threads met closed objects."""
        summary = (f"rounds={self.rounds} ok={dict(self.ok)} late={dict(self.late)} "
                   f"close_refused={self.close_refused} refused={dict(self.refused)}")
        print(summary)
        assert not self.bad, "\n".join(self.bad[:3]) + "\n" + summary
        idle = [name for name in names if self.ok[name] == 0]
        assert not idle, f"threads that never completed an operation: {idle}\n{summary}"
        if closes:
            met = sum(n for (_, msg), n in self.refused.items() if "closed" in msg)
            assert met > 0, f"no thread ever met a closed object\n{summary}"

    def refusals(self, name, message):
        return sum(n for (who, msg), n in self.refused.items()
                   if who == name and msg.endswith(message))


def _new_map(kind, size, fill):
    """A map of kind private or shared (anonymous) or file (an unnamed file, on tmpfs
    where there is one), with the pattern in its first *fill* bytes."""
    if kind == "private":
        m = smmap.mmap(-1, size, flags=std.MAP_PRIVATE)
    elif kind == "shared":
        m = smmap.mmap(-1, size)
    else:
        where = "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"
        fd = os.open(where, os.O_RDWR | os.O_TMPFILE, 0o600)
        try:
            os.ftruncate(fd, size)
            m = smmap.mmap(fd, size)  # keeps its own descriptor for resize()
        finally:
            os.close(fd)
    m[:fill] = PAT[:fill]
    return m


def _new_shm(size):
    seg = sysvshm.shm(size=size)
    seg.remove()  # the kernel frees it at the last detach, whatever happens
    seg[:] = PAT[:size]
    return seg


# -- resize() against readers, writers and exporters --------------------------------------

def _small_ops(m, strict):
    """Readers, writers and exporters of the last byte and page: after a resize they
    meet a length they did not expect (IndexError, short data) but never a wrong byte."""

    def last_byte():
        n = len(m)
        _check_byte(m[n - 1], n - 1, strict, "m[n-1]")

    def last_page():
        n = len(m)
        data = m[n - PAGE:n]
        assert len(data) in (0, PAGE), len(data)
        _check(data, n - PAGE, strict, "m[n-4096:n]")

    def write():
        n = len(m)
        m[n - 1] = PAT[n - 1]
        m[n - PAGE:n] = PAT[n - PAGE:n]

    def view():
        with memoryview(m) as v:
            n = len(v)
            _check_byte(v[n - 1], n - 1, strict, "memoryview(m)[n-1]")
            v[NEEDLE_AT] = PAT[NEEDLE_AT]

    def array():
        a = np.frombuffer(m, np.uint8)
        n = a.size
        _check_byte(int(a[n - 1]), n - 1, strict, "frombuffer(m)[n-1]")
        _check(a[:PAGE], 0, True, "frombuffer(m)[:4096]")

    def read():  # this thread alone moves the position
        n = len(m)
        pos = n - PAGE // 2
        m.seek(pos)
        _check(m.read(), pos, strict, "read()")

    def find():
        assert m.find(_needle(), 0, PAGE) == NEEDLE_AT
        n = len(m)
        i = m.find(_needle(), max(0, n - 2 * PAGE))
        assert i == -1 or i % 251 == NEEDLE_AT, i

    def length():
        assert len(m) in (PAGE, BIG)

    return {"m[n-1]": last_byte, "m[n-4096:n]": last_page, "write": write,
            "memoryview": _paced(view), "numpy": _paced(array), "read": read, "find": find,
            "len": length}


def _resizer(m, sizes, done):
    cycle = itertools.cycle(sizes)

    def resize():
        size = next(cycle)
        m.resize(size)
        done[size] += 1

    return resize


def child_resize_vs_small_ops(kind, seconds):
    _setup()
    strict = kind == "shared"  # its pages survive a shrink; a private or file map's not
    m = _new_map(kind, BIG, BIG if strict else PAGE)
    done = collections.Counter()
    ops = _small_ops(m, strict)
    ops["resize"] = _resizer(m, (PAGE, BIG), done)
    race = Race(RESIZED)
    race.hammer(ops, seconds)
    race.check(ops)
    assert done[PAGE] and done[BIG], f"resize() never both shrank and grew: {done}"
    m.resize(BIG)
    _check(m[:PAGE], 0, True, "first page at the end")
    _check(m[BIG - PAGE:], BIG - PAGE, strict, "last page at the end")
    m.close()


@pytest.mark.parametrize("kind", MAP_KINDS)
def test_resize_vs_readers_writers_exporters(kind):
    """resize() between 4 KiB and 64 MiB while threads index, slice, write, export,
    read(), find() and len() the map (the old GIL-free mremap crashed in 0.1 s)."""
    run_child(child_resize_vs_small_ops, kind, SECONDS)


def child_resize_vs_close(kind, seconds):
    _setup()
    done = collections.Counter()

    def ops_for(m):
        ops = _small_ops(m, False)
        ops["resize"] = _resizer(m, (PAGE, BIG), done)
        return ops

    race = Race(RESIZED | CLOSED)
    race.rounds_until_closed(lambda: _new_map(kind, BIG, PAGE), ops_for, seconds,
                             min_rounds=20, delay=0.005)
    race.check(list(ops_for(None)), closes=True)
    assert race.refusals("resize", "mmap closed or invalid"), "resize() never met close()"
    assert done[PAGE] and done[BIG], f"resize() never both shrank and grew: {done}"


@pytest.mark.parametrize("kind", MAP_KINDS)
def test_resize_vs_close(kind):
    """close() from another thread while one thread resizes and others read and export
    (close() racing the old GIL-free resize() crashed in the first round)."""
    run_child(child_resize_vs_close, kind, SECONDS)


# -- bulk copies (GIL-free) against close(), resize() and exporters -------------------------

BULK = 40 * MiB  # the size of the objects the bulk copies work on


def _bulk_ops(m, size, strict, pace_copies):
    """Copies of STREAM bytes or more (GIL-free; from 32 MiB on several threads) in and
    out of m, and exporters working at the same time. Writers write the pattern."""
    pat = memoryview(PAT)

    def slice_read():
        a, n = _span(size)
        _check(m[a:a + n], a, strict, "m[a:b]")

    def slice_write():
        a, n = _span(size)
        if random.random() < 0.5:
            m[a:a + n] = PAT[a:a + n]    # bytes: the fast path
        else:
            m[a:a + n] = pat[a:a + n]    # another exporter: the buffer path

    def read_n(a, n):
        _check(m.read(n), a, strict, "read(n)")

    def read_all(a, n):
        _check(m.read(), a, strict, "read()")

    def write(a, n):
        m.write(pat[a:a + n])

    def readinto_bytearray(a, n):
        buf = bytearray(n)
        k = m.readinto(buf)
        _check(buf if k == n else buf[:k], a, strict, "readinto(bytearray)")

    def readinto_ndarray(a, n):
        arr = np.empty(n, np.uint8)
        k = m.readinto(arr)
        _check(arr[:k], a, strict, "readinto(ndarray)")

    file_calls = (read_n, read_all, write, readinto_bytearray, readinto_ndarray)

    def file_ops():  # this thread alone moves the position
        a, n = _span(size)
        call = random.choice(file_calls)
        if call is read_all:
            a = size - n
        m.seek(a)
        call(a, n)

    def own_export():  # a copy out of m's own export, into m: the view blocks close()
        n = STREAM
        a = random.randint(0, size - SHIFT - n)
        with memoryview(m) as v:
            m[a:a + n] = v[a + SHIFT:a + SHIFT + n]

    def array():
        a, n = _span(size)
        arr = np.frombuffer(m, np.uint8)
        _check(arr[a:a + n].copy(), a, strict, "frombuffer(m)[a:b]")  # numpy lets the GIL go
        arr[NEEDLE_AT] = PAT[NEEDLE_AT]

    def small():
        i = random.randrange(size)
        m[i] = PAT[i]
        _check_byte(m[i], i, strict, "m[i]")
        _check(m[i:i + 64], i, strict, "m[i:i+64]")
        j = m.find(_needle(), i, i + PAGE)
        assert j == -1 or j % 251 == NEEDLE_AT, j
        with memoryview(m) as v:  # of the current length, which a resize may have cut
            if i < len(v):
                _check_byte(v[i], i, strict, "memoryview(m)[i]")

    copy = _paced if pace_copies else (lambda op: op)
    return {"m[a:b]": copy(slice_read), "m[a:b] = data": copy(slice_write),
            "read/write/readinto": copy(file_ops), "own export": _paced(own_export),
            "numpy": _paced(array), "small": _paced(small)}


def child_close_vs_bulk(kind, seconds):
    _setup()

    def make():
        if kind == "shm":
            return _new_shm(BULK)
        return _new_map("shared", BULK, BULK)

    race = Race(CLOSED)
    ops_for = lambda m: _bulk_ops(m, BULK, True, False)  # noqa: E731
    race.rounds_until_closed(make, ops_for, seconds, min_rounds=6, delay=0.02)
    race.check(list(ops_for(None)), closes=True)
    copies = ("m[a:b]", "m[a:b] = data", "read/write/readinto")
    assert sum(race.late[name] for name in copies), \
        "no GIL-free copy ever completed after a close(): the deferred unmap was never used"


@pytest.mark.parametrize("kind", ["shm", "mmap"])
def test_close_vs_bulk_copies_readers_writers_exporters(kind):
    """close() while threads copy 8-40 MiB in and out (slices, read, write, readinto,
    from an own export), export to numpy and memoryview, and read and write bytes."""
    run_child(child_close_vs_bulk, kind, SECONDS)


def child_bulk_vs_resize(kind, seconds):
    _setup()
    strict = kind == "shared"
    m = _new_map(kind, BULK, BULK)
    done = collections.Counter()
    ops = _bulk_ops(m, BULK, strict, True)
    ops["resize"] = _resizer(m, (PAGE, BULK, 12 * MiB, BULK), done)
    race = Race(RESIZED)
    race.hammer(ops, seconds)
    race.check(ops)
    assert len(done) == 3, f"resize() did not reach every size: {done}"
    assert race.refusals("resize", PINNED), "resize() never met a GIL-free copy in flight"
    assert race.refusals("resize", EXPORTED), "resize() never met an export"
    m.close()


@pytest.mark.parametrize("kind", MAP_KINDS)
def test_bulk_copies_vs_resize(kind):
    """resize() between 4 KiB, 12 MiB and 40 MiB while threads copy 8-40 MiB in and out
    and export: resize() must refuse while a copy has the address pinned."""
    run_child(child_bulk_vs_resize, kind, SECONDS)


# -- prefault, mlock/munlock, madvise, flush, mincore against close() and resize() ---------

RANGE = 32 * MiB  # prefault() splits from 2 x 4 MiB; mlock() of this much takes a while


def _range_ops(m, size, pace):
    lock = _lockable(size)
    gil_free = _paced if pace else (lambda op: op)

    def prefault():
        m.prefault()

    def prefault_write():
        m.prefault(write=True)

    def mlock():
        m.mlock(0, lock)
        m.munlock(0, lock)

    def madvise():
        m.madvise(std.MADV_WILLNEED)
        m.madvise(random.choice((std.MADV_NORMAL, std.MADV_SEQUENTIAL, std.MADV_RANDOM)))

    def flush():
        m.flush()

    def mincore():
        count = m.mincore()
        assert 0 <= count <= size // PAGE, count

    def reader():
        _check(m[:PAGE], 0, True, "m[:4096]")
        with memoryview(m) as v:
            _check_byte(v[PAGE - 1], PAGE - 1, True, "memoryview(m)[4095]")

    ops = {"prefault": prefault, "prefault(write=True)": prefault_write,
           "mlock/munlock": mlock, "madvise": madvise, "flush": flush, "mincore": mincore}
    ops = {name: gil_free(op) for name, op in ops.items()}
    ops["reader"] = _paced(reader)
    return ops


def child_range_ops_vs_close(kind, seconds):
    _setup()

    def make():
        if kind == "shm":
            seg = sysvshm.shm(size=RANGE)
            seg.remove()
            seg[:PAGE] = PAT[:PAGE]
            return seg
        return _new_map("private", RANGE, PAGE)

    race = Race(CLOSED)
    ops_for = lambda m: _range_ops(m, RANGE, False)  # noqa: E731
    race.rounds_until_closed(make, ops_for, seconds, min_rounds=20, delay=0.01)
    race.check(list(ops_for(None)), closes=True)
    gil_free = ("prefault", "prefault(write=True)", "mlock/munlock", "madvise", "flush",
                "mincore")
    assert sum(race.late[name] for name in gil_free), \
        "no GIL-free call ever completed after a close(): the deferred unmap was never used"


@pytest.mark.parametrize("kind", ["shm", "mmap"])
def test_range_ops_vs_close(kind):
    """close() while threads prefault (read and write), mlock/munlock, madvise, flush
    and mincore 32 MiB, and read and export."""
    run_child(child_range_ops_vs_close, kind, SECONDS)


def child_range_ops_vs_resize(kind, seconds):
    _setup()
    m = _new_map(kind, BIG, PAGE)
    done = collections.Counter()
    ops = _range_ops(m, BIG, True)
    ops["resize"] = _resizer(m, (PAGE, BIG), done)
    race = Race(RESIZED)
    race.hammer(ops, seconds)
    race.check(ops)
    assert done[PAGE] and done[BIG], f"resize() never both shrank and grew: {done}"
    assert race.refusals("resize", PINNED), "resize() never met a GIL-free call in flight"
    m.close()


@pytest.mark.parametrize("kind", MAP_KINDS)
def test_range_ops_vs_resize(kind):
    """resize() between 4 KiB and 64 MiB while threads prefault, mlock/munlock,
    madvise, flush, mincore and read."""
    run_child(child_range_ops_vs_resize, kind, SECONDS)


# -- fork() while another thread copies without the GIL --------------------------------------

def _wait(pid, timeout):
    """waitpid with a timeout: the status, or None after killing a child that hung."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.005)


def _after_fork(obj, kind, scenario, mid_copy, report):
    """In the forked child: the copying thread is gone, and so must be its pin. The
    object reads, resizes (mmap) and closes, and close() really detaches."""
    code = 1
    try:
        strict = True
        addr = _address(obj)
        if scenario == 0:
            obj.close()  # first thing: the pin of the vanished thread must not defer it
        else:
            if scenario == 2:
                _check(obj[:], 0, True, "child: m[:]")  # a GIL-free copy of its own
            _check(obj[:PAGE], 0, True, "child: m[:4096]")
            if kind == "mmap":
                obj.resize(PAGE)
                _check(obj[:], 0, True, "child: m[:] after resize(4096)")
                obj.resize(BIG)
                strict = False  # a private map grows with zero pages
                addr = _address(obj)
            _check(obj[:STREAM], 0, strict, "child: m[:8 MiB]")  # GIL-free
            obj.close()
        assert obj.closed
        if kind == "shm":
            nattch = sysvshm.shmctl(obj.shmid, sysvshm.IPC_STAT).nattch
            assert nattch == 1, f"close() in the child did not detach: nattch={nattch}"
        else:
            assert not _mapped(addr), "close() in the child did not unmap"
        os.write(report, b"mid-copy" if mid_copy else b"idle")
        code = 0
    except BaseException:
        os.write(report, traceback.format_exc().encode()[-4000:])
    finally:
        os._exit(code)


def child_fork_during_copy(kind, forks):
    _setup()
    if kind == "shm":
        obj = _new_shm(BIG)
    else:
        obj = _new_map("private", BIG, BIG)
    whole = PAT[:BIG]
    stop, in_copy = threading.Event(), threading.Event()
    copies = [0]
    errors = []

    def copier():  # 64 MiB each time: GIL-free, split over threads where there are CPUs
        buf = bytearray(BIG)
        try:
            for k in itertools.count():
                if stop.is_set():
                    break
                in_copy.set()
                if k % 3 == 0:
                    data = obj[:]
                elif k % 3 == 1:
                    obj[:] = whole
                    data = None
                else:
                    obj.seek(0)
                    assert obj.readinto(buf) == BIG
                    data = buf
                in_copy.clear()
                if data is not None:
                    _check(data, 0, True, "parent: copy across fork()")
                copies[0] += 1
        except BaseException:
            errors.append(traceback.format_exc())
        finally:
            in_copy.clear()

    t = threading.Thread(target=copier)
    t.start()
    mid = 0
    try:
        for i in range(forks):
            assert in_copy.wait(30), "the copying thread stopped"
            time.sleep(random.uniform(0, 0.003))
            before = copies[0]
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                _after_fork(obj, kind, i % 3, in_copy.is_set(), w)
            os.close(w)
            status = _wait(pid, 30)
            with os.fdopen(r, "rb") as f:
                report = f.read().decode(errors="replace")
            assert status is not None, f"forked child {i} hung (deadlock): {report}"
            assert os.WIFEXITED(status), f"forked child {i} killed by signal " \
                                         f"{os.WTERMSIG(status)}: {report}"
            assert os.WEXITSTATUS(status) == 0, f"forked child {i} failed:\n{report}"
            mid += report == "mid-copy"
            deadline = time.monotonic() + 30
            while copies[0] == before and not errors:  # the copy in flight completes
                assert time.monotonic() < deadline, "the copy in flight at fork() hung"
                time.sleep(0.001)
    finally:
        stop.set()
        t.join()
    assert not errors, errors[0]
    print(f"forks={forks} mid-copy={mid} copies={copies[0]}")
    assert mid > 0, "no fork() happened while the copy was running"
    # The parent's own pins are all gone: resize() and close() act at once.
    if kind == "mmap":
        obj.resize(PAGE)
        _check(obj[:], 0, True, "parent: m[:] after resize(4096)")
        addr = _address(obj)
        obj.close()
        assert not _mapped(addr), "close() in the parent did not unmap"
    else:
        shmid = obj.shmid
        obj.close()
        with pytest.raises(FileNotFoundError):  # removed, and the last attach is gone
            sysvshm.shmctl(shmid, sysvshm.IPC_STAT)


# AddressSanitizer's allocator and thread registry take locks that a fork() in the
# middle of another thread's pthread_create (a split copy starts threads) leaves
# held in the child, which then hangs in its own next thread start: a sanitizer
# artifact (glibc resets its own locks at fork), so these run in the normal builds.
FORK_UNDER_ASAN = pytest.mark.skipif(
    _proc.SANITIZED, reason="ASan's locks are not fork-safe while threads start")


@FORK_UNDER_ASAN
@pytest.mark.parametrize("kind", ["shm", "mmap"])
def test_fork_during_gil_free_copy(kind):
    """fork() while another thread copies 64 MiB in or out: the child forgets that
    thread's pin, so it reads, resizes (mmap), closes and exits without deadlock;
    the parent's copy completes with the right bytes."""
    run_child(child_fork_during_copy, kind, scaled(20, 9))


def child_fork_after_deferred_close(kind, attempts):
    _setup()
    for _ in range(attempts):
        obj = _new_shm(BIG) if kind == "shm" else _new_map("private", BIG, BIG)
        addr = _address(obj)
        started = threading.Event()

        def copier(obj=obj, started=started):
            started.set()
            try:
                obj[:]  # 64 MiB, GIL-free: its pin defers the close() below
            except ValueError:
                pass  # closed before the copy began: no deferral this time

        t = threading.Thread(target=copier)
        t.start()
        started.wait()
        time.sleep(0.002)
        obj.close()
        if not _mapped(addr):
            t.join()
            continue  # the copy was not in flight: try again
        r, w = os.pipe()
        pid = os.fork()  # the copy is still in flight, and the close() still deferred
        if pid == 0:
            code = 1
            try:
                os.close(r)
                assert obj.closed
                obj.close()  # the thread whose pin deferred the unmap does not exist here
                assert not _mapped(addr), (
                    "a close() deferred by a copy in flight at fork() is never completed in "
                    "the child: close() again leaves the memory mapped (nor does dealloc "
                    "come: the vanished thread's frame still holds the object)")
                code = 0
            except BaseException:
                os.write(w, traceback.format_exc().encode()[-4000:])
            finally:
                os._exit(code)
        os.close(w)
        status = _wait(pid, 30)
        with os.fdopen(r, "rb") as f:
            report = f.read().decode(errors="replace")
        t.join()
        assert not _mapped(addr), "the parent did not unmap once the copy was done"
        assert status is not None, f"forked child hung (deadlock): {report}"
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, \
            f"forked child failed (status {status:#x}):\n{report}"
        return
    raise AssertionError(f"no close() was deferred by a copy in {attempts} attempts")


@FORK_UNDER_ASAN
@pytest.mark.parametrize("kind", ["shm", "mmap"])
def test_fork_after_a_deferred_close(kind):
    """fork() while a close() waits for another thread's GIL-free copy: that thread does
    not exist in the child, so the child's close() must release the memory itself."""
    run_child(child_fork_after_deferred_close, kind, scaled(50, 20))
