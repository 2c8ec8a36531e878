/*
 * clock: relative seconds since start on the monotonic clock; see clock.h.
 *
 * The start point is taken lazily on first use.  Every request reads the
 * time at least twice, so once clock_start() has run a ticker thread keeps
 * the current second in one variable, as memcached's clock event keeps
 * current_time: a read is one load instead of a vDSO call and a division.
 * The ticker sleeps until the next second of the wall clock's phase and
 * computes the second it woke in, so the cached value is never ahead of
 * the real one.  Before the ticker runs (tests, tools) and in a child
 * after fork(), where the ticker does not exist, clock_now() computes.
 */
#include "clock.h"

#include <pthread.h>
#include <sched.h>

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
static rel_time_t ticked; /* atomic: the ticker's second, 0 while there is none */
static struct timespec mono_start;
static time_t wall_start;
static long wall_start_ns; /* the fraction of a second the wall clock was at */
static uint32_t test_advance;   /* written by tests only, read relaxed */
static int64_t test_wall_step;
static rel_time_t shift; /* clock_shift(): set once at start */

static void clock_forget_ticker(void) { __atomic_store_n(&ticked, 0, __ATOMIC_RELAXED); }

static void clock_init(void) {
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &mono_start);
    /* Two seconds of slack keep relative times 0 and 1 free for "never"
     * and "already expired". */
    wall_start = wall.tv_sec - 2;
    wall_start_ns = wall.tv_nsec;
    pthread_atfork(NULL, NULL, clock_forget_ticker);
}

/* Nanoseconds since the second the process started in, on the monotonic
 * clock: seconds tick when the wall clock's do, not a fraction early, so
 * an absolute expiry or flush_all time never fires before its second. */
static int64_t clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)(ts.tv_sec - mono_start.tv_sec) * 1000000000 +
           (ts.tv_nsec - mono_start.tv_nsec) + wall_start_ns;
}

/* Out of line, so that clock_now stays small enough to inline. */
static __attribute__((noinline)) rel_time_t clock_compute(void) {
    pthread_once(&clock_once, clock_init);
    int64_t ns = clock_ns();
    return (rel_time_t)((ns > 0 ? (uint64_t)(ns / 1000000000) : 0) + 2);
}

static void *clock_tick(void *arg) {
    (void)arg;
    for (;;) {
        int64_t ns = clock_ns();
        __atomic_store_n(&ticked, (rel_time_t)(ns / 1000000000 + 2), __ATOMIC_RELAXED);
        /* wake at the next second of the wall clock's phase */
        int64_t next = (ns / 1000000000 + 1) * 1000000000 - wall_start_ns;
        struct timespec at = {mono_start.tv_sec + next / 1000000000,
                              mono_start.tv_nsec + next % 1000000000};
        if (at.tv_nsec >= 1000000000) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) != 0)
            ;
    }
    return NULL;
}

static void clock_start_ticker(void) {
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 64 * 1024);
    if (pthread_create(&t, &a, clock_tick, NULL) == 0)
        /* the first value is there before anyone relies on the ticker */
        while (__atomic_load_n(&ticked, __ATOMIC_RELAXED) == 0)
            sched_yield();
    pthread_attr_destroy(&a);
}

static pthread_once_t ticker_once = PTHREAD_ONCE_INIT;

void clock_start(void) {
    pthread_once(&clock_once, clock_init);
    pthread_once(&ticker_once, clock_start_ticker);
}

rel_time_t clock_now(void) {
    rel_time_t t = __atomic_load_n(&ticked, __ATOMIC_RELAXED);
    if (__builtin_expect(t == 0, 0))
        t = clock_compute();
    return t + shift + __atomic_load_n(&test_advance, __ATOMIC_RELAXED);
}

time_t clock_started(void) {
    pthread_once(&clock_once, clock_init);
    return wall_start - (time_t)shift;
}

void clock_shift(rel_time_t seconds) {
    pthread_once(&clock_once, clock_init);
    shift += seconds;
}

time_t clock_unix_now(void) {
    return clock_started() + (time_t)clock_now() +
           (time_t)__atomic_load_n(&test_wall_step, __ATOMIC_RELAXED);
}

rel_time_t clock_exptime(int64_t exptime) {
    if (exptime == 0)
        return CLOCK_NEVER;
    if (exptime < 0)
        return CLOCK_EXPIRED;
    if (exptime > CLOCK_MAX_DELTA) {
        /* An absolute unix time.  One at or before our start is in the past. */
        time_t started = clock_started();
        if (exptime <= started)
            return CLOCK_EXPIRED;
        int64_t rel = exptime - started;
        return rel > UINT32_MAX ? UINT32_MAX : (rel_time_t)rel;
    }
    return clock_now() + (rel_time_t)exptime;
}

void clock_test_advance(uint32_t seconds) {
    __atomic_add_fetch(&test_advance, seconds, __ATOMIC_RELAXED);
}

void clock_test_wall_step(int64_t delta) {
    __atomic_add_fetch(&test_wall_step, delta, __ATOMIC_RELAXED);
}
