/*
 * server: listeners, accept, connection limit, signals and shutdown; see
 * server.h.
 *
 * A refused connection (over -c) gets memcached's "ERROR Too many open
 * connections" line before it is closed, so clients see why; it is counted
 * in rejected_connections.  When the process runs out of descriptors, or
 * -c is reached under -o no_maxconns_fast (memcached's way before 1.5:
 * clients wait in the backlog), accepting pauses instead of spinning on the
 * listener; each pause counts in listen_disabled_num and its length in
 * time_in_listen_disabled_us.
 *
 * With MEMCACHED_PORT_FILENAME set, the ports bound (useful with -p -1,
 * "any free port") are written to that file as memcached does: lines
 * "TCP INET: PORT" / "UDP INET6: PORT", into NAME.lck renamed when done.
 */
#include "server/server.h"

#include "server/auth.h"

#include "server/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#define SERVER_ACCEPT_BATCH 64
#define SERVER_REJECT_MSG "ERROR Too many open connections\r\n"
#define SERVER_ACCEPT_PAUSE_MS 50
#define SERVER_FULL_POLL_MS 10 /* -c reached: how often to look again */

static void server_on_accept(evutil_socket_t fd, short what, void *arg);

/* Splits "host", "host:port", "[v6]:port" or a bare IPv6 address. */
static bool server_split_addr(const char *spec, int default_port, char *host, size_t hostlen,
                              char *port, size_t portlen) {
    const char *colon = strrchr(spec, ':');
    size_t n;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return false;
        n = (size_t)(close - spec - 1);
        colon = close[1] == ':' ? close + 1 : NULL;
        spec++;
    } else if (colon != NULL && strchr(spec, ':') != colon) {
        colon = NULL; /* bare IPv6 address: several colons, no port */
        n = strlen(spec);
    } else {
        n = colon ? (size_t)(colon - spec) : strlen(spec);
    }
    if (n == 0 || n >= hostlen)
        return false;
    memcpy(host, spec, n);
    host[n] = '\0';
    /* Digits and dots must make an IPv4 address: "300.1.1.1" is a typo,
     * not a host name to look up. */
    struct in_addr v4;
    if (strspn(host, "0123456789.") == n && inet_pton(AF_INET, host, &v4) != 1)
        return false;
    if (colon != NULL) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
            return false;
        snprintf(port, portlen, "%ld", p);
    } else {
        snprintf(port, portlen, "%d", default_port);
    }
    return true;
}

/* "tcp:HOST:PORT" for the address fd is bound to (the port the kernel
 * chose for -p -1), and its line in the port file. */
static void server_bound_name(struct server *srv, int fd, bool udp, char *name, size_t len) {
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof(ss);
    char h[64] = "?", p[8] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p),
                    NI_NUMERICHOST | NI_NUMERICSERV);
    bool v6 = ss.ss_family == AF_INET6;
    snprintf(name, len, v6 ? "%s6:[%s]:%s" : "%s:%s:%s", udp ? "udp" : "tcp", h, p);
    if (srv->port_file != NULL)
        fprintf(srv->port_file, "%s INET%s: %s\n", udp ? "UDP" : "TCP", v6 ? "6" : "", p);
}

/* memcached's -p -1 / -U -1: let the kernel pick. */
static int server_bind_port(int port) { return port < 0 ? 0 : port; }

static bool server_add_listener(struct server *srv, int fd, bool is_unix, const char *name) {
    struct listener *l = &srv->listeners[srv->nlisteners];
    l->fd = fd;
    l->is_unix = is_unix;
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, server_on_accept, srv);
    if (l->ev == NULL || event_add(l->ev, NULL) != 0) {
        close(fd);
        return false;
    }
    srv->nlisteners++;
    return true;
}

static bool server_listen_tcp(struct server *srv, const char *spec, bool tls) {
    char host[80], port[12];
    if (!server_split_addr(spec, server_bind_port(srv->settings->port), host, sizeof(host), port,
                           sizeof(port))) {
        fprintf(stderr, "larder: malformed listen address '%s'\n", spec);
        return false;
    }
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "larder: cannot resolve listen address '%s': %s\n", spec, gai_strerror(rc));
        return false;
    }
    bool ok = true;
    int bound = 0;
    for (struct addrinfo *a = ai; a != NULL && ok; a = a->ai_next) {
        if (srv->nlisteners >= SETTINGS_MAX_LISTEN)
            break;
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, srv->settings->backlog) != 0) {
            fprintf(stderr, "larder: cannot listen on %s port %s: %s\n", host, port, strerror(errno));
            close(fd);
            ok = false;
            break;
        }
        char name[96];
        server_bound_name(srv, fd, false, name, sizeof(name));
        ok = server_add_listener(srv, fd, false, name);
        if (ok)
            srv->listeners[srv->nlisteners - 1].tls = tls;
        bound++;
    }
    freeaddrinfo(ai);
    return ok && bound > 0;
}

