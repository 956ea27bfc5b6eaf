"""Cases where CPython's own test_mmap and call-by-call comparisons found
sysvshm.mmap (and sysvshm.shm) differing from the stdlib mmap.

The stdlib is the reference wherever it gives a clean answer: same exception
class, errno and message. Where it would crash (reading a map without PROT_READ),
sysvshm raises the exception a stdlib caller already catches (TypeError, as for
writes to a read-only map); those operations run in a child process, so that a
regression is a failed test and not a dead test run.
"""
import errno
import hashlib
import mmap as std
import struct
import sys
import zlib

import _proc
import pytest
from _parity import outcome

import sysvshm
import sysvshm.mmap as smmap

PAGE = std.PAGESIZE
PY313 = sys.version_info >= (3, 13)
NOACCESS = "mmap can't access a memory map without PROT_READ"
READONLY = "mmap can't modify a readonly memory map."
RESIZE_READONLY = "mmap can't resize a readonly or copy-on-write memory map."


def run(fn):
    # The errno is compared too.
    return outcome(fn, attrs=("errno",))


# -- 1. prot without PROT_READ ------------------------------------------------------------

# prot values without PROT_READ: PROT_NONE, PROT_WRITE alone (reads may fault
# where the hardware can do write-only pages), PROT_EXEC alone.
UNREADABLE = {"PROT_NONE": 0, "PROT_WRITE": std.PROT_WRITE, "PROT_EXEC": std.PROT_EXEC}


# Every operation that reads (or exports) the contents: TypeError NOACCESS.
READS = {
    "getitem": lambda m: m[0],
    "getitem-neg": lambda m: m[-1],
    "getitem-out-of-range": lambda m: m[10 * PAGE],
    "getitem-index": lambda m: m[True],
    "slice": lambda m: m[:],
    "slice-empty": lambda m: m[0:0],
    "slice-step": lambda m: m[::3],
    "slice-big": lambda m: m[0:1 << 30],
    "read": lambda m: m.read(),
    "read-0": lambda m: m.read(0),
    "read-n": lambda m: m.read(10),
    "readinto": lambda m: m.readinto(bytearray(10)),
    "read_byte": lambda m: m.read_byte(),
    "readline": lambda m: m.readline(),
    "find": lambda m: m.find(b"x"),
    "find-args": lambda m: m.find(b"fo", -2),
    "rfind": lambda m: m.rfind(b"x"),
    "iter": lambda m: next(iter(m)),
    "list": lambda m: list(m),
    "in": lambda m: b"x" in m,
    "memoryview": lambda m: memoryview(m),
    "bytes": lambda m: bytes(m),
    "bytearray": lambda m: bytearray(m),
    "join": lambda m: b"".join([m]),
    "struct": lambda m: struct.unpack_from("b", m),
    "crc32": lambda m: zlib.crc32(m),
    "sha256": lambda m: hashlib.sha256(m),
    "compare-bytes": lambda m: bytes(m) == b"",
    "prefault": lambda m: m.prefault(),
}
# Every operation that writes: TypeError, the stdlib's read-only message on a
# PROT_NONE or PROT_EXEC map (ACCESS_READ, as the stdlib derives it), NOACCESS on
# a PROT_WRITE one.
WRITES = {
    "setitem": lambda m: m.__setitem__(0, 1),
    "setitem-slice-bytes": lambda m: m.__setitem__(slice(0, 1), b"a"),
    "setitem-slice-bytearray": lambda m: m.__setitem__(slice(0, 1), bytearray(b"a")),
    "setitem-slice-step": lambda m: m.__setitem__(slice(0, 4, 2), b"ab"),
    "write": lambda m: m.write(b"a"),
    "write_byte": lambda m: m.write_byte(1),
    "move": lambda m: m.move(0, 1, 1),
    "prefault-write": lambda m: m.prefault(write=True),
}
# Code that is not ours wraps the TypeError of the buffer export in its own.
FOREIGN = {"join"}
# What does not touch the memory keeps working.
HARMLESS = {
    "len": lambda m: len(m),
    "tell": lambda m: m.tell(),
    "seek": lambda m: (m.seek(10), m.tell())[1],  # seek() returns None before 3.13
    "seek-end": lambda m: (m.seek(0, 2), m.tell())[1],
    "flush": lambda m: m.flush(),
    "madvise": lambda m: m.madvise(std.MADV_DONTNEED),
    "madvise-range": lambda m: m.madvise(std.MADV_NORMAL, 0, PAGE),
    "mincore": lambda m: m.mincore(),
    "closed": lambda m: m.closed,
    "repr": lambda m: repr(m),
    "with": lambda m: m.__enter__() is m,
    "delitem": lambda m: m.__delitem__(0),
}


