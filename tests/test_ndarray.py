"""sysvshm.ndarray: named numpy arrays in shared blocks. Shapes and dtypes
recorded and checked, views that keep the block attached, read-only attach,
pickling by name to pool workers (fork, spawn, forkserver), lifetime after
kill -9, bad input and scribbled headers."""
import concurrent.futures
import gc
import multiprocessing
import os
import pickle
import random
import signal
import sys
import threading

import _proc
import pytest

np = pytest.importorskip("numpy")

import sysvshm  # noqa: E402
from sysvshm import _blocks, shared_memory  # noqa: E402
from sysvshm import ndarray as shnd  # noqa: E402

TIMEOUT = 60


def unique_name(tag):
    return f"sysvshm_nd_{tag}_{os.getpid()}_{os.urandom(3).hex()}"


@pytest.fixture
def names():
    """Names a test creates; whatever is left of them is deleted after it."""
    made = []
    yield made
    for name in made:
        try:
            shnd.delete(name)
        except (FileNotFoundError, ValueError):
            pass
    gc.collect()


def new(names, tag, *args, **kwargs):
    name = unique_name(tag)
    names.append(name)
    return name, shnd.create(name, *args, **kwargs)


def shmid_of(arr):
    return shnd._root_of(arr).seg.shmid


def exists(shmid):
    return any(st.shmid == shmid for st in sysvshm.segments())


# -- shapes, dtypes, order -------------------------------------------------------------

DTYPES = ["f8", "f4", "i1", "<u8", ">i4", "c16", "?", "S7", "U3", "M8[ns]", "m8[s]",
          np.dtype([("x", "<f8"), ("y", "i4", (2, 3)), ("n", [("a", "u1"), ("b", "S3")])],
                   align=True),
          np.dtype([("a", "u1"), ("b", "<i8")]),
          np.dtype(("<f4", (2, 2)))]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_shape_dtype_and_data_come_back_by_name(names, dtype):
    name, a = new(names, "dt", (3, 4), dtype)
    want = np.dtype(dtype)
    if want.subdtype is None:
        assert a.dtype == want and a.shape == (3, 4)
    b = shnd.attach(name)
    assert b.dtype == a.dtype and b.shape == a.shape
    assert isinstance(b, np.ndarray) and isinstance(b, shnd.NamedArray)
    raw = a.view(np.uint8).reshape(-1)
    raw[:] = np.arange(raw.size) % 251
    assert b.tobytes() == a.tobytes()
    assert a.nbytes == b.nbytes == 12 * want.itemsize


def test_order_f_and_fill(names):
    name, a = new(names, "f", (2, 3), "i2", order="F", fill=np.arange(6).reshape(2, 3))
    b = shnd.attach(name)
    assert b.flags.f_contiguous and not b.flags.c_contiguous
    assert b.tolist() == [[0, 1, 2], [3, 4, 5]]
    _, c = new(names, "fill", (4, 5), "f4", fill=2.5)
    assert (c == 2.5).all()
    _, z = new(names, "zeros", 1000, "i8")
    assert not z.any()


def test_a_zero_size_array_works(names):
    name, a = new(names, "zero", (0, 3), "f8")
    b = shnd.attach(name)
    assert b.shape == (0, 3) and b.nbytes == 0 and a.size == 0
    assert pickle.loads(pickle.dumps(b)).shape == (0, 3)
    assert [i for i in shnd.list() if i.name == name][0].nbytes == 0


def test_a_scalar_shape_and_an_int_shape(names):
    name, a = new(names, "scalar", (), "i4", fill=7)
    assert shnd.attach(name).shape == () and int(shnd.attach(name)) == 7
    name, a = new(names, "int", 5)
    assert shnd.attach(name).shape == (5,) and a.dtype == np.float64


# -- bad input changes nothing ---------------------------------------------------------

