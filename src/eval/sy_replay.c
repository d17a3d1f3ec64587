/* sy_replay.c — `switchyard replay`: a candidate policy over a routing-result log
 * (server.request_log). Each logged request is rebuilt from what the log kept — its messages
 * when server.log_content was on, else an empty prompt that counts as the logged prompt
 * tokens, with the client's metadata and max_tokens — and routed again; the report is the
 * counterfactual: which decisions change and how, the estimated cost difference, and the
 * context-window violations the candidate avoids or causes. Nothing is sent anywhere. */
#include "eval/sy_eval.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sy_engine_int.h"
#include "policy/sy_policy.h"
#include "registry/sy_config.h"
#include "tokens/sy_tokens.h"

#define MAX_PAIRS 64

typedef struct rp_pair {
    char from[128], to[128];
    long n;
} rp_pair;

typedef struct rp_stats {
    long lines, replayed, other_route, unrouted, with_text, changed, policy_failed;
    long orig_violations, cand_violations, avoided, caused;
    double logged_cost, orig_est, cand_est;
    rp_pair pairs[MAX_PAIRS];
    int npairs;
    long pairs_other;
    char first_error[600];
} rp_stats;

static void count_pair(rp_stats *st, const char *from, const char *to)
{
    for (int i = 0; i < st->npairs; i++)
        if (strcmp(st->pairs[i].from, from) == 0 && strcmp(st->pairs[i].to, to) == 0) {
            st->pairs[i].n++;
            return;
        }
    if (st->npairs == MAX_PAIRS) {
        st->pairs_other++;
        return;
    }
    rp_pair *p = &st->pairs[st->npairs++];
    snprintf(p->from, sizeof p->from, "%s", from);
    snprintf(p->to, sizeof p->to, "%s", to);
    p->n = 1;
}

static int cmp_pair(const void *a, const void *b)
{
    const rp_pair *p = a, *q = b;
    return q->n > p->n ? 1 : q->n < p->n ? -1 : strcmp(p->from, q->from);
}

/* Whether m fits the logged request: prompt tokens + max_tokens (or its output reserve). */
static int fits(const sy_model *m, long prompt, long max_tokens)
{
    long out = max_tokens >= 0 ? max_tokens : (long)m->output_reserve;
    return prompt + out <= m->context_window;
}

/* The request body the candidate sees, from a log line. */
static char *rebuild(const cJSON *line, const char *route, long max_tokens, int *with_text)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "model", route);
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(line, "messages");
    *with_text = cJSON_IsArray(msgs) && cJSON_GetArraySize(msgs) > 0;
    if (*with_text) {
        cJSON_AddItemToObject(req, "messages", cJSON_Duplicate(msgs, 1));
    } else {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", "");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(req, "messages"), m);
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(line, "request"), "meta");
    if (cJSON_IsObject(meta)) cJSON_AddItemToObject(req, "metadata", cJSON_Duplicate(meta, 1));
    if (max_tokens >= 0) cJSON_AddNumberToObject(req, "max_tokens", (double)max_tokens);
    char *s = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    return s;
}

/* Output tokens of the attempt that answered (what the answer cost to produce), else 0. */
static double answer_tokens(const cJSON *line, const char *model)
{
    const cJSON *a;
    double out = 0;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(line, "attempts"))
    {
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "model"));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(a, "tokens_out");
        if (m && model && strcmp(m, model) == 0 && cJSON_IsNumber(t)) out = t->valuedouble;
    }
    return out;
}

static double est_cost(const sy_model *m, double in, double out)
{
    return m ? (in * m->price_in + out * m->price_out) / 1000.0 : 0;
}

