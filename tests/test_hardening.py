"""The defects an outside review found (issue 12), one test or more each.

Tests whose failure would be a crash run the dangerous part in a child process
and assert that it exited with status 0: a segfault fails the test instead of
ending the run.
"""
import errno
import fcntl
import multiprocessing
import os
import pickle
import struct
import subprocess
import sys

import _children
import _proc
import pytest
from _proc import assert_exits_cleanly

import sysvshm
import sysvshm.mmap as smmap
from sysvshm import _blocks, _shm, shared_memory

ROOT = pytest.mark.root(reason="drops privileges in a child")
HAVE_HUGETLB = hasattr(sysvshm, "SHM_HUGETLB") and hasattr(sysvshm, "SHM_NORESERVE")


def free_huge_pages():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                return int(line.split()[1])
    return 0


def unique_name(tag):
    return f"sysvshm_hard_{tag}_{os.getpid()}_{os.urandom(3).hex()}"


# -- 1, 2: resize() racing readers, exporters and close() -----------------------------

def test_1_resize_racing_readers_does_not_crash():
    out = assert_exits_cleanly("""
        import sys, threading, time
        import sysvshm.mmap as mmap
        sys.setswitchinterval(1e-6)
        m = mmap.mmap(-1, 64 << 20, flags=mmap.MAP_PRIVATE)
        stop = False
        reads = 0
        def reader():
            global reads
            while not stop:
                try:
                    n = len(m)
                    m[n - 1]
                    m[n - 4096:n]
                    with memoryview(m) as v:
                        v[-1]
                    reads += 1
                except (IndexError, ValueError, BufferError):
                    pass
        t = threading.Thread(target=reader)
        t.start()
        resizes = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            for size in (4096, 64 << 20):
                try:
                    m.resize(size)
                    resizes += 1
                except BufferError:
                    pass
        stop = True
        t.join()
        print(reads, resizes)
    """)
    reads, resizes = map(int, out.split())
    assert reads > 0 and resizes > 0


def test_2_close_racing_resize_leaves_a_closed_object():
    out = assert_exits_cleanly("""
        import sys, threading
        import sysvshm.mmap as mmap
        sys.setswitchinterval(1e-6)
        rounds = 0
        for _ in range(200):
            m = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE)
            def resizer():
                for size in (64 << 20, 4096) * 5:
                    try:
                        m.resize(size)
                    except ValueError:
                        return  # closed
            t = threading.Thread(target=resizer)
            t.start()
            m.close()
            t.join()
            assert m.closed
            try:
                m[0]
            except ValueError:
                rounds += 1
        print(rounds)
    """)
    assert int(out) == 200


# -- 3: name lookup touches only what kernel metadata proves is ours -------------------

def _segment_row(shmid):
    row = _proc.row(shmid)
    return (row["nattch"], row["atime"], row["lpid"])


def test_3_lookup_never_attaches_a_foreign_segment_holding_the_names_key():
    name = unique_name("foreign")
    key = _blocks.key_of(name.encode())
    # A stranger's segment on that key, with a size that is not the signature.
    foreign = sysvshm.shmget(key, _blocks.HEADER + 4096, sysvshm.IPC_CREAT | 0o666)
    try:
        before = _segment_row(foreign)
        with pytest.raises(FileNotFoundError):
            shared_memory.SharedMemory(name)
        with pytest.raises(FileExistsError, match="not a sysvshm block"):
            shared_memory.SharedMemory(name, create=True, size=10)
        assert _segment_row(foreign) == before == (0, 0, 0)  # never attached
    finally:
        sysvshm.shmctl(foreign, sysvshm.IPC_RMID)


