/*
 * engine: the seam between connections and commands.
 *
 * A connection (conn.c: TCP, unix socket or UDP) owns bytes; the engine owns
 * meaning.  The connection hands engine_run() its unparsed input; a front
 * end (cmd.c for classic text and, through it, meta.c; binary.c for the
 * binary protocol) parses one request, runs it against the store, writes
 * the reply into the client's output, and engine_run() returns what the
 * connection must do next.  The connection never looks inside a request and
 * the front ends never see a socket, so the fuzzers and unit tests run the
 * very same code with a client that has no connection at all.
 *
 * A request that needs more than its command line (the value of a store)
 * returns ENGINE_NEED_VALUE: the connection reads the value into
 * c->value, then calls engine_value_done().  A request that found the
 * output backed up (a long multi-get, a dump) returns ENGINE_PAUSED
 * without consuming its line, and is run again, from where c->s.resume
 * says it stopped, once the client has read.
 *
 * Output is one growable buffer per client (struct engine_out), as Redis's
 * addReply writes into a client: front ends reserve, write and commit.
 */
#ifndef LARDER_ENGINE_H
#define LARDER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/logger.h"
#include <sys/socket.h>
#include <sys/uio.h>

#include "storage/item.h"
#include "storage/store.h"

struct worker;

#define ENGINE_OUT_INITIAL 4096
/* Past this much unsent output a connection stops running requests, and a
 * multi-get or dump pauses between keys, so output holds at most this plus
 * one value: a client that asks for much and reads slowly cannot make the
 * server grow. */
#define ENGINE_OUT_HIGH (1u << 20)
/* Output is never let grow past this plus the largest item: room for a
 * paused reply's last step (one value, or one shard's worth of a dump). */
#define ENGINE_OUT_MAX ((size_t)16 << 20)
/* While the memory budget is tight (budget.h), clients pause at this much. */
#define ENGINE_OUT_TIGHT ((size_t)64 << 10)

/* What a buffer of `size` bytes costs the memory budget: all but its first
 * ENGINE_OUT_INITIAL bytes, which every connection may hold (bounded by -c). */
static inline size_t engine_buf_charge(size_t size) {
    return size > ENGINE_OUT_INITIAL ? size - ENGINE_OUT_INITIAL : 0;
}

enum engine_result {
    ENGINE_MORE,       /* no whole request is buffered yet: read more */
    ENGINE_DONE,       /* one request ran; *used bytes of input were its own */
    ENGINE_NEED_VALUE, /* read c->value's bytes, then call engine_value_done */
    ENGINE_SWALLOW,    /* discard the next c->swallow bytes of input */
    ENGINE_PAUSED,     /* output backed up: run the same input again later */
    ENGINE_CLOSE,      /* hang up now, without sending what is queued */
    ENGINE_CLOSE_AFTER_REPLY, /* send what is queued, then hang up */
    ENGINE_HOLD,       /* a failed login: send and read nothing for c->hold_ms */
};

/* Which front end parses a client's input.  ENGINE_PROTO_AUTO decides on
 * the first byte (0x80 is binary), as memcached's -B auto does; a UDP
 * client decides again on every datagram. */
enum engine_proto { ENGINE_PROTO_AUTO, ENGINE_PROTO_TEXT, ENGINE_PROTO_BINARY };

/* What the front ends keep about the request being run. */
struct engine_session {
    enum engine_proto proto;
    bool noreply;
    /* a multi-get or key dump that paused: how far it got (bytes of the key
     * list, or store walk parts) */
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
    /* -Y / -S: whether the client has logged in (true when neither is on) */
    bool authed;
    /* -S: the SASL exchange, and the mechanism of a SASL_AUTH whose data
     * is being read */
    struct sasl_srv *sasl;
    char sasl_mech[33];
    uint8_t sasl_mechlen;
};

/* Values at least this long are sent from their item (store_pin) rather
 * than copied, as memcached sends from a referenced item: a thousand
 * clients asking for one 1 MB value and reading slowly cost one item, not a
 * thousand copies of it. */
#define ENGINE_REF_MIN ENGINE_OUT_INITIAL
/* At most this many such values wait in one client's output; more are copied. */
#define ENGINE_REFS_MAX 64

