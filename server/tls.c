/*
 * tls: OpenSSL 3 contexts and connections; see tls.h.
 *
 * The context pointer is swapped under a mutex by `refresh_certs`; taking
 * it for a new connection is one lock and one SSL_new per accept, never per
 * request.  SSL objects hold their own reference to the context, so a
 * connection outlives a refresh with the certificate it started with (as
 * memcached's t/ssl_cert_refresh.t expects).
 *
 * Reads go straight into the caller's buffer (no extra copy of requests);
 * writes of several iovecs are gathered into one record-sized buffer per
 * thread, because OpenSSL encrypts from a flat buffer and one record per
 * iovec would multiply the per-record cost and bytes on the wire.
 */
#include "server/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define TLS_SESSION_ID_CONTEXT "larder"
#define TLS_GATHER_MAX 16384 /* one TLS record's plaintext */

struct tls_server {
    const struct settings *settings;
    pthread_mutex_t lock; /* guards ctx */
    SSL_CTX *ctx;
    _Atomic uint64_t handshake_errors;
    _Atomic uint64_t new_sessions;
    _Atomic time_t last_refresh;
};

struct tls_conn {
    SSL *ssl;
    struct tls_server *ts;
    bool established;
    bool failed; /* counted once */
};

static _Thread_local unsigned char tls_gather[TLS_GATHER_MAX];

int tls_verify_flags(int level) {
    switch (level) {
    case 1: return SSL_VERIFY_PEER;
    case 2: return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    case 3: return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE;
    default: return SSL_VERIFY_NONE;
    }
}

static int tls_version(int level) {
    static const int versions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};
    return level >= 0 && level <= 3 ? versions[level] : TLS1_2_VERSION;
}

/* "what: path : OpenSSL's reason", memcached's wording; drains the queue. */
static void tls_error(char *err, size_t errlen, const char *what, const char *path) {
    char reason[256] = "";
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    if (path)
        snprintf(err, errlen, "%s: %s : %s", what, path, reason);
    else
        snprintf(err, errlen, "%s: %s", what, reason);
}

static int tls_on_new_session(SSL *ssl, SSL_SESSION *sess) {
    (void)sess;
    struct tls_server *ts = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    atomic_fetch_add_explicit(&ts->new_sessions, 1, memory_order_relaxed);
    return 0; /* the session cache keeps its own reference */
}

static bool tls_load_certs(SSL_CTX *ctx, const struct settings *s, char *err, size_t errlen) {
    /* as memcached's help says: the key may live in the chain file */
    const char *key = s->ssl_key ? s->ssl_key : s->ssl_chain_cert;
    if (s->ssl_chain_cert == NULL) {
        snprintf(err, errlen, "Error loading the certificate chain: (null) : no ssl_chain_cert");
        return false;
    }
    if (!SSL_CTX_use_certificate_chain_file(ctx, s->ssl_chain_cert)) {
        tls_error(err, errlen, "Error loading the certificate chain", s->ssl_chain_cert);
        return false;
    }
    if (!SSL_CTX_use_PrivateKey_file(ctx, key, s->ssl_keyformat)) {
        tls_error(err, errlen, "Error loading the key", key);
        return false;
    }
    if (!SSL_CTX_check_private_key(ctx)) {
        tls_error(err, errlen, "Error validating the certificate", NULL);
        return false;
    }
    if (s->ssl_ca_cert) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(s->ssl_ca_cert);
        if (!SSL_CTX_load_verify_locations(ctx, s->ssl_ca_cert, NULL) || names == NULL) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            tls_error(err, errlen, "Error loading the CA certificate", s->ssl_ca_cert);
            return false;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    return true;
}

