/*
 * binary: binary-protocol commands against the store; see binary.h.
 *
 * Each reply is written whole into the client's output: header,
 * extras, key, value.  The value of a hit is copied under the shard lock,
 * as the text front end does.  Stores read their value straight into the
 * item (ENGINE_NEED_VALUE, no "\r\n" to expect), so a large set costs no
 * extra copy.
 */
#include "server/binary.h"

#include <stdio.h>
#include <string.h>

#include "server/logger.h"
#include "server/auth.h"
#include "server/sasl.h"
#include "server/server.h"
#include "server/worker.h"
#include "server/stats.h"
#include "storage/store.h"

/* memcached stores binary incr/decr results as text; its largest is 20 digits. */
#define BIN_COUNTER_DIGITS 20
/* An incr/decr expiration of all ones means "do not create on a miss". */
#define BIN_NO_VIVIFY 0xffffffffu

static struct store *bin_store(struct engine_client *c) { return engine_worker(c)->srv->store; }

/* Writes one packet; parts may be NULL when their length is 0.  With
 * `it`, the value is it's (val unused), sent from the item when long. */
static void bin_respond_item(struct engine_client *c, enum bin_status st, uint64_t cas,
                             const void *ext, uint8_t extlen, const void *key, uint16_t keylen,
                             const void *val, uint32_t vlen, const struct item *it) {
    bool ref = it != NULL && engine_value_by_ref(c, it);
    if (it != NULL)
        val = item_cvalue(it);
    size_t copied = ref ? 0 : vlen;
    size_t total = BIN_HEADER_LEN + extlen + keylen + copied;
    char *p = engine_reserve(c, total);
    if (p == NULL)
        return;
    const struct engine_session *ss = engine_session(c);
    bin_format_header((unsigned char *)p, ss->bin_op, st, extlen, keylen,
                      (uint32_t)(extlen + keylen + vlen), ss->bin_opaque, cas);
    char *o = p + BIN_HEADER_LEN;
    if (extlen)
        memcpy(o, ext, extlen);
    o += extlen;
    if (keylen)
        memcpy(o, key, keylen);
    o += keylen;
    if (copied)
        memcpy(o, val, copied);
    engine_commit(c, total);
    if (ref)
        engine_value_slow(c, it);
}

static void bin_respond(struct engine_client *c, enum bin_status st, uint64_t cas, const void *ext,
                        uint8_t extlen, const void *key, uint16_t keylen, const void *val,
                        uint32_t vlen) {
    bin_respond_item(c, st, cas, ext, extlen, key, keylen, val, vlen, NULL);
}

/* An error with memcached's text for it; errors are sent even when quiet. */
static void bin_error_text(struct engine_client *c, enum bin_status st, const char *text) {
    bin_respond(c, st, 0, NULL, 0, NULL, 0, text, (uint32_t)strlen(text));
}

static void bin_error(struct engine_client *c, enum bin_status st) {
    bin_error_text(c, st, bin_status_text(st));
}

/* A success without a body, unless the request was quiet. */
static void bin_ok(struct engine_client *c, uint64_t cas) {
    if (!engine_session(c)->bin_quiet)
        bin_respond(c, BIN_OK, cas, NULL, 0, NULL, 0, NULL, 0);
}

static void bin_swallow(struct engine_client *c, uint32_t n) { engine_swallow(c, n); }

/* --- get, getk, touch, gat ---------------------------------------------------- */

/* Flags as extras, the key for getk/gatk, the value unless touch. */
static void bin_hit(void *ctx, const struct item *it, const struct store_fetch_info *in) {
    struct engine_client *c = ((const struct engine_hit *)ctx)->c;
    const struct engine_request *r = ((const struct engine_hit *)ctx)->r;
    (void)in;
    uint8_t op = ((const struct bin_request *)r->arg)->op; /* quiet ones as their loud twin */
    bool with_key = op == BIN_GETK || op == BIN_GATK, with_value = op != BIN_TOUCH;
    char flags[4];
    bin_store32(flags, it->flags);
    bin_respond_item(c, BIN_OK, store_item_cas(bin_store(c), it), flags, 4,
                     with_key ? item_ckey(it) : NULL, with_key ? (uint16_t)it->nkey : 0, NULL,
                     with_value ? it->nbytes : 0, with_value ? it : NULL);
}

