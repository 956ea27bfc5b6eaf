"""sysvshm.shm beyond the mmap parity: creation, attach, System V methods, lifecycle."""
import gc
import mmap
import os
import pickle
import weakref

import _proc
import pytest

import sysvshm
from sysvshm import IPC_CREAT, IPC_EXCL

MiB = 1 << 20


proc_row = _proc.row


# -- creating and attaching ---------------------------------------------------

def test_private_segment_defaults(seg):
    st = seg.stat()
    assert seg.key == sysvshm.IPC_PRIVATE == st.key
    assert st.mode == 0o600
    assert st.size == len(seg) == 4096
    assert st.nattch == 1
    assert bytes(seg[:]) == bytes(4096)
    assert repr(seg) == (f"<sysvshm.shm closed=False, access=ACCESS_DEFAULT, length=4096, "
                         f"pos=0, key=0x00000000, shmid={seg.shmid}>")


def test_length_is_never_page_rounded(make_shm):
    seg = make_shm(5000)
    assert len(seg) == 5000 == seg.size()
    with pytest.raises(IndexError):
        seg[5000]
    other = sysvshm.shm(shmid=seg.shmid)
    try:
        assert len(other) == 5000
    finally:
        other.close()


def test_create_with_key_then_attach_by_key(free_key):
    owner = sysvshm.shm(free_key, 10000, IPC_CREAT | IPC_EXCL, 0o640)
    try:
        assert owner.key == free_key and owner.stat().mode == 0o640
        owner[:5] = b"hello"
        whole = sysvshm.shm(free_key)
        part = sysvshm.shm(free_key, 100)
        assert (len(whole), len(part)) == (10000, 100)
        assert whole.shmid == part.shmid == owner.shmid
        assert part[:5] == b"hello"
        whole.close()
        part.close()
        with pytest.raises(FileExistsError):
            sysvshm.shm(free_key, 10000, IPC_CREAT | IPC_EXCL)
        again = sysvshm.shm(free_key, 10000, IPC_CREAT)  # exists: attaches
        assert again.shmid == owner.shmid
        again.close()
    finally:
        owner.remove()
        owner.close()


def test_ipc_creat_creates_when_missing(free_key):
    seg = sysvshm.shm(free_key, 300, IPC_CREAT)
    try:
        st = seg.stat()
        assert (st.size, st.mode, st.cpid) == (300, 0o600, os.getpid())
    finally:
        seg.remove()
        seg.close()


def test_missing_key(free_key):
    with pytest.raises(FileNotFoundError, match="IPC_CREAT"):
        sysvshm.shm(free_key)
    with pytest.raises(ValueError, match="size must be > 0"):
        sysvshm.shm(free_key, 0, IPC_CREAT)


def test_attach_asking_more_than_the_segment(seg, free_key):
    with pytest.raises(ValueError, match="larger than segment"):
        sysvshm.shm(shmid=seg.shmid, size=4097)
    s = sysvshm.shm(free_key, 100, IPC_CREAT)
    try:
        with pytest.raises(OSError, match="fewer than the 200 asked for"):
            sysvshm.shm(free_key, 200)
    finally:
        s.remove()
        s.close()


def test_creating_does_not_touch_the_pages(make_shm):
    seg = make_shm(64 * MiB)
    row = proc_row(seg.shmid)
    assert int(row["rss"]) == 0
    seg[0] = 1
    assert 0 < int(proc_row(seg.shmid)["rss"]) < 64 * MiB


def test_creating_a_segment_that_fails_to_attach_is_removed(free_key):
    before = _ids()
    with pytest.raises(ValueError):
        # created, then the attach-time check refuses: must not leak
        sysvshm.shm(free_key, 10, IPC_CREAT, access=99)
    assert _ids() == before


_ids = _proc.own_ids


@pytest.mark.parametrize("kwargs,exc", [
    ({"size": -1}, ValueError), ({"size": 2**64}, OverflowError), ({"size": 1.5}, TypeError),
    ({"size": "1"}, TypeError), ({"key": 2**32}, OverflowError), ({"key": "k"}, TypeError),
    ({"key": 1.0}, TypeError), ({"flags": 0o600}, ValueError), ({"flags": 1.0}, TypeError),
    ({"flags": sysvshm.SHM_RDONLY << 8}, ValueError), ({"mode": 0o1000}, ValueError),
    ({"mode": -1}, ValueError), ({"mode": 0.5}, TypeError), ({"access": 7}, ValueError),
    ({"access": -1}, ValueError), ({"access": sysvshm._buffer.ACCESS_COPY}, ValueError),
    ({"access": None}, TypeError), ({"shmid": -1}, OverflowError), ({"shmid": "1"}, TypeError),
    ({"shmid": 1, "key": 5}, ValueError), ({"size": 0}, ValueError),
])
def test_bad_arguments_raise_before_any_syscall(kwargs, exc):
    before = _ids()
    kwargs = {"size": 4096, **kwargs}
    with pytest.raises(exc):
        sysvshm.shm(**kwargs)
    assert _ids() == before


