/*
 * logger: memcached's `watch` streams and the -vv / -vvv trace on stderr.
 *
 * A watcher is a client connection that asked to receive log lines (watch
 * fetchers, mutations, evictions, connevents, sysevents...).  Log points in
 * the workers format a line into their own bounded ring, under a lock that
 * only the logger thread ever contends; the logger thread drains the rings
 * into each watcher's bounded buffer and writes it to the socket.  Nothing
 * waits on a watcher: a full ring drops the line (log_worker_dropped), a
 * full watcher buffer skips it and later prints memcached's "skipped=N"
 * line (log_watcher_skipped), so a watcher that never reads costs at most
 * its buffer.  With no watcher, a log point costs one relaxed load.
 *
 * Line formats are memcached 1.6.18's (logger.c), so tools that parse
 * `watch` output work unchanged.
 */
#ifndef LARDER_LOGGER_H
#define LARDER_LOGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"
#include "storage/store.h"

struct server;
struct engine_client; /* engine.h, which includes this file */

/* Bytes a watcher may have waiting before lines are skipped (memcached's
 * default watcher_logbuf_size). */
#define LOGGER_WATCHER_BUF (256u * 1024)

/* The streams, with memcached's bit values. */
enum logger_stream {
    LOGGER_SYSEVENTS = 1u << 1,
    LOGGER_FETCHERS = 1u << 2,
    LOGGER_MUTATIONS = 1u << 3,
    LOGGER_CONNEVENTS = 1u << 5,
    LOGGER_EVICTIONS = 1u << 6,
    LOGGER_RAWCMDS = 1u << 9,
    LOGGER_PROXYREQS = 1u << 10,
    LOGGER_PROXYEVENTS = 1u << 11,
    LOGGER_PROXYUSER = 1u << 12,
};

/* Why a connection closed, as connevents reports it. */
enum logger_close_reason {
    LOGGER_CLOSE_ERROR,
    LOGGER_CLOSE_NORMAL,
    LOGGER_CLOSE_IDLE,
    LOGGER_CLOSE_SHUTDOWN,
};

/* What a fetch found, as item_get reports it. */
enum logger_found { LOGGER_NOT_FOUND, LOGGER_FOUND, LOGGER_FLUSHED, LOGGER_EXPIRED };

/* The union of what watchers want, plus the -v level in the top bits:
 * read (relaxed) by every log point before doing anything. */
extern unsigned logger_wanted;
#define LOGGER_VERBOSE_SHIFT 24

static inline bool logger_wants(unsigned streams) {
    return __atomic_load_n(&logger_wanted, __ATOMIC_RELAXED) & streams;
}
static inline int logger_verbose(void) {
    return (int)(__atomic_load_n(&logger_wanted, __ATOMIC_RELAXED) >> LOGGER_VERBOSE_SHIFT);
}

/* Starts the logger thread and hooks the store's events, before the server
 * starts its workers (srv is kept for `verbosity`); false on failure.
 * logger_teardown, once the workers and the store are gone (nothing logs
 * any more), stops it and closes the watchers. */
struct settings;
bool logger_setup(const struct settings *st, struct store *store, struct server *srv);
void logger_teardown(void);
/* verbosity N and -v: the stderr trace level. */
void logger_set_verbose(int level);

/* Runs "watch [streams...]" (the reply, or the hand-over of the socket). */
void logger_watch_command(struct engine_client *c, const struct proto_request *req);

/* Log points.  The per-request ones are inline checks of logger_wanted in
 * front of the logger_log_* functions that do the work, so that a server
 * nobody watches pays a load and a branch, not a call. */
void logger_log_fetch(struct engine_client *c, const char *key, size_t nkey, enum logger_found found,
                      size_t nbytes);
enum store_status logger_log_store_link(struct engine_client *c, struct store *s, struct item *it,
                                        enum store_mode mode, uint64_t cas_in, uint64_t *cas_out);
void logger_log_line(struct engine_client *c, char dir, const char *what, const char *line, size_t len);

static inline void logger_fetch(struct engine_client *c, const char *key, size_t nkey,
                                enum logger_found found, size_t nbytes) {
    if (logger_wants(LOGGER_FETCHERS))
        logger_log_fetch(c, key, nkey, found, nbytes);
}

/* A store: the item is read before store_link consumes it, the status after:
 * this wraps store_link (and logs the lookup memcached makes first). */
static inline enum store_status logger_store_link(struct engine_client *c, struct store *s, struct item *it,
                                                  enum store_mode mode, uint64_t cas_in,
                                                  uint64_t *cas_out) {
    if (logger_wants(LOGGER_FETCHERS | LOGGER_MUTATIONS))
        return logger_log_store_link(c, s, it, mode, cas_in, cas_out);
    return store_link(s, it, mode, cas_in, cas_out);
}

/* -vv: a command line received ("<FD line"), a reply line sent (">FD line",
 * ">FD NOREPLY line"), a classic get's hit (">FD sending key K"). */
static inline void logger_command(struct engine_client *c, const char *line, size_t len) {
    if (logger_verbose() > 1)
        logger_log_line(c, '<', "", line, len);
}
static inline void logger_reply(struct engine_client *c, const char *line, bool noreply) {
    if (logger_verbose() > 1)
        logger_log_line(c, '>', noreply ? "NOREPLY " : "", line, strlen(line));
}
static inline void logger_sending_key(struct engine_client *c, const char *key, size_t nkey) {
    if (logger_verbose() > 1)
        logger_log_line(c, '>', "sending key ", key, nkey);
}

void logger_conn_new(struct engine_client *c);
void logger_conn_close(struct engine_client *c, enum logger_close_reason why);

/* For `stats`. */
struct logger_stats {
    uint64_t watchers, worker_dropped, worker_written, watcher_skipped, watcher_sent;
};
void logger_stats(struct logger_stats *out);

#endif