/* A value sent from its item: its bytes go out after buf[..at). */
struct engine_ref {
    size_t at;
    const struct item *it;
    const char *data;
    size_t len;
};

/* Unsent output is buf[start, end), with the values of refs[head, nrefs)
 * between its bytes (refs_on: TCP and unix clients; UDP and the fuzzers
 * copy every value).  `failed` is set when it could not grow (past max, or
 * out of memory): the reply stream is broken, the client is hung up on. */
struct engine_out {
    char *buf;
    size_t size, start, end, max;
    bool failed;
    bool refs_on;
    struct engine_ref *refs; /* ENGINE_REFS_MAX of them once taken */
    uint32_t head, nrefs;
    size_t ref_sent;  /* bytes of refs[head] already sent */
    size_t ref_bytes; /* unsent bytes of refs[head, nrefs) */
};

struct engine_client;
struct engine_request;
typedef void (*engine_value_fn)(struct engine_client *c);

/* What a keyed request came to, for its front end to format. */
struct engine_outcome {
    enum store_status st;
    bool alloc_failed; /* store: no item for the value (st says why) */
    bool bad_chunk;    /* store: the bytes after the value were not "\r\n" */
    uint64_t cas;      /* store: the new item's cas (0 when it failed) */
    struct store_marith_result arith;
};

/* A fetch's hit, as its formatter sees it. */
struct engine_hit {
    struct engine_client *c;
    const struct engine_request *r;
};

/* A front end's formatting of keyed requests.  `hit` is called by the store
 * itself, under the shard lock, with a const struct engine_hit * as its ctx
 * and the item found by a fetch: it writes the reply, copying what it
 * needs, and keeps nothing.  `done` gets every other outcome: a fetch that
 * missed, and the end of a store, arithmetic or delete.  `store_key` asks
 * for the stored key in a store's outcome (r->key), which costs a copy. */
struct engine_format {
    store_fetch_fn hit;
    void (*done)(struct engine_client *c, const struct engine_request *r,
                 const struct engine_outcome *o);
    bool store_key;
};

struct engine_client {
    struct worker *w; /* counters, the server, the store */
    int id;           /* what logs and `stats conns` call it: the socket */
    struct engine_session s;
    struct engine_out out;
    /* ENGINE_NEED_VALUE: the item to fill, whether "\r\n" follows it, and
     * the two bytes that came after it (the reader writes them) */
    struct item *value;
    bool value_crlf;
    char value_end[2];
    engine_value_fn value_done;
    uint64_t swallow; /* ENGINE_SWALLOW: bytes to discard */
    /* the front end's input: bytes buffered after the request's line, and,
     * with ENGINE_MORE, how many bytes from the line's start it waits for
     * (a value that waits for upload memory: the whole of it) */
    size_t buffered;
    size_t want;
    size_t upload_charge; /* bytes of the uploads budget a value being read holds */
    /* a store waiting for its value: what its completion needs */
    const struct engine_format *store_fmt;
    bool store_detail;
    enum engine_result next; /* what the request asked for, so far */
    unsigned hold_ms;        /* ENGINE_HOLD: how long */
    /* the client's address (AF_UNSPEC when none: unix, tests), for the
     * login failure brake */
    struct sockaddr_storage peer;
};

/* --- keyed requests ------------------------------------------------------------
 * Every protocol's get, gets, gat, touch, mg (FETCH); set, add, replace,
 * append, prepend, cas, ms (STORE); incr, decr, ma (ARITH); delete, md
 * (DELETE) are one request type, run by one function: the front ends parse
 * into it and format its outcome, and the rules in which they differ
 * (how a missed touch counts, whether a failed store drops the old value,
 * whether `stats detail` sees it) are fields, not copies of the code. */
enum engine_op { ENGINE_FETCH, ENGINE_STORE, ENGINE_ARITH, ENGINE_DELETE };

/* A store: the item, its value's length, and what follows it. */
struct engine_store_req {
    enum store_mode mode;
    uint64_t cas_in;
    uint32_t flags;
    int64_t exptime; /* as the protocol gave it */
    uint64_t vlen;
    bool crlf;       /* "\r\n" follows the value (text) */
    bool drop_old;   /* a store that gets no item unlinks the key's old value */
    uint8_t item_bits;
};

