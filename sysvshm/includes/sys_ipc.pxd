# <sys/ipc.h>: svipc(7). Only what sysvshm uses (ftok(3) goes through compat.h).
cdef extern from "<sys/types.h>" nogil:
    # key_t is a 32-bit signed integer on every platform sysvshm supports.
    ctypedef int key_t

cdef extern from "<sys/ipc.h>" nogil:
    key_t IPC_PRIVATE
    int IPC_CREAT
    int IPC_EXCL
    int IPC_NOWAIT
    int IPC_RMID
    int IPC_SET
    int IPC_STAT
