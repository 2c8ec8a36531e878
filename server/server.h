/*
 * server: the process-wide part of the server.  It owns the settings, the
 * store, the listening sockets and the worker threads; the main thread runs
 * the listeners and the signal handlers, accepts connections, enforces the
 * connection limit and hands each socket to a worker, round robin.
 */
#ifndef LARDER_SERVER_H
#define LARDER_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "server/budget.h"
#include "server/settings.h"
#include "server/worker.h"
#include "storage/store.h"

struct event_base;
struct event;
struct tls_server;
struct auth;

struct listener {
    int fd;
    bool is_unix;
    bool tls; /* -Z, unless -l notls:... */
    char name[96]; /* "tcp:127.0.0.1:11211", "unix:/path" */
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
    /* UDP sockets (-U): every worker reads each of them */
    struct listener udp[SETTINGS_MAX_LISTEN];
    int nudp;
    bool socket_bound; /* -s: the socket file is ours to remove at exit */
    struct event *sig_ev[3];
    struct event *hup_ev; /* SIGHUP: reload the -Y file */
    struct event *shutdown_ev;
    int shutdown_rd, shutdown_wr; /* any thread asks the main loop to stop */
    /* process-wide, atomics */
    int verbose;
    uint32_t curr_conns;
    uint64_t total_conns, rejected_conns;
    uint32_t conn_structures;
    bool detail_enabled;
    uint64_t malloc_fails;      /* connection structures that could not be had */
    /* accepting pauses: -c reached under -o no_maxconns_fast, or the
     * process out of descriptors (memcached's listen_disabled_num) */
    bool accepting;
    uint64_t listen_disabled_num, time_in_listen_disabled_us;
    struct timespec disabled_since; /* main thread only */
    uint32_t reserved_fds;      /* descriptors held for other than clients */
    /* MEMCACHED_PORT_FILENAME's file while the sockets are bound, else NULL */
    FILE *port_file;
    /* memory that is not items (budget.h): connection buffers, and values
     * still arriving */
    struct budget conn_mem;
    struct budget uploads;
    /* security, set up by main before the first accept (NULL when off) */
    struct tls_server *tls;  /* -Z */
    struct auth *auth;       /* -Y */
    struct auth *sasl_brake; /* -S: the failure brake for SASL logins */
};

/* Binds the listeners and starts the workers; false (with a message on
 * stderr) when a socket or thread cannot be had. */
bool server_init(struct server *srv, struct settings *settings, struct store *store);

/* Runs the main loop until a shutdown is requested, then stops the workers. */
void server_run(struct server *srv);

void server_free(struct server *srv);

/* Whether connections accepted on the listener named listen_name (the
 * pointer conn_new gets) speak TLS. */
bool server_listener_tls(const struct server *srv, const char *listen_name);

/* Asks the main loop to shut down gracefully; safe from any thread. */
void server_request_shutdown(struct server *srv);

#endif
