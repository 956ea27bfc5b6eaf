# <string.h>: what Cython's libc.string lacks. memmem(3) is a GNU/BSD extension;
# Python.h defines _GNU_SOURCE before any system header, so it is declared.
cdef extern from "<string.h>" nogil:
    void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen)