@pytest.mark.skipif(not HAVE_HUGETLB, reason="no SHM_HUGETLB")
@pytest.mark.root(reason="SHM_HUGETLB needs root here")
def test_3_lookup_of_a_huge_page_segment_without_pages_cannot_raise_sigbus():
    if free_huge_pages():
        pytest.skip("huge pages are reserved: a fault would not happen")
    out = assert_exits_cleanly("""
        import os
        import sysvshm
        from sysvshm import _blocks, shared_memory
        name = f"sysvshm_huge_{os.getpid()}"
        key = _blocks.key_of(name.encode())
        # Even with the signature of a block (so metadata cannot tell it apart),
        # reading its header must not fault: there are no huge pages to fault in.
        size = _blocks.segment_size(key, 2 << 20, True)
        size = size + (-size % (2 << 20)) + _blocks.signature(key, True)
        flags = sysvshm.IPC_CREAT | sysvshm.SHM_HUGETLB | sysvshm.SHM_NORESERVE | 0o600
        try:
            shmid = sysvshm.shmget(key, size, flags)
        except OSError as exc:
            print("skip", exc)
            raise SystemExit(0)
        seg = sysvshm.shmat(shmid)
        try:
            for attempt in (lambda: shared_memory.SharedMemory(name),
                            lambda: shared_memory.SharedMemory(name, create=True, size=1)):
                try:
                    attempt()
                except (FileNotFoundError, FileExistsError) as exc:
                    print(type(exc).__name__)
        finally:
            seg.remove()
            seg.close()
    """)
    if out.startswith("skip"):
        pytest.skip(out)
    assert out.split() == ["FileNotFoundError", "FileExistsError"]


HOLDER = """
import sys, sysvshm
from sysvshm import _blocks, shared_memory
others = [shared_memory.SharedMemory(create=True, size=10) for _ in range(20)]
private = sysvshm.shm(size=_blocks.HEADER + 10)
private.remove()
target = shared_memory.SharedMemory(create=True, size=10)
print(target.name, *[b._shmid for b in others], private.shmid, flush=True)
sys.stdin.read()
for b in others + [target]:
    b.close()
    b.unlink()
private.close()
"""


def test_3_lookup_touches_no_other_segment():
    # The segments are made and held by one process and looked up from another,
    # both fresh (not forked from this one: exec detaches what a fork inherited,
    # which would change every lpid); an attach by the lookup would show in lpid
    # at once (atime counts whole seconds).
    with subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, cwd="/") as holder:
        _proc.started(holder.pid)
        try:
            name, *ids = holder.stdout.readline().split()
            ids = [int(i) for i in ids]
            before = {i: _segment_row(i) for i in ids}
            assert {row[2] for row in before.values()} == {holder.pid}
            assert_exits_cleanly(f"""
                from sysvshm import shared_memory
                shared_memory.SharedMemory({name!r}).close()
                try:
                    shared_memory.SharedMemory({unique_name("missing")!r})
                except FileNotFoundError:
                    pass
                else:
                    raise AssertionError("found")
            """)
            assert {i: _segment_row(i) for i in ids} == before
        finally:
            holder.communicate("")
    assert holder.returncode == 0


def abandoned_block():
    """(name, shmid) of a tracked block whose only user, a fresh process, has exited."""
    out = assert_exits_cleanly("""
        from sysvshm import shared_memory
        b = shared_memory.SharedMemory(create=True, size=100)
        b.buf[0] = 1
        print(b.name, b._shmid)
    """)
    name, shmid = out.split()
    return name, int(shmid)


def test_3_abandoned_tracked_block_is_reclaimed_by_the_next_lookup():
    name, shmid = abandoned_block()
    assert _proc.row(shmid) is not None  # abandoned, not yet reclaimed
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name)
    assert _proc.row(shmid) is None


