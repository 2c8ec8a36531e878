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
#include "server/engine.h"
#include "server/logger.h"
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
        sum->worker_yields += STAT_READ(w, worker_yields);
        sum->udp_received += STAT_READ(w, udp_received);
        sum->udp_sent += STAT_READ(w, udp_sent);
        sum->udp_dropped += STAT_READ(w, udp_dropped);
        sum->read_buf_oom += STAT_READ(w, read_buf_oom);
        sum->response_obj_oom += STAT_READ(w, response_obj_oom);
    }
}

/* With -e: how the cache came back at start (see store_restart). */
static void stats_restart(struct engine_client *c) {
    const struct store_restart *r = store_restart_info(engine_worker(c)->srv->store);
    static const char *const modes[] = {"off", "cold", "warm", "recovered"};
    if (r->mode == STORE_RESTART_OFF)
        return;
    stats_line(c, "restart_mode", "%s", modes[r->mode]);
    stats_u64(c, "restart_items_restored", r->restored);
    stats_u64(c, "restart_items_dropped", r->dropped);
    stats_u64(c, "restart_items_expired", r->expired);
    stats_line(c, "restart_scan_seconds", "%.6f", r->seconds);
}

static uint64_t stats_atomic(const uint64_t *v) { return __atomic_load_n(v, __ATOMIC_RELAXED); }

/* memcached's auth_cmds/auth_errors, for -Y and -S together. */
static void stats_auth(struct engine_client *c, struct server *srv) {
    struct auth_stats as = {0};
    uint64_t sasl_cmds = 0, sasl_errors = 0;
    if (srv->auth)
        auth_get_stats(srv->auth, &as);
    if (srv->settings->sasl)
        sasl_srv_stats(&sasl_cmds, &sasl_errors);
    stats_u64(c, "auth_cmds", as.cmds + sasl_cmds);
    stats_u64(c, "auth_errors", as.errors + sasl_errors);
}

/* memcached's TLS figures, shown only with -Z, where it shows them. */
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

/* The connection part of `stats`, in memcached's order.  Larder has no
 * response objects nor memcached's pooled read buffers (replies and reads
 * go through per-connection buffers), so their counts and bytes are 0; the
 * two OOM counters are the memory budget's refusals of either; see
 * docs/STATS.md. */
static void stats_general_conns(struct engine_client *c, struct server *srv,
                                const struct worker_stats *ws) {
    stats_u64(c, "max_connections", (uint64_t)srv->settings->maxconns);
    stats_u64(c, "curr_connections", __atomic_load_n(&srv->curr_conns, __ATOMIC_RELAXED));
    stats_u64(c, "total_connections", stats_atomic(&srv->total_conns));
    if (srv->settings->maxconns_fast)
        stats_u64(c, "rejected_connections", stats_atomic(&srv->rejected_conns));
    stats_u64(c, "connection_structures", __atomic_load_n(&srv->conn_structures, __ATOMIC_RELAXED));
    stats_u64(c, "response_obj_oom", ws->response_obj_oom);
    stats_u64(c, "response_obj_count", 0);
    stats_u64(c, "response_obj_bytes", 0);
    stats_u64(c, "read_buf_count", 0);
    stats_u64(c, "read_buf_bytes", 0);
    stats_u64(c, "read_buf_bytes_free", 0);
    stats_u64(c, "read_buf_oom", ws->read_buf_oom);
    stats_u64(c, "reserved_fds", srv->reserved_fds);
}

