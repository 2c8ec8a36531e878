/*
 * meta: executes the meta commands (mg ms md ma mn me) against the store and
 * formats their replies, to the byte as memcached 1.6.18 does.  Parsing of
 * the flags is proto/meta.h's job; the item state behind stale-while-
 * revalidate (ITEM_STALE, ITEM_TOKEN) is the store's (store_get with meta options, &c.).
 */
#ifndef LARDER_SERVER_META_H
#define LARDER_SERVER_META_H

#include <stdbool.h>

#include "proto/proto.h"
#include "server/engine.h"

/* Runs one meta command line (req->cmd == PROTO_CMD_META).  An ms
 * asks for its data block (ENGINE_NEED_VALUE, or ENGINE_SWALLOW after an
 * error). */
void meta_execute(struct engine_client *c, struct proto_request *req);



#endif
