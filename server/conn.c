/*
 * conn: connection buffers and the read/parse/write cycle; see conn.h.
 */
#include "server/conn.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/proto.h"
#include "proto/udp.h"
#include "server/logger.h"
#include "server/server.h"
#include "server/transport.h"
#include "server/worker.h"

enum conn_state { CONN_PARSE, CONN_NREAD, CONN_SWALLOW, CONN_CLOSING };

enum conn_transport { CONN_TCP, CONN_UNIX, CONN_UDP };

struct conn {
    struct engine_client cl; /* first: conn_each hands it out as the conn */
    int fd;
    const struct transport_ops *tp; /* how bytes move (not for UDP) */
    void *tp_ctx;
    bool read_wants_write; /* the transport's last read waits for writability */
    struct event *ev;
    short ev_flags;
    enum conn_state state;
    enum conn_transport transport;
    bool eof;
    bool close_after_write;
    /* ENGINE_HOLD: a failed login's reply waits out its delay */
    bool held;
    struct event *hold_ev;

    char *rbuf;
    size_t rsize, rstart, rend; /* unparsed input is rbuf[rstart, rend) */

    /* CONN_NREAD: progress through cl.value and its terminator */
    size_t item_have;
    size_t crlf_have;

    /* UDP: the peer and request id of the datagram being answered */
    struct conn_udp *udp;

    rel_time_t last_cmd;     /* atomic: read by stats conns on other workers */
    const char *shown_state; /* atomic: see conn_view */
    char addr[80];
    const char *listen_name;
    struct conn *prev, *next;
};

static void conn_on_event(evutil_socket_t fd, short what, void *arg);
static void conn_hold(struct conn *c, unsigned ms);

/* The transport's operations, called directly for plain sockets. */
static inline ssize_t conn_tp_read(struct conn *c, void *buf, size_t n) {
    if (c->tp == &transport_plain)
        return transport_plain_read(c->fd, buf, n);
    return c->tp->read(c->tp_ctx, c->fd, buf, n);
}

static inline ssize_t conn_tp_write(struct conn *c, const void *buf, size_t n) {
    if (c->tp == &transport_plain)
        return transport_plain_write(c->fd, buf, n);
    return c->tp->write(c->tp_ctx, c->fd, buf, n);
}

/* Output with values sent from items: plain sockets take it all in one
 * sendmsg; other transports (TLS) one piece at a time. */
static ssize_t conn_tp_writev(struct conn *c) {
    struct iovec iov[2 * 8 + 1];
    int n = engine_out_iov(&c->cl, iov, (int)(sizeof(iov) / sizeof(iov[0])));
    if (c->tp == &transport_plain)
        return transport_plain_writev(c->fd, iov, n);
    return c->tp->write(c->tp_ctx, c->fd, iov[0].iov_base, iov[0].iov_len);
}

static inline bool conn_tp_pending(struct conn *c) {
    return c->tp != &transport_plain && c->tp->pending(c->tp_ctx);
}

struct conn_udp {
    struct sockaddr_storage peer;
    socklen_t peer_len;
    uint16_t request_id;
};

static void conn_set_events(struct conn *c, short flags) {
    if (c->ev_flags == flags)
        return;
    event_del(c->ev);
    if (flags == 0) { /* held: no I/O until the hold's timer */
        c->ev_flags = 0;
        return;
    }
    event_assign(c->ev, c->cl.w->base, c->fd, flags | EV_PERSIST, conn_on_event, c);
    event_add(c->ev, NULL);
    c->ev_flags = flags;
}

/* --- buffers ---------------------------------------------------------------- */

/* A connection takes its buffers when it has something to read or write
 * and gives them back once it has been idle for a second (conn_trim_idle,
 * from the worker's timer: not per request, which would cost every request
 * a give and a take), so that thousands of idle connections hold no buffer
 * memory; each worker keeps a few spare ones for the next to wake. */
static char *conn_buf_take(struct worker *w) {
    return w->nspare > 0 ? w->spare_bufs[--w->nspare] : malloc(CONN_BUF_INITIAL);
}

static void conn_buf_give(struct worker *w, char *buf, size_t size) {
    if (buf == NULL)
        return;
    budget_give(&w->srv->conn_mem, engine_buf_charge(size));
    if (size == CONN_BUF_INITIAL && w->nspare < WORKER_SPARE_BUFS)
        w->spare_bufs[w->nspare++] = buf;
    else
        free(buf);
}

