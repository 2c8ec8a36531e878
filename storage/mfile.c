/*
 * mfile: the mapped item memory file and its clean-stop record; see mfile.h.
 *
 * Layout: the header in the first 4 KB, the frame table after it, the
 * frames from the next SLAB_PAGE_SIZE boundary on.  The file has room for
 * the -m limit plus one largest page, so that a large page still finds a
 * run of free frames when small pages are scattered over the file.
 *
 * Why the order of writes is enough after kill -9: a killed process stops
 * between two instructions, and every store it executed reaches the file's
 * pages (they belong to the kernel's page cache, not to the process).  What
 * must hold is the order of the stores in the program, which the release
 * stores below (and item_set_state) keep from the compiler.  A power cut is
 * another matter: -e is meant for tmpfs, which does not survive one anyway.
 */
#include "mfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "item.h"
#include "slab.h"

#define MFILE_MAGIC "LARDERMF"
#define MFILE_VERSION 2 /* 2: slab classes spend every id (slab.c) */
#define MFILE_HEADER_BYTES 4096u
#define MFILE_FRAME SLAB_PAGE_SIZE

/* Frame table entries: 1..SLAB_CLASS_MAX start a page of that class. */
enum { FRAME_FREE = 0, FRAME_HELD = 0xfe, FRAME_CONT = 0xff };

struct mfile_header {
    char magic[8];
    uint32_t version;
    uint32_t item_header;
    uint32_t frame_size;
    uint32_t class_max;
    uint64_t mem_limit, item_max, chunk_min, factor_bits;
    uint64_t nframes;
    uint64_t check; /* of everything above */
    int64_t epoch;
    uint32_t oldest_live;
};

struct mfile {
    char *path;
    int fd;
    char *base;
    size_t size;
    struct mfile_header *hdr;
    uint8_t *table;
    char *frames;
    uint64_t nframes;
    uint64_t hint; /* where the search for a free frame starts */
    pthread_mutex_t lock;
};

static uint64_t mfile_fnv(const void *p, size_t n, uint64_t h) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t mfile_factor_bits(double f) {
    uint64_t bits;
    memcpy(&bits, &f, sizeof(bits));
    return bits;
}

static void mfile_expected(struct mfile_header *h, const struct mfile_params *p) {
    memset(h, 0, sizeof(*h));
    memcpy(h->magic, MFILE_MAGIC, 8);
    h->version = MFILE_VERSION;
    h->item_header = (uint32_t)ITEM_HEADER;
    h->frame_size = MFILE_FRAME;
    h->class_max = SLAB_CLASS_MAX;
    h->mem_limit = p->mem_limit;
    h->item_max = p->item_max;
    h->chunk_min = p->chunk_min;
    h->factor_bits = mfile_factor_bits(p->factor);
    h->nframes = (p->mem_limit + MFILE_FRAME - 1) / MFILE_FRAME +
                 (p->item_max + ITEM_HEADER + MFILE_FRAME - 1) / MFILE_FRAME + 1;
    h->check = mfile_fnv(h, offsetof(struct mfile_header, check), 1469598103934665603ull);
}

static size_t mfile_frames_at(uint64_t nframes) {
    size_t at = MFILE_HEADER_BYTES + nframes;
    return (at + MFILE_FRAME - 1) / MFILE_FRAME * MFILE_FRAME;
}

static void mfile_describe(char *why, size_t n, const char *path, const struct mfile_header *h,
                           const struct mfile_params *p) {
    double f;
    memcpy(&f, &h->factor_bits, sizeof(f));
    snprintf(why, n,
             "memory file %s was written with -m %llu -I %llu -f %.4g -n %llu, not "
             "-m %llu -I %llu -f %.4g -n %llu: starting with an empty cache",
             path, (unsigned long long)(h->mem_limit >> 20), (unsigned long long)h->item_max, f,
             (unsigned long long)h->chunk_min, (unsigned long long)(p->mem_limit >> 20),
             (unsigned long long)p->item_max, p->factor, (unsigned long long)p->chunk_min);
}

/* Whether the file's header (read into got) fits these settings; if not,
 * why says how it differs. */
