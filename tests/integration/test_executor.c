/* test_executor.c — the executor's health and time rules through the real gateway: a circuit
 * breaker that opens after failures (chains skip the model without calling it), closes after
 * a successful half-open probe, and shows in GET /admin/models and in policies; the client's
 * x-switchyard-timeout-ms deadline; an upstream context-length 400 moving on to the next
 * model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sy_itest.h"
#include "sy_test.h"

static const char *g_bin, *g_mock_bin;
static sy_it_env g_env;

#define CONFIG_HEAD                                                                            \
    "server { workers = 1, admin_token = \"adm1n\" }\n"                                       \
    "provider { id = \"sim\", kind = \"sim\", time_scale = 0 }\n"                             \
    "provider { id = \"slow\", kind = \"sim\", time_scale = 1 }\n"                            \
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"     \
    "model { id = \"good\", provider = \"sim\" }\n"                                           \
    "model { id = \"sleepy\", provider = \"slow\", latency = { p50 = 3000, p95 = 3000 } }\n"   \
    "model { id = \"m_long\", provider = \"m\",\n"                                            \
    "        upstream = \"mock?status=400&content=context_length_exceeded\" }\n"              \
    "model { id = \"m_bad\", provider = \"m\", upstream = \"mock?status=400\" }\n"             \
    "route { name = \"fb\", policy = \"chain.lua\", default = \"good\",\n"                    \
    "        options = { chain = { \"flaky\", \"good\" } } }\n"                                 \
    "route { name = \"long\", policy = \"chain.lua\", default = \"good\",\n"                  \
    "        options = { chain = { \"m_long\", \"good\" } } }\n"                                \
    "route { name = \"bad\", policy = \"chain.lua\", default = \"good\",\n"                   \
    "        options = { chain = { \"m_bad\", \"good\" } } }\n"                                 \
    "route { name = \"br\", policy = \"br.lua\", default = \"good\" }\n"                  \
    "provider { id = \"mt\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\",\n"      \
    "           ttft_timeout_ms = 200, idle_timeout_ms = 300 }\n"                             \
    "model { id = \"m_stall\", provider = \"m\", upstream = \"mock?delay_ms=3000&tag=stall\" }\n" \
    "model { id = \"m_sstall\", provider = \"m\", upstream = \"mock?stall_ms=3000&tag=sstall\" }\n" \
    "model { id = \"m_fast\", provider = \"m\", upstream = \"mock?tag=fast\" }\n"            \
    "model { id = \"m_ttft\", provider = \"mt\", upstream = \"mock?stall_ms=3000&tag=ttft\" }\n" \
    "model { id = \"m_idle\", provider = \"mt\",\n"                                        \
    "        upstream = \"mock?chunks=4&chunk_ms=1000&tag=idle\" }\n"                         \
    "model { id = \"m_empty\", provider = \"m\", upstream = \"mock?content=&tag=empty\" }\n" \
    "model { id = \"m_maybe\", provider = \"m\", upstream = \"mock?content=maybe+Paris\" }\n"  \
    "model { id = \"m_paris\", provider = \"m\", upstream = \"mock?content=Paris\" }\n"        \
    "model { id = \"m_slowchunks\", provider = \"m\", upstream = \"mock?chunks=3&chunk_ms=150\" }\n" \
    "route { name = \"hedge\", policy = \"pol.lua\", default = \"good\",\n"                  \
    "        options = { kind = \"hedge\", chain = { \"m_stall\", \"m_fast\" }, after_ms = 100 } }\n" \
    "route { name = \"hedge_s\", policy = \"pol.lua\", default = \"good\",\n"                \
    "        options = { kind = \"hedge\", chain = { \"m_sstall\", \"m_fast\" }, after_ms = 100 } }\n" \
    "route { name = \"hedge_ok\", policy = \"pol.lua\", default = \"good\",\n"               \
    "        options = { kind = \"hedge\", chain = { \"m_fast\", \"m_stall\" }, after_ms = 500 } }\n" \
    "route { name = \"ttft\", policy = \"chain.lua\", default = \"good\",\n"                 \
    "        options = { chain = { \"m_ttft\", \"good\" } } }\n"                              \
    "route { name = \"casc\", policy = \"pol.lua\", default = \"good\",\n"                   \
    "        options = { kind = \"cascade\", chain = { \"m_empty\", \"m_maybe\", \"m_paris\" } } }\n" \
    "route { name = \"casc_ok\", policy = \"pol.lua\", default = \"good\",\n"                \
    "        options = { kind = \"cascade\", chain = { \"m_paris\", \"good\" } } }\n"          \
    "model { id = \"m_ra\", provider = \"m\", upstream = \"mock?status=503&retry_after=1&tag=ra\" }\n" \
    "model { id = \"m_ra5\", provider = \"m\", upstream = \"mock?status=503&retry_after=5&tag=ra5\" }\n" \
    "model { id = \"m_500\", provider = \"m\", upstream = \"mock?status=500&tag=r500\",\n"      \
    "        breaker = false }\n"                                                              \
    "route { name = \"retry_ra\", policy = \"chain.lua\", default = \"good\", retries = 1,\n"  \
    "        options = { chain = { \"m_ra\", \"good\" } } }\n"                                 \
    "route { name = \"retry_ra5\", policy = \"chain.lua\", default = \"good\", retries = 3,\n" \
    "        options = { chain = { \"m_ra5\", \"good\" } } }\n"                                \
    "route { name = \"retry_bo\", policy = \"chain.lua\", default = \"good\", retries = 2,\n"  \
    "        backoff = { base_ms = 20, max_ms = 40 }, options = { chain = { \"m_500\", \"good\" } } }\n" \
    "model { id = \"m_low\", provider = \"m\", upstream = \"mock?content=Lyon&logprob=-2\" }\n"  \
    "model { id = \"m_high\", provider = \"m\", upstream = \"mock?content=Paris&logprob=-0.01\" }\n" \
    "model { id = \"m_pricey\", provider = \"m\", upstream = \"mock?content=Paris&tag=pricey\",\n" \
    "        price = { input = 0.01, output = 0.01 } }\n"                                       \
    "model { id = \"m_emptyp\", provider = \"m\", upstream = \"mock?content=&tag=emptyp\",\n"   \
    "        price = { input = 0.01, output = 0.01 } }\n"                                       \
    "route { name = \"casc_conf\", policy = \"pol.lua\", default = \"good\",\n"              \
    "        options = { kind = \"cascade\", chain = { \"m_low\", \"m_high\", \"good\" } } }\n" \
    "route { name = \"casc_cap\", policy = \"pol.lua\", default = \"good\",\n"               \
    "        options = { kind = \"cascade\", chain = { \"m_emptyp\", \"m_pricey\" }, max_cost = 0.008 } }\n" \
    "provider { id = \"mc\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\", transport = \"curl\" }\n" \
    "model { id = \"mc_sstall\", provider = \"mc\", upstream = \"mock?stall_ms=1500&tag=csstall\" }\n" \
    "model { id = \"mc_fast\", provider = \"mc\", upstream = \"mock?tag=cfast\" }\n"       \
    "route { name = \"hedge_curl\", policy = \"pol.lua\", default = \"good\",\n"            \
    "        options = { kind = \"hedge\", chain = { \"mc_sstall\", \"mc_fast\" }, after_ms = 100 } }\n" \
    "route { name = \"retry_dec\", policy = \"chain.lua\", default = \"good\",\n"           \
    "        options = { chain = { \"m_500\", \"good\" }, retries = 1 } }\n"                   \
    "route { name = \"buffered\", policy = \"chain.lua\", default = \"good\", stream_buffer = true,\n" \
    "        options = { chain = { \"m_slowchunks\" } } }\n"

static const char *CONFIG_FLAKY =
    CONFIG_HEAD "model { id = \"flaky\", provider = \"sim\", sim = { failure_rate = 1, failure_status = 503 },\n"
                "        breaker = { min_requests = 3, error_rate = 0.5, cooldown_ms = 300 } }\n";
static const char *CONFIG_HEALED =
    CONFIG_HEAD "model { id = \"flaky\", provider = \"sim\",\n"
                "        breaker = { min_requests = 3, error_rate = 0.5, cooldown_ms = 300 } }\n";


/* a hedge or cascade of the configured models; accept() turns down unsure answers */
static const char *POL =
    "local sy = require 'switchyard'\n"
    "local OPTIONS = { kind = 'hedge', chain = { 'good' }, after_ms = 100, max_cost = 1000 }\n"
    "return { options = OPTIONS,\n"
    "  route = function(req, ctx, conf)\n"
    "    local ids = { reason = conf.kind, after_ms = conf.kind == 'hedge' and conf.after_ms or nil,\n"
    "                  max_cost = conf.max_cost }\n"
    "    for i, id in ipairs(conf.chain) do ids[i] = id end\n"
    "    return conf.kind == 'hedge' and sy.hedge(ids) or sy.cascade(ids)\n"
    "  end,\n"
    "  accept = function(res, ctx)\n"
    "    if res.content:find('maybe') then return false, 'unsure' end\n"
    "    if res.confidence and res.confidence < 0.5 then return false, 'low confidence' end\n"
    "    return true\n"
    "  end }\n";

