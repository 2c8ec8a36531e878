/*
 * hash: the 64-bit key hash used by the store.  High bits choose a shard, low
 * bits a bucket, so one hash serves both without correlation between them.
 */
#ifndef LARDER_HASH_H
#define LARDER_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash_key(const void *key, size_t len);

#endif
