/* sy_redis.c — see sy_redis.h. hiredis' async API on the worker's event loop, plus what it
 * lacks: reconnection with backoff, a connect deadline and a deadline per command. */
#include "engine/sy_redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>
#include <openssl/sha.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

#define SHA_SLOTS 4
typedef struct sha_slot {
    const char *script;          /* a static string, compared by address */
    char hex[2 * SHA_DIGEST_LENGTH + 1];
} sha_slot;

typedef struct pend pend;
struct sy_redis {
    struct event_base *base;
    char *host, *password;
    int port, db, timeout_ms;
    redisAsyncContext *ac;
    int connected;               /* ac is connected (AUTH/SELECT sent first) */
    int backoff_ms;
    int closing;
    int warned;                  /* "unreachable" logged since the last success */
    struct event *retry_ev;      /* reconnect after backoff_ms */
    struct event *conn_ev;       /* connect deadline */
    struct event *flush_ev;      /* writes queued commands in this loop pass (see kick) */
    sy_redis_stats *stats;
    sy_redis_stats own;
    sha_slot shas[SHA_SLOTS];    /* the scripts' SHA-1s, each computed once */
};

struct pend {
    sy_redis *r;
    sy_redis_cb cb;
    void *ud;
    struct event *timer;
    int done;                    /* cb already called (timed out): drop the late reply */
    /* scripts: what a NOSCRIPT reply needs to send the script itself */
    const char *script;          /* borrowed: scripts are static strings */
    int argc;
    const char **argv;           /* into args (one block) */
    size_t *argvlen;
    char *args;
};

static void connect_now(sy_redis *r);

/* hiredis writes a command when the socket's write event fires, a loop pass later. An
 * activated event writes it in this pass instead: before the HTTP answer of the request that
 * sent it (a settlement reaches Redis before the client can send its next request to another
 * instance), and without a callback inside the caller's own call. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sy_redis *r = arg;
    if (r->ac && r->connected) redisAsyncHandleWrite(r->ac);
}

static void kick(sy_redis *r)
{
    if (r->flush_ev) event_active(r->flush_ev, 0, 0);
}

int sy_redis_parse_url(const char *url, char **host, int *port, char **password, int *db,
                       char *err, size_t errlen)
{
    *host = *password = NULL;
    *port = 6379;
    *db = 0;
    if (!url || strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "must be a redis:// URL, e.g. \"redis://127.0.0.1:6379/0\"");
        return -1;
    }
    const char *p = url + 8, *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        *password = strndup(pw, (size_t)(at - pw));
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0) {
        snprintf(err, errlen, "has no host");
        goto bad;
    }
    *host = strndup(p, hl);
    p += hl;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535 || (*end && *end != '/')) {
            snprintf(err, errlen, "has a bad port");
            goto bad;
        }
        *port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || v < 0 || v > 1000000) {
            snprintf(err, errlen, "has a bad database number (/N)");
            goto bad;
        }
        *db = (int)v;
    }
    return 0;
bad:
    free(*host);
    free(*password);
    *host = *password = NULL;
    return -1;
}

static void pend_free(pend *p)
{
    if (!p) return;
    if (p->timer) event_free(p->timer);
    free(p->argv);
    free(p->args);
    free(p->argvlen);
    free(p);
}

static void schedule_reconnect(sy_redis *r)
{
    if (r->closing || !r->retry_ev) return;
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
    evtimer_add(r->retry_ev, &tv);
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

static void lost(sy_redis *r, const char *why)
{
    if (r->connected) atomic_fetch_sub(&r->stats->up, 1);
    r->connected = 0;
    r->ac = NULL;
    if (r->conn_ev) evtimer_del(r->conn_ev);
    if (!r->closing && !r->warned) {
        sy_log(SY_LOG_WARN, "redis", "redis %s:%d unreachable (%s); retrying", r->host, r->port,
               why);
        r->warned = 1;
    }
    schedule_reconnect(r);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    sy_redis *r = ac->data;
    if (!r) return;
    if (status != REDIS_OK) {
        lost(r, ac->errstr[0] ? ac->errstr : "connect failed"); /* hiredis frees ac */
        return;
    }
    evtimer_del(r->conn_ev);
    r->connected = 1;
    r->backoff_ms = BACKOFF_MIN_MS;
    atomic_fetch_add(&r->stats->up, 1);
    if (r->warned) sy_log(SY_LOG_INFO, "redis", "redis %s:%d reachable again", r->host, r->port);
    r->warned = 0;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    sy_redis *r = ac->data;
    if (!r) return;
    (void)status;
    if (r->ac == ac) lost(r, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* Drops the connection now: pending callbacks get NULL, then on_disconnect reconnects. */
static void drop(sy_redis *r)
{
    redisAsyncContext *ac = r->ac;
    if (!ac) return;
    if (!r->connected) { /* still connecting: hiredis calls on_connect? not after a free */
        ac->data = NULL;
        r->ac = NULL;
        redisAsyncFree(ac);
        lost(r, "connect timed out");
        return;
    }
    redisAsyncFree(ac); /* calls on_disconnect, which calls lost() */
    if (r->ac == ac) lost(r, "dropped");
}

static void on_conn_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drop(arg);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sy_redis *r = arg;
    atomic_fetch_add(&r->stats->reconnects, 1);
    connect_now(r);
}

