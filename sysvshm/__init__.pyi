from sysvshm._buffer import ACCESS_DEFAULT as ACCESS_DEFAULT
from sysvshm._buffer import ACCESS_READ as ACCESS_READ
from sysvshm._buffer import ACCESS_WRITE as ACCESS_WRITE
from sysvshm._inventory import limits as limits
from sysvshm._inventory import remove as remove
from sysvshm._inventory import segments as segments
from sysvshm._shm import IPC_CREAT as IPC_CREAT
from sysvshm._shm import IPC_EXCL as IPC_EXCL
from sysvshm._shm import IPC_INFO as IPC_INFO
from sysvshm._shm import IPC_NOWAIT as IPC_NOWAIT
from sysvshm._shm import IPC_PRIVATE as IPC_PRIVATE
from sysvshm._shm import IPC_RMID as IPC_RMID
from sysvshm._shm import IPC_SET as IPC_SET
from sysvshm._shm import IPC_STAT as IPC_STAT
from sysvshm._shm import PAGESIZE as PAGESIZE
from sysvshm._shm import SHM_EXEC as SHM_EXEC
from sysvshm._shm import SHM_HUGE_1GB as SHM_HUGE_1GB
from sysvshm._shm import SHM_HUGE_2MB as SHM_HUGE_2MB
from sysvshm._shm import SHM_HUGETLB as SHM_HUGETLB
from sysvshm._shm import SHM_INFO as SHM_INFO
from sysvshm._shm import SHM_LOCK as SHM_LOCK
from sysvshm._shm import SHM_NORESERVE as SHM_NORESERVE
from sysvshm._shm import SHM_RDONLY as SHM_RDONLY
from sysvshm._shm import SHM_REMAP as SHM_REMAP
from sysvshm._shm import SHM_RND as SHM_RND
from sysvshm._shm import SHM_STAT as SHM_STAT
from sysvshm._shm import SHM_STAT_ANY as SHM_STAT_ANY
from sysvshm._shm import SHM_UNLOCK as SHM_UNLOCK
from sysvshm._shm import SHMLBA as SHMLBA
from sysvshm._shm import ftok as ftok
from sysvshm._shm import shm as shm
from sysvshm._shm import shmat as shmat
from sysvshm._shm import shmctl as shmctl
from sysvshm._shm import shmdt as shmdt
from sysvshm._shm import shmget as shmget
from sysvshm._types import limits_result as limits_result
from sysvshm._types import shm_info as shm_info
from sysvshm._types import shminfo as shminfo
from sysvshm._types import stat_result as stat_result

__version__: str
"""The package's version, e.g. '0.1.0'."""
__all__ = [
    "ACCESS_DEFAULT",
    "ACCESS_READ",
    "ACCESS_WRITE",
    "IPC_CREAT",
    "IPC_EXCL",
    "IPC_INFO",
    "IPC_NOWAIT",
    "IPC_PRIVATE",
    "IPC_RMID",
    "IPC_SET",
    "IPC_STAT",
    "PAGESIZE",
    "SHMLBA",
    "SHM_EXEC",
    "SHM_HUGETLB",
    "SHM_HUGE_1GB",
    "SHM_HUGE_2MB",
    "SHM_INFO",
    "SHM_LOCK",
    "SHM_NORESERVE",
    "SHM_RDONLY",
    "SHM_REMAP",
    "SHM_RND",
    "SHM_STAT",
    "SHM_STAT_ANY",
    "SHM_UNLOCK",
    "__version__",
    "ftok",
    "limits",
    "limits_result",
    "remove",
    "segments",
    "shm",
    "shm_info",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shminfo",
    "stat_result",
]
