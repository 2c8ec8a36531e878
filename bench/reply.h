/*
 * reply: splits memcached text-protocol replies off a receive buffer, in
 * place.
 *
 * reply_parse() looks at the front of a buffer and says whether one whole
 * reply unit is there: a status line ("STORED", "END", "HD", "EN", "MN",
 * errors), or a value header ("VALUE key flags bytes [cas]" or meta
 * "VA bytes [flags]") together with its data block and the "\r\n" after it.
 * Fields point into the buffer; nothing is copied or allocated, so the load
 * generator pays only a memchr and a few compares per reply, and the parser
 * can be tested on plain byte arrays.  Which unit is *expected* next is the
 * caller's business (a multi-get is several VALUE units and an END).
 */
#ifndef LARDER_BENCH_REPLY_H
#define LARDER_BENCH_REPLY_H

#include <stddef.h>
#include <stdint.h>

/* A line longer than this without its newline is a protocol error. */
#define REPLY_LINE_MAX 2048

enum reply_kind {
    REPLY_VALUE,        /* classic VALUE + data */
    REPLY_END,          /* END */
    REPLY_STORED,       /* STORED */
    REPLY_NOT_STORED,   /* NOT_STORED, EXISTS, NOT_FOUND */
    REPLY_META_VALUE,   /* VA + data */
    REPLY_META_HD,      /* HD */
    REPLY_META_MISS,    /* EN */
    REPLY_META_NOOP,    /* MN */
    REPLY_META_OTHER,   /* NS, EX, NF */
    REPLY_ERROR,        /* ERROR */
    REPLY_CLIENT_ERROR, /* CLIENT_ERROR ... */
    REPLY_SERVER_ERROR, /* SERVER_ERROR ... */
};

struct reply {
    enum reply_kind kind;
    const char *key; /* VALUE key, or the k flag of VA; NULL if absent */
    size_t key_len;
    uint32_t flags;  /* VALUE flags */
    const char *data; /* VALUE / VA data block */
    size_t data_len;
    const char *line; /* the whole first line without "\r\n", for messages */
    size_t line_len;
    size_t size;     /* bytes the unit takes in the buffer */
};

enum reply_status {
    REPLY_OK,         /* *out describes one unit of out->size bytes */
    REPLY_INCOMPLETE, /* read more and call again */
    REPLY_TOO_LARGE,  /* a data block above max_data was announced; *out is
                         filled in (kind, key, data_len, size) but the block
                         may not all be in the buffer: skip out->size bytes */
    REPLY_BAD,        /* not a reply this parser knows: the stream is lost */
};

/* Parses the unit at the front of buf[0..len).  A data block longer than
 * max_data is refused before waiting for it, so a bogus length cannot stall
 * the caller or overflow its buffer; the caller may still skip it whole
 * (a value left by another run is a well-formed reply). */
enum reply_status reply_parse(const char *buf, size_t len, size_t max_data, struct reply *out);

#endif