static int replay_line(const sy_replay_opts *o, sy_policy_vm *vm, const sy_config *cfg,
                       const sy_route *r, const cJSON *line, int lineno, rp_stats *st, FILE *dec_out)
{
    const char *route = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, "route"));
    if (!route) {
        st->unrouted++;
        return 0;
    }
    if (strcmp(route, r->name) != 0) {
        st->other_route++;
        return 0;
    }
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(line, "request");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(req, "prompt_tokens");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
    if (!cJSON_IsNumber(pt)) {
        st->unrouted++; /* a line from before request facts were logged */
        return 0;
    }
    long prompt = (long)pt->valuedouble, max_tokens = cJSON_IsNumber(mt) ? (long)mt->valuedouble : -1;
    int with_text;
    char *body = rebuild(line, r->name, max_tokens, &with_text);
    if (!body) return -1;
    sy_chat chat;
    sy_chat_error ce;
    if (sy_chat_parse(&chat, body, strlen(body), &ce) != 0) {
        sy_chat_free(&chat);
        free(body);
        st->unrouted++;
        return 0;
    }
    /* without the text, req.tokens is what the log counted */
    if (!with_text)
        for (int k = 0; k < 3; k++) chat.ntok[k] = prompt;
    sy_request_view view = {.chat = &chat, .model = r->name, .priority = SY_PRIO_NORMAL};
    sy_decision d;
    if (sy_policy_route(vm, r, &view, &d) != SY_OK) {
        st->policy_failed++;
        if (!st->first_error[0])
            snprintf(st->first_error, sizeof st->first_error, "%s:%d: %s", o->log, lineno, d.error);
    }
    sy_chat_free(&chat);
    free(body);
    st->replayed++;
    st->with_text += with_text;

    /* the original: its first choice, the model that answered, what it cost */
    const cJSON *decision = cJSON_GetObjectItemCaseSensitive(line, "decision");
    const char *orig = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(decision, "first_choice"));
    if (!orig) /* the first choice is the chain's head unless context windows skipped it */
        orig = cJSON_GetStringValue(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(decision, "chain"), 0));
    const char *answered = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, "model"));
    const cJSON *cost = cJSON_GetObjectItemCaseSensitive(line, "cost_usd");
    int orig_violation = cJSON_GetObjectItemCaseSensitive(line, "skipped") != NULL;
    const sy_model *om = orig ? sy_config_model(cfg, orig) : NULL;
    if (om && !fits(om, prompt, max_tokens)) orig_violation = 1;
    /* the candidate: its first choice, and the first that fits (what the executor would call) */
    const sy_model *cand = d.models[0], *runs = NULL;
    for (int i = 0; i < d.n && !runs; i++)
        if (fits(d.models[i], prompt, max_tokens)) runs = d.models[i];
    int cand_violation = runs != cand;
    double out_tokens = answer_tokens(line, answered ? answered : orig);
    const sy_model *am = answered ? sy_config_model(cfg, answered) : om;
    double oe = am ? est_cost(am, prompt, out_tokens) : (cJSON_IsNumber(cost) ? cost->valuedouble : 0);
    double ce2 = est_cost(runs, prompt, out_tokens);
    st->logged_cost += cJSON_IsNumber(cost) ? cost->valuedouble : 0;
    st->orig_est += oe;
    st->cand_est += ce2;
    st->orig_violations += orig_violation;
    st->cand_violations += cand_violation;
    st->avoided += orig_violation && !cand_violation;
    st->caused += !orig_violation && cand_violation;
    int changed = !orig || strcmp(orig, cand->id) != 0;
    st->changed += changed;
    count_pair(st, orig ? orig : "(none)", cand->id);
    if (dec_out) {
        sy_buf b;
        sy_buf_init(&b);
        const char *rid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, "request_id"));
        sy_buf_puts(&b, "{\"request_id\":");
        if (rid) sy_buf_json_str(&b, rid); else sy_buf_puts(&b, "null");
        sy_buf_puts(&b, ",\"original\":");
        if (orig) sy_buf_json_str(&b, orig); else sy_buf_puts(&b, "null");
        sy_buf_puts(&b, ",\"candidate\":");
        sy_buf_json_str(&b, cand->id);
        sy_buf_puts(&b, ",\"chain\":[");
        for (int i = 0; i < d.n; i++) {
            if (i) sy_buf_puts(&b, ",");
            sy_buf_json_str(&b, d.models[i]->id);
        }
        sy_buf_puts(&b, "],\"reason\":");
        sy_buf_json_str(&b, d.reason);
        sy_buf_printf(&b, ",\"changed\":%s,\"with_text\":%s,\"prompt_tokens\":%ld,"
                          "\"original_cost_est\":%.9g,\"candidate_cost_est\":%.9g",
                      changed ? "true" : "false", with_text ? "true" : "false", prompt, oe, ce2);
        if (cand_violation) sy_buf_puts(&b, ",\"context_violation\":true");
        if (d.policy_failed) sy_buf_puts(&b, ",\"policy_failed\":true");
        sy_buf_puts(&b, "}\n");
        fwrite(b.data, 1, b.len, dec_out);
        sy_buf_free(&b);
    }
    return 0;
}

