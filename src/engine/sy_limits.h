/* sy_limits.h — rate limits and budgets per key and per team: requests per minute, tokens per
 * minute, USD per UTC day and per UTC month.
 *
 * A request is admitted by reserving, in one step for every limit of its key and its team,
 * one request, its prompt tokens + max_tokens and the most it can cost; when it ends the
 * reservation is settled with what it really used (a stream cut short included). So
 * concurrent long requests cannot overrun a limit: what is in flight is already counted.
 *
 * Windows are fixed and aligned to the UTC clock (minute, day, calendar month). The counters
 * live in this process (one table for all workers, kept across reloads) or, with
 * server.redis, in Redis: one Lua script checks and reserves atomically, so any number of
 * switchyard instances enforce one limit. When Redis cannot be asked in time,
 * server.redis_failure decides: "open" admits (unreserved, counted in metrics), "closed"
 * answers 503. */
#ifndef SY_LIMITS_H
#define SY_LIMITS_H

#include <stdatomic.h>
#include <stdint.h>

#include "registry/sy_config.h"

struct sy_engine;
struct sy_worker;
typedef struct sy_limiter sy_limiter;

enum { SY_LIM_RPM = 0, SY_LIM_TPM, SY_LIM_USD_DAY, SY_LIM_USD_MONTH, SY_LIM_N };
extern const char *const SY_LIM_NAMES[SY_LIM_N]; /* "rpm", "tpm", "usd_day", "usd_month" */

typedef struct sy_lim_stats {
    _Atomic uint64_t rejected[2][SY_LIM_N]; /* [key=0, team=1][limit] */
    _Atomic uint64_t redis_open, redis_closed; /* admitted / refused because Redis was away */
} sy_lim_stats;

/* One request's reservation, kept by the call until it is settled. */
typedef struct sy_lim_res {
    const sy_key_cfg *key;
    long tokens;             /* reserved */
    int64_t usd_micro;       /* reserved */
    int64_t minute, day, month; /* the windows the reservation went to */
    int reserved;            /* 1: counters were moved and must be settled */
    int redis;               /* ... in Redis */
} sy_lim_res;

/* What admission decided. */
typedef struct sy_lim_verdict {
    int ok;
    int status;              /* 429 or 503 when !ok */
    const char *code;        /* "rate_limit_exceeded", "insufficient_quota", "limits_unavailable" */
    int retry_after_s;       /* 0: none */
    int sized;               /* refused by a limit the request's size counts in (tpm, USD) */
    char message[400];
} sy_lim_verdict;

typedef void (*sy_lim_cb)(void *ud, const sy_lim_verdict *v);

sy_limiter *sy_limiter_new(void);
void sy_limiter_free(sy_limiter *l);
sy_lim_stats *sy_limiter_stats(sy_limiter *l);

/* Whether the key or its team has any limit (otherwise admission is free). */
int sy_limits_apply(const sy_key_cfg *key);

/* Reserves for one request. Returns 0 when decided now (*v filled, cb not called), 1 when
 * the answer comes later through cb (Redis). res is filled for the settlement. final = 0:
 * tokens and usd are upper bounds the caller will replace by exact figures if refused for
 * them (v->sized), so such a refusal is not counted in the metrics. */
int sy_limits_admit(struct sy_engine *eng, struct sy_worker *w, const sy_key_cfg *key,
                    long tokens, double usd, int final, sy_lim_res *res, sy_lim_verdict *v,
                    sy_lim_cb cb, void *ud);

/* Settles a reservation with what the request used (tokens in + out, USD). */
void sy_limits_settle(struct sy_engine *eng, struct sy_worker *w, sy_lim_res *res,
                      long used_tokens, double used_usd);

/* What is left of each limit (SY_LIM_*) for the key: the tighter of the key's and its team's
 * (left[i] = -1 where neither has that limit; limit[i], when not NULL, gets the tighter
 * limit itself), as this process last saw it: exact without Redis; with Redis as of this
 * process' last exchange with Redis for that key or team. USD in dollars. For policies
 * (req.key.remaining) and the x-ratelimit-* headers. */
void sy_limits_left(sy_limiter *l, const sy_key_cfg *key, double left[SY_LIM_N],
                    double limit[SY_LIM_N]);

/* Counts a finished keyed request (limits or not) for /metrics: per key, with its team. */
void sy_limits_account(sy_limiter *l, const sy_key_cfg *key, long tokens, double usd);
/* switchyard_key_{requests,tokens,cost_usd}_total */
void sy_limits_render(sy_limiter *l, sy_buf *b);

#endif
