/*
 * ops: the operator's commands on memory and expiry, "slabs reassign",
 * "slabs automove" and "lru_crawler ...", with memcached 1.6's replies.
 * The work itself is the store's (storage/slab.c moves pages, the store's
 * maintenance thread crawls); this module parses and answers.
 */
#ifndef LARDER_OPS_H
#define LARDER_OPS_H

#include "proto/proto.h"
#include "server/engine.h"

void ops_slabs_command(struct engine_client *c, const struct proto_request *req);
void ops_lru_crawler_command(struct engine_client *c, const struct proto_request *req);

#endif
