/* syncops.h: the word-level operations of sysvshm.sync, without the GIL.
 *
 * Every object of sysvshm.sync lives in memory other processes share and may
 * scribble on, so nothing here follows a pointer stored in that memory, and every
 * wait is bounded by a deadline the caller gives (a waiter's timeout always works,
 * whatever bytes the word holds).  futex(2) is the only way to sleep; where it is
 * missing (not Linux) every operation fails with ENOSYS and the Python types refuse
 * to be made.
 *
 * A lock's word is 64 bits:
 *   bits  0-29  the owner's thread id (gettid(2)); 0 when the lock is free
 *   bit     30  SV_FOREIGN: the owner is in another pid namespace than the lock's
 *               creator (or its namespace is unknown), so nobody may judge it dead
 *   bit     31  SV_WAITERS: somebody may sleep on the word (release must wake)
 *   bits 32-63  the low 32 bits of the owner thread's start time (/proc/TID/stat
 *               field 22), 0 when unknown: a thread id the kernel gave to a new
 *               thread after the owner died does not pass for the owner
 * The futex is the low half.  Uncontended acquire and release are one atomic
 * instruction each and no system call.
 */
#ifndef SYSVSHM_SYNCOPS_H
#define SYSVSHM_SYNCOPS_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/types.h>

#if defined(__linux__)
#  include <linux/futex.h>
#  include <sys/syscall.h>
#  define SYSVSHM_HAVE_FUTEX 1
#else
#  define SYSVSHM_HAVE_FUTEX 0
#endif

#define SV_TID_MASK 0x3FFFFFFFu
#define SV_FOREIGN 0x40000000u
#define SV_WAITERS 0x80000000u

/* What a wait returns. */
#define SV_ACQUIRED 0   /* got it (or: the value changed) */
#define SV_TOOK_DEAD 1  /* got a lock whose owner is provably dead */
#define SV_TIMEDOUT 2   /* the deadline passed */
#define SV_INTR 3       /* a signal arrived: the caller runs the handlers */
#define SV_ERROR 4      /* errno says why */

/* The memory layouts.  Each is 32 bytes, 8-byte aligned; fields are only ever
 * accessed with atomic operations. */
typedef struct {
    uint32_t magic;
    uint16_t kind;
    uint16_t version;
    uint64_t word;      /* see above */
    uint32_t state;     /* SV_CONSISTENT, SV_OWNER_DIED or SV_NOT_RECOVERABLE */
    uint32_t count;     /* RLock: the owner's recursion depth */
    uint64_t pidns;     /* the creator's pid namespace (inode of /proc/self/ns/pid) */
} sv_lock_t;

typedef struct {
    uint32_t magic;
    uint16_t kind;
    uint16_t version;
    uint32_t value;     /* the count, and the futex */
    uint32_t waiters;   /* how many may sleep on value (a killed sleeper leaves it high:
                           that costs only a wake-up system call) */
    uint32_t bound;     /* the largest value release() may reach */
    uint32_t reserved[3];
} sv_sem_t;

#define SV_CONSISTENT 0u
#define SV_OWNER_DIED 1u
#define SV_NOT_RECOVERABLE 2u

/* ---- time ---- */

static inline int64_t sv_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- futex ---- */

static inline uint32_t *sv_low_half(uint64_t *word)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (uint32_t *)word + 1;
#else
    return (uint32_t *)word;
#endif
}

/* Sleep while *addr == expected, until until_ns at the latest.  0 when woken (or
 * the value differed), else -1 with errno ETIMEDOUT, EINTR or another error.  Not
 * FUTEX_PRIVATE: the word is shared between processes. */
