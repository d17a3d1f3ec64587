/* sy_engine_int.h — the engine's internals, shared by sy_engine.c (public API, decisions),
 * sy_worker.c (threads, listeners, loops) and sy_gateway.c (the request path). This is the
 * one place where the layers meet: server, policy, providers, upstream. */
#ifndef SY_ENGINE_INT_H
#define SY_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <cjson/cJSON.h>

#include "core/sy_core.h"
#include "engine/sy_cache.h"
#include "http/sy_server.h"
#include "http/sy_upstream.h"
#include "policy/sy_policy.h"
#include "providers/sy_provider.h"
#include "engine/sy_redis.h"
#include "registry/sy_config.h"
#include "schema/sy_schema.h"

struct event_base;
typedef struct sy_schema_cache sy_schema_cache; /* per worker: compiled schemas by text */
struct event;
struct sy_admit;      /* sy_admit.h: per-model concurrency limits and queues */
struct sy_adm_inbox;

/* sy_metrics.c: per-worker counters, summed by GET /metrics */
#define SY_MET_BUCKETS 14
#define SY_MET_REQ_SLOTS 512
extern const double SY_MET_BOUNDS_MS[SY_MET_BUCKETS];
typedef struct sy_hist {
    _Atomic uint64_t b[SY_MET_BUCKETS + 1]; /* the last is +Inf */
    _Atomic uint64_t count, sum_milli;      /* sum in thousandths of the unit */
} sy_hist;
typedef struct sy_model_met {
    _Atomic uint64_t attempts[SY_OUT_N];    /* by outcome */
    _Atomic uint64_t tokens_in, tokens_out;
    _Atomic uint64_t cost_nusd, savings_nusd; /* nano-USD */
    _Atomic uint64_t schema_failures;
    sy_hist latency, ttft;                  /* ms */
} sy_model_met;
typedef struct sy_req_met {
    _Atomic int used;
    char route[64];
    int model;                              /* live slot, -1 none */
    int status;
    _Atomic uint64_t n;
} sy_req_met;
typedef struct sy_metrics {
    int nmodels;
    sy_model_met *models;                   /* by live slot */
    sy_req_met req[SY_MET_REQ_SLOTS];
    _Atomic uint64_t req_overflow, policy_errors, hedges_fired, hedges_won, cascade_escalations;
    _Atomic uint64_t shadow[3];             /* shadow decisions: agree, disagree, error */
    _Atomic uint64_t fallbacks[SY_OUT_N]; /* chains moving on, by the failed attempt's outcome */
    _Atomic int64_t inflight;
    sy_hist policy_eval;                    /* us */
} sy_metrics;
sy_metrics *sy_metrics_new(int nmodels);
void sy_metrics_free(sy_metrics *m);
void sy_met_latency(sy_metrics *m, int slot, double ms, int ttft);
void sy_met_policy_eval(sy_metrics *m, double us, int failed);
sy_model_met *sy_met_model(sy_metrics *m, int slot);
void sy_met_request(sy_metrics *m, const char *route, int model_slot, int status);
void sy_met_fallback(sy_metrics *m, int outcome);
struct sy_engine;
void sy_metrics_render(struct sy_engine *eng, sy_buf *out);
/* A Prometheus label value: quoted, with ", \ and newlines escaped. */
void sy_met_label(sy_buf *b, const char *s);

typedef struct sy_worker {
    struct sy_engine *eng;
    int index;
    pthread_t thread;
    int started;
    int listen_fd;
    int wake_fd[2];              /* main thread → worker: stop */
    struct event_base *base;
    struct event *wake_ev;
    struct event *grace_ev;
    sy_http_server *srv;
    sy_upstream *up;
    sy_hclient *hc;
    sy_policy_vm *vm;
    sy_schema_cache *schemas;    /* compiled response_format / tool schemas */
    struct sy_adm_inbox *adm_inbox; /* slots granted to this worker's queued attempts */
    sy_metrics *met;             /* this worker's counters (it alone writes them) */
    sy_dcache *dcache;           /* routing decisions of route.decision_cache (sy_cache.c) */
    pthread_mutex_t log_lock;    /* logbuf, shared with the request-log writer only */
    sy_buf logbuf;               /* routing-result lines not written yet */
    sy_config *cfg;              /* the snapshot this worker serves */
    struct sy_redis *redis;      /* server.redis: this worker's connection, or NULL */
    unsigned gen;                /* its generation */
    sy_provider_env penv;
    char *models_json;           /* GET /v1/models body, built once per snapshot */
    size_t models_len;
    uint64_t req_seq;            /* for generated request ids */
    int64_t started_ms;          /* wall clock at start, part of generated request ids */
    int draining;
    int start_rc;
} sy_worker;

typedef struct sy_reqlog sy_reqlog;
/* sy_reqlog.c: the routing-result log */
sy_reqlog *sy_reqlog_start(struct sy_engine *eng, const char *dest, sy_buf *err);
void sy_reqlog_stop(sy_reqlog *rl);
/* 0, or -1 when the line was dropped (the writer is behind by 8 MiB) */
int sy_reqlog_append(sy_worker *w, const char *line, size_t len);

