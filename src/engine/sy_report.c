/* sy_report.c — `switchyard report LOG.jsonl`: the routing-result log summarised per model —
 * share of requests and tokens, cost and cost per 1k tokens, savings, p50/p95 latency, error
 * and fallback rates — the table a team shows whoever pays the bill. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/sy_core.h"
#include "switchyard.h"

typedef struct row {
    char model[128];
    long requests, errors, fallbacks;
    double tokens, cost, savings;
    double *lat;
    size_t nlat, cap;
} row;

static row *find(row **rows, size_t *n, const char *model)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*rows)[i].model, model) == 0) return &(*rows)[i];
    row *r = realloc(*rows, (*n + 1) * sizeof **rows);
    if (!r) return NULL;
    *rows = r;
    memset(&r[*n], 0, sizeof r[*n]);
    snprintf(r[*n].model, sizeof r[*n].model, "%s", model);
    return &r[(*n)++];
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double q)
{
    if (!n) return NAN;
    qsort(v, n, sizeof *v, cmp_d);
    size_t i = (size_t)ceil(q * (double)n);
    return v[i ? i - 1 : 0];
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int sy_report(const char *path, FILE *out, char *err, size_t errlen)
{
    size_t len;
    char *text = sy_file_read(path, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read %s", path);
        return SY_EIO;
    }
    row *rows = NULL, total = {0};
    size_t nrows = 0;
    long lineno = 0, bad = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        if (!*line) continue;
        cJSON *j = cJSON_Parse(line);
        if (!j || !cJSON_IsObject(j)) {
            if (bad++ < 3) fprintf(stderr, "switchyard report: %s:%ld: not a routing-result line\n", path, lineno);
            cJSON_Delete(j);
            continue;
        }
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
        row *r = find(&rows, &nrows, cJSON_IsString(m) ? m->valuestring : "(none)");
        if (!r) {
            cJSON_Delete(j);
            break;
        }
        double tokens = 0;
        const cJSON *a, *atts = cJSON_GetObjectItemCaseSensitive(j, "attempts");
        cJSON_ArrayForEach(a, atts) tokens += num(a, "tokens_in") + num(a, "tokens_out");
        int status = (int)num(j, "status");
        r->requests++;
        r->errors += status >= 400;
        r->fallbacks += cJSON_GetArraySize(atts) > 1;
        r->tokens += tokens;
        r->cost += num(j, "cost_usd");
        r->savings += num(j, "savings_usd");
        if (r->nlat == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 64;
            double *p = realloc(r->lat, cap * sizeof *p);
            if (p) {
                r->lat = p;
                r->cap = cap;
            }
        }
        if (r->nlat < r->cap) r->lat[r->nlat++] = num(j, "latency_ms");
        total.requests++;
        total.errors += status >= 400;
        total.fallbacks += cJSON_GetArraySize(atts) > 1;
        total.tokens += tokens;
        total.cost += num(j, "cost_usd");
        total.savings += num(j, "savings_usd");
        cJSON_Delete(j);
    }
    free(text);
    if (!total.requests) {
        snprintf(err, errlen, "%s has no routing-result lines", path);
        free(rows);
        return SY_EINVAL;
    }
    fprintf(out, "%-20s %9s %7s %11s %7s %12s %10s %12s %9s %9s %7s %9s\n", "model", "requests",
            "share", "tokens", "share", "cost USD", "USD/1k tok", "savings USD", "p50 ms", "p95 ms",
            "errors", "fallbacks");
    double *all = NULL;
    size_t nall = 0;
    for (size_t i = 0; i < nrows; i++) {
        row *r = &rows[i];
        double *grow = realloc(all, (nall + r->nlat + 1) * sizeof *all);
        if (grow) {
            all = grow;
            memcpy(all + nall, r->lat, r->nlat * sizeof *all);
            nall += r->nlat;
        }
        fprintf(out, "%-20.20s %9ld %6.1f%% %11.0f %6.1f%% %12.6f %10.6f %12.6f %9.1f %9.1f %6.1f%% %8.1f%%\n",
                r->model, r->requests, 100.0 * (double)r->requests / (double)total.requests, r->tokens,
                total.tokens > 0 ? 100.0 * r->tokens / total.tokens : 0, r->cost,
                r->tokens > 0 ? r->cost / r->tokens * 1000 : 0, r->savings,
                pct(r->lat, r->nlat, 0.50), pct(r->lat, r->nlat, 0.95),
                100.0 * (double)r->errors / (double)r->requests,
                100.0 * (double)r->fallbacks / (double)r->requests);
        free(r->lat);
    }
    double saved_share = total.cost + total.savings > 0 ? total.savings / (total.cost + total.savings) : 0;
    fprintf(out, "%-20s %9ld %6.1f%% %11.0f %6.1f%% %12.6f %10.6f %12.6f %9.1f %9.1f %6.1f%% %8.1f%%\n",
            "total", total.requests, 100.0, total.tokens, 100.0, total.cost,
            total.tokens > 0 ? total.cost / total.tokens * 1000 : 0, total.savings,
            pct(all, nall, 0.50), pct(all, nall, 0.95),
            100.0 * (double)total.errors / (double)total.requests,
            100.0 * (double)total.fallbacks / (double)total.requests);
    fprintf(out, "\nrouting saved %.1f%% of what the reference models would have cost "
                 "(%.6f USD of %.6f USD)\n",
            100.0 * saved_share, total.savings, total.cost + total.savings);
    if (bad) fprintf(out, "%ld line%s skipped (not routing-result lines)\n", bad, bad == 1 ? "" : "s");
    free(all);
    free(rows);
    return SY_OK;
}