static bool mfile_fits(const struct mfile_header *got, const struct mfile_header *want,
                       off_t size, const char *path, const struct mfile_params *p, char *why,
                       size_t n) {
    if (size < (off_t)sizeof(*got) || memcmp(got->magic, MFILE_MAGIC, 8) != 0) {
        snprintf(why, n, "memory file %s is not a Larder memory file: starting with an empty cache",
                 path);
        return false;
    }
    if (got->check != mfile_fnv(got, offsetof(struct mfile_header, check),
                                1469598103934665603ull) ||
        got->version != want->version || got->item_header != want->item_header ||
        got->frame_size != want->frame_size || got->class_max != want->class_max) {
        snprintf(why, n,
                 "memory file %s has a damaged header or another format: starting with an "
                 "empty cache", path);
        return false;
    }
    if (memcmp(got, want, offsetof(struct mfile_header, check)) != 0) {
        mfile_describe(why, n, path, got, p);
        return false;
    }
    size_t need = mfile_frames_at(want->nframes) + want->nframes * MFILE_FRAME;
    if ((uint64_t)size != need) {
        snprintf(why, n, "memory file %s is %lld bytes, not %zu (truncated?): starting with an "
                 "empty cache", path, (long long)size, need);
        return false;
    }
    return true;
}

/* Clears what a crash may leave half-done in the table: a page being set
 * up (HELD) and frames of a page being given back (CONT without a start). */
static void mfile_tidy_table(struct mfile *mf) {
    uint8_t *t = mf->table;
    bool in_page = false;
    for (uint64_t i = 0; i < mf->nframes; i++) {
        if (t[i] >= 1 && t[i] <= SLAB_CLASS_MAX)
            in_page = true;
        else if (t[i] == FRAME_CONT && in_page)
            continue;
        else {
            t[i] = FRAME_FREE;
            in_page = false;
        }
    }
}

static bool mfile_map(struct mfile *mf, const struct mfile_header *want, bool reuse) {
    mf->nframes = want->nframes;
    mf->size = mfile_frames_at(want->nframes) + want->nframes * MFILE_FRAME;
    if (!reuse && (ftruncate(mf->fd, 0) != 0 || ftruncate(mf->fd, (off_t)mf->size) != 0))
        return false;
    void *base = mmap(NULL, mf->size, PROT_READ | PROT_WRITE, MAP_SHARED, mf->fd, 0);
    if (base == MAP_FAILED)
        return false;
    mf->base = base;
    mf->hdr = base;
    mf->table = (uint8_t *)mf->base + MFILE_HEADER_BYTES;
    mf->frames = mf->base + mfile_frames_at(want->nframes);
    if (reuse) {
        mfile_tidy_table(mf);
    } else {
        /* The magic goes last: a file whose set-up was cut short is no
         * Larder file yet. */
        struct mfile_header h = *want;
        memset(h.magic, 0, sizeof(h.magic));
        *mf->hdr = h;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        memcpy(mf->hdr->magic, MFILE_MAGIC, 8);
    }
    return true;
}

struct mfile *mfile_open(const char *path, const struct mfile_params *p, enum mfile_status *st,
                         char *why, size_t whylen) {
    struct mfile *mf = calloc(1, sizeof(*mf));
    struct mfile_header want, got;
    struct stat sb;
    *st = MFILE_ERROR;
    why[0] = '\0';
    if (mf != NULL)
        mf->fd = -1;
    if (mf == NULL || (mf->path = strdup(path)) == NULL) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&mf->lock, NULL);
    mf->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (mf->fd < 0 || fstat(mf->fd, &sb) != 0) {
        snprintf(why, whylen, "cannot open memory file %s: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(mf->fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(why, whylen, "memory file %s is in use by another process", path);
        goto fail;
    }
    mfile_expected(&want, p);
    memset(&got, 0, sizeof(got));
    bool reuse = false;
    if (sb.st_size == 0) {
        *st = MFILE_NEW;
    } else if (pread(mf->fd, &got, sizeof(got), 0) >= 0 &&
               mfile_fits(&got, &want, sb.st_size, path, p, why, whylen)) {
        *st = MFILE_REUSED;
        reuse = true;
    } else {
        *st = MFILE_RESET;
    }
    if (!mfile_map(mf, &want, reuse)) {
        snprintf(why, whylen, "cannot size or map memory file %s (%zu bytes): %s", path, mf->size,
                 strerror(errno));
        *st = MFILE_ERROR;
        goto fail;
    }
    return mf;
fail:
    if (mf != NULL && mf->fd >= 0)
        close(mf->fd);
    if (mf != NULL)
        free(mf->path);
    free(mf);
    return NULL;
}

