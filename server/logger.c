/*
 * logger: per-worker rings, one logger thread, bounded watcher buffers;
 * see logger.h.
 *
 * A ring holds formatted lines (with memcached's "ts=... gid=..." prefix)
 * behind a mutex that only its worker and the logger thread take; the
 * logger thread copies a whole ring out in one memcpy and lets go.  Lines
 * are formatted where they happen, not later, so that no item memory is
 * referenced after the log point returns.  Events the store raises from
 * other threads (page moves, evictions of the maintenance thread) go to
 * one extra shared ring.  The rings take their memory when the first
 * watcher comes, so a server nobody watches holds none of it.
 *
 * A watcher's socket is a dup() of its connection's: the connection itself
 * is hung up at once (its worker forgets it), and the logger thread alone
 * writes to the copy with non-blocking sends and watches it for EOF.
 */
#include "server/logger.h"

#include "server/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server/server.h"
#include "server/worker.h"
#include "storage/slab.h"

#define LOGGER_RING_SIZE (64u * 1024)
#define LOGGER_LINE_MAX 2048
#define LOGGER_WATCHER_MAX 20            /* memcached's WATCHER_LIMIT */
#define LOGGER_SLEEP_MIN_US 1000
#define LOGGER_SLEEP_MAX_US 100000

unsigned logger_wanted;

struct logger_rec {
    uint32_t stream;
    uint32_t len;
    uint64_t gid;
};

struct logger_ring {
    pthread_mutex_t lock;
    char *buf;
    size_t used;
    uint64_t written, dropped; /* atomics: stats reads them */
};

struct logger_watcher {
    int fd;
    unsigned streams;
    uint64_t min_gid;
    uint64_t skipped;
    char *buf;
    size_t start, end;
};

static struct {
    struct server *srv;
    struct logger_ring *rings;
    int nrings; /* one per worker, then the shared one */
    pthread_t tid;
    bool started, stop;
    pthread_mutex_t lock; /* watchers, nwatchers, stop */
    pthread_cond_t cond;
    struct logger_watcher *watchers[LOGGER_WATCHER_MAX];
    int nwatchers;
    uint64_t gid;                          /* atomic */
    uint64_t skipped, sent, evicted_burst; /* atomics */
} lg = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* The connection being turned into a watcher on this thread: its hang-up is
 * not a close anyone should see. */
static __thread int logger_handoff_fd = -1;

/* --- producing lines -------------------------------------------------------- */

