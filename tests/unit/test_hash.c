/*
 * Unit tests for storage/hash.c (keyed SipHash-1-3).  The store takes the shard from the top 8
 * bits of the hash and the bucket from the low bits, so both ends must be
 * spread evenly, and independently of each other.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "storage/hash.h"

#define KEYS 256000

/* A fixed, non-zero seed: the properties below hold for any. */
static const struct hash_seed seed = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};

/* SipHash-1-3 with a zero key, checked against CPython's bytes hash (which
 * is SipHash-1-3; PYTHONHASHSEED=0 gives the zero key): hash(b"abc") etc. */
Test(hash, siphash13_reference_values) {
    static const struct hash_seed zero = {0, 0};
    static const struct {
        const char *key;
        uint64_t want;
    } v[] = {
        {"a", 4644417185603328019ULL},
        {"abc", 13851880170939887858ULL},
        {"abcdefgh", 4574395652268504554ULL},
        {"key:12345", 15791943624859475776ULL},
        {"0123456789abcdef0123", 6201128165018579354ULL},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        cr_assert_eq(hash_key(&zero, v[i].key, strlen(v[i].key)), v[i].want, "%s", v[i].key);
}

/* The secret decides the hash: keys that collide under one seed do not
 * under another, and two stores draw different seeds. */
Test(hash, the_seed_changes_every_hash) {
    struct hash_seed a, b;
    cr_assert(hash_seed_random(&a));
    cr_assert(hash_seed_random(&b));
    cr_assert(a.k0 != b.k0 || a.k1 != b.k1);
    unsigned same = 0;
    char key[32];
    for (unsigned i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof(key), "key:%u", i);
        same += hash_key(&a, key, (size_t)n) == hash_key(&b, key, (size_t)n);
    }
    cr_assert_eq(same, 0);
}

Test(hash, deterministic) {
    cr_assert_eq(hash_key(&seed, "hello", 5), hash_key(&seed, "hello", 5));
    cr_assert_neq(hash_key(&seed, "hello", 5), hash_key(&seed, "hellp", 5));
}

/* Zero bytes are not padding: "a" and "a\0" must differ, as must lengths
 * that share a word. */
Test(hash, length_is_part_of_the_hash) {
    static const char z[16] = {0};
    for (size_t n = 0; n < 16; n++)
        cr_assert_neq(hash_key(&seed, z, n), hash_key(&seed, z, n + 1), "length %zu", n);
    cr_assert_neq(hash_key(&seed, "a", 1), hash_key(&seed, "a\0", 2));
}

/* Every byte position counts, in the 8-byte words and in the tail. */
Test(hash, every_byte_matters) {
    char a[40], b[40];
    memset(a, 'x', sizeof(a));
    for (size_t len = 1; len <= sizeof(a); len++)
        for (size_t i = 0; i < len; i++) {
            memcpy(b, a, len);
            b[i] ^= 1;
            cr_assert_neq(hash_key(&seed, a, len), hash_key(&seed, b, len), "len %zu byte %zu", len, i);
        }
}

/* Keys are read with memcpy, so an unaligned key hashes like an aligned one. */
Test(hash, alignment_does_not_matter) {
    char buf[64];
    const char *key = "an-unaligned-key-of-some-length";
    size_t n = strlen(key);
    uint64_t want = hash_key(&seed, key, n);
    for (size_t off = 0; off < 8; off++) {
        memcpy(buf + off, key, n);
        cr_assert_eq(hash_key(&seed, buf + off, n), want, "offset %zu", off);
    }
}

/* 256 buckets of 1000 expected keys each: every bucket within +-20%. */
static void check_spread(unsigned shift, const char *what) {
    static unsigned count[256];
    memset(count, 0, sizeof(count));
    char key[32];
    for (unsigned i = 0; i < KEYS; i++) {
        int n = snprintf(key, sizeof(key), "key:%u", i);
        count[(hash_key(&seed, key, (size_t)n) >> shift) & 255]++;
    }
    for (unsigned b = 0; b < 256; b++)
        cr_assert(count[b] > 800 && count[b] < 1200, "%s bucket %u has %u keys", what, b,
                  count[b]);
}

Test(hash, top_bits_spread_over_shards) { check_spread(56, "shard"); }
Test(hash, low_bits_spread_over_buckets) { check_spread(0, "bucket"); }

/* Keys of one shard must still spread over the low bits. */
Test(hash, low_bits_independent_of_shard) {
    static unsigned count[16];
    char key[32];
    unsigned total = 0;
    for (unsigned i = 0; i < KEYS * 4; i++) {
        int n = snprintf(key, sizeof(key), "user:%u:profile", i);
        uint64_t h = hash_key(&seed, key, (size_t)n);
        if (h >> 56 != 7)
            continue;
        count[h & 15]++;
        total++;
    }
    for (unsigned b = 0; b < 16; b++)
        cr_assert(count[b] > total / 16 * 8 / 10 && count[b] < total / 16 * 12 / 10,
                  "bucket %u has %u of %u", b, count[b], total);
}
