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
    "server { workers = 1 }\n"
    "provider { id = \"sim\", kind = \"sim\", time_scale = 0 }\n"
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
    "model { id = \"cheap\", provider = \"sim\", tokenizer = \"o200k_base\",\n"
    "        price = { input = 0.001, output = 0.002 }, capabilities = { \"stream\" },\n"
    "        sim = { output_tokens = { min = 5, max = 5 } } }\n"
    "model { id = \"pricey\", provider = \"sim\", tokenizer = \"o200k_base\",\n"
    "        price = { input = 0.01, output = 0.02 }, sim = { output_tokens = { min = 5, max = 5 } } }\n"
    "model { id = \"broken\", provider = \"sim\", sim = { failure_rate = 1, failure_status = 503 } }\n"
    "route { name = \"r\", policy = \"chain.lua\", default = \"cheap\",\n"
    "        options = { chain = { \"cheap\", \"pricey\" } } }\n";

static void chat(sy_resp *r, const char *model, int stream)
{
    char url[160], body[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g_env.gw.base);
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
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
        /* 8 x 0.001/1k + 5 x 0.002/1k */
        CHECK_STR(sy_resp_header(&r, "x-switchyard-cost-usd"), "0.00001800");
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
    /* "hi" as a user message: 3 + 1 (role) + 1 (content) + 3 (priming) = 8 o200k tokens */
    CHECK(metric(t, "switchyard_tokens_in_total{model=\"cheap\"}") == 32);
    CHECK(metric(t, "switchyard_tokens_out_total{model=\"cheap\"}") == 20);
    /* 32 x 0.001/1k + 20 x 0.002/1k; on pricey (the reference) 10x that */
    double cost = metric(t, "switchyard_cost_usd_total{model=\"cheap\"}");
    double saved = metric(t, "switchyard_savings_usd_total{model=\"cheap\"}");
    CHECK(cost > 0.0000719 && cost < 0.0000721);
    CHECK(saved > 0.0006479 && saved < 0.0006481);
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
    CHECK(strstr(t, "\"hi\"") == NULL);
    sy_resp_free(&r);
}

int main(int argc, char **argv)
{
    if (sy_it_args(argc, argv, &g_bin, &g_mock_bin) != 0) return 2;
    const char *const files[] = {"chain.lua", SY_IT_CHAIN_POLICY, NULL};
    if (sy_it_env_start(&g_env, g_bin, g_mock_bin, CONFIG, files) != 0) return 1;
    RUN_SEL(exact_counts_tokens_cost_and_savings);
    CHECK(sy_it_env_stop(&g_env, NULL) == 0);
    curl_global_cleanup();
    return sy_test_summary();
}