static void logger_put(int ring, unsigned stream, uint64_t gid, const char *line, size_t len) {
    if (lg.rings == NULL)
        return;
    struct logger_ring *r = &lg.rings[ring < 0 || ring >= lg.nrings ? lg.nrings - 1 : ring];
    struct logger_rec rec = {stream, (uint32_t)len, gid};
    pthread_mutex_lock(&r->lock);
    if (r->buf == NULL) {
        /* no watcher was ever added: nothing to keep */
    } else if (r->used + sizeof(rec) + len > LOGGER_RING_SIZE) {
        __atomic_add_fetch(&r->dropped, 1, __ATOMIC_RELAXED);
    } else {
        memcpy(r->buf + r->used, &rec, sizeof(rec));
        memcpy(r->buf + r->used + sizeof(rec), line, len);
        r->used += sizeof(rec) + len;
        __atomic_add_fetch(&r->written, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&r->lock);
}

/* Formats memcached's "ts=S.U gid=G " prefix and the rest, then queues it;
 * the gid orders lines across workers, as in memcached. */
static void logger_emit(int ring, unsigned stream, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void logger_emit(int ring, unsigned stream, const char *fmt, ...) {
    char line[LOGGER_LINE_MAX];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint64_t gid = __atomic_add_fetch(&lg.gid, 1, __ATOMIC_RELAXED);
    /* memcached prints the microseconds with %d: no zero padding */
    int n = snprintf(line, sizeof(line), "ts=%lld.%d gid=%" PRIu64 " ", (long long)tv.tv_sec,
                     (int)tv.tv_usec, gid);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + ((size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m
                                                                       : sizeof(line) - (size_t)n - 2);
    line[len++] = '\n';
    logger_put(ring, stream, gid, line, len);
}

static void logger_uri(char *dst, const char *src, size_t n) { proto_fmt_uri(dst, src, n); }

static int logger_ring_of(struct engine_client *c) { return engine_worker(c)->id; }

static unsigned logger_class_of(struct engine_client *c, size_t nkey, size_t nbytes) {
    return slab_class_for(store_slabs(engine_worker(c)->srv->store), item_total(nkey, nbytes));
}

void logger_log_fetch(struct engine_client *c, const char *key, size_t nkey, enum logger_found found,
                      size_t nbytes) {
    static const char *const names[] = {"not_found", "found", "flushed", "expired"};
    char k[3 * ITEM_KEY_MAX + 1];
    logger_uri(k, key, nkey > ITEM_KEY_MAX ? ITEM_KEY_MAX : nkey);
    bool hit = found == LOGGER_FOUND;
    logger_emit(logger_ring_of(c), LOGGER_FETCHERS,
                "type=item_get key=%s status=%s clsid=%u cfd=%d size=%zu", k, names[found],
                hit ? logger_class_of(c, nkey, nbytes) : 0, engine_client_id(c), hit ? nbytes : 0);
}

static void logger_peek(void *arg, const struct item *it) { *(size_t *)arg = it->nbytes; }

enum store_status logger_log_store_link(struct engine_client *c, struct store *s, struct item *it,
                                        enum store_mode mode, uint64_t cas_in, uint64_t *cas_out) {
    char k[3 * ITEM_KEY_MAX + 1];
    size_t nkey = it->nkey, nbytes = it->nbytes;
    rel_time_t exptime = it->exptime;
    unsigned clsid = it->clsid;
    logger_uri(k, item_ckey(it), nkey);
    if (logger_wants(LOGGER_FETCHERS)) {
        /* memcached looks the key up before it stores, and logs that */
        size_t old = 0;
        bool found = store_peek(s, item_ckey(it), nkey, logger_peek, &old) == STORE_OK;
        logger_log_fetch(c, item_ckey(it), nkey, found ? LOGGER_FOUND : LOGGER_NOT_FOUND, old);
    }
    enum store_status st = store_link(s, it, mode, cas_in, cas_out);
    if (!logger_wants(LOGGER_MUTATIONS))
        return st;
    static const char *const cmds[] = {"set", "add", "replace", "append", "prepend", "cas", "cas"};
    const char *status;
    switch (st) {
    case STORE_OK: status = "stored"; break;
    case STORE_EXISTS: status = "exists"; break;
    case STORE_NOT_FOUND: status = "not_found"; break;
    case STORE_TOO_LARGE: status = "too_large"; break;
    case STORE_NO_MEMORY: status = "no_memory"; break;
    default: status = "not_stored"; break;
    }
    rel_time_t now = clock_now();
    unsigned ttl = exptime == CLOCK_NEVER ? 0 : exptime > now ? exptime - now : 0;
    logger_emit(logger_ring_of(c), LOGGER_MUTATIONS,
                "type=item_store key=%s status=%s cmd=%s ttl=%u clsid=%u cfd=%d size=%zu", k,
                status, (unsigned)mode < 7 ? cmds[mode] : "na", ttl, clsid, engine_client_id(c), nbytes);
    return st;
}

/* rip and rport as memcached prints them ("unix" and 0 for a unix socket). */
static void logger_peer(int fd, char *ip, size_t iplen, unsigned *port, const char **transport) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int type = 0;
    socklen_t tl = sizeof(type);
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
    *transport = type == SOCK_DGRAM ? "udp" : "tcp";
    snprintf(ip, iplen, "unix");
    *port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)iplen);
        *port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)iplen);
        *port = ntohs(a->sin6_port);
    } else {
        *transport = "local";
    }
}

