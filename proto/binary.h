/*
 * binary: memcached's binary protocol, parsed and formatted without I/O.
 *
 * Every packet starts with a 24-byte header in network byte order: magic
 * (0x80 request, 0x81 response), opcode, key length, extras length, data
 * type, vbucket (request) or status (response), total body length, an
 * opaque the reply echoes, and a cas.  The body is extras, then key, then
 * value.  memcached 1.6's doc/protocol-binary.txt and proto_bin.c are the
 * reference; this module knows the layout and the rules each opcode puts on
 * the lengths, and nothing of connections or the store.
 */
#ifndef LARDER_PROTO_BINARY_H
#define LARDER_PROTO_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BIN_HEADER_LEN 24
#define BIN_MAGIC_REQ 0x80
#define BIN_MAGIC_RES 0x81
#define BIN_EXTRAS_MAX 20 /* incr/decr: delta, initial, expiration */

enum bin_opcode {
    BIN_GET = 0x00,
    BIN_SET = 0x01,
    BIN_ADD = 0x02,
    BIN_REPLACE = 0x03,
    BIN_DELETE = 0x04,
    BIN_INCREMENT = 0x05,
    BIN_DECREMENT = 0x06,
    BIN_QUIT = 0x07,
    BIN_FLUSH = 0x08,
    BIN_GETQ = 0x09,
    BIN_NOOP = 0x0a,
    BIN_VERSION = 0x0b,
    BIN_GETK = 0x0c,
    BIN_GETKQ = 0x0d,
    BIN_APPEND = 0x0e,
    BIN_PREPEND = 0x0f,
    BIN_STAT = 0x10,
    BIN_SETQ = 0x11,
    BIN_ADDQ = 0x12,
    BIN_REPLACEQ = 0x13,
    BIN_DELETEQ = 0x14,
    BIN_INCREMENTQ = 0x15,
    BIN_DECREMENTQ = 0x16,
    BIN_QUITQ = 0x17,
    BIN_FLUSHQ = 0x18,
    BIN_APPENDQ = 0x19,
    BIN_PREPENDQ = 0x1a,
    BIN_VERBOSITY = 0x1b,
    BIN_TOUCH = 0x1c,
    BIN_GAT = 0x1d,
    BIN_GATQ = 0x1e,
    BIN_SASL_LIST_MECHS = 0x20,
    BIN_SASL_AUTH = 0x21,
    BIN_SASL_STEP = 0x22,
    BIN_GATK = 0x23,
    BIN_GATKQ = 0x24,
};

enum bin_status {
    BIN_OK = 0x0000,
    BIN_KEY_ENOENT = 0x0001,
    BIN_KEY_EEXISTS = 0x0002,
    BIN_E2BIG = 0x0003,
    BIN_EINVAL = 0x0004,
    BIN_NOT_STORED = 0x0005,
    BIN_DELTA_BADVAL = 0x0006,
    BIN_AUTH_ERROR = 0x0020,
    BIN_AUTH_CONTINUE = 0x0021,
    BIN_UNKNOWN_COMMAND = 0x0081,
    BIN_ENOMEM = 0x0082,
};

/* A request header in host byte order. */
struct bin_header {
    uint8_t magic;
    uint8_t opcode;
    uint16_t keylen;
    uint8_t extlen;
    uint8_t datatype;
    uint16_t vbucket;
    uint32_t bodylen;
    uint32_t opaque; /* echoed as it came: never byte-swapped */
    uint64_t cas;
};

/* What a request asks for, once its quiet variant is folded in. */
struct bin_request {
    struct bin_header h;
    uint8_t op;   /* the loud opcode: BIN_GETQ becomes BIN_GET, ... */
    bool quiet;   /* a Q variant: success (or a get miss) is not answered */
    const char *extras;
    const char *key;
    uint32_t vlen; /* value bytes that follow the key */
};

enum bin_check {
    BIN_CHECK_OK,
    BIN_CHECK_UNKNOWN,  /* an opcode memcached does not know: answer, go on */
    BIN_CHECK_INVALID,  /* lengths that do not fit the opcode: answer, close */
    BIN_CHECK_BAD_BODY, /* key and extras longer than the body: answer, close */
};

/* Decodes the 24 header bytes at p. */
void bin_parse_header(const unsigned char *p, struct bin_header *h);

/* Checks a whole header (extras and key already at hand) against the rules
 * memcached applies to its opcode, and fills req. */
enum bin_check bin_check_request(const struct bin_header *h, const char *extras, const char *key,
                                 struct bin_request *req);

/* Writes a response header for `opcode` into out[BIN_HEADER_LEN]. */
void bin_format_header(unsigned char *out, uint8_t opcode, enum bin_status status, uint8_t extlen,
                       uint16_t keylen, uint32_t bodylen, uint32_t opaque, uint64_t cas);

/* memcached's text for an error status ("Not found", "Too large.", ...). */
const char *bin_status_text(enum bin_status status);

/* Big-endian loads and stores, for extras. */
uint32_t bin_load32(const char *p);
uint64_t bin_load64(const char *p);
void bin_store32(char *p, uint32_t v);
void bin_store64(char *p, uint64_t v);

#endif
