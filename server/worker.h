/*
 * worker: the threads that run connections.  Each worker owns one libevent
 * base and every connection handed to it; nothing else touches them, so the
 * request path takes no lock of the server's own (only the store's shard
 * locks).  The listener thread hands over new sockets through a small queue
 * and a notify pipe.
 *
 * Counters a worker bumps live in its own struct and are read by `stats` on
 * another thread: relaxed atomics, one writer each, summed on demand.
 */
#ifndef LARDER_WORKER_H
#define LARDER_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/yield.h"

struct server;
struct conn;
struct event_base;
struct event;

struct worker_stats {
    uint64_t cmd_get, cmd_set, cmd_flush, cmd_touch, cmd_meta;
    uint64_t bytes_read, bytes_written;
    uint64_t conn_yields, idle_kicks;
    uint64_t worker_yields; /* sched_yield calls between batches */
    uint64_t udp_received, udp_sent, udp_dropped; /* datagrams */
    /* the memory budget refused a connection's read buffer / its output
     * (memcached's read_buf_oom and response_obj_oom) */
    uint64_t read_buf_oom, response_obj_oom;
};

#define STAT_ADD(w, field, n)                                                                 \
    __atomic_store_n(&(w)->stats.field, __atomic_load_n(&(w)->stats.field, __ATOMIC_RELAXED) + \
                                            (n), __ATOMIC_RELAXED)
#define STAT_INCR(w, field) STAT_ADD(w, field, 1)
#define STAT_READ(w, field) __atomic_load_n(&(w)->stats.field, __ATOMIC_RELAXED)

struct pending_conn;

#define WORKER_SPARE_BUFS 64

struct worker {
    struct server *srv;
    int id;
    pthread_t tid;
    struct event_base *base;
    int notify_rd, notify_wr;
    struct event *notify_ev;
    struct event *timer_ev;
    pthread_mutex_t lock; /* guards queue and the conns list (read by stats conns) */
    struct pending_conn *queue;
    struct conn *conns;
    bool stopping;
    struct worker_stats stats;
    /* Buffers of CONN_BUF_INITIAL bytes kept for the worker's connections:
     * a connection holds buffers only while it has input or output, so
     * idle ones cost their struct alone (see conn.c). */
    char *spare_bufs[WORKER_SPARE_BUFS];
    int nspare;
    /* the loop pass under way: connection events so far, when the first came */
    unsigned batch_events;
    uint64_t batch_first;
    struct yield_state yield;
};

/* A connection event in the current pass (conn.c calls it first thing). */
static inline void worker_mark_event(struct worker *w) {
    if (w->batch_events++ == 0)
        w->batch_first = yield_now_ns();
}

/* Creates the worker's event base and notify pipe; false on failure. */
bool worker_init(struct worker *w, struct server *srv, int id);
bool worker_start(struct worker *w);

/* Hands an accepted socket to the worker (any thread). */
bool worker_dispatch(struct worker *w, int fd, const char *listen_name, bool is_unix);

/* Asks the worker to finish its replies, close its connections and exit;
 * worker_join waits for that. */
void worker_stop(struct worker *w);
void worker_join(struct worker *w);
void worker_free(struct worker *w);

/* Zeroes the worker's counters (stats reset). */
void worker_stats_reset(struct worker *w);

#endif