void logger_conn_new(struct engine_client *c) {
    if (logger_verbose() > 1) {
        static const char *const kinds[] = {"auto-negotiating client connection",
                                            "ascii client connection.",
                                            "binary client connection."};
        fprintf(stderr, "<%d new %s\n", engine_client_id(c), kinds[engine_worker(c)->srv->settings->protocol]);
    }
    if (!logger_wants(LOGGER_CONNEVENTS))
        return;
    char ip[64];
    unsigned port;
    const char *transport;
    logger_peer(engine_client_id(c), ip, sizeof(ip), &port, &transport);
    logger_emit(logger_ring_of(c), LOGGER_CONNEVENTS,
                "type=conn_new rip=%s rport=%u transport=%s cfd=%d", ip, port, transport,
                engine_client_id(c));
}

void logger_conn_close(struct engine_client *c, enum logger_close_reason why) {
    if (engine_client_id(c) == logger_handoff_fd) {
        logger_handoff_fd = -1; /* a new watcher, not a close */
        return;
    }
    if (logger_verbose() > 1)
        fprintf(stderr, "<%d connection closed.\n", engine_client_id(c));
    if (!logger_wants(LOGGER_CONNEVENTS))
        return;
    static const char *const reasons[] = {"error", "normal", "idle_timeout", "shutdown"};
    char ip[64];
    unsigned port;
    const char *transport;
    logger_peer(engine_client_id(c), ip, sizeof(ip), &port, &transport);
    logger_emit(logger_ring_of(c), LOGGER_CONNEVENTS,
                "type=conn_close rip=%s rport=%u transport=%s reason=%s cfd=%d", ip, port,
                transport, reasons[why], engine_client_id(c));
}

void logger_log_line(struct engine_client *c, char dir, const char *what, const char *line, size_t len) {
    fprintf(stderr, "%c%d %s%.*s\n", dir, engine_client_id(c), what, (int)(len > 1024 ? 1024 : len), line);
}

/* store_event_fn: evictions and page moves, from whichever thread. */
static void logger_store_event(void *ctx, const struct store_event *ev) {
    (void)ctx;
    int shared = lg.nrings - 1;
    if (ev->kind == STORE_EVENT_PAGE_MOVE) {
        if (logger_verbose() > 0)
            fprintf(stderr, "slab page moved from class %u to class %u%s\n", ev->src, ev->dst,
                    ev->src == 0 || ev->dst == 0 ? " (0: the system)" : "");
        if (logger_wants(LOGGER_SYSEVENTS))
            logger_emit(shared, LOGGER_SYSEVENTS, "type=slab_move src=%u dst=%u", ev->src, ev->dst);
        return;
    }
    __atomic_add_fetch(&lg.evicted_burst, 1, __ATOMIC_RELAXED);
    if (!logger_wants(LOGGER_EVICTIONS))
        return;
    const struct item *it = ev->item;
    rel_time_t now = clock_now(), at = item_atime(it);
    char k[3 * ITEM_KEY_MAX + 1];
    logger_uri(k, item_ckey(it), it->nkey);
    long long ttl = it->exptime == CLOCK_NEVER ? -1 : (long long)it->exptime - (long long)now;
    logger_emit(shared, LOGGER_EVICTIONS,
                "type=eviction key=%s fetch=%s ttl=%lld la=%u clsid=%u size=%u", k,
                (item_bits(it) & ITEM_FETCHED) ? "yes" : "no", ttl, at < now ? now - at : 0,
                (unsigned)it->clsid, it->nbytes);
}

/* --- watchers ---------------------------------------------------------------- */

/* Recomputes logger_wanted from the watchers (lg.lock held). */
static void logger_update_wanted(void) {
    unsigned want = 0;
    for (int i = 0; i < LOGGER_WATCHER_MAX; i++)
        if (lg.watchers[i] != NULL)
            want |= lg.watchers[i]->streams;
    unsigned v = __atomic_load_n(&logger_wanted, __ATOMIC_RELAXED) & ~((1u << LOGGER_VERBOSE_SHIFT) - 1);
    __atomic_store_n(&logger_wanted, v | want, __ATOMIC_RELAXED);
}

void logger_set_verbose(int level) {
    unsigned v = (unsigned)(level < 0 ? 0 : level > 3 ? 3 : level);
    if (lg.srv != NULL && lg.started)
        __atomic_store_n(&lg.srv->verbose, (int)v, __ATOMIC_RELAXED);
    pthread_mutex_lock(&lg.lock);
    unsigned streams = __atomic_load_n(&logger_wanted, __ATOMIC_RELAXED) &
                       ((1u << LOGGER_VERBOSE_SHIFT) - 1);
    __atomic_store_n(&logger_wanted, streams | (v << LOGGER_VERBOSE_SHIFT), __ATOMIC_RELAXED);
    pthread_cond_signal(&lg.cond);
    pthread_mutex_unlock(&lg.lock);
}

