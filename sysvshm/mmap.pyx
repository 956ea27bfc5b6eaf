"""sysvshm.mmap: a drop-in superset of the stdlib mmap module.

``import sysvshm.mmap as mmap`` is all a user changes. The class accepts the
stdlib constructor of the running Python and behaves like it, built on the same
mmap-style core as sysvshm.shm, and adds MAP_LOCKED, MAP_ANONYMOUS, MAP_POPULATE,
huge pages, mlock()/munlock(), mincore(), a strict ``lock=True`` and the classic
/dev/zero mapping where anonymous mappings are unavailable.

Man pages: mmap(2), mremap(2), mlock(2), mincore(2).
"""
cimport cython

import mmap as _std
import os as _os
import sys as _sys

from libc.errno cimport errno, EAGAIN, EBADF, EINVAL, ENOMEM, ENODEV, EOPNOTSUPP
from posix.types cimport off_t
from posix.unistd cimport close as c_close, ftruncate
from posix.fcntl cimport open as c_open, fcntl, O_RDWR, O_CLOEXEC, F_DUPFD_CLOEXEC
from posix.mman cimport (mmap as c_mmap, munmap, mlock, MAP_FAILED,
                         MAP_SHARED as C_MAP_SHARED, MAP_PRIVATE as C_MAP_PRIVATE,
                         PROT_READ as C_PROT_READ, PROT_WRITE as C_PROT_WRITE)
from posix.stat cimport struct_stat, fstat, S_ISREG

from sysvshm._args cimport as_integer, as_int, as_ssize, as_long_long
from sysvshm._buffer cimport (MappedBuffer, ACCESS_DEFAULT_, ACCESS_READ_, ACCESS_WRITE_,
                              ACCESS_COPY_)
from sysvshm._errors cimport (raise_oserror, raise_resize_exported, raise_resize_readonly,
                              raise_unreserved_huge, memlock_hint)
from sysvshm._signature import ClassSignature as _ClassSignature
from sysvshm.includes cimport compat

# Everything the stdlib module has on this Python (constants and `error`)...
for _name in dir(_std):
    if _name.isupper() or _name == "error":
        globals()[_name] = getattr(_std, _name)

# ... and what it never exposed, where the platform defines it.
for _name, _have, _value in (
        ("MAP_ANONYMOUS", compat.SYSVSHM_HAVE_MAP_ANONYMOUS, compat.MAP_ANONYMOUS),
        ("MAP_ANON", compat.SYSVSHM_HAVE_MAP_ANONYMOUS, compat.MAP_ANONYMOUS),
        ("MAP_LOCKED", compat.SYSVSHM_HAVE_MAP_LOCKED, compat.MAP_LOCKED),
        ("MAP_DENYWRITE", compat.SYSVSHM_HAVE_MAP_DENYWRITE, compat.MAP_DENYWRITE),
        ("MAP_EXECUTABLE", compat.SYSVSHM_HAVE_MAP_EXECUTABLE, compat.MAP_EXECUTABLE),
        ("MAP_NORESERVE", compat.SYSVSHM_HAVE_MAP_NORESERVE, compat.MAP_NORESERVE),
        ("MAP_POPULATE", compat.SYSVSHM_HAVE_MAP_POPULATE, compat.MAP_POPULATE),
        ("MAP_HUGETLB", compat.SYSVSHM_HAVE_MAP_HUGETLB, compat.MAP_HUGETLB),
        ("MAP_HUGE_2MB", compat.SYSVSHM_HAVE_MAP_HUGETLB, compat.MAP_HUGE_2MB),
        ("MAP_HUGE_1GB", compat.SYSVSHM_HAVE_MAP_HUGETLB, compat.MAP_HUGE_1GB),
        ("MAP_STACK", compat.SYSVSHM_HAVE_MAP_STACK, compat.MAP_STACK),
        ("MAP_UNINITIALIZED", compat.SYSVSHM_HAVE_MAP_UNINITIALIZED, compat.MAP_UNINITIALIZED)):
    if _have:
        globals().setdefault(_name, _value)

cdef bint _PY313 = _sys.version_info >= (3, 13)

