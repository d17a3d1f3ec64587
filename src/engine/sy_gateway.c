/* sy_gateway.c — the request path of one worker: HTTP routing of the OpenAI-compatible API,
 * request validation, the routing decision (policy), and the execution of the decision as
 * a chain of attempts with fallback, streaming pass-through and honest errors.
 * Works with sy_server (inbound), sy_policy (decisions) and sy_provider (outbound). */
#include "engine/sy_engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/sha.h>

#include <hiredis/hiredis.h>

#include "core/sy_json.h"
#include "engine/sy_limits.h"
#include "engine/sy_admit.h"
#include "engine/sy_messages.h"
#include "tokens/sy_tokens.h"

#define MAX_META_HEADERS 16

/* ============================================================ small helpers */

/* Requests on POST /v1/messages speak Anthropic's dialect: their errors and answers go back
 * in its shape (engine/sy_messages.h). */
static int is_messages(sy_http_req *req)
{
    const char *p = sy_http_req_path(req);
    return strcmp(p, "/v1/messages") == 0 || strcmp(p, "/messages") == 0;
}

/* An error body (OpenAI's shape) to the client, in its dialect. */
static void client_error(sy_http_req *req, int status, const char *json, size_t len)
{
    /* the gateway has already retried and fallen over as the route says: an SDK's own
     * retries would run the whole chain again (both official SDKs honour this header).
     * An answer that says when to come back (Retry-After: a full queue, limits that cannot
     * be checked) is left to the SDK's retry. */
    if (status >= 500 && !sy_http_has_header(req, "retry-after"))
        sy_http_add_header(req, "x-should-retry", "false");
    if (!is_messages(req)) {
        sy_http_respond(req, status, "application/json", json, len);
        return;
    }
    sy_buf b;
    sy_buf_init(&b);
    sy_msg_error_body(status, json, len, &b);
    sy_http_respond(req, status, "application/json", b.data, b.len);
    sy_buf_free(&b);
}

static void respond_error(sy_http_req *req, int status, const char *message, const char *param,
                          const char *code)
{
    sy_buf b;
    sy_buf_init(&b);
    sy_error_body(&b, message, sy_error_type_for_status(status), param, code);
    client_error(req, status, b.data, b.len);
    sy_buf_free(&b);
}

/* Header values come from policies and upstreams: keep them printable and on one line. */
static void header_safe(char *dst, size_t n, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 1 < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[j++] = (c < 0x20 || c == 0x7f || c == '"') ? ' ' : (char)c;
    }
    dst[j] = '\0';
}

/* ============================================================ the call */

typedef struct try_rec {
    const sy_model *model;
    int outcome;
    int status;
    char message[320];
    double ms;                   /* how long the attempt ran, -1 when it never started */
    double ttft_ms;              /* stream: its first chunk, -1 when none */
    double tokens_in, tokens_out, cost_usd; /* its usage, when it was billed */
} try_rec;

struct sy_call;

/* One attempt in flight. A call has two: the chain's, and a hedge racing it. */
typedef struct sy_slot {
    sy_attempt att;
    struct sy_call *call;
    int running;
    int probe;                   /* the attempt is its model's half-open breaker probe */
    int got_first;               /* stream: its first chunk arrived */
    uint64_t t0;                 /* when it started (ns) */
    struct event *timer;         /* stream: time to first token, then idle between chunks */
    cJSON *held;                 /* held chunks (enforced or buffered streams) */
    int lost;                    /* lost a hedge race; its transfer is being cancelled */
    double ttft_ms;              /* its first chunk, -1 before */
    /* admission (sy_admit.h): a model with a concurrency limit */
    sy_adm_waiter wait;          /* its place in the model's queue */
    int queued;                  /* waits for a slot of att.model (not running yet) */
    int adm_held;                /* holds a slot of att.model's limit */
    struct event *qtimer;        /* the queue's timeout_ms */
    double est;                  /* cascade: its estimated cost, counted when it starts */
} sy_slot;

typedef struct sy_call {
    sy_worker *w;
    sy_http_req *req;
    const sy_key_cfg *key;       /* the client's key; NULL when the config declares none */
    const char *tenant;          /* the key's tenant (caches are kept apart by it), "" without keys */
    int priority;                /* SY_PRIO_*: from the key, x-switchyard-priority or the policy */
    sy_lim_res lim;              /* its reservation against the key's and team's limits */
    int lim_wait;                /* waiting for Redis to admit it */
    long lim_prompt;             /* prompt tokens counted for the reservation */
    int lim_prompt_exact;        /* ... by the tokenizer (else a byte bound) */
    size_t out_bytes;            /* stream: answer text sent (usage estimate for a cut stream) */
    double queue_ms;             /* how long its attempts waited for model slots */
    int queued_once;             /* an attempt of it waited in a queue */
    sy_chat chat;                /* the request, validated, read in place */
    sy_config *cfg;              /* the snapshot this request runs on (a ref) */
    const sy_route *route;       /* NULL for a direct model request */
    char policy_id[128];         /* "name@hash" of the route's policy when it decided */
    sy_decision dec;
    const sy_model *first_choice; /* the decision's first model, before context-window skips */
    sy_buf meta;                 /* request log or shadow: the x-switchyard-* pairs, "n\0v\0" */
    int nmeta;
    int anthropic;               /* POST /v1/messages: answered in Anthropic's dialect */
    sy_msg_stream mstream;       /* its stream's state */
    sy_buf in_body;              /* its request, rewritten into a Chat Completions body */
    sy_decision shadow;          /* the shadow policy's decision (shadow_state 1 or 2) */
    int shadow_state;            /* 0 none, 1 decided, 2 failed, 3 skipped (reloaded) */
    int next;                    /* index in dec.models of the next attempt */
    sy_slot slot[2];             /* [0] the chain's attempt, [1] a hedge racing it */
    struct event *hedge_ev;      /* hedge: fires after_ms into the first attempt */
    int hedged;                  /* the hedge attempt was started */
    int last_retry_after_ms;     /* of the last failed attempt, -1 if none */
    int client_deadline_ms;      /* x-switchyard-timeout-ms, 0 when not given */
    uint64_t deadline_ns;        /* when the request's deadline passes (monotonic) */
    struct event *retry_ev;      /* a retry of the same model, after its backoff */
    const sy_model *retry_model; /* the model the retries below are of */
    int model_retries;           /* retries of retry_model so far */
    double spent_usd;            /* cascade: estimated cost of the steps started */
    struct event *cancel_ev;     /* cancels lost hedge attempts outside the transport's callbacks */
    const sy_model *schema_retry_model; /* the model the schema retry is for */
    int status;                  /* the HTTP status answered (metrics), 0 before */
    const sy_model *answered;    /* the model whose answer the client got */
    const sy_model *reference;   /* savings are counted against this model's prices */
    int counted;                 /* in the in-flight gauge */
    double cost_usd;             /* of every attempt billed so far (usage x prices) */
    double savings_usd;
    uint64_t t0_ns;              /* when the request arrived */
    /* what the next record_try takes for its attempt (set when the attempt ends) */
    double pend_ms, pend_in, pend_out, pend_cost, pend_ttft;
    sy_buf answer_log;           /* server.log_content: the answer's text as sent */
    int stream;
    int committed;               /* stream: headers and at least one chunk sent */
    try_rec tries[2 * SY_MAX_CHAIN]; /* a schema retry makes two tries of one model */
    int ntries;
    struct event *deadline;
    char request_id[64];
    sy_buf scratch;
    char *skipped;               /* models left out for their context window, or NULL */
    char truncation[256];        /* what truncation did, "" when none */
    sy_buf body2;                /* the truncated body c->chat reads, when truncated */
    /* structured output */
    sy_enforce enf;              /* what the answer must satisfy (enf.active) */
    char schema_hdr[400];        /* x-switchyard-schema */
    int hold_all;                /* streams are held until the answer is accepted */
    int retrying;                /* the running attempt is the schema retry (retry_chat) */
    int retried;                 /* the retry was used */
    sy_buf retry_body;           /* the body of the retry: the answer and what was wrong */
    sy_chat retry_chat;
    /* the response cache ("response cache" below, sy_cache.c) */
    unsigned gen;                /* the generation of cfg */
    int rc_state;                /* RC_*: RC_NONE when the route has no response cache */
    int rc_store;                /* the answer is stored once it is complete and accepted */
    unsigned char rc_key[SY_CACHE_KEY_LEN];
    cJSON *rc_chunks;            /* stream: the chunks sent so far, stored at its clean end */
    struct rc_wait *rc_wait;     /* a Redis lookup in flight, which must not outlive the call */
} sy_call;

enum { RC_NONE = 0, RC_HIT = 1, RC_MISS = 2, RC_BYPASS = 3 };
/* A Redis lookup in flight: c is cleared when the call ends first (client gone, deadline). */
typedef struct rc_wait {
    sy_call *c;
} rc_wait;
static const char *const RC_NAMES[] = {"", "hit", "miss", "bypass"};
static void cache_store(sy_call *c, const sy_model *m, const char *json, size_t len);

static void slot_ended(sy_slot *s, int ok, int cancelled);
static void count_request(sy_call *c);
static void slot_cancel(sy_slot *s);

static void settle_limits(sy_call *c);
static void call_usage(const sy_call *c, double *tokens, double *usd);

static void call_free(sy_call *c)
{
    if (!c) return;
    settle_limits(c);
    if (c->key && c->status) {
        double tok, usd;
        call_usage(c, &tok, &usd);
        sy_limits_account(c->w->eng->limiter, c->key, (long)tok, usd);
    }
    count_request(c);
    for (int i = 0; i < 2; i++) {
        slot_cancel(&c->slot[i]);
        if (c->slot[i].timer) event_free(c->slot[i].timer);
        if (c->slot[i].qtimer) event_free(c->slot[i].qtimer);
        cJSON_Delete(c->slot[i].held);
    }
    if (c->hedge_ev) event_free(c->hedge_ev);
    if (c->cancel_ev) event_free(c->cancel_ev);
    if (c->retry_ev) event_free(c->retry_ev);
    if (c->deadline) event_free(c->deadline);
    sy_config_unref(c->cfg);
    sy_chat_free(&c->chat);
    sy_buf_free(&c->scratch);
    sy_buf_free(&c->body2);
    sy_buf_free(&c->retry_body);
    sy_buf_free(&c->answer_log);
    sy_buf_free(&c->meta);
    sy_buf_free(&c->in_body);
    if (c->retrying || c->retried) sy_chat_free(&c->retry_chat);
    sy_enforce_release(&c->enf, c->w->schemas);
    cJSON_Delete(c->rc_chunks);
    if (c->rc_wait) c->rc_wait->c = NULL; /* its answer finds no call and is dropped */
    free(c->skipped);
    free(c);
}

static void start_next(sy_call *c);

/* The metrics slot of a model (its live stats' index), -1 without. */
static int mslot(const sy_call *c, const sy_model *m)
{
    return m && m->live ? (int)(m->live - c->w->eng->live) : -1;
}

/* What replay needs to run another policy on this request without its text: the prompt
 * tokens as req.tokens counts them, max_tokens, the capabilities it needs, the client's routing
 * metadata (body "metadata" and x-switchyard-* headers). Then the shadow policy's decision. */
static void log_request_facts(sy_call *c, sy_buf *b)
{
    const sy_model *tm = c->route && c->route->default_model ? c->route->default_model
                         : c->dec.n                           ? c->dec.models[0]
                                                              : NULL;
    sy_buf_puts(b, "\"request\":{");
    if (tm)
        sy_buf_printf(b, "\"prompt_tokens\":%ld,\"tokenizer\":\"%s\",",
                      sy_tokens_request(&c->chat, tm->tok_kind), sy_tok_kind_name(tm->tok_kind));
    long mt = sy_chat_max_tokens(&c->chat);
    if (mt >= 0) sy_buf_printf(b, "\"max_tokens\":%ld,", mt);
    sy_buf_printf(b, "\"messages\":%d", c->chat.nmessages);
    if (c->chat.metadata.type == 'o' || c->nmeta) {
        sy_buf_puts(b, ",\"meta\":{");
        int k = 0;
        if (c->chat.metadata.type == 'o') { /* the object's members, as the client sent them */
            const char *in = c->chat.text + c->chat.metadata.val_off + 1;
            size_t n = c->chat.metadata.val_len - 2;
            while (n && strchr(" \t\r\n", in[0])) in++, n--;
            while (n && strchr(" \t\r\n", in[n - 1])) n--;
            sy_buf_append(b, in, n);
            k = n > 0;
        }
        const char *p = c->meta.data;
        for (int i = 0; i < c->nmeta; i++) {
            const char *name = p, *value = p + strlen(p) + 1;
            p = value + strlen(value) + 1;
            if (k++) sy_buf_puts(b, ",");
            sy_buf_json_str(b, name);
            sy_buf_puts(b, ":");
            sy_buf_json_str(b, value);
        }
        sy_buf_puts(b, "}");
    }
    sy_buf_puts(b, "},");
    if (!c->shadow_state) return;
    sy_buf_puts(b, "\"shadow\":{");
    if (c->shadow_state == 3) {
        sy_buf_puts(b, "\"skipped\":\"config reloaded during the request\"},");
        return;
    }
    const char *id = sy_policy_shadow_id(c->w->vm, c->route);
    const sy_decision *d = &c->shadow;
    sy_buf_puts(b, "\"policy\":");
    sy_buf_json_str(b, id ? id : "?");
    if (c->shadow_state == 1) {
        static const char *const kinds[] = {"none", "pick", "chain", "cascade", "hedge"};
        sy_buf_printf(b, ",\"kind\":\"%s\",\"model\":", d->kind >= 0 && d->kind <= 4 ? kinds[d->kind] : "?");
        sy_buf_json_str(b, d->models[0]->id);
        sy_buf_puts(b, ",\"chain\":[");
        for (int i = 0; i < d->n; i++) {
            if (i) sy_buf_puts(b, ",");
            sy_buf_json_str(b, d->models[i]->id);
        }
        sy_buf_puts(b, "],\"reason\":");
        sy_buf_json_str(b, d->reason);
        sy_buf_printf(b, ",\"agrees\":%s", d->models[0] == c->first_choice ? "true" : "false");
    } else {
        sy_buf_puts(b, ",\"error\":");
        sy_buf_json_str(b, d->error);
    }
    sy_buf_printf(b, ",\"eval_us\":%.1f},", d->eval_us);
}

/* The route's shadow policy decides now, after the response went out (it never delays the
 * client), on the snapshot the request ran on; the live decision is untouched. */
