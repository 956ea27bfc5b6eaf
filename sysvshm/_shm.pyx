"""System V shared memory: the <sys/ipc.h>/<sys/shm.h> C API and the segment object.

Man pages: shmget(2), shmat(2), shmdt(2), shmctl(2), ftok(3), svipc(7).
"""
from libc.string cimport memset
from libc.errno cimport errno, EINVAL, EIDRM, ENOENT, ENOSPC, EEXIST, EACCES, ENOMEM, EPERM

from sysvshm._buffer cimport (MappedBuffer, ACCESS_DEFAULT_, ACCESS_READ_, ACCESS_WRITE_,
                              ACCESS_COPY_)
from sysvshm._buffer import ACCESS_DEFAULT  # the default shown in signatures
from sysvshm._args cimport as_int, as_key, as_owner_id, as_shmid, as_ssize
from sysvshm._errors cimport (raise_oserror, raise_resize_exported, raise_resize_readonly,
                              raise_unreserved_huge)
from sysvshm.includes cimport sys_ipc as c_ipc
from sysvshm.includes cimport sys_shm as c_shm
from sysvshm.includes cimport compat
from sysvshm.includes.sys_ipc cimport key_t
from posix.unistd cimport sysconf, _SC_PAGESIZE

import os
from sysvshm._signature import ClassSignature as _ClassSignature

__all__ = ["ftok", "shmget", "shmat", "shmdt", "shmctl", "shm", "PAGESIZE", "SHMLBA",
           "IPC_PRIVATE", "IPC_CREAT", "IPC_EXCL", "IPC_NOWAIT", "IPC_RMID", "IPC_SET",
           "IPC_STAT", "SHM_RDONLY", "SHM_RND"]

PAGESIZE = sysconf(_SC_PAGESIZE)
SHMLBA = c_shm.SHMLBA
IPC_PRIVATE = c_ipc.IPC_PRIVATE
IPC_CREAT = c_ipc.IPC_CREAT
IPC_EXCL = c_ipc.IPC_EXCL
IPC_NOWAIT = c_ipc.IPC_NOWAIT
IPC_RMID = c_ipc.IPC_RMID
IPC_SET = c_ipc.IPC_SET
IPC_STAT = c_ipc.IPC_STAT
SHM_RDONLY = c_shm.SHM_RDONLY
SHM_RND = c_shm.SHM_RND


def _export(name, value):
    globals()[name] = value
    __all__.append(name)


# Each constant exists in Python only where the platform defines it.
if compat.SYSVSHM_HAVE_IPC_INFO:
    _export("IPC_INFO", compat.IPC_INFO)
if compat.SYSVSHM_HAVE_SHM_INFO:
    _export("SHM_INFO", compat.SHM_INFO)
if compat.SYSVSHM_HAVE_SHM_STAT:
    _export("SHM_STAT", compat.SHM_STAT)
if compat.SYSVSHM_HAVE_SHM_STAT_ANY:
    _export("SHM_STAT_ANY", compat.SHM_STAT_ANY)
if compat.SYSVSHM_HAVE_SHM_LOCK:
    _export("SHM_LOCK", compat.SHM_LOCK)
    _export("SHM_UNLOCK", compat.SHM_UNLOCK)
if compat.SYSVSHM_HAVE_SHM_REMAP:
    _export("SHM_REMAP", compat.SHM_REMAP)
if compat.SYSVSHM_HAVE_SHM_EXEC:
    _export("SHM_EXEC", compat.SHM_EXEC)
if compat.SYSVSHM_HAVE_SHM_HUGETLB:
    _export("SHM_HUGETLB", compat.SHM_HUGETLB)
if compat.SYSVSHM_HAVE_SHM_NORESERVE:
    _export("SHM_NORESERVE", compat.SHM_NORESERVE)
if compat.SYSVSHM_HAVE_SHM_HUGE:
    _export("SHM_HUGE_2MB", compat.SHM_HUGE_2MB)
    _export("SHM_HUGE_1GB", compat.SHM_HUGE_1GB)