def _make(prot, kind, path=None, size=2 * PAGE, flags=std.MAP_PRIVATE):
    if kind == "file":
        with open(path, "r+b") as f:
            return smmap.mmap(f.fileno(), size, flags=flags, prot=prot)
    return smmap.mmap(-1, size, flags=flags, prot=prot)


@pytest.fixture
def datafile(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"a" * 2 * PAGE)
    return path


@pytest.mark.parametrize("kind", ["anonymous", "file"])
@pytest.mark.parametrize("prot", sorted(UNREADABLE))
def test_unreadable_map_refuses_every_access_in_a_child(prot, kind, datafile):
    def child():
        for flags in (std.MAP_PRIVATE, std.MAP_SHARED):
            m = _make(UNREADABLE[prot], kind, datafile, flags=flags)
            for name, op in READS.items():
                got = run(lambda op=op, m=m: op(m))
                if name in FOREIGN:
                    assert got[:2] == ("raised", TypeError), (name, got)
                else:
                    assert got == ("raised", TypeError, None, NOACCESS), (name, got)
            written = READONLY if prot != "PROT_WRITE" else NOACCESS
            for name, op in WRITES.items():
                got = run(lambda op=op, m=m: op(m))
                if name == "prefault-write":  # not in the stdlib: one message
                    assert got == ("raised", TypeError, None, NOACCESS), (name, got)
                else:
                    assert got == ("raised", TypeError, None, written), (name, got)
            for name, op in HARMLESS.items():
                got = run(lambda op=op, m=m: op(m))
                if name == "delitem":  # the stdlib's errors; nothing is touched
                    assert got[:2] == ("raised", TypeError), (name, got)
                else:
                    assert got[0] == "ok", (name, got)
            if kind == "file":
                assert m.size() == 2 * PAGE
            m.close()
            assert m.closed
    _proc.in_child(child)


def test_unreadable_map_exports_no_buffer():
    m = smmap.mmap(-1, PAGE, prot=0)
    for export in (memoryview, bytes, bytearray):
        with pytest.raises(TypeError, match="without PROT_READ"):
            export(m)
    m.close()  # no export was counted


@pytest.mark.parametrize("prot", sorted(UNREADABLE))
def test_unreadable_map_made_and_used_as_the_stdlib(prot):
    # What the stdlib answers cleanly on such a map (nothing touched), we answer
    # alike: the constructor, the derived access, len, seek, flush, madvise, the
    # refusals of writes and resize on a PROT_NONE map, close.
    ref = std.mmap(-1, 2 * PAGE, flags=std.MAP_PRIVATE, prot=UNREADABLE[prot])
    ours = smmap.mmap(-1, 2 * PAGE, flags=std.MAP_PRIVATE, prot=UNREADABLE[prot])
    calls = dict(HARMLESS, resize=lambda m: m.resize(PAGE), size=lambda m: m.size())
    calls.pop("repr")
    calls.pop("mincore")  # not in the stdlib
    if prot != "PROT_WRITE":  # the stdlib refuses writes without touching
        calls.update({k: v for k, v in WRITES.items() if not k.startswith("prefault")})
    try:
        for name, op in sorted(calls.items()):
            assert run(lambda op=op: op(ours)) == run(lambda op=op: op(ref)), name
        if sys.version_info >= (3, 11):  # the stdlib's repr shows the fields from 3.11
            assert repr(ours).split(",")[1:] == repr(ref).split(",")[1:]
    finally:
        ref.close()
        ours.close()
    assert run(lambda: ours[0]) == run(lambda: ref[0])  # closed: ValueError


