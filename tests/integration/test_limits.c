/* test_limits.c — client keys, rate limits and budgets through the real gateway:
 * 401 / 403 (both dialects), req.key in a policy, requests and tokens per minute per key and
 * per team, tokens reserved before the request is sent and settled after (a stream cut short
 * included), a USD budget running out (429 insufficient_quota); then with a real
 * redis-server on a loopback port: two gateways sharing one limit, and Redis going away with
 * server.redis_failure "open" and "closed", and coming back.
 * Usage: test_limits PATH/TO/switchyard PATH/TO/sy-mock-upstream [PATH/TO/redis-server] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sy_itest.h"
#include "sy_test.h"

#define KEY_A "sk-itest-alpha-1"
#define KEY_A2 "sk-itest-alpha-2"
#define KEY_B "sk-itest-beta" /* given to the config as its SHA-256 */
#define KEY_T "sk-itest-tokens"
#define KEY_S "sk-itest-stream"
#define KEY_U "sk-itest-usd"

static const char *g_bin, *g_mock_bin, *g_redis_bin;
static sy_it_env g_env;

static const char *CFG =
    "server { workers = 2, request_log = \"requests.jsonl\" }\n"
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
    "model { id = \"small\", provider = \"m\", upstream = \"mock?tag=small\" }\n"
    "model { id = \"large\", provider = \"m\", upstream = \"mock?tag=large\" }\n"
    "model { id = \"slow\", provider = \"m\", upstream = \"mock?tag=slow&delay_ms=300\" }\n"
    "model { id = \"cut\", provider = \"m\", upstream = \"mock?chunks=8&chunk_ms=20&fail_after_chunks=2\" }\n"
    "model { id = \"pricey\", provider = \"m\", upstream = \"mock?tag=pricey\",\n"
    "        price = { input = 1.0, output = 1.0 } }\n"
    "route { name = \"auto\", policy = \"p.lua\", default = \"small\" }\n"
    "route { name = \"other\", policy = \"p.lua\", default = \"small\" }\n"
    "route { name = \"big\", policy = \"big.lua\", default = \"large\" }\n"
    "team { id = \"alpha\", limits = { rpm = 7 } }\n"
    "key { id = \"alpha-1\", key_env = \"SY_IT_KEY_A\", team = \"alpha\", routes = { \"auto\", \"big\" },\n"
    "      models = { \"small\", \"slow\" }, tier = \"free\", priority = \"low\", limits = { rpm = 5 } }\n"
    "key { id = \"alpha-2\", key_env = \"SY_IT_KEY_A2\", team = \"alpha\" }\n"
    "key { id = \"beta\", sha256 = \"44040b11c6b95d0708475ee01f88eae9bf33fa20548b3bbe666d3afb11e1be6b\",\n"
    "      team = \"beta\", tier = \"pro\", priority = 8 }\n"
    "key { id = \"tokens\", key_env = \"SY_IT_KEY_T\", limits = { tpm = 1000 } }\n"
    "key { id = \"stream\", key_env = \"SY_IT_KEY_S\", limits = { tpm = 1000 } }\n"
    "key { id = \"usd\", key_env = \"SY_IT_KEY_U\", limits = { usd_day = 0.05 } }\n";

static const char *const FILES[] = {
    "p.lua",
    "local sy = require 'switchyard'\n"
    "return { route = function(req)\n"
    "  local k = req.key\n"
    "  local why = k and string.format('key=%s team=%s tier=%s prio=%d usd_day=%s req=%s', k.id, k.team,\n"
    "      k.tier, k.priority, tostring(k.remaining.usd_day), tostring(req.priority)) or 'no key'\n"
    "  return sy.pick(req.meta.want or 'small', why)\n"
    "end }\n",
    "big.lua",
    "local sy = require 'switchyard'\n"
    "return { route = function(req) return sy.chain({ 'large', 'small' }, 'big first') end }\n",
    NULL};

static char *const ENV[] = {"SY_IT_KEY_A=" KEY_A, "SY_IT_KEY_A2=" KEY_A2, "SY_IT_KEY_T=" KEY_T,
                            "SY_IT_KEY_S=" KEY_S, "SY_IT_KEY_U=" KEY_U, NULL};

