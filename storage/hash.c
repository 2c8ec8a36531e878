/*
 * hash: SipHash-1-3 (Aumasson and Bernstein's SipHash with one compression
 * and three finalisation rounds, the variant Python and Rust hash with);
 * see hash.h.
 *
 * Keys are short (most under 64 bytes), so the cost is a few rounds: the
 * words are read with memcpy, the tail with one more, and the length goes
 * into the last word as the algorithm specifies.
 */
#include "hash.h"

#include <string.h>
#include <sys/random.h>

#define HASH_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

struct sip {
    uint64_t v0, v1, v2, v3;
};

static inline void hash_round(struct sip *s) {
    s->v0 += s->v1;
    s->v1 = HASH_ROTL(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = HASH_ROTL(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = HASH_ROTL(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = HASH_ROTL(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = HASH_ROTL(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = HASH_ROTL(s->v2, 32);
}

static inline void hash_compress(struct sip *s, uint64_t m) {
    s->v3 ^= m;
    hash_round(s);
    s->v0 ^= m;
}

static inline uint64_t hash_load_le(const unsigned char *p, size_t n) {
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

uint64_t hash_key(const struct hash_seed *seed, const void *key, size_t len) {
    const unsigned char *p = key;
    struct sip s = {
        seed->k0 ^ 0x736f6d6570736575ULL,
        seed->k1 ^ 0x646f72616e646f6dULL,
        seed->k0 ^ 0x6c7967656e657261ULL,
        seed->k1 ^ 0x7465646279746573ULL,
    };
    uint64_t last = (uint64_t)len << 56;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* little-endian hosts: the word as specified */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        hash_compress(&s, w);
    }
    hash_compress(&s, last | hash_load_le(p, len));
    s.v2 ^= 0xff;
    hash_round(&s);
    hash_round(&s);
    hash_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

bool hash_seed_random(struct hash_seed *seed) {
    return getrandom(seed, sizeof(*seed), 0) == (ssize_t)sizeof(*seed);
}
