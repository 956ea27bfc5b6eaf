# Included by sync.pyx: Lock, RLock, Semaphore and BoundedSemaphore.
#
# A lock's owner is a thread (its gettid() id and start time): release() by any
# other thread is a RuntimeError, and a dead owner is found by id.  Waiting
# releases the GIL and goes in slices of SLICE_NS; between slices the signal
# handlers run and the owner is looked at (syncops.h, sv_owner_gone).
#
# release() keeps the GIL: it never blocks (FUTEX_WAKE returns at once), and
# handing the GIL over would cost more than the wake itself.


cdef class _LockBase(_Placed):
    cdef sv_lock_t *_l
    cdef uint64_t _ns
    cdef int _kind

    SIZE = 32
    ALIGNMENT = 8

    def __init__(self, buf, offset=0):
        """Attach to the lock another process made with create() at *offset*."""
        self._place(buf, offset, 32, 8)
        try:
            self._check_header(self._kind)
        except BaseException:
            self._unplace()
            raise
        self._l = <sv_lock_t *>self._addr
        self._ns = sv_load_u64(&self._l.pidns)

    @classmethod
    def create(cls, buf, offset=0):
        """Make a new, unlocked lock at *offset* of *buf*, and return it.  Whatever
        the bytes held is overwritten: no process may be using a lock there."""
        cdef _LockBase self = cls.__new__(cls)
        self._place(buf, offset, 32, 8)
        self._l = <sv_lock_t *>self._addr
        self._ns = sv_pidns()
        sv_store_u32(&self._l.magic, 0)
        sv_store_u64(&self._l.word, 0)
        sv_store_u32(&self._l.state, SV_CONSISTENT)
        sv_store_u32(&self._l.count, 0)
        sv_store_u64(&self._l.pidns, self._ns)
        self._write_header(self._kind)
        return self

    def acquire(self, blocking=True, timeout=-1):
        """Acquire the lock, as threading.Lock.acquire(): True once held, False if
        *timeout* seconds passed first (or, not *blocking*, if it is held).  Raises
        OwnerDiedError, with the lock held, if its owner died holding it."""
        # The fast path, without a call: free, and left consistent.
        if (blocking is True and type(timeout) is int and timeout == -1 and self._has_view
                and sv_lock_try(self._l, sv_self_word(self._ns))):
            if self._kind == KIND_LOCK and sv_peek(&self._l.state) == SV_CONSISTENT:
                return True
            return self._acquired(SV_ACQUIRED, 0)
        return self._acquire(blocking, timeout)

    cdef object _acquire(self, object blocking, object timeout):
        cdef int64_t until = _lock_deadline(blocking, timeout)
        if not self._has_view:
            self._check_placed()  # raises
        cdef uint64_t me = sv_self_word(self._ns)
        if sv_lock_try(self._l, me):  # the fast path: one compare-and-swap
            if self._kind == KIND_LOCK and sv_peek(&self._l.state) == SV_CONSISTENT:
                return True
            return self._acquired(SV_ACQUIRED, 0)
        if sv_lock_owned(self._l, me):
            if self._kind == KIND_RLOCK:
                return self._reenter()
            if until == FOREVER:
                raise RuntimeError("cannot acquire a Lock this thread holds: it would "
                                   "wait for ever (an RLock can be acquired again)")
        cdef int r, err
        cdef uint64_t dead = 0
        cdef int64_t end
        while True:
            end = min(until, sv_now_ns() + SLICE_NS)
            with nogil:
                r = sv_lock_wait(self._l, me, end, &dead)
                err = errno if r == SV_ERROR else 0
            if r == SV_ACQUIRED or r == SV_TOOK_DEAD:
                return self._acquired(r, dead)
            if _between_slices(err, until):
                return False

    cdef object _reenter(self):
        cdef uint32_t count = sv_peek(&self._l.count)
        if count == 0xFFFFFFFF:
            raise OverflowError("Internal lock count overflowed")
        sv_poke(&self._l.count, count + 1)
        return True

    cdef object _acquired(self, int how, uint64_t dead):
        # The lock is ours; what state did the last owner leave it in?
        cdef uint32_t state = sv_peek(&self._l.state)
        if self._kind == KIND_RLOCK:
            sv_poke(&self._l.count, 1)
        if how == SV_ACQUIRED and state == SV_CONSISTENT:
            return True
        # A not recoverable lock stays so, even when the thread that found it so
        # died before it could release it (then this one took it from the dead).
        if (how == SV_TOOK_DEAD or state == SV_OWNER_DIED) and (
                state == SV_CONSISTENT or state == SV_OWNER_DIED):
            sv_poke(&self._l.state, SV_OWNER_DIED)
            who = f"thread {dead & SV_TID_MASK}" if how == SV_TOOK_DEAD else "a thread"
            raise OwnerDiedError(
                f"the owner of this {type(self).__name__} ({who}) died holding it; this "
                "thread holds it now: repair what it protects, then call "
                "mark_consistent() and release()")
        self._release_word(1)
        if state == SV_NOT_RECOVERABLE:
            raise NotRecoverableError(
                f"this {type(self).__name__} is not recoverable: it was released after "
                "its owner died, without mark_consistent(); create() a new one")
        raise NotRecoverableError(f"this {type(self).__name__}'s state word holds "
                                  f"{state}, which no lock writes: the bytes were "
                                  "overwritten; create() a new one")

    cdef int _release_word(self, int wake_all) except -1:
        cdef int r = sv_lock_release(self._l, sv_self_word(self._ns), wake_all)
        return 0 if r == 0 else self._not_released(r)

    cdef int _not_released(self, int r) except -1:
        if r == 1 and self._kind == KIND_LOCK:
            raise RuntimeError("release unlocked lock")
        raise RuntimeError("cannot release un-acquired lock")

    def release(self):
        """Release the lock; only the thread that holds it may.  If its previous
        owner died and mark_consistent() was not called, the lock becomes
        unusable (NotRecoverableError for every later acquire)."""
        if (self._has_view and self._kind == KIND_LOCK
                and sv_peek(&self._l.state) == SV_CONSISTENT
                and sv_lock_release(self._l, sv_self_word(self._ns), 0) == 0):
            return  # the fast path: one exchange
        self._release()

    cdef int _release(self) except -1:
        if not self._has_view:
            self._check_placed()  # raises
        cdef uint32_t count
        cdef int r
        if self._kind == KIND_LOCK and sv_peek(&self._l.state) == SV_CONSISTENT:
            r = sv_lock_release(self._l, sv_self_word(self._ns), 0)  # one exchange
            return 0 if r == 0 else self._not_released(r)
        if not sv_lock_owned(self._l, sv_self_word(self._ns)):
            return self._release_word(0)  # raises
        if self._kind == KIND_RLOCK:
            count = sv_peek(&self._l.count)
            if count > 1:
                sv_poke(&self._l.count, count - 1)
                return 0
            sv_poke(&self._l.count, 0)
        if sv_peek(&self._l.state) == SV_OWNER_DIED:
            sv_poke(&self._l.state, SV_NOT_RECOVERABLE)
            return self._release_word(1)
        return self._release_word(0)

    def mark_consistent(self):
        """After OwnerDiedError: declare what the lock protects repaired, so that
        release() leaves a usable lock (pthread_mutex_consistent)."""
        self._check_placed()
        if not sv_lock_owned(self._l, sv_self_word(self._ns)):
            raise RuntimeError("cannot mark a lock consistent without holding it")
        if sv_peek(&self._l.state) != SV_OWNER_DIED:
            raise RuntimeError("the lock is consistent: no owner died holding it")
        sv_poke(&self._l.state, SV_CONSISTENT)

    def locked(self):
        """Whether some thread holds the lock."""
        self._check_placed()
        return (<uint32_t>sv_load_u64(&self._l.word) & SV_TID_MASK) != 0

    @property
    def owner(self):
        """The native thread id (threading.get_native_id()) of the holder, or None."""
        self._check_placed()
        cdef uint32_t tid = <uint32_t>sv_load_u64(&self._l.word) & SV_TID_MASK
        return tid if tid else None

    def _is_owned(self):
        # As threading.RLock's: whether this thread holds it.
        self._check_placed()
        return bool(sv_lock_owned(self._l, sv_self_word(self._ns)))

    def __enter__(self):
        return self._acquire(True, -1)

    def __exit__(self, *exc):
        # NotRecoverableError always leaves the lock free (threading.Condition's
        # wait() raises it from _acquire_restore, inside the caller's with block):
        # a release would only hide it behind "cannot release un-acquired lock".
        if (exc and isinstance(exc[1], NotRecoverableError)
                and self._has_view and not sv_lock_owned(self._l, sv_self_word(self._ns))):
            return
        self._release()

    def __repr__(self):
        if not self._has_view:
            return f"<uninitialized sysvshm.sync.{type(self).__name__} object>"
        owner = self.owner
        held = "unlocked" if owner is None else "locked"
        extra = ""
        if owner is not None:
            extra = f" owner={owner}"
            if self._kind == KIND_RLOCK:
                extra += f" count={sv_peek(&self._l.count)}"
        return (f"<{held} sysvshm.sync.{type(self).__name__} object{extra} "
                f"offset={self.offset} at {id(self):#x}>")


