/*
 * Unit tests for server/tls.c: a real OpenSSL client on the other end of a
 * non-blocking socket pair, certificates made by the openssl CLI for each
 * test.  The pump loops count steps, never time: both ends are in this
 * process, so every step makes progress or fails.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sec_helpers.h"
#include "server/settings.h"
#include "server/tls.h"

struct pair {
    int sfd, cfd;
    struct tls_conn *srv;
    SSL_CTX *cctx;
    SSL *cli;
};

static char dir[64];
static struct settings st;

static void setup(void) {
    t_tmpdir(dir, sizeof(dir));
    t_make_certs(dir);
    settings_defaults(&st);
    st.ssl_enabled = true;
    st.ssl_chain_cert = t_path(dir, "server.crt");
    st.ssl_key = t_path(dir, "server.key");
}

static void teardown(void) {
    settings_free(&st);
    t_rmdir(dir);
}

static void pair_open(struct pair *p, struct tls_server *ts, const char *cert, int max_version) {
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (int i = 0; i < 2; i++)
        fcntl(sv[i], F_SETFL, O_NONBLOCK);
    p->sfd = sv[0];
    p->cfd = sv[1];
    p->srv = tls_conn_new(ts, p->sfd);
    cr_assert_not_null(p->srv);
    p->cctx = SSL_CTX_new(TLS_client_method());
    if (max_version)
        SSL_CTX_set_max_proto_version(p->cctx, max_version);
    if (cert) {
        char c[128], k[128];
        snprintf(c, sizeof(c), "%s/%s.crt", dir, cert);
        snprintf(k, sizeof(k), "%s/%s.key", dir, cert);
        cr_assert(SSL_CTX_use_certificate_file(p->cctx, c, SSL_FILETYPE_PEM));
        cr_assert(SSL_CTX_use_PrivateKey_file(p->cctx, k, SSL_FILETYPE_PEM));
    }
    p->cli = SSL_new(p->cctx);
    SSL_set_fd(p->cli, p->cfd);
    SSL_set_connect_state(p->cli);
}

static void pair_close(struct pair *p) {
    tls_conn_free(p->srv);
    SSL_free(p->cli);
    SSL_CTX_free(p->cctx);
    close(p->sfd);
    close(p->cfd);
}

/* Steps both ends until both are done (true) or one fails (false). */
static bool pair_handshake(struct pair *p) {
    bool cli_done = false;
    for (int i = 0; i < 1000; i++) {
        if (!cli_done) {
            int rc = SSL_do_handshake(p->cli);
            int e = rc == 1 ? 0 : SSL_get_error(p->cli, rc);
            if (rc == 1)
                cli_done = true;
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                return false;
        }
        char b[1];
        size_t n;
        enum tls_status s = tls_conn_read(p->srv, b, sizeof(b), &n);
        if (s == TLS_ERROR || s == TLS_EOF)
            return false;
        if (cli_done && tls_conn_established(p->srv))
            return true;
    }
    return false;
}

/* Reads exactly len bytes on the server side. */
static void srv_read_all(struct pair *p, char *buf, size_t len) {
    size_t got = 0;
    for (int i = 0; i < 1000 && got < len; i++) {
        size_t n;
        enum tls_status s = tls_conn_read(p->srv, buf + got, len - got, &n);
        cr_assert(s == TLS_OK || s == TLS_WANT_READ, "status %d", s);
        got += n;
    }
    cr_assert_eq(got, len);
}

static void cli_read_all(struct pair *p, char *buf, size_t len) {
    size_t got = 0;
    for (int i = 0; i < 1000 && got < len; i++) {
        size_t n = 0;
        if (SSL_read_ex(p->cli, buf + got, len - got, &n) != 1)
            cr_assert_eq(SSL_get_error(p->cli, 0), SSL_ERROR_WANT_READ);
        got += n;
    }
    cr_assert_eq(got, len);
}

static struct tls_server *server_or_die(void) {
    char err[512] = "";
    struct tls_server *ts = tls_server_new(&st, err, sizeof(err));
    cr_assert_not_null(ts, "tls_server_new: %s", err);
    return ts;
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 60);

