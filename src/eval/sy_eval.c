/* sy_eval.c — `switchyard eval`: a route's real policy over a labelled data set, next to
 * always-strongest, always-cheapest, random routing at equal cost and the oracle; RouteLLM's
 * two-model measures (APGR, CPT(50 %), CPT(80 %), cost saved at 95 % quality); an option
 * sweep written as CSV and SVG. No network: a decision is scored with the data's own quality,
 * cost and latency for the model it names. */
#include "eval/sy_eval.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/sy_engine_int.h"
#include "policy/sy_policy.h"
#include "registry/sy_config.h"
#include "tokens/sy_tokens.h"

/* ============================================================ the data set */

typedef struct ev_row {
    char *id;
    int group;
    int line;
    char *req;              /* the Chat Completions request the policy sees */
    size_t req_len;
    double *q, *cost, *tok, *lat; /* per label; q NAN when the row has no score for it */
    double *tin, *tout;     /* input and output tokens per label (tok = their sum) */
} ev_row;

typedef struct ev_data {
    const char *path;
    char **labels;          /* the data's model names, first seen first */
    int nl;
    const sy_model **models; /* each label's registry model (by id, else upstream name) */
    char **groups;
    int ng;
    ev_row *rows;
    int n;
    int left_contaminated, left_split;
} ev_data;

static int label_index(ev_data *d, const char *name, int add)
{
    for (int i = 0; i < d->nl; i++)
        if (strcmp(d->labels[i], name) == 0) return i;
    if (!add || d->nl >= SY_EVAL_MAX_LABELS) return -1;
    d->labels[d->nl] = sy_strdup(name);
    return d->nl++;
}

static int group_index(ev_data *d, const char *name)
{
    for (int i = 0; i < d->ng; i++)
        if (strcmp(d->groups[i], name) == 0) return i;
    if (d->ng >= SY_EVAL_MAX_GROUPS) return d->ng - 1; /* the last one collects the rest */
    char **g = realloc(d->groups, (size_t)(d->ng + 1) * sizeof *g);
    if (!g) return 0;
    d->groups = g;
    d->groups[d->ng] = sy_strdup(d->ng == SY_EVAL_MAX_GROUPS - 1 ? "other" : name);
    return d->ng++;
}

static void data_free(ev_data *d)
{
    for (int i = 0; i < d->n; i++) {
        free(d->rows[i].id);
        free(d->rows[i].req);
        free(d->rows[i].q);
    }
    free(d->rows);
    for (int i = 0; i < d->nl; i++) free(d->labels[i]);
    free(d->labels);
    free(d->models);
    for (int i = 0; i < d->ng; i++) free(d->groups[i]);
    free(d->groups);
}

/* A per-label number from obj[label] (NAN when absent); -1 when present but not a number. */
static int label_number(const cJSON *obj, const char *label, double *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, label);
    *v = NAN;
    if (!x) return 0;
    if (!cJSON_IsNumber(x)) return -1;
    *v = x->valuedouble;
    return 0;
}

#define DATA_ERR(...)                                                  \
    do {                                                               \
        sy_buf_printf(err, "%s:%d: ", d->path, line);                  \
        sy_buf_printf(err, __VA_ARGS__);                               \
        goto bad;                                                      \
    } while (0)

/* The request of a row: its "request" object, else {"messages":[user prompt]} with its
 * "meta" (or "metadata") as the body's metadata. The model is the route. */
static char *row_request(const cJSON *o, const char *route, size_t *len)
{
    cJSON *req = NULL;
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(o, "request");
    if (cJSON_IsObject(given)) {
        req = cJSON_Duplicate(given, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(req, "model");
    } else {
        req = cJSON_CreateObject();
        cJSON *msgs = cJSON_AddArrayToObject(req, "messages");
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content",
                                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "prompt")));
        cJSON_AddItemToArray(msgs, m);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "meta");
        if (!meta) meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
        if (cJSON_IsObject(meta)) cJSON_AddItemToObject(req, "metadata", cJSON_Duplicate(meta, 1));
    }
    cJSON_AddStringToObject(req, "model", route);
    char *s = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    *len = s ? strlen(s) : 0;
    return s;
}

/* One data line into row r (labels may grow). 0, or -1 with the problem in err. */
static int read_row(ev_data *d, const sy_eval_opts *o, cJSON *obj, int line, sy_buf *err,
                    int *keep)
{
    *keep = 0;
    ev_row *r = NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(obj, "prompt");
    const cJSON *request = cJSON_GetObjectItemCaseSensitive(obj, "request");
    const cJSON *scores = cJSON_GetObjectItemCaseSensitive(obj, "scores");
    if (!cJSON_IsObject(obj)) DATA_ERR("a row must be a JSON object\n");
    if (id && !cJSON_IsString(id)) DATA_ERR("id: must be a string\n");
    if (!cJSON_IsString(prompt) && !cJSON_IsObject(request))
        DATA_ERR("prompt: missing (a row needs a \"prompt\" string or a \"request\" object)\n");
    if (!cJSON_IsObject(scores) || !scores->child)
        DATA_ERR("scores: missing (an object of model name: quality from 0 to 1)\n");
    if (o->split != SY_SPLIT_ALL) {
        if (!id) DATA_ERR("id: --split needs an id on every row\n");
        if (!sy_split_keep(o->split, id->valuestring, strlen(id->valuestring))) {
            d->left_split++;
            return 0;
        }
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "contaminated")) &&
        !o->include_contaminated) {
        d->left_contaminated++;
        return 0;
    }
    for (const cJSON *s = scores->child; s; s = s->next) {
        if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 1)
            DATA_ERR("scores.%s: must be a number from 0 to 1\n", s->string);
        if (label_index(d, s->string, 1) < 0)
            DATA_ERR("scores.%s: more than %d models in one data set\n", s->string,
                     SY_EVAL_MAX_LABELS);
    }
    r = &d->rows[d->n];
    memset(r, 0, sizeof *r);
    r->line = line;
    r->id = sy_strdup(id ? id->valuestring : "");
    char num[32];
    if (!id) {
        snprintf(num, sizeof num, "line-%d", line);
        free(r->id);
        r->id = sy_strdup(num);
    }
    r->q = malloc(6 * SY_EVAL_MAX_LABELS * sizeof(double));
    if (!r->q) DATA_ERR("out of memory\n");
    r->cost = r->q + SY_EVAL_MAX_LABELS;
    r->tok = r->cost + SY_EVAL_MAX_LABELS;
    r->lat = r->tok + SY_EVAL_MAX_LABELS;
    r->tin = r->lat + SY_EVAL_MAX_LABELS;
    r->tout = r->tin + SY_EVAL_MAX_LABELS;
    const cJSON *cost = cJSON_GetObjectItemCaseSensitive(obj, "cost");
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(obj, "tokens");
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(obj, "latency");
    const cJSON *tin = toks ? cJSON_GetObjectItemCaseSensitive(toks, "input") : NULL;
    const cJSON *tout = toks ? cJSON_GetObjectItemCaseSensitive(toks, "output") : NULL;
    if (toks && (!cJSON_IsObject(toks) || (tin && !cJSON_IsNumber(tin))))
        DATA_ERR("tokens: must be {\"input\": n, \"output\": {model: n}}\n");
    if (cost && !cJSON_IsObject(cost)) DATA_ERR("cost: must be an object of model name: USD\n");
    if (lat && !cJSON_IsObject(lat)) DATA_ERR("latency: must be an object of model name: ms\n");
    for (int i = 0; i < SY_EVAL_MAX_LABELS; i++) {
        r->q[i] = r->cost[i] = r->tok[i] = r->lat[i] = r->tin[i] = r->tout[i] = NAN;
        if (i >= d->nl) continue;
        const char *l = d->labels[i];
        double v, out = NAN;
        label_number(scores, l, &r->q[i]);
        if (label_number(cost, l, &r->cost[i]) < 0 || r->cost[i] < 0)
            DATA_ERR("cost.%s: must be a number of USD, not negative\n", l);
        if (label_number(lat, l, &r->lat[i]) < 0 || r->lat[i] < 0)
            DATA_ERR("latency.%s: must be a number of ms, not negative\n", l);
        if (cJSON_IsObject(tout) && label_number(tout, l, &out) < 0)
            DATA_ERR("tokens.output.%s: must be a number\n", l);
        else if (cJSON_IsNumber(tout))
            out = tout->valuedouble;
        v = tin ? tin->valuedouble : NAN;
        r->tin[i] = v;
        r->tout[i] = out == out ? out : 0;
    }
    const cJSON *group = cJSON_GetObjectItemCaseSensitive(obj, "group");
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(obj, "task");
    char gname[128] = "all";
    if (cJSON_IsString(group))
        snprintf(gname, sizeof gname, "%s", group->valuestring);
    else if (cJSON_IsString(task))
        snprintf(gname, sizeof gname, "%.*s", (int)strcspn(task->valuestring, "/"),
                 task->valuestring);
    r->group = group_index(d, gname);
    r->req = row_request(obj, o->route, &r->req_len);
    if (!r->req) DATA_ERR("out of memory\n");
    d->n++;
    *keep = 1;
    return 0;
