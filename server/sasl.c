/*
 * sasl: Cyrus SASL for the binary protocol; see sasl.h.
 *
 * libsasl2's server side is process-wide (sasl_server_init takes the
 * callbacks once), so the few things its callbacks need (verbosity, the
 * optional password file) are file statics set at setup, read-only after.
 */
#include "server/sasl.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sasl/sasl.h>

#include "server/auth.h"

#define SASL_SRV_APP "memcached" /* Cyrus reads <conf path>/memcached.conf */
#define SASL_SRV_MECH_MAX 32

struct sasl_srv {
    sasl_conn_t *conn;
    bool started;
    bool authenticated;
};

static int sasl_verbose;
static _Atomic uint64_t sasl_cmds, sasl_errors; /* stats */
static char sasl_hostname[256];
static struct auth *sasl_pwdb; /* $MEMCACHED_SASL_PWDB, or NULL */

/* memcached's search when SASL_CONF_PATH is unset: memcached.conf may be a
 * file in /etc/sasl(2), or a folder of that name holding one. */
static int sasl_srv_getconfpath(void *context, char **path) {
    (void)context;
    static const char *const dirs[] = {"/etc/sasl", "/etc/sasl2"};
    static char found[300];
    const char *env = getenv("SASL_CONF_PATH");
    *path = NULL;
    if (env) {
        snprintf(found, sizeof(found), "%s", env);
        *path = found;
    }
    for (size_t i = 0; *path == NULL && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char file[300];
        snprintf(file, sizeof(file), "%s/memcached.conf/memcached.conf", dirs[i]);
        if (access(file, F_OK) == 0) {
            snprintf(found, sizeof(found), "%s/memcached.conf", dirs[i]);
            *path = found;
            break;
        }
        snprintf(file, sizeof(file), "%s/memcached.conf", dirs[i]);
        if (access(file, F_OK) == 0) {
            snprintf(found, sizeof(found), "%s", dirs[i]);
            *path = found;
        }
    }
    if (sasl_verbose) {
        if (*path)
            fprintf(stderr, "Reading configuration from: <%s>\n", *path);
        else
            fprintf(stderr, "Failed to locate a config path\n");
    }
    return *path ? SASL_OK : SASL_FAIL;
}

static int sasl_srv_log(void *context, int level, const char *message) {
    (void)context;
    int need = level <= SASL_LOG_ERR ? 0 : level <= SASL_LOG_WARN ? 1 : 2;
    if (level != SASL_LOG_NONE && sasl_verbose >= need)
        fprintf(stderr, "SASL (severity %d): %s\n", level, message);
    return SASL_OK;
}

/* The password file: re-read at each check, as memcached does, so edits
 * apply without a restart; no address throttling here (the binary front
 * end sees the address, this callback does not). */
static int sasl_srv_checkpass(sasl_conn_t *conn, void *context, const char *user,
                              const char *pass, unsigned passlen, struct propctx *propctx) {
    (void)conn, (void)context, (void)propctx;
    unsigned delay;
    if (auth_reload(sasl_pwdb) != AUTH_LOAD_OK && sasl_verbose)
        fprintf(stderr, "WARNING: Failed to open sasl database <%s>\n",
                getenv("MEMCACHED_SASL_PWDB"));
    if (auth_check(sasl_pwdb, NULL, user, strlen(user), pass, passlen, 0, &delay) == AUTH_OK)
        return SASL_OK;
    if (sasl_verbose)
        fprintf(stderr, "INFO: User <%s> failed to authenticate\n", user);
    return SASL_NOAUTHZ;
}

/* libsasl2 stores every callback as int (*)(void); going through
 * void (*)(void) tells the compiler the cast is meant. */
typedef int (*sasl_srv_cb)(void);
#define SASL_SRV_CB(f) ((sasl_srv_cb)(void (*)(void))(f))

