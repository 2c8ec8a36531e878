/*
 * dist: random keys and sizes; see dist.h.
 *
 * Zipf by rejection-inversion.  With h(x) = x^-s and H its antiderivative
 * H(x) = (x^(1-s) - 1) / (1-s) (log x when s = 1), ranks are drawn by
 * inverting H on a uniform draw over [H(n + 1/2), H(3/2) - 1], rounding to
 * the nearest integer k, and accepting k unless it falls in the sliver where
 * the continuous hat exceeds the discrete mass; the acceptance rate is high
 * for every s, so the loop almost always runs once.  H and its inverse are
 * written with log1p/expm1 helpers so that s near 1 loses no precision.
 */
#include "dist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void dist_rng_seed(struct dist_rng *r, uint64_t seed) {
    r->state = seed;
}

uint64_t dist_rng_next(struct dist_rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double dist_rng_unit(struct dist_rng *r) {
    return (double)(dist_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t dist_uniform(struct dist_rng *r, uint64_t n) {
    return (uint64_t)(((unsigned __int128)dist_rng_next(r) * n) >> 64);
}

/* log1p(x) / x, continuous at 0. */
static double zipf_helper1(double x) {
    return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x / 2.0 + x * x / 3.0;
}

/* expm1(x) / x, continuous at 0. */
static double zipf_helper2(double x) {
    return fabs(x) > 1e-8 ? expm1(x) / x : 1.0 + x / 2.0 + x * x / 6.0;
}

static double zipf_h(double s, double x) {
    return exp(-s * log(x));
}

static double zipf_big_h(double s, double x) {
    double lx = log(x);
    return zipf_helper2((1.0 - s) * lx) * lx;
}

static double zipf_big_h_inv(double s, double y) {
    double t = (1.0 - s) * y;
    if (t < -1.0)
        t = -1.0; /* only reachable through rounding at the far tail */
    return exp(zipf_helper1(t) * y);
}

enum dist_status dist_keys_uniform(struct dist_keys *d, uint64_t n) {
    if (n == 0)
        return DIST_BAD_ARG;
    *d = (struct dist_keys){.kind = DIST_UNIFORM, .n = n};
    return DIST_OK;
}

enum dist_status dist_keys_zipf(struct dist_keys *d, uint64_t n, double s) {
    if (n == 0 || !(s > 0.0) || s > 100.0)
        return DIST_BAD_ARG;
    *d = (struct dist_keys){.kind = DIST_ZIPF, .n = n, .s = s};
    d->h_x1 = zipf_big_h(s, 1.5) - 1.0;
    d->h_n = zipf_big_h(s, (double)n + 0.5);
    d->s_accept = 2.0 - zipf_big_h_inv(s, zipf_big_h(s, 2.5) - zipf_h(s, 2.0));
    return DIST_OK;
}

static uint64_t dist_zipf_next(const struct dist_keys *d, struct dist_rng *r) {
    for (;;) {
        double u = d->h_n + dist_rng_unit(r) * (d->h_x1 - d->h_n);
        double x = zipf_big_h_inv(d->s, u);
        double k = floor(x + 0.5);
        if (k < 1.0)
            k = 1.0;
        else if (k > (double)d->n)
            k = (double)d->n;
        if (k - x <= d->s_accept || u >= zipf_big_h(d->s, k + 0.5) - zipf_h(d->s, k))
            return (uint64_t)k - 1;
    }
}

uint64_t dist_keys_next(const struct dist_keys *d, struct dist_rng *r) {
    if (d->kind == DIST_ZIPF)
        return dist_zipf_next(d, r);
    return dist_uniform(r, d->n);
}

/* Parses a decimal in [1, max] ending at one of `stops` (or the string end);
 * advances *p past it. */
static bool size_number(const char **p, uint64_t max, uint64_t *out) {
    char *end;
    if (**p < '0' || **p > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(*p, &end, 10);
    if (errno || v == 0 || v > max)
        return false;
    *p = end;
    *out = v;
    return true;
}

static enum dist_status size_parse_weighted(struct dist_size *d, const char *p, uint32_t max_size) {
    uint64_t total = 0;
    d->kind = DIST_SIZE_WEIGHTED;
    d->min = UINT32_MAX;
    d->max = 0;
    for (;;) {
        uint64_t size, weight;
        if (d->nchoices == DIST_SIZE_MAX_CHOICES || !size_number(&p, max_size, &size) ||
            *p++ != ':' || !size_number(&p, UINT32_MAX, &weight))
            return DIST_BAD_ARG;
        total += weight;
        d->choice[d->nchoices] = (uint32_t)size;
        d->cum_weight[d->nchoices++] = total;
        if (size < d->min)
            d->min = (uint32_t)size;
        if (size > d->max)
            d->max = (uint32_t)size;
        if (*p == '\0')
            return DIST_OK;
        if (*p++ != ',')
            return DIST_BAD_ARG;
    }
}

/* "log:MIN-MAX" with MIN < MAX: a size is floor(x) for x drawn with a
 * uniform logarithm over [MIN, MAX + 1), so size s has probability
 * ln((s + 1) / s) / ln((MAX + 1) / MIN) and MAX is reachable. */
static enum dist_status size_parse_log(struct dist_size *d, const char *p, uint32_t max_size) {
    uint64_t lo, hi;
    if (!size_number(&p, max_size, &lo) || *p++ != '-' || !size_number(&p, max_size, &hi) ||
        hi <= lo || *p != '\0')
        return DIST_BAD_ARG;
    d->kind = DIST_SIZE_LOG;
    d->min = (uint32_t)lo;
    d->max = (uint32_t)hi;
    d->log_min = log((double)lo);
    d->log_span = log((double)(hi + 1)) - d->log_min;
    return DIST_OK;
}

enum dist_status dist_size_parse(struct dist_size *d, const char *spec, uint32_t max_size) {
    memset(d, 0, sizeof(*d));
    if (strncmp(spec, "log:", 4) == 0)
        return size_parse_log(d, spec + 4, max_size);
    if (strchr(spec, ':'))
        return size_parse_weighted(d, spec, max_size);
    const char *p = spec;
    uint64_t lo, hi;
    if (!size_number(&p, max_size, &lo))
        return DIST_BAD_ARG;
    hi = lo;
    if (*p == '-') {
        p++;
        if (!size_number(&p, max_size, &hi) || hi < lo)
            return DIST_BAD_ARG;
    }
    if (*p != '\0')
        return DIST_BAD_ARG;
    d->kind = hi == lo ? DIST_SIZE_FIXED : DIST_SIZE_RANGE;
    d->min = (uint32_t)lo;
    d->max = (uint32_t)hi;
    return DIST_OK;
}

static uint32_t size_next_log(const struct dist_size *d, struct dist_rng *r) {
    double x = exp(d->log_min + dist_rng_unit(r) * d->log_span);
    /* exp() may round a draw next to either end just outside the range */
    if (x < (double)d->min)
        return d->min;
    if (x >= (double)d->max + 1.0)
        return d->max;
    return (uint32_t)x;
}

uint32_t dist_size_next(const struct dist_size *d, struct dist_rng *r) {
    switch (d->kind) {
    case DIST_SIZE_FIXED:
        return d->min;
    case DIST_SIZE_RANGE:
        return d->min + (uint32_t)dist_uniform(r, (uint64_t)(d->max - d->min) + 1);
    case DIST_SIZE_LOG:
        return size_next_log(d, r);
    case DIST_SIZE_WEIGHTED:
        break;
    }
    uint64_t pick = dist_uniform(r, d->cum_weight[d->nchoices - 1]);
    unsigned i = 0;
    while (pick >= d->cum_weight[i])
        i++;
    return d->choice[i];
}

uint32_t dist_size_for_key(const struct dist_size *d, uint64_t id) {
    /* A generator of its own per key: splitmix64's first output is already
     * a full mix of its seed, and the constant keeps key 0 off seed 0. */
    struct dist_rng r;
    dist_rng_seed(&r, id ^ 0x6a09e667f3bcc909ull);
    return dist_size_next(d, &r);
}

bool dist_size_valid(const struct dist_size *d, size_t len) {
    if (len < d->min || len > d->max)
        return false;
    if (d->kind != DIST_SIZE_WEIGHTED)
        return true;
    for (unsigned i = 0; i < d->nchoices; i++)
        if (d->choice[i] == len)
            return true;
    return false;
}