/* UDP on the -l addresses, at the -U port.  Each worker gets a connection
 * on every socket, as memcached's threads do; a datagram goes to whichever
 * worker reads it first. */
static bool server_listen_udp(struct server *srv, const char *spec) {
    char host[80], port[12];
    int udp_port = server_bind_port(srv->settings->udp_port);
    if (!server_split_addr(spec, udp_port, host, sizeof(host), port, sizeof(port)))
        return false; /* server_listen_tcp has said why */
    snprintf(port, sizeof(port), "%d", udp_port);
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "larder: cannot resolve UDP address '%s': %s\n", spec, gai_strerror(rc));
        return false;
    }
    bool ok = true;
    for (struct addrinfo *a = ai; a != NULL && ok && srv->nudp < SETTINGS_MAX_LISTEN; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1, sndbuf = 4 << 20;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        /* a multi-datagram reply goes out at once: room for it */
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        if (a->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
            fprintf(stderr, "larder: cannot bind UDP %s port %s: %s\n", host, port, strerror(errno));
            close(fd);
            ok = false;
            break;
        }
        struct listener *l = &srv->udp[srv->nudp++];
        l->fd = fd;
        server_bound_name(srv, fd, true, l->name, sizeof(l->name));
    }
    freeaddrinfo(ai);
    return ok;
}

static bool server_listen_unix(struct server *srv, const char *path) {
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "larder: unix socket path too long: %s\n", path);
        return false;
    }
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    /* A stale socket from an earlier run goes; anything else at that path
     * is someone's file, and bind refuses it (as memcached does). */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    mode_t old = umask(~(mode_t)srv->settings->socket_mask & 0777);
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc != 0 || listen(fd, srv->settings->backlog) != 0) {
        fprintf(stderr, "larder: cannot listen on unix socket %s: %s\n", path, strerror(errno));
        close(fd);
        return false;
    }
    srv->socket_bound = true;
    char name[96];
    snprintf(name, sizeof(name), "unix:%s", path);
    return server_add_listener(srv, fd, true, name);
}

static void server_reject(struct server *srv, int fd) {
    ssize_t n = send(fd, SERVER_REJECT_MSG, sizeof(SERVER_REJECT_MSG) - 1, MSG_NOSIGNAL);
    (void)n;
    close(fd);
    __atomic_add_fetch(&srv->rejected_conns, 1, __ATOMIC_RELAXED);
}

static void server_full_poll(evutil_socket_t fd, short what, void *arg);

static bool server_is_full(const struct server *srv) {
    return !srv->settings->maxconns_fast &&
           __atomic_load_n(&srv->curr_conns, __ATOMIC_RELAXED) >= (uint32_t)srv->settings->maxconns;
}

static void server_after_ms(struct server *srv, unsigned ms) {
    struct timeval tv = {0, (long)ms * 1000};
    if (event_base_once(srv->base, -1, EV_TIMEOUT, server_full_poll, srv, &tv) != 0)
        server_full_poll(-1, 0, srv);
}

/* Resumes accepting once there is room again, adding the pause's length to
 * time_in_listen_disabled_us. */