/* Fixed windows restart on the minute: a test counting requests must not straddle one. */
static void away_from_minute_edge(int need_s)
{
    time_t t = time(NULL);
    int left = 60 - (int)(t % 60);
    if (left < need_s) sy_it_sleep_ms(left * 1000 + 200);
}

static int call(sy_resp *r, const char *base, const char *path, const char *key,
                const char *header_name, const char *body)
{
    char url[200], auth[160];
    const char *hdrs[3] = {NULL, NULL, NULL};
    if (key) {
        snprintf(auth, sizeof auth, "%s: %s%s", header_name ? header_name : "Authorization",
                 header_name ? "" : "Bearer ", key);
        hdrs[0] = auth;
    }
    snprintf(url, sizeof url, "%s%s", base, path);
    return sy_http_post(r, url, body, hdrs);
}

static int chat(sy_resp *r, const char *key, const char *model)
{
    char body[300];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             model);
    return call(r, g_env.gw.base, "/v1/chat/completions", key, NULL, body);
}

static double metric(const char *base, const char *series)
{
    sy_resp r;
    char url[160];
    double v = -1;
    snprintf(url, sizeof url, "%s/metrics", base);
    if (sy_http_get(&r, url) == 0) {
        size_t n = strlen(series);
        for (const char *p = r.body; p && (p = strstr(p, series)); p += n)
            if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
                v = atof(p + n + 1);
                break;
            }
    }
    sy_resp_free(&r);
    return v;
}

TEST(no_key_or_a_wrong_key_is_a_401)
{
    sy_resp r;
    CHECK(chat(&r, NULL, "auto") == 0);
    CHECK(r.status == 401);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "missing_api_key");
    CHECK_STR(sy_json_str(j, "error.type"), "authentication_error");
    cJSON_Delete(j);
    sy_resp_free(&r);
    CHECK(chat(&r, "sk-not-a-key-9d1", "auto") == 0);
    CHECK(r.status == 401);
    CHECK_CONTAINS(r.body, "invalid_api_key");
    CHECK(!strstr(r.body, "sk-not-a-key-9d1")); /* never echoed */
    sy_resp_free(&r);
    /* the Messages dialect: x-api-key, and Anthropic's error object */
    const char *mbody = "{\"model\":\"auto\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    CHECK(call(&r, g_env.gw.base, "/v1/messages", "sk-wrong", "x-api-key", mbody) == 0);
    CHECK(r.status == 401);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "type"), "error");
    CHECK_STR(sy_json_str(j, "error.type"), "authentication_error");
    cJSON_Delete(j);
    sy_resp_free(&r);
    CHECK(call(&r, g_env.gw.base, "/v1/messages", KEY_B, "x-api-key", mbody) == 0);
    CHECK(r.status == 200);
    sy_resp_free(&r);
    /* the models list needs a key too; health and metrics do not */
    char url[160];
    snprintf(url, sizeof url, "%s/v1/models", g_env.gw.base);
    CHECK(sy_http_get(&r, url) == 0);
    CHECK(r.status == 401);
    sy_resp_free(&r);
    snprintf(url, sizeof url, "%s/healthz", g_env.gw.base);
    CHECK(sy_http_get(&r, url) == 0);
    CHECK(r.status == 200);
    sy_resp_free(&r);
    /* the key is never in the logs */
    char *log = sy_it_read_file(g_env.gw.stderr_path, NULL);
    CHECK(log && !strstr(log, "sk-not-a-key-9d1") && !strstr(log, KEY_B));
    free(log);
}