static void stats_general_cmds(struct engine_client *c, struct server *srv,
                               const struct worker_stats *ws, const struct store_stats *ss) {
    stats_u64(c, "cmd_get", ws->cmd_get);
    stats_u64(c, "cmd_set", ws->cmd_set);
    stats_u64(c, "cmd_flush", ws->cmd_flush);
    stats_u64(c, "cmd_touch", ws->cmd_touch);
    stats_u64(c, "cmd_meta", ws->cmd_meta);
    stats_u64(c, "get_hits", ss->get_hits);
    stats_u64(c, "get_misses", ss->get_misses);
    stats_u64(c, "get_expired", ss->get_expired);
    stats_u64(c, "get_flushed", ss->get_flushed);
    stats_u64(c, "delete_misses", ss->delete_misses);
    stats_u64(c, "delete_hits", ss->delete_hits);
    stats_u64(c, "incr_misses", ss->incr_misses);
    stats_u64(c, "incr_hits", ss->incr_hits);
    stats_u64(c, "decr_misses", ss->decr_misses);
    stats_u64(c, "decr_hits", ss->decr_hits);
    stats_u64(c, "cas_misses", ss->cas_misses);
    stats_u64(c, "cas_hits", ss->cas_hits);
    stats_u64(c, "cas_badval", ss->cas_badval);
    stats_u64(c, "touch_hits", ss->touch_hits);
    stats_u64(c, "touch_misses", ss->touch_misses);
    stats_u64(c, "store_too_large", ss->store_too_large);
    stats_u64(c, "store_no_memory", ss->store_no_memory);
    stats_auth(c, srv);
}

/* Page moves, the crawler, the maintainer and the loggers, each printed
 * only when memcached would print it (the option is on). */
static void stats_general_threads(struct engine_client *c, struct server *srv, const struct store_stats *ss) {
    const struct settings *st = srv->settings;
    if (st->slab_reassign) {
        /* a reassign moves the page before it answers and items are one
         * chunk: chunk rescues, inline reclaims and busy counters stay 0 */
        stats_u64(c, "slab_reassign_rescues", ss->slab_reassign_rescues);
        stats_u64(c, "slab_reassign_chunk_rescues", 0);
        stats_u64(c, "slab_reassign_evictions_nomem", ss->slab_reassign_evictions_nomem);
        stats_u64(c, "slab_reassign_inline_reclaim", 0);
        stats_u64(c, "slab_reassign_busy_items", 0);
        stats_u64(c, "slab_reassign_busy_deletes", 0);
        stats_u64(c, "slab_reassign_running", 0);
        stats_u64(c, "slabs_moved", ss->slabs_moved);
    }
    if (store_crawler_enabled(srv->store)) { /* lru_crawler enable|disable moves it */
        stats_u64(c, "lru_crawler_running", ss->lru_crawler_running);
        stats_u64(c, "lru_crawler_starts", ss->lru_crawler_starts);
    }
    if (st->lru_maintainer)
        stats_u64(c, "lru_maintainer_juggles", 0);
    stats_u64(c, "malloc_fails", stats_atomic(&srv->malloc_fails));
    struct logger_stats ls;
    logger_stats(&ls);
    stats_u64(c, "log_worker_dropped", ls.worker_dropped);
    stats_u64(c, "log_worker_written", ls.worker_written);
    stats_u64(c, "log_watcher_skipped", ls.watcher_skipped);
    stats_u64(c, "log_watcher_sent", ls.watcher_sent);
    stats_u64(c, "log_watchers", ls.watchers);
    stats_tls(c, srv, clock_unix_now());
    stats_u64(c, "unexpected_napi_ids", 0);
    stats_u64(c, "round_robin_fallback", 0);
}

