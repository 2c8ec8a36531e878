/*
 * payload: key names and values that prove which key they belong to.
 *
 * Key i is "k" followed by i in decimal, zero-padded to the key size, so
 * every key has the same length and none is a prefix of another.  A value of
 * length L for key i starts with the key itself (when L allows) and goes on
 * with a run of a fixed 61-character alphabet that starts at an offset taken
 * from i.  A get can then be checked with two memcmp()s against a pattern
 * built once: a value from another key, a truncated or shifted value, or
 * bytes of a neighbouring reply all fail the check.
 */
#ifndef LARDER_BENCH_PAYLOAD_H
#define LARDER_BENCH_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAYLOAD_KEY_MAX 250

struct payload {
    unsigned key_size;
    uint32_t value_max;
    char *pattern; /* alphabet repeated, value_max + alphabet length bytes */
};

enum payload_status { PAYLOAD_OK, PAYLOAD_BAD_ARG, PAYLOAD_NO_MEMORY };

/* Keys 0..nkeys-1 must fit key_size: one letter plus their digits. */
enum payload_status payload_init(struct payload *p, unsigned key_size, uint64_t nkeys,
                                 uint32_t value_max);
void payload_free(struct payload *p);

/* Writes key id's name (p->key_size bytes, no terminator) into out. */
void payload_key(const struct payload *p, uint64_t id, char *out);

/* Writes the len-byte value of key id into out. */
void payload_value(const struct payload *p, uint64_t id, char *out, size_t len);

/* Whether data is a value that payload_value() makes for key id. */
bool payload_check(const struct payload *p, uint64_t id, const char *data, size_t len);

#endif
