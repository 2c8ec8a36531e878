/*
 * settings: memcached-compatible command line; see settings.h.
 *
 * Flags that memcached has and Larder has no use for (-k, -L, -r ...) are
 * accepted with a warning so that existing configurations keep working;
 * flags whose absence would make the server less safe or lose data (an
 * unknown -o ssl_*, -e) are refused with a clear message instead.  The
 * security flags (-S, -Y, -Z, -o ssl_*) are only recorded here; server/tls.c,
 * server/auth.c and server/sasl.c act on them.
 */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void settings_defaults(struct settings *s) {
    *s = (struct settings){
        .port = 11211,
        .udp_port = 0,
        .socket_mask = 0700,
        .maxbytes = 64u << 20,
        .evict = true,
        .maxconns = 1024,
        .threads = 4,
        .item_size_max = 1u << 20,
        .factor = 1.25,
        .chunk_size = 48,
        .use_cas = true,
        .reqs_per_event = 20,
        .backlog = 1024,
        .flush_enabled = true,
        .dump_enabled = true,
        .hashpower = 16,
        .lru_crawler = true,
        .slab_automove = 1,
        .watch_enabled = true,
        .worker_yield = true,
        .maxconns_fast = true,
        .lru_maintainer = true,
        .slab_reassign = true,
        .slab_automove_ratio = 0.8,
        .slab_automove_window = 30,
        .lru_crawler_sleep = 100,
        .watcher_logbuf_size = 256u << 10,
        .worker_logbuf_size = 64u << 10,
        .ssl_keyformat = 1,     /* SSL_FILETYPE_PEM */
        .ssl_min_version = 2,   /* TLS 1.2, as memcached */
        .ssl_wbuf_size = 16 * 1024,
    };
}

void settings_free(struct settings *s) {
    for (int i = 0; i < s->nlisten; i++)
        free(s->listen[i]);
    free(s->socket_path);
    free(s->pidfile);
    free(s->user);
    free(s->memory_file);
    free(s->auth_file);
    free(s->hash_user);
    free(s->ssl_chain_cert);
    free(s->ssl_key);
    free(s->ssl_ca_cert);
    free(s->ssl_ciphers);
    s->nlisten = 0;
    s->socket_path = s->pidfile = s->user = s->auth_file = s->hash_user = NULL;
    s->memory_file = NULL;
    s->ssl_chain_cert = s->ssl_key = s->ssl_ca_cert = s->ssl_ciphers = NULL;
}

const char *settings_tls_version_name(int level) {
    static const char *const names[] = {"tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"};
    return level >= 0 && level <= 3 ? names[level] : "unknown";
}

static bool settings_int(const char *arg, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool settings_parse_size(const char *arg, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || end == arg || arg[0] == '-')
        return false;
    unsigned shift = 0;
    switch (tolower((unsigned char)*end)) {
    case '\0': break;
    case 'k': shift = 10; end++; break;
    case 'm': shift = 20; end++; break;
    case 'g': shift = 30; end++; break;
    default: return false;
    }
    if (*end != '\0' || v > (SIZE_MAX >> shift))
        return false;
    *out = (size_t)v << shift;
    return true;
}

