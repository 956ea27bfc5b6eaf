"""Type-checked with mypy --strict (tox -e types): uses the whole public API."""
from __future__ import annotations

import mmap as std_mmap
import pickle

import sysvshm
import sysvshm.mmap as smmap
from sysvshm import shared_memory


def c_api(path: str) -> None:
    key: int = sysvshm.ftok(path, 1)
    shmid: int = sysvshm.shmget(key, 4096, sysvshm.IPC_CREAT | sysvshm.IPC_EXCL | 0o600)
    seg: sysvshm.shm = sysvshm.shmat(shmid, sysvshm.SHM_RDONLY, prefault=True)
    st = sysvshm.shmctl(shmid, sysvshm.IPC_STAT)
    assert isinstance(st, sysvshm.stat_result)
    sysvshm.shmctl(shmid, sysvshm.IPC_SET, {"mode": 0o640})
    info = sysvshm.shmctl(0, sysvshm.IPC_INFO)
    assert isinstance(info, sysvshm.shminfo)
    sysvshm.shmdt(seg)
    sysvshm.shmctl(shmid, sysvshm.IPC_RMID)


def segment() -> bytes:
    with sysvshm.shm(size=4096, mode=0o600, access=sysvshm.ACCESS_WRITE) as seg:
        seg[0] = 1
        seg[1:3] = b"ab"
        first: int | bytes = seg[0]
        n: int = seg.write(b"xyz")
        seg.seek(0, 2)
        position: int = seg.tell()
        found: int = seg.find(b"ab") + seg.rfind(b"ab")
        seg.move(0, 1, 2)
        seg.flush()
        seg.madvise(std_mmap.MADV_NORMAL)
        seg.prefault()
        resident: int = seg.mincore()
        view = memoryview(seg)
        view.release()
        st: sysvshm.stat_result = seg.stat()
        seg.chmod(0o600)
        seg.chown(-1, -1)
        seg.lock()
        seg.unlock()
        clone = pickle.loads(pickle.dumps(seg))
        assert isinstance(clone, sysvshm.shm)
        clone.close()
        seg.remove()
        data: bytes = seg.read(10) + seg.readline() + bytes([seg.read_byte()])
        copied: int = seg.readinto(bytearray(8))
        assert copied >= 0
        del first, n, position, found, resident, st
        return data


def inventory() -> int:
    limits: sysvshm.limits_result = sysvshm.limits()
    total = sum(st.size for st in sysvshm.segments())
    try:
        sysvshm.remove(key=0x7A7A7A7A)
    except FileNotFoundError:
        pass
    return total + limits.shmmni


def extended_mmap() -> None:
    m = smmap.mmap(-1, 4096, flags=smmap.MAP_PRIVATE | smmap.MAP_POPULATE)
    m.mlock()
    locked: bool = m.locked
    m.munlock()
    backend: str | None = m.anonymous_backend
    m.resize(8192)
    m.close()
    previous: bool = smmap.force_devzero(True)
    smmap.force_devzero(previous)
    del locked, backend


def blocks() -> None:
    block = shared_memory.SharedMemory(create=True, size=16, track=True)
    block.buf[0] = 1
    other = shared_memory.SharedMemory(block.name)
    size: int = other.size
    other.close()
    block.close()
    block.unlink()
    sl: shared_memory.ShareableList[int] = shared_memory.ShareableList([1, 3])
    value: int = sl[0]
    sl[0] = 2
    count: int = sl.count(2) + sl.index(2) + len(sl)
    fmt: str = sl.format
    sl.shm.close()
    sl.shm.unlink()
    with shared_memory.SharedMemoryManager() as manager:
        managed = manager.SharedMemory(8)
        managed.close()
    shared_memory.install()
    shared_memory.uninstall()
    del size, value, count, fmt


def indexing_is_typed_as_typeshed_types_mmap(seg: sysvshm.shm, m: smmap.mmap) -> None:
    first: int = seg[0]
    head: bytes = seg[0:8]
    also: int = m[-1]
    tail: bytes = m[8:]
    seg[0] = first
    seg[0:8] = head
    m[0:4] = bytearray(4)
    m[1] = also + len(tail)
