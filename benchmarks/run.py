"""sysvshm against its peers: medians and ratios to a baseline measured in the same run.

    python -P benchmarks/run.py            # full run (a few minutes)
    python -P benchmarks/run.py --quick    # under a minute

Every workload times each backend in turn, round-robin, so machine noise spreads
over all of them alike; the table reports medians per operation and each one's
ratio to the workload's baseline. Peers that are not installed are left out
(pip install sysv_ipc posix_ipc numpy SharedArray). Not a test: nothing here asserts.
"""
import argparse
import ctypes
import mmap
import os
import re
import statistics
import subprocess
import sys
import textwrap
import time
import timeit

import sysvshm
from sysvshm import shared_memory as sysv_shared_memory

try:
    import numpy as np
except ImportError:
    np = None
try:
    import sysv_ipc
except ImportError:
    sysv_ipc = None
try:
    import posix_ipc
except ImportError:
    posix_ipc = None
try:
    import SharedArray
except ImportError:
    SharedArray = None
from multiprocessing import shared_memory as mp_shared_memory

KiB, MiB = 1 << 10, 1 << 20
PAGE = mmap.PAGESIZE

libc = ctypes.CDLL(None, use_errno=True)
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmat.restype = ctypes.c_void_p
libc.shmdt.argtypes = [ctypes.c_void_p]
libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]


class Workload:
    """A named operation timed on several backends against one baseline."""

    def __init__(self, name, baseline, target=None):
        self.name, self.baseline, self.target = name, baseline, target
        self.backends = {}  # name -> (timer callable returning seconds/op, cleanup)

    def add(self, backend, timer, cleanup=None):
        self.backends[backend] = (timer, cleanup)


def per_call(stmt, setup_globals, number):
    timer = timeit.Timer(stmt, globals=setup_globals)
    return lambda: timer.timeit(number) / number


# -- workloads --------------------------------------------------------------------------

def create_destroy(size, number):
    w = Workload(f"create+destroy {size // KiB} KiB" if size < MiB else
                 f"create+destroy {size // MiB} MiB", "ctypes syscalls",
                 "sysvshm <= 0.9x ctypes, <= 0.5x multiprocessing")

    def ctypes_cycle():
        shmid = libc.shmget(0, size, 0o600)
        addr = libc.shmat(shmid, None, 0)
        libc.shmdt(addr)
        libc.shmctl(shmid, 0, None)

    def ours():
        seg = sysvshm.shm(size=size)
        seg.remove()
        seg.close()

    def mp():
        block = mp_shared_memory.SharedMemory(create=True, size=size)
        block.close()
        block.unlink()

    def ours_shared_memory():
        block = sysv_shared_memory.SharedMemory(create=True, size=size)
        block.close()
        block.unlink()

    g = {"f": ctypes_cycle}
    w.add("ctypes syscalls", per_call("f()", g, number))
    w.add("sysvshm.shm", per_call("f()", {"f": ours}, number))
    w.add("sysvshm.shared_memory", per_call("f()", {"f": ours_shared_memory}, number))
    w.add("multiprocessing.shared_memory", per_call("f()", {"f": mp}, number))
    if sysv_ipc is not None:
        def peer():
            m = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, size=size)
            m.detach()
            m.remove()
        w.add("sysv_ipc", per_call("f()", {"f": peer}, max(1, number // (64 if size >= MiB
                                                                          else 1))))
    if posix_ipc is not None:
        def posix():
            m = posix_ipc.SharedMemory(None, posix_ipc.O_CREX, size=size)
            mm = mmap.mmap(m.fd, size)
            m.close_fd()
            mm.close()
            m.unlink()
        w.add("posix_ipc", per_call("f()", {"f": posix}, number))
    return w