static void settings_usage(void) {
    printf("larder %s, a memcached-compatible cache server\n"
           "-p, --port=<num>          TCP port to listen on (default: 11211)\n"
           "-U, --udp-port=<num>      UDP port to listen on (default: 0, off)\n"
           "-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)\n"
           "-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)\n"
           "-A, --enable-shutdown     enable ascii \"shutdown\" command\n"
           "-l, --listen=<addr>       interface(s) to listen on, comma separated, each\n"
           "                          addr or addr:port or [ipv6]:port (default: 127.0.0.1)\n"
           "-d, --daemon              run as a daemon\n"
           "-u, --user=<user>         assume identity of <username> (required as root)\n"
           "-m, --memory-limit=<num>  item memory in megabytes (default: 64)\n"
           "-M, --disable-evictions   return error on memory exhausted instead of evicting\n"
           "-c, --conn-limit=<num>    max simultaneous connections (default: 1024)\n"
           "-v, --verbose             verbose (-vv: also client commands)\n"
           "-h, --help                print this help and exit\n"
           "-V, --version             print version and exit\n"
           "-P, --pidfile=<file>      save PID in <file>, only used with -d option\n"
           "-f, --slab-growth-factor=<num> accepted, must be > 1: classes above 256 bytes are spaced\n"
           "                          to use every class id (about 1.15 with -I 1m)\n"
           "-n, --slab-min-size=<bytes> min space used for key+value+flags (default: 48)\n"
           "-t, --threads=<num>       number of threads to use (default: 4)\n"
           "-R, --max-reqs-per-event  max requests per event per connection (default: 20)\n"
           "-C, --disable-cas         disable use of CAS\n"
           "-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)\n"
           "-B, --protocol=<name>     protocol: auto, ascii or binary (default: auto,\n"
           "                          binary when a request starts with byte 0x80)\n"
           "-I, --max-item-size=<num> max item size, k/m suffixes (default: 1m, min: 1k, max: 1024m)\n"
           "-e, --memory-file=<file>  keep item memory in a mapped <file> (put it on tmpfs):\n"
           "                          items survive a restart with the same -m, -I, -f, -n\n"
           "                          (stop with SIGUSR1 or shutdown graceful), and a crash\n"
           "-F, --disable-flush-all   disable flush_all command\n"
           "-X, --disable-dumping     disable stats cachedump and lru_crawler metadump\n"
           "-S, --enable-sasl         turn on Sasl authentication (binary protocol)\n"
           "-Y, --auth-file=<file>    (EXPERIMENTAL) enable ASCII protocol authentication. format:\n"
           "                          user:pass\\nuser2:pass2\\n; a password may be a crypt(3)\n"
           "                          yescrypt hash: see larder --hash-password\n"
           "-Z, --enable-ssl          enable TLS/SSL\n"
           "--hash-password=<user>    read a password on stdin, print a -Y line\n"
           "                          'user:$y$...' (yescrypt) and exit\n"
           "-W, --disable-watch       disable watch commands (live logging)\n"
           "-o, --extended            comma separated list of extended options:\n"
           "   - idle_timeout=<secs>: close connections idle this long (default: 0, never);\n"
           "                          a value that trickles in counts as idle\n"
           "   - conn_mem_limit=<mb>: memory for connection buffers, unfinished lines and\n"
           "                          queued replies (default: -m / 4, at least 32)\n"
           "   - read_buf_mem_limit=<mb>: memcached's name for conn_mem_limit (0: the default)\n"
           "   - oom_score_adj=<n>:   write n to /proc/self/oom_score_adj at start\n"
           "   - hashpower=<n>:       initial hash table size, log2 (default: 16)\n"
           "   - no_lru_crawler:      disable the background expiry crawler\n"
           "   - slab_automove=<0|1|2>: move memory pages between size classes (default: 1)\n"
           "   - no_slab_reassign, no_lru_maintainer, no_maxconns_fast, no_modern,\n"
           "     slab_automove_ratio, slab_automove_window, lru_crawler_sleep,\n"
           "     lru_crawler_tocrawl, watcher_logbuf_size, worker_logbuf_size: as memcached's,\n"
           "     shown in stats settings (docs/STATS.md says what each changes)\n"
           "   - worker_yield=<0|1>:  yield the core between busy event batches (default: 1)\n"
           "   - memory_file=<file>:  as -e\n"
           "   - ssl_chain_cert:      certificate chain file in PEM format\n"
           "   - ssl_key:             private key, if not part of the -ssl_chain_cert\n"
           "   - ssl_keyformat:       private key format (1 = PEM, 2 = DER) (default: 1)\n"
           "   - ssl_verify_mode:     peer certificate verification mode, default is 0(None).\n"
           "                          valid values are 0(None), 1(Request), 2(Require)\n"
           "                          or 3(Once)\n"
           "   - ssl_ciphers:         specify cipher list to be used\n"
           "   - ssl_ca_cert:         PEM format file of acceptable client CA's\n"
           "   - ssl_wbuf_size:       size in kilobytes of per-connection SSL output buffer\n"
           "                          (default: 16)\n"
           "   - ssl_session_cache:   enable server-side SSL session cache, to support session\n"
           "                          resumption\n"
           "   - ssl_kernel_tls:      enable kernel TLS offload\n"
           "   - ssl_min_version:     minimum protocol version to accept (default: tlsv1.2)\n"
           "                          valid values are 0(tlsv1.0), 1(tlsv1.1), 2(tlsv1.2)\n"
           "                          or 3(tlsv1.3).\n"
           "   other memcached options are accepted and ignored with a warning\n",
           LARDER_VERSION);
}

