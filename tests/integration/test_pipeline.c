/*
 * Pipelining of any depth, values split across reads, many connections at
 * once, and a client that does not read its replies.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/socket.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct srv S;

static void up(void) { srv_start(&S, NULL); }
static void down(void) {
    cr_assert(srv_alive(&S));
    cr_assert_eq(srv_stop(&S), 0);
}

TestSuite(pipeline, .init = up, .fini = down, .timeout = 60);

Test(pipeline, thousand_commands_in_one_write_answered_in_order) {
    int fd = cli_connect(&S);
    size_t cap = 1 << 20, len = 0, elen = 0;
    char *req = malloc(cap), *exp = malloc(cap);
    for (int i = 0; i < 1000; i++) {
        len += (size_t)sprintf(req + len, "set k%d 0 0 %d\r\n%d\r\nget k%d\r\n", i,
                               snprintf(NULL, 0, "%d", i), i, i);
        elen += (size_t)sprintf(exp + elen, "STORED\r\nVALUE k%d 0 %d\r\n%d\r\nEND\r\n", i,
                                snprintf(NULL, 0, "%d", i), i);
    }
    cli_send(fd, req, len);
    char *got = cli_read_n(fd, elen);
    cr_assert_str_eq(got, exp);
    free(req);
    free(exp);
    free(got);
    close(fd);
}

Test(pipeline, one_byte_at_a_time) {
    int fd = cli_connect(&S);
    const char *req = "set split 3 0 10\r\n0123456789\r\nget split\r\n";
    for (const char *p = req; *p; p++) {
        cli_send(fd, p, 1);
        usleep(1000);
    }
    char *got = cli_read_until(fd, "END\r\n");
    cr_assert_str_eq(got, "STORED\r\nVALUE split 3 10\r\n0123456789\r\nEND\r\n");
    free(got);
    close(fd);
}

Test(pipeline, large_value_in_pieces) {
    int fd = cli_connect(&S);
    size_t n = 900 * 1024;
    char *v = malloc(n);
    for (size_t i = 0; i < n; i++)
        v[i] = (char)('a' + i % 26);
    char hdr[64];
    cli_send(fd, hdr, (size_t)sprintf(hdr, "set big 0 0 %zu\r\n", n));
    for (size_t off = 0; off < n; off += 65536) {
        cli_send(fd, v + off, n - off < 65536 ? n - off : 65536);
        usleep(2000);
    }
    cli_expect(fd, "\r\n", "STORED\r\n");
    cli_sends(fd, "get big\r\n");
    size_t h = (size_t)sprintf(hdr, "VALUE big 0 %zu\r\n", n);
    char *got = cli_read_n(fd, h + n + 7);
    cr_assert_eq(memcmp(got, hdr, h), 0);
    cr_assert_eq(memcmp(got + h, v, n), 0);
    cr_assert_eq(memcmp(got + h + n, "\r\nEND\r\n", 7), 0);
    free(got);
    free(v);
    close(fd);
}

struct worker_arg {
    const struct srv *s;
    int id, errors;
};

static void *many_worker(void *p) {
    struct worker_arg *a = p;
    int fds[100];
    for (int i = 0; i < 100; i++)
        fds[i] = cli_connect(a->s);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            char req[128], exp[128];
            int k = a->id * 100 + i;
            sprintf(req, "set c%d 0 0 4\r\n%04d\r\nget c%d\r\n", k, k, k);
            sprintf(exp, "STORED\r\nVALUE c%d 0 4\r\n%04d\r\nEND\r\n", k, k);
            cli_sends(fds[i], req);
            char *got = cli_read_n(fds[i], strlen(exp));
            a->errors += strcmp(got, exp) != 0;
            free(got);
        }
    }
    for (int i = 0; i < 100; i++)
        close(fds[i]);
    return NULL;
}

Test(pipeline, thousand_concurrent_connections) {
    raise_nofile(4096);
    pthread_t t[10];
    struct worker_arg args[10];
    for (int i = 0; i < 10; i++) {
        args[i] = (struct worker_arg){&S, i, 0};
        pthread_create(&t[i], NULL, many_worker, &args[i]);
    }
    int errors = 0;
    for (int i = 0; i < 10; i++) {
        pthread_join(t[i], NULL);
        errors += args[i].errors;
    }
    cr_assert_eq(errors, 0);
    cr_assert_geq(srv_stat(&S, "total_connections"), 1000);
    cr_assert_eq(srv_stat(&S, "curr_items"), 1000);
}

Test(pipeline, client_that_never_reads_is_bounded) {
    /* 1 MB value, then a flood of gets that is never read: the server
     * stops reading from this client once its output backs up, so its
     * memory stays bounded, and other clients are served meanwhile. */
    int fd = cli_connect(&S);
    size_t n = 1000 * 1000;
    char hdr[64];
    cli_send(fd, hdr, (size_t)sprintf(hdr, "set fat 0 0 %zu\r\n", n));
    char *v = malloc(n);
    memset(v, 'f', n);
    cli_send(fd, v, n);
    free(v);
    cli_expect(fd, "\r\n", "STORED\r\n");
    int buf = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    long rss_before = srv_rss_kb(&S);
    const char *get = "get fat\r\n";
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int sent = 0;
    for (int i = 0; i < 20000; i++) {
        if (poll(&p, 1, 200) <= 0)
            break; /* the server stopped reading: that is the point */
        if (send(fd, get, strlen(get), MSG_DONTWAIT | MSG_NOSIGNAL) <= 0)
            break;
        sent++;
    }
    cr_assert_gt(sent, 0);
    int other = cli_connect(&S);
    cli_expect(other, "version\r\n", "VERSION ");
    close(other);
    long rss_after = srv_rss_kb(&S);
    cr_assert_lt(rss_after - rss_before, 64 * 1024,
                 "server grew by %ld KB for one client that does not read", rss_after - rss_before);
    close(fd);
}