def attach_detach(number):
    w = Workload("attach+detach existing", "ctypes syscalls",
                 "sysvshm <= 0.9x ctypes, <= 0.45x multiprocessing")
    seg = sysvshm.shm(size=64 * KiB)
    seg.remove()
    block = mp_shared_memory.SharedMemory(create=True, size=64 * KiB)
    ours_block = sysv_shared_memory.SharedMemory(create=True, size=64 * KiB)
    shmid = seg.shmid

    def ctypes_cycle():
        libc.shmdt(libc.shmat(shmid, None, 0))

    w.add("ctypes syscalls", per_call("f()", {"f": ctypes_cycle}, number))
    w.add("sysvshm.shmat", per_call("shmat(i).close()", {"shmat": sysvshm.shmat, "i": shmid},
                                    number))
    w.add("sysvshm.shared_memory", per_call("S(n).close()", {
        "S": sysv_shared_memory.SharedMemory, "n": ours_block.name}, number))
    w.add("multiprocessing.shared_memory", per_call(
        "S(n).close()", {"S": mp_shared_memory.SharedMemory, "n": block.name}, number))
    if sysv_ipc is not None:
        w.add("sysv_ipc", per_call("sysv_ipc.attach(i).detach()",
                                   {"sysv_ipc": sysv_ipc, "i": shmid}, number))

    def cleanup():
        seg.close()
        block.close()
        block.unlink()
        ours_block.close()
        ours_block.unlink()
    w.cleanup = cleanup
    return w


def element_ops(number):
    seg = sysvshm.shm(size=64 * KiB)
    seg.remove()
    ref = mmap.mmap(-1, 64 * KiB)
    import sysvshm.mmap as smmap
    ours_mmap = smmap.mmap(-1, 64 * KiB)
    payload = bytes(64)
    objects = {"stdlib mmap": ref, "sysvshm.shm": seg, "sysvshm.mmap": ours_mmap}
    peer = None
    if sysv_ipc is not None:
        peer = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, size=64 * KiB)
    peer_stmts = {"m[100]": "m.read(1, 100)", "m[100] = 7": "m.write(b'\\x07', 100)",
                  "m[64:128]": "m.read(64, 64)", "m[64:128] = p": "m.write(p, 64)"}
    workloads = []
    for title, stmt in (("m[i]", "m[100]"), ("m[i] = v", "m[100] = 7"),
                        ("64-byte slice read", "m[64:128]"),
                        ("64-byte slice write", "m[64:128] = p")):
        w = Workload(title, "stdlib mmap", "sysvshm <= 1.0x stdlib mmap")
        for name, obj in objects.items():
            w.add(name, per_call(stmt, {"m": obj, "p": payload}, number))
        if peer is not None:
            w.add("sysv_ipc", per_call(peer_stmts[stmt], {"m": peer, "p": payload}, number))
        workloads.append(w)

    def cleanup():
        if peer is not None:
            peer.detach()
            peer.remove()
        seg.close()
        ref.close()
        ours_mmap.close()
    workloads[-1].cleanup = cleanup
    return workloads


def bulk_copy(size, number):
    if np is None:
        return []
    src = np.ones(size, dtype=np.uint8)
    dst = np.zeros(size, dtype=np.uint8)
    seg = sysvshm.shm(size=size)
    seg.remove()
    seg.prefault(write=True)
    seg_array = np.frombuffer(seg, dtype=np.uint8)  # zero-copy, through the buffer protocol
    target = "time <= 1.05x (>= 0.95x memcpy speed)"
    w_in = Workload(f"bulk copy in {size // MiB} MiB", "numpy memcpy", target)
    w_in.add("numpy memcpy", per_call("np.copyto(dst, src)", {"np": np, "dst": dst, "src": src},
                                      number))
    w_in.add("sysvshm seg[:] = data", per_call("s[:] = src", {"s": seg, "src": src}, number))
    g_in = {"np": np, "a": seg_array, "src": src}
    w_in.add("sysvshm via numpy view", per_call("np.copyto(a, src)", g_in, number))
    w_out = Workload(f"bulk copy out {size // MiB} MiB", "numpy memcpy", target)
    w_out.add("numpy memcpy", per_call("np.copyto(dst, src)",
                                       {"np": np, "dst": dst, "src": src}, number))
    w_out.add("sysvshm seg.readinto(dst)", per_call("s.seek(0); s.readinto(dst)",
                                                    {"s": seg, "dst": dst}, number))
    g_out = {"np": np, "dst": dst, "a": seg_array}
    # numpy's copy is glibc's memcpy: slow when the destination sits 16 bytes
    # after the page-aligned source modulo 4 KiB (see docs/performance.rst).
    w_out.add("numpy copy from a numpy view", per_call("np.copyto(dst, a)", g_out, number))

    # Copying out into a new bytes object: the same operation on stdlib mmap.
    std = mmap.mmap(-1, size)
    std[:] = src
    w_new = Workload(f"copy out {size // MiB} MiB to new bytes", "stdlib mmap m[:]",
                     "sysvshm <= 1.0x stdlib mmap")
    w_new.add("stdlib mmap m[:]", per_call("m[:]", {"m": std}, number))
    w_new.add("sysvshm seg[:]", per_call("s[:]", {"s": seg}, number))

    def cleanup():
        nonlocal seg_array
        g_in.clear()
        g_out.clear()
        seg_array = None
        seg.close()
        std.close()
    w_new.cleanup = cleanup
    return [w_in, w_out, w_new]


