/*
 * binary: executes binary-protocol requests against the store and formats
 * their replies, as memcached 1.6's proto_bin.c does: the same status codes
 * and error texts, the same quiet rules (a quiet command answers errors
 * only; a quiet get also hides its misses), and the same hang-ups (bad
 * magic, lengths that do not fit the opcode, a key over 250 bytes).
 * Framing (how many bytes make a request) is proto/binary.h's.
 */
#ifndef LARDER_SERVER_BINARY_H
#define LARDER_SERVER_BINARY_H

#include <stddef.h>

#include "proto/binary.h"
#include "server/engine.h"

/* bin_run(), the binary front end's entry, is declared in engine.h. */


/* One STAT reply packet (key and value), or the terminating empty one when
 * nkey is 0, for the request being answered. */
void bin_stat_packet(struct engine_client *c, const char *key, size_t nkey, const char *val, size_t nval);

#endif
