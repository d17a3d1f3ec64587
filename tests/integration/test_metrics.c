/* test_metrics.c — GET /metrics after a scripted sequence of requests to sim models with known
 * prices: exact request counts, attempts, tokens (from the upstream's usage), cost and savings
 * against the route's reference model, histogram counts and the gauges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sy_itest.h"
#include "sy_test.h"

static const char *g_bin, *g_mock_bin;
static sy_it_env g_env;

/* prices in USD per 1k tokens; every answer is 5 tokens long */
static const char *CONFIG =
    "server { workers = 1, request_log = \"requests.jsonl\" }\n"
    "provider { id = \"sim\", kind = \"sim\", time_scale = 0 }\n"
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
    "model { id = \"cheap\", provider = \"sim\", tokenizer = \"o200k_base\",\n"
    "        price = { input = 0.001, output = 0.002 }, capabilities = { \"stream\" },\n"
    "        sim = { output_tokens = { min = 5, max = 5 } } }\n"
    "model { id = \"pricey\", provider = \"sim\", tokenizer = \"o200k_base\",\n"
    "        price = { input = 0.01, output = 0.02 }, sim = { output_tokens = { min = 5, max = 5 } } }\n"
    "model { id = \"broken\", provider = \"sim\", sim = { failure_rate = 1, failure_status = 503 } }\n"
    "model { id = \"mocked\", provider = \"m\", upstream = \"mock?chunks=2\",\n"
    "        price = { input = 0.001, output = 0.001 } }\n"
    "route { name = \"r\", policy = \"chain.lua\", default = \"cheap\",\n"
    "        options = { chain = { \"cheap\", \"pricey\" } } }\n";

static void chat(sy_resp *r, const char *model, int stream)
{
    char url[160], body[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g_env.gw.base);
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"user\",\"content\":"
             "\"zebra\"}]}",
             model, stream ? "true" : "false");
    CHECK(sy_http_post(r, url, body, NULL) == 0);
}

/* The value of one exposition line "name{labels} value", or -1. */
static double metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ') return atof(p + n + 1);
    return -1;
}

TEST(exact_counts_tokens_cost_and_savings)
{
    sy_resp r;
    for (int i = 0; i < 3; i++) {
        chat(&r, "r", 0);
        CHECK(r.status == 200);
        /* 9 x 0.001/1k + 5 x 0.002/1k */
        CHECK_STR(sy_resp_header(&r, "x-switchyard-cost-usd"), "0.00001900");
        sy_resp_free(&r);
    }
    chat(&r, "r", 1); /* a stream: usage comes in its last chunk */
    CHECK(r.status == 200);
    sy_resp_free(&r);
    chat(&r, "broken", 0);
    CHECK(r.status == 503);
    sy_resp_free(&r);

    char url[160];
    snprintf(url, sizeof url, "%s/metrics", g_env.gw.base);
    CHECK(sy_http_get(&r, url) == 0 && r.status == 200);
    CHECK_CONTAINS(sy_resp_header(&r, "content-type"), "text/plain");
    const char *t = r.body;
    CHECK(metric(t, "switchyard_requests_total{route=\"r\",model=\"cheap\",status=\"200\"}") == 4);
    CHECK(metric(t, "switchyard_requests_total{route=\"direct\",model=\"none\",status=\"503\"}") == 1);
    CHECK(metric(t, "switchyard_attempts_total{model=\"cheap\",outcome=\"ok\"}") == 4);
    CHECK(metric(t, "switchyard_attempts_total{model=\"broken\",outcome=\"http\"}") == 1);
    /* "zebra" as a user message: 3 + 1 (role) + 2 (content) + 3 (priming) = 9 o200k tokens */
    CHECK(metric(t, "switchyard_tokens_in_total{model=\"cheap\"}") == 36);
    CHECK(metric(t, "switchyard_tokens_out_total{model=\"cheap\"}") == 20);
    /* 36 x 0.001/1k + 20 x 0.002/1k; on pricey (the reference) 10x that */
    double cost = metric(t, "switchyard_cost_usd_total{model=\"cheap\"}");
    double saved = metric(t, "switchyard_savings_usd_total{model=\"cheap\"}");
    CHECK(cost > 0.0000759 && cost < 0.0000761);
    CHECK(saved > 0.0006839 && saved < 0.0006841);
    CHECK(metric(t, "switchyard_tokens_in_total{model=\"pricey\"}") == 0);
    CHECK(metric(t, "switchyard_upstream_latency_seconds_count{model=\"cheap\"}") == 4);
    CHECK(metric(t, "switchyard_upstream_ttft_seconds_count{model=\"cheap\"}") == 1);
    CHECK(metric(t, "switchyard_upstream_latency_seconds_bucket{model=\"cheap\",le=\"+Inf\"}") == 4);
    CHECK(metric(t, "switchyard_policy_eval_seconds_count") == 4);
    CHECK(metric(t, "switchyard_policy_errors_total") == 0);
    CHECK(metric(t, "switchyard_inflight_requests") == 0);
    CHECK(metric(t, "switchyard_breaker_state{model=\"cheap\"}") == 0);
    CHECK(metric(t, "switchyard_reloads_total") == 0);
    CHECK_CONTAINS(t, "# TYPE switchyard_upstream_latency_seconds histogram");
    /* no prompt text anywhere */
    CHECK(strstr(t, "zebra") == NULL);
    sy_resp_free(&r);
}

