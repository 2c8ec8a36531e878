/*
 * store: shards of chained hash tables over slab memory; see store.h.
 *
 * A key's 64-bit hash picks its shard with the top bits and its bucket with
 * the low bits.  Each shard grows on its own, Redis-style: when it holds 1.5
 * items per bucket a table twice the size is allocated and every operation
 * on the shard moves one bucket across, so there is never a pause to rehash
 * everything at once, and never a lock wider than one shard.
 *
 * Cas values come from a per-shard sequence (seq * STORE_SHARDS + shard), so
 * they are unique without a global atomic counter on the write path.
 *
 * Counters live in the shard and change under the shard lock already held;
 * store_stats() sums them on demand.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "lock.h"
#include "mfile.h"

#define STORE_SHARD_BITS 8
#define STORE_SHARDS (1u << STORE_SHARD_BITS)
#define STORE_MIN_SHARD_BUCKETS 16

struct table {
    uintptr_t *b; /* tagged links: see shard_find */
    uint64_t mask;
};

struct counters {
    uint64_t total_items, get_hits, get_misses, get_expired, get_flushed;
    uint64_t touch_hits, touch_misses, delete_hits, delete_misses;
    uint64_t incr_hits, incr_misses, decr_hits, decr_misses;
    uint64_t cas_hits, cas_misses, cas_badval;
    uint64_t store_too_large, store_no_memory;
};

/* Per size class, per shard (memcached keeps them per thread): bumped under
 * the shard lock already held, summed over shards by store_class_stats. */
struct class_counters {
    uint64_t get_hits, cmd_set, delete_hits, incr_hits, decr_hits;
    uint64_t cas_hits, cas_badval, touch_hits;
    uint64_t reclaimed, expired_unfetched; /* a store replaced a dead item */
    uint64_t crawler_reclaimed, crawler_items_checked;
    uint64_t requested; /* gauge: bytes of the linked items (mem_requested) */
};

struct shard {
    struct lock lock;
    struct table t[2];
    int64_t rehash; /* next bucket of t[0] to move, or -1 */
    uint64_t items;
    uint64_t bytes;
    uint64_t cas_seq;
    uint64_t crawl_pos;
    /* An immediate flush_all: items of this shard whose cas is at most this
     * are dead (cas values only grow within a shard).  0: none. */
    uint64_t flush_cas;
    struct counters c;
    struct class_counters *cc; /* [SLAB_CLASS_MAX + 1], by item clsid */
    const struct hash_seed *seed; /* the store's */
    /* items replies are being sent from (store_pin); few, so an array */
    struct shard_pin *pins;
    uint32_t npins, pins_cap;
} __attribute__((aligned(64)));

/* An item some replies are sent from.  `orphan`: unlinked meanwhile (a
 * delete, an overwrite, an expiry met by a lookup); the last unpin frees it. */
struct shard_pin {
    const struct item *it;
    uint32_t count;
    bool orphan;
};

struct store {
    struct store_config cfg;
    struct hash_seed seed; /* secret, drawn at creation */
    struct slabs *slabs;
    /* A delayed flush_all: items last touched at or before oldest_live die
     * when the clock reaches it (0: none pending).  Atomic. */
    rel_time_t oldest_live;
    struct mfile *mf; /* -e */
    struct store_restart restart;
    rel_time_t adopt_now;   /* while adopting: the clock, read once */
    uint64_t adopt_cas_max; /* while adopting: the largest cas seen */
    pthread_t crawler;
    bool crawler_started;
    bool crawler_stop;
    pthread_mutex_t crawler_lock;
    pthread_cond_t crawler_cond;
    /* run-time controls, atomics: lru_crawler enable/disable, slabs
     * automove, and a requested crawl (lru_crawler crawl) */
    bool crawler_on;
    unsigned automove;
    uint64_t crawl_classes; /* bit per class still to crawl; under crawler_lock */
    uint64_t crawl_tocrawl; /* chunks per class in a requested crawl, 0 = all */
    uint32_t crawl_sleep_us;
    bool crawl_running;
    uint64_t crawl_starts;
    unsigned crawl_cursor; /* class the background crawl goes on with */
    uint64_t reassign_evictions, reassign_rescues;
    store_event_fn on_event;
    void *on_event_ctx;
    /* bytes of pinned items (atomic), and the pins refused at pin_limit */
    uint64_t pinned_bytes, pin_refusals, pinned_items;
    uint64_t pin_limit;
    struct shard shards[STORE_SHARDS];
};

enum item_life { ITEM_LIVE, ITEM_EXPIRED_NOW, ITEM_FLUSHED_NOW };

static void store_set_limit_pins(struct store *s, size_t mem_limit);

void store_config_defaults(struct store_config *cfg) {
    *cfg = (struct store_config){
        .mem_limit = 64u << 20,
        .item_size_max = 1u << 20,
        .factor = 1.25,
        .chunk_min = 48,
        .use_cas = true,
        .evict = true,
        .hashpower = 16,
        .crawler = false,
    };
}

static inline struct shard *store_shard(struct store *s, uint64_t h) {
    return &s->shards[h >> (64 - STORE_SHARD_BITS)];
}

static inline unsigned shard_index(const struct store *s, const struct shard *sh) {
    return (unsigned)(sh - s->shards);
}

static inline __attribute__((always_inline)) enum item_life item_life(const struct store *s, const struct shard *sh,
                                const struct item *it, rel_time_t now) {
    if (it->exptime != CLOCK_NEVER && it->exptime <= now)
        return ITEM_EXPIRED_NOW;
    if (sh->flush_cas != 0 && it->cas <= sh->flush_cas)
        return ITEM_FLUSHED_NOW;
    rel_time_t oldest = __atomic_load_n(&s->oldest_live, __ATOMIC_RELAXED);
    if (oldest != 0 && oldest <= now && item_atime(it) <= oldest)
        return ITEM_FLUSHED_NOW;
    return ITEM_LIVE;
}

/* --- hash table ------------------------------------------------------------ */

/*
 * Chains are linked through tagged links: a bucket slot, or an item's
 * hlink, holds the address of the next item with 16 bits of that item's
 * hash in the top 16 bits, which user addresses leave zero on x86-64 and
 * arm64 (47 and 48 bits).  A lookup compares the tag before it reads the
 * item's key, so a chain's other items cost it one load (their link) and
 * no key compare: 1 in 65,536 of them is compared for nothing.
 *
 * The tag is hash bits 40..55: the shard takes 56..63 and a bucket index
 * the low bits, and no table reaches 2^40 buckets (table_init refuses), so
 * the tag is the same in every table size and a link moved by a rehash
 * keeps it.  Nothing reads a link except through link_item().
 */
typedef uintptr_t hlink;

#ifndef STORE_LINK_TAGS
#if UINTPTR_MAX == UINT64_MAX && (defined(__x86_64__) || defined(__aarch64__))
#define STORE_LINK_TAGS 1
#else
#define STORE_LINK_TAGS 0
#endif
#endif

#define STORE_MAX_SHARD_BUCKETS ((uint64_t)1 << 40)
#if STORE_LINK_TAGS
#define LINK_TAG_SHIFT 48
#define LINK_ADDR_MASK (((uintptr_t)1 << LINK_TAG_SHIFT) - 1)
static inline hlink hash_tag(uint64_t h) { return (hlink)(h >> 40 & 0xffff) << LINK_TAG_SHIFT; }
#else
#define LINK_ADDR_MASK UINTPTR_MAX
static inline hlink hash_tag(uint64_t h) { (void)h; return 0; }
#endif

static inline struct item *link_item(hlink l) { return (struct item *)(l & LINK_ADDR_MASK); }
static inline hlink link_tag(hlink l) { return l & ~LINK_ADDR_MASK; }

/* Does the address fit under the tag?  Checked at start (store_open) and on
 * every link, where a failure is fatal: a tagged link would lose bits. */
static inline bool link_addr_ok(const void *p) { return ((uintptr_t)p & ~LINK_ADDR_MASK) == 0; }

static __attribute__((noreturn, cold)) void link_addr_fatal(const void *p) {
    fprintf(stderr, "larder: item address %p does not fit in a hash link; "
                    "build with -DSTORE_LINK_TAGS=0\n", p);
    abort();
}

static inline hlink link_make(struct item *it, uint64_t h) {
    if (__builtin_expect(!link_addr_ok(it), 0))
        link_addr_fatal(it);
    return (hlink)it | hash_tag(h);
}

/* The same link, pointing at `to` (an item's copy, same key). */
static inline hlink link_retarget(hlink l, struct item *to) {
    if (__builtin_expect(!link_addr_ok(to), 0))
        link_addr_fatal(to);
    return link_tag(l) | (hlink)to;
}