@pytest.mark.parametrize("args, kwargs, exc", [
    (((-1,),), {}, ValueError),
    ((("a",),), {}, TypeError),
    (((2,), object), {}, TypeError),
    (((2,), [("a", "O")]), {}, TypeError),
    (((2,), "S0"), {}, TypeError),
    (((2,), "f8"), {"order": "A"}, ValueError),
    (((2,), "f8"), {"mode": 0o400}, ValueError),
    (((2,), "f8"), {"mode": 0o1600}, ValueError),
    (((2,), "f8"), {"fill": "not a number"}, ValueError),
    (((2,), "f8"), {"fill": [1, 2, 3]}, ValueError),
    (((1 << 62,), "f8"), {}, ValueError),
    (((1,) * 65,), {}, ValueError),
])
def test_bad_arguments_raise_and_create_nothing(args, kwargs, exc):
    name = unique_name("bad")
    before = _proc.own_ids()
    with pytest.raises(exc):
        shnd.create(name, *args, **kwargs)
    assert _proc.own_ids() == before
    assert not _blocks.exists_by_metadata(name)


def test_an_array_larger_than_the_system_allows_names_the_limit():
    name = unique_name("huge")
    with pytest.raises(OSError) as info:
        shnd.create(name, 1 << 60, "u1")
    assert "shm" in str(info.value).lower() or "memory" in str(info.value).lower()
    assert not _blocks.exists_by_metadata(name)


def test_a_name_is_taken_once(names):
    name, _ = new(names, "taken", 3)
    with pytest.raises(FileExistsError):
        shnd.create(name, 3)


def test_missing_names_and_blocks_that_are_not_arrays(names):
    with pytest.raises(FileNotFoundError):
        shnd.attach(unique_name("missing"))
    with pytest.raises(FileNotFoundError):
        shnd.delete(unique_name("missing"))
    block = shared_memory.SharedMemory(create=True, size=64)
    try:
        with pytest.raises(ValueError, match="no array record"):
            shnd.attach(block.name)
        with pytest.raises(ValueError, match="no array record"):
            shnd.delete(block.name)
        assert shared_memory.SharedMemory(block.name).size == 64  # still there
        assert block.name.lstrip("/") not in [i.name.lstrip("/") for i in shnd.list()]
    finally:
        block.close()
        block.unlink()


# -- read-only --------------------------------------------------------------------------

def test_a_readonly_attach_cannot_be_made_writeable(names):
    name, a = new(names, "ro", (3, 3), "i4")
    r = shnd.attach(name, readonly=True)
    assert not r.flags.writeable
    with pytest.raises(ValueError):
        r.flags.writeable = True
    with pytest.raises(ValueError):
        r[0, 0] = 1
    v = r[1:, ::2]
    with pytest.raises(ValueError):
        v.flags.writeable = True
    back = pickle.loads(pickle.dumps(v))
    assert not back.flags.writeable
    with pytest.raises(ValueError):
        back.flags.writeable = True
    a[2, 2] = 9
    assert back[1, 1] == 9  # the same memory


def _write_through_a_forced_readonly_array(name):
    r = shnd.attach(name, readonly=True)
    try:
        np.ndarray(r.shape, r.dtype, buffer=r)[0] = 1  # a new array on its buffer
    except (ValueError, TypeError, BufferError):
        pass
    else:
        raise AssertionError("a read-only array's buffer gave a writeable array")


def test_no_writeable_array_comes_from_a_readonly_one(names):
    name, _ = new(names, "ro2", 4, "i4")
    _proc.in_child(_write_through_a_forced_readonly_array, name, timeout=60)


# -- lifetime ----------------------------------------------------------------------------

def test_a_view_keeps_the_block_attached_after_delete(names):
    name, a = new(names, "view", (100,), "i8", fill=5, track=False)
    shmid = shmid_of(a)
    v = a.reshape(10, 10)[::3, 1:].T
    del a
    shnd.delete(name)
    gc.collect()
    assert exists(shmid)  # removed, still attached by the view
    assert int(v.sum()) == 5 * v.size
    with pytest.raises(FileNotFoundError):
        shnd.attach(name)
    del v
    gc.collect()
    assert not exists(shmid)