static void logger_watcher_free(int slot) {
    struct logger_watcher *w = lg.watchers[slot];
    close(w->fd);
    free(w->buf);
    free(w);
    lg.watchers[slot] = NULL;
    lg.nwatchers--;
    logger_update_wanted();
}

/* Appends to a watcher's buffer if the line fits; false if it does not. */
static bool logger_watcher_put(struct logger_watcher *w, const char *s, size_t n) {
    if (LOGGER_WATCHER_BUF - w->end < n && w->start > 0) {
        memmove(w->buf, w->buf + w->start, w->end - w->start);
        w->end -= w->start;
        w->start = 0;
    }
    if (LOGGER_WATCHER_BUF - w->end < n)
        return false;
    memcpy(w->buf + w->end, s, n);
    w->end += n;
    return true;
}

/* Sends what the socket takes; false when the watcher is gone. */
static bool logger_watcher_flush(struct logger_watcher *w) {
    while (w->end > w->start) {
        ssize_t n = send(w->fd, w->buf + w->start, w->end - w->start, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            w->start += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    w->start = w->end = 0;
    return true;
}

/* One line to every watcher that wants it (lg.lock held). */
static void logger_deliver(const struct logger_rec *rec, const char *line) {
    for (int i = 0; i < LOGGER_WATCHER_MAX; i++) {
        struct logger_watcher *w = lg.watchers[i];
        if (w == NULL || !(w->streams & rec->stream) || rec->gid < w->min_gid)
            continue;
        char skip[48];
        int sn = w->skipped ? snprintf(skip, sizeof(skip), "skipped=%" PRIu64 "\n", w->skipped) : 0;
        if (LOGGER_WATCHER_BUF - (w->end - w->start) < (size_t)sn + rec->len)
            logger_watcher_flush(w); /* make room if the socket takes some */
        if (LOGGER_WATCHER_BUF - (w->end - w->start) < (size_t)sn + rec->len) {
            w->skipped++;
            __atomic_add_fetch(&lg.skipped, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (sn > 0)
            logger_watcher_put(w, skip, (size_t)sn);
        w->skipped = 0;
        logger_watcher_put(w, line, rec->len);
        __atomic_add_fetch(&lg.sent, 1, __ATOMIC_RELAXED);
    }
}

/* Moves every ring's lines to the watchers; returns how many lines. */
static unsigned logger_drain(char *scratch) {
    unsigned lines = 0;
    for (int i = 0; i < lg.nrings; i++) {
        struct logger_ring *r = &lg.rings[i];
        pthread_mutex_lock(&r->lock);
        size_t n = r->used;
        if (n > 0)
            memcpy(scratch, r->buf, n);
        r->used = 0;
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_lock(&lg.lock);
        for (size_t off = 0; off + sizeof(struct logger_rec) <= n;) {
            struct logger_rec rec;
            memcpy(&rec, scratch + off, sizeof(rec));
            logger_deliver(&rec, scratch + off + sizeof(rec));
            off += sizeof(rec) + rec.len;
            lines++;
        }
        pthread_mutex_unlock(&lg.lock);
    }
    return lines;
}

/* Writes out and notices watchers that hung up (lg.lock held). */
static void logger_poll_watchers(void) {
    for (int i = 0; i < LOGGER_WATCHER_MAX; i++) {
        struct logger_watcher *w = lg.watchers[i];
        if (w == NULL)
            continue;
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
        bool gone = false;
        if (poll(&pfd, 1, 0) > 0) {
            char b[64];
            ssize_t n = recv(w->fd, b, sizeof(b), MSG_DONTWAIT);
            gone = (pfd.revents & (POLLHUP | POLLERR)) || n == 0 ||
                   (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
        }
        if (gone || !logger_watcher_flush(w))
            logger_watcher_free(i);
    }
}

static void logger_report_evictions(time_t *last) {
    time_t now = time(NULL);
    if (now == *last)
        return;
    *last = now;
    uint64_t n = __atomic_exchange_n(&lg.evicted_burst, 0, __ATOMIC_RELAXED);
    if (n > 0 && logger_verbose() > 0)
        fprintf(stderr, "evicted %" PRIu64 " items in the last second\n", n);
}

/* The logger thread's copy of one ring. */
static char logger_scratch[LOGGER_RING_SIZE];

static void *logger_main(void *arg) {
    char *scratch = logger_scratch;
    (void)arg;
    unsigned sleep_us = LOGGER_SLEEP_MIN_US;
    time_t last = time(NULL);
    pthread_mutex_lock(&lg.lock);
    while (!lg.stop) {
        if (lg.nwatchers == 0) {
            /* nothing to deliver: wake once a second for the -v report */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&lg.cond, &lg.lock, &ts);
        }
        pthread_mutex_unlock(&lg.lock);
        unsigned lines = logger_drain(scratch);
        logger_report_evictions(&last);
        pthread_mutex_lock(&lg.lock);
        logger_poll_watchers();
        if (lg.nwatchers > 0 && !lg.stop) {
            /* as memcached: back off while idle, hurry while busy */
            sleep_us = lines ? LOGGER_SLEEP_MIN_US : sleep_us + sleep_us / 8;
            if (sleep_us > LOGGER_SLEEP_MAX_US)
                sleep_us = LOGGER_SLEEP_MAX_US;
            pthread_mutex_unlock(&lg.lock);
            nanosleep(&(struct timespec){0, (long)sleep_us * 1000}, NULL);
            pthread_mutex_lock(&lg.lock);
        }
    }
    pthread_mutex_unlock(&lg.lock);
    return NULL;
}

/* The rings take their memory when the first watcher comes (lg.lock held),
 * so a server nobody watches holds none of it. */
static bool logger_rings_ready(void) {
    bool ok = true;
    for (int i = 0; i < lg.nrings; i++) {
        struct logger_ring *r = &lg.rings[i];
        pthread_mutex_lock(&r->lock);
        if (r->buf == NULL)
            r->buf = malloc(LOGGER_RING_SIZE);
        ok = ok && r->buf != NULL;
        pthread_mutex_unlock(&r->lock);
    }
    return ok;
}

enum logger_add { LOGGER_ADD_OK, LOGGER_ADD_TOO_MANY, LOGGER_ADD_FAILED };

static enum logger_add logger_add_watcher(int fd, unsigned streams) {
    pthread_mutex_lock(&lg.lock);
    int slot = -1;
    for (int i = 0; i < LOGGER_WATCHER_MAX && slot < 0; i++)
        if (lg.watchers[i] == NULL)
            slot = i;
    if (slot < 0) {
        pthread_mutex_unlock(&lg.lock);
        return LOGGER_ADD_TOO_MANY;
    }
    struct logger_watcher *w = calloc(1, sizeof(*w));
    char *buf = malloc(LOGGER_WATCHER_BUF);
    int copy = dup(fd);
    if (w == NULL || buf == NULL || copy < 0 || !logger_rings_ready()) {
        free(w);
        free(buf);
        if (copy >= 0)
            close(copy);
        pthread_mutex_unlock(&lg.lock);
        return LOGGER_ADD_FAILED;
    }
    *w = (struct logger_watcher){.fd = copy, .streams = streams, .buf = buf,
                                 .min_gid = __atomic_load_n(&lg.gid, __ATOMIC_RELAXED) + 1};
    logger_watcher_put(w, "OK\r\n", 4);
    lg.watchers[slot] = w;
    lg.nwatchers++;
    logger_update_wanted();
    pthread_cond_signal(&lg.cond);
    pthread_mutex_unlock(&lg.lock);
    return LOGGER_ADD_OK;
}

static unsigned logger_stream_named(const struct proto_token *t) {
    static const struct { const char *name; unsigned bit; } names[] = {
        {"rawcmds", LOGGER_RAWCMDS},       {"evictions", LOGGER_EVICTIONS},
        {"fetchers", LOGGER_FETCHERS},     {"mutations", LOGGER_MUTATIONS},
        {"sysevents", LOGGER_SYSEVENTS},   {"connevents", LOGGER_CONNEVENTS},
        {"proxyreqs", LOGGER_PROXYREQS},   {"proxyevents", LOGGER_PROXYEVENTS},
        {"proxyuser", LOGGER_PROXYUSER},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (proto_tok_is(t, names[i].name))
            return names[i].bit;
    return 0;
}

void logger_watch_command(struct engine_client *c, const struct proto_request *req) {
    if (req->ntok > 1 && proto_tok_is(&req->tok[req->ntok - 1], "noreply"))
        engine_session(c)->noreply = true;
    if (!engine_worker(c)->srv->settings->watch_enabled) {
        engine_reply(c, "CLIENT_ERROR watch commands not allowed");
        return;
    }
    if (engine_out_len(c) > 0) {
        engine_reply(c, "ERROR cannot pipeline other commands before watch");
        return;
    }
    unsigned streams = req->ntok > 1 ? 0 : LOGGER_FETCHERS;
    for (unsigned i = 1; i < req->ntok; i++) {
        unsigned bit = logger_stream_named(&req->tok[i]);
        if (bit == 0) {
            engine_reply(c, "ERROR");
            return;
        }
        streams |= bit;
    }
    switch (logger_add_watcher(engine_client_id(c), streams)) {
    case LOGGER_ADD_TOO_MANY: engine_reply(c, "WATCHER_TOO_MANY log watcher limit reached"); break;
    case LOGGER_ADD_FAILED: engine_reply(c, "WATCHER_FAILED failed to add log watcher"); break;
    case LOGGER_ADD_OK:
        /* the logger thread owns the socket's copy now (its OK goes first) */
        logger_handoff_fd = engine_client_id(c);
        engine_hang_up(c, false);
        break;
    }
}

/* --- life cycle and stats --------------------------------------------------- */

bool logger_setup(const struct settings *st, struct store *store, struct server *srv) {
    lg.srv = srv;
    lg.nrings = st->threads + 1;
    lg.rings = calloc((size_t)lg.nrings, sizeof(*lg.rings));
    if (lg.rings == NULL)
        return false;
    for (int i = 0; i < lg.nrings; i++)
        pthread_mutex_init(&lg.rings[i].lock, NULL);
    logger_set_verbose(st->verbose);
    lg.stop = false;
    if (pthread_create(&lg.tid, NULL, logger_main, NULL) != 0)
        return false;
    lg.started = true;
    store_set_event_hook(store, logger_store_event, NULL);
    return true;
}

void logger_teardown(void) {
    if (lg.started) {
        pthread_mutex_lock(&lg.lock);
        lg.stop = true;
        pthread_cond_signal(&lg.cond);
        pthread_mutex_unlock(&lg.lock);
        pthread_join(lg.tid, NULL);
        lg.started = false;
    }
    pthread_mutex_lock(&lg.lock);
    for (int i = 0; i < LOGGER_WATCHER_MAX; i++)
        if (lg.watchers[i] != NULL)
            logger_watcher_free(i);
    pthread_mutex_unlock(&lg.lock);
    for (int i = 0; lg.rings != NULL && i < lg.nrings; i++) {
        free(lg.rings[i].buf);
        pthread_mutex_destroy(&lg.rings[i].lock);
    }
    free(lg.rings);
    lg.rings = NULL;
    lg.nrings = 0;
}

void logger_stats(struct logger_stats *out) {
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < lg.nrings; i++) {
        out->worker_written += __atomic_load_n(&lg.rings[i].written, __ATOMIC_RELAXED);
        out->worker_dropped += __atomic_load_n(&lg.rings[i].dropped, __ATOMIC_RELAXED);
    }
    out->watcher_skipped = __atomic_load_n(&lg.skipped, __ATOMIC_RELAXED);
    out->watcher_sent = __atomic_load_n(&lg.sent, __ATOMIC_RELAXED);
    pthread_mutex_lock(&lg.lock);
    out->watchers = (uint64_t)lg.nwatchers;
    pthread_mutex_unlock(&lg.lock);
}
