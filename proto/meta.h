/*
 * meta: the flags of memcached's meta commands (mg ms md ma mn me), parsed
 * from the tokens proto_parse() already split, without I/O.
 *
 * A meta line is "<cm> <key> [<datalen>] <flag>*": each flag is one
 * character, optionally followed by a token ("T30", "Oabc").  meta_parse()
 * checks the line the way memcached 1.6.18 does (proto_text.c, the meta
 * "preparse"), in the same order, so that the first error found is the one
 * memcached would answer, and converts the tokens it understands.  Which
 * flags a reply carries, and in what order, is left to the executor: it
 * walks m->flags, the flag tokens in request order.
 *
 * Numbers stay as the client sent them (exptimes are protocol exptimes, not
 * converted to the store's clock): proto does not depend on storage.
 */
#ifndef LARDER_META_H
#define LARDER_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* memcached's MFLAG_MAX_OPT_LENGTH counts its terminal token: lines with
 * this many tokens or more are refused. */
#define META_MAX_TOKENS 20
/* An opaque token ("O" included) may be up to this long. */
#define META_OPAQUE_MAX 32

enum meta_cmd { META_GET, META_SET, META_DELETE, META_ARITH, META_NOOP, META_DEBUG };

enum meta_status {
    META_OK = 0,
    META_ERROR,         /* answer m->error */
    META_ERROR_SWALLOW, /* ms: answer m->error and discard the data block */
};

struct meta_request {
    enum meta_cmd cmd;
    const char *error; /* with META_ERROR*: the reply line */

    /* The key, base64-decoded into keybuf when the b flag is given. */
    const char *key;
    size_t nkey;
    bool key_binary;

    /* The flag tokens, in request order (they point into the line). */
    const struct proto_token *flags;
    unsigned nflags;
    /* Position of each flag in flags[] plus one, 0 when absent: a flag's
     * presence and its order relative to another one. */
    uint8_t pos[128];

    int64_t vlen;           /* ms: bytes of data that follow */
    int32_t exptime;        /* T */
    int32_t vivify_exptime; /* N */
    int32_t recache_time;   /* R */
    uint32_t client_flags;  /* F */
    uint64_t cas;           /* C, when has_cas */
    bool has_cas;
    uint64_t delta;         /* D, 1 by default */
    uint64_t initial;       /* J, 0 by default */
    char mode;              /* M: the mode character, 0 when absent */
    bool quiet;             /* q */
    bool value;             /* v */
    bool no_bump;           /* u */
    bool invalidate;        /* I */
    /* mg and ma check the opaque length only while writing their reply,
     * after the command ran (memcached's order): the executor answers
     * "CLIENT_ERROR opaque token too long" then. */
    const struct proto_token *opaque;
    bool opaque_too_long;

    char keybuf[PROTO_KEY_MAX];
};

/* Parses the meta command in req (req->cmd == PROTO_CMD_META).  META_OK, or
 * an error status with m->error set (and m->vlen for META_ERROR_SWALLOW). */
enum meta_status meta_parse(const struct proto_request *req, struct meta_request *m);

/* True when flag c was given. */
static inline bool meta_has(const struct meta_request *m, char c) {
    return m->pos[(unsigned char)c & 127] != 0;
}

/* True when flag a was given after flag b (both present). */
static inline bool meta_after(const struct meta_request *m, char a, char b) {
    return meta_has(m, a) && meta_has(m, b) && m->pos[(unsigned char)a] > m->pos[(unsigned char)b];
}

/* memcached's base64 (RFC 1341 alphabet, "=" padding, characters outside
 * the alphabet skipped when decoding).  Both return the output length, 0 on
 * failure (bad input, or out_len too small: encoding needs 4 * (len + 2) / 3
 * + 1 bytes). */
size_t meta_base64_decode(const char *src, size_t len, char *out, size_t out_len);
size_t meta_base64_encode(const char *src, size_t len, char *out, size_t out_len);

#endif