# shmget() flags the segment object accepts besides IPC_CREAT/IPC_EXCL: the huge
# page request with its size selector (bits 26..31 on Linux) and SHM_NORESERVE.
cdef int _HUGE_MASK = (0x3f << 26) if compat.SYSVSHM_HAVE_SHM_HUGE else 0
cdef int _CREATE_FLAGS = (c_ipc.IPC_CREAT | c_ipc.IPC_EXCL | compat.SHM_HUGETLB
                          | compat.SHM_NORESERVE | _HUGE_MASK)
cdef int _SHMAT_FLAGS = c_shm.SHM_RDONLY | c_shm.SHM_RND | compat.SHM_EXEC


# The result types (sysvshm/_types.py), imported at the first shmctl() that
# returns one: importing sysvshm.mmap, or attaching a segment, needs none of them.
cdef object _types = None


cdef object _result_types():
    global _types
    if _types is None:
        from sysvshm import _types as module
        _types = module
    return _types


# -- errors ------------------------------------------------------------------

cdef str _key_str(key_t key):
    return f"0x{<unsigned int>key:08x}"


cdef bint _id_exists(int shmid) noexcept nogil:
    cdef compat.sysvshm_stat_t st
    if compat.sysvshm_stat(shmid, c_ipc.IPC_STAT, &st) == 0:
        return True
    return errno == EACCES


cdef int _raise_for_id(int err, int shmid, str what) except -1:
    """Raise for a failed call on a segment id.

    The kernel answers EINVAL (or EIDRM) for an id that names no segment; that is
    FileNotFoundError to a Python user, as a missing path is.
    """
    cdef bint exists
    if err == EINVAL or err == EIDRM:
        with nogil:
            exists = _id_exists(shmid)
        if not exists:
            raise_oserror(ENOENT, f"no shared memory segment has id {shmid}")
    if err == EACCES:
        raise_oserror(err, f"segment {shmid} does not grant {what} access to this user")
    if err == EPERM:
        raise_oserror(err, f"only the owner, the creator or a privileged process "
                           f"may {what} segment {shmid}")
    raise_oserror(err, f"segment {shmid}")


def _limits_or_none():
    try:
        return _ipc_info(), _shm_info()
    except OSError:
        return None, None


cdef str _shmget_detail(int err, key_t key, size_t size, int flags):
    """Say which limit or rule a failed shmget() ran into (shmget(2), ERRORS)."""
    cdef compat.sysvshm_stat_t st
    cdef int other
    memset(&st, 0, sizeof(st))
    cdef bint creating = key == c_ipc.IPC_PRIVATE or (flags & c_ipc.IPC_CREAT)
    info = usage = None
    if err == EINVAL or err == ENOSPC:
        info, usage = _limits_or_none()
    if err == EINVAL:
        if info is not None and size > info.shmmax:
            return f"size {size} is above the system limit shmmax={info.shmmax} (kernel.shmmax)"
        if key != c_ipc.IPC_PRIVATE:
            with nogil:
                other = c_shm.shmget(key, 0, 0)
                if other != -1 and compat.sysvshm_stat(other, c_ipc.IPC_STAT, &st) == -1:
                    other = -1
            if other != -1 and <unsigned long long>st.size < size:
                return (f"the segment with key {_key_str(key)} has {st.size} bytes, "
                        f"fewer than the {size} asked for")
        if creating and info is not None and size < info.shmmin:
            return f"size {size} is below the system minimum shmmin={info.shmmin}"
        return "invalid size or flags"
    if err == ENOSPC:
        if info is not None and usage.used_ids >= info.shmmni:
            return (f"all shmmni={info.shmmni} segment ids are in use (kernel.shmmni); "
                    f"remove unused segments or raise the limit")
        if info is not None:
            pages = (size + PAGESIZE - 1) // PAGESIZE
            return (f"{pages} more pages would exceed the system limit shmall={info.shmall} "
                    f"pages (kernel.shmall; {usage.shm_tot} in use)")
        return "a system limit on shared memory was reached"
    if err == ENOENT:
        return f"no segment has key {_key_str(key)} (pass IPC_CREAT to create one)"
    if err == EEXIST:
        return f"a segment with key {_key_str(key)} already exists"
    if err == EACCES:
        return f"the segment with key {_key_str(key)} does not grant this user the access asked for"
    if err == ENOMEM and (flags & compat.SHM_HUGETLB):
        return "no free huge pages: reserve some with vm.nr_hugepages"
    if err == ENOMEM:
        return "the kernel could not allocate the segment"
    if err == EPERM and (flags & compat.SHM_HUGETLB):
        return "SHM_HUGETLB needs CAP_IPC_LOCK or membership of vm.hugetlb_shm_group"
    return f"key {_key_str(key)}"