bad:
    if (r) { /* the row is not counted: give back what it holds */
        free(r->id);
        free(r->q);
        free(r->req);
        memset(r, 0, sizeof *r);
    }
    return -1;
}

static int data_load(ev_data *d, const sy_eval_opts *o, sy_buf *err)
{
    memset(d, 0, sizeof *d);
    d->path = o->data;
    d->labels = calloc(SY_EVAL_MAX_LABELS, sizeof *d->labels);
    FILE *f = fopen(o->data, "rb");
    if (!f || !d->labels) {
        sy_buf_printf(err, "%s: cannot open: %s\n", o->data, strerror(errno));
        if (f) fclose(f);
        return SY_EIO;
    }
    char *linebuf = NULL;
    size_t cap = 0, rowcap = 0;
    ssize_t len;
    int line = 0, rc = SY_OK;
    while ((len = getline(&linebuf, &cap, f)) >= 0) {
        line++;
        size_t k = (size_t)len;
        while (k && (linebuf[k - 1] == '\n' || linebuf[k - 1] == '\r' || linebuf[k - 1] == ' ')) k--;
        if (k == 0) continue;
        cJSON *obj = cJSON_ParseWithLength(linebuf, k);
        if (!obj) {
            sy_buf_printf(err, "%s:%d: not a JSON object (one row a line)\n", o->data, line);
            rc = SY_EINVAL;
            break;
        }
        if ((size_t)d->n == rowcap) {
            rowcap = rowcap ? rowcap * 2 : 1024;
            ev_row *nr = realloc(d->rows, rowcap * sizeof *nr);
            if (!nr) {
                cJSON_Delete(obj);
                rc = SY_ENOMEM;
                break;
            }
            d->rows = nr;
        }
        int keep;
        if (read_row(d, o, obj, line, err, &keep) != 0) rc = SY_EINVAL;
        cJSON_Delete(obj);
        if (rc != SY_OK) break;
    }
    free(linebuf);
    fclose(f);
    if (rc == SY_OK && d->n == 0)
        sy_buf_printf(err, "%s: no rows to evaluate (%d contaminated, %d outside the split)\n",
                      o->data, d->left_contaminated, d->left_split),
            rc = SY_EINVAL;
    return rc;
}

/* Each label's registry model: the model with that id, else the one with that upstream name. */
static int data_bind(ev_data *d, const sy_config *cfg, sy_buf *err)
{
    d->models = calloc((size_t)d->nl, sizeof *d->models);
    if (!d->models) return SY_ENOMEM;
    int rc = SY_OK;
    for (int i = 0; i < d->nl; i++) {
        d->models[i] = sy_config_model(cfg, d->labels[i]);
        for (int k = 0; !d->models[i] && k < cfg->nmodels; k++)
            if (strcmp(cfg->models[k].upstream, d->labels[i]) == 0) d->models[i] = &cfg->models[k];
        if (!d->models[i]) {
            sy_buf_printf(err,
                          "%s: model \"%s\" of the data is not in %s (no model has that id or "
                          "upstream name)\n",
                          d->path, d->labels[i], cfg->path);
            rc = SY_EINVAL;
        }
    }
    return rc;
}

/* Cost, tokens and latency a row's data lacks, from the registry: input tokens by the model's
 * own tokenizer (output tokens are 0 unless the data gives them), cost by its prices, latency drawn from its latency profile (a log-
 * normal through p50 and p95, the same draw for the same row and model every run). */
static void data_fill(ev_data *d, uint64_t seed)
{
    for (int r = 0; r < d->n; r++) {
        ev_row *row = &d->rows[r];
        sy_chat chat;
        sy_chat_error ce;
        int parsed = -1;
        for (int i = 0; i < d->nl; i++) {
            const sy_model *m = d->models[i];
            if (row->tin[i] != row->tin[i]) {
                if (parsed < 0) parsed = sy_chat_parse(&chat, row->req, row->req_len, &ce) == 0;
                row->tin[i] = parsed ? (double)sy_tokens_request(&chat, m->tok_kind) : 0;
            }
            row->tok[i] = row->tin[i] + row->tout[i];
            if (row->cost[i] != row->cost[i])
                row->cost[i] = (row->tin[i] * m->price_in + row->tout[i] * m->price_out) / 1000.0;
            if (row->lat[i] != row->lat[i] && m->lat_p50_ms > 0) {
                double p95 = m->lat_p95_ms > m->lat_p50_ms ? m->lat_p95_ms : m->lat_p50_ms;
                double sigma = log(p95 / m->lat_p50_ms) / 1.6448536;
                uint64_t h = sy_hash64(row->id, strlen(row->id), seed ^ (uint64_t)(i + 1) * 0x9e37);
                double u1 = ((double)(h >> 11) + 0.5) / 9007199254740992.0;
                double u2 = ((double)(sy_hash64(&h, sizeof h, seed) >> 11) + 0.5) / 9007199254740992.0;
                double z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
                row->lat[i] = m->lat_p50_ms * exp(sigma * z);
            }
        }
        if (parsed >= 0) sy_chat_free(&chat);
    }
}

