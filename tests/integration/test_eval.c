/* test_eval.c — `switchyard eval` and `switchyard replay` through the real binary, and shadow
 * policies through a real gateway: numbers checked on a hand-made data set whose answers are
 * known exactly (README "Evaluating a policy"), and the shipped classifier against its target.
 * Usage: test_eval SWITCHYARD MOCK SOURCE_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sy_itest.h"
#include "sy_test.h"

static const char *g_bin, *g_mock_bin;
static char g_dir[512];

/* Ten rows, two models. strong is right on 1-9, weak on 1-5; row 10 nobody. meta.level: 1 on
 * rows 1-5, 3 on 6-9, 2 on row 10. Costs 0.01 / 0.001 from the data (100 input tokens),
 * latency 1000 / 100 ms. */
static void write_data(void)
{
    char rows[8192] = "", line[600];
    for (int i = 1; i <= 10; i++) {
        int s = i <= 9, w = i <= 5, level = i <= 5 ? 1 : i <= 9 ? 3 : 2;
        snprintf(line, sizeof line,
                 "{\"id\":\"r%d\",\"prompt\":\"question %d\",\"task\":\"%s/x\",\"meta\":{\"level\":%d},"
                 "\"scores\":{\"strong\":%d,\"weak\":%d},\"cost\":{\"strong\":0.01,\"weak\":0.001},"
                 "\"tokens\":{\"input\":100,\"output\":{\"strong\":0,\"weak\":0}},"
                 "\"latency\":{\"strong\":1000,\"weak\":100}}\n",
                 i, i, i <= 5 ? "easy" : "hard", level, s, w);
        strcat(rows, line);
    }
    sy_it_write_file(g_dir, "data.jsonl", rows, NULL, 0);
    sy_it_write_file(g_dir, "level.lua",
                     "local sy = require 'switchyard'\n"
                     "return { name = 'level', options = { cut = 2 },\n"
                     "  route = function(req, ctx, opt)\n"
                     "    if (tonumber(req.meta.level) or 0) >= opt.cut then return sy.pick('strong', 'hard') end\n"
                     "    return sy.pick('weak', 'easy')\n"
                     "  end }\n",
                     NULL, 0);
    sy_it_write_file(g_dir, "cascade.lua",
                     "local sy = require 'switchyard'\n"
                     "return { route = function(req) return sy.cascade{ 'weak', 'strong' } end }\n",
                     NULL, 0);
    sy_it_write_file(g_dir, "third.lua",
                     "local sy = require 'switchyard'\n"
                     "return { route = function(req) return sy.pick('other') end }\n", NULL, 0);
    sy_it_write_file(g_dir, "config.lua",
                     "provider { id = 'sim', kind = 'sim' }\n"
                     "model { id = 'strong', provider = 'sim', price = { input = 0.1, output = 0.1 },"
                     " context_window = 100000 }\n"
                     "model { id = 'weak', provider = 'sim', price = { input = 0.01, output = 0.01 },"
                     " context_window = 100000 }\n"
                     "model { id = 'other', provider = 'sim', context_window = 100000 }\n"
                     "route { name = 'level', policy = 'level.lua', default = 'strong' }\n"
                     "route { name = 'cascade', policy = 'cascade.lua', default = 'strong' }\n"
                     "route { name = 'third', policy = 'third.lua', default = 'strong' }\n",
                     NULL, 0);
}

/* Runs the binary with args (NULL-ended) from the test dir; stdout to out.txt, stderr to
 * err.txt. Returns the exit code; *out / *err get the files' text (malloc'd). */
static int run(char **out, char **err, const char *const *args)
{
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "cd '%s' && '%s'", g_dir, g_bin);
    for (int i = 0; args[i]; i++) n += snprintf(cmd + n, sizeof cmd - (size_t)n, " '%s'", args[i]);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " >out.txt 2>err.txt");
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    sy_proc p = {0};
    if (sy_proc_spawn(&p, argv, NULL, 0, NULL) != 0) return -1;
    sy_proc_wait(&p, 60000);
    int code = sy_proc_stop(&p, 1000);
    char path[700];
    snprintf(path, sizeof path, "%s/out.txt", g_dir);
    *out = sy_it_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/err.txt", g_dir);
    *err = sy_it_read_file(path, NULL);
    return code;
}

static cJSON *run_json(const char *const *args, int *code)
{
    char *out, *err;
    *code = run(&out, &err, args);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    if (!j) fprintf(stderr, "eval output is not JSON:\n%s\n%s\n", out ? out : "", err ? err : "");
    free(out);
    free(err);
    return j;
}

static const cJSON *approach(const cJSON *j, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(j, "approaches"), i);
}

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

