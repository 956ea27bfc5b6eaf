"""sysvshm.mmap against the stdlib mmap of this Python, and its additions.

The mmap interface's shared cases (_mmap_cases) run in test_shm_parity on every
implementation of ours, sysvshm.mmap on a file and through both anonymous paths
(MAP_ANONYMOUS and /dev/zero) among them. Here: what only sysvshm.mmap has
(resize, size, pickling, the constructor, the access modes), compared the same
way (results, exceptions' type and message, memory and files), and its additions.
"""
import errno
import gc
import mmap as std
import os
import pickle
import resource
import sys
import weakref

import _proc
import pytest
from _mmap_cases import CASES, CONTENT, SIZE, make_pair
from _parity import assert_same, outcome

import sysvshm.mmap as smmap

PAGE = std.PAGESIZE


@pytest.fixture(params=["MAP_ANONYMOUS", "/dev/zero"])
def anon_path(request):
    previous = smmap.force_devzero(request.param == "/dev/zero")
    yield request.param
    smmap.force_devzero(previous)


@pytest.fixture
def datafile(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(CONTENT)
    return path


def run(fn, *args):
    # Messages that name the type are compared with the name left out.
    return outcome(fn, *args, hide=("sysvshm.mmap.mmap", "mmap.mmap"))


def same(ours, ref, name=""):
    # EXTRA's cases return seek()'s result inside tuples.
    assert_same(ours, ref, name, seek_in_tuples=True)


EXTRA = {
    "size": lambda m: m.size(),
    "resize-grow": lambda m: (m.resize(SIZE * 2), len(m), m[SIZE:SIZE + 4], m.size()),
    "resize-shrink": lambda m: (m.resize(10), len(m), m[:], m.size()),
    "resize-neg": lambda m: m.resize(-1),
    "resize-float": lambda m: m.resize(1.5),
    "resize-export": lambda m: (lambda v: (m.resize(10)))(memoryview(m)),
    "resize-then-read": lambda m: (m.seek(60), m.resize(10), m.read(), m.tell()),
    "repr": lambda m: repr(m).replace("sysvshm.mmap.mmap", "mmap.mmap"),
    "pickle": lambda m: pickle.dumps(m),
    "weakref": lambda m: weakref.ref(m)() is m,
}


@pytest.mark.parametrize("name", sorted(EXTRA))
@pytest.mark.parametrize("kind", ["file", "private-anonymous"])
def test_mmap_only_methods_same_as_stdlib(kind, name, tmp_path):
    if kind == "file":
        pair = make_pair("file", tmp_path)
    else:
        pair = make_pair("anon", tmp_path, flags=std.MAP_PRIVATE)
    try:
        r, o = run(EXTRA[name], pair.ref), run(EXTRA[name], pair.ours)
        if name == "pickle":
            assert o[:2] == r[:2] and "cannot pickle" in o[2]
        else:
            same(o, r, name)
    finally:
        gc.collect()
        pair.close()
    pair.assert_same_files()


@pytest.mark.parametrize("access", [std.ACCESS_READ, std.ACCESS_COPY, std.ACCESS_WRITE])
@pytest.mark.parametrize("name", sorted(set(CASES) & {
    "setitem", "setslice", "write", "write_byte", "move", "flush", "read-all", "find",
    "slice", "delitem", "getitem", "madvise"} | {"resize-grow", "resize-shrink"}))
def test_access_modes_same_as_stdlib(access, name, tmp_path):
    fn = CASES.get(name) or EXTRA[name]
    results = []
    for module in (std, smmap):
        path = tmp_path / module.__name__
        path.write_bytes(CONTENT)
        with open(path, "r+b") as f:
            m = module.mmap(f.fileno(), 0, access=access)
        try:
            results.append((run(fn, m), bytes(m[:])))
        finally:
            m.close()
        results.append(path.read_bytes())
    ref, ref_file, ours, our_file = results
    same(ours[0], ref[0], name)
    assert ours[1] == ref[1] and our_file == ref_file


def test_closed_repr():
    # The parity of every call on a closed map is in test_shm_parity.
    m = smmap.mmap(-1, SIZE)
    m.close()
    assert repr(m) == "<sysvshm.mmap.mmap closed=True>"


CONSTRUCTOR_CASES = {
    "anon": lambda M, fd: M(-1, 10),
    "kw": lambda M, fd: M(fileno=-1, length=10),
    "file-0": lambda M, fd: M(fd, 0),
    "file-len": lambda M, fd: M(fd, 16),
    "file-offset": lambda M, fd: M(fd, 0, offset=0),
    "file-bad-offset": lambda M, fd: M(fd, 10, offset=100),
    "file-offset-past": lambda M, fd: M(fd, 0, offset=PAGE * 4),
    "file-too-long": lambda M, fd: M(fd, SIZE + 1),
    "neg-len": lambda M, fd: M(-1, -1),
    "neg-offset": lambda M, fd: M(-1, 10, offset=-1),
    "zero-anon": lambda M, fd: M(-1, 0),
    "both": lambda M, fd: M(-1, 10, flags=std.MAP_PRIVATE, access=std.ACCESS_READ),
    "bad-access": lambda M, fd: M(-1, 10, access=9),
    "bad-fd": lambda M, fd: M(987654, 10),
    "no-args": lambda M, fd: M(),
    "one-arg": lambda M, fd: M(-1),
    "too-many": lambda M, fd: M(-1, 10, 1, 3, 0, 0, 7),
    "bad-kw": lambda M, fd: M(-1, 10, foo=1),
    "dup-kw": lambda M, fd: M(-1, 10, length=5),
    "float-len": lambda M, fd: M(-1, 1.5),
    "str-fd": lambda M, fd: M("a", 10),
    "huge-len": lambda M, fd: M(-1, 2**64),
    "huge-flags": lambda M, fd: M(-1, 10, flags=2**40),
    "prot-read": lambda M, fd: (lambda m: (repr(m), memoryview(m).readonly))(
        M(-1, 10, prot=std.PROT_READ)),
    "private": lambda M, fd: repr(M(-1, 10, flags=std.MAP_PRIVATE)),
    "read-access-anon": lambda M, fd: M(-1, 10, access=std.ACCESS_READ)[0],
    "copy-file": lambda M, fd: (lambda m: (m.write(b"zz"), m[:2]))(
        M(fd, 0, access=std.ACCESS_COPY)),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTOR_CASES))
