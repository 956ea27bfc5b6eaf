"""Named numpy arrays in shared memory: create once, attach anywhere by name.

    >>> from sysvshm import ndarray as shnd
    >>> a = shnd.create("frames", (4, 3), "f4")     # zero-filled
    >>> b = shnd.attach("frames")                     # in any process
    >>> b.shape, b.dtype                              # no need to pass them along
    ((4, 3), dtype('float32'))
    >>> shnd.delete("frames")

An array's block is a named block of sysvshm.shared_memory (the same names,
lookup and lifetime rules) whose header also records the array's shape, dtype
and order; attach() reads them back and checks them against the block's size.
What create() and attach() return is a numpy.ndarray (the subclass NamedArray)
whose memory is the segment: zero-copy, attached for as long as the array or
any view of it lives, however it is sliced or reshaped.

Pickling such an array, or a view of it, sends its name and where in the block
it lies, not its data: a process pool worker attaches the block. For a copy by
value, pickle numpy.asarray(arr).copy() (or any array not in a block).

Needs numpy (python3 -m pip install numpy).
"""
import errno as _errno
import json as _json
import math as _math
import operator as _operator
import os as _os
import sys as _sys
from collections import namedtuple as _namedtuple
from threading import RLock as _RLock
from weakref import WeakValueDictionary as _WeakValueDictionary

try:
    import numpy as _np
except ImportError as _exc:
    raise ImportError("sysvshm.ndarray needs numpy, which is not installed: "
                      "python3 -m pip install numpy") from _exc

from sysvshm import _blocks
from sysvshm._buffer import _Pin

__all__ = ["NamedArray", "ArrayInfo", "create", "attach", "delete", "list"]

_list = list  # list() below is this module's

# The array record, in the block's header page after the name (_blocks).
_RECORD = _blocks.RECORD
_RECORD_MAGIC = _blocks.RECORD_MAGIC
_RECORD_FIXED = _blocks.RECORD_FIXED
_RECORD_MAX = _blocks.RECORD_MAX


ArrayInfo = _namedtuple("ArrayInfo", "name shape dtype nbytes nattch tracked")
ArrayInfo.__doc__ = """What list() reports of one array: its name, shape, dtype, size
in bytes, how many attaches the kernel counts (processes, and this one's own
views), and whether it is tracked."""


class NamedArray(_np.ndarray):
    """A numpy.ndarray whose memory is a named shared block (see the module).

    Made by create() and attach(), never directly. Views keep the class;
    results of arithmetic are plain ndarrays (their memory is not the block)."""

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # A ufunc's fresh result is a plain ndarray; an out= array is returned
        # as it is (a += 1 keeps a).
        if return_scalar:
            return arr[()]
        if _root_of(arr) is None:  # a new result, not in the block
            # (numpy 1.x makes results of the subclass, and leaves 0-d ones arrays)
            return arr[()] if arr.ndim == 0 else arr.view(_np.ndarray)
        return arr

    def __reduce_ex__(self, protocol):
        root = _root_of(self)
        if root is None:
            return _np.asarray(self).__reduce_ex__(protocol)  # by value
        offset = self.__array_interface__["data"][0] - root.address
        return (_rebuild, (root.name, root.readonly, offset, self.shape, self.strides,
                           self.dtype, root.seg.shmid))

    def __reduce__(self):
        return self.__reduce_ex__(2)


def _Root(name, ident, seg, nbytes, readonly, layout):
    """The base every array of a block ends at (sysvshm._buffer._Pin): it holds
    the segment's buffer export in C, where nothing can release it, and the
    facts pickling needs."""
    return _Pin(seg, _blocks.HEADER, nbytes, readonly, name, ident, layout)


def _root_of(arr):
    base = arr
    while isinstance(base, _np.ndarray):
        base = base.base
    return base if isinstance(base, _Pin) else None


# -- the record -----------------------------------------------------------------------

def _dtype_of(dtype):
    dt = _np.dtype(dtype)
    if dt.hasobject:
        raise TypeError(f"dtype {dt} holds Python objects, which cannot be shared "
                        "between processes")
    if dt.itemsize == 0:
        raise TypeError(f"dtype {dt} has no size: give one (as in 'S10' or 'U4')")
    return dt


