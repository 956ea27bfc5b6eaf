"""Find a segment by key from an unrelated process: both sides derive the key with ftok().

The writer creates a keyed segment and starts a reader as a new program (subprocess,
not fork: it inherits nothing). The reader knows only the file's path.
Run: python examples/ftok_key.py

A keyed segment outlives its creator, so the writer removes it on every way out it
can see (an exception, Ctrl-C, SIGTERM). Only SIGKILL leaves it behind: then
`sysvshm rm --orphans --keyed` finds and removes it.
"""
import os
import signal
import subprocess
import sys
import tempfile

import sysvshm

PROJECT = 7  # ftok's project id: one file can give up to 255 keys


def reader(path):
    key = sysvshm.ftok(path, PROJECT)  # the same file and project give the same key
    with sysvshm.shm(key) as seg:  # no IPC_CREAT: attach the existing segment
        message = bytes(seg[:64]).rstrip(b"\0").decode()
        print(f"reader: key 0x{key & 0xFFFFFFFF:08x} holds {message!r}", flush=True)
        seg[64:85] = b"thanks, reader here\0\0"


def writer():
    # SIGTERM (kill, timeout, docker stop) as an exception, so that finally runs.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.NamedTemporaryFile(prefix="sysvshm-ftok-") as anchor:
        key = sysvshm.ftok(anchor.name, PROJECT)
        # IPC_EXCL: fail rather than share a segment some other program made.
        seg = sysvshm.shm(key, 4096, sysvshm.IPC_CREAT | sysvshm.IPC_EXCL, 0o600)
        try:  # a keyed segment outlives us: remove it whatever happens
            seg[:21] = b"hello from the writer"
            subprocess.run([sys.executable, "-I", os.path.abspath(__file__), anchor.name],
                           check=True, timeout=60)
            reply = bytes(seg[64:85]).rstrip(b"\0").decode()
            print(f"writer: the reader replied {reply!r}")
        finally:
            seg.remove()
            seg.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        reader(sys.argv[1])
    else:
        writer()
