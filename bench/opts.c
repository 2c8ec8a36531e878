/*
 * opts: command-line parsing for larder-load; see opts.h.
 */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char opts_usage[] =
    "usage: larder-load [options]\n"
    "  -s, --server HOST:PORT[,...]  servers (default 127.0.0.1:11211; [V6]:PORT for\n"
    "                                IPv6); keys are\n"
    "                                sharded over them by key number\n"
    "  -c, --conns N                 connections per server (default 20)\n"
    "  -T, --threads N               generator threads (default 1)\n"
    "  -d, --duration SEC            seconds of measured load (default 10; 0 = none)\n"
    "  -k, --keys N                  key count (default 100000)\n"
    "  -K, --key-size N              key length in bytes (default 16)\n"
    "  -V, --value-size SPEC         N, MIN-MAX, log:MIN-MAX (log-uniform) or\n"
    "                                N1:W1,N2:W2,... (default 100)\n"
    "      --key-sizes               each key always gets the same size, drawn from\n"
    "                                -V by its number: a get must return exactly\n"
    "                                that length, or it is a wrong value\n"
    "  -D, --dist uniform|zipf[:S]   key popularity (default uniform; zipf S=0.99)\n"
    "  -r, --ratio GET:SET           request mix (default 9:1)\n"
    "  -p, --pipeline N              requests in flight per connection (default 1)\n"
    "  -b, --batch N                 keys per get (multi-get, default 1)\n"
    "  -P, --prefill                 set every key once before the load\n"
    "  -S, --scan                    get every key once after the load, report hits\n"
    "  -m, --meta                    meta commands (mg/ms/mn) instead of get/set\n"
    "  -o, --csv FILE                write per-second figures as CSV\n"
    "      --kv                      print a final RESULT key=value line\n"
    "  -q, --quiet                   no per-second lines\n"
    "      --seed N                  random seed (default: from the clock)\n"
    "      --stall-timeout SEC       give up after SEC without a reply (default 10)\n"
    "      --flush                   flush_all every server first, so that values\n"
    "                                left by earlier runs cannot be met\n"
    "  -h, --help\n"
    "Exit status: 0 when every reply was valid, 1 on any error, 2 on bad usage.\n";

static void opts_defaults(struct load_opts *o) {
    memset(o, 0, sizeof(*o));
    o->conns = 20;
    o->threads = 1;
    o->duration = 10;
    o->keys = 100000;
    o->key_size = 16;
    o->key_dist = DIST_UNIFORM;
    o->zipf_s = 0.99;
    o->get_weight = 9;
    o->set_weight = 1;
    o->pipeline = 1;
    o->batch = 1;
    o->proto = OPTS_CLASSIC;
    o->seed = (uint64_t)time(NULL) * 2654435761u;
    o->stall_timeout = 10;
}