def test_3_a_block_being_set_up_is_not_reclaimed():
    # Created (shmget) but not attached yet by a live creator: atime 0, cpid alive.
    name = unique_name("setup")
    key = _blocks.key_of(name.encode())
    shmid = sysvshm.shmget(key, _blocks.segment_size(key, 10, True),
                           sysvshm.IPC_CREAT | sysvshm.IPC_EXCL | 0o600)
    try:
        st = sysvshm.shmctl(shmid, sysvshm.IPC_STAT)
        assert _blocks.kind(st) == _blocks.TRACKED and not _blocks.abandoned(st)
        with pytest.raises(FileNotFoundError):
            shared_memory.SharedMemory(name)  # no header yet: not found...
        assert _proc.row(shmid) is not None  # ...and left alone
        with pytest.raises(FileExistsError):
            shared_memory.SharedMemory(name, create=True, size=10)
        assert _proc.row(shmid) is not None and _proc.row(shmid)["nattch"] == 0
    finally:
        sysvshm.shmctl(shmid, sysvshm.IPC_RMID)


@pytest.fixture
def blocks_made():
    made = []
    yield made
    for block in made:
        try:
            block.unlink()
        except FileNotFoundError:
            pass
        block.close()


# -- 5, 7: ShareableList ------------------------------------------------------------

def test_5_shareable_list_refuses_items_it_could_not_read_back():
    before = _proc.own_ids()
    with pytest.raises(ValueError, match="at most 9,999,991 bytes, not 9,999,992"):
        shared_memory.ShareableList([b"x" * 9_999_992, 1])
    assert _proc.own_ids() == before
    sl = shared_memory.ShareableList([b"y" * 9_999_991, 1])
    try:
        assert sl.format == "9999992sq"
        assert sl[0] == b"y" * 9_999_991 and sl[1] == 1
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_7_shareable_list_that_cannot_be_packed_leaves_nothing():
    before = _proc.own_ids()
    with pytest.raises(struct.error):
        shared_memory.ShareableList([1, 2**63])
    assert _proc.own_ids() == before


# -- 6, 8: the shm constructor ------------------------------------------------------

@pytest.mark.skipif(not HAVE_HUGETLB, reason="no SHM_HUGETLB")
@pytest.mark.root(reason="SHM_HUGETLB needs root here")
def test_6_failed_prefault_leaves_no_segment():
    if free_huge_pages():
        pytest.skip("huge pages are reserved: prefault would succeed")
    before = _proc.own_ids()
    with pytest.raises(OSError) as info:
        sysvshm.shm(size=2 << 20, flags=sysvshm.SHM_HUGETLB | sysvshm.SHM_NORESERVE,
                    prefault=True)
    assert info.value.errno in (errno.EFAULT, errno.ENOMEM)
    assert _proc.own_ids() == before


def test_8_create_exclusive_with_size_zero_is_not_an_attach(free_key):
    owner = sysvshm.shm(free_key, 4096, sysvshm.IPC_CREAT | sysvshm.IPC_EXCL)
    try:
        with pytest.raises(FileExistsError):
            sysvshm.shm(free_key, 0, sysvshm.IPC_CREAT | sysvshm.IPC_EXCL)
        with pytest.raises(FileExistsError):
            sysvshm.shmget(free_key, 0, sysvshm.IPC_CREAT | sysvshm.IPC_EXCL)
        again = sysvshm.shm(free_key, 0, sysvshm.IPC_CREAT)  # CREAT alone attaches
        assert again.shmid == owner.shmid
        again.close()
    finally:
        owner.remove()
        owner.close()
    with pytest.raises(ValueError, match="empty"):
        sysvshm.shm(free_key, 0, sysvshm.IPC_CREAT | sysvshm.IPC_EXCL)


# -- 9: names are exclusive across users --------------------------------------------

def _nobody_sees(name):
    from multiprocessing import shared_memory as std

    from sysvshm import shared_memory as ours

    seen = []
    for module in (std, ours):
        for kwargs in ({}, {"create": True, "size": 10}):
            try:
                module.SharedMemory(name, **kwargs).close()
                seen.append("ok")
            except OSError as exc:
                seen.append(f"{type(exc).__name__}: {exc}")
    return seen[:2] == seen[2:] and seen[0].startswith("PermissionError") \
        and seen[1].startswith("FileExistsError")


