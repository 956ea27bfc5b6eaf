"""Unrelated processes coordinate through one block: a lock, a counter and the data.

The coordinator creates a block and starts workers as new programs (subprocess:
they inherit nothing and find the block by its name). The block holds, at fixed
offsets, a robust lock, an atomic count of finished workers, and the data the lock
protects. Worker 0 is killed (SIGKILL) in the middle of an update, holding the
lock; the next process to take the lock is told, rolls the half-done update back,
and everyone carries on.
Run: python examples/sync_counter.py
"""
import os
import signal
import struct
import subprocess
import sys

from sysvshm import sync
from sysvshm.shared_memory import SharedMemory

# The layout of the block: every offset a multiple of what lives there needs.
LOCK = 0                                # sync.Lock.SIZE bytes
DONE = LOCK + sync.Lock.SIZE            # sync.AtomicInt64: workers finished
DATA = DONE + sync.AtomicInt64.SIZE     # two uint64 the lock protects:
# the total, and the amount an update in progress is adding to it (the journal)
WORKERS, ADDS = 3, 1000


def read_data(buf):
    return struct.unpack_from("<QQ", buf, DATA)


def worker(name, number):
    block = SharedMemory(name)  # found by name: nothing inherited
    lock, done = sync.Lock(block.buf, LOCK), sync.AtomicInt64(block.buf, DONE)
    try:
        for _ in range(ADDS if number else 1):
            with lock:
                total, _ = read_data(block.buf)
                struct.pack_into("<QQ", block.buf, DATA, total, 5)  # journal: adding 5
                struct.pack_into("<Q", block.buf, DATA, total + 5)
                if number == 0:  # killed mid-update, holding the lock
                    print("worker 0: killed mid-update, holding the lock", flush=True)
                    os.kill(os.getpid(), signal.SIGKILL)
                struct.pack_into("<Q", block.buf, DATA + 8, 0)  # committed
        done.add(1)
        done.notify_all()
    finally:
        del lock, done  # they hold exports of block.buf: release them before close()
        block.close()


def coordinator():
    block = SharedMemory(create=True, size=4096)
    lock = sync.Lock.create(block.buf, LOCK)
    done = sync.AtomicInt64.create(block.buf, DONE)
    me = [sys.executable, "-I", os.path.abspath(__file__), block.name]
    try:
        subprocess.run(me + ["0"], timeout=60)  # dies by SIGKILL
        try:
            lock.acquire(timeout=10)
        except sync.OwnerDiedError:
            total, adding = read_data(block.buf)
            struct.pack_into("<QQ", block.buf, DATA, total - adding, 0)  # roll back
            print(f"coordinator: the lock's owner died mid-update; rolled back {adding}")
            lock.mark_consistent()
        lock.release()
        workers = [subprocess.Popen(me + [str(n)]) for n in range(1, WORKERS + 1)]
        finished = done.load()
        while finished < WORKERS:  # sleep until a worker says it is done
            done.wait(finished, timeout=60)
            finished = done.load()
        for w in workers:
            w.wait(60)
        total, adding = read_data(block.buf)
        print(f"coordinator: total = {total} ({WORKERS} workers x {ADDS} adds of 5)")
        assert total == WORKERS * ADDS * 5 and adding == 0
    finally:
        del lock, done
        block.close()
        block.unlink()


if __name__ == "__main__":
    if len(sys.argv) == 3:
        worker(sys.argv[1], int(sys.argv[2]))
    else:
        coordinator()
