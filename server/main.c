/*
 * main: parse the command line into the settings, set the process up
 * (limits, identity, daemon mode), create the store, run the server.
 *
 * With -d the parent waits until the child has bound its sockets and says
 * so through a pipe, so `larder -d` exits non-zero when the server could not
 * start, and a pidfile names a process that is really serving.  The pidfile
 * is opened by the parent before the fork, before -u drops privileges, so
 * that `-d -P /run/larder.pid -u larder` can create it in a directory only
 * root may write; the parent, still root, removes it if the start fails.
 *
 * Exit codes are memcached's: 1 for a bad option value, EX_USAGE (64) for
 * settings that contradict each other or ask for what Larder lacks,
 * EX_NOUSER (67) for an unknown -u user, EX_OSERR (71) when identity,
 * sockets or threads cannot be had.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/logger.h"
#include "server/auth.h"
#include "server/sasl.h"
#include "server/server.h"
#include "server/tls.h"
#include "server/settings.h"
#include "storage/store.h"

/* jemalloc reads this at start.  Give freed memory (old hash tables, big
 * connection buffers, pages moved between classes) back to the kernel within
 * a second, from a background thread, so resident memory tracks what the
 * cache holds rather than its history; and keep few arenas: the item memory
 * lives in slab pages, so general allocations are few. */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:2";

static int main_fail(const char *msg) {
    fprintf(stderr, "larder: %s\n", msg);
    return EXIT_FAILURE;
}

/* memcached refuses to run as root without -u; so does Larder.  Looks the
 * user up (before any fork, so that the error reaches the terminal): *uid
 * and *gid are the identity to switch to, *uid 0 when there is none.
 * Returns 0, or the exit code to fail with. */
static int main_find_user(const struct settings *st, uid_t *uid, gid_t *gid) {
    *uid = 0;
    *gid = 0;
    if (getuid() != 0 && geteuid() != 0)
        return 0;
    if (st->user == NULL) {
        fprintf(stderr, "larder: can't run as root without the -u switch\n");
        return SETTINGS_EX_USAGE;
    }
    struct passwd *pw = getpwnam(st->user);
    if (pw == NULL) {
        fprintf(stderr, "larder: can't find the user %s to switch to\n", st->user);
        return SETTINGS_EX_NOUSER;
    }
    *uid = pw->pw_uid; /* 0 for -u root: asked for explicitly */
    *gid = pw->pw_gid;
    return 0;
}

static bool main_drop_privileges(const struct settings *st, uid_t uid, gid_t gid) {
    if (uid == 0)
        return true;
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        fprintf(stderr, "larder: failed to assume identity of user %s: %s\n", st->user,
                strerror(errno));
        return false;
    }
    return true;
}

/* Enough descriptors for -c connections plus listeners, pipes and logs. */
static void main_raise_nofile(const struct settings *st) {
    struct rlimit rl;
    rlim_t want = (rlim_t)st->maxconns + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = want;
    if (rl.rlim_max < want)
        rl.rlim_max = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        fprintf(stderr, "larder: warning: cannot raise the open files limit to %lu for -c %d\n",
                (unsigned long)want, st->maxconns);
}

static void main_oom_score(const struct settings *st) {
    if (!st->oom_score_set)
        return;
    FILE *f = fopen("/proc/self/oom_score_adj", "w");
    if (f == NULL || fprintf(f, "%d\n", st->oom_score_adj) < 0 || fclose(f) != 0)
        fprintf(stderr, "larder: warning: cannot set oom_score_adj to %d\n", st->oom_score_adj);
}

/* Opens -P's file without truncating it (it may name a daemon that runs):
 * *created says whether this start made it.  -1 on error. */
static int main_open_pidfile(const char *path, bool *created) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    *created = fd >= 0;
    if (fd < 0 && errno == EEXIST)
        fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "larder: cannot open pidfile %s: %s\n", path, strerror(errno));
    return fd;
}

/* Forks; the parent exits with the child's start-up status (removing a
 * pidfile it created if the start failed): 'k' when serving, else the exit
 * code the child failed with (1 if it said nothing).  Returns the pipe the
 * child reports on, or -1 on error. */
static int main_daemonize(const struct settings *st, bool pid_created) {
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        char ok = 0;
        close(fds[1]);
        ssize_t n = read(fds[0], &ok, 1);
        if (n == 1 && ok == 'k')
            _exit(EXIT_SUCCESS);
        if (pid_created)
            unlink(st->pidfile);
        _exit(n == 1 && ok != 0 ? (unsigned char)ok : EXIT_FAILURE);
    }
    close(fds[0]);
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (st->verbose == 0)
            dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
    return fds[1];
}

