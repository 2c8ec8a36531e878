/*
 * soak: a long run of mixed traffic against a real server, every reply
 * checked, and the server's resources compared at the start and the end.
 *
 *   soak <larder binary> <seconds> [connections] [threads]
 *
 * The server is started on a free loopback port.  Each client thread owns
 * its connections and its own keys, so it knows exactly what every reply
 * must be: set/add/get/multi-get/delete/incr/append with random value sizes,
 * and a connection is closed and reopened now and then to churn descriptors.
 * After a warm-up (every key written once, then a few seconds of traffic)
 * the server's RSS, open descriptors (/proc/PID/fd) and threads are sampled;
 * they are sampled again at the end and must not have grown beyond a small
 * tolerance.  Any wrong reply, lost connection or leak fails the run
 * (exit 1); the figures are printed either way.  The server is then stopped
 * with SIGTERM and must exit 0.
 *
 * Bounded: every socket has a receive timeout, the run stops at its
 * deadline, and an alarm kills the server and exits if anything hangs.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SOAK_KEYS 1500        /* value keys per thread */
#define SOAK_COUNTERS 100     /* counter keys per thread */
#define SOAK_VALUE_MAX 16384
#define SOAK_APPEND_MAX 32768 /* an append that would pass this is a set */
#define SOAK_MULTI_MAX 20
#define SOAK_ERRORS_SHOWN 10

static pid_t server_pid = -1;
static int server_port;
static volatile int stop_flag;
static double deadline;

struct sample {
    long rss_kb;
    long fds;
    long threads;
};

struct value {
    char *data;
    size_t len;
};

struct client {
    int id;
    int nconn;
    int *fds;
    struct value vals[SOAK_KEYS];
    bool counter_set[SOAK_COUNTERS];
    uint64_t counters[SOAK_COUNTERS];
    uint64_t rng;
    uint64_t requests, errors, reconnects;
    pthread_t tid;
    char *rbuf;
    size_t rlen, rcap;
};

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "soak: timed out, killing the server\n";
    ssize_t n = write(2, msg, sizeof(msg) - 1);
    (void)n;
    if (server_pid > 0)
        kill(server_pid, SIGKILL);
    _exit(2);
}

static uint64_t rnd(struct client *c) {
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static int errors_shown;

static void fail(struct client *c, const char *fmt, ...) {
    va_list ap;
    c->errors++;
    pthread_mutex_lock(&err_lock);
    if (errors_shown++ < SOAK_ERRORS_SHOWN) {
        fprintf(stderr, "soak: thread %d: ", c->id);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    pthread_mutex_unlock(&err_lock);
}

/* --- server process --------------------------------------------------------- */

static int connect_port(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* only a hang waits this long, however slow the build or the machine */
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool start_server(const char *bin) {
    for (int attempt = 0; attempt < 5; attempt++) {
        server_port = free_port();
        char port[16];
        snprintf(port, sizeof(port), "%d", server_port);
        const char *argv[] = {bin, "-p", port, "-U", "0", "-l", "127.0.0.1", "-m", "512",
                              "-c", "2048", "-t", "4", "-u", "root", NULL};
        if (geteuid() != 0)
            argv[13] = NULL;
        server_pid = fork();
        if (server_pid < 0)
            return false;
        if (server_pid == 0) {
            /* A small ASan quarantine, so that RSS reflects the server. */
            setenv("ASAN_OPTIONS", "quarantine_size_mb=16:detect_leaks=1", 0);
            execv(bin, (char *const *)argv);
            _exit(127);
        }
        for (int i = 0; i < 1200; i++) { /* up to 60 s: only a hang */
            int fd = connect_port(server_port);
            if (fd >= 0) {
                close(fd);
                return true;
            }
            if (waitpid(server_pid, NULL, WNOHANG) == server_pid)
                break;
            usleep(50000);
        }
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
    return false;
}

static struct sample sample_server(void) {
    struct sample s = {-1, 0, -1};
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)server_pid);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        while (fgets(line, sizeof(line), f)) {
            sscanf(line, "VmRSS: %ld kB", &s.rss_kb);
            sscanf(line, "Threads: %ld", &s.threads);
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)server_pid);
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            s.fds += e->d_name[0] != '.';
        closedir(d);
    }
    return s;
}

