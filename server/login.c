/*
 * login: memcached's ASCII authentication; see login.h.
 *
 * Replies are memcached's (proto_text.c's try_read_command_asciiauth):
 * "set <key> <flags> <exptime> <bytes>" with the value "user pass", key,
 * flags and exptime ignored; STORED on success, then the client is an
 * ordinary one.  The whole line and value are looked at in the input
 * buffer before anything is consumed, so nothing is copied.
 */
#include "server/login.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/auth.h"
#include "server/server.h"
#include "server/worker.h"

/* memcached hangs up on a client that sends this much without a line */
#define LOGIN_LINE_MAX 2048

struct login_word {
    const char *s;
    size_t len;
};

/* Splits p[0, len) at spaces into at most max words; returns how many. */
static size_t login_words(const char *p, size_t len, struct login_word *w, size_t max) {
    size_t n = 0, i = 0;
    while (n < max) {
        while (i < len && p[i] == ' ')
            i++;
        if (i == len)
            break;
        w[n].s = p + i;
        while (i < len && p[i] != ' ')
            i++;
        w[n].len = (size_t)(p + i - w[n].s);
        n++;
    }
    return n;
}

static bool login_number(const struct login_word *w, size_t *out) {
    if (w->len == 0 || w->len > 9)
        return false;
    size_t v = 0;
    for (size_t i = 0; i < w->len; i++) {
        if (w->s[i] < '0' || w->s[i] > '9')
            return false;
        v = v * 10 + (size_t)(w->s[i] - '0');
    }
    *out = v;
    return true;
}

static uint64_t login_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The value "user pass" is in: check it. */
static enum engine_result login_check(struct engine_client *c, const char *val, size_t vlen) {
    struct login_word w[2];
    if (login_words(val, vlen, w, 2) < 2) {
        engine_reply(c, "CLIENT_ERROR bad authentication token format");
        return c->next;
    }
    struct auth *a = c->w->srv->auth;
    const struct sockaddr *from =
        c->peer.ss_family != AF_UNSPEC ? (const struct sockaddr *)&c->peer : NULL;
    unsigned delay = 0;
    if (auth_check(a, from, w[0].s, w[0].len, w[1].s, w[1].len, login_now_ms(), &delay) ==
        AUTH_OK) {
        c->s.authed = true;
        engine_reply(c, "STORED");
    } else {
        engine_reply(c, "CLIENT_ERROR authentication failure");
        engine_hold(c, delay);
    }
    return c->next;
}

enum engine_result login_run(struct engine_client *c, const char *buf, size_t len, size_t *used) {
    const char *nl = memchr(buf, '\n', len);
    if (nl == NULL)
        return len > LOGIN_LINE_MAX ? ENGINE_CLOSE : ENGINE_MORE;
    size_t line = (size_t)(nl - buf) + 1, n = line - 1;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    c->s.noreply = false;
    struct login_word w[5];
    size_t vlen;
    if (login_words(buf, n, w, 5) < 5 || w[0].len != 3 || memcmp(w[0].s, "set", 3) != 0 ||
        !login_number(&w[4], &vlen)) {
        *used = line;
        engine_reply(c, "CLIENT_ERROR unauthenticated");
        return c->next;
    }
    if (vlen > LOGIN_VALUE_MAX) {
        *used = line;
        engine_reply(c, "CLIENT_ERROR unauthenticated");
        engine_swallow(c, (uint64_t)vlen + 2);
        return c->next;
    }
    if (len < line + vlen + 2)
        return ENGINE_MORE; /* nothing consumed: run again with the value */
    *used = line + vlen + 2;
    const char *val = buf + line;
    if (val[vlen] != '\r' || val[vlen + 1] != '\n') {
        engine_reply(c, "CLIENT_ERROR bad command line termination");
        return c->next;
    }
    return login_check(c, val, vlen);
}