static bool main_write_pidfile(int fd) {
    char line[32];
    int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    return ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)len, 0) == len;
}

/* At exit: remove the pidfile; when its directory is not ours to write
 * (-P /run/larder.pid -u larder), empty it, so that it names no process. */
static void main_remove_pidfile(const char *path, int fd) {
    if (unlink(path) != 0 && ftruncate(fd, 0) != 0)
        fprintf(stderr, "larder: cannot remove pidfile %s: %s\n", path, strerror(errno));
    close(fd);
}

/* --hash-password USER: one password line on stdin (no echo on a terminal
 * is the shell's business: `read -s`), one authfile line on stdout. */
static int main_hash_password(const char *user) {
    char pass[1024], hash[256];
    if (strchr(user, ':') || fgets(pass, sizeof(pass), stdin) == NULL)
        return main_fail("--hash-password: give a user without ':' and a password on stdin");
    pass[strcspn(pass, "\r\n")] = '\0';
    bool ok = pass[0] != '\0' && auth_hash_password(pass, hash, sizeof(hash));
    memset(pass, 0, sizeof(pass));
    if (!ok)
        return main_fail("--hash-password: empty password, or crypt(3) has no yescrypt");
    printf("%s:%s\n", user, hash);
    return EXIT_SUCCESS;
}

/* -Y, as memcached: its messages, exit status 1. */
static bool main_load_auth(const struct settings *st, struct auth **out) {
    *out = NULL;
    if (st->auth_file == NULL)
        return true;
    switch (auth_new(st->auth_file, out)) {
    case AUTH_LOAD_OK: return true;
    case AUTH_LOAD_STATFAIL:
        fprintf(stderr, "Could not stat authfile [%s], error %s\n", st->auth_file, strerror(errno));
        break;
    case AUTH_LOAD_OPENFAIL:
        fprintf(stderr, "Could not open authfile [%s] for reading, error %s\n", st->auth_file,
                strerror(errno));
        break;
    case AUTH_LOAD_OOM:
        fprintf(stderr, "Out of memory reading password file: %s\n", st->auth_file);
        break;
    case AUTH_LOAD_MALFORMED:
        fprintf(stderr, "Authfile [%s] has a malformed entry. Should be 'user:password'\n",
                st->auth_file);
        break;
    }
    return false;
}

/* -Z, -Y, -S: each set up before anything is served, or the start fails
 * with memcached's status (EX_USAGE for TLS, 1 otherwise). */
