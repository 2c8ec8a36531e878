/*
 * server: what the event loops share.  One struct server per process holds
 * the settings, the store, the workers and the process-wide counters; each
 * worker thread owns an event base, its connections and its own counters,
 * which only it writes and `stats` sums on demand.
 */
#ifndef LARDER_SERVER_H
#define LARDER_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "server/settings.h"
#include "storage/store.h"

struct event_base;
struct event;
struct conn;

/* Per-worker counters: written by the owning thread only, with relaxed
 * atomics so that `stats` from another thread reads them without a lock. */
struct worker_stats {
    uint64_t cmd_get, cmd_set, cmd_flush, cmd_touch, cmd_meta;
    uint64_t get_cmds; /* retrieval commands, as opposed to keys (cmd_get) */
    uint64_t bytes_read, bytes_written;
    uint64_t conn_yields, idle_kicks;
};

#define STAT_ADD(w, field, n) \
    __atomic_store_n(&(w)->stats.field, __atomic_load_n(&(w)->stats.field, __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define STAT_INCR(w, field) STAT_ADD(w, field, 1)
#define STAT_READ(w, field) __atomic_load_n(&(w)->stats.field, __ATOMIC_RELAXED)

struct worker {
    struct server *srv;
    int id;
    pthread_t tid;
    struct event_base *base;
    int notify_rd, notify_wr;
    struct event *notify_ev;
    struct event *timer_ev;
    pthread_mutex_t lock;   /* guards the queue and the conns list */
    struct pending_conn *queue;
    struct conn *conns;
    bool stopping;
    struct worker_stats stats;
};

struct listener {
    int fd;
    bool is_unix;
    char name[80];
    struct event *ev;
};

struct server {
    struct settings *settings;
    struct store *store;
    struct event_base *base; /* main thread: listeners and signals */
    struct worker *workers;
    int nworkers;
    int next_worker;
    struct listener listeners[SETTINGS_MAX_LISTEN + 1];
    int nlisteners;
    time_t started;
    int shutdown_rd, shutdown_wr;  /* any thread asks the main loop to stop */
    /* process-wide, atomics */
    int verbose;
    uint32_t curr_conns;
    uint64_t total_conns, rejected_conns;
    uint32_t conn_structures;
    bool detail_enabled;
};

/* Asks the main loop to shut down gracefully; safe from any thread. */
void server_request_shutdown(struct server *srv);

#endif