def test_find_does_not_access_beyond_buffer():
    # CPython's test (3.11+), on a sample of its sizes: a PROT_NONE guard, then a
    # map inside it that find() must not read past.
    flags = std.MAP_PRIVATE | smmap.MAP_ANONYMOUS
    for i in (0, 1, 2, 15, 255, 1024, 2048):
        with smmap.mmap(-1, PAGE * (i + 1), flags=flags, prot=0) as guard:
            with smmap.mmap(-1, PAGE * (i + 2048), flags=flags, prot=std.PROT_READ) as fm:
                assert fm.find(b"fo", -2) == -1
            with pytest.raises(TypeError, match="without PROT_READ"):
                guard.find(b"fo", -2)


def test_noaccess_hugetlb_noreserve_is_not_populated():
    # A map that is never touched needs no pages: no MADV_POPULATE, no error.
    if not hasattr(smmap, "MAP_HUGETLB") or not hasattr(smmap, "MAP_NORESERVE"):
        pytest.skip("no MAP_HUGETLB/MAP_NORESERVE")
    flags = std.MAP_PRIVATE | smmap.MAP_HUGETLB | smmap.MAP_NORESERVE
    try:
        m = smmap.mmap(-1, 2 << 20, flags=flags, prot=0)
    except OSError as exc:  # no huge page support at all
        pytest.skip(f"huge pages unavailable: {exc}")
    with pytest.raises(TypeError, match="without PROT_READ"):
        m[0]
    m.close()


def test_unreadable_map_races_close_without_crashing():
    # Large reads take the GIL-free copy path (and buffer exports hand the address
    # to other code): on a PROT_NONE map they must all refuse, whichever thread
    # closes it meanwhile.
    out = _proc.assert_exits_cleanly("""
        import sys, threading
        import sysvshm.mmap as mmap
        sys.setswitchinterval(1e-6)
        refused = 0
        into = bytearray(64 << 20)
        for _ in range(50):
            m = mmap.mmap(-1, 64 << 20, flags=mmap.MAP_PRIVATE, prot=0)
            def reader():
                global refused
                for op in (lambda: m[:], lambda: m.read(), lambda: memoryview(m),
                           lambda: m.readinto(into), lambda: m.find(b"x"),
                           lambda: bytes(m)) * 3:
                    try:
                        op()
                    except TypeError:
                        refused += 1
                    except ValueError:
                        pass  # closed
            threads = [threading.Thread(target=reader) for _ in range(2)]
            for t in threads:
                t.start()
            m.close()
            for t in threads:
                t.join()
        print(refused)
    """)
    assert int(out) > 0


# -- 2. trackfd=False (3.13) --------------------------------------------------------------

def _pair_maps(kind, tmp_path, **kwargs):
    if kind == "file":
        maps = []
        for name, module in (("std", std), ("ours", smmap)):
            path = tmp_path / name
            path.write_bytes(b"b" * PAGE)
            with open(path, "r+b") as f:
                maps.append(module.mmap(f.fileno(), PAGE, **kwargs))
        return maps
    return [std.mmap(-1, PAGE, **kwargs), smmap.mmap(-1, PAGE, **kwargs)]


TRACKFD_CASES = {
    "resize": lambda m: m.resize(32),
    "resize-neg": lambda m: m.resize(-1),
    "resize-float": lambda m: m.resize(1.5),
    "resize-huge": lambda m: m.resize(2**70),
    "resize-exported": lambda m: (lambda v: m.resize(32))(memoryview(m)),
    "resize-exported-float": lambda m: (lambda v: m.resize(1.5))(memoryview(m)),
    "resize-closed": lambda m: (m.close(), m.resize(32)),
    "resize-closed-bad": lambda m: (m.close(), m.resize("x")),
    "size": lambda m: m.size(),
}


