"""errno -> Python exception, in one place.

OSError picks FileNotFoundError, FileExistsError, PermissionError, ... from the
errno itself (PEP 3151), so there is no table to keep in step with the kernel.
"""
from libc.string cimport strerror


cdef int raise_oserror(int err, str detail=None, object filename=None) except -1:
    """Raise the OSError subclass for *err*; *detail* is appended to strerror.

    The detail says what the kernel's terse errno meant in this call (which
    limit, which key), so the message is useful without a man page.
    """
    cdef str message = (<bytes>strerror(err)).decode("utf-8", "replace")
    if detail:
        message = f"{message}: {detail}"
    if filename is None:
        raise OSError(err, message)
    raise OSError(err, message, filename)


cdef int raise_closed() except -1:
    # The stdlib mmap's wording, so code ported from mmap keeps matching it.
    raise ValueError("mmap closed or invalid")


cdef int raise_readonly() except -1:
    raise TypeError("mmap can't modify a readonly memory map.")


cdef int raise_noaccess() except -1:
    # A map without PROT_READ (a PROT_NONE guard, PROT_WRITE or PROT_EXEC alone):
    # touching it would crash the interpreter, so every access to its contents is
    # refused, with the exception the stdlib uses for access a map does not allow.
    raise TypeError("mmap can't access a memory map without PROT_READ")
