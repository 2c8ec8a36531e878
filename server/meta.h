/*
 * meta: executes the meta commands (mg ms md ma mn me) against the store and
 * formats their replies, to the byte as memcached 1.6.18 does.  Parsing of
 * the flags is proto/meta.h's job; the item state behind stale-while-
 * revalidate (ITEM_STALE, ITEM_TOKEN) is the store's (store_mget & co).
 */
#ifndef LARDER_SERVER_META_H
#define LARDER_SERVER_META_H

#include <stdbool.h>

#include "proto/proto.h"
#include "server/conn.h"

/* Runs one meta command line (req->cmd == PROTO_CMD_META).  An ms leaves the
 * connection in CONN_NREAD (or CONN_SWALLOW after an error). */
void meta_execute(struct conn *c, struct proto_request *req);


/* The data block of an ms has arrived, followed by c->crlf. */
void meta_complete_nread(struct conn *c);

#endif
