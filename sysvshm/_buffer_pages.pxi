# Included by _buffer.pyx (module level): what MappedBuffer does to the pages of
# its memory rather than to its bytes: msync(2), madvise(2), mlock(2)/munlock(2),
# MADV_POPULATE_* (prefault), mincore(2). Each pins the address and makes its
# system call without the GIL ("Pins and the GIL" in docs/dev/index.rst).

# madvise(2) advice that leaves every page of the range readable and writable
# as before (Linux values): NORMAL RANDOM SEQUENTIAL WILLNEED DONTNEED, FREE,
# DOFORK MERGEABLE UNMERGEABLE HUGEPAGE NOHUGEPAGE DONTDUMP DODUMP
# WIPEONFORK KEEPONFORK COLD PAGEOUT POPULATE_READ POPULATE_WRITE DONTNEED_LOCKED
# COLLAPSE, GUARD_REMOVE. Refused: REMOVE (9: punches a hole in shared memory,
# destroying it for every process, and on huge pages the hole may not refill),
# DONTFORK (10: a fork child would lack the
# mapping its object points at), HWPOISON and SOFT_OFFLINE (100, 101: poison or
# take away pages), GUARD_INSTALL (102: faults on access) with ValueError, and
# values unknown here with EINVAL, whatever a future kernel makes them mean.
cdef frozenset _SAFE_ADVICE = frozenset([0, 1, 2, 3, 4, 8, *range(11, 26), 103])
cdef frozenset _UNSAFE_ADVICE = frozenset([9, 10, 100, 101, 102])
# DONTNEED, FREE, DONTNEED_LOCKED: a private huge page given back comes from the
# pool again at the next touch, and an empty pool means SIGBUS.
cdef frozenset _GIVE_BACK_ADVICE = frozenset([4, 8, 24])
cdef bint _LINUX = __import__("sys").platform.startswith("linux")


# The calls _on_range makes without the GIL, one signature for all.
ctypedef int (*range_op)(char *addr, size_t n, int arg) noexcept nogil


cdef int _advise_op(char *addr, size_t n, int advice) noexcept nogil:
    return madvise(addr, n, advice)


cdef int _mlock_op(char *addr, size_t n, int unused) noexcept nogil:
    return mlock(addr, n)


cdef int _munlock_op(char *addr, size_t n, int unused) noexcept nogil:
    return munlock(addr, n)


cdef Py_ssize_t _page_range(MappedBuffer self, str name, object start_, object length,
                            Py_ssize_t *start_out) except -1:
    # madvise()'s argument rules (mmapmodule.c), shared by mlock/munlock/mincore:
    # stores the start and returns the length, clipped to the end of the memory.
    cdef Py_ssize_t n, start
    self._check_valid()
    start = as_ssize(start_)
    n = self._size if length is _LENGTH else as_ssize(length)
    self._check_valid()
    start_out[0] = start
    if start < 0 or start >= self._size:
        raise ValueError(f"{name} start out of bounds")
    if n < 0:
        raise ValueError(f"{name} length invalid")
    if PY_SSIZE_T_MAX - start < n:
        raise OverflowError(f"{name} length too large")
    if start + n > self._size:
        n = self._size - start
    return n


cdef int _on_range(MappedBuffer self, range_op op, int arg, Py_ssize_t start,
                   Py_ssize_t n) except -1:
    """Run *op* on [start, start+n) without the GIL, pinned; return its errno (0: done)."""
    cdef char *addr = self._pin()
    cdef int err = 0
    try:
        with nogil:
            if op(addr + start, <size_t>n, arg) != 0:
                err = errno
    finally:
        self._unpin()
    return err


cdef int _populate_pages(MappedBuffer self, bint write) except -1:
    """Allocate every page now with MADV_POPULATE_*, or raise OSError: never by
    touching them, which raises SIGBUS where a page cannot be had (huge pages with
    NORESERVE). EINVAL where the kernel (< 5.14) cannot."""
    cdef int advice = MADV_POPULATE_WRITE if write else MADV_POPULATE_READ
    cdef int err
    if advice == -1:
        raise_oserror(EINVAL)
    err = _on_range(self, _advise_op, advice, 0, self._size)
    if err:
        raise_oserror(err)
    return 0