/* The item totals memcached appends to `stats`. */
static void stats_general_items(struct engine_client *c, struct server *srv, const struct store_stats *ss) {
    bool seg = srv->settings->lru_maintainer;
    stats_u64(c, "bytes", ss->bytes);
    stats_u64(c, "curr_items", ss->curr_items);
    stats_u64(c, "total_items", ss->total_items);
    stats_u64(c, "slab_global_page_pool", 0);
    stats_u64(c, "expired_unfetched", ss->expired_unfetched);
    stats_u64(c, "evicted_unfetched", ss->evicted_unfetched);
    if (seg)
        stats_u64(c, "evicted_active", ss->evicted_active);
    stats_u64(c, "evictions", ss->evictions);
    stats_u64(c, "reclaimed", ss->reclaimed);
    stats_u64(c, "crawler_reclaimed", ss->crawler_reclaimed);
    stats_u64(c, "crawler_items_checked", ss->crawler_items_checked);
    stats_u64(c, "lrutail_reflocked", 0);
    if (seg) {
        stats_u64(c, "moves_to_cold", 0);
        stats_u64(c, "moves_to_warm", 0);
        stats_u64(c, "moves_within_lru", 0);
        stats_u64(c, "direct_reclaims", ss->direct_reclaims);
        stats_u64(c, "lru_bumps_dropped", 0);
    }
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
    stats_general_conns(c, srv, &ws);
    stats_general_cmds(c, srv, &ws, &ss);
    if (srv->settings->idle_timeout != 0)
        stats_u64(c, "idle_kicks", ws.idle_kicks);
    stats_u64(c, "bytes_read", ws.bytes_read);
    stats_u64(c, "bytes_written", ws.bytes_written);
    stats_u64(c, "limit_maxbytes", ss.limit_maxbytes);
    stats_u64(c, "accepting_conns", __atomic_load_n(&srv->accepting, __ATOMIC_RELAXED));
    stats_u64(c, "listen_disabled_num", stats_atomic(&srv->listen_disabled_num));
    stats_u64(c, "time_in_listen_disabled_us", stats_atomic(&srv->time_in_listen_disabled_us));
    stats_u64(c, "threads", (uint64_t)srv->nworkers);
    stats_u64(c, "conn_yields", ws.conn_yields);
    stats_u64(c, "hash_power_level", ss.hash_power_level);
    stats_u64(c, "hash_bytes", ss.hash_bytes);
    stats_u64(c, "hash_is_expanding", ss.hash_is_expanding);
    stats_general_threads(c, srv, &ss);
    stats_general_items(c, srv, &ss);
    stats_restart(c); /* with -e only: memcached has no such names */
    stats_end(c);
}

/* Larder's own figures, which memcached's `stats` has no names for (a
 * client counting memcached's names must not meet extra ones there). */
static void stats_larder(struct engine_client *c) {
    struct server *srv = engine_worker(c)->srv;
    struct worker_stats ws;
    stats_sum_workers(srv, &ws);
    stats_u64(c, "udp_datagrams_received", ws.udp_received);
    stats_u64(c, "udp_datagrams_sent", ws.udp_sent);
    stats_u64(c, "udp_datagrams_dropped", ws.udp_dropped);
    stats_u64(c, "total_malloced", slab_total_malloced(store_slabs(srv->store)));
    stats_u64(c, "idle_kicks", ws.idle_kicks);
    stats_u64(c, "worker_yields", ws.worker_yields);
    /* the memory budget for what is not items (budget.h) */
    stats_u64(c, "conn_mem_bytes", budget_used(&srv->conn_mem));
    stats_u64(c, "conn_mem_limit", srv->conn_mem.limit);
    stats_u64(c, "conn_mem_refusals", budget_refusals(&srv->conn_mem));
    stats_u64(c, "upload_mem_bytes", budget_used(&srv->uploads));
    stats_u64(c, "upload_mem_limit", srv->uploads.limit);
    stats_u64(c, "upload_mem_waits", budget_refusals(&srv->uploads));
    /* long values sent from their items (store_pin) rather than copied */
    struct store_stats ss;
    store_stats(srv->store, &ss);
    stats_u64(c, "pinned_items", ss.pinned_items);
    stats_u64(c, "pinned_bytes", ss.pinned_bytes);
    stats_u64(c, "pinned_limit", ss.pin_limit);
    stats_u64(c, "pin_refusals", ss.pin_refusals);
    /* the -Y and -S failure brakes: replies held back, and attempts failed
     * unchecked while their address was being slowed */
    struct auth_stats as = {0}, bs = {0};
    if (srv->auth)
        auth_get_stats(srv->auth, &as);
    if (srv->sasl_brake)
        auth_get_stats(srv->sasl_brake, &bs);
    stats_u64(c, "auth_delayed", as.delayed + bs.delayed);
    stats_u64(c, "auth_throttled", as.throttled + bs.throttled);
    stats_end(c);
}

