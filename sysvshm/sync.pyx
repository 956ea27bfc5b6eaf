"""Locks, semaphores and atomic integers that live inside shared memory.

Each object sits at an offset of a writable buffer that several processes map (a
sysvshm.shm, a MAP_SHARED mmap, SharedMemory.buf, ...): ``Lock.create(buf, 64)``
initializes one there, ``Lock(buf, 64)`` attaches to one another process made.
The object holds an export of the buffer for as long as it lives, so the memory
cannot be closed under it.

Locks are robust: when the thread holding one dies (a process killed with
SIGKILL, say), the next acquire() takes the lock and raises OwnerDiedError, with
the lock held; the data it protects may be half-written.  Repair it and call
mark_consistent(); releasing without that makes the lock unusable
(NotRecoverableError), never a silent hang.

The words are 32-bit futexes (Linux): no pointer lives in the shared memory, so
bytes another process scribbles over an object give an error or a timeout, never
a crash.
"""
cimport cython
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.exc cimport PyErr_CheckSignals
from cpython.version cimport PY_VERSION_HEX
from libc.errno cimport errno, EINTR, ETIMEDOUT
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t, uintptr_t, INT64_MAX

from sysvshm._args cimport as_integer, as_ssize
from sysvshm._errors cimport raise_oserror
from sysvshm.includes.syncops cimport *

__all__ = ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "AtomicInt32", "AtomicInt64",
           "AtomicUInt32", "AtomicUInt64", "OwnerDiedError", "NotRecoverableError",
           "TIMEOUT_MAX"]

# The header every lock and semaphore starts with: a magic number, its kind, the
# layout's version.  Attaching checks all three before anything else is read.
cdef uint32_t MAGIC = 0x79737673  # b"svsy", little-endian
cdef uint32_t VERSION = 1
cdef enum:
    KIND_LOCK = 1
    KIND_RLOCK = 2
    KIND_SEMAPHORE = 3
    KIND_BOUNDED = 4
_KIND_NAMES = {KIND_LOCK: "Lock", KIND_RLOCK: "RLock", KIND_SEMAPHORE: "Semaphore",
               KIND_BOUNDED: "BoundedSemaphore"}

# A waiter wakes at least this often to run signal handlers (Ctrl-C in any
# thread's wait) and to look whether the owner still lives.
cdef int64_t SLICE_NS = 100_000_000
cdef int64_t FOREVER = INT64_MAX

#: The largest timeout accepted, in seconds (as threading.TIMEOUT_MAX).
TIMEOUT_MAX = 9223372036.0
SEM_VALUE_MAX = 0x7FFFFFFF

if sv_setup() != 0:
    raise_oserror(errno, "pthread_atfork")


class OwnerDiedError(RuntimeError):
    """The thread that held the lock died holding it.  Raised by acquire() with the
    lock held by the caller: repair what the lock protects, call mark_consistent(),
    then release().  Releasing without mark_consistent() makes the lock unusable."""


class NotRecoverableError(RuntimeError):
    """The lock was released after its owner died without being marked consistent
    (or its bytes were overwritten): it can no longer be acquired.  Create it anew
    with create() once nobody uses it."""


# ---- arguments ----

cdef double _seconds(object timeout) except -1.0:
    # threading's checks and words: a number, not NaN, not negative (the caller
    # handles -1 and None), at most TIMEOUT_MAX.
    cdef double t
    t = timeout if isinstance(timeout, float) else float(as_integer(timeout))
    if t != t:
        raise ValueError("Invalid value NaN (not a number)")
    if t < 0:
        if PY_VERSION_HEX >= 0x030D0000:
            raise ValueError("timeout value must be a non-negative number")
        raise ValueError("timeout value must be positive")
    if t > TIMEOUT_MAX:
        raise OverflowError("timeout value is too large")
    return t


cdef int64_t _deadline(double seconds) noexcept:
    cdef int64_t now = sv_now_ns()
    cdef double ns = seconds * 1e9
    if ns >= <double>(FOREVER - now):
        return FOREVER
    return now + <int64_t>ns


cdef int64_t _lock_deadline(object blocking, object timeout) except? -2:
    # Lock.acquire(blocking=True, timeout=-1), as threading.Lock checks it: an
    # integer blocking (any truth value from 3.12), a float or integer timeout
    # (converted before it is compared: an object equal to -1 is not -1).
    if blocking is True and type(timeout) is int and timeout == -1:
        return FOREVER  # the defaults, fast
    if PY_VERSION_HEX < 0x030C0000 and not isinstance(blocking, int):
        as_integer(blocking)  # raises threading's TypeError
    cdef double t = timeout if isinstance(timeout, float) else float(as_integer(timeout))
    if not blocking:
        if t != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        return sv_now_ns()
    if t == -1:
        return FOREVER
    return _deadline(_seconds(timeout))


