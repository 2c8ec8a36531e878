/*
 * worker: event-loop threads; see worker.h.
 *
 * The notify pipe carries one byte per message: 'c' means "a connection is
 * waiting in the queue", 's' means "stop".  A once-a-second timer closes
 * connections idle past -o idle_timeout, as memcached's idle kicker does.
 */
#include "server/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/logger.h"
#include "server/server.h"
#include "server/tls.h"

struct pending_conn {
    int fd;
    bool is_unix;
    const char *listen_name;
    struct pending_conn *next;
};

/* A new connection, over TLS when its listener says so (-Z, not notls). */
static bool worker_open_conn(struct worker *w, const struct pending_conn *p) {
    struct conn *c = conn_new(w, p->fd, p->listen_name, p->is_unix);
    if (c == NULL)
        return false;
    struct server *srv = w->srv;
    if (!p->is_unix && srv->tls && server_listener_tls(srv, p->listen_name)) {
        struct tls_conn *tc = tls_conn_new(srv->tls, p->fd);
        if (tc == NULL) {
            conn_close(c); /* closes the socket and counts it gone */
            return true;
        }
        conn_set_transport(c, &tls_transport, tc);
    }
    return true;
}

static void worker_take_queue(struct worker *w) {
    pthread_mutex_lock(&w->lock);
    struct pending_conn *p = w->queue;
    w->queue = NULL;
    pthread_mutex_unlock(&w->lock);
    while (p != NULL) {
        struct pending_conn *next = p->next;
        bool made = !w->stopping && worker_open_conn(w, p);
        if (!made) {
            /* conn_new fails only when memory (or an event) cannot be had */
            if (!w->stopping)
                __atomic_add_fetch(&w->srv->malloc_fails, 1, __ATOMIC_RELAXED);
            close(p->fd);
            __atomic_sub_fetch(&w->srv->curr_conns, 1, __ATOMIC_RELAXED);
        }
        free(p);
        p = next;
    }
}

static void worker_on_notify(evutil_socket_t fd, short what, void *arg) {
    struct worker *w = arg;
    char buf[64];
    (void)what;
    ssize_t n = read(fd, buf, sizeof(buf));
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == 's') {
            w->stopping = true;
            conn_close_all(w);
            event_base_loopbreak(w->base);
            return;
        }
    }
    worker_take_queue(w);
}

/* Once a second: idle connections give back their buffers, and those that
 * have waited for a command longer than the idle timeout are closed (a line
 * or a value that trickles in counts as idle; see conn_kick_idle). */
static void worker_on_timer(evutil_socket_t fd, short what, void *arg) {
    struct worker *w = arg;
    unsigned timeout = w->srv->settings->idle_timeout;
    (void)fd;
    (void)what;
    conn_trim_idle(w, clock_now());
    if (timeout == 0)
        return;
    unsigned kicked = conn_kick_idle(w, clock_now(), timeout);
    if (kicked > 0)
        STAT_ADD(w, idle_kicks, kicked);
}

bool worker_init(struct worker *w, struct server *srv, int id) {
    int fds[2];
    memset(w, 0, sizeof(*w));
    w->srv = srv;
    w->id = id;
    w->notify_rd = w->notify_wr = -1;
    pthread_mutex_init(&w->lock, NULL);
    w->base = event_base_new();
    if (w->base == NULL || pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return false;
    w->notify_rd = fds[0];
    w->notify_wr = fds[1];
    w->notify_ev = event_new(w->base, w->notify_rd, EV_READ | EV_PERSIST, worker_on_notify, w);
    w->timer_ev = event_new(w->base, -1, EV_PERSIST, worker_on_timer, w);
    struct timeval second = {1, 0};
    return w->notify_ev != NULL && w->timer_ev != NULL && event_add(w->notify_ev, NULL) == 0 &&
           event_add(w->timer_ev, &second) == 0;
}

/* One batch of ready events at a time; between batches the worker may give
 * its core to the clients that share it (yield.h says when), so that they
 * need not wait for the scheduler tick. */
static void *worker_main(void *arg) {
    struct worker *w = arg;
    bool yield = w->srv->settings->worker_yield;
    while (!w->stopping) {
        w->batch_events = 0;
        uint64_t t_call = yield ? yield_now_ns() : 0;
        if (event_base_loop(w->base, EVLOOP_ONCE) != 0)
            break;
        if (!yield || w->batch_events == 0)
            continue;
        uint64_t t_end = yield_now_ns();
        if (yield_due(&w->yield, t_call, w->batch_first, w->batch_events, t_end)) {
            sched_yield();
            STAT_INCR(w, worker_yields);
            yield_done(&w->yield, yield_now_ns());
        }
    }
    return NULL;
}

bool worker_start(struct worker *w) {
    return pthread_create(&w->tid, NULL, worker_main, w) == 0;
}

static void worker_notify(struct worker *w, char what) {
    /* A full pipe already wakes the worker, which drains the whole queue,
     * so a lost 'c' loses nothing; a stop must get through, so it waits. */
    while (write(w->notify_wr, &what, 1) < 0) {
        if (errno == EAGAIN && what == 's')
            usleep(1000);
        else if (errno != EINTR)
            return;
    }
}

bool worker_dispatch(struct worker *w, int fd, const char *listen_name, bool is_unix) {
    struct pending_conn *p = malloc(sizeof(*p));
    if (p == NULL)
        return false;
    *p = (struct pending_conn){.fd = fd, .is_unix = is_unix, .listen_name = listen_name};
    pthread_mutex_lock(&w->lock);
    p->next = w->queue;
    w->queue = p;
    pthread_mutex_unlock(&w->lock);
    worker_notify(w, 'c');
    return true;
}

void worker_stop(struct worker *w) { worker_notify(w, 's'); }

void worker_join(struct worker *w) { pthread_join(w->tid, NULL); }

void worker_free(struct worker *w) {
    worker_take_queue(w); /* closes sockets handed over after the stop */
    while (w->nspare > 0)
        free(w->spare_bufs[--w->nspare]);
    if (w->notify_ev)
        event_free(w->notify_ev);
    if (w->timer_ev)
        event_free(w->timer_ev);
    if (w->base)
        event_base_free(w->base);
    if (w->notify_rd >= 0)
        close(w->notify_rd);
    if (w->notify_wr >= 0)
        close(w->notify_wr);
    pthread_mutex_destroy(&w->lock);
}

void worker_stats_reset(struct worker *w) {
    struct worker_stats *s = &w->stats;
    uint64_t *fields[] = {&s->cmd_get,    &s->cmd_set,       &s->cmd_flush,   &s->cmd_touch,
                          &s->cmd_meta,   &s->bytes_read,    &s->bytes_written,
                          &s->conn_yields, &s->idle_kicks, &s->worker_yields, &s->udp_received,
                          &s->udp_sent,    &s->udp_dropped,   &s->read_buf_oom,
                          &s->response_obj_oom};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        __atomic_store_n(fields[i], 0, __ATOMIC_RELAXED);
}