static bool table_init(struct table *t, uint64_t nbuckets) {
    t->b = nbuckets <= STORE_MAX_SHARD_BUCKETS ? calloc(nbuckets, sizeof(*t->b)) : NULL;
    t->mask = nbuckets - 1;
    return t->b != NULL;
}

/* Moves the links out of one bucket of t[0]: each keeps its tag. */
static void shard_rehash_step(struct shard *sh, int steps) {
    while (sh->rehash >= 0 && steps-- > 0) {
        hlink l = sh->t[0].b[sh->rehash];
        while (l != 0) {
            struct item *it = link_item(l);
            hlink next = it->hlink;
            uint64_t i = hash_key(sh->seed, item_ckey(it), it->nkey) & sh->t[1].mask;
            it->hlink = sh->t[1].b[i];
            sh->t[1].b[i] = l;
            l = next;
        }
        sh->t[0].b[sh->rehash] = 0;
        if ((uint64_t)++sh->rehash > sh->t[0].mask) {
            free(sh->t[0].b);
            sh->t[0] = sh->t[1];
            sh->t[1] = (struct table){0};
            sh->rehash = -1;
        }
    }
}

static void shard_maybe_grow(struct shard *sh) {
    if (sh->rehash >= 0 || sh->items < (sh->t[0].mask + 1) + (sh->t[0].mask + 1) / 2)
        return;
    /* On allocation failure keep the old table: chains get longer, nothing breaks. */
    if (table_init(&sh->t[1], (sh->t[0].mask + 1) * 2))
        sh->rehash = 0;
}

/* The link that points at the bucket holding hash h (in whichever table has it). */
static hlink *shard_bucket(struct shard *sh, uint64_t h) {
    uint64_t i = h & sh->t[0].mask;
    if (sh->rehash >= 0 && i < (uint64_t)sh->rehash)
        return &sh->t[1].b[h & sh->t[1].mask];
    return &sh->t[0].b[i];
}

/* Returns the link pointing at the item with this key, or NULL. */
static inline __attribute__((always_inline)) hlink *shard_find(struct shard *sh, uint64_t h, const char *key,
                                                         size_t nkey) {
    if (sh->rehash >= 0) /* tested here: no call on the path of every lookup */
        shard_rehash_step(sh, 1);
    hlink tag = hash_tag(h);
    hlink *pp = shard_bucket(sh, h);
    for (hlink l; (l = *pp) != 0; pp = &link_item(l)->hlink) {
        if (link_tag(l) != tag)
            continue;
        const struct item *it = link_item(l);
        if (it->nkey == nkey && memcmp(item_ckey(it), key, nkey) == 0)
            return pp;
    }
    return NULL;
}

static void shard_insert(struct shard *sh, uint64_t h, struct item *it) {
    hlink *pp = shard_bucket(sh, h);
    it->hlink = *pp;
    *pp = link_make(it, h);
    sh->items++;
    sh->bytes += item_total(it->nkey, it->nbytes);
    sh->cc[it->clsid].requested += item_total(it->nkey, it->nbytes);
    item_set_state(it, ITEM_LINKED);
    shard_maybe_grow(sh);
}

/* Unlinks the item at *pp; it becomes ALLOCATED to the caller. */
static void shard_unlink_at(struct shard *sh, hlink *pp) {
    struct item *it = link_item(*pp);
    *pp = it->hlink;
    it->hlink = 0;
    sh->items--;
    sh->bytes -= item_total(it->nkey, it->nbytes);
    sh->cc[it->clsid].requested -= item_total(it->nkey, it->nbytes);
    item_set_state(it, ITEM_ALLOCATED);
}

static struct shard_pin *shard_pin_of(struct shard *sh, const struct item *it) {
    for (uint32_t i = 0; i < sh->npins; i++)
        if (sh->pins[i].it == it)
            return &sh->pins[i];
    return NULL;
}

/* Unlinks the item at *pp and gives its chunk back to the slabs, or, when
 * a reply is still being sent from it, leaves it to the last store_unpin. */
static void shard_drop(struct store *s, struct shard *sh, hlink *pp) {
    struct item *it = link_item(*pp);
    shard_unlink_at(sh, pp);
    if (__builtin_expect(item_bits(it) & ITEM_PINNED, 0)) {
        struct shard_pin *pin = shard_pin_of(sh, it);
        if (pin != NULL) {
            pin->orphan = true;
            return;
        }
        item_bits_clear(it, ITEM_PINNED); /* a stale bit (a memory file) */
    }
    slab_free(s->slabs, it);
}

/* The link pointing at this very item, or NULL: compared whole, address
 * and tag, so no other item is read but for its link. */
static hlink *shard_link_of(struct shard *sh, struct item *it) {
    uint64_t h = hash_key(sh->seed, item_ckey(it), it->nkey);
    hlink want = (hlink)it | hash_tag(h);
    hlink *pp = shard_bucket(sh, h);
    while (*pp != 0 && *pp != want)
        pp = &link_item(*pp)->hlink;
    return *pp == want ? pp : NULL;
}

/* Finds a live item; a dead one met on the way is unlinked and freed, and
 * *life says why it was dead.  A store that meets a dead item (`store`)
 * reuses its place, which memcached counts as reclaimed in its class. */
static inline __attribute__((always_inline)) hlink *shard_lookup_for(struct store *s, struct shard *sh, uint64_t h,
                                      const char *key, size_t nkey, rel_time_t now,
                                      enum item_life *life, bool store) {
    hlink *pp = shard_find(sh, h, key, nkey);
    *life = ITEM_LIVE;
    if (pp == NULL)
        return NULL;
    struct item *it = link_item(*pp);
    *life = item_life(s, sh, it, now);
    if (*life == ITEM_LIVE)
        return pp;
    if (store) {
        struct class_counters *cc = &sh->cc[it->clsid];
        cc->reclaimed++;
        cc->expired_unfetched += !(item_bits(it) & ITEM_FETCHED);
    }
    shard_drop(s, sh, pp);
    return NULL;
}

static inline __attribute__((always_inline)) hlink *shard_lookup(struct store *s, struct shard *sh, uint64_t h,
                                                           const char *key, size_t nkey, rel_time_t now,
                                                           enum item_life *life) {
    return shard_lookup_for(s, sh, h, key, nkey, now, life, false);
}

static uint64_t shard_next_cas(const struct store *s, struct shard *sh) {
    return ++sh->cas_seq * STORE_SHARDS + shard_index(s, sh);
}

/* --- eviction -------------------------------------------------------------- */

/* slab_reclaim_fn: takes a victim out of its shard if its lock is free. */
static enum slab_reclaim store_reclaim(void *ctx, struct item *victim) {
    struct store *s = ctx;
    struct shard *sh = store_shard(s, hash_key(&s->seed, item_ckey(victim), victim->nkey));
    if (!lock_try(&sh->lock))
        return SLAB_RECLAIM_NONE;
    enum slab_reclaim r = SLAB_RECLAIM_NONE;
    if (item_state(victim) == ITEM_LINKED && !(item_bits(victim) & ITEM_PINNED)) {
        bool dead = item_life(s, sh, victim, clock_now()) != ITEM_LIVE;
        if (dead || s->cfg.evict) {
            store_event_fn fn = __atomic_load_n(&s->on_event, __ATOMIC_ACQUIRE);
            if (!dead && fn != NULL)
                fn(s->on_event_ctx, &(struct store_event){.kind = STORE_EVENT_EVICTION, .item = victim});
            shard_unlink_at(sh, shard_link_of(sh, victim));
            r = dead ? SLAB_RECLAIM_EXPIRED : SLAB_RECLAIM_EVICTED;
        } else {
            r = SLAB_RECLAIM_KEPT; /* -M: live items stay */
        }
    }
    lock_give(&sh->lock);
    return r;
}

/* slab_reclaim_fn for the crawler: takes only dead items. */
static enum slab_reclaim store_reclaim_dead(void *ctx, struct item *victim) {
    struct store *s = ctx;
    struct shard *sh = store_shard(s, hash_key(&s->seed, item_ckey(victim), victim->nkey));
    if (!lock_try(&sh->lock))
        return SLAB_RECLAIM_NONE;
    enum slab_reclaim r = SLAB_RECLAIM_NONE;
    if (item_state(victim) == ITEM_LINKED && !(item_bits(victim) & ITEM_PINNED) &&
        item_life(s, sh, victim, clock_now()) != ITEM_LIVE) {
        shard_unlink_at(sh, shard_link_of(sh, victim));
        r = SLAB_RECLAIM_EXPIRED;
    }
    lock_give(&sh->lock);
    return r;
}