cdef int _shmget(key_t key, size_t size, int flags) except -1:
    cdef int shmid, err = 0
    with nogil:
        shmid = c_shm.shmget(key, size, flags)
        if shmid == -1:
            err = errno
    if shmid == -1:
        raise_oserror(err, _shmget_detail(err, key, size, flags))
    return shmid


cdef int _ctl(int shmid, int cmd, str what) except -1:
    cdef int rc, err = 0
    with nogil:
        rc = c_shm.shmctl(shmid, cmd, NULL)
        if rc == -1:
            err = errno
    if rc == -1:
        if err == ENOMEM and cmd == compat.SHM_LOCK:
            raise_oserror(err, f"locking segment {shmid} would exceed RLIMIT_MEMLOCK")
        _raise_for_id(err, shmid, what)
    return 0


cdef object _stat(int shmid, int cmd):
    cdef compat.sysvshm_stat_t st
    cdef int rc, err = 0
    memset(&st, 0, sizeof(st))
    with nogil:
        rc = compat.sysvshm_stat(shmid, cmd, &st)
        if rc == -1:
            err = errno
    if rc == -1:
        if cmd == c_ipc.IPC_STAT:
            _raise_for_id(err, shmid, "read")
        raise_oserror(err, f"no segment at index {shmid}")
    return stat_result_of(shmid if cmd == c_ipc.IPC_STAT else rc, &st)


cdef object stat_result_of(int shmid, const compat.sysvshm_stat_t *st):
    """The stat_result of a segment's struct (also the inventory's, through _shm.pxd)."""
    return _result_types().stat_result(
        shmid, <key_t>st.key, st.uid, st.gid, st.cuid, st.cgid, st.mode & 0o777, st.size,
        st.atime, st.dtime, st.ctime, st.cpid, st.lpid, st.nattch,
        bool(st.mode & compat.SYSVSHM_SHM_DEST), bool(st.mode & compat.SYSVSHM_SHM_LOCKED))


cdef object _ipc_info():
    cdef compat.sysvshm_info_t si
    cdef int rc, err = 0
    memset(&si, 0, sizeof(si))
    with nogil:
        rc = compat.sysvshm_ipc_info(&si)
        if rc == -1:
            err = errno
    if rc == -1:
        raise_oserror(err, "IPC_INFO")
    return _result_types().shminfo(si.shmmax, si.shmmin, si.shmmni, si.shmseg, si.shmall, rc)


cdef object _shm_info():
    cdef compat.sysvshm_usage_t su
    cdef int rc, err = 0
    memset(&su, 0, sizeof(su))
    with nogil:
        rc = compat.sysvshm_shm_info(&su)
        if rc == -1:
            err = errno
    if rc == -1:
        raise_oserror(err, "SHM_INFO")
    result_type = _result_types().shm_info
    return result_type(su.used_ids, su.shm_tot, su.shm_rss, su.shm_swp,
                       su.swap_attempts, su.swap_successes, rc)


cdef int _set(int shmid, long long uid, long long gid, long long mode) except -1:
    cdef int rc, err = 0
    with nogil:
        rc = compat.sysvshm_set(shmid, uid, gid, mode)
        if rc == -1:
            err = errno
    if rc == -1:
        _raise_for_id(err, shmid, "change")
    return 0


cdef int _check_mode(int mode) except -1:
    if mode & ~0o777:
        raise ValueError(f"mode {mode:#o} is not a permission mask (0 <= mode <= 0o777)")
    return 0


cdef int _shm_release(char *addr, Py_ssize_t size) noexcept nogil:
    return c_shm.shmdt(addr)


# -- the segment object ----------------------------------------------------

