/*
 * harness: server process control and socket helpers; see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Every wait in the suites is for a condition (a reply, a process exit, a
 * closed socket); these caps only stop a hang, so they are far above what
 * a slow, loaded or sanitized build needs.  LARDER_TEST_WAIT (seconds)
 * overrides the default. */
int harness_wait_s(void) {
    const char *env = getenv("LARDER_TEST_WAIT");
    int s = env != NULL ? atoi(env) : 0;
    return s > 0 ? s : HARNESS_WAIT_DEFAULT_S;
}

double harness_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int try_connect_rcvbuf(int port, int rcvbuf) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    /* before connect: set after it, the window scale is already agreed and
     * the kernel trickles a few bytes at a time once the reader catches up */
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int try_connect(int port) { return try_connect_rcvbuf(port, 0); }

void srv_start(struct srv *s, const char *const *args) {
    const char *bin = getenv("LARDER_BIN");
    cr_assert(bin != NULL, "LARDER_BIN must name the server binary");
    char port[16];
    const char *argv[64];
    int n = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = free_port();
        snprintf(port, sizeof(port), "%d", s->port);
        n = 0;
        argv[n++] = bin;
        argv[n++] = "-p";
        argv[n++] = port;
        argv[n++] = "-U";
        argv[n++] = "0";
        argv[n++] = "-l";
        argv[n++] = "127.0.0.1";
        if (geteuid() == 0) {
            argv[n++] = "-u";
            argv[n++] = "root";
        }
        for (int i = 0; args != NULL && args[i] != NULL && n < 62; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        s->pid = fork();
        cr_assert(s->pid >= 0);
        if (s->pid == 0) {
            /* A test that fails an assertion exits without srv_stop: the
             * server must not outlive it (and hold the test's pipes). */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            execv(bin, (char *const *)argv);
            _exit(127);
        }
        double deadline = harness_now() + harness_wait_s();
        while (harness_now() < deadline) {
            int fd = try_connect(s->port);
            if (fd >= 0) {
                close(fd);
                return;
            }
            int status;
            if (waitpid(s->pid, &status, WNOHANG) == s->pid)
                break; /* died: port taken between probe and bind? retry */
            usleep(50000);
        }
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    cr_assert_fail("server did not start");
}

bool srv_alive(const struct srv *s) {
    return waitpid(s->pid, NULL, WNOHANG) == 0;
}

int srv_stop(struct srv *s) {
    int status = 0;
    kill(s->pid, SIGTERM);
    double deadline = harness_now() + harness_wait_s();
    while (harness_now() < deadline) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        usleep(20000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    return -1;
}

int cli_connect(const struct srv *s) { return cli_connect_rcvbuf(s, 0); }

int cli_connect_rcvbuf(const struct srv *s, int rcvbuf) {
    int fd = try_connect_rcvbuf(s->port, rcvbuf);
    cr_assert(fd >= 0, "connect: %s", strerror(errno));
    struct timeval tv = {harness_wait_s(), 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

void cli_send(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        cr_assert(n > 0, "send: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

void cli_sends(int fd, const char *str) { cli_send(fd, str, strlen(str)); }

static bool ends_with(const char *buf, size_t len, const char *until) {
    size_t u = strlen(until);
    return len >= u && memcmp(buf + len - u, until, u) == 0;
}

char *cli_read_until(int fd, const char *until) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (!ends_with(buf, len, until)) {
        if (cap - len < 2048) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

char *cli_read_n(int fd, size_t want) {
    char *buf = malloc(want + 1);
    size_t len = 0;
    while (len < want) {
        ssize_t n = recv(fd, buf + len, want - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

void cli_expect(int fd, const char *request, const char *expect) {
    cli_sends(fd, request);
    char *got = cli_read_n(fd, strlen(expect));
    cr_assert_str_eq(got, expect, "request %s", request);
    free(got);
}

bool cli_closed(int fd) {
    /* A server that closes with unread input sends a reset: that counts. */
    char b;
    ssize_t n = recv(fd, &b, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* False when `name` is not in the answer to "stats GROUP". */
static bool srv_stat_text(const struct srv *s, const char *group, const char *name, uint64_t *v) {
    int fd = cli_connect(s);
    char req[96];
    snprintf(req, sizeof(req), "stats%s%s\r\n", *group ? " " : "", group);
    cli_sends(fd, req);
    char *out = cli_read_until(fd, "END\r\n");
    close(fd);
    char pat[128];
    snprintf(pat, sizeof(pat), "STAT %s ", name);
    char *p = strstr(out, pat);
    if (p != NULL)
        *v = strtoull(p + strlen(pat), NULL, 10);
    free(out);
    return p != NULL;
}

uint64_t srv_stat_in(const struct srv *s, const char *group, const char *name) {
    uint64_t v = 0;
    cr_assert(srv_stat_text(s, group, name, &v), "stat %s %s missing", group, name);
    return v;
}

uint64_t srv_stat(const struct srv *s, const char *name) {
    uint64_t v = 0;
    if (srv_stat_text(s, "", name, &v))
        return v;
    return srv_stat_in(s, "larder", name); /* Larder's own figures */
}

long srv_rss_kb(const struct srv *s) {
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

void raise_nofile(long n) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur < n) {
        rl.rlim_cur = (rlim_t)n;
        if ((long)rl.rlim_max < n)
            rl.rlim_max = (rlim_t)n;
        cr_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0, "cannot raise RLIMIT_NOFILE to %ld", n);
    }
}