/* -l takes a list separated by ',' or ';' (as memcached); an entry
 * "notls:ADDR[:PORT]" listens without TLS when -Z is on. */
static bool settings_add_listen(struct settings *s, const char *arg) {
    char *copy = strdup(arg);
    char *save = NULL;
    bool ok = copy != NULL;
    for (char *t = copy ? strtok_r(copy, ";,", &save) : NULL; ok && t; t = strtok_r(NULL, ";,", &save)) {
        bool notls = strncmp(t, "notls:", 6) == 0;
        if (notls)
            t += 6;
        if (s->nlisten == SETTINGS_MAX_LISTEN || *t == '\0') {
            ok = false;
            break;
        }
        s->listen_notls[s->nlisten] = notls;
        s->listen[s->nlisten++] = strdup(t);
    }
    free(copy);
    return ok;
}

/* -o options whose absence would make the server less safe (ssl_*), lose
 * data (ext_* for extstore) or send data elsewhere than meant (proxy_*
 * would make a router a plain cache). */
static bool settings_extended_unsafe(const char *name) {
    return strncmp(name, "ext_", 4) == 0 || strncmp(name, "proxy_", 6) == 0;
}

static bool settings_memory_file(struct settings *s, const char *path) {
    if (path == NULL || *path == '\0') {
        fprintf(stderr, "larder: -e and -o memory_file need a file name\n");
        return false;
    }
    free(s->memory_file);
    s->memory_file = strdup(path);
    return s->memory_file != NULL;
}

static bool settings_double(const char *arg, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end != '\0' || !(v > min && v < max))
        return false;
    *out = v;
    return true;
}

/* memcached's no_modern: its pre-1.5 defaults, as far as Larder has them. */
static void settings_no_modern(struct settings *s) {
    s->slab_reassign = false;
    s->slab_automove = 0;
    s->maxconns_fast = false;
    s->lru_crawler = false;
    s->lru_maintainer = false;
}

static bool settings_set_str(char **dst, const char *name, const char *val) {
    if (val == NULL || *val == '\0') {
        fprintf(stderr, "Missing %s argument\n", name);
        return false;
    }
    free(*dst);
    *dst = strdup(val);
    return *dst != NULL;
}

/* memcached's -o ssl_* options, same names and values; ssl_min_version
 * also takes the names stats show ("tlsv1.3").  1 handled, 0 not an ssl_
 * option Larder knows, -1 a bad value (message printed). */
