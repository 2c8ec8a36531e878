/*
 * The server through a real client library: libmemcached, text protocol.
 */
#include <criterion/criterion.h>
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct srv S;
static memcached_st *mc;

static void up(void) {
    srv_start(&S, NULL);
    mc = memcached_create(NULL);
    cr_assert(mc != NULL);
    cr_assert_eq(memcached_server_add(mc, "127.0.0.1", (in_port_t)S.port), MEMCACHED_SUCCESS);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
}
static void down(void) {
    memcached_free(mc);
    cr_assert_eq(srv_stop(&S), 0);
}

TestSuite(libmemcached, .init = up, .fini = down, .timeout = 30);

static char *get(const char *key, size_t *len, uint32_t *flags, memcached_return_t *rc) {
    return memcached_get(mc, key, strlen(key), len, flags, rc);
}

Test(libmemcached, set_get_delete) {
    cr_assert_eq(memcached_set(mc, "a", 1, "hello", 5, 0, 42), MEMCACHED_SUCCESS);
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *v = get("a", &len, &flags, &rc);
    cr_assert_eq(rc, MEMCACHED_SUCCESS);
    cr_assert_eq(len, 5);
    cr_assert_eq(flags, 42);
    cr_assert_eq(memcmp(v, "hello", 5), 0);
    free(v);
    cr_assert_eq(memcached_delete(mc, "a", 1, 0), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_delete(mc, "a", 1, 0), MEMCACHED_NOTFOUND);
    v = get("a", &len, &flags, &rc);
    cr_assert_null(v);
    cr_assert_eq(rc, MEMCACHED_NOTFOUND);
}

Test(libmemcached, add_replace_append_prepend) {
    cr_assert_eq(memcached_add(mc, "k", 1, "1", 1, 0, 0), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_add(mc, "k", 1, "2", 1, 0, 0), MEMCACHED_NOTSTORED);
    cr_assert_eq(memcached_replace(mc, "nope", 4, "2", 1, 0, 0), MEMCACHED_NOTSTORED);
    cr_assert_eq(memcached_append(mc, "k", 1, "9", 1, 0, 0), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_prepend(mc, "k", 1, "0", 1, 0, 0), MEMCACHED_SUCCESS);
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *v = get("k", &len, &flags, &rc);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(v, "019", 3), 0);
    free(v);
}

Test(libmemcached, increment_decrement) {
    uint64_t v;
    cr_assert_eq(memcached_set(mc, "n", 1, "10", 2, 0, 0), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_increment(mc, "n", 1, 5, &v), MEMCACHED_SUCCESS);
    cr_assert_eq(v, 15);
    cr_assert_eq(memcached_decrement(mc, "n", 1, 20, &v), MEMCACHED_SUCCESS);
    cr_assert_eq(v, 0);
    cr_assert_eq(memcached_increment(mc, "missing", 7, 1, &v), MEMCACHED_NOTFOUND);
}

Test(libmemcached, mget_and_cas) {
    const char *keys[] = {"m1", "m2", "m3"};
    size_t lens[] = {2, 2, 2};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(memcached_set(mc, keys[i], 2, keys[i], 2, 0, (uint32_t)i), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_mget(mc, keys, lens, 3), MEMCACHED_SUCCESS);
    memcached_result_st *res;
    memcached_return_t rc;
    int found = 0;
    uint64_t cas = 0;
    while ((res = memcached_fetch_result(mc, NULL, &rc)) != NULL) {
        const char *k = memcached_result_key_value(res);
        cr_assert_eq(memcmp(memcached_result_value(res), k, 2), 0);
        if (memcmp(k, "m1", 2) == 0)
            cas = memcached_result_cas(res);
        found++;
        memcached_result_free(res);
    }
    cr_assert_eq(found, 2);
    cr_assert_neq(cas, 0);
    cr_assert_eq(memcached_cas(mc, "m1", 2, "xx", 2, 0, 0, cas + 1), MEMCACHED_DATA_EXISTS);
    cr_assert_eq(memcached_cas(mc, "m1", 2, "xx", 2, 0, 0, cas), MEMCACHED_SUCCESS);
}

Test(libmemcached, large_values_and_many_keys) {
    size_t n = 512 * 1024;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7);
    cr_assert_eq(memcached_set(mc, "big", 3, big, n, 0, 0), MEMCACHED_SUCCESS);
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *v = get("big", &len, &flags, &rc);
    cr_assert_eq(len, n);
    cr_assert_eq(memcmp(v, big, n), 0);
    free(v);
    free(big);
    for (int i = 0; i < 2000; i++) {
        char k[32];
        int kl = sprintf(k, "key:%d", i);
        cr_assert_eq(memcached_set(mc, k, (size_t)kl, k, (size_t)kl, 0, 0), MEMCACHED_SUCCESS);
    }
    for (int i = 0; i < 2000; i += 97) {
        char k[32];
        int kl = sprintf(k, "key:%d", i);
        v = memcached_get(mc, k, (size_t)kl, &len, &flags, &rc);
        cr_assert_eq(rc, MEMCACHED_SUCCESS);
        cr_assert_eq(memcmp(v, k, (size_t)kl), 0);
        free(v);
    }
}

Test(libmemcached, flush_touch_version_stats) {
    cr_assert_eq(memcached_set(mc, "t", 1, "x", 1, 0, 0), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_touch(mc, "t", 1, 100), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_flush(mc, 0), MEMCACHED_SUCCESS);
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    cr_assert_null(get("t", &len, &flags, &rc));
    cr_assert_eq(memcached_version(mc), MEMCACHED_SUCCESS);
    const memcached_instance_st *inst = memcached_server_instance_by_position(mc, 0);
    cr_assert_eq(memcached_server_major_version(inst), 1);
    cr_assert_eq(memcached_server_minor_version(inst), 6);
    memcached_stat_st *st = memcached_stat(mc, NULL, &rc);
    cr_assert_eq(rc, MEMCACHED_SUCCESS);
    cr_assert_eq(st[0].limit_maxbytes, 64u << 20);
    cr_assert_geq(st[0].cmd_set, 1);
    memcached_stat_free(mc, st);
}
