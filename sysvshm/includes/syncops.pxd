# syncops.h: the word-level operations of sysvshm.sync (futex(2), GCC's __atomic
# builtins, /proc/TID/stat for the owner's start time), without the GIL.
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t


cdef extern from "syncops.h" nogil:
    int SYSVSHM_HAVE_FUTEX
    uint32_t SV_TID_MASK
    uint32_t SV_FOREIGN
    uint32_t SV_WAITERS
    int SV_ACQUIRED
    int SV_TOOK_DEAD
    int SV_TIMEDOUT
    int SV_INTR
    int SV_ERROR
    uint32_t SV_CONSISTENT
    uint32_t SV_OWNER_DIED
    uint32_t SV_NOT_RECOVERABLE

    ctypedef struct sv_lock_t:
        uint32_t magic
        uint16_t kind
        uint16_t version
        uint64_t word
        uint32_t state
        uint32_t count
        uint64_t pidns

    ctypedef struct sv_sem_t:
        uint32_t magic
        uint16_t kind
        uint16_t version
        uint32_t value
        uint32_t waiters
        uint32_t bound

    int64_t sv_now_ns()
    int sv_setup()
    uint64_t sv_pidns()
    uint64_t sv_self_word(uint64_t lock_ns)
    int sv_futex_wait(uint32_t *addr, uint32_t expected, int64_t until_ns)
    long sv_futex_wake(uint32_t *addr, int n)
    uint32_t *sv_futex_of(char *p, int size)

    uint32_t sv_peek(uint32_t *p)
    void sv_poke(uint32_t *p, uint32_t v)
    int sv_lock_try(sv_lock_t *l, uint64_t me)
    int sv_lock_wait(sv_lock_t *l, uint64_t me, int64_t until_ns, uint64_t *dead)
    int sv_lock_release(sv_lock_t *l, uint64_t me, int wake_all)
    int sv_lock_owned(sv_lock_t *l, uint64_t me)

    int sv_sem_try(sv_sem_t *s)
    int sv_sem_wait(sv_sem_t *s, int64_t until_ns)
    int sv_sem_post(sv_sem_t *s, uint32_t n, uint32_t bound)

    uint32_t sv_load_u32(uint32_t *p)
    void sv_store_u32(uint32_t *p, uint32_t v)
    uint32_t sv_exchange_u32(uint32_t *p, uint32_t v)
    uint32_t sv_fetch_add_u32(uint32_t *p, uint32_t v)
    uint32_t sv_fetch_sub_u32(uint32_t *p, uint32_t v)
    int sv_cas_u32(uint32_t *p, uint32_t *expected, uint32_t desired)
    uint64_t sv_load_u64(uint64_t *p)
    void sv_store_u64(uint64_t *p, uint64_t v)
    uint64_t sv_exchange_u64(uint64_t *p, uint64_t v)
    uint64_t sv_fetch_add_u64(uint64_t *p, uint64_t v)
    uint64_t sv_fetch_sub_u64(uint64_t *p, uint64_t v)
    int sv_cas_u64(uint64_t *p, uint64_t *expected, uint64_t desired)
