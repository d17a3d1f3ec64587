/* sy_config.h — the configuration snapshot: server settings, providers, models (the
 * registry) and routes, read from a Lua config file by sy_config.c. A snapshot is immutable
 * once loaded and reference-counted, so workers can share it without locks. */
#ifndef SY_CONFIG_H
#define SY_CONFIG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sy_core.h"
#include "core/sy_url.h"

enum { SY_PROV_OPENAI = 1, SY_PROV_SIM = 2, SY_PROV_ANTHROPIC = 3 };
enum { SY_TRUNC_NONE = 0, SY_TRUNC_DROP_OLDEST = 1, SY_TRUNC_MIDDLE_OUT = 2 };
/* what a route does with an answer that breaks the request's JSON schema */
enum { SY_SCHEMA_ESCALATE = 0, SY_SCHEMA_RETRY = 1, SY_SCHEMA_PASS = 2 };

enum {
    SY_CAP_JSON = 1u << 0,
    SY_CAP_TOOLS = 1u << 1,
    SY_CAP_VISION = 1u << 2,
    SY_CAP_STREAM = 1u << 3,
};

typedef struct sy_provider_cfg {
    char *id;
    int kind;            /* SY_PROV_* */
    char *base_url;      /* openai, anthropic: e.g. "https://api.openai.com/v1" (no trailing
                            slash) */
    char *api_key_env;   /* name of the environment variable holding the key, or NULL */
    char *api_key;       /* resolved at load; never logged, never echoed */
    int timeout_ms;      /* whole attempt */
    int connect_timeout_ms;
    int ttft_timeout_ms;     /* streams: first token within this, else next model (0 = off) */
    int idle_timeout_ms;     /* streams: at most this between chunks (0 = off) */
    uint64_t seed;       /* sim */
    double time_scale;   /* sim: multiplies every simulated delay (0 = instant) */
    char *anthropic_version; /* anthropic: the anthropic-version header, default "2023-06-01" */
    int direct_http;     /* openai, anthropic: served by sy_hclient (plain http, numeric host) */
    sy_hurl hurl;        /* its parsed base_url */
    const char *file;
    int line;
} sy_provider_cfg;

typedef struct sy_sim_cfg {
    double failure_rate;     /* 0..1: share of attempts answered with failure_status */
    int failure_status;      /* default 500 */
    double ttft_p50_ms, ttft_p95_ms; /* default: a third of the model's latency profile */
    double tokens_per_s;     /* streaming pace, default 80 */
    int out_min, out_max;    /* answer length in tokens, default 12..48 */
    double invalid_json_rate; /* 0..1: structured answers that break the request's schema */
    double fenced_json_rate;  /* 0..1: structured answers wrapped in a Markdown fence + prose */
    double slow_rate;        /* 0..1: attempts whose time to first token is slow_factor longer */
    double slow_factor;      /* default 10 */
    int deterministic;       /* 1 (default): same request, same draw; 0: every attempt draws anew */
} sy_sim_cfg;

/* Live health of a model, shared by every worker and kept across reloads (the engine owns
 * one per model id). Lock-free: atomics only. Doubles are stored as their bits. */
typedef struct sy_live {
    char id[128];
    atomic_int inflight;
    atomic_ullong attempts, failures; /* ended attempts (cancelled ones not counted) */
    atomic_ullong started;           /* every attempt sent, cancelled hedges included */
    _Atomic uint64_t ewma_latency_ms; /* double bits; 0 = no sample yet */
    _Atomic uint64_t ewma_ttft_ms;
    _Atomic uint64_t ewma_error;      /* 0..1 */
    /* circuit breaker (sy_breaker_*): state, open until, the current window's counts, the
     * half-open probe in flight, how often it opened */
    atomic_int br_state;
    _Atomic int64_t br_until_ms;
    _Atomic int64_t br_window_ms;     /* start of the current window */
    atomic_uint br_total, br_failed;
    atomic_int br_probe;
    atomic_ullong br_opened;
} sy_live;

enum { SY_BREAKER_CLOSED = 0, SY_BREAKER_OPEN = 1, SY_BREAKER_HALF_OPEN = 2 };
typedef struct sy_breaker_cfg {
    int enabled;             /* default on */
    double error_rate;       /* failed share of a window that opens it, default 0.5 */
    int min_requests;        /* attempts a window needs before it can open, default 10 */
    int window_ms;           /* default 10000 */
    int cooldown_ms;         /* open this long, then one probe, default 5000 */
} sy_breaker_cfg;
/* Whether an attempt on the model may start now: 1 (with *probe = 1 when it is the half-open
 * probe), 0 when the breaker is open (the chain skips the model, nobody waits). */