struct engine_request {
    enum engine_op op;
    const char *key;
    size_t nkey;
    const struct engine_format *fmt;
    void *arg; /* the front end's own, for fmt (not kept past a store's value) */
    bool detail; /* counted by `stats detail` (classic and binary, not meta) */
    union {
        struct store_fetch_opts fetch; /* ENGINE_FETCH */
        struct engine_store_req store; /* ENGINE_STORE */
        struct store_marith_opts arith; /* ENGINE_ARITH */
        struct store_mdelete_opts del;  /* ENGINE_DELETE */
    };
};

/* Runs a keyed request; a store asks for its value (engine_read_value) and
 * formats its outcome once the value is in. */
void engine_execute(struct engine_client *c, const struct engine_request *r);

/* Sets up a client of worker w whose output may grow to out_max bytes. */
void engine_client_init(struct engine_client *c, struct worker *w, int id, enum engine_proto proto,
                        size_t out_max);
/* Frees what the client holds (its output buffer, a value being read). */
void engine_client_free(struct engine_client *c);
/* Gives up a value being read (the item, and the upload memory it holds):
 * a UDP datagram that ended inside it. */
void engine_drop_value(struct engine_client *c);

/* The front ends, for engine_run.  cmd_run (cmd.c) runs one text command
 * line if a whole one is in buf[0, len); memcached's rule for a line that
 * never ends (too long and not a retrieval) closes the connection.  bin_run
 * (binary.c) runs one binary request once its header, extras and key are
 * in.  engine_pick decides -B auto on a first byte. */
enum engine_result cmd_run(struct engine_client *c, const char *buf, size_t len, size_t *used);
enum engine_result bin_run(struct engine_client *c, const char *buf, size_t len, size_t *used);
/* login_run (login.c): the text front end before a -Y login */
enum engine_result login_run(struct engine_client *c, const char *buf, size_t len, size_t *used);
enum engine_proto engine_pick(const char *buf);

/* Runs at most one request from buf[0, len) (len > 0); *used gets the bytes
 * it took.  Inline: it is on every request's path. */
static inline enum engine_result engine_run(struct engine_client *c, const char *buf, size_t len,
                                            size_t *used) {
    *used = 0;
    if (__builtin_expect(c->s.proto == ENGINE_PROTO_AUTO, 0))
        c->s.proto = engine_pick(buf);
    c->next = ENGINE_DONE;
    c->want = 0;
    enum engine_result r;
    if (c->s.proto == ENGINE_PROTO_BINARY)
        r = bin_run(c, buf, len, used);
    else if (__builtin_expect(c->s.authed, 1))
        r = cmd_run(c, buf, len, used);
    else
        r = login_run(c, buf, len, used); /* -Y: nothing else until then */
    if (__builtin_expect(c->out.failed, 0))
        return ENGINE_CLOSE;
    if (r == ENGINE_PAUSED || r == ENGINE_MORE)
        *used = 0;
    return r;
}
/* The value of ENGINE_NEED_VALUE and its terminator are in: finish the store. */
enum engine_result engine_value_done(struct engine_client *c);

static inline struct worker *engine_worker(const struct engine_client *c) { return c->w; }
static inline struct engine_session *engine_session(struct engine_client *c) { return &c->s; }
static inline int engine_client_id(const struct engine_client *c) { return c->id; }

/* --- output (front ends) -----------------------------------------------------
 * Reserve space, write into it, commit what was used.  NULL when the buffer
 * cannot grow: the client is then closing and the caller stops. */
char *engine_reserve_slow(struct engine_client *c, size_t n);
static inline char *engine_reserve(struct engine_client *c, size_t n) {
    struct engine_out *o = &c->out;
    if (__builtin_expect(o->size - o->end >= n && !o->failed, 1))
        return o->buf + o->end;
    return engine_reserve_slow(c, n);
}
static inline void engine_commit(struct engine_client *c, size_t n) { c->out.end += n; }
void engine_out(struct engine_client *c, const char *s, size_t n);
/* Appends s and "\r\n" unless the session's command is noreply.  Inline,
 * so that the length of a literal reply is known at compile time. */
