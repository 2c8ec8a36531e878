/*
 * The memory budget for what is not items (server/budget.h), tried as an
 * attacker would, in short versions of the cases of issue 12: clients that
 * send values slowly or never finish them, that ask for much and never
 * read, that send endless lines, that ask for dumps and never read.  Each
 * asserts an RSS bound read from /proc, that other clients keep being
 * served, and that what was stored before is still there.  Waits are for
 * conditions (the server's own counters), capped by the harness.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct srv current;

static void budget_fini(void) {
    if (current.pid > 0 && srv_alive(&current))
        srv_stop(&current);
}

TestSuite(budget, .fini = budget_fini, .timeout = 300);

static void start(struct srv *s, const char *const *args) {
    srv_start(s, args);
    current = *s;
}

static void set_value(int fd, const char *key, size_t n) {
    char hdr[300];
    snprintf(hdr, sizeof(hdr), "set %s 0 0 %zu\r\n", key, n);
    char *v = malloc(n + 2);
    for (size_t i = 0; i < n; i++)
        v[i] = (char)('a' + i % 26);
    memcpy(v + n, "\r\n", 2);
    cli_sends(fd, hdr);
    cli_send(fd, v, n + 2);
    free(v);
    char *r = cli_read_until(fd, "\r\n");
    cr_assert_str_eq(r, "STORED\r\n");
    free(r);
}

/* Sends what the socket takes without blocking: bytes sent. */
static size_t send_some(int fd, const char *p, size_t n) {
    size_t sent = 0;
    while (sent < n) {
        ssize_t r = send(fd, p + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r <= 0)
            break;
        sent += (size_t)r;
    }
    return sent;
}

/* Waits until the stat stops changing for a second (the server has done
 * all it will with what it was sent), capped by the harness. */
static uint64_t wait_stat_settles(const struct srv *s, const char *name) {
    double deadline = harness_now() + harness_wait_s();
    uint64_t last = srv_stat(s, name);
    double since = harness_now();
    while (harness_now() < deadline) {
        usleep(100000);
        uint64_t v = srv_stat(s, name);
        if (v != last) {
            last = v;
            since = harness_now();
        } else if (harness_now() - since >= 1.0) {
            break;
        }
    }
    return last;
}

static void wait_stat_at_least(const struct srv *s, const char *name, uint64_t n) {
    double deadline = harness_now() + harness_wait_s();
    while (srv_stat(s, name) < n) {
        cr_assert_lt(harness_now(), deadline, "stat %s stayed below %llu", name,
                     (unsigned long long)n);
        usleep(50000);
    }
}

static void assert_serving(const struct srv *s) {
    cr_assert(srv_alive(s), "server died");
    int fd = cli_connect(s);
    cli_expect(fd, "set budget:probe 0 0 5\r\nhello\r\n", "STORED\r\n");
    cli_expect(fd, "get budget:probe\r\n", "VALUE budget:probe 0 5\r\nhello\r\nEND\r\n");
    close(fd);
}

static void assert_within_budget(const struct srv *s) {
    uint64_t used = srv_stat(s, "conn_mem_bytes"), limit = srv_stat(s, "conn_mem_limit");
    cr_assert_leq(used, limit, "conn_mem_bytes %llu over its limit %llu", (unsigned long long)used,
                  (unsigned long long)limit);
}

Test(budget, stats_show_the_budget) {
    struct srv s;
    const char *args[] = {"-o", "conn_mem_limit=40", NULL};
    start(&s, args);
    int fd = cli_connect(&s);
    cli_sends(fd, "stats settings\r\n");
    char *out = cli_read_until(fd, "END\r\n");
    cr_assert(strstr(out, "STAT conn_mem_limit 40\r\n") != NULL, "%s", out);
    free(out);
    close(fd);
    cr_assert_eq(srv_stat(&s, "conn_mem_limit"), 40u << 20);
    cr_assert_eq(srv_stat(&s, "upload_mem_limit"), 8u << 20); /* -m 64 / 8 */
    cr_assert_eq(srv_stat(&s, "conn_mem_refusals"), 0);
    cr_assert_eq(srv_stat(&s, "upload_mem_bytes"), 0);
    cr_assert_eq(srv_stop(&s), 0);
}

