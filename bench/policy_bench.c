/* policy_bench.c — sy-policy-bench: in-process decision time of each ready policy through the
 * public C API (sy_engine_route), on a 1 KB and a 32 KB chat request; config bench/policies.lua,
 * driver bench/policy.sh, results in bench/README.md ("Policy decision time").
 *
 * Usage: sy-policy-bench [--calls N] [--warmup N] [--route NAME]... [CONFIG]
 *
 * What one timed call covers is what a library user pays per decision: sy_engine_route parses
 * the request JSON, runs the route's Lua policy (sandbox, time budget) and prints the decision
 * JSON. Each call is timed on its own with CLOCK_MONOTONIC; the samples are sorted for exact
 * percentiles (100k doubles: 800 KB, sorted in a few ms). */
#include <switchyard.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SY_SOURCE_DIR
#define SY_SOURCE_DIR "."
#endif

#define TARGET_P99_US 20.0

/* The ready policies, each benchmarked under a route of the same name (bench/policies.lua). */
static const char *const POLICIES[] = {"starter",      "heuristic", "sla",
                                       "cheapest_fit", "cascade",   "composite"};
#define NPOLICIES (sizeof POLICIES / sizeof POLICIES[0])
#define MAX_ROUTES 32

/* ============================================================ requests */

/* Plain support-desk prose, cycled to fill the user message. No JSON escapes needed. */
static const char *const PROSE[] = {
    "Hello, I have been a customer of yours for about three years and until last month "
    "everything worked well. ",
    "Since the update on the twelfth, the invoices we download from the billing page show the "
    "wrong company address, although the address in our account settings is correct. ",
    "Our accountant noticed it when she tried to reconcile the March statements, and she had "
    "to send two of them back to the auditors. ",
    "I tried logging out, clearing the browser cache and downloading the files again from a "
    "different computer, but the old address is still printed in the header. ",
    "Could you tell me whether the invoices are generated once and stored, or whether they are "
    "built again every time someone downloads them? ",
    "If they are stored, is there a way to have the affected ones issued again with the right "
    "details, and will the invoice numbers stay the same? ",
    "We also have a smaller question about the new team plan: when a member leaves in the "
    "middle of a billing period, is the unused part credited to the next invoice? ",
    "Thank you for your help, and please let me know if you need our account number or copies "
    "of the documents in question. ",
};
#define NPROSE (sizeof PROSE / sizeof PROSE[0])

/* A chat request of `size` bytes (within a sentence): a short system message and a user
 * message of prose. Returns a malloc'd, NUL-terminated string; *len gets its length. */
static char *make_request(size_t size, size_t *len)
{
    static const char head[] =
        "{\"model\":\"bench\",\"messages\":[{\"role\":\"system\",\"content\":\"You are the "
        "support assistant of a software company. Answer politely and briefly.\"},"
        "{\"role\":\"user\",\"content\":\"";
    static const char tail[] = "\"}],\"max_tokens\":400}";
    size_t cap = size + 512, n = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    memcpy(s, head, sizeof head - 1);
    n = sizeof head - 1;
    for (size_t i = 0; n + sizeof tail - 1 < size; i++) {
        const char *p = PROSE[i % NPROSE];
        size_t plen = strlen(p);
        if (n + plen + sizeof tail - 1 > size) plen = size - n - (sizeof tail - 1);
        memcpy(s + n, p, plen);
        n += plen;
    }
    memcpy(s + n, tail, sizeof tail);
    *len = n + sizeof tail - 1;
    return s;
}

/* ============================================================ measurement */

typedef struct stats {
    size_t calls;
    size_t failed; /* rc != SY_OK (SY_EPOLICY: the policy failed, the default was used) */
    double p50, p90, p99, max; /* µs, whole sy_engine_route call */
    double eval_p50;           /* µs, the engine's own "eval_us": the policy call alone */
    char model[32];            /* first model of the last decision */
    char reason[80];           /* its reason */
} stats;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double q)
{
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Copies the string value of "key" in a decision JSON into out (no escapes expected). */
static void json_field(const char *json, const char *key, char *out, size_t size)
{
    char pat[40];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    out[0] = '\0';
    if (!p) return;
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    if (n >= size) n = size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static double json_eval_us(const char *json)
{
    const char *p = json ? strstr(json, "\"eval_us\":") : NULL;
    return p ? strtod(p + 10, NULL) : 0.0;
}

/* Warms up, then times `calls` decisions of route on req. Returns 0, or -1 on SY_ENOMEM. */
static int measure(sy_engine *eng, const char *route, const char *req, size_t len, size_t calls,
                   size_t warmup, double *t, double *ev, stats *st)
{
    const char *dec = NULL;
    memset(st, 0, sizeof *st);
    for (size_t i = 0; i < warmup; i++)
        if (sy_engine_route(eng, route, req, len, &dec) == SY_ENOMEM) return -1;
    for (size_t i = 0; i < calls; i++) {
        double t0 = now_us();
        int rc = sy_engine_route(eng, route, req, len, &dec);
        t[i] = now_us() - t0;
        if (rc != SY_OK) {
            if (rc == SY_ENOMEM) return -1;
            st->failed++;
        }
        ev[i] = json_eval_us(dec); /* outside the timed window */
    }
    json_field(dec, "model", st->model, sizeof st->model);
    json_field(dec, "reason", st->reason, sizeof st->reason);
    qsort(t, calls, sizeof *t, cmp_double);
    qsort(ev, calls, sizeof *ev, cmp_double);
    st->calls = calls;
    st->p50 = pct(t, calls, 0.50);
    st->p90 = pct(t, calls, 0.90);
    st->p99 = pct(t, calls, 0.99);
    st->max = t[calls - 1];
    st->eval_p50 = pct(ev, calls, 0.50);
    return 0;
}

/* ============================================================ setup */

/* bench/policies.lua declares a route per name in SY_BENCH_POLICIES. Unless the caller set
 * it, set it to the policies whose file exists next to the config (../policies/NAME.lua), so
 * a policy not written yet is skipped rather than failing the config. */
static void choose_policies(const char *config)
{
    char dir[PATH_MAX], path[PATH_MAX + 64], list[256] = "";
    if (getenv("SY_BENCH_POLICIES")) return;
    snprintf(dir, sizeof dir, "%s", config);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    for (size_t i = 0; i < NPOLICIES; i++) {
        snprintf(path, sizeof path, "%s/../policies/%s.lua", dir, POLICIES[i]);
        if (access(path, R_OK) != 0) {
            printf("# skip %-12s (no %s)\n", POLICIES[i], path);
            continue;
        }
        strncat(list, POLICIES[i], sizeof list - strlen(list) - 2);
        strcat(list, " ");
    }
    setenv("SY_BENCH_POLICIES", list, 1);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--calls N] [--warmup N] [--route NAME]... [CONFIG]\n"
            "  CONFIG     default %s/bench/policies.lua\n"
            "  --calls    timed calls per policy and size (default 100000)\n"
            "  --warmup   untimed calls first (default 2000)\n"
            "  --route    benchmark this route (repeatable; default: one per ready policy)\n",
            argv0, SY_SOURCE_DIR);
}

