"""The mmap interface's cases, run on the stdlib's mmap and on each of ours.

CASES are calls on an open object of SIZE bytes holding CONTENT, CLOSED_CALLS on
a closed one; a Pair holds the stdlib's object and ours, built alike. The
``mmap_pair`` fixture (conftest.py) makes a Pair for every implementation of ours.
"""
import mmap
import sys

from _parity import PY313

import sysvshm.mmap as smmap

SIZE = 64
CONTENT = bytes(range(48)) + b"line one\nline two\n\x00\x00\x00\x00\x00\x00"[:16]
assert len(CONTENT) == SIZE

class Index:
    def __init__(self, value):
        self.value = value

    def __index__(self):
        return self.value


CASES = {
    "len": lambda m: len(m),
    "getitem": lambda m: m[5],
    "getitem-neg": lambda m: m[-1],
    "getitem-out": lambda m: m[SIZE],
    "getitem-neg-out": lambda m: m[-SIZE - 1],
    "getitem-huge": lambda m: m[2**70],
    "getitem-index-obj": lambda m: m[Index(3)],
    "getitem-float": lambda m: m[1.5],
    "getitem-str": lambda m: m["a"],
    "slice": lambda m: m[2:10],
    "slice-neg": lambda m: m[-5:],
    "slice-step": lambda m: m[1:40:3],
    "slice-rev": lambda m: m[::-1],
    "slice-rev-step": lambda m: m[50:3:-7],
    "slice-empty": lambda m: m[10:2],
    "slice-out": lambda m: m[100:200],
    "setitem": lambda m: m.__setitem__(3, 255),
    "setitem-neg": lambda m: m.__setitem__(-2, 7),
    "setitem-bool": lambda m: m.__setitem__(0, True),
    "setitem-256": lambda m: m.__setitem__(3, 256),
    "setitem-neg-value": lambda m: m.__setitem__(3, -1),
    "setitem-float": lambda m: m.__setitem__(3, 1.0),
    "setitem-bytes": lambda m: m.__setitem__(3, b"a"),
    "setitem-out": lambda m: m.__setitem__(SIZE, 1),
    "setitem-out-bad-value": lambda m: m.__setitem__(SIZE, "x"),
    "setitem-key-str": lambda m: m.__setitem__("a", 1),
    "setslice": lambda m: m.__setitem__(slice(2, 6), b"WXYZ"),
    "setslice-step": lambda m: m.__setitem__(slice(0, 12, 4), b"abc"),
    "setslice-rev": lambda m: m.__setitem__(slice(None, None, -16), b"1234"),
    "setslice-bytearray": lambda m: m.__setitem__(slice(0, 3), bytearray(b"xyz")),
    "setslice-memoryview": lambda m: m.__setitem__(slice(0, 3), memoryview(b"xyz")),
    "setslice-wrong-size": lambda m: m.__setitem__(slice(0, 3), b"ab"),
    "setslice-str": lambda m: m.__setitem__(slice(0, 2), "ab"),
    "setslice-empty": lambda m: m.__setitem__(slice(5, 5), b""),
    "delitem": lambda m: m.__delitem__(0),
    "delitem-out": lambda m: m.__delitem__(SIZE),
    "delslice": lambda m: m.__delitem__(slice(0, 1)),
    "iter": lambda m: list(m)[:5],
    "contains": lambda m: (b"\x05" in m, b"zz" in m, 5 in m),
    "concat": lambda m: m + b"x",
    "repeat": lambda m: m * 2,
    "read": lambda m: (m.seek(10), m.read(5), m.tell())[1:],
    "read-all": lambda m: m.read(),
    "read-none": lambda m: m.read(None),
    "read-neg": lambda m: (m.seek(60), m.read(-5))[1],
    "read-big": lambda m: (m.seek(60), m.read(100))[1],
    "read-float": lambda m: m.read(1.5),
    "read-str": lambda m: m.read("1"),
    "read-at-end": lambda m: (m.seek(0, 2), m.read(3))[1],
    "read_byte": lambda m: (m.seek(7), m.read_byte(), m.tell())[1:],
    "read_byte-end": lambda m: (m.seek(SIZE), m.read_byte())[1],
    "readline": lambda m: (m.seek(48), m.readline(), m.readline(), m.readline(), m.tell())[1:],
    "readline-end": lambda m: (m.seek(SIZE), m.readline())[1],
    "write": lambda m: (m.seek(4), m.write(b"hello"), m.tell())[1:],
    "write-bytearray": lambda m: m.write(bytearray(b"ab")),
    "write-array": lambda m: m.write(__import__("array").array("i", [1, 2])),
    "write-str": lambda m: m.write("abc"),
    "write-int": lambda m: m.write(5),
    "write-over": lambda m: (m.seek(60), m.write(b"12345"))[1],
    "write-empty-end": lambda m: (m.seek(SIZE), m.write(b""))[1],
    "write_byte": lambda m: (m.write_byte(65), m.tell(), m[0]),
    "write_byte-256": lambda m: m.write_byte(256),
    "write_byte-neg": lambda m: m.write_byte(-1),
    "write_byte-float": lambda m: m.write_byte(1.0),
    "write_byte-bytes": lambda m: m.write_byte(b"a"),
    "write_byte-end": lambda m: (m.seek(SIZE), m.write_byte(1))[1],
    "seek-end": lambda m: (m.seek(-4, 2), m.tell())[1],
    "seek-cur": lambda m: (m.seek(10), m.seek(5, 1), m.tell())[2],
    "seek-neg": lambda m: m.seek(-1),
    "seek-past": lambda m: m.seek(SIZE + 1),
    "seek-cur-past": lambda m: m.seek(SIZE + 1, 1),
    "seek-cur-huge": lambda m: (m.seek(10), m.seek(sys.maxsize, 1))[1],
    "seek-end-huge": lambda m: m.seek(sys.maxsize, 2),
    "seek-whence": lambda m: m.seek(0, 3),
    "seek-float": lambda m: m.seek(1.5),
    "seek-kw": lambda m: m.seek(pos=1),
    "tell": lambda m: m.tell(),
    "find": lambda m: m.find(b"line"),
    "find-start": lambda m: m.find(b"line", 50),
    "find-start-end": lambda m: m.find(b"line", 40, 60),
    "find-neg": lambda m: m.find(b"two", -20),
    "find-neg-end": lambda m: m.find(b"two", 0, -10),
    "find-missing": lambda m: m.find(b"nope"),
    "find-empty": lambda m: m.find(b""),
    "find-empty-past": lambda m: m.find(b"", 100),
    "find-start-gt-end": lambda m: m.find(b"", 10, 5),
    "find-from-pos": lambda m: (m.seek(50), m.find(b"line"))[1],
    "find-none": lambda m: m.find(b"line", None, None),
    "find-str": lambda m: m.find("a"),
    "find-float": lambda m: m.find(b"a", 1.5),
    "find-bytearray": lambda m: m.find(bytearray(b"two")),
    "rfind": lambda m: m.rfind(b"line"),
    "rfind-end": lambda m: m.rfind(b"line", 0, 58),
    "rfind-empty": lambda m: m.rfind(b""),
    "rfind-missing": lambda m: m.rfind(b"zzz"),
    "rfind-neg": lambda m: m.rfind(b"\x01", -64, -1),
    "move": lambda m: m.move(0, 10, 20),
    "move-overlap": lambda m: m.move(5, 0, 30),
    "move-out": lambda m: m.move(50, 0, 20),
    "move-neg": lambda m: m.move(-1, 0, 1),
    "move-neg-count": lambda m: m.move(0, 0, -1),
    "flush": lambda m: m.flush(),
    "flush-range": lambda m: m.flush(0, 16),
    "flush-out": lambda m: m.flush(0, 99),
    "flush-neg": lambda m: m.flush(-1),
    "flush-none": lambda m: m.flush(0, None),
    "madvise": lambda m: m.madvise(mmap.MADV_NORMAL),
    "madvise-range": lambda m: m.madvise(mmap.MADV_WILLNEED, 0, 8),
    "madvise-start-out": lambda m: m.madvise(mmap.MADV_NORMAL, SIZE),
    "madvise-start-neg": lambda m: m.madvise(mmap.MADV_NORMAL, -1),
    "madvise-len-neg": lambda m: m.madvise(mmap.MADV_NORMAL, 0, -1),
    "madvise-len-huge": lambda m: m.madvise(mmap.MADV_NORMAL, 1, sys.maxsize),
    "madvise-bad": lambda m: m.madvise(9999),
    "enter": lambda m: m.__enter__() is m,
    "closed": lambda m: m.closed,
    "bool": lambda m: bool(m),
    "hash": lambda m: hash(m) == hash(m),
    "pickle-protocol-probe": lambda m: type(m).__reduce__ is not None,
}
if PY313:
    CASES["seekable"] = lambda m: m.seekable()
    CASES["seek-returns"] = lambda m: (m.seek(5), m.seek(3, 1), m.seek(-1, 2))