static int settings_ssl_option(struct settings *s, const char *name, const char *val) {
    long v;
    if (strcmp(name, "ssl_chain_cert") == 0)
        return settings_set_str(&s->ssl_chain_cert, name, val) ? 1 : -1;
    if (strcmp(name, "ssl_key") == 0)
        return settings_set_str(&s->ssl_key, name, val) ? 1 : -1;
    if (strcmp(name, "ssl_ca_cert") == 0)
        return settings_set_str(&s->ssl_ca_cert, name, val) ? 1 : -1;
    if (strcmp(name, "ssl_ciphers") == 0)
        return settings_set_str(&s->ssl_ciphers, name, val) ? 1 : -1;
    if (strcmp(name, "ssl_session_cache") == 0) {
        s->ssl_session_cache = true;
        return 1;
    }
    if (strcmp(name, "ssl_kernel_tls") == 0) {
        s->ssl_kernel_tls = true;
        return 1;
    }
    bool known = strcmp(name, "ssl_verify_mode") == 0 || strcmp(name, "ssl_keyformat") == 0 ||
                 strcmp(name, "ssl_wbuf_size") == 0 || strcmp(name, "ssl_min_version") == 0;
    if (!known)
        return 0;
    if (val == NULL) {
        fprintf(stderr, "Missing %s argument\n", name);
        return -1;
    }
    if (strcmp(name, "ssl_min_version") == 0) {
        for (int level = 0; level <= 3; level++)
            if (strcmp(val, settings_tls_version_name(level)) == 0) {
                s->ssl_min_version = level;
                return 1;
            }
    }
    if (!settings_int(val, 0, INT_MAX, &v)) {
        fprintf(stderr, "could not parse argument to %s\n", name);
        return -1;
    }
    if (strcmp(name, "ssl_verify_mode") == 0) {
        if (v > 3) {
            fprintf(stderr, "Invalid ssl_verify_mode. Use help to see valid options.\n");
            return -1;
        }
        s->ssl_verify_mode = (int)v;
    } else if (strcmp(name, "ssl_min_version") == 0) {
        if (v > 3) {
            fprintf(stderr, "Invalid ssl_min_version. Use help to see valid options.\n");
            return -1;
        }
        s->ssl_min_version = (int)v;
    } else if (strcmp(name, "ssl_keyformat") == 0) {
        s->ssl_keyformat = (int)v;
    } else {
        if (v == 0 || v > 1024) {
            fprintf(stderr, "could not parse argument to %s\n", name);
            return -1;
        }
        s->ssl_wbuf_size = (unsigned)v * 1024; /* kilobytes */
    }
    return 1;
}

/* One "name[=value]" of -o.  SETTINGS_OK when taken or ignored with a
 * warning; memcached's messages and codes otherwise. */
