/*
 * harness: starts the real server binary ($LARDER_BIN) on a free loopback
 * port and talks to it over raw sockets, for the integration suites.
 */
#ifndef LARDER_TEST_HARNESS_H
#define LARDER_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The cap on any one wait (seconds): only a hang reaches it.  The default
 * can be changed with LARDER_TEST_WAIT. */
#define HARNESS_WAIT_DEFAULT_S 60
int harness_wait_s(void);
/* Monotonic seconds, for deadlines. */
double harness_now(void);

struct srv {
    pid_t pid;
    int port;
};

/* Starts the server with extra arguments (NULL-terminated list) and waits
 * until it accepts connections.  Aborts the test on failure. */
void srv_start(struct srv *s, const char *const *args);
/* SIGTERM, wait, and return the exit status (or -1 if killed by a signal). */
int srv_stop(struct srv *s);
/* True while the process runs. */
bool srv_alive(const struct srv *s);

/* A new blocking TCP connection to the server; a receive waits up to
 * harness_wait_s(). */
int cli_connect(const struct srv *s);
/* ... with a receive buffer of rcvbuf bytes: a client slow to read */
int cli_connect_rcvbuf(const struct srv *s, int rcvbuf);
void cli_send(int fd, const char *data, size_t len);
void cli_sends(int fd, const char *str);
/* Reads until the buffer ends with `until` (e.g. "END\r\n"), or EOF, or the
 * wait cap.
 * Returns a malloc'd NUL-terminated string (caller frees). */
char *cli_read_until(int fd, const char *until);
/* Reads exactly n bytes (or less at timeout/EOF); returns malloc'd string. */
char *cli_read_n(int fd, size_t n);
/* Sends a request and expects exactly `expect` back. */
void cli_expect(int fd, const char *request, const char *expect);
/* True when the peer closed the connection (EOF or reset, in time). */
bool cli_closed(int fd);

/* The value of one general stat (or one of Larder's own, from "stats
 * larder"), read over a fresh connection. */
uint64_t srv_stat(const struct srv *s, const char *name);
/* The value of NAME in the answer to "stats GROUP" ("" for plain stats). */
uint64_t srv_stat_in(const struct srv *s, const char *group, const char *name);

/* Resident memory of the server in KB (VmRSS). */
long srv_rss_kb(const struct srv *s);

/* Raises this process's open-files limit to at least n. */
void raise_nofile(long n);

#endif