cdef int64_t _wait_deadline(object timeout) except? -2:
    # None waits for ever; a negative timeout is zero (as threading.Semaphore).
    if timeout is None:
        return FOREVER
    if isinstance(timeout, (int, float)) and timeout < 0:
        return sv_now_ns()
    return _deadline(_seconds(timeout))


cdef int _between_slices(int err, int64_t until) except -1:
    # After a slice of waiting that did not succeed: OSError if the wait failed
    # (err, saved where it failed), the signal handlers (KeyboardInterrupt stops
    # the wait), then 1 when the deadline has passed.
    if err != 0 and err != ETIMEDOUT and err != EINTR:
        raise_oserror(err, "futex")
    if PyErr_CheckSignals() < 0:
        return -1
    return sv_now_ns() >= until


# ---- placement ----

cdef str _a(str name):
    return ("an " if name[0] in "AEIORU" else "a ") + name


cdef class _Placed:
    """What every sync object has: an export of its buffer, held until it is
    garbage, and the address at which it lives."""
    cdef Py_buffer _view
    cdef bint _has_view
    cdef char *_addr
    cdef readonly Py_ssize_t offset

    def __dealloc__(self):
        if self._has_view:
            self._has_view = False
            PyBuffer_Release(&self._view)

    def __reduce__(self):
        raise TypeError(f"cannot pickle {type(self).__name__!r} object: it lives in this "
                        "process's view of the buffer; send the segment's key or name and "
                        "the offset, and attach in the other process")

    @property
    def obj(self):
        """The object whose buffer holds this one."""
        self._check_placed()
        return self._view.obj

    cdef int _check_placed(self) except -1:
        if not self._has_view:
            raise ValueError(f"uninitialized {type(self).__name__} object")
        return 0

    cdef int _place(self, object buf, object offset, Py_ssize_t size,
                    Py_ssize_t align) except -1:
        # Every check before anything is read or written.
        cdef str name = type(self).__name__
        if not SYSVSHM_HAVE_FUTEX:
            raise NotImplementedError(f"sysvshm.sync.{name} needs futex(2), which this "
                                      "platform does not have")
        if self._has_view:
            raise TypeError(f"this {name} is placed already; make a new one")
        cdef Py_ssize_t off = as_ssize(offset)
        if off < 0:
            raise ValueError("offset cannot be negative")
        # Into a local view: offset's __index__ (or the buffer's exporter) may have
        # placed this object meanwhile, and its export must not be overwritten.
        cdef Py_buffer view
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
        cdef char *addr = <char *>view.buf + off
        try:
            if self._has_view:
                raise TypeError(f"this {name} is placed already; make a new one")
            if view.readonly:
                raise TypeError(f"{_a(name)} needs a writable buffer; "
                                f"{_a(type(buf).__name__)} object's is read-only")
            if off > view.len - size:
                raise ValueError(f"Buffer size too small ({view.len} instead of at "
                                 f"least {off + size} bytes)")
            if <uintptr_t>addr % align:
                raise ValueError(
                    f"offset {off} is misaligned: {_a(name)} needs an address that is a "
                    f"multiple of {align}, and the buffer starts at "
                    f"{<uintptr_t>view.buf:#x}")
        except BaseException:
            PyBuffer_Release(&view)
            raise
        self._view = view
        self._has_view = True
        self._addr = addr
        self.offset = off
        return 0

    cdef void _unplace(self) noexcept:
        # Undo _place (an attach whose header check failed): the object is left
        # uninitialized, never placed on bytes that are not what it is.
        if self._has_view:
            self._has_view = False
            self._addr = NULL
            PyBuffer_Release(&self._view)

    cdef int _check_header(self, int kind) except -1:
        # A lock or semaphore made by create(): the magic, the kind, the version.
        cdef str name = _KIND_NAMES[kind]
        cdef uint32_t magic = sv_load_u32(<uint32_t *>self._addr)
        cdef sv_lock_t *h = <sv_lock_t *>self._addr
        cdef int found = h.kind
        if magic != MAGIC:
            if magic == 0:
                raise ValueError(f"no {name} at offset {self.offset}: the bytes there were "
                                 f"never initialized ({name}.create() initializes them)")
            raise ValueError(f"no {name} at offset {self.offset}: the bytes there are not "
                             "a sysvshm.sync object")
        if h.version != VERSION:
            raise ValueError(f"the {name} at offset {self.offset} has layout version "
                             f"{h.version}; this sysvshm reads version {VERSION}")
        if found != kind:
            what = _KIND_NAMES.get(found)
            what = _a(what) if what else f"an object of unknown kind {found}"
            raise ValueError(f"offset {self.offset} holds {what}, not {_a(name)}")
        return 0

    cdef void _write_header(self, int kind) noexcept:
        # The magic last: another process attaching meanwhile sees no object yet.
        cdef sv_lock_t *h = <sv_lock_t *>self._addr
        h.kind = kind
        h.version = VERSION
        sv_store_u32(&h.magic, MAGIC)


include "_sync_locks.pxi"
include "_sync_atomics.pxi"