static void server_full_poll(evutil_socket_t fd, short what, void *arg) {
    struct server *srv = arg;
    (void)fd;
    (void)what;
    if (server_is_full(srv)) {
        server_after_ms(srv, SERVER_FULL_POLL_MS);
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t us = (int64_t)(now.tv_sec - srv->disabled_since.tv_sec) * 1000000 +
                 (now.tv_nsec - srv->disabled_since.tv_nsec) / 1000;
    __atomic_add_fetch(&srv->time_in_listen_disabled_us, (uint64_t)(us > 0 ? us : 0),
                       __ATOMIC_RELAXED);
    __atomic_store_n(&srv->accepting, true, __ATOMIC_RELAXED);
    for (int i = 0; i < srv->nlisteners; i++)
        if (srv->listeners[i].fd >= 0)
            event_add(srv->listeners[i].ev, NULL);
}

/* The listeners are level-triggered: while accepting cannot go on, a
 * pending connection keeps them readable, so they leave the loop until
 * server_full_poll finds room. */
static void server_pause_accept(struct server *srv, unsigned ms) {
    if (!__atomic_load_n(&srv->accepting, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&srv->accepting, false, __ATOMIC_RELAXED);
    __atomic_add_fetch(&srv->listen_disabled_num, 1, __ATOMIC_RELAXED);
    clock_gettime(CLOCK_MONOTONIC, &srv->disabled_since);
    for (int i = 0; i < srv->nlisteners; i++)
        event_del(srv->listeners[i].ev);
    server_after_ms(srv, ms);
}

static void server_on_accept(evutil_socket_t lfd, short what, void *arg) {
    struct server *srv = arg;
    struct listener *l = NULL;
    (void)what;
    for (int i = 0; i < srv->nlisteners; i++)
        if (srv->listeners[i].fd == lfd)
            l = &srv->listeners[i];
    for (int i = 0; i < SERVER_ACCEPT_BATCH; i++) {
        if (server_is_full(srv)) {
            server_pause_accept(srv, SERVER_FULL_POLL_MS);
            return;
        }
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: the backlog keeps clients waiting
                 * until a connection closes; log once per burst. */
                if (__atomic_load_n(&srv->verbose, __ATOMIC_RELAXED) > 0)
                    fprintf(stderr, "larder: too many open files, accept paused\n");
                server_pause_accept(srv, SERVER_ACCEPT_PAUSE_MS);
            }
            return;
        }
        uint32_t curr = __atomic_load_n(&srv->curr_conns, __ATOMIC_RELAXED);
        if (curr >= (uint32_t)srv->settings->maxconns) {
            server_reject(srv, fd);
            continue;
        }
        if (!l->is_unix) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        }
        __atomic_add_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&srv->total_conns, 1, __ATOMIC_RELAXED);
        struct worker *w = &srv->workers[srv->next_worker];
        srv->next_worker = (srv->next_worker + 1) % srv->nworkers;
        if (!worker_dispatch(w, fd, l->name, l->is_unix)) {
            __atomic_add_fetch(&srv->malloc_fails, 1, __ATOMIC_RELAXED);
            close(fd);
            __atomic_sub_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED);
        }
    }
}

static void server_on_signal(evutil_socket_t sig, short what, void *arg) {
    struct server *srv = arg;
    (void)what;
    if (__atomic_load_n(&srv->verbose, __ATOMIC_RELAXED) > 0)
        fprintf(stderr, "larder: signal %d, shutting down\n", (int)sig);
    event_base_loopbreak(srv->base);
}

/* SIGHUP: read the -Y file again, as memcached; a bad file keeps the
 * entries in use. */
static void server_on_hup(evutil_socket_t sig, short what, void *arg) {
    struct server *srv = arg;
    (void)sig, (void)what;
    if (srv->auth && auth_reload(srv->auth) != AUTH_LOAD_OK)
        fprintf(stderr, "larder: cannot reload authfile %s; keeping the old entries\n",
                srv->settings->auth_file);
}

static void server_on_shutdown(evutil_socket_t fd, short what, void *arg) {
    struct server *srv = arg;
    char buf[16];
    (void)what;
    ssize_t n = read(fd, buf, sizeof(buf));
    (void)n;
    event_base_loopbreak(srv->base);
}

void server_request_shutdown(struct server *srv) {
    char b = 'q';
    ssize_t n = write(srv->shutdown_wr, &b, 1);
    (void)n;
}

bool server_listener_tls(const struct server *srv, const char *listen_name) {
    for (int i = 0; i < srv->nlisteners; i++)
        if (srv->listeners[i].name == listen_name)
            return srv->listeners[i].tls;
    return false;
}

static bool server_open_inet(struct server *srv) {
    struct settings *st = srv->settings;
    for (int i = 0; i < st->nlisten && st->port != 0; i++)
        if (!server_listen_tcp(srv, st->listen[i], st->ssl_enabled && !st->listen_notls[i]))
            return false;
    for (int i = 0; i < st->nlisten && st->udp_port != 0; i++)
        if (!server_listen_udp(srv, st->listen[i]))
            return false;
    return true;
}

static bool server_open_listeners(struct server *srv) {
    struct settings *st = srv->settings;
    if (st->socket_path != NULL)
        return server_listen_unix(srv, st->socket_path); /* as memcached: -s disables TCP */
    const char *name = getenv("MEMCACHED_PORT_FILENAME");
    char tmp[4096];
    if (name != NULL && (size_t)snprintf(tmp, sizeof(tmp), "%s.lck", name) < sizeof(tmp)) {
        srv->port_file = fopen(tmp, "a");
        if (srv->port_file == NULL)
            fprintf(stderr, "larder: failed to open \"%s\": %s\n", tmp, strerror(errno));
    }
    bool ok = server_open_inet(srv);
    if (srv->port_file != NULL) {
        /* written whole, then renamed: a reader never sees half of it */
        if (fclose(srv->port_file) == 0 && ok)
            rename(tmp, name);
        else
            unlink(tmp);
        srv->port_file = NULL;
    }
    return ok;
}