static enum settings_result settings_suboption(struct settings *s, const char *t, const char *val) {
    long v;
    double d;
    int ssl = strncmp(t, "ssl_", 4) == 0 ? settings_ssl_option(s, t, val) : 0;
    if (ssl != 0)
        return ssl > 0 ? SETTINGS_OK : SETTINGS_ERROR;
    if (strncmp(t, "ssl_", 4) == 0) {
        /* memcached: "Illegal suboption", status 1 */
        fprintf(stderr, "larder: unknown TLS option -o %s; refusing to start without it\n", t);
        return SETTINGS_ERROR;
    }
#define SUB_IS(name) (strcmp(t, name) == 0)
#define SUB_BAD(msg) do { fprintf(stderr, "larder: " msg "\n"); return SETTINGS_ERROR; } while (0)
    if (SUB_IS("idle_timeout") || SUB_IS("oom_score_adj") || SUB_IS("hashpower")) {
        long lo = SUB_IS("oom_score_adj") ? -1000 : SUB_IS("hashpower") ? 12 : 0;
        long hi = SUB_IS("oom_score_adj") ? 1000 : SUB_IS("hashpower") ? 32 : INT_MAX;
        if (val == NULL || !settings_int(val, lo, hi, &v)) {
            fprintf(stderr, "larder: bad value for -o %s\n", t);
            return SETTINGS_ERROR;
        }
        if (SUB_IS("idle_timeout"))
            s->idle_timeout = (unsigned)v;
        else if (SUB_IS("hashpower"))
            s->hashpower = (unsigned)v;
        else {
            s->oom_score_adj = (int)v;
            s->oom_score_set = true;
        }
    } else if (SUB_IS("memory_file")) {
        if (!settings_memory_file(s, val))
            return SETTINGS_ERROR;
    } else if (SUB_IS("conn_mem_limit")) {
        if (val == NULL || !settings_int(val, 1, 1 << 20, &v)) {
            fprintf(stderr, "larder: bad value for -o %s\n", t);
            return SETTINGS_ERROR;
        }
        s->conn_mem_limit = (size_t)v << 20;
    } else if (SUB_IS("read_buf_mem_limit")) {
        /* memcached's limit on its connections' read and response buffers:
         * Larder's connection budget is that memory (its 0, unlimited,
         * leaves Larder's default budget, never none) */
        if (val == NULL) {
            fprintf(stderr, "Missing read_buf_mem_limit argument\n");
            return SETTINGS_ERROR;
        }
        if (!settings_int(val, 0, 1 << 20, &v)) {
            fprintf(stderr, "could not parse argument to read_buf_mem_limit\n");
            return SETTINGS_ERROR;
        }
        s->read_buf_mem_limit = (size_t)v << 20;
        if (v > 0)
            s->conn_mem_limit = (size_t)v << 20;
    } else if (SUB_IS("slab_automove")) {
        if (val == NULL || !settings_int(val, 0, 2, &v))
            SUB_BAD("slab_automove must be between 0 and 2");
        s->slab_automove = (unsigned)v;
    } else if (SUB_IS("slab_automove_ratio")) {
        if (val == NULL || !settings_double(val, 0, 1, &d))
            SUB_BAD("slab_automove_ratio must be > 0 and < 1");
        s->slab_automove_ratio = d;
    } else if (SUB_IS("slab_automove_window")) {
        if (val == NULL || !settings_int(val, 3, INT_MAX, &v))
            SUB_BAD("slab_automove_window must be > 2");
        s->slab_automove_window = (unsigned)v;
    } else if (SUB_IS("lru_crawler_sleep")) {
        if (val == NULL || !settings_int(val, 0, 1000000, &v))
            SUB_BAD("LRU crawler sleep must be between 0 and 1 second");
        s->lru_crawler_sleep = (unsigned)v;
    } else if (SUB_IS("lru_crawler_tocrawl")) {
        if (val == NULL || !settings_int(val, 0, LONG_MAX, &v))
            SUB_BAD("Missing lru_crawler_tocrawl argument");
        s->lru_crawler_tocrawl = (unsigned long)v;
    } else if (SUB_IS("watcher_logbuf_size") || SUB_IS("worker_logbuf_size")) {
        if (val == NULL || !settings_int(val, 1, (long)(UINT_MAX >> 10), &v)) {
            fprintf(stderr, "larder: could not parse argument to %s\n", t);
            return SETTINGS_ERROR;
        }
        *(SUB_IS("watcher_logbuf_size") ? &s->watcher_logbuf_size : &s->worker_logbuf_size) =
            (unsigned)v << 10;
    } else if (SUB_IS("worker_yield")) {
        if (val == NULL || !settings_int(val, 0, 1, &v))
            SUB_BAD("bad value for -o worker_yield");
        s->worker_yield = v != 0;
    } else if (SUB_IS("lru_crawler") || SUB_IS("no_lru_crawler")) {
        s->lru_crawler = SUB_IS("lru_crawler");
    } else if (SUB_IS("lru_maintainer") || SUB_IS("no_lru_maintainer")) {
        s->lru_maintainer = SUB_IS("lru_maintainer");
    } else if (SUB_IS("slab_reassign") || SUB_IS("no_slab_reassign")) {
        s->slab_reassign = SUB_IS("slab_reassign");
    } else if (SUB_IS("no_slab_automove")) {
        s->slab_automove = 0;
    } else if (SUB_IS("maxconns_fast") || SUB_IS("no_maxconns_fast")) {
        s->maxconns_fast = SUB_IS("maxconns_fast");
    } else if (SUB_IS("no_modern")) {
        settings_no_modern(s);
    } else if (SUB_IS("modern")) {
        /* memcached: "currently no new defaults" */
    } else if (settings_extended_unsafe(t)) {
        /* never silently weaker: TLS settings that were meant to encrypt,
         * an extstore or memory file meant to keep data, a proxy config */
        fprintf(stderr, "larder: -o %s is not supported yet; refusing to start without it\n", t);
        return SETTINGS_USAGE;
    } else {
        fprintf(stderr, "larder: warning: ignoring -o %s%s%s\n", t, val ? "=" : "", val ? val : "");
    }
#undef SUB_IS
#undef SUB_BAD
    return SETTINGS_OK;
}

