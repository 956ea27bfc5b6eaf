"""sysvshm.shared_memory next to multiprocessing.shared_memory, and the faults it fixes."""
import errno
import multiprocessing
import os
import pickle
import re
import signal
import subprocess
import sys
from multiprocessing import shared_memory as std

import _children
import _proc
import pytest
from _parity import outcome

import sysvshm
from sysvshm import _blocks, _shm
from sysvshm import shared_memory as ours

TIMEOUT = 60
START_METHODS = [m for m in ("fork", "spawn", "forkserver")
                 if m in multiprocessing.get_all_start_methods()]


@pytest.fixture
def blocks():
    """Collects blocks (either module) and closes and unlinks them afterwards."""
    made = []
    yield made
    for block in made:
        try:
            block.close()
        except BufferError:
            pass
        try:
            block.unlink()
        except FileNotFoundError:
            pass


def unique_name(tag):
    return f"sysvshm_test_{tag}_{os.getpid()}_{os.urandom(3).hex()}"


# -- the stdlib's documented behaviour, side by side --------------------------------------

def test_documented_example(shared_memory_module, blocks):
    # The example of the multiprocessing.shared_memory documentation.
    shm_a = shared_memory_module.SharedMemory(create=True, size=10)
    blocks.append(shm_a)
    assert type(shm_a.buf) is memoryview
    buffer = shm_a.buf
    assert len(buffer) == 10
    buffer[:4] = bytearray([22, 33, 44, 55])
    buffer[4] = 100
    shm_b = shared_memory_module.SharedMemory(shm_a.name)
    blocks.append(shm_b)
    import array
    assert array.array("b", shm_b.buf[:5]).tolist() == [22, 33, 44, 55, 100]
    shm_b.buf[:5] = b"howdy"
    assert bytes(shm_a.buf[:5]) == b"howdy"
    shm_b.close()
    shm_a.close()
    shm_a.unlink()


BEHAVIOURS = {
    "attach-missing": lambda m, n: m.SharedMemory(n),
    "create-zero": lambda m, n: m.SharedMemory(n, create=True, size=0),
    "create-negative": lambda m, n: m.SharedMemory(n, create=True, size=-1),
    "attach-negative": lambda m, n: m.SharedMemory(n, size=-5),
    "no-name-attach": lambda m, n: m.SharedMemory(),
    "int-name": lambda m, n: m.SharedMemory(5, create=True, size=10),
    "float-size": lambda m, n: m.SharedMemory(n, create=True, size=1.5),
    "str-size": lambda m, n: m.SharedMemory(n, create=True, size="10"),
}


@pytest.mark.parametrize("case", sorted(BEHAVIOURS))
def test_errors_same_as_stdlib(case, blocks):
    name = unique_name(case)

    def run(module):
        result = outcome(lambda: BEHAVIOURS[case](module, name))
        if result[0] == "ok":
            blocks.append(result[1])
        return result

    try:
        ref, got = run(std), run(ours)
    finally:
        # The stdlib's shm_open succeeds before its ftruncate refuses a float or
        # str size, and leaves the file behind.
        if os.path.exists(f"/dev/shm/{name}") and not blocks:
            os.unlink(f"/dev/shm/{name}")
    if ref[:2] == ("raised", DeprecationWarning):
        # Python 3.9's os.ftruncate still takes a float (deprecated, truncating);
        # sysvshm refuses it as later Pythons do.
        assert got[:2] == ("raised", TypeError)
    elif case in ("int-name", "float-size", "str-size"):
        assert got[:2] == ref[:2]  # same type; the stdlib's words come from os/posixshmem
    else:
        assert got == ref


def test_name_errors_same_as_stdlib(blocks):
    """Exists / not found: same type, same message, same filename ("/" + name)."""
    def run(module):
        name = unique_name("dup")
        first = module.SharedMemory(name, create=True, size=64)
        blocks.append(first)
        twice = outcome(lambda: module.SharedMemory(name, create=True, size=64))
        first.unlink()
        gone = outcome(lambda: first.unlink())
        attach = outcome(lambda: module.SharedMemory(name))
        return [r if r[0] == "ok" else r[:2] + (r[2].replace(name, "NAME"),)
                for r in (twice, gone, attach)]

    ref, got = run(std), run(ours)
    assert [r[0] for r in ref] == ["raised"] * 3
    assert got == ref