@ROOT
def test_9_another_users_name_is_taken_and_denied_as_the_stdlib_says():
    from multiprocessing import shared_memory as std

    name = unique_name("users")
    a = shared_memory.SharedMemory(name, create=True, size=10)
    b = std.SharedMemory(name, create=True, size=10)
    try:
        pid = os.fork()
        if pid == 0:
            _children.as_nobody(_nobody_sees, name)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    finally:
        for block in (a, b):
            block.close()
            block.unlink()


# -- 10: module state under threads -------------------------------------------------

def test_10_shared_memory_state_is_thread_safe():
    out = assert_exits_cleanly("""
        import sys, threading
        from sysvshm import shared_memory
        sys.setswitchinterval(1e-5)
        errors = []
        kept = []
        lock = threading.Lock()
        def churn():
            try:
                for _ in range(300):
                    b = shared_memory.SharedMemory(create=True, size=64)
                    b.close()  # kept alive by this process
                    with lock:
                        kept.append(b)
                    c = shared_memory.SharedMemory(create=True, size=64)
                    c.close()
                    c.unlink()
            except Exception as exc:
                errors.append(repr(exc))
        churners = [threading.Thread(target=churn) for _ in range(2)]
        unlinked = []
        def unlinker():
            try:
                while True:
                    with lock:
                        b = kept.pop() if kept else None
                    if b is not None:
                        b.unlink()
                        unlinked.append(b)
                    elif not any(t.is_alive() for t in churners):
                        with lock:
                            if not kept:
                                return
            except Exception as exc:
                errors.append(repr(exc))
        threads = churners + [threading.Thread(target=unlinker)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(len(errors), len(unlinked), errors[:3])
    """, timeout=300)
    errors, unlinked = out.split()[:2]
    assert errors == "0" and unlinked == "600", out


# -- 11: no inheritable descriptor --------------------------------------------------