/* Case 1: clients that start 1 MB values and never finish them once took
 * all of -m, and every store by anyone failed. */
Test(budget, unfinished_uploads_do_not_starve_stores) {
    struct srv s;
    const char *args[] = {"-m", "16", NULL};
    start(&s, args);
    int fd = cli_connect(&s);
    enum { OLD = 200, SLOW = 24, NEW = 500 };
    char key[64];
    for (int i = 0; i < OLD; i++) {
        snprintf(key, sizeof(key), "old:%d", i);
        set_value(fd, key, 1000);
    }
    long rss0 = srv_rss_kb(&s);
    static char part[1024];
    memset(part, 'u', sizeof(part));
    int slow[SLOW];
    for (int i = 0; i < SLOW; i++) {
        slow[i] = cli_connect(&s);
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "set slow:%d 0 0 1000000\r\n", i);
        cli_sends(slow[i], hdr);
        cli_send(slow[i], part, sizeof(part));
    }
    /* all but the few that fit in the uploads share wait for their value */
    wait_stat_at_least(&s, "upload_mem_waits", SLOW - (16 / 8) - 1);
    cr_assert_leq(srv_stat(&s, "upload_mem_bytes"), srv_stat(&s, "upload_mem_limit"));
    for (int i = 0; i < NEW; i++) {
        snprintf(key, sizeof(key), "new:%d", i);
        set_value(fd, key, 10);
    }
    for (int i = 0; i < OLD; i++) {
        snprintf(key, sizeof(key), "get old:%d\r\n", i);
        cli_sends(fd, key);
        char *r = cli_read_until(fd, "END\r\n");
        cr_assert(strncmp(r, "VALUE old:", 10) == 0, "old:%d lost: %s", i, r);
        free(r);
    }
    long rss1 = srv_rss_kb(&s);
    printf("budget: %d unfinished 1 MB uploads under -m 16: %d new stores all STORED, %d old keys "
           "kept, RSS %ld kB -> %ld kB\n", SLOW, NEW, OLD, rss0, rss1);
    cr_assert_lt(rss1 - rss0, 24 * 1024, "RSS grew by %ld kB", rss1 - rss0);
    assert_within_budget(&s);
    for (int i = 0; i < SLOW; i++)
        close(slow[i]);
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}

/* A value that trickles in counts as idle for -o idle_timeout. */
Test(budget, idle_timeout_kicks_a_trickling_value) {
    struct srv s;
    const char *args[] = {"-o", "idle_timeout=2", NULL};
    start(&s, args);
    int fd = cli_connect(&s);
    cli_sends(fd, "set t 0 0 1000\r\n");
    double deadline = harness_now() + harness_wait_s();
    bool closed = false;
    while (!closed && harness_now() < deadline) {
        if (send(fd, "x", 1, MSG_NOSIGNAL) != 1)
            break;
        usleep(300000);
        char c;
        ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
        closed = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
    cr_assert(closed || cli_closed(fd), "a trickling upload was never kicked");
    cr_assert_geq(srv_stat(&s, "idle_kicks"), 1);
    close(fd);
    assert_serving(&s);
    cr_assert_eq(srv_stop(&s), 0);
}

/* Case 2: clients that pipeline gets of a large value and never read. */
Test(budget, unread_replies_stay_within_budget) {
    struct srv s;
    const char *args[] = {"-o", "conn_mem_limit=16", NULL};
    start(&s, args);
    int fd = cli_connect(&s);
    set_value(fd, "big", 1000000);
    close(fd);
    long rss0 = srv_rss_kb(&s);
    enum { N = 48, REQS = 40 };
    static const char one[] = "get big big big big\r\n";
    char req[sizeof(one) * REQS];
    for (int i = 0; i < REQS; i++)
        memcpy(req + i * (sizeof(one) - 1), one, sizeof(one) - 1);
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = cli_connect(&s);
        int small = 4096;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        send_some(fds[i], req, REQS * (sizeof(one) - 1));
    }
    wait_stat_settles(&s, "bytes_written");
    long rss1 = srv_rss_kb(&s);
    printf("budget: %d clients asking for %d MB each, never reading: RSS %ld kB -> %ld kB, "
           "conn_mem_bytes %llu, refusals %llu\n", N, REQS * 4, rss0, rss1,
           (unsigned long long)srv_stat(&s, "conn_mem_bytes"),
           (unsigned long long)srv_stat(&s, "conn_mem_refusals"));
    /* the budget (16 MB) plus a first buffer per connection and slack;
     * without it each connection held up to 2 MB: 96 MB */
    cr_assert_lt(rss1 - rss0, 40 * 1024, "RSS grew by %ld kB", rss1 - rss0);
    assert_within_budget(&s);
    assert_serving(&s);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    cr_assert_eq(srv_stop(&s), 0);
}