TEST(eval_numbers_on_a_known_data_set)
{
    int code;
    const char *args[] = {"eval", "--config", "config.lua", "--route", "level", "--data",
                          "data.jsonl", "--json", "--decisions", "dec.jsonl", NULL};
    cJSON *j = run_json(args, &code);
    CHECK(code == 0);
    if (!j) return;
    CHECK(sy_json_num(j, "rows", 0) == 10);
    const cJSON *pol = approach(j, 0), *st = approach(j, 1), *wk = approach(j, 2),
                *rnd = approach(j, 3), *orc = approach(j, 4);
    CHECK_STR(sy_json_str(pol, "approach"), "policy");
    /* cut 2: rows 6-10 to strong; quality 9/10, cost 5 x 0.01 + 5 x 0.001 */
    CHECK(NEAR(sy_json_num(pol, "quality", 0), 0.9));
    CHECK(NEAR(sy_json_num(pol, "cost_usd", 0), 0.055));
    CHECK(NEAR(sy_json_num(pol, "share.strong", 0), 0.5));
    CHECK(NEAR(sy_json_num(pol, "cost_per_1k_tokens", 0), 0.055));
    CHECK(sy_json_num(pol, "p95_latency_ms", 0) == 1000);
    CHECK(NEAR(sy_json_num(pol, "quality_by_group.easy", 0), 1.0));
    CHECK(NEAR(sy_json_num(pol, "quality_by_group.hard", 0), 0.8));
    CHECK_STR(sy_json_str(st, "approach"), "always strong");
    CHECK(NEAR(sy_json_num(st, "quality", 0), 0.9) && NEAR(sy_json_num(st, "cost_usd", 0), 0.1));
    CHECK_STR(sy_json_str(wk, "approach"), "always weak");
    CHECK(NEAR(sy_json_num(wk, "quality", 0), 0.5) && NEAR(sy_json_num(wk, "cost_usd", 0), 0.01));
    CHECK(sy_json_num(wk, "p95_latency_ms", 0) == 100);
    /* random at the policy's cost: p = (0.055 - 0.01) / (0.1 - 0.01) = 0.5 */
    CHECK(NEAR(sy_json_num(rnd, "cost_usd", 0), 0.055));
    CHECK(NEAR(sy_json_num(rnd, "quality", 0), 0.7));
    /* oracle: weak on 1-5 and 10, strong on 6-9 */
    CHECK(NEAR(sy_json_num(orc, "quality", 0), 0.9));
    CHECK(NEAR(sy_json_num(orc, "cost_usd", 0), 0.046));
    CHECK(NEAR(sy_json_num(j, "two_model.policy_pgr", 0), 1.0));
    CHECK(NEAR(sy_json_num(j, "two_model.random.apgr", 0), 0.5));
    CHECK(NEAR(sy_json_num(j, "two_model.random.cpt50", 0), 0.5));
    CHECK(NEAR(sy_json_num(j, "two_model.random.cpt80", 0), 0.8));
    /* the oracle's curve: PGR min(k, 4) / 4 at k/10 → area 0.8, CPT(50%) 0.2, CPT(80%) 0.32 */
    CHECK(NEAR(sy_json_num(j, "two_model.oracle.apgr", 0), 0.8));
    CHECK(NEAR(sy_json_num(j, "two_model.oracle.cpt50", 0), 0.2));
    CHECK(NEAR(sy_json_num(j, "two_model.oracle.cpt80", 0), 0.32));
    /* without a sweep the policy has a point, not a curve */
    CHECK(cJSON_IsNull(sy_json_at(j, "two_model.policy.apgr")));
    cJSON_Delete(j);
    char path[700];
    snprintf(path, sizeof path, "%s/dec.jsonl", g_dir);
    char *dec = sy_it_read_file(path, NULL);
    CHECK(dec != NULL);
    int lines = 0;
    for (const char *p = dec; p && *p; p++) lines += *p == '\n';
    CHECK(lines == 10);
    CHECK_CONTAINS(dec, "{\"id\":\"r6\",\"model\":\"strong\",\"kind\":\"pick\",\"chain\":[\"strong\"],"
                        "\"reason\":\"hard\"");
    CHECK_CONTAINS(dec, "{\"id\":\"r1\",\"model\":\"weak\"");
    free(dec);
}