def test_a_tracked_block_stays_attached_after_its_arrays_go(names):
    name, a = new(names, "keep", 10, "i8", fill=3)
    shmid = shmid_of(a)
    del a
    gc.collect()
    st = [s for s in sysvshm.segments() if s.shmid == shmid][0]
    assert st.nattch == 1  # this process's keep-alive attach, until delete()
    assert int(shnd.attach(name)[0]) == 3
    shnd.delete(name)
    gc.collect()
    assert not exists(shmid)


def _create_then_wait(name, track, conn):
    a = shnd.create(name, 8, "i8", fill=7, track=track)
    conn.send(a.nbytes)
    threading.Event().wait()


@pytest.mark.parametrize("track", [True, False])
def test_sigkill_of_the_only_user(track, names):
    name = unique_name("kill")
    names.append(name)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_create_then_wait, args=(name, track, child))
    p.start()
    assert parent.recv() == 64
    os.kill(p.pid, signal.SIGKILL)
    p.join(TIMEOUT)
    assert p.exitcode == -signal.SIGKILL
    if track:
        with pytest.raises(FileNotFoundError):  # abandoned: removed by this lookup
            shnd.attach(name)
        assert not _blocks.exists_by_metadata(name)
    else:
        assert shnd.attach(name).tolist() == [7] * 8  # until delete()


# -- pickling ----------------------------------------------------------------------------

def test_pickles_carry_the_name_not_the_data(names):
    name, a = new(names, "pickle", (512, 512), "f8")
    assert len(pickle.dumps(a)) < 1000
    assert len(pickle.dumps(a[::-2, 7:])) < 1000
    by_value = pickle.dumps(np.asarray(a))
    assert len(by_value) > a.nbytes
    plain = pickle.loads(by_value)
    assert type(plain) is np.ndarray
    a[3, 4] = 1.5
    assert plain[3, 4] == 0  # a copy


def test_arithmetic_gives_plain_arrays_that_pickle_by_value(names):
    _, a = new(names, "arith", 1000, "f8", fill=1)
    b = a * 2
    assert type(b) is np.ndarray and len(pickle.dumps(b)) > 8000
    c = a
    a += 1  # in place: the same object
    assert a is c and a[0] == 2
    assert type(a.sum()) is np.float64
    assert type(a[1:]) is shnd.NamedArray


def _worker_sum_and_write(arr):
    total = float(arr.sum())
    if arr.flags.writeable:
        arr[...] = -1
    return total, os.getpid(), type(arr).__name__


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_pool_worker_attaches_by_name(names, method):
    name, a = new(names, "pool", (300, 300), "f8")
    a[...] = np.arange(a.size).reshape(a.shape)
    view = a[100:200, ::3]
    want = float(view.sum())
    ctx = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        total, pid, kind = pool.submit(_worker_sum_and_write, view).result(TIMEOUT)
    assert pid != os.getpid() and kind == "NamedArray"
    assert total == want
    assert (view == -1).all()  # written by the worker, in the block
    assert a[0, 0] == 0 and a[100, 1] != -1


def test_pickles_of_a_deleted_array_fail_cleanly(names):
    name, a = new(names, "gone", 4)
    data = pickle.dumps(a[1:])
    shnd.delete(name)
    with pytest.raises(FileNotFoundError):
        pickle.loads(data)
    again = shnd.create(name, 2, "i1")  # the same name, another block, smaller
    with pytest.raises(FileNotFoundError, match="deleted since it was pickled"):
        pickle.loads(data)
    del again


def _unpickle_after_recreate(name, pickles):
    shnd.delete(name)
    again = shnd.create(name, 0, "f8", track=False)  # the name again, with no bytes
    try:
        for data in pickles:
            with pytest.raises(FileNotFoundError):
                pickle.loads(data)
        # A pickle without the segment's id: the bounds are checked all the same.
        with pytest.raises(ValueError, match="does not lie within"):
            shnd._rebuild(name, False, 0, (1000,), (8,), np.dtype("f8"))
    finally:
        del again
        shnd.delete(name)


