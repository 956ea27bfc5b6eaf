# <sys/mman.h>: mmap(2), munmap(2), msync(2), madvise(2), mlock(2).
cdef extern from "<sys/mman.h>" nogil:
    int MS_SYNC
    int madvise(void *addr, size_t length, int advice)
    int msync(void *addr, size_t length, int flags)
    int mlock(const void *addr, size_t length)
    int munlock(const void *addr, size_t length)