def test_11_mmap_keeps_a_close_on_exec_descriptor(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 4096)
    with open(path, "r+b") as f:
        m = smmap.mmap(f.fileno(), 4096)
        try:
            dups = [int(fd) for fd in os.listdir("/proc/self/fd")
                    if int(fd) != f.fileno() and _points_to(int(fd), path)]
            assert len(dups) == 1
            assert fcntl.fcntl(dups[0], fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        finally:
            m.close()


def _points_to(fd, path):
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == str(path)
    except OSError:
        return False


# -- what the review found besides: pickles, headers, MAP_ANONYMOUS with a file ---------

@pytest.mark.parametrize("args, exc", [
    ((-1, 0, 0), ValueError),         # negative size: reads past the segment
    ((10, 7, 0), ValueError),         # an access that does not exist
    ((10, 0, 0o40000), ValueError),   # SHM_REMAP, or any flag we never take
    ((10, 0, -1), ValueError),
    ((10, 0, 0o4000), ValueError),    # a bit the kernel ignores: still not ours to pass
])
def test_a_hostile_pickle_of_a_segment_is_refused(seg, args, exc):
    size, access, flags = args
    cls, state = seg.__reduce__()[:2]
    forged = pickle.dumps((cls, (sysvshm.shm, seg.shmid, access, size, flags)))
    rebuild, rebuild_args = pickle.loads(forged)
    with pytest.raises(exc):
        rebuild(*rebuild_args)
    with pytest.raises(TypeError):
        _shm._rebuild(dict, seg.shmid, 0, 10, 0)


def _scribble(shmid, offset, data):
    seg = sysvshm.shmat(shmid)
    seg[offset:offset + len(data)] = data
    seg.close()


@pytest.mark.parametrize("field", ["magic", "size", "flags", "unknown-flags", "length", "name"])
def test_a_scribbled_block_header_gives_a_clean_error(field, blocks_made):
    block = shared_memory.SharedMemory(create=True, size=100)
    blocks_made.append(block)
    offset, data = {
        "magic": (0, b"XXXXXXXX"),
        "size": (8, struct.pack("=Q", 2**63)),
        "flags": (16, struct.pack("=I", 0xFFFFFFFF)),
        "unknown-flags": (16, struct.pack("=I", 0xFFFFFFFD)),  # not UNLINKED, all else
        "length": (20, struct.pack("=I", 0xFFFFFFFF)),
        "name": (24, b"other"),
    }[field]
    _proc.in_child(_scribble, block._shmid, offset, data)
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(block.name)


@pytest.mark.parametrize("where, data", [
    (0, struct.pack("q", 2**62)),            # the length
    (0, struct.pack("q", -5)),
    (8, struct.pack("q", 7)),                 # the first offset
    (16, struct.pack("q", 2**40)),            # an offset beyond the block
])
def test_a_scribbled_shareable_list_layout_gives_a_clean_error(where, data):
    sl = shared_memory.ShareableList([1, b"ab", "cd"])
    try:
        _proc.in_child(_scribble, sl.shm._shmid, _blocks.HEADER + where, data)
        with pytest.raises(ValueError, match="not hold a valid ShareableList"):
            shared_memory.ShareableList(name=sl.shm.name)
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_a_scribbled_shareable_list_item_gives_a_clean_error():
    sl = shared_memory.ShareableList([1, b"ab", "cd"])
    try:
        other = shared_memory.ShareableList(name=sl.shm.name)
        formats = sl._offset_packing_formats
        codes = sl._offset_back_transform_codes
        for offset, data in ((formats, b"99999s\0\0"), (formats + 8, b"P\0\0\0\0\0\0\0"),
                             (codes + 2, b"\x7f"), (codes, b"\x01")):
            saved = bytes(sl.shm.buf[offset:offset + len(data)])
            sl.shm.buf[offset:offset + len(data)] = data
            with pytest.raises(ValueError, match="not hold a valid ShareableList"):
                list(other)
            sl.shm.buf[offset:offset + len(data)] = saved
        sl.shm.buf[codes + 2:codes + 3] = b"\x01"
        sl.shm.buf[sl._offset_data_start + 16:sl._offset_data_start + 18] = b"\xff\xfe"
        with pytest.raises(ValueError, match="UTF-8"):
            other[2]
        other.shm.close()
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_map_anonymous_with_a_file_descriptor_ignores_the_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"keep")
    with open(path, "r+b") as f:
        m = smmap.mmap(f.fileno(), 4096, flags=smmap.MAP_SHARED | smmap.MAP_ANONYMOUS)
        try:
            assert m.anonymous_backend == "MAP_ANONYMOUS"
            assert m[:4] == bytes(4)
            with pytest.raises(OSError, match="cannot grow"):
                m.resize(8192)  # the pages past 4096 do not exist
        finally:
            m.close()
    assert path.read_bytes() == b"keep"


@pytest.mark.skipif(_proc.SANITIZED, reason="ASan's locks are not fork-safe while threads "
                    "start (see test_races.FORK_UNDER_ASAN)")
def test_fork_child_forgets_pins_of_threads_it_does_not_have():
    # A thread copies 256 MiB without the GIL while the main thread forks: the
    # child must still be able to close the object and resize it.
    out = assert_exits_cleanly("""
        import os, threading, time
        import sysvshm.mmap as mmap
        m = mmap.mmap(-1, 256 << 20, flags=mmap.MAP_PRIVATE)
        m[:] = b"\\1" * len(m)
        started = threading.Event()
        def copier():
            started.set()
            for _ in range(4):
                assert m[:] == b"\\1" * len(m)
        t = threading.Thread(target=copier)
        t.start()
        started.wait()
        time.sleep(0.01)
        pid = os.fork()
        if pid == 0:
            try:
                m.resize(4096)
                assert m[0] == 1
                m.close()
                os._exit(0)
            except BaseException as exc:
                os.write(2, repr(exc).encode())
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        t.join()
        m.close()
        print(os.waitstatus_to_exitcode(status))
    """)
    assert out.split() == ["0"]


