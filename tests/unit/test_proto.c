/*
 * Unit tests for proto/proto.c: the text-protocol line parser and the reply
 * formatting, on plain strings.  Every expected error line and noreply
 * decision below was checked against memcached 1.6.18 by sending the same
 * line (see the lead's notes for the two deliberate differences: exptime and
 * length tokens outside 32 bits are refused here, memcached truncates them).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"

#define E_ERROR "ERROR"
#define E_FORMAT "CLIENT_ERROR bad command line format"
#define E_EXPTIME "CLIENT_ERROR invalid exptime argument"
#define E_DELTA "CLIENT_ERROR invalid numeric delta argument"
#define E_DELETE "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"

/* Tokens point into the line: callers pass string literals or buffers that
 * outlive the request. */
static struct proto_request parse(const char *line) {
    struct proto_request req;
    memset(&req, 0xa5, sizeof(req)); /* parse must set what it reports */
    proto_parse(line, strlen(line), &req);
    return req;
}

static bool tok_eq(const struct proto_token *t, const char *s) {
    return t->len == strlen(s) && memcmp(t->s, s, t->len) == 0;
}

static char long_key_buf[512];

/* "<prefix><n bytes of 'k'><suffix>" in a static buffer. */
static const char *with_key(const char *prefix, size_t n, const char *suffix) {
    size_t p = strlen(prefix);
    memcpy(long_key_buf, prefix, p);
    memset(long_key_buf + p, 'k', n);
    strcpy(long_key_buf + p + n, suffix);
    return long_key_buf;
}

struct error_case {
    const char *line;
    const char *error;
    bool noreply;
};

static void check_errors(const struct error_case *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        struct proto_request r = parse(c[i].line);
        cr_assert_eq(r.cmd, PROTO_CMD_ERROR, "'%s' parsed as command %d", c[i].line, r.cmd);
        cr_assert_str_eq(r.error, c[i].error, "'%s'", c[i].line);
        cr_assert_eq(r.noreply, c[i].noreply, "'%s': noreply", c[i].line);
    }
}

#define CHECK_ERRORS(cases) check_errors(cases, sizeof(cases) / sizeof(cases[0]))

/* --- commands and token counts --------------------------------------------- */

Test(proto, unknown_or_empty_lines_are_error) {
    static const struct error_case c[] = {
        {"", E_ERROR, false},          {"   ", E_ERROR, false},
        {"foo", E_ERROR, false},       {"GET k", E_ERROR, false}, /* case-sensitive */
        {"gett k", E_ERROR, false},    {"noreply", E_ERROR, false},
    };
    CHECK_ERRORS(c);
}