static const char *BR =
    "local sy = require 'switchyard'\n"
    "return { route = function(req)\n"
    "  return sy.pick('good', 'flaky breaker ' .. sy.model('flaky').live.breaker)\n"
    "end }\n";

static void chat(sy_resp *r, const char *model, const char *const *headers)
{
    char url[160], body[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g_env.gw.base);
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", model);
    CHECK(sy_http_post(r, url, body, headers) == 0);
}

/* The /admin/models entry of a model (caller deletes *root). */
static const cJSON *admin_model(cJSON **root, const char *id)
{
    sy_resp r;
    char url[160];
    const char *auth[] = {"Authorization: Bearer adm1n", NULL};
    snprintf(url, sizeof url, "%s/admin/models", g_env.gw.base);
    sy_req_opts o = {.method = "GET", .headers = auth};
    *root = NULL;
    if (sy_http(&r, url, &o) != 0 || r.status != 200) {
        sy_resp_free(&r);
        return NULL;
    }
    *root = sy_resp_json(&r);
    sy_resp_free(&r);
    const cJSON *m;
    cJSON_ArrayForEach(m, sy_json_at(*root, "data")) if (strcmp(sy_json_str(m, "id"), id) == 0) return m;
    return NULL;
}

TEST(breaker_opens_skips_and_closes_after_a_probe)
{
    sy_resp r;
    cJSON *root;
    for (int i = 0; i < 3; i++) {
        chat(&r, "flaky", NULL);
        CHECK(r.status == 503);
        sy_resp_free(&r);
    }
    const cJSON *m = admin_model(&root, "flaky");
    CHECK(m != NULL);
    CHECK_STR(sy_json_str(m, "breaker.state"), "open");
    CHECK(sy_json_num(m, "breaker.opened", 0) == 1);
    CHECK(sy_json_num(m, "attempts", 0) == 3);
    CHECK(sy_json_num(m, "breaker.open_for_ms", 0) > 0);
    cJSON_Delete(root);

    /* open: the chain skips it without calling it, and policies see it */
    chat(&r, "fb", NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "flaky:circuit_open, good:200");
    sy_resp_free(&r);
    chat(&r, "br", NULL);
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-route"), "flaky breaker open");
    sy_resp_free(&r);
    chat(&r, "flaky", NULL); /* alone: 503 at once, nothing waited on */
    CHECK(r.status == 503);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "upstream_unavailable");
    CHECK_STR(sy_json_str(j, "error.attempts.0.outcome"), "circuit_open");
    cJSON_Delete(j);
    sy_resp_free(&r);
    m = admin_model(&root, "flaky");
    CHECK(sy_json_num(m, "attempts", 0) == 3); /* still three: none was sent */
    cJSON_Delete(root);

    /* the model heals (a reload keeps live stats and the breaker); after the cooldown one
     * probe goes through and closes it */
    char path[600], url[160];
    char cfg[8192];
    snprintf(cfg, sizeof cfg, CONFIG_HEALED, g_env.mock.port, g_env.mock.port, g_env.mock.port);
    sy_it_write_file(g_env.dir, "config.lua", cfg, path, sizeof path);
    const char *auth[] = {"Authorization: Bearer adm1n", NULL};
    snprintf(url, sizeof url, "%s/admin/reload", g_env.gw.base);
    CHECK(sy_http_post(&r, url, "", auth) == 0 && r.status == 200);
    sy_resp_free(&r);
    sy_it_sleep_ms(350);
    chat(&r, "fb", NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "flaky:200");
    sy_resp_free(&r);
    m = admin_model(&root, "flaky");
    CHECK_STR(sy_json_str(m, "breaker.state"), "closed");
    cJSON_Delete(root);
}

