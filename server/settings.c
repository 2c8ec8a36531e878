/*
 * settings: memcached-compatible command line; see settings.h.
 *
 * Flags that memcached has and Larder has no use for (-k, -L, -r, -S ...)
 * are accepted with a warning so that existing configurations keep working;
 * flags whose absence would change behaviour silently (-U with a port, -B
 * binary) are refused with a clear message instead.
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
        .slab_reassign = true,
        .watch_enabled = true,
        .worker_yield = true,
    };
}

void settings_free(struct settings *s) {
    for (int i = 0; i < s->nlisten; i++)
        free(s->listen[i]);
    free(s->socket_path);
    free(s->pidfile);
    free(s->user);
    s->nlisten = 0;
    s->socket_path = s->pidfile = s->user = NULL;
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
           "-f, --slab-growth-factor=<num> chunk size growth factor above 256 bytes (default: 1.25)\n"
           "-n, --slab-min-size=<bytes> min space used for key+value+flags (default: 48)\n"
           "-t, --threads=<num>       number of threads to use (default: 4)\n"
           "-R, --max-reqs-per-event  max requests per event per connection (default: 20)\n"
           "-C, --disable-cas         disable use of CAS\n"
           "-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)\n"
           "-B, --protocol=<name>     protocol: auto, ascii or binary (default: auto,\n"
           "                          binary when a request starts with byte 0x80)\n"
           "-I, --max-item-size=<num> max item size, k/m suffixes (default: 1m, min: 1k, max: 1024m)\n"
           "-F, --disable-flush-all   disable flush_all command\n"
           "-X, --disable-dumping     disable stats cachedump and lru_crawler metadump\n"
           "-W, --disable-watch       disable watch commands (live logging)\n"
           "-o, --extended            comma separated list of extended options:\n"
           "   - idle_timeout=<secs>: close connections idle this long (default: 0, never)\n"
           "   - oom_score_adj=<n>:   write n to /proc/self/oom_score_adj at start\n"
           "   - hashpower=<n>:       initial hash table size, log2 (default: 16)\n"
           "   - no_lru_crawler:      disable the background expiry crawler\n"
           "   - slab_reassign:       allow \"slabs reassign\" (default: on)\n"
           "   - slab_automove=<0|1|2>: move memory pages between size classes (default: 1)\n"
           "   - worker_yield=<0|1>:  yield the core between event batches (default: 1)\n"
           "   other memcached options are accepted and ignored with a warning\n",
           LARDER_VERSION);
}

static bool settings_add_listen(struct settings *s, const char *arg) {
    char *copy = strdup(arg);
    char *save = NULL;
    bool ok = copy != NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; ok && t; t = strtok_r(NULL, ",", &save)) {
        if (s->nlisten == SETTINGS_MAX_LISTEN || *t == '\0') {
            ok = false;
            break;
        }
        s->listen[s->nlisten++] = strdup(t);
    }
    free(copy);
    return ok;
}

/* -o options whose absence would make the server less safe (ssl_*) or
 * lose data (ext_* for extstore, memory_file for warm restarts). */
static bool settings_extended_unsafe(const char *name) {
    return strncmp(name, "ssl_", 4) == 0 || strncmp(name, "ext_", 4) == 0 ||
           strcmp(name, "memory_file") == 0;
}

