/*
 * conn: one client connection, owned by one worker thread.
 *
 * Input is read into a per-connection buffer and parsed in place; the data
 * block of a storage command is read straight into the item's memory once
 * the bytes already buffered are used.  Replies are appended to an output
 * buffer and written with one write() per batch of requests.  While the
 * socket cannot take them (the client is not reading) no more input is
 * read, as in memcached, and within one batch parsing stops once more than
 * CONN_WBUF_HIGH bytes are unsent, a long multi-get or dump pausing between
 * keys: a client that never reads cannot make the server grow.
 */
#ifndef LARDER_CONN_H
#define LARDER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/clock.h"
#include "storage/item.h"

struct worker;

#define CONN_BUF_INITIAL 4096
/* Past this much unsent output a connection stops parsing, and a multi-get
 * pauses between keys (see cmd.c), so output holds at most this plus one
 * value: a client that asks for much and reads slowly cannot make the
 * server grow. */
#define CONN_WBUF_HIGH (1u << 20)
/* Output is never let grow past this plus the largest item: room for a
 * paused reply's last step (one value, or one shard's worth of a dump). */
#define CONN_WBUF_MAX ((size_t)16 << 20)

/* Which front end parses the connection's input.  CONN_PROTO_AUTO decides
 * on the first byte (0x80 is binary), as memcached's -B auto does; a UDP
 * connection decides again on every datagram. */
enum conn_proto { CONN_PROTO_AUTO, CONN_PROTO_TEXT, CONN_PROTO_BINARY };

/* What the front ends (cmd.c, meta.c, binary.c, stats.c) keep about the
 * request being run: the connection stores it and knows nothing of it. */
struct conn_session {
    enum conn_proto proto;
    bool noreply;
    /* a multi-get or key dump paused on a full output buffer: its line is
     * left unread, and this says how far it got (bytes of the key list, or
     * store walk parts) */
    size_t resume;
    /* a storage command waiting for its value */
    int cmd; /* enum store_mode */
    uint64_t cas_in;
    /* binary: the request being answered */
    uint8_t bin_op;
    bool bin_quiet;
    uint32_t bin_opaque;
    /* meta: opaque and flags of a pending ms (see meta.c) */
    char meta_ret[256];
    size_t meta_ret_len;
    uint32_t meta_flags;
};

/* struct conn is private to conn.c; the front ends see only its head,
 * which opens it, so that these two accessors cost no call on the
 * request path. */
struct conn;
struct conn_head {
    struct worker *w;
    struct conn_session s;
};

/* Takes an accepted, non-blocking socket into worker w. */
struct conn *conn_new(struct worker *w, int fd, const char *listen_name, bool is_unix);
/* A worker's connection for a shared UDP socket: one datagram is one
 * request batch, and its reply is framed into datagrams (see udp.h). */
struct conn *conn_new_udp(struct worker *w, int fd, const char *listen_name);
void conn_close(struct conn *c);

static inline struct worker *conn_worker(const struct conn *c) {
    return ((const struct conn_head *)(const void *)c)->w;
}
static inline struct conn_session *conn_session(struct conn *c) {
    return &((struct conn_head *)(void *)c)->s;
}
/* The socket number: what logs and `stats conns` call the connection. */
int conn_id(const struct conn *c);

/* --- output ------------------------------------------------------------------
 * Reserve space, write into it, commit what was used.  NULL when the buffer
 * cannot grow: the connection is then closing and the caller stops. */
char *conn_reserve(struct conn *c, size_t n);
void conn_commit(struct conn *c, size_t n);
void conn_out(struct conn *c, const char *s, size_t n);
/* Appends s and "\r\n" unless the session's command is noreply. */
void conn_reply(struct conn *c, const char *s);
/* Unsent output: its length, a pointer to it at offset off, and cutting it
 * back to len bytes (a reply that turned into an error). */
size_t conn_out_len(const struct conn *c);
char *conn_out_at(struct conn *c, size_t off);
void conn_out_cut(struct conn *c, size_t len);

/* --- what the connection does next --------------------------------------- */
/* Reads the value of a storage command into it, then calls `done`, the
 * front end's completion; `crlf` says whether "\r\n" follows the value
 * (text) or not (binary). */
typedef void (*conn_value_fn)(struct conn *c);
void conn_read_value(struct conn *c, struct item *it, bool crlf, conn_value_fn done);
bool conn_reading_value(const struct conn *c);
/* In the completion: takes the item back; *crlf_ok is false when the bytes
 * after the value were not "\r\n". */
struct item *conn_take_value(struct conn *c, bool *crlf_ok);
/* Discards the next n bytes of input (the value of a refused store). */
void conn_swallow(struct conn *c, uint64_t n);
/* Hangs up, after sending what is queued when send_pending. */
void conn_hang_up(struct conn *c, bool send_pending);
bool conn_is_closing(const struct conn *c);
/* Leaves the command line just parsed unread, to be run again once the
 * output has drained (a multi-get or dump that paused, see session resume). */
void conn_rerun_line(struct conn *c);

/* --- other workers' view --------------------------------------------------- */
struct conn_view {
    int fd;
    const char *addr, *listen_name, *state;
    rel_time_t last_cmd;
};
/* Calls fn for each connection of w, under w's lock; a connection's fields
 * are read as published at its last event (safe from another worker). */
void conn_each(struct worker *w, void (*fn)(void *ctx, const struct conn *c,
                                              const struct conn_view *v), void *ctx);
/* Closes w's connections that have waited for a command longer than
 * timeout seconds; returns how many (the worker's own thread only). */
unsigned conn_kick_idle(struct worker *w, rel_time_t now, unsigned timeout);

/* Gives back the buffers of w's connections that have been idle for a
 * second (the worker's own thread only). */
void conn_trim_idle(struct worker *w, rel_time_t now);

/* Flushes what it can and closes every connection of the worker (shutdown). */
void conn_close_all(struct worker *w);

#endif
