/*
 * UDP (-U): memcached's 8-byte frame, multi-datagram replies, text and
 * binary requests, and the requests memcached drops.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct srv S;
static int udp_port;
static int usock;

static int free_udp_port(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static void up(void) {
    char port[8];
    udp_port = free_udp_port();
    snprintf(port, sizeof(port), "%d", udp_port);
    const char *args[] = {"-U", port, NULL};
    srv_start(&S, args);
    usock = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)udp_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(usock, (struct sockaddr *)&a, sizeof(a)), 0);
}
static void down(void) {
    close(usock);
    cr_assert_eq(srv_stop(&S), 0);
}

TestSuite(udp, .init = up, .fini = down, .timeout = 600);

static void send_dgram(uint16_t id, uint16_t seq, uint16_t total, const char *req, size_t len) {
    char buf[2048];
    unsigned char h[8] = {(unsigned char)(id >> 8), (unsigned char)id, (unsigned char)(seq >> 8),
                          (unsigned char)seq, (unsigned char)(total >> 8), (unsigned char)total,
                          0, 0};
    memcpy(buf, h, 8);
    memcpy(buf + 8, req, len);
    cr_assert_eq(send(usock, buf, 8 + len, 0), (ssize_t)(8 + len));
}

/* Receives a whole reply for request `id`: every datagram, put in order by
 * sequence number, each checked against the frame rules.  Returns its
 * length; *out is malloc'd. */
static size_t recv_reply(uint16_t id, char **out, unsigned *ndgrams) {
    char *parts[256] = {0};
    size_t lens[256] = {0};
    unsigned total = 0, got = 0;
    while (total == 0 || got < total) {
        struct pollfd p = {usock, POLLIN, 0};
        cr_assert_eq(poll(&p, 1, harness_wait_s() * 1000), 1, "a reply datagram (%u of %u)", got,
                     total);
        char buf[2048];
        ssize_t n = recv(usock, buf, sizeof(buf), 0);
        cr_assert_geq(n, 8);
        cr_assert_leq(n, 1400, "datagrams are at most 1400 bytes");
        unsigned char *h = (unsigned char *)buf;
        cr_assert_eq(h[0] << 8 | h[1], id);
        unsigned seq = (unsigned)(h[2] << 8 | h[3]), t = (unsigned)(h[4] << 8 | h[5]);
        cr_assert_eq(h[6] | h[7], 0, "reserved bytes are zero");
        cr_assert(total == 0 || t == total, "the count stays the same");
        total = t;
        cr_assert_lt(seq, total);
        cr_assert_lt(total, 256);
        cr_assert_null(parts[seq], "no sequence number twice");
        parts[seq] = malloc((size_t)n - 8);
        memcpy(parts[seq], buf + 8, (size_t)n - 8);
        lens[seq] = (size_t)n - 8;
        got++;
    }
    size_t len = 0;
    for (unsigned i = 0; i < total; i++)
        len += lens[i];
    *out = malloc(len + 1);
    len = 0;
    for (unsigned i = 0; i < total; i++) {
        memcpy(*out + len, parts[i], lens[i]);
        len += lens[i];
        free(parts[i]);
    }
    (*out)[len] = '\0';
    if (ndgrams)
        *ndgrams = total;
    return len;
}

static void expect_udp(uint16_t id, const char *req, const char *want) {
    char *r;
    send_dgram(id, 0, 1, req, strlen(req));
    recv_reply(id, &r, NULL);
    cr_assert_str_eq(r, want);
    free(r);
}

Test(udp, text_commands_and_request_ids) {
    expect_udp(161, "set foo 5 0 6\r\nfooval\r\n", "STORED\r\n");
    expect_udp(162, "get foo\r\n", "VALUE foo 5 6\r\nfooval\r\nEND\r\n");
    expect_udp(162, "get foo missing\r\n", "VALUE foo 5 6\r\nfooval\r\nEND\r\n");
    expect_udp(7, "incr n 1\r\n", "NOT_FOUND\r\n");
    expect_udp(8, "set n 0 0 1\r\n5\r\nincr n 3\r\ndelete foo\r\n", "STORED\r\n8\r\nDELETED\r\n");
    /* and the TCP side sees the same store */
    int fd = cli_connect(&S);
    cli_expect(fd, "get n\r\n", "VALUE n 0 1\r\n8\r\nEND\r\n");
    close(fd);
}

