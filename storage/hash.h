/*
 * hash: the 64-bit key hash used by the store: SipHash-1-3 under a secret
 * key drawn at start, so that nobody outside the process can compute keys
 * that collide (a flood of them would turn a hash chain into a list and
 * stall every client of its shard).  High bits choose a shard, low bits a
 * bucket; the hash is uniform in both.
 */
#ifndef LARDER_HASH_H
#define LARDER_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hash_seed {
    uint64_t k0, k1;
};

/* Fills seed from the kernel's random source; false if it has none. */
bool hash_seed_random(struct hash_seed *seed);

uint64_t hash_key(const struct hash_seed *seed, const void *key, size_t len);

#endif
