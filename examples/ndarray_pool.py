"""A process pool normalizes the rows of one named numpy array, in place.

The parent creates the array by name; each task gets a slice of it. The slice
is pickled by name, not by value: the workers (started with spawn) attach the
same memory and write their results straight into it. Nothing is copied back.
Run: python examples/ndarray_pool.py
"""
import concurrent.futures
import multiprocessing
import os
import sys

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: skipping this example (pip install numpy)")
    sys.exit(0)

from sysvshm import ndarray as shnd

ROWS, COLS, TASKS = 4000, 1000, 8


def normalize(rows):
    """Scale each row of *rows* (a view of the shared array) to unit length."""
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return os.getpid(), rows.shape[0]


def main():
    name = f"example-rows-{os.getpid()}"
    data = shnd.create(name, (ROWS, COLS), np.float64, track=False)
    try:
        data[...] = np.random.default_rng(0).random((ROWS, COLS)) + 0.5
        chunks = np.array_split(np.arange(ROWS), TASKS)
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
            done = list(pool.map(normalize, [data[c[0]:c[-1] + 1] for c in chunks]))
        workers = {pid for pid, _ in done}
        print(f"{sum(n for _, n in done)} rows normalized in {len(done)} tasks, by "
              f"{'worker processes' if os.getpid() not in workers else 'this process'}")
        norms = np.linalg.norm(data, axis=1)
        print(f"every row has unit length: {bool(np.allclose(norms, 1))}")
        info, = [i for i in shnd.list() if i.name == name]
        print(f"the array: {info.shape} {info.dtype}, {info.nbytes // 2**20} MiB, one copy")
    finally:
        shnd.delete(name)


if __name__ == "__main__":
    main()
