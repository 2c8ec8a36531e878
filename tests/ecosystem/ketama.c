/*
 * ketama: libmemcached's consistent hashing (ketama, MD5) over several
 * Larder instances, the way a C or PHP application spreads keys without a
 * proxy.  Used by scaleout.sh.
 *
 *   ketama SERVERS set N [PREFIX]   store keys PREFIX0 .. PREFIX<N-1>
 *   ketama SERVERS get N [PREFIX]   fetch them again
 *
 * PREFIX defaults to "ring:".  SERVERS is "host:port,host:port,...".  For each server the program prints
 * one line "host:port owned done": how many of the N keys ketama maps to
 * that server and how many of those were stored (set) or found with the
 * right value (get).  Failures to reach a server are counted, not fatal:
 * the point of the "get" run after stopping an instance is to see that only
 * that instance's keys are gone.
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KETAMA_MAX_SERVERS 16

struct tally {
    char name[64];
    unsigned long owned, done;
};

static struct tally *ketama_owner(struct tally *t, uint32_t n, memcached_st *mc, const char *key) {
    memcached_return_t rc;
    const memcached_instance_st *in = memcached_server_by_key(mc, key, strlen(key), &rc);
    if (in == NULL)
        return NULL;
    char name[64];
    snprintf(name, sizeof(name), "%s:%u", memcached_server_name(in), (unsigned)memcached_server_port(in));
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

/* One key: true when set stored it, or get found it with its own value. */
static bool ketama_one(memcached_st *mc, bool set, const char *key) {
    char want[80];
    int nwant = snprintf(want, sizeof(want), "value-of-%s", key);
    if (set)
        return memcached_set(mc, key, strlen(key), want, (size_t)nwant, 0, 0) == MEMCACHED_SUCCESS;
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *v = memcached_get(mc, key, strlen(key), &len, &flags, &rc);
    bool ok = v != NULL && len == (size_t)nwant && memcmp(v, want, len) == 0;
    free(v);
    return ok;
}

static memcached_st *ketama_client(const char *servers) {
    memcached_st *mc = memcached_create(NULL);
    memcached_server_st *list = memcached_servers_parse(servers);
    if (mc == NULL || list == NULL || memcached_server_push(mc, list) != MEMCACHED_SUCCESS) {
        fprintf(stderr, "ketama: bad server list %s\n", servers);
        exit(2);
    }
    memcached_server_list_free(list);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 500);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 2000);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 30);
    return mc;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5 || (strcmp(argv[2], "set") != 0 && strcmp(argv[2], "get") != 0)) {
        fprintf(stderr, "usage: ketama host:port,... set|get N [PREFIX]\n");
        return 2;
    }
    bool set = strcmp(argv[2], "set") == 0;
    unsigned long n = strtoul(argv[3], NULL, 10);
    const char *prefix = argc == 5 ? argv[4] : "ring:";
    memcached_st *mc = ketama_client(argv[1]);

    struct tally t[KETAMA_MAX_SERVERS] = {0};
    uint32_t ns = memcached_server_count(mc);
    if (ns > KETAMA_MAX_SERVERS)
        ns = KETAMA_MAX_SERVERS;
    for (uint32_t i = 0; i < ns; i++) {
        const memcached_instance_st *in = memcached_server_instance_by_position(mc, i);
        snprintf(t[i].name, sizeof(t[i].name), "%s:%u", memcached_server_name(in),
                 (unsigned)memcached_server_port(in));
    }

    for (unsigned long i = 0; i < n; i++) {
        char key[200];
        snprintf(key, sizeof(key), "%.150s%lu", prefix, i);
        struct tally *owner = ketama_owner(t, ns, mc, key);
        if (owner == NULL) {
            fprintf(stderr, "ketama: no server for %s\n", key);
            return 1;
        }
        owner->owned++;
        owner->done += ketama_one(mc, set, key);
    }
    for (uint32_t i = 0; i < ns; i++)
        printf("%s %lu %lu\n", t[i].name, t[i].owned, t[i].done);
    memcached_free(mc);
    return 0;
}
