/* sy_provider.c — dispatch from a model's provider kind to its adapter (sy_provider.h). */
#include "providers/sy_provider.h"

#include <stdlib.h>

#include "core/sy_json.h"

int sy_provider_start(sy_attempt *a)
{
    a->priv = NULL;
    a->retry_after_ms = -1;
    switch (a->model->provider->kind) {
    case SY_PROV_OPENAI: return sy_prov_openai_start(a);
    case SY_PROV_ANTHROPIC: return sy_prov_anthropic_start(a);
    case SY_PROV_SIM: return sy_prov_sim_start(a);
    default: return SY_EINVAL;
    }
}

void sy_provider_cancel(sy_attempt *a)
{
    if (!a->priv) return;
    switch (a->model->provider->kind) {
    case SY_PROV_OPENAI: sy_prov_openai_cancel(a); break;
    case SY_PROV_ANTHROPIC: sy_prov_anthropic_cancel(a); break;
    case SY_PROV_SIM: sy_prov_sim_cancel(a); break;
    default: break;
    }
}

const char *sy_outcome_name(int outcome)
{
    switch (outcome) {
    case SY_OUT_OK: return "ok";
    case SY_OUT_HTTP: return "http";
    case SY_OUT_TIMEOUT: return "timeout";
    case SY_OUT_CONNECT: return "connect";
    case SY_OUT_RESET: return "reset";
    case SY_OUT_INVALID: return "invalid";
    case SY_OUT_SCHEMA: return "schema_invalid";
    case SY_OUT_BREAKER: return "circuit_open";
    case SY_OUT_HEDGE_LOST: return "hedge_lost";
    case SY_OUT_REJECTED: return "not_accepted";
    case SY_OUT_QUEUE_FULL: return "queue_full";
    case SY_OUT_QUEUE_TIMEOUT: return "queue_timeout";
    default: return "error";
    }
}

int sy_answer_take(sy_answer *ans, char *text, size_t len)
{
    sy_json_top top;
    sy_json_member choices, model;
    if (!text || sy_json_scan(text, len, NULL, 0, &top, NULL) != 0 || top.type != 'o') return -1;
    /* walk every member: "choices" or "model" may come after any number of others */
    if (!sy_json_get(text, top.start, top.end - top.start, "choices", &choices) ||
        choices.type != 'a')
        return -1;
    int has_model = sy_json_get(text, top.start, top.end - top.start, "model", &model);
    ans->json = text;
    ans->len = len;
    ans->model_off = has_model ? (long)model.val_off : -1;
    ans->model_len = has_model ? (long)model.val_len : 0;
    /* what the answer was billed, found in the same walk: nobody scans it again */
    sy_json_member usage, n;
    ans->usage_in = ans->usage_out = 0;
    if (sy_json_get(text, top.start, top.end - top.start, "usage", &usage) && usage.type == 'o') {
        if (sy_json_get(text, usage.val_off, usage.val_len, "prompt_tokens", &n) && n.type == 'n')
            ans->usage_in = sy_json_number(text, n.val_off, n.val_len);
        if (sy_json_get(text, usage.val_off, usage.val_len, "completion_tokens", &n) && n.type == 'n')
            ans->usage_out = sy_json_number(text, n.val_off, n.val_len);
    }
    return 0;
}
