/*
 * Unit tests for bench/dist: uniform keys cover their range evenly, Zipf
 * frequencies are ordered and match k^-s / H(n,s), value sizes parse and
 * follow their weights, log-uniform sizes give each decade its share and
 * sizes fixed per key follow the same law.  Tolerances are 5 standard deviations of a binomial
 * count, so a correct sampler fails about once in millions of runs; seeds
 * are fixed, so a run is repeatable anyway.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "bench/dist.h"

#define SAMPLES 1000000

static void assert_count_near(uint64_t count, double p, const char *what, uint64_t k) {
    double mean = p * SAMPLES;
    double sd = sqrt(SAMPLES * p * (1 - p));
    cr_assert(fabs((double)count - mean) <= 5 * sd + 1,
              "%s %lu: count %lu, expected %.0f +- %.0f", what, k, count, mean, 5 * sd);
}

Test(dist, uniform_covers_the_range_evenly) {
    struct dist_keys d;
    struct dist_rng r;
    uint64_t n = 1000, *count = calloc(n, sizeof(*count));
    cr_assert_eq(dist_keys_uniform(&d, n), DIST_OK);
    dist_rng_seed(&r, 3);
    for (int i = 0; i < SAMPLES; i++) {
        uint64_t k = dist_keys_next(&d, &r);
        cr_assert_lt(k, n);
        count[k]++;
    }
    for (uint64_t k = 0; k < n; k++) {
        cr_assert_gt(count[k], 0, "key %lu never drawn", k);
        assert_count_near(count[k], 1.0 / n, "key", k);
    }
    free(count);
}

Test(dist, uniform_small_ranges) {
    struct dist_rng r;
    dist_rng_seed(&r, 5);
    for (uint64_t n = 1; n < 10; n++) {
        bool seen[10] = {false};
        for (int i = 0; i < 10000; i++) {
            uint64_t k = dist_uniform(&r, n);
            cr_assert_lt(k, n);
            seen[k] = true;
        }
        for (uint64_t k = 0; k < n; k++)
            cr_assert(seen[k]);
    }
}

Test(dist, unit_interval) {
    struct dist_rng r;
    dist_rng_seed(&r, 9);
    double sum = 0;
    for (int i = 0; i < SAMPLES; i++) {
        double u = dist_rng_unit(&r);
        cr_assert(u >= 0.0 && u < 1.0);
        sum += u;
    }
    cr_assert_float_eq(sum / SAMPLES, 0.5, 0.002);
}

/* Draws SAMPLES keys and compares the top `check` ranks with theory. */
static void check_zipf(uint64_t n, double s, uint64_t check) {
    struct dist_keys d;
    struct dist_rng r;
    cr_assert_eq(dist_keys_zipf(&d, n, s), DIST_OK);
    dist_rng_seed(&r, 11);
    uint64_t *count = calloc(check, sizeof(*count));
    for (int i = 0; i < SAMPLES; i++) {
        uint64_t k = dist_keys_next(&d, &r);
        cr_assert_lt(k, n, "key %lu out of range", k);
        if (k < check)
            count[k]++;
    }
    double norm = 0;
    for (uint64_t k = 1; k <= n; k++)
        norm += pow((double)k, -s);
    for (uint64_t k = 0; k < check; k++)
        assert_count_near(count[k], pow((double)(k + 1), -s) / norm, "zipf rank", k + 1);
    /* The first ranks are far enough apart to be strictly ordered. */
    for (uint64_t k = 0; k + 1 < check && k < 8; k++)
        cr_assert_gt(count[k], count[k + 1], "rank %lu not above rank %lu", k + 1, k + 2);
    free(count);
}

Test(dist, zipf_099_small) {
    check_zipf(100, 0.99, 100);
}

Test(dist, zipf_1_exactly) {
    check_zipf(1000, 1.0, 50);
}

Test(dist, zipf_light_skew) {
    check_zipf(1000, 0.5, 20);
}

Test(dist, zipf_heavy_skew) {
    check_zipf(100000, 1.5, 20);
}

Test(dist, zipf_many_keys) {
    check_zipf(10000000, 0.99, 20);
}

Test(dist, zipf_degenerate) {
    struct dist_keys d;
    struct dist_rng r;
    dist_rng_seed(&r, 1);
    cr_assert_eq(dist_keys_zipf(&d, 1, 0.99), DIST_OK);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(dist_keys_next(&d, &r), 0);
    cr_assert_eq(dist_keys_zipf(&d, 0, 0.99), DIST_BAD_ARG);
    cr_assert_eq(dist_keys_zipf(&d, 10, 0.0), DIST_BAD_ARG);
    cr_assert_eq(dist_keys_zipf(&d, 10, -1.0), DIST_BAD_ARG);
    cr_assert_eq(dist_keys_uniform(&d, 0), DIST_BAD_ARG);
}