def _shape_of(shape):
    try:
        dims = (_operator.index(shape),)
    except TypeError:
        dims = tuple(_operator.index(d) for d in shape)
    for d in dims:
        if d < 0:
            raise ValueError("negative dimensions are not allowed")
    if len(dims) > 64:
        raise ValueError(f"maximum supported dimension for an ndarray is 64, found "
                         f"{len(dims)}")
    return dims


_descrs = {}  # dtype -> its description as JSON, checked to give the dtype back


def _too_big(shape, itemsize):
    # What numpy refuses to make, whatever the size: the product of the
    # non-zero dimensions (and the item size) past the largest Py_ssize_t.
    return _math.prod(d for d in shape if d) * itemsize > _sys.maxsize


def _record(shape, dtype, order):
    descr = _descrs.get(dtype)
    if descr is None:
        described = _np.lib.format.dtype_to_descr(dtype)
        descr = _json.dumps(described, separators=(",", ":"))
        if _np.lib.format.descr_to_dtype(_tuples(_json.loads(descr))) != dtype:
            raise TypeError(f"dtype {dtype} cannot be recorded in a block's header (its "
                            "description does not give it back)")
        if len(_descrs) >= 256:
            _descrs.clear()
        _descrs[dtype] = descr
    text = ('{"shape":[' + ",".join(map(str, shape)) + '],"descr":' + descr
            + ',"order":"' + order + '"}').encode()
    if len(text) > _RECORD_MAX:
        raise ValueError(f"the dtype's description takes {len(text)} bytes; a block's "
                         f"header holds {_RECORD_MAX}")
    return _RECORD_FIXED.pack(_RECORD_MAGIC, len(text)) + text


def _tuples(descr):
    # JSON made the descr's tuples lists: numpy wants its fields as tuples,
    # (name or (title, name), format or a nested descr[, shape]).
    if not isinstance(descr, _list):
        return descr
    fields = []
    for field in descr:
        name = tuple(field[0]) if isinstance(field[0], _list) else field[0]
        parts = [name, _tuples(field[1])]
        if len(field) > 2:
            parts.append(tuple(field[2]))
        fields.append(tuple(parts))
    return fields


_parsed = {}  # the record's bytes -> (shape, dtype, order): attaching again parses nothing


def _parse_record(raw, size, name):
    text = _blocks.raw_record(raw)
    layout = _parsed.get(text) if text is not None else None
    if layout is None:
        layout = _parse_record_text(raw, size, name)
        if len(_parsed) >= 256:
            _parsed.clear()
        _parsed[text] = layout
    shape, dtype, _ = layout
    if _math.prod(shape) * dtype.itemsize != size:
        raise ValueError(f"the block {name!r} is not a readable array: its record says "
                         f"{shape} of {dtype}, which is not its size ({size} bytes)")
    return layout


def _parse_record_text(raw, size, name):
    """(shape, dtype, order) from a header's bytes; ValueError if they are not a
    record this module wrote for a block of *size* bytes."""
    def bad(why):
        return ValueError(f"the block {name!r} is not a readable array: {why}")
    if _RECORD_FIXED.unpack_from(raw, _RECORD)[0] != _RECORD_MAGIC:
        raise bad("it has no array record (a SharedMemory block?)")
    text = _blocks.raw_record(raw)
    if text is None:
        raise bad("its array record is overwritten")
    try:
        rec = _json.loads(text)
        shape = tuple(rec["shape"])
        order = rec["order"]
        if (not all(type(d) is int and d >= 0 for d in shape) or len(shape) > 64
                or order not in ("C", "F") or _too_big(shape, 1)):
            raise ValueError
        dtype = _dtype_of(_np.lib.format.descr_to_dtype(_tuples(rec["descr"])))
        if _too_big(shape, dtype.itemsize):
            raise ValueError
    except Exception:
        raise bad("its array record is overwritten") from None
    if _math.prod(shape) * dtype.itemsize != size:
        raise bad(f"its record says {shape} of {dtype}, which is not its size "
                  f"({size} bytes)")
    return shape, dtype, order


# -- this process's attaches -----------------------------------------------------------

