/*
 * worker: one generator thread — an event base, its share of the
 * connections, and the hand-over of its counts to the reporter.
 *
 * Threads move through the same phases (prefill, run, scan) in step: a
 * barrier starts each phase and another ends it, so the reporter knows when
 * every thread's requests for a phase are in.  During the run a thread hands
 * its counts over once per second, at the second boundaries of the run's
 * clock; the reporter picks them up a little later.  The hand-over is a
 * merge under a mutex held once per second, so the request path has no lock
 * and no shared counter.
 */
#ifndef LARDER_BENCH_WORKER_H
#define LARDER_BENCH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "client.h"
#include "tally.h"

#define WORKER_MAX_PHASES 3

/* What all threads share, written by the reporter. */
struct worker_plan {
    pthread_barrier_t barrier;          /* threads + the reporter */
    enum client_phase phase[WORKER_MAX_PHASES];
    unsigned nphases;
    atomic_bool stop;                   /* the run is over: drain */
    atomic_uint live;                   /* connections still open, all threads */
    _Atomic uint64_t phase_start_ns;    /* set before each start barrier */
};

struct worker;

enum worker_status { WORKER_OK, WORKER_NO_MEMORY, WORKER_THREAD_FAILED };

/* Creates worker `index` of `count` with its share of the connections. */
enum worker_status worker_create(struct worker **out, unsigned index, unsigned count,
                                 const struct load_opts *opts, const struct payload *payload,
                                 struct worker_plan *plan);
enum worker_status worker_start(struct worker *w);
void worker_join(struct worker *w);
void worker_destroy(struct worker *w);

/* Adds what the worker has handed over since the last call into `into`.
 * Connection errors met while connecting are handed over before phase 1. */
void worker_collect(struct worker *w, struct tally *into);

/* Monotonic nanoseconds, the clock phases and latencies are measured on. */
uint64_t worker_now_ns(void);

#endif
