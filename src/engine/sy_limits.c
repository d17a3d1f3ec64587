/* sy_limits.c — see sy_limits.h. */
#include "engine/sy_limits.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "engine/sy_engine_int.h"

const char *const SY_LIM_NAMES[SY_LIM_N] = {"rpm", "tpm", "usd_day", "usd_month"};

#define NBUCKETS 256

/* The counters of one key or team ("k:ID" / "t:ID"), in their current windows. */
typedef struct entry {
    struct entry *next;
    char name[136];
    int64_t minute, day, month;
    int64_t v[SY_LIM_N]; /* requests, tokens, micro-USD today, micro-USD this month */
    int seen;            /* v holds a figure (from this process or from Redis) */
    /* usage since start, of every keyed request (limits or not): for /metrics */
    char team[64];
    _Atomic uint64_t requests, tokens, usd_nano;
} entry;

struct sy_limiter {
    pthread_mutex_t lock;
    entry *b[NBUCKETS];
    sy_lim_stats stats;
};

sy_limiter *sy_limiter_new(void)
{
    sy_limiter *l = calloc(1, sizeof *l);
    if (l) pthread_mutex_init(&l->lock, NULL);
    return l;
}

void sy_limiter_free(sy_limiter *l)
{
    if (!l) return;
    for (int i = 0; i < NBUCKETS; i++)
        for (entry *e = l->b[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    pthread_mutex_destroy(&l->lock);
    free(l);
}

sy_lim_stats *sy_limiter_stats(sy_limiter *l)
{
    return l ? &l->stats : NULL;
}

static int any(const sy_limits *x)
{
    return x && (x->rpm > 0 || x->tpm > 0 || x->usd_day > 0 || x->usd_month > 0);
}

int sy_limits_apply(const sy_key_cfg *key)
{
    return key && (any(&key->limits) || (key->team_cfg && any(&key->team_cfg->limits)));
}

/* ------------------------------------------------------------------ clock and windows */

typedef struct windows {
    int64_t now, minute, day, month;
    int to_minute, to_day, to_month; /* seconds until each window ends */
} windows;

static void windows_now(windows *w)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    w->now = (int64_t)t;
    w->minute = w->now / 60;
    w->day = w->now / 86400;
    w->month = (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
    w->to_minute = (int)(60 - w->now % 60);
    w->to_day = (int)(86400 - w->now % 86400);
    struct tm next = {0};
    next.tm_year = tm.tm_mon == 11 ? tm.tm_year + 1 : tm.tm_year;
    next.tm_mon = (tm.tm_mon + 1) % 12;
    next.tm_mday = 1;
    w->to_month = (int)(timegm(&next) - t);
}

static int64_t micro(double usd)
{
    return (int64_t)(usd * 1e6 + 0.5);
}

static double limit_of(const sy_limits *x, int i)
{
    switch (i) {
    case SY_LIM_RPM: return (double)x->rpm;
    case SY_LIM_TPM: return (double)x->tpm;
    case SY_LIM_USD_DAY: return (double)micro(x->usd_day);
    default: return (double)micro(x->usd_month);
    }
}

/* ------------------------------------------------------------------ the local table */

static entry *find(sy_limiter *l, const char *kind, const char *id, int create)
{
    char name[136];
    snprintf(name, sizeof name, "%s:%s", kind, id);
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    entry **slot = &l->b[h % NBUCKETS];
    for (entry *e = *slot; e; e = e->next)
        if (strcmp(e->name, name) == 0) return e;
    if (!create) return NULL;
    entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->next = *slot;
    *slot = e;
    return e;
}

/* Starts new windows where the clock has moved on. */
static void roll(entry *e, const windows *w)
{
    if (e->minute != w->minute) e->v[SY_LIM_RPM] = e->v[SY_LIM_TPM] = 0, e->minute = w->minute;
    if (e->day != w->day) e->v[SY_LIM_USD_DAY] = 0, e->day = w->day;
    if (e->month != w->month) e->v[SY_LIM_USD_MONTH] = 0, e->month = w->month;
}

/* ------------------------------------------------------------------ verdicts */

static const char *const SCOPE[2] = {"key", "team"};

static void refuse(sy_lim_verdict *v, const sy_key_cfg *key, int scope, int lim, double used,
                   double limit, long tokens, int64_t usd_micro, const windows *w)
{
    const char *who = scope ? key->team : key->id;
    v->ok = 0;
    v->status = 429;
    switch (lim) {
    case SY_LIM_RPM:
        v->code = "rate_limit_exceeded";
        v->retry_after_s = w->to_minute;
        snprintf(v->message, sizeof v->message,
                 "Rate limit reached for %s '%s': %.0f requests per minute (limit rpm). "
                 "Retry after %d s.", SCOPE[scope], who, limit, v->retry_after_s);
        break;
    case SY_LIM_TPM:
        v->code = "rate_limit_exceeded";
        if ((double)tokens > limit) {
            v->retry_after_s = 0;
            snprintf(v->message, sizeof v->message,
                     "This request needs up to %ld tokens (prompt + max_tokens), more than %s "
                     "'%s' may use in a minute (tpm %.0f): lower max_tokens or shorten it.",
                     tokens, SCOPE[scope], who, limit);
        } else {
            v->retry_after_s = w->to_minute;
            snprintf(v->message, sizeof v->message,
                     "Rate limit reached for %s '%s': %.0f tokens per minute (limit tpm; %.0f "
                     "used or reserved, this request needs up to %ld). Retry after %d s.",
                     SCOPE[scope], who, limit, used, tokens, v->retry_after_s);
        }
        break;
    default: {
        int day = lim == SY_LIM_USD_DAY;
        v->code = "insufficient_quota";
        v->retry_after_s = day ? w->to_day : w->to_month;
        snprintf(v->message, sizeof v->message,
                 "Budget of %s '%s' %s: USD %.2f per %s (limit %s; %.4f spent or reserved, "
                 "this request may cost up to %.4f). It renews in %d s.",
                 SCOPE[scope], who, used >= limit ? "is spent" : "would be exceeded",
                 limit / 1e6, day ? "UTC day" : "UTC month", SY_LIM_NAMES[lim], used / 1e6,
                 (double)usd_micro / 1e6, v->retry_after_s);
        break;
    }
    }
}

static void admit_local(sy_limiter *l, const sy_key_cfg *key, sy_lim_res *res,
                        const windows *w, int final, sy_lim_verdict *v)
{
    const sy_limits *lims[2] = {&key->limits, key->team_cfg ? &key->team_cfg->limits : NULL};
    entry *es[2] = {NULL, NULL};
    double need[SY_LIM_N] = {1, (double)res->tokens, (double)res->usd_micro, (double)res->usd_micro};
    pthread_mutex_lock(&l->lock);
    for (int s = 0; s < 2; s++) {
        if (!any(lims[s])) continue;
        es[s] = find(l, s ? "t" : "k", s ? key->team : key->id, 1);
        if (!es[s]) continue; /* out of memory: not limited rather than refused */
        roll(es[s], w);
        for (int i = 0; i < SY_LIM_N; i++) {
            double lim = limit_of(lims[s], i);
            if (lim > 0 && (double)es[s]->v[i] + need[i] > lim) {
                v->sized = i != SY_LIM_RPM;
                if (final || !v->sized) atomic_fetch_add(&l->stats.rejected[s][i], 1);
                refuse(v, key, s, i, (double)es[s]->v[i], lim, res->tokens, res->usd_micro, w);
                pthread_mutex_unlock(&l->lock);
                return;
            }
        }
    }
    for (int s = 0; s < 2; s++) {
        if (!es[s]) continue;
        for (int i = 0; i < SY_LIM_N; i++) es[s]->v[i] += (int64_t)need[i];
        es[s]->seen = 1;
    }
    pthread_mutex_unlock(&l->lock);
    res->reserved = 1;
    v->ok = 1;
}

/* ------------------------------------------------------------------ Redis */

/* KEYS: per scope (key, then team if it has limits) 4 counters: rpm, tpm, usd_day, usd_month.
 * ARGV: need for each counter (4), then per scope its 4 limits (0 = none), then the TTLs of
 * the 4 windows. Checks everything, then reserves everything. Returns {0, v1..v4n} (the
 * counters after the reservation) or {1, scope, limit, used}. */
static const char RESERVE_LUA[] =
    "local ns = #KEYS / 4\n"
    "local vals = {}\n"
    "for s = 0, ns - 1 do\n"
    "  for i = 1, 4 do\n"
    "    local cur = tonumber(redis.call('GET', KEYS[s * 4 + i]) or '0')\n"
    "    local lim = tonumber(ARGV[4 + s * 4 + i])\n"
    "    local need = tonumber(ARGV[i])\n"
    "    if lim > 0 and cur + need > lim then return {1, s, i - 1, cur} end\n"
    "    vals[s * 4 + i] = cur\n"
    "  end\n"
    "end\n"
    "local out = {0}\n"
    "for s = 0, ns - 1 do\n"
    "  for i = 1, 4 do\n"
    "    local k = KEYS[s * 4 + i]\n"
    "    local v = redis.call('INCRBY', k, tonumber(ARGV[i]))\n"
    "    if v == tonumber(ARGV[i]) then redis.call('EXPIRE', k, tonumber(ARGV[4 + ns * 4 + i])) end\n"
    "    out[#out + 1] = v\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS: the tpm, usd_day, usd_month counters of each scope; ARGV: the 3 corrections. */
static const char SETTLE_LUA[] =
    "for s = 0, #KEYS / 3 - 1 do\n"
    "  for i = 1, 3 do\n"
    "    local d = tonumber(ARGV[i])\n"
    "    if d ~= 0 and redis.call('EXISTS', KEYS[s * 3 + i]) == 1 then\n"
    "      local v = redis.call('INCRBY', KEYS[s * 3 + i], d)\n"
    "      if v < 0 then redis.call('SET', KEYS[s * 3 + i], 0, 'KEEPTTL') end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return 0\n";

static void counter_key(char *out, size_t n, int scope, const sy_key_cfg *key, int lim,
                        int64_t minute, int64_t day, int64_t month)
{
    int64_t win = lim <= SY_LIM_TPM ? minute : lim == SY_LIM_USD_DAY ? day : month;
    snprintf(out, n, "sy:lim:%c:%s:%s:%lld", scope ? 't' : 'k', scope ? key->team : key->id,
             SY_LIM_NAMES[lim], (long long)win);
}

typedef struct pending {
    sy_engine *eng;
    sy_lim_res *res;
    sy_lim_cb cb;
    void *ud;
    windows w;
    int nscopes;
    int fail_open;           /* server.redis_failure of the worker's snapshot */
} pending;

/* Redis could not be asked: server.redis_failure decides. */
static void redis_away(sy_engine *eng, int fail_open, sy_lim_verdict *v)
{
    sy_lim_stats *st = sy_limiter_stats(eng->limiter);
    if (fail_open) {
        atomic_fetch_add(&st->redis_open, 1);
        v->ok = 1;
        return;
    }
    atomic_fetch_add(&st->redis_closed, 1);
    v->ok = 0;
    v->status = 503;
    v->code = "limits_unavailable";
    v->retry_after_s = 1;
    snprintf(v->message, sizeof v->message,
             "Rate limits cannot be checked right now (their store, Redis, is unreachable) and "
             "this gateway is set to refuse requests then (server.redis_failure = \"closed\").");
}

static void on_reserved(struct redisReply *r, void *ud)
{
    pending *p = ud;
    sy_lim_verdict v = {0};
    const sy_key_cfg *key = p->res->key;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        if (r && r->type == REDIS_REPLY_ERROR)
            sy_log(SY_LOG_WARN, "limits", "redis: %s", r->str);
        redis_away(p->eng, p->fail_open, &v);
    } else if (r->element[0]->integer == 0) {
        p->res->reserved = 1;
        p->res->redis = 1;
        v.ok = 1;
        /* remember the counters for policies (req.key.remaining) */
        sy_limiter *l = p->eng->limiter;
        pthread_mutex_lock(&l->lock);
        for (int s = 0, at = 1; s < p->nscopes; s++) {
            entry *e = find(l, s ? "t" : "k", s ? key->team : key->id, 1);
            for (int i = 0; i < SY_LIM_N; i++, at++)
                if (e && (size_t)at < r->elements && r->element[at]->type == REDIS_REPLY_INTEGER)
                    e->v[i] = r->element[at]->integer;
            if (e) e->minute = p->w.minute, e->day = p->w.day, e->month = p->w.month, e->seen = 1;
        }
        pthread_mutex_unlock(&l->lock);
    } else if (r->elements >= 4) {
        int s = (int)r->element[1]->integer, i = (int)r->element[2]->integer;
        double used = r->element[3]->type == REDIS_REPLY_INTEGER ? (double)r->element[3]->integer : 0;
        const sy_limits *lims = s ? &key->team_cfg->limits : &key->limits;
        if (s < 0 || s > 1 || i < 0 || i >= SY_LIM_N || (s && !key->team_cfg)) {
            redis_away(p->eng, p->fail_open, &v);
        } else {
            atomic_fetch_add(&sy_limiter_stats(p->eng->limiter)->rejected[s][i], 1);
            refuse(&v, key, s, i, used, limit_of(lims, i), p->res->tokens, p->res->usd_micro,
                   &p->w);
        }
    } else {
        redis_away(p->eng, p->fail_open, &v);
    }
    p->cb(p->ud, &v);
    free(p);
}

int sy_limits_admit(sy_engine *eng, sy_worker *w, const sy_key_cfg *key, long tokens,
                    double usd, int final, sy_lim_res *res, sy_lim_verdict *v, sy_lim_cb cb,
                    void *ud)
{
    memset(res, 0, sizeof *res);
    memset(v, 0, sizeof *v);
    v->ok = 1;
    if (!sy_limits_apply(key)) return 0;
    windows win;
    windows_now(&win);
    res->key = key;
    res->tokens = tokens;
    res->usd_micro = micro(usd);
    res->minute = win.minute;
    res->day = win.day;
    res->month = win.month;
    /* the worker's own snapshot: eng->cfg belongs to whoever reloads */
    if (!w || !w->redis) {
        admit_local(eng->limiter, key, res, &win, final, v);
        return 0;
    }
    int nscopes = key->team_cfg && any(&key->team_cfg->limits) ? 2 : 1;
    /* the key without limits of its own still has a scope 0 (all limits 0): simpler */
    char kbuf[8][200];
    const char *keys[8], *args[4 + 8 + 4];
    char abuf[16][32];
    for (int s = 0; s < nscopes; s++)
        for (int i = 0; i < SY_LIM_N; i++) {
            counter_key(kbuf[s * 4 + i], sizeof kbuf[0], s, key, i, win.minute, win.day, win.month);
            keys[s * 4 + i] = kbuf[s * 4 + i];
        }
    int na = 0;
    long long need[4] = {1, tokens, (long long)res->usd_micro, (long long)res->usd_micro};
    for (int i = 0; i < 4; i++) snprintf(abuf[na], 32, "%lld", need[i]), na++;
    for (int s = 0; s < nscopes; s++) {
        const sy_limits *lims = s ? &key->team_cfg->limits : &key->limits;
        for (int i = 0; i < SY_LIM_N; i++) snprintf(abuf[na], 32, "%.0f", limit_of(lims, i)), na++;
    }
    /* a window's counter outlives it a little, so a late settlement still finds it */
    int ttl[4] = {120, 120, 2 * 86400, 32 * 86400};
    for (int i = 0; i < 4; i++) snprintf(abuf[na], 32, "%d", ttl[i]), na++;
    for (int i = 0; i < na; i++) args[i] = abuf[i];
    pending *p = calloc(1, sizeof *p);
    if (!p) {
        admit_local(eng->limiter, key, res, &win, final, v);
        return 0;
    }
    p->eng = eng;
    p->res = res;
    p->cb = cb;
    p->ud = ud;
    p->w = win;
    p->nscopes = nscopes;
    p->fail_open = w->cfg->redis_fail_open;
    if (sy_redis_script(w->redis, RESERVE_LUA, nscopes * 4, keys, na, args, on_reserved, p) != 0) {
        free(p);
        redis_away(eng, w->cfg->redis_fail_open, v);
        return 0;
    }
    return 1;
}

static void on_settled(struct redisReply *r, void *ud)
{
    (void)r;
    (void)ud;
}

void sy_limits_settle(sy_engine *eng, sy_worker *w, sy_lim_res *res, long used_tokens,
                      double used_usd)
{
    if (!res->reserved) return;
    res->reserved = 0;
    const sy_key_cfg *key = res->key;
    int64_t d_tok = used_tokens - res->tokens, d_usd = micro(used_usd) - res->usd_micro;
    if (d_tok == 0 && d_usd == 0) return;
    int nscopes = key->team_cfg && any(&key->team_cfg->limits) ? 2 : 1;
    if (res->redis) {
        if (!w || !w->redis) return;
        char kbuf[6][200], abuf[3][32];
        const char *keys[6], *args[3];
        for (int s = 0; s < nscopes; s++)
            for (int i = 1; i < SY_LIM_N; i++) {
                counter_key(kbuf[s * 3 + i - 1], sizeof kbuf[0], s, key, i, res->minute, res->day,
                            res->month);
                keys[s * 3 + i - 1] = kbuf[s * 3 + i - 1];
            }
        snprintf(abuf[0], 32, "%lld", (long long)d_tok);
        snprintf(abuf[1], 32, "%lld", (long long)d_usd);
        snprintf(abuf[2], 32, "%lld", (long long)d_usd);
        for (int i = 0; i < 3; i++) args[i] = abuf[i];
        /* best effort: a settlement lost to an outage leaves the reservation standing, the
         * safe side of a limit */
        sy_redis_script(w->redis, SETTLE_LUA, nscopes * 3, keys, 3, args, on_settled, NULL);
        return;
    }
    sy_limiter *l = eng->limiter;
    pthread_mutex_lock(&l->lock);
    for (int s = 0; s < nscopes; s++) {
        entry *e = find(l, s ? "t" : "k", s ? key->team : key->id, 0);
        if (!e) continue;
        int64_t d[SY_LIM_N] = {0, d_tok, d_usd, d_usd};
        int64_t win[SY_LIM_N] = {e->minute == res->minute, e->minute == res->minute,
                                 e->day == res->day, e->month == res->month};
        for (int i = 1; i < SY_LIM_N; i++)
            if (win[i]) {
                e->v[i] += d[i];
                if (e->v[i] < 0) e->v[i] = 0;
            }
    }
    pthread_mutex_unlock(&l->lock);
}

void sy_limits_left(sy_limiter *l, const sy_key_cfg *key, double left[SY_LIM_N],
                    double limit[SY_LIM_N])
{
    for (int i = 0; i < SY_LIM_N; i++) {
        left[i] = -1;
        if (limit) limit[i] = -1;
    }
    if (!l || !key) return;
    windows w;
    windows_now(&w);
    pthread_mutex_lock(&l->lock);
    for (int s = 0; s < 2; s++) {
        const sy_limits *lims = s ? (key->team_cfg ? &key->team_cfg->limits : NULL) : &key->limits;
        if (!any(lims)) continue;
        entry *e = find(l, s ? "t" : "k", s ? key->team : key->id, 0);
        for (int i = 0; i < SY_LIM_N; i++) {
            double lim = limit_of(lims, i);
            if (lim <= 0) continue;
            double used = 0;
            if (e) {
                int same = i <= SY_LIM_TPM ? e->minute == w.minute
                         : i == SY_LIM_USD_DAY ? e->day == w.day : e->month == w.month;
                if (same) used = (double)e->v[i];
            }
            double scale = i >= SY_LIM_USD_DAY ? 1e6 : 1; /* micro-USD inside */
            double rest = (lim - used > 0 ? lim - used : 0) / scale;
            if (left[i] < 0 || rest < left[i]) left[i] = rest;
            if (limit && (limit[i] < 0 || lim / scale < limit[i])) limit[i] = lim / scale;
        }
    }
    pthread_mutex_unlock(&l->lock);
}

void sy_limits_account(sy_limiter *l, const sy_key_cfg *key, long tokens, double usd)
{
    if (!l || !key) return;
    /* the key's counters are found once per config snapshot, then counted without a lock */
    _Atomic(void *) *slot = (_Atomic(void *) *)&key->usage;
    entry *e = atomic_load_explicit(slot, memory_order_acquire);
    if (!e) {
        pthread_mutex_lock(&l->lock);
        e = find(l, "k", key->id, 1);
        if (e) snprintf(e->team, sizeof e->team, "%s", key->team);
        pthread_mutex_unlock(&l->lock);
        if (!e) return;
        atomic_store_explicit(slot, e, memory_order_release);
    }
    atomic_fetch_add_explicit(&e->requests, 1, memory_order_relaxed);
    if (tokens > 0) atomic_fetch_add_explicit(&e->tokens, (uint64_t)tokens, memory_order_relaxed);
    if (usd > 0)
        atomic_fetch_add_explicit(&e->usd_nano, (uint64_t)(usd * 1e9 + 0.5), memory_order_relaxed);
}

void sy_limits_render(sy_limiter *l, sy_buf *b)
{
    if (!l) return;
    static const char *const help[3][2] = {
        {"switchyard_key_requests_total", "Requests answered per client key (any status)."},
        {"switchyard_key_tokens_total", "Tokens billed (prompt + completion) per client key."},
        {"switchyard_key_cost_usd_total", "Cost in USD per client key, from usage and prices."}};
    pthread_mutex_lock(&l->lock);
    for (int k = 0; k < 3; k++) {
        int head = 0;
        for (int i = 0; i < NBUCKETS; i++)
            for (entry *e = l->b[i]; e; e = e->next) {
                uint64_t nreq = atomic_load_explicit(&e->requests, memory_order_relaxed);
                if (strncmp(e->name, "k:", 2) != 0 || !nreq) continue;
                if (!head++)
                    sy_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", help[k][0], help[k][1],
                                  help[k][0]);
                sy_buf_printf(b, "%s{key=", help[k][0]);
                sy_met_label(b, e->name + 2);
                sy_buf_puts(b, ",team=");
                sy_met_label(b, e->team);
                if (k == 2)
                    sy_buf_printf(b, "} %.9f\n", (double)atomic_load(&e->usd_nano) / 1e9);
                else
                    sy_buf_printf(b, "} %llu\n",
                                  (unsigned long long)(k ? atomic_load(&e->tokens) : nreq));
            }
    }
    pthread_mutex_unlock(&l->lock);
}
