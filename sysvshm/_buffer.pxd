# The mmap-style core shared by sysvshm.shm and sysvshm.mmap.mmap: it owns the
# address, length, position, access mode and export count, and implements every
# mmap-style method once. Subclasses only obtain memory and say how to release it.

ctypedef int (*release_func)(char *addr, Py_ssize_t size) noexcept nogil

cdef enum:
    ACCESS_DEFAULT_ = 0
    ACCESS_READ_ = 1
    ACCESS_WRITE_ = 2
    ACCESS_COPY_ = 3


cdef class MappedBuffer:
    cdef char *_data              # NULL once closed
    cdef Py_ssize_t _size
    cdef Py_ssize_t _pos
    cdef int _access
    cdef bint _readonly
    cdef bint _noaccess           # no PROT_READ: the contents must never be touched
    cdef bint _private_huge       # MAP_PRIVATE|MAP_HUGETLB: pages given back may not return
    cdef Py_ssize_t _exports      # live buffer exports (memoryview, numpy, ...)
    cdef Py_ssize_t _pins         # nogil operations in flight on _data
    cdef unsigned long _pin_gen   # the fork generation those pins belong to
    cdef char *_pending           # release deferred until the last pin goes
    cdef Py_ssize_t _pending_size
    cdef release_func _release
    cdef object __weakref__

    cdef int _set_memory(self, char *data, Py_ssize_t size, int access,
                         release_func release) except -1
    cdef int _check_valid(self) except -1
    cdef int _check_writable(self) except -1
    cdef int _check_readable(self) except -1
    cdef int _unmap(self) except -1
    cdef char *_pin(self) except NULL
    cdef bint _pinned(self) noexcept
    cdef void _unpin(self) noexcept
    cdef int _copy(self, char *dst, const char *src, Py_ssize_t n) except -1
    cdef int _populate(self, bint write) except -1
    cdef int _check_exports(self) except -1
    cdef str _repr_name(self)
    cdef str _repr_tail(self)
    cdef Py_ssize_t _check_index(self, Py_ssize_t i) except -1
    cdef bytes _get_slice(self, slice item)
    cdef int _set_index(self, item, value) except -1
    cdef int _set_slice(self, slice item, value) except -1
    cdef Py_ssize_t _find(self, sub, start, end, bint reverse) except -2
