"""The result types: named tuples, as os.stat_result's fields are named.

They are made here rather than by typing.NamedTuple or collections.namedtuple
because ``import sysvshm`` needs them at once, and importing typing costs about
ten times the rest of the package together (collections alone, about the same
as the whole package); sysvshm/_types.pyi declares them as NamedTuple for type
checkers. Each behaves as a namedtuple does: a tuple subclass with no
``__dict__``, field attributes, ``_fields``, ``_field_defaults``, ``_make``,
``_replace``, ``_asdict``, the same repr, pickling and ``match`` patterns.
"""
import sys

# The C field accessor namedtuple itself uses (its errors: "can't set attribute");
# _collections is the C module behind collections, which would cost more than this
# module.
try:
    from _collections import _tuplegetter
except ImportError:  # not CPython
    from _operator import itemgetter

    def _tuplegetter(index, doc):
        return property(itemgetter(index), doc=doc)

_PY313 = sys.version_info >= (3, 13)
# The annotation of a field that may be None: what typing.NamedTuple kept was
# typing.Optional[int], which int | None equals (3.10+). 3.9 has no int | None, so
# it imports typing for it, as it did before.
if sys.version_info < (3, 10):
    from typing import Optional

    _OPTIONAL_INT = Optional[int]
else:
    _OPTIONAL_INT = int | None

__all__ = ["stat_result", "shminfo", "shm_info", "limits_result"]


def _make(cls, iterable):
    """Make a new instance from a sequence or iterable."""
    result = tuple.__new__(cls, iterable)
    if len(result) != len(cls._fields):
        raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(result)}")
    return result


def _replace(self, /, **changes):
    """Return a new instance with the named fields replaced by new values."""
    result = self._make(changes.pop(name, value) for name, value in zip(self._fields, self))
    if changes:
        # namedtuple's error, which 3.13 made a TypeError
        raise (TypeError if _PY313 else ValueError)(
            f"Got unexpected field names: {list(changes)!r}")
    return result


def _asdict(self):
    """Return a new dict which maps field names to their values."""
    return dict(zip(self._fields, self))


def _repr(self):
    fields = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
    return f"{type(self).__name__}({fields})"


def _getnewargs(self):
    # Pickled and copied as the plain tuple of values, passed back to __new__.
    return tuple(self)


def _named_tuple(flags=(), optional=(), **docs):
    """Make a class a named tuple: fields, defaults and order are its __new__'s
    parameters; *docs* maps a field to its docstring. Fields are annotated int,
    those in *flags* bool, those in *optional* int or None (as the stubs say).

    Each class writes its own __new__ (rather than one made by exec, as namedtuple
    does: compiling costs more than all the rest) so that the signature, help() and
    the TypeErrors for missing or extra arguments name the fields.
    """
    def decorate(cls):
        new = cls.__new__
        code = new.__code__
        names = code.co_varnames[1:code.co_argcount]
        defaults = new.__defaults__ or ()
        new.__doc__ = f"Create new instance of {cls.__name__}({', '.join(names)})"
        cls._fields = names
        if sys.version_info >= (3, 10):
            cls.__match_args__ = names  # as namedtuple: pattern matching came in 3.10
        cls._field_defaults = dict(zip(names[len(names) - len(defaults):], defaults))
        cls._make = classmethod(_make)
        cls._replace = _replace
        cls._asdict = _asdict
        cls.__repr__ = _repr
        cls.__getnewargs__ = _getnewargs
        if _PY313:
            cls.__replace__ = _replace  # copy.replace()
        cls.__annotations__ = {
            name: bool if name in flags else _OPTIONAL_INT if name in optional else int
            for name in names}
        for index, name in enumerate(names):
            setattr(cls, name, _tuplegetter(index,
                                            docs.pop(name, f"Alias for field number {index}")))
        assert not docs, f"{cls.__name__} has no fields {list(docs)}"
        return cls
    return decorate


@_named_tuple(
    flags=("removed", "locked"),
    optional=("rss", "swap"),
    key="the key_t, signed as in C (ipcs prints it as unsigned hex)",
    mode="permission bits only (``mode & 0o777``)",
    size="shm_segsz: the size the creator asked for, not page-rounded",
    removed="IPC_RMID was called; destroyed at the last detach (SHM_DEST)",
    locked="SHM_LOCK is in effect (SHM_LOCKED)",
    rss="resident bytes, where the kernel reports them",
    swap="swapped bytes, where the kernel reports them",
)
class stat_result(tuple):
    """One segment's ``struct shmid_ds`` (shmctl IPC_STAT / SHM_STAT)."""

    __slots__ = ()

    def __new__(_cls, shmid, key, uid, gid, cuid, cgid, mode, size, atime, dtime, ctime,
                cpid, lpid, nattch, removed, locked, rss=None, swap=None):
        return tuple.__new__(_cls, (shmid, key, uid, gid, cuid, cgid, mode, size, atime, dtime,
                                    ctime, cpid, lpid, nattch, removed, locked, rss, swap))


@_named_tuple(
    shmmax="largest segment, in bytes",
    shmmin="smallest segment, in bytes",
    shmmni="most segments in the system",
    shmseg="most segments one process may attach",
    shmall="most shared memory in the system, in pages",
    highest_index="shmctl's return value: the highest used index",
)
class shminfo(tuple):
    """The system limits (shmctl IPC_INFO, Linux)."""

    __slots__ = ()

    def __new__(_cls, shmmax, shmmin, shmmni, shmseg, shmall, highest_index):
        return tuple.__new__(_cls, (shmmax, shmmin, shmmni, shmseg, shmall, highest_index))


@_named_tuple(
    used_ids="segments that exist",
    shm_tot="pages of all segments",
    shm_rss="resident pages",
    shm_swp="swapped pages",
)
class shm_info(tuple):
    """The system's current usage (shmctl SHM_INFO, Linux)."""

    __slots__ = ()

    def __new__(_cls, used_ids, shm_tot, shm_rss, shm_swp, swap_attempts, swap_successes,
                highest_index):
        return tuple.__new__(_cls, (used_ids, shm_tot, shm_rss, shm_swp, swap_attempts,
                                    swap_successes, highest_index))


@_named_tuple(
    optional=("memlock_soft", "memlock_hard"),
    shmmax="largest segment, bytes (kernel.shmmax)",
    shmmin="smallest segment, bytes",
    shmmni="most segments in the system (kernel.shmmni)",
    shmseg="most segments attached by one process",
    shmall="most shared memory in the system, pages (kernel.shmall)",
    used_ids="segments that exist now",
    shm_tot="pages in all segments",
    shm_rss="resident pages",
    shm_swp="swapped pages",
    memlock_soft="RLIMIT_MEMLOCK in bytes, None for unlimited",
)
class limits_result(tuple):
    """System V shared memory limits, current usage and this process's RLIMIT_MEMLOCK."""

    __slots__ = ()

    def __new__(_cls, shmmax, shmmin, shmmni, shmseg, shmall, used_ids, shm_tot, shm_rss,
                shm_swp, pagesize, memlock_soft, memlock_hard):
        return tuple.__new__(_cls, (shmmax, shmmin, shmmni, shmseg, shmall, used_ids, shm_tot,
                                    shm_rss, shm_swp, pagesize, memlock_soft, memlock_hard))