@pytest.mark.skipif(not PY313, reason="trackfd= is new in Python 3.13's mmap")
@pytest.mark.parametrize("access", ["ACCESS_DEFAULT", "ACCESS_READ", "ACCESS_WRITE",
                                    "ACCESS_COPY"])
@pytest.mark.parametrize("kind", ["anonymous", "file"])
@pytest.mark.parametrize("name", sorted(TRACKFD_CASES))
def test_trackfd_false_resize_same_as_stdlib(name, kind, access, tmp_path):
    ref, ours = _pair_maps(kind, tmp_path, trackfd=False, access=getattr(std, access))
    try:
        assert run(lambda: TRACKFD_CASES[name](ours)) == \
            run(lambda: TRACKFD_CASES[name](ref))
        assert ours.closed or len(ours) == PAGE
    finally:
        ref.close()
        ours.close()


@pytest.mark.parametrize("kind", ["anonymous", "file"])
def test_trackfd_false_refuses_resize_on_every_version(kind, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"c" * PAGE)
    if kind == "file":
        with open(path, "r+b") as f:
            m = smmap.mmap(f.fileno(), PAGE, trackfd=False)
    else:
        m = smmap.mmap(-1, PAGE, trackfd=False)
    with pytest.raises(ValueError, match=r"^mmap can't resize with trackfd=False\.$"):
        m.resize(32)
    assert len(m) == PAGE
    m.close()


# -- 3. m[i] = v: which check wins --------------------------------------------------------

class _BigIndex:
    def __index__(self):
        return 2**70


INDICES = [0, 15, -1, -16, 16, -17, 10**6, -10**6, 2**70, -2**70, True, _BigIndex(), "x",
           1.5, None, slice(0, 1), slice(0, 2), slice(10**6, None), slice(0, 16, 2),
           slice(2**70, 2**71), slice(None, None, -1), slice("a", None)]
VALUES = [0, 255, 256, -1, 2**70, -2**70, True, _BigIndex(), "x", 1.5, None, b"a", b"ab",
          bytearray(b"a"), memoryview(b"a"), b"", b"\x00" * 8, 5]


@pytest.mark.parametrize("closed", [False, True], ids=["open", "closed"])
@pytest.mark.parametrize("access", ["ACCESS_DEFAULT", "ACCESS_READ", "ACCESS_WRITE",
                                    "ACCESS_COPY"])
def test_setitem_checks_in_the_stdlib_order(access, closed):
    for i in INDICES:
        for v in VALUES:
            maps = [module.mmap(-1, 16, access=getattr(std, access)) for module in (std, smmap)]
            if closed:
                for m in maps:
                    m.close()
            ref, ours = maps
            got, want = (run(lambda m=m, i=i, v=v: m.__setitem__(i, v)) for m in (ours, ref))
            assert got == want, (i, v)
            if not closed:
                assert ours[:] == ref[:], (i, v)
                ref.close()
                ours.close()


def test_setitem_value_index_that_resizes_is_rechecked():
    m = smmap.mmap(-1, 2 * PAGE, flags=std.MAP_PRIVATE)

    class Shrinks:
        def __index__(self):
            m.resize(PAGE)
            return 7

    with pytest.raises(IndexError, match="mmap index out of range"):
        m[PAGE + 1] = Shrinks()
    assert len(m) == PAGE
    m.close()


# -- 4. resize() to a size that cannot be --------------------------------------------------

SIZES = [-1, 0, 2**47, 2**62, sys.maxsize, sys.maxsize + 1, -sys.maxsize - 1, 2**70]


def _resize_pair(kind, tmp_path):
    if kind == "file":
        return _pair_maps("file", tmp_path)
    flags = std.MAP_SHARED if kind == "shared" else std.MAP_PRIVATE
    return [std.mmap(-1, PAGE, flags=flags), smmap.mmap(-1, PAGE, flags=flags)]


