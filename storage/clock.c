/*
 * clock: relative seconds since start on the monotonic clock; see clock.h.
 *
 * The start point is taken lazily on first use.  CLOCK_MONOTONIC_COARSE is a
 * vDSO read of a few nanoseconds, cheap enough to call per request, so there
 * is no timer thread to keep a cached value fresh.
 */
#include "clock.h"

#include <pthread.h>

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
static struct timespec mono_start;
static time_t wall_start;
static long wall_start_ns; /* the fraction of a second the wall clock was at */
static uint32_t test_advance;   /* written by tests only, read relaxed */
static int64_t test_wall_step;
static rel_time_t shift; /* clock_shift(): set once at start */

static void clock_init(void) {
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC_COARSE, &mono_start);
    /* Two seconds of slack keep relative times 0 and 1 free for "never"
     * and "already expired". */
    wall_start = wall.tv_sec - 2;
    /* The coarse clock may read up to one tick late at the start and on
     * time later on: count from one tick behind, so the error is never
     * ahead of the wall clock. */
    struct timespec res = {0, 0};
    clock_getres(CLOCK_MONOTONIC_COARSE, &res);
    wall_start_ns = wall.tv_nsec - res.tv_nsec - (long)res.tv_sec * 1000000000;
}

rel_time_t clock_now(void) {
    struct timespec ts;
    pthread_once(&clock_once, clock_init);
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    /* Seconds tick when the wall clock's do, not a fraction early: an
     * absolute expiry or flush_all time must not fire before its second. */
    int64_t ns = (int64_t)(ts.tv_sec - mono_start.tv_sec) * 1000000000 +
                 (ts.tv_nsec - mono_start.tv_nsec) + wall_start_ns;
    uint64_t secs = ns > 0 ? (uint64_t)(ns / 1000000000) : 0;
    return (rel_time_t)(secs + 2 + shift + __atomic_load_n(&test_advance, __ATOMIC_RELAXED));
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
