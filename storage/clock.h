/*
 * clock: the store's notion of time.
 *
 * Items carry times as seconds relative to process start, read from the
 * monotonic clock, so that a step of the wall clock (an NTP correction, an
 * operator's `date -s`) neither expires nor prolongs anything.  Absolute unix
 * times sent by clients are converted once, against the wall time recorded at
 * start, exactly as memcached does with its process_started.
 *
 * Relative time 0 means "never" in an item's exptime; CLOCK_EXPIRED (1) is a
 * time that has always passed; clock_now() is never below 2.
 */
#ifndef LARDER_CLOCK_H
#define LARDER_CLOCK_H

#include <stdint.h>
#include <time.h>

typedef uint32_t rel_time_t;

#define CLOCK_NEVER 0
#define CLOCK_EXPIRED 1
#define CLOCK_MAX_DELTA (60 * 60 * 24 * 30) /* larger exptimes are unix times */

/* Seconds since process start (>= 2).  Cheap once clock_start() has run:
 * one load of the second a ticker thread keeps. */
rel_time_t clock_now(void);

/* Starts the ticker thread (once; the store does it).  Call it after any
 * fork() that the process makes to daemonize: threads do not survive one. */
void clock_start(void);

/* Unix time at which the process started, minus two seconds (see above). */
time_t clock_started(void);

/* Unix time now, derived from the start time and the monotonic clock, as
 * memcached's "time" stat is. */
time_t clock_unix_now(void);

/* Converts a protocol exptime (0, relative seconds, unix time or negative)
 * into a relative time: CLOCK_NEVER, CLOCK_EXPIRED or a future time. */
rel_time_t clock_exptime(int64_t exptime);

/* Moves relative time forward by `seconds`, keeping unix time: a warm
 * restart (-e) continues the clock its items' times were written against.
 * Call before any other thread reads the clock. */
void clock_shift(rel_time_t seconds);

/* Test hooks: move the monotonic clock forward, or pretend the wall clock
 * stepped by delta seconds (only clock_unix_now() sees it, as it should). */
void clock_test_advance(uint32_t seconds);
void clock_test_wall_step(int64_t delta);

#endif