static SSL_CTX *tls_ctx_new(struct tls_server *ts, char *err, size_t errlen) {
    const struct settings *s = ts->settings;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        tls_error(err, errlen, "Error creating the TLS context", NULL);
        return NULL;
    }
    SSL_CTX_set_app_data(ctx, ts);
    SSL_CTX_set_min_proto_version(ctx, tls_version(s->ssl_min_version));
    if (!tls_load_certs(ctx, s, err, errlen))
        goto fail;
    SSL_CTX_set_verify(ctx, tls_verify_flags(s->ssl_verify_mode), NULL);
    if (s->ssl_ciphers && !SSL_CTX_set_cipher_list(ctx, s->ssl_ciphers)) {
        snprintf(err, errlen, "Error setting the provided cipher(s): %s", s->ssl_ciphers);
        ERR_clear_error();
        goto fail;
    }
    if (s->ssl_session_cache) {
        SSL_CTX_sess_set_new_cb(ctx, tls_on_new_session);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SESSION_ID_CONTEXT,
                                       strlen(TLS_SESSION_ID_CONTEXT));
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        /* no tickets either: "no session cache" must mean no resumption */
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    if (s->ssl_kernel_tls)
        SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    /* idle connections give their record buffers back; writes may resume
     * from a moved buffer and complete record by record */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct tls_server *tls_server_new(const struct settings *s, char *err, size_t errlen) {
    struct tls_server *ts = calloc(1, sizeof(*ts));
    if (ts == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ts->settings = s;
    pthread_mutex_init(&ts->lock, NULL);
    ts->ctx = tls_ctx_new(ts, err, errlen);
    if (ts->ctx == NULL) {
        tls_server_free(ts);
        return NULL;
    }
    atomic_store(&ts->last_refresh, time(NULL));
    return ts;
}

void tls_server_free(struct tls_server *ts) {
    if (ts == NULL)
        return;
    SSL_CTX_free(ts->ctx);
    pthread_mutex_destroy(&ts->lock);
    free(ts);
}

bool tls_server_refresh(struct tls_server *ts, char *err, size_t errlen) {
    SSL_CTX *fresh = tls_ctx_new(ts, err, errlen);
    if (fresh == NULL)
        return false;
    pthread_mutex_lock(&ts->lock);
    SSL_CTX *old = ts->ctx;
    ts->ctx = fresh;
    pthread_mutex_unlock(&ts->lock);
    SSL_CTX_free(old); /* live connections still hold a reference */
    atomic_store(&ts->last_refresh, time(NULL));
    return true;
}

void tls_server_stats(struct tls_server *ts, struct tls_stats *out) {
    out->handshake_errors = atomic_load_explicit(&ts->handshake_errors, memory_order_relaxed);
    out->new_sessions = atomic_load_explicit(&ts->new_sessions, memory_order_relaxed);
    out->last_cert_refresh = atomic_load(&ts->last_refresh);
}

struct tls_conn *tls_conn_new(struct tls_server *ts, int fd) {
    struct tls_conn *tc = calloc(1, sizeof(*tc));
    if (tc == NULL)
        return NULL;
    pthread_mutex_lock(&ts->lock);
    tc->ssl = SSL_new(ts->ctx);
    pthread_mutex_unlock(&ts->lock);
    if (tc->ssl == NULL || !SSL_set_fd(tc->ssl, fd)) {
        SSL_free(tc->ssl);
        free(tc);
        ERR_clear_error();
        return NULL;
    }
    tc->ts = ts;
    SSL_set_accept_state(tc->ssl);
    return tc;
}

void tls_conn_free(struct tls_conn *tc) {
    if (tc == NULL)
        return;
    if (tc->established && !tc->failed)
        SSL_shutdown(tc->ssl); /* one non-blocking attempt at close_notify */
    SSL_free(tc->ssl);
    ERR_clear_error();
    free(tc);
}

/* Maps OpenSSL's verdict on a call that returned ret <= 0. */
static enum tls_status tls_status_of(struct tls_conn *tc, int ret) {
    int e = SSL_get_error(tc->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ: return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return TLS_EOF;
    case SSL_ERROR_SSL:
        /* OpenSSL 3 reports a bare EOF so; see SSL_ERROR_SYSCALL below */
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            return TLS_EOF;
        }
        break;
    case SSL_ERROR_SYSCALL:
        /* EOF without close_notify: an ordinary client that just closed,
         * or a TCP health check that never started a handshake; neither
         * is a handshake error */
        if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET)) {
            ERR_clear_error();
            return TLS_EOF;
        }
        break;
    default: break;
    }
    if (!tc->established && !tc->failed)
        atomic_fetch_add_explicit(&tc->ts->handshake_errors, 1, memory_order_relaxed);
    tc->failed = true;
    ERR_clear_error();
    return TLS_ERROR;
}