TEST(stream_usage_is_asked_for_and_passed_on_only_when_the_client_asked)
{
    sy_resp r;
    sy_sse sse = {0};
    char url[160];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g_env.gw.base);
    CHECK(sy_http_post(&r, url,
                       "{\"model\":\"mocked\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                       "\"content\":\"zebra\"}]}",
                       NULL) == 0);
    CHECK(r.status == 200);
    CHECK(strstr(r.body, "\"usage\"") == NULL); /* not asked for: not passed on */
    CHECK(sy_sse_parse(&r, &sse) == 0 && sse.done_last);
    sy_sse_free(&sse);
    sy_resp_free(&r);
    CHECK(sy_http_post(&r, url,
                       "{\"model\":\"mocked\",\"stream\":true,\"stream_options\":{\"include_usage\":"
                       "true},\"messages\":[{\"role\":\"user\",\"content\":\"zebra\"}]}",
                       NULL) == 0);
    CHECK_CONTAINS(r.body, "\"usage\"");
    sy_resp_free(&r);
    /* both were billed: the upstream's usage reached the counters */
    snprintf(url, sizeof url, "%s/metrics", g_env.gw.base);
    CHECK(sy_http_get(&r, url) == 0);
    CHECK(metric(r.body, "switchyard_tokens_out_total{model=\"mocked\"}") > 0);
    CHECK(metric(r.body, "switchyard_requests_total{route=\"direct\",model=\"mocked\",status=\"200\"}") == 2);
    sy_resp_free(&r);
}

/* After the gateway stopped (and flushed): one JSON line per request in the routing log. */
static void check_request_log(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/requests.jsonl", g_env.dir);
    char *log = sy_it_read_file(path, NULL);
    CHECK(log != NULL);
    if (!log) return;
    CHECK(strstr(log, "zebra") == NULL); /* no prompt content by default */
    int lines = 0, cheap = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        CHECK(j != NULL);
        lines++;
        const char *route = sy_json_str(j, "route");
        if (route && strcmp(route, "r") == 0) {
            cheap++;
            CHECK_STR(sy_json_str(j, "model"), "cheap");
            CHECK_STR(sy_json_str(j, "decision.kind"), "chain");
            CHECK_STR(sy_json_str(j, "decision.chain.1"), "pricey");
            CHECK_STR(sy_json_str(j, "attempts.0.outcome"), "ok");
            CHECK(sy_json_num(j, "attempts.0.tokens_in", 0) == 9);
            CHECK(sy_json_num(j, "attempts.0.tokens_out", 0) == 5);
            CHECK(sy_json_num(j, "status", 0) == 200);
            CHECK(sy_json_num(j, "cost_usd", 0) > 0.0000189 && sy_json_num(j, "cost_usd", 0) < 0.0000191);
            CHECK(sy_json_num(j, "savings_usd", 0) > 0.000170 && sy_json_num(j, "savings_usd", 0) < 0.000172);
            CHECK(sy_json_str(j, "request_id") != NULL);
            CHECK(sy_json_str(j, "policy") != NULL);
        } else if (strcmp(sy_json_str(j, "model") ? sy_json_str(j, "model") : "", "mocked") != 0) {
            CHECK_STR(sy_json_str(j, "attempts.0.outcome"), "http");
            CHECK(sy_json_num(j, "status", 0) == 503);
        }
        cJSON_Delete(j);
    }
    CHECK(lines == 7 && cheap == 4);
    free(log);

    /* switchyard report on it */
    char out[4096] = "", errp[700];
    snprintf(errp, sizeof errp, "%s/report.err", g_env.dir);
    char *argv[] = {(char *)g_bin, "report", path, NULL};
    sy_proc p = {0};
    CHECK(sy_proc_spawn(&p, argv, NULL, 1, errp) == 0);
    size_t used = 0;
    int n;
    while (used + 1 < sizeof out && (n = sy_proc_read_line(&p, out + used, sizeof out - used - 1, 5000)) >= 0) {
        used += (size_t)n;
        out[used++] = '\n';
        out[used] = '\0';
    }
    CHECK(sy_proc_stop(&p, 2000) == 0);
    CHECK_CONTAINS(out, "model");
    CHECK_CONTAINS(out, "cheap");
    CHECK_CONTAINS(out, "  57.1%"); /* 4 of 7 requests */
    CHECK_CONTAINS(out, "mocked");
    /* errors: a missing file (2), a file with no routing-result lines (1) */
    char *miss[] = {(char *)g_bin, "report", "/nonexistent.jsonl", NULL};
    sy_proc q = {0};
    CHECK(sy_proc_spawn(&q, miss, NULL, 0, errp) == 0);
    sy_proc_wait(&q, 5000);
    CHECK(sy_proc_stop(&q, 1000) == 2);
    char *e = sy_it_read_file(errp, NULL);
    CHECK_CONTAINS(e, "cannot read /nonexistent.jsonl");
    free(e);
    char junk[700];
    sy_it_write_file(g_env.dir, "junk.jsonl", "not json\n", junk, sizeof junk);
    char *bad[] = {(char *)g_bin, "report", junk, NULL};
    sy_proc z = {0};
    CHECK(sy_proc_spawn(&z, bad, NULL, 0, errp) == 0);
    sy_proc_wait(&z, 5000);
    CHECK(sy_proc_stop(&z, 1000) == 1);
    e = sy_it_read_file(errp, NULL);
    CHECK_CONTAINS(e, "junk.jsonl:1: not a routing-result line");
    CHECK_CONTAINS(e, "has no routing-result lines");
    free(e);
}

