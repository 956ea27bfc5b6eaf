import types
from multiprocessing.managers import BaseManager
from multiprocessing.managers import SharedMemoryServer as _StdServer
from typing import Any, Generic, Iterable, TypeVar

__all__ = ["SharedMemory", "ShareableList", "SharedMemoryManager", "install", "uninstall"]

_SLT = TypeVar("_SLT", int, float, bool, str, bytes, None)

# The stdlib's private surface, which code written for it reaches for.
_USE_POSIX: bool
_SHM_SAFE_NAME_LENGTH: int
_SHM_NAME_PREFIX: str
def _make_filename() -> str: ...

class SharedMemory:
    """A named block of shared memory on a System V segment (the stdlib's API)."""

    _name: str | None  # None only before __init__ ran
    _flags: int
    _prepend_leading_slash: bool
    def __init__(
        self, name: str | None = None, create: bool = False, size: int = 0, *,
        track: bool = True
    ) -> None: ...
    @property
    def buf(self) -> memoryview:
        """A memoryview of exactly size bytes of the block."""
    @property
    def name(self) -> str:
        """The name given (or generated) for the block."""
    @property
    def size(self) -> int:
        """The size the creator asked for, in bytes (never page-rounded)."""
    def close(self) -> None:
        """Release this object's access; the block lives on (see unlink())."""
    def unlink(self) -> None:
        """Remove the name; the memory goes once every process has closed it."""
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __del__(self) -> None: ...

class ShareableList(Generic[_SLT]):
    """A fixed-length list of int, float, bool, str, bytes and None in a SharedMemory."""

    shm: SharedMemory
    """The SharedMemory the values live in."""
    def __init__(
        self, sequence: Iterable[_SLT] | None = None, *, name: str | None = None
    ) -> None: ...
    def __getitem__(self, position: int) -> _SLT: ...
    def __setitem__(self, position: int, value: _SLT) -> None: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __len__(self) -> int: ...
    @property
    def format(self) -> str:
        """The struct format of every stored value, concatenated."""
    def count(self, value: _SLT) -> int:
        """How many entries equal value."""
    def index(self, value: _SLT) -> int:
        """The position of the first entry equal to value (ValueError if none)."""
    def __class_getitem__(cls, item: Any) -> types.GenericAlias: ...

class SharedMemoryServer(_StdServer):
    """The server process of a SharedMemoryManager: tracks and removes its blocks."""

class SharedMemoryManager(BaseManager):
    """A manager whose blocks are removed when it shuts down."""

    def get_server(self) -> SharedMemoryServer:
        """A server under this manager's control, to run in this process."""
    def SharedMemory(self, size: int) -> SharedMemory:
        """A new SharedMemory of size bytes, removed when the manager shuts down."""
    def ShareableList(self, sequence: Iterable[_SLT] | None) -> ShareableList[_SLT]:
        """A new ShareableList of sequence, removed when the manager shuts down."""

def install() -> None:
    """Make multiprocessing.shared_memory (and SharedMemoryManager) this module."""
def uninstall() -> None:
    """Undo install()."""