def test_constructor_same_as_stdlib(name, datafile, anon_path):
    fd = os.open(datafile, os.O_RDWR)
    try:
        ref = run(CONSTRUCTOR_CASES[name], std.mmap, fd)
        ours = run(CONSTRUCTOR_CASES[name], smmap.mmap, fd)
    finally:
        os.close(fd)
    if ref[0] == "ok" and not isinstance(ref[1], (str, tuple, int)):
        ref = ("ok", repr(ref[1]))
        ours = ("ok", repr(ours[1]).replace("sysvshm.mmap.mmap", "mmap.mmap"))
    if isinstance(ours[1], str):
        ours = ("ok", ours[1].replace("sysvshm.mmap.mmap", "mmap.mmap"))
    elif ours[0] == "ok" and isinstance(ours[1], tuple):
        ours = ("ok", tuple(x.replace("sysvshm.mmap.mmap", "mmap.mmap") if isinstance(x, str) else x
                            for x in ours[1]))
    if name in ("no-args", "one-arg", "too-many", "bad-kw", "dup-kw", "huge-flags",
                "huge-len"):
        assert ours[:2] == ref[:2]
    else:
        same(ours, ref, name)


def test_constructor_messages_of_this_python():
    # The argument errors use this Python's own wording.
    for call in (lambda M: M(), lambda M: M(-1), lambda M: M(-1, 10, foo=1),
                 lambda M: M(-1, 10, 1, 3, 0, 0, 7), lambda M: M(-1, 1.5)):
        assert run(call, smmap.mmap)[1:] == run(call, std.mmap)[1:]


def test_constants_superset_of_stdlib():
    for name in dir(std):
        if name.isupper() or name == "error":
            assert getattr(smmap, name) == getattr(std, name), name
    assert smmap.MAP_ANONYMOUS == smmap.MAP_ANON == 0x20
    assert smmap.MAP_LOCKED == 0x2000 and smmap.MAP_NORESERVE == 0x4000
    assert smmap.MAP_POPULATE == 0x8000 and smmap.MAP_HUGETLB == 0x40000
    assert smmap.MAP_HUGE_2MB == 21 << 26 and smmap.MAP_HUGE_1GB == 30 << 26
    assert smmap.MAP_STACK == 0x20000 and smmap.MAP_DENYWRITE == 0x800


def test_not_a_stdlib_mmap():
    m = smmap.mmap(-1, 10)
    assert not isinstance(m, std.mmap)
    m.close()


class Sub(smmap.mmap):
    def __new__(cls, extra, *args, **kwargs):
        obj = super().__new__(cls, *args, **kwargs)
        obj.extra = extra
        return obj


class StdSub(std.mmap):
    def __new__(cls, extra, *args, **kwargs):
        obj = super().__new__(cls, *args, **kwargs)
        obj.extra = extra
        return obj


class Plain(smmap.mmap):
    def __init__(self, *args):
        self.z = len(args)


