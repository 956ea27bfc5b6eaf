# What users read when something fails: errno -> exception, and the stdlib
# mmap's wording for misuse, in one place. Header-only (cdef inline): each
# compiled module gets its own copy, so there is no module to import at run time.
#
# OSError picks FileNotFoundError, FileExistsError, PermissionError, ... from the
# errno itself (PEP 3151), so there is no table to keep in step with the kernel.
from libc.errno cimport EINVAL, ENOMEM
from libc.string cimport strerror


cdef inline int raise_oserror(int err, str detail=None, object filename=None) except -1:
    # *detail* says what the kernel's terse errno meant in this call (which limit,
    # which key), so the message is useful without a man page.
    cdef str message = (<bytes>strerror(err)).decode("utf-8", "replace")
    if detail:
        message = f"{message}: {detail}"
    if filename is None:
        raise OSError(err, message)
    raise OSError(err, message, filename)


cdef inline int raise_closed() except -1:
    # The stdlib mmap's wording, so code ported from mmap keeps matching it.
    raise ValueError("mmap closed or invalid")


cdef inline int raise_readonly() except -1:
    raise TypeError("mmap can't modify a readonly memory map.")


cdef inline int raise_noaccess() except -1:
    # A map without PROT_READ (a PROT_NONE guard, PROT_WRITE or PROT_EXEC alone):
    # touching it would crash the interpreter, so every access to its contents is
    # refused, with the exception the stdlib uses for access a map does not allow.
    raise TypeError("mmap can't access a memory map without PROT_READ")


cdef inline int raise_exported() except -1:
    # What close() raises while a memoryview (or numpy array...) of the memory
    # lives: the stdlib mmap's BufferError and words.
    raise BufferError("cannot close exported pointers exist")


cdef inline int raise_resize_exported() except -1:
    raise BufferError("mmap can't resize with extant buffers exported.")


cdef inline int raise_resize_readonly() except -1:
    raise TypeError("mmap can't resize a readonly or copy-on-write memory map.")


cdef inline int raise_unreserved_huge(int err, str kind, str what) except -1:
    # Allocating the huge pages of a NORESERVE mapping up front failed (*kind*:
    # "SHM" or "MAP"; *what*: "segment" or "map"); the caller, handling that
    # error, undid the mapping. This one replaces it in the traceback.
    if err == EINVAL:
        raise OSError(EINVAL, f"{kind}_NORESERVE with {kind}_HUGETLB needs MADV_POPULATE "
                              f"(Linux 5.14+) to allocate the pages safely") from None
    raise OSError(ENOMEM, f"no free huge pages for this {kind}_NORESERVE {what}: "
                          f"reserve some with vm.nr_hugepages") from None


cdef inline str memlock_hint():
    # Why mlock()/MAP_LOCKED failed, in terms of the limit the user can change.
    import resource
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY:
        return "RLIMIT_MEMLOCK is unlimited, so the system is out of lockable memory"
    return (f"RLIMIT_MEMLOCK is {soft} bytes (ulimit -l), counting what this process "
            f"has locked already; raise it or run with CAP_IPC_LOCK")