/* --- wire helpers ----------------------------------------------------------- */

static bool send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads until the reply buffer holds `n` bytes; false on timeout or EOF. */
static bool fill(struct client *c, int fd, size_t n) {
    if (c->rcap < n + 1) {
        c->rcap = n + 65536;
        c->rbuf = realloc(c->rbuf, c->rcap);
        if (c->rbuf == NULL)
            abort();
    }
    while (c->rlen < n) {
        ssize_t r = recv(fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return false;
        }
        c->rlen += (size_t)r;
    }
    return true;
}

/* One "\r\n"-terminated line into out (without terminator); consumes it. */
static bool read_line(struct client *c, int fd, char *out, size_t cap) {
    for (;;) {
        char *nl = c->rlen ? memchr(c->rbuf, '\n', c->rlen) : NULL;
        if (nl != NULL) {
            size_t len = (size_t)(nl - c->rbuf) + 1;
            size_t keep = len >= 2 ? len - 2 : 0;
            if (keep >= cap)
                keep = cap - 1;
            memcpy(out, c->rbuf, keep);
            out[keep] = '\0';
            memmove(c->rbuf, c->rbuf + len, c->rlen - len);
            c->rlen -= len;
            return true;
        }
        if (!fill(c, fd, c->rlen + 1))
            return false;
    }
}

static bool read_block(struct client *c, int fd, size_t n, const char **out) {
    if (!fill(c, fd, n + 2))
        return false;
    *out = c->rbuf;
    return true;
}

static void consume(struct client *c, size_t n) {
    memmove(c->rbuf, c->rbuf + n, c->rlen - n);
    c->rlen -= n;
}

/* --- operations --------------------------------------------------------------- */

static void make_value(struct client *c, char *buf, size_t n) {
    uint64_t x = rnd(c);
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0)
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (char)('!' + (x >> (8 * (i % 8))) % 90);
    }
}

static size_t value_size(struct client *c) {
    uint64_t r = rnd(c) % 100;
    if (r < 60)
        return 1 + rnd(c) % 100;
    if (r < 95)
        return 100 + rnd(c) % 2000;
    return 2000 + rnd(c) % (SOAK_VALUE_MAX - 2000);
}

static bool expect_line(struct client *c, int fd, const char *want, const char *what) {
    char line[512];
    if (!read_line(c, fd, line, sizeof(line))) {
        fail(c, "%s: no reply (%s)", what, strerror(errno));
        return false;
    }
    if (strcmp(line, want) != 0) {
        fail(c, "%s: got '%s', want '%s'", what, line, want);
        return false;
    }
    return true;
}

static bool op_set(struct client *c, int fd, int k, bool add) {
    size_t n = value_size(c);
    char *v = malloc(n);
    make_value(c, v, n);
    char hdr[128];
    int h = snprintf(hdr, sizeof(hdr), "%s s%d:%d 0 0 %zu\r\n", add ? "add" : "set", c->id, k, n);
    bool ok = send_all(fd, hdr, (size_t)h) && send_all(fd, v, n) && send_all(fd, "\r\n", 2);
    if (!ok) {
        fail(c, "set: send failed");
        free(v);
        return false;
    }
    bool present = c->vals[k].data != NULL;
    ok = expect_line(c, fd, add && present ? "NOT_STORED" : "STORED", add ? "add" : "set");
    if (ok && !(add && present)) {
        free(c->vals[k].data);
        c->vals[k] = (struct value){v, n};
    } else {
        free(v);
    }
    return ok;
}

