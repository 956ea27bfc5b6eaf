from sysvshm._buffer cimport MappedBuffer
from sysvshm.includes.sys_ipc cimport key_t
from sysvshm.includes cimport compat


cdef class shm(MappedBuffer):
    cdef int _shmid
    cdef key_t _key
    cdef int _shmat_flags
    cdef bint _initialized

    cdef int _attach(self, int shmid, int access, Py_ssize_t size, int extra,
                     bint created=*, key_t key=*) except -1
    cdef int _prefault_or_undo(self, bint created) except -1
    cdef int _populate_or_undo(self, bint write) except -1


cdef object stat_result_of(int shmid, const compat.sysvshm_stat_t *st)