def test_subclass_through_new():
    ours, ref = Sub("e", -1, 10), StdSub("e", -1, 10)
    assert (ours.extra, ref.extra) == ("e", "e")
    assert repr(ours).replace("Sub", "X") == repr(ref).replace("StdSub", "X")
    assert Plain(-1, 10).z == 2
    ours.close()
    ref.close()


# -- what the stdlib gets wrong: a clear exception, nothing changed ------------------------

def test_resize_to_zero_changes_nothing(datafile):
    with open(datafile, "r+b") as f:
        m = smmap.mmap(f.fileno(), 0)
    with pytest.raises(OSError) as info:
        m.resize(0)
    assert info.value.errno == errno.EINVAL
    assert len(m) == SIZE and m[:] == CONTENT and datafile.stat().st_size == SIZE
    m.close()


def test_resize_huge_changes_nothing(datafile):
    with open(datafile, "r+b") as f:
        m = smmap.mmap(f.fileno(), 0)
    with pytest.raises((OSError, ValueError)):
        m.resize(2**62)
    assert len(m) == SIZE and m[:] == CONTENT and datafile.stat().st_size == SIZE
    m[SIZE - 1] = 1  # still mapped and backed
    m.close()


def test_resize_file_grow_and_shrink(datafile):
    with open(datafile, "r+b") as f:
        m = smmap.mmap(f.fileno(), 0)
    m.resize(3 * PAGE)
    assert datafile.stat().st_size == 3 * PAGE and m.size() == 3 * PAGE
    m[3 * PAGE - 1] = 7
    m.resize(100)
    assert datafile.stat().st_size == 100 and len(m) == 100
    m.close()


def test_shared_anonymous_never_grows(anon_path):
    m = smmap.mmap(-1, PAGE)
    with pytest.raises(OSError, match="cannot grow") as info:
        m.resize(2 * PAGE)
    assert info.value.errno == errno.EINVAL and len(m) == PAGE
    m[PAGE - 1] = 2  # still mapped, at its original size
    m.resize(100)
    m.resize(PAGE)  # back up to the original size is fine
    m[PAGE - 1] = 1
    m.close()


def test_prot_read_exports_read_only():
    m = smmap.mmap(-1, PAGE, prot=std.PROT_READ)
    assert memoryview(m).readonly
    with pytest.raises(TypeError):
        m[0] = 1
    m.close()


@pytest.mark.parametrize("prot", [0, std.PROT_WRITE, 4])
def test_unreadable_prot_is_accepted_but_never_read(prot):
    # As the stdlib, the map is made; unlike it, reading it raises instead of
    # crashing (tests/test_stdlib_parity_mmap.py covers every operation).
    m = smmap.mmap(-1, PAGE, prot=prot)
    assert len(m) == PAGE
    with pytest.raises(TypeError, match="without PROT_READ"):
        m[0]
    m.close()


@pytest.mark.parametrize("flag", [0x10, 0x100000])
def test_fixed_address_flags_are_refused(flag):
    with pytest.raises(ValueError, match="MAP_FIXED"):
        smmap.mmap(-1, PAGE, flags=std.MAP_SHARED | flag)


def test_closed_fd_and_unmappable_fd(tmp_path):
    r, w = os.pipe()
    try:  # a pipe cannot be mapped
        same(run(smmap.mmap, r, 10), run(std.mmap, r, 10))
    finally:
        os.close(r)
        os.close(w)
    same(run(smmap.mmap, r, 10), run(std.mmap, r, 10))


def test_close_closes_our_fd(datafile):
    before = len(os.listdir("/proc/self/fd"))
    with open(datafile, "r+b") as f:
        m = smmap.mmap(f.fileno(), 0)
    assert len(os.listdir("/proc/self/fd")) == before + 1
    m.close()
    assert len(os.listdir("/proc/self/fd")) == before
    with open(datafile, "r+b") as f:
        m = smmap.mmap(f.fileno(), 0, trackfd=False)
    assert len(os.listdir("/proc/self/fd")) == before
    with pytest.raises(ValueError, match="trackfd=False"):
        m.resize(10)
    m.close()


# -- the additions -------------------------------------------------------------------

def vm_locked_kib():
    return _proc.status_kib("VmLck")


no_asan = pytest.mark.skipif(_proc.SANITIZED, reason="ASan makes mlock() a no-op")


@no_asan
def test_mlock_really_locks(anon_path):
    m = smmap.mmap(-1, 64 * PAGE)
    before = vm_locked_kib()
    assert not m.locked
    m.mlock()
    assert m.locked and vm_locked_kib() - before == 64 * PAGE // 1024
    assert m.mincore() == 64  # locked pages are resident
    m.munlock()
    assert not m.locked and vm_locked_kib() == before
    m.mlock(0, PAGE)
    assert vm_locked_kib() - before == PAGE // 1024 and not m.locked
    m.close()
    assert vm_locked_kib() == before