/* Case 3: clients that send "get " and a megabyte of key with no newline.
 * The budget is set under memcached's name for it, read_buf_mem_limit, and
 * its refusals of read buffers count in memcached's read_buf_oom. */
Test(budget, endless_lines_stay_within_budget) {
    struct srv s;
    const char *args[] = {"-o", "read_buf_mem_limit=16", NULL};
    start(&s, args);
    cr_assert_eq(srv_stat(&s, "conn_mem_limit"), 16u << 20);
    int sfd = cli_connect(&s);
    cli_sends(sfd, "stats settings\r\n");
    char *settings = cli_read_until(sfd, "END\r\n");
    cr_assert(strstr(settings, "STAT read_buf_mem_limit 16777216\r\n") != NULL, "%s", settings);
    free(settings);
    close(sfd);
    long rss0 = srv_rss_kb(&s);
    enum { N = 48, LINE = 1000000 };
    char *line = malloc(LINE);
    memcpy(line, "get ", 4);
    memset(line + 4, 'k', LINE - 4);
    int fds[N];
    size_t off[N];
    for (int i = 0; i < N; i++) {
        fds[i] = cli_connect(&s);
        off[i] = 0;
    }
    /* keep sending until every client has sent it all or been hung up on */
    double deadline = harness_now() + harness_wait_s();
    for (int done = 0; done < N && harness_now() < deadline;) {
        done = 0;
        for (int i = 0; i < N; i++) {
            if (off[i] == LINE) {
                done++;
                continue;
            }
            ssize_t r = send(fds[i], line + off[i], LINE - off[i], MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r > 0)
                off[i] += (size_t)r;
            else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                off[i] = LINE; /* hung up on */
        }
        usleep(10000);
    }
    wait_stat_settles(&s, "bytes_read");
    long rss1 = srv_rss_kb(&s);
    uint64_t refused = srv_stat(&s, "conn_mem_refusals");
    printf("budget: %d clients sending 1 MB lines: RSS %ld kB -> %ld kB, refusals %llu\n", N, rss0,
           rss1, (unsigned long long)refused);
    cr_assert_gt(refused, 0, "48 MB of lines fit in a 16 MB budget?");
    uint64_t oom = srv_stat(&s, "read_buf_oom");
    cr_assert_gt(oom, 0, "refusals of read buffers not in read_buf_oom");
    cr_assert_leq(oom, refused);
    cr_assert_eq(srv_stat(&s, "response_obj_oom"), 0, "no reply was refused");
    cr_assert_lt(rss1 - rss0, 40 * 1024, "RSS grew by %ld kB", rss1 - rss0);
    assert_within_budget(&s);
    assert_serving(&s);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    free(line);
    cr_assert_eq(srv_stop(&s), 0);
}

/* Case 4: clients that ask for a dump of every key and never read. */
Test(budget, unread_dumps_stay_within_budget) {
    struct srv s;
    const char *args[] = {"-o", "conn_mem_limit=16", NULL};
    start(&s, args);
    int fd = cli_connect(&s);
    /* 20k keys of 200 bytes: a dump of about 5 MB */
    char *batch = malloc(1 << 20);
    size_t n = 0;
    for (int i = 0; i < 20000; i++) {
        n += (size_t)sprintf(batch + n, "set dump:%0190d 0 0 1 noreply\r\nx\r\n", i);
        if (n > (1 << 20) - 512) {
            cli_send(fd, batch, n);
            n = 0;
        }
    }
    cli_send(fd, batch, n);
    free(batch);
    cli_expect(fd, "mn\r\n", "MN\r\n");
    close(fd);
    long rss0 = srv_rss_kb(&s);
    enum { N = 32 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = cli_connect(&s);
        int small = 4096;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        cli_sends(fds[i], "lru_crawler metadump all\r\nlru_crawler metadump all\r\n");
    }
    wait_stat_settles(&s, "bytes_written");
    long rss1 = srv_rss_kb(&s);
    printf("budget: %d clients dumping 20k keys twice, never reading: RSS %ld kB -> %ld kB\n", N,
           rss0, rss1);
    cr_assert_lt(rss1 - rss0, 40 * 1024, "RSS grew by %ld kB", rss1 - rss0);
    assert_within_budget(&s);
    assert_serving(&s);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    cr_assert_eq(srv_stop(&s), 0);
}