def test_lifecycle_same_as_stdlib(shared_memory_module, blocks):
    name = unique_name("life")
    a = shared_memory_module.SharedMemory(name, create=True, size=4096)
    blocks.append(a)
    assert a.name == name and a.size == 4096
    assert repr(a) == f"SharedMemory({name!r}, size=4096)"
    with pytest.raises(FileExistsError):
        shared_memory_module.SharedMemory(name, create=True, size=10)
    b = shared_memory_module.SharedMemory(name, size=999999)  # the size is ignored on attach
    assert b.size == 4096
    clone = pickle.loads(pickle.dumps(a))
    assert (clone.name, clone.size) == (name, 4096)
    view = a.buf[:8]
    with pytest.raises(BufferError):
        a.close()
    view.release()
    a.close()
    a.close()  # twice is fine
    assert a.buf is None
    b.unlink()
    with pytest.raises(FileNotFoundError):
        shared_memory_module.SharedMemory(name)
    with pytest.raises(FileNotFoundError):
        b.unlink()
    b.close()
    clone.close()


def test_generated_names_are_the_stdlibs(blocks):
    names = set()
    for _ in range(20):
        block = ours.SharedMemory(create=True, size=1)
        blocks.append(block)
        names.add(block.name)
        assert re.fullmatch(r"psm_[0-9a-f]{8}", block.name)
        assert block._name == "/" + block.name
        assert len(block._name) == len(std._make_filename())
    assert len(names) == 20
    assert ours._SHM_NAME_PREFIX == std._SHM_NAME_PREFIX
    assert ours._SHM_SAFE_NAME_LENGTH == std._SHM_SAFE_NAME_LENGTH
    assert ours._USE_POSIX is std._USE_POSIX is True


# -- the fixes ----------------------------------------------------------------------------

def test_size_is_exact_in_every_process(blocks):
    block = ours.SharedMemory(create=True, size=10)
    blocks.append(block)
    assert len(block.buf) == 10
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_children.shm_report_size, args=(block.name, child))
    p.start()
    assert parent.recv() == 10
    p.join(TIMEOUT)
    assert p.exitcode == 0


def test_no_warnings_and_no_tracker_process():
    # The stdlib prints "leaked shared_memory objects" here; sysvshm prints nothing,
    # starts no helper process, and the kernel reclaims the block at exit.
    result = _proc.run_python("""
        import multiprocessing, os
        from sysvshm import shared_memory
        block = shared_memory.SharedMemory(create=True, size=1 << 20)
        other = shared_memory.SharedMemory(block.name)
        other.close()
        block.close()
        me = str(os.getpid())
        children = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    children += f.read().rsplit(")", 1)[1].split()[1] == me
            except OSError:
                pass
        print(block.name, children, flush=True)
    """)
    assert result.returncode == 0 and result.stderr == ""
    name, children = result.stdout.split()
    assert children == "0"
    with pytest.raises(FileNotFoundError):
        ours.SharedMemory(name)


def written_by_a_child(method, blocks, data, offset=0, by_name=True):
    """A new block, once a child started by *method* has attached it (by its name,
    or handed the object) and written *data* at *offset*, and has exited."""
    block = ours.SharedMemory(create=True, size=100)
    blocks.append(block)
    if by_name:
        _proc.run_process(method, _children.shm_attach_write, block.name, offset, data)
    else:
        _proc.run_process(method, _children.shm_write_object, block, offset, data)
    return block


@pytest.mark.parametrize("method", START_METHODS)
def test_an_attacher_exiting_does_not_destroy_the_block(method, blocks):
    block = written_by_a_child(method, blocks, b"child")
    again = ours.SharedMemory(block.name)
    blocks.append(again)
    assert bytes(again.buf[:5]) == b"child"


@pytest.mark.parametrize("track", [True, False])
def test_sigkill_of_every_user(track):
    ctx = multiprocessing.get_context("fork")
    name = unique_name("kill")
    parent, child = ctx.Pipe()
    creator = ctx.Process(target=_children.shm_create_and_wait, args=(name, 1 << 20, child, track))
    creator.start()
    assert parent.recv() == name
    _proc.started(creator.pid)
    attacher = ctx.Process(target=_children.shm_attach_and_wait, args=(name, child))
    attacher.start()
    assert parent.recv() == 7
    for p in (creator, attacher):
        os.kill(p.pid, signal.SIGKILL)
        p.join(TIMEOUT)
        assert p.exitcode == -signal.SIGKILL
    if track:
        with pytest.raises(FileNotFoundError):
            ours.SharedMemory(name)
    else:
        # track=False keeps it until unlink(), exactly as the stdlib does
        left = ours.SharedMemory(name)
        assert left.buf[0] == 7
        left.close()
        left.unlink()


