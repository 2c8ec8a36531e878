/*
 * auth: memcached's ASCII authentication (-Y FILE), with hashed secrets and
 * a brute-force brake.
 *
 * The file holds lines "user:password", as memcached's.  The password may
 * instead be a crypt(3) hash from libxcrypt (yescrypt "$y$...", the format
 * of /etc/shadow; written by `larder --hash-password USER` or `mkpasswd -m
 * yescrypt`).  A field that starts with '$' and that libxcrypt accepts as a
 * hash setting is read as a hash; anything else is a plaintext password.
 * Every comparison runs in time independent of where the secrets differ,
 * and an unknown user costs the same hash as a known one.
 *
 * Failures are counted per client address (IPv6 per /64).  Each failure's
 * reply is held back for a delay that doubles with every failure from that
 * address, capped; while an address is in its delay, further attempts from
 * it (other connections) fail without being checked.  auth_check never
 * sleeps: it returns the delay and the caller parks the connection on a
 * timer, then sends the one failure reply, the same for every cause.
 */
#ifndef LARDER_AUTH_H
#define LARDER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct auth;

/* memcached's authfile_load results (its exit messages depend on them). */
enum auth_load {
    AUTH_LOAD_OK,
    AUTH_LOAD_OPENFAIL,
    AUTH_LOAD_STATFAIL,
    AUTH_LOAD_OOM,
    AUTH_LOAD_MALFORMED,
};

enum auth_result {
    AUTH_OK,
    AUTH_FAIL, /* wrong user or password, or the address is being slowed */
};

/* Failure delay: AUTH_DELAY_BASE_MS after the first failure, doubling, at
 * most AUTH_DELAY_MAX_MS; an address is forgotten after AUTH_FORGET_S
 * without failures, or at its next success. */
#define AUTH_DELAY_BASE_MS 100
#define AUTH_DELAY_MAX_MS 5000
#define AUTH_FORGET_S 600
/* An attempt this close to the end of its address's delay counts as after
 * it: the caller's timer and clock may disagree by a tick. */
#define AUTH_SLACK_MS 10

struct auth_stats {
    uint64_t cmds;           /* auth_cmds, as memcached */
    uint64_t errors;         /* auth_errors, as memcached */
    uint64_t delayed;        /* auth_delayed: failure replies held back */
    uint64_t throttled;      /* auth_throttled: attempts failed unchecked (address in delay) */
};

/* Reads the file; *out is NULL unless AUTH_LOAD_OK. */
enum auth_load auth_new(const char *path, struct auth **out);
void auth_free(struct auth *a);

/* SIGHUP: reads the file again; on error the entries in use stay. */
enum auth_load auth_reload(struct auth *a);

/* Checks user and password from addr (NULL or AF_UNIX: no throttling) at
 * monotonic time now_ms.  On AUTH_FAIL, *delay_ms says how long to hold
 * the reply (0: send it now).  Thread-safe; may run the password hash
 * (tens of milliseconds for yescrypt) at most once per address per delay. */
enum auth_result auth_check(struct auth *a, const struct sockaddr *addr, const char *user,
                            size_t ulen, const char *pass, size_t plen, uint64_t now_ms,
                            unsigned *delay_ms);

void auth_get_stats(struct auth *a, struct auth_stats *out);

/* The failure brake alone, for logins checked elsewhere (SASL): an auth
 * with no entries.  Before a check, auth_brake_enter says whether addr may
 * be checked (false: it is in its delay, fail it unchecked after
 * *delay_ms); after a check that ended, auth_brake_leave records it and
 * returns the delay for a failure's reply. */
struct auth *auth_brake_new(void);
bool auth_brake_enter(struct auth *a, const struct sockaddr *addr, uint64_t now_ms,
                      unsigned *delay_ms);
unsigned auth_brake_leave(struct auth *a, const struct sockaddr *addr, bool ok, uint64_t now_ms);

/* Monotonic milliseconds, the clock the brake is given. */
uint64_t auth_now_ms(void);

/* Writes a yescrypt hash of pass into out (a NUL-terminated "$y$..."
 * string); false if libxcrypt cannot make one. */
bool auth_hash_password(const char *pass, char *out, size_t outlen);

/* Constant-time equality of two byte strings of possibly different
 * lengths: the time depends on the lengths only. */
bool auth_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
