"""Locks, semaphores and atomic integers that live inside shared memory."""
from types import TracebackType
from typing import Any, ClassVar, Type, final

from typing_extensions import Buffer, Self

__all__ = ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "AtomicInt32", "AtomicInt64",
           "AtomicUInt32", "AtomicUInt64", "OwnerDiedError", "NotRecoverableError",
           "TIMEOUT_MAX"]

TIMEOUT_MAX: float
SEM_VALUE_MAX: int

class OwnerDiedError(RuntimeError):
    """The thread that held the lock died holding it; the caller holds it now."""

class NotRecoverableError(RuntimeError):
    """The lock was released after its owner died without mark_consistent()."""

class _Placed:
    @property
    def offset(self) -> int:
        """Where the object lives in its buffer."""
    @property
    def obj(self) -> Any:
        """The object whose buffer holds this one."""
    def __reduce__(self) -> Any: ...

class _LockBase(_Placed):
    SIZE: ClassVar[int]
    ALIGNMENT: ClassVar[int]
    def __init__(self, buf: Buffer, offset: int = 0) -> None: ...
    @classmethod
    def create(cls, buf: Buffer, offset: int = 0) -> Self: ...
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...
    def release(self) -> None: ...
    def mark_consistent(self) -> None: ...
    def locked(self) -> bool: ...
    @property
    def owner(self) -> int | None: ...
    def _is_owned(self) -> bool: ...
    def __enter__(self) -> bool: ...
    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

@final
class Lock(_LockBase):
    """A robust, process-shared lock at an offset of a writable buffer."""

@final
class RLock(_LockBase):
    """A reentrant robust, process-shared lock."""

class _SemaphoreBase(_Placed):
    SIZE: ClassVar[int]
    ALIGNMENT: ClassVar[int]
    def __init__(self, buf: Buffer, offset: int = 0) -> None: ...
    @classmethod
    def create(cls, buf: Buffer, offset: int = 0, value: int = 1) -> Self: ...
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool: ...
    def release(self, n: int = 1) -> None: ...
    @property
    def value(self) -> int: ...
    def __enter__(self) -> bool: ...
    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

@final
class Semaphore(_SemaphoreBase):
    """A process-shared counting semaphore."""

@final
class BoundedSemaphore(_SemaphoreBase):
    """A Semaphore that refuses to be released past its initial value."""

class _Atomic(_Placed):
    SIZE: ClassVar[int]
    ALIGNMENT: ClassVar[int]
    def __init__(self, buf: Buffer, offset: int = 0) -> None: ...
    @classmethod
    def create(cls, buf: Buffer, offset: int = 0, value: int = 0) -> Self: ...
    def load(self) -> int: ...
    def store(self, value: int) -> None: ...
    def exchange(self, value: int) -> int: ...
    def add(self, n: int = 1) -> int: ...
    def sub(self, n: int = 1) -> int: ...
    def compare_exchange(self, expected: int, desired: int) -> bool: ...
    def wait(self, expected: int, timeout: float | None = None) -> bool: ...
    def notify(self, n: int = 1) -> int: ...
    def notify_all(self) -> int: ...
    def __int__(self) -> int: ...

@final
class AtomicInt32(_Atomic):
    """A signed 32-bit atomic integer."""

@final
class AtomicUInt32(_Atomic):
    """An unsigned 32-bit atomic integer."""

@final
class AtomicInt64(_Atomic):
    """A signed 64-bit atomic integer."""

@final
class AtomicUInt64(_Atomic):
    """An unsigned 64-bit atomic integer."""
