/*
 * Unit tests for bench/hist: bucket geometry, and percentiles against exact
 * values computed by sorting the same data.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "bench/dist.h"
#include "bench/hist.h"

static struct hist h, h2, h3;

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The value a sorted array gives for percentile pct (nearest rank). */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double pct) {
    double want = pct / 100.0 * (double)n;
    size_t rank = (size_t)want;
    if ((double)rank < want)
        rank++;
    return sorted[rank ? rank - 1 : 0];
}

/* The estimate may not be below the exact value, nor above it by more than
 * the width of the exact value's bucket (1/128 of it). */
static void check_percentiles(uint64_t *values, size_t n) {
    hist_reset(&h);
    for (size_t i = 0; i < n; i++)
        hist_record(&h, values[i]);
    qsort(values, n, sizeof(*values), cmp_u64);
    const double pcts[] = {1, 10, 50, 90, 99, 99.9, 99.99, 100};
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        uint64_t exact = exact_percentile(values, n, pcts[i]);
        uint64_t est = hist_percentile(&h, pcts[i]);
        unsigned b = hist_bucket_of(exact);
        cr_assert_geq(est, exact, "p%g: %lu < exact %lu", pcts[i], est, exact);
        cr_assert_leq(est - exact, hist_bucket_high(b) - hist_bucket_low(b),
                      "p%g: %lu vs exact %lu", pcts[i], est, exact);
        cr_assert_leq((double)(est - exact), (double)exact / HIST_SUB_COUNT);
    }
    cr_assert_eq(h.min, values[0]);
    cr_assert_eq(h.max, values[n - 1]);
}

Test(hist, buckets_tile_the_whole_range) {
    cr_assert_eq(hist_bucket_low(0), 0);
    for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++)
        cr_assert_eq(hist_bucket_high(i) + 1, hist_bucket_low(i + 1), "gap after bucket %u", i);
    cr_assert_eq(hist_bucket_high(HIST_BUCKETS - 1), UINT64_MAX);
    cr_assert_eq(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
}

Test(hist, every_value_lands_in_its_bucket_within_precision) {
    struct dist_rng r;
    dist_rng_seed(&r, 1);
    for (int i = 0; i < 200000; i++) {
        uint64_t v = dist_rng_next(&r) >> (dist_rng_next(&r) % 64);
        unsigned b = hist_bucket_of(v);
        cr_assert(hist_bucket_low(b) <= v && v <= hist_bucket_high(b), "value %lu", v);
        if (v >= HIST_SUB_COUNT)
            cr_assert_leq(hist_bucket_high(b) - hist_bucket_low(b) + 1, v / HIST_SUB_COUNT);
    }
    for (uint64_t v = 0; v < 4 * HIST_SUB_COUNT; v++) {
        unsigned b = hist_bucket_of(v);
        cr_assert(hist_bucket_low(b) <= v && v <= hist_bucket_high(b));
        if (v < 2 * HIST_SUB_COUNT)
            cr_assert_eq(hist_bucket_low(b), v, "values below 2^(bits+1) are exact");
    }
}

Test(hist, percentiles_of_a_linear_run) {
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = i + 1;
    check_percentiles(v, n);
    free(v);
}

Test(hist, percentiles_of_a_long_tailed_sample) {
    /* Latency-like: mostly tens of microseconds, a tail to seconds. */
    size_t n = 300000;
    uint64_t *v = malloc(n * sizeof(*v));
    struct dist_rng r;
    dist_rng_seed(&r, 42);
    for (size_t i = 0; i < n; i++) {
        double u = dist_rng_unit(&r);
        v[i] = (uint64_t)(20000.0 / (1.0 - u * 0.999999)) + dist_uniform(&r, 5000);
    }
    check_percentiles(v, n);
    free(v);
}

Test(hist, small_samples_match_nearest_rank) {
    uint64_t v[] = {1, 2};
    hist_reset(&h);
    hist_record(&h, v[0]);
    hist_record(&h, v[1]);
    cr_assert_eq(hist_percentile(&h, 50), 1);
    cr_assert_eq(hist_percentile(&h, 50.1), 2);
    cr_assert_eq(hist_percentile(&h, 100), 2);
    hist_reset(&h);
    cr_assert_eq(hist_percentile(&h, 99), 0, "empty histogram");
    cr_assert_eq(hist_mean(&h), 0.0);
}

Test(hist, percentile_never_exceeds_max) {
    hist_reset(&h);
    hist_record(&h, 1000001); /* bucket spans past it */
    cr_assert_eq(hist_percentile(&h, 50), 1000001);
}

Test(hist, merge_is_the_same_as_recording_everything) {
    struct dist_rng r;
    dist_rng_seed(&r, 7);
    hist_reset(&h);
    hist_reset(&h2);
    hist_reset(&h3);
    for (int i = 0; i < 50000; i++) {
        uint64_t v = dist_uniform(&r, 10000000);
        hist_record(i % 2 ? &h : &h2, v);
        hist_record(&h3, v);
    }
    hist_merge(&h, &h2);
    cr_assert_eq(h.count, h3.count);
    cr_assert_eq(h.sum, h3.sum);
    cr_assert_eq(h.min, h3.min);
    cr_assert_eq(h.max, h3.max);
    cr_assert_arr_eq(h.buckets, h3.buckets, sizeof(h.buckets));
    cr_assert_float_eq(hist_mean(&h), (double)h3.sum / 50000.0, 1e-9);
}
