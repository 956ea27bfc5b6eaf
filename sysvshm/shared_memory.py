"""A drop-in replacement for multiprocessing.shared_memory on System V segments.

``from sysvshm import shared_memory`` in place of
``from multiprocessing import shared_memory`` is all a program changes.

What differs from the stdlib, on purpose:

* No resource-tracker process and no "leaked shared_memory objects" warnings.
* ``size`` is exactly what the creator asked for, in every process.
* Segments are System V ones: not counted against a container's /dev/shm.
* Lifetime. A segment lives until ``unlink()``, as in the stdlib. With
  ``track=True`` (the default) it is also reclaimed by the kernel once every
  process that created or attached it has ended, even by SIGKILL, and never
  while one of them is still running. (The creator marks the segment for
  destruction at once with IPC_RMID; Linux destroys such a segment at its last
  detach and still lets it be attached by id, and each process keeps its attach
  until it exits or the segment is unlinked; a process that closed a block that
  another process then unlinked lets go of it at its next use of this module.)
  ``track=False`` keeps the segment until ``unlink()``, exactly as the stdlib does.
* ShareableList stores the exact byte length of every str and bytes item, so any
  value round-trips (trailing NULs, multi-byte UTF-8).

Names. A name maps to the System V key made of the first four bytes of
BLAKE2b(b"sysvshm:" + name) (leading slashes ignored, as glibc's shm_open does).
The name itself is stored in a one-page header in front of the data and checked
on every attach, so two names that share a key can never attach each other's
segment: creating the second raises FileExistsError naming the first.
"""
import errno
import hashlib
import operator
import os
import secrets
import struct
import sys
import types
from functools import partial

from sysvshm import _inventory, _shm

__all__ = ["SharedMemory", "ShareableList", "SharedMemoryManager", "install", "uninstall"]

_PAGE = _shm.PAGESIZE
_HEADER = max(_PAGE, 4096)  # data starts page-aligned, as an mmap's does
_MAGIC = b"SYSVSHM\x01"
_NO_MAGIC = bytes(len(_MAGIC))
_FIXED = struct.Struct("=8sQII")  # magic, size, flags, name length
_TRACKED = 1
_UNLINKED = 2
_MAX_NAME = _HEADER - _FIXED.size

# shmid -> attached shm kept by this process for a tracked segment it closed, so
# the segment outlives close() until this process ends or unlinks it.
_keepalive = {}
# identity -> shmid of tracked segments this process has seen (checked on use).
_known = {}


def _sweep():
    """Drop this process's keep-alive attaches of blocks unlinked elsewhere.

    Called by every SharedMemory operation, so memory of a block another process
    unlinked is returned at this process's next use of the module at the latest.
    """
    for shmid, seg in list(_keepalive.items()):
        if _unlinked(seg):
            del _keepalive[shmid]
            seg.close()


def _identity(name):
    if not isinstance(name, str):
        raise TypeError(f"name must be str, not {type(name).__name__}")
    if "\0" in name:
        raise ValueError("embedded null character")
    ident = name.lstrip("/")
    if not ident:
        raise ValueError("name must not be empty")
    encoded = ident.encode("utf-8", "surrogatepass")
    if len(encoded) > _MAX_NAME:
        raise ValueError(f"name is too long ({len(encoded)} bytes; at most {_MAX_NAME})")
    return encoded


def _key(ident):
    key = int.from_bytes(hashlib.blake2b(b"sysvshm:" + ident, digest_size=4).digest(), "big")
    return key or 1  # 0 is IPC_PRIVATE


def _read_header(seg):
    magic, size, flags, length = _FIXED.unpack_from(seg, 0)
    if magic != _MAGIC or length > _MAX_NAME:
        return None
    return bytes(seg[_FIXED.size:_FIXED.size + length]), size, flags


def _set_flag(seg, flag):
    magic, size, flags, length = _FIXED.unpack_from(seg, 0)
    _FIXED.pack_into(seg, 0, magic, size, flags | flag, length)


# The stdlib's errors name the shm_open path it built, "/" + name; so do these,
# so that messages (and OSError.filename) match it exactly.
def _not_found(name):
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), "/" + name)


def _exists(name):
    return FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), "/" + name)


