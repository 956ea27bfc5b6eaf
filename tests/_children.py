"""Functions run in child processes by the cross-process tests (importable under spawn)."""
import os

import sysvshm


def write_by_id(shmid, offset, data):
    seg = sysvshm.shmat(shmid)
    seg[offset:offset + len(data)] = data
    seg.close()


def write_through_pickled(seg, offset, data):
    seg[offset:offset + len(data)] = data
    seg.close()


def read_only_write_attempt(seg):
    try:
        seg[0] = 1
    except TypeError:
        os._exit(0)
    os._exit(3)


def as_nobody(fn, *args):
    """Run fn in this (forked) process as uid/gid nobody; exit 0 if it returns True."""
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    try:
        ok = fn(*args)
    except BaseException:
        import traceback

        traceback.print_exc()
        os._exit(2)
    os._exit(0 if ok else 1)


def shm_attach_write(name, offset, data, track=True):
    from sysvshm import shared_memory

    block = shared_memory.SharedMemory(name, track=track)
    block.buf[offset:offset + len(data)] = data
    block.close()


def shm_write_object(block, offset, data):
    block.buf[offset:offset + len(data)] = data
    block.close()


def shm_report_size(name, conn):
    from sysvshm import shared_memory

    block = shared_memory.SharedMemory(name)
    conn.send(block.size)
    block.close()


def shm_create_and_wait(name, size, conn, track=True):
    """Create a block, report, then wait to be killed."""
    import time

    from sysvshm import shared_memory

    block = shared_memory.SharedMemory(name, create=True, size=size, track=track)
    block.buf[0] = 7
    conn.send(block.name)
    time.sleep(600)


def shm_attach_and_wait(name, conn):
    import time

    from sysvshm import shared_memory

    block = shared_memory.SharedMemory(name)
    conn.send(block.buf[0])
    time.sleep(600)


def sl_append_marker(sl):
    sl[0] = "child"
    sl.shm.close()


def region_writer(shmid, index, region, rounds, barrier):
    """Fill region *index* of the segment with a pattern, again and again."""
    import hashlib

    seg = sysvshm.shmat(shmid)
    barrier.wait()
    pattern = bytes([index + 1]) * region
    for _ in range(rounds):
        seg[index * region:(index + 1) * region] = pattern
    digest = hashlib.sha256(seg[index * region:(index + 1) * region]).digest()
    seg.close()
    assert digest == hashlib.sha256(pattern).digest()


def endless_writer(shmid, index, region, ready):
    seg = sysvshm.shmat(shmid)
    ready.set()
    value = 0
    while True:
        seg[index * region:(index + 1) * region] = bytes([value % 256]) * region
        value += 1
