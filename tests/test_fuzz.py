"""Fuzzing: random and hostile calls on the public API, and random bytes written
into blocks' headers by another process. Only clear Python exceptions may come out.

The number of examples is bounded (SYSVSHM_FUZZ_EXAMPLES, default 150) so that
CI runs the harness in a fixed, short time; run it longer by hand with e.g.
SYSVSHM_FUZZ_EXAMPLES=5000. The call fuzzer runs in a child interpreter, so a
crash fails the test instead of ending the run.
"""
import os
import struct
import subprocess
import sys
import textwrap

import _proc
import pytest
from _stress import scaled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysvshm import _blocks, shared_memory

# Every test here runs longer under SYSVSHM_STRESS=1 (tox -e stress).
pytestmark = pytest.mark.stress

# SYSVSHM_FUZZ_EXAMPLES overrides; else tests/_stress.py decides.
EXAMPLES = int(os.environ.get("SYSVSHM_FUZZ_EXAMPLES", scaled(600, 100)))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))

CALL_FUZZER = textwrap.dedent('''
    import os, sys
    from hypothesis import HealthCheck, given, settings, strategies as st
    import sysvshm, sysvshm.mmap as smmap

    EXAMPLES, KIND = int(sys.argv[1]), sys.argv[2]
    CLEAN = (ValueError, TypeError, IndexError, OverflowError, BufferError, OSError,
             NotImplementedError)
    SIZE = 3 * 4096
    done = {"calls": 0, "ok": 0}
    KEPT = []  # exports taken by Evil.__index__, released after each example

    def make():
        if KIND == "shm":
            seg = sysvshm.shm(size=SIZE)
            seg.remove()
            return seg
        if KIND == "devzero":
            smmap.force_devzero(True)
        return smmap.mmap(-1, SIZE)

    class Evil:
        """An __index__ that closes, resizes or exports the object, or raises."""
        def __init__(self, obj, what, value):
            self.obj, self.what, self.value = obj, what, value
        def __index__(self):
            if self.what == "close":
                try:
                    self.obj.close()
                except BufferError:
                    pass
            elif self.what == "resize" and hasattr(self.obj, "resize"):
                try:
                    self.obj.resize(4096)
                except (ValueError, BufferError, OSError):
                    pass
                except SystemError as exc:  # shm.resize(), as the stdlib without mremap
                    if "cannot be resized" not in str(exc):
                        raise
            elif self.what == "export":
                KEPT.append(memoryview(self.obj))
            elif self.what == "raise":
                raise RuntimeError("from __index__")
            return self.value

    EDGE = [0, 1, -1, 4095, 4096, 4097, SIZE - 1, SIZE, SIZE + 1, -SIZE, -SIZE - 1,
            2**31 - 1, 2**31, 2**32, 2**63 - 1, -2**63, 2**63, 2**64, -2**64]
    ints = st.one_of(st.sampled_from(EDGE), st.integers(-2**70, 2**70))
    def plain(draw_int):
        return st.one_of(draw_int, st.none(), st.floats(), st.text(max_size=3),
                         st.binary(max_size=64), st.binary(max_size=64).map(bytearray))
    args = st.one_of(plain(ints), st.tuples(st.sampled_from(["close", "resize", "export",
                                                             "raise", "none"]), ints))
    slices = st.builds(slice, st.one_of(st.none(), ints), st.one_of(st.none(), ints),
                       st.one_of(st.none(), st.sampled_from([1, 2, -1, 7, 2**63, -2**63])))
    METHODS = ["__getitem__", "__setitem__", "__delitem__", "read", "readinto", "read_byte",
               "readline", "write", "write_byte", "seek", "tell", "find", "rfind", "move",
               "flush", "madvise", "mlock", "munlock", "mincore", "prefault", "resize",
               "size", "__len__", "close", "__enter__", "memoryview", "release", "iter",
               "__reduce__", "stat"]
    calls = st.lists(st.tuples(st.sampled_from(METHODS),
                               st.lists(st.one_of(args, slices), max_size=3)), max_size=12)

    def resolve(obj, a):
        if isinstance(a, tuple):
            return Evil(obj, a[0], a[1])
        return a

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(calls)
    def run(sequence):
        obj = make()
        views = []
        try:
            for name, raw in sequence:
                a = [resolve(obj, x) for x in raw]
                done["calls"] += 1
                try:
                    if name == "memoryview":
                        views.append(memoryview(obj))
                    elif name == "release":
                        if views:
                            views.pop().release()
                    elif name == "iter":
                        for _ in zip(range(5), obj):
                            pass
                    else:
                        method = getattr(obj, name, None)
                        if method is None:
                            continue
                        method(*a)
                    done["ok"] += 1
                except CLEAN:
                    pass
                except SystemError as exc:  # only shm.resize()'s documented refusal
                    if "cannot be resized" not in str(exc):
                        raise
                except (RuntimeError, KeyError, StopIteration) as exc:
                    if "from __index__" not in str(exc):
                        raise
        finally:
            for v in views + KEPT:
                v.release()
            del KEPT[:]
            try:
                obj.close()
            except BufferError:
                pass

    run()
    print(done["calls"], done["ok"])
''')