def test_pickles_of_an_array_deleted_and_created_again_fail_cleanly(names):
    # numpy checks a view against its buffer unless the buffer is empty: an
    # unchecked view of the new, 0-byte block would reach past it (SIGBUS).
    name, a = new(names, "again", 1000, "f8", track=False)
    pickles = [pickle.dumps(a), pickle.dumps(a[:500]), pickle.dumps(a[::-1])]
    del a
    gc.collect()
    _proc.in_child(_unpickle_after_recreate, name, pickles, timeout=60)


def _poke_the_base_chain(name):
    a = shnd.attach(name)
    pin = shnd._root_of(a)
    for attempt in (lambda: pin.seg.close(), lambda: setattr(pin, "nbytes", 1 << 40),
                    lambda: pin.__array_interface__.update(shape=(1 << 40,)),
                    lambda: setattr(pin, "__array_interface__", {})):
        try:
            attempt()
        except (BufferError, AttributeError, TypeError):
            pass
    assert np.asarray(pin).shape == (a.nbytes,)
    a[...] = 1  # still mapped
    r = shnd.attach(name, readonly=True)
    rpin = shnd._root_of(r)
    assert rpin is not pin and not np.asarray(rpin).flags.writeable
    with pytest.raises(ValueError):
        np.asarray(rpin).flags.writeable = True


def test_the_base_chain_cannot_unmap_or_unprotect_the_memory(names):
    name, _ = new(names, "base", 64, "u1")
    _proc.in_child(_poke_the_base_chain, name, timeout=60)


@pytest.mark.parametrize("record", [b'{"shape":[1],"descr":[5],"order":"C"}',
                                    b'{"shape":[1],"descr":[null],"order":"C"}',
                                    b'{"shape":[-8],"descr":"<f8","order":"C"}',
                                    b'{"shape":"88","descr":"<f8","order":"C"}'])
def test_scribbled_records_are_described_without_a_traceback(names, record):
    # describe() is what `sysvshm list` and `info` show for every user's blocks.
    name, a = new(names, "descr", 8, "f8")
    seg = shnd._root_of(a).seg
    seg[shnd._RECORD:shnd._RECORD + 12] = shnd._RECORD_FIXED.pack(shnd._RECORD_MAGIC,
                                                                   len(record))
    seg[shnd._RECORD + 12:shnd._RECORD + 12 + len(record)] = record
    st = next(st for st in sysvshm.segments() if st.shmid == seg.shmid)
    assert _blocks.describe(st) == (name, None, "(overwritten)")


@pytest.mark.parametrize("record", [b'{"shape":[0,99999999999999999999999],"descr":"<f8",'
                                    b'"order":"C"}',
                                    b'{"shape":[0,4611686018427387904,4611686018427387904],'
                                    b'"descr":"<f8","order":"C"}'])
def test_records_numpy_cannot_make_are_refused(names, record):
    name, a = new(names, "toobig", 0, "f8", track=False)
    seg = shnd._root_of(a).seg
    seg[shnd._RECORD:shnd._RECORD + 12] = shnd._RECORD_FIXED.pack(shnd._RECORD_MAGIC,
                                                                   len(record))
    seg[shnd._RECORD + 12:shnd._RECORD + 12 + len(record)] = record
    shmid = seg.shmid
    del a, seg
    gc.collect()
    try:
        with pytest.raises(ValueError, match="not a readable array"):
            shnd.attach(name)
        keep = sysvshm.shmat(shmid)  # attached: list() reads it
        assert name not in [i.name for i in shnd.list()]
        keep.close()
    finally:
        sysvshm.shmctl(shmid, sysvshm.IPC_RMID)  # no longer an array: delete() refuses it


# -- list ----------------------------------------------------------------------------------