def test_init_twice_is_refused(seg):
    with pytest.raises(TypeError, match="already initialized"):
        seg.__init__(size=10)
    assert len(seg) == 4096


def test_uninitialized_object_is_closed():
    s = sysvshm.shm.__new__(sysvshm.shm)
    assert s.closed
    with pytest.raises(ValueError, match="closed"):
        s[0]
    s.close()


# -- System V methods -------------------------------------------------------------

def test_remove_keeps_the_mapping_working(seg):
    other = sysvshm.shmat(seg.shmid)
    seg.remove()
    assert seg.stat().removed
    seg[:3] = b"abc"
    assert other[:3] == b"abc"
    # Linux still lets a removed-but-attached segment be attached by id.
    third = sysvshm.shmat(seg.shmid)
    assert third[:3] == b"abc"
    third.close()
    other.close()
    shmid = seg.shmid
    seg.close()
    with pytest.raises(FileNotFoundError):
        sysvshm.shmctl(shmid, sysvshm.IPC_STAT)


def test_lock_unlock(seg):
    seg.lock()
    assert seg.stat().locked
    seg.unlock()
    assert not seg.stat().locked


def test_chmod_chown(seg):
    seg.chmod(0o644)
    assert seg.stat().mode == 0o644
    seg.chown(12, -1)
    st = seg.stat()
    assert (st.uid, st.gid, st.cuid) == (12, os.getgid(), os.getuid())
    seg.chown(-1, 34)
    assert seg.stat().gid == 34
    with pytest.raises(ValueError):
        seg.chmod(0o7777)
    with pytest.raises(TypeError):
        seg.chmod("644")
    with pytest.raises(OverflowError):
        seg.chown(-2, 0)
    with pytest.raises(OverflowError):
        seg.chown(2**32, 0)
    assert seg.stat().mode == 0o644


def test_methods_after_close_raise_valueerror_but_ids_stay(seg):
    shmid = seg.shmid
    seg.close()
    for call in (seg.stat, seg.remove, seg.lock, seg.unlock, lambda: seg.chmod(0o600),
                 lambda: seg.chown(0, 0), lambda: pickle.dumps(seg)):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert seg.shmid == shmid and seg.key == 0
    sysvshm.shmctl(shmid, sysvshm.IPC_RMID)


# -- buffer exports -------------------------------------------------------------------

def test_close_with_a_live_export_raises_and_detaches_nothing(seg):
    view = memoryview(seg)
    with pytest.raises(BufferError, match="exported pointers exist"):
        seg.close()
    with pytest.raises(BufferError):
        sysvshm.shmdt(seg)
    with pytest.raises(BufferError):
        with seg:
            pass
    assert not seg.closed and seg.stat().nattch == 1
    view[0] = 7
    assert seg[0] == 7
    view.release()
    seg.close()
    assert seg.closed


def test_several_exports_are_counted(seg):
    a = memoryview(seg)
    b = memoryview(seg)[10:20]
    a.release()
    with pytest.raises(BufferError):
        seg.close()
    b.release()
    seg.close()


def test_numpy_view_blocks_close(seg):
    np = pytest.importorskip("numpy")
    arr = np.frombuffer(seg, dtype=np.uint32)
    arr[:] = 7
    assert seg[:4] == b"\x07\x00\x00\x00"
    with pytest.raises(BufferError):
        seg.close()
    del arr
    gc.collect()
    seg.close()


def test_read_only_export_is_read_only(seg):
    ro = sysvshm.shm(shmid=seg.shmid, access=sysvshm.ACCESS_READ)
    try:
        view = memoryview(ro)
        assert view.readonly
        with pytest.raises(TypeError):
            view[0] = 1
        view.release()
        np = pytest.importorskip("numpy")
        arr = np.frombuffer(ro, dtype=np.uint8)
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 1
        del arr
        for write in (lambda: ro.write(b"a"), lambda: ro.write_byte(1),
                      lambda: ro.__setitem__(0, 1), lambda: ro.__setitem__(slice(0, 1), b"a"),
                      lambda: ro.move(0, 1, 1)):
            with pytest.raises(TypeError, match="readonly"):
                write()
        import ctypes
        with pytest.raises(TypeError):
            ctypes.c_char.from_buffer(ro)
    finally:
        ro.close()


class ClosesOnIndex:
    """An index whose conversion closes *seg* first."""

    def __init__(self, seg, value):
        self.seg, self.value = seg, value

    def __index__(self):
        self.seg.close()
        return self.value


def test_index_callback_that_closes_the_object(make_shm):
    uses = [lambda seg: seg[ClosesOnIndex(seg, 0)],
            lambda seg: seg.__setitem__(0, ClosesOnIndex(seg, 1)),
            lambda seg: seg[ClosesOnIndex(seg, 1):5]]
    for use in uses:
        seg = make_shm(64)
        with pytest.raises(ValueError, match="closed"):
            use(seg)
    with pytest.raises(ValueError):
        seg.find(b"a", ClosesOnIndex(seg, 1))  # the last one, closed by its slice


