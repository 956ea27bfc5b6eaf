"""Named blocks: this package's counterpart of the stdlib's _posixshmem.

A name maps to one System V key; the block is the segment of that key. Whether a
segment is one of our blocks is decided from kernel metadata alone (shmctl
IPC_STAT or /proc/sysvipc/shm), before anything is attached or read:

* its key is not IPC_PRIVATE, and
* its size, modulo 4096, is the *signature* of its key: a value from 1 to 4094
  derived from the key, odd for tracked blocks and even for untracked ones.
  The creator pads the segment (by less than one page) to make it so.

A foreign segment passes only if it holds the very key a name hashes to *and* a
size with the one residue out of 4096 that key calls for; even then its header
is read only after an ``MADV_POPULATE_READ`` (or a copy through a pipe) has
shown that reading cannot fault, and it is used only if the header names the
block. So a lookup is three or four system calls whatever the number of
segments on the machine, and touches no segment but the one it returns.

Lifetime of tracked blocks: every process using one keeps it attached until it
ends or unlinks the block (``keepalive``), so a tracked block with nobody
attached that was attached once is *abandoned*: all its users are gone, however
they ended. No lookup attaches such a block; the next lookup or creation of its
name removes it (if it is the caller's own; metadata decides, nothing is
attached), as a stdlib block is unlinked by its resource tracker. Blocks whose
names are never used again stay until ``sysvshm rm --orphans --keyed``.
"""
import errno
import os
import struct
import sys

# The C modules behind threading.RLock, collections.deque and hashlib.blake2b:
# importing those three would cost more than the rest of sysvshm.shared_memory.
from _collections import deque  # type: ignore[import-not-found]  # (typeshed has no stub)
from _thread import RLock

try:
    from _blake2 import blake2b
except ImportError:  # a CPython built without its own BLAKE2 takes OpenSSL's
    from hashlib import blake2b

from sysvshm import _shm
from sysvshm._buffer import ACCESS_DEFAULT, ACCESS_READ
from sysvshm._inventory import pid_gone

HEADER = max(_shm.PAGESIZE, 4096)  # data starts page-aligned, as an mmap's does
MAGIC = b"SYSVSHM\x02"
_NO_MAGIC = bytes(len(MAGIC))
_FIXED = struct.Struct("=8sQII")  # magic, size, flags, name length
TRACKED = 1
UNLINKED = 2
MAX_NAME = HEADER - _FIXED.size
_UNIT = 4096
_MADV_POPULATE_READ = 22 if sys.platform.startswith("linux") else None  # Linux 5.14+


# -- names, keys and signatures --------------------------------------------------------

NAME_MAX = 255  # what shm_open accepts after the leading slashes (glibc: NAME_MAX)


def _filename(name):
    """The name as the stdlib's errors show it: the shm_open argument."""
    return name if name.startswith("/") else "/" + name


def identity(name):
    """The bytes a name stands for (leading slashes ignored, as shm_open does).

    Refused as shm_open refuses it: ValueError for an embedded NUL, OSError
    EINVAL for an empty name or a "/" after the leading ones, ENAMETOOLONG for
    more than NAME_MAX bytes."""
    if not isinstance(name, str):
        raise TypeError(f"name must be str, not {type(name).__name__}")
    if "\0" in name:
        raise ValueError("embedded null character")
    # Strict UTF-8 of the whole name, as the stdlib's _posixshmem encodes it (the
    # same UnicodeEncodeError); "/" is one byte, so stripping it after is the same.
    encoded = name.encode("utf-8").lstrip(b"/")
    if not encoded or b"/" in encoded:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), _filename(name))
    if len(encoded) > NAME_MAX:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), _filename(name))
    return encoded


_keys: dict[bytes, int] = {}  # ident -> key: a name looked up again costs no hash


def key_of(ident):
    """The System V key of a name: 32 bits of BLAKE2b, never IPC_PRIVATE."""
    key = _keys.get(ident)
    if key is None:
        key = int.from_bytes(blake2b(b"sysvshm:" + ident, digest_size=4).digest(), "big") or 1
        if len(_keys) >= 1024:
            _keys.clear()
        _keys[ident] = key
    return key