/* Gives both buffers back if nothing is in them (UDP keeps its own). */
static void conn_buf_idle(struct conn *c) {
    if (c->transport == CONN_UDP || c->rstart != c->rend || engine_out_pending(&c->cl))
        return;
    engine_out_drop_refs(&c->cl); /* none is unsent: this frees their array */
    conn_buf_give(c->cl.w, c->rbuf, c->rsize);
    conn_buf_give(c->cl.w, c->cl.out.buf, c->cl.out.size);
    c->rbuf = c->cl.out.buf = NULL;
    c->rsize = c->cl.out.size = 0;
    c->rstart = c->rend = c->cl.out.start = c->cl.out.end = 0;
}

/* Gets a buffer into *buf if it has none; false when memory is short. */
static bool conn_buf_ensure(struct conn *c, char **buf, size_t *size) {
    if (*buf != NULL)
        return true;
    *buf = conn_buf_take(c->cl.w);
    if (*buf == NULL)
        return false;
    *size = CONN_BUF_INITIAL;
    return true;
}

static struct conn *conn_make(struct worker *w, int fd, const char *listen_name, bool is_unix) {
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->fd = fd;
    c->tp = &transport_plain;
    enum engine_proto proto;
    switch (w->srv->settings->protocol) {
    case SETTINGS_PROTO_ASCII: proto = ENGINE_PROTO_TEXT; break;
    case SETTINGS_PROTO_BINARY: proto = ENGINE_PROTO_BINARY; break;
    default: proto = ENGINE_PROTO_AUTO; break;
    }
    engine_client_init(&c->cl, w, fd, proto, ENGINE_OUT_MAX + w->srv->settings->item_size_max);
    c->ev = event_new(w->base, fd, EV_READ | EV_PERSIST, conn_on_event, c);
    if (c->ev == NULL || event_add(c->ev, NULL) != 0) {
        if (c->ev)
            event_free(c->ev);
        free(c);
        return NULL;
    }
    c->ev_flags = EV_READ;
    c->transport = is_unix ? CONN_UNIX : CONN_TCP;
    c->last_cmd = clock_now();
    c->shown_state = "conn_waiting";
    c->listen_name = listen_name;
    if (is_unix) {
        snprintf(c->addr, sizeof(c->addr), "unix:%s", listen_name);
    } else {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char host[64] = "?", port[8] = "?";
        memset(&ss, 0, sizeof(ss));
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
            c->cl.peer = ss; /* for the login failure brake */
        if (ss.ss_family != AF_UNSPEC)
            getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                        NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(c->addr, sizeof(c->addr), ss.ss_family == AF_INET6 ? "tcp6:[%s]:%s" : "tcp:%s:%s",
                 host, port);
    }
    pthread_mutex_lock(&w->lock);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    pthread_mutex_unlock(&w->lock);
    __atomic_add_fetch(&w->srv->conn_structures, 1, __ATOMIC_RELAXED);
    return c;
}

static void conn_close_for(struct conn *c, enum logger_close_reason why) {
    struct worker *w = c->cl.w;
    if (c->transport != CONN_UDP)
        logger_conn_close(&c->cl, why);
    pthread_mutex_lock(&w->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&w->lock);
    event_free(c->ev);
    if (c->hold_ev)
        event_free(c->hold_ev);
    /* a UDP socket is shared by the workers; the server closes it */
    if (c->transport != CONN_UDP) {
        c->tp->close(c->tp_ctx, c->fd);
        __atomic_sub_fetch(&w->srv->curr_conns, 1, __ATOMIC_RELAXED);
    }
    free(c->udp);
    if (c->transport == CONN_UDP) {
        free(c->rbuf); /* a datagram's buffer, fixed, not in the budget */
        c->rbuf = NULL;
    }
    conn_buf_give(w, c->rbuf, c->rsize);
    conn_buf_give(w, c->cl.out.buf, c->cl.out.size);
    c->cl.out.buf = NULL;
    engine_client_free(&c->cl);
    free(c);
    __atomic_sub_fetch(&w->srv->conn_structures, 1, __ATOMIC_RELAXED);
}

