/*
 * tls_load: a small TLS load generator for memcached-compatible servers,
 * to compare Larder's -Z with memcached's (larder-load speaks plain TCP).
 *
 *   tls_load HOST PORT CONNS DEPTH SECONDS [plain]
 *
 * Each connection is one thread with a blocking TLS socket (no
 * certificate check: the server's is made at test time).  It first sets
 * key "k0".."k99" (100 bytes), then loops: writes DEPTH "get kN" requests
 * in one write, reads the DEPTH replies, until SECONDS pass.  Prints
 * requests per second; "plain" skips TLS, for the baseline.
 */
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

struct job {
    const char *host, *port;
    int depth;
    double seconds;
    bool plain;
    SSL_CTX *ctx;
    uint64_t done;
    bool failed;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct link {
    int fd;
    SSL *ssl;
};

static bool link_write(struct link *l, const char *p, size_t n) {
    while (n > 0) {
        int r = l->ssl ? SSL_write(l->ssl, p, (int)n) : (int)write(l->fd, p, n);
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static int link_read(struct link *l, char *p, size_t n) {
    return l->ssl ? SSL_read(l->ssl, p, (int)n) : (int)read(l->fd, p, n);
}

/* Reads until `count` occurrences of "END\r\n" (gets) or "STORED\r\n". */
static bool link_expect(struct link *l, const char *token, int count) {
    static _Thread_local char buf[1 << 16];
    size_t tl = strlen(token), keep = 0;
    if (tl < 2)
        return false;
    while (count > 0) {
        int r = link_read(l, buf + keep, sizeof(buf) - keep);
        if (r <= 0)
            return false;
        size_t len = keep + (size_t)r;
        char *p = buf, *end = buf + len;
        for (char *m; count > 0 && (m = memmem(p, (size_t)(end - p), token, tl)) != NULL;) {
            count--;
            p = m + tl;
        }
        /* a token may straddle two reads: keep its possible start */
        size_t rest = (size_t)(end - p);
        keep = rest < tl - 1 ? rest : tl - 1;
        memmove(buf, buf + (len - keep), keep);
    }
    return true;
}

static bool link_open(struct job *j, struct link *l) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(j->host, j->port, &hints, &ai) != 0)
        return false;
    l->fd = socket(ai->ai_family, SOCK_STREAM, 0);
    bool ok = l->fd >= 0 && connect(l->fd, ai->ai_addr, ai->ai_addrlen) == 0;
    freeaddrinfo(ai);
    l->ssl = NULL;
    if (!ok || j->plain)
        return ok;
    l->ssl = SSL_new(j->ctx);
    SSL_set_fd(l->ssl, l->fd);
    return SSL_connect(l->ssl) == 1;
}

static void *job_run(void *arg) {
    struct job *j = arg;
    struct link l;
    if (!link_open(j, &l)) {
        j->failed = true;
        return NULL;
    }
    char req[64 * 1024], val[100];
    memset(val, 'v', sizeof(val));
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(req + n, "set k%d 0 0 100\r\n%.100s\r\n", i, val);
    if (!link_write(&l, req, n) || !link_expect(&l, "STORED\r\n", 100)) {
        j->failed = true;
        return NULL;
    }
    n = 0;
    for (int i = 0; i < j->depth; i++)
        n += (size_t)sprintf(req + n, "get k%d\r\n", i % 100);
    double end = now_s() + j->seconds;
    while (now_s() < end) {
        if (!link_write(&l, req, n) || !link_expect(&l, "END\r\n", j->depth)) {
            j->failed = true;
            break;
        }
        j->done += (uint64_t)j->depth;
    }
    if (l.ssl)
        SSL_free(l.ssl);
    close(l.fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: tls_load HOST PORT CONNS DEPTH SECONDS [plain]\n");
        return 2;
    }
    int conns = atoi(argv[3]);
    struct job *jobs = calloc((size_t)conns, sizeof(*jobs));
    pthread_t *th = calloc((size_t)conns, sizeof(*th));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    for (int i = 0; i < conns; i++) {
        jobs[i] = (struct job){argv[1], argv[2], atoi(argv[4]), atof(argv[5]),
                               argc > 6 && strcmp(argv[6], "plain") == 0, ctx, 0, false};
        pthread_create(&th[i], NULL, job_run, &jobs[i]);
    }
    uint64_t total = 0;
    int failed = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        total += jobs[i].done;
        failed += jobs[i].failed;
    }
    printf("requests %llu rps %.0f failed_conns %d\n", (unsigned long long)total,
           (double)total / atof(argv[5]), failed);
    SSL_CTX_free(ctx);
    return failed ? 1 : 0;
}
