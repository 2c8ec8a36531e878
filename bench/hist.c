/*
 * hist: log-linear latency histogram; see hist.h for the bucket layout.
 *
 * Bucket index of v >= 2^SUB_BITS: with m the position of v's top bit and
 * k = m - SUB_BITS, v >> k lies in [2^SUB_BITS, 2^(SUB_BITS+1)); the index is
 * (k + 1) * SUB_COUNT plus the offset of v >> k in that range.  Values below
 * 2^SUB_BITS are their own index (k = -1 in the same formula).
 */
#include "hist.h"

#include <string.h>

void hist_reset(struct hist *h) {
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned hist_bucket_of(uint64_t value) {
    if (value < HIST_SUB_COUNT)
        return (unsigned)value;
    unsigned top = 63u - (unsigned)__builtin_clzll(value);
    unsigned k = top - HIST_SUB_BITS;
    return ((k + 1) << HIST_SUB_BITS) + (unsigned)((value >> k) - HIST_SUB_COUNT);
}

uint64_t hist_bucket_low(unsigned bucket) {
    if (bucket < HIST_SUB_COUNT)
        return bucket;
    unsigned k = (bucket >> HIST_SUB_BITS) - 1;
    uint64_t sub = bucket & (HIST_SUB_COUNT - 1);
    return (HIST_SUB_COUNT + sub) << k;
}

uint64_t hist_bucket_high(unsigned bucket) {
    if (bucket < HIST_SUB_COUNT)
        return bucket;
    unsigned k = (bucket >> HIST_SUB_BITS) - 1;
    return hist_bucket_low(bucket) + ((uint64_t)1 << k) - 1;
}

void hist_record(struct hist *h, uint64_t value) {
    h->buckets[hist_bucket_of(value)]++;
    h->count++;
    h->sum += value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

void hist_merge(struct hist *dst, const struct hist *src) {
    if (src->count == 0)
        return;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double pct) {
    if (h->count == 0)
        return 0;
    if (pct >= 100.0)
        return h->max;
    /* The rank is computed in integers after one rounding up, so that p50 of
     * {1, 2} is 1, as a sorted array would say. */
    double want = pct / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t high = hist_bucket_high(i);
            return high < h->max ? high : h->max;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h) {
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
