/*
 * failmalloc: an LD_PRELOAD shim that makes the server's large allocations
 * fail, to show that running out of memory is answered, not crashed on.
 *
 *   FAILMALLOC_SIZE=n   only allocations of at least n bytes can fail
 *   FAILMALLOC_AFTER=k  the first k of those succeed, every later one fails
 *   FAILMALLOC_REPORT=path  at exit, the number of failed calls is written
 *                       there, so a test knows the failures really happened
 *
 * With FAILMALLOC_SIZE=32768 this hits the slab pages (a shared page holds
 * at least two chunks and so is over 32 KB; a larger item has an exact page
 * from posix_memalign) and nothing else the server allocates per request.
 * Only malloc and posix_memalign are interposed: free, calloc and realloc
 * stay the allocator's own.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static void *(*real_malloc)(size_t);
static int (*real_memalign)(void **, size_t, size_t);
static size_t fail_size;
static long fail_after = -1;
static long large_seen;
static long failed;

__attribute__((constructor)) static void failmalloc_init(void) {
    const char *s = getenv("FAILMALLOC_SIZE");
    const char *a = getenv("FAILMALLOC_AFTER");
    fail_size = s ? (size_t)strtoull(s, NULL, 10) : 0;
    fail_after = a ? atol(a) : -1;
}

static int failmalloc_fails(size_t n) {
    if (fail_size == 0 || fail_after < 0 || n < fail_size ||
        __atomic_add_fetch(&large_seen, 1, __ATOMIC_RELAXED) <= fail_after)
        return 0;
    __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
    return 1;
}

void *malloc(size_t n) {
    if (real_malloc == NULL)
        real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    return failmalloc_fails(n) ? NULL : real_malloc(n);
}

int posix_memalign(void **out, size_t align, size_t n) {
    if (real_memalign == NULL)
        real_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    return failmalloc_fails(n) ? ENOMEM : real_memalign(out, align, n);
}

__attribute__((destructor)) static void failmalloc_report(void) {
    const char *path = getenv("FAILMALLOC_REPORT");
    if (path == NULL)
        return;
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%ld\n", failed);
        fclose(f);
    }
}