def test_multiprocessing_children_see_blocks_by_name():
    name = unique_name("mp")
    block = shared_memory.SharedMemory(name, create=True, size=16)
    try:
        _proc.run_process(multiprocessing.get_start_method(), _children.shm_attach_write,
                          name, 0, b"hello")
        assert bytes(block.buf[:5]) == b"hello"
    finally:
        block.close()
        block.unlink()


def test_unlink_frees_the_name_at_once_while_attached(blocks_made):
    name = unique_name("unlink")
    a = shared_memory.SharedMemory(name, create=True, size=16)
    a.buf[0] = 5
    a.unlink()
    b = shared_memory.SharedMemory(name, create=True, size=16)
    blocks_made.append(b)
    assert a.buf[0] == 5 and b.buf[0] == 0
    a.close()


# -- what a second review found (attacks on the first round of fixes) ------------------

def test_a_killed_creator_does_not_make_its_name_unusable():
    # Killed after shmget and shmat, before the header was written: the block has
    # been attached once, nobody is attached, and it has no header.
    out = assert_exits_cleanly("""
        import os, signal
        from sysvshm import _blocks, _shm
        name = f"sysvshm_killed_{os.getpid()}"
        key = _blocks.key_of(name.encode())
        pid = os.fork()
        if pid == 0:
            seg = _shm.shm(key, _blocks.segment_size(key, 10, True),
                           _shm.IPC_CREAT | _shm.IPC_EXCL, 0o600)
            os.kill(os.getpid(), signal.SIGKILL)
        os.waitpid(pid, 0)
        print(name, _shm.shmget(key))
    """)
    name, shmid = out.split()
    assert _proc.row(int(shmid))["nattch"] == 0
    block = shared_memory.SharedMemory(name, create=True, size=10)
    try:
        assert block._shmid != int(shmid) and _proc.row(int(shmid)) is None
    finally:
        block.close()
        block.unlink()


def test_a_lookup_never_attaches_an_abandoned_block():
    name, shmid = abandoned_block()
    before = _proc.row(shmid)
    assert before["nattch"] == 0
    assert _blocks.abandoned(sysvshm.shmctl(shmid, sysvshm.IPC_STAT))
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name)
    assert _proc.row(shmid) is None  # removed without being attached


def _create_and_report(w):
    from sysvshm import shared_memory as ours

    block = ours.SharedMemory(create=True, size=100)
    os.write(w, f"{block.name} {block._shmid}".encode())
    return True  # and exit: the block is abandoned


@ROOT
def test_root_never_removes_another_users_abandoned_block():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _children.as_nobody(_create_and_report, w)
    os.close(w)
    with os.fdopen(r) as f:
        name, shmid = f.read().split()
    _, status = os.waitpid(pid, 0)
    assert status == 0
    shmid = int(shmid)
    try:
        before = _proc.row(shmid)
        assert before["nattch"] == 0 and before["uid"] == before["cuid"] == 65534
        with pytest.raises(FileNotFoundError):
            shared_memory.SharedMemory(name)
        with pytest.raises(FileExistsError):
            shared_memory.SharedMemory(name, create=True, size=10)
        assert _proc.row(shmid) == before  # neither removed nor attached
    finally:
        sysvshm.shmctl(shmid, sysvshm.IPC_RMID)


def test_a_tracked_block_whose_object_dies_with_a_view_alive_stays():
    out = assert_exits_cleanly("""
        import subprocess, sys
        from sysvshm import shared_memory
        def produce():
            block = shared_memory.SharedMemory(create=True, size=16)
            block.buf[:6] = b"answer"
            return block.name, block.buf[:6]
        name, view = produce()  # the object is gone, a view of its memory is not
        del view
        code = (f"from sysvshm import shared_memory as s; b = s.SharedMemory({name!r}); "
                "print(bytes(b.buf[:6]))")
        print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)
        shared_memory.SharedMemory(name).unlink()
    """)
    assert out.strip() == "b'answer'"


