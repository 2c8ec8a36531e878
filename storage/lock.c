/*
 * lock: the slow paths of the futex mutex (see lock.h).
 */
#include "lock.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* About a microsecond of spinning: long enough for a shard's critical
 * section to end, short enough that a preempted holder costs little. */
#define LOCK_SPINS 100

static void lock_futex(struct lock *l, int op, uint32_t val) {
    syscall(SYS_futex, &l->word, op, val, NULL, NULL, 0);
}

void lock_wait(struct lock *l) {
    for (int i = 0; i < LOCK_SPINS; i++) {
        if (__atomic_load_n(&l->word, __ATOMIC_RELAXED) == 0 && lock_try(l))
            return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    /* From here the word says 2 while this thread may sleep, so the holder's
     * give wakes someone; taking it with 2 is safe, as it only costs that
     * thread's later give one spare wake. */
    while (__atomic_exchange_n(&l->word, 2, __ATOMIC_ACQUIRE) != 0)
        lock_futex(l, FUTEX_WAIT_PRIVATE, 2);
}

void lock_wake(struct lock *l) { lock_futex(l, FUTEX_WAKE_PRIVATE, 1); }