static void bin_missed(struct engine_client *c, const struct engine_request *r,
                       const struct engine_outcome *o) {
    (void)o;
    uint8_t op = ((const struct bin_request *)r->arg)->op;
    if (engine_session(c)->bin_quiet)
        return;
    if (op == BIN_GETK || op == BIN_GATK) /* a getk miss names the key, not "Not found" */
        bin_respond(c, BIN_KEY_ENOENT, 0, NULL, 0, r->key, (uint16_t)r->nkey, NULL, 0);
    else
        bin_error(c, BIN_KEY_ENOENT);
}

static const struct engine_format bin_fmt_get = {.hit = bin_hit, .done = bin_missed};

static void bin_get(struct engine_client *c, const struct bin_request *r) {
    bool touch = r->op == BIN_TOUCH || r->op == BIN_GAT || r->op == BIN_GATK;
    struct engine_request q = {.op = ENGINE_FETCH, .key = r->key, .nkey = r->h.keylen,
                               .fmt = &bin_fmt_get, .arg = (void *)r, .detail = true,
                               .fetch = {.touch = touch}};
    if (touch)
        q.fetch.exptime = clock_exptime((int64_t)bin_load32(r->extras));
    engine_execute(c, &q);
}

/* --- set, add, replace, append, prepend --------------------------------------- */

static enum store_mode bin_store_mode(uint8_t op, uint64_t cas) {
    switch (op) {
    case BIN_APPEND: return STORE_APPEND; /* store_link checks a non-zero cas */
    case BIN_PREPEND: return STORE_PREPEND;
    default: break;
    }
    if (cas != 0)
        return STORE_CAS; /* memcached turns set, add and replace with a cas into cas */
    return op == BIN_ADD ? STORE_ADD : op == BIN_REPLACE ? STORE_REPLACE : STORE_SET;
}

static void bin_stored(struct engine_client *c, const struct engine_request *r,
                       const struct engine_outcome *o) {
    if (o->alloc_failed) {
        if (o->st == STORE_TOO_LARGE)
            bin_error(c, BIN_E2BIG);
        else
            bin_error_text(c, BIN_ENOMEM, "Out of memory allocating item");
        return;
    }
    switch (o->st) {
    case STORE_OK: bin_ok(c, o->cas); break;
    case STORE_EXISTS: bin_error(c, BIN_KEY_EEXISTS); break;
    case STORE_NOT_FOUND: bin_error(c, BIN_KEY_ENOENT); break;
    default:
        /* memcached names why an add or replace was refused */
        bin_error(c, r->store.mode == STORE_ADD       ? BIN_KEY_EEXISTS
                     : r->store.mode == STORE_REPLACE ? BIN_KEY_ENOENT
                                                      : BIN_NOT_STORED);
        break;
    }
}

static const struct engine_format bin_fmt_store = {.done = bin_stored};

static void bin_update(struct engine_client *c, const struct bin_request *r) {
    bool concat = r->op == BIN_APPEND || r->op == BIN_PREPEND;
    struct engine_request q = {
        .op = ENGINE_STORE, .key = r->key, .nkey = r->h.keylen, .fmt = &bin_fmt_store,
        .detail = true,
        .store = {
            .mode = bin_store_mode(r->op, r->h.cas),
            .cas_in = r->h.cas,
            .flags = concat ? 0 : bin_load32(r->extras),
            .exptime = concat ? 0 : (int64_t)bin_load32(r->extras + 4),
            .vlen = r->vlen,
            .crlf = false, /* no terminator in binary */
            .drop_old = r->op == BIN_SET,
        },
    };
    engine_execute(c, &q);
}

/* --- delete, incr, decr ------------------------------------------------------- */

static void bin_deleted(struct engine_client *c, const struct engine_request *r,
                        const struct engine_outcome *o) {
    (void)r;
    switch (o->st) {
    case STORE_OK: bin_ok(c, 0); break;
    case STORE_EXISTS: bin_error(c, BIN_KEY_EEXISTS); break;
    default: bin_error(c, BIN_KEY_ENOENT); break;
    }
}