static int sv_futex_wait(uint32_t *addr, uint32_t expected, int64_t until_ns)
{
#if SYSVSHM_HAVE_FUTEX
    int64_t left = until_ns - sv_now_ns();
    if (left <= 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    struct timespec ts = {(time_t)(left / 1000000000), (long)(left % 1000000000)};
    if (syscall(SYS_futex, addr, FUTEX_WAIT, expected, &ts, NULL, 0) == 0)
        return 0;
    return errno == EAGAIN ? 0 : -1;
#else
    (void)addr; (void)expected; (void)until_ns;
    errno = ENOSYS;
    return -1;
#endif
}

/* Wake up to n sleepers on addr; how many woke, or -1 with errno. */
static long sv_futex_wake(uint32_t *addr, int n)
{
#if SYSVSHM_HAVE_FUTEX
    return syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
#else
    (void)addr; (void)n;
    errno = ENOSYS;
    return -1;
#endif
}

/* ---- spinning ----
 *
 * A semaphore's waiter first watches the count for a moment before it sleeps:
 * semaphores hand work and replies between processes, and the other side, on
 * another CPU, often posts within microseconds, where a futex sleep and wake-up
 * costs several (a ping-pong round trip is ten times faster).  Not on a machine
 * with one CPU, where the poster cannot run while the waiter spins.  Locks do
 * not spin, as glibc's default mutex: under contention a spinning waiter steals
 * the lock back and forth between CPUs, and the throughput falls. */

#ifndef SV_SPIN
#define SV_SPIN 200  /* looks at the word, with a pause between them */
#endif

static int sv_spin_count = -1;  /* -1: not yet known (threads may race to set it) */

static inline int sv_spins(void)
{
    int n = __atomic_load_n(&sv_spin_count, __ATOMIC_RELAXED);
    if (n < 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? SV_SPIN : 0;
        __atomic_store_n(&sv_spin_count, n, __ATOMIC_RELAXED);
    }
    return n;
}

static inline void sv_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/* ---- who we are ---- */

/* Cached per thread (the first lock operation of a thread reads them) and reset in
 * a fork()ed child, whose only thread has a new id: the fast paths make no system
 * call.  The pid namespace is cached per process. */
static __thread uint64_t sv_me_cache;  /* start time << 32 | thread id; 0: unread */
static uint64_t sv_pidns_cache;
static int sv_pidns_read;
static int sv_proc_is_ours;  /* /proc shows this pid namespace */
static int sv_start_usable;  /* and its start times are the ones everybody sees */

static void sv_forget_identity(void)
{
    sv_me_cache = 0;
    sv_pidns_read = 0;
}

/* Once per process: forget the identity in a fork()ed child. 0 or an errno. */
static int sv_setup(void)
{
    return pthread_atfork(NULL, NULL, sv_forget_identity);
}

/* State (field 3) and start time (field 22) of a thread, from a /proc stat file.
 * 0, or -1 with errno. */
static int sv_stat_file(const char *path, char *state, unsigned long long *start)
{
    char buf[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do {
        n = read(fd, buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n <= 0) {
        errno = n < 0 ? saved : EIO;
        return -1;
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')');  /* the name in parentheses may hold anything */
    if (!p || p[1] != ' ' || !p[2]) {
        errno = EIO;
        return -1;
    }
    *state = p[2];
    p += 3;
    for (int field = 4; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p) {
            errno = EIO;
            return -1;
        }
    }
    char *end;
    errno = 0;
    *start = strtoull(p + 1, &end, 10);
    if (errno || end == p + 1) {
        errno = EIO;
        return -1;
    }
    return 0;
}

static int sv_proc_stat(long tid, char *state, unsigned long long *start)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", tid);
    return sv_stat_file(path, state, start);
}

/* Read a small /proc file whole; its length, or -1. */
static ssize_t sv_read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < size - 1) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* 1 when /proc is our own pid namespace's.  /proc/self resolves in any /proc
 * that shows us, and an ancestor namespace's /proc can give us there by chance
 * the very number getpid() gives: the NSpid line of /proc/self/status lists our
 * pid in every namespace from /proc's down to ours, one number only when /proc
 * is ours (Linux 4.1; before it, the comparison of numbers is all there is). */
static int sv_read_proc_is_ours(void)
{
    char buf[4096];
    if (sv_read_small("/proc/self/status", buf, sizeof buf) > 0) {
        char *p = strstr(buf, "\nNSpid:");
        if (p) {
            char *end;
            long first = strtol(p + 7, &end, 10);
            if (end == p + 7)
                return 0;
            while (*end == ' ' || *end == '\t')
                end++;
            return (*end == '\n' || *end == '\0') && first == (long)getpid();
        }
    }
    char link[32];
    ssize_t n = readlink("/proc/self", link, sizeof link - 1);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    return strtol(link, NULL, 10) == (long)getpid();
}

/* 1 when the start times /proc shows this process are not everybody's: a time
 * namespace (Linux 5.6) shifts each one by the reader's boottime offset, so that
 * two processes of one pid namespace in different time namespaces read different
 * start times for the same live thread.  Then start times are neither recorded
 * nor compared. */
static int sv_boottime_shifted(void)
{
    struct stat own, children;
    if (stat("/proc/self/ns/time", &own) != 0)
        return errno != ENOENT;  /* ENOENT: a kernel without time namespaces */
    /* timens_offsets shows time_for_children's offsets, ours only when equal. */
    if (stat("/proc/self/ns/time_for_children", &children) != 0 ||
        own.st_ino != children.st_ino || own.st_dev != children.st_dev)
        return 1;
    char buf[512];
    if (sv_read_small("/proc/self/timens_offsets", buf, sizeof buf) < 0)
        return 1;
    char *p = strstr(buf, "boottime");
    long long sec;
    long nsec;
    if (!p || sscanf(p + 8, "%lld %ld", &sec, &nsec) != 2)
        return 1;
    return sec != 0 || nsec != 0;
}

