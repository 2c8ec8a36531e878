/*
 * cmd: the text front end: frames command lines, executes the classic ones
 * against the store (meta ones through meta.h) and formats the replies into
 * the client's output.  The link between proto (bytes to
 * requests) and storage (requests to items).
 */
#ifndef LARDER_CMD_H
#define LARDER_CMD_H

#include "proto/proto.h"
#include "server/engine.h"

/* The text front end (engine.h): runs one command line if a whole one is in
 * buf[0, len).  A storage command asks for its data block (ENGINE_NEED_VALUE,
 * or ENGINE_SWALLOW after an error); memcached's rule for lines that never
 * end (too long and not a retrieval) closes the connection. */
enum engine_result cmd_run(struct engine_client *c, const char *buf, size_t len, size_t *used);

/* Allocates the item a text storage command (classic or ms) reads its
 * value into.  On failure it answers memcached's SERVER_ERROR, skips the
 * value, drops the key's old value when drop_old, and returns NULL. */
struct item *cmd_alloc_value(struct engine_client *c, const char *key, size_t nkey, uint32_t flags,
                             int64_t exptime, int64_t vlen, bool drop_old);


#endif
