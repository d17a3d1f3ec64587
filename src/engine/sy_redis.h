/* sy_redis.h — one asynchronous Redis connection per worker (hiredis on the worker's libevent
 * loop), for state shared by many switchyard instances: rate limits, budgets, caches.
 *
 * The connection reconnects by itself (backoff 100 ms .. 2 s). Every command has a deadline
 * (server.redis_timeout_ms): a Redis that is gone, stopped or slow answers the callback with
 * NULL in bounded time, and a timed-out connection is dropped and made again, so no request
 * ever waits on Redis longer than the deadline. Callers decide what NULL means (the limits
 * fail open or closed; a cache misses). */
#ifndef SY_REDIS_H
#define SY_REDIS_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/sy_core.h"

struct event_base;
struct redisReply;
typedef struct sy_redis sy_redis;

/* reply: the server's reply (an error reply included: check reply->type), or NULL when
 * Redis could not be asked or did not answer in time. The reply is freed after the call. */
typedef void (*sy_redis_cb)(struct redisReply *reply, void *ud);

/* Health shared by the workers' connections, for /metrics. */
typedef struct sy_redis_stats {
    atomic_int up;                 /* connections up right now */
    atomic_ullong commands, failures, timeouts, reconnects;
} sy_redis_stats;

/* Parses "redis://[[user]:password@]host[:port][/db]" (default port 6379, db 0). Returns 0
 * or -1 with the reason in err. */
int sy_redis_parse_url(const char *url, char **host, int *port, char **password, int *db,
                       char *err, size_t errlen);

/* A connection for this loop; connecting starts at once. NULL when out of memory or the URL
 * does not parse (checked at config load). stats may be NULL. */
sy_redis *sy_redis_new(struct event_base *base, const char *url, int timeout_ms,
                       sy_redis_stats *stats);
/* Closes the connection; pending callbacks get NULL first. */
void sy_redis_free(sy_redis *r);
/* 1 when the connection is up and authenticated. */
int sy_redis_up(const sy_redis *r);

/* Sends a command (printf-like, hiredis formats: %s, %b with a length, %d...). Returns 0:
 * cb will be called exactly once, later, never from inside this call; -1: Redis is down and
 * cb will not be called. */
int sy_redis_command(sy_redis *r, sy_redis_cb cb, void *ud, const char *fmt, ...);

/* Runs a Lua script by its SHA-1 (EVALSHA, the hash computed once per connection), sending
 * it whole (EVAL) on NOSCRIPT. script must be a static string (kept by address, at most 4
 * different ones); keys and args are copied. Same return as above. */
int sy_redis_script(sy_redis *r, const char *script, int nkeys, const char **keys, int nargs,
                    const char **args, sy_redis_cb cb, void *ud);

#endif