def test_tracked_block_outlives_its_creators_close_until_exit(blocks):
    result = _proc.run_python("""
        from sysvshm import shared_memory
        b = shared_memory.SharedMemory(create=True, size=100)
        b.buf[0] = 42
        b.close()                      # closed, not unlinked, process still running
        again = shared_memory.SharedMemory(b.name)
        print(again.buf[0], b.name)
        again.close()
    """)
    assert result.returncode == 0, result.stderr
    value, name = result.stdout.split()
    assert value == "42"
    with pytest.raises(FileNotFoundError):  # the process ended: reclaimed
        ours.SharedMemory(name)


def test_blocks_are_told_apart_by_kernel_metadata_alone(blocks, make_shm, free_key):
    tracked = ours.SharedMemory(create=True, size=10)
    untracked = ours.SharedMemory(create=True, size=10, track=False)
    blocks.extend([tracked, untracked])
    plain = make_shm(_blocks.HEADER + 10)  # IPC_PRIVATE: never a block
    keyed = sysvshm.shm(free_key, _blocks.HEADER + 4096, sysvshm.IPC_CREAT)  # residue 0
    try:
        stats = {st.shmid: st for st in sysvshm.segments()}
        assert _blocks.kind(stats[tracked._shmid]) == _blocks.TRACKED
        assert _blocks.kind(stats[untracked._shmid]) == 0
        assert _blocks.kind(stats[plain.shmid]) is None
        assert _blocks.kind(stats[keyed.shmid]) is None
        # The size the kernel reports is what the creator asked for, padded to the
        # signature of the key by less than a page.
        st = stats[tracked._shmid]
        assert 0 <= st.size - (_blocks.HEADER + 10) < 4096
    finally:
        keyed.remove()
        keyed.close()


def test_unlink_after_close(blocks):
    block = ours.SharedMemory(create=True, size=10)
    block.close()
    block.unlink()
    with pytest.raises(FileNotFoundError):
        ours.SharedMemory(block.name)
    assert not _proc.own_ids()


def test_sysv_segments_do_not_use_dev_shm(blocks):
    before = os.statvfs("/dev/shm")
    block = ours.SharedMemory(create=True, size=32 << 20)
    blocks.append(block)
    block.buf[::4096] = b"\1" * len(block.buf[::4096])
    after = os.statvfs("/dev/shm")
    used = (before.f_bfree - after.f_bfree) * after.f_frsize
    assert used < 1 << 20


def colliding_names():
    """Two names whose System V keys collide (found by a birthday search)."""
    seen = {}
    i = 0
    while True:
        name = f"c{i}"
        key = _blocks.key_of(name.encode())
        if key in seen:
            return seen[key], name
        seen[key] = name
        i += 1


@pytest.mark.parametrize("track", [True, False])
def test_names_sharing_a_key_never_share_a_segment(track, blocks):
    first, second = colliding_names()
    assert first != second and _blocks.key_of(first.encode()) == _blocks.key_of(second.encode())
    a = ours.SharedMemory(first, create=True, size=10, track=track)
    blocks.append(a)
    a.buf[0] = 1
    with pytest.raises(FileNotFoundError):
        ours.SharedMemory(second)
    with pytest.raises(FileExistsError, match=repr(first)):
        ours.SharedMemory(second, create=True, size=10)
    again = ours.SharedMemory(first)
    assert again.buf[0] == 1
    again.close()


def _outcome(module, name, **kwargs):
    def make_and_remove():
        block = module.SharedMemory(name, **kwargs)
        block.close()
        block.unlink()

    return outcome(make_and_remove, attrs=("errno", "filename"))


@pytest.mark.parametrize("name", ["", "/", "//", "a/b", "/a/b", "x" * 256, "/" + "x" * 255,
                                  "x" * 255, "a\0b", "\udc80rv", "/\ud800"])
def test_bad_names_raise_what_the_stdlib_raises(name):
    # (Python 3.11's stdlib silently cuts "a\0b" to "a"; sysvshm refuses it, as 3.13 does.)
    if name == "a\0b" and sys.version_info < (3, 13):
        with pytest.raises(ValueError, match="embedded null character"):
            ours.SharedMemory(name, create=True, size=1)
        return
    for create in (True, False):
        kwargs = {"create": True, "size": 1} if create else {}
        expected = _outcome(std, name, **kwargs)
        if not create and expected[:2] == ("raised", FileNotFoundError):
            assert _outcome(ours, name, **kwargs)[:2] == ("raised", FileNotFoundError)
            continue
        assert _outcome(ours, name, **kwargs) == expected