def test_list_reports_shape_dtype_size_and_users(names):
    name, a = new(names, "list", (2, 5), "u2")
    name2, _ = new(names, "list2", 3, "c8", track=False)
    found = {i.name.lstrip("/"): i for i in shnd.list()}
    info = found[name]
    assert info.shape == (2, 5) and info.dtype == np.dtype("u2") and info.nbytes == 20
    assert info.nattch >= 1 and info.tracked
    assert found[name2].tracked is False and found[name2].dtype == np.dtype("c8")
    shnd.delete(name)
    assert name not in {i.name.lstrip("/") for i in shnd.list()}


# -- scribbled headers, threads ------------------------------------------------------------

def _scribble_and_attach(name, shmid, seed):
    rnd = random.Random(seed)
    seg = sysvshm.shm(shmid=shmid)
    start = rnd.choice([shnd._RECORD, shnd._RECORD + 8, shnd._RECORD + 12,
                        shnd._RECORD + 20, 0, 8])
    n = rnd.randint(1, 16)
    seg[start:start + n] = bytes(rnd.getrandbits(8) for _ in range(n))
    seg.close()
    for _ in range(3):
        try:
            arr = shnd.attach(name)
        except (ValueError, FileNotFoundError):
            continue
        # Whatever the record now says, it fits the block: every byte reachable.
        assert arr.nbytes == arr.size * arr.dtype.itemsize
        bytes(np.ascontiguousarray(arr).view(np.uint8))


@pytest.mark.parametrize("seed", range(12))
def test_scribbled_headers_give_clean_errors(names, seed):
    name, a = new(names, "scribble", (6, 7), "i4", track=False)
    shmid = shmid_of(a)
    _proc.in_child(_scribble_and_attach, name, shmid, seed, timeout=60)
    del a
    gc.collect()
    try:
        shnd.delete(name)
    except (ValueError, FileNotFoundError):
        sysvshm.shmctl(shmid, sysvshm.IPC_RMID)  # its header is not a block's now


def _threads_create_attach_delete_pickle(base):
    errors = []

    def work(k):
        rnd = random.Random(k)
        for _ in range(150):
            name = f"{base}_{rnd.randrange(3)}"
            op = rnd.randrange(4)
            try:
                if op == 0:
                    shnd.create(name, (rnd.randrange(5), 3), "i2")
                elif op == 1:
                    a = shnd.attach(name, readonly=rnd.random() < 0.5)
                    pickle.loads(pickle.dumps(a[::2]))
                    a.sum()
                elif op == 2:
                    shnd.delete(name)
                else:
                    shnd.list()
            except (FileNotFoundError, FileExistsError):
                pass
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for j in range(3):
        try:
            shnd.delete(f"{base}_{j}")
        except FileNotFoundError:
            pass
    assert not errors, errors[:5]


def test_threads_creating_attaching_deleting_and_pickling(names):
    base = unique_name("threads")
    _proc.in_child(_threads_create_attach_delete_pickle, base, timeout=120)
    for j in range(3):
        assert not _blocks.exists_by_metadata(f"{base}_{j}")


def test_an_unrelated_process_attaches_by_name(names):
    name, a = new(names, "unrelated", (3, 2), "<i8", fill=[[1, 2]])
    out = _proc.run_python(f"""
        from sysvshm import ndarray
        b = ndarray.attach({name!r})
        print(b.shape, b.dtype, b.tolist())
        b[0, 0] = 99
    """)
    assert "(3, 2) int64 [[1, 2], [1, 2], [1, 2]]" in out.stdout
    assert a[0, 0] == 99


def test_the_module_says_it_needs_numpy():
    result = _proc.run_python("""
        import sys
        sys.modules["numpy"] = None
        import sysvshm, sysvshm.shared_memory, sysvshm.sync
        try:
            import sysvshm.ndarray
        except ImportError as exc:
            print("ImportError:", exc)
    """)
    assert "ImportError: sysvshm.ndarray needs numpy" in result.stdout