CLOSED_CALLS = {
    "len": lambda m: len(m),
    "getitem": lambda m: m[0],
    "slice": lambda m: m[0:2],
    "setitem": lambda m: m.__setitem__(0, 1),
    "setslice": lambda m: m.__setitem__(slice(0, 1), b"a"),
    "read": lambda m: m.read(1),
    "read_byte": lambda m: m.read_byte(),
    "readline": lambda m: m.readline(),
    "write": lambda m: m.write(b"a"),
    "write_byte": lambda m: m.write_byte(1),
    "seek": lambda m: m.seek(0),
    "tell": lambda m: m.tell(),
    "find": lambda m: m.find(b"a"),
    "rfind": lambda m: m.rfind(b"a"),
    "move": lambda m: m.move(0, 1, 1),
    "flush": lambda m: m.flush(),
    "madvise": lambda m: m.madvise(mmap.MADV_NORMAL),
    "enter": lambda m: m.__enter__(),
    "memoryview": lambda m: memoryview(m),
    "iter": lambda m: list(m),
    "bool": lambda m: bool(m),
    "close-again": lambda m: m.close(),
    "exit": lambda m: m.__exit__(None, None, None),
    "closed": lambda m: m.closed,
}


class Pair:
    """The stdlib's mmap (ref) and one of ours (ours), built alike; for a
    file-backed pair, the two files (ref's first)."""

    def __init__(self, ref, ours, files=None):
        self.ref, self.ours, self.files = ref, ours, files

    def close(self):
        self.ref.close()
        self.ours.close()

    def assert_same_files(self):
        if self.files:
            assert self.files[0].read_bytes() == self.files[1].read_bytes()


