/*
 * tls: TLS for the server's TCP connections, on OpenSSL 3, configured by
 * memcached's -Z and -o ssl_* settings.
 *
 * One tls_server per process holds the SSL_CTX built from the settings and
 * the TLS counters of `stats`.  `refresh_certs` builds a new context and
 * swaps it in, so a bad certificate on disk never breaks the one in use;
 * connections keep a reference to the context they started with.
 *
 * A tls_conn wraps one non-blocking socket.  Its read and write calls never
 * block: they report "again" with the direction OpenSSL waits for (a read
 * may need to write during a handshake and the reverse), and the caller
 * re-arms its event for that direction.  OpenSSL decrypts whole records, so
 * after a short read it may still hold bytes that the kernel no longer
 * shows: the caller must ask tls_conn_pending() before it treats a
 * connection as drained.
 */
#ifndef LARDER_TLS_H
#define LARDER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "server/settings.h"
#include "server/transport.h"

struct tls_server;
struct tls_conn;

enum tls_status {
    TLS_OK,          /* *done bytes were read or written */
    TLS_EOF,         /* the peer closed (close_notify or plain EOF) */
    TLS_WANT_READ,   /* try again when the socket is readable */
    TLS_WANT_WRITE,  /* try again when the socket is writable */
    TLS_ERROR,       /* protocol or socket error: close the connection */
};

struct tls_stats {
    uint64_t handshake_errors;  /* ssl_handshake_errors */
    uint64_t new_sessions;      /* ssl_new_sessions (with ssl_session_cache) */
    time_t last_cert_refresh;   /* for time_since_server_cert_refresh */
};

/* Builds the context from s (-o ssl_*).  NULL on failure, with
 * memcached's message in err ("Error loading the certificate chain: ..."). */
struct tls_server *tls_server_new(const struct settings *s, char *err, size_t errlen);
void tls_server_free(struct tls_server *ts);

/* `refresh_certs`: reloads certificate, key and CA from the same paths.
 * On failure the old context stays in use and err holds why. */
bool tls_server_refresh(struct tls_server *ts, char *err, size_t errlen);

void tls_server_stats(struct tls_server *ts, struct tls_stats *out);

/* OpenSSL's SSL_VERIFY_* flags for memcached's ssl_verify_mode level 0..3,
 * the figure `stats settings` shows. */
int tls_verify_flags(int level);

/* A server-side TLS connection over fd (non-blocking, still owned by the
 * caller, who closes it after tls_conn_free).  NULL when out of memory. */
struct tls_conn *tls_conn_new(struct tls_server *ts, int fd);

/* Sends close_notify if the handshake finished (best effort, never blocks)
 * and frees. */
void tls_conn_free(struct tls_conn *tc);

/* The handshake happens inside the first reads and writes; a failed one
 * counts as ssl_handshake_errors. */
enum tls_status tls_conn_read(struct tls_conn *tc, void *buf, size_t len, size_t *done);

/* Writes up to len bytes.  After TLS_WANT_*, call again with the same
 * bytes (at least the same first len; OpenSSL may have taken some). */
enum tls_status tls_conn_write(struct tls_conn *tc, const void *buf, size_t len, size_t *done);

/* Writes the iovecs as few records: small pieces are gathered into one
 * record (encryption copies every byte anyway), so a reply of many short
 * iovecs is not one record each.  Same "again" contract as tls_conn_write. */
enum tls_status tls_conn_writev(struct tls_conn *tc, const struct iovec *iov, int iovcnt,
                                size_t *done);

/* Decrypted bytes OpenSSL holds for the next read, invisible to epoll. */
size_t tls_conn_pending(const struct tls_conn *tc);

/* A tls_conn as a connection's transport (server/transport.h): its ctx is
 * the tls_conn, and close frees it and closes the socket. */
extern const struct transport_ops tls_transport;

/* True once the handshake is done (for tests and verbose logs). */
bool tls_conn_established(const struct tls_conn *tc);

#endif
