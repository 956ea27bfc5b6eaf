# compat.h: the constants some platforms lack (each with a HAVE flag) and portable
# wrappers around the shmctl() commands whose structs differ between libcs.
cdef extern from "compat.h" nogil:
    int SYSVSHM_HAVE_IPC_INFO
    int SYSVSHM_HAVE_SHM_INFO
    int SYSVSHM_HAVE_SHM_STAT
    int SYSVSHM_HAVE_SHM_STAT_ANY
    int SYSVSHM_HAVE_SHM_LOCK
    int SYSVSHM_HAVE_SHM_REMAP
    int SYSVSHM_HAVE_SHM_EXEC
    int SYSVSHM_HAVE_SHM_HUGETLB
    int SYSVSHM_HAVE_SHM_NORESERVE
    int SYSVSHM_HAVE_SHM_HUGE

    int IPC_INFO
    int SHM_INFO
    int SHM_STAT
    int SHM_STAT_ANY
    int SHM_LOCK
    int SHM_UNLOCK
    int SHM_REMAP
    int SHM_EXEC
    int SHM_HUGETLB
    int SHM_NORESERVE
    int SHM_HUGE_2MB
    int SHM_HUGE_1GB
    int SYSVSHM_SHM_DEST
    int SYSVSHM_SHM_LOCKED

    ctypedef struct sysvshm_stat_t:
        long long key, uid, gid, cuid, cgid, mode, size
        long long atime, dtime, ctime, cpid, lpid, nattch

    ctypedef struct sysvshm_info_t:
        unsigned long long shmmax, shmmin, shmmni, shmseg, shmall

    ctypedef struct sysvshm_usage_t:
        long long used_ids
        unsigned long long shm_tot, shm_rss, shm_swp, swap_attempts, swap_successes

    int sysvshm_ftok(const char *path, int proj_id, int *err)
    int sysvshm_stat(int id, int cmd, sysvshm_stat_t *out)
    int sysvshm_set(int id, long long uid, long long gid, long long mode)
    int sysvshm_ipc_info(sysvshm_info_t *out)
    int sysvshm_shm_info(sysvshm_usage_t *out)

    # sysvshm.mmap
    int SYSVSHM_HAVE_MAP_ANONYMOUS
    int SYSVSHM_HAVE_MAP_LOCKED
    int SYSVSHM_HAVE_MAP_DENYWRITE
    int SYSVSHM_HAVE_MAP_EXECUTABLE
    int SYSVSHM_HAVE_MAP_NORESERVE
    int SYSVSHM_HAVE_MAP_POPULATE
    int SYSVSHM_HAVE_MAP_HUGETLB
    int SYSVSHM_HAVE_MAP_STACK
    int SYSVSHM_HAVE_MAP_UNINITIALIZED
    int SYSVSHM_HAVE_MREMAP
    int MAP_ANONYMOUS
    int MAP_LOCKED
    int MAP_DENYWRITE
    int MAP_EXECUTABLE
    int MAP_NORESERVE
    int MAP_POPULATE
    int MAP_HUGETLB
    int MAP_HUGE_2MB
    int MAP_HUGE_1GB
    int MAP_STACK
    int MAP_UNINITIALIZED
    int SYSVSHM_MAP_FIXED_ANY
    void *sysvshm_mremap(void *old, size_t old_size, size_t new_size)
    int sysvshm_mincore(void *addr, size_t length, unsigned char *vec)