/* Descriptors open now, before any client: memcached's reserved_fds is its
 * own estimate of the same (listeners, pipes, logs). */
static uint32_t server_count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    uint32_t n = 0;
    if (d == NULL)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n > 0 ? n - 1 : 0; /* less the directory's own */
}

static bool server_init_signals(struct server *srv) {
    static const int sigs[3] = {SIGTERM, SIGINT, SIGUSR1};
    int fds[2];
    signal(SIGPIPE, SIG_IGN);
    srv->hup_ev = evsignal_new(srv->base, SIGHUP, server_on_hup, srv);
    if (srv->hup_ev == NULL || event_add(srv->hup_ev, NULL) != 0)
        return false;
    for (int i = 0; i < 3; i++) {
        srv->sig_ev[i] = evsignal_new(srv->base, sigs[i], server_on_signal, srv);
        if (srv->sig_ev[i] == NULL || event_add(srv->sig_ev[i], NULL) != 0)
            return false;
    }
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return false;
    srv->shutdown_rd = fds[0];
    srv->shutdown_wr = fds[1];
    srv->shutdown_ev = event_new(srv->base, fds[0], EV_READ | EV_PERSIST, server_on_shutdown, srv);
    return srv->shutdown_ev != NULL && event_add(srv->shutdown_ev, NULL) == 0;
}

bool server_init(struct server *srv, struct settings *settings, struct store *store) {
    memset(srv, 0, sizeof(*srv));
    srv->settings = settings;
    srv->store = store;
    srv->verbose = settings->verbose;
    srv->shutdown_rd = srv->shutdown_wr = -1;
    budget_init(&srv->conn_mem, settings_conn_mem_limit(settings));
    budget_init(&srv->uploads, settings_upload_limit(settings));
    srv->accepting = true;
    srv->base = event_base_new();
    if (srv->base == NULL || !server_init_signals(srv) || !server_open_listeners(srv)) {
        server_free(srv); /* no worker yet: the sockets and events go */
        return false;
    }
    srv->nworkers = settings->threads;
    srv->workers = calloc((size_t)srv->nworkers, sizeof(*srv->workers));
    if (srv->workers == NULL)
        return false;
    for (int i = 0; i < srv->nworkers; i++) {
        if (!worker_init(&srv->workers[i], srv, i)) {
            fprintf(stderr, "larder: cannot set up worker thread %d\n", i);
            return false;
        }
    }
    for (int i = 0; i < srv->nworkers; i++) {
        for (int u = 0; u < srv->nudp; u++) {
            if (conn_new_udp(&srv->workers[i], srv->udp[u].fd, srv->udp[u].name) == NULL) {
                fprintf(stderr, "larder: cannot set up UDP for worker thread %d\n", i);
                return false;
            }
        }
    }
    for (int i = 0; i < srv->nworkers; i++) {
        if (!worker_start(&srv->workers[i])) {
            fprintf(stderr, "larder: cannot start worker thread %d\n", i);
            srv->nworkers = i; /* so that server_free joins only those running */
            return false;
        }
    }
    srv->reserved_fds = server_count_fds();
    return true;
}

void server_run(struct server *srv) {
    event_base_dispatch(srv->base);
    /* Stop accepting; server_free closes the sockets once no worker can
     * be reading the listener table for `stats conns`. */
    for (int i = 0; i < srv->nlisteners; i++)
        event_del(srv->listeners[i].ev);
}

void server_free(struct server *srv) {
    for (int i = 0; i < srv->nworkers; i++)
        worker_stop(&srv->workers[i]);
    for (int i = 0; i < srv->nworkers; i++)
        worker_join(&srv->workers[i]);
    if (srv->workers != NULL)
        for (int i = 0; i < srv->settings->threads; i++)
            worker_free(&srv->workers[i]);
    free(srv->workers);
    for (int i = 0; i < srv->nlisteners; i++) {
        close(srv->listeners[i].fd);
        event_free(srv->listeners[i].ev);
    }
    for (int i = 0; i < srv->nudp; i++)
        close(srv->udp[i].fd);
    if (srv->socket_bound)
        unlink(srv->settings->socket_path); /* ours: we bound it */
    for (int i = 0; i < 3; i++)
        if (srv->sig_ev[i])
            event_free(srv->sig_ev[i]);
    if (srv->hup_ev)
        event_free(srv->hup_ev);
    if (srv->shutdown_ev)
        event_free(srv->shutdown_ev);
    if (srv->shutdown_rd >= 0) {
        close(srv->shutdown_rd);
        close(srv->shutdown_wr);
    }
    if (srv->base)
        event_base_free(srv->base);
}
