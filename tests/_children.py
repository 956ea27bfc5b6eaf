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