static void connect_now(sy_redis *r)
{
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (!ac || ac->err) {
        const char *why = ac ? ac->errstr : "out of memory";
        char msg[128];
        snprintf(msg, sizeof msg, "%s", why);
        if (ac) redisAsyncFree(ac);
        lost(r, msg);
        return;
    }
    ac->data = r;
    if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
        ac->data = NULL;
        redisAsyncFree(ac);
        lost(r, "cannot attach to the event loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    /* queued before any caller's command, so they run first */
    if (r->password) redisAsyncCommand(ac, NULL, NULL, "AUTH %s", r->password);
    if (r->db) redisAsyncCommand(ac, NULL, NULL, "SELECT %d", r->db);
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    evtimer_add(r->conn_ev, &tv);
}

sy_redis *sy_redis_new(struct event_base *base, const char *url, int timeout_ms,
                       sy_redis_stats *stats)
{
    char err[128];
    sy_redis *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (sy_redis_parse_url(url, &r->host, &r->port, &r->password, &r->db, err, sizeof err) != 0) {
        free(r);
        return NULL;
    }
    r->base = base;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 100;
    r->stats = stats ? stats : &r->own;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->retry_ev = evtimer_new(base, on_retry, r);
    r->conn_ev = evtimer_new(base, on_conn_deadline, r);
    r->flush_ev = event_new(base, -1, 0, on_flush, r);
    if (!r->retry_ev || !r->conn_ev || !r->flush_ev) {
        sy_redis_free(r);
        return NULL;
    }
    connect_now(r);
    return r;
}

void sy_redis_free(sy_redis *r)
{
    if (!r) return;
    r->closing = 1;
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        if (!r->connected) ac->data = NULL;
        redisAsyncFree(ac);
        r->ac = NULL;
    }
    if (r->connected) atomic_fetch_sub(&r->stats->up, 1);
    if (r->retry_ev) event_free(r->retry_ev);
    if (r->conn_ev) event_free(r->conn_ev);
    if (r->flush_ev) event_free(r->flush_ev);
    if (r->password) memset(r->password, 0, strlen(r->password));
    free(r->password);
    free(r->host);
    free(r);
}

int sy_redis_up(const sy_redis *r)
{
    return r && r->connected;
}

static int send_argv(sy_redis *r, pend *p, int argc, const char **argv, const size_t *argvlen);

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    pend *p = privdata;
    redisReply *rep = reply;
    if (p->done) { /* its deadline passed: the caller has had NULL already */
        pend_free(p);
        return;
    }
    sy_redis *r = p->r;
    if (p->timer) evtimer_del(p->timer);
    if (rep && rep->type == REDIS_REPLY_ERROR && p->script && r->connected &&
        strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        /* the server does not know the script yet: send it whole, once */
        int n = p->argc;
        const char **argv = malloc(sizeof *argv * (size_t)n);
        size_t *lens = malloc(sizeof *lens * (size_t)n);
        if (argv && lens) {
            argv[0] = "EVAL";
            lens[0] = 4;
            argv[1] = p->script;
            lens[1] = strlen(p->script);
            for (int i = 2; i < n; i++) argv[i] = p->argv[i], lens[i] = p->argvlen[i];
            p->script = NULL; /* no second NOSCRIPT round */
            int rc = send_argv(r, p, n, argv, lens); /* hiredis copies the arguments */
            free(argv);
            free(lens);
            if (rc == 0) return;
        } else {
            free(argv);
            free(lens);
        }
        rep = NULL;
    }
    if (!rep) atomic_fetch_add(&r->stats->failures, 1);
    p->done = 1;
    p->cb(rep, p->ud);
    pend_free(p);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pend *p = arg;
    sy_redis *r = p->r;
    p->done = 1;
    atomic_fetch_add(&r->stats->timeouts, 1);
    p->cb(NULL, p->ud);
    /* A server that does not answer in time is treated as gone: the connection is made
     * again, so the commands queued behind this one fail now instead of one by one. The
     * late reply (or the NULL of the drop) frees p. */
    drop(r);
}

