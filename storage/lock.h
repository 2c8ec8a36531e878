/*
 * lock: the store's mutex, one 32-bit word.
 *
 * Every request takes a shard lock and every store a class lock too, almost
 * never contended.  glibc's pthread_mutex_lock and _unlock cost about 85
 * instructions for that pair (type checks, elision and robust-list
 * support that nothing here uses); this lock costs one atomic instruction
 * each way when no one waits.  It is Drepper's three-state futex mutex
 * ("Futexes Are Tricky", mutex 2): 0 free, 1 held, 2 held and maybe waited
 * on.  A waiter spins briefly (critical sections are a hash lookup or a
 * chunk unlink) and then sleeps in the kernel, so a holder preempted on a
 * busy machine never has others burn its core.  No recursion, no
 * condition variables; the acquire and release orders make it visible to
 * ThreadSanitizer as a lock.
 */
#ifndef LARDER_LOCK_H
#define LARDER_LOCK_H

#include <stdbool.h>
#include <stdint.h>

struct lock {
    uint32_t word;
};

#define LOCK_INIT {0}

/* Slow paths, out of line: the wait when the lock is held, the wake when
 * someone may be waiting. */
void lock_wait(struct lock *l);
void lock_wake(struct lock *l);

static inline void lock_init(struct lock *l) { __atomic_store_n(&l->word, 0, __ATOMIC_RELAXED); }

/* Takes the lock if it is free; true if taken. */
static inline bool lock_try(struct lock *l) {
    uint32_t free_ = 0;
    return __atomic_compare_exchange_n(&l->word, &free_, 1, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

static inline void lock_take(struct lock *l) {
    if (__builtin_expect(!lock_try(l), 0))
        lock_wait(l);
}

static inline void lock_give(struct lock *l) {
    if (__builtin_expect(__atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE) != 1, 0))
        lock_wake(l);
}

#endif
