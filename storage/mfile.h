/*
 * mfile: item memory in a mapped file (-e), so that the cache outlives the
 * process: a graceful stop, a crash, kill -9 or the OOM killer.
 *
 * The file holds a header, a frame table and the frames: SLAB_PAGE_SIZE
 * pieces of memory that slab pages are made of (a page of a large class
 * takes several frames in a row).  The frame table says, one byte a frame,
 * which frames start a page of which class; slab.c writes a page's entry
 * only after every chunk on it has a valid header, and clears it before the
 * page is emptied for another class.  A new start can therefore find every
 * page and every chunk without trusting a single pointer stored in the file
 * (hash chains and free lists point into the old mapping): the store
 * rebuilds its index from the chunks whose state says "linked", a word the
 * writer stores last (see store.c).
 *
 * The header carries the settings that decide the layout of the classes
 * (-m, -I, -f, -n and the item format): a file written with other settings
 * is reset to empty, never read with the wrong layout.  It also carries the
 * clock's epoch, so that relative times in items keep their meaning across
 * restarts (clock_resume), and a pending delayed flush_all.
 *
 * A graceful stop also writes FILE.meta (text, as memcached's), with the
 * wall time of the stop; a start that finds it continues the clock from
 * there and deletes it.  A FILE.meta that cannot be read stops the start,
 * as memcached does.
 *
 * Threading: page calls take the file's lock; they are rare (one per page).
 */
#ifndef LARDER_MFILE_H
#define LARDER_MFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"

/* What the layout of a file depends on: a file is reused only when these
 * are all equal. */
struct mfile_params {
    uint64_t mem_limit;
    uint64_t item_max;
    uint64_t chunk_min;
    double factor;
};

enum mfile_status {
    MFILE_NEW,      /* no file, or an empty one: created */
    MFILE_REUSED,   /* a valid file with the same settings: pages to adopt */
    MFILE_RESET,    /* other settings, or not a Larder file: emptied (see why) */
    MFILE_ERROR,    /* cannot open, size, map or lock it (see why) */
};

struct mfile;

/* Opens or creates path for the given settings.  NULL on MFILE_ERROR; why
 * (of size whylen) says what happened for MFILE_RESET and MFILE_ERROR. */
struct mfile *mfile_open(const char *path, const struct mfile_params *p, enum mfile_status *st,
                         char *why, size_t whylen);
/* Unmaps and closes; with sync, flushes the mapping to the file first. */
void mfile_close(struct mfile *mf, bool sync);
const char *mfile_path(const struct mfile *mf);

/* Bytes of frames a page of `bytes` takes: what the -m limit counts. */
size_t mfile_page_cost(size_t bytes);
/* Frames for a page of `bytes`, not yet recorded as a page: NULL when no
 * run of free frames is long enough. */
void *mfile_page_get(struct mfile *mf, size_t bytes);
/* Records the page as class cls's, once its chunks are initialised. */
void mfile_page_commit(struct mfile *mf, void *page, unsigned cls);
/* Forgets the page (first) and gives its frames back. */
void mfile_page_put(struct mfile *mf, void *page);

/* Visits the pages recorded in a reused file, in file order, with the
 * bytes of frames each spans.  fn returns false to refuse a page (a class
 * that does not exist, a span that does not fit it): it is forgotten. */
typedef bool (*mfile_page_fn)(void *ctx, void *page, unsigned cls, size_t bytes);
void mfile_pages(struct mfile *mf, mfile_page_fn fn, void *ctx);

/* The wall time at which relative time 0 was, for the file's items. */
time_t mfile_epoch(const struct mfile *mf);
void mfile_set_epoch(struct mfile *mf, time_t epoch);
/* A delayed flush_all's relative time, 0 for none. */
rel_time_t mfile_oldest_live(const struct mfile *mf);
void mfile_set_oldest_live(struct mfile *mf, rel_time_t t);

/* --- FILE.meta: the clean-stop record ------------------------------------ */

struct mfile_meta {
    rel_time_t current_time; /* the relative clock at the stop */
    time_t stop_time;        /* the wall clock at the stop */
    unsigned hashpower;
};

enum mfile_meta_status {
    MFILE_META_NONE,     /* no record: the last stop was not clean */
    MFILE_META_OK,       /* read; the file is deleted */
    MFILE_META_MISMATCH, /* written with other settings (why); deleted */
    MFILE_META_CORRUPT,  /* unreadable: refuse to start (why) */
};

enum mfile_meta_status mfile_meta_load(const char *path, const struct mfile_params *p,
                                       struct mfile_meta *m, char *why, size_t whylen);
bool mfile_meta_save(const char *path, const struct mfile_params *p, const struct mfile_meta *m);

#endif
