/*
 * auth: the -Y authentication file, hashed secrets and the failure brake;
 * see auth.h.
 *
 * Why yescrypt through libxcrypt's crypt(3): libxcrypt is already on every
 * Debian system (libcrypt1 is essential; /etc/shadow uses yescrypt), so
 * hashed entries add no dependency, the format is the one administrators
 * know, and existing tools (mkpasswd) write it.  yescrypt is memory-hard,
 * like argon2id, which would have needed libargon2 or libsodium.
 *
 * A hash costs ~20 ms of CPU.  PHP clients reconnect on every page, so
 * after one successful check the entry remembers an HMAC-SHA-256 of the
 * password under a random per-process key; later checks of that entry
 * compare HMACs (microseconds), and a wrong password against a remembered
 * HMAC fails without the hash.  The HMAC never leaves memory.
 *
 * Entries and the failure table share one mutex: both are touched only by
 * login attempts, never by ordinary requests.  The hash itself runs outside
 * the lock.
 */
#include "server/auth.h"

#include <crypt.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define AUTH_MAX_LINE 4096
#define AUTH_TABLE_SIZE 1024 /* addresses remembered at once */
#define AUTH_MAC_LEN 32

struct auth_entry {
    char *user;
    size_t ulen;
    char *secret;     /* plaintext password or crypt(3) hash */
    size_t slen;
    bool hashed;
    bool mac_known;   /* mac holds HMAC(password) after a success */
    unsigned char mac[AUTH_MAC_LEN];
};

struct auth_entries {
    struct auth_entry *e;
    size_t n;
};

struct auth_addr {
    unsigned char key[16]; /* IPv4, or IPv6's first 64 bits */
    bool used;
    unsigned fails;
    uint64_t until_ms;   /* attempts before this fail unchecked */
    uint64_t last_ms;
};

struct auth {
    char *path;
    pthread_mutex_t lock;
    struct auth_entries db;
    unsigned char mac_key[32];
    char dummy_hash[CRYPT_OUTPUT_SIZE]; /* hashed when the user is unknown */
    struct auth_addr addrs[AUTH_TABLE_SIZE];
    struct auth_stats stats;
};

bool auth_equal(const void *a, size_t alen, const void *b, size_t blen) {
    const unsigned char *x = a, *y = b;
    size_t n = alen > blen ? alen : blen;
    unsigned char diff = alen != blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char cx = i < alen ? x[i] : 0;
        unsigned char cy = i < blen ? y[i] : 0;
        diff |= cx ^ cy;
    }
    /* keep the compiler from turning the loop into an early exit */
    __asm__ volatile("" : "+r"(diff));
    return diff == 0;
}

static bool auth_is_hash(const char *s, size_t len) {
    if (len == 0 || s[0] != '$')
        return false;
    int r = crypt_checksalt(s);
    return r == CRYPT_SALT_OK || r == CRYPT_SALT_METHOD_LEGACY;
}

static void auth_entries_free(struct auth_entries *db) {
    for (size_t i = 0; i < db->n; i++) {
        if (db->e[i].secret)
            OPENSSL_cleanse(db->e[i].secret, db->e[i].slen);
        free(db->e[i].user);
        free(db->e[i].secret);
    }
    free(db->e);
    db->e = NULL;
    db->n = 0;
}

/* One "user:secret" line, without its end of line.  Like memcached, the
 * user ends at the first ':' and the rest of the line is the password. */
static enum auth_load auth_parse_line(char *line, struct auth_entry *out) {
    char *colon = strchr(line, ':');
    if (colon == NULL)
        return AUTH_LOAD_MALFORMED;
    *out = (struct auth_entry){0};
    out->ulen = (size_t)(colon - line);
    out->slen = strlen(colon + 1);
    out->user = strndup(line, out->ulen);
    out->secret = strdup(colon + 1);
    if (out->user == NULL || out->secret == NULL) {
        free(out->user);
        free(out->secret);
        return AUTH_LOAD_OOM;
    }
    out->hashed = auth_is_hash(out->secret, out->slen);
    return AUTH_LOAD_OK;
}

