/*
 * hash: a multiply-xorshift hash over 8-byte words.
 *
 * Keys are short (most under 64 bytes), so the loop is simple and the tail is
 * read with memcpy rather than a byte loop.  The final avalanche makes every
 * input bit affect both the high (shard) and low (bucket) output bits.
 */
#include "hash.h"

#include <string.h>

#define HASH_M1 0x9e3779b97f4a7c15ULL
#define HASH_M2 0xbf58476d1ce4e5b9ULL
#define HASH_M3 0x94d049bb133111ebULL

static inline uint64_t hash_mix(uint64_t h, uint64_t w) {
    h ^= w * HASH_M2;
    h = (h << 31) | (h >> 33);
    return h * HASH_M1;
}

static inline uint64_t hash_final(uint64_t h) {
    h ^= h >> 30;
    h *= HASH_M2;
    h ^= h >> 27;
    h *= HASH_M3;
    h ^= h >> 31;
    return h;
}

uint64_t hash_key(const void *key, size_t len) {
    const unsigned char *p = key;
    uint64_t h = HASH_M1 ^ (len * HASH_M3);
    uint64_t w;

    while (len >= 8) {
        memcpy(&w, p, 8);
        h = hash_mix(h, w);
        p += 8;
        len -= 8;
    }
    if (len > 0) {
        w = 0;
        memcpy(&w, p, len);
        h = hash_mix(h, w ^ ((uint64_t)len << 56));
    }
    return hash_final(h);
}