static bool op_append(struct client *c, int fd, int k) {
    size_t n = 1 + rnd(c) % 200;
    struct value *cur = &c->vals[k];
    if (cur->data != NULL && cur->len + n > SOAK_APPEND_MAX)
        return op_set(c, fd, k, false);
    char v[200];
    make_value(c, v, n);
    char hdr[128];
    int h = snprintf(hdr, sizeof(hdr), "append s%d:%d 0 0 %zu\r\n", c->id, k, n);
    if (!send_all(fd, hdr, (size_t)h) || !send_all(fd, v, n) || !send_all(fd, "\r\n", 2)) {
        fail(c, "append: send failed");
        return false;
    }
    if (!expect_line(c, fd, cur->data ? "STORED" : "NOT_STORED", "append"))
        return false;
    if (cur->data != NULL) {
        cur->data = realloc(cur->data, cur->len + n);
        memcpy(cur->data + cur->len, v, n);
        cur->len += n;
    }
    return true;
}

static bool op_delete(struct client *c, int fd, int k) {
    char req[64];
    int n = snprintf(req, sizeof(req), "delete s%d:%d\r\n", c->id, k);
    if (!send_all(fd, req, (size_t)n)) {
        fail(c, "delete: send failed");
        return false;
    }
    bool ok = expect_line(c, fd, c->vals[k].data ? "DELETED" : "NOT_FOUND", "delete");
    free(c->vals[k].data);
    c->vals[k] = (struct value){NULL, 0};
    return ok;
}

static bool op_incr(struct client *c, int fd, int k) {
    char req[96], want[32];
    uint64_t d = rnd(c) % 1000;
    int n;
    if (!c->counter_set[k]) {
        n = snprintf(req, sizeof(req), "set c%d:%d 0 0 1\r\n0\r\n", c->id, k);
        if (!send_all(fd, req, (size_t)n) || !expect_line(c, fd, "STORED", "set counter"))
            return false;
        c->counter_set[k] = true;
        c->counters[k] = 0;
    }
    bool incr = rnd(c) % 3 != 0;
    n = snprintf(req, sizeof(req), "%s c%d:%d %llu\r\n", incr ? "incr" : "decr", c->id, k,
                 (unsigned long long)d);
    uint64_t v = c->counters[k];
    v = incr ? v + d : (d > v ? 0 : v - d);
    snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
    if (!send_all(fd, req, (size_t)n)) {
        fail(c, "incr: send failed");
        return false;
    }
    c->counters[k] = v;
    return expect_line(c, fd, want, incr ? "incr" : "decr");
}

/* get of one or several keys (with duplicates), every value compared. */
static bool op_get(struct client *c, int fd, int nkeys) {
    int keys[SOAK_MULTI_MAX];
    char req[SOAK_MULTI_MAX * 24 + 16];
    size_t n = (size_t)snprintf(req, sizeof(req), "get");
    for (int i = 0; i < nkeys; i++) {
        keys[i] = (int)(rnd(c) % SOAK_KEYS);
        n += (size_t)snprintf(req + n, sizeof(req) - n, " s%d:%d", c->id, keys[i]);
    }
    n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
    if (!send_all(fd, req, n)) {
        fail(c, "get: send failed");
        return false;
    }
    for (int i = 0; i < nkeys; i++) {
        const struct value *v = &c->vals[keys[i]];
        if (v->data == NULL)
            continue;
        char line[256], want[256];
        snprintf(want, sizeof(want), "VALUE s%d:%d 0 %zu", c->id, keys[i], v->len);
        if (!read_line(c, fd, line, sizeof(line))) {
            fail(c, "get: no reply");
            return false;
        }
        if (strcmp(line, want) != 0) {
            fail(c, "get: got '%s', want '%s'", line, want);
            return false;
        }
        const char *data;
        if (!read_block(c, fd, v->len, &data)) {
            fail(c, "get: short value");
            return false;
        }
        if (memcmp(data, v->data, v->len) != 0 || memcmp(data + v->len, "\r\n", 2) != 0) {
            fail(c, "get: wrong data for s%d:%d (%zu bytes)", c->id, keys[i], v->len);
            return false;
        }
        consume(c, v->len + 2);
    }
    return expect_line(c, fd, "END", "get end");
}