def test_fork_while_another_thread_closes_does_not_deadlock_the_child():
    assert_exits_cleanly("""
        import os, threading
        from sysvshm import shared_memory
        blocks = [shared_memory.SharedMemory(create=True, size=16) for _ in range(2000)]
        def closer():
            for b in blocks:
                b.close()
        t = threading.Thread(target=closer)
        t.start()
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                other = shared_memory.SharedMemory(create=True, size=16)
                other.close()
                other.unlink()
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert status == 0
        t.join()
        for b in blocks:
            b.unlink()
    """, timeout=60)


def _unlink_as_nobody(name):
    from sysvshm import shared_memory as ours

    block = ours.SharedMemory(name)
    try:
        block.unlink()
    except PermissionError as exc:
        return str(exc) == f"[Errno 13] Permission denied: '/{name}'"
    finally:
        block.close()
    return False


@ROOT
def test_unlink_by_a_user_who_may_not_remove_it_raises_and_changes_nothing():
    name = unique_name("eperm")
    block = shared_memory.SharedMemory(name, create=True, size=10, track=False)
    try:
        sysvshm.shmctl(block._shmid, sysvshm.IPC_SET, {"mode": 0o666})
        pid = os.fork()
        if pid == 0:
            _children.as_nobody(_unlink_as_nobody, name)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        again = shared_memory.SharedMemory(name)  # still there, still named
        again.close()
    finally:
        block.close()
        block.unlink()


def test_shareable_list_assignment_it_could_not_read_back_is_refused():
    sl = shared_memory.ShareableList(["x" * 9_999_991])
    try:
        with pytest.raises(ValueError, match="exceeds available storage"):
            sl[0] = "y" * 9_999_993
        assert sl[0] == "x" * 9_999_991
        sl[0] = "z" * 9_999_992  # the item's capacity, all of it
        assert sl[0] == "z" * 9_999_992
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_shareable_list_failed_assignment_keeps_the_old_value():
    sl = shared_memory.ShareableList(["hello!!", 7, None])
    try:
        with pytest.raises(struct.error):
            sl[1] = 2**64
        assert list(sl) == ["hello!!", 7, None]
    finally:
        sl.shm.close()
        sl.shm.unlink()


@pytest.mark.parametrize("advice, exc", [(9, ValueError), (10, ValueError), (100, ValueError),
                                         (101, ValueError), (102, ValueError),
                                         (104, OSError), (200, OSError), (-1, OSError)])
def test_madvise_that_could_make_memory_unreachable_is_refused(seg, advice, exc):
    m = smmap.mmap(-1, 4096)
    try:
        for obj in (seg, m):
            with pytest.raises(exc, match="refused" if exc is ValueError else "Invalid"):
                obj.madvise(advice)
            obj[0] = 1
            assert obj[0] == 1
    finally:
        m.close()


@pytest.mark.skipif(not HAVE_HUGETLB, reason="no SHM_HUGETLB")
def test_huge_pages_without_reservation_are_allocated_at_creation_or_refused():
    if free_huge_pages():
        pytest.skip("huge pages are reserved here")
    out = assert_exits_cleanly("""
        import sysvshm, sysvshm.mmap as mmap
        for make in (lambda: sysvshm.shm(size=2 << 20,
                                         flags=sysvshm.SHM_HUGETLB | sysvshm.SHM_NORESERVE),
                     lambda: mmap.mmap(-1, 2 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_HUGETLB
                                       | mmap.MAP_NORESERVE)):
            try:
                obj = make()
            except PermissionError:
                print("EPERM")
                continue
            except OSError as exc:
                # ENOMEM, and a message saying which setting gives the pages
                print(f"{exc.errno}:{'vm.nr_hugepages' in str(exc)}")
                continue
            obj[0]  # would be SIGBUS without a page behind it
            print("ok")
    """)
    assert all(word in ("12:True", "EPERM") for word in out.split()), out
    assert not _proc.own_ids()


