"""The C API functions: ftok, shmget, shmat, shmdt, shmctl and the constants."""
import errno
import os
import pathlib

import _proc
import pytest

import sysvshm
from sysvshm import IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT

read_proc = _proc.row


# -- constants ---------------------------------------------------------------

def test_constants_have_the_kernel_values():
    # Values from <bits/ipc.h> and <bits/shm.h> on Linux.
    assert (IPC_PRIVATE, IPC_CREAT, IPC_EXCL, sysvshm.IPC_NOWAIT) == (0, 0o1000, 0o2000, 0o4000)
    assert (IPC_RMID, IPC_SET, IPC_STAT, sysvshm.IPC_INFO) == (0, 1, 2, 3)
    assert (sysvshm.SHM_LOCK, sysvshm.SHM_UNLOCK) == (11, 12)
    assert (sysvshm.SHM_STAT, sysvshm.SHM_INFO, sysvshm.SHM_STAT_ANY) == (13, 14, 15)
    assert (sysvshm.SHM_RDONLY, sysvshm.SHM_RND, sysvshm.SHM_REMAP, sysvshm.SHM_EXEC) == (
        0o10000, 0o20000, 0o40000, 0o100000)
    assert (sysvshm.SHM_HUGETLB, sysvshm.SHM_NORESERVE) == (0o4000, 0o10000)
    assert sysvshm.SHM_HUGE_2MB == 21 << 26 and sysvshm.SHM_HUGE_1GB == 30 << 26
    assert sysvshm.PAGESIZE == os.sysconf("SC_PAGESIZE") == sysvshm.SHMLBA
    import mmap
    assert (sysvshm.ACCESS_DEFAULT, sysvshm.ACCESS_READ, sysvshm.ACCESS_WRITE) == (
        mmap.ACCESS_DEFAULT, mmap.ACCESS_READ, mmap.ACCESS_WRITE)


def test_all_is_importable():
    for name in sysvshm.__all__:
        assert hasattr(sysvshm, name), name


# -- ftok ----------------------------------------------------------------------

def test_ftok_matches_the_formula(tmp_path):
    st = os.stat(tmp_path)
    expected = (st.st_ino & 0xFFFF) | ((st.st_dev & 0xFF) << 16) | (7 << 24)
    assert sysvshm.ftok(str(tmp_path), 7) == expected
    assert sysvshm.ftok(tmp_path, 7) == expected
    assert sysvshm.ftok(os.fsencode(tmp_path), 7) == expected


def test_ftok_high_proj_id_is_a_negative_key_t(tmp_path):
    key = sysvshm.ftok(tmp_path, 255)
    assert -2**31 <= key < 0


def test_ftok_missing_path(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError) as info:
        sysvshm.ftok(missing, 1)
    assert info.value.filename == missing


@pytest.mark.parametrize("proj_id", [0, 256, -1])
def test_ftok_proj_id_range(tmp_path, proj_id):
    with pytest.raises(ValueError, match="proj_id"):
        sysvshm.ftok(tmp_path, proj_id)


@pytest.mark.parametrize("path,exc", [(None, TypeError), (5, TypeError), ("a\0b", ValueError),
                                      (b"a\0b", ValueError)])
def test_ftok_bad_paths(path, exc):
    with pytest.raises(exc):
        sysvshm.ftok(path, 1)


def test_ftok_non_utf8_path(tmp_path):
    raw = os.fsencode(tmp_path) + b"/\xff\xfe"
    os.mkdir(raw)
    try:
        assert sysvshm.ftok(raw, 1) == sysvshm.ftok(os.fsdecode(raw), 1)
    finally:
        os.rmdir(raw)


# -- shmget / shmctl -------------------------------------------------------------

def test_shmget_create_stat_remove(free_key):
    shmid = sysvshm.shmget(free_key, 1000, IPC_CREAT | IPC_EXCL | 0o640)
    try:
        st = sysvshm.shmctl(shmid, IPC_STAT)
        proc = read_proc(shmid)
        assert st.shmid == shmid
        assert st.key == free_key == proc["key"]
        assert st.size == 1000 == proc["size"]
        assert st.mode == 0o640 == proc["perms"] & 0o777
        assert (st.uid, st.gid, st.cuid, st.cgid) == (os.getuid(), os.getgid(), os.getuid(),
                                                       os.getgid())
        assert st.cpid == os.getpid() == proc["cpid"]
        assert st.nattch == 0 and st.removed is False and st.locked is False
        assert st.atime == 0 and st.dtime == 0 and st.ctime == proc["ctime"]
        assert sysvshm.shmget(free_key) == shmid
        assert sysvshm.shmget(free_key, 500) == shmid
    finally:
        assert sysvshm.shmctl(shmid, IPC_RMID) is None
    assert read_proc(shmid) is None


