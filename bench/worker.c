/*
 * worker: one generator thread; see worker.h.
 */
#include "worker.h"

#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

/* How often a thread looks at the clock for hand-overs and stalls. */
#define WORKER_TICK_US 100000

struct worker {
    unsigned index;
    pthread_t thread;
    bool started;
    const struct load_opts *opts;
    struct worker_plan *plan;
    struct event_base *base;
    struct event *tick;
    struct client_ctx ctx;
    struct client **clients;
    unsigned nclients;
    uint64_t phase_start;
    uint64_t seconds_handed;           /* run seconds already handed over */
    uint64_t progress_seen, progress_at; /* completions, and when they last moved */
    struct tally cur;                  /* what the clients count into */
    pthread_mutex_t lock;
    struct tally handed;               /* guarded by lock */
};

uint64_t worker_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void worker_hand_over(struct worker *w) {
    pthread_mutex_lock(&w->lock);
    tally_merge(&w->handed, &w->cur);
    pthread_mutex_unlock(&w->lock);
    tally_reset(&w->cur);
}

void worker_collect(struct worker *w, struct tally *into) {
    pthread_mutex_lock(&w->lock);
    tally_merge(into, &w->handed);
    tally_reset(&w->handed);
    pthread_mutex_unlock(&w->lock);
}

/* A thread whose requests got no reply for stall_timeout gives them up, so
 * a hung server ends the run with timeouts counted instead of hanging it. */
static void worker_check_stall(struct worker *w, uint64_t now) {
    if (w->ctx.completions != w->progress_seen) {
        w->progress_seen = w->ctx.completions;
        w->progress_at = now;
        return;
    }
    if ((double)(now - w->progress_at) < w->opts->stall_timeout * 1e9)
        return;
    for (unsigned i = 0; i < w->nclients; i++)
        client_abandon(w->clients[i]);
}

static void worker_on_tick(evutil_socket_t fd, short what, void *arg) {
    struct worker *w = arg;
    (void)fd;
    (void)what;
    uint64_t now = worker_now_ns();
    if (w->ctx.phase == CLIENT_RUN && now > w->phase_start) {
        uint64_t sec = (now - w->phase_start) / 1000000000u;
        if (sec > w->seconds_handed) {
            worker_hand_over(w);
            w->seconds_handed = sec;
        }
    }
    worker_check_stall(w, now);
}

static void worker_run_phase(struct worker *w, enum client_phase phase) {
    w->ctx.phase = phase;
    w->ctx.busy = 0;
    w->phase_start = atomic_load(&w->plan->phase_start_ns);
    w->seconds_handed = 0;
    w->progress_seen = w->ctx.completions;
    w->progress_at = worker_now_ns();
    for (unsigned i = 0; i < w->nclients; i++)
        client_start(w->clients[i]);
    if (w->ctx.busy > 0) {
        struct timeval tv = {0, WORKER_TICK_US};
        event_add(w->tick, &tv);
        event_base_loop(w->base, 0);
        event_del(w->tick);
    }
    worker_hand_over(w);
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    for (unsigned i = 0; i < w->plan->nphases; i++) {
        pthread_barrier_wait(&w->plan->barrier);
        worker_run_phase(w, w->plan->phase[i]);
        pthread_barrier_wait(&w->plan->barrier);
    }
    return NULL;
}

/* Connections are dealt round-robin to threads; connection j of a server
 * prefills and scans slice j of that server's keys. */
static enum worker_status worker_connect(struct worker *w, unsigned count) {
    const struct load_opts *o = w->opts;
    unsigned total = o->nservers * o->conns;
    w->clients = calloc(total / count + 1, sizeof(*w->clients));
    if (!w->clients)
        return WORKER_NO_MEMORY;
    for (unsigned g = w->index; g < total; g += count) {
        unsigned s = g / o->conns, j = g % o->conns;
        uint64_t share = client_share(o, s);
        uint64_t lo = share * j / o->conns, hi = share * (j + 1) / o->conns;
        struct client *c = client_new(&w->ctx, s, lo, hi);
        if (!c)
            return WORKER_NO_MEMORY;
        w->clients[w->nclients++] = c;
    }
    return WORKER_OK;
}

enum worker_status worker_create(struct worker **out, unsigned index, unsigned count,
                                 const struct load_opts *opts, const struct payload *payload,
                                 struct worker_plan *plan) {
    struct worker *w = calloc(1, sizeof(*w));
    *out = w;
    if (!w)
        return WORKER_NO_MEMORY;
    w->index = index;
    w->opts = opts;
    w->plan = plan;
    pthread_mutex_init(&w->lock, NULL);
    tally_reset(&w->cur);
    tally_reset(&w->handed);
    w->base = event_base_new();
    if (!w->base)
        return WORKER_NO_MEMORY;
    w->tick = event_new(w->base, -1, EV_PERSIST, worker_on_tick, w);
    if (!w->tick)
        return WORKER_NO_MEMORY;
    uint64_t seed = opts->seed ^ ((uint64_t)(index + 1) * 0x9e3779b97f4a7c15ull);
    client_ctx_init(&w->ctx, opts, payload, w->base, seed);
    w->ctx.stop = &plan->stop;
    w->ctx.live = &plan->live;
    w->ctx.tally = &w->cur;
    enum worker_status st = worker_connect(w, count);
    worker_hand_over(w); /* connect errors, if any */
    return st;
}

enum worker_status worker_start(struct worker *w) {
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return WORKER_THREAD_FAILED;
    w->started = true;
    return WORKER_OK;
}

void worker_join(struct worker *w) {
    if (w->started)
        pthread_join(w->thread, NULL);
    w->started = false;
}

void worker_destroy(struct worker *w) {
    if (!w)
        return;
    for (unsigned i = 0; i < w->nclients; i++)
        client_free(w->clients[i]);
    free(w->clients);
    if (w->tick)
        event_free(w->tick);
    if (w->base)
        event_base_free(w->base);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