/* A value of its own pattern, so that a reply from the wrong item shows. */
static char *pattern(size_t n, char seed) {
    char *v = malloc(n + 2);
    for (size_t i = 0; i < n; i++)
        v[i] = (char)(seed + (i * 7) % 23);
    memcpy(v + n, "\r\n", 2);
    return v;
}

static void set_pattern(int fd, const char *key, const char *v, size_t n) {
    char hdr[300];
    snprintf(hdr, sizeof(hdr), "set %s 0 0 %zu\r\n", key, n);
    cli_sends(fd, hdr);
    cli_send(fd, v, n + 2);
    char *r = cli_read_until(fd, "\r\n");
    cr_assert_str_eq(r, "STORED\r\n", "%s", key);
    free(r);
}

static void wait_stat_is(const struct srv *s, const char *name, uint64_t n) {
    double deadline = harness_now() + harness_wait_s();
    while (srv_stat(s, name) != n) {
        cr_assert_lt(harness_now(), deadline, "stat %s stayed at %llu, not %llu", name,
                     (unsigned long long)srv_stat(s, name), (unsigned long long)n);
        usleep(50000);
    }
}

/* Long values go out from their item, as memcached sends from a referenced
 * item: clients that ask for one 1 MB value and do not read cost no copy
 * of it.  The item stays whole while they read, although it is replaced
 * and its memory is wanted for stores meanwhile; the last reader frees it. */
