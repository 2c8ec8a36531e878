/*
 * cmd: executes parsed requests against the store and formats the replies
 * into the connection's output buffer.  The link between proto (bytes to
 * requests) and storage (requests to items).
 */
#ifndef LARDER_CMD_H
#define LARDER_CMD_H

#include "proto/proto.h"
#include "server/conn.h"

/* Runs one command line.  A storage command leaves the connection in
 * CONN_NREAD (or CONN_SWALLOW) to receive its data block. */
void cmd_execute(struct conn *c, struct proto_request *req);

/* Allocates the item a text storage command (classic or ms) reads its
 * value into.  On failure it answers memcached's SERVER_ERROR, skips the
 * value, drops the key's old value when drop_old, and returns NULL. */
struct item *cmd_alloc_value(struct conn *c, const char *key, size_t nkey, uint32_t flags,
                             int64_t exptime, int64_t vlen, bool drop_old);

/* The data block of a storage command has arrived, followed by crlf[2]. */
void cmd_complete_nread(struct conn *c);

#endif
