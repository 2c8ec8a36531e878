/*
 * hostile: the server keeps working whatever clients send or fail to do.
 *
 * Over-long lines, over-long keys, control characters, absurd lengths, data
 * blocks longer or shorter than declared, binary garbage, connections cut in
 * the middle of a value, thousands of clients trickling one byte at a time,
 * more connections than -c, descriptors running out, a client that never
 * reads, memory pressure with and without eviction, allocations that fail,
 * SIGTERM under load.  Each test
 * checks the answers, that the server is alive and answering other clients,
 * and that its memory and descriptors come back; latencies are printed, not
 * asserted, so a slow machine (or an ASan build) does not fail the suite.
 *
 * These tests are slow-ish and load the machine, so they run only when
 * LARDER_HOSTILE is set (make test-hostile); `make integration` skips them.
 * LARDER_FAILMALLOC names the malloc-failing shim (tests/fuzz/failmalloc.c).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define HOSTILE_ONLY()                                                   \
    do {                                                                 \
        if (getenv("LARDER_HOSTILE") == NULL)                            \
            cr_skip_test("set LARDER_HOSTILE=1 (make test-hostile)");    \
    } while (0)

/* The server of the running test, killed by the suite's fini if a failed
 * assertion left it running. */
static struct srv current;

static void hostile_fini(void) {
    if (current.pid > 0 && srv_alive(&current))
        srv_stop(&current);
    current.pid = 0;
}

/* Timeouts only stop a hang: the waits inside poll for conditions. */
TestSuite(hostile, .fini = hostile_fini, .timeout = 600);

static void start(struct srv *s, const char *const *args) {
    srv_start(s, args);
    current = *s;
}

/* --- helpers ------------------------------------------------------------------ */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long srv_fds(const struct srv *s) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)s->pid);
    DIR *d = opendir(path);
    cr_assert(d != NULL);
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* A connection that fails instead of aborting the test (for mass connects). */
static int raw_connect(const struct srv *s) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The server answers a fresh client correctly. */
static void assert_serving(const struct srv *s) {
    cr_assert(srv_alive(s), "server died");
    int fd = cli_connect(s);
    cli_expect(fd, "set hostile:probe 0 0 5\r\nhello\r\n", "STORED\r\n");
    cli_expect(fd, "get hostile:probe\r\n", "VALUE hostile:probe 0 5\r\nhello\r\nEND\r\n");
    close(fd);
}

/* One general stat; unlike srv_stat it retries (bounded) while the server
 * turns the stats connection away because it is still at its -c limit. */
static uint64_t stat_patient(const struct srv *s, const char *name) {
    char pat[128];
    snprintf(pat, sizeof(pat), "STAT %s ", name);
    double deadline = harness_now() + harness_wait_s();
    while (harness_now() < deadline) {
        int fd = cli_connect(s);
        cli_sends(fd, "stats\r\n");
        char *out = cli_read_until(fd, "END\r\n");
        close(fd);
        char *p = strstr(out, pat);
        if (p != NULL) {
            uint64_t v = strtoull(p + strlen(pat), NULL, 10);
            free(out);
            return v;
        }
        cr_assert(strncmp(out, "ERROR Too many open connections", 31) == 0, "stats: '%s'", out);
        free(out);
        usleep(50000);
    }
    cr_assert_fail("stat %s: the server kept refusing connections", name);
    return 0;
}

/* Waits (up to the hang cap) until curr_connections is at most n (the
 * probe counts). */
static uint64_t wait_conns_at_most(const struct srv *s, uint64_t n) {
    uint64_t cur = 0;
    double deadline = harness_now() + harness_wait_s();
    while (harness_now() < deadline) {
        cur = stat_patient(s, "curr_connections");
        if (cur <= n)
            break;
        usleep(50000);
    }
    return cur;
}

/* A value of n bytes that is easy to check. */
static char *pattern(size_t n) {
    char *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + i % 26);
    p[n] = '\0';
    return p;
}

static void set_value(int fd, const char *key, size_t n) {
    char hdr[300];
    char *v = pattern(n);
    snprintf(hdr, sizeof(hdr), "set %s 0 0 %zu\r\n", key, n);
    cli_sends(fd, hdr);
    cli_send(fd, v, n);
    cli_expect(fd, "\r\n", "STORED\r\n");
    free(v);
}