static void store_on_move(void *ctx, unsigned src, unsigned dst) {
    struct store *s = ctx;
    store_event_fn fn = __atomic_load_n(&s->on_event, __ATOMIC_ACQUIRE);
    if (fn != NULL)
        fn(s->on_event_ctx, &(struct store_event){.kind = STORE_EVENT_PAGE_MOVE, .src = src, .dst = dst});
}

/* --- life cycle ------------------------------------------------------------ */

static void *store_crawler_main(void *arg);

struct store *store_create(const struct store_config *cfg) {
    char why[320];
    return store_open(cfg, why, sizeof(why));
}

/* --- memory file (-e) ------------------------------------------------------- */

static void store_mfile_params(const struct store_config *cfg, struct mfile_params *p) {
    *p = (struct mfile_params){.mem_limit = cfg->mem_limit,
                               .item_max = cfg->item_size_max,
                               .chunk_min = cfg->chunk_min,
                               .factor = cfg->factor};
}

/* slab_adopt_fn: links a chunk found linked in the file, unless it died
 * while the server was down.  Runs before any other thread. */
static enum slab_adopt store_adopt(void *ctx, struct item *it) {
    struct store *s = ctx;
    uint64_t *cas_max = &s->adopt_cas_max;
    rel_time_t now = s->adopt_now;
    uint64_t h = hash_key(&s->seed, item_ckey(it), it->nkey);
    struct shard *sh = store_shard(s, h);
    if (item_life(s, sh, it, now) != ITEM_LIVE)
        return SLAB_ADOPT_DEAD;
    hlink *pp = shard_find(sh, h, item_ckey(it), it->nkey);
    if (pp != NULL) {
        /* Cannot happen (an old version is unlinked before its successor
         * is linked), but if it did, the later write wins. */
        if (link_item(*pp)->cas >= it->cas)
            return SLAB_ADOPT_BAD;
        s->restart.dropped++;
        s->restart.restored--; /* slab_adopt counted it as kept */
        shard_drop(s, sh, pp);
    }
    if (item_atime(it) > now)
        item_set_atime(it, now);
    item_bits_clear(it, ITEM_PINNED); /* no reply survives the process */
    it->hlink = 0; /* the file's link held an address of the last run */
    shard_insert(sh, h, it);
    sh->c.total_items++; /* memcached counts restored items there too */
    if (it->cas > *cas_max)
        *cas_max = it->cas;
    return SLAB_ADOPT_KEEP;
}

/* Continues the clock the file's items were written against: from the
 * clean stop's clock plus the wall time since (as memcached), or after a
 * crash from the epoch the file records. */
static void store_resume_clock(struct store *s, bool clean, const struct mfile_meta *m) {
    rel_time_t now = clock_now();
    int64_t target;
    if (clean) {
        int64_t down = (int64_t)time(NULL) - (int64_t)m->stop_time;
        target = (int64_t)m->current_time + (down > 0 ? down : 0);
    } else {
        target = (int64_t)now + ((int64_t)clock_started() - (int64_t)mfile_epoch(s->mf));
    }
    if (target > (int64_t)now && target - now < (int64_t)UINT32_MAX / 2)
        clock_shift((rel_time_t)(target - now));
}

/* Opens cfg->memory_file and decides how the store starts; the pages are
 * adopted later, once the hash tables exist.  *adopt says whether to. */
static bool store_open_file(struct store *s, struct store_config *cfg, bool *adopt, char *why,
                            size_t whylen) {
    struct mfile_params p;
    struct mfile_meta m = {0};
    store_mfile_params(cfg, &p);
    enum mfile_meta_status ms = mfile_meta_load(cfg->memory_file, &p, &m, why, whylen);
    if (ms == MFILE_META_CORRUPT)
        return false;
    enum mfile_status fs;
    s->mf = mfile_open(cfg->memory_file, &p, &fs, s->restart.why, sizeof(s->restart.why));
    if (s->mf == NULL) {
        snprintf(why, whylen, "%s", s->restart.why);
        return false;
    }
    if (ms == MFILE_META_MISMATCH && fs != MFILE_RESET)
        snprintf(s->restart.why, sizeof(s->restart.why), "%s", why);
    *adopt = fs == MFILE_REUSED;
    s->restart.mode = !*adopt              ? STORE_RESTART_COLD
                      : ms == MFILE_META_OK ? STORE_RESTART_WARM
                                            : STORE_RESTART_RECOVERED;
    if (*adopt) {
        store_resume_clock(s, ms == MFILE_META_OK, &m);
        s->oldest_live = mfile_oldest_live(s->mf);
        if (ms == MFILE_META_OK && m.hashpower >= 12 && m.hashpower <= 32)
            cfg->hashpower = m.hashpower;
    } else {
        mfile_set_oldest_live(s->mf, 0);
    }
    mfile_set_epoch(s->mf, clock_started());
    slab_use_file(s->slabs, s->mf);
    return true;
}