static sasl_callback_t sasl_srv_callbacks[] = {
    {SASL_CB_SERVER_USERDB_CHECKPASS, SASL_SRV_CB(sasl_srv_checkpass), NULL},
    {SASL_CB_LOG, SASL_SRV_CB(sasl_srv_log), NULL},
    {SASL_CB_GETCONFPATH, SASL_SRV_CB(sasl_srv_getconfpath), NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

bool sasl_srv_setup(int verbose) {
    sasl_verbose = verbose;
    const char *pwdb = getenv("MEMCACHED_SASL_PWDB");
    sasl_callback_t *cbs = sasl_srv_callbacks;
    if (pwdb == NULL) {
        if (verbose)
            fprintf(stderr, "INFO: MEMCACHED_SASL_PWDB not specified. "
                            "Internal passwd database disabled\n");
        cbs++; /* Cyrus's own stores (sasldb, saslauthd ...) */
    } else if (auth_new(pwdb, &sasl_pwdb) != AUTH_LOAD_OK) {
        fprintf(stderr, "Error reading the sasl database %s\n", pwdb);
        return false;
    }
    if (gethostname(sasl_hostname, sizeof(sasl_hostname) - 1) != 0)
        sasl_hostname[0] = '\0';
    if (sasl_server_init(cbs, SASL_SRV_APP) != SASL_OK) {
        fprintf(stderr, "Error initializing sasl.\n");
        return false;
    }
    if (verbose)
        fprintf(stderr, "Initialized SASL.\n");
    return true;
}

void sasl_srv_teardown(void) {
    sasl_server_done();
    auth_free(sasl_pwdb);
    sasl_pwdb = NULL;
}

struct sasl_srv *sasl_srv_new(void) {
    struct sasl_srv *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (sasl_server_new(SASL_SRV_APP, sasl_hostname[0] ? sasl_hostname : NULL, NULL, NULL, NULL,
                        NULL, 0, &s->conn) != SASL_OK) {
        if (sasl_verbose)
            fprintf(stderr, "Failed to initialize SASL conn.\n");
        free(s);
        return NULL;
    }
    return s;
}

void sasl_srv_free(struct sasl_srv *s) {
    if (s == NULL)
        return;
    sasl_dispose(&s->conn);
    free(s);
}

bool sasl_srv_mechs(struct sasl_srv *s, const char **out, size_t *outlen) {
    unsigned len = 0;
    int count = 0;
    if (sasl_listmech(s->conn, NULL, "", " ", "", out, &len, &count) != SASL_OK) {
        if (sasl_verbose)
            fprintf(stderr, "Failed to list SASL mechanisms.\n");
        return false;
    }
    *outlen = len;
    return true;
}

static enum sasl_srv_status sasl_srv_result(struct sasl_srv *s, int rc, const char *result,
                                            unsigned len, const char **out, size_t *outlen) {
    *out = result ? result : "";
    *outlen = result ? len : 0;
    if (sasl_verbose)
        fprintf(stderr, "sasl result code:  %d\n", rc);
    if (rc != SASL_CONTINUE)
        atomic_fetch_add_explicit(&sasl_cmds, 1, memory_order_relaxed);
    if (rc == SASL_OK) {
        s->authenticated = true;
        s->started = false;
        return SASL_SRV_OK;
    }
    if (rc == SASL_CONTINUE)
        return SASL_SRV_CONTINUE;
    s->started = false;
    atomic_fetch_add_explicit(&sasl_errors, 1, memory_order_relaxed);
    return SASL_SRV_FAIL;
}

void sasl_srv_stats(uint64_t *cmds, uint64_t *errors) {
    *cmds = atomic_load_explicit(&sasl_cmds, memory_order_relaxed);
    *errors = atomic_load_explicit(&sasl_errors, memory_order_relaxed);
}

enum sasl_srv_status sasl_srv_start(struct sasl_srv *s, const char *mech, size_t mechlen,
                                    const char *in, size_t inlen, const char **out,
                                    size_t *outlen) {
    char name[SASL_SRV_MECH_MAX + 1];
    *out = "";
    *outlen = 0;
    if (mechlen == 0 || mechlen > SASL_SRV_MECH_MAX || inlen > UINT32_MAX)
        return SASL_SRV_FAIL;
    memcpy(name, mech, mechlen);
    name[mechlen] = '\0';
    const char *result = NULL;
    unsigned len = 0;
    s->authenticated = false;
    /* no data is "no initial response" (CRAM-MD5 starts so), not an
     * empty one */
    int rc = sasl_server_start(s->conn, name, inlen ? in : NULL, (unsigned)inlen, &result, &len);
    s->started = rc == SASL_OK || rc == SASL_CONTINUE;
    return sasl_srv_result(s, rc, result, len, out, outlen);
}

enum sasl_srv_status sasl_srv_step(struct sasl_srv *s, const char *in, size_t inlen,
                                   const char **out, size_t *outlen) {
    *out = "";
    *outlen = 0;
    if (!s->started || inlen > UINT32_MAX) {
        if (sasl_verbose)
            fprintf(stderr, "SASL_STEP called but sasl_server_start not called\n");
        /* counted as a failed exchange, as memcached counts it */
        atomic_fetch_add_explicit(&sasl_cmds, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&sasl_errors, 1, memory_order_relaxed);
        return SASL_SRV_FAIL;
    }
    const char *result = NULL;
    unsigned len = 0;
    int rc = sasl_server_step(s->conn, inlen ? in : NULL, (unsigned)inlen, &result, &len);
    return sasl_srv_result(s, rc, result, len, out, outlen);
}

bool sasl_srv_authenticated(const struct sasl_srv *s) {
    return s->authenticated;
}