# The /dev/zero switch: force the SVR4 way of mapping anonymous memory even where
# MAP_ANONYMOUS exists, so the tests exercise that path on Linux too.
cdef bint _force_devzero = _os.environ.get("SYSVSHM_MMAP_DEVZERO", "") not in ("", "0")


def force_devzero(enabled):
    """Map anonymous memory (fileno -1) from /dev/zero instead of MAP_ANONYMOUS.

    Returns the previous setting. The environment variable SYSVSHM_MMAP_DEVZERO=1
    sets it at import time. /dev/zero is used anyway where MAP_ANONYMOUS is
    missing at build time or refused at run time.
    """
    global _force_devzero
    previous = _force_devzero
    _force_devzero = bool(enabled)
    return previous


def devzero_forced():
    """Whether force_devzero() is in effect."""
    return _force_devzero


# -- the stdlib's argument parsing, with its messages -------------------------------

_KEYWORDS = ("fileno", "length", "flags", "prot", "access", "offset")


cdef tuple _parse(tuple args, dict kwargs):
    """The stdlib's "in|iiiL$p" with keywords fileno..offset and trackfd."""
    cdef int nargs = len(args)
    if nargs > 6:
        raise TypeError(f"function takes at most 6 {'positional ' if _PY313 else ''}"
                        f"arguments ({nargs} given)")
    values = list(args) + [None] * (6 - nargs)
    given = [True] * nargs + [False] * (6 - nargs)
    trackfd = True
    for key, value in kwargs.items():
        if key == "trackfd":
            trackfd = bool(value)
            continue
        if key not in _KEYWORDS:
            if _PY313:
                raise TypeError(f"this function got an unexpected keyword argument '{key}'")
            raise TypeError(f"'{key}' is an invalid keyword argument for this function")
        i = _KEYWORDS.index(key)
        if given[i]:
            raise TypeError(f"argument for function given by name ('{key}') "
                            f"and position ({i + 1})")
        values[i] = value
        given[i] = True
    for i in range(2):
        if not given[i]:
            raise TypeError(f"function missing required argument '{_KEYWORDS[i]}' (pos {i + 1})")
    # as_integer first: a value without __index__ gets the version's PyArg wording.
    fileno = as_int(as_integer(values[0]))
    length = as_ssize(as_integer(values[1]))
    flags = as_int(as_integer(values[2])) if given[2] else C_MAP_SHARED
    prot = as_int(as_integer(values[3])) if given[3] else C_PROT_READ | C_PROT_WRITE
    access = as_int(as_integer(values[4])) if given[4] else ACCESS_DEFAULT_
    offset = as_long_long(as_integer(values[5])) if given[5] else 0
    return fileno, length, flags, prot, access, offset, trackfd


cdef Py_ssize_t _file_length(int fd, Py_ssize_t length, long long offset) except -1:
    """The length to map of a regular file: all of it past *offset* for length 0;
    else *length*, checked against the file as the stdlib checks it."""
    cdef struct_stat st
    if fstat(fd, &st) != 0 or not S_ISREG(st.st_mode):
        return length  # a device or pipe: mmap(2) itself decides
    if length == 0:
        if st.st_size == 0:
            raise ValueError("cannot mmap an empty file")
        if offset >= st.st_size:
            raise ValueError("mmap offset is greater than file size")
        return <Py_ssize_t>(st.st_size - offset)
    if offset > st.st_size or st.st_size - offset < length:
        raise ValueError("mmap length is greater than file size")
    return length