TEST(routes_and_models_a_key_may_not_use_are_a_403)
{
    away_from_minute_edge(40); /* alpha-1's requests here count in the next test's minute */
    sy_resp r;
    CHECK(chat(&r, KEY_A, "other") == 0); /* not in its routes */
    CHECK(r.status == 403);
    CHECK_CONTAINS(r.body, "route_not_allowed");
    CHECK_CONTAINS(r.body, "alpha-1");
    sy_resp_free(&r);
    CHECK(chat(&r, KEY_A, "large") == 0); /* a model it may not use */
    CHECK(r.status == 403);
    CHECK_CONTAINS(r.body, "model_not_allowed");
    sy_resp_free(&r);
    CHECK(chat(&r, KEY_A, "small") == 0); /* a model it may use, by name */
    CHECK(r.status == 200);
    sy_resp_free(&r);
    /* a route deciding large, small: large is left out for this key */
    CHECK(chat(&r, KEY_A, "big") == 0);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "small");
    sy_resp_free(&r);
    /* /v1/models lists what the key may use */
    char url[160], auth[100];
    snprintf(url, sizeof url, "%s/v1/models", g_env.gw.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", KEY_A);
    const char *hdrs[] = {auth, NULL};
    sy_req_opts o = {.headers = hdrs};
    CHECK(sy_http(&r, url, &o) == 0);
    CHECK(r.status == 200);
    cJSON *j = sy_resp_json(&r);
    char got[300] = "";
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "data"))
    {
        strncat(got, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id")), 40);
        strcat(got, " ");
    }
    CHECK_STR(got, "small slow auto big ");
    cJSON_Delete(j);
    sy_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/models/large", g_env.gw.base);
    CHECK(sy_http(&r, url, &o) == 0);
    CHECK(r.status == 404);
    sy_resp_free(&r);
    CHECK(chat(&r, KEY_B, "big") == 0); /* no model list: the decision stands */
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "large");
    sy_resp_free(&r);
}

TEST(policies_see_the_key)
{
    sy_resp r;
    const char *body = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    CHECK(call(&r, g_env.gw.base, "/v1/route", KEY_B, NULL, body) == 0);
    CHECK(r.status == 200);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "reason"), "key=beta team=beta tier=pro prio=8 usd_day=nil req=8");
    cJSON_Delete(j);
    sy_resp_free(&r);
    /* x-switchyard-priority may lower a key's priority, never raise it */
    char url[160], auth[100];
    snprintf(url, sizeof url, "%s/v1/route", g_env.gw.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", KEY_A);
    const char *up[] = {auth, "x-switchyard-priority: high", NULL};
    const char *down[] = {auth, "x-switchyard-priority: 0", NULL};
    CHECK(sy_http_post(&r, url, body, up) == 0);
    CHECK_CONTAINS(r.body, "prio=2 usd_day=nil req=2"); /* alpha-1 is low (2): capped */
    sy_resp_free(&r);
    CHECK(sy_http_post(&r, url, body, down) == 0);
    CHECK_CONTAINS(r.body, "req=0");
    sy_resp_free(&r);
    CHECK(call(&r, g_env.gw.base, "/v1/route", KEY_U, NULL, body) == 0);
    j = sy_resp_json(&r);
    CHECK_CONTAINS(sy_json_str(j, "reason"), "key=usd team= tier= prio=5 usd_day=0.05");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(requests_per_minute_per_key_and_per_team)
{
    sy_resp r;
    int ok = 0, limited = 0;
    /* alpha-1 used 2 requests above (small, big; refused ones are not counted): its limit is
     * 5 a minute, the team's 7 */
    for (int i = 0; i < 4; i++) {
        CHECK(chat(&r, KEY_A, "auto") == 0);
        if (r.status == 200) ok++;
        if (r.status == 429) {
            limited++;
            CHECK_CONTAINS(r.body, "rate_limit_exceeded");
            CHECK_CONTAINS(r.body, "rpm");
            CHECK_CONTAINS(r.body, "key 'alpha-1'");
            const char *ra = sy_resp_header(&r, "retry-after");
            CHECK(ra && atoi(ra) >= 1 && atoi(ra) <= 60);
        }
        sy_resp_free(&r);
    }
    CHECK(ok == 3 && limited == 1); /* 2 + 3 = its 5 */
    /* OpenAI's rate-limit headers: the tighter of key (5) and team (7) */
    CHECK(chat(&r, KEY_A2, "auto") == 0);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-ratelimit-limit-requests"), "7");
    CHECK_STR(sy_resp_header(&r, "x-ratelimit-remaining-requests"), "1");
    CHECK(sy_resp_header(&r, "x-ratelimit-limit-tokens") == NULL);
    sy_resp_free(&r);
    /* the team: 5 counted for alpha (refused ones are not), 2 more for alpha-2 (one just
     * above), then none */
    for (int i = 0; i < 1; i++) {
        CHECK(chat(&r, KEY_A2, "auto") == 0);
        CHECK(r.status == 200);
        sy_resp_free(&r);
    }
    CHECK(chat(&r, KEY_A2, "auto") == 0);
    CHECK(r.status == 429);
    CHECK_CONTAINS(r.body, "team 'alpha'");
    sy_resp_free(&r);
    CHECK(metric(g_env.gw.base, "switchyard_limit_rejections_total{scope=\"key\",limit=\"rpm\"}") == 1);
    CHECK(metric(g_env.gw.base, "switchyard_limit_rejections_total{scope=\"team\",limit=\"rpm\"}") == 1);
    /* other keys are not touched */
    CHECK(chat(&r, KEY_B, "auto") == 0);
    CHECK(r.status == 200);
    sy_resp_free(&r);
}

/* Two requests of up to 600 tokens at once against 1,000 tokens a minute: one is admitted,
 * the other refused while the first is in flight; once it has settled (its real usage is a
 * few tokens), the next is admitted. */
TEST(tokens_are_reserved_then_settled)
{
    away_from_minute_edge(15);
    const char *body = "{\"model\":\"slow\",\"max_tokens\":600,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    char url[160], auth[100];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g_env.gw.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", KEY_T);
    const char *hdrs[] = {auth, NULL};
    const char *urls[2] = {url, url};
    sy_req_opts o[2] = {{.body = body, .headers = hdrs}, {.body = body, .headers = hdrs}};
    sy_resp rs[2];
    CHECK(sy_http_many(rs, urls, o, 2, 10000) == 2);
    int s0 = rs[0].status, s1 = rs[1].status;
    CHECK((s0 == 200 && s1 == 429) || (s0 == 429 && s1 == 200));
    const sy_resp *no = s0 == 429 ? &rs[0] : &rs[1];
    CHECK_CONTAINS(no->body, "tokens per minute");
    CHECK_CONTAINS(no->body, "needs up to");
    sy_resp_free(&rs[0]);
    sy_resp_free(&rs[1]);
    sy_resp r;
    CHECK(call(&r, g_env.gw.base, "/v1/chat/completions", KEY_T, NULL, body) == 0);
    CHECK(r.status == 200); /* settled: the first used a few tokens, not 600 */
    sy_resp_free(&r);
    /* one request larger than the whole limit says so */
    CHECK(call(&r, g_env.gw.base, "/v1/chat/completions", KEY_T, NULL,
               "{\"model\":\"small\",\"max_tokens\":5000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}") == 0);
    CHECK(r.status == 429);
    CHECK_CONTAINS(r.body, "more than key 'tokens' may use in a minute");
    CHECK(sy_resp_header(&r, "retry-after") == NULL);
    sy_resp_free(&r);
}

