"""A producer and a consumer process share one numpy array through a System V segment.

The producer fills the array three times; each time the consumer sums it in place,
without a copy. Run: python examples/numpy_producer_consumer.py
"""
import multiprocessing
import sys

import sysvshm

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: skipping this example (pip install numpy)")
    sys.exit(0)

N = 1_000_000  # float64 values: 8 MB
ROUNDS = 3


def consumer(shmid, filled, summed):
    seg = sysvshm.shmat(shmid)  # attach the producer's segment by its id
    data = np.frombuffer(seg, dtype=np.float64, count=N)  # a view of shared memory
    for n in range(ROUNDS):
        if not filled.wait(30):
            raise SystemExit("consumer: the producer went away")
        filled.clear()
        print(f"consumer: round {n}: sum = {data.sum():.0f}", flush=True)
        summed.set()
    del data  # no view may outlive the attachment
    seg.close()


def main():
    seg = sysvshm.shm(size=N * 8)
    # Marked for destruction at once: Linux keeps it usable, and attachable by id,
    # until the last process detaches, so nothing is left behind whatever happens.
    seg.remove()
    ctx = multiprocessing.get_context("spawn")
    filled, summed = ctx.Event(), ctx.Event()
    child = ctx.Process(target=consumer, args=(seg.shmid, filled, summed))
    child.start()
    data = np.frombuffer(seg, dtype=np.float64, count=N)
    try:
        for n in range(ROUNDS):
            data[:] = np.arange(N) * (n + 1)  # written straight into the segment
            print(f"producer: round {n}: wrote, expect {N * (N - 1) // 2 * (n + 1)}", flush=True)
            filled.set()
            if not summed.wait(30):
                raise SystemExit("producer: the consumer went away")
            summed.clear()
    finally:
        child.join(30)
        del data
        seg.close()
    return child.exitcode


if __name__ == "__main__":
    sys.exit(main())
