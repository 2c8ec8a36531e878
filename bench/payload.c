/*
 * payload: key names and self-checking values; see payload.h.
 */
#include "payload.h"

#include <stdlib.h>
#include <string.h>

/* 61 is prime, so runs that start at different offsets never line up again
 * within a short value. */
static const char payload_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz012345678";
#define PAYLOAD_ALPHABET_LEN (sizeof(payload_alphabet) - 1)

static unsigned payload_digits(uint64_t v) {
    unsigned n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

enum payload_status payload_init(struct payload *p, unsigned key_size, uint64_t nkeys,
                                 uint32_t value_max) {
    memset(p, 0, sizeof(*p));
    if (nkeys == 0 || key_size > PAYLOAD_KEY_MAX || key_size < 1 + payload_digits(nkeys - 1))
        return PAYLOAD_BAD_ARG;
    size_t len = (size_t)value_max + PAYLOAD_ALPHABET_LEN;
    p->pattern = malloc(len);
    if (!p->pattern)
        return PAYLOAD_NO_MEMORY;
    for (size_t i = 0; i < len; i++)
        p->pattern[i] = payload_alphabet[i % PAYLOAD_ALPHABET_LEN];
    p->key_size = key_size;
    p->value_max = value_max;
    return PAYLOAD_OK;
}

void payload_free(struct payload *p) {
    free(p->pattern);
    p->pattern = NULL;
}

void payload_key(const struct payload *p, uint64_t id, char *out) {
    out[0] = 'k';
    for (unsigned i = p->key_size - 1; i >= 1; i--) {
        out[i] = (char)('0' + id % 10);
        id /= 10;
    }
}

/* Where key id's run starts in the pattern. */
static const char *payload_run(const struct payload *p, uint64_t id) {
    return p->pattern + (id * 7 + 3) % PAYLOAD_ALPHABET_LEN;
}

void payload_value(const struct payload *p, uint64_t id, char *out, size_t len) {
    size_t head = len > p->key_size ? p->key_size : 0;
    if (head)
        payload_key(p, id, out);
    memcpy(out + head, payload_run(p, id), len - head);
}

bool payload_check(const struct payload *p, uint64_t id, const char *data, size_t len) {
    if (len > p->value_max)
        return false;
    size_t head = len > p->key_size ? p->key_size : 0;
    if (head) {
        char key[PAYLOAD_KEY_MAX];
        payload_key(p, id, key);
        if (memcmp(data, key, head) != 0)
            return false;
    }
    return memcmp(data + head, payload_run(p, id), len - head) == 0;
}