static void run_shadow(sy_call *c)
{
    sy_worker *w = c->w;
    if (!c->route || !c->route->shadow_src || !c->status) return;
    if (w->cfg != c->cfg) { /* reloaded meanwhile: the worker's VM is the new config's */
        c->shadow_state = 3;
        return;
    }
    const char *pairs[2 * MAX_META_HEADERS];
    const char *p = c->meta.data;
    int n = c->nmeta < MAX_META_HEADERS ? c->nmeta : MAX_META_HEADERS;
    for (int i = 0; i < n; i++) {
        pairs[2 * i] = p;
        pairs[2 * i + 1] = p + strlen(p) + 1;
        p = pairs[2 * i + 1] + strlen(pairs[2 * i + 1]) + 1;
    }
    sy_request_view view = {.chat = &c->chat, .model = c->route->name, .meta_headers = pairs,
                            .nmeta = n, .key = c->key, .priority = &c->priority};
    int rc = sy_policy_shadow(w->vm, c->route, &view, &c->shadow);
    if (rc == SY_ENOTFOUND) return;
    c->shadow_state = rc == SY_OK ? 1 : 2;
    if (w->met)
        atomic_fetch_add_explicit(&w->met->shadow[rc != SY_OK ? 2 : c->shadow.models[0] == c->first_choice ? 0 : 1],
                                  1, memory_order_relaxed);
}

/* The request is over: one count by route, answering model and status. */
/* The routing result of the request as one JSON line (no prompt or answer text, no upstream
 * error text: an upstream may quote the request in it). */
static void log_result(sy_call *c)
{
    sy_buf b;
    sy_buf_init(&b);
    char when[40];
    int64_t now = sy_wall_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03dZ", (int)(now % 1000));
    sy_buf_puts(&b, "{\"request_id\":");
    sy_buf_json_str(&b, c->request_id);
    sy_buf_printf(&b, ",\"time\":\"%s\",", when);
    if (c->key) { /* who asked: the key's name and team, never the key */
        sy_buf_puts(&b, "\"key\":");
        sy_buf_json_str(&b, c->key->id);
        sy_buf_puts(&b, ",\"team\":");
        sy_buf_json_str(&b, c->key->team);
        sy_buf_puts(&b, ",");
    }
    sy_buf_puts(&b, "\"route\":");
    if (c->route) sy_buf_json_str(&b, c->route->name); else sy_buf_puts(&b, "null");
    sy_buf_puts(&b, ",\"policy\":");
    if (c->route && c->policy_id[0]) sy_buf_json_str(&b, c->policy_id); else sy_buf_puts(&b, "null");
    static const char *const kinds[] = {"none", "pick", "chain", "cascade", "hedge"};
    sy_buf_printf(&b, ",\"decision\":{\"kind\":\"%s\",\"reason\":",
                  c->dec.kind >= 0 && c->dec.kind <= 4 ? kinds[c->dec.kind] : "?");
    sy_buf_json_str(&b, c->dec.reason);
    sy_buf_puts(&b, ",\"chain\":[");
    for (int i = 0; i < c->dec.n; i++) {
        if (i) sy_buf_puts(&b, ",");
        sy_buf_json_str(&b, c->dec.models[i]->id);
    }
    sy_buf_puts(&b, "]");
    if (c->dec.cached) sy_buf_puts(&b, ",\"cached\":true"); /* from the decision cache */
    if (c->first_choice && (!c->dec.n || c->first_choice != c->dec.models[0])) {
        sy_buf_puts(&b, ",\"first_choice\":"); /* the policy's, when context skipped it */
        sy_buf_json_str(&b, c->first_choice->id);
    }
    sy_buf_puts(&b, "},");
    log_request_facts(c, &b);
    sy_buf_puts(&b, "\"attempts\":[");
    for (int i = 0; i < c->ntries; i++) {
        const try_rec *t = &c->tries[i];
        sy_buf_puts(&b, i ? ",{\"model\":" : "{\"model\":");
        sy_buf_json_str(&b, t->model->id);
        sy_buf_printf(&b, ",\"outcome\":\"%s\",\"status\":", sy_outcome_name(t->outcome));
        if (t->status) sy_buf_printf(&b, "%d", t->status); else sy_buf_puts(&b, "null");
        if (t->ms >= 0) sy_buf_printf(&b, ",\"latency_ms\":%.3f", t->ms);
        if (t->ttft_ms >= 0) sy_buf_printf(&b, ",\"ttft_ms\":%.3f", t->ttft_ms);
        if (t->tokens_in || t->tokens_out)
            sy_buf_printf(&b, ",\"tokens_in\":%.0f,\"tokens_out\":%.0f,\"cost_usd\":%.9f", t->tokens_in,
                          t->tokens_out, t->cost_usd);
        if (t->outcome != SY_OUT_OK && t->outcome != SY_OUT_HTTP) {
            sy_buf_puts(&b, ",\"error\":");
            sy_buf_json_str(&b, t->message);
        }
        sy_buf_puts(&b, "}");
    }
    sy_buf_puts(&b, "],\"model\":");
    if (c->answered) sy_buf_json_str(&b, c->answered->id); else sy_buf_puts(&b, "null");
    sy_buf_printf(&b, ",\"status\":%d,\"stream\":%s,\"latency_ms\":%.3f,\"cost_usd\":%.9f,"
                      "\"savings_usd\":%.9f",
                  c->status, c->stream ? "true" : "false", (double)(sy_now_ns() - c->t0_ns) / 1e6,
                  c->cost_usd, c->savings_usd);
    sy_buf_printf(&b, ",\"priority\":%d", c->priority);
    if (c->queued_once) sy_buf_printf(&b, ",\"queue_ms\":%.3f", c->queue_ms);
    if (c->rc_state) sy_buf_printf(&b, ",\"cache\":\"%s\"", RC_NAMES[c->rc_state]);
    if (c->schema_hdr[0]) {
        sy_buf_puts(&b, ",\"schema\":");
        sy_buf_json_str(&b, strncmp(c->schema_hdr, "invalid", 7) == 0 ? "invalid" : c->schema_hdr);
    }
    if (c->truncation[0]) {
        sy_buf_puts(&b, ",\"truncation\":");
        sy_buf_json_str(&b, c->truncation);
    }
    if (c->skipped) {
        sy_buf_puts(&b, ",\"skipped\":");
        sy_buf_json_str(&b, c->skipped);
    }
    if (c->cfg->log_content) { /* opt-in: the texts, with personal data and secrets redacted */
        sy_buf text, red;
        sy_buf_init(&text);
        sy_buf_init(&red);
        sy_json_iter it;
        sy_json_member msg, role;
        sy_buf_puts(&b, ",\"messages\":[");
        int k = 0;
        sy_json_iter_init(&it, c->chat.text, c->chat.messages.val_off, c->chat.messages.val_len);
        while (sy_json_iter_next(&it, &msg)) {
            sy_buf_reset(&text);
            sy_buf_reset(&red);
            sy_chat_content(&c->chat, &msg, &text);
            sy_redact(text.data ? text.data : "", text.len, &red);
            sy_buf_puts(&b, k++ ? ",{\"role\":" : "{\"role\":");
            if (sy_json_get(c->chat.text, msg.val_off, msg.val_len, "role", &role) && role.type == 's')
                sy_buf_append(&b, c->chat.text + role.val_off, role.val_len);
            else
                sy_buf_puts(&b, "null");
            sy_buf_puts(&b, ",\"content\":");
            sy_buf_json_str(&b, red.data ? red.data : "");
            sy_buf_puts(&b, "}");
        }
        sy_buf_reset(&red);
        sy_redact(c->answer_log.data ? c->answer_log.data : "", c->answer_log.len, &red);
        sy_buf_puts(&b, "],\"answer\":");
        sy_buf_json_str(&b, red.data ? red.data : "");
        sy_buf_free(&text);
        sy_buf_free(&red);
    }
    sy_buf_puts(&b, "}\n");
    if (sy_reqlog_append(c->w, b.data, b.len) != 0) atomic_fetch_add(&c->w->eng->reqlog_dropped, 1);
    sy_buf_free(&b);
}

static void count_request(sy_call *c)
{
    run_shadow(c);
    if (c->status && c->w->eng->reqlog) log_result(c);
    sy_metrics *mt = c->w->met;
    if (!mt) return;
    if (c->status) sy_met_request(mt, c->route ? c->route->name : "direct", mslot(c, c->answered), c->status);
    if (c->counted) atomic_fetch_sub_explicit(&mt->inflight, 1, memory_order_relaxed);
}

/* Tokens, cost and savings from an answer's usage (prompt_tokens, completion_tokens). */
static void account_usage(sy_call *c, const sy_model *m, double in, double out)
{
    sy_model_met *mm = sy_met_model(c->w->met, mslot(c, m));
    if (!mm || (in <= 0 && out <= 0)) return;
    double cost = (in * m->price_in + out * m->price_out) / 1000.0;
    c->cost_usd += cost;
    if (c->committed && c->ntries && c->tries[c->ntries - 1].model == m) {
        /* a stream's usage comes after its try was recorded (at its first chunk) */
        try_rec *t = &c->tries[c->ntries - 1];
        t->tokens_in += in;
        t->tokens_out += out;
        t->cost_usd += cost;
    } else {
        c->pend_in = in;
        c->pend_out = out;
        c->pend_cost = cost;
    }
    const sy_model *ref = c->reference ? c->reference : m;
    double ref_cost = (in * ref->price_in + out * ref->price_out) / 1000.0;
    if (ref_cost > cost) c->savings_usd += ref_cost - cost;
    atomic_fetch_add_explicit(&mm->tokens_in, (uint64_t)in, memory_order_relaxed);
    atomic_fetch_add_explicit(&mm->tokens_out, (uint64_t)out, memory_order_relaxed);
    atomic_fetch_add_explicit(&mm->cost_nusd, (uint64_t)(cost * 1e9 + 0.5), memory_order_relaxed);
    if (ref_cost > cost)
        atomic_fetch_add_explicit(&mm->savings_nusd, (uint64_t)((ref_cost - cost) * 1e9 + 0.5),
                                  memory_order_relaxed);
}

static void account_usage_json(sy_call *c, const sy_model *m, const cJSON *usage)
{
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
    account_usage(c, m, cJSON_IsNumber(pt) ? pt->valuedouble : 0,
                  cJSON_IsNumber(ct) ? ct->valuedouble : 0);
}

/* req.key.remaining for a policy (sy_request_view.remaining). */
static void view_remaining(const void *ud, double out[4])
{
    const sy_call *c = ud;
    sy_limits_left(c->w->eng->limiter, c->key, out, NULL);
}

/* OpenAI's x-ratelimit-* headers for the key's per-minute limits (the tighter of key and
 * team), as this process last saw them. */
