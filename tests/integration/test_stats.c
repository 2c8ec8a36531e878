/*
 * The `stats` family as an operator's dashboards read it: every name
 * memcached 1.6.18 prints, in its order, counters that move when the
 * commands run, the -o options shown in `stats settings`, memcached's exit
 * codes and the MEMCACHED_PORT_FILENAME port file.
 *
 * The name lists are memcached 1.6.18's output with its default options
 * (Debian's build: extstore and TLS compiled in, neither configured).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(stats, .timeout = 300);

static const char *const general_names[] = {
    "pid", "uptime", "time", "version", "libevent", "pointer_size",
    "rusage_user", "rusage_system", "max_connections", "curr_connections", "total_connections",
    "rejected_connections", "connection_structures", "response_obj_oom", "response_obj_count",
    "response_obj_bytes", "read_buf_count", "read_buf_bytes", "read_buf_bytes_free", "read_buf_oom",
    "reserved_fds", "cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "cmd_meta", "get_hits",
    "get_misses", "get_expired", "get_flushed", "delete_misses", "delete_hits", "incr_misses",
    "incr_hits", "decr_misses", "decr_hits", "cas_misses", "cas_hits", "cas_badval", "touch_hits",
    "touch_misses", "store_too_large", "store_no_memory", "auth_cmds", "auth_errors", "bytes_read",
    "bytes_written", "limit_maxbytes", "accepting_conns", "listen_disabled_num",
    "time_in_listen_disabled_us", "threads", "conn_yields", "hash_power_level", "hash_bytes",
    "hash_is_expanding", "slab_reassign_rescues", "slab_reassign_chunk_rescues",
    "slab_reassign_evictions_nomem", "slab_reassign_inline_reclaim", "slab_reassign_busy_items",
    "slab_reassign_busy_deletes", "slab_reassign_running", "slabs_moved", "lru_crawler_running",
    "lru_crawler_starts", "lru_maintainer_juggles", "malloc_fails", "log_worker_dropped",
    "log_worker_written", "log_watcher_skipped", "log_watcher_sent", "log_watchers",
    "unexpected_napi_ids", "round_robin_fallback", "bytes", "curr_items", "total_items",
    "slab_global_page_pool", "expired_unfetched", "evicted_unfetched", "evicted_active", "evictions",
    "reclaimed", "crawler_reclaimed", "crawler_items_checked", "lrutail_reflocked", "moves_to_cold",
    "moves_to_warm", "moves_within_lru", "direct_reclaims", "lru_bumps_dropped", NULL,
};

static const char *const settings_names[] = {
    "maxbytes", "maxconns", "tcpport", "udpport", "inter", "verbosity", "oldest", "evictions",
    "domain_socket", "umask", "shutdown_command", "growth_factor", "chunk_size", "num_threads",
    "num_threads_per_udp", "stat_key_prefix", "detail_enabled", "reqs_per_event", "cas_enabled",
    "tcp_backlog", "binding_protocol", "auth_enabled_sasl", "auth_enabled_ascii", "item_size_max",
    "maxconns_fast", "hashpower_init", "slab_reassign", "slab_automove", "slab_automove_ratio",
    "slab_automove_window", "slab_chunk_max", "lru_crawler", "lru_crawler_sleep",
    "lru_crawler_tocrawl", "tail_repair_time", "flush_enabled", "dump_enabled", "hash_algorithm",
    "lru_maintainer_thread", "lru_segmented", "hot_lru_pct", "warm_lru_pct", "hot_max_factor",
    "warm_max_factor", "temp_lru", "temporary_ttl", "idle_timeout", "watcher_logbuf_size",
    "worker_logbuf_size", "read_buf_mem_limit", "track_sizes", "inline_ascii_response",
    "ext_item_size", "ext_item_age", "ext_low_ttl", "ext_recache_rate", "ext_wbuf_size",
    "ext_compact_under", "ext_drop_under", "ext_max_sleep", "ext_max_frag",
    "slab_automove_freeratio", "ext_drop_unread", "ssl_enabled", "ssl_chain_cert", "ssl_key",
    "ssl_verify_mode", "ssl_keyformat", "ssl_ciphers", "ssl_ca_cert", "ssl_wbuf_size",
    "ssl_session_cache", "ssl_kernel_tls", "ssl_min_version", "num_napi_ids", "memory_file", NULL,
};

static const char *const items_names[] = {
    "number", "number_hot", "number_warm", "number_cold", "age_hot", "age_warm", "age",
    "mem_requested", "evicted", "evicted_nonzero", "evicted_time", "outofmemory", "tailrepairs",
    "reclaimed", "expired_unfetched", "evicted_unfetched", "evicted_active", "crawler_reclaimed",
    "crawler_items_checked", "lrutail_reflocked", "moves_to_cold", "moves_to_warm",
    "moves_within_lru", "direct_reclaims", "hits_to_hot", "hits_to_warm", "hits_to_cold",
    "hits_to_temp", NULL,
};

static const char *const slabs_names[] = {
    "chunk_size", "chunks_per_page", "total_pages", "total_chunks", "used_chunks", "free_chunks",
    "free_chunks_end", "get_hits", "cmd_set", "delete_hits", "incr_hits", "decr_hits", "cas_hits",
    "cas_badval", "touch_hits", "active_slabs", "total_malloced", NULL,
};

/* --- helpers ------------------------------------------------------------------ */