/* ============================================================ approaches */

typedef struct ev_acc {
    char name[64];
    double calls[SY_EVAL_MAX_LABELS]; /* requests answered by each label */
    double cost, tokens, quality;
    double gq[SY_EVAL_MAX_GROUPS], gn[SY_EVAL_MAX_GROUPS];
    double *lat;                      /* per row, NAN unknown */
    int n, nlat;
    int policy_failed, no_fit, escalations;
    char first_error[600];            /* the first policy failure, "file:line: error" */
    double p95;
} ev_acc;

static int acc_init(ev_acc *a, const char *name, int nrows)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->lat = malloc((size_t)(nrows ? nrows : 1) * sizeof *a->lat);
    return a->lat ? 0 : -1;
}

static void acc_add(ev_acc *a, const ev_row *row, int label, double q, double cost, double tok,
                    double lat)
{
    if (label >= 0) a->calls[label] += 1;
    a->cost += cost;
    a->tokens += tok;
    a->quality += q;
    a->gq[row->group] += q;
    a->gn[row->group] += 1;
    if (lat == lat) a->lat[a->nlat++] = lat;
    a->n++;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void acc_finish(ev_acc *a)
{
    a->p95 = NAN;
    if (a->nlat && a->nlat == a->n) { /* P95 only when every row has a latency */
        qsort(a->lat, (size_t)a->nlat, sizeof *a->lat, cmp_double);
        size_t k = (size_t)ceil(0.95 * a->nlat);
        a->p95 = a->lat[k ? k - 1 : 0];
    }
}

static double acc_q(const ev_acc *a) { return a->n ? a->quality / a->n : NAN; }
static double acc_per1k(const ev_acc *a) { return a->tokens > 0 ? a->cost / a->tokens * 1000 : NAN; }

/* ---- the policy */

typedef struct ev_ctx {
    const sy_eval_opts *o;
    ev_data *d;
    sy_config *cfg;
    const sy_route *route;
    FILE *decisions;
    long done, total;         /* progress */
    int progress_shown;
} ev_ctx;

static int model_label(const ev_data *d, const sy_model *m)
{
    for (int i = 0; i < d->nl; i++)
        if (d->models[i] == m) return i;
    return -1;
}

static void progress(ev_ctx *x)
{
    x->done++;
    if (!x->o->progress || x->total <= 0) return;
    long pct = x->done * 100 / x->total, prev = (x->done - 1) * 100 / x->total;
    if (pct == prev && x->done != 1) return;
    int w = 40, fill = (int)(pct * w / 100);
    fprintf(stderr, "\r  [%.*s%*s] %3ld%%  %ld/%ld", fill,
            "========================================", w - fill, "", pct, x->done, x->total);
    if (x->done == x->total) fputs("\n", stderr);
    x->progress_shown = 1;
}

static const char *kind_name(int k)
{
    static const char *const names[] = {"none", "pick", "chain", "cascade", "hedge"};
    return k >= 0 && k <= 4 ? names[k] : "?";
}

/* Runs vm's policy over every row into a (and the decisions file when given). */
static int run_policy(ev_ctx *x, sy_policy_vm *vm, ev_acc *a, sy_buf *err)
{
    ev_data *d = x->d;
    sy_buf line;
    sy_buf_init(&line);
    for (int r = 0; r < d->n; r++) {
        ev_row *row = &d->rows[r];
        sy_chat chat;
        sy_chat_error ce;
        if (sy_chat_parse(&chat, row->req, row->req_len, &ce) != 0) {
            sy_buf_printf(err, "%s:%d: request: %s\n", d->path, row->line, ce.message);
            sy_chat_free(&chat);
            sy_buf_free(&line);
            return SY_EINVAL;
        }
        sy_request_view view = {.chat = &chat, .model = x->route->name, .priority = SY_PRIO_NORMAL};
        sy_decision dec;
        if (sy_policy_route(vm, x->route, &view, &dec) != SY_OK) a->policy_failed++;
        if (a->policy_failed == 1 && dec.policy_failed)
            snprintf(a->first_error, sizeof a->first_error, "%s:%d: %s", d->path, row->line,
                     dec.error);
        /* the executor skips what does not fit; nothing left is a 400 (quality 0, no cost) */
        int n = sy_fit_chain(&chat, &dec, NULL, NULL);
        sy_chat_free(&chat);
        double q = 0, cost = 0, tok = 0, lat = 0;
        int final = -1;
        const char *outcome = "ok";
        if (n == 0) {
            a->no_fit++;
            outcome = "context_length_exceeded";
        } else {
            int steps = dec.kind == SY_DEC_CASCADE ? n : dec.kind == SY_DEC_HEDGE && n > 1 ? 2 : 1;
            for (int s = 0; s < steps; s++) {
                int l = model_label(d, dec.models[s]);
                if (l < 0 || row->q[l] != row->q[l]) {
                    sy_buf_printf(err,
                                  "%s:%d: the policy chose \"%s\", which this row has no score "
                                  "for (the data's models:",
                                  d->path, row->line, dec.models[s]->id);
                    for (int i = 0; i < d->nl; i++) sy_buf_printf(err, " %s", d->labels[i]);
                    sy_buf_puts(err, ")\n");
                    sy_buf_free(&line);
                    return SY_EINVAL;
                }
                if (dec.kind == SY_DEC_HEDGE) {
                    /* both run (the loser's cost counted in full: an upper bound); the
                     * faster answer wins */
                    double start = s == 0 ? 0 : dec.after_ms > 0 ? dec.after_ms : 0;
                    double t = start + (row->lat[l] == row->lat[l] ? row->lat[l] : 0);
                    cost += row->cost[l];
                    tok += row->tok[l];
                    if (final < 0 || t < lat) final = l, lat = t, q = row->q[l];
                    continue;
                }
                cost += row->cost[l];
                tok += row->tok[l];
                lat += row->lat[l];
                final = l;
                q = row->q[l];
                /* a cascade step is accepted when the data says its answer is good enough */
                if (q >= x->o->accept_score) break;
                if (s + 1 < steps) a->escalations++;
            }
        }
        acc_add(a, row, final, q, cost, tok, lat);
        if (x->decisions) {
            sy_buf_reset(&line);
            sy_buf_puts(&line, "{\"id\":");
            sy_buf_json_str(&line, row->id);
            sy_buf_puts(&line, ",\"model\":");
            if (final >= 0) sy_buf_json_str(&line, d->models[final]->id); else sy_buf_puts(&line, "null");
            sy_buf_printf(&line, ",\"kind\":\"%s\",\"chain\":[", kind_name(dec.kind));
            for (int i = 0; i < n; i++) {
                if (i) sy_buf_puts(&line, ",");
                sy_buf_json_str(&line, dec.models[i]->id);
            }
            sy_buf_puts(&line, "],\"reason\":");
            sy_buf_json_str(&line, dec.reason);
            sy_buf_printf(&line, ",\"outcome\":\"%s\",\"quality\":%.6g,\"cost_usd\":%.9g", outcome,
                          q, cost);
            if (lat == lat && final >= 0) sy_buf_printf(&line, ",\"latency_ms\":%.1f", lat);
            if (dec.policy_failed) sy_buf_puts(&line, ",\"policy_failed\":true");
            sy_buf_puts(&line, "}\n");
            fwrite(line.data, 1, line.len, x->decisions);
        }
        progress(x);
    }
    sy_buf_free(&line);
    acc_finish(a);
    return SY_OK;
}

/* ---- baselines */

static void run_fixed(const ev_data *d, int label, ev_acc *a)
{
    for (int r = 0; r < d->n; r++) {
        const ev_row *row = &d->rows[r];
        double q = row->q[label] == row->q[label] ? row->q[label] : 0;
        acc_add(a, row, label, q, row->cost[label], row->tok[label], row->lat[label]);
    }
    acc_finish(a);
}

/* Per row, the cheapest model with the best score. */
static void run_oracle(const ev_data *d, ev_acc *a)
{
    for (int r = 0; r < d->n; r++) {
        const ev_row *row = &d->rows[r];
        int best = -1;
        for (int i = 0; i < d->nl; i++) {
            if (row->q[i] != row->q[i]) continue;
            if (best < 0 || row->q[i] > row->q[best] ||
                (row->q[i] == row->q[best] && row->cost[i] < row->cost[best]))
                best = i;
        }
        if (best < 0) continue;
        acc_add(a, row, best, row->q[best], row->cost[best], row->tok[best], row->lat[best]);
    }
    acc_finish(a);
}

/* Random routing between the cheapest and the strongest model, at the probability p of the
 * strong one that spends what the policy spent: cost and quality are the expected values,
 * P95 latency that of one draw with the run's seed. */
static void run_random(const ev_data *d, int strong, int weak, double p, uint64_t seed, ev_acc *a)
{
    for (int r = 0; r < d->n; r++) {
        const ev_row *row = &d->rows[r];
        double qs = row->q[strong] == row->q[strong] ? row->q[strong] : 0;
        double qw = row->q[weak] == row->q[weak] ? row->q[weak] : 0;
        uint64_t h = sy_hash64(row->id, strlen(row->id), seed ^ 0x5eed);
        double u = (double)(h >> 11) / 9007199254740992.0;
        double lat = u < p ? row->lat[strong] : row->lat[weak];
        acc_add(a, row, -1, p * qs + (1 - p) * qw, p * row->cost[strong] + (1 - p) * row->cost[weak],
                p * row->tok[strong] + (1 - p) * row->tok[weak], lat);
        a->calls[strong] += p;
        a->calls[weak] += 1 - p;
    }
    acc_finish(a);
}

/* ============================================================ two-model measures */

typedef struct ev_pt {
    double x;        /* share of requests sent to the strong model */
    double pgr;      /* performance gap recovered */
    double quality, cost;
} ev_pt;

static int cmp_pt(const void *a, const void *b)
{
    const ev_pt *p = a, *q = b;
    return p->x < q->x ? -1 : p->x > q->x ? 1 : (p->pgr > q->pgr) - (p->pgr < q->pgr);
}

/* Area under PGR over the strong share 0..1 (trapezoids), the curve closed by always-weak
 * (0, 0) and always-strong (1, 1). */
static double curve_apgr(ev_pt *pts, int n)
{
    qsort(pts, (size_t)n, sizeof *pts, cmp_pt);
    double area = 0;
    for (int i = 1; i < n; i++) area += (pts[i].x - pts[i - 1].x) * (pts[i].pgr + pts[i - 1].pgr) / 2;
    return area;
}

/* Smallest strong share at which the curve (sorted by x) reaches pgr p, interpolated. */
static double curve_cpt(const ev_pt *pts, int n, double p)
{
    for (int i = 0; i < n; i++) {
        if (pts[i].pgr < p) continue;
        if (i == 0 || pts[i].pgr == pts[i - 1].pgr) return pts[i].x;
        double t = (p - pts[i - 1].pgr) / (pts[i].pgr - pts[i - 1].pgr);
        if (t < 0) t = 0;
        return pts[i - 1].x + t * (pts[i].x - pts[i - 1].x);
    }
    return NAN;
}

/* Least cost at which the curve reaches quality target, interpolated; NAN when never. */
static double curve_cost_at(const ev_pt *pts, int n, double target)
{
    double best = NAN;
    for (int i = 0; i < n; i++) {
        double c = NAN;
        if (pts[i].quality >= target) {
            c = pts[i].cost;
            if (i > 0 && pts[i - 1].quality < target) {
                double t = (target - pts[i - 1].quality) / (pts[i].quality - pts[i - 1].quality);
                c = pts[i - 1].cost + t * (pts[i].cost - pts[i - 1].cost);
            }
        }
        if (c == c && (best != best || c < best)) best = c;
    }
    return best;
}

typedef struct ev_gain {
    double gain;
    int row;
} ev_gain;

static int cmp_gain(const void *a, const void *b)
{
    const ev_gain *p = a, *q = b;
    return p->gain > q->gain ? -1 : p->gain < q->gain ? 1 : p->row - q->row;
}

/* The oracle's curve: the rows where the strong model gains most go to it first. */
static int oracle_curve(const ev_data *d, int strong, int weak, double qs, double qw, ev_pt **out)
{
    int n = d->n;
    ev_gain *g = malloc((size_t)n * sizeof *g);
    ev_pt *curve = malloc((size_t)(n + 1) * sizeof *curve);
    if (!g || !curve) {
        free(g);
        free(curve);
        return -1;
    }
    double cost = 0, q = 0;
    for (int r = 0; r < n; r++) {
        const ev_row *row = &d->rows[r];
        double s = row->q[strong] == row->q[strong] ? row->q[strong] : 0;
        double w = row->q[weak] == row->q[weak] ? row->q[weak] : 0;
        g[r] = (ev_gain){s - w, r};
        cost += row->cost[weak];
        q += w;
    }
    qsort(g, (size_t)n, sizeof *g, cmp_gain);
    curve[0] = (ev_pt){0, 0, q / n, cost};
    for (int k = 0; k < n; k++) {
        const ev_row *row = &d->rows[g[k].row];
        q += g[k].gain;
        cost += row->cost[strong] - row->cost[weak];
        curve[k + 1] = (ev_pt){(double)(k + 1) / n, (q / n - qw) / (qs - qw), q / n, cost};
    }
    free(g);
    *out = curve;
    return n + 1;
}

/* ============================================================ sweeps */

typedef struct ev_sweep {
    char name[64];
    double from, to, step;
    int n;
} ev_sweep;

static int sweep_parse(const char *s, ev_sweep *sw, sy_buf *err)
{
    const char *eq = strchr(s, '=');
    size_t nl = eq ? (size_t)(eq - s) : 0;
    int ok = eq && nl > 0 && nl < sizeof sw->name;
    for (size_t i = 0; ok && i < nl; i++)
        ok = s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (i > 0 && s[i] >= '0' && s[i] <= '9');
    char *end = NULL;
    if (ok) {
        memcpy(sw->name, s, nl);
        sw->name[nl] = '\0';
        sw->from = strtod(eq + 1, &end);
        ok = end != eq + 1 && *end == ':';
    }
    if (ok) {
        const char *p = end + 1;
        sw->to = strtod(p, &end);
        ok = end != p && *end == ':';
    }
    if (ok) {
        const char *p = end + 1;
        sw->step = strtod(p, &end);
        ok = end != p && *end == '\0';
    }
    if (!ok) {
        sy_buf_printf(err, "--sweep: expected OPTION=FROM:TO:STEP (e.g. threshold=0.1:0.9:0.05), "
                           "got \"%s\"\n", s);
        return SY_EINVAL;
    }
    if (!(sw->step > 0) || !(sw->to >= sw->from) || !isfinite(sw->from) || !isfinite(sw->to)) {
        sy_buf_printf(err, "--sweep %s: needs FROM <= TO and a STEP above 0\n", s);
        return SY_EINVAL;
    }
    double count = floor((sw->to - sw->from) / sw->step + 1e-9) + 1;
    if (count > SY_EVAL_MAX_SWEEP) {
        sy_buf_printf(err, "--sweep %s: %.0f values, at most %d\n", s, count, SY_EVAL_MAX_SWEEP);
        return SY_EINVAL;
    }
    sw->n = (int)count;
    return SY_OK;
}

/* The route's options with name = value (the policy checks the name and the type). */
static char *options_with(const char *json, const char *name, double value)
{
    cJSON *o = json ? cJSON_Parse(json) : cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(o, name);
    cJSON_AddNumberToObject(o, name, value);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* ============================================================ the report */

static const char *fmt_num(char *buf, size_t n, const char *fmt, double v)
{
    if (v != v)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, fmt, v);
    return buf;
}

typedef struct ev_two {
    int on;                  /* exactly two models with a quality gap */
    int strong, weak;
    double qs, qw, cs, cw;
    double policy_x, policy_pgr;
    double apgr[3], cpt50[3], cpt80[3], saved95[3]; /* policy (sweep), random, oracle */
} ev_two;

static void two_measures(ev_pt *pts, int n, const ev_two *t, int k, ev_two *out)
{
    out->apgr[k] = curve_apgr(pts, n);
    out->cpt50[k] = curve_cpt(pts, n, 0.5);
    out->cpt80[k] = curve_cpt(pts, n, 0.8);
    double c = curve_cost_at(pts, n, 0.95 * t->qs);
    out->saved95[k] = c == c && t->cs > 0 ? 1 - c / t->cs : NAN;
}

static void print_table(FILE *out, const ev_data *d, ev_acc *const *acc, int nacc)
{
    char b1[32], b2[32], b3[32], b4[32];
    fprintf(out, "%-22s %11s %12s %9s %8s", "approach", "cost USD", "USD/1k tok", "P95 ms",
            "quality");
    for (int g = 0; g < d->ng && d->ng > 1; g++) fprintf(out, " %9.9s", d->groups[g]);
    fputs("   share of requests\n", out);
    for (int i = 0; i < nacc; i++) {
        const ev_acc *a = acc[i];
        fprintf(out, "%-22s %11s %12s %9s %8s", a->name, fmt_num(b1, sizeof b1, "%.4f", a->cost),
                fmt_num(b2, sizeof b2, "%.5f", acc_per1k(a)), fmt_num(b3, sizeof b3, "%.0f", a->p95),
                fmt_num(b4, sizeof b4, "%.4f", acc_q(a)));
        for (int g = 0; g < d->ng && d->ng > 1; g++)
            fprintf(out, " %9s", fmt_num(b1, sizeof b1, "%.4f", a->gn[g] ? a->gq[g] / a->gn[g] : NAN));
        fputs("  ", out);
        for (int l = 0; l < d->nl; l++)
            if (a->calls[l] > 0)
                fprintf(out, " %s %.1f%%", d->models[l]->id, 100.0 * a->calls[l] / (a->n ? a->n : 1));
        fputc('\n', out);
    }
}

static cJSON *acc_json(const ev_data *d, const ev_acc *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "approach", a->name);
    cJSON_AddNumberToObject(o, "requests", a->n);
    cJSON_AddNumberToObject(o, "cost_usd", a->cost);
    cJSON_AddNumberToObject(o, "tokens", a->tokens);
    if (a->tokens > 0) cJSON_AddNumberToObject(o, "cost_per_1k_tokens", acc_per1k(a));
    if (a->p95 == a->p95) cJSON_AddNumberToObject(o, "p95_latency_ms", a->p95);
    cJSON_AddNumberToObject(o, "quality", acc_q(a));
    cJSON *g = cJSON_AddObjectToObject(o, "quality_by_group");
    for (int i = 0; i < d->ng; i++)
        if (a->gn[i]) cJSON_AddNumberToObject(g, d->groups[i], a->gq[i] / a->gn[i]);
    cJSON *s = cJSON_AddObjectToObject(o, "share");
    for (int l = 0; l < d->nl; l++)
        cJSON_AddNumberToObject(s, d->models[l]->id, a->n ? a->calls[l] / a->n : 0);
    return o;
}

