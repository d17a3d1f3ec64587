/* test_classify_cli.c — `switchyard train` and `switchyard classify` through the real binary:
 * train on tests/data/routing/fixture.jsonl, classify it back (ids, probabilities, the
 * fixture's signal), --split, and every error path with its exit code and message: bad JSON
 * line (FILE:LINE), missing options, unreadable files, corrupt and truncated models, binary
 * garbage, an empty file. usage: test_classify_cli PATH/TO/switchyard SOURCE_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sy_itest.h"
#include "sy_test.h"

static const char *g_bin, *g_src;
static char g_dir[512], g_fixture[700], g_model[700];

typedef struct run_result {
    int code;
    char *out; /* every stdout line, '\n'-joined (malloc'd) */
    size_t lines;
    char *err; /* stderr (malloc'd) */
} run_result;

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* switchyard ARGS... (NULL-terminated) → exit code, stdout, stderr. */
static void run(run_result *r, const char *const args[])
{
    char *argv[24], errpath[600];
    int n = 0;
    memset(r, 0, sizeof *r);
    r->code = -1;
    argv[n++] = (char *)g_bin;
    for (int i = 0; args[i] && n < 23; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", g_dir);
    sy_proc p = {0};
    if (sy_proc_spawn(&p, argv, NULL, 1, errpath) != 0) return;
    size_t cap = 1 << 16, len = 0;
    r->out = calloc(1, cap);
    char line[4096];
    int k;
    while (r->out && (k = sy_proc_read_line(&p, line, sizeof line, 20000)) >= 0) {
        if (len + (size_t)k + 2 > cap) {
            char *q = realloc(r->out, cap *= 2);
            if (!q) break;
            r->out = q;
        }
        memcpy(r->out + len, line, (size_t)k);
        len += (size_t)k;
        r->out[len++] = '\n';
        r->out[len] = '\0';
        r->lines++;
    }
    sy_proc_wait(&p, 20000);
    r->code = sy_proc_stop(&p, 1000);
    r->err = sy_it_read_file(errpath, NULL);
    if (!r->err) r->err = calloc(1, 1);
}

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
    CHECK(sy_it_write_file(g_dir, name, text, path, cap) == 0);
}

/* The model the classify tests use (trained by the first test; here when run alone). */
static void ensure_model(void)
{
    FILE *f = fopen(g_model, "rb");
    if (f) {
        fclose(f);
        return;
    }
    run_result r;
    const char *train[] = {"train", "--quiet", "--data", g_fixture, "--split", "all", "--out",
                           g_model, NULL};
    run(&r, train);
    CHECK(r.code == 0);
    run_free(&r);
}

TEST(train_then_classify_round_trip)
{
    run_result r;
    const char *train[] = {"train", "--data", g_fixture, "--split", "all", "--out", g_model,
                           NULL};
    run(&r, train);
    CHECK(r.code == 0);
    CHECK_CONTAINS(r.err, "48 rows");
    CHECK_CONTAINS(r.err, "big-model");
    CHECK_CONTAINS(r.err, "small-model");
    CHECK_CONTAINS(r.err, "bytes");
    CHECK(strstr(r.err, "epoch ") == NULL); /* progress only on a terminal */
    run_free(&r);

    const char *classify[] = {"classify", "--model", g_model, g_fixture, NULL};
    run(&r, classify);
    CHECK(r.code == 0);
    CHECK(r.lines == 48);
    CHECK_STR(r.err, "");
    double calc = 0, geo = 0;
    int ncalc = 0, ngeo = 0, ok = 1;
    for (char *line = r.out, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        const char *id = sy_json_str(j, "id");
        const cJSON *probs = sy_json_at(j, "probs");
        /* labels in the model's order: the order of first appearance in the data */
        ok &= probs && probs->child && strcmp(probs->child->string, "big-model") == 0 &&
              probs->child->next && strcmp(probs->child->next->string, "small-model") == 0 &&
              !probs->child->next->next;
        double big = sy_json_num(probs, "big-model", -1), small = sy_json_num(probs, "small-model", -1);
        ok &= id && big > 0 && big < 1 && small > 0 && small < 1;
        if (id && strncmp(id, "calc/", 5) == 0) {
            calc += big - small;
            ncalc++;
        } else if (id && strncmp(id, "geo/", 4) == 0) {
            geo += big - small;
            ngeo++;
        }
        cJSON_Delete(j);
    }
    CHECK(ok);
    CHECK(ncalc == 24 && ngeo == 24);
    /* the small model fails calculus: the strong model's lead is larger there */
    if (ncalc && ngeo) CHECK(calc / ncalc > geo / ngeo + 0.2);
    run_free(&r);

    /* --split test keeps the rows whose id hashes to 0 mod 5 */
    const char *test_only[] = {"classify", "--model", g_model, "--split", "test", g_fixture, NULL};
    run(&r, test_only);
    CHECK(r.code == 0);
    CHECK(r.lines > 0 && r.lines < 48);
    run_free(&r);
}