def signature(key, tracked):
    """The residue modulo 4096 of the size of the block of *key*: 1..4094."""
    k = key & 0xFFFFFFFF
    mixed = (k ^ (k >> 11) ^ (k >> 22)) % 2047
    return 1 + 2 * mixed + (1 if tracked else 0)


def segment_size(key, size, tracked):
    """Header plus *size* bytes, padded up to the signature."""
    least = HEADER + size
    return least + (signature(key, tracked) - least) % _UNIT


def kind(st):
    """From a stat_result alone: TRACKED or 0 for one of our blocks, None otherwise."""
    if st.key == 0 or st.size < HEADER + 1:
        return None
    residue = st.size % _UNIT
    if residue == signature(st.key, True):
        return TRACKED
    if residue == signature(st.key, False):
        return 0
    return None


def abandoned(st):
    """Whether *st* is a tracked block whose users are all gone (metadata only).

    Users of a tracked block stay attached until they end or unlink it, so one
    that was attached once (atime) and has nobody attached is abandoned; one
    never attached is abandoned only once its creator is known to be gone. The
    creator is always the first to attach: lookups leave a block alone until then.
    """
    if kind(st) != TRACKED or st.nattch != 0 or st.removed:
        return False
    return st.atime != 0 or pid_gone(st.cpid)


def _remove(shmid):
    try:
        _shm.shmctl(shmid, _shm.IPC_RMID)
    except (FileNotFoundError, PermissionError):
        pass


_CLAIMED = 0  # the mode of a block being reclaimed (blocks are made 0o600)


def _reclaim(st):
    """Remove the abandoned block *st* of a name being looked up or created, if it
    is the caller's own (uid or cuid); True if it is gone.

    Metadata decides that it is ours (it holds the very key the name hashes to
    and its key's size signature: odds of about 1 in 2**44 for a foreign one) and
    abandoned. Metadata read a moment ago may be stale, so the removal is a
    claim, then a check: the mode is set to 0 first, and every lookup that
    attaches checks the mode *after* its attach and gives up on a claimed block.
    So a lookup that did not give up was attached before the claim, and shows in
    the nattch read after it: then the claim is withdrawn, and nothing is lost.
    """
    if os.geteuid() not in (st.uid, st.cuid):
        return False  # another user's: theirs (or their administrator's) to remove
    try:
        _shm.shmctl(st.shmid, _shm.IPC_SET, {"mode": _CLAIMED})
        now = _shm.shmctl(st.shmid, _shm.IPC_STAT)
    except (FileNotFoundError, PermissionError):
        return True  # removed meanwhile (or not ours to claim after all)
    if now.nattch == 0:
        _remove(st.shmid)
        return True
    try:
        _shm.shmctl(st.shmid, _shm.IPC_SET, {"mode": st.mode})  # someone attached: live
    except (FileNotFoundError, PermissionError):
        pass
    return False


# -- the header --------------------------------------------------------------------

def _copy_header(seg):
    """The header's bytes, read so that no fault can kill the process.

    MADV_POPULATE_READ fails with EFAULT where a read would raise SIGBUS (a huge
    page segment without pages, say); older kernels refuse the advice, and then
    the bytes go through a pipe, where the kernel answers EFAULT the same way.
    Returns None when the page cannot be read.
    """
    if _MADV_POPULATE_READ is not None:
        try:
            seg.madvise(_MADV_POPULATE_READ, 0, HEADER)
            return seg[:HEADER]
        except OSError as exc:
            if exc.errno == errno.EFAULT:
                return None
            if exc.errno != errno.EINVAL:
                raise
    r, w = os.pipe()
    try:
        with memoryview(seg) as view, view[:HEADER] as head:
            try:
                os.write(w, head)
            except OSError as exc:
                if exc.errno == errno.EFAULT:
                    return None
                raise
        return os.read(r, HEADER)
    finally:
        os.close(r)
        os.close(w)


def parse(raw, total):
    """(name, size, flags) from a header's bytes, or None if they are not a whole,
    consistent header for a segment of *total* bytes. Never trusts a field."""
    if raw is None or len(raw) < _FIXED.size:
        return None
    magic, size, flags, length = _FIXED.unpack_from(raw, 0)
    if magic != MAGIC or length > MAX_NAME or flags & ~(TRACKED | UNLINKED):
        return None
    if not HEADER + size <= total < HEADER + size + _UNIT:
        return None
    return bytes(raw[_FIXED.size:_FIXED.size + length]), size, flags