int sy_breaker_admit(sy_live *lv, const sy_breaker_cfg *cfg, int64_t now_ms, int *probe);
/* The outcome of an admitted attempt: failed = a failure that counts against the model
 * (connect, timeout, reset, garbage, 408/409/429/5xx); cancelled = ended for reasons not its
 * own (client gone, hedge lost): counts nothing, frees a probe. */
void sy_breaker_record(sy_live *lv, const sy_breaker_cfg *cfg, int64_t now_ms, int failed,
                       int cancelled, int probe);
const char *sy_breaker_state_name(int state);

/* Folds one sample into an EWMA stored as double bits (alpha 0.2; the first sample seeds). */
void sy_live_ewma(_Atomic uint64_t *slot, double sample);
double sy_live_get(_Atomic uint64_t *slot);

typedef struct sy_model {
    char *id;
    char *upstream;          /* model name sent to the provider */
    sy_provider_cfg *provider;
    double price_in, price_out; /* USD per 1k tokens */
    int64_t context_window;
    int64_t max_output;
    unsigned caps;           /* SY_CAP_* */
    char *tokenizer;         /* "cl100k_base", "o200k_base" or "estimate" */
    int tok_kind;            /* SY_TOK_* (tokens/sy_tokens.h) */
    int64_t output_reserve;  /* output tokens assumed when a request sets no max_tokens */
    double lat_p50_ms, lat_p95_ms;
    char **tags;
    int ntags;
    sy_sim_cfg sim;
    sy_breaker_cfg breaker;
    int concurrency;         /* attempts in flight on it across all workers; 0 = no limit */
    int queue_max;           /* attempts that may wait for a slot (0: none wait) */
    int queue_timeout_ms;    /* the longest wait for a slot */
    sy_live *live;           /* bound by the engine; NULL in a bare config */
    int index;               /* position in sy_config.models */
    const char *file;
    int line;
} sy_model;

/* route.cache: the response cache (engine/sy_cache.h) */
typedef struct sy_route_cache {
    int enabled;
    int ttl_s;               /* default 300; 0 = until evicted or reloaded */
    size_t max_bytes;        /* the route's share of memory, default 64 MiB */
    int stream_replay;       /* stream = "replay": streams are served from and stored in it */
    int redis;               /* backend = "redis": kept in server.redis, shared by instances */
} sy_route_cache;

typedef struct sy_route {
    char *name;
    char *policy_path;       /* resolved path */
    char *policy_src;        /* the policy text, read at load (hashed, reloaded as a unit) */
    size_t policy_len;
    char policy_hash[13];    /* short content hash, hex */
    char *shadow_path;       /* a shadow policy: run after the response, logged, never executed */
    char *shadow_src;
    size_t shadow_len;
    char shadow_hash[13];
    sy_model *default_model; /* used when the policy fails */
    int budget_us;           /* per call of route() */
    char *options_json;      /* the route's `options` table as JSON, or NULL */
    int truncate;            /* SY_TRUNC_*: what to do when no candidate's context fits */
    int on_schema_failure;   /* SY_SCHEMA_* */
    int stream_buffer;       /* hold streams until the answer is accepted, then send */
    sy_model *reference;     /* savings are counted against it; NULL: the decision's priciest */
    int retries;             /* retries of a model after a retryable failure, before the next */
    int backoff_base_ms, backoff_max_ms; /* exponential backoff with full jitter */
    sy_route_cache cache;    /* the response cache (route.cache), off unless declared */
    int dcache_max;          /* route.decision_cache: decisions kept per worker, 0 = off */
    int dcache_ttl_ms;       /* ... and for how long (0: until the next reload) */
    const char *file;
    int line;
} sy_route;

struct sy_classifier; /* switchyard.h: a trained text classifier, immutable, thread-safe */
#define SY_CLASSIFIER_MAX_LABELS 16
typedef struct sy_classifier_cfg {
    char *id;                /* what policies call it: sy.classify(id, req) */
    char *path;              /* the model file (switchyard train --out), resolved */
    struct sy_classifier *cls; /* loaded with the snapshot, freed with it */
    int nlabels;
    const sy_model *model_of[SY_CLASSIFIER_MAX_LABELS]; /* each label's registry model, or NULL */
    const char *file;
    int line;
} sy_classifier_cfg;

/* Limits of a key or a team; 0 = no limit. Token limits count prompt + max_tokens when a
 * request is admitted (reserved) and are settled with the real usage when it ends. */
typedef struct sy_limits {
    long rpm;                /* requests per minute */
    long tpm;                /* tokens per minute */
    double usd_day;          /* spend per UTC day */
    double usd_month;        /* spend per UTC calendar month */
} sy_limits;

typedef struct sy_team_cfg {
    char *id;
    sy_limits limits;
    const char *file;
    int line;
} sy_team_cfg;