def _try_attach(shmid, ident, readonly=False):
    """Attach *shmid* if it is the live segment named *ident*, else None."""
    try:
        seg = _shm.shmat(shmid, _shm.SHM_RDONLY if readonly else 0)
    except (FileNotFoundError, PermissionError):
        return None
    try:
        header = _read_header(seg) if len(seg) >= _HEADER else None
    except Exception:
        seg.close()
        raise
    if header is None or header[0] != ident or header[2] & _UNLINKED:
        seg.close()
        return None
    return seg


def _candidates():
    """Ids of segments that may be tracked ones: marked for destruction, key gone."""
    ids = _shm._unkeyed(_HEADER)
    return ids if ids is not None else _candidates_from_inventory()


def _candidates_from_inventory():
    """_candidates() from /proc/sysvipc/shm, where the kernel's table cannot be walked."""
    me = os.geteuid()
    found = [(st.uid != me, st.shmid) for st in _inventory.segments()
             if st.key == 0 and st.removed and st.nattch > 0 and st.size >= _HEADER]
    return [shmid for _, shmid in sorted(found)]


def _find(ident, keyed=True):
    """Attach the live segment named *ident*; None if there is none.

    Tracked segments gave their key back, so they are looked for among the
    segments marked for destruction; *keyed* also tries the name's key first
    (where untracked segments, and segments being set up, are).
    """
    shmid = _known.get(ident)
    if shmid is not None:
        seg = _try_attach(shmid, ident)
        if seg is not None:
            return seg
        _known.pop(ident, None)
    if keyed:
        shmid = _shm._lookup(_key(ident))
        if shmid != -1:
            seg = _try_attach(shmid, ident)
            if seg is not None:
                return seg
    for shmid in _candidates():
        seg = _try_attach(shmid, ident)
        if seg is not None:
            _known[ident] = shmid
            return seg
    return None


def _create(name, ident, size, track, fresh=False):
    """Create and set up the block. *fresh* names carry 60 random bits, so no
    existing block holds one and the search for a tracked namesake is skipped."""
    key = _key(ident)
    while True:
        try:
            # The key doubles as a lock on the name while the segment is set up.
            seg = _shm.shm(key, _HEADER + size, _shm.IPC_CREAT | _shm.IPC_EXCL, 0o600)
            break
        except FileExistsError:
            holder_id = _shm._lookup(key)
        if holder_id == -1:
            continue  # the key was freed meanwhile: try again
        holder = _try_attach(holder_id, ident, readonly=True)
        if holder is not None:
            holder.close()
            raise _exists(name)
        raise FileExistsError(
            errno.EEXIST, f"{os.strerror(errno.EEXIST)}: the System V key {key:#010x} of "
            f"this name is in use by another segment", "/" + name)
    try:
        if track and not fresh:
            other = _find(ident, keyed=False)
            if other is not None:
                other.close()
                raise _exists(name)
        header = _FIXED.pack(_NO_MAGIC, size, _TRACKED if track else 0, len(ident)) + ident
        seg[:len(header)] = header
        seg[:8] = _MAGIC  # published last: a header with the magic is complete
        if track:
            seg.remove()  # the kernel destroys it after the last process detaches
            _known[ident] = seg.shmid
    except BaseException:
        seg.remove()
        seg.close()
        raise
    return seg