class _Attaches:
    """The tracked blocks this process uses stay attached until it ends or
    delete()s them (so, as with SharedMemory, a tracked block is abandoned only
    once every process that used it is gone). Untracked blocks are attached as
    long as an array lives."""

    def __init__(self):
        self.lock = _RLock()
        self.roots = {}  # (shmid, readonly) -> _Root: the tracked blocks' attaches
        self.live = _WeakValueDictionary()  # (shmid, readonly) -> every live _Root

    def _after_fork(self):
        self.lock = _RLock()

    def get(self, shmid, readonly):
        with self.lock:
            return self.live.get((shmid, readonly))

    def keep(self, root, tracked):
        """The root to use for this attach: one already live for the segment, or
        *root*, registered (and kept for good if *tracked*)."""
        key = (root.seg.shmid, root.readonly)
        with self.lock:
            live = self.live.get(key)
            if live is not None and not _blocks.unlinked(live.seg):
                root = live
            else:
                self.live[key] = root
            if tracked:
                self.roots[key] = root
            return root

    def drop(self, shmid):
        with self.lock:
            for ro in (False, True):
                self.roots.pop((shmid, ro), None)
                self.live.pop((shmid, ro), None)

    def sweep(self):
        # Forget (a few per call) blocks another process deleted: their memory
        # goes once this process's arrays of them do.
        with self.lock:
            for key in _list(self.roots)[:8]:
                root = self.roots.pop(key)
                if not _blocks.unlinked(root.seg):
                    self.roots[key] = root  # to the end: the next sweep looks at others


_attaches = _Attaches()
_os.register_at_fork(after_in_child=_attaches._after_fork)


def _array(root):
    shape, dtype, order = root.layout
    return _np.ndarray.__new__(NamedArray, shape, dtype, buffer=_np.asarray(root),
                               order=order)


def _live_root(name, ident, readonly):
    """This process's live attach of the block *name*, found from the kernel's
    metadata (two system calls) with nothing attached; or None."""
    st = _blocks.live_stat(name, ident)
    if st is None:
        return None
    root = _attaches.get(st.shmid, readonly)
    if root is None or root.ident != ident or _blocks.unlinked(root.seg):
        return None
    return root


# -- the API -----------------------------------------------------------------------------

def create(name, shape, dtype=float, *, order="C", fill=None, mode=0o600, track=True):
    """Create the array *name* of *shape* and *dtype* in a new shared block, and
    return it. It is zero-filled, or filled with *fill* (anything numpy
    broadcasts to the shape) before any other process can attach it.

    *mode* is the block's permission bits (the owner needs 0o600); *track* as
    in SharedMemory: True, the block goes once every process that used it has
    ended; False, it stays until delete(). FileExistsError if the name is taken."""
    dims = _shape_of(shape)
    dt = _dtype_of(dtype)
    if dt.subdtype is not None:  # as numpy does: ("f4", (2, 2)) adds dimensions
        dt, more = dt.subdtype
        dims += more
    if order not in ("C", "F"):
        raise ValueError("order must be 'C' or 'F'")
    mode = _operator.index(mode)
    if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600:
        raise ValueError(f"mode must give the owner read and write (0o600) and have no "
                         f"bits beyond 0o777, not {mode:#o}")
    nbytes = _math.prod(dims) * dt.itemsize
    if _too_big(dims, dt.itemsize):
        raise ValueError("array is too big; `arr.size * arr.dtype.itemsize` is larger "
                         "than the maximum possible size.")
    filler = None
    if fill is not None:
        filler = _np.broadcast_to(_np.asarray(fill, dtype=dt), dims)  # checked first
    ident = _blocks.identity(name)
    tracked = bool(track)
    record = _record(dims, dt, order)

    def setup(seg):
        seg[_RECORD:_RECORD + len(record)] = record
        if filler is not None and nbytes:
            with memoryview(seg)[_blocks.HEADER:_blocks.HEADER + nbytes] as mem:
                target = _np.ndarray(dims, dt, buffer=mem, order=order)
                try:
                    target[...] = filler
                finally:
                    del target

    _blocks.keepalive.sweep()
    _attaches.sweep()
    seg = _blocks.create(name, ident, nbytes, tracked, mode, setup)
    root = _attaches.keep(_Root(name, ident, seg, nbytes, False, (dims, dt, order)), tracked)
    return _array(root)


