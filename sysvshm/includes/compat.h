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
#include <stdint.h>
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

/* MADV_POPULATE_READ/WRITE (Linux 5.14): fault a range in with one call. */
#ifndef MADV_POPULATE_READ
#  define MADV_POPULATE_READ (-1)
#  define MADV_POPULATE_WRITE (-1)
#endif

/* Fault in [addr, addr+len) without the GIL: one madvise() where the kernel can,
 * else a read of one byte per page. Returns 0, or -1 with errno set. */
static inline int sysvshm_prefault(char *addr, size_t len, size_t page, int write)
{
    volatile char sink = 0;
    size_t off;
    int advice = write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
    if (advice != -1 && madvise(addr, len, advice) == 0)
        return 0;
    if (advice != -1 && errno != EINVAL)
        return -1;  /* a real failure (EFAULT, ENOMEM, EHWPOISON): report it */
    for (off = 0; off < len; off += page)
        sink += ((volatile char *)addr)[off];
    (void)sink;
    return 0;
}

/* The same, split over up to `threads` threads for large ranges: page faults on
 * one mapping proceed in parallel (they take mmap_lock for reading), so a
 * 2-core machine faults 64 MiB in about half the time. */
#include <pthread.h>

typedef struct {
    char *addr;
    size_t len, page;
    int write, rc, err;
} sysvshm_prefault_job;

static void *sysvshm_prefault_worker(void *arg)
{
    sysvshm_prefault_job *job = (sysvshm_prefault_job *)arg;
    job->rc = sysvshm_prefault(job->addr, job->len, job->page, job->write);
    job->err = job->rc ? errno : 0;
    return NULL;
}

#define SYSVSHM_PREFAULT_MAX_THREADS 8
#define SYSVSHM_PREFAULT_CHUNK (4u << 20)  /* below 4 MiB a thread costs more than it saves */

static inline int sysvshm_prefault_parallel(char *addr, size_t len, size_t page, int write,
                                            int threads)
{
    sysvshm_prefault_job jobs[SYSVSHM_PREFAULT_MAX_THREADS];
    pthread_t tids[SYSVSHM_PREFAULT_MAX_THREADS];
    int started[SYSVSHM_PREFAULT_MAX_THREADS];
    size_t pages = (len + page - 1) / page, per, done = 0;
    int i, n, rc = 0;
    if (threads > SYSVSHM_PREFAULT_MAX_THREADS)
        threads = SYSVSHM_PREFAULT_MAX_THREADS;
    if ((size_t)threads > len / SYSVSHM_PREFAULT_CHUNK)
        threads = (int)(len / SYSVSHM_PREFAULT_CHUNK);
    if (threads <= 1)
        return sysvshm_prefault(addr, len, page, write);
    n = threads;
    per = (pages + n - 1) / n;
    for (i = 0; i < n; i++) {
        size_t first = done, count = per * page;
        if (first + count > len)
            count = len - first;
        jobs[i].addr = addr + first;
        jobs[i].len = count;
        jobs[i].page = page;
        jobs[i].write = write;
        jobs[i].rc = 0;
        jobs[i].err = 0;
        done += count;
        /* the last chunk runs here; a thread that cannot start runs here too */
        started[i] = i < n - 1 &&
            pthread_create(&tids[i], NULL, sysvshm_prefault_worker, &jobs[i]) == 0;
        if (!started[i])
            sysvshm_prefault_worker(&jobs[i]);
    }
    for (i = 0; i < n; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        if (jobs[i].rc && !rc) {
            rc = -1;
            errno = jobs[i].err;
        }
    }
    return rc;
}

/* Bulk copies that do not depend on alignment.
 *
 * glibc's memcpy copies large blocks page-interleaved; when the destination
 * sits a few bytes after the source modulo 4 KiB (a page-aligned segment copied
 * into a malloc'd array, which starts 16 bytes into its page) loads alias
 * earlier stores and the copy runs at a third of its usual speed. Above the
 * streaming threshold a plain forward loop of 16-byte loads and non-temporal
 * stores runs at memory speed for every alignment. Below it, and on machines
 * without SSE2, memmove. Overlapping ranges always use memmove. */
#if defined(__SSE2__) && (defined(__x86_64__) || defined(_M_X64))
#  include <emmintrin.h>
#  define SYSVSHM_HAVE_STREAM_COPY 1
#else
#  define SYSVSHM_HAVE_STREAM_COPY 0
#endif

