# <sys/mman.h>: mmap(2), munmap(2), msync(2), madvise(2), mlock(2), mincore(2).
# Only what sysvshm uses; flags some platforms lack come from compat.pxd.
from posix.types cimport off_t

cdef extern from "<sys/mman.h>" nogil:
    int MS_SYNC
    int PROT_READ
    int PROT_WRITE
    int MAP_SHARED
    int MAP_PRIVATE
    void *MAP_FAILED

    void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
    int munmap(void *addr, size_t length)
    int madvise(void *addr, size_t length, int advice)
    int msync(void *addr, size_t length, int flags)
    int mlock(const void *addr, size_t length)
    int munlock(const void *addr, size_t length)