/* memcached's -l as given: the addresses joined with commas. */
static void stats_settings_inter(struct engine_client *c, const struct settings *st) {
    char inter[512] = "NULL";
    size_t n = 0;
    for (int i = 0; i < st->nlisten && n < sizeof(inter); i++)
        n += (size_t)snprintf(inter + n, sizeof(inter) - n, "%s%s", i ? "," : "", st->listen[i]);
    stats_line(c, "inter", "%s", inter);
}

/* The largest chunk: Larder never splits an item over chunks, so this is
 * its largest class, where memcached's default is half a page. */
static uint64_t stats_chunk_max(struct slabs *sl) {
    struct slab_class_stats cs;
    slab_class_stats(sl, slab_class_count(sl), &cs);
    return cs.chunk_size;
}

static void stats_settings_core(struct engine_client *c, struct server *srv) {
    const struct settings *st = srv->settings;
    stats_u64(c, "maxbytes", slab_limit(store_slabs(srv->store)));
    stats_u64(c, "maxconns", (uint64_t)st->maxconns);
    stats_line(c, "tcpport", "%d", st->port);
    stats_line(c, "udpport", "%d", st->udp_port);
    stats_settings_inter(c, st);
    stats_u64(c, "verbosity", (uint64_t)__atomic_load_n(&srv->verbose, __ATOMIC_RELAXED));
    stats_u64(c, "oldest", store_oldest_live(srv->store));
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
               __atomic_load_n(&srv->detail_enabled, __ATOMIC_RELAXED) ? "yes" : "no");
    stats_u64(c, "reqs_per_event", (uint64_t)st->reqs_per_event);
    stats_line(c, "cas_enabled", "%s", st->use_cas ? "yes" : "no");
    stats_u64(c, "tcp_backlog", (uint64_t)st->backlog);
    static const char *const protocols[] = {"auto-negotiate", "ascii", "binary"};
    stats_line(c, "binding_protocol", "%s", protocols[st->protocol]);
    stats_line(c, "auth_enabled_sasl", "%s", st->sasl ? "yes" : "no");
    stats_line(c, "auth_enabled_ascii", "%s", st->auth_file ? st->auth_file : "no");
    stats_u64(c, "item_size_max", st->item_size_max);
    stats_line(c, "maxconns_fast", "%s", st->maxconns_fast ? "yes" : "no");
    stats_u64(c, "hashpower_init", st->hashpower);
}

/* Page moves, the crawler and memcached's LRU knobs.  Larder's CLOCK has no
 * segments, temporary LRU or tail repair: those read as off. */