def test_the_name_limit_counts_bytes_as_shm_open_does(blocks):
    # (Not compared with the stdlib: its resource tracker fails on non-ASCII
    # names, UnicodeEncodeError in unlink(), and leaves the block behind.)
    block = ours.SharedMemory("\xe9" * 127, create=True, size=1)
    blocks.append(block)
    with pytest.raises(OSError) as info:
        ours.SharedMemory("\xe9" * 128, create=True, size=1)
    assert info.value.errno == errno.ENAMETOOLONG
    assert info.value.filename == "/" + "\xe9" * 128


def test_leading_slashes_are_ignored_as_by_shm_open(blocks):
    name = unique_name("slash")
    block = ours.SharedMemory("/" + name, create=True, size=1)
    blocks.append(block)
    assert block.name == "/" + name
    assert block._name == "//" + name
    assert ours.SharedMemory(name).size == 1


def test_unlink_checks_the_name_it_is_given(blocks):
    # Code (and CPython's tests) may set _name; unlink() uses it, as shm_unlink would.
    block = ours.SharedMemory(unique_name("rename"), create=True, size=1)
    blocks.append(block)
    saved = block._name
    block._name = saved + "\0a"
    with pytest.raises(ValueError, match="embedded null"):
        block.unlink()
    block._name = saved + "/x"
    with pytest.raises(OSError) as info:
        block.unlink()
    assert info.value.errno == errno.EINVAL
    block._name = saved
    assert ours.SharedMemory(block.name).size == 1  # nothing was removed


def _limit_in_namespace():
    _proc.unshare_ipc()
    with open("/proc/sys/kernel/shmmax", "w") as f:
        f.write(str(1 << 20))
    with pytest.raises(OSError, match="shmmax"):
        ours.SharedMemory(create=True, size=2 << 20)
    with pytest.raises(OSError, match="shmmax"):
        ours.ShareableList([b"x" * (2 << 20)])
    assert _shm.shmctl(0, _shm.SHM_INFO).used_ids == 0


@_proc.needs_ipc_namespace()
def test_size_beyond_the_limit_names_it():
    _proc.in_child(_limit_in_namespace)


# -- across processes -------------------------------------------------------------------

@pytest.mark.parametrize("method", START_METHODS)
def test_attach_by_name_in_a_child(method, blocks):
    block = written_by_a_child(method, blocks, b"by name", offset=10)
    assert bytes(block.buf[10:17]) == b"by name"


@pytest.mark.parametrize("method", START_METHODS)
def test_pass_the_object_to_a_child(method, blocks):
    block = written_by_a_child(method, blocks, b"object", by_name=False)
    assert bytes(block.buf[:6]) == b"object"


@pytest.mark.parametrize("method", START_METHODS)
def test_shareable_list_to_a_child(method):
    sl = ours.ShareableList(["parent", 1, None])
    try:
        _proc.run_process(method, _children.sl_append_marker, sl)
        assert list(sl) == ["child", 1, None]
    finally:
        sl.shm.close()
        sl.shm.unlink()


# -- ShareableList ----------------------------------------------------------------------

GOOD_VALUES = [["howdy", b"HoWdY", -273.154, 100, None, True, 42], [], [0], ["", b""],
               [2**63 - 1, -2**63, 1e300, False], ["abcdefgh", b"12345678" * 3, "x" * 15]]


def observe_list(module, values):
    sl = module.ShareableList(values)
    try:
        other = module.ShareableList(name=sl.shm.name)
        seen = (list(sl), list(other), len(sl), sl.format,
                repr(sl).split(", name=")[0],
                [sl.count(v) for v in values], [sl.index(v) for v in values],
                outcome(lambda: sl[len(values)]), outcome(lambda: sl.index("absent")),
                outcome(lambda: sl.__setitem__(len(values), 1)),
                type(pickle.loads(pickle.dumps(sl))).__name__)
        if values:
            sl[0] = 3.5
            seen += (other[0], other.format)
        other.shm.close()
        return seen
    finally:
        sl.shm.close()
        sl.shm.unlink()


@pytest.mark.parametrize("values", GOOD_VALUES, ids=range(len(GOOD_VALUES)))
def test_shareable_list_same_as_stdlib(values):
    assert observe_list(ours, values) == observe_list(std, values)