static char *stats_text(const struct srv *s, const char *req) {
    int fd = cli_connect(s);
    cli_sends(fd, req);
    char *out = cli_read_until(fd, "END\r\n");
    close(fd);
    return out;
}

/* The names of "STAT name value" lines, with a first class's "N:" or
 * "items:N:" prefix taken off (lines of other classes are left out). */
static size_t stats_names(const char *text, char names[][64], size_t max) {
    size_t n = 0;
    long first_cls = -1;
    for (const char *p = text; (p = strstr(p, "STAT ")) != NULL && n < max; p += 5) {
        const char *name = p + 5;
        size_t len = strcspn(name, " ");
        char buf[64];
        snprintf(buf, sizeof(buf), "%.*s", (int)len, name);
        char *body = buf;
        if (strncmp(body, "items:", 6) == 0)
            body += 6;
        char *colon = strchr(body, ':');
        if (colon != NULL) {
            long cls = strtol(body, NULL, 10);
            if (first_cls < 0)
                first_cls = cls;
            if (cls != first_cls)
                continue;
            body = colon + 1;
        }
        snprintf(names[n++], 64, "%s", body);
    }
    return n;
}

/* Every expected name, in order; extras only where `extras_ok`. */
static void assert_names(const char *text, const char *const *want, bool extras_ok) {
    static char got[512][64];
    size_t n = stats_names(text, got, 512), j = 0;
    for (size_t i = 0; want[i] != NULL; i++) {
        size_t k = j;
        while (k < n && strcmp(got[k], want[i]) != 0)
            k++;
        cr_assert(k < n, "'%s' missing or out of memcached's order", want[i]);
        cr_assert(extras_ok || k == j, "'%s' comes before '%s', memcached has no such name", got[j],
                  want[i]);
        j = k + 1;
    }
    cr_assert(extras_ok || j == n, "'%s' after the last memcached name", j < n ? got[j] : "");
}

static uint64_t stat_of(const char *text, const char *name) {
    char pat[96];
    snprintf(pat, sizeof(pat), "STAT %s ", name);
    const char *p = strstr(text, pat);
    cr_assert(p != NULL, "%s missing", name);
    return strtoull(p + strlen(pat), NULL, 10);
}

static void stat_str(const char *text, const char *name, char *out, size_t len) {
    char pat[96];
    snprintf(pat, sizeof(pat), "STAT %s ", name);
    const char *p = strstr(text, pat);
    cr_assert(p != NULL, "%s missing", name);
    p += strlen(pat);
    snprintf(out, len, "%.*s", (int)strcspn(p, "\r"), p);
}