@pytest.mark.parametrize("devzero", [False, True], ids=["MAP_ANONYMOUS", "/dev/zero"])
@pytest.mark.parametrize("kind", ["file", "shared", "private"])
@pytest.mark.parametrize("size", SIZES)
def test_impossible_resize_same_as_stdlib(size, kind, devzero, tmp_path):
    if devzero and kind == "file":
        pytest.skip("/dev/zero is for anonymous maps")
    previous = smmap.force_devzero(devzero)
    try:
        ref, ours = _resize_pair(kind, tmp_path)
    finally:
        smmap.force_devzero(previous)
    try:
        want = run(lambda: ref.resize(size))
        got = run(lambda: ours.resize(size))
        assert want[0] == "raised", "the stdlib accepted an impossible size"
        assert got == want
        assert len(ours) == len(ref) == PAGE
        ours[PAGE - 1] = 1  # still mapped and backed (never touch ref: its file may be gone)
        if kind == "file":
            assert (tmp_path / "ours").stat().st_size == PAGE  # nothing truncated
    finally:
        ref.close()
        ours.close()


@pytest.mark.parametrize("devzero", [False, True], ids=["MAP_ANONYMOUS", "/dev/zero"])
def test_shared_anonymous_growth_is_an_oserror(devzero):
    # The stdlib grows the map and the next access past the old end dies with
    # SIGBUS; we refuse with the exception its resize() callers catch.
    previous = smmap.force_devzero(devzero)
    try:
        m = smmap.mmap(-1, PAGE)
    finally:
        smmap.force_devzero(previous)
    m[:4] = b"keep"
    for size in (PAGE + 1, 2 * PAGE, 1 << 30, 1 << 46):
        with pytest.raises(OSError, match="cannot grow a shared anonymous map") as info:
            m.resize(size)
        assert info.value.errno == errno.EINVAL
        assert len(m) == PAGE and m[:4] == b"keep"
        m[PAGE - 1] = 9
    m.resize(100)
    m.resize(PAGE)
    assert m[:4] == b"keep"
    m.close()


# -- 5. shm.resize() ----------------------------------------------------------------------

def _std_resize(arg, access=std.ACCESS_DEFAULT, exported=False, closed=False):
    m = std.mmap(-1, PAGE, access=access)
    view = memoryview(m) if exported else None
    if closed:
        m.close()
    try:
        return run(lambda: m.resize(arg))
    finally:
        if view is not None:
            view.release()
        m.close()


@pytest.mark.parametrize("arg", [1.5, 2**70, -1, "x", None])
@pytest.mark.parametrize("state", ["closed", "exported", "readonly"])
def test_shm_resize_refuses_as_mmap(make_shm, state, arg):
    seg = make_shm(PAGE, access=sysvshm.ACCESS_READ if state == "readonly" else 0)
    view = memoryview(seg) if state == "exported" else None
    if state == "closed":
        seg.close()
    try:
        got = run(lambda: seg.resize(arg))
    finally:
        if view is not None:
            view.release()
    want = _std_resize(arg, access=std.ACCESS_READ if state == "readonly" else 0,
                       exported=state == "exported", closed=state == "closed")
    if sys.version_info < (3, 10) and want[1] is TypeError:
        assert got[:2] == want[:2]  # 3.9's argument parser words it its own way
    else:
        assert got == want
    # and with a valid size, the state's own error
    got = run(lambda: seg.resize(PAGE))
    if state == "closed":
        assert got == ("raised", ValueError, None, "mmap closed or invalid")
    elif state == "readonly":
        assert got == ("raised", TypeError, None, RESIZE_READONLY)


def test_shm_resize_raises_systemerror(make_shm):
    seg = make_shm(PAGE)
    seg[:4] = b"keep"
    assert run(lambda: seg.resize(-1)) == _std_resize(-1)
    for size in (0, 1, PAGE, 2 * PAGE):
        with pytest.raises(SystemError, match="System V shared memory segment cannot be "
                                              "resized.*create a new segment"):
            seg.resize(size)
    assert len(seg) == PAGE and seg[:4] == b"keep"


def test_shm_resize_index_that_closes_is_rechecked(make_shm):
    seg = make_shm(PAGE)

    class Closes:
        def __index__(self):
            seg.close()
            return 10

    with pytest.raises(ValueError, match="mmap closed or invalid"):
        seg.resize(Closes())
