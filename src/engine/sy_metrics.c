/* sy_metrics.c — Prometheus metrics. Each worker counts into its own sy_metrics (single
 * writer, relaxed atomics: no lock and no shared cache line on the request path); GET
 * /metrics sums the workers' counters when it is read. Models are keyed by their live-stats
 * slot (stable across reloads), requests by (route, model, status) in a small per-worker
 * table. */
#include "engine/sy_engine_int.h"
#include "engine/sy_limits.h"
#include "engine/sy_admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double SY_MET_BOUNDS_MS[SY_MET_BUCKETS] = {1,   2.5, 5,    10,   25,   50,    100,
                                                 250, 500, 1000, 2500, 5000, 10000, 30000};
/* policy evaluation: microseconds */
static const double EVAL_BOUNDS_US[SY_MET_BUCKETS] = {1,   2.5, 5,    10,   25,   50,    100,
                                                      250, 500, 1000, 2500, 5000, 10000, 30000};

#define RELAXED memory_order_relaxed
#define ADD(x, v) atomic_fetch_add_explicit(&(x), (v), RELAXED)
#define GET(x) atomic_load_explicit(&(x), RELAXED)

sy_metrics *sy_metrics_new(int nmodels)
{
    sy_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->models = calloc((size_t)nmodels, sizeof *m->models);
    if (!m->models) {
        free(m);
        return NULL;
    }
    m->nmodels = nmodels;
    return m;
}

void sy_metrics_free(sy_metrics *m)
{
    if (!m) return;
    free(m->models);
    free(m);
}

static void observe(sy_hist *h, const double *bounds, double v)
{
    int i = 0;
    while (i < SY_MET_BUCKETS && v > bounds[i]) i++;
    ADD(h->b[i], 1);
    ADD(h->count, 1);
    ADD(h->sum_milli, (uint64_t)(v * 1000.0));
}

void sy_met_latency(sy_metrics *m, int slot, double ms, int ttft)
{
    if (!m || slot < 0 || slot >= m->nmodels) return;
    observe(ttft ? &m->models[slot].ttft : &m->models[slot].latency, SY_MET_BOUNDS_MS, ms);
}

void sy_met_policy_eval(sy_metrics *m, double us, int failed)
{
    if (!m) return;
    observe(&m->policy_eval, EVAL_BOUNDS_US, us);
    if (failed) ADD(m->policy_errors, 1);
}

sy_model_met *sy_met_model(sy_metrics *m, int slot)
{
    return m && slot >= 0 && slot < m->nmodels ? &m->models[slot] : NULL;
}

void sy_met_request(sy_metrics *m, const char *route, int model_slot, int status)
{
    if (!m) return;
    uint64_t h = sy_hash64(route, strlen(route), (uint64_t)model_slot * 1000003u + (uint64_t)status);
    for (unsigned k = 0; k < SY_MET_REQ_SLOTS; k++) {
        sy_req_met *e = &m->req[(h + k) % SY_MET_REQ_SLOTS];
        if (atomic_load_explicit(&e->used, memory_order_acquire)) {
            /* names are kept to 63 bytes: a longer one matches on its stored prefix */
            if (e->model == model_slot && e->status == status &&
                strncmp(e->route, route, sizeof e->route - 1) == 0) {
                ADD(e->n, 1);
                return;
            }
            continue;
        }
        snprintf(e->route, sizeof e->route, "%s", route);
        e->model = model_slot;
        e->status = status;
        atomic_store_explicit(&e->n, 1, RELAXED);
        atomic_store_explicit(&e->used, 1, memory_order_release); /* readers see it whole */
        return;
    }
    ADD(m->req_overflow, 1);
}

void sy_met_fallback(sy_metrics *m, int outcome)
{
    if (m && outcome >= 0 && outcome < SY_OUT_N) ADD(m->fallbacks[outcome], 1);
}

/* ============================================================ exposition */