@cython.final
cdef class Lock(_LockBase):
    """Lock(buf, offset=0)

    A robust, process-shared lock at an offset of a writable buffer.

    ``Lock.create(buf, offset)`` makes one; ``Lock(buf, offset)`` attaches to one
    made elsewhere.  The API of threading.Lock, except that the thread that
    acquired it must be the one to release it."""

    def __cinit__(self):
        self._kind = KIND_LOCK


@cython.final
cdef class RLock(_LockBase):
    """RLock(buf, offset=0)

    A reentrant robust, process-shared lock: threading.RLock's API, placed as
    Lock is."""

    def __cinit__(self):
        self._kind = KIND_RLOCK

    # threading.Condition(lock) calls these, as threading.RLock's: wait() releases
    # the lock whatever the depth, and takes it back at that depth.

    def _release_save(self):
        self._check_placed()
        if not sv_lock_owned(self._l, sv_self_word(self._ns)):
            raise RuntimeError("cannot release un-acquired lock")
        cdef uint32_t count = sv_peek(&self._l.count)
        sv_poke(&self._l.count, 1)
        self._release()
        return (count, <uint32_t>sv_self_word(self._ns) & SV_TID_MASK)

    def _acquire_restore(self, state):
        count, _ = state
        cdef uint32_t depth = count
        if depth == 0:
            raise ValueError("an RLock's saved depth is at least 1")
        self._check_placed()
        # As threading.RLock's, the lock is taken back whatever a signal handler
        # raises meanwhile (Ctrl-C): wait() must return holding it, else the
        # caller's release fails and hides the exception.  That exception is
        # raised once the lock is held.
        pending = None
        while True:
            try:
                self._acquire(True, -1)
                break
            except OwnerDiedError as e:
                sv_poke(&self._l.count, depth)  # held: the caller's releases match
                if pending is not None:
                    e.__context__ = pending
                raise
            except (RuntimeError, OSError, OverflowError):
                raise  # not recoverable, a failed futex: it cannot be taken back
            except BaseException as e:  # a signal handler's, between two slices
                if pending is None:
                    pending = e
        sv_poke(&self._l.count, depth)
        if pending is not None:
            raise pending