def first_touch(size, number):
    if np is None:
        return []
    w = Workload(f"first touch {size // MiB} MiB", "anonymous mmap", "sysvshm <= 1.0x")

    def anon():
        m = mmap.mmap(-1, size)
        np.frombuffer(m, dtype=np.uint8)[::PAGE] = 1
        m.close()

    def ours_touch():
        seg = sysvshm.shm(size=size)
        seg.remove()
        a = np.frombuffer(seg, dtype=np.uint8)
        a[::PAGE] = 1
        del a
        seg.close()

    def ours_prefault():
        seg = sysvshm.shm(size=size)
        seg.remove()
        seg.prefault(write=True)
        seg.close()

    w.add("anonymous mmap", per_call("f()", {"f": anon}, number))
    w.add("sysvshm (touch pages)", per_call("f()", {"f": ours_touch}, number))
    w.add("sysvshm prefault(write=True)", per_call("f()", {"f": ours_prefault}, number))
    return [w]


FRESH_READER = textwrap.dedent("""
    import mmap, os, sys, time
    import sysvshm  # imported before the clock starts, as mmap and os are
    kind, ident, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = bytearray(size)
    out[::4096] = bytes(len(out[::4096]))  # fault the destination in beforehand
    t0 = time.perf_counter()
    if kind == "posix":
        fd = os.open("/dev/shm/" + ident, os.O_RDONLY)
        m = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        os.close(fd)
    else:
        m = sysvshm.shmat(int(ident), sysvshm.SHM_RDONLY, prefault=(kind != "plain"))
    if kind == "readinto":
        m.readinto(out)
    else:
        # memoryview to memoryview: one copy (out[:] = memoryview(m) would first
        # copy into a temporary bytearray)
        memoryview(out)[:] = memoryview(m)
    print(time.perf_counter() - t0)
""")


def free_huge_pages():
    """Free 2 MiB huge pages in the reserved pool (vm.nr_hugepages), 0 if unknown."""
    try:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") as f:
            return int(f.read())
    except OSError:
        return 0


def reserve_huge_pages(count):
    """Grow the 2 MiB pool to *count* pages for this run (root); returns a restore callable."""
    path = "/proc/sys/vm/nr_hugepages"
    with open(path) as f:
        before = int(f.read())
    with open(path, "w") as f:
        f.write(str(max(before, count)))

    def restore():
        with open(path, "w") as f:
            f.write(str(before))
    return restore