static void chat_stream(sy_resp *r, const char *model)
{
    char url[160], body[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g_env.gw.base);
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             model);
    CHECK(sy_http_post(r, url, body, NULL) == 0);
}

TEST(hedge_won_by_the_second_when_the_first_stalls)
{
    sy_resp r;
    sy_mock_reset(&g_env.mock);
    double t0 = sy_it_now_ms();
    chat(&r, "hedge", NULL);
    double took = sy_it_now_ms() - t0;
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "m_fast");
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_stall:hedge_lost, m_fast:200");
    CHECK(took >= 90 && took < 1500);
    sy_resp_free(&r);
    /* the loser's connection was closed at once: the mock saw its client go */
    long closed = 0;
    for (int i = 0; i < 50 && (closed = sy_mock_stat(&g_env.mock, "client_closed")) < 1; i++)
        sy_it_sleep_ms(20);
    CHECK(closed >= 1);
    /* streamed: the first chunk decides */
    chat_stream(&r, "hedge_s");
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_sstall:hedge_lost, m_fast:200");
    sy_sse sse = {0};
    CHECK(sy_sse_parse(&r, &sse) == 0 && sse.done_last);
    sy_sse_free(&sse);
    sy_resp_free(&r);
}

TEST(streamed_hedge_over_curl_closes_the_loser)
{
    /* the winner's first chunk arrives inside libcurl's write callback, where the loser's
     * transfer cannot be removed: it is cancelled right after, and its handle is not reused
     * half-removed (a second race behaves like the first) */
    sy_mock_reset(&g_env.mock);
    for (int i = 0; i < 2; i++) {
        sy_resp r;
        double t0 = sy_it_now_ms();
        chat_stream(&r, "hedge_curl");
        CHECK(r.status == 200);
        CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "mc_sstall:hedge_lost, mc_fast:200");
        CHECK(sy_it_now_ms() - t0 < 1200);
        sy_resp_free(&r);
    }
    long closed = 0;
    for (int i = 0; i < 50 && (closed = sy_mock_stat(&g_env.mock, "client_closed")) < 2; i++)
        sy_it_sleep_ms(20);
    CHECK(closed >= 2);
}