static void report_text(const sy_replay_opts *o, const sy_route *r, const char *pid, rp_stats *st,
                        FILE *out)
{
    fprintf(out, "switchyard replay: candidate %s (route %s) on %s\n", pid, r->name, o->log);
    fprintf(out, "requests replayed: %ld of %ld lines", st->replayed, st->lines);
    if (st->other_route || st->unrouted)
        fprintf(out, " (left out: %ld of other routes, %ld not routed or without request facts)",
                st->other_route, st->unrouted);
    fprintf(out, "\n  with their text (server.log_content): %ld; the rest were routed on metadata "
                 "and token counts, with an empty prompt\n\n",
            st->with_text);
    fprintf(out, "decisions changed: %ld of %ld (%.1f%%)\n", st->changed, st->replayed,
            st->replayed ? 100.0 * st->changed / st->replayed : 0);
    qsort(st->pairs, (size_t)st->npairs, sizeof *st->pairs, cmp_pair);
    for (int i = 0; i < st->npairs; i++)
        fprintf(out, "  %-24s -> %-24s %6ld%s\n", st->pairs[i].from, st->pairs[i].to, st->pairs[i].n,
                strcmp(st->pairs[i].from, st->pairs[i].to) == 0 ? "  (unchanged)" : "");
    if (st->pairs_other) fprintf(out, "  (%ld more in other pairs)\n", st->pairs_other);
    double diff = st->cand_est - st->orig_est;
    fprintf(out, "\ncost (prompt tokens x input price + the logged answer's tokens x output price):\n"
                 "  logged        %.6f USD\n  original est. %.6f USD\n  candidate est. %.6f USD"
                 "  (%+.6f USD, %+.1f%%)\n",
            st->logged_cost, st->orig_est, st->cand_est, diff,
            st->orig_est > 0 ? 100 * diff / st->orig_est : 0);
    fprintf(out, "\ncontext windows (first choice too small for prompt + max_tokens):\n"
                 "  original %ld, candidate %ld: avoided %ld, caused %ld\n",
            st->orig_violations, st->cand_violations, st->avoided, st->caused);
    if (st->policy_failed)
        fprintf(out, "\nnote: the candidate failed on %ld requests (its route's default was used); "
                     "the first: %s\n", st->policy_failed, st->first_error);
}

static void report_json(const sy_route *r, const char *pid, rp_stats *st, FILE *out)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "route", r->name);
    cJSON_AddStringToObject(j, "candidate", pid);
    cJSON_AddNumberToObject(j, "lines", (double)st->lines);
    cJSON_AddNumberToObject(j, "replayed", (double)st->replayed);
    cJSON_AddNumberToObject(j, "other_routes", (double)st->other_route);
    cJSON_AddNumberToObject(j, "not_replayable", (double)st->unrouted);
    cJSON_AddNumberToObject(j, "with_text", (double)st->with_text);
    cJSON_AddNumberToObject(j, "changed", (double)st->changed);
    cJSON_AddNumberToObject(j, "policy_failures", (double)st->policy_failed);
    cJSON *tr = cJSON_AddArrayToObject(j, "transitions");
    qsort(st->pairs, (size_t)st->npairs, sizeof *st->pairs, cmp_pair);
    for (int i = 0; i < st->npairs; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "from", st->pairs[i].from);
        cJSON_AddStringToObject(p, "to", st->pairs[i].to);
        cJSON_AddNumberToObject(p, "requests", (double)st->pairs[i].n);
        cJSON_AddItemToArray(tr, p);
    }
    cJSON *c = cJSON_AddObjectToObject(j, "cost_usd");
    cJSON_AddNumberToObject(c, "logged", st->logged_cost);
    cJSON_AddNumberToObject(c, "original_estimate", st->orig_est);
    cJSON_AddNumberToObject(c, "candidate_estimate", st->cand_est);
    cJSON_AddNumberToObject(c, "difference", st->cand_est - st->orig_est);
    cJSON *v = cJSON_AddObjectToObject(j, "context_violations");
    cJSON_AddNumberToObject(v, "original", (double)st->orig_violations);
    cJSON_AddNumberToObject(v, "candidate", (double)st->cand_violations);
    cJSON_AddNumberToObject(v, "avoided", (double)st->avoided);
    cJSON_AddNumberToObject(v, "caused", (double)st->caused);
    char *s = cJSON_PrintUnformatted(j);
    if (s) fprintf(out, "%s\n", s);
    free(s);
    cJSON_Delete(j);
}