void conn_close(struct conn *c) {
    enum logger_close_reason why = LOGGER_CLOSE_ERROR;
    if (c->cl.w->stopping)
        why = LOGGER_CLOSE_SHUTDOWN;
    else if (c->eof || c->close_after_write)
        why = LOGGER_CLOSE_NORMAL; /* the client hung up, or said quit */
    conn_close_for(c, why);
}

void conn_set_transport(struct conn *c, const struct transport_ops *tp, void *ctx) {
    c->tp = tp;
    c->tp_ctx = ctx;
}

/* The state as `stats conns` shows it, published once per event so that
 * another worker can read it without racing the owner's writes. */
static void conn_publish(struct conn *c) {
    const char *name;
    switch (c->state) {
    case CONN_PARSE: name = c->rend > c->rstart ? "conn_parse_cmd" : "conn_waiting"; break;
    case CONN_NREAD: name = "conn_nread"; break;
    case CONN_SWALLOW: name = "conn_swallow"; break;
    default: name = "conn_closing"; break;
    }
    __atomic_store_n(&c->shown_state, name, __ATOMIC_RELAXED);
}

int conn_id(const struct conn *c) { return c->fd; }

void conn_each(struct worker *w,
               void (*fn)(void *ctx, const struct engine_client *c, const struct conn_view *v),
               void *ctx) {
    pthread_mutex_lock(&w->lock);
    for (struct conn *o = w->conns; o != NULL; o = o->next) {
        /* fields fixed at accept, plus the published state and time */
        struct conn_view v = {
            .fd = o->fd,
            .addr = o->addr,
            .listen_name = o->listen_name,
            .state = __atomic_load_n(&o->shown_state, __ATOMIC_RELAXED),
            .last_cmd = __atomic_load_n(&o->last_cmd, __ATOMIC_RELAXED),
        };
        fn(ctx, &o->cl, &v);
    }
    pthread_mutex_unlock(&w->lock);
}

/* A connection is idle past the timeout when its last whole request came
 * longer ago, unless its client has replies to read: waiting for a
 * command, or in the middle of a line or a value that trickles in (bytes
 * that do not finish a request do not count as activity). */
unsigned conn_kick_idle(struct worker *w, rel_time_t now, unsigned timeout) {
    unsigned kicked = 0;
    struct conn *c = w->conns;
    while (c != NULL) {
        struct conn *next = c->next;
        if (c->transport != CONN_UDP && c->state != CONN_CLOSING &&
            !engine_out_pending(&c->cl) && now - c->last_cmd > timeout) {
            conn_close_for(c, LOGGER_CLOSE_IDLE);
            kicked++;
        }
        c = next;
    }
    return kicked;
}

void conn_trim_idle(struct worker *w, rel_time_t now) {
    for (struct conn *c = w->conns; c != NULL; c = c->next)
        if ((c->rbuf != NULL || c->cl.out.buf != NULL) && c->state == CONN_PARSE && now - c->last_cmd >= 1)
            conn_buf_idle(c);
}

/* Writes what it can.  Returns false when the socket is dead. */
static bool conn_flush(struct conn *c) {
    struct engine_out *o = &c->cl.out;
    while (engine_out_pending(&c->cl)) {
        bool refs = o->head < o->nrefs;
        ssize_t n = __builtin_expect(refs, 0) ? conn_tp_writev(c)
                                              : conn_tp_write(c, o->buf + o->start, o->end - o->start);
        if (n > 0) {
            if (__builtin_expect(refs, 0))
                engine_out_sent(&c->cl, (size_t)n);
            else
                o->start += (size_t)n;
            STAT_ADD(c->cl.w, bytes_written, (uint64_t)n);
            continue;
        }
        return n == TRANSPORT_AGAIN || n == TRANSPORT_AGAIN_WRITE;
    }
    c->cl.out.start = c->cl.out.end = 0;
    /* Give back memory a big response took, once the connection goes idle
     * (not between the pieces of a streamed multi-get). */
    if (c->cl.out.size > 64 * CONN_BUF_INITIAL && c->rstart == c->rend) {
        char *p = realloc(c->cl.out.buf, CONN_BUF_INITIAL);
        if (p) {
            budget_give(&c->cl.w->srv->conn_mem, engine_buf_charge(c->cl.out.size));
            c->cl.out.buf = p;
            c->cl.out.size = CONN_BUF_INITIAL;
        }
    }
    return true;
}