static bool reconnect(struct client *c, int i) {
    close(c->fds[i]);
    c->rlen = 0;
    c->fds[i] = connect_port(server_port);
    c->reconnects++;
    if (c->fds[i] < 0) {
        fail(c, "reconnect failed: %s", strerror(errno));
        return false;
    }
    return true;
}

static bool one_op(struct client *c, int fd) {
    uint64_t r = rnd(c) % 100;
    int k = (int)(rnd(c) % SOAK_KEYS);
    if (r < 30)
        return op_set(c, fd, k, false);
    if (r < 33)
        return op_set(c, fd, k, true);
    if (r < 60)
        return op_get(c, fd, 1);
    if (r < 72)
        return op_get(c, fd, 2 + (int)(rnd(c) % (SOAK_MULTI_MAX - 1)));
    if (r < 80)
        return op_delete(c, fd, k);
    if (r < 92)
        return op_incr(c, fd, (int)(rnd(c) % SOAK_COUNTERS));
    return op_append(c, fd, k);
}

static void *client_main(void *arg) {
    struct client *c = arg;
    int cur = 0;
    while (!stop_flag && now_sec() < deadline) {
        /* A few requests on one connection, then the next one. */
        int burst = 1 + (int)(rnd(c) % 8);
        for (int b = 0; b < burst; b++) {
            c->requests++;
            if (!one_op(c, c->fds[cur])) {
                /* the stream is out of step after an error: start afresh */
                if (!reconnect(c, cur))
                    return NULL;
                break;
            }
        }
        if (rnd(c) % 200 == 0 && !reconnect(c, cur))
            return NULL;
        cur = (cur + 1) % c->nconn;
    }
    return NULL;
}

/* Every key written once, so that the memory the data set needs is taken
 * before the first sample. */
static void warm_up(struct client *c) {
    for (int k = 0; k < SOAK_KEYS && !stop_flag; k++) {
        c->requests++;
        if (!op_set(c, c->fds[k % c->nconn], k, false))
            reconnect(c, k % c->nconn);
    }
}

static void *warm_main(void *arg) {
    warm_up(arg);
    return NULL;
}

static bool run_clients(struct client *cl, int nthreads, double until, bool warm) {
    deadline = until;
    for (int t = 0; t < nthreads; t++)
        if (pthread_create(&cl[t].tid, NULL, warm ? warm_main : client_main, &cl[t]) != 0)
            return false;
    for (int t = 0; t < nthreads; t++)
        pthread_join(cl[t].tid, NULL);
    return true;
}

