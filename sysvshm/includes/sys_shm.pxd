# <sys/shm.h>: shmget(2), shmat(2), shmdt(2), shmctl(2). Only what sysvshm uses;
# the commands and flags some platform lacks come from compat.pxd.
from sysvshm.includes.sys_ipc cimport key_t

cdef extern from "<sys/shm.h>" nogil:
    int SHM_RDONLY
    int SHM_RND
    long SHMLBA

    int shmget(key_t key, size_t size, int shmflg)
    void *shmat(int shmid, const void *shmaddr, int shmflg)
    int shmdt(const void *shmaddr)
    # The third argument is only ever NULL here: the commands that fill a
    # struct go through the portable wrappers in compat.h.
    int shmctl(int shmid, int cmd, void *buf)
