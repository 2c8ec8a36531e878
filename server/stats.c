/*
 * stats: sums and formats counters; see stats.h.
 *
 * Every figure is computed when asked: workers' counters are read with
 * relaxed loads, the store's under one shard or class lock at a time, so a
 * `stats` call never stops the request path as a whole.
 *
 * `stats detail` keeps a small table of key prefixes (up to the first ':')
 * behind one mutex; it is off by default, as in memcached, because it puts
 * that mutex on every request while on.
 */
#include "server/stats.h"

#include <event2/event.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/auth.h"
#include "server/binary.h"
#include "server/conn.h"
#include "server/sasl.h"
#include "server/tls.h"
#include "server/worker.h"
#include "storage/slab.h"
#include "storage/store.h"

#define STATS_DETAIL_MAX 4096 /* distinct prefixes tracked at most */
#define STATS_DETAIL_DELIM ':'

struct detail_entry {
    char *prefix;
    size_t len;
    uint64_t get, hit, set, del;
};

static pthread_mutex_t detail_lock = PTHREAD_MUTEX_INITIALIZER;
static struct detail_entry detail_tab[STATS_DETAIL_MAX];
static size_t detail_count;

/* --- output helpers ---------------------------------------------------------- */

static void stats_line(struct engine_client *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void stats_line(struct engine_client *c, const char *name, const char *fmt, ...) {
    char val[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    if (engine_session(c)->proto == ENGINE_PROTO_BINARY) {
        bin_stat_packet(c, name, strlen(name), val, strlen(val));
        return;
    }
    char *p = engine_reserve(c, strlen(name) + strlen(val) + 9);
    if (p == NULL)
        return;
    engine_commit(c, (size_t)sprintf(p, "STAT %s %s\r\n", name, val));
}

static void stats_u64(struct engine_client *c, const char *name, uint64_t v) {
    stats_line(c, name, "%" PRIu64, v);
}

static void stats_end(struct engine_client *c) {
    if (engine_session(c)->proto == ENGINE_PROTO_BINARY)
        bin_stat_packet(c, NULL, 0, NULL, 0);
    else
        engine_out(c, "END\r\n", 5);
}

/* --- general stats ----------------------------------------------------------- */

static void stats_sum_workers(struct server *srv, struct worker_stats *sum) {
    memset(sum, 0, sizeof(*sum));
    for (int i = 0; i < srv->nworkers; i++) {
        struct worker *w = &srv->workers[i];
        sum->cmd_get += STAT_READ(w, cmd_get);
        sum->cmd_set += STAT_READ(w, cmd_set);
        sum->cmd_flush += STAT_READ(w, cmd_flush);
        sum->cmd_touch += STAT_READ(w, cmd_touch);
        sum->cmd_meta += STAT_READ(w, cmd_meta);
        sum->bytes_read += STAT_READ(w, bytes_read);
        sum->bytes_written += STAT_READ(w, bytes_written);
        sum->conn_yields += STAT_READ(w, conn_yields);
        sum->idle_kicks += STAT_READ(w, idle_kicks);
        sum->udp_received += STAT_READ(w, udp_received);
        sum->udp_sent += STAT_READ(w, udp_sent);
        sum->udp_dropped += STAT_READ(w, udp_dropped);
    }
}

/* memcached's auth_cmds/auth_errors (-Y and -S), then Larder's own:
 * failure replies held back, attempts failed unchecked while their
 * address was being slowed. */
static void stats_auth(struct engine_client *c, struct server *srv) {
    struct auth_stats as = {0};
    uint64_t sasl_cmds = 0, sasl_errors = 0;
    if (srv->auth)
        auth_get_stats(srv->auth, &as);
    if (srv->settings->sasl)
        sasl_srv_stats(&sasl_cmds, &sasl_errors);
    stats_u64(c, "auth_cmds", as.cmds + sasl_cmds);
    stats_u64(c, "auth_errors", as.errors + sasl_errors);
    stats_u64(c, "auth_delayed", as.delayed);
    stats_u64(c, "auth_throttled", as.throttled);
}

/* memcached's TLS figures, shown only with -Z, in its order. */
static void stats_tls(struct engine_client *c, struct server *srv, time_t now) {
    if (srv->tls == NULL)
        return;
    struct tls_stats ts;
    tls_server_stats(srv->tls, &ts);
    if (srv->settings->ssl_session_cache)
        stats_u64(c, "ssl_new_sessions", ts.new_sessions);
    stats_u64(c, "ssl_handshake_errors", ts.handshake_errors);
    stats_u64(c, "time_since_server_cert_refresh", (uint64_t)(now - ts.last_cert_refresh));
}

static void stats_general(struct engine_client *c) {
    struct server *srv = engine_worker(c)->srv;
    struct worker_stats ws;
    struct store_stats ss;
    struct rusage ru;
    stats_sum_workers(srv, &ws);
    store_stats(srv->store, &ss);
    getrusage(RUSAGE_SELF, &ru);
    time_t now = clock_unix_now();

    stats_line(c, "pid", "%ld", (long)getpid());
    stats_u64(c, "uptime", (uint64_t)(now - clock_started()));
    stats_line(c, "time", "%ld", (long)now);
    stats_line(c, "version", "%s", LARDER_VERSION);
    stats_line(c, "libevent", "%s", event_get_version());
    stats_line(c, "pointer_size", "%d", (int)(8 * sizeof(void *)));
    stats_line(c, "rusage_user", "%ld.%06ld", (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
    stats_line(c, "rusage_system", "%ld.%06ld", (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
    stats_u64(c, "max_connections", (uint64_t)srv->settings->maxconns);
    stats_u64(c, "curr_connections", __atomic_load_n(&srv->curr_conns, __ATOMIC_RELAXED));
    stats_u64(c, "total_connections", __atomic_load_n(&srv->total_conns, __ATOMIC_RELAXED));
    stats_u64(c, "rejected_connections", __atomic_load_n(&srv->rejected_conns, __ATOMIC_RELAXED));
    stats_u64(c, "connection_structures", __atomic_load_n(&srv->conn_structures, __ATOMIC_RELAXED));
    stats_u64(c, "cmd_get", ws.cmd_get);
    stats_u64(c, "cmd_set", ws.cmd_set);
    stats_u64(c, "cmd_flush", ws.cmd_flush);
    stats_u64(c, "cmd_touch", ws.cmd_touch);
    stats_u64(c, "cmd_meta", ws.cmd_meta);
    stats_u64(c, "get_hits", ss.get_hits);
    stats_u64(c, "get_misses", ss.get_misses);
    stats_u64(c, "get_expired", ss.get_expired);
    stats_u64(c, "get_flushed", ss.get_flushed);
    stats_u64(c, "delete_misses", ss.delete_misses);
    stats_u64(c, "delete_hits", ss.delete_hits);
    stats_u64(c, "incr_misses", ss.incr_misses);
    stats_u64(c, "incr_hits", ss.incr_hits);
    stats_u64(c, "decr_misses", ss.decr_misses);
    stats_u64(c, "decr_hits", ss.decr_hits);
    stats_u64(c, "cas_misses", ss.cas_misses);
    stats_u64(c, "cas_hits", ss.cas_hits);
    stats_u64(c, "cas_badval", ss.cas_badval);
    stats_u64(c, "touch_hits", ss.touch_hits);
    stats_u64(c, "touch_misses", ss.touch_misses);
    stats_u64(c, "store_too_large", ss.store_too_large);
    stats_u64(c, "store_no_memory", ss.store_no_memory);
    stats_auth(c, srv);
    stats_u64(c, "bytes_read", ws.bytes_read);
    stats_u64(c, "bytes_written", ws.bytes_written);
    stats_u64(c, "limit_maxbytes", ss.limit_maxbytes);
    stats_u64(c, "accepting_conns", 1);
    stats_u64(c, "threads", (uint64_t)srv->nworkers);
    stats_u64(c, "conn_yields", ws.conn_yields);
    stats_u64(c, "hash_power_level", ss.hash_power_level);
    stats_u64(c, "hash_bytes", ss.hash_bytes);
    stats_u64(c, "hash_is_expanding", ss.hash_is_expanding);
    stats_u64(c, "idle_kicks", ws.idle_kicks);
    stats_u64(c, "udp_datagrams_received", ws.udp_received);
    stats_u64(c, "udp_datagrams_sent", ws.udp_sent);
    stats_u64(c, "udp_datagrams_dropped", ws.udp_dropped);
    stats_u64(c, "total_malloced", ss.total_malloced);
    stats_u64(c, "bytes", ss.bytes);
    stats_u64(c, "curr_items", ss.curr_items);
    stats_u64(c, "total_items", ss.total_items);
    stats_u64(c, "expired_unfetched", ss.expired_unfetched);
    stats_u64(c, "evicted_unfetched", ss.evicted_unfetched);
    stats_u64(c, "evictions", ss.evictions);
    stats_u64(c, "reclaimed", ss.reclaimed);
    stats_u64(c, "crawler_reclaimed", ss.crawler_reclaimed);
    stats_u64(c, "crawler_items_checked", ss.crawler_items_checked);
    stats_u64(c, "slabs_moved", ss.slabs_moved);
    stats_tls(c, srv, now);
    stats_end(c);
}

/* memcached prints these whether or not -Z is on; a path not given shows
 * as its printf shows a null string ("(null)") for the certificate and
 * key, and as "NULL" for the others, which it spells out. */
static void stats_tls_settings(struct engine_client *c, const struct settings *st) {
    stats_line(c, "ssl_enabled", "%s", st->ssl_enabled ? "yes" : "no");
    stats_line(c, "ssl_chain_cert", "%s", st->ssl_chain_cert ? st->ssl_chain_cert : "(null)");
    stats_line(c, "ssl_key", "%s", st->ssl_key ? st->ssl_key : "(null)");
    stats_line(c, "ssl_verify_mode", "%d", tls_verify_flags(st->ssl_verify_mode));
    stats_line(c, "ssl_keyformat", "%d", st->ssl_keyformat);
    stats_line(c, "ssl_ciphers", "%s", st->ssl_ciphers ? st->ssl_ciphers : "NULL");
    stats_line(c, "ssl_ca_cert", "%s", st->ssl_ca_cert ? st->ssl_ca_cert : "NULL");
    stats_u64(c, "ssl_wbuf_size", st->ssl_wbuf_size);
    stats_line(c, "ssl_session_cache", "%s", st->ssl_session_cache ? "yes" : "no");
    stats_line(c, "ssl_kernel_tls", "%s", st->ssl_kernel_tls ? "yes" : "no");
    stats_line(c, "ssl_min_version", "%s", settings_tls_version_name(st->ssl_min_version));
}

static void stats_settings(struct engine_client *c) {
    const struct settings *st = engine_worker(c)->srv->settings;
    stats_u64(c, "maxbytes", slab_limit(store_slabs(engine_worker(c)->srv->store)));
    stats_u64(c, "maxconns", (uint64_t)st->maxconns);
    stats_u64(c, "tcpport", (uint64_t)st->port);
    stats_u64(c, "udpport", (uint64_t)st->udp_port);
    stats_line(c, "inter", "%s", st->nlisten > 0 ? st->listen[0] : "NULL");
    stats_u64(c, "verbosity", (uint64_t)__atomic_load_n(&engine_worker(c)->srv->verbose, __ATOMIC_RELAXED));
    stats_line(c, "evictions", "%s", st->evict ? "on" : "off");
    stats_line(c, "domain_socket", "%s", st->socket_path ? st->socket_path : "NULL");
    stats_line(c, "umask", "%o", st->socket_mask);
    stats_line(c, "shutdown_command", "%s", st->shutdown_command ? "yes" : "no");
    stats_line(c, "growth_factor", "%.2f", st->factor);
    stats_u64(c, "chunk_size", st->chunk_size);
    stats_u64(c, "num_threads", (uint64_t)st->threads);
    stats_u64(c, "num_threads_per_udp", (uint64_t)st->threads);
    stats_line(c, "stat_key_prefix", "%c", STATS_DETAIL_DELIM);
    stats_line(c, "detail_enabled", "%s",
               __atomic_load_n(&engine_worker(c)->srv->detail_enabled, __ATOMIC_RELAXED) ? "yes" : "no");
    stats_u64(c, "reqs_per_event", (uint64_t)st->reqs_per_event);
    stats_line(c, "cas_enabled", "%s", st->use_cas ? "yes" : "no");
    stats_u64(c, "tcp_backlog", (uint64_t)st->backlog);
    static const char *const protocols[] = {"auto-negotiate", "ascii", "binary"};
    stats_line(c, "binding_protocol", "%s", protocols[st->protocol]);
    stats_line(c, "auth_enabled_sasl", "%s", st->sasl ? "yes" : "no");
    stats_line(c, "auth_enabled_ascii", "%s", st->auth_file ? st->auth_file : "no");
    stats_u64(c, "item_size_max", st->item_size_max);
    stats_line(c, "maxconns_fast", "yes");
    stats_u64(c, "hashpower_init", st->hashpower);
    stats_line(c, "lru_crawler", "%s", st->lru_crawler ? "yes" : "no");
    stats_u64(c, "slab_automove", st->slab_automove);
    stats_line(c, "worker_yield", "%s", st->worker_yield ? "yes" : "no");
    stats_u64(c, "idle_timeout", st->idle_timeout);
    stats_line(c, "flush_enabled", "%s", st->flush_enabled ? "yes" : "no");
    stats_line(c, "dump_enabled", "%s", st->dump_enabled ? "yes" : "no");
    stats_tls_settings(c, st);
    stats_end(c);
}

/* --- per-class stats --------------------------------------------------------- */

static void stats_class_line(struct engine_client *c, const char *group, unsigned cls, const char *name,
                             uint64_t v) {
    char key[64];
    snprintf(key, sizeof(key), "%s%u:%s", group, cls, name);
    stats_u64(c, key, v);
}

static void stats_items(struct engine_client *c) {
    struct slabs *sl = store_slabs(engine_worker(c)->srv->store);
    for (unsigned i = 1; i <= slab_class_count(sl); i++) {
        struct slab_class_stats cs;
        slab_class_stats(sl, i, &cs);
        if (cs.used_chunks == 0 && cs.evicted == 0 && cs.outofmemory == 0)
            continue;
        rel_time_t oldest = slab_class_oldest(sl, i);
        stats_class_line(c, "items:", i, "number", cs.used_chunks);
        stats_class_line(c, "items:", i, "age", oldest ? clock_now() - oldest : 0);
        stats_class_line(c, "items:", i, "evicted", cs.evicted);
        stats_class_line(c, "items:", i, "evicted_time", cs.evicted_time);
        stats_class_line(c, "items:", i, "evicted_unfetched", cs.evicted_unfetched);
        stats_class_line(c, "items:", i, "outofmemory", cs.outofmemory);
        stats_class_line(c, "items:", i, "reclaimed", cs.reclaimed);
        stats_class_line(c, "items:", i, "expired_unfetched", cs.expired_unfetched);
    }
    stats_end(c);
}

static void stats_slabs(struct engine_client *c) {
    struct slabs *sl = store_slabs(engine_worker(c)->srv->store);
    unsigned active = 0;
    for (unsigned i = 1; i <= slab_class_count(sl); i++) {
        struct slab_class_stats cs;
        slab_class_stats(sl, i, &cs);
        if (cs.pages == 0)
            continue;
        active++;
        stats_class_line(c, "", i, "chunk_size", cs.chunk_size);
        stats_class_line(c, "", i, "chunks_per_page", cs.per_page);
        stats_class_line(c, "", i, "page_bytes", cs.page_bytes);
        stats_class_line(c, "", i, "total_pages", cs.pages);
        stats_class_line(c, "", i, "total_chunks", cs.pages * cs.per_page);
        stats_class_line(c, "", i, "used_chunks", cs.used_chunks);
        stats_class_line(c, "", i, "free_chunks", cs.free_chunks);
    }
    stats_u64(c, "active_slabs", active);
    stats_u64(c, "total_malloced", slab_total_malloced(sl));
    stats_end(c);
}

struct stats_conns_ctx {
    struct engine_client *c; /* the one asking */
    rel_time_t now;
};

/* conn_each callback: one connection, as its worker last published it. */
static void stats_conn_one(void *arg, const struct engine_client *o, const struct conn_view *v) {
    struct stats_conns_ctx *x = arg;
    char key[48];
    snprintf(key, sizeof(key), "%d:addr", v->fd);
    stats_line(x->c, key, "%s", v->addr);
    snprintf(key, sizeof(key), "%d:listen_addr", v->fd);
    stats_line(x->c, key, "%s", v->listen_name);
    snprintf(key, sizeof(key), "%d:state", v->fd);
    stats_line(x->c, key, "%s", o == x->c ? "conn_parse_cmd" : v->state);
    snprintf(key, sizeof(key), "%d:secs_since_last_cmd", v->fd);
    stats_u64(x->c, key, o == x->c ? 0 : x->now - v->last_cmd);
}

/* memcached's item-size histogram is off unless enabled; Larder has none. */
static void stats_sizes(struct engine_client *c) {
    stats_line(c, "sizes_status", "disabled");
    stats_end(c);
}

static void stats_conns(struct engine_client *c) {
    struct server *srv = engine_worker(c)->srv;
    rel_time_t now = clock_now();
    char key[48];
    for (int i = 0; i < srv->nlisteners; i++) {
        snprintf(key, sizeof(key), "%d:addr", srv->listeners[i].fd);
        stats_line(c, key, "%s", srv->listeners[i].name);
        snprintf(key, sizeof(key), "%d:state", srv->listeners[i].fd);
        stats_line(c, key, "conn_listening");
    }
    struct stats_conns_ctx ctx = {c, now};
    for (int i = 0; i < srv->nworkers; i++)
        conn_each(&srv->workers[i], stats_conn_one, &ctx);
    stats_end(c);
}

static void stats_reset(struct engine_client *c) {
    struct server *srv = engine_worker(c)->srv;
    store_stats_reset(srv->store);
    for (int i = 0; i < srv->nworkers; i++)
        worker_stats_reset(&srv->workers[i]);
    __atomic_store_n(&srv->total_conns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&srv->rejected_conns, 0, __ATOMIC_RELAXED);
    pthread_mutex_lock(&detail_lock);
    for (size_t i = 0; i < detail_count; i++)
        free(detail_tab[i].prefix);
    detail_count = 0;
    pthread_mutex_unlock(&detail_lock);
    if (engine_session(c)->proto == ENGINE_PROTO_BINARY)
        stats_end(c); /* a binary reset answers with the terminator alone */
    else
        engine_reply(c, "RESET");
}

/* --- stats detail ------------------------------------------------------------ */

static struct detail_entry *stats_detail_find(const char *key, size_t nkey) {
    const char *d = memchr(key, STATS_DETAIL_DELIM, nkey);
    if (d == NULL)
        return NULL; /* memcached counts only keys that have a prefix */
    size_t len = (size_t)(d - key);
    for (size_t i = 0; i < detail_count; i++)
        if (detail_tab[i].len == len && memcmp(detail_tab[i].prefix, key, len) == 0)
            return &detail_tab[i];
    if (detail_count == STATS_DETAIL_MAX)
        return NULL;
    struct detail_entry *e = &detail_tab[detail_count];
    /* Not strndup: a key may hold a NUL before the delimiter, and the
     * copy must be as long as the length compared against it later. */
    e->prefix = malloc(len + 1);
    if (e->prefix == NULL)
        return NULL;
    memcpy(e->prefix, key, len);
    e->prefix[len] = '\0';
    e->len = len;
    e->get = e->hit = e->set = e->del = 0;
    detail_count++;
    return e;
}

/* op: 'g' get, 'h' get hit, 's' set, 'd' delete. */
static void stats_detail_record(struct server *srv, const char *key, size_t nkey, char op) {
    if (!__atomic_load_n(&srv->detail_enabled, __ATOMIC_RELAXED))
        return;
    pthread_mutex_lock(&detail_lock);
    struct detail_entry *e = stats_detail_find(key, nkey);
    if (e != NULL) {
        e->get += op == 'g' || op == 'h';
        e->hit += op == 'h';
        e->set += op == 's';
        e->del += op == 'd';
    }
    pthread_mutex_unlock(&detail_lock);
}

void stats_detail_get(struct server *srv, const char *key, size_t nkey, bool hit) {
    stats_detail_record(srv, key, nkey, hit ? 'h' : 'g');
}
void stats_detail_set(struct server *srv, const char *key, size_t nkey) {
    stats_detail_record(srv, key, nkey, 's');
}
void stats_detail_delete(struct server *srv, const char *key, size_t nkey) {
    stats_detail_record(srv, key, nkey, 'd');
}

/* One "PREFIX ..." line per prefix, into the output. */
static void stats_detail_dump(struct engine_client *c) {
    pthread_mutex_lock(&detail_lock);
    for (size_t i = 0; i < detail_count; i++) {
        const struct detail_entry *e = &detail_tab[i];
        char *p = engine_reserve(c, e->len + 128);
        if (p == NULL)
            break;
        engine_commit(c, (size_t)sprintf(p, "PREFIX %s get %" PRIu64 " hit %" PRIu64 " set %" PRIu64
                                          " del %" PRIu64 "\r\n",
                                       e->prefix, e->get, e->hit, e->set, e->del));
    }
    pthread_mutex_unlock(&detail_lock);
}

/* memcached's binary dump: the text dump, END included, as the value of one
 * stat named "detailed".  It is formatted past the reply's place in the
 * output and moved into a packet there (at most STATS_DETAIL_MAX lines). */
static void stats_detail_dump_binary(struct engine_client *c) {
    size_t mark = engine_out_len(c); /* an offset: reserving may move the buffer */
    stats_detail_dump(c);
    engine_out(c, "END\r\n", 5);
    if (engine_is_closing(c))
        return;
    size_t n = engine_out_len(c) - mark;
    char *text = malloc(n);
    if (text == NULL) {
        engine_hang_up(c, false);
        return;
    }
    memcpy(text, engine_out_at(c, mark), n);
    engine_out_cut(c, mark);
    bin_stat_packet(c, "detailed", 8, text, n);
    free(text);
}

static void stats_detail(struct engine_client *c, const struct proto_request *req) {
    struct server *srv = engine_worker(c)->srv;
    const struct proto_token *arg = req->ntok > 2 ? &req->tok[2] : NULL;
    if (arg != NULL && (proto_tok_is(arg, "on") || proto_tok_is(arg, "off"))) {
        __atomic_store_n(&srv->detail_enabled, proto_tok_is(arg, "on"), __ATOMIC_RELAXED);
        engine_reply(c, "OK");
        return;
    }
    if (arg == NULL || !proto_tok_is(arg, "dump")) {
        engine_reply(c, "CLIENT_ERROR usage: stats detail on|off|dump");
        return;
    }
    stats_detail_dump(c);
    stats_end(c);
}

/* --- key dumps --------------------------------------------------------------- */

/* memcached's cap on one cachedump reply; a metadump streams instead. */
#define STATS_CACHEDUMP_MAX (2u << 20)

struct dump_ctx {
    struct engine_client *c;
    unsigned cls;       /* 0: every class */
    unsigned limit, seen;
    size_t start;       /* output length when the dump began (cachedump) */
    bool meta;
};

static time_t stats_unix_time(rel_time_t t) { return clock_started() + (time_t)t; }

/* Keys in metadump are URI-encoded so that any byte survives the line format. */
static size_t stats_uri_encode(char *dst, const char *src, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            dst[o++] = (char)ch;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[ch >> 4];
            dst[o++] = hex[ch & 15];
        }
    }
    dst[o] = '\0';
    return o;
}

static void stats_dump_one(void *arg, const struct item *it) {
    struct dump_ctx *d = arg;
    if ((d->cls != 0 && it->clsid != d->cls) || (d->limit != 0 && d->seen >= d->limit) ||
        engine_is_closing(d->c))
        return;
    if (!d->meta && engine_out_len(d->c) - d->start > STATS_CACHEDUMP_MAX)
        return;
    d->seen++;
    char *p = engine_reserve(d->c, 3 * ITEM_KEY_MAX + 160);
    if (p == NULL)
        return;
    char key[3 * ITEM_KEY_MAX + 1];
    if (d->meta) {
        stats_uri_encode(key, item_ckey(it), it->nkey);
        long exp = it->exptime == CLOCK_NEVER ? -1 : (long)stats_unix_time(it->exptime);
        engine_commit(d->c, (size_t)sprintf(p, "key=%s exp=%ld la=%ld cas=%" PRIu64
                                             " fetch=%s cls=%u size=%zu\r\n",
                                          key, exp, (long)stats_unix_time(item_atime(it)),
                                          store_item_cas(engine_worker(d->c)->srv->store, it),
                                          (item_bits(it) & ITEM_FETCHED) ? "yes" : "no",
                                          (unsigned)it->clsid, item_total(it->nkey, it->nbytes)));
    } else {
        long exp = it->exptime == CLOCK_NEVER ? 0 : (long)stats_unix_time(it->exptime);
        engine_commit(d->c, (size_t)sprintf(p, "ITEM %.*s [%u b; %ld s]\r\n", (int)it->nkey,
                                          item_ckey(it), it->nbytes, exp));
    }
}

static void stats_cachedump(struct engine_client *c, const struct proto_request *req) {
    uint64_t cls, limit;
    if (!engine_worker(c)->srv->settings->dump_enabled) {
        engine_reply(c, "CLIENT_ERROR stats cachedump not allowed");
        return;
    }
    if (req->ntok < 4) {
        engine_reply(c, "CLIENT_ERROR bad command line");
        return;
    }
    if (!proto_parse_u64(&req->tok[2], &cls) || !proto_parse_u64(&req->tok[3], &limit) ||
        limit > UINT32_MAX) {
        engine_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    if (cls >= SLAB_CLASS_MAX + 1) {
        engine_reply(c, "CLIENT_ERROR Illegal slab id");
        return;
    }
    struct dump_ctx d = {.c = c, .cls = (unsigned)cls, .limit = (unsigned)limit,
                         .start = engine_out_len(c)};
    if (cls != 0)
        store_walk(engine_worker(c)->srv->store, 0, stats_dump_one, &d);
    stats_end(c);
}

/* Streams: one store part at a time, pausing (like a multi-get) while the
 * client reads, so a dump of any cache fits in bounded output. */
void stats_metadump(struct engine_client *c, const struct proto_token *which) {
    struct dump_ctx d = {.c = c, .meta = true};
    uint64_t cls = 0;
    if (!proto_tok_is(which, "all")) {
        if (!proto_parse_u64(which, &cls) || cls == 0 ||
            cls > slab_class_count(store_slabs(engine_worker(c)->srv->store))) {
            engine_reply(c, "BADCLASS invalid class id");
            return;
        }
    }
    d.cls = (unsigned)cls;
    unsigned parts = store_walk_parts();
    struct engine_session *ss = engine_session(c);
    for (unsigned part = (unsigned)ss->resume; part < parts; part++) {
        store_walk_part(engine_worker(c)->srv->store, part, stats_dump_one, &d);
        if (engine_is_closing(c))
            return;
        if (engine_out_len(c) > ENGINE_OUT_HIGH && part + 1 < parts) {
            ss->resume = part + 1;
            engine_pause(c);
            return;
        }
    }
    ss->resume = 0;
    stats_end(c);
}

/* --- dispatch ---------------------------------------------------------------- */

void stats_command(struct engine_client *c, const struct proto_request *req) {
    if (req->ntok == 1) {
        stats_general(c);
        return;
    }
    const struct proto_token *sub = &req->tok[1];
    if (proto_tok_is(sub, "settings"))
        stats_settings(c);
    else if (proto_tok_is(sub, "items"))
        stats_items(c);
    else if (proto_tok_is(sub, "slabs"))
        stats_slabs(c);
    else if (proto_tok_is(sub, "sizes"))
        stats_sizes(c);
    else if (proto_tok_is(sub, "conns"))
        stats_conns(c);
    else if (proto_tok_is(sub, "reset"))
        stats_reset(c);
    else if (proto_tok_is(sub, "detail"))
        stats_detail(c, req);
    else if (proto_tok_is(sub, "cachedump"))
        stats_cachedump(c, req);
    else
        engine_reply(c, "ERROR");
}

/* memcached's binary STAT: the key names the group, compared by prefix as
 * memcached does; "conns" and the key dumps exist only in the text protocol. */
static bool stats_key_is(const char *key, size_t nkey, const char *word) {
    size_t n = strlen(word);
    return nkey >= n && memcmp(key, word, n) == 0;
}

bool stats_binary(struct engine_client *c, const char *key, size_t nkey) {
    struct server *srv = engine_worker(c)->srv;
    if (nkey == 0) {
        stats_general(c);
    } else if (stats_key_is(key, nkey, "reset")) {
        stats_reset(c);
    } else if (stats_key_is(key, nkey, "settings")) {
        stats_settings(c);
    } else if (stats_key_is(key, nkey, "detail")) {
        const char *arg = key + 6;
        size_t narg = nkey - 6;
        if (stats_key_is(arg, narg, " dump"))
            stats_detail_dump_binary(c);
        else if (stats_key_is(arg, narg, " on") || stats_key_is(arg, narg, " off"))
            __atomic_store_n(&srv->detail_enabled, arg[2] == 'n', __ATOMIC_RELAXED);
        else
            return false;
        stats_end(c);
    } else if (stats_key_is(key, nkey, "items")) {
        stats_items(c);
    } else if (stats_key_is(key, nkey, "slabs")) {
        stats_slabs(c);
    } else if (stats_key_is(key, nkey, "sizes")) {
        stats_sizes(c);
    } else {
        return false;
    }
    return true;
}