cdef class shm(MappedBuffer):
    """A System V shared memory segment, attached, with the interface of mmap.mmap.

    With IPC_PRIVATE (the default) a new segment of *size* bytes is created. With
    any other key the segment of that key is attached, or created when *flags*
    has IPC_CREAT (IPC_EXCL: fail if it exists). ``shmid=`` attaches an existing
    segment by id instead. *size* 0 on attach means the whole segment; ``len()``
    is always the size the creator asked for, never page-rounded. *mode* holds the
    permission bits of a new segment (default 0o600: owner only). ACCESS_READ
    attaches read-only (SHM_RDONLY).

    The segment outlives this object: call remove() (IPC_RMID) to have the
    kernel destroy it once the last process detaches.
    """
    # What inspect.signature() and help() show (a Cython class has no text signature).
    __signature__ = _ClassSignature("(key=IPC_PRIVATE, size=0, flags=0, mode=0o600, *, "
                                    "access=ACCESS_DEFAULT, shmid=None, prefault=False)")

    def __init__(self, key=IPC_PRIVATE, size=0, flags=0, mode=0o600, *,
                 access=ACCESS_DEFAULT, shmid=None, prefault=False):
        cdef Py_ssize_t c_size = as_ssize(size)
        cdef key_t k
        cdef int sid
        cdef bint created = False
        cdef int c_flags = as_int(flags)
        cdef int c_mode = as_int(mode)
        cdef int c_access = as_int(access)
        if self._initialized:
            raise TypeError("shm object is already initialized")
        _check_access(c_access)
        if c_size < 0:
            raise ValueError("segment size must not be negative")
        _check_mode(c_mode)
        if shmid is not None:
            if key != c_ipc.IPC_PRIVATE or c_flags:
                raise ValueError("shmid= attaches an existing segment: give no key or flags")
            self._attach(as_shmid(shmid), c_access, c_size, 0)
            if prefault:
                self._prefault_or_undo(False)
            return
        k = as_key(key)
        if c_flags & ~_CREATE_FLAGS:
            raise ValueError(
                f"flags {c_flags:#o} has bits that are not IPC_CREAT, IPC_EXCL, SHM_HUGETLB, "
                f"SHM_HUGE_* or SHM_NORESERVE (permission bits go in mode=)")
        sid, created = _get_segment(k, c_size, c_flags, c_mode)
        try:
            self._attach(sid, c_access, c_size, 0, created, k)
        except BaseException:
            if created:
                _ctl(sid, c_ipc.IPC_RMID, "remove")
            raise
        if created and (c_flags & compat.SHM_HUGETLB) and (c_flags & compat.SHM_NORESERVE):
            self._populate_or_undo(c_access != ACCESS_READ_)
        elif prefault:
            self._prefault_or_undo(created)

    cdef int _populate_or_undo(self, bint write) except -1:
        # Huge pages without a reservation: a page that cannot be had when it is
        # first touched is a SIGBUS, so every page is allocated now, or the
        # segment is removed and OSError says why.
        try:
            self._populate(write)
        except OSError as exc:
            _remove_quietly(self._shmid)
            self._unmap()
            self._initialized = False
            raise_unreserved_huge(exc.errno, "SHM", "segment")
        return 0

    cdef int _prefault_or_undo(self, bint created) except -1:
        # A constructor that fails leaves nothing behind: not the attach, and not
        # a segment it created (e.g. SHM_HUGETLB|SHM_NORESERVE without free huge
        # pages fails here with EFAULT, after shmget and shmat succeeded).
        try:
            self.prefault()
        except BaseException:
            if created:
                _remove_quietly(self._shmid)
            self._unmap()
            self._initialized = False
            raise
        return 0

    cdef int _attach(self, int shmid, int access, Py_ssize_t size, int extra,
                     bint created=False, key_t key=0) except -1:
        """shmat() the segment; unless we just created it (so *size* and *key* are
        known), IPC_STAT it in the same GIL release to learn and check its size."""
        cdef void *addr
        cdef int err = 0, rc = 0
        cdef compat.sysvshm_stat_t st
        cdef int shmflg = extra | (c_shm.SHM_RDONLY if access == ACCESS_READ_ else 0)
        st.size = 0
        st.key = key
        with nogil:
            addr = c_shm.shmat(shmid, NULL, shmflg)
            if addr == <void *>-1:
                err = errno
            elif not created:
                # Attached, so the segment cannot vanish under IPC_STAT now.
                rc = compat.sysvshm_stat(shmid, c_ipc.IPC_STAT, &st)
                if rc == -1:
                    err = errno
                    c_shm.shmdt(addr)
        if addr == <void *>-1:
            _raise_for_id(err, shmid, "read" if access == ACCESS_READ_ else "read-write")
        if not created:
            if rc == -1:
                _raise_for_id(err, shmid, "read")
            if size > st.size:
                with nogil:
                    c_shm.shmdt(addr)
                raise ValueError(f"size {size} is larger than segment {shmid} ({st.size} bytes)")
            key = <key_t>st.key
            if size == 0:
                size = <Py_ssize_t>st.size
        self._set_memory(<char *>addr, size, access, _shm_release)
        self._shmid = shmid
        self._key = key
        self._shmat_flags = extra
        self._initialized = True
        return 0

    cdef str _repr_name(self):
        return "sysvshm.shm" if type(self) is shm else type(self).__name__

    cdef str _repr_tail(self):
        return f", key={_key_str(self._key)}, shmid={self._shmid}"

    @property
    def key(self):
        """The segment's key (IPC_PRIVATE is 0); readable after close()."""
        return self._key

    @property
    def shmid(self):
        """The segment's id; readable after close() (for shmctl)."""
        return self._shmid

    def stat(self):
        """shmctl(IPC_STAT): the segment's stat_result."""
        self._check_valid()
        return _stat(self._shmid, c_ipc.IPC_STAT)

    def remove(self):
        """shmctl(IPC_RMID): destroy the segment when the last process detaches.

        This mapping (and every other attached one) keeps working until closed.
        """
        self._check_valid()
        _ctl(self._shmid, c_ipc.IPC_RMID, "remove")

    def lock(self):
        """shmctl(SHM_LOCK): keep the segment's pages in RAM (never swapped)."""
        self._check_valid()
        _require("SHM_LOCK", compat.SYSVSHM_HAVE_SHM_LOCK)
        _ctl(self._shmid, compat.SHM_LOCK, "lock")

    def unlock(self):
        """shmctl(SHM_UNLOCK): let the segment's pages be swapped again."""
        self._check_valid()
        _require("SHM_UNLOCK", compat.SYSVSHM_HAVE_SHM_LOCK)
        _ctl(self._shmid, compat.SHM_UNLOCK, "unlock")

    def chmod(self, mode):
        """shmctl(IPC_SET): set the permission bits."""
        cdef int c_mode = as_int(mode)
        self._check_valid()
        _check_mode(c_mode)
        _set(self._shmid, -1, -1, c_mode)

    def chown(self, uid, gid):
        """shmctl(IPC_SET): set the owner; -1 keeps the current uid or gid."""
        self._check_valid()
        _set(self._shmid, as_owner_id(uid, "uid"), as_owner_id(gid, "gid"), -1)

    def resize(self, newsize, /):
        """Always refused: a System V segment cannot change size.

        The checks are mmap.mmap.resize()'s, in its order (closed, the argument,
        exported buffers, read-only, a negative size); then SystemError, which is
        what the stdlib raises where it cannot resize (no mremap) and what code
        written for mmap treats as "resizing not supported". Create a new segment
        and copy the data instead.
        """
        cdef Py_ssize_t new_size
        self._check_valid()
        new_size = as_ssize(newsize)
        self._check_valid()  # __index__ may have closed us
        if self._exports > 0:
            raise_resize_exported()
        if self._readonly:
            raise_resize_readonly()
        if new_size < 0:
            raise ValueError("new size out of range")
        raise SystemError(f"a System V shared memory segment cannot be resized (segment "
                          f"{self._shmid}, {self._size} bytes): create a new segment of "
                          f"{new_size} bytes and copy the data")

    def __reduce__(self):
        # Re-attach the same segment by id (and with the same access) wherever
        # this is unpickled: that is what multiprocessing needs under spawn.
        self._check_valid()
        state = getattr(self, "__dict__", None) or None
        return (_rebuild, (type(self), self._shmid, self._access, self._size,
                           self._shmat_flags), state)