# -- what a third review found ----------------------------------------------------------

def test_close_from_a_signal_handler_during_a_sweep_does_not_hang():
    # The handler closes a SharedMemory while the main thread is inside the
    # keep-alive table's lock (sweep/keep): the lock must be re-entrant.
    out = assert_exits_cleanly("""
        import signal, time
        from sysvshm import shared_memory
        kept = [shared_memory.SharedMemory(create=True, size=16) for _ in range(64)]
        for b in kept:
            b.close()  # 64 keep-alive attaches: every sweep has work
        handled = 0
        def on_alarm(signum, frame):
            global handled
            b = shared_memory.SharedMemory(create=True, size=16)
            b.close()
            b.unlink()
            handled += 1
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            b = shared_memory.SharedMemory(create=True, size=16)
            b.close()
            b.unlink()
        signal.setitimer(signal.ITIMER_REAL, 0)
        for b in kept:
            b.unlink()
        print(handled)
    """, timeout=60)
    assert int(out) > 0


def test_unlink_never_takes_a_reused_id_for_its_block(blocks_made):
    a = shared_memory.SharedMemory(create=True, size=16)
    other = shared_memory.SharedMemory(a.name)
    other.unlink()
    other.close()
    a.close()
    c = shared_memory.SharedMemory(create=True, size=16)
    blocks_made.append(c)
    c.close()  # kept alive by this process
    a._shmid = c._shmid  # as if the kernel had given a's old id to c's block
    with pytest.raises(FileNotFoundError):
        a.unlink()
    again = shared_memory.SharedMemory(c.name)  # c is untouched
    again.close()


def test_a_reclaim_acting_on_stale_metadata_backs_off():
    name, shmid = abandoned_block()
    stale = sysvshm.shmctl(shmid, sysvshm.IPC_STAT)
    assert _blocks.abandoned(stale)
    user = sysvshm.shmat(shmid)  # someone attached after the metadata was read
    try:
        assert _blocks._reclaim(stale) is False
        st = sysvshm.shmctl(shmid, sysvshm.IPC_STAT)
        assert st.mode == 0o600 and not st.removed  # claim withdrawn
        # A block under a claim (mode 0) is never handed out by a lookup.
        sysvshm.shmctl(shmid, sysvshm.IPC_SET, {"mode": 0})
        with pytest.raises(FileNotFoundError):
            shared_memory.SharedMemory(name)
        assert not sysvshm.shmctl(shmid, sysvshm.IPC_STAT).removed
        sysvshm.shmctl(shmid, sysvshm.IPC_SET, {"mode": 0o600})
        live = shared_memory.SharedMemory(name)  # attached by someone: live
        live.unlink()
        live.close()
    finally:
        user.close()
    assert _proc.row(shmid) is None


def test_a_subclass_cannot_switch_off_the_export_check_of_close():
    # close() checks exports with a C-level method no subclass can replace: one
    # that overrides the Python-visible _check_closable still gets BufferError,
    # and the memory stays mapped under the live view (else: SIGSEGV on mv[0]).
    out = assert_exits_cleanly("""
        import sysvshm, sysvshm.mmap as mmap
        class M(mmap.mmap):
            def _check_closable(self):
                pass
        class S(sysvshm.shm):
            def _check_closable(self):
                raise RuntimeError("never called by close()")
        for obj in (M(-1, 4096), S(size=4096)):
            mv = memoryview(obj)
            try:
                obj.close()
            except BufferError as exc:
                print(type(obj).__name__, exc)
            mv[0] = 1
            mv.release()
            if isinstance(obj, sysvshm.shm):
                obj.remove()
            obj.close()
            print(type(obj).__name__, "closed", obj.closed)
    """)
    assert out.split("\n")[:4] == [
        "M cannot close exported pointers exist", "M closed True",
        "S cannot close exported pointers exist", "S closed True"], out