/* A multi-get of 400 values of 100 KB is a 40 MB reply: the server must
 * stream it, pausing between keys while the client reads, not build it all
 * in memory; the reply must still be whole and in order. */
Test(pipeline, huge_multiget_is_streamed_not_buffered) {
    int fd = cli_connect(&S);
    size_t vlen = 100 * 1000;
    char *val = malloc(vlen);
    for (int i = 0; i < 400; i++) {
        memset(val, 'a' + i % 26, vlen);
        char hdr[64];
        cli_send(fd, hdr, (size_t)sprintf(hdr, "set big%d 0 0 %zu noreply\r\n", i, vlen));
        cli_send(fd, val, vlen);
        cli_sends(fd, "\r\n");
    }
    cli_expect(fd, "version\r\n", "VERSION ");
    free(cli_read_until(fd, "\r\n"));
    long rss_before = srv_rss_kb(&S);
    char req[8192];
    size_t len = (size_t)sprintf(req, "get");
    for (int i = 0; i < 400; i++)
        len += (size_t)sprintf(req + len, " big%d", i);
    memcpy(req + len, "\r\n", 2);
    cli_send(fd, req, len + 2);
    long rss_peak = 0;
    char *got = malloc(vlen + 64);
    for (int i = 0; i < 400; i++) {
        char hdr[64];
        size_t h = (size_t)sprintf(hdr, "VALUE big%d 0 %zu\r\n", i, vlen);
        char *r = cli_read_n(fd, h + vlen + 2);
        cr_assert_eq(memcmp(r, hdr, h), 0, "value %d: header", i);
        memset(val, 'a' + i % 26, vlen);
        cr_assert_eq(memcmp(r + h, val, vlen), 0, "value %d: data", i);
        free(r);
        if (i % 50 == 0) {
            long rss = srv_rss_kb(&S);
            rss_peak = rss > rss_peak ? rss : rss_peak;
            usleep(20000); /* a slow reader */
        }
    }
    char *end = cli_read_n(fd, 5);
    cr_assert_str_eq(end, "END\r\n");
    free(end);
    free(got);
    free(val);
    close(fd);
    cr_assert_lt(rss_peak - rss_before, 8 * 1024,
                 "server grew by %ld KB while streaming a 40 MB reply", rss_peak - rss_before);
    cr_assert_eq(srv_stat(&S, "cmd_get"), 400);
    cr_assert_eq(srv_stat(&S, "get_hits"), 400);
}

static void *busy_client(void *p) {
    const struct srv *s = p;
    int fd = cli_connect(s);
    for (int i = 0; i < 300; i++) {
        cli_sends(fd, "set busy 0 0 1\r\nx\r\nget busy\r\n");
        free(cli_read_until(fd, "END\r\n"));
    }
    close(fd);
    return NULL;
}

/* stats conns reads other workers' connections while they serve traffic
 * (the TSan run of this suite checks that it does so without a race). */
Test(pipeline, stats_conns_during_traffic) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, busy_client, &S);
    int fd = cli_connect(&S);
    for (int i = 0; i < 50; i++) {
        cli_sends(fd, "stats conns\r\n");
        char *out = cli_read_until(fd, "END\r\n");
        cr_assert(strstr(out, ":state conn_") != NULL, "%s", out);
        free(out);
    }
    close(fd);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

/* A metadump of 100,000 keys is about 8 MB of lines: it must stream (it used
 * to close the connection without a byte once the output passed its cap),
 * and a cachedump stops at memcached's 2 MB but still ends with END. */
Test(pipeline, big_key_dumps_complete) {
    int fd = cli_connect(&S);
    size_t cap = 100000 * 40, len = 0;
    char *req = malloc(cap);
    for (int i = 0; i < 100000; i++)
        len += (size_t)sprintf(req + len, "set key:%06d 0 0 1 noreply\r\nx\r\n", i);
    cli_send(fd, req, len);
    free(req);
    cli_expect(fd, "version\r\n", "VERSION ");
    free(cli_read_until(fd, "\r\n"));
    cli_sends(fd, "lru_crawler metadump all\r\n");
    char *out = cli_read_until(fd, "END\r\n");
    /* one pass with memcmp: strstr would rescan the 8 MB tail each time
     * under ASan's interceptor */
    unsigned lines = 0;
    size_t outlen = strlen(out);
    for (size_t i = 0; i + 10 <= outlen; i++)
        if (out[i] == 'k' && (i == 0 || out[i - 1] == '\n') && memcmp(out + i, "key=key%3A", 10) == 0)
            lines++;
    cr_assert_eq(lines, 100000, "metadump listed %u of 100000 keys", lines);
    free(out);
    cli_sends(fd, "stats slabs\r\n");
    out = cli_read_until(fd, "END\r\n");
    unsigned cls = 0;
    cr_assert_eq(sscanf(out, "STAT %u:chunk_size", &cls), 1);
    free(out);
    char cmd[64];
    sprintf(cmd, "stats cachedump %u 0\r\n", cls);
    cli_sends(fd, cmd);
    out = cli_read_until(fd, "END\r\n");
    size_t n = strlen(out);
    cr_assert(n > (1u << 20) && n < (2u << 20) + 4096, "cachedump of %zu bytes", n);
    cr_assert(strcmp(out + n - 5, "END\r\n") == 0);
    free(out);
    cli_expect(fd, "version\r\n", "VERSION ");
    close(fd);
}
