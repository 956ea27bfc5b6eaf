"""sysvshm.shared_memory as a drop-in for multiprocessing.shared_memory, with a Pool.

Workers square slices of one shared array of 64-bit integers in place; only the
block's name travels to them. Run: python examples/pool_shared_memory.py
The block is unlinked on every way out but SIGKILL (then `sysvshm rm --orphans
--keyed` removes it).
"""
import os
import signal
import sys
from multiprocessing import Pool

from sysvshm import shared_memory  # was: from multiprocessing import shared_memory

N = 100_000
CHUNK = 25_000


def square(task):
    name, start, stop = task
    block = shared_memory.SharedMemory(name=name)  # attach by name, as the stdlib's
    numbers = block.buf.cast("q")
    for i in range(start, stop):
        numbers[i] = numbers[i] * numbers[i]
    numbers.release()  # no view may outlive close()
    block.close()
    return stop - start


MAIN_PID = os.getpid()


def on_sigterm(signum, frame):
    if os.getpid() != MAIN_PID:
        # A pool worker that got SIGTERM before worker_init() ran: die at once.
        os._exit(128 + signum)
    sys.exit(128 + signum)  # here, an exception: main()'s finally runs


def worker_init():
    # Pool workers are forked with on_sigterm installed; give them back the
    # default. Pool.terminate() stops workers with SIGTERM, and a Python-level
    # handler can miss it: a worker blocked in a lock (sem_wait) that the signal
    # reaches just before it starts waiting never runs the handler, and the pool
    # waits for it forever. The default action needs no Python code to run.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main():
    # SIGTERM (kill, timeout, docker stop) as an exception, so that finally runs.
    signal.signal(signal.SIGTERM, on_sigterm)
    block = shared_memory.SharedMemory(create=True, size=N * 8)
    numbers = block.buf.cast("q")
    try:
        for i in range(N):  # a new block is zero-filled; make it 0, 1, 2, ...
            numbers[i] = i
        tasks = [(block.name, start, min(start + CHUNK, N)) for start in range(0, N, CHUNK)]
        with Pool(2, initializer=worker_init) as pool:
            done = sum(pool.map(square, tasks))
        total = sum(numbers)
        expected = sum(i * i for i in range(N))
        print(f"{done} numbers squared by the pool; sum {total}, expected {expected}")
        return 0 if total == expected else 1
    finally:
        numbers.release()  # close() refuses while a view is out
        block.close()
        block.unlink()  # as with the stdlib: the creator removes the block


if __name__ == "__main__":
    raise SystemExit(main())