def fresh_reader(size, number):
    w = Workload(f"fresh process attach+read {size // MiB} MiB", "POSIX /dev/shm mmap",
                 "sysvshm prefault <= 1.0x")
    seg = sysvshm.shm(size=size)
    seg.remove()
    seg[:] = b"\1" * size
    name = f"sysvshm_bench_{os.getpid()}"
    with open(f"/dev/shm/{name}", "wb") as f:
        f.write(b"\1" * size)

    def run(kind, ident):
        def timer():
            total = 0.0
            for _ in range(number):
                result = subprocess.run([sys.executable, "-P", "-c", FRESH_READER, kind,
                                         str(ident), str(size)], capture_output=True, text=True,
                                        check=True)
                total += float(result.stdout)
            return total / number
        return timer

    w.add("POSIX /dev/shm mmap", run("posix", name))
    w.add("sysvshm shmat", run("plain", seg.shmid))
    w.add("sysvshm shmat(prefault=True)", run("prefault", seg.shmid))
    w.add("sysvshm prefault + readinto", run("readinto", seg.shmid))
    huge = None
    if free_huge_pages() * 2 * MiB >= size:
        # One fault per 2 MiB instead of per 4 KiB page: no pre-fault needed.
        huge = sysvshm.shm(size=size, flags=sysvshm.SHM_HUGETLB | sysvshm.SHM_HUGE_2MB)
        huge.remove()
        huge[:] = b"\1" * size
        w.add("sysvshm SHM_HUGETLB segment", run("plain", huge.shmid))

    def cleanup():
        seg.close()
        if huge is not None:
            huge.close()
        os.unlink(f"/dev/shm/{name}")
    w.cleanup = cleanup
    return w


NAMED_ATTACHER = textwrap.dedent("""
    import sys, time
    kind = sys.argv[1]
    names = sys.stdin.read().split()
    if kind == "stdlib":
        from multiprocessing import resource_tracker, shared_memory
        resource_tracker.ensure_running()  # its start is not an attach's cost
    else:
        from sysvshm import shared_memory
    kept = []
    t0 = time.perf_counter()
    kept.append(shared_memory.SharedMemory(names[0]))
    t1 = time.perf_counter()
    for name in names[1:]:
        kept.append(shared_memory.SharedMemory(name))
    t2 = time.perf_counter()
    for block in kept:
        if kind == "stdlib":  # or this process's tracker would unlink them at exit
            resource_tracker.unregister(block._name, "shared_memory")
        block.close()
    print(t1 - t0, (t2 - t1) / (len(names) - 1))
""")


def named_blocks(n):
    """Create *n* named blocks, then attach each by name from a fresh process.

    A lookup by name must cost the same whatever the number of blocks: the rows
    for n = 10, 1000 and 3000 should be flat, and within 2x the stdlib's. The
    fresh process's first attach (which also pays for cold code and caches, the
    same in every n) is reported apart from the per-block cost of the others.
    """
    create = Workload(f"create {n} named blocks", "multiprocessing",
                      "per block: <= 2x stdlib, flat in n")
    attach = Workload(f"fresh process: {n - 1} more attaches by name", "multiprocessing",
                      "per block: <= 2x stdlib, flat in n")
    first = Workload(f"fresh process: first attach ({n} exist)", "multiprocessing",
                     "one-time: the cost of cold code")
    pending = {"multiprocessing": [], "sysvshm.shared_memory": []}

    def cycle(backend, module, kind):
        def timer():
            names = [f"sysvshm_bench_{os.getpid()}_{i}" for i in range(n)]
            made = []
            try:
                t0 = time.perf_counter()
                for name in names:
                    made.append(module.SharedMemory(name, create=True, size=64))
                per_create = (time.perf_counter() - t0) / n
                result = subprocess.run([sys.executable, "-P", "-c", NAMED_ATTACHER, kind],
                                        input="\n".join(names), capture_output=True,
                                        text=True, check=True)
                pending[backend].append([float(x) for x in result.stdout.split()])
            finally:
                for block in made:
                    block.close()
                    block.unlink()
            return per_create
        return timer

    create.add("multiprocessing", cycle("multiprocessing", mp_shared_memory, "stdlib"))
    create.add("sysvshm.shared_memory", cycle("sysvshm.shared_memory", sysv_shared_memory,
                                              "sysvshm"))
    for backend in pending:
        # measure() runs every round of one workload before the next: "first"
        # reads the first-attach times, then "attach" takes each round's sample.
        first.add(backend, lambda backend=backend, i=[0]: _nth(pending[backend], i, 0))
        attach.add(backend, lambda backend=backend: pending[backend].pop(0)[1])
    return [create, first, attach]


