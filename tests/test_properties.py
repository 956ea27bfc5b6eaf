"""Property-based tests: random sequences of operations, checked step by step
against a reference model (the stdlib's mmap, SharedMemory and ShareableList)."""
import mmap as std_mmap
from multiprocessing import shared_memory as std_shm

import _parity
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import sysvshm
import sysvshm.mmap as smmap
from sysvshm import shared_memory as our_shm

SIZE = 256
SETTINGS = settings(max_examples=60, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

indices = st.integers(min_value=-SIZE - 5, max_value=SIZE + 5)
small = st.integers(min_value=-3, max_value=SIZE + 3)
data = st.binary(max_size=20)


def outcome(fn):
    # Messages that name the type are compared with the name left out.
    return _parity.outcome(fn, hide=("sysvshm._shm.shm", "sysvshm.mmap.mmap", "mmap.mmap"))


class MmapLike(RuleBasedStateMachine):
    """Drives an object of ours and a stdlib anonymous mmap with the same calls."""

    def make(self):
        raise NotImplementedError

    @initialize(content=st.binary(min_size=SIZE, max_size=SIZE))
    def setup(self, content):
        self.ref = std_mmap.mmap(-1, SIZE)
        self.ours = self.make()
        self.ref[:] = content
        self.ours[:] = content
        self.views = []

    def both(self, fn, seek=False):
        ref, ours = outcome(lambda: fn(self.ref)), outcome(lambda: fn(self.ours))
        if seek and not _parity.PY313 and ref == ("ok", None):
            assert ours[0] == "ok"  # seek() returns the position on every version
        else:
            assert ours == ref

    @rule(i=indices)
    def getitem(self, i):
        self.both(lambda m: m[i])

    @rule(i=small, j=small, k=st.sampled_from([None, 1, 2, -1, -3]))
    def getslice(self, i, j, k):
        self.both(lambda m: m[i:j:k])

    @rule(i=indices, v=st.integers(min_value=-2, max_value=257))
    def setitem(self, i, v):
        self.both(lambda m: m.__setitem__(i, v))

    @rule(i=small, j=small, k=st.sampled_from([None, 1, 3, -1]), fill=st.integers(0, 255),
          extra=st.integers(-1, 1))
    def setslice(self, i, j, k, fill, extra):
        n = max(0, len(range(*slice(i, j, k).indices(SIZE))) + extra)
        self.both(lambda m: m.__setitem__(slice(i, j, k), bytes([fill]) * n))

    @rule(n=st.one_of(st.none(), st.integers(-2, SIZE + 2)))
    def read(self, n):
        self.both(lambda m: m.read(n))

    @rule()
    def read_byte(self):
        self.both(lambda m: m.read_byte())

    @rule()
    def readline(self):
        self.both(lambda m: m.readline())

    @rule(d=data)
    def write(self, d):
        self.both(lambda m: m.write(d))

    @rule(v=st.integers(-1, 256))
    def write_byte(self, v):
        self.both(lambda m: m.write_byte(v))

    @rule(pos=st.integers(-SIZE - 2, SIZE + 2), whence=st.integers(-1, 3))
    def seek(self, pos, whence):
        self.both(lambda m: m.seek(pos, whence), seek=True)

    @rule()
    def tell(self):
        self.both(lambda m: m.tell())

    @rule(sub=st.binary(max_size=3), start=st.one_of(st.none(), small),
          end=st.one_of(st.none(), small), reverse=st.booleans())
    def find(self, sub, start, end, reverse):
        def call(m):
            f = m.rfind if reverse else m.find
            args = [sub] + ([start] if start is not None else [])
            if start is not None and end is not None:
                args.append(end)
            return f(*args)
        self.both(call)

    @rule(dest=small, src=small, count=st.integers(-1, SIZE + 1))
    def move(self, dest, src, count):
        self.both(lambda m: m.move(dest, src, count))

    @rule(offset=st.integers(-1, SIZE), size=st.integers(-1, SIZE + 1))
    def flush(self, offset, size):
        # msync needs a page-aligned start: only 0 is aligned here, on both.
        self.both(lambda m: m.flush(offset, size) if offset in (-1, 0) or size < 0 or
                  offset + size > SIZE else None)

    @rule(start=st.integers(-1, SIZE), length=st.integers(-1, SIZE))
    def madvise(self, start, length):
        self.both(lambda m: m.madvise(std_mmap.MADV_NORMAL, start if start <= 0 else SIZE,
                                      length))

    @rule(i=st.integers(0, SIZE - 1), v=st.integers(0, 255))
    def take_view_and_write(self, i, v):
        pair = []
        for m in (self.ref, self.ours):
            r = outcome(lambda m=m: memoryview(m))
            pair.append(r)
        assert pair[0][:2] == pair[1][:2]
        if pair[0][0] == "ok":
            views = (memoryview(self.ref), memoryview(self.ours))
            for view in views:
                view[i] = v
            self.views.append(views)

    @precondition(lambda self: self.views)
    @rule()
    def release_view(self):
        for view in self.views.pop():
            view.release()

    @rule()
    def close(self):
        self.both(lambda m: m.close())

    @rule()
    def length(self):
        self.both(lambda m: len(m))

    @invariant()
    def same_memory(self):
        if not self.ref.closed:
            assert not self.ours.closed
            assert self.ours[:] == self.ref[:]
        else:
            assert self.ours.closed

    def teardown(self):
        for views in self.views:
            for view in views:
                view.release()
        self.ref.close()
        self.ours.close()
        self.cleanup()

    def cleanup(self):
        pass


class ShmMachine(MmapLike):
    def make(self):
        seg = sysvshm.shm(size=SIZE)
        seg.remove()  # destroyed at close, whatever the test does
        return seg


class OurMmapMachine(MmapLike):
    def make(self):
        return smmap.mmap(-1, SIZE)


class DevZeroMmapMachine(MmapLike):
    def make(self):
        previous = smmap.force_devzero(True)
        try:
            return smmap.mmap(-1, SIZE)
        finally:
            smmap.force_devzero(previous)


TestShmAgainstStdlibMmap = ShmMachine.TestCase
TestShmAgainstStdlibMmap.settings = SETTINGS
TestMmapAgainstStdlibMmap = OurMmapMachine.TestCase
TestMmapAgainstStdlibMmap.settings = SETTINGS
TestDevZeroMmapAgainstStdlibMmap = DevZeroMmapMachine.TestCase
TestDevZeroMmapAgainstStdlibMmap.settings = SETTINGS


# -- SharedMemory and ShareableList ----------------------------------------------------

class SharedMemoryMachine(RuleBasedStateMachine):
    """Two handles on one block, in each module: the stdlib's and ours."""

    @initialize(size=st.integers(1, 300))
    def setup(self, size):
        self.size = size
        self.ref = [std_shm.SharedMemory(create=True, size=size)]
        self.ours = [our_shm.SharedMemory(create=True, size=size)]
        self.unlinked = False

    def both(self, fn):
        ref = [outcome(lambda h=h: fn(h)) for h in self.ref]
        ours = [outcome(lambda h=h: fn(h)) for h in self.ours]
        assert [r[:2] for r in ours] == [r[:2] for r in ref]
        return ours

    @rule(i=st.integers(0, 299), d=st.binary(max_size=10), which=st.integers(0, 1))
    def write(self, i, d, which):
        def call(handle):
            if handle is not self.ref[which % len(self.ref)] and \
                    handle is not self.ours[which % len(self.ours)]:
                return None
            return handle.buf.__setitem__(slice(i, i + len(d)), d)
        self.both(call)

    @rule()
    def read(self):
        results = self.both(lambda h: bytes(h.buf[:self.size]))
        refs = [outcome(lambda h=h: bytes(h.buf[:self.size])) for h in self.ref]
        assert results == refs

    @precondition(lambda self: len(self.ours) < 3 and not self.unlinked)
    @rule()
    def attach(self):
        self.ref.append(std_shm.SharedMemory(self.ref[0].name))
        self.ours.append(our_shm.SharedMemory(self.ours[0].name))
        assert self.ours[-1].size == self.size

    @rule()
    def close_last(self):
        self.both(lambda h: h.close() if h in (self.ref[-1], self.ours[-1]) else None)

    @rule()
    def unlink(self):
        ref = outcome(self.ref[0].unlink)
        ours = outcome(self.ours[0].unlink)
        assert ours[:2] == ref[:2]
        self.unlinked = True

    @rule()
    def attach_by_name(self):
        ref = outcome(lambda: std_shm.SharedMemory(self.ref[0].name).close())
        ours = outcome(lambda: our_shm.SharedMemory(self.ours[0].name).close())
        assert ours[:2] == ref[:2]

    def teardown(self):
        for handles in (self.ref, self.ours):
            for h in handles:
                h.close()
            if not self.unlinked:
                handles[0].unlink()


TestSharedMemoryAgainstStdlib = SharedMemoryMachine.TestCase
TestSharedMemoryAgainstStdlib.settings = SETTINGS

values = st.one_of(st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False),
                   st.booleans(), st.none(), st.text(max_size=12), st.binary(max_size=12))


