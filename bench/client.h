/*
 * client: one connection of the load generator, driven by libevent.
 *
 * A client keeps up to `depth` requests in flight.  Whenever replies arrive
 * it parses every complete one in its receive buffer, in place, then tops the
 * pipeline up again and sends all the new requests with one write(): one
 * read and one write per batch, whatever the pipeline depth, and no
 * allocation per request (buffers and the in-flight ring are sized once).
 *
 * Every reply is checked against the request it answers: a value must be
 * the one payload_value() makes for that key, a multi-get must return only
 * keys it asked for, in order, and a set must be acknowledged.  A reply that
 * does not fit loses the stream, so the connection is closed and counted;
 * nothing is skipped silently.
 *
 * Clients of one thread share a client_ctx: settings, random state, the
 * tally they count into and the phase they are in.  Nothing in it is shared
 * across threads except the stop flag.
 */
#ifndef LARDER_BENCH_CLIENT_H
#define LARDER_BENCH_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dist.h"
#include "opts.h"
#include "payload.h"
#include "tally.h"

struct event_base;

enum client_phase {
    CLIENT_PREFILL, /* set each key of the client's slice once */
    CLIENT_RUN,     /* the configured mix until told to stop */
    CLIENT_SCAN,    /* get each key of the client's slice once */
};

/* Pipeline depth and keys per get used for prefill and scan: deep enough
 * that filling memory many times over takes seconds, not minutes. */
#define CLIENT_BULK_DEPTH 32
#define CLIENT_SCAN_BATCH 32

struct client_ctx {
    const struct load_opts *opts;
    const struct payload *payload;
    struct event_base *base;
    struct dist_rng rng;
    struct dist_keys keys[OPTS_MAX_SERVERS]; /* over each server's share */
    struct tally *tally;
    enum client_phase phase;
    atomic_bool *stop;      /* set by the reporter when the run is over */
    atomic_uint *live;      /* open connections of every thread */
    unsigned busy;          /* clients still working in this phase */
    uint64_t completions;   /* requests answered, for stall detection */
};

/* Sets up ctx for one thread (keys per server from opts). */
void client_ctx_init(struct client_ctx *ctx, const struct load_opts *opts,
                     const struct payload *payload, struct event_base *base, uint64_t seed);

/* How many keys server `server` owns: keys are dealt round-robin. */
uint64_t client_share(const struct load_opts *opts, unsigned server);

struct client;

/* Connects to opts->server[server].  The client prefills and scans the
 * keys [slice_lo, slice_hi) of that server's share.  Returns NULL only when
 * out of memory; a failed connect gives a dead client (counted). */
struct client *client_new(struct client_ctx *ctx, unsigned server, uint64_t slice_lo,
                          uint64_t slice_hi);
void client_free(struct client *c);

/* Starts ctx->phase on this client; counts it in ctx->busy while it works.
 * When the last busy client of the thread finishes, the event loop is told
 * to stop. */
void client_start(struct client *c);

/* Gives up on a client that stalled: its in-flight requests are counted as
 * timeouts and the connection is closed. */
void client_abandon(struct client *c);

bool client_is_busy(const struct client *c);

/* Sends flush_all to one server over a connection of its own and waits for
 * OK (timeout_s at most).  False, with a message on stderr, otherwise. */
bool client_flush_server(const struct opts_server *s, double timeout_s);

#endif
