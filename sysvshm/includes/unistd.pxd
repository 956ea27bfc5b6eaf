# <unistd.h>: sysconf(3), getpid(2).
cdef extern from "<unistd.h>" nogil:
    int _SC_PAGESIZE
    long sysconf(int name)