static void add_ratelimit_headers(sy_call *c)
{
    double left[SY_LIM_N], limit[SY_LIM_N];
    sy_limits_left(c->w->eng->limiter, c->key, left, limit);
    static const char *const names[2][2] = {{"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests"},
                                            {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"}};
    time_t now = time(NULL);
    char v[32], reset[16];
    snprintf(reset, sizeof reset, "%ds", (int)(60 - now % 60));
    for (int i = 0; i < 2; i++) { /* SY_LIM_RPM, SY_LIM_TPM */
        if (limit[i] <= 0 || left[i] < 0) continue;
        snprintf(v, sizeof v, "%ld", (long)limit[i]);
        sy_http_add_header(c->req, names[i][0], v);
        snprintf(v, sizeof v, "%ld", (long)left[i]);
        sy_http_add_header(c->req, names[i][1], v);
        sy_http_add_header(c->req, i ? "x-ratelimit-reset-tokens" : "x-ratelimit-reset-requests", reset);
    }
}

/* The routing headers every answer carries, success or not. */
static void add_routing_headers(sy_call *c, const sy_model *answered)
{
    char v[512];
    sy_http_req *req = c->req;
    /* every whole answer, success or error, passes here just before it is sent: the limits
     * are settled first, so the client's next request (to any instance) sees them, and the
     * x-ratelimit-* headers below count this request as it really was. A stream settles at
     * its end (stream_finish), or when the call ends. */
    if (!c->stream) settle_limits(c);
    sy_http_add_header(req, "x-request-id", c->request_id);
    if (answered) {
        sy_http_add_header(req, "x-switchyard-model", answered->id);
        c->answered = answered;
    }
    if (c->route) {
        char reason[300];
        header_safe(reason, sizeof reason, c->dec.reason);
        snprintf(v, sizeof v, "%s; reason=\"%s\"", c->route->name, reason);
        sy_http_add_header(req, "x-switchyard-route", v);
        sy_http_add_header(req, "x-switchyard-policy", c->policy_id);
    } else {
        sy_http_add_header(req, "x-switchyard-route", "direct");
    }
    if (c->skipped) sy_http_add_header(req, "x-switchyard-skipped", c->skipped);
    if (c->cost_usd > 0) {
        snprintf(v, sizeof v, "%.8f", c->cost_usd);
        sy_http_add_header(req, "x-switchyard-cost-usd", v);
    }
    if (c->truncation[0]) sy_http_add_header(req, "x-switchyard-truncation", c->truncation);
    if (c->schema_hdr[0]) sy_http_add_header(req, "x-switchyard-schema", c->schema_hdr);
    if (sy_limits_apply(c->key)) add_ratelimit_headers(c);
    if (c->queued_once) { /* its attempts waited for model slots this long in all */
        snprintf(v, sizeof v, "%.0f", c->queue_ms);
        sy_http_add_header(req, "x-switchyard-queue-ms", v);
    }
    if (c->ntries) {
        sy_buf local; /* not c->scratch: it may hold the body being answered */
        sy_buf *b = &local;
        sy_buf_init(b);
        for (int i = 0; i < c->ntries; i++) {
            const try_rec *t = &c->tries[i];
            if (i) sy_buf_puts(b, ", ");
            if (t->outcome == SY_OUT_OK || t->outcome == SY_OUT_HTTP)
                sy_buf_printf(b, "%s:%d", t->model->id, t->status ? t->status : 200);
            else
                sy_buf_printf(b, "%s:%s", t->model->id, sy_outcome_name(t->outcome));
        }
        sy_http_add_header(req, "x-switchyard-attempts", b->data);
        sy_buf_free(b);
    }
}

static void record_try(sy_call *c, const sy_model *m, int outcome, int status, const char *msg)
{
    sy_model_met *mm = sy_met_model(c->w->met, mslot(c, m));
    if (mm && outcome >= 0 && outcome < SY_OUT_N)
        atomic_fetch_add_explicit(&mm->attempts[outcome], 1, memory_order_relaxed);
    if (mm && outcome == SY_OUT_SCHEMA)
        atomic_fetch_add_explicit(&mm->schema_failures, 1, memory_order_relaxed);
    double ms = c->pend_ms, ttft = c->pend_ttft, tin = c->pend_in, tout = c->pend_out,
           tcost = c->pend_cost;
    c->pend_ms = -1;
    c->pend_ttft = -1;
    c->pend_in = c->pend_out = c->pend_cost = 0;
    if (c->ntries >= (int)(sizeof c->tries / sizeof c->tries[0])) return;
    try_rec *t = &c->tries[c->ntries++];
    t->ms = ms;
    t->ttft_ms = ttft;
    t->tokens_in = tin;
    t->tokens_out = tout;
    t->cost_usd = tcost;
    t->model = m;
    t->outcome = outcome;
    t->status = status;
    snprintf(t->message, sizeof t->message, "%s", msg ? msg : "");
}

/* The running attempt ended (ok: an answer, cancelled: not the model's fault): its live
 * stats take the sample. */
static void slot_ended(sy_slot *s, int ok, int cancelled)
{
    const sy_model *m = s->att.model;
    s->running = 0;
    if (s->timer) evtimer_del(s->timer);
    s->call->pend_ms = (double)(sy_now_ns() - s->t0) / 1e6;
    s->call->pend_ttft = s->ttft_ms;
    if (s->adm_held) { /* a stream holds its slot to its end */
        s->adm_held = 0;
        sy_adm_release(s->call->w->eng->adm, mslot(s->call, m));
    }
    if (!m || !m->live) return;
    sy_breaker_record(m->live, &m->breaker, sy_wall_ms(), !ok, cancelled, s->probe);
    s->probe = 0;
    atomic_fetch_sub(&m->live->inflight, 1);
    if (cancelled) return;
    atomic_fetch_add(&m->live->attempts, 1);
    if (!ok) atomic_fetch_add(&m->live->failures, 1);
    sy_live_ewma(&m->live->ewma_error, ok ? 0.0 : 1.0);
    if (ok) {
        double ms = (double)(sy_now_ns() - s->t0) / 1e6;
        sy_live_ewma(&m->live->ewma_latency_ms, ms);
        sy_met_latency(s->call->w->met, mslot(s->call, m), ms, 0);
    }
}

/* Stops a running attempt that is nobody's fault (client gone, hedge lost, deadline of the
 * whole request handled by the caller). */
static void slot_unqueue(sy_slot *s, int reason);
static void slot_cancel(sy_slot *s)
{
    if (s->queued) slot_unqueue(s, SY_ADM_REJ_GONE);
    if (!s->running) return;
    sy_provider_cancel(&s->att);
    slot_ended(s, 0, 1);
    s->held = (cJSON_Delete(s->held), NULL);
}

/* The other slot of a call, when it runs. */
static sy_slot *other_running(sy_slot *s)
{
    sy_call *c = s->call;
    sy_slot *o = &c->slot[s == &c->slot[0] ? 1 : 0];
    return o->running || o->queued ? o : NULL;
}

/* s answered first: a racing hedge attempt is aborted at once (its connection closed). */
static void record_try(sy_call *c, const sy_model *m, int outcome, int status, const char *msg);
/* Ends an attempt whose outcome no longer matters (a lost hedge) without touching the
 * figures waiting for the next try record. */
static void slot_end_quietly(sy_slot *s, int cancel_transfer)
{
    sy_call *c = s->call;
    double ms = c->pend_ms, in = c->pend_in, out = c->pend_out, cost = c->pend_cost,
           ttft = c->pend_ttft;
    if (s->queued) slot_unqueue(s, -1);
    if (cancel_transfer && s->running) sy_provider_cancel(&s->att);
    if (s->running) slot_ended(s, 0, 1);
    s->held = (cJSON_Delete(s->held), NULL);
    c->pend_ms = ms;
    c->pend_in = in;
    c->pend_out = out;
    c->pend_cost = cost;
    c->pend_ttft = ttft;
}

static void on_cancel_lost(evutil_socket_t fd, short what, void *arg)
{
    sy_call *c = arg;
    (void)fd;
    (void)what;
    for (int i = 0; i < 2; i++)
        if (c->slot[i].lost && c->slot[i].running) slot_end_quietly(&c->slot[i], 1);
}

/* s answered first: the racing hedge attempt is recorded as lost and its transfer aborted —
 * at once, or (deferred, when s's chunk arrived inside the transport's own callback, where a
 * transfer cannot be removed) on the next loop turn; until then its events are ignored. */
static void cancel_loser_how(sy_slot *s, int deferred)
{
    sy_slot *o = other_running(s);
    if (!o || o->lost) return;
    if (o->queued) { /* never sent: nothing to bill or record */
        slot_unqueue(o, -1);
        return;
    }
    const sy_model *m = o->att.model;
    sy_call *c = s->call;
    if (s == &c->slot[1]) atomic_fetch_add_explicit(&c->w->met->hedges_won, 1, memory_order_relaxed);
    /* the winner's figures wait while the loser's try is recorded */
    double ms = c->pend_ms, in = c->pend_in, out = c->pend_out, cost = c->pend_cost,
           ttft = c->pend_ttft;
    c->pend_in = c->pend_out = c->pend_cost = 0;
    c->pend_ms = (double)(sy_now_ns() - o->t0) / 1e6;
    c->pend_ttft = o->ttft_ms;
    int committed = c->committed;
    c->committed = 0; /* (so account_usage keeps these figures for the loser's try) */
    /* the upstream bills the loser's prompt though its answer is thrown away: counted at
     * our own count for its tokenizer */
    account_usage(c, m, (double)sy_tokens_request(&c->chat, m->tok_kind), 0);
    record_try(c, m, SY_OUT_HEDGE_LOST, 0, "lost the hedge race");
    c->committed = committed;
    c->pend_ms = ms;
    c->pend_in = in;
    c->pend_out = out;
    c->pend_cost = cost;
    c->pend_ttft = ttft;
    o->lost = 1;
    if (deferred) {
        if (!c->cancel_ev) c->cancel_ev = evtimer_new(c->w->base, on_cancel_lost, c);
        struct timeval now = {0, 0};
        if (c->cancel_ev) {
            evtimer_add(c->cancel_ev, &now);
            return;
        }
    }
    slot_end_quietly(o, 1);
}

static void cancel_loser(sy_slot *s)
{
    cancel_loser_how(s, 0);
}

/* Whether the chain moves on after this failure. A 4xx that is the client's fault (bad
 * parameters) would fail the same way everywhere, so it is returned as it is; an upstream
 * 401/403 is the gateway's credential problem, not the client's, so it falls over. */
static void schema_failed(sy_call *c, sy_slot *s, const sy_check *chk, const cJSON *msg,
                          const sy_answer *ans);
static int accepted(sy_call *c, sy_slot *s, const cJSON *msg, const char *finish_reason,
                    double confidence, sy_check *chk);
static void add_logprobs(const cJSON *choice, double *sum, long *n);
static void not_accepted(sy_call *c, sy_slot *s, const sy_check *chk);
static const char *held_finish_reason(const cJSON *held);
static int schedule_retry(sy_call *c, const sy_model *m, int retry_after_ms);

static int retryable(int outcome, int status, const char *body)
{
    if (outcome != SY_OUT_HTTP) return 1;
    if (status >= 500) return 1; /* Anthropic's 529 "overloaded" included */
    /* too long for this model (our count for it was an estimate): another may take it */
    if (status == 400 && body && strstr(body, "context_length_exceeded")) return 1;
    return status == 401 || status == 403 || status == 408 || status == 409 || status == 429;
}

/* All attempts failed: 504 if all timed out, 503 if none got through (connect failures,
 * 429, 503, Anthropic's 529 "overloaded"), else 502; the message and an `attempts` array
 * say what happened. */
static void respond_all_failed(sy_call *c)
{
    int all_timeout = 1, all_unavail = 1, all_schema = 1, all_overloaded = c->ntries > 0;
    double slowest_ms = 0;
    sy_buf msg, body;
    sy_buf_init(&msg);
    sy_buf_init(&body);
    for (int i = 0; i < c->ntries; i++) {
        const try_rec *t = &c->tries[i];
        int queue = t->outcome == SY_OUT_QUEUE_FULL || t->outcome == SY_OUT_QUEUE_TIMEOUT;
        if (!queue) all_overloaded = 0;
        double lat = queue && t->model->live ? sy_live_get(&t->model->live->ewma_latency_ms) : 0;
        if (lat > slowest_ms) slowest_ms = lat;
    }
    if (all_overloaded) /* every model at its concurrency limit: the client should come back */
        sy_buf_puts(&msg, "model overloaded: ");
    else
        sy_buf_printf(&msg, "all %d upstream attempt%s failed: ", c->ntries, c->ntries == 1 ? "" : "s");
    for (int i = 0; i < c->ntries; i++) {
        const try_rec *t = &c->tries[i];
        if (t->outcome != SY_OUT_TIMEOUT) all_timeout = 0;
        if (t->outcome != SY_OUT_SCHEMA) all_schema = 0;
        if (!(t->outcome == SY_OUT_CONNECT || t->outcome == SY_OUT_BREAKER ||
              t->outcome == SY_OUT_QUEUE_FULL || t->outcome == SY_OUT_QUEUE_TIMEOUT ||
              (t->outcome == SY_OUT_HTTP &&
               (t->status == 429 || t->status == 503 || t->status == 529))))
            all_unavail = 0;
        sy_buf_printf(&msg, "%s%s: %s", i ? "; " : "", t->model->id, t->message);
    }
    int status = all_timeout ? 504 : all_unavail ? 503 : 502;
    const char *code = all_timeout      ? "upstream_timeout"
                       : all_overloaded ? "model_overloaded"
                       : all_unavail    ? "upstream_unavailable"
                       : all_schema  ? "schema_validation_failed"
                                     : "upstream_error";
    sy_buf_puts(&body, "{\"error\":{\"message\":");
    sy_buf_json_str(&body, msg.data);
    sy_buf_printf(&body, ",\"type\":\"server_error\",\"param\":null,\"code\":\"%s\",\"attempts\":[",
                  code);
    for (int i = 0; i < c->ntries; i++) {
        const try_rec *t = &c->tries[i];
        sy_buf_puts(&body, i ? ",{\"model\":" : "{\"model\":");
        sy_buf_json_str(&body, t->model->id);
        sy_buf_printf(&body, ",\"outcome\":\"%s\",\"status\":", sy_outcome_name(t->outcome));
        if (t->status)
            sy_buf_printf(&body, "%d}", t->status);
        else
            sy_buf_puts(&body, "null}");
    }
    sy_buf_puts(&body, "]}}");
    add_routing_headers(c, NULL);
    int last_retry_after = c->last_retry_after_ms;
    if (all_overloaded) /* about when a slot frees: the models' usual attempt time, 1 to 60 s */
        last_retry_after = slowest_ms < 1000 ? 1000 : slowest_ms > 60000 ? 60000 : (int)slowest_ms;
    if (status == 503 && last_retry_after >= 0) {
        char ra[32];
        snprintf(ra, sizeof ra, "%d", (last_retry_after + 999) / 1000);
        sy_http_add_header(c->req, "retry-after", ra);
    }
    c->status = status;
    client_error(c->req, status, body.data, body.len);
    sy_log(SY_LOG_WARN, "gateway", "request %s: %s", c->request_id, msg.data);
    sy_buf_free(&msg);
    sy_buf_free(&body);
    call_free(c);
}

/* An error after the stream was committed: one SSE error event, then the end of the HTTP
 * response without [DONE], so no client mistakes a cut stream for a complete one. */
static void stream_error(sy_call *c, const char *message, const char *code)
{
    sy_buf b;
    sy_buf_init(&b);
    if (c->anthropic) {
        sy_msg_stream_error(&c->mstream, 502, message, &b);
    } else {
        sy_error_body(&b, message, "server_error", NULL, code);
        sy_buf_puts(&b, "\n\n");
        sy_http_stream_write(c->req, "data: ", 6);
    }
    sy_http_stream_write(c->req, b.data, b.len);
    sy_http_stream_end(c->req);
    sy_buf_free(&b);
    call_free(c);
}

/* ============================================================ attempt events */

/* o[k1][idx][k2]; idx < 0 skips the array step, k2 NULL stops before it. */
static cJSON *jpath(const cJSON *o, const char *k1, int idx, const char *k2)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k1);
    if (idx >= 0) v = cJSON_GetArrayItem(v, idx);
    return k2 ? cJSON_GetObjectItemCaseSensitive(v, k2) : v;
}

static void set_model_field(cJSON *obj, const sy_model *m)
{
    cJSON *model = cJSON_GetObjectItemCaseSensitive(obj, "model");
    if (cJSON_IsString(model))
        cJSON_SetValuestring(model, m->id);
    else
        cJSON_AddStringToObject(obj, "model", m->id);
}

static void commit_stream(sy_call *c, const sy_model *m)
{
    if (c->anthropic) /* message_start carries the prompt's tokens, counted as m bills them */
        sy_msg_stream_init(&c->mstream, c->request_id, m->id, sy_tokens_request(&c->chat, m->tok_kind));
    add_routing_headers(c, m);
    sy_http_add_header(c->req, "cache-control", "no-cache");
    c->status = 200;
    sy_http_stream_start(c->req, 200, "text/event-stream");
    c->committed = 1;
}

/* Writes one chunk as an SSE event (and frees it). */
static void send_chunk(sy_call *c, const sy_model *m, cJSON *chunk)
{
    set_model_field(chunk, m);
    if (c->rc_store) { /* kept for the response cache, in the Chat Completions shape */
        if (!c->rc_chunks) c->rc_chunks = cJSON_CreateArray();
        if (!cJSON_AddItemToArray(c->rc_chunks, cJSON_Duplicate(chunk, 1))) c->rc_store = 0;
    }
    if (c->lim.reserved) { /* what a stream cut short has used, when no usage comes */
        const cJSON *d = jpath(chunk, "choices", 0, "delta");
        const cJSON *dc = jpath(d, "content", -1, NULL);
        const cJSON *args = jpath(jpath(jpath(d, "tool_calls", 0, NULL), "function", -1, NULL),
                                  "arguments", -1, NULL);
        if (cJSON_IsString(dc)) c->out_bytes += strlen(dc->valuestring);
        if (cJSON_IsString(args)) c->out_bytes += strlen(args->valuestring);
    }
    if (c->cfg->log_content) {
        const cJSON *dc = jpath(jpath(chunk, "choices", 0, "delta"), "content", -1, NULL);
        if (cJSON_IsString(dc)) sy_buf_puts(&c->answer_log, dc->valuestring);
    }
    sy_buf *b = &c->scratch;
    sy_buf_reset(b);
    if (c->anthropic) {
        sy_msg_stream_chunk(&c->mstream, chunk, b);
        cJSON_Delete(chunk);
        if (b->len) sy_http_stream_write(c->req, b->data, b->len);
        return;
    }
    sy_buf_puts(b, "data: ");
    char *json = cJSON_PrintUnformatted(chunk);
    cJSON_Delete(chunk);
    if (!json) return;
    sy_buf_puts(b, json);
    sy_buf_puts(b, "\n\n");
    free(json);
    sy_http_stream_write(c->req, b->data, b->len);
}

/* The clean end of a stream: [DONE], or Anthropic's closing events. */
static void stream_finish(sy_call *c)
{
    settle_limits(c);
    if (c->rc_store && c->rc_chunks && c->answered) { /* complete: stored as one answer */
        const try_rec *t = c->ntries ? &c->tries[c->ntries - 1] : NULL;
        size_t len = 0;
        char *json = sy_cache_assemble(c->rc_chunks, t ? t->tokens_in : 0, t ? t->tokens_out : 0,
                                       &len);
        if (json) cache_store(c, c->answered, json, len);
        free(json);
    }
    if (c->anthropic) {
        sy_buf *b = &c->scratch;
        sy_buf_reset(b);
        sy_msg_stream_end(&c->mstream, b);
        sy_http_stream_write(c->req, b->data, b->len);
    } else {
        sy_http_stream_write(c->req, "data: [DONE]\n\n", 14);
    }
    sy_http_stream_end(c->req);
}