class SharedMemory:
    """SharedMemory(name=None, create=False, size=0, *, track=True)

    A shared memory block on a System V segment, with the interface of
    multiprocessing.shared_memory.SharedMemory.
    """

    _seg = None
    _buf = None
    _shmid = -1
    _tracked = True

    def __init__(self, name=None, create=False, size=0, *, track=True):
        if not size >= 0:
            raise ValueError("'size' must be a positive integer")
        if create and size == 0:
            raise ValueError("'size' must be a positive number different from zero")
        if name is None and not create:
            raise ValueError("'name' can only be None if create=True")
        _sweep()
        if create:
            if name is None:
                while True:
                    # 60 random bits in the stdlib's 14 characters
                    name = f"psm_{secrets.token_urlsafe(8)[:10]}"
                    try:
                        seg = _create(name, name.encode(), size, track, fresh=True)
                        break
                    except FileExistsError:  # the name's key is taken: draw again
                        continue
            else:
                seg = _create(name, _identity(name), size, track)
            size = operator.index(size)
            tracked = bool(track)
        else:
            seg = _find(_identity(name))
            if seg is None:
                raise _not_found(name)
            header = _read_header(seg)
            size = header[1]
            tracked = bool(header[2] & _TRACKED)
        self._name = name
        self._seg = seg
        self._shmid = seg.shmid
        self._size = size
        self._tracked = tracked
        view = memoryview(seg)
        self._buf = view[_HEADER:_HEADER + self._size]
        view.release()

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit the module may be half torn down
            pass

    def __reduce__(self):
        return (self.__class__, (self.name, False, self.size))

    def __repr__(self):
        return f"{self.__class__.__name__}({self.name!r}, size={self.size})"

    @property
    def buf(self):
        """A memoryview of exactly ``size`` bytes of the block."""
        return self._buf

    @property
    def name(self):
        """The name given (or generated) for the block."""
        return self._name

    @property
    def size(self):
        """The size the creator asked for, in bytes (never page-rounded)."""
        return self._size

    def close(self):
        """Release this object's access; the block lives on (see unlink())."""
        _sweep()
        if self._buf is not None:
            self._buf.release()
            self._buf = None
        seg = self._seg
        if seg is None:
            return
        # BufferError while views of buf are alive, as the stdlib's mmap.close().
        seg._check_closable()
        if self._tracked and seg.shmid not in _keepalive and not _unlinked(seg):
            # This process keeps an attach of its own until it ends or unlinks the
            # block, so a tracked block outlives close() as a stdlib one does: this
            # object's attach becomes that one.
            _keepalive[seg.shmid] = seg
        else:
            seg.close()
        self._seg = None

    def unlink(self):
        """Remove the name; the memory goes once every process has closed it."""
        _sweep()
        seg = self._seg if self._seg is not None else _keepalive.get(self._shmid)
        borrowed = seg is None
        if borrowed:
            seg = _try_attach(self._shmid, _identity(self._name)) if self._shmid >= 0 else None
            if seg is None:
                raise _not_found(self._name)
        try:
            header = _read_header(seg)
            if header is None or header[2] & _UNLINKED:
                raise _not_found(self._name)
            _set_flag(seg, _UNLINKED)
            if not self._tracked:
                seg.remove()
        finally:
            if borrowed:
                seg.close()
        _known.pop(_identity(self._name), None)
        kept = _keepalive.pop(self._shmid, None)
        if kept is not None:
            kept.close()


def _unlinked(seg):
    header = _read_header(seg)
    return header is None or bool(header[2] & _UNLINKED)


# -- ShareableList -------------------------------------------------------------------

_encoding = "utf8"


