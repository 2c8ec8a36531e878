/*
 * sec_helpers: certificates made at test time with the openssl CLI, and
 * a temporary folder per test process, for the TLS, auth and SASL unit
 * tests.  Nothing here is committed key material: every run makes its own.
 */
#ifndef LARDER_TEST_SEC_HELPERS_H
#define LARDER_TEST_SEC_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh folder; the caller's path buffer holds it. */
static inline void t_tmpdir(char *dir, size_t len) {
    snprintf(dir, len, "/tmp/larder-sec-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static inline void t_sh(const char *fmt, const char *dir) {
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), fmt, dir, dir, dir, dir, dir, dir, dir, dir, dir, dir, dir, dir);
    cr_assert_eq(system(cmd), 0, "failed: %s", cmd);
}

/* In dir: ca.crt/ca.key, server.crt/server.key (signed by the CA, CN
 * localhost), client.crt/client.key (signed by the CA), other.key (a key
 * that matches no certificate), self.crt/self.key (self-signed, OU
 * "OTHER"). */
static inline void t_make_certs(const char *dir) {
    t_sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt "
         "-days 2 -subj /CN=larder-test-ca 2>/dev/null >/dev/null", dir);
    t_sh("cd %s && for n in server client; do "
         "openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=localhost "
         ">/dev/null 2>&1 && openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key "
         "-CAcreateserial -out $n.crt -days 2 >/dev/null 2>&1 || exit 1; done", dir);
    t_sh("cd %s && openssl genpkey -algorithm RSA -out other.key >/dev/null 2>&1 && "
         "openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.crt -days 2 "
         "-subj /OU=OTHER/CN=localhost >/dev/null 2>&1", dir);
}

static inline void t_rmdir(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    (void)!system(cmd);
}

static inline char *t_path(const char *dir, const char *name) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

#endif