/* The class one item of key `key` sits in, from `stats items` keys. */
static unsigned class_of_only_item(const struct srv *s) {
    char *items = stats_text(s, "stats items\r\n");
    const char *p = strstr(items, "STAT items:");
    cr_assert(p != NULL, "no class holds an item");
    unsigned cls = (unsigned)strtoul(p + 11, NULL, 10);
    free(items);
    return cls;
}

static uint64_t class_stat(const struct srv *s, const char *group, unsigned cls, const char *name) {
    char req[32], key[96];
    snprintf(req, sizeof(req), "stats %s\r\n", group);
    snprintf(key, sizeof(key), "%s%u:%s", strcmp(group, "items") == 0 ? "items:" : "", cls, name);
    char *text = stats_text(s, req);
    uint64_t v = stat_of(text, key);
    free(text);
    return v;
}

/* --- names ---------------------------------------------------------------- */

Test(stats, every_memcached_name_in_memcached_order) {
    struct srv s;
    srv_start(&s, NULL);
    int fd = cli_connect(&s);
    cli_expect(fd, "set a 0 0 1\r\nx\r\n", "STORED\r\n");
    close(fd);
    char *t = stats_text(&s, "stats\r\n");
    assert_names(t, general_names, false); /* exactly: tools count them */
    free(t);
    t = stats_text(&s, "stats settings\r\n");
    assert_names(t, settings_names, true);
    free(t);
    t = stats_text(&s, "stats items\r\n");
    assert_names(t, items_names, false);
    free(t);
    t = stats_text(&s, "stats slabs\r\n");
    assert_names(t, slabs_names, true);
    free(t);
    cr_assert_eq(srv_stop(&s), 0);
}

/* memcached leaves out the figures of what is switched off: its own
 * t/stats.t counts 83 names with the crawler and maintainer off. */