def test_shmget_exclusive_on_existing_key(free_key):
    shmid = sysvshm.shmget(free_key, 100, IPC_CREAT | 0o600)
    try:
        with pytest.raises(FileExistsError, match="already exists"):
            sysvshm.shmget(free_key, 100, IPC_CREAT | IPC_EXCL | 0o600)
    finally:
        sysvshm.shmctl(shmid, IPC_RMID)


def test_shmget_missing_key(free_key):
    with pytest.raises(FileNotFoundError, match="IPC_CREAT"):
        sysvshm.shmget(free_key, 100)


def test_shmget_size_larger_than_the_segment_is_explained(free_key):
    shmid = sysvshm.shmget(free_key, 100, IPC_CREAT | 0o600)
    try:
        with pytest.raises(OSError) as info:
            sysvshm.shmget(free_key, 200)
        assert info.value.errno == errno.EINVAL
        assert "has 100 bytes, fewer than the 200 asked for" in str(info.value)
    finally:
        sysvshm.shmctl(shmid, IPC_RMID)


def test_shmget_zero_size_create_is_explained(free_key):
    with pytest.raises(OSError) as info:
        sysvshm.shmget(free_key, 0, IPC_CREAT | 0o600)
    assert info.value.errno == errno.EINVAL
    assert "shmmin" in str(info.value)


@pytest.mark.parametrize("key", [2**32, -2**31 - 1, 2**64])
def test_shmget_key_out_of_range_is_refused_not_truncated(key):
    with pytest.raises(OverflowError, match="key_t"):
        sysvshm.shmget(key, 100, IPC_CREAT)


def test_unsigned_key_spelling_is_the_same_key(free_key):
    negative = free_key - 2**32 if free_key >= 2**31 else free_key | -2**31
    unsigned = negative + 2**32
    shmid = sysvshm.shmget(unsigned, 10, IPC_CREAT | 0o600)
    try:
        assert sysvshm.shmget(negative) == shmid
        assert sysvshm.shmctl(shmid, IPC_STAT).key == negative
    finally:
        sysvshm.shmctl(shmid, IPC_RMID)


@pytest.mark.parametrize("args,exc", [
    (("1", 100), TypeError), ((1.5, 100), TypeError), ((None, 100), TypeError),
    ((IPC_PRIVATE, -1), ValueError), ((IPC_PRIVATE, 2**64), OverflowError),
    ((IPC_PRIVATE, "1"), TypeError), ((IPC_PRIVATE, 100, 2**40), OverflowError),
    ((IPC_PRIVATE, 100, 1.0), TypeError),
    # Two bad arguments: the size is checked first (it was a typed parameter).
    ((2**40, 1.5), TypeError), ((2**40, "1"), TypeError),
])
def test_shmget_bad_arguments(args, exc):
    before = read_all_ids()
    with pytest.raises(exc):
        sysvshm.shmget(*args)
    assert read_all_ids() == before


read_all_ids = _proc.own_ids


def test_shmctl_removed_id_is_file_not_found():
    shmid = sysvshm.shmget(IPC_PRIVATE, 100, 0o600)
    sysvshm.shmctl(shmid, IPC_RMID)
    with pytest.raises(FileNotFoundError, match=f"id {shmid}"):
        sysvshm.shmctl(shmid, IPC_STAT)
    with pytest.raises(FileNotFoundError):
        sysvshm.shmctl(shmid, IPC_RMID)
    with pytest.raises(FileNotFoundError):
        sysvshm.shmat(shmid)


@pytest.mark.parametrize("shmid,exc", [(-1, OverflowError), (2**31, OverflowError),
                                       ("1", TypeError), (None, TypeError)])
def test_shmctl_bad_ids(shmid, exc):
    with pytest.raises(exc):
        sysvshm.shmctl(shmid, IPC_STAT)


def test_shmctl_unknown_command(seg):
    with pytest.raises(ValueError, match="unknown shmctl command"):
        sysvshm.shmctl(seg.shmid, 999)
    with pytest.raises(TypeError, match="takes no buf"):
        sysvshm.shmctl(seg.shmid, IPC_STAT, {})