cdef int _flush(MappedBuffer self, object offset, object size) except -1:
    cdef Py_ssize_t length, off
    cdef char *addr
    cdef int rc, err = 0
    self._check_valid()
    off = as_ssize(offset)
    length = self._size if size is _LENGTH else as_ssize(size)
    self._check_valid()
    if length < 0 or off < 0 or self._size - off < length:
        raise ValueError("flush values out of range")
    if self._access == ACCESS_READ_ or self._access == ACCESS_COPY_:
        return 0
    addr = self._pin()
    try:
        with nogil:
            rc = msync(addr + off, <size_t>length, MS_SYNC)
            if rc == -1:
                err = errno
    finally:
        self._unpin()
    if rc == -1:
        raise_oserror(err)
    return 0


cdef int _madvise(MappedBuffer self, object option, object start, object length) except -1:
    cdef Py_ssize_t n, first
    cdef int advice, err
    self._check_valid()
    advice = as_int(option)
    if _LINUX and self._private_huge and advice in _GIVE_BACK_ADVICE:
        raise ValueError(
            f"madvise advice {advice} is refused on a private huge page map: a page "
            f"given back may not be had again, and the next access would crash")
    if _LINUX and advice not in _SAFE_ADVICE:
        if advice in _UNSAFE_ADVICE:
            raise ValueError(
                f"madvise advice {advice} is refused: it can make the next access to "
                f"this memory crash, or destroy what every process sees (MADV_REMOVE, "
                f"MADV_DONTFORK, MADV_HWPOISON, MADV_SOFT_OFFLINE, MADV_GUARD_INSTALL)")
        # Unknown here: refused as the kernel refuses what it does not know
        # (the stdlib's OSError), whatever a future kernel makes it mean.
        raise_oserror(EINVAL)
    n = _page_range(self, "madvise", start, length, &first)
    err = _on_range(self, _advise_op, advice, first, n)
    if err:
        raise_oserror(err)
    return 0


cdef int _lock_range(MappedBuffer self, object start, object length, bint lock) except -1:
    # mlock() (lock) or munlock() on a range.
    cdef Py_ssize_t first
    cdef Py_ssize_t n = _page_range(self, "mlock" if lock else "munlock", start, length,
                                    &first)
    cdef int err = _on_range(self, _mlock_op if lock else _munlock_op, 0, first, n)
    if (lock and (err == ENOMEM or err == EAGAIN or err == EPERM)
            and not self._noaccess):  # without PROT_READ, ENOMEM is the kernel's no
        raise_oserror(err, f"cannot lock {n} bytes in RAM: {memlock_hint()}")
    if err:
        raise_oserror(err)
    return 0


cdef int _prefault(MappedBuffer self, bint write) except -1:
    cdef char *addr
    cdef int rc, err = 0
    cdef size_t page = <size_t>sysconf(_SC_PAGESIZE)
    cdef int threads = _CPUS
    self._check_readable()
    if write:
        self._check_writable()
    addr = self._pin()
    try:
        with nogil:
            rc = sysvshm_prefault_parallel(addr, <size_t>self._size, page, write, threads)
            if rc != 0:
                err = errno
    finally:
        self._unpin()
    if rc != 0:
        raise_oserror(err)
    return 0


cdef object _mincore(MappedBuffer self, object start, object length):
    cdef Py_ssize_t begin
    cdef Py_ssize_t n = _page_range(self, "mincore", start, length, &begin)
    cdef size_t page = <size_t>sysconf(_SC_PAGESIZE)
    cdef char *addr
    cdef size_t first, npages, i, count = 0
    cdef unsigned char *vec
    cdef int rc = 0, err = 0
    addr = self._pin()
    try:
        first = <size_t>(addr + begin) & ~(page - 1)
        npages = (<size_t>(addr + begin + n) - first + page - 1) // page
        vec = <unsigned char *>PyMem_Malloc(npages)
        if vec == NULL:
            raise MemoryError()
        try:
            with nogil:
                rc = sysvshm_mincore(<void *>first, npages * page, vec)
                if rc != 0:
                    err = errno
                else:
                    for i in range(npages):
                        count += vec[i] & 1
        finally:
            PyMem_Free(vec)
    finally:
        self._unpin()
    if rc != 0:
        raise_oserror(err)
    return count