# -- object protocol ----------------------------------------------------------------

def test_context_manager(make_shm):
    with make_shm(100) as s:
        s[0] = 1
    assert s.closed


def test_weakref(make_shm):
    s = make_shm(100)
    ref = weakref.ref(s)
    assert ref() is s


class Tagged(sysvshm.shm):
    def __init__(self, tag, size):
        super().__init__(size=size)
        self.tag = tag


def test_subclass():
    t = Tagged("x", 128)
    try:
        assert isinstance(t, sysvshm.shm) and t.tag == "x" and len(t) == 128
        assert repr(t).startswith("<Tagged closed=False")
        clone = pickle.loads(pickle.dumps(t))
        assert type(clone) is Tagged and clone.tag == "x" and clone.shmid == t.shmid
        clone.close()
    finally:
        t.remove()
        t.close()


def test_pickle_reattaches_the_same_segment(seg):
    seg[:4] = b"data"
    seg.seek(2)
    clone = pickle.loads(pickle.dumps(seg))
    try:
        assert clone.shmid == seg.shmid and len(clone) == len(seg)
        assert clone[:4] == b"data" and clone.tell() == 0
        assert seg.stat().nattch == 2
    finally:
        clone.close()


def test_pickle_keeps_read_only_access(seg):
    ro = sysvshm.shmat(seg.shmid, sysvshm.SHM_RDONLY)
    clone = pickle.loads(pickle.dumps(ro))
    try:
        with pytest.raises(TypeError):
            clone[0] = 1
    finally:
        clone.close()
        ro.close()


def test_pickle_of_a_removed_segment_fails_cleanly(seg):
    data = pickle.dumps(seg)
    seg.remove()
    seg.close()
    with pytest.raises(FileNotFoundError):
        pickle.loads(data)


def test_dealloc_detaches(free_key):
    s = sysvshm.shm(free_key, 100, IPC_CREAT)
    shmid = s.shmid
    other = sysvshm.shm(free_key)
    del other
    gc.collect()
    assert s.stat().nattch == 1
    s.remove()
    del s
    gc.collect()
    with pytest.raises(FileNotFoundError):
        sysvshm.shmctl(shmid, sysvshm.IPC_STAT)


# -- prefault (thread races are in test_reliability.py) -------------------------------

def test_prefault_faults_every_page_in(make_shm):
    seg = make_shm(64 * sysvshm.PAGESIZE)
    assert seg.mincore() == 0
    seg.prefault(write=True)
    assert seg.mincore() == 64 and _proc.row(seg.shmid)["rss"] == 64 * sysvshm.PAGESIZE
    reader = sysvshm.shmat(seg.shmid, sysvshm.SHM_RDONLY, prefault=True)
    try:
        assert reader.mincore() == 64
        with pytest.raises(TypeError):
            reader.prefault(write=True)  # read-only memory cannot be faulted writable
    finally:
        reader.close()
    again = sysvshm.shm(shmid=seg.shmid, prefault=True)
    assert again.mincore() == 64
    again.close()
    seg.close()
    with pytest.raises(ValueError, match="closed"):
        seg.prefault()


def test_prefault_on_create_allocates(free_key):
    seg = sysvshm.shm(free_key, 16 * sysvshm.PAGESIZE, IPC_CREAT, prefault=True)
    try:
        assert seg.mincore() == 16
    finally:
        seg.remove()
        seg.close()


def test_fast_paths_match_the_full_paths(seg):
    seg[7] = 200
    assert seg[7] == 200 and seg[-4089] == 200
    for bad in (2**63, -2**63 - 1, 2**100):
        with pytest.raises(IndexError):
            seg[bad]
        with pytest.raises(IndexError):
            seg[bad] = 1
    ref = mmap.mmap(-1, 16)
    for value in (2**70, 256, -1):
        with pytest.raises(Exception) as ours:
            seg[0] = value
        with pytest.raises(Exception) as theirs:
            ref[0] = value
        assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))
    ref.close()
    with pytest.raises(IndexError):
        seg[4096] = 1
    ro = sysvshm.shmat(seg.shmid, sysvshm.SHM_RDONLY)
    try:
        with pytest.raises(TypeError):
            ro[0] = 1
    finally:
        ro.close()


def test_prefault_of_a_large_segment_uses_every_page(make_shm):
    # 32 MiB is split over several threads where there are several CPUs.
    seg = make_shm(32 << 20)
    seg.prefault(write=True)
    assert seg.mincore() == (32 << 20) // sysvshm.PAGESIZE
    reader = sysvshm.shmat(seg.shmid, sysvshm.SHM_RDONLY, prefault=True)
    try:
        assert reader.mincore() == (32 << 20) // sysvshm.PAGESIZE
    finally:
        reader.close()
