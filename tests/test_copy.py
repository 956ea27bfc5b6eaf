"""Bulk copies and readinto(): every alignment, every size class, same bytes as memmove.

Copies of at least ``_stream_threshold`` bytes take the streaming path (non-temporal
stores, no GIL); smaller ones a memmove. Both must give the bytes the stdlib would.
"""
import io
import mmap
import os
import threading

import pytest

import sysvshm
import sysvshm.mmap as smmap
from sysvshm import _buffer

STREAM = _buffer._stream_threshold
PAGE = mmap.PAGESIZE


def pattern(n, seed=0):
    """n bytes that differ at every offset modulo 251, so a shifted copy shows."""
    block = bytes((i * 7 + seed) % 251 for i in range(251 * 16))
    return (block * (n // len(block) + 1))[:n]


@pytest.fixture(params=["shm", "mmap"])
def big(request, make_shm):
    """A mapping a little larger than twice the streaming threshold, filled with pattern()."""
    size = 2 * STREAM + 3 * PAGE + 5
    if request.param == "shm":
        m = make_shm(size)
    else:
        m = smmap.mmap(-1, size)
    m[:] = pattern(size)
    yield m
    m.close()


def test_threshold_is_a_sane_size():
    assert 1 << 20 <= STREAM <= 64 << 20


@pytest.mark.parametrize("start", [0, 1, 16, 63, 64, PAGE - 16, PAGE + 3])
@pytest.mark.parametrize("extra", [0, 1, 63, 65])
def test_large_slice_reads_match_at_every_alignment(big, start, extra):
    n = STREAM + extra
    expected = pattern(len(big))[start:start + n]
    assert big[start:start + n] == expected
    big.seek(start)
    assert big.read(n) == expected
    assert big.tell() == start + n


@pytest.mark.parametrize("dst_offset", [0, 1, 16, 48, PAGE - 16])
@pytest.mark.parametrize("start", [0, 16, 33])
def test_large_readinto_matches_at_every_alignment(big, dst_offset, start):
    n = STREAM + 17
    out = bytearray(n + dst_offset + 64)
    big.seek(start)
    with memoryview(out) as view:
        assert big.readinto(view[dst_offset:dst_offset + n]) == n
    assert out[dst_offset:dst_offset + n] == pattern(len(big))[start:start + n]
    assert out[:dst_offset] == bytes(dst_offset)  # nothing written outside the target
    assert out[dst_offset + n:] == bytes(64)
    assert big.tell() == start + n


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview-offset"])
@pytest.mark.parametrize("start", [0, 5, 64, PAGE + 1])
def test_large_writes_match_at_every_alignment(big, kind, start):
    n = STREAM + 129
    data = pattern(n + 16, seed=3)
    before = big[:]
    if kind == "bytes":
        src = data[:n]
    elif kind == "bytearray":
        src = bytearray(data[:n])
    else:
        src = memoryview(data)[16:16 + n]
    big[start:start + n] = src
    expected = before[:start] + bytes(src) + before[start + n:]
    assert big[:] == expected
    big.seek(start)
    assert big.write(src) == n
    assert big[:] == expected


@pytest.mark.parametrize("kind", ["shm", "mmap"])
def test_copies_split_over_threads_match(make_shm, kind):
    """From 32 MiB a copy is split over one thread per CPU: every part lands in place."""
    size = 40 * (1 << 20) + 4099
    m = make_shm(size) if kind == "shm" else smmap.mmap(-1, size)
    data = pattern(size, seed=5)
    m[:] = data
    assert m[:] == data
    n = size - 1000
    out = bytearray(n + 16)
    m.seek(7)
    assert m.readinto(memoryview(out)[16:]) == n
    assert out[16:] == data[7:7 + n] and out[:16] == bytes(16)
    m.seek(3)
    assert m.write(memoryview(out)[16:16 + n - 3]) == n - 3
    assert m[:] == data[:3] + data[7:7 + n - 3] + data[n:]
    m.close()


def test_large_overlapping_copies_behave_like_memmove(big):
    n = STREAM + 1000
    reference = bytearray(pattern(len(big)))
    with memoryview(big) as view:
        big[7:7 + n] = view[0:n]  # forward overlap
        reference[7:7 + n] = reference[0:n]
        assert big[:] == reference
        big.seek(0)
        big.readinto(view[3:3 + n])  # readinto a view of itself, overlapping
        reference[3:3 + n] = reference[0:n]
        assert big[:] == reference


def test_readinto_follows_the_file_protocol(make_shm):
    m = make_shm(100)
    m[:] = bytes(range(100))
    ref = io.BytesIO(bytes(range(100)))
    for size, pos in [(10, 0), (0, 5), (50, 90), (10, 100), (10, 150)]:
        m.seek(min(pos, 100))
        ref.seek(min(pos, 100))
        a, b = bytearray(size), bytearray(size)
        assert m.readinto(a) == ref.readinto(b)
        assert a == b
        assert m.tell() == ref.tell()


def test_readinto_fills_a_numpy_array():
    np = pytest.importorskip("numpy")
    with smmap.mmap(-1, 8 * 1000) as m:
        source = np.arange(1000, dtype=np.float64)
        m[:] = source.tobytes()
        out = np.empty(1000, dtype=np.float64)
        assert m.readinto(out) == 8000
        assert (out == source).all()
        with pytest.raises(TypeError, match="read-write bytes-like object, not numpy.ndarray"):
            m.readinto(np.empty((10, 10))[:, ::2])  # not contiguous


@pytest.mark.parametrize("bad", [b"abc", memoryview(b"abc"), "str", 3, None])
def test_readinto_refuses_what_io_refuses_and_changes_nothing(make_shm, bad):
    m = make_shm(16)
    m.seek(4)
    with pytest.raises(TypeError) as ours:
        m.readinto(bad)
    with pytest.raises(TypeError) as theirs:
        io.BytesIO(bytes(16)).readinto(bad)
    assert str(ours.value) == str(theirs.value)
    assert m.tell() == 4


def test_readinto_on_a_closed_or_read_only_object(make_shm):
    m = make_shm(16)
    ro = sysvshm.shmat(m.shmid, sysvshm.SHM_RDONLY)
    assert ro.readinto(bytearray(4)) == 4  # reading needs no write access
    ro.close()
    m.close()
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        m.readinto(bytearray(4))


def test_close_from_another_thread_waits_for_a_large_copy(make_shm):
    """A streaming copy runs without the GIL; close() meanwhile must not unmap under it."""
    size = 4 * STREAM
    rounds = 20
    errors = []
    for _ in range(rounds):
        m = make_shm(size)
        out = bytearray(size)
        started = threading.Event()

        def reader(m=m, out=out, started=started):
            started.set()
            try:
                while True:
                    m.seek(0)
                    m.readinto(out)
                    m[:STREAM] = out[:STREAM]
            except ValueError:
                return  # closed: the clean outcome
            except Exception as exc:  # anything else is a bug
                errors.append(repr(exc))

        t = threading.Thread(target=reader)
        t.start()
        started.wait()
        os.sched_yield()
        m.close()
        t.join()
    assert not errors, errors


@pytest.mark.parametrize("content, expected", [
    ("max 100000\n", None),          # no quota: the affinity mask decides
    ("200000 100000\n", 2),
    ("150000 100000\n", 2),          # 1.5 CPUs: rounded up
    ("50000 100000\n", 1),
    ("garbage\n", None),
    ("100000 0\n", None),            # nonsense period: ignored, no ZeroDivisionError
])
def test_copy_threads_follow_a_cgroup_cpu_quota(tmp_path, content, expected):
    cpus = len(os.sched_getaffinity(0))
    path = tmp_path / "cpu.max"
    path.write_text(content)
    assert _buffer._usable_cpus(str(path)) == (cpus if expected is None else min(cpus, expected))
    assert _buffer._usable_cpus(str(tmp_path / "missing")) == cpus


def test_threads_reading_one_object_get_disjoint_ranges(make_shm):
    """A large read lets the GIL go; the position moved first, so no two reads overlap."""
    chunks = 6
    m = make_shm(chunks * STREAM)
    m[:] = b"".join(bytes([i + 1]) * STREAM for i in range(chunks))
    got = []

    def reader():
        for _ in range(chunks // 2):
            data = m.read(STREAM)
            got.append(data[0] if data == data[:1] * STREAM else None)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, chunks + 1))
    assert m.tell() == chunks * STREAM
