/*
 * What a web page can make a visitor's browser send to a cache on
 * localhost: an HTTP request, possibly a POST whose body holds memcached
 * commands.  The server hangs up at the request line, without a byte,
 * and runs nothing that follows it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct srv S;
static void up(void) { srv_start(&S, NULL); }
static void down(void) { cr_assert_eq(srv_stop(&S), 0); }
TestSuite(http, .init = up, .fini = down, .timeout = 600);

static void expect_silent_hangup(const char *request) {
    int fd = cli_connect(&S);
    cli_sends(fd, request);
    char buf[16];
    ssize_t n = read(fd, buf, sizeof(buf));
    /* a close with input unread shows as a reset: no byte either way */
    cr_assert(n == 0 || (n < 0 && errno == ECONNRESET),
              "hang up without a byte on %.30s (read %zd)", request, n);
    close(fd);
}

Test(http, request_lines_are_hung_up_on) {
    expect_silent_hangup("GET / HTTP/1.0\r\n");
    expect_silent_hangup("PUT /asdf/asd/fasdfasdf/sadf HTTP/1.1\r\n");
    expect_silent_hangup("DELETE HTTP/1.1\r\n");
    expect_silent_hangup("GET /index.html\r\n");
}

Test(http, a_post_body_is_never_executed) {
    int fd = cli_connect(&S);
    cli_expect(fd, "set keep 0 0 4\r\nsafe\r\n", "STORED\r\n");
    close(fd);
    expect_silent_hangup("POST / HTTP/1.1\r\nHost: 127.0.0.1:11211\r\n"
                         "Content-Type: text/plain\r\nContent-Length: 40\r\n\r\n"
                         "flush_all\r\nset evil 0 0 4\r\npwnd\r\n");
    fd = cli_connect(&S);
    cli_expect(fd, "get keep evil\r\n", "VALUE keep 0 4\r\nsafe\r\nEND\r\n");
    close(fd);
    cr_assert_eq(srv_stat(&S, "cmd_flush"), 0);
}