def header_of(seg):
    """(name, size, flags) of an attached block, read safely and checked."""
    return parse(_copy_header(seg), len(seg))


def mark_unlinked(seg):
    magic, size, flags, length = _FIXED.unpack_from(seg, 0)
    _FIXED.pack_into(seg, 0, magic, size, flags | UNLINKED, length)


def unlinked(seg):
    """Whether the block attached as *seg* was unlinked (its header says so)."""
    magic, _, flags, _ = _FIXED.unpack_from(seg, 0)
    return magic != MAGIC or bool(flags & UNLINKED)


# -- the array record (sysvshm.ndarray), after the name in the header page ----------

RECORD = 1024  # the name ends before byte 280
RECORD_MAGIC = b"SVNDARR\x01"
RECORD_FIXED = struct.Struct("=8sI")  # magic, length of the JSON that follows
RECORD_MAX = HEADER - RECORD - RECORD_FIXED.size


def raw_record(raw):
    """The array record's JSON bytes from a header's bytes, or None (no record,
    or a length that cannot be one)."""
    magic, length = RECORD_FIXED.unpack_from(raw, RECORD)
    if magic != RECORD_MAGIC or length > RECORD_MAX:
        return None
    start = RECORD + RECORD_FIXED.size
    return bytes(raw[start:start + length])


def read_header(st, idle=False):
    """(name, size, flags, raw header) of the named block *st*, or None if it is
    not a block or cannot be read.

    Blocks are picked from the kernel's metadata alone, and one is read by
    attaching it read-only for a moment, which makes this process its last
    user (lpid). So a block nobody has attached (nattch 0) is read only if
    *idle*: otherwise a process that ends at once would become its last user,
    and the block could turn into an orphan (sysvshm rm --orphans --keyed)."""
    if (kind(st) is None or st.removed or st.atime == 0 or st.mode == _CLAIMED
            or (st.nattch == 0 and not idle)):
        return None
    try:
        seg = _shm.shm(shmid=st.shmid, access=ACCESS_READ)
    except (OSError, ValueError):
        return None
    try:
        raw = _copy_header(seg)
        head = parse(raw, len(seg))
        if head is None or head[2] & UNLINKED or key_of(head[0]) != st.key & 0xFFFFFFFF:
            return None
        return (*head, raw)
    finally:
        seg.close()


def describe(st):
    """(name, shape, dtype text) of the named block *st* (shape and dtype None
    unless it is an array), read as read_header() reads it; None if it is not
    a block, nobody has it attached, or it cannot be read."""
    import json

    found = read_header(st)
    if found is None:
        return None
    name, _, _, raw = found
    name = name.decode("utf-8", "replace")
    record = raw_record(raw)
    if record is None:
        return name, None, None
    try:
        rec = json.loads(record)
        shape = tuple(rec["shape"])
        if not all(type(d) is int and d >= 0 for d in shape):
            raise ValueError
        descr = rec["descr"]
        # Whatever another process wrote there: shown, never a traceback.
        return name, shape, descr if isinstance(descr, str) else repr(_field_tuples(descr))
    except Exception:
        return name, None, "(overwritten)"


def _field_tuples(descr):
    # JSON gave lists; a structured dtype's description shows as numpy's.
    if not isinstance(descr, list):
        return descr
    return [tuple(_field_tuples(x) if isinstance(x, list) and i == 1 else
                  tuple(x) if isinstance(x, list) else x for i, x in enumerate(f))
            for f in descr]


# -- errors, worded as the stdlib's (its filename is the shm_open path) ------------

def not_found(name):
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), _filename(name))


def exists(name, detail=""):
    return FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST) + detail, _filename(name))


def denied(name):
    return PermissionError(errno.EACCES, os.strerror(errno.EACCES), _filename(name))


# -- lookup, creation, unlink -------------------------------------------------------

def _id_of(key):
    """The id of the segment of *key*, or -1 if there is none (or this user may not
    even look it up: the kernel does not say more then)."""
    try:
        return _shm.shmget(key)
    except OSError:
        return -1


def _stat(shmid, name):
    """IPC_STAT of the segment of a name's key; None if it went away meanwhile."""
    try:
        return _shm.shmctl(shmid, _shm.IPC_STAT)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise denied(name) from None