Test(proto, command_table) {
    static const struct {
        const char *line;
        enum proto_cmd cmd;
    } c[] = {
        {"get k", PROTO_CMD_GET},         {"gets k", PROTO_CMD_GETS},
        {"gat 1 k", PROTO_CMD_GAT},       {"gats 1 k", PROTO_CMD_GATS},
        {"set k 0 0 1", PROTO_CMD_SET},   {"add k 0 0 1", PROTO_CMD_ADD},
        {"replace k 0 0 1", PROTO_CMD_REPLACE}, {"append k 0 0 1", PROTO_CMD_APPEND},
        {"prepend k 0 0 1", PROTO_CMD_PREPEND}, {"cas k 0 0 1 1", PROTO_CMD_CAS},
        {"incr k 1", PROTO_CMD_INCR},     {"decr k 1", PROTO_CMD_DECR},
        {"delete k", PROTO_CMD_DELETE},   {"touch k 1", PROTO_CMD_TOUCH},
        {"stats", PROTO_CMD_STATS},       {"stats slabs", PROTO_CMD_STATS},
        {"flush_all", PROTO_CMD_FLUSH_ALL}, {"version", PROTO_CMD_VERSION},
        {"verbosity 1", PROTO_CMD_VERBOSITY}, {"quit", PROTO_CMD_QUIT},
        {"shutdown", PROTO_CMD_SHUTDOWN}, {"cache_memlimit 100", PROTO_CMD_CACHE_MEMLIMIT},
        {"lru_crawler metadump all", PROTO_CMD_LRU_CRAWLER},
        {"misbehave", PROTO_CMD_MISBEHAVE}, {"mg k v", PROTO_CMD_META},
        {"ms k 1", PROTO_CMD_META},       {"md k", PROTO_CMD_META},
        {"ma k", PROTO_CMD_META},         {"mn", PROTO_CMD_META},
        {"me k", PROTO_CMD_META},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        cr_assert_eq(parse(c[i].line).cmd, c[i].cmd, "'%s'", c[i].line);
}

Test(proto, wrong_token_counts_are_error) {
    static const struct error_case c[] = {
        {"get", E_ERROR, false},
        {"get ", E_ERROR, false},
        {"gets", E_ERROR, false},
        {"gat", E_ERROR, false},
        {"gats", E_ERROR, false},
        {"set k 0 0", E_ERROR, false},
        {"set k 0 0 1 noreply x", E_ERROR, false},
        {"cas k 0 0 1", E_ERROR, false},
        {"cas k 0 0 1 1 noreply x", E_ERROR, false},
        {"incr k", E_ERROR, false},
        {"incr k 1 2 3", E_ERROR, false},
        {"decr", E_ERROR, false},
        {"delete", E_ERROR, false},
        {"delete k 0 noreply x", E_ERROR, false},
        {"touch k", E_ERROR, false},
        {"touch k 1 noreply x", E_ERROR, false},
        {"flush_all 1 2 3", E_ERROR, false},
        {"verbosity", E_ERROR, false},
        {"verbosity 1 2 3", E_ERROR, false},
        {"cache_memlimit", E_ERROR, false},
    };
    CHECK_ERRORS(c);
}

/* Runs of spaces separate tokens; leading and trailing spaces are ignored. */
Test(proto, repeated_spaces) {
    struct proto_request r = parse("  set   k  5   0   3   noreply  ");
    cr_assert_eq(r.cmd, PROTO_CMD_SET);
    cr_assert(tok_eq(&r.key, "k"));
    cr_assert_eq(r.flags, 5);
    cr_assert_eq(r.vlen, 3);
    cr_assert(r.noreply);
    cr_assert_eq(r.ntok, 6);
}

/* Only spaces separate: a tab is part of the key, as in memcached. */
Test(proto, tab_belongs_to_key) {
    struct proto_request r = parse("delete a\tb");
    cr_assert_eq(r.cmd, PROTO_CMD_DELETE);
    cr_assert(tok_eq(&r.key, "a\tb"));
}

/* --- storage commands ------------------------------------------------------ */

Test(proto, set_fields) {
    struct proto_request r = parse("set mykey 123 3600 42");
    cr_assert_eq(r.cmd, PROTO_CMD_SET);
    cr_assert(tok_eq(&r.key, "mykey"));
    cr_assert_eq(r.flags, 123);
    cr_assert_eq(r.exptime, 3600);
    cr_assert_eq(r.vlen, 42);
    cr_assert_not(r.noreply);
}

Test(proto, cas_fields) {
    struct proto_request r = parse("cas k 1 -1 0 18446744073709551615 noreply");
    cr_assert_eq(r.cmd, PROTO_CMD_CAS);
    cr_assert_eq(r.exptime, -1);
    cr_assert_eq(r.vlen, 0);
    cr_assert_eq(r.cas, UINT64_MAX);
    cr_assert(r.noreply);
}

/* A sixth token that is not "noreply" is ignored (memcached stores). */
Test(proto, storage_extra_token_not_noreply) {
    struct proto_request r = parse("set k 0 0 1 abc");
    cr_assert_eq(r.cmd, PROTO_CMD_SET);
    cr_assert_not(r.noreply);
}

Test(proto, storage_bad_numbers) {
    static const struct error_case c[] = {
        {"set k abc 0 1", E_FORMAT, false},
        {"set k -1 0 1", E_FORMAT, false},
        {"set k 18446744073709551616 0 1", E_FORMAT, false},
        {"set k 0 abc 1", E_FORMAT, false},
        {"set k 0 0 abc", E_FORMAT, false},
        {"set k 0 0 1x", E_FORMAT, false},
        {"set k 0 0 -1", E_FORMAT, false},
        {"set k 0 0 2147483647", E_FORMAT, false}, /* +2 for "\r\n" would overflow */
        {"set k 0 0 2147483646", E_FORMAT, false},
        {"add k 0 0", E_ERROR, false},
        {"cas k 0 0 1 abc", E_FORMAT, false},
        {"cas k 0 0 1 -1", E_FORMAT, false},
        {"set k 0 0 noreply", E_FORMAT, true},
        {"set k 0 noreply 1", E_FORMAT, false},
        {"cas k 0 0 1 noreply", E_FORMAT, true},
    };
    CHECK_ERRORS(c);
}

Test(proto, storage_number_limits) {
    struct proto_request r = parse("set k 4294967295 2147483647 2147483645");
    cr_assert_eq(r.cmd, PROTO_CMD_SET);
    cr_assert_eq(r.flags, UINT32_MAX);
    cr_assert_eq(r.exptime, INT32_MAX);
    cr_assert_eq(r.vlen, 2147483645);
    r = parse("set k 0 -2147483648 0");
    cr_assert_eq(r.cmd, PROTO_CMD_SET);
    cr_assert_eq(r.exptime, INT32_MIN);
}

/* memcached parses flags as an unsigned long and keeps the low 32 bits
 * (1.6.18: "set k 4294967297 0 1" stores flags 1). */
Test(proto, flags_truncated_to_32_bits) {
    struct proto_request r = parse("set k 4294967297 0 1");
    cr_assert_eq(r.cmd, PROTO_CMD_SET);
    cr_assert_eq(r.flags, 1);
}

/* strtol's grammar, as memcached uses it: "+5", "-0", a tab before the
 * digits and white space after them are all accepted. */
Test(proto, storage_numbers_in_strtol_forms) {
    struct proto_request r = parse("set k +1 \t5 1\t");
    cr_assert_eq(r.cmd, PROTO_CMD_SET);
    cr_assert_eq(r.flags, 1);
    cr_assert_eq(r.exptime, 5);
    cr_assert_eq(r.vlen, 1);
    r = parse("set k -0 0 1");
    cr_assert_eq(r.cmd, PROTO_CMD_SET);
    cr_assert_eq(r.flags, 0);
}

Test(proto, storage_key_length) {
    struct proto_request r = parse(with_key("set ", 250, " 0 0 1"));
    cr_assert_eq(r.cmd, PROTO_CMD_SET);
    cr_assert_eq(r.key.len, 250);
    r = parse(with_key("set ", 251, " 0 0 1"));
    cr_assert_eq(r.cmd, PROTO_CMD_ERROR);
    cr_assert_str_eq(r.error, E_FORMAT);
    r = parse(with_key("set ", 251, " 0 0 1 noreply"));
    cr_assert_str_eq(r.error, E_FORMAT);
    cr_assert(r.noreply);
}

/* --- incr / decr ----------------------------------------------------------- */

Test(proto, arith_fields) {
    struct proto_request r = parse("incr k 18446744073709551615");
    cr_assert_eq(r.cmd, PROTO_CMD_INCR);
    cr_assert(tok_eq(&r.key, "k"));
    cr_assert_eq(r.delta, UINT64_MAX);
    cr_assert_not(r.noreply);
    r = parse("decr k 0 noreply");
    cr_assert_eq(r.cmd, PROTO_CMD_DECR);
    cr_assert_eq(r.delta, 0);
    cr_assert(r.noreply);
    r = parse("incr k +5");
    cr_assert_eq(r.delta, 5);
}

Test(proto, arith_errors) {
    static const struct error_case c[] = {
        {"incr k abc", E_DELTA, false},
        {"incr k -1", E_DELTA, false},
        {"incr k 18446744073709551616", E_DELTA, false},
        {"incr k 1x", E_DELTA, false},
        {"incr k noreply", E_DELTA, true}, /* memcached: silent */
        {"decr k noreply", E_DELTA, true},
    };
    CHECK_ERRORS(c);
    check_errors(&(struct error_case){with_key("incr ", 251, " 1"), E_FORMAT, false}, 1);
}

/* --- delete ---------------------------------------------------------------- */

Test(proto, delete_forms) {
    static const struct {
        const char *line;
        bool noreply;
    } ok[] = {{"delete k", false},
              {"delete k 0", false},
              {"delete k noreply", true},
              {"delete k 0 noreply", true}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct proto_request r = parse(ok[i].line);
        cr_assert_eq(r.cmd, PROTO_CMD_DELETE, "'%s'", ok[i].line);
        cr_assert(tok_eq(&r.key, "k"));
        cr_assert_eq(r.noreply, ok[i].noreply, "'%s'", ok[i].line);
    }
    /* "delete noreply" deletes the key "noreply" and answers. */
    struct proto_request r = parse("delete noreply");
    cr_assert_eq(r.cmd, PROTO_CMD_DELETE);
    cr_assert_not(r.noreply);
}

Test(proto, delete_errors) {
    static const struct error_case c[] = {
        {"delete k 1", E_DELETE, false},
        {"delete k 0 0", E_DELETE, false},
        {"delete k 1 noreply", E_DELETE, true},
        {"delete k x", E_DELETE, false},
    };
    CHECK_ERRORS(c);
    check_errors(&(struct error_case){with_key("delete ", 251, ""), E_FORMAT, false}, 1);
    /* memcached checks the hold time before the key length */
    check_errors(&(struct error_case){with_key("delete ", 251, " 1"), E_DELETE, false}, 1);
}

/* --- touch / gat ----------------------------------------------------------- */

Test(proto, touch_forms) {
    struct proto_request r = parse("touch k 100");
    cr_assert_eq(r.cmd, PROTO_CMD_TOUCH);
    cr_assert(tok_eq(&r.key, "k"));
    cr_assert_eq(r.exptime, 100);
    cr_assert_not(r.noreply);
    r = parse("touch k -5 noreply");
    cr_assert_eq(r.exptime, -5);
    cr_assert(r.noreply);
}

Test(proto, touch_errors) {
    static const struct error_case c[] = {
        {"touch k abc", E_EXPTIME, false},
        {"touch k noreply", E_EXPTIME, true},
    };
    CHECK_ERRORS(c);
    check_errors(&(struct error_case){with_key("touch ", 251, " 1"), E_FORMAT, false}, 1);
}

Test(proto, gat_forms) {
    struct proto_request r = parse("gats 300 a b");
    cr_assert_eq(r.cmd, PROTO_CMD_GATS);
    cr_assert_eq(r.exptime, 300);
    const char *p = r.keys, *end = r.keys + r.keys_len;
    struct proto_token k;
    cr_assert(proto_next_key(&p, end, &k));
    cr_assert(tok_eq(&k, "a"));
    cr_assert(proto_next_key(&p, end, &k));
    cr_assert(tok_eq(&k, "b"));
    cr_assert_not(proto_next_key(&p, end, &k));
}

/* "gat 10" has no key: memcached answers END, so it is not an error. */
Test(proto, gat_without_keys_is_empty_list) {
    struct proto_request r = parse("gat 10");
    cr_assert_eq(r.cmd, PROTO_CMD_GAT);
    const char *p = r.keys;
    struct proto_token k;
    cr_assert_not(proto_next_key(&p, r.keys + r.keys_len, &k));
}

Test(proto, gat_errors) {
    static const struct error_case c[] = {
        {"gat abc k", E_EXPTIME, false},
        {"gat noreply k", E_EXPTIME, false}, /* retrieval has no noreply */
    };
    CHECK_ERRORS(c);
}

/* --- retrieval key lists --------------------------------------------------- */

static unsigned count_keys(const struct proto_request *r, struct proto_token *last) {
    const char *p = r->keys, *end = r->keys + r->keys_len;
    unsigned n = 0;
    while (proto_next_key(&p, end, last))
        n++;
    return n;
}

Test(proto, get_key_list_with_repeated_spaces) {
    struct proto_request r = parse("get a  bb   ccc ");
    cr_assert_eq(r.cmd, PROTO_CMD_GET);
    struct proto_token k;
    const char *p = r.keys, *end = r.keys + r.keys_len;
    const char *want[] = {"a", "bb", "ccc"};
    for (int i = 0; i < 3; i++) {
        cr_assert(proto_next_key(&p, end, &k));
        cr_assert(tok_eq(&k, want[i]), "key %d is '%.*s'", i, (int)k.len, k.s);
    }
    cr_assert_not(proto_next_key(&p, end, &k));
}

/* More keys than tokens: the list is kept whole, not cut at 24 tokens. */
Test(proto, get_many_keys) {
    static char line[4096];
    strcpy(line, "gets");
    for (int i = 0; i < 100; i++)
        sprintf(line + strlen(line), " key%d", i);
    struct proto_request r = parse(line);
    cr_assert_eq(r.cmd, PROTO_CMD_GETS);
    struct proto_token last;
    cr_assert_eq(count_keys(&r, &last), 100);
    cr_assert(tok_eq(&last, "key99"));
}

/* A key over 250 bytes comes back too: the executor answers the error. */
Test(proto, get_long_key_returned_for_caller) {
    struct proto_request r = parse(with_key("get a ", 251, " b"));
    cr_assert_eq(r.cmd, PROTO_CMD_GET);
    const char *p = r.keys, *end = r.keys + r.keys_len;
    struct proto_token k;
    proto_next_key(&p, end, &k);
    cr_assert(proto_next_key(&p, end, &k));
    cr_assert_eq(k.len, 251);
    cr_assert(proto_next_key(&p, end, &k));
    cr_assert(tok_eq(&k, "b"));
}

/* Retrieval commands never take noreply: it is just a key. */
Test(proto, get_noreply_is_a_key) {
    struct proto_request r = parse("get noreply");
    cr_assert_eq(r.cmd, PROTO_CMD_GET);
    cr_assert_not(r.noreply);
    struct proto_token k;
    cr_assert_eq(count_keys(&r, &k), 1);
    cr_assert(tok_eq(&k, "noreply"));
}

Test(proto, next_key_on_empty_and_space_only) {
    const char *s = "   ";
    const char *p = s;
    struct proto_token k;
    cr_assert_not(proto_next_key(&p, s + 3, &k));
    p = s;
    cr_assert_not(proto_next_key(&p, s, &k));
}

Test(proto, line_may_be_long_only_for_retrieval) {
    const char *yes[] = {"get a", "gets a", "gat 1 a", "gats 1 a", "get "};
    const char *no[] = {"set k 0 0 1", "get", "getx a", "delete k", "", "mg k"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        cr_assert(proto_line_may_be_long(yes[i], strlen(yes[i])), "'%s'", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        cr_assert_not(proto_line_may_be_long(no[i], strlen(no[i])), "'%s'", no[i]);
}

/* get and gets are parsed without the tokenizer: the same commands and
 * keys, and lines that are not quite them still fall to the general path. */
Test(proto, get_fast_path_edges) {
    struct { const char *line; enum proto_cmd cmd; const char *first; } c[] = {
        {"get k", PROTO_CMD_GET, "k"},       {"gets k", PROTO_CMD_GETS, "k"},
        {"get   k  ", PROTO_CMD_GET, "k"},   {"gets  a b", PROTO_CMD_GETS, "a"},
        {"get", PROTO_CMD_ERROR, NULL},      {"get ", PROTO_CMD_ERROR, NULL},
        {"get    ", PROTO_CMD_ERROR, NULL},  {"gets", PROTO_CMD_ERROR, NULL},
        {"gets  ", PROTO_CMD_ERROR, NULL},   {"getx k", PROTO_CMD_ERROR, NULL},
        {"getsk", PROTO_CMD_ERROR, NULL},    {"gett k", PROTO_CMD_ERROR, NULL},
        {"ge k", PROTO_CMD_ERROR, NULL},     {" get k", PROTO_CMD_GET, "k"},
        {"get\tk", PROTO_CMD_ERROR, NULL},   {"gat 0 k", PROTO_CMD_GAT, "k"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct proto_request r = parse(c[i].line);
        cr_assert_eq(r.cmd, c[i].cmd, "'%s' parsed as %d", c[i].line, r.cmd);
        if (c[i].cmd == PROTO_CMD_ERROR) {
            cr_assert_str_eq(r.error, E_ERROR, "'%s'", c[i].line);
            continue;
        }
        const char *p = r.keys, *end = r.keys + r.keys_len;
        struct proto_token k;
        cr_assert(proto_next_key(&p, end, &k), "'%s': no key", c[i].line);
        cr_assert(tok_eq(&k, c[i].first), "'%s': key '%.*s'", c[i].line, (int)k.len, k.s);
    }
}

/* Keys are found eight bytes at a time below 24 bytes and by memchr above:
 * every length across both, and a space on and either side of each word
 * boundary, splits where it is. */
Test(proto, key_lengths_across_the_scan_steps) {
    for (size_t n = 1; n <= 60; n++) {
        char line[600]; /* with_key's whole buffer fits */
        /* "get " puts the key at offset 4, so its end moves across words */
        snprintf(line, sizeof(line), "get %s b", with_key("", n, ""));
        struct proto_request r = parse(line);
        cr_assert_eq(r.cmd, PROTO_CMD_GET, "key of %zu", n);
        const char *p = r.keys, *end = r.keys + r.keys_len;
        struct proto_token k;
        cr_assert(proto_next_key(&p, end, &k) && k.len == n, "key of %zu read as %zu", n, k.len);
        cr_assert(proto_next_key(&p, end, &k) && tok_eq(&k, "b"), "key of %zu: next", n);
        cr_assert_not(proto_next_key(&p, end, &k));
        /* the key at the end of the line, and in a tokenized command */
        r = parse(with_key("get ", n, ""));
        p = r.keys;
        cr_assert(proto_next_key(&p, r.keys + r.keys_len, &k) && k.len == n, "last key of %zu", n);
        snprintf(line, sizeof(line), "delete %s noreply", with_key("", n, ""));
        r = parse(line);
        cr_assert_eq(r.cmd, PROTO_CMD_DELETE, "delete, key of %zu", n);
        cr_assert_eq(r.key.len, n, "delete, key of %zu read as %zu", n, r.key.len);
        cr_assert(r.noreply);
    }
}

/* --- flush_all / verbosity / misc ----------------------------------------- */

Test(proto, flush_all_forms) {
    static const struct {
        const char *line;
        int64_t exptime;
        bool noreply;
    } c[] = {
        {"flush_all", 0, false},          {"flush_all 0", 0, false},
        {"flush_all 10", 10, false},      {"flush_all -1", -1, false},
        {"flush_all noreply", 0, true},   {"flush_all 10 noreply", 10, true},
        {"flush_all 1 2", 1, false},      {"flush_all +5", 5, false},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct proto_request r = parse(c[i].line);
        cr_assert_eq(r.cmd, PROTO_CMD_FLUSH_ALL, "'%s'", c[i].line);
        cr_assert_eq(r.exptime, c[i].exptime, "'%s'", c[i].line);
        cr_assert_eq(r.noreply, c[i].noreply, "'%s'", c[i].line);
    }
}

Test(proto, flush_all_errors) {
    static const struct error_case c[] = {
        {"flush_all abc", E_EXPTIME, false},
        {"flush_all noreply x", E_EXPTIME, false},
        {"flush_all abc noreply", E_EXPTIME, true},
    };
    CHECK_ERRORS(c);
}

Test(proto, verbosity_forms) {
    struct proto_request r = parse("verbosity 1");
    cr_assert_eq(r.cmd, PROTO_CMD_VERBOSITY);
    cr_assert_eq(r.delta, 1);
    r = parse("verbosity 2 noreply");
    cr_assert_eq(r.cmd, PROTO_CMD_VERBOSITY);
    cr_assert(r.noreply);
    r = parse("verbosity 1 2");
    cr_assert_eq(r.cmd, PROTO_CMD_VERBOSITY);
    cr_assert_not(r.noreply);
}

Test(proto, verbosity_errors) {
    static const struct error_case c[] = {
        {"verbosity abc", E_FORMAT, false},
        {"verbosity noreply", E_FORMAT, true}, /* memcached: silent */
    };
    CHECK_ERRORS(c);
}

Test(proto, cache_memlimit_noreply) {
    cr_assert(parse("cache_memlimit 100 noreply").noreply);
    cr_assert(parse("cache_memlimit noreply").noreply);
    cr_assert_not(parse("cache_memlimit 100").noreply);
}

/* The executor reads stats and meta arguments from the token array. */
Test(proto, tokens_exposed) {
    struct proto_request r = parse("mg  foo v  t");
    cr_assert_eq(r.cmd, PROTO_CMD_META);
    cr_assert_eq(r.ntok, 4);
    cr_assert(tok_eq(&r.tok[0], "mg"));
    cr_assert(tok_eq(&r.tok[1], "foo"));
    cr_assert(tok_eq(&r.tok[3], "t"));
}

/* Past 24 tokens the last one holds the rest of the line (minus trailing
 * spaces), as memcached's tokenizer leaves it. */
Test(proto, token_limit_keeps_rest_in_last) {
    struct proto_request r =
        parse("stats a b c d e f g h i j k l m n o p q r s t u v w x y z  ");
    cr_assert_eq(r.ntok, PROTO_MAX_TOKENS);
    cr_assert(tok_eq(&r.tok[PROTO_MAX_TOKENS - 1], "w x y z"));
}

Test(proto, parse_uses_only_len_bytes) {
    const char line[] = "delete abc 0 garbage";
    struct proto_request r;
    proto_parse(line, 10, &r);
    cr_assert_eq(r.cmd, PROTO_CMD_DELETE);
    cr_assert(tok_eq(&r.key, "abc"));
    cr_assert_eq(r.ntok, 2);
}

/* --- number parsers -------------------------------------------------------- */

static struct proto_token T(const char *s) { return (struct proto_token){s, strlen(s)}; }

Test(proto_num, u64) {
    uint64_t v;
    struct proto_token t;
    cr_assert(proto_parse_u64((t = T("0"), &t), &v) && v == 0);
    cr_assert(proto_parse_u64((t = T("18446744073709551615"), &t), &v) && v == UINT64_MAX);
    cr_assert(proto_parse_u64((t = T("+7"), &t), &v) && v == 7);
    cr_assert(proto_parse_u64((t = T("-0"), &t), &v) && v == 0);
    cr_assert(proto_parse_u64((t = T("\t12"), &t), &v) && v == 12);
    cr_assert(proto_parse_u64((t = T("12\tjunk"), &t), &v) && v == 12);
    /* strtoull negates: "-18446744073709551615" is 1 for memcached too */
    cr_assert(proto_parse_u64((t = T("-18446744073709551615"), &t), &v) && v == 1);
    const char *bad[] = {"", "+", "-", "-1", "18446744073709551616", "99999999999999999999",
                         "1x", "x1", "1.5", "\t"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = T(bad[i]);
        cr_assert_not(proto_parse_u64(&t, &v), "'%s' accepted", bad[i]);
    }
}

/* Up to nine digits take a short path; the long forms the general one. */
Test(proto_num, digit_counts) {
    const char *in[] = {"0", "9", "10", "99", "100", "007", "12345", "999999999",
                        "1000000000", "4294967295", "4294967296", "123456789012"};
    const uint64_t want[] = {0, 9, 10, 99, 100, 7, 12345, 999999999,
                             1000000000, 4294967295u, 4294967296u, 123456789012u};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        uint64_t u;
        int64_t s;
        struct proto_token t = T(in[i]);
        cr_assert(proto_parse_u64(&t, &u) && u == want[i], "u64 '%s'", in[i]);
        cr_assert(proto_parse_i64(&t, &s) && s == (int64_t)want[i], "i64 '%s'", in[i]);
    }
    const char *bad[] = {"12a", "9/", ":", "12345678:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t u;
        struct proto_token t = T(bad[i]);
        cr_assert_not(proto_parse_u64(&t, &u), "'%s' accepted", bad[i]);
    }
}

Test(proto_num, i64) {
    int64_t v;
    struct proto_token t;
    cr_assert(proto_parse_i64((t = T("9223372036854775807"), &t), &v) && v == INT64_MAX);
    cr_assert(proto_parse_i64((t = T("-9223372036854775808"), &t), &v) && v == INT64_MIN);
    cr_assert(proto_parse_i64((t = T("-42"), &t), &v) && v == -42);
    const char *bad[] = {"", "-", "9223372036854775808", "-9223372036854775809", "4a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = T(bad[i]);
        cr_assert_not(proto_parse_i64(&t, &v), "'%s' accepted", bad[i]);
    }
}

/* Out-of-range 32-bit values are refused (memcached 1.6.18 truncates them
 * silently, which can desynchronise a connection on a huge length). */
Test(proto_num, i32) {
    int32_t v;
    struct proto_token t;
    cr_assert(proto_parse_i32((t = T("2147483647"), &t), &v) && v == INT32_MAX);
    cr_assert(proto_parse_i32((t = T("-2147483648"), &t), &v) && v == INT32_MIN);
    cr_assert_not(proto_parse_i32((t = T("2147483648"), &t), &v));
    cr_assert_not(proto_parse_i32((t = T("-2147483649"), &t), &v));
    cr_assert_not(proto_parse_i32((t = T(""), &t), &v));
}

Test(proto_num, flags) {
    uint32_t v;
    struct proto_token t;
    cr_assert(proto_parse_flags((t = T("4294967295"), &t), &v) && v == UINT32_MAX);
    cr_assert(proto_parse_flags((t = T("4294967296"), &t), &v) && v == 0);
    cr_assert_not(proto_parse_flags((t = T("-1"), &t), &v));
    cr_assert_not(proto_parse_flags((t = T("18446744073709551616"), &t), &v));
}

Test(proto_num, tok_is) {
    struct proto_token t = T("noreply");
    cr_assert(proto_tok_is(&t, "noreply"));
    cr_assert_not(proto_tok_is(&t, "norepl"));
    cr_assert_not(proto_tok_is(&t, "noreply!"));
}

/* --- formatting ------------------------------------------------------------ */

Test(proto_fmt, value_line) {
    char buf[320];
    size_t n = proto_fmt_value(buf, "key", 3, 5, 10, false, 0);
    cr_assert_eq(n, strlen("VALUE key 5 10\r\n"));
    cr_assert_arr_eq(buf, "VALUE key 5 10\r\n", n);
    n = proto_fmt_value(buf, "key", 3, 0, 0, true, 99);
    cr_assert_arr_eq(buf, "VALUE key 0 0 99\r\n", n);
    cr_assert_eq(n, strlen("VALUE key 0 0 99\r\n"));
}

/* The worst case fits the documented 320-byte buffer. */
Test(proto_fmt, value_line_longest) {
    char key[250], buf[320 + 1];
    memset(key, 'k', sizeof(key));
    memset(buf, 0x7f, sizeof(buf));
    size_t n = proto_fmt_value(buf, key, sizeof(key), UINT32_MAX, UINT32_MAX, true, UINT64_MAX);
    cr_assert_leq(n, 320);
    cr_assert_eq(buf[320], 0x7f, "wrote past 320 bytes");
    const char *tail = " 4294967295 4294967295 18446744073709551615\r\n";
    cr_assert_arr_eq(buf + 6 + 250, tail, strlen(tail));
    cr_assert_eq(n, 6 + 250 + strlen(tail));
}

Test(proto_fmt, u64) {
    char buf[24];
    cr_assert_eq(proto_fmt_u64(buf, 0), 1);
    cr_assert_eq(buf[0], '0');
    size_t n = proto_fmt_u64(buf, UINT64_MAX);
    cr_assert_arr_eq(buf, "18446744073709551615", n);
    cr_assert_eq(n, 20);
    /* both sides of every power of ten, as printf writes them */
    for (uint64_t p = 1; p != 0 && p <= UINT64_MAX / 10; p *= 10) {
        uint64_t vs[] = {p - 1, p, p + 1, p * 10 - 1, p * 5 + 12345 % p};
        for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
            char want[24];
            int w = snprintf(want, sizeof(want), "%llu", (unsigned long long)vs[i]);
            n = proto_fmt_u64(buf, vs[i]);
            cr_assert_eq(n, (size_t)w, "%s: %zu digits", want, n);
            cr_assert_arr_eq(buf, want, n, "%s", want);
        }
    }
    n = proto_fmt_u64_line(buf, 1234);
    cr_assert_arr_eq(buf, "1234\r\n", n);
    cr_assert_eq(n, 6);
}

/* HTTP request lines are hung up on (memcached: an unknown command whose
 * last token starts with "HTTP/"), and so are a method and a path. */
Test(proto, http_request_lines_hang_up) {
    const char *http[] = {"GET / HTTP/1.0", "PUT /asdf/asd/fasdfasdf/sadf HTTP/1.1",
                          "DELETE HTTP/1.1", "POST /wp-admin/x.php HTTP/1.1", "GET /",
                          "HEAD /index.html", "FOO bar HTTP/2"};
    for (size_t i = 0; i < sizeof(http) / sizeof(http[0]); i++)
        cr_assert_eq(parse(http[i]).cmd, PROTO_CMD_HANGUP, "%s", http[i]);
    /* real commands keep their meaning, and other garbage is ERROR */
    cr_assert_eq(parse("get / HTTP/1.0").cmd, PROTO_CMD_GET);
    cr_assert_eq(parse("GET").cmd, PROTO_CMD_ERROR);
    cr_assert_eq(parse("GET foo").cmd, PROTO_CMD_ERROR);
    cr_assert_eq(parse("Host: 127.0.0.1:11211").cmd, PROTO_CMD_ERROR);
}

Test(proto, uri_encoding_as_memcached) {
    char out[64];
    cr_assert_eq(proto_fmt_uri(out, "a-Z_9.~", 7), 7);
    cr_assert_str_eq(out, "a-Z_9.~");
    cr_assert_eq(proto_fmt_uri(out, "k y\x01\xff:", 6), 14);
    cr_assert_str_eq(out, "k%20y%01%FF%3A");
}