Test(tls, round_trip_and_gathered_writev) {
    struct tls_server *ts = server_or_die();
    struct pair p;
    pair_open(&p, ts, NULL, 0);
    cr_assert(pair_handshake(&p));
    size_t n;
    cr_assert(SSL_write_ex(p.cli, "get foo\r\n", 9, &n));
    char buf[64] = "";
    srv_read_all(&p, buf, 9);
    cr_assert_str_eq(buf, "get foo\r\n");
    struct iovec iov[3] = {{"VALUE ", 6}, {"foo 0 2\r\nhi\r\n", 13}, {"END\r\n", 5}};
    cr_assert_eq(tls_conn_writev(p.srv, iov, 3, &n), TLS_OK);
    cr_assert_eq(n, 24, "the three pieces go out as one record");
    memset(buf, 0, sizeof(buf));
    cli_read_all(&p, buf, 24);
    cr_assert_str_eq(buf, "VALUE foo 0 2\r\nhi\r\nEND\r\n");
    pair_close(&p);
    tls_server_free(ts);
}

Test(tls, pending_bytes_are_invisible_to_poll) {
    struct tls_server *ts = server_or_die();
    struct pair p;
    pair_open(&p, ts, NULL, 0);
    cr_assert(pair_handshake(&p));
    char msg[100];
    memset(msg, 'x', sizeof(msg));
    size_t n;
    cr_assert(SSL_write_ex(p.cli, msg, sizeof(msg), &n));
    char buf[100];
    srv_read_all(&p, buf, 10);
    /* the whole record left the kernel; OpenSSL holds the other 90 bytes */
    cr_assert_eq(tls_conn_pending(p.srv), 90);
    struct pollfd pfd = {.fd = p.sfd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 0), 0, "a caller trusting epoll would stall here");
    srv_read_all(&p, buf, 90);
    cr_assert_eq(tls_conn_pending(p.srv), 0);
    pair_close(&p);
    tls_server_free(ts);
}

Test(tls, peer_close_is_eof) {
    struct tls_server *ts = server_or_die();
    struct pair p;
    pair_open(&p, ts, NULL, 0);
    cr_assert(pair_handshake(&p));
    SSL_shutdown(p.cli);
    char b[8];
    size_t n;
    cr_assert_eq(tls_conn_read(p.srv, b, sizeof(b), &n), TLS_EOF);
    pair_close(&p);
    tls_server_free(ts);
}

Test(tls, require_client_cert_refuses_anonymous) {
    st.ssl_verify_mode = 2;
    st.ssl_ca_cert = t_path(dir, "ca.crt");
    struct tls_server *ts = server_or_die();
    struct pair p;
    pair_open(&p, ts, NULL, 0);
    cr_assert_not(pair_handshake(&p));
    struct tls_stats s;
    tls_server_stats(ts, &s);
    cr_assert_eq(s.handshake_errors, 1);
    pair_close(&p);

    pair_open(&p, ts, "client", 0);
    cr_assert(pair_handshake(&p), "a client certificate signed by the CA is accepted");
    pair_close(&p);

    pair_open(&p, ts, "self", 0);
    cr_assert_not(pair_handshake(&p), "a certificate from another CA is refused");
    pair_close(&p);
    tls_server_stats(ts, &s);
    cr_assert_eq(s.handshake_errors, 2);
    tls_server_free(ts);
}

Test(tls, request_mode_accepts_anonymous) {
    st.ssl_verify_mode = 1;
    st.ssl_ca_cert = t_path(dir, "ca.crt");
    struct tls_server *ts = server_or_die();
    struct pair p;
    pair_open(&p, ts, NULL, 0);
    cr_assert(pair_handshake(&p));
    pair_close(&p);
    tls_server_free(ts);
}

Test(tls, verify_levels_map_to_openssl_flags) {
    cr_assert_eq(tls_verify_flags(0), SSL_VERIFY_NONE);
    cr_assert_eq(tls_verify_flags(1), 1);
    cr_assert_eq(tls_verify_flags(2), 3);
    cr_assert_eq(tls_verify_flags(3), 7);
}

Test(tls, min_version_refuses_older_clients) {
    st.ssl_min_version = 3;
    struct tls_server *ts = server_or_die();
    struct pair p;
    pair_open(&p, ts, NULL, TLS1_2_VERSION);
    cr_assert_not(pair_handshake(&p));
    pair_close(&p);
    pair_open(&p, ts, NULL, 0);
    cr_assert(pair_handshake(&p));
    cr_assert_str_eq(SSL_get_version(p.cli), "TLSv1.3");
    pair_close(&p);
    tls_server_free(ts);
}

