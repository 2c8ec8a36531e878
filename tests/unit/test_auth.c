/*
 * Unit tests for server/auth.c: memcached's authfile format, hashed
 * entries, constant-time comparison and the per-address failure delay.
 * Time is passed in (now_ms), so the delay arithmetic is checked exactly
 * without waiting.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "sec_helpers.h"
#include "server/auth.h"

static char dir[64];

static void setup(void) { t_tmpdir(dir, sizeof(dir)); }
static void teardown(void) { t_rmdir(dir); }

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 60);

static char *write_file(const char *name, const char *text) {
    char *p = t_path(dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static struct sockaddr_in v4(const char *ip) {
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    return sa;
}

static enum auth_result check(struct auth *a, const struct sockaddr_in *from, const char *user,
                              const char *pass, uint64_t now, unsigned *delay) {
    return auth_check(a, (const struct sockaddr *)from, user, strlen(user), pass, strlen(pass),
                      now, delay);
}

Test(auth, memcached_authfile) {
    char *p = write_file("authfile", "foo:bar\nbaaaz:quux\n");
    struct auth *a;
    cr_assert_eq(auth_new(p, &a), AUTH_LOAD_OK);
    unsigned d;
    cr_assert_eq(check(a, NULL, "foo", "bar", 0, &d), AUTH_OK);
    cr_assert_eq(check(a, NULL, "baaaz", "quux", 0, &d), AUTH_OK);
    cr_assert_eq(check(a, NULL, "foo", "bab", 0, &d), AUTH_FAIL);
    cr_assert_eq(check(a, NULL, "foo", "ba", 0, &d), AUTH_FAIL);
    cr_assert_eq(check(a, NULL, "foo", "barr", 0, &d), AUTH_FAIL);
    cr_assert_eq(check(a, NULL, "fo", "bar", 0, &d), AUTH_FAIL);
    cr_assert_eq(check(a, NULL, "baaaz", "bar", 0, &d), AUTH_FAIL, "another user's password");
    struct auth_stats s;
    auth_get_stats(a, &s);
    cr_assert_eq(s.cmds, 7);
    cr_assert_eq(s.errors, 5);
    auth_free(a);
    free(p);
}

Test(auth, crlf_lines_and_colons_in_passwords) {
    char *p = write_file("authfile", "u1:p:with:colons\r\nu2:x\r\n");
    struct auth *a;
    cr_assert_eq(auth_new(p, &a), AUTH_LOAD_OK);
    unsigned d;
    cr_assert_eq(check(a, NULL, "u1", "p:with:colons", 0, &d), AUTH_OK);
    cr_assert_eq(check(a, NULL, "u2", "x", 0, &d), AUTH_OK);
    auth_free(a);
    free(p);
}

Test(auth, load_errors_as_memcached) {
    struct auth *a;
    char *missing = t_path(dir, "missing");
    cr_assert_eq(auth_new(missing, &a), AUTH_LOAD_OPENFAIL);
    cr_assert_null(a);
    char *bad = write_file("bad", "foo:bar\nnocolon\n");
    cr_assert_eq(auth_new(bad, &a), AUTH_LOAD_MALFORMED);
    free(missing);
    free(bad);
}

Test(auth, hashed_entries) {
    char hash[256], line[400];
    cr_assert(auth_hash_password("s3cret pass", hash, sizeof(hash)));
    cr_assert(strncmp(hash, "$y$", 3) == 0, "%s", hash);
    snprintf(line, sizeof(line), "alice:%s\nbob:plain\n", hash);
    char *p = write_file("authfile", line);
    struct auth *a;
    cr_assert_eq(auth_new(p, &a), AUTH_LOAD_OK);
    unsigned d;
    cr_assert_eq(check(a, NULL, "alice", "s3cret pass", 0, &d), AUTH_OK);
    cr_assert_eq(check(a, NULL, "alice", hash, 0, &d), AUTH_FAIL, "the hash is no password");
    cr_assert_eq(check(a, NULL, "alice", "s3cret pas", 0, &d), AUTH_FAIL);
    /* after a success the remembered HMAC answers; still exact */
    cr_assert_eq(check(a, NULL, "alice", "s3cret pass", 0, &d), AUTH_OK);
    cr_assert_eq(check(a, NULL, "alice", "s3cret pasS", 0, &d), AUTH_FAIL);
    cr_assert_eq(check(a, NULL, "bob", "plain", 0, &d), AUTH_OK);
    cr_assert_eq(check(a, NULL, "carol", "plain", 0, &d), AUTH_FAIL);
    auth_free(a);
    free(p);
}