def _nth(samples, cursor, field):
    value = samples[cursor[0]][field]
    cursor[0] += 1
    return value


def _import_time(module, number):
    """The median, over *number* fresh ``python -I`` processes, of what -X importtime
    reports for *module*: the cumulative time of its own top-level line, which
    leaves out the interpreter's start-up (site, encodings) that every process pays."""
    def timer():
        samples = []
        for _ in range(number):
            err = subprocess.run([sys.executable, "-I", "-X", "importtime", "-c",
                                  f"import {module}"], capture_output=True, text=True,
                                 check=True).stderr
            for line in err.splitlines():
                fields = line.split("|")
                if len(fields) == 3 and fields[2].rstrip() == " " + module:
                    samples.append(int(fields[1]) * 1e-6)
        return statistics.median(samples)
    return timer


def sync_uncontended(number):
    """One acquire and release with nobody else waiting: the cost of `with lock:`."""
    from multiprocessing import get_context

    from sysvshm import sync

    w = Workload("lock+unlock, uncontended", "threading.Lock",
                 "sysvshm.sync.Lock <= 1.5x threading.Lock, <= 0.5x posix_ipc")
    buf = bytearray(64)
    stmt = "l.acquire(); l.release()"
    import threading
    w.add("threading.Lock", per_call(stmt, {"l": threading.Lock()}, number))
    w.add("sysvshm.sync.Lock", per_call(stmt, {"l": sync.Lock.create(buf, 0)}, number))
    w.add("sysvshm.sync.RLock", per_call(stmt, {"l": sync.RLock.create(buf, 32)}, number))
    w.add("multiprocessing.Lock", per_call(stmt, {"l": get_context("fork").Lock()}, number))
    peers = []
    if posix_ipc is not None:
        sem = posix_ipc.Semaphore(None, posix_ipc.O_CREX, initial_value=1)
        peers.append(lambda: (sem.unlink(), sem.close()))
        w.add("posix_ipc.Semaphore", per_call(stmt, {"l": sem}, number))
    if sysv_ipc is not None:
        ssem = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, initial_value=1)
        peers.append(ssem.remove)
        w.add("sysv_ipc.Semaphore", per_call(stmt, {"l": ssem}, number))

    a = Workload("atomic increment", "multiprocessing.Value + its lock",
                 "sysvshm.sync.AtomicInt64.add <= 0.25x multiprocessing.Value")
    value = get_context("fork").Value("q", 0)
    a.add("multiprocessing.Value + its lock",
          per_call("with v.get_lock(): v.value += 1", {"v": value}, number))
    from sysvshm import sync as _sync
    a.add("sysvshm.sync.AtomicInt64.add",
          per_call("c.add(1)", {"c": _sync.AtomicInt64.create(bytearray(8))}, number))

    def cleanup():
        for done in peers:
            done()
    a.cleanup = cleanup
    return [w, a]


def _contend(make, n, procs=2):
    """Seconds per lock+unlock when *procs* forked processes take turns."""
    def run():
        lock = make()
        r, w = os.pipe()
        pids = []
        for _ in range(procs):
            pid = os.fork()
            if pid == 0:
                os.close(w)
                os.read(r, 1)  # start together
                lk = lock()
                for _ in range(n):
                    lk.acquire()
                    lk.release()
                os._exit(0)
            pids.append(pid)
        t0 = time.perf_counter()
        os.write(w, b"g" * procs)
        for pid in pids:
            os.waitpid(pid, 0)
        took = time.perf_counter() - t0
        os.close(r)
        os.close(w)
        return took / (n * procs)
    return run


