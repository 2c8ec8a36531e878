/*
 * Smaller promises against hostile or careless input: a unix socket path
 * that holds someone's file, and a multi-get whose bad key comes after
 * values large enough to be streamed.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* Runs the server with -s path and returns its exit status; it must exit
 * by itself (within the harness's wait cap, which only a hang reaches). */
static int run_with_socket(const char *path) {
    const char *bin = getenv("LARDER_BIN");
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(bin, bin, "-s", path, "-u", "root", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    for (double end = harness_now() + harness_wait_s(); harness_now() < end;) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    cr_assert_fail("the server did not exit on a path it must refuse");
    return -1;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static bool file_is(const char *path, const char *text) {
    char buf[256] = {0};
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return n == strlen(text) && memcmp(buf, text, n) == 0;
}

Test(hardening, unix_socket_path_never_deletes_a_file, .timeout = 600) {
    char dir[] = "/tmp/larder-sock-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char file[128], link[128], target[128];
    snprintf(file, sizeof(file), "%s/data", dir);
    snprintf(target, sizeof(target), "%s/target", dir);
    snprintf(link, sizeof(link), "%s/link", dir);
    write_file(file, "precious\n");
    write_file(target, "also precious\n");
    cr_assert_eq(symlink(target, link), 0);

    cr_assert_neq(run_with_socket(file), 0, "a regular file at -s is refused");
    cr_assert(file_is(file, "precious\n"), "and left as it was");
    cr_assert_neq(run_with_socket(link), 0, "a symlink at -s is refused");
    struct stat st;
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the link is still there");
    cr_assert(file_is(target, "also precious\n"));

    unlink(file);
    unlink(link);
    unlink(target);
    rmdir(dir);
}

/* memcached checks the whole key list before it answers: a bad key after
 * two 900 KB values gets the error alone, even though Larder streams long
 * multi-gets out in pieces. */
Test(hardening, bad_key_after_large_values_gets_only_the_error, .timeout = 600) {
    struct srv s;
    srv_start(&s, NULL);
    int fd = cli_connect(&s);
    size_t n = 900 * 1024;
    char *val = malloc(n);
    memset(val, 'b', n);
    char hdr[64];
    sprintf(hdr, "set big 0 0 %zu\r\n", n);
    cli_sends(fd, hdr);
    cli_send(fd, val, n);
    cli_expect(fd, "\r\n", "STORED\r\n");
    char line[400] = "get big big ";
    memset(line + strlen(line), 'k', 251);
    strcat(line, " big\r\nversion\r\n");
    cli_sends(fd, line);
    char *r = cli_read_until(fd, "VERSION 1.6.18-larder-0.1\r\n");
    cr_assert_str_eq(r, "CLIENT_ERROR bad command line format\r\nVERSION 1.6.18-larder-0.1\r\n");
    free(r);
    free(val);
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}

/* Idle connections hold no buffers: 2,000 clients that made one request
 * each and wait cost the server well under 3 KB apiece (buffers of 4 KB
 * each way would cost 8 KB; memcached pools them per thread too).  Named
 * under memory_limit* so that the TSan run, whose shadow memory makes RSS
 * meaningless, leaves it out. */
Test(server, memory_limit_idle_connections_hold_no_buffers, .timeout = 600) {
    enum { CONNS = 2000 };
    raise_nofile(CONNS + 200);
    struct srv s;
    const char *args[] = {"-c", "4000", NULL};
    srv_start(&s, args);
    static int fds[CONNS];
    fds[0] = cli_connect(&s);
    cli_expect(fds[0], "version\r\n", "VERSION 1.6.18-larder-0.1\r\n");
    long before = srv_rss_kb(&s);
    for (int i = 1; i < CONNS; i++) {
        fds[i] = cli_connect(&s);
        cli_sends(fds[i], "version\r\n");
    }
    for (int i = 1; i < CONNS; i++) {
        char *r = cli_read_n(fds[i], 27);
        cr_assert_str_eq(r, "VERSION 1.6.18-larder-0.1\r\n");
        free(r);
    }
    /* Every reply is in: each connection is idle, and gives its buffers
     * back within a second or two.  Wait for that (the cap is for a hang). */
    long grown = 0;
    for (double end = harness_now() + harness_wait_s(); harness_now() < end;) {
        grown = srv_rss_kb(&s) - before;
        if (grown < CONNS * 3)
            break;
        usleep(100000);
    }
    cr_assert_lt(grown, CONNS * 3, "%d idle connections grew RSS by %ld kB", CONNS, grown);
    cli_expect(fds[0], "version\r\n", "VERSION 1.6.18-larder-0.1\r\n");
    for (int i = 0; i < CONNS; i++)
        close(fds[i]);
    cr_assert_eq(srv_stop(&s), 0);
}