void sy_met_label(sy_buf *b, const char *s)
{
    sy_buf_puts(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') sy_buf_append(b, "\\", 1);
        if (*s == '\n') {
            sy_buf_puts(b, "\\n");
            continue;
        }
        sy_buf_append(b, s, 1);
    }
    sy_buf_puts(b, "\"");
}

static const char *model_name(const struct sy_engine *eng, int slot)
{
    return slot >= 0 && slot < eng->nlive ? eng->live[slot].id : "none";
}

static void hist_out(sy_buf *b, const char *name, const char *label, const char *value,
                     const sy_hist *const *hs, int nh, const double *bounds, double scale)
{
    uint64_t cum = 0, sum = 0, count = 0;
    for (int i = 0; i <= SY_MET_BUCKETS; i++) {
        for (int w = 0; w < nh; w++) cum += GET(((sy_hist *)hs[w])->b[i]);
        sy_buf_printf(b, "%s_bucket{", name);
        if (label) {
            sy_buf_printf(b, "%s=", label);
            sy_met_label(b, value);
            sy_buf_puts(b, ",");
        }
        if (i < SY_MET_BUCKETS)
            sy_buf_printf(b, "le=\"%g\"} %llu\n", bounds[i] * scale, (unsigned long long)cum);
        else
            sy_buf_printf(b, "le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    for (int w = 0; w < nh; w++) {
        sum += GET(((sy_hist *)hs[w])->sum_milli);
        count += GET(((sy_hist *)hs[w])->count);
    }
    const char *pre = label ? "{" : "";
    sy_buf_printf(b, "%s_sum%s", name, pre);
    if (label) {
        sy_buf_printf(b, "%s=", label);
        sy_met_label(b, value);
        sy_buf_puts(b, "}");
    }
    sy_buf_printf(b, " %.6f\n%s_count%s", (double)sum / 1000.0 * scale, name, pre);
    if (label) {
        sy_buf_printf(b, "%s=", label);
        sy_met_label(b, value);
        sy_buf_puts(b, "}");
    }
    sy_buf_printf(b, " %llu\n", (unsigned long long)count);
}

void sy_metrics_render(struct sy_engine *eng, sy_buf *b)
{
    int nw = eng->nworkers, nl = eng->nlive;
    sy_metrics *ws[256];
    int n = 0;
    for (int w = 0; w < nw && n < 256; w++)
        if (eng->workers[w].met) ws[n++] = eng->workers[w].met;

    /* requests by route, model, status: the workers' tables merged */
    sy_buf_puts(b, "# HELP switchyard_requests_total Requests answered, by route (\"direct\" for a "
                   "model asked by name), answering model (\"none\" if none) and HTTP status.\n"
                   "# TYPE switchyard_requests_total counter\n");
    for (int w = 0; w < n; w++)
        for (unsigned k = 0; k < SY_MET_REQ_SLOTS; k++) {
            const sy_req_met *e = &ws[w]->req[k];
            if (!atomic_load_explicit(&e->used, memory_order_acquire)) continue;
            /* sum the same key across workers: only the first worker holding it prints it */
            int seen = 0;
            for (int v = 0; v < w && !seen; v++)
                for (unsigned j = 0; j < SY_MET_REQ_SLOTS && !seen; j++) {
                    const sy_req_met *f = &ws[v]->req[j];
                    seen = atomic_load_explicit(&f->used, memory_order_acquire) &&
                           f->model == e->model && f->status == e->status &&
                           strcmp(f->route, e->route) == 0;
                }
            if (seen) continue;
            uint64_t total = 0;
            for (int v = w; v < n; v++)
                for (unsigned j = 0; j < SY_MET_REQ_SLOTS; j++) {
                    const sy_req_met *f = &ws[v]->req[j];
                    if (atomic_load_explicit(&f->used, memory_order_acquire) &&
                        f->model == e->model && f->status == e->status &&
                        strcmp(f->route, e->route) == 0)
                        total += GET(((sy_req_met *)f)->n);
                }
            sy_buf_puts(b, "switchyard_requests_total{route=");
            sy_met_label(b, e->route);
            sy_buf_puts(b, ",model=");
            sy_met_label(b, model_name(eng, e->model));
            sy_buf_printf(b, ",status=\"%d\"} %llu\n", e->status, (unsigned long long)total);
        }

    sy_buf_puts(b, "# HELP switchyard_fallbacks_total Chains that moved on to their next model, by "
                   "the failed attempt's outcome.\n# TYPE switchyard_fallbacks_total counter\n");
    for (int o = 0; o < SY_OUT_N; o++) {
        uint64_t t = 0;
        for (int w = 0; w < n; w++) t += GET(ws[w]->fallbacks[o]);
        if (o != SY_OUT_OK && o != SY_OUT_HEDGE_LOST)
            sy_buf_printf(b, "switchyard_fallbacks_total{reason=\"%s\"} %llu\n", sy_outcome_name(o),
                          (unsigned long long)t);
    }

    /* per model */
    sy_buf_puts(b, "# HELP switchyard_attempts_total Upstream attempts by model and outcome "
                   "(ok, http, timeout, connect, reset, invalid, schema_invalid, circuit_open, "
                   "hedge_lost, not_accepted, queue_full, queue_timeout).\n# TYPE switchyard_attempts_total counter\n");
    for (int s = 0; s < nl; s++)
        for (int o = 0; o < SY_OUT_N; o++) {
            uint64_t t = 0;
            for (int w = 0; w < n; w++) t += GET(ws[w]->models[s].attempts[o]);
            if (!t) continue;
            sy_buf_puts(b, "switchyard_attempts_total{model=");
            sy_met_label(b, eng->live[s].id);
            sy_buf_printf(b, ",outcome=\"%s\"} %llu\n", sy_outcome_name(o), (unsigned long long)t);
        }
    static const struct {
        const char *name, *help;
        size_t off;
        double scale;
    } per_model[] = {
        {"switchyard_tokens_in_total", "Prompt tokens billed, by model (the upstream's usage).",
         offsetof(sy_model_met, tokens_in), 1},
        {"switchyard_tokens_out_total", "Completion tokens billed, by model.",
         offsetof(sy_model_met, tokens_out), 1},
        {"switchyard_cost_usd_total", "Cost in USD by model, from usage and the registry's prices.",
         offsetof(sy_model_met, cost_nusd), 1e-9},
        {"switchyard_savings_usd_total",
         "What the same tokens would have cost more on the route's reference model, by model.",
         offsetof(sy_model_met, savings_nusd), 1e-9},
        {"switchyard_schema_failures_total", "Answers that broke the request's JSON schema, by model.",
         offsetof(sy_model_met, schema_failures), 1},
    };
    for (size_t k = 0; k < sizeof per_model / sizeof per_model[0]; k++) {
        sy_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", per_model[k].name, per_model[k].help,
                      per_model[k].name);
        for (int s = 0; s < nl; s++) {
            uint64_t t = 0;
            for (int w = 0; w < n; w++)
                t += GET(*(_Atomic uint64_t *)((char *)&ws[w]->models[s] + per_model[k].off));
            sy_buf_printf(b, "%s{model=", per_model[k].name);
            sy_met_label(b, eng->live[s].id);
            if (per_model[k].scale == 1)
                sy_buf_printf(b, "} %llu\n", (unsigned long long)t);
            else
                sy_buf_printf(b, "} %.9f\n", (double)t * per_model[k].scale);
        }
    }
    for (int ttft = 0; ttft < 2; ttft++) {
        const char *name = ttft ? "switchyard_upstream_ttft_seconds" : "switchyard_upstream_latency_seconds";
        sy_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name,
                      ttft ? "Time to the first streamed chunk, by model."
                           : "Time of a successful upstream attempt, by model.",
                      name);
        for (int s = 0; s < nl; s++) {
            const sy_hist *hs[256] = {0};
            for (int w = 0; w < n; w++) hs[w] = ttft ? &ws[w]->models[s].ttft : &ws[w]->models[s].latency;
            hist_out(b, name, "model", eng->live[s].id, hs, n, SY_MET_BOUNDS_MS, 1e-3);
        }
    }
    sy_buf_puts(b, "# HELP switchyard_breaker_state Circuit breaker by model: 0 closed, 1 open, "
                   "2 half-open.\n# TYPE switchyard_breaker_state gauge\n");
    for (int s = 0; s < nl; s++) {
        sy_buf_puts(b, "switchyard_breaker_state{model=");
        sy_met_label(b, eng->live[s].id);
        sy_buf_printf(b, "} %d\n", atomic_load(&eng->live[s].br_state));
    }

    /* the rest */
    const sy_hist *ph[256] = {0};
    for (int w = 0; w < n; w++) ph[w] = &ws[w]->policy_eval;
    sy_buf_puts(b, "# HELP switchyard_policy_eval_seconds Time in a route's policy per request.\n"
                   "# TYPE switchyard_policy_eval_seconds histogram\n");
    hist_out(b, "switchyard_policy_eval_seconds", NULL, NULL, ph, n, EVAL_BOUNDS_US, 1e-6);
    uint64_t perr = 0, hf = 0, hw = 0, ce = 0, ovf = 0;
    int64_t inflight = 0;
    for (int w = 0; w < n; w++) {
        perr += GET(ws[w]->policy_errors);
        hf += GET(ws[w]->hedges_fired);
        hw += GET(ws[w]->hedges_won);
        ce += GET(ws[w]->cascade_escalations);
        ovf += GET(ws[w]->req_overflow);
        inflight += GET(ws[w]->inflight);
    }
    sy_buf_printf(b,
                  "# HELP switchyard_policy_errors_total Policy calls that failed or overran their "
                  "budget (the route's default model answered).\n"
                  "# TYPE switchyard_policy_errors_total counter\nswitchyard_policy_errors_total %llu\n"
                  "# HELP switchyard_hedges_fired_total Hedge attempts started.\n"
                  "# TYPE switchyard_hedges_fired_total counter\nswitchyard_hedges_fired_total %llu\n"
                  "# HELP switchyard_hedges_won_total Hedge attempts whose answer won.\n"
                  "# TYPE switchyard_hedges_won_total counter\nswitchyard_hedges_won_total %llu\n"
                  "# HELP switchyard_cascade_escalations_total Cascade steps not accepted.\n"
                  "# TYPE switchyard_cascade_escalations_total counter\n"
                  "switchyard_cascade_escalations_total %llu\n"
                  "# HELP switchyard_inflight_requests Chat requests being answered.\n"
                  "# TYPE switchyard_inflight_requests gauge\nswitchyard_inflight_requests %lld\n"
                  "# HELP switchyard_reloads_total Configuration reloads that took effect.\n"
                  "# TYPE switchyard_reloads_total counter\nswitchyard_reloads_total %u\n"
                  "# HELP switchyard_reload_failures_total Reloads refused (the running config stayed).\n"
                  "# TYPE switchyard_reload_failures_total counter\nswitchyard_reload_failures_total %u\n"
                  "# HELP switchyard_metrics_dropped_total Requests not counted by route (table full).\n"
                  "# TYPE switchyard_metrics_dropped_total counter\nswitchyard_metrics_dropped_total %llu\n",
                  (unsigned long long)perr, (unsigned long long)hf, (unsigned long long)hw,
                  (unsigned long long)ce, (long long)inflight, eng->reloads, eng->reload_failures,
                  (unsigned long long)ovf);
    uint64_t sh[3] = {0, 0, 0};
    for (int w = 0; w < n; w++)
        for (int k = 0; k < 3; k++) sh[k] += GET(ws[w]->shadow[k]);
    sy_buf_printf(b,
                  "# HELP switchyard_shadow_decisions_total Shadow policies' decisions, by whether "
                  "their first model matches the live one.\n"
                  "# TYPE switchyard_shadow_decisions_total counter\n"
                  "switchyard_shadow_decisions_total{result=\"agree\"} %llu\n"
                  "switchyard_shadow_decisions_total{result=\"disagree\"} %llu\n"
                  "switchyard_shadow_decisions_total{result=\"error\"} %llu\n",
                  (unsigned long long)sh[0], (unsigned long long)sh[1], (unsigned long long)sh[2]);
    sy_lim_stats *ls = sy_limiter_stats(eng->limiter);
    if (ls) {
        sy_buf_puts(b, "# HELP switchyard_limit_rejections_total Requests refused by a rate limit "
                       "or budget, by whose limit and which.\n"
                       "# TYPE switchyard_limit_rejections_total counter\n");
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < SY_LIM_N; i++)
                sy_buf_printf(b, "switchyard_limit_rejections_total{scope=\"%s\",limit=\"%s\"} %llu\n",
                              s ? "team" : "key", SY_LIM_NAMES[i],
                              (unsigned long long)GET(ls->rejected[s][i]));
        sy_buf_printf(b,
                      "# HELP switchyard_limits_unchecked_total Requests whose limits could not be "
                      "checked (Redis unreachable), by what server.redis_failure did.\n"
                      "# TYPE switchyard_limits_unchecked_total counter\n"
                      "switchyard_limits_unchecked_total{mode=\"open\"} %llu\n"
                      "switchyard_limits_unchecked_total{mode=\"closed\"} %llu\n",
                      (unsigned long long)GET(ls->redis_open), (unsigned long long)GET(ls->redis_closed));
    }
    sy_limits_render(eng->limiter, b);
    if (eng->nworkers && eng->workers[0].redis) { /* set before the workers run, never moved */
        const sy_redis_stats *rs = &eng->redis_stats;
        sy_buf_printf(b,
                      "# HELP switchyard_redis_up Workers whose Redis connection is up (of "
                      "switchyard_workers).\n"
                      "# TYPE switchyard_redis_up gauge\nswitchyard_redis_up %d\n"
                      "# HELP switchyard_workers Worker threads.\n"
                      "# TYPE switchyard_workers gauge\nswitchyard_workers %d\n"
                      "# HELP switchyard_redis_commands_total Commands sent to Redis.\n"
                      "# TYPE switchyard_redis_commands_total counter\nswitchyard_redis_commands_total %llu\n"
                      "# HELP switchyard_redis_failures_total Redis commands without an answer "
                      "(connection lost or not answered in time).\n"
                      "# TYPE switchyard_redis_failures_total counter\nswitchyard_redis_failures_total %llu\n"
                      "# HELP switchyard_redis_timeouts_total Redis commands that ran out of "
                      "server.redis_timeout_ms.\n"
                      "# TYPE switchyard_redis_timeouts_total counter\nswitchyard_redis_timeouts_total %llu\n"
                      "# HELP switchyard_redis_reconnects_total Attempts to connect to Redis again.\n"
                      "# TYPE switchyard_redis_reconnects_total counter\nswitchyard_redis_reconnects_total %llu\n",
                      atomic_load(&rs->up), eng->nworkers,
                      (unsigned long long)atomic_load(&rs->commands),
                      (unsigned long long)atomic_load(&rs->failures),
                      (unsigned long long)atomic_load(&rs->timeouts),
                      (unsigned long long)atomic_load(&rs->reconnects));
    }
    const char *ids[1024];
    int nids = nl < 1024 ? nl : 1024;
    for (int s = 0; s < nids; s++) ids[s] = eng->live[s].id;
    sy_adm_metrics(eng->adm, ids, nids, b);
    if (eng->cache) sy_cache_metrics(eng->cache, b);
}
