"""The mmap-style core: one implementation of every method of mmap.mmap.

Semantics, error types and messages follow CPython's Modules/mmapmodule.c so that
code written for mmap.mmap keeps working. Two rules make it safe:

* Any step that can run Python code (``__index__``, a foreign buffer export) is
  followed by a fresh "still open?" check and bounds computed from the current
  size, so a callback that closes the object cannot make us touch unmapped memory.
* Operations that release the GIL while using the address *pin* it; ``close()``
  from another thread then detaches only after the last pin is dropped.
* Operations that replace the address (``resize()``) keep the GIL from start to
  end and refuse while a pin is held, so no thread ever sees an address in flux.
* Pins belong to the threads that took them: after ``fork()`` those threads do
  not exist in the child, so the child forgets them (a fork generation counter).
"""
cimport cython
from cpython.buffer cimport (PyBuffer_FillInfo, PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE,
                             PyBUF_WRITABLE)
from cpython.bytes cimport (PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_CheckExact,
                            PyBytes_GET_SIZE)
from cpython.exc cimport PyErr_Occurred, PyErr_Clear
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.number cimport PyIndex_Check, PyNumber_AsSsize_t
from cpython.object cimport Py_TYPE
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.slice cimport PySlice_Check, PySlice_Unpack, PySlice_AdjustIndices
from libc.string cimport memchr, memcmp, memmove
from libc.errno cimport errno, ENOMEM, EAGAIN, EPERM, EINVAL
from posix.mman cimport madvise, msync, mlock, munlock, MS_SYNC
from posix.unistd cimport sysconf, _SC_PAGESIZE

from sysvshm._args cimport (as_int, as_ssize, as_optional_ssize, as_index, as_ubyte)
from sysvshm._errors cimport (raise_oserror, raise_closed, raise_readonly, raise_noaccess,
                              raise_exported, memlock_hint)
from sysvshm.includes.compat cimport sysvshm_mincore
from sysvshm.includes.memops cimport (sysvshm_prefault_parallel, sysvshm_copy_parallel,
                                      sysvshm_stream_threshold, MADV_POPULATE_READ,
                                      MADV_POPULATE_WRITE)
from sysvshm.includes.python cimport PyLong_AsSsize_t_unchecked
from sysvshm.includes.string cimport memmem

ACCESS_DEFAULT = ACCESS_DEFAULT_
ACCESS_READ = ACCESS_READ_
ACCESS_WRITE = ACCESS_WRITE_
ACCESS_COPY = ACCESS_COPY_
_ACCESS_NAMES = ("ACCESS_DEFAULT", "ACCESS_READ", "ACCESS_WRITE", "ACCESS_COPY")

# Copies of at least this many bytes stream (see sysvshm_copy in memops.h) and
# run without the GIL, on one thread per CPU from 32 MiB; smaller ones are a
# memmove under the GIL.
cdef size_t _STREAM_THRESHOLD = sysvshm_stream_threshold()
_stream_threshold = _STREAM_THRESHOLD


