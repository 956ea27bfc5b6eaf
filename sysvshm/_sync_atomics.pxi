# Included by sync.pyx: the atomic integers.
#
# An atomic integer has no header: every bit pattern is a valid integer, so
# attaching to any bytes is defined, and counters can sit side by side (a ring
# buffer's head and tail, an array of them).  Every operation is sequentially
# consistent; arithmetic wraps around, as in C.  wait()/notify() use the word as a
# futex (an 8-byte integer's low half).

cdef enum:
    I32 = 0
    U32 = 1
    I64 = 2
    U64 = 3


cdef class _Atomic(_Placed):
    cdef int _type
    cdef int _size
    cdef object _low
    cdef object _high

    def __init__(self, buf, offset=0):
        """The integer at *offset* of *buf*, as it is."""
        self._place(buf, offset, self._size, self._size)

    @classmethod
    def create(cls, buf, offset=0, value=0):
        """The integer at *offset* of *buf*, set to *value*."""
        cdef _Atomic self = cls.__new__(cls)
        cdef uint64_t bits = self._bits(value)
        self._place(buf, offset, self._size, self._size)
        self._store(bits)
        return self

    cdef uint64_t _bits(self, object value) except? 0xFFFFFFFFFFFFFFFF:
        # value, range-checked, as the type's bits (two's complement).
        v = as_integer(value)
        if not self._low <= v <= self._high:
            raise OverflowError(f"{type(self).__name__} holds {self._low} to "
                                f"{self._high}, not {v}")
        # The type's width only: wait() compares these bits with a zero-extended
        # load, so a negative AtomicInt32's must not be sign-extended to 64.
        return <uint64_t>(v & (0xFFFFFFFF if self._size == 4 else 0xFFFFFFFFFFFFFFFF))

    cdef object _value(self, uint64_t bits):
        if self._type == I32:
            return <int32_t>bits
        if self._type == U32:
            return <uint32_t>bits
        if self._type == I64:
            return <int64_t>bits
        return bits

    cdef void _store(self, uint64_t bits) noexcept:
        if self._size == 4:
            sv_store_u32(<uint32_t *>self._addr, <uint32_t>bits)
        else:
            sv_store_u64(<uint64_t *>self._addr, bits)

    cdef uint64_t _load(self) noexcept:
        if self._size == 4:
            return sv_load_u32(<uint32_t *>self._addr)
        return sv_load_u64(<uint64_t *>self._addr)

    def load(self):
        """The value."""
        self._check_placed()
        return self._value(self._load())

    def store(self, value):
        """Set the value."""
        cdef uint64_t bits = self._bits(value)
        self._check_placed()
        self._store(bits)

    def exchange(self, value):
        """Set the value; return the old one."""
        cdef uint64_t bits = self._bits(value)
        self._check_placed()
        if self._size == 4:
            return self._value(sv_exchange_u32(<uint32_t *>self._addr, <uint32_t>bits))
        return self._value(sv_exchange_u64(<uint64_t *>self._addr, bits))

    def add(self, n=1):
        """Add *n* (wrapping around); return the old value (fetch-and-add)."""
        cdef uint64_t bits = self._bits(n)
        self._check_placed()
        if self._size == 4:
            return self._value(sv_fetch_add_u32(<uint32_t *>self._addr, <uint32_t>bits))
        return self._value(sv_fetch_add_u64(<uint64_t *>self._addr, bits))

    def sub(self, n=1):
        """Subtract *n* (wrapping around); return the old value."""
        cdef uint64_t bits = self._bits(n)
        self._check_placed()
        if self._size == 4:
            return self._value(sv_fetch_sub_u32(<uint32_t *>self._addr, <uint32_t>bits))
        return self._value(sv_fetch_sub_u64(<uint64_t *>self._addr, bits))

    def compare_exchange(self, expected, desired):
        """If the value is *expected*, set it to *desired* and return True;
        otherwise change nothing and return False."""
        cdef uint64_t want = self._bits(expected)
        cdef uint64_t bits = self._bits(desired)
        cdef uint32_t want32 = <uint32_t>want
        self._check_placed()
        if self._size == 4:
            return bool(sv_cas_u32(<uint32_t *>self._addr, &want32, <uint32_t>bits))
        return bool(sv_cas_u64(<uint64_t *>self._addr, &want, bits))

    def wait(self, expected, timeout=None):
        """Sleep while the value is *expected*: True once it is not, False if
        *timeout* seconds passed first (None: no limit).  Wakes on notify() and
        looks again at least every 0.1 s; Ctrl-C interrupts it."""
        cdef uint64_t want = self._bits(expected)
        cdef int64_t until = _wait_deadline(timeout)
        self._check_placed()
        cdef uint32_t *futex = sv_futex_of(self._addr, self._size)
        cdef uint32_t low = <uint32_t>want
        cdef int r, err
        cdef int64_t end
        while self._load() == want:
            end = min(until, sv_now_ns() + SLICE_NS)
            with nogil:
                r = sv_futex_wait(futex, low, end)
                err = errno if r != 0 else 0
            if _between_slices(err, until):
                return self._load() != want
        return True

    def notify(self, n=1):
        """Wake up to *n* threads (any process) waiting in wait(); how many woke."""
        cdef object count = as_integer(n)
        if count < 0:
            raise ValueError("n must be zero or more")
        self._check_placed()
        if count == 0:
            return 0  # FUTEX_WAKE with 0 wakes one
        return self._wake(<int>min(count, 0x7FFFFFFF))

    def notify_all(self):
        """Wake every thread waiting in wait(); how many woke."""
        self._check_placed()
        return self._wake(0x7FFFFFFF)

    cdef long _wake(self, int n) except -1:
        cdef long woke = sv_futex_wake(sv_futex_of(self._addr, self._size), n)
        if woke < 0:
            raise_oserror(errno, "futex")
        return woke

    def __int__(self):
        return self.load()

    def __repr__(self):
        if not self._has_view:
            return f"<uninitialized sysvshm.sync.{type(self).__name__} object>"
        return (f"<sysvshm.sync.{type(self).__name__} value={self.load()} "
                f"offset={self.offset} at {id(self):#x}>")


@cython.final
cdef class AtomicInt32(_Atomic):
    """AtomicInt32(buf, offset=0)

    A signed 32-bit integer at an offset of a writable buffer, with atomic
    operations and wait()/notify() across processes."""
    SIZE = 4
    ALIGNMENT = 4

    def __cinit__(self):
        self._type, self._size, self._low, self._high = I32, 4, -2**31, 2**31 - 1


@cython.final
cdef class AtomicUInt32(_Atomic):
    """AtomicUInt32(buf, offset=0)

    An unsigned 32-bit atomic integer, as AtomicInt32."""
    SIZE = 4
    ALIGNMENT = 4

    def __cinit__(self):
        self._type, self._size, self._low, self._high = U32, 4, 0, 2**32 - 1


@cython.final
cdef class AtomicInt64(_Atomic):
    """AtomicInt64(buf, offset=0)

    A signed 64-bit atomic integer, as AtomicInt32."""
    SIZE = 8
    ALIGNMENT = 8

    def __cinit__(self):
        self._type, self._size, self._low, self._high = I64, 8, -2**63, 2**63 - 1


@cython.final
cdef class AtomicUInt64(_Atomic):
    """AtomicUInt64(buf, offset=0)

    An unsigned 64-bit atomic integer, as AtomicInt32."""
    SIZE = 8
    ALIGNMENT = 8

    def __cinit__(self):
        self._type, self._size, self._low, self._high = U64, 8, 0, 2**64 - 1
