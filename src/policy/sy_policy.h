/* sy_policy.h — the Lua policy engine: one LuaJIT VM per worker holding every route's
 * policy, a sandbox built from an allow list, a time budget per call, and the decision a
 * policy returns. Implemented in sy_policy.c (VM, sandbox, calls) and sy_policy_api.c (the
 * `switchyard` Lua module and the lazy request view). Never calls curl. */
#ifndef SY_POLICY_H
#define SY_POLICY_H

#include "core/sy_chat.h"
#include "registry/sy_config.h"

#define SY_MAX_CHAIN 8

enum { SY_DEC_PICK = 1, SY_DEC_CHAIN = 2, SY_DEC_CASCADE = 3, SY_DEC_HEDGE = 4 };

typedef struct sy_decision {
    int kind;                            /* SY_DEC_* */
    int n;                               /* models in the chain (>= 1) */
    const sy_model *models[SY_MAX_CHAIN];
    char reason[256];
    /* constraints the policy attached (require = {...}, max_cost =, deadline_ms =); models
     * that break them were dropped from the chain, named in `dropped` */
    unsigned require_caps;               /* SY_CAP_* */
    double max_cost;                     /* USD for this request, 0 = none */
    int deadline_ms;                     /* 0 = none */
    int retries;                         /* retries of a model before the next, -1 = the
                                            route's */
    int after_ms;                        /* hedge: start the second model after this long
                                            without a first token; 0 = from live stats */
    int has_priority;                    /* the policy gave priority = 0..9 (or low, normal, high) */
    int priority;                        /* SY_PRIO_*: the request's place in model queues */
    char dropped[256];
    int policy_failed;                   /* 1: the route's default model was used */
    char error[512];                     /* why, when policy_failed */
    double eval_us;                      /* time spent in the policy */
    int no_cache;                        /* `cache = false`: not for the decision cache */
    int cached;                          /* it came from the decision cache, not the policy */
} sy_decision;

/* What a policy may see of a request. Everything is converted to Lua lazily, on first read.
 * The pointers are borrowed for the duration of sy_policy_route(). */
typedef struct sy_request_view {
    const sy_chat *chat;                 /* the validated Chat Completions request */
    const char *model;                   /* the requested model/route name */
    const char *const *meta_headers;     /* name, value pairs: x-switchyard-* with the prefix
                                            removed, lower case */
    int nmeta;
    const sy_key_cfg *key;               /* the client's key, NULL without keys */
    /* fills what is left of each limit (rpm, tpm, usd_day, usd_month; the tighter of key
     * and team; -1 = no limit); called only when a policy reads req.key. NULL: none */
    void (*remaining)(const void *ud, double out[4]);
    const void *remaining_ud;
    const int *priority;                 /* req.priority: from the key or header (0..9), NULL
                                            when unknown (req.priority reads nil) */
} sy_request_view;

typedef struct sy_policy_vm sy_policy_vm;

/* Creates a VM for cfg (a reference is taken) and compiles every route's policy. On
 * failure returns SY_ECONFIG with "file:line: route[name].policy: message" lines in diag. */
int sy_policy_vm_new(sy_policy_vm **out, sy_config *cfg, sy_buf *diag);
void sy_policy_vm_free(sy_policy_vm *vm);
const sy_config *sy_policy_vm_config(const sy_policy_vm *vm);
/* "name@hash" of a route's policy. */
const char *sy_policy_id(const sy_policy_vm *vm, const sy_route *r);

/* Runs every policy's own `tests` table ({ {request = {...} or "json", expect = "model"},
 * ...}); a failing test adds "file:line: route[name].policy: self-test N: ..." to diag.
 * Returns SY_OK or SY_ECONFIG. */
int sy_policy_vm_selftest(sy_policy_vm *vm, sy_buf *diag);

/* Runs r's policy on req. Always fills *out with a usable decision: if the policy errors,
 * overruns its budget or returns garbage, the route's default model is used, out->
 * policy_failed is set and the error is logged. Returns SY_OK or SY_EPOLICY. */
int sy_policy_route(sy_policy_vm *vm, const sy_route *r, const sy_request_view *req,
                    sy_decision *out);

/* Runs r's shadow policy (route.shadow) on req: the decision it would have made, for the
 * routing-result log only. SY_ENOTFOUND when the route has none; SY_EPOLICY with
 * out->policy_failed and out->error when it fails (no default is substituted, nothing is
 * logged). */
int sy_policy_shadow(sy_policy_vm *vm, const sy_route *r, const sy_request_view *req,
                     sy_decision *out);
/* "name@hash" of r's shadow policy, or NULL. */
const char *sy_policy_shadow_id(const sy_policy_vm *vm, const sy_route *r);

/* The routing-decision cache's key for req: r's policy's optional cache_key(req, ctx, conf)
 * (ctx = {route}), a string or number of at most 512 bytes. 1 with the key in out, 0 when
 * the policy has no cache_key or it returned nil or false, -1 when it failed, overran the
 * route's budget or returned something else (logged, without the key). */
int sy_policy_cache_key(sy_policy_vm *vm, const sy_route *r, const sy_request_view *req,
                        char *out, size_t outlen);

/* A cascade step's answer through the policy's optional accept(res, ctx) hook: res = {model,
 * content, finish_reason, confidence (exp of the mean token logprob, when the upstream sent
 * logprobs)}, ctx = {route}. Returns 1 (accepted, or no hook), 0 (rejected: why says why:
 * the hook's second return value, or "rejected by accept()"), or 1 with a logged warning
 * when the hook fails or overruns the route's budget. */
int sy_policy_accept(sy_policy_vm *vm, const sy_route *r, const char *model, const char *content,
                     const char *finish_reason, double confidence, char *why, size_t whylen);

#endif
