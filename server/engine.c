/*
 * engine: front-end choice, the client's output and its requests' asks;
 * see engine.h.
 */
#include "server/engine.h"

#include <stdlib.h>
#include <string.h>

#include "proto/binary.h"
#include "server/binary.h"
#include "server/cmd.h"
#include "server/login.h"
#include "server/sasl.h"
#include "server/server.h"

void engine_client_init(struct engine_client *c, struct worker *w, int id, enum engine_proto proto,
                        size_t out_max) {
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->id = id;
    c->s.proto = proto;
    c->out.max = out_max;
    c->next = ENGINE_DONE;
    c->s.authed = w == NULL || (w->srv->auth == NULL && !w->srv->settings->sasl);
}

void engine_client_free(struct engine_client *c) {
    if (c->value != NULL)
        store_release(c->w->srv->store, c->value);
    c->value = NULL;
    sasl_srv_free(c->s.sasl);
    c->s.sasl = NULL;
    free(c->out.buf);
    c->out.buf = NULL;
}

enum engine_result engine_run(struct engine_client *c, const char *buf, size_t len, size_t *used) {
    *used = 0;
    if (len == 0)
        return ENGINE_MORE;
    if (c->s.proto == ENGINE_PROTO_AUTO)
        c->s.proto = (unsigned char)buf[0] == BIN_MAGIC_REQ ? ENGINE_PROTO_BINARY : ENGINE_PROTO_TEXT;
    c->next = ENGINE_DONE;
    enum engine_result r;
    if (c->s.proto == ENGINE_PROTO_BINARY)
        r = bin_run(c, buf, len, used);
    else if (!c->s.authed)
        r = login_run(c, buf, len, used); /* -Y: nothing else until then */
    else
        r = cmd_run(c, buf, len, used);
    if (r == ENGINE_PAUSED)
        *used = 0;
    if (c->out.failed)
        return ENGINE_CLOSE;
    return r;
}

enum engine_result engine_value_done(struct engine_client *c) {
    c->next = ENGINE_DONE;
    c->value_done(c);
    return c->out.failed ? ENGINE_CLOSE : c->next;
}

/* --- output ------------------------------------------------------------------ */

char *engine_reserve(struct engine_client *c, size_t n) {
    struct engine_out *o = &c->out;
    if (o->failed)
        return NULL;
    if (o->start == o->end)
        o->start = o->end = 0;
    if (o->size - o->end >= n)
        return o->buf + o->end;
    if (o->start > 0) {
        memmove(o->buf, o->buf + o->start, o->end - o->start);
        o->end -= o->start;
        o->start = 0;
        if (o->size - o->end >= n)
            return o->buf + o->end;
    }
    size_t need = o->end + n;
    if (need > o->max) {
        o->failed = true; /* more than any reply needs: it pauses at HIGH */
        return NULL;
    }
    size_t size = o->size ? o->size : ENGINE_OUT_INITIAL;
    while (size < need)
        size *= 2;
    char *p = realloc(o->buf, size);
    if (p == NULL) {
        o->failed = true; /* out of memory for output: the reply stream is broken */
        return NULL;
    }
    o->buf = p;
    o->size = size;
    return o->buf + o->end;
}

void engine_out(struct engine_client *c, const char *s, size_t n) {
    char *p = engine_reserve(c, n);
    if (p == NULL)
        return;
    memcpy(p, s, n);
    c->out.end += n;
}

void engine_reply(struct engine_client *c, const char *s) {
    if (c->s.noreply)
        return;
    size_t n = strlen(s);
    char *p = engine_reserve(c, n + 2);
    if (p == NULL)
        return;
    memcpy(p, s, n);
    p[n] = '\r';
    p[n + 1] = '\n';
    c->out.end += n + 2;
}

/* --- asks -------------------------------------------------------------------- */

void engine_read_value(struct engine_client *c, struct item *it, bool crlf, engine_value_fn done) {
    c->value = it;
    c->value_crlf = crlf;
    c->value_end[0] = '\r'; /* no terminator to read: as if it had come */
    c->value_end[1] = '\n';
    c->value_done = done;
    c->next = ENGINE_NEED_VALUE;
}

struct item *engine_take_value(struct engine_client *c, bool *crlf_ok) {
    struct item *it = c->value;
    c->value = NULL;
    *crlf_ok = c->value_end[0] == '\r' && c->value_end[1] == '\n';
    return it;
}

void engine_swallow(struct engine_client *c, uint64_t n) {
    if (n > 0 && c->next == ENGINE_DONE) {
        c->swallow = n;
        c->next = ENGINE_SWALLOW;
    }
}

void engine_hang_up(struct engine_client *c, bool send_pending) {
    c->next = send_pending ? ENGINE_CLOSE_AFTER_REPLY : ENGINE_CLOSE;
}
