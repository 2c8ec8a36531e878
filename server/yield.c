#include "server/yield.h"

#include <time.h>

uint64_t yield_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool yield_due(struct yield_state *y, uint64_t t_call, uint64_t t_first, unsigned events,
               uint64_t t_end) {
    if (events == 0)
        return false;
    if (events >= YIELD_BATCH_MIN)
        return true;
    if (y->busy_since == 0 || t_first - t_call >= YIELD_WAIT_NS)
        y->busy_since = t_first;
    return t_end - y->busy_since >= YIELD_BUSY_NS;
}

void yield_done(struct yield_state *y, uint64_t t) { y->busy_since = t; }