def make_pair(kind, tmp_path, **kwargs):
    """A stdlib mmap and a sysvshm.mmap, each holding CONTENT: on a file of its own
    (kind "file") or anonymous (SIZE bytes); kwargs go to both constructors."""
    if kind == "file":
        a, b = tmp_path / "std", tmp_path / "ours"
        a.write_bytes(CONTENT)
        b.write_bytes(CONTENT)
        with open(a, "r+b") as fa, open(b, "r+b") as fb:
            return Pair(mmap.mmap(fa.fileno(), 0, **kwargs), smmap.mmap(fb.fileno(), 0, **kwargs),
                        (a, b))
    ref = mmap.mmap(-1, SIZE, **kwargs)
    ours = smmap.mmap(-1, SIZE, **kwargs)
    ref[:] = CONTENT
    ours[:] = CONTENT
    return Pair(ref, ours)


# The implementations of ours that the mmap_pair fixture makes: a segment, and
# sysvshm.mmap on a file and through both anonymous paths.
IMPLEMENTATIONS = ["sysvshm.shm", "sysvshm.mmap-file", "sysvshm.mmap-MAP_ANONYMOUS",
                   "sysvshm.mmap-/dev/zero"]


def make_implementation_pair(implementation, make_shm, tmp_path):
    """The Pair for one of IMPLEMENTATIONS (make_shm: conftest's segment factory)."""
    if implementation == "sysvshm.shm":
        ref = mmap.mmap(-1, SIZE)
        ref[:] = CONTENT
        seg = make_shm(SIZE)
        seg[:] = CONTENT
        return Pair(ref, seg)
    backing = implementation.split("-", 1)[1]
    previous = smmap.force_devzero(backing == "/dev/zero")
    try:
        pair = make_pair("file" if backing == "file" else "anon", tmp_path)
    finally:
        smmap.force_devzero(previous)
    if backing != "file":
        assert pair.ours.anonymous_backend == backing
    return pair