def slot(value):
    if isinstance(value, (str, bytes)):
        # The stdlib's capacity (from len(): characters, for a str), and more only
        # where the encoded value would not fit in it (where the stdlib fails).
        capacity = 8 * (len(value) // 8 + 1)
        encoded = encoded_len(value)
        return capacity if encoded <= capacity else 8 * (encoded // 8 + 1)
    return 8


def encoded_len(value):
    return len(value.encode("utf8", "surrogatepass") if isinstance(value, str) else value)


class ShareableListMachine(RuleBasedStateMachine):
    """Ours against a plain list: any value round-trips (the stdlib's does not)."""

    @initialize(items=st.lists(values, max_size=8))
    def setup(self, items):
        self.model = list(items)
        self.slots = [slot(v) for v in items]
        self.ours = our_shm.ShareableList(items)
        self.other = our_shm.ShareableList(name=self.ours.shm.name)

    def position(self, i):
        n = len(self.model)
        return i if 0 <= i < n else (i + n if -n <= i < 0 else None)

    @rule(i=st.integers(-10, 10), v=values)
    def setitem(self, i, v):
        pos = self.position(i)
        if pos is None:
            with pytest.raises(IndexError, match="assignment index out of range"):
                self.ours[i] = v
        elif isinstance(v, (str, bytes)) and encoded_len(v) > self.slots[pos]:
            with pytest.raises(ValueError, match="exceeds available storage"):
                self.ours[i] = v
        else:
            self.ours[i] = v
            self.model[pos] = v

    @rule(i=st.integers(-10, 10))
    def getitem(self, i):
        pos = self.position(i)
        if pos is None:
            with pytest.raises(IndexError, match="index out of range"):
                self.other[i]
        else:
            got = self.other[i]
            assert got == self.model[pos] and type(got) is type(self.model[pos])

    @rule(v=values)
    def count_index(self, v):
        assert self.ours.count(v) == self.model.count(v)
        if v in self.model:
            assert self.ours.index(v) == self.model.index(v)
        else:
            with pytest.raises(ValueError, match="not in this container"):
                self.ours.index(v)

    @invariant()
    def same(self):
        assert list(self.other) == self.model and len(self.ours) == len(self.model)

    def teardown(self):
        self.other.shm.close()
        self.ours.shm.close()
        self.ours.shm.unlink()


TestShareableListAgainstList = ShareableListMachine.TestCase
TestShareableListAgainstList.settings = SETTINGS


def test_hypothesis_is_real():
    # Guard against a no-op: the machines above must have rules and run them.
    rules = [v for v in vars(MmapLike).values() if hasattr(v, "hypothesis_stateful_rule")]
    assert len(rules) > 15
    with pytest.raises(AssertionError):
        assert outcome(lambda: 1) == outcome(lambda: 2)