/* server.log_content: prompts and answers in the log, with personal data and keys redacted */
static void log_content_is_redacted(void)
{
    sy_it_env e;
    const char *cfg =
        "server { workers = 1, request_log = \"requests.jsonl\", log_content = true }\n"
        "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
        "model { id = \"echo\", provider = \"m\", upstream = \"mock?echo=1\" }\n";
    if (sy_it_env_start(&e, g_bin, g_mock_bin, cfg, NULL) != 0) {
        CHECK(!"gateway started");
        return;
    }
    sy_resp r;
    char url[160], path[700];
    snprintf(url, sizeof url, "%s/v1/chat/completions", e.gw.base);
    CHECK(sy_http_post(&r, url,
                       "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"I am ada@example.com, key sk-live-0123456789abcdefXYZ, tel +1 415 555 0100\"}]}",
                       NULL) == 0);
    CHECK(r.status == 200);
    sy_resp_free(&r);
    sy_gw_stop(&e.gw);
    snprintf(path, sizeof path, "%s/requests.jsonl", e.dir);
    char *log = sy_it_read_file(path, NULL);
    CHECK(log != NULL);
    if (log) {
        CHECK(strstr(log, "ada@example.com") == NULL);
        CHECK(strstr(log, "0123456789abcdef") == NULL);
        CHECK(strstr(log, "555 0100") == NULL);
        cJSON *j = cJSON_Parse(log);
        CHECK_STR(sy_json_str(j, "messages.0.role"), "user");
        CHECK_STR(sy_json_str(j, "messages.0.content"), "I am [email], key [key], tel [phone]");
        CHECK_CONTAINS(sy_json_str(j, "answer"), "[email]"); /* the echoed prompt, redacted too */
        cJSON_Delete(j);
    }
    free(log);
    CHECK(sy_it_env_stop(&e, NULL) == 0);
}

/* A request log that cannot be opened stops `serve` with a message naming the file. */
static void unwritable_request_log_is_refused(void)
{
    char dir[512], path[700], errp[700];
    CHECK(sy_it_tmpdir(dir, sizeof dir) == 0);
    sy_it_write_file(dir, "config.lua",
                     "server { request_log = \"/nonexistent-dir/requests.jsonl\" }\n"
                     "provider { id = \"sim\", kind = \"sim\" }\n"
                     "model { id = \"x\", provider = \"sim\" }\n",
                     path, sizeof path);
    snprintf(errp, sizeof errp, "%s/err.txt", dir);
    char *argv[] = {(char *)g_bin, "serve", "--config", path, "--listen", "127.0.0.1:0", NULL};
    sy_proc p = {0};
    CHECK(sy_proc_spawn(&p, argv, NULL, 0, errp) == 0);
    CHECK(sy_proc_wait(&p, 5000) == 1);
    CHECK(sy_proc_exit_code(&p) == 1);
    char *e = sy_it_read_file(errp, NULL);
    CHECK_CONTAINS(e, "server.request_log: cannot open /nonexistent-dir/requests.jsonl");
    free(e);
    sy_it_rmtree(dir);
}

int main(int argc, char **argv)
{
    if (sy_it_args(argc, argv, &g_bin, &g_mock_bin) != 0) return 2;
    const char *const files[] = {"chain.lua", SY_IT_CHAIN_POLICY, NULL};
    if (sy_it_env_start(&g_env, g_bin, g_mock_bin, CONFIG, files) != 0) return 1;
    RUN_SEL(exact_counts_tokens_cost_and_savings);
    RUN_SEL(stream_usage_is_asked_for_and_passed_on_only_when_the_client_asked);
    sy_gw_stop(&g_env.gw); /* the log is flushed on the way out */
    check_request_log();
    log_content_is_redacted();
    unwritable_request_log_is_refused();
    CHECK(sy_it_env_stop(&g_env, NULL) == 0);
    curl_global_cleanup();
    return sy_test_summary();
}