@no_asan
def test_map_locked_really_locks():
    before = vm_locked_kib()
    m = smmap.mmap(-1, 16 * PAGE, flags=std.MAP_SHARED | smmap.MAP_LOCKED)
    assert m.locked and vm_locked_kib() - before == 16 * PAGE // 1024
    m.close()


@no_asan
def test_strict_lock():
    m = smmap.mmap(-1, 8 * PAGE, lock=True)
    assert m.locked
    m.close()


# CPython's small-object allocator maps 1 MiB arenas (3.10+) and may take one
# while pytest.raises builds the exception, so the size under test is one no
# allocator asks for: a leaked mapping of it is ours.
ODD_SIZE = (1 << 20) + 5 * PAGE


def regions_of(size):
    """The address ranges of exactly `size` bytes in this process's memory map."""
    with open("/proc/self/maps") as f:
        ranges = [line.split()[0].split("-") for line in f]
    return {(lo, hi) for lo, hi in ranges if int(hi, 16) - int(lo, 16) == size}


def _strict_lock_under_low_rlimit():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)  # drops CAP_IPC_LOCK, so RLIMIT_MEMLOCK applies
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (64 * 1024, 64 * 1024))
    maps_before = regions_of(ODD_SIZE)
    with pytest.raises(OSError) as info:
        smmap.mmap(-1, ODD_SIZE, lock=True)
    assert "RLIMIT_MEMLOCK is 65536 bytes" in str(info.value)
    assert regions_of(ODD_SIZE) == maps_before  # nothing left mapped
    with pytest.raises(OSError, match="RLIMIT_MEMLOCK"):
        smmap.mmap(-1, ODD_SIZE, flags=std.MAP_SHARED | smmap.MAP_LOCKED)
    assert regions_of(ODD_SIZE) == maps_before
    m = smmap.mmap(-1, ODD_SIZE)
    assert len(regions_of(ODD_SIZE) - maps_before) == 1  # the check can see a mapping
    with pytest.raises(OSError, match="RLIMIT_MEMLOCK"):
        m.mlock()
    m.close()
    assert regions_of(ODD_SIZE) == maps_before
    small = smmap.mmap(-1, 4 * PAGE, lock=True)
    assert small.locked
    small.close()


@no_asan
@pytest.mark.root(reason="drops to nobody")
def test_strict_lock_fails_cleanly_under_low_rlimit():
    _proc.in_child(_strict_lock_under_low_rlimit)


def test_map_populate_prefaults(anon_path):
    lazy = smmap.mmap(-1, 32 * PAGE, flags=std.MAP_PRIVATE)
    eager = smmap.mmap(-1, 32 * PAGE, flags=std.MAP_PRIVATE | smmap.MAP_POPULATE)
    assert lazy.mincore() == 0 and eager.mincore() == 32
    lazy[5 * PAGE] = 1
    assert lazy.mincore() == 1 and lazy.mincore(5 * PAGE, 1) == 1 and lazy.mincore(0, PAGE) == 0
    lazy.close()
    eager.close()


def test_range_arguments_like_madvise():
    m = smmap.mmap(-1, PAGE)
    for call, name in ((m.mlock, "mlock"), (m.munlock, "munlock"), (m.mincore, "mincore")):
        with pytest.raises(ValueError, match=f"{name} start out of bounds"):
            call(PAGE)
        with pytest.raises(ValueError, match=f"{name} length invalid"):
            call(0, -1)
        with pytest.raises(OverflowError):
            call(1, sys.maxsize)
    m.close()
    for call in (m.mlock, m.munlock, m.mincore, lambda: m.locked):
        with pytest.raises(ValueError, match="closed"):
            call()


def _child_writes(m, value):
    pid = os.fork()
    if pid == 0:
        m[0] = value
        os._exit(0)
    os.waitpid(pid, 0)


def test_shared_anonymous_is_shared_with_a_forked_child(anon_path):
    shared = smmap.mmap(-1, PAGE)
    private = smmap.mmap(-1, PAGE, flags=std.MAP_PRIVATE)
    assert shared.anonymous_backend == anon_path
    _child_writes(shared, 42)
    _child_writes(private, 42)
    assert shared[0] == 42 and private[0] == 0
    shared.close()
    private.close()


def test_hugetlb_without_reserved_pages_says_so():
    with open("/proc/sys/vm/nr_hugepages") as f:
        if int(f.read()) > 0:
            pytest.skip("huge pages are reserved on this machine")
    with pytest.raises(OSError) as info:
        smmap.mmap(-1, 2 << 20, flags=std.MAP_PRIVATE | smmap.MAP_HUGETLB)
    assert info.value.errno == errno.ENOMEM and "vm.nr_hugepages" in str(info.value)