Test(udp, large_reply_spans_ordered_datagrams) {
    size_t n = 20000;
    char *val = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        val[i] = (char)('C' + i % 24);
    val[n] = '\0';
    int fd = cli_connect(&S);
    char hdr[64];
    sprintf(hdr, "set big 0 0 %zu\r\n", n);
    cli_sends(fd, hdr);
    cli_send(fd, val, n);
    cli_expect(fd, "\r\n", "STORED\r\n");
    close(fd);

    char *r;
    unsigned dgrams;
    send_dgram(53, 0, 1, "get big\r\n", 9);
    size_t len = recv_reply(53, &r, &dgrams);
    cr_assert_eq(dgrams, (len + 1391) / 1392, "1392 bytes of reply per datagram");
    cr_assert_gt(dgrams, 10);
    cr_assert_eq(strncmp(r, "VALUE big 0 20000\r\n", 19), 0);
    cr_assert_eq(memcmp(r + 19, val, n), 0);
    cr_assert_str_eq(r + 19 + n, "\r\nEND\r\n");
    free(r);
    free(val);
    /* the reply's 32 KB buffer went back at once, and its budget charge */
    cr_assert_eq(srv_stat(&S, "conn_mem_bytes"), 0);
}

Test(udp, binary_requests) {
    /* set "bin" = "ok", flags 1: header, extras, key, value */
    char req[24 + 13] = {(char)0x80, 0x01, 0, 3, 8, 0, 0, 0, 0, 0, 0, 13};
    memcpy(req + 24, "\0\0\0\1\0\0\0\0" "bin" "ok", 13);
    char *r;
    send_dgram(45, 0, 1, req, sizeof(req));
    size_t len = recv_reply(45, &r, NULL);
    cr_assert_eq(len, 24);
    cr_assert_eq((unsigned char)r[0], 0x81);
    cr_assert_eq(r[6] | r[7], 0, "stored");
    free(r);
    expect_udp(46, "get bin\r\n", "VALUE bin 1 2\r\nok\r\nEND\r\n");
}

Test(udp, multi_datagram_and_short_requests_are_dropped) {
    /* memcached answers neither; the next request is answered, so the
     * first reply to arrive must be the one for it */
    send_dgram(1, 0, 2, "get foo\r\n", 9);
    send_dgram(2, 1, 2, "get foo\r\n", 9);
    char tiny[4] = {0, 3, 0, 0};
    cr_assert_eq(send(usock, tiny, sizeof(tiny), 0), 4);
    expect_udp(4, "version\r\n", "VERSION 1.6.18-larder-0.1\r\n");
    /* a storage command whose value is not in the datagram is forgotten */
    send_dgram(5, 0, 1, "set half 0 0 100\r\nshort", 23);
    expect_udp(6, "get half\r\n", "END\r\n");
    /* ...and so is the upload memory its item held: many of them leave
     * none held (once it leaked, and stores of slow values then waited) */
    for (uint16_t i = 0; i < 50; i++)
        send_dgram((uint16_t)(100 + i), 0, 1, "set half 0 0 100\r\nshort", 23);
    expect_udp(7, "get half\r\n", "END\r\n");
    /* other workers may still be on their datagrams: wait, capped */
    double deadline = harness_now() + harness_wait_s();
    while (srv_stat(&S, "upload_mem_bytes") != 0 && harness_now() < deadline)
        usleep(20000);
    cr_assert_eq(srv_stat(&S, "upload_mem_bytes"), 0);
}

Test(udp, stats_and_settings) {
    expect_udp(9, "version\r\n", "VERSION 1.6.18-larder-0.1\r\n");
    cr_assert_geq(srv_stat(&S, "udp_datagrams_received"), 1);
    cr_assert_geq(srv_stat(&S, "udp_datagrams_sent"), 1);
    int fd = cli_connect(&S);
    cli_sends(fd, "stats settings\r\n");
    char *r = cli_read_until(fd, "END\r\n");
    char want[64];
    snprintf(want, sizeof(want), "STAT udpport %d\r\n", udp_port);
    cr_assert(strstr(r, want) != NULL);
    free(r);
    close(fd);
}

Test(udp_off, off_by_default, .timeout = 600) {
    struct srv s;
    srv_start(&s, NULL);
    int fd = cli_connect(&s);
    cli_sends(fd, "stats settings\r\n");
    char *r = cli_read_until(fd, "END\r\n");
    cr_assert(strstr(r, "STAT udpport 0\r\n") != NULL);
    free(r);
    close(fd);
    /* nothing listens on UDP at the TCP port either */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(u, (struct sockaddr *)&a, sizeof(a)), 0);
    close(u);
    cr_assert_eq(srv_stop(&s), 0);
}
