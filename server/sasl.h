/*
 * sasl: SASL authentication through Cyrus SASL (libsasl2), for the binary
 * protocol's SASL_LIST_MECHS, SASL_AUTH and SASL_STEP (-S), set up the way
 * memcached sets it up so that existing deployments keep working:
 *
 *  - the application name is "memcached", so Cyrus reads memcached.conf;
 *  - its folder is $SASL_CONF_PATH, else the first of /etc/sasl and
 *    /etc/sasl2 that holds memcached.conf (a file, or a folder holding
 *    one: memcached's rule);
 *  - $MEMCACHED_SASL_PWDB, when set, names a "user:password" file checked
 *    instead of Cyrus's own stores (memcached's --enable-sasl-pwdb); here
 *    its passwords may also be yescrypt hashes, as in -Y files (auth.h).
 *
 * Names carry the sasl_srv_ prefix: libsasl2 owns sasl_*.
 */
#ifndef LARDER_SASL_H
#define LARDER_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sasl_srv;

enum sasl_srv_status {
    SASL_SRV_OK,        /* authenticated */
    SASL_SRV_CONTINUE,  /* send the challenge, expect SASL_STEP */
    SASL_SRV_FAIL,      /* any failure: one reply, AUTH_ERROR */
};

/* sasl_server_init with memcached's callbacks; verbose as -v.  False (with
 * a message) when libsasl2 cannot start: memcached exits then. */
bool sasl_srv_setup(int verbose);
void sasl_srv_teardown(void);

/* One per connection, made on its first SASL command.  NULL on failure. */
struct sasl_srv *sasl_srv_new(void);
void sasl_srv_free(struct sasl_srv *s);

/* The mechanisms, space separated ("CRAM-MD5 PLAIN"); *out is owned by s
 * and valid until its next call.  False on failure. */
bool sasl_srv_mechs(struct sasl_srv *s, const char **out, size_t *outlen);

/* SASL_AUTH: starts mech (mech[0, mechlen), at most 32 bytes) with the
 * client's first data.  *out, *outlen: the server's challenge or message,
 * owned by s. */
enum sasl_srv_status sasl_srv_start(struct sasl_srv *s, const char *mech, size_t mechlen,
                                    const char *in, size_t inlen, const char **out,
                                    size_t *outlen);

/* SASL_STEP: the next round; SASL_SRV_FAIL when no exchange was started. */
enum sasl_srv_status sasl_srv_step(struct sasl_srv *s, const char *in, size_t inlen,
                                   const char **out, size_t *outlen);

/* memcached's auth_cmds and auth_errors for SASL: exchanges that ended,
 * and those that ended in failure. */
void sasl_srv_stats(uint64_t *cmds, uint64_t *errors);

/* True once an exchange has ended with SASL_SRV_OK. */
bool sasl_srv_authenticated(const struct sasl_srv *s);

#endif
