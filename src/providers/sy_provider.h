/* sy_provider.h — one interface for every upstream API family. The engine starts an attempt
 * on a model; the adapter (sy_prov_openai.c, sy_prov_anthropic.c, sy_prov_sim.c, the first
 * two over the shared transport of sy_prov_http.c) reports back through three
 * events. Adapters know nothing of the inbound server or of Lua. */
#ifndef SY_PROVIDER_H
#define SY_PROVIDER_H

#include <cjson/cJSON.h>

#include "core/sy_chat.h"
#include "http/sy_hclient.h"
#include "http/sy_upstream.h"
#include "registry/sy_config.h"

struct event_base;

/* What an adapter may use from its worker. */
typedef struct sy_provider_env {
    struct event_base *base;
    sy_upstream *up;
    sy_hclient *hc;
} sy_provider_env;

/* How an attempt ended, as shown in x-switchyard-attempts. */
enum {
    SY_OUT_OK = 0,
    SY_OUT_HTTP,      /* the upstream answered with an error status */
    SY_OUT_TIMEOUT,   /* connect or total timeout */
    SY_OUT_CONNECT,   /* refused, unreachable, DNS */
    SY_OUT_RESET,     /* connection lost, or a stream cut short */
    SY_OUT_INVALID,   /* a 2xx answer that is not a valid completion */
    SY_OUT_SCHEMA,    /* a completion that breaks the request's JSON schema (the engine's
                         verdict, never an adapter's) */
    SY_OUT_BREAKER,   /* not attempted: the model's circuit breaker is open (engine only) */
    SY_OUT_HEDGE_LOST, /* cancelled: the other attempt of a hedge answered first (engine only) */
    SY_OUT_REJECTED,  /* a cascade step's answer failed its acceptance checks (engine only) */
    SY_OUT_QUEUE_FULL, /* not attempted: the model is at its concurrency limit and its queue is
                          full (engine only) */
    SY_OUT_QUEUE_TIMEOUT, /* not attempted: waited for a slot of the model longer than its
                             queue's timeout_ms (engine only) */
    SY_OUT_N
};

typedef struct sy_attempt sy_attempt;

/* A complete (non-streamed) answer as JSON text, passed through without re-printing. */
typedef struct sy_answer {
    char *json;          /* malloc'd; the callee of on_done owns it */
    size_t len;
    long model_off;      /* span of the top-level "model" value, or -1 if absent */
    long model_len;
    double usage_in;     /* usage.prompt_tokens and usage.completion_tokens, 0 if absent */
    double usage_out;
} sy_answer;

/* Checks that text is a chat completion (a JSON object with a "choices" array) and fills
 * ans (taking ownership of text on success). Returns 0 or -1. */
int sy_answer_take(sy_answer *ans, char *text, size_t len);

/* After on_done or on_fail the adapter never touches the attempt again; the engine may free
 * it inside those callbacks. on_chunk must neither free nor cancel the attempt. */
typedef struct sy_attempt_events {
    /* stream: one chunk object ("chat.completion.chunk"); ownership passes to the callee */
    void (*on_chunk)(sy_attempt *a, cJSON *chunk);
    /* non-stream: the whole completion (ans->json owned by the callee); stream: NULL at a
     * clean end */
    void (*on_done)(sy_attempt *a, sy_answer *ans);
    /* status: the HTTP status for SY_OUT_HTTP; body: the upstream's error body or NULL;
     * retry_after_ms: from a Retry-After header, or -1 */
    void (*on_fail)(sy_attempt *a, int outcome, int status, const char *message,
                    const char *body);
} sy_attempt_events;

struct sy_attempt {
    /* set by the engine before sy_provider_start */
    const sy_model *model;
    const sy_chat *chat; /* the client's request (openai: sent as it is but for "model";
                            anthropic: translated) */
    int stream;
    const sy_attempt_events *ev;
    void *ud;
    sy_provider_env *env;
    /* set by the adapter */
    void *priv;
    int retry_after_ms;  /* from the upstream, -1 if none */
};

/* Starts the attempt; events follow asynchronously (never from inside this call). */
int sy_provider_start(sy_attempt *a);
/* Stops a running attempt: no further events. A no-op after on_done/on_fail. */
void sy_provider_cancel(sy_attempt *a);

/* Adapters. */
int sy_prov_openai_start(sy_attempt *a);
void sy_prov_openai_cancel(sy_attempt *a);
int sy_prov_anthropic_start(sy_attempt *a);
void sy_prov_anthropic_cancel(sy_attempt *a);
int sy_prov_sim_start(sy_attempt *a);
void sy_prov_sim_cancel(sy_attempt *a);

const char *sy_outcome_name(int outcome);

#endif
