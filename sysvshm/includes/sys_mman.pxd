# <sys/mman.h>: msync(2), madvise(2). Only what sysvshm uses.
cdef extern from "<sys/mman.h>" nogil:
    int MS_SYNC
    int madvise(void *addr, size_t length, int advice)
    int msync(void *addr, size_t length, int flags)