void mfile_close(struct mfile *mf, bool sync) {
    if (mf == NULL)
        return;
    if (sync)
        msync(mf->base, mf->size, MS_SYNC);
    munmap(mf->base, mf->size);
    close(mf->fd); /* drops the lock */
    pthread_mutex_destroy(&mf->lock);
    free(mf->path);
    free(mf);
}

const char *mfile_path(const struct mfile *mf) { return mf->path; }

size_t mfile_page_cost(size_t bytes) {
    return (bytes + MFILE_FRAME - 1) / MFILE_FRAME * MFILE_FRAME;
}

/* First run of n free frames from the hint on, wrapping once; or nframes. */
static uint64_t mfile_find_run(const struct mfile *mf, uint64_t n) {
    for (uint64_t k = 0, run = 0, total = mf->nframes + n; k < total; k++) {
        uint64_t i = (mf->hint + k) % mf->nframes;
        if (i == 0)
            run = 0; /* runs do not wrap around the end */
        run = mf->table[i] == FRAME_FREE ? run + 1 : 0;
        if (run == n)
            return i + 1 - n;
    }
    return mf->nframes;
}

void *mfile_page_get(struct mfile *mf, size_t bytes) {
    uint64_t n = mfile_page_cost(bytes) / MFILE_FRAME;
    pthread_mutex_lock(&mf->lock);
    uint64_t at = mfile_find_run(mf, n);
    void *page = NULL;
    if (at < mf->nframes) {
        /* The start first: CONT entries must never extend the page before. */
        __atomic_store_n(&mf->table[at], FRAME_HELD, __ATOMIC_RELEASE);
        for (uint64_t i = 1; i < n; i++)
            __atomic_store_n(&mf->table[at + i], FRAME_CONT, __ATOMIC_RELEASE);
        mf->hint = (at + n) % mf->nframes;
        page = mf->frames + at * MFILE_FRAME;
    }
    pthread_mutex_unlock(&mf->lock);
    return page;
}

static uint64_t mfile_frame_of(const struct mfile *mf, const void *page) {
    return (uint64_t)((const char *)page - mf->frames) / MFILE_FRAME;
}

void mfile_page_commit(struct mfile *mf, void *page, unsigned cls) {
    /* Release: the chunk headers the slab just wrote come before.  The lock
     * only orders it with page searches reading the table. */
    pthread_mutex_lock(&mf->lock);
    __atomic_store_n(&mf->table[mfile_frame_of(mf, page)], (uint8_t)cls, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&mf->lock);
}

void mfile_page_put(struct mfile *mf, void *page) {
    uint64_t at = mfile_frame_of(mf, page);
    pthread_mutex_lock(&mf->lock);
    __atomic_store_n(&mf->table[at], FRAME_FREE, __ATOMIC_RELEASE);
    for (uint64_t i = at + 1; i < mf->nframes && mf->table[i] == FRAME_CONT; i++)
        __atomic_store_n(&mf->table[i], FRAME_FREE, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&mf->lock);
}

void mfile_pages(struct mfile *mf, mfile_page_fn fn, void *ctx) {
    for (uint64_t i = 0; i < mf->nframes; i++) {
        uint8_t cls = mf->table[i];
        if (cls < 1 || cls > SLAB_CLASS_MAX)
            continue;
        void *page = mf->frames + i * MFILE_FRAME;
        uint64_t n = 1;
        while (i + n < mf->nframes && mf->table[i + n] == FRAME_CONT)
            n++;
        if (!fn(ctx, page, cls, n * MFILE_FRAME))
            mfile_page_put(mf, page);
    }
}

time_t mfile_epoch(const struct mfile *mf) { return (time_t)mf->hdr->epoch; }
void mfile_set_epoch(struct mfile *mf, time_t epoch) { mf->hdr->epoch = epoch; }
rel_time_t mfile_oldest_live(const struct mfile *mf) {
    return __atomic_load_n(&mf->hdr->oldest_live, __ATOMIC_RELAXED);
}
void mfile_set_oldest_live(struct mfile *mf, rel_time_t t) {
    __atomic_store_n(&mf->hdr->oldest_live, t, __ATOMIC_RELAXED);
}

/* --- FILE.meta ------------------------------------------------------------ */

#define META_MAX 4096

static char *mfile_meta_path(const char *path) {
    size_t n = strlen(path);
    char *m = malloc(n + sizeof(".meta"));
    if (m != NULL) {
        memcpy(m, path, n);
        memcpy(m + n, ".meta", sizeof(".meta"));
    }
    return m;
}