static void json_num_or_null(cJSON *o, const char *k, double v)
{
    if (v == v)
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

/* ---- the sweep's curve as CSV and SVG */

typedef struct ev_sweep_pt {
    double value;
    ev_acc acc;
    double x, pgr;
} ev_sweep_pt;

static int write_csv(const char *path, const ev_data *d, const ev_sweep *sw, const ev_sweep_pt *p,
                     int n, int two)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "%s,quality,cost_usd,cost_per_1k_tokens,p95_latency_ms", sw->name);
    if (two) fputs(",strong_share,pgr", f);
    for (int l = 0; l < d->nl; l++) fprintf(f, ",share_%s", d->models[l]->id);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        const ev_acc *a = &p[i].acc;
        fprintf(f, "%.10g,%.6f,%.8f,%.8f,", p[i].value, acc_q(a), a->cost, acc_per1k(a));
        if (a->p95 == a->p95) fprintf(f, "%.1f", a->p95);
        if (two) fprintf(f, ",%.6f,%.6f", p[i].x, p[i].pgr);
        for (int l = 0; l < d->nl; l++) fprintf(f, ",%.6f", a->n ? a->calls[l] / a->n : 0);
        fputc('\n', f);
    }
    return fclose(f);
}

/* A cost–quality chart a person can open: the sweep's points joined in order, the baselines
 * as labelled markers, random routing as the dashed line between cheapest and strongest. */