static void tls_note_established(struct tls_conn *tc) {
    if (!tc->established && SSL_is_init_finished(tc->ssl))
        tc->established = true;
}

enum tls_status tls_conn_read(struct tls_conn *tc, void *buf, size_t len, size_t *done) {
    *done = 0;
    errno = 0;
    int ret = SSL_read_ex(tc->ssl, buf, len, done);
    tls_note_established(tc);
    return ret == 1 ? TLS_OK : tls_status_of(tc, ret);
}

enum tls_status tls_conn_write(struct tls_conn *tc, const void *buf, size_t len, size_t *done) {
    *done = 0;
    if (len == 0)
        return TLS_OK;
    errno = 0;
    int ret = SSL_write_ex(tc->ssl, buf, len, done);
    tls_note_established(tc);
    return ret == 1 ? TLS_OK : tls_status_of(tc, ret);
}

enum tls_status tls_conn_writev(struct tls_conn *tc, const struct iovec *iov, int iovcnt,
                                size_t *done) {
    *done = 0;
    int i = 0;
    while (i < iovcnt && iov[i].iov_len == 0)
        i++;
    if (i == iovcnt)
        return TLS_OK;
    /* a big first piece goes out as it is: no copy */
    if (iov[i].iov_len >= TLS_GATHER_MAX || i + 1 == iovcnt)
        return tls_conn_write(tc, iov[i].iov_base, iov[i].iov_len, done);
    size_t n = 0;
    for (; i < iovcnt && n < TLS_GATHER_MAX; i++) {
        size_t take = iov[i].iov_len;
        if (take > TLS_GATHER_MAX - n)
            take = TLS_GATHER_MAX - n;
        memcpy(tls_gather + n, iov[i].iov_base, take);
        n += take;
    }
    return tls_conn_write(tc, tls_gather, n, done);
}

size_t tls_conn_pending(const struct tls_conn *tc) {
    int n = SSL_pending(tc->ssl);
    return n > 0 ? (size_t)n : 0;
}

bool tls_conn_established(const struct tls_conn *tc) {
    return tc->established;
}

/* --- as a transport ------------------------------------------------------------ */

static ssize_t tls_tp_result(enum tls_status st, size_t done, bool reading) {
    switch (st) {
    case TLS_OK: return (ssize_t)done;
    case TLS_EOF: return TRANSPORT_EOF;
    case TLS_WANT_READ: return TRANSPORT_AGAIN;
    /* a read that must write first waits for writability; a write that
     * cannot go on waits for it too */
    case TLS_WANT_WRITE: return reading ? TRANSPORT_AGAIN_WRITE : TRANSPORT_AGAIN;
    default: return TRANSPORT_ERROR;
    }
}

static ssize_t tls_tp_read(void *ctx, int fd, void *buf, size_t n) {
    (void)fd;
    size_t done;
    enum tls_status st = tls_conn_read(ctx, buf, n, &done);
    return tls_tp_result(st, done, true);
}

static ssize_t tls_tp_write(void *ctx, int fd, const void *buf, size_t n) {
    (void)fd;
    size_t done;
    enum tls_status st = tls_conn_write(ctx, buf, n, &done);
    /* 0 bytes with TLS_OK cannot be "written": ask to be called again */
    return st == TLS_OK && done == 0 ? TRANSPORT_AGAIN : tls_tp_result(st, done, false);
}

static bool tls_tp_pending(void *ctx) {
    return tls_conn_pending(ctx) > 0;
}

static void tls_tp_close(void *ctx, int fd) {
    tls_conn_free(ctx);
    close(fd);
}

const struct transport_ops tls_transport = {
    .name = "tls",
    .read = tls_tp_read,
    .write = tls_tp_write,
    .pending = tls_tp_pending,
    .close = tls_tp_close,
};