static enum settings_result settings_extended(struct settings *s, const char *arg) {
    char *copy = strdup(arg);
    char *save = NULL;
    enum settings_result r = copy != NULL ? SETTINGS_OK : SETTINGS_ERROR;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; r == SETTINGS_OK && t;
         t = strtok_r(NULL, ",", &save)) {
        char *val = strchr(t, '=');
        if (val)
            *val++ = '\0';
        r = settings_suboption(s, t, val);
    }
    free(copy);
    return r;
}

static enum settings_result settings_fail(const char *what, const char *arg) {
    fprintf(stderr, "larder: %s: '%s'\n", what, arg ? arg : "");
    return SETTINGS_ERROR;
}

/* The same, for what memcached rejects with EX_USAGE. */
static enum settings_result settings_usage_fail(const char *what, const char *arg) {
    settings_fail(what, arg);
    return SETTINGS_USAGE;
}

/* -p and -U: memcached takes -1 for "any free port" (its test suite uses
 * it with MEMCACHED_PORT_FILENAME) and refuses ports above 65535 with
 * EX_USAGE. */
static enum settings_result settings_port(const char *arg, const char *what, int *out) {
    long v;
    if (!settings_int(arg, -1, LONG_MAX, &v))
        return settings_fail(what, arg);
    if (v > 65535)
        return settings_usage_fail(what, arg);
    *out = (int)v;
    return SETTINGS_OK;
}

static enum settings_result settings_opt(struct settings *s, int c, const char *arg) {
    long v;
    size_t sz;
    switch (c) {
    case 'p': return settings_port(arg, "bad TCP port (-p)", &s->port);
    case 'U': return settings_port(arg, "bad UDP port (-U)", &s->udp_port);
    case 's': free(s->socket_path); s->socket_path = strdup(arg); break;
    case 'a':
        if (!settings_int(arg, 0, 0777, &v) && sscanf(arg, "%lo", (unsigned long *)&v) != 1)
            return settings_fail("bad unix socket mask (-a)", arg);
        s->socket_mask = (int)strtol(arg, NULL, 8);
        break;
    case 'A': s->shutdown_command = true; break;
    case 'l':
        if (!settings_add_listen(s, arg)) return settings_fail("bad listen address (-l)", arg);
        break;
    case 'd': s->daemonize = true; break;
    case 'u': free(s->user); s->user = strdup(arg); break;
    case 'm':
        if (!settings_parse_size(arg, &sz) || sz == 0) return settings_fail("bad memory limit (-m)", arg);
        /* a bare number is megabytes, as in memcached */
        s->maxbytes = isdigit((unsigned char)arg[strlen(arg) - 1]) ? sz << 20 : sz;
        break;
    case 'M': s->evict = false; break;
    case 'c':
        if (!settings_int(arg, 1, 1 << 20, &v)) return settings_fail("bad connection limit (-c)", arg);
        s->maxconns = (int)v;
        break;
    case 'v': s->verbose++; break;
    case 'P': free(s->pidfile); s->pidfile = strdup(arg); break;
    case 'f':
        s->factor = strtod(arg, NULL);
        if (s->factor <= 1.0) return settings_fail("factor (-f) must be greater than 1", arg);
        break;
    case 'n':
        if (!settings_int(arg, 1, 1 << 20, &v)) return settings_fail("bad chunk size (-n)", arg);
        s->chunk_size = (size_t)v;
        break;
    case 't':
        if (!settings_int(arg, 1, 256, &v)) return settings_fail("bad number of threads (-t)", arg);
        s->threads = (int)v;
        break;
    case 'R':
        if (!settings_int(arg, 1, INT_MAX, &v)) return settings_fail("bad requests per event (-R)", arg);
        s->reqs_per_event = (int)v;
        break;
    case 'C': s->use_cas = false; break;
    case 'b':
        if (!settings_int(arg, 1, INT_MAX, &v)) return settings_fail("bad backlog (-b)", arg);
        s->backlog = (int)v;
        break;
    case 'B':
        s->protocol_set = true;
        if (strcmp(arg, "auto") == 0)
            s->protocol = SETTINGS_PROTO_AUTO;
        else if (strcmp(arg, "ascii") == 0)
            s->protocol = SETTINGS_PROTO_ASCII;
        else if (strcmp(arg, "binary") == 0)
            s->protocol = SETTINGS_PROTO_BINARY;
        else
            return settings_usage_fail("protocol (-B) must be auto, ascii or binary", arg);
        break;
    case 'I':
        if (!settings_parse_size(arg, &sz))
            return settings_fail("bad item size (-I)", arg);
        if (sz < 1024 || sz > (1024u << 20))
            return settings_usage_fail("item size (-I) must be between 1k and 1024m", arg);
        s->item_size_max = sz;
        break;
    case 'F': s->flush_enabled = false; break;
    case 'X': s->dump_enabled = false; break;
    case 'o':
        return settings_extended(s, arg);
    case 'W':
        s->watch_enabled = false;
        break;
    case 'k': case 'L': case 'r':
        fprintf(stderr, "larder: warning: ignoring -%c\n", c);
        break;
    case 'D':
        fprintf(stderr, "larder: warning: ignoring -%c %s\n", c, arg);
        break;
    case 'S': s->sasl = true; break;
    case 'Y': free(s->auth_file); s->auth_file = strdup(arg); break;
    case 'Z': s->ssl_enabled = true; break;
    case 'H': free(s->hash_user); s->hash_user = strdup(arg); break;
    /* Never silently weaker: a server told to keep its items across a
     * restart must not start empty instead. */
    case 'e':
        return settings_memory_file(s, arg) ? SETTINGS_OK : SETTINGS_ERROR;
    default:
        return SETTINGS_ERROR;
    }
    return SETTINGS_OK;
}

