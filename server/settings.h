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
    int port;                 /* -p, 0 = off, -1 = any free port */
    int udp_port;             /* -U, 0 = off, -1 = any free port */
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
    size_t conn_mem_limit;    /* -o conn_mem_limit=MB; 0 until resolved (see below) */
    size_t read_buf_mem_limit; /* -o read_buf_mem_limit=MB, in bytes as given (0: none) */
    int oom_score_adj;        /* -o oom_score_adj=N */
    bool oom_score_set;
    unsigned hashpower;       /* -o hashpower=N */
    bool lru_crawler;         /* -o no_lru_crawler turns it off */
    unsigned slab_automove;   /* -o slab_automove=0|1|2; 0 turns page moves off */
    bool watch_enabled;       /* -W turns `watch` off */
    bool worker_yield;        /* -o worker_yield=0: no sched_yield between batches */
    /* memcached's -o knobs that Larder keeps and reports in `stats settings`
     * (docs/STATS.md says which of them change behaviour) */
    bool maxconns_fast;       /* -o no_maxconns_fast: stop accepting at -c instead */
    bool lru_maintainer;      /* -o no_lru_maintainer */
    bool slab_reassign;       /* -o no_slab_reassign */
    double slab_automove_ratio;
    unsigned slab_automove_window;
    unsigned lru_crawler_sleep;
    unsigned long lru_crawler_tocrawl;
    unsigned watcher_logbuf_size; /* bytes (given in KB) */
    unsigned worker_logbuf_size;  /* bytes (given in KB) */
    char *memory_file;        /* -e FILE, -o memory_file=FILE: items kept across restarts */
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

/* What the command line asks: SETTINGS_ERROR and SETTINGS_USAGE fail with
 * memcached's exit codes (1, and EX_USAGE for inconsistent or unsupported
 * settings). */
enum settings_result { SETTINGS_OK, SETTINGS_EXIT_OK, SETTINGS_ERROR, SETTINGS_USAGE };

/* memcached's exit codes (sysexits.h) */
#define SETTINGS_EX_USAGE 64
#define SETTINGS_EX_NOUSER 67
#define SETTINGS_EX_OSERR 71

/* memcached's -o ssl_min_version levels as text ("tlsv1.2"), for stats. */
const char *settings_tls_version_name(int level);

void settings_defaults(struct settings *s);

/* The memory budget for everything that is not items (server/budget.h):
 * -o conn_mem_limit (or memcached's -o read_buf_mem_limit, the same limit
 * under its name), or by default a quarter of -m and at least 32 MB; in
 * either case at least two of the largest items, or a waiting value could
 * never be read whole. */
size_t settings_conn_mem_limit(const struct settings *s);
/* The share of -m that values still arriving may hold: an eighth, at least
 * the largest item. */
size_t settings_upload_limit(const struct settings *s);

/* Parses argv into s.  Prints help or version (SETTINGS_EXIT_OK) or an error
 * on stderr (SETTINGS_ERROR). */
enum settings_result settings_parse(struct settings *s, int argc, char **argv);

/* Parses a size with an optional k/m/g suffix (as -I takes); false if bad. */
bool settings_parse_size(const char *arg, size_t *out);

void settings_free(struct settings *s);

#endif
