/*
 * fuzz_conn: libFuzzer target for command execution through the real
 * connection code (server/conn.c, cmd.c, stats.c over storage/).
 *
 * The input is a byte stream a client sends: command lines, data blocks and
 * whatever else.  A worker is set up without its thread; the input goes in
 * through one end of a socketpair whose other end is a conn of that worker,
 * and the worker's event loop is run by hand until the connection closes.
 * The store is small (2 MB) so that eviction and out-of-memory paths run.
 *
 * Checked, besides sanitizer reports: the reply stream is well framed (every
 * "VALUE <key> <flags> <bytes>" or meta "VA <bytes>" line is followed by
 * exactly that many bytes and "\r\n"; every line ends in "\r\n"; an input
 * that starts with 0x80 speaks the binary protocol and gets whole response
 * packets); the connection always ends once the
 * input is over (no state waits for ever); after each input the store agrees
 * with itself (items walked <= curr_items) and stays within its page limit.
 * FUZZ_CONN_DUMP=1 copies the replies to stderr, to see what an input does.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/server.h"
#include "server/settings.h"
#include "storage/store.h"

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz_conn: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                \
        }                                                                           \
    } while (0)

#define FUZZ_MEM_LIMIT (2u << 20)
/* Above the limit by at most one page per class (older slab allocator): a
 * page is at most 1 MB with the item sizes used here. */
#define FUZZ_PAGE_MAX ((size_t)1 << 20)
#define FUZZ_LOOPS_MAX 200000

static struct settings settings_template;
static struct settings settings;
static struct server srv;
static struct worker worker;
static bool dump; /* FUZZ_CONN_DUMP=1: copy the replies to stderr */

/* --- reply stream checks ---------------------------------------------------- */

struct out {
    char *buf;
    size_t len, cap;
    size_t pos;    /* checked up to here */
    size_t value;  /* bytes of a value block (plus its "\r\n") still expected */
    bool binary;   /* the input started with 0x80: replies are binary packets */
};

/* Binary replies: whole packets, each a response header whose key and
 * extras fit in its body. */
static void out_check_binary(struct out *o) {
    while (o->len - o->pos >= 24) {
        const unsigned char *h = (const unsigned char *)o->buf + o->pos;
        uint32_t body = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
        CHECK(h[0] == 0x81);
        CHECK((uint32_t)(h[2] << 8 | h[3]) + h[4] <= body);
        if (o->len - o->pos < 24 + (size_t)body)
            return;
        o->pos += 24 + (size_t)body;
    }
}

/* "VALUE <key> <flags> <bytes>[ <cas>]": keys hold no space, so the fields
 * split on spaces.  Returns <bytes>, or -1 if the line is malformed. */
static long long value_bytes(const char *line, size_t len) {
    const char *f[5];
    size_t flen[5];
    int n = 0;
    size_t i = 0;
    while (i < len) {
        size_t s = i;
        while (i < len && line[i] != ' ')
            i++;
        if (i == s || n == 5)
            return -1;
        f[n] = line + s;
        flen[n++] = i - s;
        if (i < len)
            i++;
    }
    if (n != 4 && n != 5)
        return -1;
    long long v = 0;
    for (int k = 2; k < n; k++) {
        if (flen[k] > 20)
            return -1;
        for (size_t j = 0; j < flen[k]; j++)
            if (f[k][j] < '0' || f[k][j] > '9')
                return -1;
    }
    for (size_t j = 0; j < flen[3]; j++)
        v = v * 10 + (f[3][j] - '0');
    return v;
}

