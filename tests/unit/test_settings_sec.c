/*
 * Unit tests for the security flags of server/settings.c: memcached's -Z,
 * -S, -Y and -o ssl_* names, values and refusals, and -l notls:.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "server/settings.h"

static enum settings_result parse(struct settings *s, const char *const *args) {
    char *argv[32] = {"larder"};
    int argc = 1;
    for (; args[argc - 1] != NULL; argc++)
        argv[argc] = (char *)args[argc - 1];
    settings_defaults(s);
    return settings_parse(s, argc, argv);
}

Test(settings_sec, ssl_options_as_memcached) {
    struct settings s;
    const char *a[] = {"-Z", "-o",
                       "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_ca_cert=/ca.pem,ssl_verify_mode=3,"
                       "ssl_min_version=tlsv1.3,ssl_wbuf_size=64,ssl_session_cache,ssl_ciphers=HIGH",
                       NULL};
    cr_assert_eq(parse(&s, a), SETTINGS_OK);
    cr_assert(s.ssl_enabled);
    cr_assert_str_eq(s.ssl_chain_cert, "/c.pem");
    cr_assert_str_eq(s.ssl_key, "/k.pem");
    cr_assert_str_eq(s.ssl_ca_cert, "/ca.pem");
    cr_assert_str_eq(s.ssl_ciphers, "HIGH");
    cr_assert_eq(s.ssl_verify_mode, 3);
    cr_assert_eq(s.ssl_min_version, 3);
    cr_assert_eq(s.ssl_wbuf_size, 65536);
    cr_assert(s.ssl_session_cache);
    cr_assert_str_eq(settings_tls_version_name(s.ssl_min_version), "tlsv1.3");
    settings_free(&s);
}

Test(settings_sec, defaults_as_memcached) {
    struct settings s;
    settings_defaults(&s);
    cr_assert_eq(s.ssl_keyformat, 1);
    cr_assert_eq(s.ssl_min_version, 2);
    cr_assert_eq(s.ssl_wbuf_size, 16384);
    cr_assert_eq(s.ssl_verify_mode, 0);
}

Test(settings_sec, notls_listeners) {
    struct settings s;
    const char *a[] = {"-Z", "-l", "notls:127.0.0.1:11212,127.0.0.1;10.0.0.1:1", NULL};
    cr_assert_eq(parse(&s, a), SETTINGS_OK);
    cr_assert_eq(s.nlisten, 3);
    cr_assert_str_eq(s.listen[0], "127.0.0.1:11212");
    cr_assert(s.listen_notls[0]);
    cr_assert_not(s.listen_notls[1]);
    cr_assert_str_eq(s.listen[2], "10.0.0.1:1");
    settings_free(&s);
    const char *b[] = {"-l", "notls:127.0.0.1", NULL};
    cr_assert_eq(parse(&s, b), SETTINGS_ERROR, "notls without -Z");
    settings_free(&s);
}

Test(settings_sec, auth_picks_the_protocol) {
    struct settings s;
    const char *y[] = {"-Y", "/f", NULL};
    cr_assert_eq(parse(&s, y), SETTINGS_OK);
    cr_assert_eq(s.protocol, SETTINGS_PROTO_ASCII);
    settings_free(&s);
    const char *sa[] = {"-S", NULL};
    cr_assert_eq(parse(&s, sa), SETTINGS_OK);
    cr_assert_eq(s.protocol, SETTINGS_PROTO_BINARY);
    settings_free(&s);
}

Test(settings_sec, refusals) {
    struct settings s;
    const char *cases[][6] = {
        {"-S", "-B", "ascii", NULL},      {"-S", "-B", "auto", NULL},
        {"-S", "-U", "11211", NULL},      {"-Y", "/f", "-B", "binary", NULL},
        {"-Y", "/f", "-U", "11211", NULL}, {"-Z", "-p", "0", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(parse(&s, cases[i]), SETTINGS_USAGE, "case %zu", i);
        settings_free(&s);
    }
    const char *errs[][3] = {
        {"-o", "ssl_verify_mode=4", NULL}, {"-o", "ssl_min_version=tlsv9", NULL},
        {"-o", "ssl_nonsense=1", NULL},    {"-o", "ssl_chain_cert", NULL},
        {"-o", "ssl_wbuf_size=0", NULL},
    };
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        cr_assert_eq(parse(&s, errs[i]), SETTINGS_ERROR, "%s", errs[i][1]);
        settings_free(&s);
    }
}

Test(settings_sec, hash_password_flag) {
    struct settings s;
    const char *a[] = {"--hash-password", "alice", NULL};
    cr_assert_eq(parse(&s, a), SETTINGS_OK);
    cr_assert_str_eq(s.hash_user, "alice");
    settings_free(&s);
}
