
from sysvshm._buffer import MappedBuffer

ACCESS_DEFAULT: int
ACCESS_READ: int
ACCESS_WRITE: int
ACCESS_COPY: int
ALLOCATIONGRANULARITY: int
PAGESIZE: int
PROT_EXEC: int
PROT_READ: int
PROT_WRITE: int
MAP_ANON: int
MAP_ANONYMOUS: int
MAP_DENYWRITE: int
MAP_EXECUTABLE: int
MAP_HUGETLB: int
MAP_HUGE_1GB: int
MAP_HUGE_2MB: int
MAP_LOCKED: int
MAP_NORESERVE: int
MAP_POPULATE: int
MAP_PRIVATE: int
MAP_SHARED: int
MAP_STACK: int
MADV_NORMAL: int
MADV_RANDOM: int
MADV_SEQUENTIAL: int
MADV_WILLNEED: int
MADV_DONTNEED: int
MADV_FREE: int
MADV_REMOVE: int
MADV_DONTFORK: int
MADV_DOFORK: int
MADV_HWPOISON: int
MADV_MERGEABLE: int
MADV_UNMERGEABLE: int
MADV_HUGEPAGE: int
MADV_NOHUGEPAGE: int
MADV_DONTDUMP: int
MADV_DODUMP: int
error = OSError

class mmap(MappedBuffer):
    """A memory map with the interface of the stdlib's mmap.mmap."""

    def __new__(
        cls,
        fileno: int,
        length: int,
        flags: int = ...,
        prot: int = ...,
        access: int = ...,
        offset: int = 0,
        *,
        trackfd: bool = True,
        lock: bool = False,
    ) -> mmap: ...
    @property
    def anonymous_backend(self) -> str | None: ...
    @property
    def locked(self) -> bool: ...
    def resize(self, newsize: int, /) -> None: ...

def force_devzero(enabled: bool) -> bool: ...
def devzero_forced() -> bool: ...