/* --- input ----------------------------------------------------------------- */

/* Resizes the read buffer, within the memory budget. */
static bool conn_rbuf_resize(struct conn *c, size_t size) {
    struct budget *b = &c->cl.w->srv->conn_mem;
    size_t was = engine_buf_charge(c->rsize), now = engine_buf_charge(size);
    if (now > was && !budget_take(b, now - was)) {
        STAT_INCR(c->cl.w, read_buf_oom);
        return false;
    }
    char *p = realloc(c->rbuf, size);
    if (p == NULL) {
        if (now > was)
            budget_give(b, now - was);
        return false;
    }
    if (now < was)
        budget_give(b, was - now);
    c->rbuf = p;
    c->rsize = size;
    return true;
}

/* Makes room for at least one more read; false if the line is too long, or
 * would pass the memory budget: this client is then hung up on, not others. */
static bool conn_rbuf_room(struct conn *c) {
    if (!conn_buf_ensure(c, &c->rbuf, &c->rsize))
        return false;
    if (c->rstart == c->rend) {
        c->rstart = c->rend = 0;
        if (c->rsize > 64 * CONN_BUF_INITIAL)
            conn_rbuf_resize(c, CONN_BUF_INITIAL);
    }
    if (c->rstart > 0 && c->rend == c->rsize) {
        memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
        c->rend -= c->rstart;
        c->rstart = 0;
    }
    if (c->rend < c->rsize)
        return true;
    /* a line may be this long (a retrieval's key list); a store's value
     * that waits for upload memory as long as the engine says */
    size_t max = PROTO_GET_LINE_MAX + 2;
    if (c->cl.want > max)
        max = c->cl.want;
    if (c->rsize >= max)
        return false;
    /* doubling for lines; a waiting value gets what it needs, in 4 KB steps */
    size_t size = c->rsize * 2;
    if (size < c->cl.want)
        size = (c->cl.want + CONN_BUF_INITIAL - 1) / CONN_BUF_INITIAL * CONN_BUF_INITIAL;
    return conn_rbuf_resize(c, size);
}

/* Bytes read (> 0), 0 at end of stream, -1 when nothing is ready, -2 on error. */
static ssize_t conn_read_into(struct conn *c, char *dst, size_t n) {
    ssize_t r = conn_tp_read(c, dst, n);
    c->read_wants_write = r == TRANSPORT_AGAIN_WRITE;
    if (r > 0) {
        STAT_ADD(c->cl.w, bytes_read, (uint64_t)r);
        return r;
    }
    if (r == TRANSPORT_EOF)
        return 0;
    return r == TRANSPORT_ERROR ? -2 : -1;
}

/* Reads more input: into the item when a data block is pending and nothing
 * is buffered (no copy for large values), else into the read buffer.
 * *drained is set when the read came back short: the socket is empty, and
 * another read would only cost a syscall to learn EAGAIN. */
static ssize_t conn_fill(struct conn *c, bool *drained) {
    char *dst;
    size_t want;
    struct item *it = c->cl.value;
    if (c->state == CONN_NREAD && c->rstart == c->rend && c->item_have < it->nbytes) {
        dst = item_value(it) + c->item_have;
        want = it->nbytes - c->item_have;
    } else {
        if (!conn_rbuf_room(c))
            return -2;
        dst = c->rbuf + c->rend;
        want = c->rsize - c->rend;
    }
    ssize_t r = conn_read_into(c, dst, want);
    if (r <= 0)
        return r;
    *drained = (size_t)r < want && !conn_tp_pending(c);
    if (dst == c->rbuf + c->rend)
        c->rend += (size_t)r;
    else
        c->item_have += (size_t)r;
    return r;
}