cdef void *_map_memory(int fd, Py_ssize_t length, int prot, int flags, off_t offset,
                       bint *devzero) except NULL:
    """mmap(2), without the GIL. For anonymous memory (fd -1): MAP_ANONYMOUS, or
    /dev/zero (the SVR4 way) when *devzero* is set or the kernel refuses
    MAP_ANONYMOUS at run time; *devzero* says which one was used."""
    cdef void *addr
    cdef int err, zero, map_fd
    if fd == -1:
        flags = (flags & ~compat.MAP_ANONYMOUS) if devzero[0] else (flags | compat.MAP_ANONYMOUS)
    while True:
        zero = -1
        map_fd = fd
        if devzero[0]:
            zero = c_open(b"/dev/zero", O_RDWR | O_CLOEXEC)
            if zero == -1:
                raise_oserror(errno, None, "/dev/zero")
            map_fd = zero
        with nogil:
            addr = c_mmap(NULL, <size_t>length, prot, flags, map_fd, offset)
            err = errno if addr == MAP_FAILED else 0
            if zero != -1:
                c_close(zero)
        if (addr == MAP_FAILED and fd == -1 and not devzero[0]
                and (err == EINVAL or err == ENODEV or err == EOPNOTSUPP) and length > 0
                and not (flags & compat.MAP_HUGETLB)):
            # MAP_ANONYMOUS refused at run time: map /dev/zero instead.
            flags &= ~compat.MAP_ANONYMOUS
            devzero[0] = True
            continue
        break
    if addr == MAP_FAILED:
        if err == ENOMEM and (flags & compat.MAP_HUGETLB):
            raise_oserror(err, "no free huge pages of that size: reserve some with "
                               "vm.nr_hugepages (/proc/sys/vm/nr_hugepages)")
        if err == EAGAIN and (flags & compat.MAP_LOCKED):
            raise_oserror(err, f"MAP_LOCKED: {memlock_hint()}")
        raise_oserror(err)
    return addr


cdef int _lock_or_unmap(void *addr, Py_ssize_t length) except -1:
    """mlock(2) the whole mapping (lock=True), or unmap it and raise."""
    cdef int err
    with nogil:
        err = errno if mlock(addr, <size_t>length) != 0 else 0
        if err:
            munmap(addr, <size_t>length)
    if err:
        raise_oserror(err, f"cannot lock {length} bytes in RAM: {memlock_hint()}")
    return 0


cdef int _munmap_release(char *addr, Py_ssize_t size) noexcept nogil:
    return munmap(addr, <size_t>size)


