/*
 * binary: header layout and per-opcode length rules; see binary.h.
 */
#include "proto/binary.h"

#include <string.h>

#include "proto/proto.h"

uint32_t bin_load32(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

uint64_t bin_load64(const char *p) { return (uint64_t)bin_load32(p) << 32 | bin_load32(p + 4); }

void bin_store32(char *p, uint32_t v) {
    unsigned char *u = (unsigned char *)p;
    u[0] = (unsigned char)(v >> 24);
    u[1] = (unsigned char)(v >> 16);
    u[2] = (unsigned char)(v >> 8);
    u[3] = (unsigned char)v;
}

void bin_store64(char *p, uint64_t v) {
    bin_store32(p, (uint32_t)(v >> 32));
    bin_store32(p + 4, (uint32_t)v);
}

void bin_parse_header(const unsigned char *p, struct bin_header *h) {
    const char *c = (const char *)p;
    h->magic = p[0];
    h->opcode = p[1];
    h->keylen = (uint16_t)(p[2] << 8 | p[3]);
    h->extlen = p[4];
    h->datatype = p[5];
    h->vbucket = (uint16_t)(p[6] << 8 | p[7]);
    h->bodylen = bin_load32(c + 8);
    memcpy(&h->opaque, p + 12, 4);
    h->cas = bin_load64(c + 16);
}

void bin_format_header(unsigned char *out, uint8_t opcode, enum bin_status status, uint8_t extlen,
                       uint16_t keylen, uint32_t bodylen, uint32_t opaque, uint64_t cas) {
    char *c = (char *)out;
    out[0] = BIN_MAGIC_RES;
    out[1] = opcode;
    out[2] = (unsigned char)(keylen >> 8);
    out[3] = (unsigned char)keylen;
    out[4] = extlen;
    out[5] = 0; /* raw bytes */
    out[6] = (unsigned char)((unsigned)status >> 8);
    out[7] = (unsigned char)status;
    bin_store32(c + 8, bodylen);
    memcpy(out + 12, &opaque, 4);
    bin_store64(c + 16, cas);
}

const char *bin_status_text(enum bin_status status) {
    switch (status) {
    case BIN_ENOMEM: return "Out of memory";
    case BIN_UNKNOWN_COMMAND: return "Unknown command";
    case BIN_KEY_ENOENT: return "Not found";
    case BIN_EINVAL: return "Invalid arguments";
    case BIN_KEY_EEXISTS: return "Data exists for key.";
    case BIN_E2BIG: return "Too large.";
    case BIN_DELTA_BADVAL: return "Non-numeric server-side value for incr or decr";
    case BIN_NOT_STORED: return "Not stored.";
    case BIN_AUTH_ERROR: return "Auth failure.";
    default: return "";
    }
}

/* The loud opcode behind a quiet one, or the opcode itself. */
static uint8_t bin_loud(uint8_t op, bool *quiet) {
    static const uint8_t loud[][2] = {
        {BIN_SETQ, BIN_SET},         {BIN_ADDQ, BIN_ADD},       {BIN_REPLACEQ, BIN_REPLACE},
        {BIN_DELETEQ, BIN_DELETE},   {BIN_INCREMENTQ, BIN_INCREMENT},
        {BIN_DECREMENTQ, BIN_DECREMENT}, {BIN_QUITQ, BIN_QUIT}, {BIN_FLUSHQ, BIN_FLUSH},
        {BIN_APPENDQ, BIN_APPEND},   {BIN_PREPENDQ, BIN_PREPEND}, {BIN_GETQ, BIN_GET},
        {BIN_GETKQ, BIN_GETK},       {BIN_GATQ, BIN_GAT},       {BIN_GATKQ, BIN_GATK},
    };
    for (size_t i = 0; i < sizeof(loud) / sizeof(loud[0]); i++) {
        if (loud[i][0] == op) {
            *quiet = true;
            return loud[i][1];
        }
    }
    *quiet = false;
    return op;
}

/* memcached's length rules per opcode (dispatch_bin_command). */
static enum bin_check bin_check_lengths(uint8_t op, uint32_t ext, uint32_t key, uint32_t body) {
    bool ok;
    switch (op) {
    case BIN_VERSION:
    case BIN_NOOP:
    case BIN_QUIT:
    case BIN_SASL_LIST_MECHS: ok = ext == 0 && key == 0 && body == 0; break;
    case BIN_FLUSH: ok = key == 0 && body == ext && (ext == 0 || ext == 4); break;
    case BIN_SET:
    case BIN_ADD:
    case BIN_REPLACE: ok = ext == 8 && key != 0 && body >= key + 8; break;
    case BIN_GET:
    case BIN_GETK: ok = ext == 0 && body == key && key > 0; break;
    case BIN_DELETE: ok = key > 0 && ext == 0 && body == key; break;
    case BIN_INCREMENT:
    case BIN_DECREMENT: ok = key > 0 && ext == 20 && body == key + ext; break;
    case BIN_APPEND:
    case BIN_PREPEND: ok = key > 0 && ext == 0; break;
    case BIN_STAT: ok = ext == 0; break;
    case BIN_SASL_AUTH:
    case BIN_SASL_STEP: ok = ext == 0 && key != 0; break;
    case BIN_TOUCH:
    case BIN_GAT:
    case BIN_GATK: ok = ext == 4 && key != 0; break;
    default: return BIN_CHECK_UNKNOWN; /* memcached 1.6 has no binary verbosity */
    }
    return ok ? BIN_CHECK_OK : BIN_CHECK_INVALID;
}

enum bin_check bin_check_request(const struct bin_header *h, const char *extras, const char *key,
                                 struct bin_request *req) {
    memset(req, 0, sizeof(*req));
    req->h = *h;
    req->extras = extras;
    req->key = key;
    if (h->keylen > h->bodylen || (uint32_t)h->keylen + h->extlen > h->bodylen)
        return BIN_CHECK_BAD_BODY;
    req->vlen = h->bodylen - h->keylen - h->extlen;
    req->op = bin_loud(h->opcode, &req->quiet);
    if (h->keylen > PROTO_KEY_MAX)
        return BIN_CHECK_INVALID;
    return bin_check_lengths(req->op, h->extlen, h->keylen, h->bodylen);
}