static inline void engine_reply(struct engine_client *c, const char *s) {
    logger_reply(c, s, c->s.noreply);
    if (c->s.noreply)
        return;
    size_t n = __builtin_strlen(s);
    char *p = engine_reserve(c, n + 2);
    if (p == NULL)
        return;
    __builtin_memcpy(p, s, n);
    p[n] = '\r';
    p[n + 1] = '\n';
    c->out.end += n + 2;
}
/* Unsent output: its length, a pointer at offset off, and cutting it back to
 * len bytes (a reply that turned into an error). */
static inline size_t engine_out_len(const struct engine_client *c) {
    return c->out.end - c->out.start;
}
static inline char *engine_out_at(struct engine_client *c, size_t off) {
    return c->out.buf + c->out.start + off;
}
/* A ref always follows its reply's header in buf, so cutting at a reply's
 * start drops the refs of the replies after it too. */
void engine_out_cut_refs(struct engine_client *c, size_t at);
static inline void engine_out_cut(struct engine_client *c, size_t len) {
    c->out.end = c->out.start + len;
    if (c->out.nrefs > c->out.head)
        engine_out_cut_refs(c, c->out.end);
}
/* Everything unsent, values sent from items included: what pausing and
 * back-pressure count. */
static inline size_t engine_out_queued(const struct engine_client *c) {
    return c->out.end - c->out.start + c->out.ref_bytes;
}
static inline bool engine_out_pending(const struct engine_client *c) {
    return c->out.end > c->out.start || c->out.head < c->out.nrefs;
}
/* Appends it's value: from the item when it is long and the client allows
 * it, else copied.  Under the fetch's shard lock (in a formatter's hit). */
void engine_value_slow(struct engine_client *c, const struct item *it);
static inline bool engine_value_by_ref(const struct engine_client *c, const struct item *it) {
    return it->nbytes >= ENGINE_REF_MIN && c->out.refs_on;
}

/* --- sending (the connection) --------------------------------------------- */
/* The unsent output as up to max iovecs, in order; returns how many. */
int engine_out_iov(const struct engine_client *c, struct iovec *iov, int max);
/* n bytes of what engine_out_iov gave were sent: refs done are unpinned. */
void engine_out_sent(struct engine_client *c, size_t n);
/* Drops the refs (nothing more is sent) and the array that held them. */
void engine_out_drop_refs(struct engine_client *c);

/* --- what the request asks of the connection (front ends) ------------------ */
/* Reads a storage command's value into `it`, then calls `done`; `crlf` says
 * whether "\r\n" follows the value (text) or not (binary). */
void engine_read_value(struct engine_client *c, struct item *it, bool crlf, engine_value_fn done);
static inline bool engine_reading_value(const struct engine_client *c) {
    return c->next == ENGINE_NEED_VALUE;
}
/* In `done`: takes the item back; *crlf_ok is false when the bytes after the
 * value were not "\r\n". */
struct item *engine_take_value(struct engine_client *c, bool *crlf_ok);
/* Discards the next n bytes of input (the value of a refused store). */
void engine_swallow(struct engine_client *c, uint64_t n);
/* Hangs up, after sending what is queued when send_pending. */
void engine_hang_up(struct engine_client *c, bool send_pending);
static inline bool engine_is_closing(const struct engine_client *c) {
    return c->out.failed || c->next == ENGINE_CLOSE || c->next == ENGINE_CLOSE_AFTER_REPLY;
}
/* A failed login: its reply, already queued, goes out after ms (the
 * connection parks on a timer; the worker serves others meanwhile). */
static inline void engine_hold(struct engine_client *c, unsigned ms) {
    if (ms > 0) {
        c->hold_ms = ms;
        c->next = ENGINE_HOLD;
    }
}
/* Leaves the request unconsumed, to run again once the output has drained
 * (a multi-get or dump that paused, see session resume). */
static inline void engine_pause(struct engine_client *c) { c->next = ENGINE_PAUSED; }
/* True when a long reply should pause here: its output is past
 * ENGINE_OUT_HIGH, or past ENGINE_OUT_TIGHT while the budget is tight. */
bool engine_past_tight(const struct engine_client *c);
static inline bool engine_should_pause(const struct engine_client *c) {
    return engine_out_queued(c) > ENGINE_OUT_TIGHT && engine_past_tight(c);
}

#endif
