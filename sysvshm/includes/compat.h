/* Portability layer for the System V shared memory headers.
 *
 * Every constant some platform lacks is defined here to a harmless value together
 * with a SYSVSHM_HAVE_<NAME> flag; the Cython modules export a constant to Python
 * only when its flag is 1 (the way CPython's mmapmodule.c uses #ifdef).
 * Struct fields whose names differ between libcs (the key in struct ipc_perm) and
 * the Linux-only shmctl() commands are wrapped in small functions with one portable
 * struct each, so the .pyx files never touch a platform-specific name.
 */
#ifndef SYSVSHM_COMPAT_H
#define SYSVSHM_COMPAT_H

#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/mman.h>
#include <unistd.h>


#ifdef IPC_INFO
#  define SYSVSHM_HAVE_IPC_INFO 1
#else
#  define SYSVSHM_HAVE_IPC_INFO 0
#  define IPC_INFO (-1)
#endif
#ifdef SHM_INFO
#  define SYSVSHM_HAVE_SHM_INFO 1
#else
#  define SYSVSHM_HAVE_SHM_INFO 0
#  define SHM_INFO (-1)
#endif
#ifdef SHM_STAT
#  define SYSVSHM_HAVE_SHM_STAT 1
#else
#  define SYSVSHM_HAVE_SHM_STAT 0
#  define SHM_STAT (-1)
#endif
#ifdef SHM_STAT_ANY
#  define SYSVSHM_HAVE_SHM_STAT_ANY 1
#else
#  define SYSVSHM_HAVE_SHM_STAT_ANY 0
#  define SHM_STAT_ANY (-1)
#endif
#ifdef SHM_LOCK
#  define SYSVSHM_HAVE_SHM_LOCK 1
#else
#  define SYSVSHM_HAVE_SHM_LOCK 0
#  define SHM_LOCK (-1)
#  define SHM_UNLOCK (-1)
#endif
#ifdef SHM_REMAP
#  define SYSVSHM_HAVE_SHM_REMAP 1
#else
#  define SYSVSHM_HAVE_SHM_REMAP 0
#  define SHM_REMAP 0
#endif
#ifdef SHM_EXEC
#  define SYSVSHM_HAVE_SHM_EXEC 1
#else
#  define SYSVSHM_HAVE_SHM_EXEC 0
#  define SHM_EXEC 0
#endif
#ifdef SHM_HUGETLB
#  define SYSVSHM_HAVE_SHM_HUGETLB 1
#else
#  define SYSVSHM_HAVE_SHM_HUGETLB 0
#  define SHM_HUGETLB 0
#endif
#ifdef SHM_NORESERVE
#  define SYSVSHM_HAVE_SHM_NORESERVE 1
#else
#  define SYSVSHM_HAVE_SHM_NORESERVE 0
#  define SHM_NORESERVE 0
#endif
/* glibc's <sys/shm.h> lacks the huge page size selectors that <linux/shm.h> has;
 * the encoding (log2 of the page size shifted by 26) is the kernel's ABI. */
#if defined(__linux__) && !defined(SHM_HUGE_SHIFT)
#  define SHM_HUGE_SHIFT 26
#endif
#if defined(SHM_HUGE_SHIFT) && !defined(SHM_HUGE_2MB)
#  define SHM_HUGE_2MB (21 << SHM_HUGE_SHIFT)
#  define SHM_HUGE_1GB (30 << SHM_HUGE_SHIFT)
#endif
#ifdef SHM_HUGE_2MB
#  define SYSVSHM_HAVE_SHM_HUGE 1
#else
#  define SYSVSHM_HAVE_SHM_HUGE 0
#  define SHM_HUGE_2MB 0
#  define SHM_HUGE_1GB 0
#endif
#ifdef SHM_DEST
#  define SYSVSHM_SHM_DEST SHM_DEST
#else
#  define SYSVSHM_SHM_DEST 0
#endif
#ifdef SHM_LOCKED
#  define SYSVSHM_SHM_LOCKED SHM_LOCKED
#else
#  define SYSVSHM_SHM_LOCKED 0
#endif
#ifndef SHMLBA
#  define SHMLBA (sysconf(_SC_PAGESIZE))
#endif