TEST(eval_sweep_curve_and_files)
{
    int code;
    const char *args[] = {"eval", "--config", "config.lua", "--route", "level", "--data",
                          "data.jsonl", "--json", "--sweep", "cut=1:4:1", "--sweep-out", "curve", NULL};
    cJSON *j = run_json(args, &code);
    CHECK(code == 0);
    if (!j) return;
    const cJSON *sw = cJSON_GetObjectItem(j, "sweep");
    CHECK(cJSON_GetArraySize(sw) == 4);
    CHECK(NEAR(sy_json_num(cJSON_GetArrayItem(sw, 0), "strong_share", -1), 1.0)); /* cut 1 */
    CHECK(NEAR(sy_json_num(cJSON_GetArrayItem(sw, 2), "strong_share", -1), 0.4)); /* cut 3 */
    CHECK(NEAR(sy_json_num(cJSON_GetArrayItem(sw, 3), "strong_share", -1), 0.0)); /* cut 4 */
    /* points (0,0) (0.4,1) (0.5,1) (1,1): area 0.2 + 0.6 */
    CHECK(NEAR(sy_json_num(j, "two_model.policy.apgr", 0), 0.8));
    CHECK(NEAR(sy_json_num(j, "two_model.policy.cpt50", 0), 0.2));
    CHECK(NEAR(sy_json_num(j, "two_model.policy.cpt80", 0), 0.32));
    /* 95 % of 0.9 = 0.855, reached between always-weak (0.5, $0.01) and cut 3 (0.9, $0.046):
     * $0.04195, 58.05 % below always-strong's $0.1 */
    CHECK(NEAR(sy_json_num(j, "two_model.policy.cost_saved_at_95", 0), 0.5805));
    cJSON_Delete(j);
    char path[700];
    snprintf(path, sizeof path, "%s/curve.csv", g_dir);
    char *csv = sy_it_read_file(path, NULL);
    CHECK_CONTAINS(csv, "cut,quality,cost_usd,cost_per_1k_tokens,p95_latency_ms,strong_share,pgr,"
                        "share_strong,share_weak\n");
    CHECK_CONTAINS(csv, "\n3,0.900000,0.04600000,0.04600000,1000.0,0.400000,1.000000,0.400000,0.600000\n");
    free(csv);
    snprintf(path, sizeof path, "%s/curve.svg", g_dir);
    char *svg = sy_it_read_file(path, NULL);
    CHECK(svg && strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    CHECK_CONTAINS(svg, "<polyline");
    CHECK_CONTAINS(svg, "always strong</text>");
    CHECK_CONTAINS(svg, "</svg>\n");
    free(svg);
}

TEST(eval_cascade_pays_for_every_step)
{
    int code;
    const char *args[] = {"eval", "--config", "config.lua", "--route", "cascade", "--data",
                          "data.jsonl", "--json", NULL};
    cJSON *j = run_json(args, &code);
    CHECK(code == 0);
    if (!j) return;
    const cJSON *pol = approach(j, 0);
    CHECK(NEAR(sy_json_num(pol, "quality", 0), 0.9));
    CHECK(NEAR(sy_json_num(pol, "cost_usd", 0), 0.06)); /* 5 x 0.001 + 5 x (0.001 + 0.01) */
    CHECK(sy_json_num(j, "cascade_escalations", 0) == 5);
    CHECK(sy_json_num(pol, "p95_latency_ms", 0) == 1100);
    cJSON_Delete(j);
}

TEST(eval_text_report)
{
    char *out, *err;
    const char *args[] = {"eval", "--config", "config.lua", "--route", "level", "--data",
                          "data.jsonl", NULL};
    CHECK(run(&out, &err, args) == 0);
    CHECK_CONTAINS(out, "switchyard eval: route level on data.jsonl\nrows: 10\n");
    CHECK_CONTAINS(out, "always strong");
    CHECK_CONTAINS(out, "oracle");
    CHECK_CONTAINS(out, "(a curve is needed: add --sweep OPTION=FROM:TO:STEP)");
    CHECK(err && err[0] == '\0'); /* no progress bar when stderr is not a terminal */
    free(out);
    free(err);
}

TEST(eval_splits_and_contamination)
{
    /* of "r1".."r10" only r1 hashes into the test split (FNV-1a % 5 == 0, checked in Python) */
    char rows[2048] = "", line[300];
    for (int i = 1; i <= 10; i++) {
        snprintf(line, sizeof line,
                 "{\"id\":\"r%d\",\"prompt\":\"p\",\"scores\":{\"strong\":1,\"weak\":0}%s}\n", i,
                 i == 2 ? ",\"contaminated\":true" : "");
        strcat(rows, line);
    }
    sy_it_write_file(g_dir, "split.jsonl", rows, NULL, 0);
    int code;
    const char *test[] = {"eval", "--config", "config.lua", "--route", "level", "--data",
                          "split.jsonl", "--json", "--split", "test", NULL};
    cJSON *j = run_json(test, &code);
    const char *train[] = {"eval", "--config", "config.lua", "--route", "level", "--data",
                           "split.jsonl", "--json", "--split", "train", NULL};
    cJSON *k = run_json(train, &code);
    CHECK(j && k);
    if (j && k) {
        double a = sy_json_num(j, "rows", 0), b = sy_json_num(k, "rows", 0);
        CHECK(a + b + sy_json_num(j, "left_out_contaminated", 0) +
                  sy_json_num(k, "left_out_contaminated", 0) == 10);
        CHECK(sy_json_num(j, "left_out_split", 0) == b + sy_json_num(k, "left_out_contaminated", 0));
        CHECK(sy_json_num(j, "rows", 0) == 1);
    }
    cJSON_Delete(j);
    cJSON_Delete(k);
}

static void expect_error(const char *const *args, int want_code, const char *want)
{
    char *out, *err;
    int code = run(&out, &err, args);
    CHECK(code == want_code);
    CHECK_CONTAINS(err, want);
    if (code != want_code || !err || !strstr(err, want)) fprintf(stderr, "  (stderr: %s)\n", err);
    free(out);
    free(err);
}

TEST(eval_errors)
{
    sy_it_write_file(g_dir, "bad1.jsonl", "{\"prompt\":\"a\",\"scores\":{\"strong\":1}}\nnot json\n",
                     NULL, 0);
    sy_it_write_file(g_dir, "bad2.jsonl", "\n\n{\"prompt\":\"a\"}\n", NULL, 0);
    sy_it_write_file(g_dir, "bad3.jsonl", "{\"prompt\":\"a\",\"scores\":{\"strong\":2}}\n", NULL, 0);
    sy_it_write_file(g_dir, "bad4.jsonl", "{\"prompt\":\"a\",\"scores\":{\"gpt-9\":1}}\n", NULL, 0);
    sy_it_write_file(g_dir, "bad5.jsonl",
                     "{\"prompt\":\"a\",\"scores\":{\"strong\":1},\"cost\":{\"strong\":\"x\"}}\n", NULL, 0);
    sy_it_write_file(g_dir, "empty.jsonl", "", NULL, 0);
    const char *const base[] = {"eval", "--config", "config.lua", "--route"};
#define EV(route, data, ...) {base[0], base[1], base[2], base[3], route, "--data", data, __VA_ARGS__ NULL}
    const char *a1[] = EV("level", "bad1.jsonl", );
    expect_error(a1, 2, "bad1.jsonl:2: not a JSON object");
    const char *a2[] = EV("level", "bad2.jsonl", );
    expect_error(a2, 2, "bad2.jsonl:3: scores: missing");
    const char *a3[] = EV("level", "bad3.jsonl", );
    expect_error(a3, 2, "bad3.jsonl:1: scores.strong: must be a number from 0 to 1");
    const char *a4[] = EV("level", "bad4.jsonl", );
    expect_error(a4, 2, "model \"gpt-9\" of the data is not in config.lua");
    const char *a5[] = EV("level", "bad5.jsonl", );
    expect_error(a5, 2, "bad5.jsonl:1: cost.strong: must be a number of USD");
    const char *a6[] = EV("level", "empty.jsonl", );
    expect_error(a6, 2, "empty.jsonl: no rows to evaluate");
    const char *a7[] = EV("level", "missing.jsonl", );
    expect_error(a7, 2, "missing.jsonl: cannot open");
    const char *a8[] = EV("nope", "data.jsonl", );
    expect_error(a8, 2, "no route named \"nope\" (routes: level cascade third)");
    const char *a9[] = EV("third", "data.jsonl", );
    expect_error(a9, 2, "data.jsonl:1: the policy chose \"other\", which this row has no score for");
    const char *a10[] = EV("level", "data.jsonl", "--sweep", "cut=3:1:1", );
    expect_error(a10, 2, "--sweep cut=3:1:1: needs FROM <= TO and a STEP above 0");
    const char *a11[] = EV("level", "data.jsonl", "--sweep", "cut", );
    expect_error(a11, 2, "--sweep: expected OPTION=FROM:TO:STEP");
    const char *a12[] = EV("level", "data.jsonl", "--sweep", "nope=1:2:1", );
    expect_error(a12, 1, "route[level].options.nope: unknown option (the policy has: cut)");
    const char *a13[] = EV("level", "data.jsonl", "--split", "half", );
    expect_error(a13, 2, "--split must be train, test or all");
    const char *a14[] = {"eval", "--config", "config.lua", NULL};
    expect_error(a14, 2, "needs --config, --route and --data");
    const char *a15[] = EV("level", "data.jsonl", "--decisions", "/nonexistent/dir/d.jsonl", );
    expect_error(a15, 2, "/nonexistent/dir/d.jsonl: cannot write");
    const char *a16[] = EV("level", "data.jsonl", "--bogus", );
    expect_error(a16, 2, "unknown option --bogus");
#undef EV
}

/* ---- shadow policies and replay, through a real gateway and a mock upstream */

static const char *SHADOW_CFG =
    "server { workers = 1, request_log = \"requests.jsonl\", log_content = true }\n"
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
    "model { id = \"small\", provider = \"m\", upstream = \"mock-small\","
    " price = { input = 0.001, output = 0.002 }, context_window = 1000 }\n"
    "model { id = \"large\", provider = \"m\", upstream = \"mock-large\","
    " price = { input = 0.01, output = 0.02 }, context_window = 100000 }\n"
    "route { name = \"auto\", policy = \"live.lua\", shadow = \"shadow.lua\", default = \"large\" }\n";

static const char *const SHADOW_FILES[] = {
    "live.lua",
    "local sy = require 'switchyard'\n"
    "return { name = 'live', route = function(req)\n"
    "  if req.meta.tier == 'big' then return sy.pick('large', 'tier') end\n"
    "  return sy.chain{ 'small', 'large', reason = 'default' }\n"
    "end }\n",
    "shadow.lua",
    "local sy = require 'switchyard'\n"
    "return { name = 'candidate', route = function(req)\n"
    "  if req.meta.tier == 'boom' then error('boom') end\n"
    "  return sy.pick('large', 'shadow says large')\n"
    "end }\n",
    NULL};

static int post_auto(sy_it_env *e, const char *content, const char *extra, const char *header)
{
    char url[160], body[4096];
    snprintf(url, sizeof url, "%s/v1/chat/completions", e->gw.base);
    snprintf(body, sizeof body,
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]%s}", content,
             extra);
    const char *headers[] = {header, NULL};
    sy_resp r;
    int st = sy_http_post(&r, url, body, header ? headers : NULL) == 0 ? r.status : -1;
    sy_resp_free(&r);
    return st;
}