static void arm_slot_timer(sy_slot *s, int ms)
{
    if (ms <= 0 || !s->timer) return;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void on_chunk(sy_attempt *a, cJSON *chunk)
{
    sy_slot *s = a->ud;
    sy_call *c = s->call;
    const sy_model *m = a->model;
    if (s->lost) { /* lost the race; its cancellation is on its way */
        cJSON_Delete(chunk);
        return;
    }
    if (!s->got_first) {
        s->got_first = 1;
        double ms = (double)(sy_now_ns() - s->t0) / 1e6;
        s->ttft_ms = ms;
        if (m->live) sy_live_ewma(&m->live->ewma_ttft_ms, ms);
        sy_met_latency(c->w->met, mslot(c, m), ms, 1);
    }
    if (s->timer) evtimer_del(s->timer);
    arm_slot_timer(s, m->provider->idle_timeout_ms);
    cJSON *usage = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
    if (cJSON_IsObject(usage)) {
        account_usage_json(c, m, usage); /* billed, sent or not */
        if (!c->chat.client_usage) { /* we asked for it, the client did not */
            if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(chunk, "choices")) == 0) {
                cJSON_Delete(chunk);
                return;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(chunk, "usage");
        }
    }
    /* Held until the whole answer checks: from the first chunk when the response format is
     * enforced, for a cascade (its acceptance checks) or when the route buffers streams; with
     * only tool schemas to check, from the first tool-call delta (a plain text answer to a
     * request with tools streams as it comes). */
    if (!c->committed &&
        (c->hold_all || s->held ||
         (c->enf.active && jpath(jpath(chunk, "choices", 0, "delta"), "tool_calls", -1, NULL)))) {
        if (!s->held) s->held = cJSON_CreateArray();
        if (s->held)
            cJSON_AddItemToArray(s->held, chunk);
        else
            cJSON_Delete(chunk);
        return;
    }
    if (!c->committed) { /* the first chunk: this attempt is the answer */
        cancel_loser_how(s, 1); /* inside the transport's callback: deferred */
        c->pend_ttft = s->ttft_ms;
        record_try(c, m, SY_OUT_OK, 200, "ok");
        commit_stream(c, m);
    }
    send_chunk(c, m, chunk);
}

/* ============================================================ held (enforced) streams */

/* The message the held chunks add up to: content and tool calls (by index) joined. */
static cJSON *held_message(const cJSON *held)
{
    cJSON *msg = cJSON_CreateObject();
    const cJSON *chunk;
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_ArrayForEach(chunk, held)
    {
        const cJSON *delta = jpath(chunk, "choices", 0, "delta");
        if (delta) sy_cjson_fold_delta(msg, delta);
    }
    return msg;
}

/* Sends the held chunks. When the check normalised the answer, the first piece of each
 * normalised text carries all of it and the later pieces are emptied. */
static void flush_held(sy_call *c, sy_slot *s, const sy_model *m, const cJSON *msg, int normalized)
{
    int content_done = 0, args_done[128] = {0};
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    cJSON *chunk;
    while (s->held && (chunk = cJSON_DetachItemFromArray(s->held, 0))) {
        cJSON *delta = jpath(chunk, "choices", 0, "delta");
        cJSON *dc = cJSON_GetObjectItemCaseSensitive(delta, "content");
        if (normalized && cJSON_IsString(dc) && cJSON_IsString(content)) {
            cJSON_SetValuestring(dc, ""); /* shorter: in place */
            if (!content_done)
                cJSON_ReplaceItemInObjectCaseSensitive(delta, "content",
                                                       cJSON_CreateString(content->valuestring));
            content_done = 1;
        }
        cJSON *tc, *dcalls = normalized ? cJSON_GetObjectItemCaseSensitive(delta, "tool_calls") : NULL;
        cJSON_ArrayForEach(tc, dcalls)
        {
            const cJSON *ix = cJSON_GetObjectItemCaseSensitive(tc, "index");
            int i = cJSON_IsNumber(ix) ? ix->valueint : 0;
            cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
            cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
            const cJSON *full = jpath(cJSON_GetArrayItem(calls, i), "function", -1, "arguments");
            if (i < 0 || i > 127 || !cJSON_IsString(args) || !cJSON_IsString(full)) continue;
            cJSON_ReplaceItemInObjectCaseSensitive(
                fn, "arguments", cJSON_CreateString(args_done[i] ? "" : full->valuestring));
            args_done[i] = 1;
        }
        send_chunk(c, m, chunk);
    }
}

/* A chat completion to the client: as it is, or rewritten as an Anthropic message. */
static void respond_ok(sy_call *c, const sy_model *m, const char *json, size_t len)
{
    if (!c->anthropic) {
        sy_http_respond(c->req, 200, "application/json", json, len);
        cache_store(c, m, json, len);
        return;
    }
    sy_buf b;
    sy_buf_init(&b);
    if (sy_msg_answer_from_chat(json, len, m->id, &b) == 0) {
        sy_http_respond(c->req, 200, "application/json", b.data, b.len);
        cache_store(c, m, json, len);
    } else {
        c->status = 502;
        respond_error(c->req, 502, "the upstream's answer has no message to translate", NULL,
                      "upstream_error");
    }
    sy_buf_free(&b);
}

/* A complete answer: the upstream's bytes as they came, but for "model": the registry id that
 * answered. */
static void respond_answer(sy_call *c, const sy_model *m, const sy_answer *ans)
{
    if (c->cfg->log_content) {
        cJSON *root = cJSON_ParseWithLength(ans->json, ans->len);
        const cJSON *content = jpath(jpath(root, "choices", 0, "message"), "content", -1, NULL);
        if (cJSON_IsString(content)) sy_buf_puts(&c->answer_log, content->valuestring);
        cJSON_Delete(root);
    }
    sy_buf *b = &c->scratch;
    sy_buf_reset(b);
    if (ans->model_off >= 0) {
        sy_buf_append(b, ans->json, (size_t)ans->model_off);
        sy_buf_json_str(b, m->id);
        size_t rest = (size_t)(ans->model_off + ans->model_len);
        sy_buf_append(b, ans->json + rest, ans->len - rest);
    } else {
        const char *brace = memchr(ans->json, '{', ans->len);
        size_t at = brace ? (size_t)(brace - ans->json) + 1 : 0;
        sy_buf_append(b, ans->json, at);
        sy_buf_puts(b, "\"model\":");
        sy_buf_json_str(b, m->id);
        sy_buf_puts(b, ",");
        sy_buf_append(b, ans->json + at, ans->len - at);
    }
    add_routing_headers(c, m);
    c->status = 200;
    respond_ok(c, m, b->data, b->len);
}

static void set_schema_header(sy_call *c, const sy_check *chk)
{
    if (chk->valid)
        snprintf(c->schema_hdr, sizeof c->schema_hdr, "valid%s%s", chk->how[0] ? "; normalized=" : "",
                 chk->how);
    else {
        char e[sizeof chk->error];
        header_safe(e, sizeof e, chk->error);
        snprintf(c->schema_hdr, sizeof c->schema_hdr, "invalid; error=\"%s\"", e);
    }
}

static void on_done(sy_attempt *a, sy_answer *ans)
{
    sy_slot *s = a->ud;
    sy_call *c = s->call;
    if (s->lost) { /* finished before its cancellation: nothing of it counts */
        slot_end_quietly(s, 0);
        if (ans) free(ans->json);
        return;
    }
    slot_ended(s, 1, 0);
    if (c->retrying) { /* the retry's body is done with: the next model gets the request */
        c->retrying = 0;
        c->retried = 1;
    }
    if (c->stream && !c->committed && (c->enf.active || c->hold_all)) {
        cJSON *msg = held_message(s->held);
        sy_check chk;
        sy_enforce_check(&c->enf, msg, &chk);
        double lsum = 0;
        long ln = 0;
        const cJSON *hc;
        cJSON_ArrayForEach(hc, s->held) add_logprobs(jpath(hc, "choices", 0, NULL), &lsum, &ln);
        if (chk.valid && !accepted(c, s, msg, held_finish_reason(s->held),
                                   ln ? exp(lsum / (double)ln) : NAN, &chk)) {
            not_accepted(c, s, &chk);
            cJSON_Delete(msg);
            return;
        }
        if (!chk.valid) {
            schema_failed(c, s, &chk, msg, NULL);
            cJSON_Delete(msg);
            return;
        }
        cancel_loser(s);
        if (c->enf.active) set_schema_header(c, &chk);
        record_try(c, a->model, SY_OUT_OK, 200, "ok");
        commit_stream(c, a->model);
        flush_held(c, s, a->model, msg, chk.how[0] != 0);
        cJSON_Delete(msg);
        stream_finish(c);
        call_free(c);
        return;
    }
    if (c->stream) {
        if (!c->committed) { /* a stream without a single chunk: still a clean answer */
            cancel_loser(s);
            record_try(c, a->model, SY_OUT_OK, 200, "ok");
            commit_stream(c, a->model);
        }
        stream_finish(c);
        call_free(c);
        return;
    }
    account_usage(c, a->model, ans->usage_in, ans->usage_out); /* billed, whatever comes next */
    if (c->enf.active || c->dec.kind == SY_DEC_CASCADE) {
        cJSON *root = cJSON_ParseWithLength(ans->json, ans->len);
        cJSON *msg = jpath(root, "choices", 0, "message");
        sy_check chk;
        if (msg)
            sy_enforce_check(&c->enf, msg, &chk);
        else
            chk = (sy_check){.valid = 0, .how = "", .error = "the answer has no message"};
        const cJSON *fr = jpath(root, "choices", 0, "finish_reason");
        double lsum = 0;
        long ln = 0;
        add_logprobs(jpath(root, "choices", 0, NULL), &lsum, &ln);
        if (chk.valid && !accepted(c, s, msg, cJSON_IsString(fr) ? fr->valuestring : NULL,
                                   ln ? exp(lsum / (double)ln) : NAN, &chk)) {
            not_accepted(c, s, &chk);
            cJSON_Delete(root);
            free(ans->json);
            return;
        }
        if (!chk.valid) {
            schema_failed(c, s, &chk, msg, ans);
            cJSON_Delete(root);
            free(ans->json);
            return;
        }
        cancel_loser(s);
        if (c->enf.active) set_schema_header(c, &chk);
        if (chk.how[0]) { /* normalised: the answer as the check left it */
            record_try(c, a->model, SY_OUT_OK, 200, "ok");
            set_model_field(root, a->model);
            char *out = cJSON_PrintUnformatted(root);
            cJSON_Delete(root);
            free(ans->json);
            add_routing_headers(c, a->model);
            c->status = out ? 200 : 500;
            if (out)
                respond_ok(c, a->model, out, strlen(out));
            else
                respond_error(c->req, 500, "out of memory", NULL, NULL);
            free(out);
            call_free(c);
            return;
        }
        cJSON_Delete(root);
    } else {
        cancel_loser(s);
    }
    record_try(c, a->model, SY_OUT_OK, 200, "ok");
    respond_answer(c, a->model, ans);
    free(ans->json);
    call_free(c);
}

static void on_fail(sy_attempt *a, int outcome, int status, const char *message,
                    const char *body)
{
    sy_slot *s = a->ud;
    sy_call *c = s->call;
    if (s->lost) {
        slot_end_quietly(s, 0);
        return;
    }
    /* a 4xx that is the request's fault says nothing about the model's health */
    int moves_on = retryable(outcome, status, body);
    slot_ended(s, !moves_on, 0);
    c->last_retry_after_ms = a->retry_after_ms;
    if (c->retrying) {
        c->retrying = 0;
        c->retried = 1;
    }
    s->held = (cJSON_Delete(s->held), NULL); /* what a failed attempt streamed is dropped */
    if (c->committed) {
        /* the stream had begun: the client already has part of this model's answer */
        char msg[256];
        snprintf(msg, sizeof msg, "upstream %s failed mid-stream: %s", a->model->id, message);
        sy_log(SY_LOG_WARN, "gateway", "request %s: %s", c->request_id, msg);
        stream_error(c, msg, "upstream_stream_error");
        return;
    }
    record_try(c, a->model, outcome, status, message);
    sy_log(SY_LOG_INFO, "gateway", "request %s: attempt on %s failed: %s", c->request_id,
           a->model->id, message);
    if (!moves_on) {
        /* the client's request is at fault: return the upstream's answer as it is */
        cancel_loser(s);
        add_routing_headers(c, a->model);
        size_t blen = body ? strlen(body) : 0;
        sy_json_top top;
        sy_json_member err;
        c->status = status;
        if (body && sy_json_scan(body, blen, NULL, 0, &top, NULL) == 0 && top.type == 'o' &&
            sy_json_get(body, top.start, top.end - top.start, "error", &err))
            client_error(c->req, status, body, blen);
        else
            respond_error(c->req, status, message, NULL, "upstream_error");
        call_free(c);
        return;
    }
    if (other_running(s)) return; /* the hedge still runs: its answer may yet win */
    if (schedule_retry(c, a->model, a->retry_after_ms)) return;
    if (c->next < c->dec.n) sy_met_fallback(c->w->met, outcome);
    start_next(c);
}

static const sy_attempt_events EVENTS = {on_chunk, on_done, on_fail};

/* The body of the schema retry: the request, the answer that failed (when it was text) and a
 * system message that says what was wrong. 0, or -1 when it cannot be made. */
static int make_retry(sy_call *c, const cJSON *msg, const sy_check *chk)
{
    const sy_chat *o = &c->chat;
    size_t end = o->messages.val_off + o->messages.val_len - 1; /* the closing ']' */
    sy_buf *b = &c->retry_body;
    char note[600];
    sy_buf_reset(b);
    sy_buf_append(b, o->text, end);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (cJSON_IsString(content) && !cJSON_GetArraySize(calls)) {
        sy_buf_puts(b, ",{\"role\":\"assistant\",\"content\":");
        sy_buf_json_str(b, content->valuestring);
        sy_buf_puts(b, "}");
    }
    snprintf(note, sizeof note,
             "Your previous answer did not satisfy the required JSON schema: %s. Answer again "
             "with only JSON that satisfies the schema, without Markdown or any other text.",
             chk->error);
    sy_buf_puts(b, ",{\"role\":\"system\",\"content\":");
    sy_buf_json_str(b, note);
    sy_buf_puts(b, "}");
    sy_buf_append(b, o->text + end, o->len - end);
    sy_chat_error err;
    if (sy_chat_parse(&c->retry_chat, b->data, b->len, &err) != 0) {
        sy_chat_free(&c->retry_chat);
        return -1;
    }
    return 0;
}

/* The finish_reason of held chunks (the last one that has it). */
static const char *held_finish_reason(const cJSON *held)
{
    const char *fr = NULL;
    const cJSON *chunk;
    cJSON_ArrayForEach(chunk, held)
    {
        const cJSON *f = jpath(chunk, "choices", 0, "finish_reason");
        if (cJSON_IsString(f)) fr = f->valuestring;
    }
    return fr;
}

/* A cascade step's answer is accepted when it is not empty, was not cut short by the length
 * limit and the policy's accept(res, ctx) hook (if any) agrees. The last model of a cascade
 * is not second-guessed; other decisions accept every answer. 0 with the reason in chk. */