/* A command hiredis has queued: counted, written in this loop pass, and given its deadline. */
static void sent(sy_redis *r, pend *p)
{
    atomic_fetch_add(&r->stats->commands, 1);
    kick(r);
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

static int send_argv(sy_redis *r, pend *p, int argc, const char **argv, const size_t *argvlen)
{
    if (!r->ac || !r->connected) return -1;
    if (redisAsyncCommandArgv(r->ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) return -1;
    sent(r, p);
    return 0;
}

static pend *pend_new(sy_redis *r, sy_redis_cb cb, void *ud)
{
    pend *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->r = r;
    p->cb = cb;
    p->ud = ud;
    p->timer = evtimer_new(r->base, on_deadline, p);
    if (!p->timer) {
        free(p);
        return NULL;
    }
    return p;
}

int sy_redis_command(sy_redis *r, sy_redis_cb cb, void *ud, const char *fmt, ...)
{
    if (!sy_redis_up(r)) return -1;
    pend *p = pend_new(r, cb, ud);
    if (!p) return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->ac, on_reply, p, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        pend_free(p);
        return -1;
    }
    sent(r, p);
    return 0;
}

/* The script's SHA-1 in hex, computed once per connection; NULL with no slot left. */
static const char *script_sha(sy_redis *r, const char *script)
{
    for (int i = 0; i < SHA_SLOTS; i++) {
        sha_slot *sl = &r->shas[i];
        if (sl->script == script) return sl->hex;
        if (sl->script) continue;
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)script, strlen(script), md);
        for (int b = 0; b < SHA_DIGEST_LENGTH; b++) snprintf(sl->hex + 2 * b, 3, "%02x", md[b]);
        sl->script = script;
        return sl->hex;
    }
    return NULL;
}

int sy_redis_script(sy_redis *r, const char *script, int nkeys, const char **keys, int nargs,
                    const char **args, sy_redis_cb cb, void *ud)
{
    if (!sy_redis_up(r)) return -1;
    pend *p = pend_new(r, cb, ud);
    if (!p) return -1;
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    int n = 3 + nkeys + nargs;
    const char *src[3] = {"EVALSHA", script_sha(r, script), nk};
    size_t total = 0;
    p->argc = n;
    p->argv = calloc((size_t)n, sizeof *p->argv);
    p->argvlen = calloc((size_t)n, sizeof *p->argvlen);
    for (int i = 0; p->argvlen && i < n; i++) {
        const char *a = i < 3 ? src[i] : i < 3 + nkeys ? keys[i - 3] : args[i - 3 - nkeys];
        p->argvlen[i] = strlen(a);
        total += p->argvlen[i] + 1;
    }
    /* kept for a NOSCRIPT answer, which sends them again after the script itself */
    p->args = p->argvlen ? malloc(total) : NULL;
    if (!p->argv || !p->args || !src[1]) {
        pend_free(p);
        return -1;
    }
    p->script = script;
    char *at = p->args;
    for (int i = 0; i < n; i++) {
        const char *a = i < 3 ? src[i] : i < 3 + nkeys ? keys[i - 3] : args[i - 3 - nkeys];
        memcpy(at, a, p->argvlen[i] + 1);
        p->argv[i] = at;
        at += p->argvlen[i] + 1;
    }
    if (send_argv(r, p, n, p->argv, p->argvlen) != 0) {
        pend_free(p);
        return -1;
    }
    return 0;
}