def sync_contended(number):
    """Two processes taking turns on one lock (2 cores here: real contention)."""
    from multiprocessing import get_context

    from sysvshm import sync

    w = Workload("lock+unlock, 2 processes contending", "multiprocessing.Lock",
                 "none: throughput, noisy (docs/performance.rst)")
    seg = sysvshm.shm(size=4096)
    seg.remove()
    lock = sync.Lock.create(seg, 0)
    def mp_lock():
        made = get_context("fork").Lock()
        return lambda: made
    w.add("multiprocessing.Lock", _contend(mp_lock, number))
    w.add("sysvshm.sync.Lock", _contend(lambda: (lambda: sync.Lock(seg, 0)), number))
    peers = []
    if posix_ipc is not None:
        sem = posix_ipc.Semaphore(None, posix_ipc.O_CREX, initial_value=1)
        peers.append(lambda: (sem.unlink(), sem.close()))
        w.add("posix_ipc.Semaphore",
              _contend(lambda: (lambda: posix_ipc.Semaphore(sem.name)), number))
    if sysv_ipc is not None:
        ssem = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, initial_value=1)
        peers.append(ssem.remove)
        w.add("sysv_ipc.Semaphore", _contend(lambda: (lambda: sysv_ipc.Semaphore(ssem.key)),
                                            number))

    def cleanup():
        nonlocal lock
        del lock
        seg.close()
        for done in peers:
            done()
    w.cleanup = cleanup
    return w


def _ping_pong(make, n):
    """Seconds per round trip: this process posts *ping* and waits for *pong*, a
    forked child waits for *ping* and posts *pong* (the hand-over of a request and
    its reply between two processes)."""
    def run():
        ping, pong = make()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for _ in range(n):
                    ping.acquire()
                    pong.release()
                code = 0
            finally:
                os._exit(code)
        t0 = time.perf_counter()
        for _ in range(n):
            ping.release()
            pong.acquire()
        took = time.perf_counter() - t0
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError(f"ping-pong child failed: status {status}")
        return took / n
    return run


def sync_ping_pong(number):
    """A request and its reply between two processes, on a pair of semaphores."""
    from multiprocessing import get_context

    from sysvshm import sync

    baseline = "posix_ipc.Semaphore" if posix_ipc is not None else "multiprocessing.Semaphore"
    w = Workload("ping-pong round trip, 2 processes", baseline,
                 "sysvshm.sync.Semaphore <= 1.0x posix_ipc.Semaphore")
    seg = sysvshm.shm(size=4096)
    seg.remove()
    pair = [sync.Semaphore.create(seg, 0, value=0), sync.Semaphore.create(seg, 64, value=0)]
    peers = []
    if posix_ipc is not None:
        sems = [posix_ipc.Semaphore(None, posix_ipc.O_CREX, initial_value=0) for _ in range(2)]
        peers += [lambda s=s: (s.unlink(), s.close()) for s in sems]
        w.add("posix_ipc.Semaphore", _ping_pong(lambda: sems, number))
    ctx = get_context("fork")
    mp_pair = [ctx.Semaphore(0), ctx.Semaphore(0)]
    w.add("multiprocessing.Semaphore", _ping_pong(lambda: mp_pair, number))
    w.add("sysvshm.sync.Semaphore", _ping_pong(lambda: pair, number))
    if sysv_ipc is not None:
        ssems = [sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, initial_value=0)
                 for _ in range(2)]
        peers += [s.remove for s in ssems]
        w.add("sysv_ipc.Semaphore", _ping_pong(lambda: ssems, number))

    def cleanup():
        pair.clear()
        seg.close()
        for done in peers:
            done()
    w.cleanup = cleanup
    return w


# -- named numpy arrays (sysvshm.ndarray) ------------------------------------------------

def _bump_by_value(arr):
    arr.flat[0] += 1
    return arr  # and back, pickled again


def _bump_named(arr):  # a sysvshm.ndarray view: arrives attached by name
    arr.flat[0] += 1


def _bump_stdlib(name, shape, dtype):
    # The stdlib recipe: name, shape and dtype sent by hand.
    block = mp_shared_memory.SharedMemory(name)
    if sys.version_info < (3, 13):  # attaching registers it: the worker's exit would unlink it
        from multiprocessing import resource_tracker
        resource_tracker.unregister(block._name, "shared_memory")
    arr = np.ndarray(shape, dtype, buffer=block.buf)
    arr.flat[0] += 1
    del arr
    block.close()


