/* sy_cache.h — the response cache (one per engine, shared by every worker behind one mutex)
 * and the routing-decision cache (one per worker, no lock), both bounded LRU stores keyed by
 * SHA-256; the normalised-request key; and the conversions between a stored answer and a
 * stream. Implemented in sy_cache.c; used by sy_gateway.c (lookups, stores, headers),
 * sy_engine.c (emptied when a reload is published), sy_worker.c and sy_metrics.c.
 *
 * Ownership: sy_cache_new / sy_dcache_new return objects the caller frees with the matching
 * _free (NULL-safe). Every entry is tagged with the snapshot generation it was made on: a
 * lookup or a store from another generation misses or is refused, so nothing in memory
 * outlives the snapshot its models and policies belong to. The Redis backend is shared by
 * instances that reload at different times, so its entries are not tagged by generation:
 * they outlive a reload, and an entry misses once the decision's models (upstream name and
 * provider URL, part of the key) change. */
#ifndef SY_CACHE_H
#define SY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/sy_core.h"
#include "policy/sy_policy.h"

typedef struct sy_cache sy_cache;   /* per engine: responses, and every counter */
typedef struct sy_dcache sy_dcache; /* per worker: routing decisions */

#define SY_CACHE_KEY_LEN 32

sy_cache *sy_cache_new(void);
void sy_cache_free(sy_cache *c);
/* A reload published generation gen: every response goes, and stores made on older
 * snapshots are refused from now on. */
void sy_cache_flush(sy_cache *c, unsigned gen);

/* The key of a request: SHA-256 over the tenant, the route (or model) name, the decision's
 * kind and models, and the request body normalised (objects' keys sorted, whitespace and
 * number spelling irrelevant) without the members that do not change the answer (model,
 * stream, stream_options, user, metadata, store, service_tier, prompt_cache_key,
 * safety_identifier). 0, or -1 when the body does not parse or memory runs out. */
int sy_cache_request_key(const char *body, size_t len, const char *tenant, const char *route,
                         const sy_decision *dec, unsigned char key[SY_CACHE_KEY_LEN]);

/* A stored answer, copied out (the caller frees body). */
typedef struct sy_cache_hit {
    char *body;       /* a chat.completion object (Chat Completions shape) */
    size_t len;
    char model[128];  /* the registry id that answered */
    int64_t age_ms;   /* since it was stored */
} sy_cache_hit;
/* 1 and *out on a hit, 0 on a miss (expired entries are dropped). Counts either. */
int sy_cache_get(sy_cache *c, unsigned gen, const unsigned char key[SY_CACHE_KEY_LEN],
                 sy_cache_hit *out);
/* Stores an answer under key in the route's partition, evicting the least recently used
 * entries of that partition beyond max_bytes (an answer larger than that is not stored).
 * ttl_ms 0 = no expiry. 0 stored, -1 not (refused generation, too large, out of memory). */
int sy_cache_put(sy_cache *c, unsigned gen, const unsigned char key[SY_CACHE_KEY_LEN],
                 const char *route, size_t max_bytes, int64_t ttl_ms, const char *model,
                 const char *body, size_t len);
/* A request that skipped the cache (stream without replay, Cache-Control: no-cache). */
void sy_cache_count_bypass(sy_cache *c);

/* ---- the Redis backend (route.cache.backend = "redis"): the gateway sends the commands */
#define SY_CACHE_RKEY_LEN (6 + 2 * SY_CACHE_KEY_LEN + 1)
/* "sy:rc:<the key in hex>" */
void sy_cache_redis_key(const unsigned char key[SY_CACHE_KEY_LEN], char out[SY_CACHE_RKEY_LEN]);
/* A stored value: "sy1\n<wall-clock ms when stored>\n<model>\n<body>". */
void sy_cache_encode(const char *model, const char *body, size_t len, int64_t wall_ms,
                     sy_buf *out);
/* The answer in a stored value; 0, or -1 when it is not one (out->body stays NULL). */
int sy_cache_decode(const char *v, size_t n, int64_t now_wall_ms, sy_cache_hit *out);
enum { SY_CACHE_HIT = 0, SY_CACHE_MISS = 1, SY_CACHE_STORE = 2 };
/* Counts a lookup or a store made outside this file (the Redis backend). */
void sy_cache_count(sy_cache *c, int what);

/* Prometheus lines of both caches. */
void sy_cache_metrics(sy_cache *c, sy_buf *out);

/* ---- routing decisions (per worker) */
sy_dcache *sy_dcache_new(sy_cache *counters);
void sy_dcache_free(sy_dcache *d);
/* The decision stored for (route, tenant, key) on generation gen: 1 and *out, or 0. */
int sy_dcache_get(sy_dcache *d, unsigned gen, const char *route, const char *tenant,
                  const char *key, sy_decision *out);
/* Stores dec, evicting the route's least recently used decisions beyond max; ttl_ms 0 =
 * until the next reload. */
void sy_dcache_put(sy_dcache *d, unsigned gen, const char *route, const char *tenant,
                   const char *key, int max, int64_t ttl_ms, const sy_decision *dec);

/* ---- streams */
/* The chunks a stream of this stored answer is made of: for each choice a role chunk, its
 * content in pieces, its tool calls, a finish chunk; then a usage chunk (choices []) when
 * include_usage. NULL when json is not a chat.completion. The caller deletes the array. */
cJSON *sy_cache_replay_chunks(const char *json, size_t len, int include_usage);
/* The chat.completion that the chunks of a finished stream add up to (usage: the last usage
 * chunk's, else prompt_in / completion_out). malloc'd JSON, or NULL. */
char *sy_cache_assemble(const cJSON *chunks, double prompt_in, double completion_out,
                        size_t *len);

#endif