/* Adds up choice.logprobs.content[].logprob (what upstreams send when asked for logprobs). */
static void add_logprobs(const cJSON *choice, double *sum, long *n)
{
    const cJSON *lp, *content = jpath(jpath(choice, "logprobs", -1, NULL), "content", -1, NULL);
    cJSON_ArrayForEach(lp, content)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(lp, "logprob");
        if (cJSON_IsNumber(v)) {
            *sum += v->valuedouble;
            (*n)++;
        }
    }
}

static int accepted(sy_call *c, sy_slot *s, const cJSON *msg, const char *finish_reason,
                    double confidence, sy_check *chk)
{
    if (c->dec.kind != SY_DEC_CASCADE || c->next >= c->dec.n) return 1;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    int has_text = cJSON_IsString(content) && content->valuestring[strspn(content->valuestring, " \t\r\n")];
    if (!has_text && cJSON_GetArraySize(calls) == 0) {
        snprintf(chk->error, sizeof chk->error, "empty answer");
        return 0;
    }
    if (finish_reason && strcmp(finish_reason, "length") == 0) {
        snprintf(chk->error, sizeof chk->error, "cut short by the length limit");
        return 0;
    }
    if (c->route) {
        char why[256] = "";
        if (!sy_policy_accept(c->w->vm, c->route, s->att.model->id,
                              cJSON_IsString(content) ? content->valuestring : "", finish_reason,
                              confidence, why, sizeof why)) {
            snprintf(chk->error, sizeof chk->error, "accept(): %s", why);
            return 0;
        }
    }
    return 1;
}

/* The cascade escalates: the next model gets the request (nothing of this answer was sent). */
static void not_accepted(sy_call *c, sy_slot *s, const sy_check *chk)
{
    record_try(c, s->att.model, SY_OUT_REJECTED, 200, chk->error);
    atomic_fetch_add_explicit(&c->w->met->cascade_escalations, 1, memory_order_relaxed);
    s->held = (cJSON_Delete(s->held), NULL);
    if (other_running(s)) return;
    start_next(c);
}

/* The answer broke the request's schema. The route decides: pass it on marked invalid, try
 * the same model once more with what was wrong, or escalate to the next model. Nothing of the
 * answer or of the error (which may quote it) is logged. */
static void schema_failed(sy_call *c, sy_slot *s, const sy_check *chk, const cJSON *msg,
                          const sy_answer *ans)
{
    const sy_model *m = s->att.model;
    int action = c->route ? c->route->on_schema_failure : SY_SCHEMA_ESCALATE;
    sy_log(SY_LOG_INFO, "gateway", "request %s: the answer of %s breaks the response schema",
           c->request_id, m->id);
    if (action == SY_SCHEMA_PASS) {
        cancel_loser(s);
        set_schema_header(c, chk);
        record_try(c, m, SY_OUT_OK, 200, "ok");
        if (c->stream) {
            commit_stream(c, m);
            flush_held(c, s, m, NULL, 0);
            stream_finish(c);
        } else {
            respond_answer(c, m, ans);
        }
        call_free(c);
        return;
    }
    record_try(c, m, SY_OUT_SCHEMA, 200, chk->error);
    s->held = (cJSON_Delete(s->held), NULL);
    if (other_running(s)) return; /* a hedge still runs: wait for its answer */
    if (action == SY_SCHEMA_RETRY && !c->retried && msg && make_retry(c, msg, chk) == 0) {
        c->retrying = 1;
        c->schema_retry_model = m;
        c->next--; /* the same model once more */
    }
    start_next(c);
}

static void on_slot_timer(evutil_socket_t fd, short what, void *arg);
static void arm_hedge(sy_call *c);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    sy_call *c = arg;
    (void)fd;
    (void)what;
    c->next--; /* the same model once more */
    start_next(c);
}

/* A retryable failure of m: try m again after exponential backoff with full jitter
 * (base_ms << retry, at most max_ms, a uniform draw below that), or after the upstream's
 * Retry-After, when the route allows retries and the wait ends before the request's
 * deadline. 1 when a retry is scheduled. */
static int schedule_retry(sy_call *c, const sy_model *m, int retry_after_ms)
{
    int retries = c->dec.retries >= 0 ? c->dec.retries : c->route ? c->route->retries : 0;
    if (c->retry_model != m) {
        c->retry_model = m;
        c->model_retries = 0;
    }
    if (c->dec.kind == SY_DEC_HEDGE || c->model_retries >= retries) return 0;
    int base = c->route ? c->route->backoff_base_ms : 100, max = c->route ? c->route->backoff_max_ms : 5000;
    long ceil_ms = (long)base << (c->model_retries < 20 ? c->model_retries : 20);
    if (ceil_ms > max) ceil_ms = max;
    /* full jitter: uniform in [0, ceil]; a per-call generator is enough */
    uint64_t r = sy_hash64(c->request_id, strlen(c->request_id), sy_now_ns());
    long wait = retry_after_ms >= 0 ? retry_after_ms : (long)(r % (uint64_t)(ceil_ms + 1));
    if (c->deadline_ns && sy_now_ns() + (uint64_t)wait * 1000000u >= c->deadline_ns) return 0;
    if (!c->retry_ev && !(c->retry_ev = evtimer_new(c->w->base, on_retry, c))) return 0;
    c->model_retries++;
    struct timeval tv = {wait / 1000, (wait % 1000) * 1000};
    evtimer_add(c->retry_ev, &tv);
    return 1;
}

/* Sends the attempt prepared in s (its model's slot, if limited, held). 1 when it runs; 0 when
 * it could not start (the slot and a breaker probe given back). */
static int launch(sy_slot *s)
{
    sy_call *c = s->call;
    const sy_model *m = s->att.model;
    if (sy_provider_start(&s->att) == SY_OK) {
        c->spent_usd += s->est;
        s->running = 1;
        s->t0 = sy_now_ns();
        if (m->live) {
            atomic_fetch_add(&m->live->inflight, 1);
            atomic_fetch_add(&m->live->started, 1);
        }
        if (c->stream) arm_slot_timer(s, m->provider->ttft_timeout_ms);
        return 1;
    }
    if (s->probe) sy_breaker_record(m->live, &m->breaker, sy_wall_ms(), 0, 1, 1);
    s->probe = 0;
    if (s->adm_held) {
        s->adm_held = 0;
        sy_adm_release(c->w->eng->adm, mslot(c, m));
    }
    return 0;
}

/* ============================================================ admission (sy_admit.h) */

/* A queued attempt leaves its model's queue without starting (reason: SY_ADM_REJ_* for the
 * metrics, -1 for none). A slot granted at that very moment is passed on at once. */
static void slot_unqueue(sy_slot *s, int reason)
{
    sy_call *c = s->call;
    const sy_model *m = s->att.model;
    sy_admit *a = c->w->eng->adm;
    if (!s->queued) return;
    s->queued = 0;
    if (s->qtimer) evtimer_del(s->qtimer);
    c->queue_ms += (double)(sy_now_ns() - s->wait.t0_ns) / 1e6;
    if (sy_adm_withdraw(a, &s->wait))
        sy_adm_release(a, mslot(c, m));
    else if (reason >= 0)
        sy_adm_note_reject(a, mslot(c, m), reason);
    if (s->probe) sy_breaker_record(m->live, &m->breaker, sy_wall_ms(), 0, 1, 1);
    s->probe = 0;
}

/* On this worker's loop: the queued attempt s got a slot of its model (granted), or gave its
 * place to a request of higher priority that found the queue full (the chain moves on). */
static void on_admitted(void *ud, int granted)
{
    sy_slot *s = ud;
    sy_call *c = s->call;
    double ms = (double)(sy_now_ns() - s->wait.t0_ns) / 1e6;
    if (!granted) {
        const sy_model *m = s->att.model;
        slot_unqueue(s, SY_ADM_REJ_FULL); /* (not queued any more: only the bookkeeping) */
        char msg[200];
        snprintf(msg, sizeof msg,
                 "at its concurrency limit of %d and its queue is full (queue.max %d): gave its "
                 "place to a request of higher priority after %.0f ms",
                 m->concurrency, m->queue_max, ms);
        record_try(c, m, SY_OUT_QUEUE_FULL, 0, msg);
        if (other_running(s)) return;
        if (c->next < c->dec.n) sy_met_fallback(c->w->met, SY_OUT_QUEUE_FULL);
        start_next(c);
        return;
    }
    s->queued = 0;
    s->adm_held = 1;
    if (s->qtimer) evtimer_del(s->qtimer);
    c->queue_ms += ms;
    sy_adm_note_wait(c->w->eng->adm, mslot(c, s->att.model), ms);
    if (launch(s)) return;
    record_try(c, s->att.model, SY_OUT_CONNECT, 0, "could not start the attempt");
    if (other_running(s)) return;
    start_next(c);
}

/* The attempt waited its queue's timeout_ms: the chain moves on to its next model. */
static void on_queue_timeout(evutil_socket_t fd, short what, void *arg)
{
    sy_slot *s = arg;
    sy_call *c = s->call;
    const sy_model *m = s->att.model;
    (void)fd;
    (void)what;
    if (!s->queued) return;
    if (sy_adm_withdraw(c->w->eng->adm, &s->wait)) { /* the slot came at the same moment */
        on_admitted(s, 1);
        return;
    }
    double waited = (double)(sy_now_ns() - s->wait.t0_ns) / 1e6;
    slot_unqueue(s, SY_ADM_REJ_TIMEOUT);
    char msg[200];
    snprintf(msg, sizeof msg,
             "at its concurrency limit of %d: no slot freed within %.0f ms (queue.timeout_ms %d)",
             m->concurrency, waited, m->queue_timeout_ms);
    record_try(c, m, SY_OUT_QUEUE_TIMEOUT, 0, msg);
    sy_log(SY_LOG_INFO, "gateway", "request %s: attempt on %s: %s", c->request_id, m->id, msg);
    if (other_running(s)) return;
    if (c->next < c->dec.n) sy_met_fallback(c->w->met, SY_OUT_QUEUE_TIMEOUT);
    start_next(c);
}

/* Asks for a slot of s's model: SY_ADM_GO (held, or the model has no limit), SY_ADM_QUEUED
 * (s waits, with its timer armed) or SY_ADM_FULL (recorded as the attempt's outcome). */
static int admit(sy_call *c, sy_slot *s)
{
    const sy_model *m = s->att.model;
    int ms = mslot(c, m);
    if (m->concurrency <= 0 || ms < 0) return SY_ADM_GO;
    sy_admit *a = c->w->eng->adm;
    int rc = sy_adm_acquire(a, ms, m->concurrency, m->queue_max, c->priority, &s->wait,
                            c->w->adm_inbox, on_admitted, s);
    if (rc == SY_ADM_GO) {
        s->adm_held = 1;
        return rc;
    }
    if (rc == SY_ADM_QUEUED) {
        s->queued = 1;
        c->queued_once = 1;
        if (!s->qtimer) s->qtimer = evtimer_new(c->w->base, on_queue_timeout, s);
        struct timeval tv = {m->queue_timeout_ms / 1000, (m->queue_timeout_ms % 1000) * 1000};
        if (s->qtimer) evtimer_add(s->qtimer, &tv); /* without: the request deadline ends it */
        return rc;
    }
    if (s->probe) sy_breaker_record(m->live, &m->breaker, sy_wall_ms(), 0, 1, 1);
    s->probe = 0;
    sy_adm_note_reject(a, ms, SY_ADM_REJ_FULL);
    int inflight, queued;
    sy_adm_counts(a, ms, &inflight, &queued);
    char msg[200];
    snprintf(msg, sizeof msg,
             "at its concurrency limit of %d and its queue is full (%d waiting, queue.max %d)",
             m->concurrency, queued, m->queue_max);
    record_try(c, m, SY_OUT_QUEUE_FULL, 0, msg);
    if (c->next < c->dec.n) sy_met_fallback(c->w->met, SY_OUT_QUEUE_FULL);
    return rc;
}

/* Starts the next model of the decision that can be tried into slot idx. 1 when one runs (or
 * waits for a slot of its model), 0 when the decision is exhausted. */
static int start_in(sy_call *c, int idx)
{
    sy_slot *s = &c->slot[idx];
    while (c->next < c->dec.n) {
        const sy_model *m = c->dec.models[c->next++];
        int probe = 0;
        double est = 0;
        if (c->retrying && m != c->schema_retry_model) { /* the retry's body is that model's */
            c->retrying = 0;
            c->retried = 1;
        }
        if (c->dec.kind == SY_DEC_CASCADE && c->dec.max_cost > 0) {
            /* a cascade's cost cap holds for the steps together, not each alone */
            long mt = sy_chat_max_tokens(&c->chat);
            est = ((double)sy_tokens_request(&c->chat, m->tok_kind) * m->price_in +
                   (double)(mt >= 0 ? mt : m->output_reserve) * m->price_out) / 1000.0;
            if (c->spent_usd + est > c->dec.max_cost) {
                record_try(c, m, SY_OUT_REJECTED, 0, "over the cascade's cost cap");
                continue;
            }
        }
        if (!c->retrying && !sy_breaker_admit(m->live, &m->breaker, sy_wall_ms(), &probe)) {
            record_try(c, m, SY_OUT_BREAKER, 0, "circuit breaker open");
            continue;
        }
        struct event *timer = s->timer, *qtimer = s->qtimer;
        cJSON_Delete(s->held); /* (always NULL here: every way out of an attempt drops it) */
        memset(s, 0, sizeof *s);
        s->timer = timer ? timer : evtimer_new(c->w->base, on_slot_timer, s);
        s->qtimer = qtimer;
        s->call = c;
        s->ttft_ms = -1;
        s->att.model = m;
        s->att.chat = c->retrying ? &c->retry_chat : &c->chat;
        s->att.stream = c->stream;
        s->att.ev = &EVENTS;
        s->att.ud = s;
        s->att.env = &c->w->penv;
        s->probe = probe;
        s->est = est;
        int adm = admit(c, s);
        if (adm == SY_ADM_QUEUED) return 1; /* it starts when a slot frees */
        if (adm == SY_ADM_FULL) continue;
        if (launch(s)) return 1;
        record_try(c, m, SY_OUT_CONNECT, 0, "could not start the attempt");
    }
    return 0;
}

static void start_next(sy_call *c)
{
    if (start_in(c, 0)) {
        arm_hedge(c);
        return;
    }
    respond_all_failed(c);
}

/* ============================================================ hedging and stalls */

/* When the hedge fires: how long the first attempt may go without a first token. The
 * decision's after_ms, else about the model's p95 time to first token (twice its live
 * average, or the third of its static p95 latency before it has answered). */
static int hedge_after_ms(const sy_call *c, const sy_model *m)
{
    if (c->dec.after_ms > 0) return c->dec.after_ms;
    double ttft = m->live ? sy_live_get(&m->live->ewma_ttft_ms) : 0;
    double ms = ttft > 0 ? 2 * ttft : m->lat_p95_ms / 3;
    return ms < 1 ? 1 : (int)ms;
}