/* Checks the stream as far as it is complete. */
static void out_check(struct out *o) {
    if (o->binary) {
        out_check_binary(o);
        return;
    }
    for (;;) {
        if (o->value > 0) {
            size_t have = o->len - o->pos;
            size_t n = have < o->value ? have : o->value;
            o->pos += n;
            o->value -= n;
            if (o->value > 0)
                return;
            CHECK(o->buf[o->pos - 2] == '\r' && o->buf[o->pos - 1] == '\n');
            continue;
        }
        char *start = o->buf + o->pos;
        char *nl = memchr(start, '\n', o->len - o->pos);
        if (nl == NULL)
            return;
        size_t len = (size_t)(nl - start);
        CHECK(len > 0 && start[len - 1] == '\r');
        len--;
        o->pos += len + 2;
        if (len >= 6 && memcmp(start, "VALUE ", 6) == 0) {
            long long bytes = value_bytes(start, len);
            CHECK(bytes >= 0);
            o->value = (size_t)bytes + 2;
        } else if (len >= 4 && memcmp(start, "VA ", 3) == 0) {
            /* meta: "VA <size> <flags>*" */
            size_t bytes = 0, i = 3;
            CHECK(start[i] >= '0' && start[i] <= '9');
            for (; i < len && start[i] >= '0' && start[i] <= '9' && bytes < (1u << 30); i++)
                bytes = bytes * 10 + (size_t)(start[i] - '0');
            CHECK(i == len || start[i] == ' ');
            o->value = bytes + 2;
        }
    }
}

static void out_read(struct out *o, int fd) {
    for (;;) {
        if (o->cap - o->len < 65536) {
            o->cap = o->cap ? o->cap * 2 : 1 << 17;
            o->buf = realloc(o->buf, o->cap);
            CHECK(o->buf != NULL);
        }
        ssize_t n = read(fd, o->buf + o->len, o->cap - o->len);
        if (n <= 0)
            return;
        if (dump)
            fwrite(o->buf + o->len, 1, (size_t)n, stderr);
        o->len += (size_t)n;
        out_check(o);
        if (o->pos == o->len && o->value == 0)
            o->pos = o->len = 0; /* all checked: keep the buffer small */
    }
}

/* --- store checks ----------------------------------------------------------- */

static void count_item(void *ctx, const struct item *it) {
    (*(uint64_t *)ctx)++;
    CHECK(it->nkey >= 1 && it->nkey <= ITEM_KEY_MAX);
}

static void check_store(struct store *s) {
    struct store_stats ss;
    store_stats(s, &ss);
    uint64_t walked = 0;
    store_walk(s, 0, count_item, &walked);
    CHECK(walked <= ss.curr_items); /* the walk skips expired ones */
    struct slabs *sl = store_slabs(s);
    CHECK(slab_total_malloced(sl) <= slab_limit(sl) + slab_class_count(sl) * FUZZ_PAGE_MAX);
}

/* --- driver ----------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    dump = getenv("FUZZ_CONN_DUMP") != NULL;
    settings_defaults(&settings_template);
    settings_template.maxbytes = FUZZ_MEM_LIMIT;
    settings_template.shutdown_command = false;
    settings = settings_template;
    srv.settings = &settings;
    srv.shutdown_rd = srv.shutdown_wr = -1;
    srv.nworkers = 1;
    srv.workers = &worker;
    CHECK(worker_init(&worker, &srv, 0));
    return 0;
}

static struct store *fuzz_store(void) {
    struct store_config cfg;
    store_config_defaults(&cfg);
    cfg.mem_limit = FUZZ_MEM_LIMIT;
    cfg.item_size_max = 16 << 10;
    cfg.hashpower = 8;
    return store_create(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int sv[2];
    settings = settings_template;
    srv.verbose = 0;
    srv.detail_enabled = false;
    srv.store = fuzz_store();
    CHECK(srv.store != NULL);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    srv.curr_conns++;
    struct conn *c = conn_new(&worker, sv[0], "fuzz", true);
    CHECK(c != NULL);

    struct out o = {.binary = size > 0 && data[0] == 0x80};
    size_t sent = 0;
    bool shut = false;
    int loops = 0;
    while (worker.conns != NULL && loops++ < FUZZ_LOOPS_MAX) {
        if (sent < size) {
            ssize_t n = write(sv[1], data + sent, size - sent);
            if (n > 0)
                sent += (size_t)n;
        } else if (!shut) {
            shutdown(sv[1], SHUT_WR);
            shut = true;
        }
        event_base_loop(worker.base, EVLOOP_NONBLOCK);
        out_read(&o, sv[1]);
    }
    /* Once the client has sent everything and closed its side, the server
     * must close the connection: no state may wait for ever. */
    CHECK(worker.conns == NULL);
    out_read(&o, sv[1]);
    close(sv[1]);
    free(o.buf);
    check_store(srv.store);
    store_destroy(srv.store);
    srv.store = NULL;
    return 0;
}
