/*
 * item: the layout of one cached object in slab memory.
 *
 * Header, key and value sit in one chunk.  The header is 36 bytes, against
 * memcached's 48 + 8 (cas) + a NUL after the key + "\r\n" after the value:
 * there are no LRU list pointers (eviction is a CLOCK sweep over slab pages,
 * see slab.c) and the value is stored without its line terminator because
 * replies are copied into the connection's output buffer anyway.
 *
 * Ownership is explicit in `state`:
 *   ITEM_FREE       on its class's free list; owned by the class lock
 *   ITEM_ALLOCATED  handed out to one thread, unlinked; only it touches it
 *   ITEM_LINKED     in the hash table; owned by its shard's lock
 * `state`, `bits` and `atime` are read by the CLOCK sweep or stats without
 * the shard lock, so they are accessed atomically; every other field follows
 * the owner's lock.
 */
#ifndef LARDER_ITEM_H
#define LARDER_ITEM_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"

enum item_state { ITEM_FREE = 0, ITEM_ALLOCATED = 1, ITEM_LINKED = 2 };

enum item_bits {
    ITEM_ACTIVE = 1,  /* hit since the sweep last passed, after its first fetch: spare it */
    ITEM_FETCHED = 2, /* read at least once since stored */
    ITEM_TOKEN = 4,   /* meta: a client holds the recache win token */
    ITEM_STALE = 8,   /* meta: invalidated, served as stale */
    ITEM_KEY_BINARY = 16, /* meta: key was sent base64-encoded; reply so */
    ITEM_PINNED = 32, /* a reply is being sent from it (store_pin): not to be
                         evicted, moved or freed; set under the shard lock */
};

struct item {
    union {
        struct item *hnext; /* ITEM_FREE: the class's free list (slab.c) */
        uintptr_t hlink;    /* ITEM_LINKED: the hash chain, tagged (store.c) */
    };
    uint64_t cas;
    rel_time_t exptime; /* CLOCK_NEVER, or relative expiry time */
    rel_time_t atime;   /* last access */
    uint32_t flags;     /* client flags */
    uint32_t nbytes;    /* value length */
    uint8_t nkey;
    uint8_t clsid;
    uint8_t state;
    uint8_t bits;
    char data[];        /* key, then value */
};

#define ITEM_HEADER offsetof(struct item, data)
#define ITEM_KEY_MAX 250

static inline size_t item_total(size_t nkey, size_t nbytes) {
    return ITEM_HEADER + nkey + nbytes;
}
static inline char *item_key(struct item *it) { return it->data; }
static inline char *item_value(struct item *it) { return it->data + it->nkey; }
static inline const char *item_ckey(const struct item *it) { return it->data; }
static inline const char *item_cvalue(const struct item *it) { return it->data + it->nkey; }

static inline uint8_t item_state(const struct item *it) {
    return __atomic_load_n(&it->state, __ATOMIC_ACQUIRE);
}
static inline void item_set_state(struct item *it, uint8_t s) {
    __atomic_store_n(&it->state, s, __ATOMIC_RELEASE);
}
/* Last access: written under the shard lock, read by stats walks that hold
 * only the class lock, hence relaxed atomics (plain moves on x86). */
static inline rel_time_t item_atime(const struct item *it) {
    return __atomic_load_n(&it->atime, __ATOMIC_RELAXED);
}
static inline void item_set_atime(struct item *it, rel_time_t t) {
    __atomic_store_n(&it->atime, t, __ATOMIC_RELAXED);
}
static inline uint8_t item_bits(const struct item *it) {
    return __atomic_load_n(&it->bits, __ATOMIC_RELAXED);
}
static inline void item_bits_set(struct item *it, uint8_t b) {
    /* Skip the locked RMW when the bits are already there: hot keys are read
     * far more often than the sweep clears them. */
    if ((item_bits(it) & b) != b)
        __atomic_or_fetch(&it->bits, b, __ATOMIC_RELAXED);
}
static inline void item_bits_clear(struct item *it, uint8_t b) {
    if (item_bits(it) & b)
        __atomic_and_fetch(&it->bits, (uint8_t)~b, __ATOMIC_RELAXED);
}

#endif
