/*
 * settings: the one settings struct, filled from memcached-compatible
 * command-line flags so that Larder can take memcached's place in a systemd
 * unit or /etc/memcached.conf without edits.
 */
#ifndef LARDER_SETTINGS_H
#define LARDER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LARDER_VERSION "1.6.18-larder-0.1"
#define SETTINGS_MAX_LISTEN 16

/* -B: which protocol a TCP or unix connection speaks. */
enum settings_protocol { SETTINGS_PROTO_AUTO, SETTINGS_PROTO_ASCII, SETTINGS_PROTO_BINARY };

struct settings {
    int port;                 /* -p */
    int udp_port;             /* -U, 0 = off */
    char *listen[SETTINGS_MAX_LISTEN]; /* -l, each "addr" or "addr:port" */
    int nlisten;
    char *socket_path;        /* -s */
    int socket_mask;          /* -a */
    size_t maxbytes;          /* -m */
    bool evict;               /* !-M */
    int maxconns;             /* -c */
    int threads;              /* -t */
    size_t item_size_max;     /* -I */
    double factor;            /* -f */
    size_t chunk_size;        /* -n */
    bool use_cas;             /* !-C */
    int reqs_per_event;       /* -R */
    int backlog;              /* -b */
    enum settings_protocol protocol; /* -B */
    int verbose;              /* -v, -vv, -vvv */
    bool daemonize;           /* -d */
    char *pidfile;            /* -P */
    char *user;               /* -u */
    bool shutdown_command;    /* -A */
    bool flush_enabled;       /* !-F */
    bool dump_enabled;        /* !-X */
    unsigned idle_timeout;    /* -o idle_timeout=N */
    int oom_score_adj;        /* -o oom_score_adj=N */
    bool oom_score_set;
    unsigned hashpower;       /* -o hashpower=N */
    bool lru_crawler;         /* -o no_lru_crawler turns it off */
    bool slab_automove;       /* -o slab_automove=0 turns page moves off */
    bool worker_yield;        /* -o worker_yield=0: no sched_yield between batches */
    bool listen_notls[SETTINGS_MAX_LISTEN]; /* -l notls:ADDR: plain TCP beside -Z */
    /* security: see server/tls.h, server/auth.h, server/sasl.h */
    bool sasl;                /* -S */
    char *auth_file;          /* -Y */
    bool ssl_enabled;         /* -Z */
    char *ssl_chain_cert;     /* -o ssl_chain_cert= */
    char *ssl_key;            /* -o ssl_key= */
    char *ssl_ca_cert;        /* -o ssl_ca_cert= */
    char *ssl_ciphers;        /* -o ssl_ciphers= */
    int ssl_verify_mode;      /* -o ssl_verify_mode=0..3, memcached's levels */
    int ssl_keyformat;        /* -o ssl_keyformat=, OpenSSL's SSL_FILETYPE_* (1 = PEM) */
    int ssl_min_version;      /* -o ssl_min_version=0..3: TLS 1.0 .. 1.3 */
    unsigned ssl_wbuf_size;   /* -o ssl_wbuf_size= (kilobytes on the command line) */
    bool ssl_session_cache;   /* -o ssl_session_cache */
    bool ssl_kernel_tls;      /* -o ssl_kernel_tls */
    bool protocol_set;        /* -B was given (SASL and -Y pick a protocol otherwise) */
    char *hash_user;          /* --hash-password USER: print an authfile line, exit */
};

/* SETTINGS_USAGE: a combination memcached refuses with EX_USAGE (64). */
enum settings_result { SETTINGS_OK, SETTINGS_EXIT_OK, SETTINGS_ERROR, SETTINGS_USAGE };

/* memcached's -o ssl_min_version levels as text ("tlsv1.2"), for stats. */
const char *settings_tls_version_name(int level);

void settings_defaults(struct settings *s);

/* Parses argv into s.  Prints help or version (SETTINGS_EXIT_OK) or an error
 * on stderr (SETTINGS_ERROR). */
enum settings_result settings_parse(struct settings *s, int argc, char **argv);

/* Parses a size with an optional k/m/g suffix (as -I takes); false if bad. */
bool settings_parse_size(const char *arg, size_t *out);

void settings_free(struct settings *s);

#endif
