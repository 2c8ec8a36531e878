/*
 * yield: when a worker gives its core away between event batches.
 *
 * A worker that always finds more work keeps its core until the scheduler
 * tick, and a client sharing the cores (an application server, a load
 * generator) then waits up to 4 ms for it.  A sched_yield after every batch
 * prevents that but costs a syscall per request when each batch is one
 * request.  So a worker yields:
 *   - after a batch of YIELD_BATCH_MIN events or more: requests are arriving
 *     faster than one at a time, and yielding lets more of them gather, so
 *     the next epoll_wait returns a bigger batch for the same syscalls;
 *   - after YIELD_BUSY_NS without a real wait: a stream of one-event batches
 *     that never blocks is holding the core just the same.
 * A batch that began after a wait of YIELD_WAIT_NS or more (epoll_wait
 * blocked, so the core was free meanwhile) starts the busy time afresh.
 * No syscall: the clock is the vDSO's.
 */
#ifndef LARDER_YIELD_H
#define LARDER_YIELD_H

#include <stdbool.h>
#include <stdint.h>

#define YIELD_BATCH_MIN 2
#define YIELD_WAIT_NS 5000u
#define YIELD_BUSY_NS 200000u

struct yield_state {
    uint64_t busy_since; /* 0: not busy */
};

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t yield_now_ns(void);

/* Whether to yield after one loop pass that was entered at t_call, saw its
 * first of `events` connection events at t_first and ended at t_end. */
bool yield_due(struct yield_state *y, uint64_t t_call, uint64_t t_first, unsigned events,
               uint64_t t_end);

/* The worker yielded at t: busy time counts from there. */
void yield_done(struct yield_state *y, uint64_t t);

#endif