static void sv_read_process(void)
{
    struct stat st;
    sv_pidns_cache = stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
    /* /proc may be another pid namespace's (unshare(CLONE_NEWPID) without a new
     * mount): then its numbers are not ours, and only kill() can be asked. */
    sv_proc_is_ours = sv_read_proc_is_ours();
    sv_start_usable = sv_proc_is_ours && !sv_boottime_shifted();
    sv_pidns_read = 1;
}

static inline uint64_t sv_pidns(void)
{
    if (!sv_pidns_read)
        sv_read_process();
    return sv_pidns_cache;
}

static void sv_read_thread(void)
{
#if SYSVSHM_HAVE_FUTEX
    long tid = syscall(SYS_gettid);
#else
    long tid = (long)getpid();
#endif
    char state;
    unsigned long long start;
    /* Only a start time every other process of the namespace reads the same way
     * is recorded (0: unknown).  /proc/thread-self is this thread whatever pid
     * namespace /proc shows; a start time read from another process would let a
     * checker with a true /proc judge a live owner dead. */
    sv_pidns();
    uint32_t start32 = sv_start_usable &&
                       sv_stat_file("/proc/thread-self/stat", &state, &start) == 0
                       ? (uint32_t)start : 0;
    sv_me_cache = ((uint64_t)start32 << 32) | ((uint32_t)tid & SV_TID_MASK);
}

/* This thread's word for a lock created in pid namespace lock_ns. */
static inline uint64_t sv_self_word(uint64_t lock_ns)
{
    uint64_t me = sv_me_cache;  /* one thread-local read */
    if (!me) {
        sv_read_thread();
        me = sv_me_cache;
    }
    uint64_t ns = sv_pidns();
    return me | ((ns == 0 || ns != lock_ns) ? SV_FOREIGN : 0u);
}

/* 1 when the owner recorded in word is provably gone; 0 when it lives or nobody
 * can tell.  Only an owner in the lock's own pid namespace, judged from inside
 * it, can be declared dead: its thread id no longer exists (kill(2): ESRCH), or
 * /proc shows it a zombie, or a thread with another start time holds its id. */
static int sv_owner_gone(uint64_t word, uint64_t lock_ns)
{
    uint32_t low = (uint32_t)word, start = (uint32_t)(word >> 32);
    long tid = (long)(low & SV_TID_MASK);
    uint64_t ns = sv_pidns();
    if ((low & SV_FOREIGN) || tid == 0 || ns == 0 || ns != lock_ns)
        return 0;
    if (kill((pid_t)tid, 0) == -1 && errno == ESRCH)
        return 1;
    if (!sv_proc_is_ours)
        return 0;
    char state;
    unsigned long long now_start;
    if (sv_proc_stat(tid, &state, &now_start) != 0)
        return 0;  /* hidden (hidepid) or just gone: the next look tells */
    if (state == 'Z' || state == 'X' || state == 'x')
        return 1;
    return start != 0 && sv_start_usable && (uint32_t)now_start != start;
}

/* ---- locks ---- */

/* The state and count of a lock are written only by its holder, and read by the
 * next holder after the acquiring compare-and-swap (which orders them): relaxed
 * loads and stores suffice, and cost no fence on the fast paths. */