def _block_stat(name, ident):
    """IPC_STAT of the block on *ident*'s key, or None if there is no segment there
    or its metadata does not mark it as a block; nothing is attached."""
    shmid = _id_of(key_of(ident))
    st = _stat(shmid, name) if shmid != -1 else None
    return st if st is not None and kind(st) is not None else None


def live_stat(name, ident):
    """IPC_STAT of the block on *ident*'s key if the kernel's metadata shows it
    live (not removed, not being reclaimed), else None; nothing is attached."""
    st = _block_stat(name, ident)
    if st is None or st.removed or st.mode == _CLAIMED or st.atime == 0:
        return None
    return st


def exists_by_metadata(name):
    """Whether the kernel holds a block on *name*'s key (its metadata says so)."""
    return _block_stat(name, identity(name)) is not None


def attach(name, ident, readonly=False, raw=False):
    """(seg, size, tracked) for the live block named *ident*; FileNotFoundError,
    PermissionError as the stdlib's shm_open would raise them. With *raw*, the
    header's bytes as read and checked come fourth."""
    for _ in range(3):
        try:
            found = _attach(name, ident, readonly)
            return found if raw else found[:3]
        except _Claimed:
            continue  # a reclaim backed off because someone attached: look again
    raise not_found(name)


class _Claimed(Exception):
    """The block was claimed for removal while we looked (see _reclaim)."""


def _attach(name, ident, readonly):
    st = _block_stat(name, ident)
    if st is None:
        raise not_found(name)  # no segment, or one that is not ours: never attached
    shmid = st.shmid
    if abandoned(st):
        if _reclaim(st) or os.geteuid() not in (st.uid, st.cuid):
            raise not_found(name)  # its users are gone: never attached again
        raise _Claimed()
    if st.mode == _CLAIMED:
        raise not_found(name)  # being reclaimed by another process
    if st.atime == 0:
        # Its creator has not attached it yet. Nobody else attaches such a block:
        # an attach would make it look abandoned the moment it ended.
        raise not_found(name)
    try:
        seg = _shm.shm(shmid=shmid, access=ACCESS_READ if readonly else ACCESS_DEFAULT)
    except FileNotFoundError:
        raise not_found(name) from None
    except PermissionError:
        now = _stat(shmid, name)
        if now is None or now.mode == _CLAIMED:
            raise not_found(name) from None  # claimed for removal meanwhile
        raise denied(name) from None
    try:
        now = seg.stat()
        if now.removed or now.mode == _CLAIMED:
            raise not_found(name)  # unlinked, or claimed for removal: see _reclaim
        raw = _copy_header(seg)
        header = parse(raw, len(seg))
        if header is None or header[0] != ident or header[2] & UNLINKED:
            raise not_found(name)  # being set up, unlinked, or another name's
        if bool(header[2] & TRACKED) != (kind(st) == TRACKED):
            raise not_found(name)  # a header that contradicts the kernel's metadata
    except BaseException:
        seg.close()
        raise
    return seg, header[1], bool(header[2] & TRACKED), raw


def create(name, ident, size, track, mode=0o600, setup=None):
    """Create, set up and return the block (attached); FileExistsError if taken.

    *setup*, if given, is called with the segment once the header is written
    and before it is published: nobody can attach the block until it returns,
    and if it raises, the block is removed."""
    key = key_of(ident)
    total = segment_size(key, size, track)
    for _ in range(100):
        try:
            # The key doubles as a lock on the name while the block is set up.
            seg = _shm.shm(key, total, _shm.IPC_CREAT | _shm.IPC_EXCL, mode)
            break
        except FileExistsError:
            pass
        _check_holder(name, ident, key)
    else:
        raise exists(name, ": the name's key stays taken")
    try:
        header = _FIXED.pack(_NO_MAGIC, size, TRACKED if track else 0, len(ident)) + ident
        seg[:len(header)] = header
        if setup is not None:
            setup(seg)
        seg[:len(MAGIC)] = MAGIC  # published last: a header with the magic is complete
    except BaseException:
        seg.remove()
        seg.close()
        raise
    return seg