/* Acts on what the engine said of the request it ran. */
static inline __attribute__((always_inline)) bool conn_after(struct conn *c,
                                                            enum engine_result r, size_t used) {
    c->rstart += used;
    switch (r) {
    case ENGINE_MORE: return false;
    case ENGINE_DONE: break;
    case ENGINE_NEED_VALUE:
        c->state = CONN_NREAD;
        c->item_have = 0;
        c->crlf_have = c->cl.value_crlf ? 0 : 2;
        break;
    case ENGINE_SWALLOW: c->state = CONN_SWALLOW; break;
    case ENGINE_PAUSED: break; /* the drive loop waits for the output to drain */
    case ENGINE_CLOSE: c->state = CONN_CLOSING; break;
    case ENGINE_CLOSE_AFTER_REPLY:
        c->close_after_write = true;
        c->state = CONN_CLOSING;
        break;
    case ENGINE_HOLD: conn_hold(c, c->cl.hold_ms); break;
    }
    return true;
}

/* Runs one request if a whole one is buffered. */
static inline __attribute__((always_inline)) bool conn_parse_one(struct conn *c) {
    size_t used;
    if (c->rend == c->rstart)
        return false;
    /* a store waiting for its whole value (engine_upload_begin) runs again
     * only once it is all in: not once per read */
    if (__builtin_expect(c->cl.want != 0, 0) && c->rend - c->rstart < c->cl.want)
        return false;
    if (c->cl.out.buf == NULL)
        conn_buf_ensure(c, &c->cl.out.buf, &c->cl.out.size); /* else the engine mallocs */
    enum engine_result r = engine_run(&c->cl, c->rbuf + c->rstart, c->rend - c->rstart, &used);
    if (r != ENGINE_MORE)
        __atomic_store_n(&c->last_cmd, clock_now(), __ATOMIC_RELAXED);
    return conn_after(c, r, used);
}

/* Fills the value of a store, then its terminator, then lets the engine
 * finish the command. */
static inline __attribute__((always_inline)) bool conn_nread(struct conn *c) {
    struct item *it = c->cl.value;
    size_t avail = c->rend - c->rstart;
    size_t need = it->nbytes - c->item_have;
    if (need > 0) {
        size_t n = avail < need ? avail : need;
        if (n == 0)
            return false;
        memcpy(item_value(it) + c->item_have, c->rbuf + c->rstart, n);
        c->item_have += n;
        c->rstart += n;
        return true;
    }
    if (c->crlf_have == 0 && avail >= 2) { /* the usual case: both bytes are in */
        memcpy(c->cl.value_end, c->rbuf + c->rstart, 2);
        c->crlf_have = 2;
        c->rstart += 2;
    }
    while (c->crlf_have < 2 && c->rstart < c->rend)
        c->cl.value_end[c->crlf_have++] = c->rbuf[c->rstart++];
    if (c->crlf_have < 2)
        return false;
    c->state = CONN_PARSE;
    conn_after(c, engine_value_done(&c->cl), 0);
    return true;
}

static bool conn_step_swallow(struct conn *c) {
    size_t avail = c->rend - c->rstart;
    size_t n = avail < c->cl.swallow ? avail : (size_t)c->cl.swallow;
    c->rstart += n;
    c->cl.swallow -= n;
    if (c->cl.swallow == 0)
        c->state = CONN_PARSE;
    return n > 0 || c->cl.swallow == 0;
}

/* Inlined into both drivers: it sits on every request's path. */
static inline __attribute__((always_inline)) bool conn_step(struct conn *c) {
    switch (c->state) {
    case CONN_PARSE: return conn_parse_one(c);
    case CONN_NREAD: return conn_nread(c);
    case CONN_SWALLOW: return conn_step_swallow(c);
    default: return false;
    }
}

/* Past ENGINE_OUT_HIGH unsent, or past its first buffer (which costs the
 * budget nothing) while the memory budget is tight, a connection runs no
 * more requests until it drains. */
static inline bool conn_backed_up(const struct conn *c) {
    size_t n = engine_out_queued(&c->cl);
    return n > ENGINE_OUT_INITIAL &&
           (n > ENGINE_OUT_HIGH || budget_tight(&c->cl.w->srv->conn_mem));
}