/* Sends what the socket takes within `ms`; returns bytes sent. */
static size_t send_for(int fd, const char *p, size_t n, int ms) {
    size_t sent = 0;
    double end = now_ms() + ms;
    while (sent < n && now_ms() < end) {
        ssize_t w = send(fd, p + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            break;
        struct pollfd pfd = {fd, POLLOUT, 0};
        poll(&pfd, 1, 20);
    }
    return sent;
}

/* --- bad input ---------------------------------------------------------------- */

Test(hostile, long_line_without_newline_is_closed) {
    HOSTILE_ONLY();
    struct srv s;
    start(&s, NULL);
    long rss0 = srv_rss_kb(&s);
    size_t n = 3u << 20;
    char *junk = malloc(n);
    memset(junk, 'x', n);
    memcpy(junk, "get ", 4);
    for (int round = 0; round < 20; round++) {
        int fd = cli_connect(&s);
        /* half the rounds a plain command, half a retrieval (which may grow
         * to 1 MB before the server gives up) */
        size_t sent = send_for(fd, round % 2 ? junk : junk + 4, n - 4, 5000);
        cr_assert(cli_closed(fd), "round %d: a %zu-byte line without newline was not closed", round,
                  sent);
        close(fd);
    }
    free(junk);
    long rss1 = srv_rss_kb(&s);
    printf("hostile: 20 over-long lines: RSS %ld kB -> %ld kB\n", rss0, rss1);
    cr_assert_lt(rss1 - rss0, 32 * 1024, "RSS grew by %ld kB", rss1 - rss0);
    assert_serving(&s);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(hostile, long_keys_and_control_characters) {
    HOSTILE_ONLY();
    struct srv s;
    start(&s, NULL);
    int fd = cli_connect(&s);
    const size_t lens[] = {251, 300, 1000, 2000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        char *k = malloc(lens[i] + 1);
        memset(k, 'k', lens[i]);
        k[lens[i]] = '\0';
        char *req = malloc(lens[i] + 64);
        const char *cmds[] = {"get %s\r\n", "gets a %s\r\n", "delete %s\r\n", "incr %s 1\r\n",
                              "touch %s 0\r\n", "gat 0 %s\r\n", "set %s 0 0 1\r\n"};
        for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
            sprintf(req, cmds[c], k);
            cli_expect(fd, req, "CLIENT_ERROR bad command line format\r\n");
        }
        cli_expect(fd, "x\r\n", "ERROR\r\n"); /* the set's data is a line of its own */
        free(k);
        free(req);
    }
    /* Keys may hold any byte but space, CR-LF and NUL-free C strings do not
     * matter to the server: control characters and high bytes are keys. */
    const char *odd[] = {"\x01\x02\x03", "tab\there", "del\x7f", "\xff\xfe", "cr\rin", "esc\x1b[0m"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        char req[128], want[128];
        snprintf(req, sizeof(req), "set %s 0 0 2\r\nok\r\n", odd[i]);
        cli_expect(fd, req, "STORED\r\n");
        snprintf(req, sizeof(req), "get %s\r\n", odd[i]);
        snprintf(want, sizeof(want), "VALUE %s 0 2\r\nok\r\nEND\r\n", odd[i]);
        cli_expect(fd, req, want);
    }
    /* A NUL inside a line: the key is the bytes up to the space, NUL included. */
    cli_send(fd, "set a\0b 0 0 1\r\nz\r\n", 18);
    cli_expect(fd, "", "STORED\r\n");
    cli_send(fd, "get a\0b\r\n", 9);
    char *got = cli_read_n(fd, 24);
    cr_assert_eq(memcmp(got, "VALUE a\0b 0 1\r\nz\r\nEND\r\n", 24), 0);
    free(got);
    /* Every single byte as a command of its own. */
    for (int b = 0; b < 256; b++) {
        if (b == '\n')
            continue;
        char line[3] = {(char)b, '\r', '\n'};
        cli_send(fd, line, 3);
        got = cli_read_until(fd, "\r\n");
        cr_assert(strcmp(got, "ERROR\r\n") == 0, "byte %d: got '%s'", b, got);
        free(got);
    }
    close(fd);
    assert_serving(&s);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(hostile, absurd_numbers) {
    HOSTILE_ONLY();
    struct srv s;
    start(&s, NULL);
    int fd = cli_connect(&s);
    const char *bad[] = {
        "set k 0 0 -1\r\n",          "set k 0 0 -2147483648\r\n", "set k 0 0 4294967296\r\n",
        "set k 0 0 99999999999999999999\r\n", "set k 0 0 0x10\r\n", "set k 0 0 1e3\r\n",
        "set k -1 0 1\r\n",          "set k 18446744073709551616 0 1\r\n",
        "set k 0 99999999999 1\r\n", "cas k 0 0 1 -1\r\n",       "set k 0 0 \t\r\n",
        "verbosity x\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cli_expect(fd, bad[i], "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "incr k -1\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
    cli_expect(fd, "incr k 18446744073709551616\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
    cli_expect(fd, "touch k 99999999999\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
    cli_expect(fd, "flush_all -99999999999\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
    /* counters at the edge */
    cli_expect(fd, "set n 0 0 20\r\n18446744073709551615\r\n", "STORED\r\n");
    cli_expect(fd, "incr n 1\r\n", "0\r\n");
    cli_expect(fd, "decr n 18446744073709551615\r\n", "0\r\n");
    /* the largest length the parser takes: refused as too large, data swallowed */
    int big = cli_connect(&s);
    cli_expect(big, "set k 0 0 2147483645\r\n", "SERVER_ERROR object too large for cache\r\n");
    close(big);
    /* flags: 32 bits kept, as memcached does */
    cli_expect(fd, "set f 4294967295 0 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "get f\r\n", "VALUE f 4294967295 1\r\nx\r\nEND\r\n");
    close(fd);
    assert_serving(&s);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(hostile, data_longer_or_shorter_than_declared) {
    HOSTILE_ONLY();
    struct srv s;
    start(&s, NULL);
    int fd = cli_connect(&s);
    /* longer: the two bytes after the block are not CRLF; the rest of the
     * line is then read as a command */
    cli_expect(fd, "set a 0 0 3\r\nabcdef\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    cli_expect(fd, "get a\r\n", "END\r\n");
    /* shorter: the next bytes are taken as data, as memcached does */
    cli_expect(fd, "set b 0 0 10\r\nabc\r\nget b\r\n", "STORED\r\n");
    cli_expect(fd, "get b\r\n", "VALUE b 0 10\r\nabc\r\nget b\r\nEND\r\n");
    /* a block ending in LF only, and in CR only */
    cli_expect(fd, "set c 0 0 1\r\nx\n\r\n", "CLIENT_ERROR bad data chunk\r\n");
    cli_expect(fd, "\r\n", "ERROR\r\n");
    close(fd);
    assert_serving(&s);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(hostile, binary_garbage) {
    HOSTILE_ONLY();
    struct srv s;
    start(&s, NULL);
    long rss0 = srv_rss_kb(&s);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    size_t n = 1u << 20;
    char *junk = malloc(n);
    for (int round = 0; round < 16; round++) {
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* some rounds with many newlines, so that many "commands" parse */
            junk[i] = round % 2 && (x & 15) == 0 ? '\n' : (char)x;
        }
        int fd = cli_connect(&s);
        send_for(fd, junk, n, 3000);
        shutdown(fd, SHUT_WR);
        /* drain whatever it answers until it closes */
        char buf[65536];
        double end = now_ms() + 10000;
        while (now_ms() < end && recv(fd, buf, sizeof(buf), 0) > 0)
            ;
        close(fd);
        cr_assert(srv_alive(&s), "garbage round %d killed the server", round);
    }
    free(junk);
    long rss1 = srv_rss_kb(&s);
    printf("hostile: 16 MB of binary garbage: RSS %ld kB -> %ld kB\n", rss0, rss1);
    cr_assert_lt(rss1 - rss0, 128 * 1024);
    assert_serving(&s);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(hostile, half_closed_and_reset_connections) {
    HOSTILE_ONLY();
    struct srv s;
    start(&s, NULL);
    int fd = cli_connect(&s);
    set_value(fd, "big", 500000);
    close(fd);
    usleep(100000);
    long fds0 = srv_fds(&s);
    for (int i = 0; i < 300; i++) {
        fd = cli_connect(&s);
        switch (i % 3) {
        case 0: /* half-close in the middle of a value: the server closes too */
            cli_sends(fd, "set half 0 0 1000\r\n");
            cli_send(fd, "0123456789", 10);
            shutdown(fd, SHUT_WR);
            cr_assert(cli_closed(fd), "half-closed connection %d not closed", i);
            close(fd);
            break;
        case 1: { /* reset in the middle of a value */
            struct linger lg = {1, 0};
            cli_sends(fd, "set reset 0 0 1000\r\nabc");
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(fd);
            break;
        }
        default: { /* reset while a large reply is being sent */
            struct linger lg = {1, 0};
            cli_sends(fd, "get big big big big\r\n");
            usleep(1000);
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(fd);
            break;
        }
        }
    }
    uint64_t conns = wait_conns_at_most(&s, 1);
    cr_assert_leq(conns, 1, "connections leaked: curr_connections %lu", (unsigned long)conns);
    long fds1 = srv_fds(&s);
    printf("hostile: 300 cut connections: server fds %ld -> %ld\n", fds0, fds1);
    cr_assert_leq(fds1, fds0 + 1);
    fd = cli_connect(&s);
    cli_expect(fd, "get half reset\r\n", "END\r\n"); /* nothing half-stored */
    close(fd);
    assert_serving(&s);
    cr_assert_eq(srv_stop(&s), 0);
}

/* --- slow clients --------------------------------------------------------------- */

struct latency {
    double v[4096];
    int n;
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_latency(const char *what, struct latency *l) {
    qsort(l->v, (size_t)l->n, sizeof(double), cmp_double);
    printf("hostile: %s: %d requests, latency p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", what, l->n,
           l->v[l->n / 2], l->v[l->n * 99 / 100], l->v[l->n - 1]);
}

/* One set + get with the answers checked; the time of each goes to l. */
static void timed_requests(int fd, int count, struct latency *l) {
    for (int i = 0; i < count && l->n < 4096; i++) {
        char req[128], want[128];
        double t = now_ms();
        snprintf(req, sizeof(req), "set normal:%d 0 0 6\r\nval%03d\r\n", i, i % 1000);
        cli_expect(fd, req, "STORED\r\n");
        snprintf(req, sizeof(req), "get normal:%d\r\n", i);
        snprintf(want, sizeof(want), "VALUE normal:%d 0 6\r\nval%03d\r\nEND\r\n", i, i % 1000);
        cli_expect(fd, req, want);
        l->v[l->n++] = now_ms() - t;
    }
}

Test(hostile, slowloris_does_not_starve_others) {
    HOSTILE_ONLY();
    enum { N = 2000, ROUNDS = 12 };
    raise_nofile(N + 500);
    struct srv s;
    const char *args[] = {"-c", "4096", NULL};
    start(&s, args);
    int normal = cli_connect(&s);
    static struct latency before, during;
    timed_requests(normal, 500, &before);

    static int fds[N];
    int open = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = raw_connect(&s);
        open += fds[i] >= 0;
    }
    cr_assert_eq(open, N, "only %d of %d connections opened", open, N);
    /* Each sends one byte per round of a command that never completes:
     * a storage command line, a long get, a value block. */
    static const char *partial[] = {"set slow 0 0 100\r\n", "get aaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                    "gets b c d e f g h i j k l m n "};
    long rss0 = srv_rss_kb(&s);
    double t0 = now_ms();
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) {
            const char *p = partial[i % 3];
            size_t len = strlen(p);
            send(fds[i], p + (size_t)r % len, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        timed_requests(normal, 100, &during);
    }
    double t1 = now_ms();
    long rss1 = srv_rss_kb(&s);
    uint64_t conns = srv_stat(&s, "curr_connections");
    print_latency("normal client before slowloris", &before);
    print_latency("normal client during 2000 trickling connections", &during);
    printf("hostile: slowloris: %d rounds of %d one-byte sends in %.0f ms, curr_connections %lu, "
           "RSS %ld kB -> %ld kB\n",
           ROUNDS, N, t1 - t0, (unsigned long)conns, rss0, rss1);
    cr_assert_geq(conns, N);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    close(normal);
    cr_assert_leq(wait_conns_at_most(&s, 1), 1);
    assert_serving(&s);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(hostile, idle_timeout_drops_tricklers) {
    HOSTILE_ONLY();
    enum { N = 300 };
    raise_nofile(N + 500);
    struct srv s;
    const char *args[] = {"-o", "idle_timeout=2", NULL};
    start(&s, args);
    static int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = cli_connect(&s);
        cli_sends(fds[i], "get ");
    }
    int normal = cli_connect(&s);
    /* Trickle until all are dropped (2 s on an idle machine; the hang cap
     * otherwise); a trickler never completes a command, so it is idle in
     * memcached's sense and must be dropped; the normal client completes
     * commands and stays. */
    int closed = 0;
    double end = now_ms() + harness_wait_s() * 1000.0;
    while (now_ms() < end && closed < N) {
        closed = 0;
        for (int i = 0; i < N; i++) {
            if (fds[i] < 0) {
                closed++;
                continue;
            }
            if (send(fds[i], "k", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
        cli_expect(normal, "version\r\n", "VERSION ");
        char *rest = cli_read_until(normal, "\r\n");
        free(rest);
        usleep(200000);
    }
    printf("hostile: idle_timeout=2: %d of %d trickling connections dropped\n", closed, N);
    cr_assert_eq(closed, N);
    cli_expect(normal, "get x\r\n", "END\r\n");
    close(normal);
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    cr_assert_gt(srv_stat(&s, "idle_kicks"), 0);
    cr_assert_eq(srv_stop(&s), 0);
}

/* --- overload ------------------------------------------------------------------ */

Test(hostile, more_connections_than_limit) {
    HOSTILE_ONLY();
    enum { LIMIT = 50, EXTRA = 30 };
    struct srv s;
    const char *args[] = {"-c", "50", NULL};
    start(&s, args);
    int fds[LIMIT + EXTRA];
    for (int i = 0; i < LIMIT - 1; i++) {
        fds[i] = cli_connect(&s);
        cli_expect(fds[i], "version\r\n", "VERSION ");
        free(cli_read_until(fds[i], "\r\n"));
    }
    int rejected = 0;
    for (int i = LIMIT - 1; i < LIMIT + EXTRA; i++) {
        fds[i] = cli_connect(&s);
        /* the one at the limit gets through; the rest are told why and closed */
        cli_sends(fds[i], "version\r\n");
        char *got = cli_read_until(fds[i], "\r\n");
        if (strcmp(got, "ERROR Too many open connections\r\n") == 0) {
            cr_assert(cli_closed(fds[i]));
            rejected++;
        } else {
            cr_assert(strncmp(got, "VERSION ", 8) == 0, "got '%s'", got);
        }
        free(got);
    }
    printf("hostile: -c %d: %d of %d extra connections rejected\n", LIMIT, rejected, EXTRA + 1);
    cr_assert_geq(rejected, EXTRA);
    /* the connections inside the limit still work */
    for (int i = 0; i < LIMIT - 1; i++)
        cli_expect(fds[i], "get nothing\r\n", "END\r\n");
    for (int i = 0; i < LIMIT + EXTRA; i++)
        close(fds[i]);
    cr_assert_leq(wait_conns_at_most(&s, 1), 1);
    cr_assert_geq(stat_patient(&s, "rejected_connections"), (uint64_t)EXTRA);
    assert_serving(&s);
    cr_assert_eq(srv_stop(&s), 0);
}

static long srv_cpu_ticks(const struct srv *s) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)s->pid);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    cr_assert(p != NULL);
    long utime = 0, stime = 0;
    /* fields after the command: state ppid pgrp session tty tpgid flags
     * minflt cminflt majflt cmajflt utime stime */
    cr_assert(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime,
                     &stime) == 2);
    return utime + stime;
}

Test(hostile, descriptor_exhaustion_does_not_spin) {
    HOSTILE_ONLY();
    /* The server inherits a 64-descriptor limit it cannot raise (-c asks
     * for more than fs.nr_open), so 100 clients exhaust its descriptors. */
    struct rlimit saved, low;
    getrlimit(RLIMIT_NOFILE, &saved);
    low = (struct rlimit){64, saved.rlim_max};
    cr_assert(setrlimit(RLIMIT_NOFILE, &low) == 0);
    struct srv s;
    const char *args[] = {"-c", "1048576", NULL};
    start(&s, args);
    cr_assert(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    enum { N = 100 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect(&s);
    usleep(200000);
    long t0 = srv_cpu_ticks(&s);
    usleep(2000000);
    long ticks = srv_cpu_ticks(&s) - t0;
    printf("hostile: descriptors exhausted by %d clients: server CPU %ld ticks in 2 s "
           "(a spinning thread takes about 200)\n", N, ticks);
    /* the ones that got in are served; the rest wait in the backlog */
    cli_sends(fds[0], "version\r\n");
    free(cli_read_until(fds[0], "\r\n"));
    for (int i = 0; i < N; i++)
        close(fds[i]);
    cr_assert_lt(ticks, 40, "the server spins while out of descriptors (%ld ticks in 2 s)", ticks);
    assert_serving(&s);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(hostile, client_that_never_reads) {
    HOSTILE_ONLY();
    struct srv s;
    start(&s, NULL);
    int fd = cli_connect(&s);
    set_value(fd, "big", 512 * 1024);
    close(fd);
    long rss0 = srv_rss_kb(&s);
    /* 8 clients pipeline gets of a 512 KB value and never read a byte. */
    enum { N = 8 };
    int fds[N];
    size_t reqlen = 9 * 20000;
    char *req = malloc(reqlen);
    for (size_t i = 0; i < 20000; i++)
        memcpy(req + i * 9, "get big\r\n", 9);
    size_t sent_total = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = cli_connect(&s);
        int small = 4096;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        sent_total += send_for(fds[i], req, reqlen, 1500);
    }
    usleep(300000);
    long rss1 = srv_rss_kb(&s);
    printf("hostile: %d clients that never read: %zu request bytes accepted (%.0f MB of replies "
           "asked for), server RSS %ld kB -> %ld kB\n",
           N, sent_total, (double)sent_total / 9 * 0.5, rss0, rss1);
    /* Each connection holds at most CONN_WBUF_HIGH (1 MB) plus one reply,
     * and its input buffer: far below what was asked for. */
    cr_assert_lt(rss1 - rss0, N * 8 * 1024, "RSS grew by %ld kB", rss1 - rss0);
    assert_serving(&s);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    free(req);
    cr_assert_leq(wait_conns_at_most(&s, 1), 1);
    cr_assert_eq(srv_stop(&s), 0);
}

/* One get of many large values must not be copied whole into the output
 * buffer for a client that does not read: an 800-byte "get big big ..." of a
 * 1 MB value once pinned about 200 MB per connection (4 clients: RSS 6 MB ->
 * 770 MB).  The get now stops at the output high-water mark and resumes as
 * the client drains. */
Test(hostile, multiget_to_a_client_that_never_reads) {
    HOSTILE_ONLY();
    struct srv s;
    start(&s, NULL);
    int fd = cli_connect(&s);
    set_value(fd, "big", 1000000);
    close(fd);
    long rss0 = srv_rss_kb(&s);
    enum { N = 4, KEYS = 200 };
    int fds[N];
    char *req = malloc(KEYS * 4 + 8);
    size_t n = 0;
    n += (size_t)sprintf(req, "get");
    for (int i = 0; i < KEYS; i++)
        n += (size_t)sprintf(req + n, " big");
    n += (size_t)sprintf(req + n, "\r\n");
    for (int i = 0; i < N; i++) {
        fds[i] = cli_connect(&s);
        int small = 4096;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        cli_send(fds[i], req, n);
    }
    usleep(2000000);
    long rss1 = srv_rss_kb(&s);
    printf("hostile: %d clients each asking for %d MB in one get, never reading: RSS %ld kB -> "
           "%ld kB\n", N, KEYS, rss0, rss1);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    free(req);
    cr_assert_lt(rss1 - rss0, N * 8 * 1024, "RSS grew by %ld kB", rss1 - rss0);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(hostile, memory_pressure_evicts_within_limit) {
    HOSTILE_ONLY();
    struct srv s;
    const char *args[] = {"-m", "16", NULL};
    start(&s, args);
    int fd = cli_connect(&s);
    long rss0 = srv_rss_kb(&s);
    char key[32];
    for (int i = 0; i < 8000; i++) { /* about 80 MB through a 16 MB cache */
        snprintf(key, sizeof(key), "p:%d", i);
        set_value(fd, key, 1000 + (size_t)(i % 7) * 2000);
    }
    set_value(fd, "p:last", 100);
    cli_expect(fd, "get p:last\r\n", "VALUE p:last 0 100\r\n");
    free(cli_read_until(fd, "END\r\n"));
    close(fd);
    uint64_t evictions = srv_stat(&s, "evictions");
    uint64_t malloced = srv_stat(&s, "total_malloced");
    uint64_t limit = srv_stat(&s, "limit_maxbytes");
    long rss1 = srv_rss_kb(&s);
    printf("hostile: -m 16 under 80 MB of sets: evictions %lu, total_malloced %lu, limit %lu, RSS "
           "%ld kB -> %ld kB\n",
           (unsigned long)evictions, (unsigned long)malloced, (unsigned long)limit, rss0, rss1);
    cr_assert_gt(evictions, 0);
    /* Over the limit by at most one first page per slab class in use. */
    cr_assert_leq(malloced, limit + 8 * (1u << 20));
    cr_assert_lt(rss1 - rss0, 48 * 1024);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(hostile, no_evict_says_out_of_memory) {
    HOSTILE_ONLY();
    struct srv s;
    const char *args[] = {"-M", "-m", "8", NULL};
    start(&s, args);
    int fd = cli_connect(&s);
    char *v = pattern(10000);
    char req[64];
    int stored = 0, oom = 0;
    for (int i = 0; i < 2000 && oom == 0; i++) {
        snprintf(req, sizeof(req), "set m:%d 0 0 10000\r\n", i);
        cli_sends(fd, req);
        cli_send(fd, v, 10000);
        cli_sends(fd, "\r\n");
        char *got = cli_read_until(fd, "\r\n");
        if (strcmp(got, "STORED\r\n") == 0)
            stored++;
        else if (strcmp(got, "SERVER_ERROR out of memory storing object\r\n") == 0)
            oom++;
        else
            cr_assert_fail("unexpected reply '%s'", got);
        free(got);
    }
    printf("hostile: -M -m 8: %d values stored, then out of memory\n", stored);
    cr_assert_eq(oom, 1);
    cr_assert_gt(stored, 100);
    /* Everything stored is still there, deletes free room for a new set. */
    cli_expect(fd, "get m:0\r\n", "VALUE m:0 0 10000\r\n");
    free(cli_read_until(fd, "END\r\n"));
    cli_expect(fd, "delete m:1\r\n", "DELETED\r\n");
    snprintf(req, sizeof(req), "set again 0 0 10000\r\n");
    cli_sends(fd, req);
    cli_send(fd, v, 10000);
    cli_expect(fd, "\r\n", "STORED\r\n");
    cr_assert_gt(srv_stat(&s, "store_no_memory"), 0);
    free(v);
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}

/* --- faults ------------------------------------------------------------------ */

Test(hostile, allocation_failure_is_answered) {
    HOSTILE_ONLY();
    const char *shim = getenv("LARDER_FAILMALLOC");
    if (shim == NULL)
        cr_skip_test("LARDER_FAILMALLOC not set");
    /* Slab pages are blocks of 32 KB or more: the first 3 succeed, every
     * later one fails.  -M, so that no eviction hides the failure. */
    char report[64];
    snprintf(report, sizeof(report), "/tmp/larder-failmalloc.%d", (int)getpid());
    unlink(report);
    setenv("LD_PRELOAD", shim, 1);
    setenv("FAILMALLOC_SIZE", "32768", 1);
    setenv("FAILMALLOC_AFTER", "3", 1);
    setenv("FAILMALLOC_REPORT", report, 1);
    /* An ASan server wants its runtime first; the shim only wraps malloc,
     * which then goes on to ASan's. */
    const char *asan = getenv("ASAN_OPTIONS");
    char saved[512], opts[600];
    snprintf(saved, sizeof(saved), "%s", asan ? asan : "");
    snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0", saved, asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    struct srv s;
    const char *args[] = {"-M", NULL};
    start(&s, args);
    unsetenv("LD_PRELOAD");
    if (asan != NULL)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    int fd = cli_connect(&s);
    const size_t sizes[] = {10, 100, 1000, 5000, 20000, 100000, 300000, 50, 500};
    int ok = 0, oom = 0;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            char req[64];
            char *v = pattern(sizes[i]);
            snprintf(req, sizeof(req), "set f:%d:%zu 0 0 %zu\r\n", round, sizes[i], sizes[i]);
            cli_sends(fd, req);
            cli_send(fd, v, sizes[i]);
            cli_sends(fd, "\r\n");
            char *got = cli_read_until(fd, "\r\n");
            if (strcmp(got, "STORED\r\n") == 0)
                ok++;
            else if (strcmp(got, "SERVER_ERROR out of memory storing object\r\n") == 0)
                oom++;
            else
                cr_assert_fail("size %zu: unexpected reply '%s'", sizes[i], got);
            free(got);
            free(v);
        }
    }
    /* A line over 64 KB needs a larger read buffer: the server must live
     * whatever happens to this connection. */
    char *longget = malloc(300000);
    memset(longget, 'k', 300000);
    memcpy(longget, "get ", 4);
    memcpy(longget + 299998, "\r\n", 2);
    int fd2 = cli_connect(&s);
    send_for(fd2, longget, 300000, harness_wait_s() * 1000);
    free(cli_read_until(fd2, "\r\n"));
    close(fd2);
    free(longget);
    cli_expect(fd, "get f:0:10\r\n", "VALUE f:0:10 0 10\r\n");
    free(cli_read_until(fd, "END\r\n"));
    close(fd);
    cr_assert(srv_alive(&s));
    cr_assert_eq(srv_stop(&s), 0);
    long failed = -1;
    FILE *f = fopen(report, "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &failed) != 1)
            failed = -1;
        fclose(f);
    }
    unlink(report);
    printf("hostile: %ld page allocations failed: %d sets stored, %d answered SERVER_ERROR\n",
           failed, ok, oom);
    cr_assert_gt(failed, 0, "no allocation failure was injected");
    cr_assert_gt(ok, 0);
    cr_assert_gt(oom, 0, "failed page allocations were never answered");
}

struct load_arg {
    const struct srv *s;
    volatile bool stop;
    long requests;
};

static void *load_main(void *arg) {
    struct load_arg *a = arg;
    int fd = raw_connect(a->s);
    char buf[4096];
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (long i = 0; fd >= 0 && !a->stop && i < 10000000; i++) {
        const char *req = "set load 0 0 5\r\nhello\r\nget load\r\n";
        if (send(fd, req, strlen(req), MSG_NOSIGNAL) <= 0)
            break;
        if (recv(fd, buf, sizeof(buf), 0) <= 0)
            break;
        a->requests++;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

Test(hostile, sigterm_under_load_exits_cleanly) {
    HOSTILE_ONLY();
    struct srv s;
    start(&s, NULL);
    enum { T = 8 };
    pthread_t tid[T];
    struct load_arg arg = {&s, false, 0};
    for (int i = 0; i < T; i++)
        pthread_create(&tid[i], NULL, load_main, &arg);
    /* plus a client in the middle of a value and one that never reads */
    int mid = cli_connect(&s);
    cli_sends(mid, "set mid 0 0 100\r\nabc");
    int deaf = cli_connect(&s);
    int fd = cli_connect(&s);
    set_value(fd, "big", 400000);
    close(fd);
    char *req = malloc(9 * 5000);
    for (int i = 0; i < 5000; i++)
        memcpy(req + i * 9, "get big\r\n", 9);
    send_for(deaf, req, 9 * 5000, 500);
    usleep(500000);
    int status = srv_stop(&s);
    arg.stop = true;
    for (int i = 0; i < T; i++)
        pthread_join(tid[i], NULL);
    printf("hostile: SIGTERM after %ld requests under load: exit status %d\n", arg.requests,
           status);
    cr_assert_eq(status, 0, "exit status %d", status);
    close(mid);
    close(deaf);
    free(req);
}
