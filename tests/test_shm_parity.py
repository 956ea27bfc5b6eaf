"""sysvshm.shm and sysvshm.mmap against the stdlib mmap.mmap: the same
operations, the same outcome.

Each case of _mmap_cases runs on a stdlib mmap and on each of our objects with
its interface (the mmap_pair fixture: a segment, and sysvshm.mmap on a file and
anonymous), of the same size with the same contents, and compares the result (or
the exception's type and message) and the memory afterwards.
"""
import mmap
import tempfile

import pytest
from _mmap_cases import CASES, CLOSED_CALLS, CONTENT, SIZE
from _parity import PY313, assert_same, outcome, type_name

import sysvshm


def run(fn, obj):
    # Messages that name the type ("... for +: 'mmap.mmap' and 'bytes'") are
    # compared with the type's name left out.
    return outcome(fn, obj, hide=(type_name(obj),))


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_stdlib_mmap(name, mmap_pair):
    ref, ours = mmap_pair.ref, mmap_pair.ours
    assert_same(run(CASES[name], ours), run(CASES[name], ref), name)
    assert ours[:] == ref[:]
    mmap_pair.close()
    mmap_pair.assert_same_files()


READONLY_CASES = [
    "setitem", "setitem-out", "setitem-key-str", "setslice", "setslice-str", "delitem",
    "delslice", "write", "write-str", "write_byte", "write_byte-256", "move", "move-out",
    "flush", "getitem", "slice", "read-all", "find",
]


def _readonly_stdlib_mmap():
    # An anonymous stdlib mmap cannot be ACCESS_READ, so use a file-backed one.
    with tempfile.TemporaryFile() as f:
        f.write(CONTENT)
        f.flush()
        return mmap.mmap(f.fileno(), SIZE, access=mmap.ACCESS_READ)


@pytest.mark.parametrize("name", READONLY_CASES)
def test_readonly_same_as_stdlib_mmap(name, make_shm):
    seg = make_shm(SIZE)
    seg[:] = CONTENT
    ref = _readonly_stdlib_mmap()
    ours = sysvshm.shmat(seg.shmid, sysvshm.SHM_RDONLY)
    try:
        want, got = run(CASES[name], ref), run(CASES[name], ours)
        ref_mem, our_mem = bytes(ref[:]), bytes(seg[:])
    finally:
        ref.close()
        ours.close()
    if name == "write" and not PY313:
        assert got[:2] == want[:2]
    else:
        assert got == want
    assert our_mem == ref_mem == CONTENT


@pytest.mark.parametrize("name", sorted(CLOSED_CALLS))
def test_closed_same_as_stdlib_mmap(name, mmap_pair):
    mmap_pair.close()
    assert run(CLOSED_CALLS[name], mmap_pair.ours) == run(CLOSED_CALLS[name], mmap_pair.ref)


def test_size_is_the_segment_length(make_shm):
    # The stdlib's anonymous mmap answers size() with EBADF before 3.13 (it
    # fstat()s fd -1); a segment has no file, so size() is its length, as
    # mmap.size() is for anonymous maps from 3.13 on.
    assert make_shm(SIZE).size() == SIZE
    assert make_shm(5).size() == 5


def test_closed_repr(make_shm):
    seg = make_shm(SIZE)
    seg.close()
    assert repr(seg) == "<sysvshm.shm closed=True>"
