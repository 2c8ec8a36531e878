/*
 * proto: the memcached text protocol, parsed and formatted without I/O.
 *
 * proto_parse() takes one command line (without its "\r\n" or "\n") and
 * fills a request, or says which error line memcached would answer.  Tokens
 * point into the caller's buffer; nothing is copied or allocated, so the
 * parser can be unit-tested and fuzzed on plain byte arrays.
 *
 * The rules follow memcached 1.6: tokens are separated by runs of spaces
 * (only spaces: a tab belongs to a key), commands are case-sensitive, each
 * command accepts a fixed range of token counts and answers "ERROR" outside
 * it, numbers that do not parse give "CLIENT_ERROR bad command line format",
 * and a trailing "noreply" token silences the reply.
 */
#ifndef LARDER_PROTO_H
#define LARDER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_KEY_MAX 250
#define PROTO_MAX_TOKENS 24
/* A line longer than this without a newline closes the connection, unless it
 * is a retrieval command, whose key lists may be long (memcached's rule). */
#define PROTO_LINE_MAX 2048
#define PROTO_GET_LINE_MAX (1u << 20)

enum proto_cmd {
    PROTO_CMD_ERROR = 0, /* reply req->error and go on */
    PROTO_CMD_GET,
    PROTO_CMD_GETS,
    PROTO_CMD_GAT,
    PROTO_CMD_GATS,
    PROTO_CMD_SET,
    PROTO_CMD_ADD,
    PROTO_CMD_REPLACE,
    PROTO_CMD_APPEND,
    PROTO_CMD_PREPEND,
    PROTO_CMD_CAS,
    PROTO_CMD_INCR,
    PROTO_CMD_DECR,
    PROTO_CMD_DELETE,
    PROTO_CMD_TOUCH,
    PROTO_CMD_STATS,
    PROTO_CMD_FLUSH_ALL,
    PROTO_CMD_VERSION,
    PROTO_CMD_VERBOSITY,
    PROTO_CMD_QUIT,
    PROTO_CMD_SHUTDOWN,
    PROTO_CMD_CACHE_MEMLIMIT,
    PROTO_CMD_LRU_CRAWLER,
    PROTO_CMD_MISBEHAVE,
    PROTO_CMD_REFRESH_CERTS, /* -Z: reload the certificates */
    PROTO_CMD_META, /* mg ms md ma mn me: see meta.h */
    PROTO_CMD_WATCH, /* see server/logger.h */
    PROTO_CMD_SLABS, /* slabs reassign / automove */
    /* an HTTP request line: what a web page makes a browser send to a cache
     * on localhost; hang up without a byte, as memcached does */
    PROTO_CMD_HANGUP,
};

struct proto_token {
    const char *s;
    size_t len;
};

struct proto_request {
    enum proto_cmd cmd;
    const char *error; /* with PROTO_CMD_ERROR: the line to answer */
    bool noreply;
    struct proto_token key;
    uint32_t flags;
    int64_t exptime;
    int64_t vlen;   /* storage commands: bytes of data that follow */
    uint64_t cas;
    uint64_t delta;
    /* retrieval commands: the keys, still to be split by proto_next_key */
    const char *keys;
    size_t keys_len;
    /* every token of the line, for stats, meta and the rarer commands
     * (get and gets fill tok[0] alone: their keys are in keys) */
    struct proto_token tok[PROTO_MAX_TOKENS];
    unsigned ntok;
};

/* Parses one line; always fills req (req->cmd == PROTO_CMD_ERROR on error). */
void proto_parse(const char *line, size_t len, struct proto_request *req);

/* Splits the next key off [*p, end); false when there is none.  Keys longer
 * than PROTO_KEY_MAX are returned too: the caller answers the error. */
bool proto_next_key(const char **p, const char *end, struct proto_token *key);

/* True when a line that is still incomplete may keep growing past
 * PROTO_LINE_MAX (it is a retrieval command with a long key list). */
bool proto_line_may_be_long(const char *buf, size_t len);

/* Token equals a C string. */
bool proto_tok_is(const struct proto_token *t, const char *s);

/* Number parsers with memcached's acceptance rules. */
bool proto_parse_u64(const struct proto_token *t, uint64_t *out);
bool proto_parse_i64(const struct proto_token *t, int64_t *out);
bool proto_parse_i32(const struct proto_token *t, int32_t *out);
/* memcached's flags: a 64-bit parse truncated to 32 bits, negatives refused. */
bool proto_parse_flags(const struct proto_token *t, uint32_t *out);

/* Formats "VALUE <key> <flags> <bytes>[ <cas>]\r\n" into buf (size >= 320);
 * returns its length. */
size_t proto_fmt_value(char *buf, const char *key, size_t nkey, uint32_t flags, uint32_t nbytes,
                       bool with_cas, uint64_t cas);

/* Decimal of v followed by "\r\n" into buf (size >= 24); returns length. */
size_t proto_fmt_u64_line(char *buf, uint64_t v);
/* Decimal of v into buf, no terminator; returns length. */
size_t proto_fmt_u64(char *buf, uint64_t v);
/* memcached's uriencode of src[0, n) into dst (size >= 3n + 1): unreserved
 * characters as they are, every other byte %XX; NUL-terminated, returns
 * the length.  For keys in metadump and watch lines. */
size_t proto_fmt_uri(char *dst, const char *src, size_t n);

#endif