cdef class _SemaphoreBase(_Placed):
    cdef sv_sem_t *_s
    cdef uint32_t _bound
    cdef int _kind

    SIZE = 32
    ALIGNMENT = 8

    def __init__(self, buf, offset=0):
        """Attach to the semaphore another process made with create() at *offset*."""
        self._place(buf, offset, 32, 8)
        try:
            self._check_header(self._kind)
        except BaseException:
            self._unplace()
            raise
        self._s = <sv_sem_t *>self._addr
        self._bound = SEM_VALUE_MAX
        if self._kind == KIND_BOUNDED:
            self._bound = min(sv_load_u32(&self._s.bound), SEM_VALUE_MAX)

    @classmethod
    def create(cls, buf, offset=0, value=1):
        """Make a new semaphore with counter *value* at *offset* of *buf*, and
        return it.  Whatever the bytes held is overwritten."""
        v = as_integer(value)
        if v < 0:
            raise ValueError("semaphore initial value must be >= 0")
        if v > SEM_VALUE_MAX:
            raise ValueError(f"semaphore initial value must be <= {SEM_VALUE_MAX}")
        cdef _SemaphoreBase self = cls.__new__(cls)
        self._place(buf, offset, 32, 8)
        self._s = <sv_sem_t *>self._addr
        self._bound = v if self._kind == KIND_BOUNDED else SEM_VALUE_MAX
        sv_store_u32(&self._s.magic, 0)
        sv_store_u32(&self._s.value, v)
        sv_store_u32(&self._s.waiters, 0)
        sv_store_u32(&self._s.bound, self._bound)
        self._write_header(self._kind)
        return self

    def acquire(self, blocking=True, timeout=None):
        """Decrement the counter, waiting while it is zero, as
        threading.Semaphore.acquire(): True, or False if *timeout* passed first."""
        cdef int64_t until
        if not blocking:
            if timeout is not None:
                raise ValueError("can't specify timeout for non-blocking acquire")
            until = 0
        else:
            until = _wait_deadline(timeout)
        self._check_placed()
        if sv_sem_try(self._s):
            return True
        cdef int r, err
        cdef int64_t end
        while blocking:
            end = min(until, sv_now_ns() + SLICE_NS)
            with nogil:
                r = sv_sem_wait(self._s, end)
                err = errno if r == SV_ERROR else 0
            if r == SV_ACQUIRED:
                return True
            if _between_slices(err, until):
                return False
        return False

    def release(self, n=1):
        """Increment the counter by *n*, waking that many waiters."""
        cdef object count = as_integer(n)
        if count < 1:
            raise ValueError("n must be one or more")
        self._check_placed()
        self._post(SEM_VALUE_MAX + 1 if count > SEM_VALUE_MAX else <uint32_t>count)

    cdef int _post(self, uint32_t n) except -1:
        if sv_sem_post(self._s, n, self._bound):
            if self._kind == KIND_BOUNDED:
                raise ValueError("Semaphore released too many times")
            raise OverflowError(f"the semaphore's value would pass {SEM_VALUE_MAX}")
        return 0

    @property
    def value(self):
        """The counter now (another process may change it at any moment)."""
        self._check_placed()
        return sv_load_u32(&self._s.value)

    def __enter__(self):
        self._check_placed()
        return True if sv_sem_try(self._s) else self.acquire()

    def __exit__(self, *exc):
        self._check_placed()
        self._post(1)

    def __repr__(self):
        if not self._has_view:
            return f"<uninitialized sysvshm.sync.{type(self).__name__} object>"
        bound = f"/{self._bound}" if self._kind == KIND_BOUNDED else ""
        return (f"<sysvshm.sync.{type(self).__name__} at {id(self):#x}: "
                f"value={self.value}{bound} offset={self.offset}>")


@cython.final
cdef class Semaphore(_SemaphoreBase):
    """Semaphore(buf, offset=0)

    A process-shared counting semaphore at an offset of a writable buffer:
    threading.Semaphore's API, placed as Lock is."""

    def __cinit__(self):
        self._kind = KIND_SEMAPHORE


@cython.final
cdef class BoundedSemaphore(_SemaphoreBase):
    """BoundedSemaphore(buf, offset=0)

    A Semaphore whose release() refuses to pass the value it was created
    with (ValueError), as threading.BoundedSemaphore."""

    def __cinit__(self):
        self._kind = KIND_BOUNDED