TEST(classify_ids_null_and_escaped)
{
    ensure_model();
    char path[700];
    write_file("ids.jsonl",
               "{\"prompt\":\"What is the capital of Peru?\"}\n"
               "\n"
               "{\"id\":\"q\\\"uote\\n\",\"prompt\":\"Evaluate the integral\",\"extra\":[1]}\n",
               path, sizeof path);
    run_result r;
    const char *args[] = {"classify", "--model", g_model, path, NULL};
    run(&r, args);
    CHECK(r.code == 0);
    CHECK(r.lines == 2);
    CHECK(strncmp(r.out, "{\"id\":null,\"probs\":{\"big-model\":", 32) == 0);
    CHECK_CONTAINS(r.out, "{\"id\":\"q\\\"uote\\n\",\"probs\":{");
    run_free(&r);
}

TEST(classify_bad_line_names_file_and_line)
{
    ensure_model();
    char path[700];
    write_file("bad.jsonl",
               "{\"id\":\"a\",\"prompt\":\"first\"}\n"
               "{\"id\":\"b\",\"prompt\":\"second\"}\n"
               "{\"id\":\"c\",\"prompt\":\n"
               "{\"id\":\"d\",\"prompt\":\"never\"}\n",
               path, sizeof path);
    run_result r;
    const char *args[] = {"classify", "--model", g_model, path, NULL};
    run(&r, args);
    CHECK(r.code == 1);
    CHECK(r.lines == 2); /* the rows before it, then it stops */
    char want[800];
    snprintf(want, sizeof want, "%s:3: (root): not valid JSON", path);
    CHECK_CONTAINS(r.err, want);
    run_free(&r);

    write_file("noprompt.jsonl", "{\"id\":\"a\",\"text\":\"x\"}\n", path, sizeof path);
    run(&r, args);
    CHECK(r.code == 1);
    snprintf(want, sizeof want, "%s:1: prompt: missing", path);
    CHECK_CONTAINS(r.err, want);
    run_free(&r);

    write_file("garbage.jsonl", "\x7f" "ELF\x01\x02\x03\xff\xfe\x00\x00 binary", path, sizeof path);
    run(&r, args);
    CHECK(r.code == 1);
    CHECK_CONTAINS(r.err, ":1: (root): not valid JSON");
    run_free(&r);

    write_file("empty.jsonl", "", path, sizeof path);
    run(&r, args);
    CHECK(r.code == 0);
    CHECK(r.lines == 0);
    run_free(&r);
}

TEST(train_errors)
{
    run_result r;
    char path[700], want[800];
    const char *no_out[] = {"train", "--data", g_fixture, NULL};
    run(&r, no_out);
    CHECK(r.code == 2);
    CHECK_CONTAINS(r.err, "needs --out");
    CHECK_CONTAINS(r.err, "usage: switchyard train");
    run_free(&r);

    const char *no_value[] = {"train", "--data", g_fixture, "--out", NULL};
    run(&r, no_value);
    CHECK(r.code == 2);
    CHECK_CONTAINS(r.err, "--out needs a value");
    run_free(&r);

    snprintf(path, sizeof path, "%s/m2.bin", g_dir);
    const char *bad_opts[][10] = {
        {"train", "--data", g_fixture, "--out", path, "--split", "half", NULL},
        {"train", "--data", g_fixture, "--out", path, "--features", "trigrams", NULL},
        {"train", "--data", g_fixture, "--out", path, "--epochs", "0", NULL},
        {"train", "--data", g_fixture, "--out", path, "--bits", "40", NULL},
        {"train", "--data", g_fixture, "--out", path, "--frobnicate", "1", NULL},
    };
    for (size_t i = 0; i < sizeof bad_opts / sizeof bad_opts[0]; i++) {
        run(&r, bad_opts[i]);
        CHECK(r.code == 2);
        run_free(&r);
    }

    const char *missing[] = {"train", "--data", "/nonexistent/x.jsonl", "--out", path, NULL};
    run(&r, missing);
    CHECK(r.code == 2);
    CHECK_CONTAINS(r.err, "cannot read /nonexistent/x.jsonl");
    run_free(&r);

    char data[700];
    write_file("badscore.jsonl",
               "{\"id\":\"x1\",\"prompt\":\"p\",\"scores\":{\"m\":1}}\n"
               "{\"id\":\"x2\",\"prompt\":\"p\",\"scores\":{\"m\":2}}\n",
               data, sizeof data);
    const char *badscore[] = {"train", "--data", data, "--split", "all", "--out", path, NULL};
    run(&r, badscore);
    CHECK(r.code == 1);
    snprintf(want, sizeof want, "%s:2: scores.m: must be a number from 0 to 1", data);
    CHECK_CONTAINS(r.err, want);
    run_free(&r);

    write_file("empty.jsonl", "", data, sizeof data);
    run(&r, badscore);
    CHECK(r.code == 1);
    CHECK_CONTAINS(r.err, "no rows");
    run_free(&r);

    const char *unwritable[] = {"train", "--data", g_fixture, "--split", "all", "--out",
                                "/nonexistent/dir/m.bin", NULL};
    run(&r, unwritable);
    CHECK(r.code == 2);
    CHECK_CONTAINS(r.err, "cannot write /nonexistent/dir/m.bin");
    run_free(&r);

    /* words2 trains too */
    const char *words2[] = {"train", "--data", g_fixture, "--split", "all", "--features", "words2",
                            "--out", path, "--quiet", NULL};
    run(&r, words2);
    CHECK(r.code == 0);
    CHECK_STR(r.err, "");
    run_free(&r);
}