static void on_hedge(evutil_socket_t fd, short what, void *arg)
{
    sy_call *c = arg;
    (void)fd;
    (void)what;
    sy_slot *first = &c->slot[0];
    /* the first attempt answered (or is answering) in time, or the race is on already */
    if (c->hedged || c->committed || (!first->running && !first->queued) || first->got_first) return;
    c->hedged = 1;
    atomic_fetch_add_explicit(&c->w->met->hedges_fired, 1, memory_order_relaxed);
    sy_log(SY_LOG_DEBUG, "gateway", "request %s: hedging %s", c->request_id, first->att.model->id);
    start_in(c, 1);
}

static void arm_hedge(sy_call *c)
{
    if (c->dec.kind != SY_DEC_HEDGE || c->hedged || c->next >= c->dec.n) return;
    if (!c->hedge_ev && !(c->hedge_ev = evtimer_new(c->w->base, on_hedge, c))) return;
    int ms = hedge_after_ms(c, c->slot[0].att.model);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->hedge_ev, &tv);
}

/* A stream's first token or next chunk did not come in time: the attempt is stopped and
 * counts as a timeout of its model. */
static void on_slot_timer(evutil_socket_t fd, short what, void *arg)
{
    sy_slot *s = arg;
    sy_call *c = s->call;
    (void)fd;
    (void)what;
    if (!s->running) return;
    const sy_model *m = s->att.model;
    char msg[160];
    if (s->got_first)
        snprintf(msg, sizeof msg, "no chunk for %d ms (idle_timeout_ms)", m->provider->idle_timeout_ms);
    else
        snprintf(msg, sizeof msg, "no first token within %d ms (ttft_timeout_ms)",
                 m->provider->ttft_timeout_ms);
    int was_committed = c->committed && s->got_first && !s->held;
    sy_provider_cancel(&s->att);
    slot_ended(s, 0, 0);
    s->held = (cJSON_Delete(s->held), NULL);
    if (was_committed) {
        char full[256];
        snprintf(full, sizeof full, "upstream %s stalled mid-stream: %s", m->id, msg);
        stream_error(c, full, "upstream_stream_error");
        return;
    }
    record_try(c, m, SY_OUT_TIMEOUT, 0, msg);
    if (other_running(s)) return;
    if (c->next < c->dec.n) sy_met_fallback(c->w->met, SY_OUT_TIMEOUT);
    start_next(c);
}

/* ============================================================ lifecycle events */

static void on_client_abort(sy_http_req *req, void *ud)
{
    sy_call *c = ud;
    sy_log(SY_LOG_INFO, "gateway", "request %s: client went away", c->request_id);
    c->status = 499; /* nginx's "client closed request": counted and logged like any other */
    if (c->lim_wait) return; /* Redis has it: its answer ends the call (the body stays till then) */
    slot_cancel(&c->slot[0]);
    slot_cancel(&c->slot[1]);
    call_free(c); /* first: its log line and shadow policy read the request's body */
    sy_http_req_discard(req);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    sy_call *c = arg;
    char msg[160];
    (void)fd;
    (void)what;
    for (int i = 0; i < 2; i++) {
        sy_slot *s = &c->slot[i];
        if (s->queued) {
            slot_unqueue(s, SY_ADM_REJ_TIMEOUT);
            record_try(c, s->att.model, SY_OUT_QUEUE_TIMEOUT, 0,
                       "request deadline reached while waiting for a slot of the model");
        }
        if (!s->running) continue;
        sy_provider_cancel(&s->att);
        slot_ended(s, 0, 0); /* a deadline overrun counts against the model */
        record_try(c, s->att.model, SY_OUT_TIMEOUT, 0, "request deadline reached");
    }
    int ms = c->cfg->request_timeout_ms;
    if (c->dec.deadline_ms > 0 && c->dec.deadline_ms < ms) ms = c->dec.deadline_ms;
    if (c->client_deadline_ms > 0 && c->client_deadline_ms < ms) ms = c->client_deadline_ms;
    snprintf(msg, sizeof msg, "request deadline of %d ms exceeded", ms);
    if (c->committed) {
        stream_error(c, msg, "deadline_exceeded");
        return;
    }
    add_routing_headers(c, NULL);
    c->status = 504;
    respond_error(c->req, 504, msg, NULL, "deadline_exceeded");
    call_free(c);
}

/* ============================================================ validation */

/* Validates the body as a Chat Completions request into *chat. Returns 0, or responds 400
 * and returns -1. */
/* The request body as a chat request: the client's bytes, or (text != NULL) its rewrite. */
static int parse_chat(sy_http_req *req, sy_chat *chat, const char *text, size_t len)
{
    if (!text) text = sy_http_req_body(req, &len);
    sy_chat_error err;
    if (sy_chat_parse(chat, text, len, &err) == 0) return 0;
    sy_chat_free(chat);
    respond_error(req, 400, err.message, err.param[0] ? err.param : NULL, err.code);
    return -1;
}

/* x-switchyard-<name>: value → meta pairs (name lower-cased, prefix removed). */
static int collect_meta(sy_http_req *req, const char **pairs, char names[][48], int max)
{
    int n = 0;
    size_t count = sy_http_req_header_count(req);
    for (size_t i = 0; i < count && n < max; i++) {
        const char *name, *value;
        sy_http_req_header_at(req, i, &name, &value);
        if (strncasecmp(name, "x-switchyard-", 13) != 0 || !name[13]) continue;
        size_t j = 0;
        for (const char *p = name + 13; *p && j + 1 < 48; p++)
            names[n][j++] = (*p == '-') ? '_' : (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        names[n][j] = '\0';
        pairs[2 * n] = names[n];
        pairs[2 * n + 1] = value;
        n++;
    }
    return n;
}

/* Resolves the requested name to a decision: a registry model directly, or a route's
 * policy. Returns 0, or responds 404 and returns -1. */
static int decide(sy_call *c, const char *name)
{
    sy_worker *w = c->w;
    const sy_model *m = sy_config_model(c->cfg, name);
    if (m) {
        c->dec.kind = SY_DEC_PICK;
        c->dec.n = 1;
        c->dec.models[0] = m;
        c->dec.retries = -1;
        snprintf(c->dec.reason, sizeof c->dec.reason, "model requested by name");
        return 0;
    }
    c->route = sy_config_route(c->cfg, name);
    if (!c->route) {
        char msg[300];
        snprintf(msg, sizeof msg, "The model '%.200s' does not exist (see GET /v1/models)", name);
        c->status = 404;
        respond_error(c->req, 404, msg, "model", "model_not_found");
        return -1;
    }
    const char *pairs[2 * MAX_META_HEADERS];
    char names[MAX_META_HEADERS][48];
    sy_request_view view = {.chat = &c->chat, .model = name, .meta_headers = pairs,
                            .nmeta = collect_meta(c->req, pairs, names, MAX_META_HEADERS),
                            .key = c->key, .priority = &c->priority};
    if (sy_limits_apply(c->key)) { /* req.key.remaining, read from the limiter only if asked */
        view.remaining = view_remaining;
        view.remaining_ud = c;
    }
    /* the routing-decision cache: the policy's cache_key(req) names decisions it may reuse */
    char ckey[520];
    int keyed = c->route->dcache_max > 0 &&
                sy_policy_cache_key(w->vm, c->route, &view, ckey, sizeof ckey) == 1;
    if (keyed && sy_dcache_get(w->dcache, w->gen, c->route->name, c->tenant, ckey, &c->dec)) {
        size_t rl = strlen(c->dec.reason);
        snprintf(c->dec.reason + rl, sizeof c->dec.reason - rl, "%s(decision cache)", rl ? " " : "");
        c->dec.cached = 1;
        c->dec.eval_us = 0;
    } else {
        sy_policy_route(w->vm, c->route, &view, &c->dec);
        if (keyed && !c->dec.policy_failed && !c->dec.no_cache)
            sy_dcache_put(w->dcache, w->gen, c->route->name, c->tenant, ckey, c->route->dcache_max,
                          c->route->dcache_ttl_ms, &c->dec);
    }
    if (c->dec.has_priority) c->priority = c->dec.priority; /* the policy has the last word */
    if (w->eng->reqlog || c->route->shadow_src) /* for the log line and the shadow policy */
        for (int i = 0; i < view.nmeta; i++) {
            sy_buf_append(&c->meta, pairs[2 * i], strlen(pairs[2 * i]) + 1);
            sy_buf_append(&c->meta, pairs[2 * i + 1], strlen(pairs[2 * i + 1]) + 1);
            c->nmeta++;
        }
    c->first_choice = c->dec.models[0];
    if (!c->dec.cached) sy_met_policy_eval(w->met, c->dec.eval_us, c->dec.policy_failed);
    snprintf(c->policy_id, sizeof c->policy_id, "%s", sy_policy_id(w->vm, c->route));
    return 0;
}

/* "sy-<worker>-<start time, hex ms>-<sequence, hex>": unique per process run, made without
 * printf (this runs for every request). */
static void format_request_id(char *out, sy_worker *w)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t parts[3] = {(uint64_t)w->index, (uint64_t)w->started_ms, ++w->req_seq};
    char *p = out;
    *p++ = 's';
    *p++ = 'y';
    for (int k = 0; k < 3; k++) {
        char tmp[16];
        int n = 0;
        uint64_t v = parts[k];
        do {
            tmp[n++] = hex[v & 15];
            v >>= 4;
        } while (v);
        *p++ = '-';
        while (n) *p++ = tmp[--n];
    }
    *p = '\0';
}

static sy_call *call_new(sy_worker *w, sy_http_req *req)
{
    sy_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->w = w;
    c->req = req;
    c->cfg = sy_config_ref(w->cfg);
    c->gen = w->gen;
    c->t0_ns = sy_now_ns();
    c->pend_ms = -1;
    c->pend_ttft = -1;
    c->tenant = "";
    c->priority = SY_PRIO_NORMAL;
    sy_buf_init(&c->scratch);
    sy_buf_init(&c->answer_log);
    const char *rid = sy_http_req_header(req, "x-request-id");
    if (rid && *rid && strlen(rid) < sizeof c->request_id)
        header_safe(c->request_id, sizeof c->request_id, rid);
    else
        format_request_id(c->request_id, w);
    return c;
}

/* ============================================================ keys and limits */

/* The key the client sent: Authorization: Bearer KEY, else x-api-key (Anthropic's SDK). */
static const char *presented_key(sy_http_req *req)
{
    const char *a = sy_http_req_header(req, "authorization");
    if (a && strncasecmp(a, "Bearer ", 7) == 0) {
        a += 7;
        while (*a == ' ') a++;
        if (*a) return a;
    }
    const char *x = sy_http_req_header(req, "x-api-key");
    return x && *x ? x : NULL;
}

/* With keys in the config: the request's key, or a 401 (never naming what was sent). Returns
 * 0 (key in *out, NULL when the config has no keys) or -1 when answered. */
static int authenticate(sy_worker *w, sy_http_req *req, const sy_key_cfg **out)
{
    *out = NULL;
    if (w->cfg->nkeys == 0) return 0;
    const char *k = presented_key(req);
    if (!k) {
        respond_error(req, 401, "Missing API key: send it as 'Authorization: Bearer <key>' or "
                                "'x-api-key: <key>'.", NULL, "missing_api_key");
        return -1;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)k, strlen(k), md);
    *out = sy_config_key(w->cfg, md);
    if (!*out) {
        respond_error(req, 401, "Incorrect API key provided: it is not one this gateway knows.",
                      NULL, "invalid_api_key");
        return -1;
    }
    return 0;
}

/* 403 when the key may not ask for this name: routes it may use by name; models it may use,
 * by name or as what a route decides (a key limited to routes may not name models). */
static int permitted_name(sy_call *c, const char *name)
{
    const sy_key_cfg *k = c->key;
    if (sy_key_may_use(k, c->cfg, name)) return 0;
    char msg[400];
    c->status = 403;
    if (sy_config_model(c->cfg, name)) {
        snprintf(msg, sizeof msg, "The key '%s' may not use the model '%.200s'%s.", k->id, name,
                 k->models ? "" : " by name (it is limited to routes)");
        respond_error(c->req, 403, msg, "model", "model_not_allowed");
        return -1;
    }
    snprintf(msg, sizeof msg, "The key '%s' may not use the route '%.200s'.", k->id, name);
    respond_error(c->req, 403, msg, "model", "route_not_allowed");
    return -1;
}

/* Keeps in the decision only the models the key may use; 403 when none is left. */
static int permitted_models(sy_call *c)
{
    const sy_key_cfg *k = c->key;
    if (!k || !k->models) return 0;
    int n = 0;
    char dropped[300] = "";
    size_t dl = 0;
    for (int i = 0; i < c->dec.n; i++) {
        if (sy_key_allows_model(k, c->dec.models[i]->id))
            c->dec.models[n++] = c->dec.models[i];
        else if (dl < sizeof dropped)
            dl += (size_t)snprintf(dropped + dl, sizeof dropped - dl, "%s%s", dl ? ", " : "",
                                   c->dec.models[i]->id);
    }
    if (n > 0) {
        c->dec.n = n;
        return 0;
    }
    char msg[500];
    snprintf(msg, sizeof msg, "The route decided on models (%s) that the key '%s' may not use.",
             dropped, k->id);
    c->status = 403;
    respond_error(c->req, 403, msg, "model", "model_not_allowed");
    return -1;
}

/* What the request reserves: prompt tokens (the first model's tokenizer) + its output bound,
 * and the most it can cost (one model's price for a chain, every model's for a cascade or a
 * hedge, which may pay for several). */
static void reservation_size(sy_call *c, int exact, long *tokens, double *usd)
{
    const sy_model *m0 = c->dec.models[0];
    /* exact: counted with the tokenizer; else the cheap upper bound (bytes), tried first:
     * when it fits, counting is skipped and the settlement makes it exact anyway */
    long prompt = exact ? sy_tokens_request(&c->chat, m0->tok_kind) : sy_tokens_request_bound(&c->chat);
    if (prompt == LONG_MAX) prompt = sy_tokens_request(&c->chat, m0->tok_kind), exact = 1;
    c->lim_prompt_exact = exact;
    long mt = sy_chat_max_tokens(&c->chat), out = 0;
    double worst = 0, sum = 0;
    for (int i = 0; i < c->dec.n; i++) {
        const sy_model *m = c->dec.models[i];
        long o = mt >= 0 ? mt : (long)m->output_reserve;
        if (o > out) out = o;
        double cost = ((double)prompt * m->price_in + (double)o * m->price_out) / 1000.0;
        sum += cost;
        if (cost > worst) worst = cost;
    }
    c->lim_prompt = prompt;
    *tokens = prompt + out;
    *usd = c->dec.kind == SY_DEC_CASCADE || c->dec.kind == SY_DEC_HEDGE ? sum : worst;
}

static void limit_refused(sy_call *c, const sy_lim_verdict *v)
{
    char ra[16];
    if (v->retry_after_s > 0) {
        snprintf(ra, sizeof ra, "%d", v->retry_after_s);
        sy_http_add_header(c->req, "retry-after", ra);
    }
    add_routing_headers(c, NULL);
    c->status = v->status;
    sy_buf b;
    sy_buf_init(&b);
    const char *type = strcmp(v->code, "insufficient_quota") == 0 ? "insufficient_quota"
                                                                  : sy_error_type_for_status(v->status);
    sy_error_body(&b, v->message, type, NULL, v->code);
    client_error(c->req, v->status, b.data, b.len);
    sy_buf_free(&b);
}