static bool settings_extended(struct settings *s, const char *arg) {
    char *copy = strdup(arg);
    char *save = NULL;
    bool ok = copy != NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; ok && t; t = strtok_r(NULL, ",", &save)) {
        char *val = strchr(t, '=');
        if (val)
            *val++ = '\0';
        long v;
        if (strcmp(t, "idle_timeout") == 0 && val && settings_int(val, 0, INT_MAX, &v)) {
            s->idle_timeout = (unsigned)v;
        } else if (strcmp(t, "oom_score_adj") == 0 && val && settings_int(val, -1000, 1000, &v)) {
            s->oom_score_adj = (int)v;
            s->oom_score_set = true;
        } else if (strcmp(t, "hashpower") == 0 && val && settings_int(val, 12, 32, &v)) {
            s->hashpower = (unsigned)v;
        } else if (strcmp(t, "slab_automove") == 0 && val && settings_int(val, 0, 2, &v)) {
            s->slab_automove = (unsigned)v;
        } else if (strcmp(t, "slab_automove") == 0 && val == NULL) {
            s->slab_automove = 1;
        } else if (strcmp(t, "slab_reassign") == 0 && val == NULL) {
            s->slab_reassign = true;
        } else if (strcmp(t, "worker_yield") == 0 && val && settings_int(val, 0, 1, &v)) {
            s->worker_yield = v != 0;
        } else if (strcmp(t, "no_modern") == 0) {
            /* memcached's pre-1.5 defaults: no crawler, no page moves */
            s->lru_crawler = false;
            s->slab_reassign = false;
            s->slab_automove = 0;
        } else if (strcmp(t, "no_lru_crawler") == 0) {
            s->lru_crawler = false;
        } else if (strcmp(t, "lru_crawler") == 0) {
            s->lru_crawler = true;
        } else if (strcmp(t, "idle_timeout") == 0 || strcmp(t, "oom_score_adj") == 0 ||
                   strcmp(t, "hashpower") == 0) {
            fprintf(stderr, "larder: bad value for -o %s\n", t);
            ok = false;
        } else if (settings_extended_unsafe(t)) {
            /* never silently weaker: TLS settings that were meant to
             * encrypt, or an extstore or memory file meant to keep data */
            fprintf(stderr, "larder: -o %s is not supported yet; refusing to start without it\n", t);
            ok = false;
        } else {
            fprintf(stderr, "larder: warning: ignoring -o %s%s%s\n", t, val ? "=" : "", val ? val : "");
        }
    }
    free(copy);
    return ok;
}

static bool settings_fail(const char *what, const char *arg) {
    fprintf(stderr, "larder: %s: '%s'\n", what, arg ? arg : "");
    return false;
}

static bool settings_opt(struct settings *s, int c, const char *arg) {
    long v;
    size_t sz;
    switch (c) {
    case 'p':
        if (!settings_int(arg, 0, 65535, &v)) return settings_fail("bad TCP port (-p)", arg);
        s->port = (int)v;
        break;
    case 'U':
        if (!settings_int(arg, 0, 65535, &v)) return settings_fail("bad UDP port (-U)", arg);
        s->udp_port = (int)v;
        break;
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
        if (strcmp(arg, "auto") == 0)
            s->protocol = SETTINGS_PROTO_AUTO;
        else if (strcmp(arg, "ascii") == 0)
            s->protocol = SETTINGS_PROTO_ASCII;
        else if (strcmp(arg, "binary") == 0)
            s->protocol = SETTINGS_PROTO_BINARY;
        else
            return settings_fail("protocol (-B) must be auto, ascii or binary", arg);
        break;
    case 'I':
        if (!settings_parse_size(arg, &sz) || sz < 1024 || sz > (1024u << 20))
            return settings_fail("item size (-I) must be between 1k and 1024m", arg);
        s->item_size_max = sz;
        break;
    case 'F': s->flush_enabled = false; break;
    case 'X': s->dump_enabled = false; break;
    case 'o':
        if (!settings_extended(s, arg)) return false;
        break;
    case 'W': s->watch_enabled = false; break;
    case 'k': case 'L': case 'r':
        fprintf(stderr, "larder: warning: ignoring -%c\n", c);
        break;
    case 'D':
        fprintf(stderr, "larder: warning: ignoring -%c %s\n", c, arg);
        break;
    /* Never silently weaker: a server told to require logins, or to keep
     * its items across a restart, must not start open or empty instead. */
    case 'S':
        fprintf(stderr, "larder: SASL authentication (-S) is not supported yet; refusing to "
                        "start without it\n");
        return false;
    case 'Y':
        return settings_fail("authentication files (-Y) are not supported yet; refusing to "
                             "start without authentication", arg);
    case 'e':
        return settings_fail("memory files for warm restarts (-e) are not supported yet; "
                             "refusing to start with an empty cache", arg);
    default:
        return false;
    }
    return true;
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
        {"extended", required_argument, 0, 'o'},      {0, 0, 0, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:U:s:a:Al:dru:m:Mc:kvhiVP:f:n:Lt:R:Cb:B:I:SFXWo:D:e:Y:",
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
        if (c == '?' || !settings_opt(s, c, optarg))
            return SETTINGS_ERROR;
    }
    if (optind < argc) {
        fprintf(stderr, "larder: unexpected argument '%s'\n", argv[optind]);
        return SETTINGS_ERROR;
    }
    if (s->item_size_max > s->maxbytes / 2) {
        fprintf(stderr, "larder: cannot set item size limit (-I) above half the memory limit (-m)\n");
        return SETTINGS_ERROR;
    }
    if (s->nlisten == 0 && s->socket_path == NULL)
        settings_add_listen(s, "127.0.0.1");
    return SETTINGS_OK;
}
