cdef int raise_oserror(int err, str detail=*, object filename=*) except -1
cdef int raise_closed() except -1
cdef int raise_readonly() except -1
cdef int raise_noaccess() except -1