def observe_overflow(module):
    sl = module.ShareableList(["abcdefghij", 1])
    try:
        return [outcome(lambda: sl.__setitem__(1, "toolongvalue")),
                outcome(lambda: sl.__setitem__(0, 12)), sl[0],
                outcome(lambda: sl.__setitem__(0, "x" * 16)), sl[0],
                outcome(lambda: sl.__setitem__(0, "y" * 17)), sl[0], sl.format.endswith("q")]
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_shareable_list_type_changes_and_overflow_same_as_stdlib():
    assert observe_overflow(ours) == observe_overflow(std)


ROUND_TRIPS = ["trailing\0", "\0", "\0\0lead", "héllo wörld", "日本語テキスト", "emoji 🎉🎉",
               b"bytes\0", b"\0\0", b"\xff\xfe\0", "x" * 7 + "é", "\udcff"]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=range(len(ROUND_TRIPS)))
def test_shareable_list_round_trips_what_the_stdlib_corrupts(value):
    sl = ours.ShareableList([value, value])
    try:
        other = ours.ShareableList(name=sl.shm.name)
        assert sl[0] == value and other[1] == value
        sl[1] = value[:1] if value else value
        assert other[1] == (value[:1] if value else value)
        sl[1] = value
        assert other[1] == value
        other.shm.close()
    finally:
        sl.shm.close()
        sl.shm.unlink()


# -- the manager ----------------------------------------------------------------------------

def test_manager_unlinks_everything_at_shutdown():
    with ours.SharedMemoryManager() as smm:
        a = smm.SharedMemory(size=128)
        sl = smm.ShareableList(range(5))
        names = [a.name, sl.shm.name]
        assert list(sl) == [0, 1, 2, 3, 4]
        assert isinstance(a, ours.SharedMemory)
        a.close()
        sl.shm.close()
    for name in names:
        with pytest.raises(FileNotFoundError):
            ours.SharedMemory(name)


def test_manager_not_started_makes_nothing():
    # The stdlib connects before it creates; a block made first was left behind.
    before = _proc.own_ids()
    smm = ours.SharedMemoryManager()
    with pytest.raises(ValueError):
        smm.SharedMemory(size=9)
    with pytest.raises(ValueError):
        smm.ShareableList([1, 2])
    assert _proc.own_ids() == before


def test_manager_start_shutdown():
    smm = ours.SharedMemoryManager()
    smm.start()
    try:
        block = smm.SharedMemory(size=10)
        block.buf[0] = 5
        same = ours.SharedMemory(block.name)
        assert same.buf[0] == 5
        same.close()
        block.close()
    finally:
        smm.shutdown()
    with pytest.raises(FileNotFoundError):
        ours.SharedMemory(block.name)


# -- install ------------------------------------------------------------------------------

def test_install_makes_multiprocessing_use_sysvshm():
    result = _proc.run_python("""
        from sysvshm import shared_memory
        shared_memory.install()
        from multiprocessing import shared_memory as mp_shm
        from multiprocessing.managers import SharedMemoryManager
        import multiprocessing.shared_memory
        assert mp_shm is shared_memory is multiprocessing.shared_memory
        assert SharedMemoryManager is shared_memory.SharedMemoryManager
        b = mp_shm.SharedMemory(create=True, size=10)
        assert type(b).__module__ == "sysvshm.shared_memory"
        b.close(); b.unlink()
        shared_memory.uninstall()
        import sys
        assert sys.modules["multiprocessing.shared_memory"] is not shared_memory
        print("ok")
    """)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_shareable_list_format_shows_capacities_where_the_stdlib_would_overflow():
    # The stdlib sizes a str by its characters, so "\xe9" * 9 (18 bytes of UTF-8)
    # gets 16 bytes and cannot be stored; sysvshm gives it room, and format says so.
    sl = ours.ShareableList(["\xe9" * 9, "\xe9" * 4, "a\0"])
    try:
        assert sl.format == "24s8s8s"
        assert list(sl) == ["\xe9" * 9, "\xe9" * 4, "a\0"]
        sl[1] = "\xe9\xe9\xe9a"
        assert sl[1] == "\xe9\xe9\xe9a" and sl.format == "24s8s8s"
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_shareable_list_exact_length_from_another_process_is_checked():
    sl = ours.ShareableList(["hello", 1])
    try:
        lengths = sl._offset_lengths
        sl.shm.buf[lengths:lengths + 8] = (9).to_bytes(8, sys.byteorder)  # > capacity 8
        other = ours.ShareableList(name=sl.shm.name)
        with pytest.raises(ValueError, match="does not hold a valid ShareableList"):
            other[0]
        sl.shm.buf[lengths:lengths + 8] = (3).to_bytes(8, sys.byteorder)
        assert other[0] == "hel" and other[1] == 1
        other.shm.close()
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_make_filename_collisions_draw_again(blocks, monkeypatch):
    # What CPython's test_shared_memory_recreate does: the first name is taken.
    first = ours._SHM_NAME_PREFIX + unique_name("fn1")
    second = ours._SHM_NAME_PREFIX + unique_name("fn2")
    monkeypatch.setattr(ours, "_make_filename", iter([first, first, second]).__next__)
    a = ours.SharedMemory(create=True, size=1)
    blocks.append(a)
    b = ours.SharedMemory(create=True, size=1)
    blocks.append(b)
    assert (a._name, b._name) == (first, second)
    assert a.name == first[1:]


