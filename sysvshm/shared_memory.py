"""A drop-in replacement for multiprocessing.shared_memory on System V segments.

``from sysvshm import shared_memory`` in place of
``from multiprocessing import shared_memory`` is all a program changes.

What differs from the stdlib, on purpose:

* No resource-tracker process and no "leaked shared_memory objects" warnings.
* ``size`` is exactly what the creator asked for, in every process.
* Segments are System V ones: not counted against a container's /dev/shm.
* Lifetime. A block lives until ``unlink()``, as in the stdlib. With
  ``track=True`` (the default) every process using it keeps it attached until
  it ends or unlinks it, so once all of them have ended, even by SIGKILL, the
  block is abandoned, and the next use of its name (or ``sysvshm rm --orphans
  --keyed``) removes it; never while one of its users is still running.
  ``track=False`` keeps the block until ``unlink()``, exactly as the stdlib does.
* ShareableList stores the exact byte length of every str and bytes item, so any
  value round-trips (trailing NULs, multi-byte UTF-8).

Names. A name maps to the System V key made of the first four bytes of
BLAKE2b(b"sysvshm:" + name) (leading slashes ignored, as glibc's shm_open does);
a lookup asks the kernel for that key and nothing else. Whether the segment found
is a sysvshm block is decided from the kernel's metadata before it is attached
(see sysvshm/_blocks.py); the name, stored in a one-page header in front of the
data, is then checked, so two names that share a key never attach each other's
block: creating the second raises FileExistsError naming the first.
"""
import os
import struct

# Short-lived workers import this module to attach one block: it imports only
# what that needs. typing, re, secrets and functools together would cost ten
# times all the rest.
from _operator import index as _index

from sysvshm import _blocks

TYPE_CHECKING = False  # typing.TYPE_CHECKING, which type checkers take as True
if TYPE_CHECKING:  # at run time, loaded on first use: see __getattr__ at the end
    from sysvshm._manager import SharedMemoryManager, install, uninstall

__all__ = ["SharedMemory", "ShareableList", "SharedMemoryManager", "install", "uninstall"]

# The stdlib's private surface, which real code and CPython's own tests touch.
# The POSIX flavour's values: like shm_open, unlink() removes the name, once.
_USE_POSIX = True
_O_CREX = os.O_CREAT | os.O_EXCL
_SHM_SAFE_NAME_LENGTH = 14
_SHM_NAME_PREFIX = "/psm_"

_HEADER = _blocks.HEADER

def _make_filename():
    """A random name for a new block: "/psm_" and 8 hex digits, as the stdlib's."""
    nbytes = (_SHM_SAFE_NAME_LENGTH - len(_SHM_NAME_PREFIX)) // 2
    return _SHM_NAME_PREFIX + os.urandom(nbytes).hex()  # secrets.token_hex


