/*
 * larder-load: an event-driven load generator for memcached-protocol
 * servers.  See bench/README.md for usage.
 *
 * main() parses options, starts the worker threads and then acts as the
 * reporter: it opens each phase, and during the measured run wakes a quarter
 * second after each second boundary to gather what the threads handed over,
 * prints the second, and finally tells the threads to stop and drain.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "opts.h"
#include "payload.h"
#include "report.h"
#include "worker.h"

/* The reporter reads a second this long after it ends, by when every
 * thread's tick (every 100 ms) has handed it over. */
#define MAIN_COLLECT_DELAY_NS 250000000u

struct main_run {
    struct load_opts opts;
    struct payload payload;
    struct worker_plan plan;
    struct worker **workers;
    FILE *csv;
    struct tally phase_tally[WORKER_MAX_PHASES];
    double phase_secs[WORKER_MAX_PHASES];
    struct tally second; /* scratch for one second of the run */
    bool all_lost;       /* every connection closed: the run stopped early */
};

static volatile sig_atomic_t main_interrupted;

static void main_on_signal(int sig) {
    (void)sig;
    main_interrupted = 1;
}

/* Sleeps until monotonic time `at`; returns early if interrupted. */
static void main_sleep_until(uint64_t at) {
    struct timespec ts = {(time_t)(at / 1000000000u), (long)(at % 1000000000u)};
    while (!main_interrupted && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void main_collect(struct main_run *m, struct tally *into) {
    for (unsigned i = 0; i < m->opts.threads; i++)
        worker_collect(m->workers[i], into);
}

/* With no connection left there is nothing to measure: say so, and end the
 * run now rather than idle to its end. */
static bool main_all_lost(struct main_run *m) {
    if (m->all_lost || atomic_load(&m->plan.live) > 0)
        return m->all_lost;
    fprintf(stderr, "larder-load: every connection is closed: stopping with an error\n");
    m->all_lost = true;
    return true;
}

/* The measured run: a line per second until the duration is up.  Returns
 * when the threads were told to stop: the run's rate is over the time up to
 * then, not over the drain of the last replies and the last collection. */
static uint64_t main_run_seconds(struct main_run *m, uint64_t t0, struct tally *total) {
    uint64_t stop_at = t0 + (uint64_t)(m->opts.duration * 1e9);
    unsigned full = (unsigned)m->opts.duration;
    bool stopped = false;
    uint64_t stopped_at = 0;
    if (!m->opts.quiet)
        report_second_header(stdout);
    for (unsigned k = 1; k <= full && !main_interrupted && !main_all_lost(m); k++) {
        uint64_t at = t0 + (uint64_t)k * 1000000000u + MAIN_COLLECT_DELAY_NS;
        if (!stopped && stop_at <= at) {
            main_sleep_until(stop_at);
            atomic_store(&m->plan.stop, true);
            stopped = true;
            stopped_at = worker_now_ns();
        }
        main_sleep_until(at);
        tally_reset(&m->second);
        main_collect(m, &m->second);
        if (!m->opts.quiet)
            report_second(stdout, k, 1.0, &m->second);
        if (m->csv)
            report_csv_row(m->csv, k, 1.0, &m->second);
        tally_merge(total, &m->second);
    }
    if (!stopped && !m->all_lost)
        main_sleep_until(stop_at);
    atomic_store(&m->plan.stop, true);
    return stopped ? stopped_at : worker_now_ns();
}

static const char *main_phase_name(enum client_phase p) {
    return p == CLIENT_PREFILL ? "prefill" : p == CLIENT_RUN ? "run" : "scan";
}

static void main_phase(struct main_run *m, unsigned i) {
    enum client_phase phase = m->plan.phase[i];
    struct tally *total = &m->phase_tally[i];
    uint64_t t0 = worker_now_ns();
    atomic_store(&m->plan.stop, false);
    atomic_store(&m->plan.phase_start_ns, t0);
    pthread_barrier_wait(&m->plan.barrier);
    uint64_t end = 0;
    if (phase == CLIENT_RUN)
        end = main_run_seconds(m, t0, total);
    pthread_barrier_wait(&m->plan.barrier);
    m->phase_secs[i] = (double)((end ? end : worker_now_ns()) - t0) / 1e9;
    main_collect(m, total);
    report_phase(stdout, main_phase_name(phase), m->phase_secs[i], total);
    fflush(stdout);
}

static void main_plan(struct main_run *m) {
    struct worker_plan *p = &m->plan;
    if (m->opts.prefill)
        p->phase[p->nphases++] = CLIENT_PREFILL;
    if (m->opts.duration > 0)
        p->phase[p->nphases++] = CLIENT_RUN;
    if (m->opts.scan)
        p->phase[p->nphases++] = CLIENT_SCAN;
    atomic_init(&p->stop, false);
    atomic_init(&p->live, 0);
    atomic_init(&p->phase_start_ns, 0);
    pthread_barrier_init(&p->barrier, NULL, m->opts.threads + 1);
}

/* Threads are created with SIGINT blocked so that the reporter, which
 * unblocks it, is the one interrupted. */
static bool main_start_workers(struct main_run *m) {
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    bool ok = true;
    for (unsigned i = 0; i < m->opts.threads && ok; i++)
        ok = worker_start(m->workers[i]) == WORKER_OK;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ok;
}

static bool main_setup(struct main_run *m) {
    const struct load_opts *o = &m->opts;
    if (payload_init(&m->payload, o->key_size, o->keys, o->value_size.max) != PAYLOAD_OK) {
        fprintf(stderr, "larder-load: key size %u is too small for %llu keys\n", o->key_size,
                (unsigned long long)o->keys);
        return false;
    }
    if (o->csv_path) {
        m->csv = fopen(o->csv_path, "w");
        if (!m->csv) {
            fprintf(stderr, "larder-load: %s: %s\n", o->csv_path, strerror(errno));
            return false;
        }
        report_csv_header(m->csv);
    }
    for (unsigned i = 0; o->flush && i < o->nservers; i++)
        if (!client_flush_server(&o->server[i], o->stall_timeout))
            return false;
    main_plan(m);
    m->workers = calloc(o->threads, sizeof(*m->workers));
    if (!m->workers)
        return false;
    for (unsigned i = 0; i < o->threads; i++) {
        if (worker_create(&m->workers[i], i, o->threads, o, &m->payload, &m->plan) != WORKER_OK) {
            fprintf(stderr, "larder-load: out of memory\n");
            return false;
        }
    }
    return main_start_workers(m);
}

static void main_teardown(struct main_run *m) {
    for (unsigned i = 0; m->workers && i < m->opts.threads; i++)
        worker_destroy(m->workers[i]);
    free(m->workers);
    if (m->csv)
        fclose(m->csv);
    payload_free(&m->payload);
}

/* Totals by phase for the RESULT line; returns the error count. */
static uint64_t main_summary(struct main_run *m) {
    static struct tally none, all;
    struct tally *run = &none, *prefill = &none, *scan = &none;
    double run_secs = 0;
    tally_reset(&none);
    tally_reset(&all);
    for (unsigned i = 0; i < m->plan.nphases; i++) {
        struct tally *t = &m->phase_tally[i];
        tally_merge(&all, t);
        if (m->plan.phase[i] == CLIENT_RUN) {
            run = t;
            run_secs = m->phase_secs[i];
        } else if (m->plan.phase[i] == CLIENT_PREFILL) {
            prefill = t;
        } else {
            scan = t;
        }
    }
    if (m->opts.kv)
        report_kv(stdout, run, run_secs, prefill, scan, &all, m->all_lost);
    return tally_errors(&all) + m->all_lost;
}

int main(int argc, char **argv) {
    static struct main_run m;
    switch (opts_parse(&m.opts, argc, argv)) {
    case OPTS_OK: break;
    case OPTS_EXIT_OK: return 0;
    case OPTS_ERROR: return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = main_on_signal, .sa_flags = SA_RESETHAND};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (unsigned i = 0; i < WORKER_MAX_PHASES; i++)
        tally_reset(&m.phase_tally[i]);

    char desc[512];
    opts_describe(&m.opts, desc, sizeof(desc));
    printf("larder-load: %s\n", desc);
    if (!main_setup(&m)) {
        main_teardown(&m);
        return 2;
    }
    for (unsigned i = 0; i < m.plan.nphases; i++) {
        main_all_lost(&m);
        main_phase(&m, i); /* a phase with no connection ends at once */
    }
    for (unsigned i = 0; i < m.opts.threads; i++)
        worker_join(m.workers[i]);
    uint64_t errors = main_summary(&m);
    main_teardown(&m);
    return errors ? 1 : 0;
}