static int write_svg(const char *path, const char *title, const ev_sweep *sw, const ev_sweep_pt *p,
                     int n, ev_acc *const *base, int nbase)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const double W = 760, H = 500, L = 80, R = 180, T = 50, B = 60;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < n; i++) {
        xmin = fmin(xmin, p[i].acc.cost), xmax = fmax(xmax, p[i].acc.cost);
        ymin = fmin(ymin, acc_q(&p[i].acc)), ymax = fmax(ymax, acc_q(&p[i].acc));
    }
    for (int i = 0; i < nbase; i++) {
        xmin = fmin(xmin, base[i]->cost), xmax = fmax(xmax, base[i]->cost);
        ymin = fmin(ymin, acc_q(base[i])), ymax = fmax(ymax, acc_q(base[i]));
    }
    if (xmax <= xmin) xmax = xmin + 1;
    if (ymax <= ymin) ymax = ymin + 0.01;
    double xpad = (xmax - xmin) * 0.05, ypad = (ymax - ymin) * 0.08;
    xmin -= xpad, xmax += xpad, ymin -= ypad, ymax += ypad;
#define SX(v) (L + ((v) - xmin) / (xmax - xmin) * (W - L - R))
#define SY(v) (H - B - ((v) - ymin) / (ymax - ymin) * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fputs("<text x=\"20\" y=\"28\" font-size=\"15\">", f);
    for (const char *c = title; *c; c++)
        if (*c == '<') fputs("&lt;", f); else if (*c == '&') fputs("&amp;", f); else fputc(*c, f);
    fputs("</text>\n", f);
    fprintf(f, "<g stroke=\"#999\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/></g>\n",
            L, H - B, W - R, H - B, L, T, L, H - B);
    for (int i = 0; i <= 5; i++) {
        double xv = xmin + (xmax - xmin) * i / 5, yv = ymin + (ymax - ymin) * i / 5;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.4g</text>\n", SX(xv),
                H - B + 18, xv);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>\n", L - 6,
                SY(yv) + 4, yv);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">total cost (USD)</text>\n",
            (L + W - R) / 2, H - 18);
    fprintf(f, "<text x=\"18\" y=\"%.1f\" transform=\"rotate(-90 18 %.1f)\" "
               "text-anchor=\"middle\">mean quality</text>\n", (T + H - B) / 2, (T + H - B) / 2);
    const ev_acc *cheap = NULL, *strong = NULL;
    for (int i = 0; i < nbase; i++) {
        if (strncmp(base[i]->name, "always cheapest", 15) == 0) cheap = base[i];
        if (strncmp(base[i]->name, "always strongest", 16) == 0) strong = base[i];
    }
    if (cheap && strong)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
                   "stroke-dasharray=\"5,4\"/>\n<text x=\"%.1f\" y=\"%.1f\" fill=\"#666\">random</text>\n",
                SX(cheap->cost), SY(acc_q(cheap)), SX(strong->cost), SY(acc_q(strong)),
                SX((cheap->cost + strong->cost) / 2) + 4, SY((acc_q(cheap) + acc_q(strong)) / 2) + 14);
    fputs("<polyline fill=\"none\" stroke=\"#1f6fd1\" stroke-width=\"2\" points=\"", f);
    for (int i = 0; i < n; i++) fprintf(f, "%.1f,%.1f ", SX(p[i].acc.cost), SY(acc_q(&p[i].acc)));
    fputs("\"/>\n", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f6fd1\"><title>%s=%.4g: "
                   "quality %.4f, cost %.4f</title></circle>\n",
                SX(p[i].acc.cost), SY(acc_q(&p[i].acc)), sw->name, p[i].value, acc_q(&p[i].acc),
                p[i].acc.cost);
        if (n <= 12 || i % (n / 8 + 1) == 0 || i == n - 1)
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#1f6fd1\" font-size=\"10\">%.3g</text>\n",
                    SX(p[i].acc.cost) + 5, SY(acc_q(&p[i].acc)) - 5, p[i].value);
    }
    for (int i = 0; i < nbase; i++)
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" fill=\"#d1541f\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                SX(base[i]->cost) - 3.5, SY(acc_q(base[i])) - 3.5, SX(base[i]->cost) + 7,
                SY(acc_q(base[i])) + 4, base[i]->name);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#1f6fd1\">policy, %s swept</text>\n", W - R + 10,
            T + 10.0, sw->name);
    fputs("</svg>\n", f);
