# <unistd.h>: sysconf(3), getpid(2).
cdef extern from "<unistd.h>" nogil:
    int _SC_PAGESIZE
    int _SC_NPROCESSORS_ONLN
    long sysconf(int name)