def _bump_sharedarray(name):
    SharedArray.attach("shm://" + name).flat[0] += 1


def ndarray_to_pool(size):
    """A big array handed to a process pool worker, which changes it: pickled by
    value (there and back), or shared and passed by name."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from sysvshm import ndarray as shnd

    w = Workload(f"{size // MiB} MiB array to a pool worker and back",
                 "stdlib recipe (shared_memory)",
                 "sysvshm.ndarray <= 1.0x the stdlib recipe, <= 1.0x SharedArray")
    shape, tag = (size // 8,), f"svbench-{os.getpid()}"
    pools, done = [], []

    def pool():
        p = ProcessPoolExecutor(1, mp_context=get_context("fork"))
        pools.append(p)
        return p

    def timed(p, fn, *args, calls=20):
        p.submit(fn, *args).result()  # the worker started and warm
        def run():
            t0 = time.perf_counter()
            for _ in range(calls):
                p.submit(fn, *args).result()
            return (time.perf_counter() - t0) / calls
        return run

    state = {"value": np.zeros(shape)}
    p1 = pool()
    def by_value():
        t0 = time.perf_counter()
        state["value"] = p1.submit(_bump_by_value, state["value"]).result()
        return time.perf_counter() - t0
    p1.submit(_bump_by_value, np.zeros(4)).result()
    w.add("pickled by value", by_value)

    named = shnd.create(tag, shape, np.float64)  # tracked, the default: a worker keeps it
    done.append(lambda: shnd.delete(tag))
    w.add("sysvshm.ndarray", timed(pool(), _bump_named, named))

    block = mp_shared_memory.SharedMemory(create=True, size=size)
    done.append(lambda: (block.close(), block.unlink()))
    w.add("stdlib recipe (shared_memory)", timed(pool(), _bump_stdlib, block.name, shape,
                                                  np.float64))
    if SharedArray is not None:
        SharedArray.create("shm://" + tag, shape, np.float64)
        done.append(lambda: SharedArray.delete(tag))
        w.add("SharedArray", timed(pool(), _bump_sharedarray, tag))

    def cleanup():
        nonlocal named
        for p in pools:
            p.shutdown()
        del named
        for d in done:
            d()
    w.cleanup = cleanup
    return w


def ndarray_by_name(number):
    """Creating and attaching an array by name, against SharedArray."""
    from sysvshm import ndarray as shnd

    base = "SharedArray" if SharedArray is not None else "sysvshm.ndarray"
    make = Workload("create+delete a named 1 MiB array", base, "sysvshm <= 1.0x SharedArray")
    attach = Workload("attach a named 1 MiB array", base, "sysvshm <= 1.0x SharedArray")
    tag, shape = f"svbench-n-{os.getpid()}", (1 << 17,)

    def ours_cycle():
        a = shnd.create(tag, shape, np.float64, track=False)
        shnd.delete(tag)
        del a

    def timer(fn):
        def run():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            return (time.perf_counter() - t0) / number
        return run

    done = []
    if SharedArray is not None:
        def sa_cycle():
            SharedArray.create("shm://" + tag, shape, np.float64)
            SharedArray.delete(tag)
        make.add("SharedArray", timer(sa_cycle))
        SharedArray.create("shm://" + tag + "-a", shape, np.float64)
        done.append(lambda: SharedArray.delete(tag + "-a"))
        attach.add("SharedArray", timer(lambda: SharedArray.attach("shm://" + tag + "-a")))
    make.add("sysvshm.ndarray", timer(ours_cycle))
    kept = shnd.create(tag + "-a", shape, np.float64, track=False)
    done.append(lambda: shnd.delete(tag + "-a"))
    attach.add("sysvshm.ndarray", timer(lambda: shnd.attach(tag + "-a")))

    def cleanup():
        nonlocal kept
        del kept
        for d in done:
            d()
    attach.cleanup = cleanup
    return [make, attach]


def import_cost(number):
    """What a short-lived process (a worker, the sysvshm command) pays to import us."""
    core = Workload("import, fresh process", "import mmap",
                    "sysvshm, sysvshm.mmap <= 3 ms")
    for module in ("mmap", "sysvshm", "sysvshm.mmap"):
        core.add(f"import {module}", _import_time(module, number))
    blocks = Workload("import shared_memory, fresh process",
                      "import multiprocessing.shared_memory", "sysvshm <= 1.0x stdlib")
    for module in ("multiprocessing.shared_memory", "sysvshm.shared_memory"):
        blocks.add(f"import {module}", _import_time(module, number))
    return [core, blocks]


# -- running and reporting ----------------------------------------------------------------

def measure(workload, rounds):
    samples = {name: [] for name in workload.backends}
    for _ in range(rounds):  # round-robin: noise falls on every backend alike
        for name, (timer, _) in workload.backends.items():
            samples[name].append(timer())
    cleanup = getattr(workload, "cleanup", None)
    if cleanup:
        cleanup()
    return {name: statistics.median(values) for name, values in samples.items()}


def fmt_time(seconds):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, under a minute")
    parser.add_argument("--hugepages", action="store_true",
                        help="as root, reserve 2 MiB huge pages for the run (restored at the "
                             "end) so that the SHM_HUGETLB row is measured")
    parser.add_argument("--only", metavar="REGEX",
                        help="run only the workloads whose name matches REGEX")
    args = parser.parse_args(argv)
    restore = reserve_huge_pages(40) if args.hugepages else None
    try:
        run_plan(args)
    finally:
        if restore is not None:
            restore()


def run_plan(args):
    q = args.quick
    rounds = 5 if q else 11
    n_sys = 300 if q else 2000
    n_elem = 20000 if q else 200000
    plan = [
        lambda: [create_destroy(4 * KiB, n_sys)],
        lambda: [create_destroy(64 * MiB, n_sys // 4)],
        lambda: [attach_detach(n_sys)],
        lambda: element_ops(n_elem),
        lambda: bulk_copy(256 * MiB if not q else 64 * MiB, 2),
        lambda: first_touch(256 * MiB if not q else 64 * MiB, 1),
        lambda: [fresh_reader(64 * MiB, 1 if q else 2)],
        *[lambda n=n: named_blocks(n) for n in (10, 1000, 3000)],
        lambda: import_cost(5),
        lambda: sync_uncontended(n_elem),
        lambda: [sync_contended(20000 if q else 100000)],
        lambda: [sync_ping_pong(2000 if q else 10000)],
        *([lambda: [ndarray_to_pool(64 * MiB if q else 256 * MiB)],
           lambda: ndarray_by_name(50 if q else 300)] if np is not None else []),
    ]
    print(f"sysvshm {sysvshm.__version__}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, {'quick' if q else 'full'} run, {rounds} rounds, "
          f"medians per operation")
    print(f"{'workload':36} {'backend':32} {'median':>10} {'ratio':>7}  target")
    results = {}
    for make in plan:
        for workload in make():
            if args.only and not re.search(args.only, workload.name):
                cleanup = getattr(workload, "cleanup", None)
                if cleanup:
                    cleanup()  # set up by the constructor: files in /dev/shm, say
                continue
            medians = measure(workload, rounds)
            base = medians[workload.baseline]
            for i, (name, value) in enumerate(medians.items()):
                print(f"{workload.name if i == 0 else '':36} {name:32} {fmt_time(value):>10} "
                      f"{value / base:6.2f}x  {workload.target if i == 0 else ''}")
                results[(workload.name, name)] = value
            sys.stdout.flush()
    small = results.get(("create+destroy 4 KiB", "sysvshm.shm"))
    big = results.get(("create+destroy 64 MiB", "sysvshm.shm"))
    if small and big:
        print(f"\nsysvshm create+destroy 64 MiB / 4 KiB: {big / small:.2f}x (target <= 1.2x)")
    if not any(backend == "sysvshm SHM_HUGETLB segment" for _, backend in results):
        print("SHM_HUGETLB row left out: no free 2 MiB huge pages (as root, add --hugepages)")


if __name__ == "__main__":
    main()