static cJSON *log_line(char *log, int i)
{
    char *p = log;
    for (int k = 0; k < i && p; k++) p = strchr(p, '\n'), p = p ? p + 1 : NULL;
    if (!p) return NULL;
    char *nl = strchr(p, '\n');
    return cJSON_ParseWithLength(p, nl ? (size_t)(nl - p) : strlen(p));
}

TEST(shadow_decisions_are_logged_and_never_executed)
{
    sy_it_env e;
    if (sy_it_env_start(&e, g_bin, g_mock_bin, SHADOW_CFG, SHADOW_FILES) != 0) {
        CHECK(!"gateway started");
        return;
    }
    char longtext[1300] = "";
    for (int i = 0; i < 200; i++) strcat(longtext, "word ");
    CHECK(post_auto(&e, "hi", "", NULL) == 200);
    CHECK(post_auto(&e, "hello", ",\"max_tokens\":950", "x-switchyard-tier: big") == 200);
    CHECK(post_auto(&e, "hey", ",\"metadata\":{\"tier\":\"boom\",\"team\":\"a\"}", NULL) == 200);
    CHECK(post_auto(&e, longtext, ",\"max_tokens\":900", NULL) == 200);
    /* the mock saw the real decisions only: small twice, large twice (tier, and the long one
     * that does not fit small); the shadow's four "large" were never sent */
    CHECK(sy_mock_model_count(&e.mock, "mock-small") == 2);
    CHECK(sy_mock_model_count(&e.mock, "mock-large") == 2);
    /* agreement in /metrics: the first choice was small, large (agrees), small, small */
    char murl[160];
    snprintf(murl, sizeof murl, "%s/metrics", e.gw.base);
    sy_resp mr;
    CHECK(sy_http_get(&mr, murl) == 0 && mr.status == 200);
    CHECK_CONTAINS(mr.body, "switchyard_shadow_decisions_total{result=\"agree\"} 1\n");
    CHECK_CONTAINS(mr.body, "switchyard_shadow_decisions_total{result=\"disagree\"} 2\n");
    CHECK_CONTAINS(mr.body, "switchyard_shadow_decisions_total{result=\"error\"} 1\n");
    sy_resp_free(&mr);
    sy_gw_stop(&e.gw);
    char path[700];
    snprintf(path, sizeof path, "%s/requests.jsonl", e.dir);
    char *log = sy_it_read_file(path, NULL);
    CHECK(log != NULL);
    cJSON *l[4];
    for (int i = 0; i < 4; i++) l[i] = log ? log_line(log, i) : NULL;
    CHECK(l[0] && l[1] && l[2] && l[3]);
    if (l[0] && l[1] && l[2] && l[3]) {
        CHECK_STR(sy_json_str(l[0], "model"), "small");
        CHECK_STR(sy_json_str(l[0], "shadow.model"), "large");
        CHECK_STR(sy_json_str(l[0], "shadow.reason"), "shadow says large");
        CHECK_CONTAINS(sy_json_str(l[0], "shadow.policy"), "candidate@");
        CHECK(cJSON_IsFalse(sy_json_at(l[0], "shadow.agrees")));
        CHECK(sy_json_num(l[0], "request.prompt_tokens", 0) > 0);
        CHECK(sy_json_num(l[0], "shadow.eval_us", -1) >= 0);
        CHECK(cJSON_IsTrue(sy_json_at(l[1], "shadow.agrees")));
        CHECK_STR(sy_json_str(l[1], "request.meta.tier"), "big");
        CHECK(sy_json_num(l[1], "request.max_tokens", 0) == 950);
        CHECK_CONTAINS(sy_json_str(l[2], "shadow.error"), "boom");
        CHECK_STR(sy_json_str(l[2], "model"), "small"); /* the live decision stands */
        CHECK_STR(sy_json_str(l[2], "request.meta.team"), "a");
        CHECK_STR(sy_json_str(l[3], "model"), "large");
        CHECK(sy_json_at(l[3], "skipped") != NULL);
        CHECK_STR(sy_json_str(l[3], "decision.first_choice"), "small");
        CHECK(sy_json_at(l[0], "decision.first_choice") == NULL);
    }
    for (int i = 0; i < 4; i++) cJSON_Delete(l[i]);

    /* replay: the same traffic through candidates; every cost estimate recomputed here */
    sy_it_write_file(e.dir, "large.lua",
                     "local sy = require 'switchyard'\n"
                     "return { name = 'all-large', route = function() return sy.pick('large') end }\n",
                     NULL, 0);
    sy_it_write_file(e.dir, "small.lua",
                     "local sy = require 'switchyard'\n"
                     "return { name = 'all-small', route = function(req)\n"
                     "  if #req.text == 0 then error('no text') end\n"
                     "  return sy.pick('small') end }\n",
                     NULL, 0);
    char cand[4096];
    snprintf(cand, sizeof cand, SHADOW_CFG, 1);
    char *rt = strstr(cand, "route {");
    snprintf(rt, sizeof cand - (size_t)(rt - cand),
             "route { name = \"auto\", policy = \"large.lua\", default = \"large\" }\n"
             "route { name = \"cheap\", policy = \"small.lua\", default = \"large\" }\n");
    sy_it_write_file(e.dir, "cand.lua", cand, NULL, 0);
    snprintf(g_dir, sizeof g_dir, "%s", e.dir); /* run() works in g_dir */
    int code;
    const char *a1[] = {"replay", "--config", "cand.lua", "--route", "auto", "requests.jsonl",
                        "--json", "--decisions", "replayed.jsonl", NULL};
    cJSON *j = run_json(a1, &code);
    CHECK(code == 0);
    double want = 0;
    for (int i = 0; i < 4 && log; i++) {
        cJSON *x = log_line(log, i);
        double p = sy_json_num(x, "request.prompt_tokens", 0), o = 0;
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(x, "attempts")) if (
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(a, "model")), sy_json_str(x, "model")) == 0)
            o = sy_json_num(a, "tokens_out", 0);
        want += (p * 0.01 + o * 0.02) / 1000;
        cJSON_Delete(x);
    }
    if (j) {
        CHECK(sy_json_num(j, "replayed", 0) == 4);
        CHECK(sy_json_num(j, "with_text", 0) == 4);
        CHECK(sy_json_num(j, "changed", 0) == 3);
        CHECK(fabs(sy_json_num(j, "cost_usd.candidate_estimate", 0) - want) < 1e-9);
        CHECK(sy_json_num(j, "cost_usd.candidate_estimate", 0) >
              sy_json_num(j, "cost_usd.original_estimate", 0));
        CHECK(sy_json_num(j, "context_violations.original", -1) == 1);
        CHECK(sy_json_num(j, "context_violations.avoided", -1) == 1);
        CHECK(sy_json_num(j, "context_violations.caused", -1) == 0);
        CHECK_STR(sy_json_str(j, "transitions.0.from"), "small");
        CHECK_STR(sy_json_str(j, "transitions.0.to"), "large");
        CHECK(sy_json_num(j, "transitions.0.requests", 0) == 3);
    }
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/replayed.jsonl", e.dir);
    char *rep = sy_it_read_file(path, NULL);
    CHECK_CONTAINS(rep, "\"original\":\"small\",\"candidate\":\"large\",\"chain\":[\"large\"]");
    free(rep);

    /* a log without text (server.log_content off): routed on metadata and token counts */
    sy_it_write_file(e.dir, "notext.jsonl",
                     "{\"request_id\":\"a\",\"route\":\"cheap\",\"decision\":{\"kind\":\"pick\","
                     "\"chain\":[\"large\"]},\"request\":{\"prompt_tokens\":5000,\"messages\":1,"
                     "\"meta\":{\"tier\":\"big\"}},\"attempts\":[],\"model\":\"large\",\"cost_usd\":0.05}\n"
                     "{\"request_id\":\"b\",\"route\":null,\"model\":\"large\"}\n"
                     "{\"request_id\":\"c\",\"route\":\"auto\",\"request\":{\"prompt_tokens\":3}}\n",
                     NULL, 0);
    const char *a2[] = {"replay", "--config", "cand.lua", "--route", "cheap", "notext.jsonl",
                        "--json", NULL};
    j = run_json(a2, &code);
    CHECK(code == 0);
    if (j) {
        CHECK(sy_json_num(j, "replayed", 0) == 1);
        CHECK(sy_json_num(j, "with_text", -1) == 0);
        CHECK(sy_json_num(j, "other_routes", 0) == 1);
        CHECK(sy_json_num(j, "not_replayable", 0) == 1);
        /* small.lua errors on an empty text: the route's default (large) stands in */
        CHECK(sy_json_num(j, "policy_failures", 0) == 1);
        CHECK_STR(sy_json_str(j, "transitions.0.to"), "large");
    }
    cJSON_Delete(j);

    /* errors */
    sy_it_write_file(e.dir, "junk.jsonl", "{\"route\":\"auto\"}\nnot json\n", NULL, 0);
    const char *b1[] = {"replay", "--config", "cand.lua", "--route", "auto", "junk.jsonl", NULL};
    expect_error(b1, 2, "junk.jsonl:2: not a routing-result line");
    const char *b2[] = {"replay", "--config", "cand.lua", "--route", "auto", "none.jsonl", NULL};
    expect_error(b2, 2, "none.jsonl: cannot open");
    const char *b3[] = {"replay", "--config", "cand.lua", "--route", "zzz", "requests.jsonl", NULL};
    expect_error(b3, 2, "no route named \"zzz\" (routes: auto cheap)");
    sy_it_write_file(e.dir, "other.jsonl", "{\"route\":\"elsewhere\"}\n", NULL, 0);
    const char *b4[] = {"replay", "--config", "cand.lua", "--route", "auto", "other.jsonl", NULL};
    expect_error(b4, 2, "other.jsonl: no request of route auto to replay (1 lines: 1 of other routes");
    const char *b5[] = {"replay", "--config", "cand.lua", "requests.jsonl", NULL};
    expect_error(b5, 2, "needs --config, --route and a routing-result log");
    free(log);
    CHECK(sy_it_env_stop(&e, NULL) == 0);
}

