/*
 * failmalloc: an LD_PRELOAD shim that makes the server's large allocations
 * fail, to show that running out of memory is answered, not crashed on.
 *
 *   FAILMALLOC_SIZE=n   only allocations of at least n bytes can fail
 *   FAILMALLOC_AFTER=k  the first k of those succeed, every later one fails
 *   FAILMALLOC_REPORT=path  at exit, the number of failed calls is written
 *                       there, so a test knows the failures really happened
 *
 * With FAILMALLOC_SIZE=65536 this hits the slab pages and nothing else the
 * server allocates with malloc.  Only malloc is interposed: free, calloc and
 * realloc stay the allocator's own.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static void *(*real_malloc)(size_t);
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

void *malloc(size_t n) {
    if (real_malloc == NULL)
        real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    if (fail_size != 0 && fail_after >= 0 && n >= fail_size &&
        __atomic_add_fetch(&large_seen, 1, __ATOMIC_RELAXED) > fail_after) {
        __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    return real_malloc(n);
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
