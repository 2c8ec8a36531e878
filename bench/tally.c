/*
 * tally: per-thread counters; see tally.h.
 */
#include "tally.h"

void tally_reset(struct tally *t) {
    t->reqs = t->gets = t->hits = t->sets = 0;
    t->bad_values = t->proto_errors = t->server_errors = t->conn_errors = t->timeouts = 0;
    t->sets_refused = t->stale_values = 0;
    hist_reset(&t->latency);
}

void tally_merge(struct tally *dst, const struct tally *src) {
    dst->reqs += src->reqs;
    dst->gets += src->gets;
    dst->hits += src->hits;
    dst->sets += src->sets;
    dst->bad_values += src->bad_values;
    dst->proto_errors += src->proto_errors;
    dst->server_errors += src->server_errors;
    dst->conn_errors += src->conn_errors;
    dst->timeouts += src->timeouts;
    dst->sets_refused += src->sets_refused;
    dst->stale_values += src->stale_values;
    hist_merge(&dst->latency, &src->latency);
}

uint64_t tally_errors(const struct tally *t) {
    return t->bad_values + t->proto_errors + t->server_errors + t->conn_errors + t->timeouts;
}