def _usable_cpus(cpu_max="/sys/fs/cgroup/cpu.max"):
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota
    (a container started with --cpus=2 on a 64-CPU host gets 2)."""
    import os
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        with open(cpu_max) as f:
            quota, period = f.read().split()[:2]
        if quota != "max" and int(period) > 0:
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota to read: the affinity mask decides
    return cpus


# Threads for split copies and prefault(), read once at import.
cdef int _CPUS = _usable_cpus()

# Bumped in every child after fork(): pins taken before it were taken by threads
# the child does not have, and would otherwise keep close() deferred forever.
cdef unsigned long _fork_gen = 0


def _after_fork_in_child():
    global _fork_gen
    _fork_gen += 1


import os as _os
_os.register_at_fork(after_in_child=_after_fork_in_child)


cdef class _Default:
    # Stands for "the whole length" in signatures where the stdlib accepts an
    # int but not None (flush, madvise), so None keeps raising TypeError there.
    def __repr__(self):
        return "<position>" if self is _POS else "<length>"

cdef object _LENGTH = _Default()
cdef object _POS = _Default.__new__(_Default)


# The page-level operations (flush, madvise, mlock/munlock, prefault, mincore):
# their arguments, policy and system calls; the methods below delegate to them.
include "_buffer_pages.pxi"


@cython.auto_pickle(False)
cdef class MappedBuffer:
    """Base of sysvshm.shm and sysvshm.mmap.mmap; not instantiated directly."""

    def __dealloc__(self):
        cdef char *addr = self._data if self._data != NULL else self._pending
        cdef Py_ssize_t size = self._size if self._data != NULL else self._pending_size
        self._data = NULL
        self._pending = NULL
        if addr != NULL and self._release != NULL:
            self._release(addr, size)

    cdef int _set_memory(self, char *data, Py_ssize_t size, int access,
                         release_func release) except -1:
        self._data = data
        self._size = size
        self._pos = 0
        self._access = access
        self._readonly = access == ACCESS_READ_
        self._noaccess = False  # a subclass mapping without PROT_READ sets it
        self._release = release
        return 0

    cdef int _check_valid(self) except -1:
        if self._data == NULL:
            raise_closed()
        return 0

    cdef int _check_writable(self) except -1:
        # Every method that writes the contents passes here (after _check_valid):
        # read-only first, as the stdlib checks it, then "not readable".
        if self._readonly:
            raise_readonly()
        if self._noaccess:
            raise_noaccess()
        return 0

    cdef int _check_readable(self) except -1:
        # _check_valid for every method that reads the contents (or exports them):
        # a map without PROT_READ is refused before anything touches it.
        if self._data == NULL:
            raise_closed()
        if self._noaccess:
            raise_noaccess()
        return 0

    cdef int _unmap(self) except -1:
        cdef char *addr = self._data
        cdef Py_ssize_t size = self._size
        if addr == NULL:
            # Closed already; in a fork child, a release deferred for pins of
            # threads that did not survive the fork happens now (see _pinned).
            self._pinned()
            return 0
        # Clear the field before the GIL goes: from here on every other thread
        # sees a closed object.
        self._data = NULL
        if self._pinned():
            self._pending = addr
            self._pending_size = size
            return 0
        with nogil:
            self._release(addr, size)
        return 0

    cdef bint _pinned(self) noexcept:
        """Whether a GIL-free operation of this process is using the address."""
        cdef char *addr
        if self._pins and self._pin_gen != _fork_gen:
            # Pins of threads that did not survive fork(): this child forgets
            # them, and releases what a close() deferred on their account.
            self._pins = 0
            if self._pending != NULL:
                addr = self._pending
                self._pending = NULL
                self._release(addr, self._pending_size)
        return self._pins > 0

    cdef char *_pin(self) except NULL:
        if self._data == NULL:
            raise_closed()
        self._pinned()
        self._pins += 1
        self._pin_gen = _fork_gen
        return self._data

    cdef void _unpin(self) noexcept:
        cdef char *addr
        if self._pin_gen != _fork_gen:
            return  # already forgotten by _pinned (cannot happen: no thread forks while pinned)
        self._pins -= 1
        if self._pins == 0 and self._pending != NULL:
            addr = self._pending
            self._pending = NULL
            with nogil:
                self._release(addr, self._pending_size)

    cdef int _copy(self, char *dst, const char *src, Py_ssize_t n) except -1:
        """memmove between this open mapping and another buffer (one of dst, src
        lies in the mapping, bounds checked): from _STREAM_THRESHOLD bytes it streams
        without the GIL, with the mapping pinned so that a close() waits."""
        if self._noaccess:  # callers check first; this is the last line of defence
            raise_noaccess()
        if <size_t>n < _STREAM_THRESHOLD:
            memmove(dst, src, n)
            return 0
        self._pin()
        try:
            with nogil:
                sysvshm_copy_parallel(dst, src, n, _STREAM_THRESHOLD, _CPUS)
        finally:
            self._unpin()
        return 0

    cdef int _populate(self, bint write) except -1:
        return _populate_pages(self, write)

    cdef str _repr_name(self):
        return type(self).__name__

    cdef str _repr_tail(self):
        return ""

    # -- lifecycle ---------------------------------------------------------

    def close(self):
        """Release the memory. Idempotent; BufferError while buffers are exported."""
        self._check_exports()
        self._unmap()

    cdef int _check_exports(self) except -1:
        # The one export check of close(). A cdef method, so that no subclass can
        # replace it: a Python override of a cpdef one would let close() unmap
        # the memory under live buffers.
        if self._exports > 0:
            raise_exported()
        return 0

    def _check_closable(self):
        """Raise what close() raises while buffers are exported; else nothing.

        The same check for Python callers: sysvshm.shared_memory refuses a close()
        with it before it hands the attach to its keep-alive list."""
        self._check_exports()

    @property
    def closed(self):
        """True once close() has been called."""
        return self._data == NULL

    def __enter__(self):
        self._check_valid()
        return self

    def __exit__(self, *args):
        self.close()

    def __repr__(self):
        name = self._repr_name()
        if self._data == NULL:
            return f"<{name} closed=True>"
        return (f"<{name} closed=False, access={_ACCESS_NAMES[self._access]}, "
                f"length={self._size}, pos={self._pos}{self._repr_tail()}>")

    # -- buffer protocol ---------------------------------------------------

    def __getbuffer__(self, Py_buffer *view, int flags):
        self._check_readable()
        PyBuffer_FillInfo(view, self, self._data, self._size, self._readonly, flags)
        self._exports += 1

    def __releasebuffer__(self, Py_buffer *view):
        self._exports -= 1

    # -- sequence ----------------------------------------------------------

    def __len__(self):
        self._check_valid()
        return self._size

    def __getitem__(self, item):
        cdef Py_ssize_t i
        if PyLong_CheckExact(item) and self._data != NULL and not self._noaccess:
            # Fast path: an exact int runs no Python code, so nothing can close
            # the object between the check above and the read below.
            i = PyLong_AsSsize_t_unchecked(item)
            if i == -1 and PyErr_Occurred() != NULL:
                PyErr_Clear()  # too big: the full path below says so
            else:
                if i < 0:
                    i += self._size
                if 0 <= i < self._size:
                    return <unsigned char>self._data[i]
        self._check_readable()
        if PySlice_Check(item):
            return self._get_slice(item)
        if PyIndex_Check(item):
            i = self._check_index(as_index(item))  # __index__ may have closed us
            return <unsigned char>self._data[i]
        raise TypeError("mmap indices must be integers")

    cdef bytes _get_slice(self, slice item):
        cdef Py_ssize_t start, stop, step, n, k
        cdef bytes result
        cdef char *out
        PySlice_Unpack(item, &start, &stop, &step)
        if self._data == NULL:  # a slice bound's __index__ may have closed us
            raise_closed()
        n = PySlice_AdjustIndices(self._size, &start, &stop, step)
        if n <= 0:
            return b""
        if step == 1 and <size_t>n < _STREAM_THRESHOLD:
            return PyBytes_FromStringAndSize(self._data + start, n)
        result = PyBytes_FromStringAndSize(NULL, n)
        out = PyBytes_AS_STRING(result)
        if step == 1:
            self._copy(out, self._data + start, n)
        else:
            for k in range(n):
                out[k] = self._data[start + k * step]
        return result

    def __setitem__(self, item, value):
        cdef Py_ssize_t i, v, start, stop, step, n
        if (PyLong_CheckExact(item) and PyLong_CheckExact(value) and self._data != NULL
                and not self._readonly and not self._noaccess):
            # Fast path, as in __getitem__; anything unusual takes the full path.
            i = PyLong_AsSsize_t_unchecked(item)
            v = PyLong_AsSsize_t_unchecked(value)
            if PyErr_Occurred() != NULL:
                PyErr_Clear()  # too big: the full path below says so
            else:
                if i < 0:
                    i += self._size
                if 0 <= i < self._size and 0 <= v <= 255:
                    self._data[i] = <char>v
                    return
        elif (PySlice_Check(item) and PyBytes_CheckExact(value) and self._data != NULL
                and not self._readonly and not self._noaccess):
            # Fast path for bytes into a slice: bytes run no Python code to export.
            PySlice_Unpack(item, &start, &stop, &step)
            if self._data == NULL:  # a slice bound's __index__ may have closed us
                raise_closed()
            n = PySlice_AdjustIndices(self._size, &start, &stop, step)
            if step == 1 and PyBytes_GET_SIZE(value) == n:
                self._copy(self._data + start, PyBytes_AS_STRING(value), n)
                return
        self._check_valid()
        self._check_writable()
        if PyIndex_Check(item):
            self._set_index(item, value)
        elif PySlice_Check(item):
            self._set_slice(item, value)
        else:
            raise TypeError("mmap indices must be integer")

    cdef int _set_index(self, item, value) except -1:
        cdef Py_ssize_t i = as_index(item)
        cdef Py_ssize_t v
        # The stdlib's order: the index is checked before the value is looked
        # at, so a bad index wins over a bad value.
        self._check_index(i)
        if not PyIndex_Check(value):
            raise TypeError("mmap item value must be an int")
        v = PyNumber_AsSsize_t(value, TypeError)
        # __index__ of item or value may have closed or resized us.
        i = self._check_index(i)
        if v < 0 or v > 255:
            raise ValueError("mmap item value must be in range(0, 256)")
        self._data[i] = <char>v
        return 0

    cdef int _set_slice(self, slice item, value) except -1:
        cdef Py_ssize_t start, stop, step, n, k
        cdef Py_buffer buf
        cdef const char *src
        PySlice_Unpack(item, &start, &stop, &step)
        PyObject_GetBuffer(value, &buf, PyBUF_SIMPLE)
        try:
            self._check_valid()  # the exporter or an __index__ may have closed us
            n = PySlice_AdjustIndices(self._size, &start, &stop, step)
            if buf.len != n:
                raise IndexError("mmap slice assignment is wrong size")
            if n == 0:
                return 0  # an empty buffer's pointer may be NULL: not for memmove
            src = <const char *>buf.buf
            if step == 1:
                self._copy(self._data + start, src, n)
            else:
                for k in range(n):
                    self._data[start + k * step] = src[k]
        finally:
            PyBuffer_Release(&buf)
        return 0

    cdef Py_ssize_t _check_index(self, Py_ssize_t i) except -1:
        self._check_valid()
        if i < 0:
            i += self._size
        if i < 0 or i >= self._size:
            raise IndexError("mmap index out of range")
        return i

    def __delitem__(self, item):
        self._check_valid()
        if self._readonly:  # only that: nothing is touched, as with the stdlib
            raise_readonly()
        if PyIndex_Check(item):
            self._check_index(as_index(item))
            raise TypeError("mmap doesn't support item deletion")
        if PySlice_Check(item):
            raise TypeError("mmap object doesn't support slice deletion")
        raise TypeError("mmap indices must be integer")

    def __iter__(self):
        # mmap iterates through its sequence slot, which yields 1-byte bytes.
        cdef Py_ssize_t i = 0
        while True:
            self._check_readable()
            if i >= self._size:
                return
            yield PyBytes_FromStringAndSize(self._data + i, 1)
            i += 1

    # -- file-like ---------------------------------------------------------

    def read(self, n=None, /):
        """Return up to *n* bytes from the current position (all if None or negative)."""
        cdef Py_ssize_t num, remaining, start
        self._check_readable()
        num = as_optional_ssize(n, -1)
        self._check_valid()
        remaining = self._size - self._pos if self._pos < self._size else 0
        if num < 0 or num > remaining:
            num = remaining
        start = self._pos
        result = PyBytes_FromStringAndSize(NULL, num)
        # The position moves before a large copy lets the GIL go, so that reads
        # from several threads get consecutive, disjoint ranges, as with the stdlib.
        self._pos += num
        if num > 0:
            self._copy(PyBytes_AS_STRING(result), self._data + start, num)
        return result

    def readinto(self, b, /):
        """Copy up to len(b) bytes from the current position into the writable
        bytes-like object *b*; advance the position and return the count."""
        cdef Py_buffer buf
        cdef Py_ssize_t num, remaining, start
        self._check_readable()
        try:
            PyObject_GetBuffer(b, &buf, PyBUF_WRITABLE)
        except (TypeError, BufferError, ValueError):  # as io's readinto: one TypeError
            raise TypeError("readinto() argument must be read-write bytes-like object, "
                            f"not {_type_name(b)}") from None
        try:
            self._check_valid()  # the exporter may have run Python code
            remaining = self._size - self._pos if self._pos < self._size else 0
            num = buf.len if buf.len < remaining else remaining
            start = self._pos
            self._pos += num  # before the copy, as in read()
            if num > 0:
                self._copy(<char *>buf.buf, self._data + start, num)
        finally:
            PyBuffer_Release(&buf)
        return num

    def read_byte(self):
        """Return the byte at the current position as an int and advance by one."""
        self._check_readable()
        if self._pos >= self._size:
            raise ValueError("read byte out of range")
        self._pos += 1
        return <unsigned char>self._data[self._pos - 1]

    def readline(self):
        """Return one line, up to and including b'\\n', from the current position."""
        cdef Py_ssize_t remaining, n
        cdef char *start
        cdef char *eol
        self._check_readable()
        remaining = self._size - self._pos if self._pos < self._size else 0
        start = self._data + self._pos
        eol = <char *>memchr(start, b'\n', remaining)
        n = (eol - start + 1) if eol != NULL else remaining
        result = PyBytes_FromStringAndSize(start, n)
        self._pos += n
        return result

    def write(self, data, /):
        """Write a bytes-like object at the current position; return its length."""
        cdef Py_buffer buf
        cdef Py_ssize_t n, start
        self._check_valid()
        PyObject_GetBuffer(data, &buf, PyBUF_SIMPLE)
        try:
            self._check_valid()
            self._check_writable()
            n = buf.len
            if self._pos > self._size or self._size - self._pos < n:
                raise ValueError("data out of range")
            start = self._pos
            self._pos += n  # before the copy, as in read()
            self._copy(self._data + start, <const char *>buf.buf, n)
        finally:
            PyBuffer_Release(&buf)
        return n

    def write_byte(self, byte, /):
        """Write one byte (an int in range(256)) at the current position."""
        cdef unsigned char value
        self._check_valid()
        value = as_ubyte(byte)
        self._check_valid()
        self._check_writable()
        if self._pos >= self._size:
            raise ValueError("write byte out of range")
        self._data[self._pos] = <char>value
        self._pos += 1

    def seek(self, pos, whence=0, /):
        """Set the position (whence 0: absolute, 1: relative, 2: from the end); return it."""
        cdef Py_ssize_t where, dist
        cdef int how
        self._check_valid()
        dist = as_ssize(pos)
        how = as_int(whence)
        self._check_valid()
        if how == 0:
            where = dist
        elif how == 1:
            if dist > 0 and PY_SSIZE_T_MAX - self._pos < dist:
                raise ValueError("seek out of range")
            where = self._pos + dist
        elif how == 2:
            if dist > 0 and PY_SSIZE_T_MAX - self._size < dist:
                raise ValueError("seek out of range")
            where = self._size + dist
        else:
            raise ValueError("unknown seek type")
        if where < 0 or where > self._size:
            raise ValueError("seek out of range")
        self._pos = where
        return where

    def seekable(self):
        """Always True."""
        return True

    def tell(self):
        """Return the current position."""
        self._check_valid()
        return self._pos

    def size(self):
        """Return the length of the memory."""
        self._check_valid()
        return self._size

    def find(self, sub, start=_POS, end=_LENGTH, /):
        """Lowest index of *sub* in [start, end) (start defaults to the position), or -1."""
        return self._find(sub, start, end, False)

    def rfind(self, sub, start=_POS, end=_LENGTH, /):
        """Highest index of *sub* in [start, end) (start defaults to the position), or -1."""
        return self._find(sub, start, end, True)

    cdef Py_ssize_t _find(self, sub, start, end, bint reverse) except -2:
        cdef Py_buffer buf
        cdef Py_ssize_t s, e, n, p
        cdef const char *hit
        self._check_readable()
        PyObject_GetBuffer(sub, &buf, PyBUF_SIMPLE)
        try:
            s = self._pos if start is _POS else <Py_ssize_t>start
            e = self._size if end is _LENGTH else <Py_ssize_t>end
            self._check_valid()
            s = _clamp(s, self._size)
            e = _clamp(e, self._size)
            n = buf.len
            if e - s < n:
                return -1
            if not reverse:
                hit = <const char *>memmem(self._data + s, e - s, buf.buf, n)
                return hit - self._data if hit != NULL else -1
            p = e - n
            while p >= s:
                if memcmp(self._data + p, buf.buf, n) == 0:
                    return p
                p -= 1
            return -1
        finally:
            PyBuffer_Release(&buf)

    def move(self, dest, src, count, /):
        """Copy *count* bytes from offset *src* to offset *dest* (regions may overlap)."""
        cdef Py_ssize_t to, frm, n
        self._check_valid()
        to, frm, n = as_ssize(dest), as_ssize(src), as_ssize(count)
        self._check_valid()
        self._check_writable()
        if (to < 0 or frm < 0 or n < 0
                or self._size - to < n or self._size - frm < n):
            raise ValueError("source, destination, or count out of range")
        memmove(self._data + to, self._data + frm, n)

    # -- pages (implemented in _buffer_pages.pxi) ----------------------------

    def flush(self, offset=0, size=_LENGTH, /):
        """msync() a range to its backing store (a no-op for read-only memory)."""
        _flush(self, offset, size)

    def madvise(self, option, start=0, length=_LENGTH, /):
        """madvise(2) on a range of the memory."""
        _madvise(self, option, start, length)

    def mlock(self, start=0, length=_LENGTH, /):
        """mlock(2): keep a range (default: all) resident in RAM.

        Raises OSError naming RLIMIT_MEMLOCK when the limit does not allow it.
        """
        _lock_range(self, start, length, True)

    def munlock(self, start=0, length=_LENGTH, /):
        """munlock(2): let a range (default: all) be paged out again."""
        _lock_range(self, start, length, False)

    def prefault(self, write=False):
        """Fault every page in now, without the GIL, so first accesses do not.

        One madvise(MADV_POPULATE_READ or _WRITE) where the kernel has it (Linux
        5.14+), else a read of one byte per page; ranges of several MiB are split
        over one thread per CPU (up to 8). *write* also makes the pages writable
        (and allocates them in a new segment); not for read-only memory.
        """
        _prefault(self, bool(write))

    def mincore(self, start=0, length=_LENGTH, /):
        """mincore(2): how many pages of a range (default: all) are resident in RAM."""
        return _mincore(self, start, length)


cdef str _type_name(object obj):
    """The type's C-level name, as CPython's argument errors print it ("None" for None)."""
    if obj is None:
        return "None"
    return Py_TYPE(obj).tp_name.decode("utf-8", "replace")


cdef inline Py_ssize_t _clamp(Py_ssize_t i, Py_ssize_t size) noexcept:
    if i < 0:
        i += size
        if i < 0:
            i = 0
    elif i > size:
        i = size
    return i


@cython.final
cdef class _Pin:
    """_Pin(obj, offset, nbytes, readonly, name, ident, layout)

    The base every array of a sysvshm.ndarray block ends at. It holds a buffer
    export of the segment for as long as it lives, in C where no Python code
    can release it (so the segment cannot be closed under an array), and shows
    numpy the bytes [offset, offset + nbytes) through __array_interface__,
    built afresh from fields nothing can change: read-only if the segment's
    buffer is."""

    cdef Py_buffer _view
    cdef bint _held
    cdef size_t _address
    cdef readonly object seg
    cdef readonly Py_ssize_t nbytes
    cdef readonly bint readonly
    cdef readonly object name, ident, layout
    cdef object __weakref__

    def __cinit__(self, obj, Py_ssize_t offset, Py_ssize_t nbytes, bint readonly,
                  name, ident, layout):
        PyObject_GetBuffer(obj, &self._view, PyBUF_SIMPLE)
        self._held = True
        if offset < 0 or nbytes < 0 or offset > self._view.len - nbytes:
            raise ValueError("the bytes lie outside the buffer")
        self._address = <size_t>self._view.buf + <size_t>offset
        self.seg, self.nbytes = obj, nbytes
        self.readonly = readonly or self._view.readonly
        self.name, self.ident, self.layout = name, ident, layout

    def __dealloc__(self):
        if self._held:
            PyBuffer_Release(&self._view)

    @property
    def address(self):
        """Where the bytes start in this process."""
        return self._address

    @property
    def __array_interface__(self):
        return {"data": (self._address, bool(self.readonly)), "shape": (self.nbytes,),
                "typestr": "|u1", "version": 3}

    def __reduce__(self):
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")
