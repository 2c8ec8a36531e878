/*
 * Unit tests for storage/clock.c: conversion of protocol exptimes (memcached's
 * realtime()) and the test hooks the expiry tests rely on.  Each Criterion
 * test runs in its own process, so clock_test_advance() does not leak.
 */
#include <criterion/criterion.h>
#include <unistd.h>
#include <time.h>

#include "helpers.h"
#include "storage/clock.h"

Test(clock, starts_at_two_or_later) {
    cr_assert_geq(clock_now(), 2);
}

Test(clock, unix_now_tracks_wall_clock) {
    t_clock_settle();
    time_t now = time(NULL);
    time_t ours = clock_unix_now();
    cr_assert_leq(ours > now ? ours - now : now - ours, 1);
    cr_assert_eq(clock_started() + (time_t)clock_now(), clock_unix_now());
}

Test(clock, zero_is_never) {
    cr_assert_eq(clock_exptime(0), CLOCK_NEVER);
}

Test(clock, negative_is_expired) {
    cr_assert_eq(clock_exptime(-1), CLOCK_EXPIRED);
    cr_assert_eq(clock_exptime(INT64_MIN), CLOCK_EXPIRED);
}

Test(clock, relative_up_to_thirty_days) {
    t_clock_settle();
    rel_time_t now = clock_now();
    cr_assert_eq(clock_exptime(1), now + 1);
    cr_assert_eq(clock_exptime(CLOCK_MAX_DELTA), now + CLOCK_MAX_DELTA);
}

/* One past thirty days is a unix time: 1970-01-31, before the process. */
Test(clock, above_thirty_days_is_absolute) {
    cr_assert_eq(clock_exptime(CLOCK_MAX_DELTA + 1), CLOCK_EXPIRED);
}

Test(clock, absolute_future_converted_against_start) {
    t_clock_settle();
    int64_t when = (int64_t)clock_unix_now() + 3600;
    cr_assert_eq(clock_exptime(when), clock_now() + 3600);
}

/* A unix time after start but already past is a relative time <= now:
 * the item is dead on arrival. */
Test(clock, absolute_recent_past_is_not_in_future) {
    clock_test_advance(500);
    rel_time_t r = clock_exptime((int64_t)clock_unix_now() - 10);
    cr_assert_neq(r, CLOCK_NEVER);
    cr_assert_leq(r, clock_now());
}

Test(clock, absolute_far_future_saturates) {
    cr_assert_eq(clock_exptime(INT64_MAX), UINT32_MAX);
}

Test(clock, advance_moves_relative_clock) {
    t_clock_settle();
    rel_time_t before = clock_now();
    clock_test_advance(1000);
    clock_test_advance(234);
    cr_assert_eq(clock_now(), before + 1234);
}

/* A wall step shows in the unix time only: relative times, relative
 * exptimes and even absolute exptimes (converted against the start time, as
 * memcached does) are untouched. */
Test(clock, wall_step_moves_unix_time_only) {
    t_clock_settle();
    rel_time_t now = clock_now();
    time_t unix_before = clock_unix_now();
    int64_t abs_when = (int64_t)unix_before + 100;
    rel_time_t abs_before = clock_exptime(abs_when);
    clock_test_wall_step(86400);
    cr_assert_eq(clock_unix_now(), unix_before + 86400);
    cr_assert_eq(clock_now(), now);
    cr_assert_eq(clock_exptime(100), now + 100);
    cr_assert_eq(clock_exptime(abs_when), abs_before);
    clock_test_wall_step(-2 * 86400);
    cr_assert_eq(clock_unix_now(), unix_before - 86400);
    cr_assert_eq(clock_now(), now);
}

/* The wall time the clock reports is never ahead of the wall clock: its
 * seconds tick with the wall clock's, so an absolute expiry or flush_all
 * time does not fire a fraction of a second early (memcached's flush-all.t
 * caught that).  Sampled over a second and a half, across two ticks. */
Test(clock, unix_now_is_never_ahead_of_the_wall_clock) {
    struct timespec start, real;
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned samples = 0;
    do {
        time_t ours = clock_unix_now();
        clock_gettime(CLOCK_REALTIME, &real);
        cr_assert_leq(ours, real.tv_sec, "clock_unix_now %ld ahead of %ld.%09ld", (long)ours,
                      (long)real.tv_sec, real.tv_nsec);
        samples++;
        usleep(1000);
        clock_gettime(CLOCK_MONOTONIC, &real);
    } while (real.tv_sec - start.tv_sec < 2);
    cr_assert_gt(samples, 10);
}