@cython.auto_pickle(False)
cdef class mmap(MappedBuffer):
    """A memory map with the interface of the stdlib's mmap.mmap (which it is not a
    subclass of). fileno -1 maps anonymous memory. ``lock=True`` returns only a
    mapping whose every page is locked in RAM (mlock), or raises OSError naming
    RLIMIT_MEMLOCK and maps nothing.
    """
    # What inspect.signature() and help() show (a Cython class has no text signature).
    __signature__ = _ClassSignature("(fileno, length, flags=MAP_SHARED, "
                                    "prot=PROT_WRITE|PROT_READ, access=ACCESS_DEFAULT, "
                                    "offset=0, *, trackfd=True, lock=False)")
    cdef int _fd            # our dup of the file descriptor, or -1
    cdef long long _offset
    cdef bint _trackfd
    cdef bint _anonymous
    cdef bint _devzero      # anonymous memory that came from /dev/zero
    cdef Py_ssize_t _grow_limit  # shared anonymous memory cannot grow past this

    def __cinit__(self, *args, **kwargs):
        self._fd = -1
        lock = bool(kwargs.pop("lock", False))
        fileno, length, flags, prot, access, offset, trackfd = _parse(args, kwargs)
        if length < 0:
            raise OverflowError("memory mapped length must be positive")
        if offset < 0:
            raise OverflowError("memory mapped offset must be positive")
        if access != ACCESS_DEFAULT_ and (flags != C_MAP_SHARED
                                          or prot != (C_PROT_READ | C_PROT_WRITE)):
            raise ValueError("mmap can't specify both access and flags, prot.")
        if access == ACCESS_READ_:
            flags, prot = C_MAP_SHARED, C_PROT_READ
        elif access == ACCESS_WRITE_:
            flags, prot = C_MAP_SHARED, C_PROT_READ | C_PROT_WRITE
        elif access == ACCESS_COPY_:
            flags, prot = C_MAP_PRIVATE, C_PROT_READ | C_PROT_WRITE
        elif access == ACCESS_DEFAULT_:
            # Derive the access from prot, so that a PROT_READ map exports
            # read-only buffers (some stdlib versions export writable ones).
            if not (prot & C_PROT_WRITE):
                access = ACCESS_READ_
            elif not (prot & C_PROT_READ):
                access = ACCESS_WRITE_
        else:
            raise ValueError("mmap invalid access parameter.")
        if flags & compat.SYSVSHM_MAP_FIXED_ANY:
            raise ValueError("MAP_FIXED needs an address, which sysvshm.mmap never takes")
        _sys.audit("mmap.__new__", fileno, length, access, offset)
        self._map(fileno, length, flags, prot, access, offset, trackfd, lock)

    cdef int _map(self, int fd, Py_ssize_t length, int flags, int prot, int access,
                  long long offset, bint trackfd, bint lock) except -1:
        cdef void *addr
        cdef bint devzero = False
        if fd != -1 and (flags & compat.MAP_ANONYMOUS) and compat.SYSVSHM_HAVE_MAP_ANONYMOUS:
            # mmap(2) ignores the descriptor of an anonymous mapping; so do we, or
            # size() and resize() would act on a file the memory does not come from
            # (and a shared map would grow past its pages: SIGBUS).
            fd = -1
        if fd == -1:
            devzero = _force_devzero or not compat.SYSVSHM_HAVE_MAP_ANONYMOUS
        else:
            length = _file_length(fd, length, offset)
            if trackfd:
                # Close-on-exec, as the stdlib's: an exec'd child must not inherit it.
                self._fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)
                if self._fd == -1:
                    raise_oserror(errno)
        addr = _map_memory(fd, length, prot, flags, <off_t>offset, &devzero)
        if lock:
            _lock_or_unmap(addr, length)
        self._set_memory(<char *>addr, length, access, _munmap_release)
        # Without PROT_READ (a PROT_NONE guard, PROT_WRITE or PROT_EXEC alone) the
        # map is accepted, as the stdlib accepts it, but every access to its
        # contents raises TypeError instead of crashing the interpreter.
        self._noaccess = not (prot & C_PROT_READ)
        self._private_huge = bool(flags & compat.MAP_HUGETLB) and bool(flags & C_MAP_PRIVATE)
        if ((flags & compat.MAP_HUGETLB) and (flags & compat.MAP_NORESERVE) and length > 0
                and not self._noaccess):  # never touched, so no page is ever needed
            self._allocate_unreserved(bool(prot & C_PROT_WRITE))
        self._offset = offset
        self._trackfd = trackfd
        self._anonymous = fd == -1
        self._devzero = devzero
        self._grow_limit = length if (fd == -1 and (flags & C_MAP_SHARED)) else -1
        return 0

    cdef int _allocate_unreserved(self, bint write) except -1:
        # Huge pages without a reservation: allocate them all now (or fail cleanly,
        # with nothing mapped) rather than raise SIGBUS at the first touch of a
        # page the kernel cannot supply.
        try:
            self._populate(write)
        except OSError as exc:
            self._unmap()
            raise_unreserved_huge(exc.errno, "MAP", "map")
        return 0

    def __dealloc__(self):
        if self._fd != -1:
            c_close(self._fd)
            self._fd = -1

    cdef str _repr_tail(self):
        return f", offset={self._offset}"

    cdef str _repr_name(self):
        return "sysvshm.mmap.mmap" if type(self) is mmap else type(self).__name__

    def close(self):
        """Close the map (and this object's copy of the file descriptor)."""
        MappedBuffer.close(self)
        if self._fd != -1:
            fd = self._fd
            self._fd = -1
            c_close(fd)

    def size(self):
        """The size of the mapped file (OSError for anonymous maps, as the stdlib)."""
        cdef struct_stat st
        self._check_valid()
        if self._fd == -1:
            raise_oserror(EBADF)
        if fstat(self._fd, &st) != 0:
            raise_oserror(errno)
        return st.st_size

    @property
    def anonymous_backend(self):
        """For an anonymous map: "MAP_ANONYMOUS" or "/dev/zero"; None for a file map."""
        if not self._anonymous:
            return None
        return "/dev/zero" if self._devzero else "MAP_ANONYMOUS"

    @property
    def locked(self):
        """True when every page of the mapping is mlock()ed (VM_LOCKED in /proc/self/smaps)."""
        self._check_valid()
        return _all_locked(<size_t>self._data, <size_t>self._size)

    def resize(self, newsize, /):
        """Change the size of the map (and of the file), with mremap(2) on Linux.

        Unlike some stdlib versions, a resize that cannot succeed changes nothing:
        the file is only truncated once the map has moved, and is restored if the
        remap fails; a shared anonymous map never grows past its size.
        """
        cdef Py_ssize_t new_size
        self._check_valid()
        new_size = as_ssize(as_integer(newsize))
        self._check_valid()
        # The stdlib's order (3.13): exports, trackfd, access, then the size.
        if self._exports > 0:
            raise_resize_exported()
        if not self._trackfd:
            raise ValueError("mmap can't resize with trackfd=False.")
        if self._access != ACCESS_WRITE_ and self._access != ACCESS_DEFAULT_:
            raise_resize_readonly()
        if new_size < 0 or _sys.maxsize - new_size < self._offset:
            raise ValueError("new size out of range")
        if self._pinned():
            raise BufferError("mmap can't resize while another thread is using it")
        if not compat.SYSVSHM_HAVE_MREMAP:
            raise SystemError("mmap: resizing not available--no mremap()")
        if new_size == 0:
            # What mremap says (the stdlib's error), before the file is touched.
            raise_oserror(EINVAL)
        self._remap(new_size)

    cdef int _remap(self, Py_ssize_t new_size) except -1:
        cdef void *moved
        cdef void *shrunk
        cdef int err = 0
        cdef Py_ssize_t old_size = self._size
        cdef off_t old_end = <off_t>(self._offset + old_size)
        cdef off_t new_end = <off_t>(self._offset + new_size)
        cdef bint grow = new_size > old_size
        if self._fd != -1 and grow and ftruncate(self._fd, new_end) == -1:
            raise_oserror(errno)
        # The GIL stays held, as in CPython's mmapmodule.c: while the address is
        # being replaced no other thread may read _data/_size or take an export
        # (releasing it here let readers fault on the old range, and let close()
        # unmap it under us). mremap only moves page tables, so this is brief.
        moved = compat.sysvshm_mremap(self._data, <size_t>old_size, <size_t>new_size)
        err = errno if moved == MAP_FAILED else 0
        if moved == MAP_FAILED:
            if self._fd != -1 and grow:
                ftruncate(self._fd, old_end)  # undo: the map still ends there
            raise_oserror(err)
        if self._grow_limit >= 0 and new_size > self._grow_limit:
            # Shared anonymous memory: the pages past the original size do not
            # exist (the next access would be SIGBUS, where the stdlib lets it
            # grow). The kernel had its say first, so a size it refuses gets the
            # stdlib's error; one it accepts is shrunk back (in place, never
            # fails in practice; if it did, the tail would only be unused
            # address space) and refused with the same OSError(EINVAL).
            shrunk = compat.sysvshm_mremap(moved, <size_t>new_size, <size_t>old_size)
            self._data = <char *>(moved if shrunk == MAP_FAILED else shrunk)
            raise_oserror(EINVAL, f"cannot grow a shared anonymous map past its original "
                                  f"{self._grow_limit} bytes: the pages past it do not exist")
        self._data = <char *>moved
        self._size = new_size
        if self._fd != -1 and not grow and ftruncate(self._fd, new_end) == -1:
            raise_oserror(errno, "the map shrank but the file could not be truncated")
        return 0


def _all_locked(size_t start, size_t length):
    """Whether every VMA overlapping [start, start+length) has VM_LOCKED ("lo")."""
    end = start + length
    covered = start
    try:
        f = open("/proc/self/smaps")
    except OSError:
        raise NotImplementedError("locked needs /proc/self/smaps") from None
    with f:
        current = None
        for line in f:
            head = line.split(" ", 1)[0]
            if "-" in head and ":" not in head:
                lo, hi = (int(x, 16) for x in head.split("-"))
                current = (lo, hi) if lo < end and hi > start else None
            elif current is not None and line.startswith("VmFlags:"):
                if "lo" not in line.split()[1:]:
                    return False
                covered = max(covered, current[1])
    return covered >= end