static void store_adopt_all(struct store *s) {
    struct timespec t0, t1;
    struct slab_adopt_counts n;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Tables sized for what comes back: no rehash while a million items
     * are linked (after a crash no hash power was recorded). */
    uint64_t per_shard = slab_adopt_estimate(s->slabs) / STORE_SHARDS;
    uint64_t nb = s->shards[0].t[0].mask + 1;
    while (nb + nb / 2 <= per_shard)
        nb *= 2;
    for (unsigned i = 0; i < STORE_SHARDS && nb > s->shards[i].t[0].mask + 1; i++) {
        struct table t;
        if (table_init(&t, nb)) {
            free(s->shards[i].t[0].b);
            s->shards[i].t[0] = t;
        }
    }
    s->adopt_now = clock_now();
    slab_adopt(s->slabs, store_adopt, s, &n);
    /* New cas values stay above every restored one, whichever shard an
     * item lands in under the new hash seed. */
    for (unsigned i = 0; i < STORE_SHARDS; i++)
        s->shards[i].cas_seq = s->adopt_cas_max / STORE_SHARDS + 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s->restart.restored += n.kept;
    s->restart.expired = n.dead;
    s->restart.dropped += n.bad;
    s->restart.seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

bool store_save(struct store *s) {
    if (s->mf == NULL)
        return true;
    struct mfile_params p;
    struct store_stats ss;
    store_mfile_params(&s->cfg, &p);
    store_stats(s, &ss);
    struct mfile_meta m = {.current_time = clock_now(),
                           .stop_time = time(NULL),
                           .hashpower = ss.hash_power_level};
    return mfile_meta_save(mfile_path(s->mf), &p, &m);
}

const struct store_restart *store_restart_info(const struct store *s) { return &s->restart; }

struct store *store_open(const struct store_config *cfg_in, char *why, size_t whylen) {
    struct store_config cfg = *cfg_in;
    snprintf(why, whylen, "bad memory settings (check -m, -I, -f, -n)");
    if (cfg.item_size_max < 1024 || cfg.mem_limit == 0)
        return NULL;
    clock_start(); /* item times are read on every request */
    struct store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    /* The store is a large allocation, mapped where slab pages are: if its
     * address does not fit under the links' tags, theirs would not either. */
    if (!link_addr_ok(s)) {
        snprintf(why, whylen, "addresses above 2^48: build with -DSTORE_LINK_TAGS=0");
        free(s);
        return NULL;
    }
    s->slabs = slab_create(cfg.mem_limit, cfg.item_size_max, cfg.factor, cfg.chunk_min);
    bool adopt = false;
    if (cfg.hash_seed != NULL)
        s->seed = *cfg.hash_seed;
    bool ok = s->slabs != NULL && (cfg.hash_seed != NULL || hash_seed_random(&s->seed));
    if (ok && cfg.memory_file != NULL)
        ok = store_open_file(s, &cfg, &adopt, why, whylen);
    s->cfg = cfg;
    unsigned power = cfg.hashpower > STORE_SHARD_BITS ? cfg.hashpower - STORE_SHARD_BITS : 0;
    uint64_t nb = (uint64_t)1 << power;
    if (nb < STORE_MIN_SHARD_BUCKETS)
        nb = STORE_MIN_SHARD_BUCKETS;
    for (unsigned i = 0; i < STORE_SHARDS; i++) {
        s->shards[i].seed = &s->seed;
        lock_init(&s->shards[i].lock);
        s->shards[i].rehash = -1;
        s->shards[i].cc = calloc(SLAB_CLASS_MAX + 1, sizeof(struct class_counters));
        ok = ok && s->shards[i].cc != NULL && table_init(&s->shards[i].t[0], nb);
    }
    pthread_mutex_init(&s->crawler_lock, NULL);
    pthread_cond_init(&s->crawler_cond, NULL);
    s->crawler_on = cfg.crawler;
    s->automove = cfg.balance ? 1 : 0;
    store_set_limit_pins(s, cfg.mem_limit);
    if (s->slabs != NULL)
        slab_set_move_hook(s->slabs, store_on_move, s);
    if (ok && adopt)
        store_adopt_all(s);
    /* always there: lru_crawler enable and slabs automove may start work later */
    if (ok)
        ok = s->crawler_started = pthread_create(&s->crawler, NULL, store_crawler_main, s) == 0;
    if (!ok) {
        store_destroy(s);
        return NULL;
    }
    return s;
}

void store_destroy(struct store *s) {
    if (s == NULL)
        return;
    if (s->crawler_started) {
        pthread_mutex_lock(&s->crawler_lock);
        s->crawler_stop = true;
        pthread_cond_signal(&s->crawler_cond);
        pthread_mutex_unlock(&s->crawler_lock);
        pthread_join(s->crawler, NULL);
    }
    for (unsigned i = 0; i < STORE_SHARDS; i++) {
        free(s->shards[i].t[0].b);
        free(s->shards[i].t[1].b);
        free(s->shards[i].cc);
        free(s->shards[i].pins);
    }
    pthread_mutex_destroy(&s->crawler_lock);
    pthread_cond_destroy(&s->crawler_cond);
    slab_destroy(s->slabs); /* items live in pages: freeing pages frees them */
    mfile_close(s->mf, true);
    free(s);
}

const struct store_config *store_config(const struct store *s) { return &s->cfg; }
struct slabs *store_slabs(struct store *s) { return s->slabs; }
rel_time_t store_oldest_live(struct store *s) {
    return __atomic_load_n(&s->oldest_live, __ATOMIC_RELAXED);
}
/* Pinned items cannot be evicted: a quarter of -m (at least two of the
 * largest items, at most half) keeps the rest evictable for stores. */
static void store_set_limit_pins(struct store *s, size_t mem_limit) {
    uint64_t lim = mem_limit / 4;
    if (lim < 2 * (uint64_t)s->cfg.item_size_max)
        lim = 2 * (uint64_t)s->cfg.item_size_max;
    if (lim > mem_limit / 2)
        lim = mem_limit / 2;
    __atomic_store_n(&s->pin_limit, lim, __ATOMIC_RELAXED);
}

void store_set_limit(struct store *s, size_t mem_limit) {
    slab_set_limit(s->slabs, mem_limit);
    store_set_limit_pins(s, mem_limit);
}

uint64_t store_item_cas(const struct store *s, const struct item *it) {
    return s->cfg.use_cas ? it->cas : 0;
}

/* --- operations ------------------------------------------------------------ */

/* Allocation without counting failures, for callers that hold a shard lock. */
static struct item *store_alloc_raw(struct store *s, const char *key, size_t nkey, uint32_t flags,
                                    rel_time_t exptime, size_t nbytes, enum store_status *st) {
    size_t total = item_total(nkey, nbytes);
    unsigned cls = total <= s->cfg.item_size_max ? slab_class_for(s->slabs, total) : 0;
    if (nkey == 0 || nkey > ITEM_KEY_MAX || cls == 0) {
        *st = STORE_TOO_LARGE;
        return NULL;
    }
    struct item *it = slab_alloc_size(s->slabs, cls, total, store_reclaim, s);
    if (it == NULL) {
        *st = STORE_NO_MEMORY;
        return NULL;
    }
    it->hlink = 0;
    it->cas = 0;
    it->exptime = exptime;
    item_set_atime(it, 0);
    it->flags = flags;
    it->nbytes = (uint32_t)nbytes;
    it->nkey = (uint8_t)nkey;
    memcpy(item_key(it), key, nkey);
    *st = STORE_OK;
    return it;
}

static void counters_failed(struct counters *c, enum store_status st) {
    c->store_too_large += st == STORE_TOO_LARGE;
    c->store_no_memory += st == STORE_NO_MEMORY;
}

struct item *store_alloc(struct store *s, const char *key, size_t nkey, uint32_t flags,
                         rel_time_t exptime, size_t nbytes, enum store_status *st) {
    struct item *it = store_alloc_raw(s, key, nkey, flags, exptime, nbytes, st);
    if (it == NULL) {
        struct shard *sh = store_shard(s, hash_key(&s->seed, key, nkey));
        lock_take(&sh->lock);
        counters_failed(&sh->c, *st);
        lock_give(&sh->lock);
    }
    return it;
}

void store_release(struct store *s, struct item *it) {
    if (it != NULL)
        slab_free(s->slabs, it);
}

/* Builds the item an append/prepend stores: old value joined with the new. */
static struct item *store_join(struct store *s, const struct item *old, const struct item *add,
                               bool append, enum store_status *st) {
    struct item *it = store_alloc_raw(s, item_ckey(old), old->nkey, old->flags, old->exptime,
                                      (size_t)old->nbytes + add->nbytes, st);
    if (it == NULL)
        return NULL;
    const struct item *first = append ? old : add;
    const struct item *second = append ? add : old;
    memcpy(item_value(it), item_cvalue(first), first->nbytes);
    memcpy(item_value(it) + first->nbytes, item_cvalue(second), second->nbytes);
    return it;
}

static bool store_mode_is_cas(enum store_mode mode) {
    return mode == STORE_CAS || mode == STORE_CAS_STALE;
}

static enum store_status store_check(const struct item *old, enum store_mode mode, uint64_t cas_in) {
    bool check_cas = store_mode_is_cas(mode) || cas_in != 0;
    bool joins = mode == STORE_APPEND || mode == STORE_PREPEND;
    if (old == NULL) {
        /* memcached: append/prepend with a cas (meta only) miss as NOT_STORED */
        if (check_cas && !joins)
            return STORE_NOT_FOUND;
        return mode == STORE_SET || mode == STORE_ADD ? STORE_OK : STORE_NOT_STORED;
    }
    if (check_cas && old->cas != cas_in)
        return STORE_EXISTS;
    return mode == STORE_ADD ? STORE_NOT_STORED : STORE_OK;
}

enum store_status store_link(struct store *s, struct item *it, enum store_mode mode,
                             uint64_t cas_in, uint64_t *cas_out) {
    uint64_t h = hash_key(&s->seed, item_ckey(it), it->nkey);
    struct shard *sh = store_shard(s, h);
    rel_time_t now = clock_now();
    enum item_life life;

    lock_take(&sh->lock);
    sh->cc[it->clsid].cmd_set++;
    hlink *pp = shard_lookup_for(s, sh, h, item_ckey(it), it->nkey, now, &life, true);
    struct item *old = pp ? link_item(*pp) : NULL;
    enum store_status st = store_check(old, mode, cas_in);
    if (st == STORE_EXISTS && mode == STORE_CAS_STALE && cas_in != 0 && cas_in < old->cas) {
        /* An older writer's value: kept, but served as stale until recached. */
        st = STORE_OK;
        it->exptime = old->exptime;
        item_bits_set(it, ITEM_STALE | (item_bits(old) & ITEM_TOKEN));
    }
    if (store_mode_is_cas(mode) || cas_in != 0) {
        sh->c.cas_misses += st == STORE_NOT_FOUND;
        sh->c.cas_badval += st == STORE_EXISTS;
        sh->c.cas_hits += st == STORE_OK;
        if (old != NULL) {
            sh->cc[old->clsid].cas_badval += st == STORE_EXISTS;
            sh->cc[old->clsid].cas_hits += st == STORE_OK;
        }
    }
    if (st == STORE_OK && (mode == STORE_APPEND || mode == STORE_PREPEND)) {
        struct item *joined = store_join(s, old, it, mode == STORE_APPEND, &st);
        slab_free(s->slabs, it);
        it = joined; /* old stays linked: nobody evicts from a shard we hold */
        counters_failed(&sh->c, st);
    }
    if (st == STORE_OK) {
        if (pp != NULL) {
            shard_drop(s, sh, pp);
        } else if (mode == STORE_ADD && old != NULL) {
            item_set_atime(old, now); /* memcached bumps the item an add bounced off */
        }
        it->cas = shard_next_cas(s, sh);
        item_set_atime(it, now);
        shard_insert(sh, h, it);
        sh->c.total_items++;
        if (cas_out)
            *cas_out = store_item_cas(s, it);
    } else if (it != NULL) {
        if (mode == STORE_ADD && old != NULL)
            item_set_atime(old, now);
        slab_free(s->slabs, it);
    }
    lock_give(&sh->lock);
    return st;
}

/* memcached's rule (do_item_bump): the first fetch marks an item FETCHED,
 * the second ACTIVE, and once fetched a single hit makes it ACTIVE again
 * after the sweep cleared it.  So a key read once right after its store
 * (a write-then-verify) is not spared, and a scan of keys each read once
 * does not push out the ones read again and again. */
static void store_bump(struct item *it, rel_time_t now) {
    item_bits_set(it, item_bits(it) & ITEM_FETCHED ? ITEM_ACTIVE : ITEM_FETCHED);
    if (item_atime(it) != now)
        item_set_atime(it, now);
}

static void store_emit_nothing(void *ctx, const struct item *it,
                               const struct store_fetch_info *info) {
    (void)ctx;
    (void)it;
    (void)info;
}

/* touch is gat without the value: the same path and counters. */
enum store_status store_touch(struct store *s, const char *key, size_t nkey, rel_time_t exptime) {
    struct store_fetch_opts o = {.touch = true, .exptime = exptime};
    return store_get(s, key, nkey, &o, store_emit_nothing, NULL);
}

enum store_status store_delete(struct store *s, const char *key, size_t nkey, uint64_t cas_in) {
    struct store_mdelete_opts o = {.has_cas = cas_in != 0, .cas = cas_in};
    return store_mdelete(s, key, nkey, &o);
}

void store_unlink(struct store *s, const char *key, size_t nkey) {
    uint64_t h = hash_key(&s->seed, key, nkey);
    struct shard *sh = store_shard(s, h);
    enum item_life life;

    lock_take(&sh->lock);
    hlink *pp = shard_lookup(s, sh, h, key, nkey, clock_now(), &life);
    if (pp != NULL)
        shard_drop(s, sh, pp);
    lock_give(&sh->lock);
}

static bool store_isspace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Parses a stored counter as memcached does (strtoull on the value, then
 * safe_strtoull's checks): leading white space and a sign are allowed, the
 * digits must end the value or be followed by white space or NUL, whatever
 * comes after that is ignored ("12 ab" is 12; a decr that shortened a value
 * in place leaves space padding), and a "-n" that strtoull would turn into
 * a huge number is refused. */
static bool store_parse_counter(const char *p, size_t n, uint64_t *out) {
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && store_isspace(p[i]))
        i++;
    bool neg = i < n && p[i] == '-';
    if (i < n && (p[i] == '+' || p[i] == '-'))
        i++;
    size_t first = i;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i == first || (i < n && !store_isspace(p[i]) && p[i] != '\0'))
        return false;
    if (neg)
        v = 0 - v;
    if (neg && (int64_t)v < 0)
        return false;
    *out = v;
    return true;
}