/* The key field of struct ipc_perm is spelled differently by every libc. */
#if defined(__GLIBC__)
#  define SYSVSHM_PERM_KEY(p) ((p).__key)
#elif defined(__APPLE__)
#  define SYSVSHM_PERM_KEY(p) ((p)._key)
#elif defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || defined(__DragonFly__)
#  define SYSVSHM_PERM_KEY(p) ((p).key)
#elif defined(__linux__)
/* musl */
#  define SYSVSHM_PERM_KEY(p) ((p).__ipc_perm_key)
#else
#  define SYSVSHM_PERM_KEY(p) ((key_t)0)
#endif

typedef struct {
    long long key, uid, gid, cuid, cgid, mode, size;
    long long atime, dtime, ctime, cpid, lpid, nattch;
} sysvshm_stat_t;

/* shmctl(IPC_STAT / SHM_STAT / SHM_STAT_ANY) into the portable struct.
 * Returns shmctl's result (the id for SHM_STAT), or -1 with errno set. */
static inline int sysvshm_stat(int id, int cmd, sysvshm_stat_t *out)
{
    struct shmid_ds ds;
    int rc;
    memset(&ds, 0, sizeof ds);
    rc = shmctl(id, cmd, &ds);
    if (rc == -1)
        return -1;
    out->key = (long long)SYSVSHM_PERM_KEY(ds.shm_perm);
    out->uid = (long long)ds.shm_perm.uid;
    out->gid = (long long)ds.shm_perm.gid;
    out->cuid = (long long)ds.shm_perm.cuid;
    out->cgid = (long long)ds.shm_perm.cgid;
    out->mode = (long long)ds.shm_perm.mode;
    out->size = (long long)ds.shm_segsz;
    out->atime = (long long)ds.shm_atime;
    out->dtime = (long long)ds.shm_dtime;
    out->ctime = (long long)ds.shm_ctime;
    out->cpid = (long long)ds.shm_cpid;
    out->lpid = (long long)ds.shm_lpid;
    out->nattch = (long long)ds.shm_nattch;
    return rc;
}

/* shmctl(IPC_SET): change owner and mode, keeping every other field. */
static inline int sysvshm_set(int id, long long uid, long long gid, long long mode)
{
    struct shmid_ds ds;
    memset(&ds, 0, sizeof ds);
    if (shmctl(id, IPC_STAT, &ds) == -1)
        return -1;
    if (uid >= 0) ds.shm_perm.uid = (uid_t)uid;
    if (gid >= 0) ds.shm_perm.gid = (gid_t)gid;
    if (mode >= 0) ds.shm_perm.mode = (ds.shm_perm.mode & ~0777) | (mode & 0777);
    return shmctl(id, IPC_SET, &ds);
}

typedef struct {
    unsigned long long shmmax, shmmin, shmmni, shmseg, shmall;
} sysvshm_info_t;

typedef struct {
    long long used_ids;
    unsigned long long shm_tot, shm_rss, shm_swp, swap_attempts, swap_successes;
} sysvshm_usage_t;

/* shmctl(IPC_INFO): the system limits (Linux: shmctl(2), "IPC_INFO"). */
static inline int sysvshm_ipc_info(sysvshm_info_t *out)
{
#if SYSVSHM_HAVE_IPC_INFO && defined(__linux__)
    struct shminfo si;
    int rc;
    memset(&si, 0, sizeof si);
    rc = shmctl(0, IPC_INFO, (struct shmid_ds *)(void *)&si);
    if (rc == -1)
        return -1;
    out->shmmax = si.shmmax;
    out->shmmin = si.shmmin;
    out->shmmni = si.shmmni;
    out->shmseg = si.shmseg;
    out->shmall = si.shmall;
    return rc;
#else
    (void)out;
    errno = ENOSYS;
    return -1;
#endif
}

/* shmctl(SHM_INFO): the system's current usage. */
static inline int sysvshm_shm_info(sysvshm_usage_t *out)
{
#if SYSVSHM_HAVE_SHM_INFO && defined(__linux__)
    struct shm_info si;
    int rc;
    memset(&si, 0, sizeof si);
    rc = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si);
    if (rc == -1)
        return -1;
    out->used_ids = si.used_ids;
    out->shm_tot = si.shm_tot;
    out->shm_rss = si.shm_rss;
    out->shm_swp = si.shm_swp;
    out->swap_attempts = si.swap_attempts;
    out->swap_successes = si.swap_successes;
    return rc;
#else
    (void)out;
    errno = ENOSYS;
    return -1;
