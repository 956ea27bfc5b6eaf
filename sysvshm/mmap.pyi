
from sysvshm._buffer import MappedBuffer

ACCESS_DEFAULT: int
"""access=: the default, writable and shared (or as prot/flags say)."""
ACCESS_READ: int
"""access=: read-only; writes raise TypeError."""
ACCESS_WRITE: int
"""access=: writable, and writes reach the shared memory or file."""
ACCESS_COPY: int
"""access=: copy-on-write; writes stay private to this object."""
ALLOCATIONGRANULARITY: int
"""offset= must be a multiple of this (the page size on Linux)."""
PAGESIZE: int
"""The size of a memory page in bytes."""
PROT_EXEC: int
"""prot=: the pages may be executed."""
PROT_READ: int
"""prot=: the pages may be read."""
PROT_WRITE: int
"""prot=: the pages may be written."""
MAP_ANON: int
"""flags=: the same as MAP_ANONYMOUS."""
MAP_ANONYMOUS: int
"""flags=: memory not backed by a file (fileno -1)."""
MAP_DENYWRITE: int
"""flags=: ignored by Linux; kept for the stdlib's sake."""
MAP_EXECUTABLE: int
"""flags=: ignored by Linux; kept for the stdlib's sake."""
MAP_HUGETLB: int
"""flags=: back the map with huge pages (needs reserved huge pages)."""
MAP_HUGE_1GB: int
"""flags=, with MAP_HUGETLB: 1 GiB huge pages."""
MAP_HUGE_2MB: int
"""flags=, with MAP_HUGETLB: 2 MiB huge pages."""
MAP_LOCKED: int
"""flags=: lock the pages in RAM, as mlock(2) (see also lock=)."""
MAP_NORESERVE: int
"""flags=: reserve no swap space for the map."""
MAP_POPULATE: int
"""flags=: fault every page in when mapping."""
MAP_PRIVATE: int
"""flags=: a private copy-on-write map."""
MAP_SHARED: int
"""flags=: writes are shared with every other map of the same memory."""
MAP_STACK: int
"""flags=: a hint that the map is a stack."""
MADV_NORMAL: int
"""madvise(): no special treatment."""
MADV_RANDOM: int
"""madvise(): expect random access (less read-ahead)."""
MADV_SEQUENTIAL: int
"""madvise(): expect sequential access (more read-ahead)."""
MADV_WILLNEED: int
"""madvise(): the range will be needed soon; read it ahead."""
MADV_DONTNEED: int
"""madvise(): the range is not needed now; private pages read back as zeros."""
MADV_FREE: int
"""madvise(): the kernel may free the range's pages lazily."""
MADV_REMOVE: int
"""madvise(): free the range and its backing store (refused with ValueError)."""
MADV_DONTFORK: int
"""madvise(): do not map the range in fork()ed children (refused with ValueError)."""
MADV_DOFORK: int
"""madvise(): undo MADV_DONTFORK."""
MADV_HWPOISON: int
"""madvise(): poison the pages, for testing (refused with ValueError)."""
MADV_MERGEABLE: int
"""madvise(): let KSM merge identical pages."""
MADV_UNMERGEABLE: int
"""madvise(): undo MADV_MERGEABLE."""
MADV_HUGEPAGE: int
"""madvise(): use transparent huge pages for the range."""
MADV_NOHUGEPAGE: int
"""madvise(): do not use transparent huge pages for the range."""
MADV_DONTDUMP: int
"""madvise(): leave the range out of core dumps."""
MADV_DODUMP: int
"""madvise(): undo MADV_DONTDUMP."""
error = OSError
"""The stdlib's alias: mmap.error is OSError."""

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
    def anonymous_backend(self) -> str | None:
        """"MAP_ANONYMOUS" or "/dev/zero" for an anonymous map; None for a file map."""
    @property
    def locked(self) -> bool:
        """True when every page of the map is locked in RAM."""
    def resize(self, newsize: int, /) -> None:
        """Change the size of the map (and of its file), with mremap(2)."""

def force_devzero(enabled: bool) -> bool:
    """Map anonymous memory from /dev/zero instead of MAP_ANONYMOUS; return the old setting."""
def devzero_forced() -> bool:
    """Whether force_devzero() is in effect."""