static enum store_status shard_arith(struct store *s, struct shard *sh, hlink *pp, bool incr,
                                     uint64_t delta, uint64_t *value, uint64_t *cas_out) {
    struct item *it = link_item(*pp);
    uint64_t v;
    if (!store_parse_counter(item_cvalue(it), it->nbytes, &v))
        return STORE_NON_NUMERIC;
    v = incr ? v + delta : (delta > v ? 0 : v - delta);
    char buf[24];
    size_t n = 0;
    uint64_t t = v;
    do {
        buf[sizeof(buf) - 1 - n++] = (char)('0' + t % 10);
        t /= 10;
    } while (t);
    const char *digits = buf + sizeof(buf) - n;
    *value = v;
    rel_time_t now = clock_now();
    if (n > it->nbytes || (item_bits(it) & ITEM_PINNED)) { /* a reply reads the old digits */
        enum store_status st;
        struct item *nit = store_alloc_raw(s, item_ckey(it), it->nkey, it->flags, it->exptime, n, &st);
        if (nit == NULL) {
            counters_failed(&sh->c, st);
            return st;
        }
        memcpy(item_value(nit), digits, n);
        shard_drop(s, sh, pp);
        it = nit;
        it->cas = shard_next_cas(s, sh);
        shard_insert(sh, hash_key(&s->seed, item_ckey(it), it->nkey), it);
        sh->c.total_items++; /* memcached counts the replacing link too */
    } else {
        /* In place, padded with spaces like memcached.  With a memory file
         * the item is not "linked" while its digits change, so that a crash
         * in between drops it rather than leave a torn number to restore. */
        if (s->mf)
            item_set_state(it, ITEM_ALLOCATED);
        memcpy(item_value(it), digits, n);
        memset(item_value(it) + n, ' ', it->nbytes - n);
        it->cas = shard_next_cas(s, sh);
        if (s->mf)
            item_set_state(it, ITEM_LINKED);
    }
    store_bump(it, now);
    if (cas_out != NULL)
        *cas_out = store_item_cas(s, it);
    return STORE_OK;
}

/* Classic incr/decr: ma without cas, creation or touch, one path for both. */
enum store_status store_arith(struct store *s, const char *key, size_t nkey, bool incr,
                              uint64_t delta, uint64_t *value, uint64_t *cas_out) {
    struct store_marith_opts o = {.incr = incr, .delta = delta};
    struct store_marith_result r;
    enum store_status st = store_marith(s, key, nkey, &o, &r);
    if (st == STORE_OK) {
        *value = r.value;
        if (cas_out != NULL)
            *cas_out = r.cas;
    }
    return st;
}

/* --- flush and crawl ------------------------------------------------------- */

/* Unlinks every item of the shard (flush_all). */
static void shard_drop_all(struct store *s, struct shard *sh) {
    for (int t = 0; t < 2; t++) {
        struct table *tb = &sh->t[t];
        for (uint64_t b = 0; tb->b != NULL && b <= tb->mask; b++)
            while (tb->b[b] != 0)
                shard_drop(s, sh, &tb->b[b]);
    }
}

/* Kept in the memory file too: a delayed flush_all still fires after a
 * crash and restart. */
static void store_set_oldest_live(struct store *s, rel_time_t t) {
    __atomic_store_n(&s->oldest_live, t, __ATOMIC_RELAXED);
    if (s->mf)
        mfile_set_oldest_live(s->mf, t);
}

void store_flush(struct store *s, int64_t delay) {
    if (delay > 0) {
        rel_time_t when = clock_exptime(delay);
        store_set_oldest_live(s, when > 1 ? when - 1 : 1);
        return;
    }
    /* Immediate: every item stored so far is dead from now on, found so by
     * the next access (counted in get_flushed, as in memcached), a store to
     * its key or the CLOCK (reclaimed) or the crawler, which frees them
     * within a pass.  One shard lock at a time, each for a moment.  With a
     * memory file (-e) the dead items are unlinked at once instead: the
     * threshold is not in the file, and a restart must not bring them back. */
    store_set_oldest_live(s, 0);
    for (unsigned i = 0; i < STORE_SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        lock_take(&sh->lock);
        sh->flush_cas = sh->cas_seq * STORE_SHARDS + i;
        if (s->mf != NULL)
            shard_drop_all(s, sh);
        lock_give(&sh->lock);
    }
    /* Without cas (-C) memcached can draw the line only at a whole second,
     * so an item stored in the same second as the flush dies with it; its
     * own test suite (flush-all.t) holds it to that, so Larder does too.
     * With cas the flush is exact. */
    if (!s->cfg.use_cas)
        store_set_oldest_live(s, clock_now());
}

/* Chunks one lock hold of the crawler looks at: short enough that a writer
 * of the class waits microseconds, not milliseconds. */
#define STORE_CRAWL_BATCH 1024
/* Chunks the background crawl looks at per second over all classes: a
 * cache of up to this many items is covered every second, a larger one in
 * chunks / STORE_CRAWL_PER_TICK seconds, at a bounded cost per tick
 * (a few milliseconds of one core). */
#define STORE_CRAWL_PER_TICK 65536

/* Crawls class cls from its cursor for up to max chunks (0: to the end of
 * the class); returns the dead items freed. */
static uint64_t store_crawl_class(struct store *s, unsigned cls, uint64_t max, bool *wrapped) {
    uint64_t freed = 0, seen = 0;
    *wrapped = false;
    while (!*wrapped && (max == 0 || seen < max)) {
        uint64_t n = max == 0 || max - seen > STORE_CRAWL_BATCH ? STORE_CRAWL_BATCH : max - seen;
        struct slab_crawl_result r;
        slab_crawl(s->slabs, cls, (uint32_t)n, store_reclaim_dead, s, &r);
        freed += r.reclaimed;
        seen += n;
        *wrapped = r.wrapped;
        uint32_t us = __atomic_load_n(&s->crawl_sleep_us, __ATOMIC_RELAXED);
        if (us > 0 && !*wrapped)
            nanosleep(&(struct timespec){us / 1000000, (long)(us % 1000000) * 1000}, NULL);
    }
    return freed;
}