static const struct engine_format bin_fmt_delete = {.done = bin_deleted};

static void bin_delete(struct engine_client *c, const struct bin_request *r) {
    struct engine_request q = {.op = ENGINE_DELETE, .key = r->key, .nkey = r->h.keylen,
                               .fmt = &bin_fmt_delete, .detail = true,
                               .del = {.has_cas = r->h.cas != 0, .cas = r->h.cas}};
    engine_execute(c, &q);
}

static void bin_counted(struct engine_client *c, const struct engine_request *r,
                        const struct engine_outcome *o) {
    (void)r;
    char value[8];
    switch (o->st) {
    case STORE_OK:
        if (!engine_session(c)->bin_quiet) {
            bin_store64(value, o->arith.value);
            bin_respond(c, BIN_OK, o->arith.cas, NULL, 0, NULL, 0, value, 8);
        }
        break;
    case STORE_NOT_FOUND: bin_error(c, BIN_KEY_ENOENT); break;
    case STORE_EXISTS: bin_error(c, BIN_KEY_EEXISTS); break;
    case STORE_NON_NUMERIC: bin_error(c, BIN_DELTA_BADVAL); break;
    case STORE_NOT_STORED: bin_error_text(c, BIN_ENOMEM, "Out of memory allocating new item"); break;
    default: bin_error_text(c, BIN_ENOMEM, "Out of memory incrementing value"); break;
    }
}

static const struct engine_format bin_fmt_arith = {.done = bin_counted};

static void bin_arith(struct engine_client *c, const struct bin_request *r) {
    uint32_t expiration = bin_load32(r->extras + 16);
    struct engine_request q = {
        .op = ENGINE_ARITH, .key = r->key, .nkey = r->h.keylen, .fmt = &bin_fmt_arith,
        .arith = {
            .incr = r->op == BIN_INCREMENT,
            .delta = bin_load64(r->extras),
            .cas_in = r->h.cas,
            .vivify = expiration != BIN_NO_VIVIFY,
            .initial = bin_load64(r->extras + 8),
            .vivify_exptime = clock_exptime((int64_t)expiration),
        },
    };
    engine_execute(c, &q);
}

/* --- the rest ----------------------------------------------------------------- */

static void bin_flush(struct engine_client *c, const struct bin_request *r) {
    if (!engine_worker(c)->srv->settings->flush_enabled) {
        bin_error(c, BIN_AUTH_ERROR); /* memcached's answer under -F */
        return;
    }
    int64_t delay = r->h.extlen == 4 ? (int64_t)bin_load32(r->extras) : 0;
    store_flush(bin_store(c), delay);
    STAT_INCR(engine_worker(c), cmd_flush);
    bin_ok(c, 0);
}

void bin_stat_packet(struct engine_client *c, const char *key, size_t nkey, const char *val, size_t nval) {
    struct engine_session *ss = engine_session(c);
    uint8_t op = ss->bin_op;
    ss->bin_op = BIN_STAT;
    bin_respond(c, BIN_OK, 0, NULL, 0, key, (uint16_t)nkey, val, (uint32_t)nval);
    ss->bin_op = op;
}

static void bin_stat(struct engine_client *c, const struct bin_request *r) {
    if (!stats_binary(c, r->key, r->h.keylen))
        bin_error(c, BIN_KEY_ENOENT);
}

static void bin_log(const struct engine_client *c, const struct bin_request *r) {
    fprintf(stderr, "<%d binary opcode 0x%02x key %.*s (%u bytes of value)\n", engine_client_id(c), r->h.opcode,
            r->key ? (int)r->h.keylen : 0, r->key ? r->key : "", (unsigned)r->vlen);
}

/* --- SASL (-S) ------------------------------------------------------------------ */

/* The SASL data is read whole; memcached's mechanisms need far less. */
#define BIN_SASL_DATA_MAX 8192

static struct sasl_srv *bin_sasl(struct engine_client *c) {
    struct engine_session *ss = engine_session(c);
    if (ss->sasl == NULL)
        ss->sasl = sasl_srv_new();
    return ss->sasl;
}