def _rebuild(cls, shmid, access, size, flags):
    # A pickle is input like any other: check what it hands us before using it.
    if not (isinstance(cls, type) and issubclass(cls, shm)):
        raise TypeError(f"cannot rebuild a segment object as {cls!r}")
    cdef int c_access = as_int(access)
    cdef int c_flags = as_int(flags)
    cdef Py_ssize_t c_size = as_ssize(size)
    _check_access(c_access)
    if c_size < 0:
        raise ValueError("segment size must not be negative")
    if c_flags & ~(c_shm.SHM_RND | compat.SHM_EXEC):
        raise ValueError(f"flags {c_flags:#o} are not shmat() flags sysvshm takes")
    cdef shm obj = cls.__new__(cls)
    obj._attach(as_shmid(shmid), c_access, c_size, c_flags)
    return obj


cdef void _remove_quietly(int shmid) noexcept:
    with nogil:
        c_shm.shmctl(shmid, c_ipc.IPC_RMID, NULL)


cdef int _check_access(int access) except -1:
    if access == ACCESS_COPY_:
        raise ValueError("ACCESS_COPY is not supported: a System V segment has no "
                         "copy-on-write attach")
    if access < ACCESS_DEFAULT_ or access > ACCESS_WRITE_:
        raise ValueError("mmap invalid access parameter.")
    return 0