static enum auth_load auth_read(const char *path, struct auth_entries *db) {
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return AUTH_LOAD_OPENFAIL;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        fclose(f);
        return AUTH_LOAD_STATFAIL;
    }
    enum auth_load rc = AUTH_LOAD_OK;
    char line[AUTH_MAX_LINE];
    size_t cap = 0;
    *db = (struct auth_entries){0};
    while (rc == AUTH_LOAD_OK && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue; /* a trailing blank line is not an entry */
        if (db->n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct auth_entry *ne = realloc(db->e, ncap * sizeof(*ne));
            if (ne == NULL) {
                rc = AUTH_LOAD_OOM;
                break;
            }
            db->e = ne;
            cap = ncap;
        }
        rc = auth_parse_line(line, &db->e[db->n]);
        if (rc == AUTH_LOAD_OK)
            db->n++;
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    if (rc != AUTH_LOAD_OK)
        auth_entries_free(db);
    return rc;
}

enum auth_load auth_new(const char *path, struct auth **out) {
    *out = NULL;
    struct auth *a = calloc(1, sizeof(*a));
    if (a == NULL || (a->path = strdup(path)) == NULL) {
        free(a);
        return AUTH_LOAD_OOM;
    }
    enum auth_load rc = auth_read(path, &a->db);
    if (rc == AUTH_LOAD_OK && (RAND_bytes(a->mac_key, sizeof(a->mac_key)) != 1 ||
                               !auth_hash_password("larder-dummy", a->dummy_hash,
                                                   sizeof(a->dummy_hash))))
        rc = AUTH_LOAD_OOM;
    if (rc != AUTH_LOAD_OK) {
        auth_entries_free(&a->db);
        free(a->path);
        free(a);
        return rc;
    }
    pthread_mutex_init(&a->lock, NULL);
    *out = a;
    return AUTH_LOAD_OK;
}

void auth_free(struct auth *a) {
    if (a == NULL)
        return;
    auth_entries_free(&a->db);
    OPENSSL_cleanse(a->mac_key, sizeof(a->mac_key));
    pthread_mutex_destroy(&a->lock);
    free(a->path);
    free(a);
}

enum auth_load auth_reload(struct auth *a) {
    struct auth_entries fresh;
    enum auth_load rc = auth_read(a->path, &fresh);
    if (rc != AUTH_LOAD_OK)
        return rc;
    pthread_mutex_lock(&a->lock);
    struct auth_entries old = a->db;
    a->db = fresh;
    pthread_mutex_unlock(&a->lock);
    auth_entries_free(&old);
    return AUTH_LOAD_OK;
}

/* --- the failure table --------------------------------------------------------- */

/* false for addresses that are not throttled (unix sockets, none). */
static bool auth_addr_key(const struct sockaddr *sa, unsigned char key[16]) {
    memset(key, 0, 16);
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(key, a6->s6_addr + 12, 4);
        } else {
            key[15] = 6; /* never equal to an IPv4 key */
            memcpy(key, a6->s6_addr, 8);
        }
        return true;
    }
    return false;
}

/* The slot for key: a direct-mapped table, a new address takes the slot of
 * whatever was there (an attacker with many addresses is slowed per
 * address anyway). */
static struct auth_addr *auth_slot(struct auth *a, const unsigned char key[16], uint64_t now_ms) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    struct auth_addr *s = &a->addrs[h % AUTH_TABLE_SIZE];
    bool stale = s->used && now_ms - s->last_ms > (uint64_t)AUTH_FORGET_S * 1000;
    if (!s->used || stale || memcmp(s->key, key, 16) != 0) {
        *s = (struct auth_addr){.used = true};
        memcpy(s->key, key, 16);
    }
    return s;
}