class SharedMemory:
    """SharedMemory(name=None, create=False, size=0, *, track=True)

    A shared memory block on a System V segment, with the interface of
    multiprocessing.shared_memory.SharedMemory.
    """

    _name = None
    _seg = None
    _buf = None
    _shmid = -1
    _tracked = True
    # As in the stdlib: what __init__ does when create=False (a subclass may set
    # O_CREAT to attach the block or create it), and the "/" put before names.
    _flags = os.O_RDWR
    _prepend_leading_slash = True

    def __init__(self, name=None, create=False, size=0, *, track=True):
        if not size >= 0:
            raise ValueError("'size' must be a positive integer")
        if create:
            self._flags = _O_CREX | os.O_RDWR
            if size == 0:
                raise ValueError("'size' must be a positive number different from zero")
        if name is None and not self._flags & os.O_EXCL:
            raise ValueError("'name' can only be None if create=True")
        _blocks.keepalive.sweep()
        tracked = bool(track)
        if self._flags & os.O_CREAT:
            size = int(_index(size))  # int(): 3.9 returns True for True
        if name is None:
            while True:
                name = _make_filename()
                try:
                    seg = _blocks.create(name, _blocks.identity(name), size, tracked)
                    break
                except FileExistsError:  # the name (or its key) is taken: draw again
                    continue
        else:
            if self._prepend_leading_slash:
                name = "/" + name
            ident = _blocks.identity(name)
            if self._flags & _O_CREX == _O_CREX:
                seg = _blocks.create(name, ident, size, tracked)
            elif self._flags & os.O_CREAT:
                seg, size, tracked = self._attach_or_create(name, ident, size, tracked)
            else:
                seg, size, tracked = _blocks.attach(name, ident)
        self._name = name
        self._seg = seg
        self._shmid = seg.shmid
        self._size = size
        self._tracked = tracked
        view = memoryview(seg)
        self._buf = view[_HEADER:_HEADER + size]
        view.release()

    @staticmethod
    def _attach_or_create(name, ident, size, tracked):
        # shm_open(O_CREAT) without O_EXCL: the block of that name, or a new one.
        for _ in range(100):
            try:
                return _blocks.attach(name, ident)
            except FileNotFoundError:
                if size == 0:
                    raise
            try:
                return _blocks.create(name, ident, size, tracked), size, tracked
            except FileExistsError:
                continue  # created by another process meanwhile: attach it
        raise _blocks.exists(name, ": the name's key stays taken")

    def _names_block(self, seg):
        try:
            header = _blocks.header_of(seg)
        except ValueError:  # closed by another thread meanwhile
            return False
        return header is not None and header[0] == _blocks.identity(self._name)

    def __del__(self):
        try:
            self.close()
        except BufferError:
            # A view of buf outlives this object. A tracked block must stay
            # attached while this process lives (or it would look abandoned once
            # the view goes): the attach becomes this process's keep-alive one.
            seg = self._seg
            if seg is not None and self._tracked:
                self._seg = None
                _blocks.keepalive.keep(seg)
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
        reported = self._name
        if self._prepend_leading_slash and reported.startswith("/"):
            reported = reported[1:]
        return reported

    @property
    def size(self):
        """The size the creator asked for, in bytes (never page-rounded)."""
        return self._size

    def close(self):
        """Release this object's access; the block lives on (see unlink())."""
        _blocks.keepalive.sweep()
        with _blocks.keepalive.lock:  # close() and unlink() of all blocks, one at a time
            self._close()

    def _close(self):
        if self._buf is not None:
            self._buf.release()
            self._buf = None
        seg = self._seg
        if seg is None:
            return
        # BufferError while views of buf are alive, as the stdlib's mmap.close().
        seg._check_closable()
        self._seg = None
        if self._tracked:
            # This process keeps an attach of its own until it ends or unlinks the
            # block, so a tracked block outlives close() as a stdlib one does: this
            # object's attach becomes that one.
            _blocks.keepalive.keep(seg)
        else:
            seg.close()

    def unlink(self):
        """Remove the name; the memory goes once every process has closed it."""
        _blocks.keepalive.sweep()
        with _blocks.keepalive.lock:  # close() and unlink() of all blocks, one at a time
            self._unlink()

    def _unlink(self):
        if self._name is None:
            return  # never set up: nothing to unlink, as in the stdlib
        _blocks.identity(self._name)  # a bad name raises here, as shm_unlink() would
        seg = self._seg
        if seg is None:
            seg = _blocks.keepalive.get(self._shmid)
            if seg is not None and not self._names_block(seg):
                seg = None  # the id now belongs to another block: look up by name
        first = None
        if seg is not None:
            try:
                first = _blocks.unlink(seg)
            except PermissionError:
                raise _blocks.denied(self._name) from None
            except ValueError:
                if not seg.closed:
                    raise
                # A keep-alive attach another thread let go of meanwhile: by name.
        if first is None:
            try:
                borrowed = _blocks.attach(self._name, _blocks.identity(self._name))[0]
            except (FileNotFoundError, ValueError):
                raise _blocks.not_found(self._name) from None
            try:
                first = _blocks.unlink(borrowed)
            except PermissionError:
                raise _blocks.denied(self._name) from None
            finally:
                borrowed.close()
        if not first:
            raise _blocks.not_found(self._name)
        _blocks.keepalive.drop(self._shmid)


# -- ShareableList -------------------------------------------------------------------

_encoding = "utf8"
# What __setitem__ and the constructor write as an item's format (and the stdlib's).
_MAX_SLOT = 9_999_992  # the largest multiple of 8 that "<n>s" writes in 8 bytes
_FIXED_FORMATS = ("q", "d", "xxxxxxx?", "xxxxxx?x")


def _string_slot(fmt):
    """n for an "<n>s" item format (1 to 7 ASCII digits), 0 for the other formats
    written, None for anything else (found in a block: corrupt)."""
    if fmt in _FIXED_FORMATS:
        return 0
    digits = fmt[:-1]
    if fmt.endswith("s") and 0 < len(digits) <= 7 and digits.isascii() and digits.isdigit():
        return int(digits)
    return None


