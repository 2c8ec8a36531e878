/*
 * The server process: connection limit, idle timeout, unix socket, memory
 * limit, shutdown, command-line checks.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* The timeout only stops a hang; the waits inside poll for conditions. */
TestSuite(server, .timeout = 300);

/* A connection the server has accepted under its -c limit: while it still
 * counts connections the client closed (a loaded server may take a while),
 * it turns new ones away; each turned away adds one to *rejected. */
static int connect_admitted(const struct srv *s, unsigned *rejected) {
    double deadline = harness_now() + harness_wait_s();
    for (;;) {
        int fd = cli_connect(s);
        cli_sends(fd, "version\r\n");
        char *r = cli_read_until(fd, "\r\n");
        bool in = strncmp(r, "VERSION ", 8) == 0;
        cr_assert(in || strcmp(r, "ERROR Too many open connections\r\n") == 0, "got '%s'", r);
        free(r);
        if (in)
            return fd;
        close(fd);
        (*rejected)++;
        cr_assert(harness_now() < deadline, "the server never freed a connection slot");
        usleep(20000);
    }
}

/* Waits until the process exits; its status, or -1 at the hang cap. */
static int wait_exit(pid_t pid) {
    int status;
    double deadline = harness_now() + harness_wait_s();
    while (harness_now() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        usleep(20000);
    }
    return -1;
}