def _check_holder(name, ident, key):
    """The name's key is taken: raise FileExistsError, unless its holder is an
    abandoned block (removed here) or went away (then the caller tries again)."""
    shmid = _id_of(key)
    if shmid == -1:
        return
    try:
        st = _shm.shmctl(shmid, _shm.IPC_STAT)
    except FileNotFoundError:
        return
    except PermissionError:
        raise exists(name) from None  # another user's: taken, as far as we may know
    if st.removed or st.key & 0xFFFFFFFF != key:
        return  # removed since shmget() (IPC_RMID makes its key IPC_PRIVATE): try again
    if kind(st) is None:
        raise exists(name, f": the System V key {key:#010x} of this name is in use "
                           f"by a segment that is not a sysvshm block")
    if abandoned(st):
        if _reclaim(st):
            return
        raise exists(name)
    if st.mode == _CLAIMED and st.nattch == 0:
        return  # another process is removing it: try again
    if st.atime == 0:
        raise exists(name)  # being set up (see attach())
    try:
        seg = _shm.shm(shmid=shmid, access=ACCESS_READ)
    except (FileNotFoundError, PermissionError):
        raise exists(name) from None
    try:
        header = header_of(seg)
    finally:
        seg.close()
    if header is not None and header[0] != ident:
        raise exists(name, f": the System V key {key:#010x} of this name is in use "
                           f"by the block {header[0].decode('utf-8', 'replace')!r}")
    raise exists(name)


def unlink(seg):
    """Unlink the attached block *seg*: its name is free at once, its memory goes
    when the last process detaches. Returns False if it was unlinked already.

    IPC_RMID is issued whatever the header says (another process may have
    scribbled on it): the segment is ours, known by the id we attached.
    """
    shmid = seg.shmid  # readable even if another thread closes seg from here on
    first = not unlinked(seg)
    try:
        # Removed first: a caller who may not remove it (EPERM: not the owner or
        # creator) gets PermissionError and the header stays as it was.
        _shm.shmctl(shmid, _shm.IPC_RMID)
    except FileNotFoundError:
        pass
    if first:
        mark_unlinked(seg)
    return first


# -- this process's keep-alive attaches, behind one lock -------------------------------

class _KeepAlive:
    """Attaches this process keeps for tracked blocks it closed but did not unlink,
    so such a block outlives close() until the process ends, as a stdlib one does.

    Entries whose block another process unlinked are dropped by sweep(), a few per
    call, so that each SharedMemory operation stays O(1) however many there are.

    ``lock`` is the one lock of this module's state and of SharedMemory's close()
    and unlink() (one for all: they are short, and a lock per object could not be
    re-created in a fork child whose parent forked while another thread held it).
    It is re-entrant: sweep() and keep() run Python code (unlinked()) while they
    hold it, and a signal handler or the garbage collector may close() another
    SharedMemory on this thread right there.
    """

    _PER_SWEEP = 8

    def __init__(self):
        self.lock = RLock()
        self._segs = {}
        self._order = deque()

    def _after_fork(self):
        # The lock may have been held by a thread the child does not have.
        self.lock = RLock()

    def keep(self, seg):
        """Keep *seg* attached (True), or close it if it is not worth keeping."""
        with self.lock:
            kept = self._segs.get(seg.shmid)
            if kept is seg:
                return True
            if kept is None and not seg.closed and not unlinked(seg):
                self._segs[seg.shmid] = seg
                self._order.append(seg.shmid)
                return True
        seg.close()
        return False

    def get(self, shmid):
        with self.lock:
            return self._segs.get(shmid)

    def drop(self, shmid):
        with self.lock:
            seg = self._segs.pop(shmid, None)
        if seg is not None:
            seg.close()

    def sweep(self):
        gone = []
        with self.lock:
            for _ in range(min(self._PER_SWEEP, len(self._order))):
                if not self._order:
                    break  # a sweep re-entered from a signal handler or gc took the rest
                shmid = self._order.popleft()
                seg = self._segs.get(shmid)
                if seg is None:
                    continue
                if seg.closed or unlinked(seg):
                    if self._segs.pop(shmid, None) is seg:
                        gone.append(seg)
                else:
                    self._order.append(shmid)
        for seg in gone:
            seg.close()

    def __len__(self):
        return len(self._segs)


keepalive = _KeepAlive()
os.register_at_fork(after_in_child=keepalive._after_fork)