uint64_t store_crawl(struct store *s) {
    uint64_t freed = 0;
    bool wrapped;
    /* from the cursor to the end, then the whole class: every chunk once at least */
    for (unsigned c = 1; c <= slab_class_count(s->slabs); c++) {
        freed += store_crawl_class(s, c, 0, &wrapped);
        freed += store_crawl_class(s, c, 0, &wrapped);
    }
    return freed;
}

/* Shards nobody writes to finish a rehash here, a few buckets at a time. */
static void store_rehash_tick(struct store *s) {
    for (unsigned i = 0; i < STORE_SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        lock_take(&sh->lock);
        shard_rehash_step(sh, 64);
        lock_give(&sh->lock);
    }
}

/* The background crawl: STORE_CRAWL_PER_TICK chunks, class after class. */
static void store_crawl_tick(struct store *s) {
    uint64_t budget = STORE_CRAWL_PER_TICK;
    unsigned n = slab_class_count(s->slabs);
    for (unsigned k = 0; k < n && budget > 0; k++) {
        unsigned cls = s->crawl_cursor % n + 1;
        struct slab_class_stats cs;
        slab_class_stats(s->slabs, cls, &cs);
        uint64_t chunks = cs.pages * cs.per_page;
        uint64_t take = chunks < budget ? chunks : budget;
        bool wrapped = true;
        if (take > 0)
            store_crawl_class(s, cls, take, &wrapped);
        budget -= take;
        if (wrapped)
            s->crawl_cursor++;
    }
}

/* A requested crawl (lru_crawler crawl): the classes asked for, each to its
 * end or to tocrawl chunks. */
static void store_crawl_requested(struct store *s, uint64_t classes) {
    uint64_t tocrawl = __atomic_load_n(&s->crawl_tocrawl, __ATOMIC_RELAXED);
    bool wrapped;
    for (unsigned c = 1; c <= slab_class_count(s->slabs); c++) {
        if (!(classes & ((uint64_t)1 << c)))
            continue;
        if (tocrawl == 0) {
            store_crawl_class(s, c, 0, &wrapped);
            store_crawl_class(s, c, 0, &wrapped);
        } else {
            store_crawl_class(s, c, tocrawl, &wrapped);
        }
    }
}

enum store_crawl_start store_crawl_request(struct store *s, uint64_t classes) {
    enum store_crawl_start r = STORE_CRAWL_STARTED;
    pthread_mutex_lock(&s->crawler_lock);
    if (__atomic_load_n(&s->crawl_running, __ATOMIC_RELAXED)) {
        r = STORE_CRAWL_RUNNING;
    } else {
        s->crawl_classes = classes;
        __atomic_store_n(&s->crawl_running, true, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s->crawl_starts, 1, __ATOMIC_RELAXED);
        pthread_cond_signal(&s->crawler_cond);
    }
    pthread_mutex_unlock(&s->crawler_lock);
    return r;
}

bool store_crawler_enable(struct store *s, bool on) {
    return __atomic_exchange_n(&s->crawler_on, on, __ATOMIC_RELAXED);
}
bool store_crawler_enabled(const struct store *s) {
    return __atomic_load_n(&s->crawler_on, __ATOMIC_RELAXED);
}
void store_crawler_tune(struct store *s, int64_t tocrawl, int64_t sleep_us) {
    if (tocrawl >= 0)
        __atomic_store_n(&s->crawl_tocrawl, (uint64_t)tocrawl, __ATOMIC_RELAXED);
    if (sleep_us >= 0)
        __atomic_store_n(&s->crawl_sleep_us, (uint32_t)sleep_us, __ATOMIC_RELAXED);
}

void store_set_automove(struct store *s, unsigned level) {
    __atomic_store_n(&s->automove, level, __ATOMIC_RELAXED);
}
unsigned store_automove(const struct store *s) {
    return __atomic_load_n(&s->automove, __ATOMIC_RELAXED);
}

/* slab_relocate_fn: moves a live item to another chunk of its class. */
static bool store_relocate(void *ctx, struct item *from, struct item *to) {
    struct store *s = ctx;
    struct shard *sh = store_shard(s, hash_key(&s->seed, item_ckey(from), from->nkey));
    if (!lock_try(&sh->lock))
        return false;
    bool moved = false;
    bool movable = item_state(from) == ITEM_LINKED && !(item_bits(from) & ITEM_PINNED);
    hlink *pp = movable ? shard_link_of(sh, from) : NULL;
    if (pp != NULL) {
        memcpy(to, from, item_total(from->nkey, from->nbytes)); /* its link to the next, too */
        *pp = link_retarget(*pp, to);
        item_set_state(from, ITEM_ALLOCATED);
        moved = true;
    }
    lock_give(&sh->lock);
    return moved;
}

enum slab_reassign_result store_reassign(struct store *s, int src, int dst) {
    uint64_t evicted = 0, rescued = 0;
    enum slab_reassign_result r =
        slab_reassign(s->slabs, src, dst, store_reclaim, store_relocate, s, &evicted, &rescued);
    __atomic_add_fetch(&s->reassign_evictions, evicted, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->reassign_rescues, rescued, __ATOMIC_RELAXED);
    return r;
}

void store_set_event_hook(struct store *s, store_event_fn fn, void *ctx) {
    s->on_event_ctx = ctx;
    __atomic_store_n(&s->on_event, fn, __ATOMIC_RELEASE);
}

unsigned store_balance(struct store *s) { return slab_balance(s->slabs, store_reclaim, s); }

/* The maintenance thread: once a second, crawl for dead items and balance
 * slab pages, as configured; at once when a crawl is requested. */
static void *store_crawler_main(void *arg) {
    struct store *s = arg;
    pthread_mutex_lock(&s->crawler_lock);
    while (!s->crawler_stop) {
        if (s->crawl_classes == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&s->crawler_cond, &s->crawler_lock, &ts);
        }
        if (s->crawler_stop)
            break;
        uint64_t classes = s->crawl_classes;
        s->crawl_classes = 0;
        pthread_mutex_unlock(&s->crawler_lock);
        if (classes != 0) {
            store_crawl_requested(s, classes);
            __atomic_store_n(&s->crawl_running, false, __ATOMIC_RELAXED);
        } else {
            store_rehash_tick(s);
            if (store_crawler_enabled(s))
                store_crawl_tick(s);
            if (store_automove(s) > 0)
                store_balance(s);
        }
        pthread_mutex_lock(&s->crawler_lock);
    }
    pthread_mutex_unlock(&s->crawler_lock);
    return NULL;
}

/* Visits the live items of one shard, at most `limit` (0: all); returns how
 * many it visited. */
static unsigned shard_walk(struct store *s, struct shard *sh, unsigned limit, store_emit_fn fn,
                           void *ctx) {
    rel_time_t now = clock_now();
    unsigned seen = 0;
    lock_take(&sh->lock);
    for (int t = 0; t < 2; t++) {
        struct table *tb = &sh->t[t];
        for (uint64_t b = 0; tb->b != NULL && b <= tb->mask; b++)
            for (hlink l = tb->b[b]; l != 0; l = link_item(l)->hlink) {
                struct item *it = link_item(l);
                if (item_life(s, sh, it, now) == ITEM_LIVE && (limit == 0 || seen < limit)) {
                    fn(ctx, it);
                    seen++;
                }
            }
    }
    lock_give(&sh->lock);
    return seen;
}

void store_walk(struct store *s, unsigned limit, store_emit_fn fn, void *ctx) {
    unsigned seen = 0;
    for (unsigned i = 0; i < STORE_SHARDS && (limit == 0 || seen < limit); i++)
        seen += shard_walk(s, &s->shards[i], limit ? limit - seen : 0, fn, ctx);
}

/* A part is a slice of one shard's buckets, so that a dump can stop
 * inside a shard however many items it holds: 64 slices of 256 shards
 * keep a part to about a ten-thousandth of the cache.  An item's slice is
 * the low bits of its hash, which pick its bucket in every table size, so
 * a rehash between parts moves items within their slice, never across:
 * an item linked for the whole walk is met exactly once. */
#define STORE_WALK_SLICES 64

unsigned store_walk_parts(void) { return STORE_SHARDS * STORE_WALK_SLICES; }

static void table_walk_slice(struct store *s, struct shard *sh, const struct table *tb, uint64_t slice,
                             rel_time_t now, store_emit_fn fn, void *ctx) {
    /* a table of fewer buckets than slices shares a bucket among slices */
    bool shared = tb->mask < STORE_WALK_SLICES - 1;
    uint64_t step = shared ? tb->mask + 1 : STORE_WALK_SLICES;
    for (uint64_t b = slice & tb->mask; b <= tb->mask; b += step)
        for (hlink l = tb->b[b]; l != 0; l = link_item(l)->hlink) {
            struct item *it = link_item(l);
            if (shared && (hash_key(sh->seed, item_ckey(it), it->nkey) & (STORE_WALK_SLICES - 1)) != slice)
                continue;
            if (item_life(s, sh, it, now) == ITEM_LIVE)
                fn(ctx, it);
        }
}