static int mfile_meta_format(char *buf, size_t n, const struct mfile_params *p,
                             const struct mfile_meta *m) {
    int len = snprintf(buf, n,
                       "larder_meta %d\nmaxbytes %llu\nitem_size_max %llu\nchunk_size %llu\n"
                       "factor %016llx\ncurrent_time %u\nstop_time %lld\nhashpower %u\n",
                       MFILE_VERSION, (unsigned long long)p->mem_limit,
                       (unsigned long long)p->item_max, (unsigned long long)p->chunk_min,
                       (unsigned long long)mfile_factor_bits(p->factor), m->current_time,
                       (long long)m->stop_time, m->hashpower);
    if (len < 0 || (size_t)len >= n)
        return -1;
    uint64_t check = mfile_fnv(buf, (size_t)len, 1469598103934665603ull);
    int more = snprintf(buf + len, n - (size_t)len, "check %016llx\n", (unsigned long long)check);
    return more < 0 || (size_t)(len + more) >= n ? -1 : len + more;
}

bool mfile_meta_save(const char *path, const struct mfile_params *p, const struct mfile_meta *m) {
    char buf[META_MAX];
    int len = mfile_meta_format(buf, sizeof(buf), p, m);
    char *meta = mfile_meta_path(path);
    size_t n = meta ? strlen(meta) : 0;
    char *tmp = meta ? malloc(n + 5) : NULL;
    bool ok = false;
    if (tmp != NULL && len > 0) {
        snprintf(tmp, n + 5, "%s.tmp", meta);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ok = fd >= 0 && write(fd, buf, (size_t)len) == len && fsync(fd) == 0;
        if (fd >= 0)
            ok = close(fd) == 0 && ok;
        ok = ok && rename(tmp, meta) == 0; /* all of it or nothing */
        if (!ok)
            unlink(tmp);
    }
    free(tmp);
    free(meta);
    return ok;
}

static enum mfile_meta_status mfile_meta_parse(char *buf, const struct mfile_params *p,
                                               struct mfile_meta *m, const char *meta,
                                               char *why, size_t whylen) {
    int version = 0;
    unsigned long long maxbytes, item_max, chunk, factor, check;
    long long stop;
    unsigned cur, hp;
    char *end = strstr(buf, "check ");
    if (end == NULL ||
        sscanf(buf, "larder_meta %d\nmaxbytes %llu\nitem_size_max %llu\nchunk_size %llu\n"
                    "factor %llx\ncurrent_time %u\nstop_time %lld\nhashpower %u\n",
               &version, &maxbytes, &item_max, &chunk, &factor, &cur, &stop, &hp) != 8 ||
        sscanf(end, "check %llx", &check) != 1 ||
        check != mfile_fnv(buf, (size_t)(end - buf), 1469598103934665603ull) ||
        version != MFILE_VERSION) {
        snprintf(why, whylen, "the clean-stop record %s is damaged: remove it to start", meta);
        return MFILE_META_CORRUPT;
    }
    if (maxbytes != p->mem_limit || item_max != p->item_max || chunk != p->chunk_min ||
        factor != mfile_factor_bits(p->factor)) {
        snprintf(why, whylen,
                 "the clean-stop record %s was written with -m %llu -I %llu -n %llu and another "
                 "or the same -f: settings differ, starting with an empty cache",
                 meta, maxbytes >> 20, item_max, chunk);
        return MFILE_META_MISMATCH;
    }
    m->current_time = cur;
    m->stop_time = (time_t)stop;
    m->hashpower = hp;
    return MFILE_META_OK;
}

enum mfile_meta_status mfile_meta_load(const char *path, const struct mfile_params *p,
                                       struct mfile_meta *m, char *why, size_t whylen) {
    char *meta = mfile_meta_path(path);
    if (meta == NULL) {
        snprintf(why, whylen, "out of memory");
        return MFILE_META_CORRUPT;
    }
    int fd = open(meta, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        enum mfile_meta_status st = errno == ENOENT ? MFILE_META_NONE : MFILE_META_CORRUPT;
        if (st == MFILE_META_CORRUPT)
            snprintf(why, whylen, "cannot read %s: %s", meta, strerror(errno));
        free(meta);
        return st;
    }
    char buf[META_MAX];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    enum mfile_meta_status st = mfile_meta_parse(buf, p, m, meta, why, whylen);
    /* Used once: a later crash must not resume from this stop's clock. */
    if (st != MFILE_META_CORRUPT)
        unlink(meta);
    free(meta);
    return st;
}