TEST(hedge_not_fired_when_the_first_answers_in_time)
{
    sy_resp r;
    sy_mock_reset(&g_env.mock);
    chat(&r, "hedge_ok", NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_fast:200");
    sy_resp_free(&r);
    sy_it_sleep_ms(600); /* past after_ms: the timer must not start the second one late */
    CHECK(sy_mock_model_count(&g_env.mock, "mock?delay_ms=3000&tag=stall") == 0);
}

TEST(stream_stalls_time_out)
{
    sy_resp r;
    double t0 = sy_it_now_ms();
    chat_stream(&r, "ttft");
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_ttft:timeout, good:200");
    CHECK(sy_it_now_ms() - t0 < 1500);
    sy_resp_free(&r);
    /* committed, then a gap longer than idle_timeout_ms: an error event, no [DONE] */
    chat_stream(&r, "m_idle");
    CHECK(r.status == 200);
    sy_sse sse = {0};
    CHECK(sy_sse_parse(&r, &sse) == 0);
    CHECK(!sse.done);
    CHECK(sse.n >= 2);
    if (sse.n) CHECK_CONTAINS(sse.ev[sse.n - 1].data, "stalled mid-stream");
    sy_sse_free(&sse);
    sy_resp_free(&r);
}

TEST(cascade_escalates_until_an_answer_is_accepted)
{
    sy_resp r;
    chat(&r, "casc", NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"),
              "m_empty:not_accepted, m_maybe:not_accepted, m_paris:200");
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "choices.0.message.content"), "Paris");
    cJSON_Delete(j);
    sy_resp_free(&r);
    chat(&r, "casc_ok", NULL); /* the cheap answer is good: nothing else is called */
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_paris:200");
    sy_resp_free(&r);
    /* streamed: held until accepted, so nothing of a rejected answer is sent */
    chat_stream(&r, "casc");
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"),
              "m_empty:not_accepted, m_maybe:not_accepted, m_paris:200");
    sy_sse sse = {0};
    CHECK(sy_sse_parse(&r, &sse) == 0 && sse.done_last);
    char *content = sy_sse_content(&sse);
    CHECK_STR(content, "Paris");
    free(content);
    sy_sse_free(&sse);
    sy_resp_free(&r);
}

TEST(cascade_confidence_and_cost_cap)
{
    sy_resp r;
    /* accept() sees the confidence from the upstream's logprobs */
    chat(&r, "casc_conf", NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_low:not_accepted, m_high:200");
    sy_resp_free(&r);
    /* the cap is for the steps together: each step (~$0.0052) fits $0.008 alone, the second
     * would pass it, so it is not taken */
    sy_mock_reset(&g_env.mock);
    chat(&r, "casc_cap", NULL);
    CHECK(r.status == 502);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_emptyp:not_accepted, m_pricey:not_accepted");
    cJSON *j = sy_resp_json(&r);
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "over the cascade's cost cap");
    cJSON_Delete(j);
    CHECK(sy_mock_model_count(&g_env.mock, "mock?content=Paris&tag=pricey") == 0);
    sy_resp_free(&r);
}