Test(auth, hashes_from_other_tools) {
    /* sha512-crypt as `mkpasswd -m sha-512` or `openssl passwd -6` write it */
    FILE *f = popen("openssl passwd -6 -salt abcdefgh hunter2", "r");
    char hash[256] = "", line[400];
    cr_assert(fgets(hash, sizeof(hash), f));
    pclose(f);
    hash[strcspn(hash, "\n")] = '\0';
    snprintf(line, sizeof(line), "dave:%s\n", hash);
    char *p = write_file("authfile", line);
    struct auth *a;
    cr_assert_eq(auth_new(p, &a), AUTH_LOAD_OK);
    unsigned d;
    cr_assert_eq(check(a, NULL, "dave", "hunter2", 0, &d), AUTH_OK);
    cr_assert_eq(check(a, NULL, "dave", "hunter3", 0, &d), AUTH_FAIL);
    auth_free(a);
    free(p);
}

Test(auth, delay_grows_per_address_capped) {
    char *p = write_file("authfile", "foo:bar\n");
    struct auth *a;
    cr_assert_eq(auth_new(p, &a), AUTH_LOAD_OK);
    struct sockaddr_in x = v4("192.0.2.1"), y = v4("192.0.2.2");
    unsigned d, expect = AUTH_DELAY_BASE_MS;
    uint64_t now = 1000000;
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(check(a, &x, "foo", "wrong", now, &d), AUTH_FAIL);
        cr_assert_eq(d, expect, "failure %d: %u ms", i + 1, d);
        now += d; /* the client waited for its reply */
        expect = expect * 2 > AUTH_DELAY_MAX_MS ? AUTH_DELAY_MAX_MS : expect * 2;
    }
    /* while x is in its delay, even the right password fails unchecked */
    cr_assert_eq(check(a, &x, "foo", "wrong", now, &d), AUTH_FAIL);
    cr_assert_eq(check(a, &x, "foo", "bar", now + 1, &d), AUTH_FAIL);
    cr_assert_eq(d, AUTH_DELAY_MAX_MS - 1);
    /* another address is not slowed */
    cr_assert_eq(check(a, &y, "foo", "bar", now, &d), AUTH_OK);
    cr_assert_eq(d, 0);
    /* after the delay, a success forgives x */
    now += AUTH_DELAY_MAX_MS;
    cr_assert_eq(check(a, &x, "foo", "bar", now, &d), AUTH_OK);
    cr_assert_eq(check(a, &x, "foo", "wrong", now, &d), AUTH_FAIL);
    cr_assert_eq(d, AUTH_DELAY_BASE_MS);
    struct auth_stats s;
    auth_get_stats(a, &s);
    cr_assert_eq(s.throttled, 1);
    cr_assert_eq(s.delayed, 13);
    auth_free(a);
    free(p);
}

Test(auth, ipv6_is_slowed_per_64) {
    char *p = write_file("authfile", "foo:bar\n");
    struct auth *a;
    cr_assert_eq(auth_new(p, &a), AUTH_LOAD_OK);
    struct sockaddr_in6 s1 = {.sin6_family = AF_INET6}, s2 = s1;
    inet_pton(AF_INET6, "2001:db8:1:2::1", &s1.sin6_addr);
    inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &s2.sin6_addr);
    unsigned d;
    cr_assert_eq(auth_check(a, (struct sockaddr *)&s1, "foo", 3, "x", 1, 5000, &d), AUTH_FAIL);
    cr_assert_eq(auth_check(a, (struct sockaddr *)&s2, "foo", 3, "x", 1, 5001, &d), AUTH_FAIL);
    cr_assert_eq(d, AUTH_DELAY_BASE_MS - 1, "same /64, same delay");
    auth_free(a);
    free(p);
}

Test(auth, reload_keeps_old_entries_on_error) {
    char *p = write_file("authfile", "foo:bar\n");
    struct auth *a;
    cr_assert_eq(auth_new(p, &a), AUTH_LOAD_OK);
    write_file("authfile", "foo:new\n");
    cr_assert_eq(auth_reload(a), AUTH_LOAD_OK);
    unsigned d;
    cr_assert_eq(check(a, NULL, "foo", "new", 0, &d), AUTH_OK);
    write_file("authfile", "garbage\n");
    cr_assert_eq(auth_reload(a), AUTH_LOAD_MALFORMED);
    cr_assert_eq(check(a, NULL, "foo", "new", 0, &d), AUTH_OK);
    auth_free(a);
    free(p);
}

Test(auth, equal_is_exact) {
    cr_assert(auth_equal("abc", 3, "abc", 3));
    cr_assert_not(auth_equal("abc", 3, "abd", 3));
    cr_assert_not(auth_equal("abc", 3, "abc\0", 4));
    cr_assert_not(auth_equal("", 0, "a", 1));
    cr_assert(auth_equal("", 0, "", 0));
}
