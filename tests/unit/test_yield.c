/*
 * Unit tests for server/yield.c: when a worker gives its core away between
 * event batches.  Times are made up, so each rule is checked exactly.
 */
#include <criterion/criterion.h>

#include "server/yield.h"

TestSuite(yield, .timeout = 60);

/* a pass entered at t that waited `wait` ns, then ran `run` ns */
static bool pass(struct yield_state *y, uint64_t t, uint64_t wait, unsigned events, uint64_t run) {
    return yield_due(y, t, t + wait, events, t + wait + run);
}

Test(yield, no_connection_event_never_yields) {
    struct yield_state y = {0};
    cr_assert_not(pass(&y, 1000, 0, 0, 10 * YIELD_BUSY_NS));
    cr_assert_eq(y.busy_since, 0, "a pass with no events is not busy time");
}

Test(yield, a_batch_of_two_yields) {
    struct yield_state y = {0};
    cr_assert(pass(&y, 1000, YIELD_WAIT_NS * 10, YIELD_BATCH_MIN, 100));
    cr_assert(pass(&y, 5000, 0, 50, 1));
}

Test(yield, single_events_after_waits_do_not_yield) {
    /* one client at depth 1: every request is a lone event after a wait */
    struct yield_state y = {0};
    uint64_t t = 1000;
    for (int i = 0; i < 1000; i++, t += YIELD_WAIT_NS * 4)
        cr_assert_not(pass(&y, t, YIELD_WAIT_NS * 2, 1, YIELD_WAIT_NS), "pass %d", i);
}

Test(yield, single_events_without_waiting_yield_once_busy) {
    /* lone events that never wait: the worker holds the core */
    struct yield_state y = {0};
    uint64_t t = 1000, step = 1000; /* 100 ns of wait, 900 of work */
    int passes = 0;
    while (!pass(&y, t, 100, 1, step - 100)) {
        t += step;
        passes++;
        cr_assert_lt(passes, 1000, "never yielded");
    }
    /* busy from the first event, 100 ns in: pass k ends 900 + k * step ns
     * after it, so the first k to reach YIELD_BUSY_NS yields */
    cr_assert_eq(passes, (YIELD_BUSY_NS - 900 + step - 1) / step);
    yield_done(&y, t + step);
    cr_assert_eq(y.busy_since, t + step);
    cr_assert_not(pass(&y, t + step, 100, 1, step - 100), "busy time restarts after a yield");
}

Test(yield, a_real_wait_restarts_busy_time) {
    struct yield_state y = {0};
    uint64_t t = 1000;
    cr_assert_not(pass(&y, t, 100, 1, YIELD_BUSY_NS - 1000));
    /* a wait of YIELD_WAIT_NS: the core was free, the count starts again */
    t += YIELD_BUSY_NS;
    cr_assert_not(pass(&y, t, YIELD_WAIT_NS, 1, 1000));
    cr_assert_eq(y.busy_since, t + YIELD_WAIT_NS);
    /* just short of it: still the same busy period */
    uint64_t since = y.busy_since;
    cr_assert_not(pass(&y, t + YIELD_WAIT_NS + 2000, YIELD_WAIT_NS - 1, 1, 1000));
    cr_assert_eq(y.busy_since, since);
}

Test(yield, clock_moves_forward) {
    uint64_t a = yield_now_ns(), b = yield_now_ns();
    cr_assert_gt(a, 0);
    cr_assert_geq(b, a);
}
