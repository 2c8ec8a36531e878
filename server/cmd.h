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
#include "storage/store.h"

/* cmd_run(), the text front end's entry, is declared in engine.h. */

/* memcached's SERVER_ERROR for a text store that got no item (st is
 * STORE_TOO_LARGE or STORE_NO_MEMORY): classic and meta say the same. */
void cmd_reply_no_item(struct engine_client *c, enum store_status st);

#endif