/* Settles the call's reservation with what it used: the usage billed, or for a stream cut
 * short without usage its prompt and the text sent (4 bytes a token). */
static void settle_limits(sy_call *c)
{
    if (!c->lim.reserved) return;
    double tok, usd;
    call_usage(c, &tok, &usd);
    sy_limits_settle(c->w->eng, c->w, &c->lim, (long)tok, usd);
}

/* What the call used: the usage billed, or for a stream cut short without usage its prompt
 * and the text sent. */
static void call_usage(const sy_call *c, double *tokens, double *usd_out)
{
    double tok = 0;
    for (int i = 0; i < c->ntries; i++) tok += c->tries[i].tokens_in + c->tries[i].tokens_out;
    if (c->pend_in > 0 || c->pend_out > 0) tok += c->pend_in + c->pend_out;
    double usd = c->cost_usd;
    if (tok <= 0 && c->committed && c->answered && c->rc_state != RC_HIT) { /* a hit is free */
        double out = (double)((c->out_bytes + 3) / 4);
        double prompt = c->lim_prompt_exact ? (double)c->lim_prompt
                        : (double)sy_tokens_request(&c->chat, c->answered->tok_kind);
        tok = prompt + out;
        usd = (prompt * c->answered->price_in + out * c->answered->price_out) / 1000.0;
    }
    *tokens = tok;
    *usd_out = usd;
}

static void proceed(sy_call *c);

static void on_limits_admitted(void *ud, const sy_lim_verdict *v)
{
    sy_call *c = ud;
    c->lim_wait = 0;
    if (c->status == 499) { /* the client left while Redis decided */
        sy_http_req *req = c->req;
        call_free(c); /* reads the request (log line) before it goes */
        sy_http_req_discard(req);
        return;
    }
    if (!v->ok) {
        limit_refused(c, v);
        call_free(c);
        return;
    }
    proceed(c);
}

/* ============================================================ endpoints */

/* Parses the request, makes its call and decides its route. NULL when it has already been
 * answered (400, 404, 500). */
static sy_call *call_decided(sy_worker *w, sy_http_req *req, const sy_key_cfg *key,
                             sy_buf *rewritten)
{
    sy_chat chat;
    sy_buf body;
    sy_buf_init(&body);
    if (rewritten) body = *rewritten, sy_buf_init(rewritten); /* the call owns it from here */
    if (parse_chat(req, &chat, body.data, body.len) != 0) {
        sy_buf_free(&body);
        return NULL;
    }
    sy_call *c = call_new(w, req);
    if (!c) {
        sy_chat_free(&chat);
        sy_buf_free(&body);
        respond_error(req, 500, "out of memory", NULL, NULL);
        return NULL;
    }
    c->in_body = body; /* chat reads it in place */
    c->anthropic = rewritten != NULL;
    c->chat = chat;
    c->stream = chat.streaming;
    c->key = key; /* authenticated by sy_gateway_handle */
    if (c->key) {
        c->tenant = c->key->tenant ? c->key->tenant : "";
        c->priority = c->key->priority;
    }
    /* the request's place in model queues (the key, when there is one, is known by now) */
    char perr[160];
    if (sy_adm_request_priority(sy_http_req_header(req, "x-switchyard-priority"), c->key,
                                &c->priority, perr, sizeof perr) != 0) {
        c->status = 400;
        respond_error(req, 400, perr, "x-switchyard-priority", "invalid_header");
        call_free(c);
        return NULL;
    }
    if (permitted_name(c, chat.model_name) != 0 || decide(c, chat.model_name) != 0 ||
        permitted_models(c) != 0) {
        call_free(c);
        return NULL;
    }
    return c;
}

/* 400 context_length_exceeded with the numbers, in the error object too. */
static void respond_too_long(sy_call *c, const sy_fit *f, const char *why)
{
    char msg[700];
    const char *est = f->estimate ? " (estimated: its tokenizer is unknown)" : "";
    int n = snprintf(msg, sizeof msg,
                     "This request needs %ld tokens (%ld prompt%s + %ld output) but the largest "
                     "context window among its models is %lld tokens (%s). ",
                     f->need, f->prompt, est, f->output, (long long)f->model->context_window,
                     f->model->id);
    if (n > 0 && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n, "%s",
                 why ? why
                     : "Shorten the messages, lower max_tokens, or give the route a truncate "
                       "strategy (drop_oldest, middle_out).");
    sy_buf b;
    sy_buf_init(&b);
    sy_error_body(&b, msg, "invalid_request_error", "messages", "context_length_exceeded");
    if (b.len >= 2) { /* the numbers for programs: inside the error object */
        b.len -= 2;
        sy_buf_printf(&b, ",\"prompt_tokens\":%ld,\"output_tokens\":%ld,\"context_window\":%lld,"
                          "\"tokens_estimated\":%s,\"largest_model\":",
                      f->prompt, f->output, (long long)f->model->context_window,
                      f->estimate ? "true" : "false");
        sy_buf_json_str(&b, f->model->id);
        sy_buf_puts(&b, "}}");
    }
    add_routing_headers(c, NULL);
    c->status = 400;
    client_error(c->req, 400, b.data, b.len);
    sy_buf_free(&b);
}

/* Leaves out of the chain the models whose context window the request does not fit; when
 * none fits, truncates the request (if the route asks for it) or answers 400. Returns 0 to
 * go on, -1 when the request has been answered. */
static int fit_context(sy_call *c)
{
    sy_decision orig = c->dec;
    sy_fit miss = {0};
    sy_buf skipped;
    sy_buf_init(&skipped);
    int kept = sy_fit_chain(&c->chat, &c->dec, &skipped, &miss);
    if (skipped.len) c->skipped = sy_buf_steal(&skipped);
    sy_buf_free(&skipped);
    if (kept > 0) return 0;

    char why[400] = "";
    if (c->route && c->route->truncate) {
        sy_chat nc;
        sy_chat_error perr;
        if (sy_truncate(&c->chat, miss.model, c->route->truncate, &c->body2, c->truncation,
                        sizeof c->truncation, why, sizeof why) == 0 &&
            sy_chat_parse(&nc, c->body2.data, c->body2.len, &perr) == 0) {
            sy_chat_free(&c->chat);
            c->chat = nc;
            c->dec = orig;
            free(c->skipped);
            c->skipped = NULL;
            sy_buf_init(&skipped);
            sy_fit none = {0};
            kept = sy_fit_chain(&c->chat, &c->dec, &skipped, &none);
            if (skipped.len) c->skipped = sy_buf_steal(&skipped);
            sy_buf_free(&skipped);
            if (kept > 0) return 0;
            snprintf(why, sizeof why, "truncation did not make it fit");
        }
        c->truncation[0] = '\0';
    }
    respond_too_long(c, &miss, why[0] ? why : NULL);
    call_free(c);
    return -1;
}

/* ============================================================ response cache */

/* Whether the request's Cache-Control header holds directive (as a whole, any case). */
static int cache_control_has(sy_http_req *req, const char *directive)
{
    const char *p = sy_http_req_header(req, "cache-control");
    size_t n = strlen(directive);
    while (p && *p) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ","), t = len;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t')) t--;
        if (t == n && strncasecmp(p, directive, n) == 0) return 1;
        p += len;
    }
    return 0;
}

/* A complete answer that went out: kept, when the request may be stored and the answer
 * passed its checks (an answer let through marked schema-invalid is not). */
/* SET's answer: counted as a store when Redis took it. */
static void on_rc_set(struct redisReply *reply, void *ud)
{
    if (reply && reply->type == REDIS_REPLY_STATUS) sy_cache_count(ud, SY_CACHE_STORE);
}

static void cache_store(sy_call *c, const sy_model *m, const char *json, size_t len)
{
    if (!c->rc_store || !m || strncmp(c->schema_hdr, "invalid", 7) == 0) return;
    c->rc_store = 0;
    const sy_route *r = c->route;
    if (r->cache.redis) { /* sent and forgotten: a Redis that is down only costs the entry */
        char key[SY_CACHE_RKEY_LEN];
        sy_buf v;
        sy_buf_init(&v);
        sy_cache_redis_key(c->rc_key, key);
        sy_cache_encode(m->id, json, len, sy_wall_ms(), &v);
        if (r->cache.ttl_s > 0)
            sy_redis_command(c->w->redis, on_rc_set, c->w->eng->cache, "SET %s %b PX %lld", key,
                             v.data, v.len, (long long)r->cache.ttl_s * 1000);
        else
            sy_redis_command(c->w->redis, on_rc_set, c->w->eng->cache, "SET %s %b", key, v.data,
                             v.len);
        sy_buf_free(&v);
        return;
    }
    sy_cache_put(c->w->eng->cache, c->gen, c->rc_key, r->name, r->cache.max_bytes,
                 (int64_t)r->cache.ttl_s * 1000, m->id, json, len);
}

/* A stored answer to the client: as a chat completion, an Anthropic message, or replayed as
 * a stream of either. 0 when it was sent (the caller frees the call). */
static int serve_cached(sy_call *c, const sy_model *m, const sy_cache_hit *hit)
{
    cJSON *chunks = NULL;
    if (c->stream && !(chunks = sy_cache_replay_chunks(hit->body, hit->len, c->chat.client_usage)))
        return -1;
    char age[32];
    snprintf(age, sizeof age, "%lld", (long long)(hit->age_ms / 1000));
    c->rc_state = RC_HIT;
    c->rc_store = 0;
    sy_http_add_header(c->req, "x-switchyard-cache", "hit");
    sy_http_add_header(c->req, "age", age);
    if (chunks) {
        commit_stream(c, m);
        cJSON *chunk;
        while ((chunk = cJSON_DetachItemFromArray(chunks, 0))) send_chunk(c, m, chunk);
        cJSON_Delete(chunks);
        stream_finish(c);
    } else {
        add_routing_headers(c, m);
        c->status = 200;
        respond_ok(c, m, hit->body, hit->len);
    }
    return 0;
}

static void cache_missed(sy_call *c)
{
    c->rc_state = RC_MISS;
    sy_http_add_header(c->req, "x-switchyard-cache", "miss");
}

/* GET's answer: the stored answer goes out, or (a miss, an error, Redis down or too slow)
 * the request goes on to the upstreams. */
static void on_rc_get(struct redisReply *reply, void *ud)
{
    rc_wait *wt = ud;
    sy_call *c = wt->c;
    free(wt);
    if (!c) return;
    c->rc_wait = NULL;
    sy_cache *cache = c->w->eng->cache;
    sy_cache_hit hit = {0};
    const sy_model *m;
    if (reply && reply->type == REDIS_REPLY_STRING &&
        sy_cache_decode(reply->str, reply->len, sy_wall_ms(), &hit) == 0 &&
        (m = sy_config_model(c->cfg, hit.model)) && serve_cached(c, m, &hit) == 0) {
        sy_cache_count(cache, SY_CACHE_HIT);
        free(hit.body);
        call_free(c);
        return;
    }
    free(hit.body);
    sy_cache_count(cache, SY_CACHE_MISS);
    cache_missed(c);
    start_next(c);
}

/* The request against its route's response cache, once it is decided and checked. 1 when a
 * stored answer was sent (the call is freed), 0 to go on to the upstreams. Streams bypass the
 * cache unless the route replays; Cache-Control: no-cache skips the lookup, no-store the
 * store. */
static int cache_lookup(sy_call *c)
{
    const sy_route *r = c->route;
    sy_cache *cache = c->w->eng->cache;
    if (!r || !r->cache.enabled || !cache) return 0;
    int streams_ok = !c->stream || r->cache.stream_replay;
    int keyed = streams_ok && sy_cache_request_key(c->chat.text, c->chat.len, c->tenant, r->name,
                                                   &c->dec, c->rc_key) == 0;
    c->rc_store = keyed && !cache_control_has(c->req, "no-store");
    if (!keyed || cache_control_has(c->req, "no-cache")) { /* no-cache still refreshes it */
        c->rc_state = RC_BYPASS;
        sy_cache_count_bypass(cache);
        sy_http_add_header(c->req, "x-switchyard-cache", "bypass");
        return 0;
    }
    if (r->cache.redis) { /* 1: the answer of GET carries the request on */
        rc_wait *wt = calloc(1, sizeof *wt);
        char key[SY_CACHE_RKEY_LEN];
        sy_cache_redis_key(c->rc_key, key);
        if (wt && sy_redis_command(c->w->redis, on_rc_get, wt, "GET %s", key) == 0) {
            wt->c = c;
            c->rc_wait = wt;
            return 1;
        }
        free(wt); /* Redis is down: a miss, and the store will not happen either */
        sy_cache_count(cache, SY_CACHE_MISS);
        cache_missed(c);
        return 0;
    }
    sy_cache_hit hit;
    const sy_model *m;
    if (sy_cache_get(cache, c->gen, c->rc_key, &hit) && (m = sy_config_model(c->cfg, hit.model)) &&
        serve_cached(c, m, &hit) == 0) {
        sy_cache_count(cache, SY_CACHE_HIT); /* counted once served, as from Redis */
        free(hit.body);
        call_free(c);
        return 1;
    }
    free(hit.body);
    sy_cache_count(cache, SY_CACHE_MISS);
    cache_missed(c);
    return 0;
}

static void chat_completions(sy_worker *w, sy_http_req *req, const sy_key_cfg *key,
                             sy_buf *rewritten)
{
    sy_call *c = call_decided(w, req, key, rewritten);
    if (!c) return;
    const char *tmo = sy_http_req_header(req, "x-switchyard-timeout-ms");
    if (tmo) {
        char *end;
        long v = strtol(tmo, &end, 10);
        if (end == tmo || *end || v < 1 || v > 86400000) {
            add_routing_headers(c, NULL);
            c->status = 400;
            respond_error(req, 400, "x-switchyard-timeout-ms must be a whole number of milliseconds "
                                    "from 1 to 86400000",
                          "x-switchyard-timeout-ms", "invalid_header");
            call_free(c);
            return;
        }
        c->client_deadline_ms = (int)v;
    }
    atomic_fetch_add_explicit(&w->met->inflight, 1, memory_order_relaxed);
    c->counted = 1;
    /* savings are counted against the route's reference model: configured, else the most
     * expensive model of the decision */
    c->reference = c->route ? c->route->reference : NULL;
    if (!c->reference) c->reference = c->dec.models[0];
    for (int i = 1; c->route && !c->route->reference && i < c->dec.n; i++) {
        const sy_model *m = c->dec.models[i];
        if (m->price_in + m->price_out > c->reference->price_in + c->reference->price_out)
            c->reference = m;
    }
    if (fit_context(c) != 0) return;
    c->last_retry_after_ms = -1;
    char err[600], param[80] = "";
    if (sy_enforce_prepare(&c->enf, &c->chat, w->schemas, err, sizeof err, param, sizeof param) != 0) {
        add_routing_headers(c, NULL);
        c->status = 400;
        respond_error(req, 400, err, param[0] ? param : NULL, "invalid_schema");
        call_free(c);
        return;
    }
    /* streams whose answer must be checked whole are held until it is */
    c->hold_all = c->stream && (c->enf.schema || c->enf.json_object || c->enf.require_call ||
                                c->dec.kind == SY_DEC_CASCADE ||
                                (c->route && c->route->stream_buffer));
    sy_http_req_set_abort_cb(req, on_client_abort, c);
    if (sy_limits_apply(c->key)) {
        long tokens;
        double usd;
        sy_lim_verdict v;
        /* in the process: the byte bound first, counted exactly only when the bound does not
         * fit (near a limit); with Redis the round trip costs more than counting */
        int exact = w->redis != NULL;
        reservation_size(c, exact, &tokens, &usd);
        int pend = sy_limits_admit(w->eng, w, c->key, tokens, usd, exact, &c->lim, &v,
                                   on_limits_admitted, c);
        if (!pend && !v.ok && !c->lim_prompt_exact && v.sized) {
            reservation_size(c, 1, &tokens, &usd);
            pend = sy_limits_admit(w->eng, w, c->key, tokens, usd, 1, &c->lim, &v,
                                   on_limits_admitted, c);
        }
        if (pend) {
            c->lim_wait = 1;
            return;
        }
        if (!v.ok) {
            limit_refused(c, &v);
            call_free(c);
            return;
        }
    }
    proceed(c);
}