static void stats_settings_lru(struct engine_client *c, struct server *srv) {
    const struct settings *st = srv->settings;
    stats_line(c, "slab_reassign", "%s", st->slab_reassign ? "yes" : "no");
    stats_u64(c, "slab_automove", store_automove(srv->store)); /* as slabs automove set it */
    stats_line(c, "slab_automove_ratio", "%.2f", st->slab_automove_ratio);
    stats_u64(c, "slab_automove_window", st->slab_automove_window);
    stats_u64(c, "slab_chunk_max", stats_chunk_max(store_slabs(srv->store)));
    stats_line(c, "lru_crawler", "%s", store_crawler_enabled(srv->store) ? "yes" : "no");
    stats_u64(c, "lru_crawler_sleep", st->lru_crawler_sleep);
    stats_u64(c, "lru_crawler_tocrawl", st->lru_crawler_tocrawl);
    stats_u64(c, "tail_repair_time", 0);
    stats_line(c, "flush_enabled", "%s", st->flush_enabled ? "yes" : "no");
    stats_line(c, "dump_enabled", "%s", st->dump_enabled ? "yes" : "no");
    stats_line(c, "hash_algorithm", "siphash13");
    stats_line(c, "lru_maintainer_thread", "%s", st->lru_maintainer ? "yes" : "no");
    stats_line(c, "lru_segmented", "no");
    stats_u64(c, "hot_lru_pct", 0);
    stats_u64(c, "warm_lru_pct", 0);
    stats_line(c, "hot_max_factor", "0.00");
    stats_line(c, "warm_max_factor", "0.00");
    stats_line(c, "temp_lru", "no");
    stats_u64(c, "temporary_ttl", 0);
    stats_u64(c, "idle_timeout", st->idle_timeout);
    stats_u64(c, "watcher_logbuf_size", st->watcher_logbuf_size);
    stats_u64(c, "worker_logbuf_size", st->worker_logbuf_size);
    stats_u64(c, "read_buf_mem_limit", st->read_buf_mem_limit);
    stats_line(c, "track_sizes", "no");
    stats_line(c, "inline_ascii_response", "no");
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

/* extstore, which Larder refuses to be configured for: every figure reads
 * as absent; then TLS, which it has. */
static void stats_settings_absent(struct engine_client *c, const struct settings *st) {
    static const char *const ext_zero[] = {
        "ext_item_size", "ext_item_age", "ext_low_ttl", "ext_recache_rate", "ext_wbuf_size",
        "ext_compact_under", "ext_drop_under", "ext_max_sleep",
    };
    for (size_t i = 0; i < sizeof(ext_zero) / sizeof(ext_zero[0]); i++)
        stats_u64(c, ext_zero[i], 0);
    stats_line(c, "ext_max_frag", "0.00");
    stats_line(c, "slab_automove_freeratio", "0.000");
    stats_line(c, "ext_drop_unread", "no");
    stats_tls_settings(c, st);
    stats_line(c, "num_napi_ids", "(null)");
    const char *mf = engine_worker(c)->srv->settings->memory_file;
    stats_line(c, "memory_file", "%s", mf != NULL ? mf : "(null)");
}

static void stats_settings(struct engine_client *c) {
    struct server *srv = engine_worker(c)->srv;
    stats_settings_core(c, srv);
    stats_settings_lru(c, srv);
    stats_settings_absent(c, srv->settings);
    stats_line(c, "worker_yield", "%s", srv->settings->worker_yield ? "yes" : "no");
    stats_u64(c, "conn_mem_limit", srv->conn_mem.limit >> 20);
    stats_end(c);
}

/* --- per-class stats --------------------------------------------------------- */

static void stats_class_line(struct engine_client *c, const char *group, unsigned cls, const char *name,
                             uint64_t v) {
    char key[64];
    snprintf(key, sizeof(key), "%s%u:%s", group, cls, name);
    stats_u64(c, key, v);
}

/* The per-class counters kept by the store (one array, freed by the caller). */
static struct store_class_stats *stats_store_classes(struct engine_client *c) {
    struct store_class_stats *cls = calloc(SLAB_CLASS_MAX + 1, sizeof(*cls));
    if (cls == NULL) {
        engine_reply(c, "SERVER_ERROR out of memory writing stats");
        return NULL;
    }
    store_class_stats(engine_worker(c)->srv->store, cls);
    return cls;
}

/* One class of `stats items`.  Larder's one CLOCK per class is what
 * memcached's COLD LRU is (where eviction happens): every item counts as
 * cold, every hit as a hit to cold, and the segment moves are 0. */
static void stats_items_class(struct engine_client *c, unsigned i, const struct slab_class_stats *cs,
                              const struct store_class_stats *k, bool seg) {
    struct slabs *sl = store_slabs(engine_worker(c)->srv->store);
    rel_time_t oldest = slab_class_oldest(sl, i);
    stats_class_line(c, "items:", i, "number", cs->used_chunks);
    if (seg) {
        stats_class_line(c, "items:", i, "number_hot", 0);
        stats_class_line(c, "items:", i, "number_warm", 0);
        stats_class_line(c, "items:", i, "number_cold", cs->used_chunks);
        stats_class_line(c, "items:", i, "age_hot", 0);
        stats_class_line(c, "items:", i, "age_warm", 0);
    }
    stats_class_line(c, "items:", i, "age", oldest ? clock_now() - oldest : 0);
    stats_class_line(c, "items:", i, "mem_requested", k->mem_requested);
    stats_class_line(c, "items:", i, "evicted", cs->evicted);
    stats_class_line(c, "items:", i, "evicted_nonzero", cs->evicted_nonzero);
    stats_class_line(c, "items:", i, "evicted_time", cs->evicted_time);
    stats_class_line(c, "items:", i, "outofmemory", cs->outofmemory);
    stats_class_line(c, "items:", i, "tailrepairs", 0);
    stats_class_line(c, "items:", i, "reclaimed", cs->reclaimed + k->reclaimed);
    stats_class_line(c, "items:", i, "expired_unfetched", cs->expired_unfetched + k->expired_unfetched);
    stats_class_line(c, "items:", i, "evicted_unfetched", cs->evicted_unfetched);
    if (seg)
        stats_class_line(c, "items:", i, "evicted_active", cs->evicted_active);
    stats_class_line(c, "items:", i, "crawler_reclaimed", cs->crawler_reclaimed);
    stats_class_line(c, "items:", i, "crawler_items_checked", cs->crawler_checked);
    stats_class_line(c, "items:", i, "lrutail_reflocked", 0);
    if (seg) {
        stats_class_line(c, "items:", i, "moves_to_cold", 0);
        stats_class_line(c, "items:", i, "moves_to_warm", 0);
        stats_class_line(c, "items:", i, "moves_within_lru", 0);
        stats_class_line(c, "items:", i, "direct_reclaims", cs->direct_reclaims);
        stats_class_line(c, "items:", i, "hits_to_hot", 0);
        stats_class_line(c, "items:", i, "hits_to_warm", 0);
        stats_class_line(c, "items:", i, "hits_to_cold", k->get_hits + k->touch_hits);
        stats_class_line(c, "items:", i, "hits_to_temp", 0);
    }
}

static void stats_items(struct engine_client *c) {
    struct slabs *sl = store_slabs(engine_worker(c)->srv->store);
    struct store_class_stats *k = stats_store_classes(c);
    if (k == NULL)
        return;
    bool seg = engine_worker(c)->srv->settings->lru_maintainer;
    for (unsigned i = 1; i <= slab_class_count(sl); i++) {
        struct slab_class_stats cs;
        slab_class_stats(sl, i, &cs);
        if (cs.used_chunks != 0) /* memcached lists the classes holding items */
            stats_items_class(c, i, &cs, &k[i], seg);
    }
    free(k);
    stats_end(c);
}

static void stats_slabs(struct engine_client *c) {
    struct slabs *sl = store_slabs(engine_worker(c)->srv->store);
    struct store_class_stats *k = stats_store_classes(c);
    if (k == NULL)
        return;
    unsigned active = 0;
    for (unsigned i = 1; i <= slab_class_count(sl); i++) {
        struct slab_class_stats cs;
        slab_class_stats(sl, i, &cs);
        if (cs.pages == 0)
            continue;
        active++;
        stats_class_line(c, "", i, "chunk_size", cs.chunk_size);
        stats_class_line(c, "", i, "chunks_per_page", cs.per_page);
        stats_class_line(c, "", i, "total_pages", cs.pages);
        stats_class_line(c, "", i, "total_chunks", cs.pages * cs.per_page);
        stats_class_line(c, "", i, "used_chunks", cs.used_chunks);
        stats_class_line(c, "", i, "free_chunks", cs.free_chunks);
        /* pages are cut into the free list whole: none left at an end */
        stats_class_line(c, "", i, "free_chunks_end", 0);
        stats_class_line(c, "", i, "get_hits", k[i].get_hits);
        stats_class_line(c, "", i, "cmd_set", k[i].cmd_set);
        stats_class_line(c, "", i, "delete_hits", k[i].delete_hits);
        stats_class_line(c, "", i, "incr_hits", k[i].incr_hits);
        stats_class_line(c, "", i, "decr_hits", k[i].decr_hits);
        stats_class_line(c, "", i, "cas_hits", k[i].cas_hits);
        stats_class_line(c, "", i, "cas_badval", k[i].cas_badval);
        stats_class_line(c, "", i, "touch_hits", k[i].touch_hits);
        stats_class_line(c, "", i, "page_bytes", cs.page_bytes); /* Larder's pages vary */
    }
    free(k);
    stats_u64(c, "active_slabs", active);
    stats_u64(c, "total_malloced", slab_total_malloced(sl));
    stats_end(c);
}

/* One connection of `stats conns`, copied out under its worker's lock. */
struct stats_conn_row {
    int fd;
    bool listener, self;
    char addr[96];
    const char *listen_name, *state;
    rel_time_t last_cmd;
};

struct stats_conns_ctx {
    struct engine_client *c; /* the one asking */
    struct stats_conn_row *rows;
    size_t n, cap;
};

/* conn_each callback: one connection, as its worker last published it.  A
 * UDP socket's connection is named by its own address, as in memcached. */
static void stats_conn_one(void *arg, const struct engine_client *o, const struct conn_view *v) {
    struct stats_conns_ctx *x = arg;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 64;
        struct stats_conn_row *rows = realloc(x->rows, cap * sizeof(*rows));
        if (rows == NULL)
            return;
        x->rows = rows;
        x->cap = cap;
    }
    struct stats_conn_row *r = &x->rows[x->n++];
    *r = (struct stats_conn_row){.fd = v->fd, .self = o == x->c, .listen_name = v->listen_name,
                                 .state = v->state, .last_cmd = v->last_cmd};
    snprintf(r->addr, sizeof(r->addr), "%s", v->addr);
}

