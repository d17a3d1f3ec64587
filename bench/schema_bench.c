/* schema_bench.c — sy-schema-bench: JSON Schema validations per second of src/schema/ on one
 * schema and a valid and an invalid instance (parsed once, validated N times). schema.sh runs
 * it next to ajv (node-schema/bench.js) and prints the ratios; see README.md, "JSON Schema
 * validation".
 *
 * Usage: sy-schema-bench [--n N] [--rounds R] [--only CASE] SCHEMA.json VALID.json INVALID.json
 * Output: one line per case, "case <name> <validations/s> <ns/validation>", median of R. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schema/sy_schema.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static cJSON *load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sy-schema-bench: cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cJSON *j = NULL;
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) j = cJSON_ParseWithLength(buf, (size_t)n);
    if (!j) fprintf(stderr, "sy-schema-bench: %s is not valid JSON\n", path);
    free(buf);
    fclose(f);
    return j;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Validates n times per round; returns the median rate. want: the verdict every call must
 * give (a wrong one aborts the run: a benchmark of a broken validator is worthless). */
static double run_case(const sy_schema *s, const cJSON *inst, int max_errors, long n, int rounds,
                       int want)
{
    sy_schema_error errs[100];
    double rates[64];
    long bad = 0;
    for (long i = 0; i < n / 10 + 1; i++)
        bad += sy_schema_validate(s, inst, errs, max_errors, NULL) != want;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        for (long i = 0; i < n; i++) {
            int nerr = 0;
            bad += sy_schema_validate(s, inst, errs, max_errors, &nerr) != want;
        }
        rates[r] = (double)n / (now_s() - t0);
    }
    if (bad) {
        fprintf(stderr, "sy-schema-bench: %ld validations gave the wrong verdict\n", bad);
        exit(1);
    }
    qsort(rates, (size_t)rounds, sizeof rates[0], cmp_double);
    return rates[rounds / 2];
}

int main(int argc, char **argv)
{
    long n = 200000;
    int rounds = 5;
    const char *files[3], *only = NULL;
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = atol(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (nf < 3)
            files[nf++] = argv[i];
    }
    if (nf != 3 || n < 1 || rounds < 1 || rounds > 64) {
        fprintf(stderr, "usage: sy-schema-bench [--n N] [--rounds R] SCHEMA.json VALID.json "
                        "INVALID.json\n");
        return 2;
    }
    cJSON *sj = load(files[0]), *good = load(files[1]), *bad = load(files[2]);
    if (!sj || !good || !bad) return 2;
    char err[512];
    double t0 = now_s();
    sy_schema *s = sy_schema_compile(sj, NULL, err, sizeof err);
    double compile_us = (now_s() - t0) * 1e6;
    if (!s) {
        fprintf(stderr, "sy-schema-bench: %s: %s\n", files[0], err);
        return 2;
    }
    printf("# sy-schema-bench: n=%ld rounds=%d, schema compiled in %.0f us\n", n, rounds,
           compile_us);
    struct {
        const char *name;
        const cJSON *inst;
        int max, want;
    } cases[] = {
        {"valid-first", good, 1, 1},  {"invalid-first", bad, 1, 0},  {"valid-all", good, 100, 1},
        {"invalid-all", bad, 100, 0}, {"valid-verdict", good, 0, 1}, {"invalid-verdict", bad, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (only && strcmp(only, cases[i].name) != 0) continue;
        double rate = run_case(s, cases[i].inst, cases[i].max, n, rounds, cases[i].want);
        printf("case %s %.0f %.1f\n", cases[i].name, rate, 1e9 / rate);
        fflush(stdout);
    }
    sy_schema_free(s);
    cJSON_Delete(sj);
    cJSON_Delete(good);
    cJSON_Delete(bad);
    return 0;
}