static void bin_sasl_mechs(struct engine_client *c) {
    const char *mechs;
    size_t len;
    struct sasl_srv *s = bin_sasl(c);
    if (s == NULL || !sasl_srv_mechs(s, &mechs, &len)) {
        bin_error(c, BIN_AUTH_ERROR);
        return;
    }
    bin_respond(c, BIN_OK, 0, NULL, 0, NULL, 0, mechs, (uint32_t)len);
}

/* The data has been read into a scratch item, never linked. */
static void bin_sasl_complete(struct engine_client *c) {
    struct engine_session *ss = engine_session(c);
    bool crlf_ok;
    struct item *it = engine_take_value(c, &crlf_ok);
    struct sasl_srv *s = bin_sasl(c);
    struct auth *brake = engine_worker(c)->srv->sasl_brake;
    const struct sockaddr *from =
        c->peer.ss_family != AF_UNSPEC ? (const struct sockaddr *)&c->peer : NULL;
    uint64_t now = auth_now_ms();
    unsigned delay = 0;
    const char *out = "";
    size_t outlen = 0;
    enum sasl_srv_status st = SASL_SRV_FAIL;
    /* an address in its failure delay is failed unchecked */
    bool may = brake == NULL || auth_brake_enter(brake, from, now, &delay);
    if (may && s && ss->bin_op == BIN_SASL_AUTH)
        st = sasl_srv_start(s, ss->sasl_mech, ss->sasl_mechlen, item_cvalue(it), it->nbytes, &out,
                            &outlen);
    else if (may && s)
        st = sasl_srv_step(s, item_cvalue(it), it->nbytes, &out, &outlen);
    if (may && brake && st != SASL_SRV_CONTINUE)
        delay = auth_brake_leave(brake, from, st == SASL_SRV_OK, now);
    store_release(bin_store(c), it);
    switch (st) {
    case SASL_SRV_OK:
        ss->authed = true;
        bin_respond(c, BIN_OK, 0, NULL, 0, NULL, 0, "Authenticated", 13);
        break;
    case SASL_SRV_CONTINUE:
        bin_respond(c, BIN_AUTH_CONTINUE, 0, NULL, 0, NULL, 0, out, (uint32_t)outlen);
        break;
    default:
        bin_error(c, BIN_AUTH_ERROR);
        engine_hold(c, delay); /* the reply waits out the brake's delay */
        break;
    }
}

/* SASL_AUTH and SASL_STEP: the mechanism is the key, the data the value. */
static void bin_sasl_auth(struct engine_client *c, const struct bin_request *r) {
    struct engine_session *ss = engine_session(c);
    if (r->h.keylen > sizeof(ss->sasl_mech) - 1 || r->vlen > BIN_SASL_DATA_MAX) {
        bin_error(c, BIN_EINVAL);
        bin_swallow(c, r->vlen);
        return;
    }
    memcpy(ss->sasl_mech, r->key, r->h.keylen);
    ss->sasl_mechlen = (uint8_t)r->h.keylen;
    enum store_status st;
    struct item *it = store_alloc(bin_store(c), "sasl", 4, 0, 0, r->vlen, &st);
    if (it == NULL) {
        bin_error_text(c, BIN_ENOMEM, "Out of memory");
        bin_swallow(c, r->vlen);
        return;
    }
    engine_read_value(c, it, false, bin_sasl_complete);
}

/* memcached's rule under -S: before login only SASL and VERSION pass;
 * anything else gets AUTH_ERROR and the connection is closed. */
static bool bin_allowed(struct engine_client *c, uint8_t op) {
    return engine_session(c)->authed || op == BIN_SASL_LIST_MECHS || op == BIN_SASL_AUTH ||
           op == BIN_SASL_STEP || op == BIN_VERSION;
}