def test_o_creat_subclass_attaches_or_creates(blocks):
    # The stdlib's _flags: O_CREAT without O_EXCL opens the block or makes it.
    class OpenOrCreate(ours.SharedMemory):
        _flags = os.O_CREAT | os.O_RDWR

    name = unique_name("ocreat")
    made = OpenOrCreate(name, size=10)
    blocks.append(made)
    assert made.size == 10
    again = OpenOrCreate(name, size=10)
    assert again._shmid == made._shmid and again.size == 10
    again.close()


def test_install_keeps_the_stdlib_tracker_out_of_sysvshm_blocks():
    # The common workaround for the stdlib's tracker, run on sysvshm blocks: the
    # tracker process must not print a KeyError (it never had them).
    result = _proc.run_python("""
        from sysvshm import shared_memory
        shared_memory.install()
        from multiprocessing import resource_tracker, shared_memory as mp_shm
        b = mp_shm.SharedMemory(create=True, size=10)
        resource_tracker.unregister(b._name, "shared_memory")
        resource_tracker.register(b._name, "shared_memory")
        resource_tracker.unregister(b._name, "shared_memory")
        # Other resource types still reach the tracker.
        resource_tracker.register("/sysvshm-test-sem", "semaphore")
        resource_tracker.unregister("/sysvshm-test-sem", "semaphore")
        b.close(); b.unlink()
        shared_memory.uninstall()
        assert resource_tracker.unregister.__module__ == "multiprocessing.resource_tracker"
        print("ok")
    """)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert "KeyError" not in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_install_still_tracks_stdlib_blocks_made_before_it():
    # A stdlib block (a file in /dev/shm) keeps its registration.
    result = _proc.run_python("""
        from multiprocessing import shared_memory as std
        from sysvshm import shared_memory
        shared_memory.install()
        b = std.SharedMemory(create=True, size=10)
        name = b.name
        b.close()
        print(name)
    """)
    name = result.stdout.strip()
    assert result.returncode == 0, result.stderr
    # The stdlib's tracker removed the block it was told about, with its warning.
    assert not os.path.exists("/dev/shm/" + name)
    assert "leaked shared_memory" in result.stderr


def test_shareable_list_index_below_minus_len_raises():
    # Found by the property tests: the stdlib normalises negative indices twice,
    # so sl[-len(sl) - 1] returns the last item; sysvshm raises IndexError.
    sl = ours.ShareableList(["a", "b"])
    try:
        with pytest.raises(IndexError, match="index out of range"):
            sl[-3]
        with pytest.raises(IndexError, match="assignment index out of range"):
            sl[-3] = "x"
        assert list(sl) == ["a", "b"]
    finally:
        sl.shm.close()
        sl.shm.unlink()


def test_importing_it_loads_no_manager_and_no_tracker():
    # As the stdlib's shared_memory: the manager (multiprocessing.managers) and
    # install()'s resource-tracker filter load on first use.
    code = ("import sys, sysvshm.shared_memory as sm\n"
            "print(sorted(m for m in sys.modules if m.startswith('multiprocessing')))\n"
            "assert sm.SharedMemoryManager.__module__ == 'sysvshm.shared_memory'\n"
            "assert 'multiprocessing.managers' in sys.modules\n"
            "assert {'install', 'uninstall', 'SharedMemoryManager'} <= set(dir(sm))\n")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         cwd="/", timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[]\n"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = ours.nothing