static unsigned auth_delay_for(unsigned fails) {
    unsigned d = AUTH_DELAY_BASE_MS;
    for (unsigned i = 1; i < fails && d < AUTH_DELAY_MAX_MS; i++)
        d *= 2;
    return d < AUTH_DELAY_MAX_MS ? d : AUTH_DELAY_MAX_MS;
}

/* --- checking -------------------------------------------------------------------- */

static void auth_mac(const struct auth *a, const char *pass, size_t plen,
                     unsigned char out[AUTH_MAC_LEN]) {
    unsigned int len = AUTH_MAC_LEN;
    HMAC(EVP_sha256(), a->mac_key, sizeof(a->mac_key), (const unsigned char *)pass, plen, out, &len);
}

/* crypt(3) wants a NUL-terminated password. */
static bool auth_crypt_matches(const char *hash, const char *pass, size_t plen) {
    char *p = strndup(pass, plen);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    bool ok = false;
    if (p && cd) {
        const char *out = crypt_rn(p, hash, cd, sizeof(*cd));
        ok = out && out[0] != '*' && auth_equal(out, strlen(out), hash, strlen(hash));
    }
    if (p) {
        OPENSSL_cleanse(p, plen);
        free(p);
    }
    if (cd)
        OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return ok;
}

/* What one check needs from the entries, copied under the lock so that the
 * hash runs outside it. */
struct auth_plan {
    bool plain_ok;    /* a plaintext entry matched */
    bool mac_ok;
    char hash[CRYPT_OUTPUT_SIZE]; /* hash to run when not settled */
    size_t entry;                 /* its index, to remember the HMAC */
};

static void auth_plan(struct auth *a, const char *user, size_t ulen, const char *pass,
                      size_t plen, struct auth_plan *p) {
    unsigned char mac[AUTH_MAC_LEN];
    auth_mac(a, pass, plen, mac);
    *p = (struct auth_plan){.entry = SIZE_MAX};
    snprintf(p->hash, sizeof(p->hash), "%s", a->dummy_hash);
    /* every entry is looked at: the time does not say where the user is */
    for (size_t i = 0; i < a->db.n; i++) {
        const struct auth_entry *e = &a->db.e[i];
        bool same_user = auth_equal(user, ulen, e->user, e->ulen);
        if (!same_user)
            continue;
        if (!e->hashed) {
            p->plain_ok |= auth_equal(pass, plen, e->secret, e->slen);
        } else if (e->mac_known) { /* settled without the hash */
            p->mac_ok |= auth_equal(mac, sizeof(mac), e->mac, sizeof(e->mac));
        } else if (p->entry == SIZE_MAX && e->slen < sizeof(p->hash)) {
            memcpy(p->hash, e->secret, e->slen + 1);
            p->entry = i;
        }
    }
}

static bool auth_verify(struct auth *a, const char *user, size_t ulen, const char *pass,
                        size_t plen) {
    struct auth_plan p;
    pthread_mutex_lock(&a->lock);
    auth_plan(a, user, ulen, pass, plen, &p);
    pthread_mutex_unlock(&a->lock);
    if (p.plain_ok || p.mac_ok)
        return true;
    /* every failure runs one hash (the dummy for unknown users and for
     * entries settled by their HMAC), so a miss costs the same whatever
     * the cause */
    bool ok = auth_crypt_matches(p.hash, pass, plen) && p.entry != SIZE_MAX;
    if (ok) {
        pthread_mutex_lock(&a->lock);
        /* the file may have been reloaded meanwhile: match by content */
        if (p.entry < a->db.n && strcmp(a->db.e[p.entry].secret, p.hash) == 0) {
            auth_mac(a, pass, plen, a->db.e[p.entry].mac);
            a->db.e[p.entry].mac_known = true;
        }
        pthread_mutex_unlock(&a->lock);
    }
    OPENSSL_cleanse(&p, sizeof(p));
    return ok;
}

/* Whether addr may be checked now; when exclusive (one check at a time per
 * slowed address), the others wait meanwhile as if this one failed.
 * Called with the lock held. */