Test(server, max_connections_rejected_and_counted) {
    struct srv s;
    const char *args[] = {"-c", "10", NULL};
    srv_start(&s, args);
    int fds[10];
    for (int i = 0; i < 10; i++) {
        fds[i] = cli_connect(&s);
        cli_expect(fds[i], "version\r\n", "VERSION "); /* make sure it is accepted */
        free(cli_read_until(fds[i], "\r\n"));
    }
    int extra = cli_connect(&s);
    char *r = cli_read_until(extra, "\r\n");
    cr_assert_str_eq(r, "ERROR Too many open connections\r\n");
    free(r);
    cr_assert(cli_closed(extra));
    close(extra);
    close(fds[0]);
    unsigned rejected = 1;
    int again = connect_admitted(&s, &rejected); /* a slot freed up */
    close(again);
    for (int i = 1; i < 10; i++)
        close(fds[i]);
    close(connect_admitted(&s, &rejected));
    cr_assert_eq(srv_stat(&s, "rejected_connections"), rejected);
    cr_assert_eq(srv_stat(&s, "max_connections"), 10);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(server, idle_timeout_kicks_idle_clients) {
    struct srv s;
    const char *args[] = {"-o", "idle_timeout=1", NULL};
    srv_start(&s, args);
    int fd = cli_connect(&s);
    cli_expect(fd, "version\r\n", "VERSION ");
    free(cli_read_until(fd, "\r\n"));
    cr_assert(cli_closed(fd), "an idle connection is closed");
    close(fd);
    cr_assert_geq(srv_stat(&s, "idle_kicks"), 1);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(server, sigterm_exits_zero_with_clients_connected) {
    struct srv s;
    srv_start(&s, NULL);
    int fd = cli_connect(&s);
    cli_expect(fd, "set a 0 0 1\r\nx\r\n", "STORED\r\n");
    cr_assert_eq(srv_stop(&s), 0);
    cr_assert(cli_closed(fd));
    close(fd);
}

Test(server, shutdown_command_with_A) {
    struct srv s;
    const char *args[] = {"-A", NULL};
    srv_start(&s, args);
    int fd = cli_connect(&s);
    cli_expect(fd, "shutdown bogus\r\n", "CLIENT_ERROR invalid shutdown mode\r\n");
    cli_sends(fd, "shutdown\r\n");
    cr_assert_eq(wait_exit(s.pid), 0);
    close(fd);
}

Test(server, memory_limit_evicts_and_rss_stays_bounded) {
    struct srv s;
    const char *args[] = {"-m", "16", NULL};
    srv_start(&s, args);
    int fd = cli_connect(&s);
    char val[1000];
    memset(val, 'v', sizeof(val));
    size_t cap = 1 << 20;
    char *req = malloc(cap);
    /* 200 MB of sets, pipelined in batches with noreply, then a sync */
    for (int batch = 0; batch < 200; batch++) {
        size_t len = 0;
        for (int i = 0; i < 1000; i++) {
            len += (size_t)sprintf(req + len, "set key%d_%d 0 0 1000 noreply\r\n", batch, i);
            memcpy(req + len, val, 1000);
            len += 1000;
            memcpy(req + len, "\r\n", 2);
            len += 2;
        }
        cli_send(fd, req, len);
        cli_expect(fd, "version\r\n", "VERSION ");
        free(cli_read_until(fd, "\r\n"));
    }
    free(req);
    cli_expect(fd, "get key199_999\r\n", "VALUE key199_999 0 1000\r\n");
    close(fd);
    cr_assert_gt(srv_stat(&s, "evictions"), 100000);
    int sfd = cli_connect(&s);
    cli_sends(sfd, "stats items\r\n");
    char *items = cli_read_until(sfd, "END\r\n");
    close(sfd);
    cr_assert(strstr(items, ":evicted_time ") != NULL, "%s", items);
    free(items);
    cr_assert_leq(srv_stat(&s, "total_malloced"), 16u << 20);
    long rss = srv_rss_kb(&s);
    cr_assert_lt(rss, 16 * 1024 + 40 * 1024, "RSS %ld KB for -m 16", rss);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(server, no_evictions_with_M) {
    struct srv s;
    const char *args[] = {"-m", "8", "-M", NULL};
    srv_start(&s, args);
    int fd = cli_connect(&s);
    char *req = malloc(200000);
    memset(req, 'v', 200000);
    int refused = 0;
    for (int i = 0; i < 100 && !refused; i++) {
        char hdr[64];
        cli_send(fd, hdr, (size_t)sprintf(hdr, "set k%d 0 0 100000\r\n", i));
        cli_send(fd, req, 100000);
        cli_sends(fd, "\r\n");
        char *r = cli_read_until(fd, "\r\n");
        if (strcmp(r, "SERVER_ERROR out of memory storing object\r\n") == 0)
            refused = 1;
        else
            cr_assert_str_eq(r, "STORED\r\n");
        free(r);
    }
    free(req);
    cr_assert(refused, "-M refuses stores when full");
    cli_expect(fd, "get k0\r\n", "VALUE k0 0 100000\r\n");
    close(fd);
    cr_assert_eq(srv_stat(&s, "evictions"), 0);
    cr_assert_geq(srv_stat(&s, "store_no_memory"), 1);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(server, unix_socket) {
    char path[64];
    snprintf(path, sizeof(path), "/tmp/larder-test-%d.sock", (int)getpid());
    const char *bin = getenv("LARDER_BIN");
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(bin, bin, "-s", path, "-u", "root", (char *)NULL);
        _exit(127);
    }
    int fd = -1;
    double deadline = harness_now() + harness_wait_s();
    while (fd < 0 && harness_now() < deadline) {
        usleep(20000);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strcpy(a.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
            close(fd);
            fd = -1;
        }
    }
    cr_assert(fd >= 0);
    cli_expect(fd, "set u 0 0 1\r\nx\r\nget u\r\n", "STORED\r\nVALUE u 0 1\r\nx\r\nEND\r\n");
    close(fd);
    kill(pid, SIGTERM);
    cr_assert_eq(wait_exit(pid), 0);
    cr_assert(access(path, F_OK) != 0, "socket file removed at exit");
}

/* Runs the binary with args and collects its output until it exits; kills
 * it at the hang cap (a bad flag that slips through would otherwise start a
 * server that never exits: no output, so the refusal check fails). */
static int run_bin(const char *const *args, char *out, size_t outlen) {
    const char *bin = getenv("LARDER_BIN");
    int pipefd[2];
    cr_assert(pipe(pipefd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[16] = {bin};
        int n = 1;
        for (int i = 0; args[i] && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t len = 0;
    struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
    double deadline = harness_now() + harness_wait_s();
    while (len + 1 < outlen && harness_now() < deadline && poll(&p, 1, 1000) >= 0) {
        if (!(p.revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t r = read(pipefd[0], out + len, outlen - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    out[len] = '\0';
    close(pipefd[0]);
    kill(pid, SIGKILL); /* harmless when it already exited */
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(server, command_line_checks) {
    char out[8192];
    const char *help[] = {"-h", NULL};
    cr_assert_eq(run_bin(help, out, sizeof(out)), 0);
    cr_assert(strstr(out, "-p, --port") != NULL);
    const char *ver[] = {"-V", NULL};
    cr_assert_eq(run_bin(ver, out, sizeof(out)), 0);
    cr_assert(strstr(out, "1.6.") != NULL);
    const char *bad[][5] = {
        {"-c", "0", "-u", "root", NULL},        {"-c", "-5", "-u", "root", NULL},
        {"-l", "300.1.1.1", "-u", "root", NULL}, {"-l", "127.0.0.1:99999", "-u", "root", NULL},
        {"-p", "notaport", "-u", "root", NULL}, {"-m", "0", "-u", "root", NULL},
        {"-U", "70000", "-u", "root", NULL},    {"-I", "2g", "-u", "root", NULL},
        {"-B", "http", "-u", "root", NULL},
        /* never silently weaker: a login or TLS that cannot be had, or a
         * memory file that cannot be made -> no start
         * (tests/scripts/security.py has the rest) */
        {"-S", "-B", "ascii", NULL},            {"-Y", "/nonexistent/authfile", "-u", "root", NULL},
        {"-Z", "-u", "root", NULL},             {"-o", "ssl_bogus=1", "-u", "root", NULL},
        {"-e", "/nonexistent-dir/larder-memfile", "-u", "root", NULL},
        {"-o", "memory_file", "-u", "root", NULL},
        {"-o", "ext_path=/var/tmp/extstore:1G", "-u", "root", NULL},
        {"-t", "0", "-u", "root", NULL},        {"-f", "0.5", "-u", "root", NULL},
        {"--bogus", "-u", "root", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_neq(run_bin(bad[i], out, sizeof(out)), 0, "%s %s must be refused", bad[i][0],
                      bad[i][1]);
        cr_assert(strlen(out) > 0, "%s %s: a refusal says why", bad[i][0], bad[i][1]);
    }
}

/* "Slab calcification": after the cache fills with small values, a switch to
 * larger values must get memory back from the small class, not live in one
 * page forever. */
static unsigned set_many(int fd, const char *prefix, unsigned from, unsigned count, size_t vlen) {
    char *req = malloc(count * (vlen + 64));
    char *val = malloc(vlen);
    memset(val, 'v', vlen);
    size_t len = 0;
    for (unsigned i = from; i < from + count; i++) {
        len += (size_t)sprintf(req + len, "set %s%u 0 0 %zu noreply\r\n", prefix, i, vlen);
        memcpy(req + len, val, vlen);
        len += vlen;
        memcpy(req + len, "\r\n", 2);
        len += 2;
    }
    cli_send(fd, req, len);
    cli_expect(fd, "version\r\n", "VERSION ");
    free(cli_read_until(fd, "\r\n"));
    free(req);
    free(val);
    return count;
}

static unsigned count_present(int fd, const char *prefix, unsigned from, unsigned count) {
    unsigned found = 0;
    for (unsigned i = from; i < from + count; i++) {
        char req[64];
        sprintf(req, "mg %s%u\r\n", prefix, i);
        cli_sends(fd, req);
        char *r = cli_read_until(fd, "\r\n");
        found += strncmp(r, "HD", 2) == 0;
        free(r);
    }
    return found;
}

Test(server, memory_moves_to_new_value_sizes) {
    struct srv s;
    const char *args[] = {"-m", "8", NULL};
    srv_start(&s, args);
    int fd = cli_connect(&s);
    for (unsigned b = 0; b < 10; b++)
        set_many(fd, "small", b * 10000, 10000, 100); /* 10 MB of small values */
    sleep(2);
    /* 2 KB values from now on: 1500 of them need ~3.3 MB of the 8.  Pages
     * move about once a second from a background thread, which a loaded
     * machine delays, and only from a class whose items cost more (chunk
     * size times idle time) than twice what the 2 KB evictions cost: the
     * 100 B items, 20 times smaller, qualify only after about a minute of
     * idleness, whatever the machine (measured: 30 of 1500 kept after 20 s,
     * all after 60 s).  So write the working set once
     * a second until it fits, up to three hang caps: one cap is no more
     * than the time the policy itself takes. */
    unsigned found = 0;
    double deadline = harness_now() + 3 * harness_wait_s();
    for (int round = 0; found < 1400 && harness_now() < deadline; round++) {
        set_many(fd, "big", 0, 1500, 2000);
        if (round >= 6)
            found = count_present(fd, "big", 0, 1500);
        sleep(1);
    }
    close(fd);
    cr_assert_geq(found, 1400, "only %u of 1500 recent 2 KB items kept", found);
    cr_assert_gt(srv_stat(&s, "slabs_moved"), 0);
    cr_assert_leq(srv_stat(&s, "total_malloced"), 8u << 20);
    cr_assert_eq(srv_stop(&s), 0);
}

/* -M: after the keys of one size are deleted, a store of another size must
 * get their empty pages instead of "out of memory". */
Test(server, no_evictions_but_empty_pages_are_reused) {
    struct srv s;
    const char *args[] = {"-m", "8", "-M", NULL};
    srv_start(&s, args);
    int fd = cli_connect(&s);
    set_many(fd, "mid", 0, 1500, 1000);
    /* Small values until the first refusal: a refused store costs a sweep,
     * slow under a sanitizer, so no more of them than it takes. */
    for (unsigned b = 0; b < 200 && srv_stat(&s, "store_no_memory") == 0; b++)
        set_many(fd, "small", b * 1000, 1000, 100);
    cr_assert_gt(srv_stat(&s, "store_no_memory"), 0, "memory did not fill up");
    for (unsigned i = 0; i < 1500; i++) {
        char req[64];
        sprintf(req, "delete mid%u noreply\r\n", i);
        cli_sends(fd, req);
    }
    char big[5000];
    memset(big, 'z', sizeof(big));
    char hdr[64];
    cli_send(fd, hdr, (size_t)sprintf(hdr, "set z 0 0 %zu\r\n", sizeof(big)));
    cli_send(fd, big, sizeof(big));
    cli_expect(fd, "\r\n", "STORED\r\n");
    close(fd);
    cr_assert_eq(srv_stat(&s, "evictions"), 0);
    cr_assert_eq(srv_stop(&s), 0);
}