/* A stream cut short after two chunks has no usage from the upstream: it is settled with its
 * prompt and the text it sent, not left at its 900-token reservation. */
TEST(a_stream_cut_short_is_settled)
{
    away_from_minute_edge(10);
    const char *body = "{\"model\":\"cut\",\"stream\":true,\"max_tokens\":900,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    sy_resp r;
    CHECK(call(&r, g_env.gw.base, "/v1/chat/completions", KEY_S, NULL, body) == 0);
    CHECK(r.status == 200);
    CHECK_CONTAINS(r.body, "error"); /* the stream ended with an error event */
    sy_resp_free(&r);
    sy_it_sleep_ms(100);
    CHECK(call(&r, g_env.gw.base, "/v1/chat/completions", KEY_S, NULL,
               "{\"model\":\"small\",\"max_tokens\":900,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}") == 0);
    CHECK(r.status == 200);
    sy_resp_free(&r);
}

TEST(a_spent_budget_is_insufficient_quota)
{
    sy_resp r;
    int ok = 0, refused = 0;
    for (int i = 0; i < 40 && !refused; i++) {
        CHECK(chat(&r, KEY_U, "pricey") == 0);
        if (r.status == 200) ok++;
        if (r.status == 429) {
            refused = 1;
            cJSON *j = sy_resp_json(&r);
            CHECK_STR(sy_json_str(j, "error.type"), "insufficient_quota");
            CHECK_STR(sy_json_str(j, "error.code"), "insufficient_quota");
            CHECK_CONTAINS(sy_json_str(j, "error.message"), "usd_day");
            cJSON_Delete(j);
            const char *ra = sy_resp_header(&r, "retry-after");
            CHECK(ra && atoi(ra) > 0 && atoi(ra) <= 86400);
        }
        sy_resp_free(&r);
    }
    CHECK(ok >= 2 && refused);
    /* what was spent stays within the budget */
    double cost = metric(g_env.gw.base, "switchyard_cost_usd_total{model=\"pricey\"}");
    CHECK(cost > 0 && cost <= 0.05);
    CHECK(metric(g_env.gw.base, "switchyard_limit_rejections_total{scope=\"key\",limit=\"usd_day\"}") == 1);
    /* per key: every request answered (the refused one too), and what it cost */
    CHECK(metric(g_env.gw.base, "switchyard_key_requests_total{key=\"usd\",team=\"\"}") == ok + 1);
    double kc = metric(g_env.gw.base, "switchyard_key_cost_usd_total{key=\"usd\",team=\"\"}");
    CHECK(kc > 0 && kc > cost - 1e-6 && kc < cost + 1e-6);
    /* the policy sees it run low */
    CHECK(call(&r, g_env.gw.base, "/v1/route", KEY_U, NULL,
               "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}") == 0);
    cJSON *j = sy_resp_json(&r);
    const char *reason = sy_json_str(j, "reason");
    const char *p = reason ? strstr(reason, "usd_day=") : NULL;
    CHECK(p && atof(p + 8) < 0.05 && atof(p + 8) >= 0);
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(the_request_log_names_the_key_never_the_secret)
{
    sy_it_sleep_ms(300); /* written by a background thread */
    char path[700];
    snprintf(path, sizeof path, "%s/requests.jsonl", g_env.dir);
    char *log = sy_it_read_file(path, NULL);
    CHECK(log != NULL);
    CHECK_CONTAINS(log, "\"key\":\"beta\",\"team\":\"beta\"");
    CHECK_CONTAINS(log, "\"key\":\"alpha-1\",\"team\":\"alpha\"");
    CHECK(log && !strstr(log, KEY_A) && !strstr(log, KEY_B) && !strstr(log, KEY_U));
    free(log);
}

TEST(config_errors_name_file_line_and_key)
{
    char dir[512], path[700];
    CHECK(sy_it_tmpdir(dir, sizeof dir) == 0);
    const char *bad =
        "model { id = \"m\", provider = \"sim\" }\n"
        "provider { id = \"sim\", kind = \"sim\" }\n"
        "key { id = \"a\", sha256 = \"abc\" }\n"
        "key { id = \"b\", key_env = \"SY_IT_NOT_SET_EVER\" }\n"
        "key { id = \"c\", sha256 = \"44040b11c6b95d0708475ee01f88eae9bf33fa20548b3bbe666d3afb11e1be6b\","
        " routes = { \"nope\" }, priority = \"urgent\", limits = { rpm = -1, hourly = 3 } }\n"
        "key { id = \"d\" }\n"
        "server { redis = \"http://x\", redis_failure = \"maybe\", redis_timeout_ms = 0 }\n"
        "key { id = \"e\", sha256 = \"44040b11c6b95d0708475ee01f88eae9bf33fa20548b3bbe666d3afb11e1be6b\",\n"
        "      key_env = \"HOME\", models = { \"ghost\" }, priority = { 1 } }\n"
        "key { id = \"c\", sha256 = \"44040b11c6b95d0708475ee01f88eae9bf33fa20548b3bbe666d3afb11e1be6b\" }\n"
        "team { id = \"t\", limits = { tpm = 1.5 } }\n";
    sy_it_write_file(dir, "bad.lua", bad, path, sizeof path);
    char *argv[] = {(char *)g_bin, "check", path, NULL};
    sy_proc p = {0};
    char err[700];
    snprintf(err, sizeof err, "%s/err.txt", dir);
    CHECK(sy_proc_spawn(&p, argv, NULL, 0, err) == 0);
    CHECK(sy_proc_wait(&p, 5000) == 1);
    CHECK(sy_proc_exit_code(&p) != 0);
    char *out = sy_it_read_file(err, NULL);
    CHECK_CONTAINS(out, "bad.lua:3: key[a].sha256: must be 64 hex digits");
    CHECK_CONTAINS(out, "bad.lua:4: key[b].key_env: environment variable SY_IT_NOT_SET_EVER is not set");
    CHECK_CONTAINS(out, "bad.lua:5: key[c].routes: unknown route \"nope\"");
    CHECK_CONTAINS(out, "bad.lua:5: key[c].priority: must be");
    CHECK_CONTAINS(out, "bad.lua:5: key[c].limits.rpm: must not be negative");
    CHECK_CONTAINS(out, "bad.lua:5: key[c].limits.hourly: unknown key");
    CHECK_CONTAINS(out, "bad.lua:6: key[d].sha256: is required");
    CHECK_CONTAINS(out, "bad.lua:7: server.redis: must be a redis:// URL");
    CHECK_CONTAINS(out, "bad.lua:7: server.redis_failure: must be \"open\"");
    CHECK_CONTAINS(out, "bad.lua:7: server.redis_timeout_ms: must be between 1 and 60000");
    CHECK_CONTAINS(out, "bad.lua:8: key[e].sha256: give sha256 or key_env, not both");
    CHECK_CONTAINS(out, "bad.lua:8: key[e].models: unknown model \"ghost\"");
    CHECK_CONTAINS(out, "bad.lua:8: key[e].priority: must be");
    CHECK_CONTAINS(out, "bad.lua:10: key.id: duplicate id \"c\"");
    CHECK_CONTAINS(out, "bad.lua:10: key[c].sha256: the same key as key[c]");
    CHECK_CONTAINS(out, "bad.lua:11: team[t].limits.tpm: must be a whole number");
    free(out);
    sy_proc_stop(&p, 1000);
    /* key-hash prints what sha256 = wants; an empty stdin is an error */
    char cmd[900], line[128] = "";
    snprintf(cmd, sizeof cmd, "printf 'sk-itest-beta\\n' | '%s' key-hash", g_bin);
    char *sh[] = {"/bin/sh", "-c", cmd, NULL};
    sy_proc q = {0};
    CHECK(sy_proc_spawn(&q, sh, NULL, 1, NULL) == 0);
    CHECK(sy_proc_read_line(&q, line, sizeof line, 5000) > 0);
    CHECK_STR(line, "44040b11c6b95d0708475ee01f88eae9bf33fa20548b3bbe666d3afb11e1be6b");
    CHECK(sy_proc_wait(&q, 5000) == 1 && sy_proc_exit_code(&q) == 0);
    snprintf(cmd, sizeof cmd, "'%s' key-hash < /dev/null", g_bin);
    sy_proc q2 = {0};
    CHECK(sy_proc_spawn(&q2, sh, NULL, 0, err) == 0);
    CHECK(sy_proc_wait(&q2, 5000) == 1 && sy_proc_exit_code(&q2) == 2);
    out = sy_it_read_file(err, NULL);
    CHECK_CONTAINS(out, "expected one key on stdin");
    free(out);
    sy_it_rmtree(dir);
}

/* ---- with Redis ---------------------------------------------------------------------- */

static sy_proc g_redis;
static int g_redis_port;

static int redis_start(int port)
{
    return sy_it_redis_start(&g_redis, g_redis_bin, port);
}

static const char *RCFG =
    "server { redis = \"redis://127.0.0.1:%d/3\", redis_failure = \"%s\", redis_timeout_ms = 200,\n"
    "         request_log = \"requests.jsonl\" }\n"
    "provider { id = \"sim\", kind = \"sim\", time_scale = 0 }\n"
    "model { id = \"small\", provider = \"sim\" }\n"
    "key { id = \"shared\", key_env = \"SY_IT_KEY_A\", limits = { rpm = 10, tpm = 100000 } }\n"
    "key { id = \"tokens\", key_env = \"SY_IT_KEY_T\", team = \"t\", limits = { tpm = 1000 } }\n"
    "team { id = \"t\", limits = { usd_month = 5 } }\n";

static int start_gw(sy_gw *g, const char *dir, const char *name, const char *mode)
{
    char cfg[1024], path[700], log[700];
    snprintf(cfg, sizeof cfg, RCFG, g_redis_port, mode);
    sy_it_write_file(dir, name, cfg, path, sizeof path);
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    return sy_gw_start(g, g_bin, path, 2, ENV, log);
}

static int rchat(sy_gw *g)
{
    sy_resp r;
    int st = -1;
    if (call(&r, g->base, "/v1/chat/completions", KEY_A, NULL,
             "{\"model\":\"small\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}") == 0)
        st = r.status;
    if (st == 503) {
        CHECK_CONTAINS(r.body, "limits_unavailable");
        CHECK_STR(sy_resp_header(&r, "retry-after"), "1");
        CHECK(sy_resp_header(&r, "x-should-retry") == NULL); /* a retry may well work */
    }
    sy_resp_free(&r);
    return st;
}

static void wait_redis_up(sy_gw *g)
{
    for (int i = 0; i < 60 && metric(g->base, "switchyard_redis_up") < 2; i++) sy_it_sleep_ms(100);
}

TEST(two_gateways_share_one_limit_through_redis)
{
    char dir[512];
    sy_gw a = {0}, b = {0};
    g_redis_port = sy_it_free_port();
    CHECK(sy_it_tmpdir(dir, sizeof dir) == 0);
    CHECK(redis_start(g_redis_port) == 0);
    CHECK(start_gw(&a, dir, "a.lua", "open") == 0);
    CHECK(start_gw(&b, dir, "b.lua", "closed") == 0);
    wait_redis_up(&a);
    wait_redis_up(&b);
    CHECK(metric(a.base, "switchyard_redis_up") == 2);
    away_from_minute_edge(30); /* the rpm counts below, through the hang, in one minute */
    int ok = 0, limited = 0;
    for (int i = 0; i < 30; i++) {
        int st = rchat(i % 2 ? &b : &a);
        ok += st == 200;
        limited += st == 429;
    }
    CHECK(ok == 10); /* the sum both admitted is the limit */
    CHECK(limited == 20);
    /* tokens reserved in Redis are settled there: 600 of 1,000, three times in a row, on
     * alternating instances (each used a few tokens); 1,200 at once never */
    const char *t600 = "{\"model\":\"small\",\"max_tokens\":600,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    for (int i = 0; i < 3; i++) {
        sy_resp r;
        CHECK(call(&r, (i % 2 ? &b : &a)->base, "/v1/chat/completions", KEY_T, NULL, t600) == 0);
        CHECK(r.status == 200);
        sy_resp_free(&r);
    }
    {
        sy_resp r;
        CHECK(call(&r, b.base, "/v1/chat/completions", KEY_T, NULL,
                   "{\"model\":\"small\",\"max_tokens\":1200,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}") == 0);
        CHECK(r.status == 429);
        sy_resp_free(&r);
    }

    /* Redis hangs (stopped, not gone): each command's deadline answers for it, the
     * connection is made again, and both modes behave as when it is gone */
    kill(g_redis.pid, SIGSTOP);
    {   /* a client that gives up while its admission waits on Redis */
        sy_resp r;
        char url[160], auth[100];
        snprintf(url, sizeof url, "%s/v1/chat/completions", a.base);
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", KEY_A);
        const char *hdrs[] = {auth, NULL};
        sy_req_opts o = {.body = "{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                         .headers = hdrs, .timeout_ms = 50};
        CHECK(sy_http(&r, url, &o) != 0); /* timed out on our side */
        sy_resp_free(&r);
        sy_it_sleep_ms(400); /* the gateway's Redis deadline passes: the call is let go */
    }
    double h0 = sy_it_now_ms();
    CHECK(rchat(&a) == 200);
    CHECK(rchat(&b) == 503);
    CHECK(sy_it_now_ms() - h0 < 2000);
    CHECK(metric(a.base, "switchyard_redis_timeouts_total") >= 1);
    kill(g_redis.pid, SIGCONT);
    wait_redis_up(&a);
    wait_redis_up(&b);
    CHECK(metric(b.base, "switchyard_redis_up") == 2);
    CHECK(rchat(&b) == 429); /* the counters are still there: the limit still holds */

    /* Redis goes away: "open" admits (and counts it), "closed" refuses with a 503, both fast */
    sy_proc_stop(&g_redis, 2000);
    double t0 = sy_it_now_ms();
    CHECK(rchat(&a) == 200);
    CHECK(rchat(&b) == 503);
    CHECK(sy_it_now_ms() - t0 < 2000);
    CHECK(metric(a.base, "switchyard_limits_unchecked_total{mode=\"open\"}") >= 1);
    CHECK(metric(b.base, "switchyard_limits_unchecked_total{mode=\"closed\"}") >= 1);
    CHECK(metric(a.base, "switchyard_redis_up") == 0);

    /* it comes back (empty): both reconnect and the limit holds again */
    CHECK(redis_start(g_redis_port) == 0);
    wait_redis_up(&a);
    wait_redis_up(&b);
    CHECK(metric(b.base, "switchyard_redis_up") == 2);
    away_from_minute_edge(10);
    ok = limited = 0;
    for (int i = 0; i < 14; i++) {
        int st = rchat(i % 2 ? &b : &a);
        ok += st == 200;
        limited += st == 429;
    }
    CHECK(ok == 10 && limited == 4);
    /* a reload cannot move the limits to another Redis: refused, the old config stays */
    {
        char cfg[1024], path[700];
        snprintf(cfg, sizeof cfg, RCFG, g_redis_port + 1, "open");
        sy_it_write_file(dir, "a.lua", cfg, path, sizeof path);
        kill(a.proc.pid, SIGHUP);
        char *log = NULL;
        for (int i = 0; i < 50; i++, sy_it_sleep_ms(100)) {
            free(log);
            log = sy_it_read_file(a.stderr_path, NULL);
            if (log && strstr(log, "server.redis: changed")) break;
        }
        CHECK_CONTAINS(log, "server.redis: changed");
        free(log);
        /* still connected to the same Redis (nothing listens on the other port) */
        CHECK(metric(a.base, "switchyard_redis_up") == 2);
        CHECK(metric(a.base, "switchyard_reload_failures_total") >= 1); /* SIGHUP, and the file watch */
    }
    sy_gw_stop(&a);
    sy_gw_stop(&b);
    sy_proc_stop(&g_redis, 2000);
    for (int i = 0; i < 2; i++) { /* ASan builds: nothing reported by either gateway */
        char *log = sy_it_read_file((i ? &b : &a)->stderr_path, NULL);
        CHECK(log && !sy_it_sanitizer_report(log));
        if (log && sy_it_sanitizer_report(log)) fprintf(stderr, "%s", log);
        free(log);
    }
    sy_it_rmtree(dir);
}

int main(int argc, char **argv)
{
    if (sy_it_args(argc, argv, &g_bin, &g_mock_bin) != 0) return 2;
    g_redis_bin = argc > 3 ? argv[3] : "/usr/bin/redis-server";
    char cfgfmt[8192];
    snprintf(cfgfmt, sizeof cfgfmt, "%s", CFG);
    setenv("SY_IT_KEY_A", KEY_A, 1); /* sy_it_env starts the gateway with the test's env */
    setenv("SY_IT_KEY_A2", KEY_A2, 1);
    setenv("SY_IT_KEY_T", KEY_T, 1);
    setenv("SY_IT_KEY_S", KEY_S, 1);
    setenv("SY_IT_KEY_U", KEY_U, 1);
    if (sy_it_env_start(&g_env, g_bin, g_mock_bin, cfgfmt, FILES) != 0) return 1;
    RUN(no_key_or_a_wrong_key_is_a_401);
    RUN(routes_and_models_a_key_may_not_use_are_a_403);
    RUN(policies_see_the_key);
    RUN(requests_per_minute_per_key_and_per_team);
    RUN(tokens_are_reserved_then_settled);
    RUN(a_stream_cut_short_is_settled);
    RUN(a_spent_budget_is_insufficient_quota);
    RUN(the_request_log_names_the_key_never_the_secret);
    RUN(config_errors_name_file_line_and_key);
    char *log = NULL;
    sy_it_env_stop(&g_env, &log);
    CHECK(!sy_it_sanitizer_report(log));
    free(log);
    if (access(g_redis_bin, X_OK) == 0)
        RUN(two_gateways_share_one_limit_through_redis);
    else
        CHECK(!"redis-server not found: run make test-deps (Debian package redis-server)");
    curl_global_cleanup();
    return sy_test_summary();
}
