"""Mistakes the stubs must catch: each line whose comment starts with "error" is
one that mypy --strict and pyright both reject (check_misuse.py runs them)."""
from __future__ import annotations

import sysvshm
import sysvshm.mmap as smmap
from sysvshm import shared_memory


def indexing(seg: sysvshm.shm, m: smmap.mmap) -> None:
    a: bytes = seg[0]  # error: an index gives an int
    b: int = seg[0:8]  # error: a slice gives bytes
    c: bytes = m[-1]  # error
    d: int = m[1:]  # error
    seg[0] = b"x"  # error: an index takes an int
    seg[0:1] = 1  # error: a slice takes a buffer
    del a, b, c, d


def calls(seg: sysvshm.shm) -> None:
    sysvshm.shmget("key")  # error: keys are ints
    sysvshm.shmat(1, prefault=1.5)  # error
    seg.write("text")  # error: str is not a buffer
    seg.seek(0, whence=1)  # error: positional-only, as mmap's
    shared_memory.SharedMemory(create=True, size="8")  # error