class ShareableList:
    """ShareableList(sequence=None, *, name=None)

    A fixed-length list of int, float, bool, str, bytes and None in one shared
    memory block, with the stdlib's interface and storage layout, except that
    the exact byte length of every str and bytes item is kept (its packing format
    is "<n>s" with n the encoded length), so every value round-trips.
    """

    _types_mapping = {
        int: "q",
        float: "d",
        bool: "xxxxxxx?",
        str: "%ds",
        bytes: "%ds",
        type(None): "xxxxxx?x",
    }
    _alignment = 8
    _back_transforms_mapping = {
        0: lambda value: value,
        1: lambda value: value.decode(_encoding, "surrogatepass"),
        2: lambda value: value,
        3: lambda _value: None,
    }

    @staticmethod
    def _extract_recreation_code(value):
        if isinstance(value, str):
            return 1
        if isinstance(value, bytes):
            return 2
        if value is None:
            return 3
        return 0

    @classmethod
    def _slot_size(cls, encoded):
        return cls._alignment * (len(encoded) // cls._alignment + 1)

    def __init__(self, sequence=None, *, name=None):
        if name is None or sequence is not None:
            sequence = list(sequence or ())
            values, formats, slots = [], [], []
            for item in sequence:
                if isinstance(item, (str, bytes)):
                    encoded = (item.encode(_encoding, "surrogatepass")
                               if isinstance(item, str) else item)
                    values.append(encoded)
                    formats.append(self._types_mapping[type(item)] % len(encoded))
                    slots.append(self._slot_size(encoded))
                else:
                    values.append(item)
                    formats.append(self._types_mapping[type(item)])
                    slots.append(self._alignment)
            self._list_len = len(formats)
            offsets = [0]
            for slot in slots:
                offsets.append(offsets[-1] + slot)
            self._allocated_offsets = offsets
            requested_size = (8 + 8 * (self._list_len + 1) + offsets[-1]
                              + 8 * self._list_len + self._list_len)
            self.shm = SharedMemory(name, create=True, size=requested_size)
            buf = self.shm.buf
            struct.pack_into("q" + self._format_size_metainfo, buf, 0, self._list_len, *offsets)
            for i, (fmt, value) in enumerate(zip(formats, values)):
                struct.pack_into(fmt, buf, self._offset_data_start + offsets[i], value)
            struct.pack_into(self._format_packing_metainfo, buf, self._offset_packing_formats,
                             *(f.encode(_encoding) for f in formats))
            struct.pack_into(self._format_back_transform_codes, buf,
                             self._offset_back_transform_codes,
                             *(self._extract_recreation_code(v) for v in sequence))
        else:
            self.shm = SharedMemory(name)
            self._list_len = len(self)
            self._allocated_offsets = list(
                struct.unpack_from(self._format_size_metainfo, self.shm.buf, 8))

    def _position(self, position):
        position = position if position >= 0 else position + self._list_len
        if position >= self._list_len or position < 0:
            raise IndexError("Requested position out of range.")
        return position

    def _get_packing_format(self, position):
        position = self._position(position)
        raw = struct.unpack_from("8s", self.shm.buf,
                                 self._offset_packing_formats + position * 8)[0]
        return raw.rstrip(b"\x00").decode(_encoding)

    def _get_back_transform(self, position):
        position = self._position(position)
        code = struct.unpack_from("b", self.shm.buf,
                                  self._offset_back_transform_codes + position)[0]
        return self._back_transforms_mapping[code]

    def _set_packing_format_and_transform(self, position, fmt_as_str, value):
        position = self._position(position)
        struct.pack_into("8s", self.shm.buf, self._offset_packing_formats + position * 8,
                         fmt_as_str.encode(_encoding))
        struct.pack_into("b", self.shm.buf, self._offset_back_transform_codes + position,
                         self._extract_recreation_code(value))

    def __getitem__(self, position):
        # Normalised and checked once: the stdlib normalises twice, so that
        # sl[-n - 1] quietly returns the last item instead of raising.
        position = position if position >= 0 else position + self._list_len
        if not 0 <= position < self._list_len:
            raise IndexError("index out of range")
        offset = self._offset_data_start + self._allocated_offsets[position]
        (value,) = struct.unpack_from(self._get_packing_format(position), self.shm.buf, offset)
        return self._get_back_transform(position)(value)

    def __setitem__(self, position, value):
        position = position if position >= 0 else position + self._list_len
        if not 0 <= position < self._list_len:
            raise IndexError("assignment index out of range")
        item_offset = self._allocated_offsets[position]
        offset = self._offset_data_start + item_offset
        if isinstance(value, (str, bytes)):
            encoded = value.encode(_encoding, "surrogatepass") if isinstance(value, str) else value
            allocated = self._allocated_offsets[position + 1] - item_offset
            if len(encoded) > allocated:
                raise ValueError("bytes/str item exceeds available storage")
            new_format = self._types_mapping[type(value)] % len(encoded)
        else:
            new_format = self._types_mapping[type(value)]
            encoded = value
        self._set_packing_format_and_transform(position, new_format, value)
        struct.pack_into(new_format, self.shm.buf, offset, encoded)

    def __reduce__(self):
        return partial(self.__class__, name=self.shm.name), ()

    def __len__(self):
        return struct.unpack_from("q", self.shm.buf, 0)[0]

    def __repr__(self):
        return f"{self.__class__.__name__}({list(self)}, name={self.shm.name!r})"

    @property
    def format(self):
        """The struct packing format of every stored value, concatenated."""
        return "".join(self._get_packing_format(i) for i in range(self._list_len))

    @property
    def _format_size_metainfo(self):
        return "q" * (self._list_len + 1)

    @property
    def _format_packing_metainfo(self):
        return "8s" * self._list_len

    @property
    def _format_back_transform_codes(self):
        return "b" * self._list_len

    @property
    def _offset_data_start(self):
        return (self._list_len + 2) * 8

    @property
    def _offset_packing_formats(self):
        return self._offset_data_start + self._allocated_offsets[-1]

    @property
    def _offset_back_transform_codes(self):
        return self._offset_packing_formats + self._list_len * 8

    def count(self, value):
        """How many entries equal *value*."""
        return sum(value == entry for entry in self)

    def index(self, value):
        """The position of the first entry equal to *value* (ValueError if none)."""
        for position, entry in enumerate(self):
            if value == entry:
                return position
        raise ValueError(f"{value!r} not in this container")

    __class_getitem__ = classmethod(types.GenericAlias)


# -- SharedMemoryManager -----------------------------------------------------------

from multiprocessing import managers as _managers  # noqa: E402

_StdServer = _managers.SharedMemoryServer


class _SegmentTracker:
    """The names a manager made, unlinked at its shutdown (in the server process)."""

    def __init__(self):
        self.segment_names = []

    def register_segment(self, segment_name):
        self.segment_names.append(segment_name)

    def destroy_segment(self, segment_name):
        self.segment_names.remove(segment_name)
        try:
            segment = SharedMemory(segment_name)
        except FileNotFoundError:
            return  # already unlinked by its user
        segment.close()
        segment.unlink()

    def unlink(self):
        for segment_name in self.segment_names[:]:
            self.destroy_segment(segment_name)


class SharedMemoryServer(_StdServer):
    """The manager's server process: it tracks and finally unlinks the segments."""

    def __init__(self, *args, **kwargs):
        _managers.Server.__init__(self, *args, **kwargs)
        self.shared_memory_context = _SegmentTracker()


class SharedMemoryManager(_managers.BaseManager):
    """A manager whose SharedMemory() and ShareableList() blocks are unlinked at shutdown.

    Unlike the stdlib's, it starts no resource-tracker process.
    """

    _Server = SharedMemoryServer

    def get_server(self):
        """A Server instance under this manager's control."""
        if self._state.value != _managers.State.INITIAL:
            raise _managers.ProcessError("Already started SharedMemoryServer")
        return self._Server(self._registry, self._address, self._authkey, self._serializer)

    def _track(self, name, undo):
        with self._Client(self._address, authkey=self._authkey) as conn:
            try:
                _managers.dispatch(conn, None, "track_segment", (name,))
            except BaseException:
                undo()
                raise

    def SharedMemory(self, size):
        """A new SharedMemory of *size* bytes, tracked by this manager."""
        sms = SharedMemory(None, create=True, size=size)
        self._track(sms.name, sms.unlink)
        return sms

    def ShareableList(self, sequence):
        """A new ShareableList of *sequence*, tracked by this manager."""
        sl = ShareableList(sequence)
        self._track(sl.shm.name, sl.shm.unlink)
        return sl


# -- making multiprocessing.shared_memory this module ----------------------------------

_saved = {}


def install():
    """Make ``multiprocessing.shared_memory`` (and SharedMemoryManager) this module.

    Code that imports ``multiprocessing.shared_memory`` afterwards, third-party
    libraries included, gets sysvshm's classes. It does not reach objects
    imported before the call (``from multiprocessing.shared_memory import
    SharedMemory`` done earlier keeps the stdlib class), nor processes started
    with spawn or forkserver unless they call install() too (for instance from
    sitecustomize). Returns None; uninstall() undoes it.
    """
    import multiprocessing
    import multiprocessing.managers

    if "multiprocessing.shared_memory" not in _saved:
        _saved["multiprocessing.shared_memory"] = sys.modules.get("multiprocessing.shared_memory")
        _saved["managers.SharedMemoryManager"] = getattr(
            multiprocessing.managers, "SharedMemoryManager", None)
    me = sys.modules[__name__]
    sys.modules["multiprocessing.shared_memory"] = me
    multiprocessing.shared_memory = me
    multiprocessing.managers.SharedMemoryManager = SharedMemoryManager


def uninstall():
    """Undo install()."""
    import multiprocessing
    import multiprocessing.managers

    if "multiprocessing.shared_memory" not in _saved:
        return
    original = _saved.pop("multiprocessing.shared_memory")
    manager = _saved.pop("managers.SharedMemoryManager")
    if original is None:
        sys.modules.pop("multiprocessing.shared_memory", None)
    else:
        sys.modules["multiprocessing.shared_memory"] = original
        multiprocessing.shared_memory = original
    multiprocessing.managers.SharedMemoryManager = manager