cdef int _require(str name, int have) except -1:
    if not have:
        raise NotImplementedError(f"{name} is not available on this platform")
    return 0


cdef tuple _get_segment(key_t key, Py_ssize_t size, int flags, int mode):
    """shmget() for the segment object: return (shmid, created_by_us)."""
    if key == c_ipc.IPC_PRIVATE:
        if size == 0:
            raise ValueError("cannot create an empty segment: size must be > 0")
        return _shmget(key, size, flags | mode), True
    if not (flags & c_ipc.IPC_CREAT) or (size == 0 and not (flags & c_ipc.IPC_EXCL)):
        # Attaching: no permission bits, so shmget() checks nothing that shmat()
        # would not (a read-only attach of a 0o644 segment must not fail here).
        try:
            return _shmget(key, size, flags & ~(c_ipc.IPC_CREAT | c_ipc.IPC_EXCL)), False
        except FileNotFoundError:
            if flags & c_ipc.IPC_CREAT:
                raise ValueError("cannot create an empty segment: size must be > 0") from None
            raise
    if flags & c_ipc.IPC_EXCL:
        # Size 0 too: the kernel answers EEXIST for an existing key before it
        # looks at the size, as the C call (and sysv_ipc) would.
        try:
            return _shmget(key, size, flags | mode), True
        except OSError as exc:
            if size == 0 and exc.errno == EINVAL:
                raise ValueError("cannot create an empty segment: size must be > 0") from None
            raise
    # IPC_CREAT alone: try to create exclusively so that we know whether we did
    # (and must remove it if attaching fails); else attach the existing one.
    while True:
        try:
            return _shmget(key, size, flags | c_ipc.IPC_EXCL | mode), True
        except FileExistsError:
            pass
        try:
            return _shmget(key, size, flags & ~c_ipc.IPC_CREAT), False
        except FileNotFoundError:
            continue  # removed between the two calls: try creating again


# -- the C API -------------------------------------------------------------

def ftok(path, proj_id):
    """ftok(3): derive a key from an existing file's inode and a project id (1-255)."""
    cdef key_t key
    cdef int err = 0
    cdef const char *cpath
    cdef int c_id = as_int(proj_id)
    if c_id < 1 or c_id > 255:
        raise ValueError(f"proj_id must be in range(1, 256), not {proj_id}")
    cdef bytes encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise ValueError("embedded null byte")
    cpath = encoded
    with nogil:
        key = compat.sysvshm_ftok(cpath, c_id, &err)
    if err:
        raise_oserror(err, None, path)
    return key