class ShareableList:
    """ShareableList(sequence=None, *, name=None)

    A fixed-length list of int, float, bool, str, bytes and None in one shared
    memory block, with the stdlib's interface and storage layout (``format``
    shows each str and bytes item's capacity, "<n>s", as the stdlib's does).
    After the stdlib's layout comes one more table: the exact byte length of every
    str and bytes item, so that every value round-trips (trailing NULs included).
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
    def _slot_size(cls, item, encoded):
        # The stdlib's capacity (from len(item): characters for a str), so that
        # format is the stdlib's; more only where the encoded item would not fit.
        slot = cls._alignment * (len(item) // cls._alignment + 1)
        if len(encoded) > slot:
            slot = cls._alignment * (len(encoded) // cls._alignment + 1)
        return slot

    def __init__(self, sequence=None, *, name=None):
        if name is None or sequence is not None:
            sequence = list(sequence or ())
            values, formats, slots = [], [], []
            for item in sequence:
                if isinstance(item, (str, bytes)):
                    encoded = (item.encode(_encoding, "surrogatepass")
                               if isinstance(item, str) else item)
                    values.append(encoded)
                    slot = self._slot_size(item, encoded)
                    formats.append(self._types_mapping[type(item)] % slot)
                    slots.append(slot)
                else:
                    values.append(item)
                    formats.append(self._types_mapping[type(item)])
                    slots.append(self._alignment)
            self._list_len = len(formats)
            for value, slot in zip(values, slots):
                if slot > _MAX_SLOT:
                    # The format of each item is stored in 8 bytes: "9999992s" fits,
                    # a longer one could be written but never read back.
                    raise ValueError("a ShareableList str or bytes item may encode to at "
                                     f"most {_MAX_SLOT - 1:,} bytes, not {len(value):,}")
            offsets = [0]
            for slot in slots:
                offsets.append(offsets[-1] + slot)
            self._allocated_offsets = offsets
            requested_size = (8 + 8 * (self._list_len + 1) + offsets[-1]
                              + 8 * self._list_len + self._list_len + 8 * self._list_len)
            self.shm = SharedMemory(name, create=True, size=requested_size)
            try:
                self._fill(formats, values, sequence)
            except BaseException:
                # Nothing is left behind when a value cannot be packed (2**63, say).
                self.shm.unlink()
                self.shm.close()
                raise
        else:
            self.shm = SharedMemory(name)
            try:
                self._list_len, self._allocated_offsets = self._layout()
            except BaseException:
                self.shm.close()
                raise

    def _fill(self, formats, values, sequence):
        buf = self.shm.buf
        offsets = self._allocated_offsets
        struct.pack_into("q" + self._format_size_metainfo, buf, 0, self._list_len, *offsets)
        for i, (fmt, value) in enumerate(zip(formats, values)):
            struct.pack_into(fmt, buf, self._offset_data_start + offsets[i], value)
        struct.pack_into(self._format_packing_metainfo, buf, self._offset_packing_formats,
                         *(f.encode(_encoding) for f in formats))
        struct.pack_into(self._format_back_transform_codes, buf,
                         self._offset_back_transform_codes,
                         *(self._extract_recreation_code(v) for v in sequence))
        struct.pack_into("q" * self._list_len, buf, self._offset_lengths,
                         *(len(v) if isinstance(v, bytes) else 0 for v in values))

    def _corrupt(self, what):
        return ValueError(f"shared memory block {self.shm.name!r} does not hold a valid "
                          f"ShareableList: {what}")

    def _layout(self):
        """The length and slot offsets, read once and checked: another process may
        have written anything into the block."""
        buf = self.shm.buf
        size = len(buf)
        if size < 16:
            raise self._corrupt("too small")
        (n,) = struct.unpack_from("q", buf, 0)
        if n < 0 or 8 + 8 * (n + 1) + 17 * n > size:
            raise self._corrupt(f"length {n}")
        offsets = list(struct.unpack_from("q" * (n + 1), buf, 8))
        if offsets[0] != 0 or any(b - a < 8 or (b - a) % 8 for a, b in zip(offsets, offsets[1:])):
            raise self._corrupt("slot offsets")
        if 8 + 8 * (n + 1) + offsets[-1] + 17 * n > size:
            raise self._corrupt("slots beyond the block")
        return n, offsets

    def _position(self, position):
        position = position if position >= 0 else position + self._list_len
        if position >= self._list_len or position < 0:
            raise IndexError("Requested position out of range.")
        return position

    def _get_packing_format(self, position):
        position = self._position(position)
        raw = struct.unpack_from("8s", self.shm.buf,
                                 self._offset_packing_formats + position * 8)[0]
        fmt = raw.rstrip(b"\x00").decode("ascii", "replace")
        needed = _string_slot(fmt)
        slot = self._allocated_offsets[position + 1] - self._allocated_offsets[position]
        if needed is None or needed > slot:
            raise self._corrupt(f"item {position} has the format {fmt!r}")
        return fmt

    def _get_back_transform(self, position):
        position = self._position(position)
        code = struct.unpack_from("b", self.shm.buf,
                                  self._offset_back_transform_codes + position)[0]
        if code not in self._back_transforms_mapping:
            raise self._corrupt(f"item {position} has the type code {code}")
        return self._back_transforms_mapping[code]

    def _set_packing_format_and_transform(self, position, fmt_as_str, value):
        position = self._position(position)
        struct.pack_into("8s", self.shm.buf, self._offset_packing_formats + position * 8,
                         fmt_as_str.encode(_encoding))
        struct.pack_into("b", self.shm.buf, self._offset_back_transform_codes + position,
                         self._extract_recreation_code(value))

    def _length(self, position, capacity):
        (length,) = struct.unpack_from("q", self.shm.buf, self._offset_lengths + 8 * position)
        if not 0 <= length <= capacity:
            raise self._corrupt(f"item {position} has the length {length}")
        return length

    def __getitem__(self, position):
        # Normalised and checked once: the stdlib normalises twice, so that
        # sl[-n - 1] quietly returns the last item instead of raising.
        position = position if position >= 0 else position + self._list_len
        if not 0 <= position < self._list_len:
            raise IndexError("index out of range")
        offset = self._offset_data_start + self._allocated_offsets[position]
        fmt = self._get_packing_format(position)
        (value,) = struct.unpack_from(fmt, self.shm.buf, offset)
        transform = self._get_back_transform(position)
        if (transform in _FROM_BYTES) != fmt.endswith("s"):
            raise self._corrupt(f"item {position} has a type code that does not fit {fmt!r}")
        if transform in _FROM_BYTES:
            value = value[:self._length(position, len(value))]
        try:
            return transform(value)
        except UnicodeDecodeError:
            raise self._corrupt(f"item {position} is not UTF-8") from None

    def __setitem__(self, position, value):
        position = position if position >= 0 else position + self._list_len
        if not 0 <= position < self._list_len:
            raise IndexError("assignment index out of range")
        item_offset = self._allocated_offsets[position]
        offset = self._offset_data_start + item_offset
        length = 0
        if isinstance(value, (str, bytes)):
            encoded = value.encode(_encoding, "surrogatepass") if isinstance(value, str) else value
            allocated = self._allocated_offsets[position + 1] - item_offset
            if len(encoded) > allocated:
                raise ValueError("bytes/str item exceeds available storage")
            # The item's capacity, as the stdlib writes it; the length goes apart.
            new_format = self._types_mapping[type(value)] % allocated
            length = len(encoded)
        else:
            new_format = self._types_mapping[type(value)]
            encoded = value
        # Packed before anything is written, so a value that cannot be packed
        # (2**64, say) leaves the item as it was.
        packed = struct.pack(new_format, encoded)
        self._set_packing_format_and_transform(position, new_format, value)
        struct.pack_into("q", self.shm.buf, self._offset_lengths + 8 * position, length)
        self.shm.buf[offset:offset + len(packed)] = packed

    def __reduce__(self):
        from functools import partial

        return partial(self.__class__, name=self.shm.name), ()

    def __len__(self):
        # Fixed at creation: read once when attached, and checked then.
        return self._list_len

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

    @property
    def _offset_lengths(self):
        # sysvshm's own table, after the stdlib's layout: the exact byte length
        # of every str and bytes item (0 for the other types).
        return self._offset_back_transform_codes + self._list_len

    def count(self, value):
        """How many entries equal *value*."""
        return sum(value == entry for entry in self)

    def index(self, value):
        """The position of the first entry equal to *value* (ValueError if none)."""
        for position, entry in enumerate(self):
            if value == entry:
                return position
        raise ValueError(f"{value!r} not in this container")

    __class_getitem__ = classmethod(type(list[int]))  # types.GenericAlias


# The back transforms that take the bytes of an "<n>s" item.
_FROM_BYTES = (ShareableList._back_transforms_mapping[1], ShareableList._back_transforms_mapping[2])


# -- loaded on first use ----------------------------------------------------------------
# The manager and install() need multiprocessing.managers (and install() the
# resource tracker): importing this module does not load them, as importing the
# stdlib's shared_memory does not load its manager.

_LAZY = ("SharedMemoryManager", "SharedMemoryServer", "install", "uninstall")


def __getattr__(name):
    if name in _LAZY:
        from sysvshm import _manager

        return getattr(_manager, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