static int stop_server(void) {
    int status = 0;
    kill(server_pid, SIGTERM);
    for (int i = 0; i < 1200; i++) { /* up to 60 s: only a hang */
        if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
            server_pid = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(50000);
    }
    kill(server_pid, SIGKILL);
    waitpid(server_pid, NULL, 0);
    server_pid = -1;
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: soak <larder binary> <seconds> [connections] [threads]\n");
        return 2;
    }
    const char *bin = argv[1];
    int seconds = atoi(argv[2]);
    int nconns = argc > 3 ? atoi(argv[3]) : 200;
    int nthreads = argc > 4 ? atoi(argv[4]) : 4;
    if (seconds < 1 || nconns < nthreads || nthreads < 1 || nthreads > 64) {
        fprintf(stderr, "soak: bad arguments\n");
        return 2;
    }
    signal(SIGALRM, on_alarm);
    signal(SIGINT, on_alarm);
    signal(SIGTERM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    /* The warm-up comes on top of `seconds` and takes what the build needs;
     * the alarm stops only a hang. */
    alarm((unsigned)seconds * 2 + 600);
    if (!start_server(bin)) {
        fprintf(stderr, "soak: cannot start %s\n", bin);
        return 1;
    }

    struct client *cl = calloc((size_t)nthreads, sizeof(*cl));
    for (int t = 0; t < nthreads; t++) {
        cl[t].id = t;
        cl[t].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1);
        cl[t].nconn = nconns / nthreads;
        cl[t].fds = calloc((size_t)cl[t].nconn, sizeof(int));
        for (int i = 0; i < cl[t].nconn; i++) {
            cl[t].fds[i] = connect_port(server_port);
            if (cl[t].fds[i] < 0) {
                fprintf(stderr, "soak: connect failed: %s\n", strerror(errno));
                kill(server_pid, SIGKILL);
                return 1;
            }
        }
    }
    double t0 = now_sec();
    double warm = seconds >= 60 ? 10 : seconds / 5.0;
    run_clients(cl, nthreads, t0 + seconds, true);
    /* The traffic phases are timed from the end of the warm-up, so a slow
     * (sanitized, loaded) build still measures over seconds - warm. */
    run_clients(cl, nthreads, now_sec() + warm, false);
    struct sample start = sample_server();
    double t1 = now_sec();
    run_clients(cl, nthreads, t1 + (seconds - warm), false);
    struct sample end = sample_server();
    double t2 = now_sec();

    uint64_t requests = 0, errors = 0, reconnects = 0;
    for (int t = 0; t < nthreads; t++) {
        requests += cl[t].requests;
        errors += cl[t].errors;
        reconnects += cl[t].reconnects;
    }
    /* stats: the store must not have evicted anything (512 MB is plenty) */
    int fd = connect_port(server_port);
    char stats[8192] = "";
    size_t sl = 0;
    if (fd >= 0 && send_all(fd, "stats\r\n", 7)) {
        while (sl < sizeof(stats) - 1 && !strstr(stats, "END\r\n")) {
            ssize_t r = recv(fd, stats + sl, sizeof(stats) - 1 - sl, 0);
            if (r <= 0)
                break;
            sl += (size_t)r;
            stats[sl] = '\0';
        }
    }
    if (fd >= 0)
        close(fd);
    const char *ev = strstr(stats, "STAT evictions ");
    unsigned long long evictions = ev ? strtoull(ev + 15, NULL, 10) : 0;
    const char *cc = strstr(stats, "STAT curr_connections ");
    unsigned long long curr_conns = cc ? strtoull(cc + 22, NULL, 10) : 0;

    for (int t = 0; t < nthreads; t++) {
        for (int i = 0; i < cl[t].nconn; i++)
            if (cl[t].fds[i] >= 0)
                close(cl[t].fds[i]);
        for (int k = 0; k < SOAK_KEYS; k++)
            free(cl[t].vals[k].data);
        free(cl[t].fds);
        free(cl[t].rbuf);
    }
    free(cl);
    int exit_status = stop_server();

    long rss_tol = start.rss_kb / 10 > 16384 ? start.rss_kb / 10 : 16384;
    bool rss_ok = end.rss_kb >= 0 && end.rss_kb <= start.rss_kb + rss_tol;
    bool fds_ok = end.fds <= start.fds + 2;
    bool thr_ok = end.threads == start.threads;
    printf("soak: %s, %d s, %d connections, %d client threads\n", bin, seconds, nconns, nthreads);
    printf("soak: requests %llu (%.0f/s), errors %llu, reconnects %llu, evictions %llu, "
           "curr_connections %llu\n",
           (unsigned long long)requests, (double)requests / (t2 - t0),
           (unsigned long long)errors, (unsigned long long)reconnects, evictions, curr_conns);
    printf("soak: measured over %.0f s after warm-up\n", t2 - t1);
    printf("soak: RSS     start %ld kB, end %ld kB (tolerance +%ld kB)%s\n", start.rss_kb,
           end.rss_kb, rss_tol, rss_ok ? "" : "  GREW");
    printf("soak: fds     start %ld, end %ld%s\n", start.fds, end.fds, fds_ok ? "" : "  GREW");
    printf("soak: threads start %ld, end %ld%s\n", start.threads, end.threads,
           thr_ok ? "" : "  CHANGED");
    printf("soak: server exit status after SIGTERM: %d\n", exit_status);
    bool ok = errors == 0 && rss_ok && fds_ok && thr_ok && evictions == 0 && exit_status == 0;
    printf("soak: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