Test(stats, names_follow_the_options) {
    struct srv s;
    const char *args[] = {"-o", "no_lru_crawler,no_lru_maintainer", NULL};
    srv_start(&s, args);
    char *t = stats_text(&s, "stats\r\n");
    char names[512][64];
    cr_assert_eq(stats_names(t, names, 512), 83);
    cr_assert_null(strstr(t, "lru_crawler_running"));
    cr_assert_null(strstr(t, "evicted_active"));
    cr_assert_null(strstr(t, "idle_kicks"), "memcached shows idle_kicks only with idle_timeout");
    free(t);
    cr_assert_eq(srv_stop(&s), 0);
    const char *modern[] = {"-o", "no_modern,idle_timeout=30", NULL};
    srv_start(&s, modern);
    t = stats_text(&s, "stats\r\n");
    cr_assert_null(strstr(t, "slab_reassign_running"));
    cr_assert_null(strstr(t, "rejected_connections"), "no_modern turns maxconns_fast off");
    cr_assert_not_null(strstr(t, "STAT idle_kicks 0\r\n"));
    free(t);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(stats, extstore_and_larder_groups) {
    struct srv s;
    srv_start(&s, NULL);
    int fd = cli_connect(&s);
    cli_expect(fd, "stats extstore\r\n", "END\r\n"); /* memcached with no extstore configured */
    cli_sends(fd, "stats larder\r\n");
    char *t = cli_read_until(fd, "END\r\n");
    cr_assert_not_null(strstr(t, "STAT udp_datagrams_received 0\r\n"));
    cr_assert_not_null(strstr(t, "STAT total_malloced "));
    free(t);
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}

/* --- counters ------------------------------------------------------------- */

Test(stats, get_flushed_and_reclaimed_count) {
    struct srv s;
    /* no crawler to free b first; no_modern is also how memcached (whose
     * issue_183.t this follows) reclaims at a store */
    const char *args[] = {"-o", "no_modern", NULL};
    srv_start(&s, args);
    int fd = cli_connect(&s);
    cli_expect(fd, "set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\n", "STORED\r\nSTORED\r\n");
    cli_expect(fd, "flush_all\r\n", "OK\r\n");
    cli_expect(fd, "get a\r\n", "END\r\n");
    char *t = stats_text(&s, "stats\r\n");
    cr_assert_eq(stat_of(t, "get_flushed"), 1);
    cr_assert_eq(stat_of(t, "get_misses"), 1);
    cr_assert_eq(stat_of(t, "reclaimed"), 0);
    free(t);
    cli_expect(fd, "set b 0 0 1\r\nz\r\n", "STORED\r\n");
    t = stats_text(&s, "stats\r\n");
    cr_assert_eq(stat_of(t, "reclaimed"), 1, "a set over the flushed b reuses it");
    cr_assert_eq(stat_of(t, "curr_items"), 1);
    free(t);
    cli_expect(fd, "get b\r\n", "VALUE b 0 1\r\nz\r\nEND\r\n");
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}

/* stats slabs' per-class counters (memcached_exporter needs cmd_set) and
 * stats items' mem_requested move with the commands. */
Test(stats, per_class_counters_move) {
    struct srv s;
    srv_start(&s, NULL);
    int fd = cli_connect(&s);
    cli_expect(fd, "set n 0 0 1\r\n5\r\n", "STORED\r\n");
    unsigned cls = class_of_only_item(&s);
    cr_assert_eq(class_stat(&s, "slabs", cls, "cmd_set"), 1);
    uint64_t req = class_stat(&s, "items", cls, "mem_requested");
    cr_assert_gt(req, 1);
    cli_expect(fd, "get n\r\n", "VALUE n 0 1\r\n5\r\nEND\r\n");
    cli_expect(fd, "incr n 2\r\n", "7\r\n");
    cli_expect(fd, "decr n 1\r\n", "6\r\n");
    cli_expect(fd, "touch n 0\r\n", "TOUCHED\r\n");
    cli_sends(fd, "gets n\r\n");
    char *r = cli_read_until(fd, "END\r\n");
    unsigned long long cas = 0;
    cr_assert_eq(sscanf(r, "VALUE n 0 1 %llu", &cas), 1);
    free(r);
    char req_s[96];
    snprintf(req_s, sizeof(req_s), "cas n 0 0 1 %llu\r\n8\r\n", cas + 1000);
    cli_expect(fd, req_s, "EXISTS\r\n");
    snprintf(req_s, sizeof(req_s), "cas n 0 0 1 %llu\r\n8\r\n", cas);
    cli_expect(fd, req_s, "STORED\r\n");
    char *t = stats_text(&s, "stats slabs\r\n");
    char key[64];
#define CLS(name) (snprintf(key, sizeof(key), "%u:%s", cls, name), stat_of(t, key))
    cr_assert_eq(CLS("get_hits"), 2);
    cr_assert_eq(CLS("incr_hits"), 1);
    cr_assert_eq(CLS("decr_hits"), 1);
    cr_assert_eq(CLS("touch_hits"), 1);
    cr_assert_eq(CLS("cas_badval"), 1);
    cr_assert_eq(CLS("cas_hits"), 1);
    cr_assert_eq(CLS("cmd_set"), 3);
    free(t);
    cli_expect(fd, "delete n\r\n", "DELETED\r\n");
    t = stats_text(&s, "stats slabs\r\n");
    cr_assert_eq(CLS("delete_hits"), 1);
#undef CLS
    free(t);
    t = stats_text(&s, "stats items\r\n");
    cr_assert_null(strstr(t, "STAT items:"), "an empty class is not listed, as in memcached");
    free(t);
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}

/* Evicting items that had an expiry time counts in evicted_nonzero; the
 * allocating client's own sweep did it (direct_reclaims). */
Test(stats, evicted_nonzero_and_direct_reclaims) {
    struct srv s;
    const char *args[] = {"-m", "2", NULL};
    srv_start(&s, args);
    int fd = cli_connect(&s);
    static char req[120 * 1024];
    char val[50000];
    memset(val, 'v', sizeof(val));
    for (int i = 0; i < 120; i++) {
        int n = snprintf(req, sizeof(req), "set k%d 0 %d %zu\r\n", i, i % 2 ? 0 : 10000, sizeof(val));
        memcpy(req + n, val, sizeof(val));
        memcpy(req + n + sizeof(val), "\r\n", 2);
        cli_send(fd, req, (size_t)n + sizeof(val) + 2);
        free(cli_read_until(fd, "\r\n"));
    }
    cli_sends(fd, "get k119\r\n");
    free(cli_read_until(fd, "END\r\n"));
    unsigned cls = class_of_only_item(&s);
    uint64_t evicted = class_stat(&s, "items", cls, "evicted");
    uint64_t nonzero = class_stat(&s, "items", cls, "evicted_nonzero");
    cr_assert_gt(evicted, 0);
    cr_assert_gt(nonzero, 0, "half the victims had an expiry time");
    cr_assert_lt(nonzero, evicted, "the other half had none");
    cr_assert_gt(srv_stat(&s, "direct_reclaims"), 0);
    cr_assert_eq(class_stat(&s, "items", cls, "hits_to_cold"), 1);
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(stats, reserved_fds_and_malloc_fails) {
    struct srv s;
    srv_start(&s, NULL);
    char *t = stats_text(&s, "stats\r\n");
    /* listeners, notify pipes, event bases, stdio: never none */
    cr_assert_geq(stat_of(t, "reserved_fds"), 5);
    cr_assert_eq(stat_of(t, "malloc_fails"), 0);
    cr_assert_eq(stat_of(t, "accepting_conns"), 1);
    free(t);
    cr_assert_eq(srv_stop(&s), 0);
}

static void expect_reply_version(int fd) {
    char *r = cli_read_until(fd, "\r\n");
    cr_assert(strncmp(r, "VERSION ", 8) == 0, "got '%s'", r);
    free(r);
}

static void expect_version(int fd) {
    cli_sends(fd, "version\r\n");
    expect_reply_version(fd);
}

/* -o no_maxconns_fast: at -c the server stops accepting (clients wait in the
 * backlog) and resumes when a connection goes; memcached counts the pause
 * in listen_disabled_num and time_in_listen_disabled_us. */
Test(stats, listen_disabled_when_conn_limit_reached) {
    struct srv s;
    const char *args[] = {"-c", "2", "-o", "no_maxconns_fast", NULL};
    srv_start(&s, args);
    /* served in turn (the harness's probe may still count for a moment) */
    int a = cli_connect(&s);
    expect_version(a);
    int b = cli_connect(&s);
    expect_version(b);
    int waiting = cli_connect(&s); /* in the backlog: no answer while a and b live */
    cli_sends(waiting, "version\r\n");
    struct pollfd p = {.fd = waiting, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 300), 0, "a connection over -c was served");
    close(a);
    expect_reply_version(waiting);
    cli_sends(waiting, "stats\r\n");
    char *t = cli_read_until(waiting, "END\r\n");
    cr_assert_geq(stat_of(t, "listen_disabled_num"), 1);
    cr_assert_gt(stat_of(t, "time_in_listen_disabled_us"), 0);
    cr_assert_null(strstr(t, "rejected_connections"), "nobody is turned away");
    free(t);
    close(b);
    close(waiting);
    cr_assert_eq(srv_stop(&s), 0);
}

/* --- stats settings and -o -------------------------------------------------- */

Test(stats, extended_options_shown_in_settings) {
    struct srv s;
    const char *args[] = {"-o",
                          "slab_automove=2,slab_automove_ratio=0.5,slab_automove_window=7,"
                          "lru_crawler_sleep=50,lru_crawler_tocrawl=9,watcher_logbuf_size=128,"
                          "worker_logbuf_size=32,no_lru_maintainer,hot_lru_pct=30,modern",
                          "-l", "127.0.0.1:0", NULL};
    srv_start(&s, args);
    char *t = stats_text(&s, "stats settings\r\n");
    char v[64];
    cr_assert_eq(stat_of(t, "slab_automove"), 2);
    stat_str(t, "slab_automove_ratio", v, sizeof(v));
    cr_assert_str_eq(v, "0.50");
    cr_assert_eq(stat_of(t, "slab_automove_window"), 7);
    cr_assert_eq(stat_of(t, "lru_crawler_sleep"), 50);
    cr_assert_eq(stat_of(t, "lru_crawler_tocrawl"), 9);
    cr_assert_eq(stat_of(t, "watcher_logbuf_size"), 128 * 1024);
    cr_assert_eq(stat_of(t, "worker_logbuf_size"), 32 * 1024);
    stat_str(t, "lru_maintainer_thread", v, sizeof(v));
    cr_assert_str_eq(v, "no");
    cr_assert_eq(stat_of(t, "hot_lru_pct"), 0, "Larder has no hot LRU: the knob is shown off");
    stat_str(t, "lru_segmented", v, sizeof(v));
    cr_assert_str_eq(v, "no");
    stat_str(t, "inter", v, sizeof(v));
    cr_assert_str_eq(v, "127.0.0.1,127.0.0.1:0");
    cr_assert_eq(stat_of(t, "read_buf_mem_limit"), 0, "none given");
    free(t);
    cr_assert_eq(srv_stop(&s), 0);

    const char *old[] = {"-o", "no_modern", NULL};
    srv_start(&s, old);
    t = stats_text(&s, "stats settings\r\n");
    stat_str(t, "slab_reassign", v, sizeof(v));
    cr_assert_str_eq(v, "no");
    cr_assert_eq(stat_of(t, "slab_automove"), 0);
    stat_str(t, "maxconns_fast", v, sizeof(v));
    cr_assert_str_eq(v, "no");
    stat_str(t, "lru_crawler", v, sizeof(v));
    cr_assert_str_eq(v, "no");
    free(t);
    cr_assert_eq(srv_stop(&s), 0);
}

/* --- exit codes ------------------------------------------------------------- */

/* Runs the binary with args (and env NAME=VALUE when given) to its exit;
 * returns its exit code. */
static int exit_code(const char *const *args) {
    const char *bin = getenv("LARDER_BIN");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        const char *argv[24] = {bin};
        int n = 1;
        for (int i = 0; args[i] && n < 23; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    double deadline = harness_now() + harness_wait_s();
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (harness_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            cr_assert_fail("%s %s did not exit", args[0], args[1] ? args[1] : "");
        }
        usleep(10000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(stats, memcached_exit_codes) {
    bool root = geteuid() == 0;
    struct {
        const char *args[8];
        int code;
    } cases[] = {
        {{"-c", "0", "-p", "0"}, 1},              /* a bad value: memcached's return 1 */
        {{"-t", "0", "-p", "0"}, 1},
        {{"-o", "slab_automove=3", "-p", "0"}, 1},
        {{"-o", "read_buf_mem_limit", "-p", "0"}, 1},   /* memcached: return 1 */
        {{"-o", "read_buf_mem_limit=x", "-p", "0"}, 1},
        {{"-B", "http", "-p", "0"}, 64},          /* EX_USAGE */
        {{"-I", "512", "-p", "0"}, 64},
        {{"-m", "1", "-I", "1m", "-p", "0"}, 64}, /* item above half the memory */
        {{"-p", "70000"}, 64},
        {{"-S", "-B", "ascii", "-p", "0"}, 64},   /* SASL is binary only */
        {{"-Z", "-p", "0"}, 64},                  /* TLS without a TCP port */
        {{"-Z", "-o", "ssl_chain_cert=/x.pem"}, 64}, /* a certificate that does not load */
        {{"-o", "proxy_config=/x.lua", "-p", "0"}, 64},
        {{"-l", "127.0.0.1:99999"}, 71},          /* cannot listen: EX_OSERR */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[12];
        int n = 0;
        for (int j = 0; cases[i].args[j]; j++)
            argv[n++] = cases[i].args[j];
        if (root) {
            argv[n++] = "-u";
            argv[n++] = "root";
        }
        argv[n] = NULL;
        cr_assert_eq(exit_code(argv), cases[i].code, "%s %s: exit code", cases[i].args[0],
                     cases[i].args[1] ? cases[i].args[1] : "");
    }
    /* a port in use: 71 in the foreground, and from a -d parent too */
    struct srv taken;
    srv_start(&taken, NULL);
    char port[16];
    snprintf(port, sizeof(port), "%d", taken.port);
    const char *fg[] = {"-p", port, "-l", "127.0.0.1", root ? "-u" : NULL, "root", NULL};
    cr_assert_eq(exit_code(fg), 71);
    const char *bg[] = {"-d", "-p", port, "-l", "127.0.0.1", root ? "-u" : NULL, "root", NULL};
    cr_assert_eq(exit_code(bg), 71);
    cr_assert_eq(srv_stop(&taken), 0);
    if (root) {
        const char *nouser[] = {"-u", "no-such-user-larder", "-p", "0", NULL};
        cr_assert_eq(exit_code(nouser), 67, "unknown -u user: EX_NOUSER");
        const char *nou[] = {"-p", "0", NULL};
        cr_assert_eq(exit_code(nou), 64, "root without -u: EX_USAGE");
    }
}

/* --- the port file ---------------------------------------------------------- */

/* Starts the server with MEMCACHED_PORT_FILENAME=path and args; returns its
 * pid once the file exists. */
static pid_t start_with_port_file(const char *path, const char *const *args) {
    const char *bin = getenv("LARDER_BIN");
    unlink(path);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        const char *argv[24] = {bin, "-l", "127.0.0.1"};
        int n = 3;
        if (geteuid() == 0) {
            argv[n++] = "-u";
            argv[n++] = "root";
        }
        for (int i = 0; args[i] && n < 23; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        setenv("MEMCACHED_PORT_FILENAME", path, 1);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    double deadline = harness_now() + harness_wait_s();
    struct stat st;
    while (stat(path, &st) != 0) {
        cr_assert(harness_now() < deadline, "no port file");
        cr_assert(waitpid(pid, NULL, WNOHANG) == 0, "the server exited");
        usleep(20000);
    }
    return pid;
}

static void stop_pid(pid_t pid) {
    struct srv s = {.pid = pid};
    cr_assert_eq(srv_stop(&s), 0);
}

/* "TCP INET: port" -> port, or -1 when the file has no such line. */
static int port_in(const char *path, const char *kind) {
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL);
    char line[128];
    int port = -1;
    size_t n = strlen(kind);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, kind, n) == 0 && strncmp(line + n, ": ", 2) == 0)
            port = atoi(line + n + 2);
    fclose(f);
    return port;
}

Test(stats, port_file_names_the_ports_bound) {
    char path[64], lck[80];
    snprintf(path, sizeof(path), "/tmp/larder-ports.%d", (int)getpid());
    snprintf(lck, sizeof(lck), "%s.lck", path);
    const char *any[] = {"-p", "-1", "-U", "-1", NULL};
    pid_t pid = start_with_port_file(path, any);
    int tcp = port_in(path, "TCP INET"), udp = port_in(path, "UDP INET");
    cr_assert_gt(tcp, 0, "-p -1: a port the kernel chose");
    cr_assert_gt(udp, 0);
    cr_assert_neq(access(lck, F_OK), 0, "the .lck file is renamed away");
    struct srv s = {.pid = pid, .port = tcp};
    int fd = cli_connect(&s);
    cli_sends(fd, "stats conns\r\n");
    char *t = cli_read_until(fd, "END\r\n");
    char want[64];
    snprintf(want, sizeof(want), "addr tcp:127.0.0.1:%d\r\n", tcp);
    cr_assert_not_null(strstr(t, want), "stats conns names the real port: %s", t);
    snprintf(want, sizeof(want), ":addr udp:127.0.0.1:%d\r\n", udp);
    cr_assert_not_null(strstr(t, want), "UDP sockets are listed as memcached lists them");
    cr_assert_not_null(strstr(t, ":UDP UDP\r\n"));
    free(t);
    char *set = stats_text(&s, "stats settings\r\n");
    cr_assert_not_null(strstr(set, "STAT tcpport -1\r\n"));
    free(set);
    close(fd);
    stop_pid(pid);

    const char *udp_only[] = {"-p", "0", "-U", "-1", NULL};
    pid = start_with_port_file(path, udp_only);
    cr_assert_eq(port_in(path, "TCP INET"), -1, "-p 0: no TCP");
    cr_assert_gt(port_in(path, "UDP INET"), 0);
    stop_pid(pid);
    unlink(path);
}