def attach(name, *, readonly=False):
    """The array *name*, as its creator made it (shape, dtype, order). With
    *readonly*, the block is attached read-only and the array cannot be made
    writeable. FileNotFoundError if there is no such array; ValueError if the
    block is not an array or its header was overwritten."""
    return _array(_attach_root(name, bool(readonly)))


def _attach_root(name, readonly):
    ident = _blocks.identity(name)
    _blocks.keepalive.sweep()
    _attaches.sweep()
    root = _live_root(name, ident, readonly)
    if root is not None:
        return root
    seg, size, tracked, raw = _blocks.attach(name, ident, readonly, raw=True)
    try:
        layout = _parse_record(raw, size, name)
    except BaseException:
        seg.close()
        raise
    root = _attaches.keep(_Root(name, ident, seg, size, readonly, layout), tracked)
    if root.seg is not seg:
        seg.close()  # this process has it attached already
    return root


def _extent(shape, strides, itemsize):
    """(lowest, highest + 1) byte a view reaches, relative to its first element."""
    if 0 in shape:
        return 0, 0
    low = high = 0
    for n, stride in zip(shape, strides):
        if stride < 0:
            low += (n - 1) * stride
        else:
            high += (n - 1) * stride
    return low, high + itemsize


def _rebuild(name, readonly, offset, shape, strides, dtype, shmid=None):
    # Unpickling: the block by name, then the very view that was pickled. The
    # name must still be the same block (its id): one deleted and created again
    # holds other data, perhaps of another shape. The bounds are checked here
    # too: numpy does not check a view against an empty buffer.
    root = _attach_root(name, bool(readonly))
    if shmid is not None and root.seg.shmid != shmid:
        raise FileNotFoundError(_errno.ENOENT, "the array was deleted since it was pickled "
                                "(its name now names another array)", name)
    dtype = _dtype_of(dtype)
    shape = tuple(map(_operator.index, shape))
    strides = tuple(map(_operator.index, strides))
    offset = _operator.index(offset)
    low, high = _extent(shape, strides, dtype.itemsize)
    if (len(shape) != len(strides) or not 0 <= offset <= root.nbytes
            or not 0 <= offset + low <= offset + high <= root.nbytes):
        raise ValueError(f"the pickled view does not lie within the block {name!r}")
    flat = _np.asarray(root)
    return _np.ndarray.__new__(NamedArray, shape, dtype, buffer=flat, offset=offset,
                               strides=strides)


def delete(name):
    """Remove the array *name*: the name is free at once, the memory goes when
    every process's arrays of it are gone. FileNotFoundError if there is none."""
    ident = _blocks.identity(name)
    root = _live_root(name, ident, False)
    if root is not None:
        seg, borrowed = root.seg, False
    else:
        seg, size, _, raw = _blocks.attach(name, ident, raw=True)
        borrowed = True
    try:
        if borrowed:
            _parse_record(raw, size, name)  # only arrays
        _blocks.unlink(seg)
        _attaches.drop(seg.shmid)
    except PermissionError:
        raise _blocks.denied(name) from None
    finally:
        if borrowed:
            seg.close()


def list():
    """An ArrayInfo for every array this user may read, ordered by name.

    Segments are picked from the kernel's metadata alone (named blocks only),
    and each is attached read-only for the moment its header is read. That makes
    this process the block's last user (lpid), so, as the sysvshm command does,
    only arrays somebody has attached are read: an idle one (an untracked array
    whose users all ended) must not become an orphan because somebody looked.
    Attach those by name."""
    from sysvshm._inventory import segments

    found = []
    for st in segments():
        head = _blocks.read_header(st)
        if head is None:
            continue
        ident, size, flags, raw = head
        name = ident.decode("utf-8", "replace")
        try:
            shape, dtype, _ = _parse_record(raw, size, name)
        except ValueError:
            continue  # not an array (or a scribbled one)
        found.append(ArrayInfo(name, shape, dtype, size, st.nattch,
                               bool(flags & _blocks.TRACKED)))
    return sorted(found, key=lambda info: info.name)