static int parse_count(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 100000000ULL) return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, const char **config, const char **routes,
                      size_t *nroutes, size_t *calls, size_t *warmup)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], calls) != 0) return -1;
        } else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], warmup) != 0) return -1;
        } else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc) {
            if (*nroutes == MAX_ROUTES) return -1;
            routes[(*nroutes)++] = argv[++i];
        } else if (argv[i][0] == '-') {
            return -1;
        } else {
            *config = argv[i];
        }
    }
    return 0;
}

/* ============================================================ main */

int main(int argc, char **argv)
{
    const char *config = SY_SOURCE_DIR "/bench/policies.lua";
    const char *routes[MAX_ROUTES];
    size_t nroutes = 0, calls = 100000, warmup = 2000;
    sy_engine *eng = NULL;
    char *req[2] = {NULL, NULL};
    size_t reqlen[2] = {0, 0};
    static const size_t sizes[2] = {1024, 32 * 1024};
    static const char *const size_names[2] = {"1 KB", "32 KB"};
    double *t = NULL, *ev = NULL;
    int ret = 1, have_target = 0, measured = 0;
    stats target = {0};

    if (parse_args(argc, argv, &config, routes, &nroutes, &calls, &warmup) != 0) {
        usage(argv[0]);
        ret = 2;
        goto fail;
    }
    if (nroutes == 0)
        for (size_t i = 0; i < NPOLICIES; i++)
            routes[nroutes++] = POLICIES[i];

    choose_policies(config);
    if (sy_global_init() != SY_OK) goto fail;
    int rc = sy_engine_open(&eng, config);
    if (rc != SY_OK) {
        fprintf(stderr, "sy-policy-bench: %s:\n%s", config, sy_engine_errmsg(eng));
        goto fail;
    }
    for (int k = 0; k < 2; k++)
        if (!(req[k] = make_request(sizes[k], &reqlen[k]))) goto fail;
    t = malloc(calls * sizeof *t);
    ev = malloc(calls * sizeof *ev);
    if (!t || !ev) goto fail;

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("# switchyard %s, config %s, %ld CPU(s)\n", sy_version(), config, ncpu);
    printf("# %zu timed sy_engine_route() calls per row after %zu warm-up calls; requests "
           "%zu and %zu bytes\n",
           calls, warmup, reqlen[0], reqlen[1]);
    printf("# time = the whole call: request JSON parse + policy + decision JSON; "
           "eval = the engine's eval_us (policy alone)\n");
    printf("%-13s %-6s %8s %8s %8s %8s %9s %9s %6s  %s\n", "policy", "size", "calls", "p50 us",
           "p90 us", "p99 us", "max us", "eval p50", "fail", "decision");

    for (size_t r = 0; r < nroutes; r++) {
        const char *dec = NULL;
        rc = sy_engine_route(eng, routes[r], req[0], reqlen[0], &dec);
        if (rc == SY_ENOTFOUND) {
            printf("%-13s (no such route in the config: skipped)\n", routes[r]);
            continue;
        }
        for (int k = 0; k < 2; k++) {
            stats st;
            if (measure(eng, routes[r], req[k], reqlen[k], calls, warmup, t, ev, &st) != 0)
                goto fail;
            measured++;
            printf("%-13s %-6s %8zu %8.2f %8.2f %8.2f %8.1f %9.2f %6zu  %s (%s)\n", routes[r],
                   size_names[k], st.calls, st.p50, st.p90, st.p99, st.max, st.eval_p50, st.failed,
                   st.model, st.reason);
            fflush(stdout);
            if (k == 0 && strcmp(routes[r], "heuristic") == 0) {
                target = st;
                have_target = 1;
            }
        }
    }
    if (have_target)
        printf("target: heuristic 1 KB p99 %.2f us vs < %.0f us: %s\n", target.p99, TARGET_P99_US,
               target.p99 < TARGET_P99_US ? "met" : "NOT met");
    else
        printf("target: no heuristic route measured\n");
    ret = measured ? 0 : 1;
fail:
    free(ev);
    free(t);
    free(req[1]);
    free(req[0]);
    sy_engine_free(eng);
    return ret;
}