static int main_security(const struct settings *st, struct tls_server **tls, struct auth **auth) {
    *tls = NULL;
    if (st->ssl_enabled) {
        char err[1024];
        *tls = tls_server_new(st, err, sizeof(err));
        if (*tls == NULL) {
            fprintf(stderr, "%s\n", err);
            return SETTINGS_EX_USAGE;
        }
    }
    if (!main_load_auth(st, auth) || (st->sasl && !sasl_srv_setup(st->verbose))) {
        tls_server_free(*tls);
        auth_free(*auth);
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

static struct store *main_store(const struct settings *st) {
    struct store_config cfg;
    store_config_defaults(&cfg);
    cfg.mem_limit = st->maxbytes;
    cfg.item_size_max = st->item_size_max;
    cfg.factor = st->factor;
    cfg.chunk_min = st->chunk_size;
    cfg.use_cas = st->use_cas;
    cfg.evict = st->evict;
    cfg.hashpower = st->hashpower;
    cfg.crawler = st->lru_crawler;
    cfg.balance = st->slab_automove != 0;
    cfg.memory_file = st->memory_file;
    char why[320];
    struct store *store = store_open(&cfg, why, sizeof(why));
    if (store == NULL)
        fprintf(stderr, "larder: cannot create the store: %s\n", why);
    return store;
}

/* One line on how a -e cache came back: operators watch for it after a
 * restart (memcached logs its own "[restart]" lines). */
static void main_report_restart(const struct settings *st, struct store *store) {
    const struct store_restart *r = store_restart_info(store);
    switch (r->mode) {
    case STORE_RESTART_OFF:
        break;
    case STORE_RESTART_COLD:
        if (r->why[0] != '\0')
            fprintf(stderr, "larder: [restart] %s\n", r->why);
        else if (st->verbose > 0)
            fprintf(stderr, "larder: [restart] new memory file %s\n", st->memory_file);
        break;
    case STORE_RESTART_WARM:
    case STORE_RESTART_RECOVERED:
        fprintf(stderr,
                "larder: [restart] %s from %s: %llu items restored, %llu dropped (not whole), "
                "%llu expired while down, in %.3f s\n",
                r->mode == STORE_RESTART_WARM ? "warm restart after a clean stop"
                                              : "recovered after a crash (no clean-stop record)",
                st->memory_file, (unsigned long long)r->restored, (unsigned long long)r->dropped,
                (unsigned long long)r->expired, r->seconds);
        break;
    }
}

/* Everything main does; returns the exit code.  *report is the pipe to a
 * waiting -d parent while the start is not yet reported, else -1. */
static int main_start(struct settings *st, int *report_fd, struct tls_server *tls,
                      struct auth *auth);

static int main_run(struct settings *st, int argc, char **argv, int *report_fd) {
    switch (settings_parse(st, argc, argv)) {
    case SETTINGS_EXIT_OK: return EXIT_SUCCESS;
    case SETTINGS_ERROR: return EXIT_FAILURE;
    case SETTINGS_USAGE: return SETTINGS_EX_USAGE;
    case SETTINGS_OK: break;
    }
    if (st->hash_user)
        return main_hash_password(st->hash_user);
    struct tls_server *tls;
    struct auth *auth;
    int sec = main_security(st, &tls, &auth);
    if (sec != EXIT_SUCCESS)
        return sec;
    int rc = main_start(st, report_fd, tls, auth);
    tls_server_free(tls);
    auth_free(auth);
    if (st->sasl)
        sasl_srv_teardown();
    return rc;
}

/* Everything after the security setup: identity, daemon, store, serve. */
static int main_start(struct settings *st, int *report_fd, struct tls_server *tls,
                      struct auth *auth) {
    main_raise_nofile(st);
    main_oom_score(st);
    uid_t uid;
    gid_t gid;
    int user_rc = main_find_user(st, &uid, &gid);
    if (user_rc != 0)
        return user_rc;
    int pidfd = -1;
    bool pid_created = false;
    if (st->pidfile != NULL && st->daemonize &&
        (pidfd = main_open_pidfile(st->pidfile, &pid_created)) < 0)
        return EXIT_FAILURE;
    int report = st->daemonize ? main_daemonize(st, pid_created) : -1;
    *report_fd = report;
    if (st->daemonize && report < 0)
        return main_fail("failed to daemonize");
    if (!main_drop_privileges(st, uid, gid))
        return SETTINGS_EX_OSERR;

    struct store *store = main_store(st);
    if (store == NULL)
        return EXIT_FAILURE;
    main_report_restart(st, store);
    store_set_automove(store, st->slab_automove); /* 2 as well as 1 */
    struct server srv;
    if (!logger_setup(st, store, &srv)) {
        store_destroy(store);
        return main_fail("cannot start the logger thread");
    }
    if (!server_init(&srv, st, store)) {
        store_destroy(store);
        return SETTINGS_EX_OSERR;
    }
    /* before server_run: nothing is accepted yet */
    srv.tls = tls;
    srv.auth = auth;
    struct auth *brake = st->sasl ? auth_brake_new() : NULL;
    srv.sasl_brake = brake;
    if (pidfd >= 0 && !main_write_pidfile(pidfd))
        fprintf(stderr, "larder: could not write pidfile %s\n", st->pidfile);
    if (report >= 0) {
        char ok = 'k';
        *report_fd = -1;
        if (write(report, &ok, 1) != 1)
            return EXIT_FAILURE;
        close(report);
    }
    if (st->verbose > 0)
        fprintf(stderr, "larder %s: serving with %d threads, %zu MB\n", LARDER_VERSION,
                st->threads, st->maxbytes >> 20);

    server_run(&srv);
    server_free(&srv);
    /* Every orderly stop (SIGUSR1, shutdown graceful, and also SIGTERM and
     * shutdown, where memcached would start cold next time) records the
     * clock for a warm restart; the workers are stopped by now. */
    if (st->memory_file != NULL && !store_save(store))
        fprintf(stderr, "larder: [restart] cannot write the clean-stop record for %s\n",
                st->memory_file);
    auth_free(brake);
    store_destroy(store); /* joins the store's thread: no more events */
    logger_teardown();
    if (pidfd >= 0)
        main_remove_pidfile(st->pidfile, pidfd);
    return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
    struct settings st;
    settings_defaults(&st);
    int report = -1;
    int rc = main_run(&st, argc, argv, &report);
    if (report >= 0) {
        /* a daemon that failed to start: its parent exits with our code */
        char code = (char)(rc != 0 ? rc : EXIT_FAILURE);
        ssize_t n = write(report, &code, 1);
        (void)n;
        close(report);
    }
    settings_free(&st);
    return rc;
}
