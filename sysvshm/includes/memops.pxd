# memops.h: prefault and bulk copy of a mapping, without the GIL (madvise(2)
# MADV_POPULATE_READ/WRITE; non-temporal stores on x86_64).
cdef extern from "memops.h" nogil:
    int sysvshm_prefault_parallel(char *addr, size_t len, size_t page, int write, int threads)
    size_t sysvshm_stream_threshold()
    void sysvshm_copy_parallel(char *dst, const char *src, size_t n, size_t threshold, int threads)
    int MADV_POPULATE_READ
    int MADV_POPULATE_WRITE