Test(dist, size_fixed_and_range) {
    struct dist_size d;
    struct dist_rng r;
    dist_rng_seed(&r, 2);
    cr_assert_eq(dist_size_parse(&d, "100", 1 << 20), DIST_OK);
    cr_assert_eq(dist_size_next(&d, &r), 100);
    cr_assert(dist_size_valid(&d, 100));
    cr_assert(!dist_size_valid(&d, 99));
    cr_assert_eq(dist_size_parse(&d, "10-20", 1 << 20), DIST_OK);
    bool seen[21] = {false};
    for (int i = 0; i < 10000; i++) {
        uint32_t v = dist_size_next(&d, &r);
        cr_assert(v >= 10 && v <= 20);
        seen[v] = true;
    }
    for (int v = 10; v <= 20; v++)
        cr_assert(seen[v] && dist_size_valid(&d, (size_t)v));
    cr_assert(!dist_size_valid(&d, 21));
}

Test(dist, size_weighted) {
    struct dist_size d;
    struct dist_rng r;
    dist_rng_seed(&r, 4);
    cr_assert_eq(dist_size_parse(&d, "100:9,1000:1", 1 << 20), DIST_OK);
    uint64_t small = 0;
    for (int i = 0; i < SAMPLES; i++) {
        uint32_t v = dist_size_next(&d, &r);
        cr_assert(v == 100 || v == 1000);
        small += v == 100;
    }
    assert_count_near(small, 0.9, "size", 100);
    cr_assert(dist_size_valid(&d, 1000));
    cr_assert(!dist_size_valid(&d, 500), "inside min-max but not a choice");
}

/* Size s of log:MIN-MAX has probability ln((s+1)/s) / ln((MAX+1)/MIN). */
static double log_size_p(uint32_t lo, uint32_t hi, uint32_t a, uint32_t b) {
    return log(((double)b + 1) / a) / log(((double)hi + 1) / lo);
}

Test(dist, size_log_uniform_each_size) {
    struct dist_size d;
    struct dist_rng r;
    uint64_t count[9] = {0};
    dist_rng_seed(&r, 6);
    cr_assert_eq(dist_size_parse(&d, "log:4-8", 1 << 20), DIST_OK);
    cr_assert_eq(d.kind, DIST_SIZE_LOG);
    for (int i = 0; i < SAMPLES; i++) {
        uint32_t v = dist_size_next(&d, &r);
        cr_assert(v >= 4 && v <= 8, "size %u", v);
        count[v]++;
    }
    for (uint32_t v = 4; v <= 8; v++) {
        assert_count_near(count[v], log_size_p(4, 8, v, v), "size", v);
        cr_assert(dist_size_valid(&d, v));
    }
    cr_assert(!dist_size_valid(&d, 3));
    cr_assert(!dist_size_valid(&d, 9));
}

/* 1 B to 1,000,000 B: each decade about a sixth of the draws, so most
 * values are small and most bytes are in large ones. */
static void check_log_decades(bool by_key) {
    struct dist_size d;
    struct dist_rng r;
    uint64_t decade[6] = {0};
    dist_rng_seed(&r, 8);
    cr_assert_eq(dist_size_parse(&d, "log:1-1000000", 1 << 20), DIST_OK);
    for (int i = 0; i < SAMPLES; i++) {
        uint32_t v = by_key ? dist_size_for_key(&d, (uint64_t)i) : dist_size_next(&d, &r);
        cr_assert(v >= 1 && v <= 1000000, "size %u", v);
        unsigned k = 0;
        for (uint32_t t = 10; v >= t && k < 5; t *= 10)
            k++;
        decade[k]++;
    }
    uint32_t lo = 1;
    for (unsigned k = 0; k < 6; k++, lo *= 10)
        assert_count_near(decade[k], log_size_p(1, 1000000, lo, lo * 10 - 1), "decade", k);
}

Test(dist, size_log_uniform_decades) {
    check_log_decades(false);
}

Test(dist, size_for_key_is_fixed_and_follows_the_law) {
    struct dist_size d;
    cr_assert_eq(dist_size_parse(&d, "log:1-1000000", 1 << 20), DIST_OK);
    for (uint64_t id = 0; id < 1000; id++)
        cr_assert_eq(dist_size_for_key(&d, id), dist_size_for_key(&d, id));
    check_log_decades(true);
    cr_assert_eq(dist_size_parse(&d, "100", 1 << 20), DIST_OK);
    cr_assert_eq(dist_size_for_key(&d, 12345), 100);
    cr_assert_eq(dist_size_parse(&d, "10-2000", 1 << 20), DIST_OK);
    bool differ = false;
    for (uint64_t id = 0; id < 100; id++) {
        uint32_t v = dist_size_for_key(&d, id);
        cr_assert(v >= 10 && v <= 2000);
        differ |= v != dist_size_for_key(&d, 0);
    }
    cr_assert(differ, "keys get sizes of their own");
}

Test(dist, size_bad_specs) {
    struct dist_size d;
    const char *bad[] = {"", "0", "abc", "10-5", "10-", "-5", "100:", "100:0", "1:2,",
                         "log:", "log:5", "log:5-5", "log:8-4", "log:0-10", "log:1-2000000",
                         "log:1-10x", "log:1-10,20:1",
                         "5x", "2000000", "1:1,2:1,3:1,4:1,5:1,6:1,7:1,8:1,9:1,10:1,11:1,12:1,"
                                          "13:1,14:1,15:1,16:1,17:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(dist_size_parse(&d, bad[i], 1 << 20), DIST_BAD_ARG, "accepted \"%s\"", bad[i]);
}
