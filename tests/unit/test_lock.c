/*
 * Tests of storage/lock.h, the futex mutex under the shard and class locks.
 * In suite `concurrency`, so `make test-tsan` runs them under ThreadSanitizer,
 * which sees the lock's acquire and release orders as a lock.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>

#include "storage/lock.h"

Test(concurrency, lock_try_and_give) {
    struct lock l = LOCK_INIT;
    cr_assert(lock_try(&l));
    cr_assert_not(lock_try(&l), "taken twice");
    lock_give(&l);
    cr_assert(lock_try(&l), "not free after give");
    lock_give(&l);
    lock_take(&l);
    cr_assert_not(lock_try(&l));
    lock_give(&l);
}

enum { LOCK_THREADS = 4, LOCK_ROUNDS = 20000 };

struct lock_shared {
    struct lock l;
    uint64_t counter; /* plain: only the lock orders its updates */
    uint64_t pairs[2]; /* equal whenever the lock is free */
    unsigned torn;
};

static void *lock_worker(void *arg) {
    struct lock_shared *s = arg;
    for (int i = 0; i < LOCK_ROUNDS; i++) {
        lock_take(&s->l);
        if (s->pairs[0] != s->pairs[1])
            s->torn++;
        s->pairs[0]++;
        s->counter++;
        if (i % 64 == 0)
            sched_yield(); /* a holder that loses its core: waiters must sleep, then wake */
        s->pairs[1]++;
        lock_give(&s->l);
    }
    return NULL;
}

/* More threads than cores, and holders that yield inside: waiters reach the
 * futex sleep, and every give that may have a sleeper wakes one. */
Test(concurrency, lock_excludes_and_wakes) {
    struct lock_shared s = {.l = LOCK_INIT};
    pthread_t t[LOCK_THREADS];
    for (int i = 0; i < LOCK_THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, lock_worker, &s), 0);
    for (int i = 0; i < LOCK_THREADS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(s.counter, (uint64_t)LOCK_THREADS * LOCK_ROUNDS);
    cr_assert_eq(s.torn, 0, "%u sections saw another thread's half-done update", s.torn);
    cr_assert_eq(s.l.word, 0, "left held (%u)", s.l.word);
}
