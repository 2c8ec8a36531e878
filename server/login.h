/*
 * login: the text front end of a client that has not logged in yet (-Y),
 * as memcached's ASCII authentication: the only command is a `set` whose
 * value is "username password"; anything else gets CLIENT_ERROR
 * unauthenticated, admin commands included.  The check is auth.c's; a
 * failure's reply is held back by the brake's delay (ENGINE_HOLD), and is
 * the same whatever failed.
 */
#ifndef LARDER_LOGIN_H
#define LARDER_LOGIN_H

#include <stddef.h>

#include "server/engine.h"

/* Longest login value read; a longer one is swallowed and refused. */
#define LOGIN_VALUE_MAX 1024

/* engine_run's contract, for a client whose session is not authed. */
enum engine_result login_run(struct engine_client *c, const char *buf, size_t len, size_t *used);

#endif