/* A shadow that does not load stops the config like a broken policy does. */
TEST(broken_shadow_is_a_config_error)
{
    sy_it_write_file(g_dir, "bad_shadow.lua", "return { route = 42 }\n", NULL, 0);
    sy_it_write_file(g_dir, "shadowcfg.lua",
                     "provider { id = 'sim', kind = 'sim' }\n"
                     "model { id = 'strong', provider = 'sim' }\n"
                     "route { name = 'r', policy = 'level.lua', shadow = 'bad_shadow.lua', default = 'strong' }\n",
                     NULL, 0);
    sy_it_write_file(g_dir, "shadowcfg2.lua",
                     "provider { id = 'sim', kind = 'sim' }\n"
                     "model { id = 'strong', provider = 'sim' }\n"
                     "route { name = 's', policy = 'level.lua', shadow = 'missing.lua', default = 'strong' }\n",
                     NULL, 0);
    const char *a[] = {"check", "shadowcfg.lua", NULL};
    expect_error(a, 1, "route[r].shadow: the policy's table has no route function");
    const char *b[] = {"check", "shadowcfg2.lua", NULL};
    expect_error(b, 1, "shadowcfg2.lua:3: route[s].shadow: cannot read policy file");
}

/* ---- classifiers in the config: load errors, and hot reload with the snapshot */