/* The combinations memcached refuses, with its messages; the protocol
 * that -S (binary) and -Y (ASCII) imply when -B is not given. */
static enum settings_result settings_check_security(struct settings *s) {
    if (s->sasl) {
        if (s->protocol_set && s->protocol != SETTINGS_PROTO_BINARY) {
            fprintf(stderr, "ERROR: You cannot allow the ASCII protocol while using SASL.\n");
            return SETTINGS_USAGE;
        }
        s->protocol = SETTINGS_PROTO_BINARY;
        if (s->udp_port) {
            fprintf(stderr, "ERROR: Cannot enable UDP while using binary SASL authentication.\n");
            return SETTINGS_USAGE;
        }
    }
    if (s->auth_file) {
        if (s->protocol_set && s->protocol != SETTINGS_PROTO_ASCII) {
            fprintf(stderr, "ERROR: You cannot allow the BINARY protocol while using ascii "
                            "authentication tokens.\n");
            return SETTINGS_USAGE;
        }
        s->protocol = SETTINGS_PROTO_ASCII;
        if (s->udp_port) {
            fprintf(stderr, "Cannot use UDP with ascii authentication enabled (-U 0 to disable)\n");
            return SETTINGS_USAGE;
        }
    }
    for (int i = 0; i < s->nlisten; i++)
        if (s->listen_notls[i] && !s->ssl_enabled) {
            fprintf(stderr, "'notls' option is valid only when SSL is enabled\n");
            return SETTINGS_ERROR;
        }
    if (s->ssl_enabled && s->port == 0) {
        fprintf(stderr, "ERROR: You cannot enable SSL without a TCP port.\n");
        return SETTINGS_USAGE;
    }
    return SETTINGS_OK;
}

