/*
 * tally: what a generator thread counts — requests, hits, errors by kind —
 * and the latency histogram, in one struct that threads hand to the
 * reporter and that adds up across threads and intervals.
 */
#ifndef LARDER_BENCH_TALLY_H
#define LARDER_BENCH_TALLY_H

#include <stdint.h>

#include "hist.h"

struct tally {
    uint64_t reqs;          /* requests answered (a multi-get is one) */
    uint64_t gets;          /* keys asked for */
    uint64_t hits;          /* keys that came back, with a valid value */
    uint64_t sets;
    uint64_t bad_values;    /* a value that is not the key's, or a wrong key */
    uint64_t proto_errors;  /* a reply that does not fit the request */
    uint64_t server_errors; /* ERROR, CLIENT_ERROR, SERVER_ERROR, NOT_STORED */
    uint64_t conn_errors;   /* connect failures, resets, closes */
    uint64_t timeouts;      /* requests never answered */
    uint64_t sets_refused;  /* SERVER_ERROR out of memory: legal, not an error */
    uint64_t stale_values;  /* a key's own value in a size this run never sets:
                               left by an earlier run; a miss, not an error */
    struct hist latency;    /* nanoseconds per request */
};

void tally_reset(struct tally *t);
void tally_merge(struct tally *dst, const struct tally *src);
uint64_t tally_errors(const struct tally *t);

#endif