@pytest.mark.parametrize("kind", ["shm", "mmap", "devzero"])
def test_random_and_hostile_calls_never_crash(kind):
    proc = subprocess.Popen([sys.executable, "-c", CALL_FUZZER, str(EXAMPLES), kind],
                            cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _proc.started(proc.pid)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{err[-4000:]}"
    calls, ok = map(int, out.split())
    assert calls > EXAMPLES and ok > 0  # the fuzzer did call things, and some worked


def _scribble(shmid, writes):
    import sysvshm

    seg = sysvshm.shmat(shmid)
    for offset, data in writes:
        data = data[:max(len(seg) - offset, 0)]  # a write near the end stops at it
        seg[offset:offset + len(data)] = data
    seg.close()


def _writes(limit):
    return st.lists(st.tuples(st.integers(0, limit - 1), st.binary(min_size=1, max_size=16)),
                    min_size=1, max_size=6)


def _header_field_writes():
    # Aimed at the fields: magic (0), size (8), flags (16), name length (20), name (24).
    field = st.sampled_from([0, 8, 16, 20, 24, 28])
    values = st.one_of(st.binary(min_size=1, max_size=8),
                       st.integers(0, 2**64 - 1).map(lambda v: struct.pack("=Q", v)))
    return st.lists(st.tuples(field, values), min_size=1, max_size=4)


@SETTINGS
@given(size=st.integers(1, 9000), track=st.booleans(),
       writes=st.one_of(_writes(_blocks.HEADER), _header_field_writes()))
def test_scribbled_block_headers_give_clean_errors(size, track, writes):
    block = shared_memory.SharedMemory(create=True, size=size, track=track)
    try:
        _proc.in_child(_scribble, block._shmid, writes)
        try:
            again = shared_memory.SharedMemory(block.name)
        except FileNotFoundError:
            pass
        else:
            # A writer may change the size within the page of padding the kernel's
            # metadata cannot tell apart, never beyond the segment.
            assert 0 <= again.size <= size + 4095 and len(again.buf) == again.size
            assert again.size <= len(again._seg) - _blocks.HEADER
            bytes(again.buf)
            again.close()
    finally:
        try:
            block.unlink()
        except FileNotFoundError:
            pass
        block.close()
    assert block._shmid not in _proc.own_ids()


values = st.one_of(st.integers(-2**63, 2**63 - 1), st.floats(), st.booleans(), st.none(),
                   st.text(max_size=20), st.binary(max_size=20))


@SETTINGS
@given(items=st.lists(values, max_size=8), data=st.data())
def test_scribbled_shareable_lists_give_clean_errors(items, data):
    sl = shared_memory.ShareableList(items)
    try:
        size = len(sl.shm.buf)
        writes = data.draw(_writes(size))
        _proc.in_child(_scribble, sl.shm._shmid, [(_blocks.HEADER + o, d) for o, d in writes])
        try:
            other = shared_memory.ShareableList(name=sl.shm.name)
        except ValueError:
            return
        try:
            for i in range(len(other)):
                try:
                    other[i]
                except ValueError:
                    pass
            for i, value in enumerate(data.draw(st.lists(values, max_size=3))):
                try:
                    other[i % max(1, len(other))] = value
                except (ValueError, IndexError):
                    pass
            for call in (repr, lambda x: x.format, lambda x: x.count(0), lambda x: x.index(0)):
                try:
                    call(other)
                except ValueError:
                    pass
        finally:
            other.shm.close()
    finally:
        sl.shm.unlink()
        sl.shm.close()