def test_shmctl_ipc_set(seg):
    sysvshm.shmctl(seg.shmid, IPC_SET, {"mode": 0o640})
    st = sysvshm.shmctl(seg.shmid, IPC_STAT)
    assert st.mode == 0o640
    sysvshm.shmctl(seg.shmid, IPC_SET, st._replace(mode=0o604, gid=12))
    st2 = sysvshm.shmctl(seg.shmid, IPC_STAT)
    assert (st2.mode, st2.gid, st2.uid) == (0o604, 12, st.uid)
    with pytest.raises(TypeError):
        sysvshm.shmctl(seg.shmid, IPC_SET)
    with pytest.raises(ValueError, match="not a permission mask"):
        sysvshm.shmctl(seg.shmid, IPC_SET, {"mode": 0o1777})
    with pytest.raises(ValueError, match="size"):
        sysvshm.shmctl(seg.shmid, IPC_SET, {"size": 5})
    with pytest.raises(TypeError):
        sysvshm.shmctl(seg.shmid, IPC_SET, 42)
    assert sysvshm.shmctl(seg.shmid, IPC_STAT).mode == 0o604


def test_shmctl_info_matches_proc():
    info = sysvshm.shmctl(0, sysvshm.IPC_INFO)
    for field in ("shmmax", "shmmni", "shmall"):
        with open(f"/proc/sys/kernel/{field}") as f:
            assert getattr(info, field) == int(f.read())
    assert info.shmmin == 1
    for _ in range(10):  # other processes may create or remove segments meanwhile
        before = len(_proc.rows())
        usage = sysvshm.shmctl(0, sysvshm.SHM_INFO)
        if len(_proc.rows()) == before:
            break
    assert usage.used_ids == before


def test_shm_stat_by_index(seg):
    usage = sysvshm.shmctl(0, sysvshm.SHM_INFO)
    found = {}
    for index in range(usage.highest_index + 1):
        try:
            st = sysvshm.shmctl(index, sysvshm.SHM_STAT)
        except OSError:
            continue
        found[st.shmid] = st
    assert seg.shmid in found
    assert found[seg.shmid].size == 4096
    assert sysvshm.shmctl(seg.shmid, IPC_STAT)._replace(atime=0) == \
        found[seg.shmid]._replace(atime=0)


def test_shm_lock_and_unlock(seg):
    sysvshm.shmctl(seg.shmid, sysvshm.SHM_LOCK)
    assert sysvshm.shmctl(seg.shmid, IPC_STAT).locked
    sysvshm.shmctl(seg.shmid, sysvshm.SHM_UNLOCK)
    assert not sysvshm.shmctl(seg.shmid, IPC_STAT).locked


# -- shmat / shmdt -------------------------------------------------------------------

def test_shmat_and_shmdt(seg):
    other = sysvshm.shmat(seg.shmid)
    assert isinstance(other, sysvshm.shm)
    assert len(other) == 4096 and other.shmid == seg.shmid
    other[0] = 42
    assert seg[0] == 42
    assert seg.stat().nattch == 2
    assert sysvshm.shmdt(other) is None
    assert other.closed and seg.stat().nattch == 1
    sysvshm.shmdt(other)  # idempotent, as close() is


def test_shmat_read_only(seg):
    ro = sysvshm.shmat(seg.shmid, sysvshm.SHM_RDONLY)
    try:
        seg[1] = 9
        assert ro[1] == 9
        with pytest.raises(TypeError):
            ro[1] = 0
        assert memoryview(ro).readonly
    finally:
        ro.close()


@pytest.mark.parametrize("flags", [sysvshm.SHM_REMAP, 0o1, IPC_CREAT])
def test_shmat_refuses_flags_it_cannot_honour(seg, flags):
    with pytest.raises(ValueError):
        sysvshm.shmat(seg.shmid, flags)


def test_shmdt_needs_a_segment():
    with pytest.raises(TypeError):
        sysvshm.shmdt(b"abc")


def test_shmat_missing_id():
    ids = {r["shmid"] for r in _proc.rows()}
    missing = max(ids, default=0) + 12345
    with pytest.raises(FileNotFoundError):
        sysvshm.shmat(missing)


def test_proc_sees_the_same_size_not_page_rounded(make_shm):
    s = make_shm(4097)
    assert read_proc(s.shmid)["size"] == 4097 == len(s)


def test_paths_accept_pathlike(tmp_path):
    assert sysvshm.ftok(pathlib.Path(tmp_path), 3) == sysvshm.ftok(str(tmp_path), 3)