static inline uint32_t sv_peek(uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void sv_poke(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

static inline int sv_lock_try(sv_lock_t *l, uint64_t me)
{
    uint64_t free_word = 0;
    return __atomic_compare_exchange_n(&l->word, &free_word, me, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_RELAXED);
}

/* Acquire, sleeping until until_ns at the latest; at the deadline, a lock whose
 * owner is provably dead is taken over (SV_TOOK_DEAD, *dead = the dead owner's
 * word).  A word whose owner bits are 0 is free, whatever the rest holds. */
static int sv_lock_wait(sv_lock_t *l, uint64_t me, int64_t until_ns, uint64_t *dead)
{
    uint64_t lock_ns = __atomic_load_n(&l->pidns, __ATOMIC_RELAXED);
    uint32_t *futex = sv_low_half(&l->word);
    /* The first look never judges the deadline, so that a zero timeout still
     * takes a free lock (as pthread_mutex_trylock); after it, every pass does, so
     * a word another process keeps changing cannot hold a waiter past it. */
    for (int first = 1;; first = 0) {
        uint64_t v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
        uint32_t low = (uint32_t)v;
        if ((low & SV_TID_MASK) == 0) {
            /* Taken with the waiters bit: others may still sleep on the word. */
            if (__atomic_compare_exchange_n(&l->word, &v, me | SV_WAITERS, 0,
                                            __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
                return SV_ACQUIRED;
            if (!first && sv_now_ns() >= until_ns)
                return SV_TIMEDOUT;
            continue;
        }
        if (sv_now_ns() >= until_ns) {
            if (sv_owner_gone(v, lock_ns) &&
                __atomic_compare_exchange_n(&l->word, &v, me | SV_WAITERS, 0,
                                            __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
                *dead = v;
                return SV_TOOK_DEAD;
            }
            return SV_TIMEDOUT;
        }
        if (!(low & SV_WAITERS)) {
            if (!__atomic_compare_exchange_n(&l->word, &v, v | SV_WAITERS, 0,
                                             __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
                continue;  /* it changed: look again */
            low |= SV_WAITERS;
        }
        if (sv_futex_wait(futex, low, until_ns) != 0) {
            if (errno == EINTR)
                return SV_INTR;
            if (errno != ETIMEDOUT)
                return SV_ERROR;
        }
    }
}

/* 0: released; 1: it was not locked; 2: another thread owns it. */
static int sv_lock_release(sv_lock_t *l, uint64_t me, int wake_all)
{
    uint64_t v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    if (((uint32_t)v & SV_TID_MASK) == 0)
        return 1;
    if ((v & ~(uint64_t)SV_WAITERS) != me)
        return 2;
    v = __atomic_exchange_n(&l->word, 0, __ATOMIC_SEQ_CST);
    if ((uint32_t)v & SV_WAITERS)
        sv_futex_wake(sv_low_half(&l->word), wake_all ? INT_MAX : 1);
    return 0;
}

/* 1 when this thread owns the lock. */
static inline int sv_lock_owned(sv_lock_t *l, uint64_t me)
{
    uint64_t v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    return (v & ~(uint64_t)SV_WAITERS) == me;
}

/* ---- semaphores ---- */

static inline int sv_sem_try(sv_sem_t *s)
{
    uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
    while (v > 0) {
        if (__atomic_compare_exchange_n(&s->value, &v, v - 1, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED))
            return 1;
    }
    return 0;
}

static int sv_sem_wait(sv_sem_t *s, int64_t until_ns)
{
    for (int i = sv_spins(); i > 0; i--) {
        if (__atomic_load_n(&s->value, __ATOMIC_RELAXED) > 0)
            break;  /* the loop below takes it */
        sv_relax();
    }
    for (;;) {
        if (sv_sem_try(s))
            return SV_ACQUIRED;
        if (sv_now_ns() >= until_ns)
            return SV_TIMEDOUT;
        __atomic_add_fetch(&s->waiters, 1, __ATOMIC_SEQ_CST);
        int r = sv_futex_wait(&s->value, 0, until_ns);
        int saved = errno;
        __atomic_sub_fetch(&s->waiters, 1, __ATOMIC_SEQ_CST);
        if (r != 0 && saved == EINTR)
            return SV_INTR;
        if (r != 0 && saved != ETIMEDOUT) {
            errno = saved;
            return SV_ERROR;
        }
    }
}

/* Add n unless the value would pass bound: 0, or 1 (nothing changed). */
static int sv_sem_post(sv_sem_t *s, uint32_t n, uint32_t bound)
{
    uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
    do {
        if (v > bound || n > bound - v)
            return 1;
    } while (!__atomic_compare_exchange_n(&s->value, &v, v + n, 0, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    if (__atomic_load_n(&s->waiters, __ATOMIC_SEQ_CST))
        sv_futex_wake(&s->value, n > INT_MAX ? INT_MAX : (int)n);
    return 0;
}

/* ---- atomic integers (signed ones use the unsigned operations: two's
 * complement, the same bits) ---- */

#define SV_ATOMIC(name, T)                                                            \
    static inline T sv_load_##name(T *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); } \
    static inline void sv_store_##name(T *p, T v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); } \
    static inline T sv_exchange_##name(T *p, T v)                                     \
    {                                                                                 \
        return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);                           \
    }                                                                                 \
    static inline T sv_fetch_add_##name(T *p, T v)                                    \
    {                                                                                 \
        return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);                            \
    }                                                                                 \
    static inline T sv_fetch_sub_##name(T *p, T v)                                    \
    {                                                                                 \
        return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST);                            \
    }                                                                                 \
    static inline int sv_cas_##name(T *p, T *expected, T desired)                     \
    {                                                                                 \
        return __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_SEQ_CST, \
                                           __ATOMIC_SEQ_CST);                         \
    }

SV_ATOMIC(u32, uint32_t)
SV_ATOMIC(u64, uint64_t)

/* The futex of an atomic: the word itself (4 bytes) or its low half (8 bytes). */
static inline uint32_t *sv_futex_of(char *p, int size)
{
    return size == 4 ? (uint32_t *)p : sv_low_half((uint64_t *)p);
}

#endif
