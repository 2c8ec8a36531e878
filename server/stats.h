/*
 * stats: the `stats` command family with memcached's field names, and the
 * per-key-prefix counters of `stats detail`.  Counters themselves live where
 * they are bumped (workers, store shards, slab classes); this module sums
 * them when asked and formats the answer.
 */
#ifndef LARDER_STATS_H
#define LARDER_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/proto.h"
#include "server/engine.h"
#include "server/server.h"

/* Answers "stats [sub ...]". */
void stats_command(struct engine_client *c, const struct proto_request *req);

/* Answers a binary STAT request for group key[0, nkey) ("" for the
 * general figures); false when there is no such group. */
bool stats_binary(struct engine_client *c, const char *key, size_t nkey);

/* Answers "lru_crawler metadump <all|ids>": one line per live item. */
void stats_metadump(struct engine_client *c, const struct proto_token *which);

/* Per-prefix counters, recorded only while `stats detail on` is in force. */
void stats_detail_get(struct server *srv, const char *key, size_t nkey, bool hit);
void stats_detail_set(struct server *srv, const char *key, size_t nkey);
void stats_detail_delete(struct server *srv, const char *key, size_t nkey);

#endif
