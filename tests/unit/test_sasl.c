/*
 * Unit tests for server/sasl.c against the real libsasl2: memcached's
 * SASL_CONF_PATH and MEMCACHED_SASL_PWDB, a sasldb made by saslpasswd2,
 * PLAIN in one round and CRAM-MD5 in two.  Each Criterion test is its own
 * process, so sasl_server_init runs once per test.
 */
#include <criterion/criterion.h>
#include <openssl/hmac.h>

#include "sec_helpers.h"
#include "server/auth.h"
#include "server/sasl.h"

static char dir[64];

static void setup(void) { t_tmpdir(dir, sizeof(dir)); }
static void teardown(void) {
    sasl_srv_teardown();
    t_rmdir(dir);
}

TestSuite(sasl, .init = setup, .fini = teardown, .timeout = 60);

static void write_conf(const char *text) {
    char *p = t_path(dir, "memcached.conf");
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    free(p);
    setenv("SASL_CONF_PATH", dir, 1);
}

static enum sasl_srv_status plain(struct sasl_srv *s, const char *user, const char *pass) {
    char msg[256];
    size_t ul = strlen(user), pl = strlen(pass);
    msg[0] = '\0';
    memcpy(msg + 1, user, ul);
    msg[1 + ul] = '\0';
    memcpy(msg + 2 + ul, pass, pl);
    const char *out;
    size_t outlen;
    return sasl_srv_start(s, "PLAIN", 5, msg, 2 + ul + pl, &out, &outlen);
}

Test(sasl, pwdb_plain_with_hashes) {
    char hash[256], line[512];
    cr_assert(auth_hash_password("quux", hash, sizeof(hash)));
    snprintf(line, sizeof(line), "foo:bar\nbaaaz:%s\n", hash);
    char *pw = t_path(dir, "pwdb");
    FILE *f = fopen(pw, "w");
    fputs(line, f);
    fclose(f);
    setenv("MEMCACHED_SASL_PWDB", pw, 1);
    write_conf("mech_list: plain\n");
    cr_assert(sasl_srv_setup(0));
    struct sasl_srv *s = sasl_srv_new();
    cr_assert_not_null(s);
    const char *mechs;
    size_t len;
    cr_assert(sasl_srv_mechs(s, &mechs, &len));
    cr_assert_str_eq(mechs, "PLAIN");
    cr_assert_eq(plain(s, "foo", "baz"), SASL_SRV_FAIL);
    cr_assert_not(sasl_srv_authenticated(s));
    cr_assert_eq(plain(s, "foo", "bar"), SASL_SRV_OK);
    cr_assert(sasl_srv_authenticated(s));
    sasl_srv_free(s);
    s = sasl_srv_new();
    cr_assert_eq(plain(s, "baaaz", "quux"), SASL_SRV_OK, "a yescrypt entry");
    sasl_srv_free(s);
    unsetenv("MEMCACHED_SASL_PWDB");
    free(pw);
}

static void saslpasswd(const char *user, const char *pass) {
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "echo %s | saslpasswd2 -a memcached -c -p -f %s/sasldb %s", pass,
             dir, user);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(sasl, sasldb_cram_md5_two_rounds) {
    saslpasswd("testuser", "testpass");
    char conf[256];
    snprintf(conf, sizeof(conf), "mech_list: plain cram-md5\nsasldb_path: %s/sasldb\n", dir);
    write_conf(conf);
    unsetenv("MEMCACHED_SASL_PWDB");
    cr_assert(sasl_srv_setup(0));
    struct sasl_srv *s = sasl_srv_new();
    const char *mechs, *out;
    size_t len, outlen;
    cr_assert(sasl_srv_mechs(s, &mechs, &len));
    cr_assert(strstr(mechs, "CRAM-MD5") && strstr(mechs, "PLAIN"), "%s", mechs);
    cr_assert_eq(sasl_srv_step(s, "x", 1, &out, &outlen), SASL_SRV_FAIL, "step before start");
    cr_assert_eq(sasl_srv_start(s, "CRAM-MD5", 8, "", 0, &out, &outlen), SASL_SRV_CONTINUE);
    cr_assert_gt(outlen, 0);
    unsigned char mac[16];
    unsigned maclen = sizeof(mac);
    HMAC(EVP_md5(), "testpass", 8, (const unsigned char *)out, outlen, mac, &maclen);
    char reply[128];
    int n = snprintf(reply, sizeof(reply), "testuser ");
    for (unsigned i = 0; i < maclen; i++)
        n += snprintf(reply + n, sizeof(reply) - (size_t)n, "%02x", mac[i]);
    cr_assert_eq(sasl_srv_step(s, reply, (size_t)n, &out, &outlen), SASL_SRV_OK);
    sasl_srv_free(s);
    s = sasl_srv_new();
    cr_assert_eq(plain(s, "testuser", "wrong"), SASL_SRV_FAIL);
    cr_assert_eq(plain(s, "testuser", "testpass"), SASL_SRV_OK);
    cr_assert_eq(sasl_srv_start(s, "NOPE", 4, "", 0, &out, &outlen), SASL_SRV_FAIL);
    sasl_srv_free(s);
}