static bool auth_brake_enter_locked(struct auth *a, const unsigned char key[16], uint64_t now_ms,
                                    bool exclusive, unsigned *delay_ms) {
    struct auth_addr *s = auth_slot(a, key, now_ms);
    if (now_ms + AUTH_SLACK_MS < s->until_ms) {
        *delay_ms = (unsigned)(s->until_ms - now_ms);
        a->stats.throttled++;
        a->stats.delayed++;
        return false;
    }
    if (exclusive && s->fails > 0)
        s->until_ms = now_ms + auth_delay_for(s->fails + 1);
    return true;
}

static unsigned auth_brake_leave_locked(struct auth *a, const unsigned char key[16], bool ok,
                                        uint64_t now_ms) {
    struct auth_addr *s = auth_slot(a, key, now_ms);
    if (ok) {
        s->used = false; /* forgiven */
        return 0;
    }
    s->fails++;
    s->last_ms = now_ms;
    unsigned delay = auth_delay_for(s->fails);
    s->until_ms = now_ms + delay;
    a->stats.delayed++;
    return delay;
}

enum auth_result auth_check(struct auth *a, const struct sockaddr *addr, const char *user,
                            size_t ulen, const char *pass, size_t plen, uint64_t now_ms,
                            unsigned *delay_ms) {
    *delay_ms = 0;
    unsigned char key[16];
    bool throttled = auth_addr_key(addr, key);
    pthread_mutex_lock(&a->lock);
    a->stats.cmds++;
    if (throttled && !auth_brake_enter_locked(a, key, now_ms, true, delay_ms)) {
        a->stats.errors++;
        pthread_mutex_unlock(&a->lock);
        return AUTH_FAIL;
    }
    pthread_mutex_unlock(&a->lock);

    bool ok = auth_verify(a, user, ulen, pass, plen);

    pthread_mutex_lock(&a->lock);
    if (throttled)
        *delay_ms = auth_brake_leave_locked(a, key, ok, now_ms);
    if (!ok)
        a->stats.errors++;
    pthread_mutex_unlock(&a->lock);
    return ok ? AUTH_OK : AUTH_FAIL;
}

struct auth *auth_brake_new(void) {
    struct auth *a = calloc(1, sizeof(*a));
    if (a != NULL)
        pthread_mutex_init(&a->lock, NULL);
    return a;
}

bool auth_brake_enter(struct auth *a, const struct sockaddr *addr, uint64_t now_ms,
                      unsigned *delay_ms) {
    unsigned char key[16];
    *delay_ms = 0;
    if (!auth_addr_key(addr, key))
        return true;
    pthread_mutex_lock(&a->lock);
    /* not exclusive: a SASL exchange may take several rounds */
    bool ok = auth_brake_enter_locked(a, key, now_ms, false, delay_ms);
    pthread_mutex_unlock(&a->lock);
    return ok;
}

unsigned auth_brake_leave(struct auth *a, const struct sockaddr *addr, bool ok, uint64_t now_ms) {
    unsigned char key[16];
    if (!auth_addr_key(addr, key))
        return 0;
    pthread_mutex_lock(&a->lock);
    unsigned delay = auth_brake_leave_locked(a, key, ok, now_ms);
    pthread_mutex_unlock(&a->lock);
    return delay;
}

uint64_t auth_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void auth_get_stats(struct auth *a, struct auth_stats *out) {
    pthread_mutex_lock(&a->lock);
    *out = a->stats;
    pthread_mutex_unlock(&a->lock);
}

bool auth_hash_password(const char *pass, char *out, size_t outlen) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    bool ok = false;
    /* count 0: libxcrypt's default cost for yescrypt */
    if (cd && crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)) != NULL) {
        const char *h = crypt_rn(pass, setting, cd, sizeof(*cd));
        if (h && h[0] != '*' && strlen(h) < outlen) {
            memcpy(out, h, strlen(h) + 1);
            ok = true;
        }
    }
    if (cd)
        OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return ok;
}
