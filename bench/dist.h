/*
 * dist: the random choices a load generator makes per request — which key,
 * how large a value — from a small per-thread generator.
 *
 * The generator is splitmix64: one add and three multiply-xor steps, good
 * enough statistically for workload shaping and far cheaper than rand_r().
 * Each worker thread owns one, seeded differently, so no state is shared.
 *
 * Key popularity is uniform or Zipf.  Zipf uses rejection-inversion sampling
 * (Hörmann and Derflinger, 1996): constant expected time for any exponent
 * s > 0 and any key count, with no table, so a million keys cost nothing
 * to set up.  Rank 1 (key 0) is the most popular.
 */
#ifndef LARDER_BENCH_DIST_H
#define LARDER_BENCH_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dist_rng {
    uint64_t state;
};

void dist_rng_seed(struct dist_rng *r, uint64_t seed);
uint64_t dist_rng_next(struct dist_rng *r);
/* Uniform double in [0, 1). */
double dist_rng_unit(struct dist_rng *r);
/* Uniform integer in [0, n); n > 0.  Multiply-shift: no division, bias
 * below n / 2^64. */
uint64_t dist_uniform(struct dist_rng *r, uint64_t n);

enum dist_status { DIST_OK, DIST_BAD_ARG };

enum dist_kind { DIST_UNIFORM, DIST_ZIPF };

struct dist_keys {
    enum dist_kind kind;
    uint64_t n;
    double s;
    /* Zipf constants, computed once by dist_keys_zipf() */
    double h_x1, h_n, s_accept;
};

/* n keys, each as likely. */
enum dist_status dist_keys_uniform(struct dist_keys *d, uint64_t n);
/* n keys, key i (0-based) with probability proportional to (i+1)^-s. */
enum dist_status dist_keys_zipf(struct dist_keys *d, uint64_t n, double s);
/* A key in [0, d->n). */
uint64_t dist_keys_next(const struct dist_keys *d, struct dist_rng *r);

/* Value sizes: "N" (fixed), "MIN-MAX" (uniform, inclusive), "log:MIN-MAX"
 * (log-uniform: each power of two, or of ten, of the range is as likely, as
 * in a cache holding objects from bytes to megabytes) or a weighted list
 * "N1:W1,N2:W2,..." (e.g. "100:9,1000:1"). */
#define DIST_SIZE_MAX_CHOICES 16

enum dist_size_kind { DIST_SIZE_FIXED, DIST_SIZE_RANGE, DIST_SIZE_LOG, DIST_SIZE_WEIGHTED };

struct dist_size {
    enum dist_size_kind kind;
    uint32_t min, max;
    double log_min, log_span; /* DIST_SIZE_LOG: ln(min), ln((max + 1) / min) */
    unsigned nchoices;
    uint32_t choice[DIST_SIZE_MAX_CHOICES];
    uint64_t cum_weight[DIST_SIZE_MAX_CHOICES]; /* running sums */
};

/* Sizes must be in [1, max_size]. */
enum dist_status dist_size_parse(struct dist_size *d, const char *spec, uint32_t max_size);
uint32_t dist_size_next(const struct dist_size *d, struct dist_rng *r);
/* The size key `id` always gets: drawn from d by the key's number alone (not
 * by any seed), so every writer of a key, in any run, writes the same length
 * and a reader can demand exactly that length. */
uint32_t dist_size_for_key(const struct dist_size *d, uint64_t id);
/* Whether len is a size this distribution can produce: how a reply whose
 * length was not chosen by this request (another connection set it) is
 * still checked. */
bool dist_size_valid(const struct dist_size *d, size_t len);

#endif