static bool opts_uint(const char *arg, uint64_t lo, uint64_t hi, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || arg[0] == '-' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool opts_double(const char *arg, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

/* "host:port,host:port" into o->server. */
static bool opts_servers(struct load_opts *o, const char *arg) {
    char copy[1024];
    if (strlen(arg) >= sizeof(copy))
        return false;
    strcpy(copy, arg);
    o->nservers = 0;
    for (char *save, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(item, ':');
        if (!colon || colon == item || o->nservers == OPTS_MAX_SERVERS)
            return false;
        *colon = '\0';
        if (item[0] == '[' && colon[-1] == ']') { /* [v6]:port */
            colon[-1] = '\0';
            item++;
        }
        struct opts_server *s = &o->server[o->nservers++];
        uint64_t port;
        if (strlen(item) >= sizeof(s->host) || !opts_uint(colon + 1, 1, 65535, &port))
            return false;
        strcpy(s->host, item);
        snprintf(s->port, sizeof(s->port), "%u", (unsigned)port);
    }
    return o->nservers > 0;
}

static bool opts_dist(struct load_opts *o, const char *arg) {
    if (strcmp(arg, "uniform") == 0) {
        o->key_dist = DIST_UNIFORM;
        return true;
    }
    if (strncmp(arg, "zipf", 4) != 0)
        return false;
    o->key_dist = DIST_ZIPF;
    if (arg[4] == '\0')
        return true;
    return arg[4] == ':' && opts_double(arg + 5, 0.01, 10, &o->zipf_s);
}

static bool opts_ratio(struct load_opts *o, const char *arg) {
    unsigned g, s;
    char tail;
    if (sscanf(arg, "%u:%u%c", &g, &s, &tail) != 2 || g + s == 0 || g > 1000000 || s > 1000000)
        return false;
    o->get_weight = g;
    o->set_weight = s;
    return true;
}

enum opt_long { OPT_KV = 256, OPT_SEED, OPT_STALL, OPT_FLUSH, OPT_KEY_SIZES };

static const struct option opts_long[] = {
    {"server", required_argument, NULL, 's'},  {"conns", required_argument, NULL, 'c'},
    {"threads", required_argument, NULL, 'T'}, {"duration", required_argument, NULL, 'd'},
    {"keys", required_argument, NULL, 'k'},    {"key-size", required_argument, NULL, 'K'},
    {"value-size", required_argument, NULL, 'V'}, {"dist", required_argument, NULL, 'D'},
    {"ratio", required_argument, NULL, 'r'},   {"pipeline", required_argument, NULL, 'p'},
    {"batch", required_argument, NULL, 'b'},   {"prefill", no_argument, NULL, 'P'},
    {"scan", no_argument, NULL, 'S'},          {"meta", no_argument, NULL, 'm'},
    {"csv", required_argument, NULL, 'o'},     {"kv", no_argument, NULL, OPT_KV},
    {"quiet", no_argument, NULL, 'q'},         {"seed", required_argument, NULL, OPT_SEED},
    {"stall-timeout", required_argument, NULL, OPT_STALL},
    {"flush", no_argument, NULL, OPT_FLUSH},
    {"key-sizes", no_argument, NULL, OPT_KEY_SIZES},
    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
};

static bool opts_unsigned(const char *arg, unsigned lo, unsigned hi, unsigned *out) {
    uint64_t v;
    if (!opts_uint(arg, lo, hi, &v))
        return false;
    *out = (unsigned)v;
    return true;
}

/* Applies one option; false when its argument is not acceptable.  The value
 * size is parsed last, once its spec is known. */
static bool opts_apply(struct load_opts *o, int c, const char *arg, const char **value_spec) {
    switch (c) {
    case 's': return opts_servers(o, arg);
    case 'c': return opts_unsigned(arg, 1, 100000, &o->conns);
    case 'T': return opts_unsigned(arg, 1, 256, &o->threads);
    case 'd': return opts_double(arg, 0, 1e6, &o->duration);
    case 'k': return opts_uint(arg, 1, UINT64_C(1) << 40, &o->keys);
    case 'K': return opts_unsigned(arg, 2, 250, &o->key_size);
    case 'V': *value_spec = arg; return true;
    case 'D': return opts_dist(o, arg);
    case 'r': return opts_ratio(o, arg);
    case 'p': return opts_unsigned(arg, 1, OPTS_MAX_PIPELINE, &o->pipeline);
    case 'b': return opts_unsigned(arg, 1, OPTS_MAX_BATCH, &o->batch);
    case 'P': o->prefill = true; return true;
    case 'S': o->scan = true; return true;
    case 'm': o->proto = OPTS_META; return true;
    case 'o': o->csv_path = arg; return true;
    case 'q': o->quiet = true; return true;
    case OPT_KV: o->kv = true; return true;
    case OPT_SEED: return opts_uint(arg, 0, UINT64_MAX, &o->seed);
    case OPT_STALL: return opts_double(arg, 0.1, 3600, &o->stall_timeout);
    case OPT_FLUSH: o->flush = true; return true;
    case OPT_KEY_SIZES: o->key_sizes = true; return true;
    default: return false;
    }
}

enum opts_result opts_parse(struct load_opts *o, int argc, char **argv) {
    const char *value_spec = "100";
    opts_defaults(o);
    opts_servers(o, "127.0.0.1:11211");
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "s:c:T:d:k:K:V:D:r:p:b:PSmo:qh", opts_long, NULL)) != -1) {
        if (c == 'h') {
            fputs(opts_usage, stdout);
            return OPTS_EXIT_OK;
        }
        if (c == '?' || !opts_apply(o, c, optarg, &value_spec)) {
            if (c != '?')
                fprintf(stderr, "larder-load: bad value for -%c: %s\n", c < 256 ? c : '-', optarg);
            fputs(opts_usage, stderr);
            return OPTS_ERROR;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "larder-load: unexpected argument: %s\n", argv[optind]);
        return OPTS_ERROR;
    }
    if (dist_size_parse(&o->value_size, value_spec, OPTS_MAX_VALUE) != DIST_OK) {
        fprintf(stderr, "larder-load: bad value size: %s\n", value_spec);
        return OPTS_ERROR;
    }
    return OPTS_OK;
}

void opts_describe(const struct load_opts *o, char *buf, unsigned size) {
    char dist[32] = "uniform", value[32];
    if (o->key_dist == DIST_ZIPF)
        snprintf(dist, sizeof(dist), "zipf:%.2f", o->zipf_s);
    if (o->value_size.min == o->value_size.max)
        snprintf(value, sizeof(value), "%u", o->value_size.min);
    else
        snprintf(value, sizeof(value), "%s%u-%u", o->value_size.kind == DIST_SIZE_LOG ? "log:" : "",
                 o->value_size.min, o->value_size.max);
    snprintf(buf, size,
             "%u server(s) x %u conns, %u thread(s), %.1f s, %llu keys (%s), key %u B, "
             "value %s B%s, get:set %u:%u, pipeline %u, batch %u, %s%s%s",
             o->nservers, o->conns, o->threads, o->duration, (unsigned long long)o->keys, dist,
             o->key_size, value, o->key_sizes ? " (by key)" : "", o->get_weight, o->set_weight,
             o->pipeline, o->batch, o->proto == OPTS_META ? "meta" : "classic",
             o->prefill ? ", prefill" : "", o->scan ? ", scan" : "");
}