enum settings_result settings_parse(struct settings *s, int argc, char **argv) {
    static const struct option longopts[] = {
        {"port", required_argument, 0, 'p'},          {"udp-port", required_argument, 0, 'U'},
        {"unix-socket", required_argument, 0, 's'},   {"unix-mask", required_argument, 0, 'a'},
        {"enable-shutdown", no_argument, 0, 'A'},     {"listen", required_argument, 0, 'l'},
        {"daemon", no_argument, 0, 'd'},              {"enable-coredumps", no_argument, 0, 'r'},
        {"user", required_argument, 0, 'u'},          {"memory-limit", required_argument, 0, 'm'},
        {"disable-evictions", no_argument, 0, 'M'},   {"conn-limit", required_argument, 0, 'c'},
        {"lock-memory", no_argument, 0, 'k'},         {"verbose", optional_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},                {"license", no_argument, 0, 'i'},
        {"version", no_argument, 0, 'V'},             {"pidfile", required_argument, 0, 'P'},
        {"slab-growth-factor", required_argument, 0, 'f'},
        {"slab-min-size", required_argument, 0, 'n'}, {"enable-largepages", no_argument, 0, 'L'},
        {"threads", required_argument, 0, 't'},       {"max-reqs-per-event", required_argument, 0, 'R'},
        {"disable-cas", no_argument, 0, 'C'},         {"listen-backlog", required_argument, 0, 'b'},
        {"protocol", required_argument, 0, 'B'},      {"max-item-size", required_argument, 0, 'I'},
        {"enable-sasl", no_argument, 0, 'S'},         {"disable-flush-all", no_argument, 0, 'F'},
        {"disable-dumping", no_argument, 0, 'X'},     {"disable-watch", no_argument, 0, 'W'},
        {"extended", required_argument, 0, 'o'},      {"memory-file", required_argument, 0, 'e'},
        {"auth-file", required_argument, 0, 'Y'},     {"enable-ssl", no_argument, 0, 'Z'},
        {"hash-password", required_argument, 0, 'H'},
        {0, 0, 0, 0},
    };
    int c;
    bool tcp_given = false, udp_given = false;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:U:s:a:Al:dru:m:Mc:kvhiVP:f:n:Lt:R:Cb:B:I:SFXWo:D:e:Y:Z",
                            longopts, NULL)) != -1) {
        if (c == 'h') {
            settings_usage();
            return SETTINGS_EXIT_OK;
        }
        if (c == 'V') {
            printf("larder %s\n", LARDER_VERSION);
            return SETTINGS_EXIT_OK;
        }
        if (c == 'i') {
            printf("larder is free software; libevent is BSD-licensed.\n");
            return SETTINGS_EXIT_OK;
        }
        if (c == '?')
            return SETTINGS_ERROR;
        tcp_given |= c == 'p';
        udp_given |= c == 'U';
        enum settings_result r = settings_opt(s, c, optarg);
        if (r != SETTINGS_OK)
            return r;
    }
    if (s->hash_user)
        return SETTINGS_OK; /* nothing else matters: main prints the line */
    /* memcached: -U alone moves the TCP port with it */
    if (udp_given && s->udp_port != 0 && !tcp_given)
        s->port = s->udp_port;
    if (optind < argc) {
        fprintf(stderr, "larder: unexpected argument '%s'\n", argv[optind]);
        return SETTINGS_ERROR;
    }
    if (s->item_size_max > s->maxbytes / 2) {
        fprintf(stderr, "larder: cannot set item size limit (-I) above half the memory limit (-m)\n");
        return SETTINGS_USAGE;
    }
    if (s->nlisten == 0 && s->socket_path == NULL)
        settings_add_listen(s, "127.0.0.1");
    return settings_check_security(s);
}

size_t settings_conn_mem_limit(const struct settings *s) {
    size_t v = s->conn_mem_limit;
    if (v == 0) {
        v = s->maxbytes / 4;
        if (v < (size_t)32 << 20)
            v = (size_t)32 << 20;
    }
    if (v < 2 * s->item_size_max)
        v = 2 * s->item_size_max;
    return v;
}

size_t settings_upload_limit(const struct settings *s) {
    size_t v = s->maxbytes / 8;
    return v < s->item_size_max ? s->item_size_max : v;
}
