/*
 * opts: larder-load's command line, parsed into one settings struct that the
 * rest of the generator only reads.
 */
#ifndef LARDER_BENCH_OPTS_H
#define LARDER_BENCH_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "dist.h"

#define OPTS_MAX_SERVERS 16
#define OPTS_MAX_PIPELINE 1024
#define OPTS_MAX_BATCH 1024
#define OPTS_MAX_VALUE (1u << 20)

enum opts_proto { OPTS_CLASSIC, OPTS_META };

struct opts_server {
    char host[64];
    char port[8];
};

struct load_opts {
    struct opts_server server[OPTS_MAX_SERVERS];
    unsigned nservers;
    unsigned conns;          /* per server */
    unsigned threads;
    double duration;         /* seconds of measured load; 0 = none */
    uint64_t keys;
    unsigned key_size;
    struct dist_size value_size;
    bool key_sizes;          /* each key's size fixed by its number, checked exactly */
    enum dist_kind key_dist;
    double zipf_s;
    unsigned get_weight, set_weight;
    unsigned pipeline;       /* requests in flight per connection */
    unsigned batch;          /* keys per get request */
    bool prefill;            /* set every key once before the load */
    bool scan;               /* get every key once after the load */
    enum opts_proto proto;
    const char *csv_path;    /* per-second rows, or NULL */
    bool kv;                 /* final "RESULT key=value ..." line */
    bool quiet;              /* no per-second lines */
    uint64_t seed;
    double stall_timeout;    /* seconds without a reply before giving up */
    bool flush;              /* flush_all every server before the first phase */
};

enum opts_result { OPTS_OK, OPTS_EXIT_OK, OPTS_ERROR };

/* Fills o from argv; prints usage (OPTS_EXIT_OK) or an error on stderr. */
enum opts_result opts_parse(struct load_opts *o, int argc, char **argv);

/* One line describing the workload, for reports. */
void opts_describe(const struct load_opts *o, char *buf, unsigned size);

#endif