TEST(stream_buffer_holds_until_the_end)
{
    sy_resp r;
    chat_stream(&r, "buffered");
    CHECK(r.status == 200);
    CHECK(r.n_pieces >= 1);
    /* three chunks 150 ms apart: a buffered stream's first byte comes with the last */
    if (r.n_pieces) CHECK(r.pieces[0].t_ms >= 300);
    sy_resp_free(&r);
}

TEST(retries_back_off_and_honour_retry_after)
{
    sy_resp r;
    double t0 = sy_it_now_ms();
    chat(&r, "retry_bo", NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_500:500, m_500:500, m_500:500, good:200");
    CHECK(sy_it_now_ms() - t0 < 1000); /* two waits of at most 20 and 40 ms */
    sy_resp_free(&r);
    /* a decision's own retries, on a route without any */
    chat(&r, "retry_dec", NULL);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_500:500, m_500:500, good:200");
    sy_resp_free(&r);
    /* Retry-After: 1 s is waited, once */
    t0 = sy_it_now_ms();
    chat(&r, "retry_ra", NULL);
    double took = sy_it_now_ms() - t0;
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_ra:503, m_ra:503, good:200");
    CHECK(took >= 950 && took < 3000);
    sy_resp_free(&r);
    /* a Retry-After beyond the request's deadline is not waited for: the next model now */
    const char *h[] = {"x-switchyard-timeout-ms: 2000", NULL};
    t0 = sy_it_now_ms();
    chat(&r, "retry_ra5", h);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_ra5:503, good:200");
    CHECK(sy_it_now_ms() - t0 < 1000);
    sy_resp_free(&r);
}

TEST(admin_models_needs_the_token)
{
    sy_resp r;
    char url[160];
    snprintf(url, sizeof url, "%s/admin/models", g_env.gw.base);
    CHECK(sy_http_get(&r, url) == 0);
    CHECK(r.status == 401);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "invalid_admin_token");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(client_deadline_cuts_a_slow_request)
{
    sy_resp r;
    const char *h[] = {"x-switchyard-timeout-ms: 200", NULL};
    double t0 = sy_it_now_ms();
    chat(&r, "sleepy", h);
    double took = sy_it_now_ms() - t0;
    CHECK(r.status == 504);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "deadline_exceeded");
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "200 ms");
    cJSON_Delete(j);
    CHECK(took >= 190 && took < 1500);
    sy_resp_free(&r);
    const char *bad[] = {"x-switchyard-timeout-ms: soon", NULL};
    chat(&r, "good", bad);
    CHECK(r.status == 400);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "invalid_header");
    CHECK_STR(sy_json_str(j, "error.param"), "x-switchyard-timeout-ms");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(upstream_context_length_error_moves_on)
{
    sy_resp r;
    chat(&r, "long", NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_long:400, good:200");
    sy_resp_free(&r);
    /* any other 400 is the request's fault: returned as it is */
    chat(&r, "bad", NULL);
    CHECK(r.status == 400);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_bad:400");
    sy_resp_free(&r);
    /* and neither counts against the model's health */
    cJSON *root;
    const cJSON *m = admin_model(&root, "m_bad");
    CHECK(sy_json_num(m, "failures", -1) == 0);
    CHECK(sy_json_num(m, "breaker.window_failures", -1) == 0);
    cJSON_Delete(root);
}

int main(int argc, char **argv)
{
    if (sy_it_args(argc, argv, &g_bin, &g_mock_bin) != 0) return 2;
    const char *const files[] = {"chain.lua", SY_IT_CHAIN_POLICY, "br.lua", BR, "pol.lua", POL, NULL};
    if (sy_it_env_start(&g_env, g_bin, g_mock_bin, CONFIG_FLAKY, files) != 0) return 1;
    RUN_SEL(breaker_opens_skips_and_closes_after_a_probe);
    RUN_SEL(admin_models_needs_the_token);
    RUN_SEL(hedge_won_by_the_second_when_the_first_stalls);
    RUN_SEL(streamed_hedge_over_curl_closes_the_loser);
    RUN_SEL(hedge_not_fired_when_the_first_answers_in_time);
    RUN_SEL(stream_stalls_time_out);
    RUN_SEL(cascade_escalates_until_an_answer_is_accepted);
    RUN_SEL(cascade_confidence_and_cost_cap);
    RUN_SEL(stream_buffer_holds_until_the_end);
    RUN_SEL(retries_back_off_and_honour_retry_after);
    RUN_SEL(client_deadline_cuts_a_slow_request);
    RUN_SEL(upstream_context_length_error_moves_on);
    CHECK(sy_it_env_stop(&g_env, NULL) == 0);
    curl_global_cleanup();
    return sy_test_summary();
}
