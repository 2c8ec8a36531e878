/*
 * hist: a latency histogram with log-linear buckets, in the manner of
 * HdrHistogram.
 *
 * Values below 2^HIST_SUB_BITS get one bucket each.  Above that, every power
 * of two [2^e, 2^(e+1)) is cut into 2^HIST_SUB_BITS equal buckets, so a
 * bucket is never wider than 1/2^HIST_SUB_BITS (0.8%) of the values it holds.
 * Recording is one count-leading-zeros and one increment, with no allocation
 * and no floating point, which is what a load generator can afford per reply.
 *
 * Histograms of the same shape add up bucket by bucket, so each thread keeps
 * its own and the reporter merges them; percentiles of the merge are exact to
 * within a bucket.  Every uint64_t value has a bucket: nothing is clamped.
 */
#ifndef LARDER_BENCH_HIST_H
#define LARDER_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
/* One linear run of HIST_SUB_COUNT, then one run per power of two from
 * 2^HIST_SUB_BITS up to 2^63. */
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB_COUNT)

struct hist {
    uint64_t count;
    uint64_t sum; /* for the mean; wraps only past 584 years of nanoseconds */
    uint64_t min;
    uint64_t max;
    uint64_t buckets[HIST_BUCKETS];
};

/* Empties h (also how a histogram is initialised). */
void hist_reset(struct hist *h);

void hist_record(struct hist *h, uint64_t value);

/* Adds every count of src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at percentile pct (0 < pct <= 100): the highest value of the
 * bucket that holds the ceil(pct% * count)-th smallest value, but never more
 * than the largest value recorded.  0 for an empty histogram. */
uint64_t hist_percentile(const struct hist *h, double pct);

/* Mean of the recorded values, 0 for an empty histogram. */
double hist_mean(const struct hist *h);

/* Bucket geometry, for tests and for callers that want to state precision. */
unsigned hist_bucket_of(uint64_t value);
uint64_t hist_bucket_low(unsigned bucket);
uint64_t hist_bucket_high(unsigned bucket); /* inclusive */

#endif