#undef SX
#undef SY
    return fclose(f);
}

/* ============================================================ the run */

static int open_vm(ev_ctx *x, sy_policy_vm **vm, sy_buf *err)
{
    sy_buf diag;
    sy_buf_init(&diag);
    int rc = sy_policy_vm_new(vm, x->cfg, &diag);
    if (rc != SY_OK) sy_buf_puts(err, diag.data ? diag.data : "the policy does not load\n");
    sy_buf_free(&diag);
    return rc;
}

int sy_eval_run(const sy_eval_opts *o, FILE *out, sy_buf *err)
{
    ev_data d;
    ev_ctx x = {.o = o, .d = &d};
    ev_acc pol, strongest, cheapest, random, oracle;
    ev_acc *accs[5] = {&pol, &strongest, &cheapest, &random, &oracle};
    ev_sweep sw = {0};
    ev_sweep_pt *pts = NULL;
    ev_pt *curve = NULL, *ocurve = NULL;
    sy_policy_vm *vm = NULL;
    ev_two two = {0};
    char *saved_opts = NULL;
    sy_buf perr;
    sy_buf_init(&perr);
    int rc, nocurve = 0, level = sy_log_level();
    memset(accs[0], 0, sizeof pol);
    for (int i = 1; i < 5; i++) memset(accs[i], 0, sizeof pol);
    memset(&d, 0, sizeof d);

    if (o->sweep && (rc = sweep_parse(o->sweep, &sw, err)) != SY_OK) {
        sy_buf_free(&perr);
        return rc;
    }
    rc = sy_config_load(&x.cfg, o->config, err);
    if (rc != SY_OK) {
        sy_buf_free(&perr);
        return rc;
    }
    x.route = sy_config_route(x.cfg, o->route);
    if (!x.route) {
        sy_buf_printf(err, "%s: no route named \"%s\" (routes:", o->config, o->route);
        for (int i = 0; i < x.cfg->nroutes; i++) sy_buf_printf(err, " %s", x.cfg->routes[i].name);
        sy_buf_puts(err, ")\n");
        rc = SY_EINVAL;
        goto done;
    }
    if ((rc = data_load(&d, o, err)) != SY_OK || (rc = data_bind(&d, x.cfg, err)) != SY_OK)
        goto done;
    data_fill(&d, o->seed);
    if (o->decisions && !(x.decisions = fopen(o->decisions, "w"))) {
        sy_buf_printf(err, "%s: cannot write: %s\n", o->decisions, strerror(errno));
        rc = SY_EIO;
        goto done;
    }
    for (int i = 0; i < 5; i++)
        if (acc_init(accs[i], i == 0 ? "policy" : i == 1 ? "always strongest" : i == 2 ? "always cheapest"
                                          : i == 3 ? "random (equal cost)" : "oracle",
                     d.n) != 0) {
            rc = SY_ENOMEM;
            goto done;
        }
    x.total = (long)d.n * (1 + sw.n);
    /* policy failures are counted and the first is reported; a log line per row is noise */
    sy_log_set_level(SY_LOG_ERROR);
    if ((rc = open_vm(&x, &vm, err)) != SY_OK) goto done;
    rc = run_policy(&x, vm, &pol, &perr);
    sy_policy_vm_free(vm);
    vm = NULL;
    if (rc != SY_OK) {
        sy_buf_puts(err, perr.data);
        goto done;
    }
    if (x.decisions) fclose(x.decisions), x.decisions = NULL;

    /* the baselines: the best mean quality (the pricier on a tie), the least total cost */
    double qsum[SY_EVAL_MAX_LABELS] = {0}, csum[SY_EVAL_MAX_LABELS] = {0};
    for (int r = 0; r < d.n; r++)
        for (int l = 0; l < d.nl; l++) {
            qsum[l] += d.rows[r].q[l] == d.rows[r].q[l] ? d.rows[r].q[l] : 0;
            csum[l] += d.rows[r].cost[l];
        }
    int s = 0, w = 0;
    for (int l = 1; l < d.nl; l++) {
        if (qsum[l] > qsum[s] || (qsum[l] == qsum[s] && csum[l] > csum[s])) s = l;
        if (csum[l] < csum[w]) w = l;
    }
    snprintf(strongest.name, sizeof strongest.name, "always %s", d.models[s]->id);
    snprintf(cheapest.name, sizeof cheapest.name, "always %s", d.models[w]->id);
    run_fixed(&d, s, &strongest);
    run_fixed(&d, w, &cheapest);
    double p = csum[s] > csum[w] ? (pol.cost - csum[w]) / (csum[s] - csum[w]) : 0;
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    run_random(&d, s, w, p, o->seed, &random);
    run_oracle(&d, &oracle);

    two.strong = s, two.weak = w;
    two.qs = qsum[s] / d.n, two.qw = qsum[w] / d.n, two.cs = csum[s], two.cw = csum[w];
    two.on = d.nl == 2 && s != w && two.qs > two.qw;
    for (int k = 0; k < 3; k++)
        two.apgr[k] = two.cpt50[k] = two.cpt80[k] = two.saved95[k] = NAN;
    if (two.on) {
        two.policy_x = pol.calls[s] / d.n;
        two.policy_pgr = (acc_q(&pol) - two.qw) / (two.qs - two.qw);
        ev_pt rnd[2] = {{0, 0, two.qw, two.cw}, {1, 1, two.qs, two.cs}};
        two_measures(rnd, 2, &two, 1, &two);
        int n = oracle_curve(&d, s, w, two.qs, two.qw, &ocurve);
        if (n > 0) two_measures(ocurve, n, &two, 2, &two);
    }

    /* the sweep: the same policy, one option changed, a fresh VM per value */
    if (sw.n) {
        sy_route *route = (sy_route *)x.route; /* this config is eval's own */
        saved_opts = route->options_json;
        pts = calloc((size_t)sw.n, sizeof *pts);
        curve = calloc((size_t)sw.n + 2, sizeof *curve);
        if (!pts || !curve) {
            rc = SY_ENOMEM;
            goto done;
        }
        for (int i = 0; i < sw.n; i++) {
            pts[i].value = sw.from + sw.step * i;
            if (acc_init(&pts[i].acc, "sweep", d.n) != 0) {
                rc = SY_ENOMEM;
                goto done;
            }
            route->options_json = options_with(saved_opts, sw.name, pts[i].value);
            rc = route->options_json ? open_vm(&x, &vm, err) : SY_ENOMEM;
            free(route->options_json);
            route->options_json = saved_opts;
            if (rc != SY_OK) goto done;
            sy_buf_reset(&perr);
            rc = run_policy(&x, vm, &pts[i].acc, &perr);
            sy_policy_vm_free(vm);
            vm = NULL;
            if (rc != SY_OK) {
                sy_buf_puts(err, perr.data);
                goto done;
            }
            if (two.on) {
                pts[i].x = pts[i].acc.calls[s] / d.n;
                pts[i].pgr = (acc_q(&pts[i].acc) - two.qw) / (two.qs - two.qw);
                curve[i] = (ev_pt){pts[i].x, pts[i].pgr, acc_q(&pts[i].acc), pts[i].acc.cost};
            }
        }
        if (two.on) {
            curve[sw.n] = (ev_pt){0, 0, two.qw, two.cw};
            curve[sw.n + 1] = (ev_pt){1, 1, two.qs, two.cs};
            two_measures(curve, sw.n + 2, &two, 0, &two);
        }
        char path[1024];
        const char *prefix = o->sweep_out ? o->sweep_out : "eval-sweep";
        char title[256];
        snprintf(title, sizeof title, "switchyard eval: route %s, %s from %g to %g (%d rows)",
                 x.route->name, sw.name, sw.from, sw.to, d.n);
        snprintf(path, sizeof path, "%s.csv", prefix);
        if (write_csv(path, &d, &sw, pts, sw.n, two.on) != 0) {
            sy_buf_printf(err, "%s: cannot write: %s\n", path, strerror(errno));
            rc = SY_EIO;
            goto done;
        }
        snprintf(path, sizeof path, "%s.svg", prefix);
        ev_acc *base[4] = {&strongest, &cheapest, &oracle, &pol};
        if (write_svg(path, title, &sw, pts, sw.n, base, 4) != 0) {
            sy_buf_printf(err, "%s: cannot write: %s\n", path, strerror(errno));
            rc = SY_EIO;
            goto done;
        }
    } else {
        nocurve = 1;
    }

    /* ---- the report */
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "route", x.route->name);
        cJSON_AddStringToObject(j, "data", o->data);
        cJSON_AddNumberToObject(j, "rows", d.n);
        cJSON_AddNumberToObject(j, "left_out_contaminated", d.left_contaminated);
        cJSON_AddNumberToObject(j, "left_out_split", d.left_split);
        cJSON_AddNumberToObject(j, "policy_failures", pol.policy_failed);
        if (pol.policy_failed) cJSON_AddStringToObject(j, "first_policy_error", pol.first_error);
        cJSON_AddNumberToObject(j, "context_length_exceeded", pol.no_fit);
        cJSON_AddNumberToObject(j, "cascade_escalations", pol.escalations);
        cJSON *m = cJSON_AddObjectToObject(j, "models");
        for (int l = 0; l < d.nl; l++) cJSON_AddStringToObject(m, d.models[l]->id, d.labels[l]);
        cJSON *arr = cJSON_AddArrayToObject(j, "approaches");
        for (int i = 0; i < 5; i++) cJSON_AddItemToArray(arr, acc_json(&d, accs[i]));
        if (two.on) {
            cJSON *t = cJSON_AddObjectToObject(j, "two_model");
            cJSON_AddStringToObject(t, "strong", d.models[s]->id);
            cJSON_AddStringToObject(t, "weak", d.models[w]->id);
            cJSON_AddNumberToObject(t, "policy_strong_share", two.policy_x);
            cJSON_AddNumberToObject(t, "policy_pgr", two.policy_pgr);
            static const char *const who[] = {"policy", "random", "oracle"};
            for (int k = 0; k < 3; k++) {
                cJSON *e = cJSON_AddObjectToObject(t, who[k]);
                json_num_or_null(e, "apgr", two.apgr[k]);
                json_num_or_null(e, "cpt50", two.cpt50[k]);
                json_num_or_null(e, "cpt80", two.cpt80[k]);
                json_num_or_null(e, "cost_saved_at_95", two.saved95[k]);
            }
        }
        if (sw.n) {
            cJSON *sa = cJSON_AddArrayToObject(j, "sweep");
            for (int i = 0; i < sw.n; i++) {
                cJSON *e = acc_json(&d, &pts[i].acc);
                cJSON_DeleteItemFromObject(e, "approach");
                cJSON_AddNumberToObject(e, sw.name, pts[i].value);
                if (two.on) {
                    cJSON_AddNumberToObject(e, "strong_share", pts[i].x);
                    cJSON_AddNumberToObject(e, "pgr", pts[i].pgr);
                }
                cJSON_AddItemToArray(sa, e);
            }
        }
        char *txt = cJSON_PrintUnformatted(j);
        if (txt) fprintf(out, "%s\n", txt);
        free(txt);
        cJSON_Delete(j);
    } else {
        char b1[32], b2[32], b3[32], b4[32];
        fprintf(out, "switchyard eval: route %s on %s\n", x.route->name, o->data);
        fprintf(out, "rows: %d", d.n);
        if (d.left_contaminated || d.left_split)
            fprintf(out, " (left out: %d contaminated, %d outside the %s split)", d.left_contaminated,
                    d.left_split, o->split == SY_SPLIT_TEST ? "test" : "train");
        fputs("\nmodels:", out);
        for (int l = 0; l < d.nl; l++)
            fprintf(out, "%s %s", l ? "," : "", d.models[l]->id),
                strcmp(d.models[l]->id, d.labels[l]) ? fprintf(out, " (%s)", d.labels[l]) : 0;
        fputs("\n\n", out);
        print_table(out, &d, accs, 5);
        if (two.on) {
            fprintf(out, "\ntwo-model measures (RouteLLM), strong %s, weak %s:\n", d.models[s]->id,
                    d.models[w]->id);
            fprintf(out, "  policy: %.1f%% of requests to %s, performance gap recovered %.3f\n",
                    100 * two.policy_x, d.models[s]->id, two.policy_pgr);
            fprintf(out, "  %-22s %8s %10s %10s %22s\n", "", "APGR", "CPT(50%)", "CPT(80%)",
                    "cost saved at 95% qual.");
            static const char *const who[] = {"policy", "random", "oracle"};
            for (int k = 0; k < 3; k++) {
                if (k == 0 && nocurve) {
                    fprintf(out, "  %-22s (a curve is needed: add --sweep OPTION=FROM:TO:STEP)\n",
                            "policy");
                    continue;
                }
                fprintf(out, "  %-22s %8s %10s %10s %22s\n", k == 0 ? "policy (sweep)" : who[k],
                        fmt_num(b1, sizeof b1, "%.3f", two.apgr[k]),
                        fmt_num(b2, sizeof b2, "%.1f%%", 100 * two.cpt50[k]),
                        fmt_num(b3, sizeof b3, "%.1f%%", 100 * two.cpt80[k]),
                        fmt_num(b4, sizeof b4, "%.1f%%", 100 * two.saved95[k]));
            }
        } else if (d.nl != 2) {
            fputs("\n(APGR and CPT are two-model measures: this data set has a different number "
                  "of models)\n", out);
        }
        if (sw.n) {
            fprintf(out, "\nsweep of %s (%d values): %s.csv, %s.svg\n", sw.name, sw.n,
                    o->sweep_out ? o->sweep_out : "eval-sweep", o->sweep_out ? o->sweep_out : "eval-sweep");
            fprintf(out, "  %10s %8s %11s %12s%s\n", sw.name, "quality", "cost USD", "USD/1k tok",
                    two.on ? "  strong share    PGR" : "");
            for (int i = 0; i < sw.n; i++) {
                fprintf(out, "  %10.4g %8.4f %11.4f %12s", pts[i].value, acc_q(&pts[i].acc),
                        pts[i].acc.cost, fmt_num(b1, sizeof b1, "%.5f", acc_per1k(&pts[i].acc)));
                if (two.on) fprintf(out, "  %11.1f%% %7.3f", 100 * pts[i].x, pts[i].pgr);
                fputc('\n', out);
            }
        }
        fputc('\n', out);
        if (pol.policy_failed)
            fprintf(out, "note: the policy failed on %d rows (the route's default model was used); "
                         "the first: %s\n",
                    pol.policy_failed, pol.first_error);
        if (pol.no_fit)
            fprintf(out, "note: %d requests fit no model of their decision (counted as quality 0, no "
                         "cost)\n", pol.no_fit);
        if (pol.escalations)
            fprintf(out, "note: cascades escalated %d times; a step is accepted when its score is at "
                         "least %g (the data stands in for the acceptance check: optimistic)\n",
                    pol.escalations, o->accept_score);
        fputs("random (equal cost) mixes the cheapest and the strongest model at the policy's cost; "
              "oracle takes the cheapest model with the best score per row.\n", out);
    }
    rc = SY_OK;
done:
    sy_log_set_level(level);
    sy_buf_free(&perr);
    if (x.decisions) fclose(x.decisions);
    sy_policy_vm_free(vm);
    if (pts)
        for (int i = 0; i < sw.n; i++) free(pts[i].acc.lat);
    free(pts);
    free(curve);
    free(ocurve);
    for (int i = 0; i < 5; i++) free(accs[i]->lat);
    data_free(&d);
    sy_config_unref(x.cfg);
    return rc;
}