# -- the sysvshm command ---------------------------------------------------------------------

def _cli(*args):
    import subprocess
    proc = subprocess.run([sys.executable, "-m", "sysvshm", *args], capture_output=True,
                          text=True, cwd="/", timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_command_shows_names_shapes_and_dtypes(names):
    import json
    name, a = new(names, "cli", (4, 3), "f4")
    name2, s = new(names, "clis", 2, [("x", "<f8"), ("y", "i4", (2,))])
    block = shared_memory.SharedMemory(create=True, size=10)
    try:
        rows = {line.split()[1]: line for line in _cli("list").splitlines()[1:]}
        assert f"{name} (4, 3) <f4" in rows[str(shmid_of(a))]
        assert f"{name2} (2,) [('x', '<f8'), ('y', '<i4', (2,))]"[:30] in rows[str(shmid_of(s))]
        info = _cli("info", str(shmid_of(a)))
        assert f"name: {name}\n" in info and "array: shape (4, 3), dtype <f4\n" in info
        records = {r["id"]: r for r in json.loads(_cli("list", "--json"))["sharedmemory"]}
        assert records[shmid_of(a)]["name"] == name
        assert records[shmid_of(a)]["array"] == {"shape": [4, 3], "dtype": "<f4"}
        plain, = [r for r in records.values() if r["name"] == block.name.lstrip("/")]
        assert plain["array"] is None
    finally:
        block.close()
        block.unlink()


def test_no_block_that_nobody_has_attached_is_read(names):
    # Reading it would make the command its last user (lpid): an idle block's
    # orphan status must not change because somebody looked.
    name, a = new(names, "idle", 3, track=False)
    shmid = shmid_of(a)
    del a
    gc.collect()
    st, = [s for s in sysvshm.segments() if s.shmid == shmid]
    assert st.nattch == 0
    row, = [line for line in _cli("list").splitlines() if line.split()[1] == str(shmid)]
    assert name not in row
    after, = [s for s in sysvshm.segments() if s.shmid == shmid]
    assert after.lpid == st.lpid and after.atime == st.atime
    assert name not in [i.name for i in shnd.list()]  # nor does the API
    after, = [s for s in sysvshm.segments() if s.shmid == shmid]
    assert after.lpid == st.lpid and after.atime == st.atime


def _too_big_for_the_namespace():
    _proc.unshare_ipc()  # a private IPC namespace: its limits are its own
    with open("/proc/sys/kernel/shmmax", "w") as f:
        f.write(str(1 << 20))
    with pytest.raises(OSError, match="shmmax"):
        shnd.create("too-big", (1 << 18,), "f8")  # 2 MiB
    assert not _blocks.exists_by_metadata("too-big")
    a = shnd.create("fits", (1 << 10,), "f8")
    assert a.nbytes == 8192
    shnd.delete("fits")


@pytest.mark.skipif(not _proc.can_unshare_ipc(), reason="needs a private IPC namespace")
def test_an_array_past_shmmax_names_the_limit():
    _proc.in_child(_too_big_for_the_namespace, timeout=60)


def _deleted_elsewhere_are_let_go(base):
    arrays = [shnd.create(f"{base}_{i}", 4, "i8") for i in range(20)]
    shmids = [shmid_of(a) for a in arrays]
    del arrays
    gc.collect()
    pid = os.fork()
    if pid == 0:  # another process deletes them all
        for i in range(20):
            shnd.delete(f"{base}_{i}")
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    for _ in range(3):  # each call lets go of a few
        shnd.list()
        shnd.create(f"{base}_x", 1, track=False)
        shnd.delete(f"{base}_x")
    gc.collect()
    left = {st.shmid for st in sysvshm.segments()} & set(shmids)
    assert not left, left


def test_tracked_blocks_deleted_by_another_process_are_let_go(names):
    _proc.in_child(_deleted_elsewhere_are_let_go, unique_name("swept"), timeout=60)