/* Runs the connection as far as input and output allow. */
static void conn_drive(struct conn *c) {
    struct worker *w = c->cl.w;
    int reqs = 0;
    const int max_reqs = w->srv->settings->reqs_per_event; /* not reloaded per request */
    bool yield = false, drained = false;

    if (c->held)
        return; /* an event that raced the hold: the timer resumes */
    if (engine_out_pending(&c->cl) && !conn_flush(c)) {
        conn_close(c);
        return;
    }
    while (c->state != CONN_CLOSING && !w->stopping) {
        if (conn_backed_up(c)) {
            /* Write what the socket takes; wait for the client to read
             * only if the output is still backed up after that. */
            if (!conn_flush(c)) {
                conn_close(c);
                return;
            }
            if (conn_backed_up(c))
                break;
        }
        if (c->state == CONN_PARSE && reqs >= max_reqs) {
            yield = c->rend > c->rstart;
            break;
        }
        enum conn_state before = c->state;
        if (conn_step(c)) {
            reqs += before == CONN_PARSE;
            if (c->held)
                break;
            continue;
        }
        if (drained)
            break; /* the event loop wakes us when more arrives */
        ssize_t r = conn_fill(c, &drained);
        if (r > 0)
            continue;
        if (r == 0)
            c->eof = true;
        else if (r == -2)
            c->state = CONN_CLOSING;
        break;
    }
    if (c->state == CONN_CLOSING && !c->close_after_write) {
        conn_close(c);
        return;
    }
    if (c->held) {
        conn_publish(c);
        conn_set_events(c, 0);
        return;
    }
    if (!conn_flush(c)) {
        conn_close(c);
        return;
    }
    bool pending = engine_out_pending(&c->cl);
    if (!pending && (c->eof || c->state == CONN_CLOSING)) {
        conn_close(c);
        return;
    }
    conn_publish(c);
    conn_set_events(c, pending || c->read_wants_write ? EV_WRITE : EV_READ);
    if (yield && !pending) {
        STAT_INCR(w, conn_yields);
        event_active(c->ev, EV_READ, 0);
    }
}

/* --- holding a reply -------------------------------------------------------- */

static void conn_on_hold_done(evutil_socket_t fd, short what, void *arg) {
    struct conn *c = arg;
    (void)fd, (void)what;
    c->held = false;
    /* through the connection's own event, so that conn_drive has one
     * caller and stays inlined in it */
    event_active(c->ev, EV_WRITE, 0);
}

/* Parks the connection for ms: its queued reply and any further input wait
 * on a timer, not on the worker.  Without a timer the reply goes now (the
 * brake still refuses the address's other attempts meanwhile). */
static void conn_hold(struct conn *c, unsigned ms) {
    if (c->transport == CONN_UDP)
        return;
    if (c->hold_ev == NULL)
        c->hold_ev = evtimer_new(c->cl.w->base, conn_on_hold_done, c);
    if (c->hold_ev == NULL)
        return;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    /* from now, not from when this loop iteration began */
    event_base_update_cache_time(c->cl.w->base);
    if (evtimer_add(c->hold_ev, &tv) == 0)
        c->held = true;
}

/* --- UDP ------------------------------------------------------------------- */

struct conn *conn_new(struct worker *w, int fd, const char *listen_name, bool is_unix) {
    struct conn *c = conn_make(w, fd, listen_name, is_unix);
    if (c != NULL) {
        c->cl.out.refs_on = true; /* a stream: long values go from their items */
        logger_conn_new(&c->cl);
    }
    return c;
}

struct conn *conn_new_udp(struct worker *w, int fd, const char *listen_name) {
    struct conn *c = conn_make(w, fd, listen_name, false);
    if (c == NULL)
        return NULL;
    c->transport = CONN_UDP; /* first: a failure below must not close the shared socket */
    char *rbuf = realloc(c->rbuf, UDP_DATAGRAM_MAX);
    c->udp = calloc(1, sizeof(*c->udp));
    if (rbuf != NULL)
        c->rbuf = rbuf;
    if (rbuf == NULL || c->udp == NULL) {
        conn_close(c);
        return NULL;
    }
    c->rsize = UDP_DATAGRAM_MAX;
    c->shown_state = "conn_read";
    snprintf(c->addr, sizeof(c->addr), "%s", listen_name);
    return c;
}

/* Sends the reply in wbuf as numbered datagrams.  UDP may lose any of them
 * anyway, so a socket that cannot take one drops the rest of the reply. */