static int stats_conn_cmp(const void *a, const void *b) {
    const struct stats_conn_row *x = a, *y = b;
    return (x->fd > y->fd) - (x->fd < y->fd);
}

/* memcached's item-size histogram is off unless enabled; Larder has none. */
static void stats_sizes(struct engine_client *c) {
    stats_line(c, "sizes_status", "disabled");
    stats_end(c);
}

/* In descriptor order, as memcached lists them (tools take the last line
 * as the newest connection). */
static void stats_conns(struct engine_client *c) {
    struct server *srv = engine_worker(c)->srv;
    rel_time_t now = clock_now();
    struct stats_conns_ctx x = {.c = c};
    for (int i = 0; i < srv->nworkers; i++)
        conn_each(&srv->workers[i], stats_conn_one, &x);
    for (int i = 0; i < srv->nlisteners; i++) {
        struct conn_view v = {.fd = srv->listeners[i].fd, .addr = srv->listeners[i].name};
        size_t before = x.n;
        stats_conn_one(&x, NULL, &v);
        if (x.n > before)
            x.rows[before].listener = true;
    }
    qsort(x.rows, x.n, sizeof(*x.rows), stats_conn_cmp);
    char key[48];
    for (size_t i = 0; i < x.n; i++) {
        const struct stats_conn_row *r = &x.rows[i];
        bool udp = strncmp(r->addr, "udp", 3) == 0;
        if (udp) {
            snprintf(key, sizeof(key), "%d:UDP", r->fd);
            stats_line(c, key, "UDP");
        }
        snprintf(key, sizeof(key), "%d:addr", r->fd);
        stats_line(c, key, "%s", r->addr);
        if (r->listener) {
            snprintf(key, sizeof(key), "%d:state", r->fd);
            stats_line(c, key, "conn_listening");
            snprintf(key, sizeof(key), "%d:secs_since_last_cmd", r->fd);
            stats_u64(c, key, now); /* a listener's "last command" is its start */
            continue;
        }
        if (!udp) {
            snprintf(key, sizeof(key), "%d:listen_addr", r->fd);
            stats_line(c, key, "%s", r->listen_name);
        }
        snprintf(key, sizeof(key), "%d:state", r->fd);
        stats_line(c, key, "%s", r->self ? "conn_parse_cmd" : r->state);
        snprintf(key, sizeof(key), "%d:secs_since_last_cmd", r->fd);
        stats_u64(c, key, r->self ? 0 : now - r->last_cmd);
    }
    free(x.rows);
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
    return proto_fmt_uri(dst, src, n);
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
        if (engine_should_pause(c) && part + 1 < parts) {
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
    else if (proto_tok_is(sub, "extstore"))
        stats_end(c); /* memcached without an extstore configured: nothing */
    else if (proto_tok_is(sub, "larder"))
        stats_larder(c);
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