void store_walk_part(struct store *s, unsigned part, store_emit_fn fn, void *ctx) {
    struct shard *sh = &s->shards[(part / STORE_WALK_SLICES) % STORE_SHARDS];
    uint64_t slice = part % STORE_WALK_SLICES;
    rel_time_t now = clock_now();
    lock_take(&sh->lock);
    for (int t = 0; t < 2; t++)
        if (sh->t[t].b != NULL)
            table_walk_slice(s, sh, &sh->t[t], slice, now, fn, ctx);
    lock_give(&sh->lock);
}

/* --- replies sent from items --------------------------------------------------- */

bool store_pin(struct store *s, const struct item *it) {
    struct shard *sh = store_shard(s, hash_key(&s->seed, item_ckey(it), it->nkey));
    struct shard_pin *pin = (item_bits(it) & ITEM_PINNED) ? shard_pin_of(sh, it) : NULL;
    if (pin != NULL) {
        pin->count++;
        return true;
    }
    uint64_t size = item_total(it->nkey, it->nbytes);
    if (__atomic_add_fetch(&s->pinned_bytes, size, __ATOMIC_RELAXED) >
        __atomic_load_n(&s->pin_limit, __ATOMIC_RELAXED)) {
        __atomic_sub_fetch(&s->pinned_bytes, size, __ATOMIC_RELAXED);
        __atomic_add_fetch(&s->pin_refusals, 1, __ATOMIC_RELAXED);
        return false;
    }
    if (sh->npins == sh->pins_cap) {
        uint32_t cap = sh->pins_cap ? sh->pins_cap * 2 : 4;
        struct shard_pin *p = realloc(sh->pins, cap * sizeof(*p));
        if (p == NULL) {
            __atomic_sub_fetch(&s->pinned_bytes, size, __ATOMIC_RELAXED);
            return false;
        }
        sh->pins = p;
        sh->pins_cap = cap;
    }
    sh->pins[sh->npins++] = (struct shard_pin){.it = it, .count = 1};
    __atomic_add_fetch(&s->pinned_items, 1, __ATOMIC_RELAXED);
    /* the bits are atomic: the cast only drops the const of a fetch */
    item_bits_set((struct item *)it, ITEM_PINNED);
    return true;
}

void store_unpin(struct store *s, const struct item *it) {
    struct shard *sh = store_shard(s, hash_key(&s->seed, item_ckey(it), it->nkey));
    struct item *free_it = NULL;
    lock_take(&sh->lock);
    struct shard_pin *pin = shard_pin_of(sh, it);
    if (pin != NULL && --pin->count == 0) {
        struct item *mut = (struct item *)pin->it;
        if (pin->orphan)
            free_it = mut;
        else
            item_bits_clear(mut, ITEM_PINNED);
        __atomic_sub_fetch(&s->pinned_bytes, item_total(it->nkey, it->nbytes), __ATOMIC_RELAXED);
        __atomic_sub_fetch(&s->pinned_items, 1, __ATOMIC_RELAXED);
        *pin = sh->pins[--sh->npins];
        if (sh->npins == 0 && sh->pins_cap > 16) {
            free(sh->pins);
            sh->pins = NULL;
            sh->pins_cap = 0;
        }
    }
    if (free_it != NULL) {
        item_bits_clear(free_it, ITEM_PINNED);
        slab_free(s->slabs, free_it);
    }
    lock_give(&sh->lock);
}

/* --- stats ----------------------------------------------------------------- */

void store_stats(struct store *s, struct store_stats *out) {
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < STORE_SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        lock_take(&sh->lock);
        const struct counters *c = &sh->c;
        out->curr_items += sh->items;
        out->bytes += sh->bytes;
        out->total_items += c->total_items;
        out->get_hits += c->get_hits;
        out->get_misses += c->get_misses;
        out->get_expired += c->get_expired;
        out->get_flushed += c->get_flushed;
        out->touch_hits += c->touch_hits;
        out->touch_misses += c->touch_misses;
        out->delete_hits += c->delete_hits;
        out->delete_misses += c->delete_misses;
        out->incr_hits += c->incr_hits;
        out->incr_misses += c->incr_misses;
        out->decr_hits += c->decr_hits;
        out->decr_misses += c->decr_misses;
        out->cas_hits += c->cas_hits;
        out->cas_misses += c->cas_misses;
        out->cas_badval += c->cas_badval;
        out->store_too_large += c->store_too_large;
        out->store_no_memory += c->store_no_memory;
        out->hash_buckets += sh->t[0].mask + 1 + (sh->t[1].b ? sh->t[1].mask + 1 : 0);
        out->hash_is_expanding |= sh->rehash >= 0;
        for (unsigned k = 1; k <= SLAB_CLASS_MAX; k++) {
            out->reclaimed += sh->cc[k].reclaimed;
            out->expired_unfetched += sh->cc[k].expired_unfetched;
        }
        lock_give(&sh->lock);
    }
    out->hash_bytes = out->hash_buckets * sizeof(hlink);
    out->pinned_items = __atomic_load_n(&s->pinned_items, __ATOMIC_RELAXED);
    out->pinned_bytes = __atomic_load_n(&s->pinned_bytes, __ATOMIC_RELAXED);
    out->pin_limit = __atomic_load_n(&s->pin_limit, __ATOMIC_RELAXED);
    out->pin_refusals = __atomic_load_n(&s->pin_refusals, __ATOMIC_RELAXED);
    unsigned p = 0;
    while (((uint64_t)1 << (p + 1)) <= out->hash_buckets)
        p++;
    out->hash_power_level = p;
    for (unsigned c = 1; c <= slab_class_count(s->slabs); c++) {
        struct slab_class_stats cs;
        slab_class_stats(s->slabs, c, &cs);
        out->evictions += cs.evicted;
        out->evicted_unfetched += cs.evicted_unfetched;
        out->reclaimed += cs.reclaimed;
        out->expired_unfetched += cs.expired_unfetched;
        out->evicted_active += cs.evicted_active;
        out->direct_reclaims += cs.direct_reclaims;
        out->crawler_reclaimed += cs.crawler_reclaimed;
        out->crawler_items_checked += cs.crawler_checked;
    }
    out->lru_crawler_running = __atomic_load_n(&s->crawl_running, __ATOMIC_RELAXED);
    out->lru_crawler_starts = __atomic_load_n(&s->crawl_starts, __ATOMIC_RELAXED);
    out->slab_reassign_evictions_nomem = __atomic_load_n(&s->reassign_evictions, __ATOMIC_RELAXED);
    out->slab_reassign_rescues = __atomic_load_n(&s->reassign_rescues, __ATOMIC_RELAXED);
    out->limit_maxbytes = slab_limit(s->slabs);
    out->total_malloced = slab_total_malloced(s->slabs);
    out->slabs_moved = slab_pages_moved(s->slabs);
}

void store_stats_reset(struct store *s) {
    for (unsigned i = 0; i < STORE_SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        lock_take(&sh->lock);
        memset(&sh->c, 0, sizeof(sh->c));
        for (unsigned k = 0; k <= SLAB_CLASS_MAX; k++) {
            uint64_t requested = sh->cc[k].requested; /* a gauge, not a count */
            sh->cc[k] = (struct class_counters){.requested = requested};
        }
        lock_give(&sh->lock);
    }
    slab_stats_reset(s->slabs);
}

void store_class_stats(struct store *s, struct store_class_stats out[SLAB_CLASS_MAX + 1]) {
    memset(out, 0, (SLAB_CLASS_MAX + 1) * sizeof(*out));
    for (unsigned i = 0; i < STORE_SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        lock_take(&sh->lock);
        for (unsigned k = 1; k <= SLAB_CLASS_MAX; k++) {
            const struct class_counters *c = &sh->cc[k];
            struct store_class_stats *o = &out[k];
            o->get_hits += c->get_hits;
            o->cmd_set += c->cmd_set;
            o->delete_hits += c->delete_hits;
            o->incr_hits += c->incr_hits;
            o->decr_hits += c->decr_hits;
            o->cas_hits += c->cas_hits;
            o->cas_badval += c->cas_badval;
            o->touch_hits += c->touch_hits;
            o->reclaimed += c->reclaimed;
            o->expired_unfetched += c->expired_unfetched;
            o->crawler_reclaimed += c->crawler_reclaimed;
            o->crawler_items_checked += c->crawler_items_checked;
            o->mem_requested += c->requested;
        }
        lock_give(&sh->lock);
    }
}