def shmget(key, size=0, flags=0):
    """shmget(2): return the id of the segment of *key*, created if flags has IPC_CREAT.

    The low 9 bits of *flags* are the permission bits of a new segment, as in C.
    """
    cdef Py_ssize_t c_size = as_ssize(size)  # first, as when it was a typed parameter
    cdef key_t k = as_key(key)
    cdef int c_flags = as_int(flags)
    if c_size < 0:
        raise ValueError("segment size must not be negative")
    return _shmget(k, c_size, c_flags)


def shmat(shmid, flags=0, *, prefault=False):
    """shmat(2): attach the segment *shmid*; return a shm object.

    *flags* may hold SHM_RDONLY (a read-only object), SHM_EXEC and SHM_RND. The
    attach address is always chosen by the kernel, so SHM_REMAP is refused.
    """
    cdef int sid = as_shmid(shmid)
    cdef int c_flags = as_int(flags)
    if c_flags & ~_SHMAT_FLAGS:
        raise ValueError(f"flags {c_flags:#o} has bits that are not SHM_RDONLY, SHM_EXEC "
                         f"or SHM_RND (sysvshm never takes an attach address)")
    cdef shm obj = shm.__new__(shm)
    obj._attach(sid, ACCESS_READ_ if c_flags & c_shm.SHM_RDONLY else ACCESS_DEFAULT_, 0,
                c_flags & ~c_shm.SHM_RDONLY)
    if prefault:
        obj.prefault()
    return obj


def shmdt(seg):
    """shmdt(2): detach *seg*, a shm object (the same as seg.close())."""
    if not isinstance(seg, shm):
        raise TypeError(f"shmdt() argument must be a sysvshm.shm, not {type(seg).__name__}")
    seg.close()


def shmctl(shmid, cmd, buf=None):
    """shmctl(2).

    IPC_STAT -> stat_result; SHM_STAT/SHM_STAT_ANY take an index, not an id, and
    return a stat_result whose shmid is the segment's id; IPC_SET takes *buf*, a
    stat_result or mapping with any of uid, gid, mode; IPC_RMID, SHM_LOCK and
    SHM_UNLOCK return None; IPC_INFO -> shminfo; SHM_INFO -> shm_info.
    """
    cdef int sid = as_shmid(shmid)
    cmd = as_int(cmd)
    if cmd == c_ipc.IPC_SET:
        if buf is None:
            raise TypeError("IPC_SET needs buf: a stat_result or a mapping of uid, gid, mode")
        uid, gid, mode = _set_fields(buf)
        mode = as_int(mode)
        if mode != -1:
            _check_mode(mode)
        _set(sid, as_owner_id(uid, "uid"), as_owner_id(gid, "gid"), mode)
        return None
    if buf is not None:
        raise TypeError(f"shmctl command {cmd} takes no buf")
    if cmd == c_ipc.IPC_STAT:
        return _stat(sid, cmd)
    if cmd == c_ipc.IPC_RMID:
        _ctl(sid, cmd, "remove")
        return None
    if (compat.SYSVSHM_HAVE_SHM_STAT and cmd == compat.SHM_STAT) or (
            compat.SYSVSHM_HAVE_SHM_STAT_ANY and cmd == compat.SHM_STAT_ANY):
        return _stat(sid, cmd)
    if compat.SYSVSHM_HAVE_SHM_LOCK and (cmd == compat.SHM_LOCK or cmd == compat.SHM_UNLOCK):
        _ctl(sid, cmd, "lock" if cmd == compat.SHM_LOCK else "unlock")
        return None
    if compat.SYSVSHM_HAVE_IPC_INFO and cmd == compat.IPC_INFO:
        return _ipc_info()
    if compat.SYSVSHM_HAVE_SHM_INFO and cmd == compat.SHM_INFO:
        return _shm_info()
    raise ValueError(f"unknown shmctl command {cmd}")


def _set_fields(buf):
    if hasattr(buf, "keys"):
        unknown = set(buf.keys()) - {"uid", "gid", "mode"}
        if unknown:
            raise ValueError(f"IPC_SET can change uid, gid and mode, not {sorted(unknown)}")
        return buf.get("uid", -1), buf.get("gid", -1), buf.get("mode", -1)
    try:
        return buf.uid, buf.gid, buf.mode
    except AttributeError:
        raise TypeError(
            "IPC_SET buf must be a stat_result or a mapping of uid, gid, mode") from None