/* The request is admitted: its deadline runs from here, and its first attempt starts. */
static void proceed(sy_call *c)
{
    sy_worker *w = c->w;
    c->deadline = evtimer_new(w->base, on_deadline, c);
    if (c->deadline) {
        int ms = c->cfg->request_timeout_ms;
        if (c->dec.deadline_ms > 0 && c->dec.deadline_ms < ms) ms = c->dec.deadline_ms;
        if (c->client_deadline_ms > 0 && c->client_deadline_ms < ms) ms = c->client_deadline_ms;
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(c->deadline, &tv);
        c->deadline_ns = sy_now_ns() + (uint64_t)ms * 1000000u;
    }
    if (cache_lookup(c)) return;
    start_next(c);
}

/* POST /v1/route: the decision for a request, without calling any upstream. */
static void route_only(sy_worker *w, sy_http_req *req, const sy_key_cfg *key)
{
    sy_call *c = call_decided(w, req, key, NULL);
    if (!c) return;
    sy_buf out;
    sy_buf_init(&out);
    sy_decision_json(&out, c->route, c->route ? c->policy_id : NULL, &c->dec, &c->chat);
    if (strstr(sy_http_req_query(req), "explain=1") || strstr(sy_http_req_query(req), "explain=true"))
        sy_decision_explain(&out, c->cfg, &c->chat, &c->dec);
    sy_http_respond(req, 200, "application/json", out.data, out.len);
    sy_buf_free(&out);
    call_free(c);
}

char *sy_gateway_models_json(const sy_config *cfg, size_t *len)
{
    sy_buf b;
    sy_buf_init(&b);
    sy_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i < cfg->nmodels; i++) {
        const sy_model *m = &cfg->models[i];
        sy_buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        sy_buf_json_str(&b, m->id);
        sy_buf_puts(&b, ",\"object\":\"model\",\"created\":0,\"owned_by\":");
        sy_buf_json_str(&b, m->provider->id);
        sy_buf_printf(&b, ",\"switchyard\":{\"kind\":\"model\",\"upstream\":");
        sy_buf_json_str(&b, m->upstream);
        sy_buf_printf(&b, ",\"price_per_1k\":{\"input\":%.10g,\"output\":%.10g},"
                          "\"context_window\":%lld,\"max_output\":%lld,\"capabilities\":[",
                      m->price_in, m->price_out, (long long)m->context_window,
                      (long long)m->max_output);
        static const char *const caps[] = {"json", "tools", "vision", "stream"};
        int first = 1;
        for (int k = 0; k < 4; k++) {
            if (!((m->caps >> k) & 1)) continue;
            sy_buf_printf(&b, "%s\"%s\"", first ? "" : ",", caps[k]);
            first = 0;
        }
        sy_buf_puts(&b, "],\"tokenizer\":");
        sy_buf_json_str(&b, m->tokenizer);
        sy_buf_printf(&b, ",\"latency_ms\":{\"p50\":%.10g,\"p95\":%.10g},\"tags\":[", m->lat_p50_ms,
                      m->lat_p95_ms);
        for (int t = 0; t < m->ntags; t++) {
            if (t) sy_buf_puts(&b, ",");
            sy_buf_json_str(&b, m->tags[t]);
        }
        sy_buf_puts(&b, "]}}");
    }
    for (int i = 0; i < cfg->nroutes; i++) {
        const sy_route *r = &cfg->routes[i];
        sy_buf_puts(&b, (cfg->nmodels || i) ? ",{\"id\":" : "{\"id\":");
        sy_buf_json_str(&b, r->name);
        sy_buf_puts(&b, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"switchyard\","
                        "\"switchyard\":{\"kind\":\"route\",\"policy\":");
        const char *slash = strrchr(r->policy_path, '/');
        sy_buf_json_str(&b, slash ? slash + 1 : r->policy_path);
        sy_buf_puts(&b, ",\"default\":");
        sy_buf_json_str(&b, r->default_model->id);
        sy_buf_puts(&b, "}}");
    }
    sy_buf_puts(&b, "]}");
    *len = b.len;
    return sy_buf_steal(&b);
}

/* Compares without an early exit, so the time taken says nothing about the token. */
static int token_eq(const char *given, const char *want)
{
    size_t n = strlen(want), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(want[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

/* Whether the request carries the admin token; answers 401 and returns 0 when not. */
static int admin_ok(sy_worker *w, sy_http_req *req)
{
    const char *auth = sy_http_req_header(req, "authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0 && token_eq(auth + 7, w->cfg->admin_token))
        return 1;
    sy_http_add_header(req, "www-authenticate", "Bearer");
    respond_error(req, 401, "a valid admin token is required (Authorization: Bearer ...)", NULL,
                  "invalid_admin_token");
    return 0;
}

/* GET /admin/models: every model's live stats and circuit breaker, shared by all workers. */
static void admin_models(sy_worker *w, sy_http_req *req)
{
    if (!admin_ok(w, req)) return;
    sy_buf b;
    sy_buf_init(&b);
    int64_t now = sy_wall_ms();
    sy_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i < w->cfg->nmodels; i++) {
        const sy_model *m = &w->cfg->models[i];
        sy_live *lv = m->live;
        sy_buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        sy_buf_json_str(&b, m->id);
        if (!lv) {
            sy_buf_puts(&b, "}");
            continue;
        }
        int st = atomic_load(&lv->br_state);
        int64_t left = atomic_load(&lv->br_until_ms) - now;
        sy_buf_printf(&b,
                      ",\"inflight\":%d,\"started\":%llu,\"attempts\":%llu,\"failures\":%llu,\"latency_ms\":%.3f,"
                      "\"ttft_ms\":%.3f,\"error_rate\":%.4f,\"breaker\":{\"enabled\":%s,"
                      "\"state\":\"%s\",\"window_attempts\":%u,\"window_failures\":%u,"
                      "\"opened\":%llu,\"open_for_ms\":%lld}",
                      atomic_load(&lv->inflight), (unsigned long long)atomic_load(&lv->started),
                      (unsigned long long)atomic_load(&lv->attempts),
                      (unsigned long long)atomic_load(&lv->failures),
                      sy_live_get(&lv->ewma_latency_ms), sy_live_get(&lv->ewma_ttft_ms),
                      sy_live_get(&lv->ewma_error), m->breaker.enabled ? "true" : "false",
                      sy_breaker_state_name(st), atomic_load(&lv->br_total),
                      atomic_load(&lv->br_failed), (unsigned long long)atomic_load(&lv->br_opened),
                      (long long)(st == SY_BREAKER_OPEN && left > 0 ? left : 0));
        int adm_in = 0, adm_q = 0; /* its concurrency limit, shared by every worker */
        sy_adm_counts(w->eng->adm, (int)(lv - w->eng->live), &adm_in, &adm_q);
        if (m->concurrency > 0)
            sy_buf_printf(&b, ",\"concurrency\":{\"limit\":%d,\"inflight\":%d,\"queued\":%d,"
                              "\"queue_max\":%d,\"queue_timeout_ms\":%d}}",
                          m->concurrency, adm_in, adm_q, m->queue_max, m->queue_timeout_ms);
        else
            sy_buf_puts(&b, ",\"concurrency\":null}");
    }
    sy_buf_puts(&b, "]}");
    sy_http_respond(req, 200, "application/json", b.data, b.len);
    sy_buf_free(&b);
}

/* POST /admin/reload: reload now, answer with the outcome. Runs on this worker's thread (a
 * reload compiles the policies: a few milliseconds during which this worker waits). */
static void admin_reload(sy_worker *w, sy_http_req *req)
{
    if (!admin_ok(w, req)) return;
    sy_buf msg;
    sy_buf_init(&msg);
    if (sy_engine_reload_into(w->eng, &msg) == SY_OK) {
        sy_http_respond(req, 200, "application/json", msg.data, msg.len);
    } else {
        char head[] = "reload refused, the running config stays:\n";
        sy_buf full;
        sy_buf_init(&full);
        sy_buf_puts(&full, head);
        sy_buf_puts(&full, msg.data ? msg.data : "");
        respond_error(req, 422, full.data, NULL, "reload_failed");
        sy_buf_free(&full);
    }
    sy_buf_free(&msg);
    sy_worker_refresh(w); /* this worker's next request already runs on it */
}

/* POST /v1/messages: an Anthropic Messages request, rewritten into the internal Chat
 * Completions shape, then routed and executed exactly as /v1/chat/completions; the answer
 * goes back as a Message (or its event stream). No key is checked yet: x-api-key and
 * Authorization are both accepted and ignored. */
static void messages(sy_worker *w, sy_http_req *req, const sy_key_cfg *key)
{
    size_t len;
    const char *body = sy_http_req_body(req, &len);
    sy_buf chat;
    sy_buf_init(&chat);
    char err[300], param[64];
    if (sy_msg_request_to_chat(body, len, &chat, err, sizeof err, param, sizeof param) != 0) {
        sy_buf_free(&chat);
        respond_error(req, 400, err, param[0] ? param : NULL, "invalid_request");
        return;
    }
    chat_completions(w, req, key, &chat);
    sy_buf_free(&chat);
}

/* Answers 200 with item as JSON text (500 when out of memory). */
static void respond_json_item(sy_http_req *req, const cJSON *item)
{
    char *out = item ? cJSON_PrintUnformatted(item) : NULL;
    if (out)
        sy_http_respond(req, 200, "application/json", out, strlen(out));
    else
        respond_error(req, 500, "out of memory", NULL, NULL);
    free(out);
}

/* GET /v1/models: everything, or for a key with routes or models lists only what it may use. */
static void models_list(sy_worker *w, sy_http_req *req, const sy_key_cfg *k)
{
    if (!k || (!k->routes && !k->models)) {
        sy_http_respond(req, 200, "application/json", w->models_json, w->models_len);
        return;
    }
    cJSON *list = cJSON_ParseWithLength(w->models_json, w->models_len);
    cJSON *data = cJSON_GetObjectItemCaseSensitive(list, "data");
    for (int i = cJSON_GetArraySize(data) - 1; i >= 0; i--) {
        const char *mid = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, i), "id"));
        if (!mid || !sy_key_may_use(k, w->cfg, mid)) cJSON_DeleteItemFromArray(data, i);
    }
    respond_json_item(req, list);
    cJSON_Delete(list);
}

/* GET /v1/models/{id}: one entry of the models list (a model or a route). */
static void model_one(sy_worker *w, sy_http_req *req, const sy_key_cfg *key, const char *id)
{
    cJSON *list = cJSON_ParseWithLength(w->models_json, w->models_len);
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(list, "data"))
    {
        const char *mid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "id"));
        if (mid && strcmp(mid, id) == 0 && sy_key_may_use(key, w->cfg, mid)) {
            respond_json_item(req, m);
            cJSON_Delete(list);
            return;
        }
    }
    cJSON_Delete(list);
    char msg[300];
    snprintf(msg, sizeof msg, "The model '%.200s' does not exist (see GET /v1/models)", id);
    respond_error(req, 404, msg, "model", "model_not_found");
}

void sy_gateway_handle(sy_http_req *req, void *ud)
{
    sy_worker *w = ud;
    sy_worker_refresh(w); /* one atomic load unless a reload was published */
    const char *method = sy_http_req_method(req);
    const char *path = sy_http_req_path(req);
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    /* the API needs a key when the config declares keys (before the body is even read) */
    const sy_key_cfg *key = NULL;
    if (w->cfg->nkeys && (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/chat/completions") == 0 ||
                          strcmp(path, "/messages") == 0 || strcmp(path, "/models") == 0) &&
        authenticate(w, req, &key) != 0)
        return;

    if (strcmp(path, "/v1/chat/completions") == 0 || strcmp(path, "/chat/completions") == 0) {
        if (post) {
            chat_completions(w, req, key, NULL);
            return;
        }
    } else if (strcmp(path, "/v1/messages") == 0 || strcmp(path, "/messages") == 0) {
        if (post) {
            messages(w, req, key);
            return;
        }
    } else if (strcmp(path, "/v1/models") == 0 || strcmp(path, "/models") == 0) {
        if (get) {
            models_list(w, req, key);
            return;
        }
    } else if (strncmp(path, "/v1/models/", 11) == 0 && path[11]) {
        if (get) {
            model_one(w, req, key, path + 11);
            return;
        }
    } else if (strcmp(path, "/v1/route") == 0) {
        if (post) {
            route_only(w, req, key);
            return;
        }
    } else if (strcmp(path, "/admin/reload") == 0 && w->cfg->admin_token) {
        if (post) {
            admin_reload(w, req);
            return;
        }
    } else if (strcmp(path, "/admin/models") == 0 && w->cfg->admin_token) {
        if (get) {
            admin_models(w, req);
            return;
        }
    } else if (strcmp(path, "/metrics") == 0) {
        if (get) {
            sy_buf b;
            sy_buf_init(&b);
            sy_metrics_render(w->eng, &b);
            sy_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
            sy_buf_free(&b);
            return;
        }
    } else if (strcmp(path, "/healthz") == 0) {
        if (get) {
            char b[128];
            int n = snprintf(b, sizeof b, "{\"status\":\"ok\",\"worker\":%d,\"workers\":%d}",
                             w->index, w->eng->nworkers);
            sy_http_respond(req, 200, "application/json", b, (size_t)n);
            return;
        }
    } else {
        char msg[300];
        snprintf(msg, sizeof msg, "Unknown path %.200s", path);
        respond_error(req, 404, msg, NULL, "not_found");
        return;
    }
    char msg[300];
    snprintf(msg, sizeof msg, "Method %.16s is not allowed on %.200s", method, path);
    sy_http_add_header(req, "allow", post ? "GET, HEAD" : "POST");
    respond_error(req, 405, msg, NULL, "method_not_allowed");
}
