/* test_policy_live.c — what policies see of live traffic, through the real server: live
 * model stats shared by every worker, decision constraints, explained decisions over HTTP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sy_itest.h"
#include "sy_test.h"

static const char *g_bin;
static char g_dir[512];

static const char *CONFIG =
    "server { workers = 2 }\n"
    "provider { id = \"sim\", kind = \"sim\", time_scale = 0 }\n"
    "model { id = \"x\", provider = \"sim\", capabilities = { \"stream\" },\n"
    "        price = { input = 0.0001, output = 0.0001 } }\n"
    "model { id = \"flaky\", provider = \"sim\", sim = { failure_rate = 1.0 } }\n"
    "model { id = \"pricey\", provider = \"sim\", capabilities = { \"json\", \"stream\" },\n"
    "        price = { input = 5, output = 5 } }\n"
    "model { id = \"json\", provider = \"sim\", capabilities = { \"json\", \"stream\" } }\n"
    "route { name = \"live\", policy = \"live.lua\", default = \"x\" }\n"
    "route { name = \"cons\", policy = \"cons.lua\", default = \"x\" }\n";

static const char *LIVE =
    "local sy = require 'switchyard'\n"
    "return { name = 'live', route = function(req)\n"
    "  local x, f = sy.model('x').live, sy.model('flaky').live\n"
    "  return sy.pick('x', string.format('x=%d flaky=%d err=%.1f', x.attempts, f.attempts,\n"
    "                                    f.error_rate))\n"
    "end }\n";

static const char *CONS =
    "local sy = require 'switchyard'\n"
    "return { name = 'cons', route = function(req)\n"
    "  return sy.chain{ 'x', 'pricey', 'json', require = 'json', max_cost = 0.01,\n"
    "                   reason = 'constrained' }\n"
    "end }\n";

static void chat(sy_gw *g, sy_resp *r, const char *model)
{
    char url[128], body[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g->base);
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", model);
    CHECK(sy_http_post(r, url, body, NULL) == 0);
}

TEST(live_stats_reach_policies_across_workers)
{
    char path[600], log[600];
    sy_gw g;
    sy_resp r;
    sy_it_write_file(g_dir, "live.lua", LIVE, path, sizeof path);
    sy_it_write_file(g_dir, "cons.lua", CONS, path, sizeof path);
    sy_it_write_file(g_dir, "config.lua", CONFIG, path, sizeof path);
    snprintf(log, sizeof log, "%s/gw.log", g_dir);
    if (sy_gw_start(&g, g_bin, path, 2, NULL, log) != 0) {
        CHECK(!"gateway started");
        return;
    }
    /* three answers from x and two failures of flaky, over fresh connections (so both
     * workers take some): the stats are shared */
    for (int i = 0; i < 3; i++) {
        chat(&g, &r, "x");
        CHECK(r.status == 200);
        sy_resp_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        chat(&g, &r, "flaky");
        CHECK(r.status == 502);
        sy_resp_free(&r);
    }
    chat(&g, &r, "live");
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-route"), "live; reason=\"x=3 flaky=2 err=1.0\"");
    sy_resp_free(&r);

    /* constraints: x lacks json, pricey is over max_cost: json answers */
    chat(&g, &r, "cons");
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "json");
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "json:200");
    sy_resp_free(&r);

    /* the same decision, explained over HTTP */
    char url[128];
    snprintf(url, sizeof url, "%s/v1/route?explain=1", g.base);
    CHECK(sy_http_post(&r, url,
                       "{\"model\":\"cons\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                       NULL) == 0);
    CHECK(r.status == 200);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "model"), "json");
    CHECK_STR(sy_json_str(j, "dropped"), "x: lacks a required capability; pricey: over max_cost");
    const cJSON *cands = sy_json_at(j, "candidates");
    CHECK(cJSON_GetArraySize(cands) == 4);
    cJSON_Delete(j);
    sy_resp_free(&r);
    sy_gw_stop(&g);
    char *text = sy_it_read_file(log, NULL);
    if (sy_it_sanitizer_report(text)) {
        CHECK(!"gateway log free of sanitizer reports");
        fprintf(stderr, "---- gateway log ----\n%s\n----\n", text);
    }
    free(text);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_policy_live SWITCHYARD\n");
        return 2;
    }
    g_bin = argv[1];
    if (sy_it_tmpdir(g_dir, sizeof g_dir) != 0) return 2;
    RUN(live_stats_reach_policies_across_workers);
    sy_it_rmtree(g_dir);
    return sy_test_summary();
}