static void conn_udp_send(struct conn *c) {
    size_t len = c->cl.out.end - c->cl.out.start;
    unsigned total = udp_datagram_count(len);
    unsigned char hdr[UDP_HEADER_LEN];
    for (unsigned seq = 0; seq < total; seq++) {
        size_t off = (size_t)seq * UDP_DATA_MAX;
        size_t n = len - off < UDP_DATA_MAX ? len - off : UDP_DATA_MAX;
        struct iovec iov[2] = {{hdr, sizeof(hdr)}, {c->cl.out.buf + c->cl.out.start + off, n}};
        struct msghdr msg = {.msg_name = &c->udp->peer, .msg_namelen = c->udp->peer_len,
                             .msg_iov = iov, .msg_iovlen = 2};
        udp_format_frame(hdr, c->udp->request_id, (uint16_t)seq, (uint16_t)total);
        ssize_t r = sendmsg(c->fd, &msg, MSG_DONTWAIT);
        if (r < 0) {
            STAT_ADD(c->cl.w, udp_dropped, total - seq);
            break;
        }
        STAT_ADD(c->cl.w, bytes_written, (uint64_t)r);
        STAT_INCR(c->cl.w, udp_sent);
    }
    if (len > 0 && total == 0)
        STAT_INCR(c->cl.w, udp_dropped);
}

/* Forgets whatever the last datagram left half done. */
static void conn_udp_reset(struct conn *c) {
    engine_drop_value(&c->cl); /* a datagram that ended inside a value */
    c->cl.out.failed = false;
    /* a big reply's buffer goes back at once: nothing flushes or trims a
     * UDP connection's output later, and it counts against the budget */
    if (c->cl.out.size > CONN_BUF_INITIAL) {
        char *p = realloc(c->cl.out.buf, CONN_BUF_INITIAL);
        if (p != NULL) {
            budget_give(&c->cl.w->srv->conn_mem, engine_buf_charge(c->cl.out.size));
            c->cl.out.buf = p;
            c->cl.out.size = CONN_BUF_INITIAL;
        }
    }
    c->state = CONN_PARSE;
    c->cl.s.proto = ENGINE_PROTO_AUTO;
    c->close_after_write = false;
    c->cl.s.noreply = false;
    c->cl.s.resume = 0;
    c->cl.swallow = 0;
    c->rstart = c->rend = 0;
    c->cl.out.start = c->cl.out.end = 0;
}

/* One datagram: its commands run to the end (a multi-get that pauses at
 * ENGINE_OUT_HIGH simply goes on), then the reply goes out whole.  A reply
 * cut short by an error other than a deliberate hang-up is not sent. */
static void conn_udp_one(struct conn *c, size_t len) {
    if (!udp_parse_frame((unsigned char *)c->rbuf, len, &c->udp->request_id))
        return;
    STAT_INCR(c->cl.w, udp_received);
    c->rstart = UDP_HEADER_LEN;
    c->rend = len;
    while (c->state != CONN_CLOSING && conn_step(c))
        ;
    if (c->state != CONN_CLOSING || c->close_after_write)
        conn_udp_send(c);
    conn_udp_reset(c);
}

/* Reads datagrams until the socket is empty (other workers share it) or a
 * batch is done, so one busy socket cannot hold the worker forever. */
static void conn_drive_udp(struct conn *c) {
    for (int i = 0; i < c->cl.w->srv->settings->reqs_per_event && !c->cl.w->stopping; i++) {
        c->udp->peer_len = sizeof(c->udp->peer);
        ssize_t r = recvfrom(c->fd, c->rbuf, c->rsize, MSG_DONTWAIT,
                             (struct sockaddr *)&c->udp->peer, &c->udp->peer_len);
        if (r < 0)
            break;
        STAT_ADD(c->cl.w, bytes_read, (uint64_t)r);
        __atomic_store_n(&c->last_cmd, clock_now(), __ATOMIC_RELAXED);
        conn_udp_one(c, (size_t)r);
    }
}

static void conn_on_event(evutil_socket_t fd, short what, void *arg) {
    struct conn *c = arg;
    (void)fd;
    (void)what;
    worker_mark_event(c->cl.w);
    if (c->transport == CONN_UDP)
        conn_drive_udp(c);
    else
        conn_drive(c);
}

void conn_close_all(struct worker *w) {
    for (;;) {
        pthread_mutex_lock(&w->lock);
        struct conn *c = w->conns;
        pthread_mutex_unlock(&w->lock);
        if (c == NULL)
            break;
        conn_flush(c);
        conn_close(c);
    }
}