/* Measured on x86_64 VMs (AMD EPYC, 2026): from 8 MiB up the streaming loop beats
 * memcpy at every alignment (11-12 GB/s against 8 GB/s, and against 4 GB/s in
 * the aliased case); below it memcpy wins while the data fits in cache. The
 * cache size the OS reports is no guide: a VM here claims a 256 MiB L3. */
static inline size_t sysvshm_stream_threshold(void)
{
    return (size_t)8 << 20;
}

static inline int sysvshm_overlap(const char *a, const char *b, size_t n)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;  /* integers: the ranges may be unrelated */
    return x < y + n && y < x + n;
}

static inline void sysvshm_copy(char *dst, const char *src, size_t n, size_t threshold)
{
#if SYSVSHM_HAVE_STREAM_COPY
    size_t head;
    if (n < threshold || sysvshm_overlap(dst, src, n)) {
        memmove(dst, src, n);
        return;
    }
    head = (64 - ((uintptr_t)dst & 63)) & 63;  /* align the stores to a cache line */
    if (head > n)
        head = n;
    memcpy(dst, src, head);
    dst += head;
    src += head;
    n -= head;
    while (n >= 64) {
        __m128i a, b, c, d;
        _mm_prefetch(src + 2048, _MM_HINT_NTA);
        a = _mm_loadu_si128((const __m128i *)src);
        b = _mm_loadu_si128((const __m128i *)(src + 16));
        c = _mm_loadu_si128((const __m128i *)(src + 32));
        d = _mm_loadu_si128((const __m128i *)(src + 48));
        _mm_stream_si128((__m128i *)dst, a);
        _mm_stream_si128((__m128i *)(dst + 16), b);
        _mm_stream_si128((__m128i *)(dst + 32), c);
        _mm_stream_si128((__m128i *)(dst + 48), d);
        src += 64;
        dst += 64;
        n -= 64;
    }
    _mm_sfence();  /* order the streamed stores before anything that follows */
    memcpy(dst, src, n);
#else
    (void)threshold;
    memmove(dst, src, n);
#endif
}

/* The same copy split over up to `threads` threads, each streaming at least
 * SYSVSHM_COPY_CHUNK bytes: one core does not saturate memory bandwidth (256 MiB
 * here: 22 ms on one thread, 15 ms on two, memcpy 20 ms). Overlapping ranges are
 * one memmove. A thread that cannot start leaves its part to the caller's thread. */
#define SYSVSHM_COPY_CHUNK ((size_t)16 << 20)
#define SYSVSHM_COPY_MAX_THREADS 4  /* a few cores already saturate memory */

typedef struct {
    char *dst;
    const char *src;
    size_t n, threshold;
} sysvshm_copy_job;

static void *sysvshm_copy_worker(void *arg)
{
    sysvshm_copy_job *job = (sysvshm_copy_job *)arg;
    sysvshm_copy(job->dst, job->src, job->n, job->threshold);
    return NULL;
}

static inline void sysvshm_copy_parallel(char *dst, const char *src, size_t n,
                                         size_t threshold, int threads)
{
    sysvshm_copy_job jobs[SYSVSHM_COPY_MAX_THREADS];
    pthread_t tids[SYSVSHM_COPY_MAX_THREADS];
    int started[SYSVSHM_COPY_MAX_THREADS];
    size_t per, done = 0;
    int i;
    if (threads > SYSVSHM_COPY_MAX_THREADS)
        threads = SYSVSHM_COPY_MAX_THREADS;
    if ((size_t)threads > n / SYSVSHM_COPY_CHUNK)
        threads = (int)(n / SYSVSHM_COPY_CHUNK);
    if (threads <= 1 || n < threshold || sysvshm_overlap(dst, src, n)) {
        sysvshm_copy(dst, src, n, threshold);
        return;
    }
    per = (n / (size_t)threads + 63) & ~(size_t)63;  /* whole cache lines per thread */
    for (i = 0; i < threads; i++) {
        size_t count = i == threads - 1 || done + per > n ? n - done : per;
        jobs[i].dst = dst + done;
        jobs[i].src = src + done;
        jobs[i].n = count;
        jobs[i].threshold = 0;  /* every part streams, however small */
        done += count;
        started[i] = i < threads - 1 &&
            pthread_create(&tids[i], NULL, sysvshm_copy_worker, &jobs[i]) == 0;
        if (!started[i])
            sysvshm_copy_worker(&jobs[i]);
    }
    for (i = 0; i < threads; i++)
        if (started[i])
            pthread_join(tids[i], NULL);
}

#endif /* SYSVSHM_COMPAT_H */