/* --- meta commands --------------------------------------------------------- */

/* Links an empty item for mg N or a counter for ma N; NULL when memory is
 * short.  Runs under the shard lock: eviction skips a shard we hold. */
static struct item *shard_create(struct store *s, struct shard *sh, uint64_t h, const char *key,
                                 size_t nkey, const char *value, size_t nbytes, rel_time_t now) {
    enum store_status st;
    struct item *it = store_alloc_raw(s, key, nkey, 0, CLOCK_NEVER, nbytes, &st);
    if (it == NULL)
        return NULL;
    memcpy(item_value(it), value, nbytes);
    it->cas = shard_next_cas(s, sh);
    item_set_atime(it, now);
    shard_insert(sh, h, it);
    sh->c.total_items++;
    return it;
}

/* The exptime T and N leave: N only acts on a created item, and when both
 * act the one given last wins. */
static void meta_set_exptime(struct item *it, bool created, bool touch, rel_time_t exptime,
                             rel_time_t vivify_exptime, bool vivify_last) {
    if (created && (!touch || vivify_last))
        it->exptime = vivify_exptime;
    else if (touch)
        it->exptime = exptime;
}

/* Decides W, X and Z as memcached does: a created item is won by its
 * creator, R wins when the item expires before the given time, a stale item
 * is won by the first reader, and only one client wins until the item is
 * replaced or invalidated again. */
static void mget_tokens(const struct store_fetch_opts *o, struct item *it,
                        struct store_fetch_info *in) {
    uint8_t bits = item_bits(it);
    in->token_sent = bits & ITEM_TOKEN;
    in->stale = bits & ITEM_STALE;
    rel_time_t exp = o->touch && o->recache_after_touch ? o->exptime : it->exptime;
    bool won = in->created;
    if (o->recache && !in->token_sent && !in->created && exp != CLOCK_NEVER &&
        exp < o->recache_time)
        won = true;
    if (in->stale && !in->token_sent)
        won = true;
    in->won = won;
    if (won)
        item_bits_set(it, ITEM_TOKEN);
}

static const struct store_fetch_opts store_plain_get;

enum store_status store_get(struct store *s, const char *key, size_t nkey,
                            const struct store_fetch_opts *o, store_fetch_fn emit, void *ctx) {
    uint64_t h = hash_key(&s->seed, key, nkey);
    struct shard *sh = store_shard(s, h);
    rel_time_t now = clock_now();
    enum item_life life;
    struct store_fetch_info in = {0};

    if (o == NULL)
        o = &store_plain_get;
    lock_take(&sh->lock);
    hlink *pp = shard_lookup(s, sh, h, key, nkey, now, &life);
    struct item *it = pp ? link_item(*pp) : NULL;
    if (it == NULL && o->vivify)
        it = shard_create(s, sh, h, key, nkey, "", 0, now);
    if (it == NULL) {
        bool as_get = !o->touch || o->touch_miss_is_get_miss;
        sh->c.get_misses += as_get;
        sh->c.get_expired += as_get && life == ITEM_EXPIRED_NOW;
        sh->c.get_flushed += as_get && life == ITEM_FLUSHED_NOW;
        sh->c.touch_misses += !as_get;
        lock_give(&sh->lock);
        return STORE_NOT_FOUND;
    }
    in.created = pp == NULL;
    if (o->tokens) {
        /* meta: what the reply flags report is read before this access */
        in.exptime_before = in.created ? CLOCK_NEVER : it->exptime;
        in.atime_before = item_atime(it);
        in.fetched_before = item_bits(it) & ITEM_FETCHED;
        mget_tokens(o, it, &in);
    }
    if (o->touch || in.created)
        meta_set_exptime(it, in.created, o->touch, o->exptime, o->vivify_exptime, o->vivify_last);
    if (o->touch) {
        sh->c.touch_hits++;
        sh->cc[it->clsid].touch_hits++;
    } else {
        sh->c.get_hits++;
        sh->cc[it->clsid].get_hits++;
    }
    if (!o->no_bump)
        store_bump(it, now);
    emit(ctx, it, &in);
    lock_give(&sh->lock);
    return STORE_OK;
}

enum store_status store_mdelete(struct store *s, const char *key, size_t nkey,
                                const struct store_mdelete_opts *o) {
    uint64_t h = hash_key(&s->seed, key, nkey);
    struct shard *sh = store_shard(s, h);
    enum item_life life;
    enum store_status st = STORE_OK;

    lock_take(&sh->lock);
    hlink *pp = shard_lookup(s, sh, h, key, nkey, clock_now(), &life);
    if (pp == NULL) {
        st = STORE_NOT_FOUND;
    } else if (o->has_cas && store_item_cas(s, link_item(*pp)) != o->cas) {
        st = STORE_EXISTS;
    } else if (o->invalidate) {
        struct item *it = link_item(*pp);
        if (o->new_ttl)
            it->exptime = o->exptime;
        item_bits_set(it, ITEM_STALE);
        item_bits_clear(it, ITEM_TOKEN); /* the next reader may win */
        it->cas = shard_next_cas(s, sh);
    } else {
        sh->cc[link_item(*pp)->clsid].delete_hits++;
        shard_drop(s, sh, pp);
        sh->c.delete_hits++;
    }
    sh->c.delete_misses += st == STORE_NOT_FOUND || (st == STORE_EXISTS && o->mismatch_is_miss);
    lock_give(&sh->lock);
    return st;
}

/* ma on a present item: memcached refuses an empty value before it looks
 * at the cas. */
static enum store_status shard_marith(struct store *s, struct shard *sh, uint64_t h,
                                      const char *key, size_t nkey, hlink *pp,
                                      const struct store_marith_opts *o,
                                      struct store_marith_result *r) {
    if (link_item(*pp)->nbytes == 0)
        return STORE_NON_NUMERIC;
    if (o->cas_in != 0 && store_item_cas(s, link_item(*pp)) != o->cas_in)
        return STORE_EXISTS;
    enum store_status st = shard_arith(s, sh, pp, o->incr, o->delta, &r->value, &r->cas);
    if (st != STORE_OK)
        return st;
    /* shard_arith may have replaced the item with a longer one */
    struct item *it = link_item(*shard_find(sh, h, key, nkey));
    r->exptime_before = it->exptime;
    meta_set_exptime(it, false, o->touch, o->exptime, 0, false);
    r->exptime = it->exptime;
    return STORE_OK;
}

enum store_status store_marith(struct store *s, const char *key, size_t nkey,
                               const struct store_marith_opts *o, struct store_marith_result *r) {
    uint64_t h = hash_key(&s->seed, key, nkey);
    struct shard *sh = store_shard(s, h);
    rel_time_t now = clock_now();
    enum item_life life;
    enum store_status st;

    memset(r, 0, sizeof(*r));
    lock_take(&sh->lock);
    hlink *pp = shard_lookup(s, sh, h, key, nkey, now, &life);
    if (pp != NULL) {
        struct class_counters *cc = &sh->cc[link_item(*pp)->clsid];
        st = shard_marith(s, sh, h, key, nkey, pp, o, r);
        if (st == STORE_OK) {
            (*(o->incr ? &sh->c.incr_hits : &sh->c.decr_hits))++;
            (*(o->incr ? &cc->incr_hits : &cc->decr_hits))++;
        }
    } else if (!o->vivify) {
        st = STORE_NOT_FOUND;
        (*(o->incr ? &sh->c.incr_misses : &sh->c.decr_misses))++;
    } else {
        char digits[24];
        size_t n = 0;
        uint64_t v = o->initial;
        do {
            digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        struct item *it = shard_create(s, sh, h, key, nkey, digits + sizeof(digits) - n, n, now);
        st = it ? STORE_OK : STORE_NOT_STORED;
        if (it != NULL) {
            r->created = true;
            r->value = o->initial;
            r->cas = store_item_cas(s, it);
            r->exptime_before = CLOCK_NEVER;
            meta_set_exptime(it, true, o->touch, o->exptime, o->vivify_exptime, o->vivify_last);
            r->exptime = it->exptime;
        }
    }
    lock_give(&sh->lock);
    return st;
}

enum store_status store_peek(struct store *s, const char *key, size_t nkey, store_emit_fn emit,
                             void *ctx) {
    uint64_t h = hash_key(&s->seed, key, nkey);
    struct shard *sh = store_shard(s, h);
    enum item_life life;

    lock_take(&sh->lock);
    hlink *pp = shard_lookup(s, sh, h, key, nkey, clock_now(), &life);
    if (pp != NULL)
        emit(ctx, link_item(*pp));
    lock_give(&sh->lock);
    return pp ? STORE_OK : STORE_NOT_FOUND;
}