static void bin_dispatch(struct engine_client *c, const struct bin_request *r) {
    bool sasl = engine_worker(c)->srv->settings->sasl;
    switch (r->op) {
    case BIN_GET:
    case BIN_GETK:
    case BIN_TOUCH:
    case BIN_GAT:
    case BIN_GATK: bin_get(c, r); break;
    case BIN_SET:
    case BIN_ADD:
    case BIN_REPLACE:
    case BIN_APPEND:
    case BIN_PREPEND: bin_update(c, r); return; /* the value is what follows */
    case BIN_DELETE: bin_delete(c, r); break;
    case BIN_INCREMENT:
    case BIN_DECREMENT: bin_arith(c, r); break;
    case BIN_FLUSH: bin_flush(c, r); break;
    case BIN_NOOP: bin_respond(c, BIN_OK, 0, NULL, 0, NULL, 0, NULL, 0); break;
    case BIN_VERSION:
        bin_respond(c, BIN_OK, 0, NULL, 0, NULL, 0, LARDER_VERSION, sizeof(LARDER_VERSION) - 1);
        break;
    case BIN_STAT: bin_stat(c, r); break;
    case BIN_QUIT:
        bin_ok(c, 0);
        engine_hang_up(c, true);
        return;
    case BIN_SASL_LIST_MECHS:
        if (!sasl)
            goto unknown;
        bin_sasl_mechs(c);
        break;
    case BIN_SASL_AUTH:
    case BIN_SASL_STEP:
        if (!sasl)
            goto unknown;
        bin_sasl_auth(c, r);
        return; /* the data is what follows */
    default:
    unknown:
        /* SASL without -S, as memcached: not a command this server knows */
        bin_error(c, BIN_UNKNOWN_COMMAND);
        break;
    }
    bin_swallow(c, r->vlen);
}

static void bin_execute(struct engine_client *c, const struct bin_request *req, enum bin_check check) {
    struct engine_session *ss = engine_session(c);
    ss->bin_op = req->h.opcode;
    ss->bin_opaque = req->h.opaque;
    ss->bin_quiet = req->quiet;
    if (__atomic_load_n(&engine_worker(c)->srv->verbose, __ATOMIC_RELAXED) > 1)
        bin_log(c, req);
    if (!bin_allowed(c, req->h.opcode)) {
        bin_error(c, BIN_AUTH_ERROR);
        engine_hang_up(c, true);
        return;
    }
    switch (check) {
    case BIN_CHECK_OK: bin_dispatch(c, req); return;
    case BIN_CHECK_UNKNOWN:
        bin_error(c, BIN_UNKNOWN_COMMAND);
        bin_swallow(c, req->vlen);
        return;
    case BIN_CHECK_BAD_BODY: bin_error(c, BIN_UNKNOWN_COMMAND); break;
    case BIN_CHECK_INVALID: bin_error(c, BIN_EINVAL); break;
    }
    engine_hang_up(c, true); /* memcached hangs up once the error is sent */
}

/* A request memcached would hang up on is answered from its header alone;
 * otherwise its header, extras and key must be buffered, and its value (if
 * any) is asked for by the command. */
enum engine_result bin_run(struct engine_client *c, const char *buf, size_t len, size_t *used) {
    const unsigned char *start = (const unsigned char *)buf;
    if (len < BIN_HEADER_LEN)
        return ENGINE_MORE;
    struct bin_header h;
    struct bin_request req;
    bin_parse_header(start, &h);
    if (h.magic != BIN_MAGIC_REQ) {
        if (__atomic_load_n(&c->w->srv->verbose, __ATOMIC_RELAXED) > 0)
            fprintf(stderr, "Invalid magic:  %x\n", h.magic);
        return ENGINE_CLOSE_AFTER_REPLY; /* what was answered before still goes out */
    }
    enum bin_check check = bin_check_request(&h, NULL, NULL, &req);
    size_t need = BIN_HEADER_LEN;
    if (check == BIN_CHECK_OK || check == BIN_CHECK_UNKNOWN) {
        need += h.extlen + (size_t)h.keylen; /* at most 24 + 255 + 250 */
        if (len < need)
            return ENGINE_MORE;
        req.extras = (const char *)start + BIN_HEADER_LEN;
        req.key = req.extras + h.extlen;
    }
    *used = need;
    c->buffered = len - need;
    bin_execute(c, &req, check);
    if (c->next == ENGINE_MORE)
        c->want += need; /* counted from the header's start */
    return c->next;
}
