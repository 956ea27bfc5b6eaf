from typing import Iterator, SupportsIndex, TypeVar, overload

from typing_extensions import Buffer

ACCESS_DEFAULT: int
"""access=: the default, writable and shared (or as prot/flags say)."""
ACCESS_READ: int
"""access=: read-only; writes raise TypeError."""
ACCESS_WRITE: int
"""access=: writable, and writes reach the shared memory or file."""
ACCESS_COPY: int
"""access=: copy-on-write; writes stay private to this object."""

# A self-type as a TypeVar, not Self: jedi (IPython, Jupyter, editors) resolves it,
# so `with shm(...) as seg: seg.` completes shm's own methods too.
_B = TypeVar("_B", bound="MappedBuffer")

class MappedBuffer:
    """The mmap-style core shared by sysvshm.shm and sysvshm.mmap.mmap."""

    def close(self) -> None:
        """Unmap (detach); BufferError while buffers are exported."""
    @property
    def closed(self) -> bool:
        """Whether close() was called."""
    def __enter__(self: _B) -> _B:
        """Return self (the context manager closes on exit)."""
    def __exit__(self, *args: object) -> None:
        """close()."""
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...
    def __len__(self) -> int:
        """The size in bytes."""
    @overload
    def __getitem__(self, item: SupportsIndex, /) -> int: ...
    @overload
    def __getitem__(self, item: slice, /) -> bytes: ...
    @overload
    def __setitem__(self, item: SupportsIndex, value: int, /) -> None: ...
    @overload
    def __setitem__(self, item: slice, value: Buffer, /) -> None: ...
    def __delitem__(self, item: int | slice, /) -> None: ...
    def __iter__(self) -> Iterator[bytes]:
        """Iterate over the bytes, as 1-byte bytes objects."""
    def read(self, n: int | None = None, /) -> bytes:
        """Return up to n bytes from the current position (all if None or negative)."""
    def readinto(self, b: Buffer, /) -> int:
        """Read into the writable buffer b from the position; return the count."""
    def read_byte(self) -> int:
        """Return the byte at the position as an int and advance by one."""
    def readline(self) -> bytes:
        """Return the bytes from the position through the next newline."""
    def write(self, data: Buffer, /) -> int:
        """Write data at the position; advance it and return the count."""
    def write_byte(self, byte: int, /) -> None:
        """Write one byte (an int) at the position and advance by one."""
    def seek(self, pos: int, whence: int = 0, /) -> int:
        """Set the position (whence: os.SEEK_SET, SEEK_CUR or SEEK_END); return it."""
    def seekable(self) -> bool:
        """True."""
    def tell(self) -> int:
        """The current position."""
    def size(self) -> int:
        """The size of the backing object (file size, or segment size)."""
    def find(self, sub: Buffer, start: int = ..., end: int = ..., /) -> int:
        """Lowest index of sub in [start, end), or -1."""
    def rfind(self, sub: Buffer, start: int = ..., end: int = ..., /) -> int:
        """Highest index of sub in [start, end), or -1."""
    def move(self, dest: int, src: int, count: int, /) -> None:
        """Copy count bytes from offset src to offset dest (regions may overlap)."""
    def flush(self, offset: int = 0, size: int = ..., /) -> None:
        """msync() a range to its backing store."""
    def madvise(self, option: int, start: int = 0, length: int = ..., /) -> None:
        """madvise(2) on a range (default: all)."""
    def mlock(self, start: int = 0, length: int = ..., /) -> None:
        """mlock(2): keep a range (default: all) resident in RAM."""
    def munlock(self, start: int = 0, length: int = ..., /) -> None:
        """munlock(2): let a range be paged out again."""
    def prefault(self, write: bool = False) -> None:
        """Fault every page in now (in parallel), for reading or writing."""
    def mincore(self, start: int = 0, length: int = ..., /) -> int:
        """mincore(2): how many pages of a range are resident in RAM."""
