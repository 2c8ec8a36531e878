/*
 * Malformed input gets memcached's error lines, never a crash or a hang,
 * and does not disturb what follows on the same connection.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct srv S;
static int fd;

static void up(void) {
    srv_start(&S, NULL);
    fd = cli_connect(&S);
}
static void down(void) {
    close(fd);
    cr_assert(srv_alive(&S), "the server must survive bad input");
    cr_assert_eq(srv_stop(&S), 0);
}

TestSuite(errors, .init = up, .fini = down, .timeout = 30);

static char *key_of(size_t n) {
    char *k = malloc(n + 1);
    memset(k, 'k', n);
    k[n] = '\0';
    return k;
}

Test(errors, unknown_and_empty_commands) {
    cli_expect(fd, "bogus\r\n", "ERROR\r\n");
    cli_expect(fd, "\r\n", "ERROR\r\n");
    cli_expect(fd, "GET a\r\n", "ERROR\r\n"); /* commands are case-sensitive */
    cli_expect(fd, "get\r\n", "ERROR\r\n");
    cli_expect(fd, "set a 0 0\r\n", "ERROR\r\n");
    cli_expect(fd, "incr a\r\n", "ERROR\r\n");
    cli_expect(fd, "version\r\n", "VERSION ");
}

Test(errors, key_length_limit) {
    char *k250 = key_of(250), *k251 = key_of(251);
    char req[600];
    snprintf(req, sizeof(req), "set %s 0 0 1\r\nx\r\n", k250);
    cli_expect(fd, req, "STORED\r\n");
    snprintf(req, sizeof(req), "set %s 0 0 1\r\n", k251);
    cli_expect(fd, req, "CLIENT_ERROR bad command line format\r\n");
    /* memcached does not swallow the data after a bad command line: it is
     * read as a command of its own */
    cli_expect(fd, "x\r\n", "ERROR\r\n");
    snprintf(req, sizeof(req), "get %s\r\n", k251);
    cli_expect(fd, req, "CLIENT_ERROR bad command line format\r\n");
    snprintf(req, sizeof(req), "get %s %s\r\n", k250, k251);
    cli_expect(fd, req, "CLIENT_ERROR bad command line format\r\n"); /* no partial VALUE */
    snprintf(req, sizeof(req), "delete %s\r\n", k251);
    cli_expect(fd, req, "CLIENT_ERROR bad command line format\r\n");
    snprintf(req, sizeof(req), "incr %s 1\r\n", k251);
    cli_expect(fd, req, "CLIENT_ERROR bad command line format\r\n");
    free(k250);
    free(k251);
}

Test(errors, bad_numbers) {
    cli_expect(fd, "set a x 0 1\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "set a 0 x 1\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "set a 0 0 x\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "set a 0 0 -1\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "set a -1 0 1\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "set a 0 0 99999999999\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "cas a 0 0 1 x\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "get a\r\n", "END\r\n");
}

Test(errors, too_large_value_is_swallowed_and_old_value_dropped) {
    cli_expect(fd, "set big 0 0 1\r\nx\r\n", "STORED\r\n");
    size_t n = 2u << 20;
    char *req = malloc(n + 64);
    int h = sprintf(req, "set big 0 0 %zu\r\n", n);
    memset(req + h, 'v', n);
    memcpy(req + h + n, "\r\n", 2);
    cli_send(fd, req, h + n + 2);
    free(req);
    char *r = cli_read_until(fd, "\r\n");
    cr_assert_str_eq(r, "SERVER_ERROR object too large for cache\r\n");
    free(r);
    cli_expect(fd, "get big\r\n", "END\r\n");
    cr_assert_eq(srv_stat(&S, "store_too_large"), 1);
}

Test(errors, bad_data_chunk) {
    cli_expect(fd, "set a 0 0 3\r\nabcde\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    cli_expect(fd, "get a\r\n", "END\r\n");
    cli_expect(fd, "set a 0 0 3\r\nabc\r\n", "STORED\r\n");
}

Test(errors, tabs_and_repeated_spaces) {
    cli_expect(fd, "set   a   0   0   1  \r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "get    a   \r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
    cli_expect(fd, "get a\tb\r\n", "END\r\n"); /* a tab belongs to the key */
}

Test(errors, bare_newline_terminators) {
    cli_expect(fd, "set a 0 0 1\nx\r\nget a\n", "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n");
}

Test(errors, long_line_without_newline_closes) {
    size_t n = 8192;
    char *junk = malloc(n);
    memset(junk, 'z', n);
    cli_send(fd, junk, n);
    free(junk);
    cr_assert(cli_closed(fd), "a 8 KB non-get line without newline closes the connection");
    int fd2 = cli_connect(&S);
    cli_expect(fd2, "version\r\n", "VERSION ");
    close(fd2);
}

Test(errors, binary_garbage) {
    char junk[4096];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245 + 12345;
        junk[i] = (char)(x >> 16);
    }
    cli_send(fd, junk, sizeof(junk));
    close(fd);
    fd = cli_connect(&S);
    cli_expect(fd, "version\r\n", "VERSION ");
}

Test(errors, half_closed_in_the_middle_of_a_value) {
    cli_sends(fd, "set a 0 0 100\r\nonly part");
    shutdown(fd, SHUT_WR);
    cr_assert(cli_closed(fd));
    int fd2 = cli_connect(&S);
    cli_expect(fd2, "get a\r\n", "END\r\n");
    close(fd2);
}

Test(errors, huge_multiget) {
    cli_expect(fd, "set k7 0 0 2\r\nv7\r\n", "STORED\r\n");
    size_t cap = 1 << 16, len = 0;
    char *req = malloc(cap);
    len += (size_t)sprintf(req, "get");
    for (int i = 0; i < 500; i++)
        len += (size_t)sprintf(req + len, " k%d", i);
    memcpy(req + len, "\r\n", 2);
    cli_send(fd, req, len + 2);
    free(req);
    char *r = cli_read_until(fd, "END\r\n");
    cr_assert_str_eq(r, "VALUE k7 0 2\r\nv7\r\nEND\r\n");
    free(r);
    cr_assert_eq(srv_stat(&S, "cmd_get"), 500);
}
