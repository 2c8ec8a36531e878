/*
 * conn: one client connection, owned by one worker thread: a transport
 * (TCP, unix socket or UDP) and the buffers between it and the engine.
 *
 * Input is read into a per-connection buffer and handed to engine_run(),
 * which parses it in place; the data block of a storage command is read
 * straight into the item's memory once the bytes already buffered are used.
 * Replies accumulate in the client's output and are written with one
 * write() per batch of requests.  While the socket cannot take them (the
 * client is not reading) no more input is read, as in memcached, and within
 * one batch no request runs once more than ENGINE_OUT_HIGH bytes are unsent,
 * a long multi-get or dump pausing between keys: a client that never reads
 * cannot make the server grow.  The connection knows nothing of commands.
 */
#ifndef LARDER_CONN_H
#define LARDER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/clock.h"
#include "server/engine.h"
#include "server/transport.h"

struct worker;

#define CONN_BUF_INITIAL ENGINE_OUT_INITIAL

struct conn;

/* Takes an accepted, non-blocking socket into worker w. */
struct conn *conn_new(struct worker *w, int fd, const char *listen_name, bool is_unix);
/* A worker's connection for a shared UDP socket: one datagram is one
 * request batch, and its reply is framed into datagrams (see udp.h). */
struct conn *conn_new_udp(struct worker *w, int fd, const char *listen_name);
void conn_close(struct conn *c);
/* Moves the connection's bytes through tp (TLS) instead of the plain
 * socket; ctx is the transport's own, freed by tp->close. */
void conn_set_transport(struct conn *c, const struct transport_ops *tp, void *ctx);

/* --- other workers' view --------------------------------------------------- */
struct conn_view {
    int fd;
    const char *addr, *listen_name, *state;
    rel_time_t last_cmd;
};
/* Calls fn for each connection of w, under w's lock; a connection's fields
 * are read as published at its last event (safe from another worker). */
void conn_each(struct worker *w,
               void (*fn)(void *ctx, const struct engine_client *c, const struct conn_view *v),
               void *ctx);
/* Closes w's connections that have waited for a command longer than
 * timeout seconds; returns how many (the worker's own thread only). */
unsigned conn_kick_idle(struct worker *w, rel_time_t now, unsigned timeout);

/* Gives back the buffers of w's connections that have been idle for a
 * second (the worker's own thread only). */
void conn_trim_idle(struct worker *w, rel_time_t now);

/* Flushes what it can and closes every connection of the worker (shutdown). */
void conn_close_all(struct worker *w);

#endif