static void write_train_data(const char *name, const char *easy_word)
{
    char rows[8192] = "", line[300];
    for (int i = 0; i < 40; i++) {
        int hard = i % 2;
        snprintf(line, sizeof line,
                 "{\"id\":\"t%d\",\"prompt\":\"%s question number %d\",\"scores\":{\"strong\":1,\"weak\":%d}}\n",
                 i, hard ? "integral" : easy_word, i, hard ? 0 : 1);
        strcat(rows, line);
    }
    sy_it_write_file(g_dir, name, rows, NULL, 0);
}

static char *route_reason(const sy_gw *g, const char *text)
{
    char url[160], body[512];
    snprintf(url, sizeof url, "%s/v1/route", g->base);
    snprintf(body, sizeof body, "{\"model\":\"raw\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", text);
    sy_resp r;
    char *reason = NULL;
    if (sy_http_post(&r, url, body, NULL) == 0 && r.status == 200) {
        cJSON *j = sy_resp_json(&r);
        const char *s = sy_json_str(j, "reason");
        reason = s ? strdup(s) : NULL;
        cJSON_Delete(j);
    }
    sy_resp_free(&r);
    return reason;
}

TEST(classifiers_load_with_the_snapshot)
{
    char *out, *err;
    write_train_data("ta.jsonl", "hello");
    write_train_data("tb.jsonl", "integral"); /* B: "integral" is easy and hard alike */
    const char *ta[] = {"train", "--data", "ta.jsonl", "--out", "cls.bin", "--quiet", NULL};
    CHECK(run(&out, &err, ta) == 0);
    free(out), free(err);
    const char *tb[] = {"train", "--data", "tb.jsonl", "--out", "cls_b.bin", "--quiet", NULL};
    CHECK(run(&out, &err, tb) == 0);
    free(out), free(err);
    sy_it_write_file(g_dir, "raw.lua",
                     "local sy = require 'switchyard'\n"
                     "return { route = function(req)\n"
                     "  local p = sy.classify('d', req)\n"
                     "  return sy.pick('strong', string.format('%.6f %.6f', p.strong, p.weak))\n"
                     "end }\n",
                     NULL, 0);
    const char *cfg =
        "server { admin_token = 'tok' }\n"
        "provider { id = 'sim', kind = 'sim' }\n"
        "model { id = 'strong', provider = 'sim' }\n"
        "model { id = 'weak', provider = 'sim' }\n"
        "classifier { id = 'd', path = 'cls.bin' }\n"
        "route { name = 'raw', policy = 'raw.lua', default = 'strong' }\n";
    char cfgpath[700], errpath[700];
    sy_it_write_file(g_dir, "cls.lua", cfg, cfgpath, sizeof cfgpath);
    snprintf(errpath, sizeof errpath, "%s/gw.err", g_dir);
    sy_gw g = {0};
    if (sy_gw_start(&g, g_bin, cfgpath, 1, NULL, errpath) != 0) {
        CHECK(!"gateway started");
        return;
    }
    char *r1 = route_reason(&g, "integral of x");
    CHECK(r1 != NULL);
    /* A learned that "integral" prompts are hard for weak */
    double s1 = 0, w1 = 1;
    if (r1) sscanf(r1, "%lf %lf", &s1, &w1);
    CHECK(w1 < 0.5 && s1 > 0.5);
    /* replace the file and reload: the new snapshot has classifier B */
    char src[700], dst[700];
    snprintf(src, sizeof src, "%s/cls_b.bin", g_dir);
    snprintf(dst, sizeof dst, "%s/cls.bin", g_dir);
    CHECK(rename(src, dst) == 0);
    char url[160];
    snprintf(url, sizeof url, "%s/admin/reload", g.base);
    const char *auth[] = {"Authorization: Bearer tok", NULL};
    sy_resp r;
    CHECK(sy_http_post(&r, url, "", auth) == 0 && r.status == 200);
    sy_resp_free(&r);
    char *r2 = route_reason(&g, "integral of x");
    CHECK(r2 && r1 && strcmp(r1, r2) != 0);
    /* a corrupt file: the reload is refused and B stays */
    sy_it_write_file(g_dir, "cls.bin", "not a model", NULL, 0);
    CHECK(sy_http_post(&r, url, "", auth) == 0 && r.status == 422);
    CHECK_CONTAINS(r.body, "classifier[d].path");
    sy_resp_free(&r);
    char *r3 = route_reason(&g, "integral of x");
    CHECK(r2 && r3 && strcmp(r2, r3) == 0);
    free(r1), free(r2), free(r3);
    sy_gw_stop(&g);

    /* load errors name the file, the line and the key */
    sy_it_write_file(g_dir, "c1.lua",
                     "provider { id = 'sim', kind = 'sim' }\n"
                     "model { id = 'strong', provider = 'sim' }\n"
                     "classifier { id = 'd', path = 'cls.bin' }\n"
                     "classifier { id = 'e', path = 'nothere.bin' }\n"
                     "classifier { id = 'f' }\n"
                     "classifier { id = 'g', path = 'cls_a.bin', models = { strong = 'nope', ghost = 'weak' } }\n"
                     "classifier { id = 'g', path = 'cls_a.bin', colour = 1 }\n",
                     NULL, 0);
    const char *ta2[] = {"train", "--data", "ta.jsonl", "--out", "cls_a.bin", "--quiet", NULL};
    CHECK(run(&out, &err, ta2) == 0);
    free(out), free(err);
    const char *c1[] = {"check", "c1.lua", NULL};
    CHECK(run(&out, &err, c1) == 1);
    CHECK_CONTAINS(err, "c1.lua:3: classifier[d].path:");
    CHECK_CONTAINS(err, "c1.lua:4: classifier[e].path:");
    CHECK_CONTAINS(err, "nothere.bin");
    CHECK_CONTAINS(err, "c1.lua:5: classifier[f].path: is required");
    CHECK_CONTAINS(err, "c1.lua:6: classifier[g].models: strong: no label \"nope\"");
    CHECK_CONTAINS(err, "c1.lua:6: classifier[g].models: unknown model \"ghost\"");
    CHECK_CONTAINS(err, "c1.lua:7: classifier.id: duplicate id \"g\"");
    CHECK_CONTAINS(err, "colour");
    free(out), free(err);
}