Test(tls, bad_certificates_are_refused_with_a_reason) {
    char err[512] = "";
    free(st.ssl_key);
    st.ssl_key = t_path(dir, "other.key");
    cr_assert_null(tls_server_new(&st, err, sizeof(err)));
    cr_assert(strstr(err, "Error") != NULL, "%s", err);
    free(st.ssl_chain_cert);
    st.ssl_chain_cert = t_path(dir, "missing.crt");
    cr_assert_null(tls_server_new(&st, err, sizeof(err)));
    cr_assert(strstr(err, "Error loading the certificate chain") != NULL, "%s", err);
    free(st.ssl_chain_cert);
    st.ssl_chain_cert = NULL;
    cr_assert_null(tls_server_new(&st, err, sizeof(err)));
}

Test(tls, bad_cipher_list_is_refused) {
    char err[512] = "";
    st.ssl_ciphers = strdup("NO-SUCH-CIPHER");
    cr_assert_null(tls_server_new(&st, err, sizeof(err)));
    cr_assert(strstr(err, "Error setting the provided cipher(s)") != NULL, "%s", err);
}

static void peer_ou(struct pair *p, char *out, size_t len) {
    X509 *c = SSL_get1_peer_certificate(p->cli);
    cr_assert_not_null(c);
    out[0] = '\0';
    X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_organizationalUnitName, out, (int)len);
    X509_free(c);
}

Test(tls, refresh_swaps_certificates_for_new_connections) {
    struct tls_server *ts = server_or_die();
    struct pair old, fresh;
    char ou[64];
    pair_open(&old, ts, NULL, 0);
    cr_assert(pair_handshake(&old));
    t_sh("cd %s && cp server.crt keep.crt && cp server.key keep.key && "
         "cp self.crt server.crt && cp self.key server.key", dir);
    char err[512];
    cr_assert(tls_server_refresh(ts, err, sizeof(err)), "%s", err);
    pair_open(&fresh, ts, NULL, 0);
    cr_assert(pair_handshake(&fresh));
    peer_ou(&fresh, ou, sizeof(ou));
    cr_assert_str_eq(ou, "OTHER");
    /* the old connection keeps working on its old context */
    size_t n;
    cr_assert(SSL_write_ex(old.cli, "ok", 2, &n));
    char buf[3] = "";
    srv_read_all(&old, buf, 2);
    cr_assert_str_eq(buf, "ok");
    pair_close(&fresh);

    /* a broken file: refused, and the context in use stays */
    t_sh("cd %s && cp keep.crt server.crt", dir); /* key no longer matches */
    cr_assert_not(tls_server_refresh(ts, err, sizeof(err)));
    pair_open(&fresh, ts, NULL, 0);
    cr_assert(pair_handshake(&fresh));
    peer_ou(&fresh, ou, sizeof(ou));
    cr_assert_str_eq(ou, "OTHER");
    pair_close(&fresh);
    pair_close(&old);
    tls_server_free(ts);
}

Test(tls, session_cache_counts_new_sessions) {
    st.ssl_session_cache = true;
    struct tls_server *ts = server_or_die();
    struct pair p;
    /* TLS 1.3: the server caches the session it sends a ticket for (1.2
     * with tickets gives no session id, hence nothing to count) */
    pair_open(&p, ts, NULL, 0);
    cr_assert(pair_handshake(&p));
    struct tls_stats s;
    tls_server_stats(ts, &s);
    cr_assert_geq(s.new_sessions, 1);
    cr_assert_eq(s.handshake_errors, 0);
    pair_close(&p);
    tls_server_free(ts);
}

Test(tls, connect_and_close_is_no_handshake_error) {
    struct tls_server *ts = server_or_die();
    struct pair p;
    pair_open(&p, ts, NULL, 0);
    shutdown(p.cfd, SHUT_WR);
    char b[8];
    size_t n;
    cr_assert_eq(tls_conn_read(p.srv, b, sizeof(b), &n), TLS_EOF);
    struct tls_stats s;
    tls_server_stats(ts, &s);
    cr_assert_eq(s.handshake_errors, 0);
    pair_close(&p);
    tls_server_free(ts);
}

Test(tls, garbage_is_a_handshake_error) {
    struct tls_server *ts = server_or_die();
    struct pair p;
    pair_open(&p, ts, NULL, 0);
    cr_assert_eq(write(p.cfd, "get foo\r\n", 9), 9);
    char b[8];
    size_t n;
    cr_assert_eq(tls_conn_read(p.srv, b, sizeof(b), &n), TLS_ERROR);
    struct tls_stats s;
    tls_server_stats(ts, &s);
    cr_assert_eq(s.handshake_errors, 1);
    pair_close(&p);
    tls_server_free(ts);
}