int sy_replay_run(const sy_replay_opts *o, FILE *out, sy_buf *err)
{
    sy_config *cfg = NULL;
    sy_policy_vm *vm = NULL;
    FILE *f = NULL, *dec = NULL;
    char *buf = NULL;
    size_t cap = 0;
    int rc = sy_config_load(&cfg, o->config, err), level = sy_log_level();
    rp_stats *st = calloc(1, sizeof *st);
    if (rc != SY_OK || !st) goto done;
    const sy_route *r = sy_config_route(cfg, o->route);
    if (!r) {
        sy_buf_printf(err, "%s: no route named \"%s\" (routes:", o->config, o->route);
        for (int i = 0; i < cfg->nroutes; i++) sy_buf_printf(err, " %s", cfg->routes[i].name);
        sy_buf_puts(err, ")\n");
        rc = SY_EINVAL;
        goto done;
    }
    if ((rc = sy_policy_vm_new(&vm, cfg, err)) != SY_OK) goto done;
    if (!(f = fopen(o->log, "rb"))) {
        sy_buf_printf(err, "%s: cannot open: %s\n", o->log, strerror(errno));
        rc = SY_EIO;
        goto done;
    }
    if (o->decisions && !(dec = fopen(o->decisions, "w"))) {
        sy_buf_printf(err, "%s: cannot write: %s\n", o->decisions, strerror(errno));
        rc = SY_EIO;
        goto done;
    }
    sy_log_set_level(SY_LOG_ERROR);
    ssize_t len;
    int lineno = 0;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        if (len <= 1) continue;
        cJSON *line = cJSON_ParseWithLength(buf, (size_t)len);
        if (!cJSON_IsObject(line)) {
            cJSON_Delete(line);
            sy_buf_printf(err, "%s:%d: not a routing-result line (a JSON object)\n", o->log, lineno);
            rc = SY_EINVAL;
            goto done;
        }
        st->lines++;
        int lrc = replay_line(o, vm, cfg, r, line, lineno, st, dec);
        cJSON_Delete(line);
        if (lrc != 0) {
            rc = SY_ENOMEM;
            goto done;
        }
        if (o->progress && lineno % 1000 == 0) fprintf(stderr, "\r  %d lines", lineno);
    }
    if (o->progress && lineno >= 1000) fputc('\n', stderr);
    if (st->replayed == 0) {
        sy_buf_printf(err, "%s: no request of route %s to replay (%ld lines: %ld of other routes, "
                           "%ld not routed or without request facts)\n",
                      o->log, r->name, st->lines, st->other_route, st->unrouted);
        rc = SY_EINVAL;
        goto done;
    }
    if (o->json)
        report_json(r, sy_policy_id(vm, r), st, out);
    else
        report_text(o, r, sy_policy_id(vm, r), st, out);
    rc = SY_OK;
done:
    sy_log_set_level(level);
    if (f) fclose(f);
    if (dec) fclose(dec);
    free(buf);
    free(st);
    sy_policy_vm_free(vm);
    sy_config_unref(cfg);
    return rc;
}