struct sy_engine {
    sy_config *cfg;              /* the current snapshot (snap_lock; workers copy a ref) */
    sy_policy_vm *vm;            /* for sy_engine_route (the embedding API) */
    pthread_mutex_t snap_lock;   /* publishing and taking snapshots: never per request */
    atomic_uint gen;             /* bumped by each published snapshot: workers compare */
    pthread_mutex_t reload_lock; /* one reload at a time */
    unsigned reloads, reload_failures;
    sy_live *live;               /* one per model id ever loaded (reload_lock); never moves */
    int nlive, cap_live;
    sy_buf err;
    sy_buf decision;             /* last sy_engine_route result */
    sy_worker *workers;
    int nworkers;
    int stop_fd[2];              /* sy_engine_stop ('x') / sy_engine_reload_async ('r') → serve */
    atomic_int serving;
    sy_reqlog *reqlog;           /* NULL when server.request_log is not set */
    sy_redis_stats redis_stats;  /* every worker's Redis connection */
    struct sy_limiter *limiter;  /* rate limits and budgets (sy_limits.c) */
    struct sy_admit *adm;        /* model concurrency limits and queues (serve only), by live slot */
    atomic_ullong reqlog_dropped;
    sy_cache *cache;             /* the response cache, and both caches' counters */
};

/* sy_worker.c */
int sy_workers_run(struct sy_engine *eng, const char *host, int port, int nworkers);
/* Moves the worker to the engine's current snapshot if a newer one was published. */
void sy_worker_refresh(sy_worker *w);

/* sy_engine.c: reload with the outcome in msg (problems, or the routes' policy ids as JSON
 * when ok: {"auto":"name@hash",...}); returns SY_OK or SY_ECONFIG. */
int sy_engine_reload_into(struct sy_engine *eng, sy_buf *msg);
/* Points every model of cfg at its live stats (by id), creating them. 0 or SY_ENOMEM. */
int sy_engine_bind_live(struct sy_engine *eng, sy_config *cfg);
/* A ref to the current snapshot and its generation. */
sy_config *sy_engine_snapshot(struct sy_engine *eng, unsigned *gen);

/* sy_gateway.c: the on_request handler of every worker's server */
void sy_gateway_handle(sy_http_req *req, void *worker);
/* Builds the GET /v1/models body for cfg. */
char *sy_gateway_models_json(const sy_config *cfg, size_t *len);

/* sy_engine.c: the decision as JSON (shared by sy_engine_route, POST /v1/route) */
void sy_decision_json(sy_buf *out, const sy_route *route, const char *policy_id,
                      const sy_decision *dec, const sy_chat *chat);
/* Appends ,"candidates":[...] before the closing brace of a decision built above. */
void sy_decision_explain(sy_buf *out, const sy_config *cfg, const sy_chat *chat,
                         const sy_decision *dec);

/* sy_enforce.c: structured output */
sy_schema_cache *sy_schema_cache_new(void);
void sy_schema_cache_free(sy_schema_cache *sc);
/* The compiled schema of this JSON text (compiled on a miss; the 64 most recently used are
 * kept), with a reference the caller gives back with sy_schema_cache_put. NULL with the
 * reason in err when it does not compile. */
const sy_schema *sy_schema_cache_get(sy_schema_cache *sc, const char *text, size_t len,
                                     char *err, size_t errlen);
void sy_schema_cache_put(sy_schema_cache *sc, const sy_schema *schema);

#define SY_ENFORCE_MAX_TOOLS 32
typedef struct sy_enforce_tool {
    char name[64];
    const sy_schema *params;    /* NULL: any JSON object */
} sy_enforce_tool;
typedef struct sy_enforce {
    int active;                 /* the answer is checked before the client sees it */
    int json_object;            /* response_format json_object: any JSON object */
    const sy_schema *schema;    /* response_format json_schema (borrowed from the cache) */
    sy_enforce_tool tools[SY_ENFORCE_MAX_TOOLS];
    int ntools;
    int require_call;           /* tool_choice "required" or a named function */
    char require_tool[64];      /* the name it requires, "" for any */
} sy_enforce;
typedef struct sy_check {
    int valid;
    const char *how;            /* normalisation applied: "", "code_fence", "surrounding_text" */
    char error[320];            /* the first problem, "instance_path: message (schema_path)" */
} sy_check;
/* What the request promises: 0, or -1 when one of its schemas does not compile (err, and the
 * request parameter at fault in param: a 400). */
int sy_enforce_prepare(sy_enforce *e, const sy_chat *c, sy_schema_cache *sc, char *err,
                       size_t errlen, char *param, size_t paramlen);
/* Checks an answer's message (content against the response format, each tool call's
 * arguments against its tool's parameters); a normalised value replaces the text in
 * message. */
void sy_enforce_check(const sy_enforce *e, cJSON *message, sy_check *out);
/* Gives the request's schemas back to the cache. */
void sy_enforce_release(sy_enforce *e, sy_schema_cache *sc);

/* sy_context.c: context windows */
typedef struct sy_fit {
    const sy_model *model;
    long prompt;     /* prompt tokens for the model's tokenizer; -1 when not counted (a cheap
                        upper bound already showed that it fits) */
    long output;     /* max_tokens (max_completion_tokens), else the model's output_reserve */
    long need;       /* prompt + output, -1 when not counted */
    int fits;
    int estimate;    /* the model's tokenizer is unknown: prompt is an estimate */
} sy_fit;
void sy_fit_check(const sy_chat *c, const sy_model *m, int force_count, sy_fit *f);
/* Keeps the models of dec that fit, in order; each one dropped is appended to skipped as
 * "id:context(NEED>WINDOW)" and the one with the largest window goes to *largest_miss
 * (whose model must start NULL). Returns how many are kept. */
int sy_fit_chain(const sy_chat *c, sy_decision *dec, sy_buf *skipped, sy_fit *largest_miss);
/* A body of c with messages removed (or, for middle_out, one message's middle cut) so that
 * it fits m. 0 with the body in out and a summary for the x-switchyard-truncation header in
 * info, or -1 with the reason in why. */
int sy_truncate(const sy_chat *c, const sy_model *m, int strategy, sy_buf *out, char *info,
                size_t infolen, char *why, size_t whylen);

#endif