TEST(classify_model_errors)
{
    ensure_model();
    run_result r;
    char path[700];
    size_t len = 0;
    char *model = sy_it_read_file(g_model, &len);
    CHECK(model && len > 100);
    if (!model) return;

    const char *no_model[] = {"classify", g_fixture, NULL};
    run(&r, no_model);
    CHECK(r.code == 2);
    CHECK_CONTAINS(r.err, "needs --model");
    run_free(&r);

    const char *missing[] = {"classify", "--model", "/nonexistent/m.bin", g_fixture, NULL};
    run(&r, missing);
    CHECK(r.code == 2);
    CHECK_CONTAINS(r.err, "cannot read /nonexistent/m.bin");
    run_free(&r);

    const char *args[] = {"classify", "--model", path, g_fixture, NULL};
    model[len / 2] ^= 0x01;
    FILE *f;
    snprintf(path, sizeof path, "%s/corrupt.bin", g_dir);
    if ((f = fopen(path, "wb"))) {
        fwrite(model, 1, len, f);
        fclose(f);
    }
    run(&r, args);
    CHECK(r.code == 2);
    CHECK(r.lines == 0);
    CHECK_CONTAINS(r.err, "corrupt.bin: checksum mismatch");
    run_free(&r);

    snprintf(path, sizeof path, "%s/short.bin", g_dir);
    if ((f = fopen(path, "wb"))) {
        fwrite(model, 1, len - 10, f);
        fclose(f);
    }
    run(&r, args);
    CHECK(r.code == 2);
    CHECK_CONTAINS(r.err, "short.bin: truncated");
    run_free(&r);

    /* a data file is not a model */
    const char *data_as_model[] = {"classify", "--model", g_fixture, g_fixture, NULL};
    run(&r, data_as_model);
    CHECK(r.code == 2);
    CHECK_CONTAINS(r.err, "bad magic");
    run_free(&r);

    const char *no_input[] = {"classify", "--model", g_model, "/nonexistent/in.jsonl", NULL};
    run(&r, no_input);
    CHECK(r.code == 2);
    CHECK_CONTAINS(r.err, "cannot read /nonexistent/in.jsonl");
    run_free(&r);
    free(model);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PATH/TO/switchyard SOURCE_DIR\n", argv[0]);
        return 2;
    }
    g_bin = argv[1];
    g_src = argv[2];
    if (sy_it_tmpdir(g_dir, sizeof g_dir) != 0) return 1;
    snprintf(g_fixture, sizeof g_fixture, "%s/tests/data/routing/fixture.jsonl", g_src);
    snprintf(g_model, sizeof g_model, "%s/model.bin", g_dir);
    RUN_SEL(train_then_classify_round_trip);
    RUN_SEL(classify_ids_null_and_escaped);
    RUN_SEL(classify_bad_line_names_file_and_line);
    RUN_SEL(train_errors);
    RUN_SEL(classify_model_errors);
    sy_it_rmtree(g_dir);
    return sy_test_summary();
}
