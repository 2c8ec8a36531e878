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

#include "server/server.h"
#include "server/worker.h"
#include "storage/store.h"

#define CONN_BUF_INITIAL 4096
/* Past this much unsent output a connection stops parsing, and a multi-get
 * pauses between keys (see cmd.c), so output holds at most this plus one
 * value: a client that asks for much and reads slowly cannot make the
 * server grow. */
#define CONN_WBUF_HIGH (1u << 20)
/* Output is never let grow past this plus the largest item: room for a
 * paused reply's last step (one value, or one shard's worth of a dump). */
#define CONN_WBUF_MAX ((size_t)16 << 20)

enum conn_state { CONN_PARSE, CONN_NREAD, CONN_SWALLOW, CONN_CLOSING };

/* Which front end parses the connection's input.  CONN_PROTO_AUTO decides
 * on the first byte (0x80 is binary), as memcached's -B auto does; a UDP
 * connection decides again on every datagram. */
enum conn_proto { CONN_PROTO_AUTO, CONN_PROTO_TEXT, CONN_PROTO_BINARY };

enum conn_transport { CONN_TCP, CONN_UNIX, CONN_UDP };

struct conn {
    int fd;
    struct worker *w;
    struct event *ev;
    short ev_flags;
    enum conn_state state;
    enum conn_proto proto;
    enum conn_transport transport;
    bool eof;
    bool close_after_write;

    char *rbuf;
    size_t rsize, rstart, rend; /* unparsed input is rbuf[rstart, rend) */
    size_t line_start;          /* where the command line being run began */
    char *wbuf;
    size_t wsize, wstart, wend; /* unsent output is wbuf[wstart, wend) */

    /* a storage command waiting for its data block */
    struct item *item;
    size_t item_have;     /* value bytes read so far */
    char crlf[2];
    size_t crlf_have;
    int cmd;              /* enum proto_cmd */
    uint64_t cas_in;
    bool noreply;
    uint64_t swallow;     /* bytes still to discard */
    /* a multi-get or key dump paused on a full output buffer: its line is
     * left unread at rbuf[rstart], and this says how far it got (bytes of
     * the key list, or store walk parts) */
    size_t resume;

    /* binary: the request being answered (see binary.c) */
    uint8_t bin_op;
    bool bin_quiet;
    uint32_t bin_opaque;

    /* UDP: the peer and request id of the datagram being answered */
    struct conn_udp *udp;

    /* meta: opaque and flags of a pending ms (see meta.c) */
    char meta_ret[256];
    size_t meta_ret_len;
    uint32_t meta_flags;

    rel_time_t last_cmd;    /* atomic: read by stats conns on other workers */
    const char *shown_state; /* atomic: see conn_state_name */
    char addr[80];
    const char *listen_name;
    struct conn *prev, *next;
};

/* Takes an accepted, non-blocking socket into worker w. */
struct conn *conn_new(struct worker *w, int fd, const char *listen_name, bool is_unix);
/* A worker's connection for a shared UDP socket: one datagram is one
 * request batch, and its reply is framed into datagrams (see udp.h). */
struct conn *conn_new_udp(struct worker *w, int fd, const char *listen_name);
void conn_close(struct conn *c);

/* Output: reserve space, write into it, commit what was used.  NULL when
 * the buffer cannot grow (the caller closes the connection). */
char *conn_reserve(struct conn *c, size_t n);
void conn_commit(struct conn *c, size_t n);
void conn_out(struct conn *c, const char *s, size_t n);
/* Appends s and "\r\n" unless the current command is noreply. */
void conn_reply(struct conn *c, const char *s);

/* Leaves the command line just parsed unread, to be run again once the
 * output has drained (a multi-get or dump that paused, see c->resume). */
void conn_rerun_line(struct conn *c);

/* Flushes what it can and closes every connection of the worker (shutdown). */
void conn_close_all(struct worker *w);

/* memcached's name for the connection's state, as of its last event; safe
 * to call from another worker. */
const char *conn_state_name(const struct conn *c);

#endif