/* Priorities: 0 (lowest) .. 9 (highest); names accepted where a priority is given. */
enum { SY_PRIO_LOW = 2, SY_PRIO_NORMAL = 5, SY_PRIO_HIGH = 8, SY_PRIO_MAX = 9 };

/* A client API key. Only its SHA-256 is kept (the config gives `sha256 = "hex"`, or `key_env`
 * naming an environment variable whose value is hashed at load; the variable itself stays
 * set, since a reload reads it again). */
typedef struct sy_key_cfg {
    char *id;                /* a name for logs, metrics and policies; never the key */
    unsigned char sha256[32];
    char *team;              /* team id; "" when none */
    char *tenant;            /* what caches are kept apart by: "t:TEAM", or "k:ID" without a
                                team (a key named like a team is not that team) */
    const sy_team_cfg *team_cfg; /* its team's limits, or NULL */
    char **routes;           /* routes it may use; NULL = all */
    int nroutes;
    char **models;           /* models it may name or be routed to; NULL = all */
    int nmodels;
    char *tier;              /* free text for policies ("free", "pro"...), "" when none */
    int priority;            /* SY_PRIO_*: default SY_PRIO_NORMAL */
    sy_limits limits;
    _Atomic(void *) usage;   /* the limiter's usage counters of this key id, found on first
                                use (a cache the engine fills; not configuration) */
    const char *file;
    int line;
} sy_key_cfg;

typedef struct sy_config {
    _Atomic int refs;
    char *path;              /* the config file as given */
    char *dir;               /* its directory, for relative paths */
    char *listen_host;
    int listen_port;
    int workers;             /* 0 = number of cores */
    size_t max_body;
    int request_timeout_ms;
    char *log_level;
    char *request_log;       /* "stdout", a file path, or NULL: one JSON line per request */
    int log_content;         /* the request log also holds prompts and answers, redacted */
    char *admin_token;       /* bearer token of the admin endpoints; NULL = they are off */
    sy_provider_cfg *providers;
    int nproviders;
    sy_model *models;
    int nmodels;
    sy_route *routes;
    int nroutes;
    sy_classifier_cfg *classifiers;
    int nclassifiers;
    sy_key_cfg *keys;        /* client keys; none = no authentication */
    int nkeys;
    sy_team_cfg *teams;
    int nteams;
    char *redis_url;         /* server.redis: shared limits (and caches) live there; NULL = local */
    int redis_fail_open;     /* server.redis_failure: "open" (1, admit) or "closed" (0, refuse) */
    int redis_timeout_ms;    /* server.redis_timeout_ms: longest wait for Redis, default 50 */
    int queue_max;           /* server.queue: the default of models' queue.max (256) */
    int queue_timeout_ms;    /* ... and of queue.timeout_ms (10000) */
} sy_config;

struct lua_State;
/* The Lua value at idx as JSON text (tables with a list part are arrays); -1 when it holds
 * something JSON cannot (functions, userdata) or nests deeper than 32. */
int sy_lua_to_json(struct lua_State *L, int idx, sy_buf *out, int depth);

/* Loads path into *out (refs = 1). On failure returns SY_ECONFIG with every problem in
 * diag as "file:line: key: message\n" lines, and *out = NULL. Policies are read (not
 * compiled) here; sy_policy checks them. */
int sy_config_load(sy_config **out, const char *path, sy_buf *diag);
sy_config *sy_config_ref(sy_config *cfg);
void sy_config_unref(sy_config *cfg);

const sy_model *sy_config_model(const sy_config *cfg, const char *id);
const sy_route *sy_config_route(const sy_config *cfg, const char *name);
const sy_classifier_cfg *sy_config_classifier(const sy_config *cfg, const char *id);
/* The key whose SHA-256 is sha256, or NULL. */
const sy_key_cfg *sy_config_key(const sy_config *cfg, const unsigned char sha256[32]);
/* Whether the key may use the route (or, for a direct request, the model) named name. */
int sy_key_allows_route(const sy_key_cfg *k, const char *name);
int sy_key_allows_model(const sy_key_cfg *k, const char *model_id);
/* Whether the key may ask for name: a route in its routes; a model in its models (a key
 * with routes and no models may not name models). 1 without a key or for unknown names. */
int sy_key_may_use(const sy_key_cfg *k, const sy_config *cfg, const char *name);
/* "low" / "normal" / "high" (any case) or "0".."9", spaces around allowed → 0..9; -1 when
 * neither. Used by key declarations, x-switchyard-priority and policies' decisions. */
int sy_parse_priority(const char *s);
/* Parses "host:port" ("[::1]:8080", ":8080"); returns 0 or SY_EINVAL. host is malloc'd. */
int sy_parse_listen(const char *s, char **host, int *port);

#endif