Test(budget, long_values_are_sent_from_their_items) {
    struct srv s;
    const char *args[] = {"-m", "8", NULL};
    start(&s, args);
    int fd = cli_connect(&s);
    enum { N = 8, REQS = 12, LEN = 1000000 }; /* more than the kernel buffers */
    char *a = pattern(LEN, 'A'), *b = pattern(LEN, 'a');
    set_pattern(fd, "big", a, LEN);
    long rss0 = srv_rss_kb(&s);
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = cli_connect_rcvbuf(&s, 4096);
        for (int r = 0; r < REQS; r++)
            cli_sends(fds[i], "get big\r\n");
    }
    /* every client's first replies fill its socket; the next waits pinned */
    wait_stat_at_least(&s, "pinned_items", 1);
    long rss1 = srv_rss_kb(&s);
    uint64_t held = srv_stat(&s, "conn_mem_bytes");
    printf("budget: %d clients asking for a 1 MB value %d times, not reading: RSS %ld kB -> %ld kB, "
           "conn_mem_bytes %llu, pinned_bytes %llu\n", N, REQS, rss0, rss1,
           (unsigned long long)held, (unsigned long long)srv_stat(&s, "pinned_bytes"));
    /* copies would be at least a megabyte per client */
    cr_assert_lt(held, N * 8192u, "conn_mem_bytes %llu: the value was copied", (unsigned long long)held);
    cr_assert_lt(rss1 - rss0, 8 * 1024, "RSS grew by %ld kB", rss1 - rss0);
    cr_assert_eq(srv_stat(&s, "pinned_items"), 1);
    /* replaced, then 12 MB of other values into -m 8 */
    set_pattern(fd, "big", b, LEN);
    char *fill = pattern(200000, '0');
    for (int i = 0; i < 60; i++) {
        char key[32];
        snprintf(key, sizeof(key), "fill:%d", i);
        set_pattern(fd, key, fill, 200000);
    }
    cli_sends(fd, "get big\r\n");
    char *now = cli_read_until(fd, "END\r\n");
    cr_assert(strncmp(now, "VALUE big 0 1000000\r\n", 21) != 0 || memcmp(now + 21, b, LEN) == 0,
              "a get after the replace did not see the new value");
    free(now);
    /* Each reply is the value its get saw when it ran: the old one while
     * the get ran before the replace (at least the one pinned then), the
     * new one after (a client whose output is backed up runs its next get
     * only once it reads); never a mix, never a reused chunk.  The new
     * value is an item like any other in a full -m 8: it may be evicted
     * while the clients read (the balancer works in the background), and
     * from then on its gets find nothing. */
    const size_t reply = 21 + LEN + 2 + 5;
    bool gone = false;
    for (int i = 0; i < N; i++) {
        int olds = 0;
        bool ended = false;
        for (int r = 0; r < REQS; r++) {
            char *head = cli_read_n(fds[i], 5);
            if (memcmp(head, "END\r\n", 5) == 0) {
                cr_assert_geq(olds, 1, "client %d reply %d: END before its first value", i, r);
                ended = gone = true;
                free(head);
                continue;
            }
            cr_assert_not(ended, "client %d reply %d: a value after a miss", i, r);
            char *rest = cli_read_n(fds[i], reply - 5);
            char *got = malloc(reply + 1);
            memcpy(got, head, 5);
            memcpy(got + 5, rest, reply - 5);
            got[reply] = '\0';
            free(head);
            free(rest);
            cr_assert_eq(memcmp(got, "VALUE big 0 1000000\r\n", 21), 0, "client %d reply %d", i, r);
            bool old = memcmp(got + 21, a, LEN + 2) == 0, new = memcmp(got + 21, b, LEN + 2) == 0;
            cr_assert(old || new, "client %d reply %d: neither value", i, r);
            cr_assert(!old || olds == r, "client %d reply %d: the old value after the new", i, r);
            olds += old;
            cr_assert_str_eq(got + 21 + LEN + 2, "END\r\n");
            free(got);
        }
        cr_assert_geq(olds, 1, "client %d never got the value it asked for first", i);
        close(fds[i]);
    }
    if (gone)
        cli_expect(fd, "get big\r\n", "END\r\n");
    wait_stat_is(&s, "pinned_items", 0);
    cr_assert_eq(srv_stat(&s, "pinned_bytes"), 0);
    assert_within_budget(&s);
    assert_serving(&s);
    free(a);
    free(b);
    free(fill);
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}

/* Past their limit (a quarter of -m) values are copied, not pinned: readers
 * that never read cannot make every item unevictable. */
Test(budget, pinned_values_keep_to_their_limit) {
    struct srv s;
    const char *args[] = {"-m", "16", NULL};
    start(&s, args);
    int fd = cli_connect(&s);
    enum { K = 8, REQS = 8, LEN = 900000 }; /* more than the kernel buffers */
    char *v = pattern(LEN, 'k');
    int fds[K];
    for (int i = 0; i < K; i++) {
        char key[32], req[64];
        snprintf(key, sizeof(key), "k%d", i);
        set_pattern(fd, key, v, LEN);
        fds[i] = cli_connect_rcvbuf(&s, 4096);
        snprintf(req, sizeof(req), "get %s\r\n", key);
        for (int r = 0; r < REQS; r++)
            cli_sends(fds[i], req);
    }
    wait_stat_at_least(&s, "pin_refusals", 1);
    cr_assert_leq(srv_stat(&s, "pinned_bytes"), srv_stat(&s, "pinned_limit"));
    cr_assert_eq(srv_stat(&s, "pinned_limit"), 4u << 20);
    for (int i = 0; i < K; i++) {
        for (int r = 0; r < REQS; r++) {
            char *got = cli_read_n(fds[i], 19 + LEN + 2 + 5); /* "VALUE kI 0 900000\r\n" */
            cr_assert_eq(memcmp(got + 19, v, LEN + 2), 0, "client %d reply %d: a wrong value", i, r);
            cr_assert_str_eq(got + 19 + LEN + 2, "END\r\n");
            free(got);
        }
        close(fds[i]);
    }
    wait_stat_is(&s, "pinned_items", 0);
    free(v);
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}