/* The shipped classifier and policies/learned.lua on the held-out test split of the RouteLLM
 * data: the issue's target (APGR >= 0.62, random 0.5), through the real eval. */
static const char *g_src;

TEST(shipped_classifier_meets_its_target)
{
    char cfg[700], data[700], out_prefix[700];
    snprintf(cfg, sizeof cfg, "%s/examples/eval/routellm.lua", g_src);
    snprintf(data, sizeof data, "%s/data/routing/routellm_train.jsonl", g_src);
    snprintf(out_prefix, sizeof out_prefix, "%s/routellm-sweep", g_dir);
    int code;
    const char *args[] = {"eval", "--config", cfg, "--route", "learned", "--data", data, "--split",
                          "test", "--sweep", "threshold=-0.3:0.6:0.02", "--sweep-out", out_prefix,
                          "--json", NULL};
    cJSON *j = run_json(args, &code);
    CHECK(code == 0);
    if (!j) return;
    CHECK(sy_json_num(j, "rows", 0) == 1660);
    CHECK(sy_json_num(j, "left_out_contaminated", 0) == 1);
    double apgr = sy_json_num(j, "two_model.policy.apgr", 0);
    fprintf(stderr, "  shipped classifier on the test split: APGR %.3f, CPT(50%%) %.3f, CPT(80%%) "
                    "%.3f, cost saved at 95%% quality %.3f\n",
            apgr, sy_json_num(j, "two_model.policy.cpt50", 0), sy_json_num(j, "two_model.policy.cpt80", 0),
            sy_json_num(j, "two_model.policy.cost_saved_at_95", 0));
    CHECK(apgr >= 0.62);
    CHECK(sy_json_num(j, "two_model.policy.cpt50", 1) < 0.5);
    CHECK(sy_json_num(j, "two_model.policy.cost_saved_at_95", 0) >
          sy_json_num(j, "two_model.random.cost_saved_at_95", 1));
    cJSON_Delete(j);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s SWITCHYARD MOCK SOURCE_DIR\n", argv[0]);
        return 2;
    }
    g_bin = argv[1];
    g_mock_bin = argv[2];
    g_src = argv[3];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (sy_it_tmpdir(g_dir, sizeof g_dir) != 0) return 1;
    write_data();
    RUN(eval_numbers_on_a_known_data_set);
    RUN(eval_sweep_curve_and_files);
    RUN(eval_cascade_pays_for_every_step);
    RUN(eval_text_report);
    RUN(eval_splits_and_contamination);
    RUN(eval_errors);
    RUN(broken_shadow_is_a_config_error);
    RUN(classifiers_load_with_the_snapshot);
    RUN(shipped_classifier_meets_its_target);
    char keep[512];
    snprintf(keep, sizeof keep, "%s", g_dir);
    RUN(shadow_decisions_are_logged_and_never_executed);
    sy_it_rmtree(keep);
    return sy_test_summary();
}