#endif
}

/* ftok(3) with its errno: a key of -1 is a valid result, so success is told
 * apart by clearing errno first. */
static inline key_t sysvshm_ftok(const char *path, int proj_id, int *err)
{
    key_t key;
    errno = 0;
    key = ftok(path, proj_id);
    *err = (key == (key_t)-1) ? errno : 0;
    return key;
}

/* ---- <sys/mman.h> flags for sysvshm.mmap ------------------------------------- */
#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#  define MAP_ANONYMOUS MAP_ANON
#endif
#ifdef MAP_ANONYMOUS
#  define SYSVSHM_HAVE_MAP_ANONYMOUS 1
#else
#  define SYSVSHM_HAVE_MAP_ANONYMOUS 0
#  define MAP_ANONYMOUS 0
#endif
#ifdef MAP_LOCKED
#  define SYSVSHM_HAVE_MAP_LOCKED 1
#else
#  define SYSVSHM_HAVE_MAP_LOCKED 0
#  define MAP_LOCKED 0
#endif
#ifdef MAP_DENYWRITE
#  define SYSVSHM_HAVE_MAP_DENYWRITE 1
#else
#  define SYSVSHM_HAVE_MAP_DENYWRITE 0
#  define MAP_DENYWRITE 0
#endif
#ifdef MAP_EXECUTABLE
#  define SYSVSHM_HAVE_MAP_EXECUTABLE 1
#else
#  define SYSVSHM_HAVE_MAP_EXECUTABLE 0
#  define MAP_EXECUTABLE 0
#endif
#ifdef MAP_NORESERVE
#  define SYSVSHM_HAVE_MAP_NORESERVE 1
#else
#  define SYSVSHM_HAVE_MAP_NORESERVE 0
#  define MAP_NORESERVE 0
#endif
#ifdef MAP_POPULATE
#  define SYSVSHM_HAVE_MAP_POPULATE 1
#else
#  define SYSVSHM_HAVE_MAP_POPULATE 0
#  define MAP_POPULATE 0
#endif
#ifdef MAP_HUGETLB
#  define SYSVSHM_HAVE_MAP_HUGETLB 1
#  ifndef MAP_HUGE_SHIFT
#    define MAP_HUGE_SHIFT 26
#  endif
#  ifndef MAP_HUGE_2MB
#    define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#    define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#  endif
#else
#  define SYSVSHM_HAVE_MAP_HUGETLB 0
#  define MAP_HUGETLB 0
#  define MAP_HUGE_2MB 0
#  define MAP_HUGE_1GB 0
#endif
#ifdef MAP_STACK
#  define SYSVSHM_HAVE_MAP_STACK 1
#else
#  define SYSVSHM_HAVE_MAP_STACK 0
#  define MAP_STACK 0
#endif
#ifdef MAP_UNINITIALIZED
#  define SYSVSHM_HAVE_MAP_UNINITIALIZED 1
#else
#  define SYSVSHM_HAVE_MAP_UNINITIALIZED 0
#  define MAP_UNINITIALIZED 0
#endif
/* Flags that would place the mapping at an address sysvshm never takes. */
#ifndef MAP_FIXED_NOREPLACE
#  define MAP_FIXED_NOREPLACE 0
#endif
#define SYSVSHM_MAP_FIXED_ANY (MAP_FIXED | MAP_FIXED_NOREPLACE)

/* mremap(2) is Linux's (and NetBSD's, with another signature). */
#if defined(__linux__)
#  define SYSVSHM_HAVE_MREMAP 1
static inline void *sysvshm_mremap(void *old, size_t old_size, size_t new_size)
{
    return mremap(old, old_size, new_size, MREMAP_MAYMOVE);
}
#else
#  define SYSVSHM_HAVE_MREMAP 0
static inline void *sysvshm_mremap(void *old, size_t old_size, size_t new_size)
{
    (void)old; (void)old_size; (void)new_size;
    errno = ENOSYS;
    return MAP_FAILED;
}
#endif

/* mincore(2)'s vector is unsigned char on Linux, char on the BSDs and macOS. */
static inline int sysvshm_mincore(void *addr, size_t length, unsigned char *vec)
{
#if defined(__linux__)
    return mincore(addr, length, vec);
#else
    return mincore(addr, length, (char *)vec);
#endif
}

#endif /* SYSVSHM_COMPAT_H */
