/* test_cache.c — the response cache and the routing-decision cache through the real gateway
 * and the mock upstream, whose request counter proves that a hit never reached it: miss then
 * hit, normalisation, misses on changed parameters, TTL, LRU eviction, streams (bypass and
 * replay), nothing stored from errors or schema-invalid answers, Cache-Control, the Anthropic
 * dialect, reloads, metrics, the routing log; and a policy whose decisions are reused by its
 * cache_key; tenants kept apart by their keys; the Redis backend shared by two gateways, and
 * Redis going away. Usage: test_cache SWITCHYARD MOCK [REDIS-SERVER] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sy_itest.h"
#include "sy_test.h"

static sy_it_env g_env;
static const char *g_bin_path, *g_mock_path, *g_redis_bin;

static const char *CFG =
    "server { workers = 1, admin_token = \"adm1n\", request_log = \"requests.jsonl\" }\n"
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
    "model { id = \"echo\", provider = \"m\", upstream = \"mock?echo=1\","
    " capabilities = { \"json\", \"stream\" } }\n"
    "model { id = \"down\", provider = \"m\", upstream = \"mock?status=500\" }\n"
    "model { id = \"bad\", provider = \"m\", upstream = \"mock?status=400\" }\n"
    "model { id = \"cut\", provider = \"m\", upstream = \"mock?chunks=4&chunk_ms=20&fail_after_chunks=2\" }\n"
    "route { name = \"cached\", policy = \"chain.lua\", default = \"echo\","
    " options = { chain = { \"echo\" } }, cache = { ttl_s = 60 } }\n"
    "route { name = \"replay\", policy = \"chain.lua\", default = \"echo\","
    " options = { chain = { \"echo\" } }, cache = { stream = \"replay\" } }\n"
    "route { name = \"short\", policy = \"chain.lua\", default = \"echo\","
    " options = { chain = { \"echo\" } }, cache = { ttl_s = 1 } }\n"
    "route { name = \"small\", policy = \"chain.lua\", default = \"echo\","
    " options = { chain = { \"echo\" } }, cache = { max_bytes = 3000 } }\n"
    "route { name = \"failing\", policy = \"chain.lua\", default = \"down\","
    " options = { chain = { \"down\" } }, cache = true }\n"
    "route { name = \"refused\", policy = \"chain.lua\", default = \"bad\","
    " options = { chain = { \"bad\" } }, cache = true }\n"
    "route { name = \"cutting\", policy = \"chain.lua\", default = \"cut\","
    " options = { chain = { \"cut\" } }, cache = { stream = \"replay\" } }\n"
    "route { name = \"pass\", policy = \"chain.lua\", default = \"echo\", on_schema_failure = \"pass\","
    " options = { chain = { \"echo\" } }, cache = true }\n"
    "route { name = \"plain\", policy = \"chain.lua\", default = \"echo\","
    " options = { chain = { \"echo\" } } }\n"
    "route { name = \"dc\", policy = \"counting.lua\", default = \"echo\","
    " decision_cache = { max = 100 } }\n"
    "route { name = \"dc_ttl\", policy = \"counting.lua\", default = \"echo\","
    " decision_cache = { max = 100, ttl_ms = 300 } }\n"
    "route { name = \"dc_off\", policy = \"counting.lua\", default = \"echo\" }\n";

/* Counts its route() calls (per VM: the gateway runs one worker) and says so in the reason.
 * cache_key is the client's x-switchyard-task; task "volatile" asks not to be cached. */
#define COUNTING \
    "local sy = require 'switchyard'\n" \
    "local calls = 0\n" \
    "return {\n" \
    "  cache_key = function(req, ctx)\n" \
    "    if req.meta.task == 'boom' then error('no key today') end\n" \
    "    if req.meta.task == 'table' then return {} end\n" \
    "    if req.meta.task == 'long' then return string.rep('x', 600) end\n" \
    "    return req.meta.task\n" \
    "  end,\n" \
    "  route = function(req)\n" \
    "    calls = calls + 1\n" \
    "    return sy.pick('echo', { reason = 'call ' .. calls,\n" \
    "                             cache = req.meta.task ~= 'volatile' })\n" \
    "  end }\n"

static const char *const FILES[] = {"chain.lua", SY_IT_CHAIN_POLICY, "counting.lua", COUNTING,
                                    NULL};

static void post_to(sy_resp *r, const char *path, const char *body, const char *const *headers)
{
    char url[200];
    snprintf(url, sizeof url, "%s%s", g_env.gw.base, path);
    CHECK(sy_http_post(r, url, body, headers) == 0);
}

static void post(sy_resp *r, const char *body, const char *const *headers)
{
    post_to(r, "/v1/chat/completions", body, headers);
}

static long upstream(void)
{
    return sy_mock_stat(&g_env.mock, "requests");
}

static const char *cache_hdr(const sy_resp *r)
{
    const char *v = sy_resp_header(r, "x-switchyard-cache");
    return v ? v : "(none)";
}

/* A chat body for route with one user message and extra members. */
static char *body_of(const char *route, const char *msg, const char *extra)
{
    char *b = malloc(1024);
    snprintf(b, 1024, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]%s%s}",
             route, msg, extra && *extra ? "," : "", extra ? extra : "");
    return b;
}

/* One metric's value from GET /metrics of the gateway at base (the whole line "name value"),
 * -1 when absent. */
static double metric_of(const char *base, const char *name)
{
    sy_resp r;
    char url[200];
    snprintf(url, sizeof url, "%s/metrics", base);
    double v = -1;
    if (sy_http_get(&r, url) == 0) {
        size_t n = strlen(name);
        for (const char *p = r.body; (p = strstr(p, name)); p += n)
            if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
                v = strtod(p + n + 1, NULL);
                break;
            }
    }
    sy_resp_free(&r);
    return v;
}

static double metric(const char *name)
{
    return metric_of(g_env.gw.base, name);
}

static void reload(void)
{
    sy_resp r;
    const char *auth[] = {"Authorization: Bearer adm1n", NULL};
    post_to(&r, "/admin/reload", "", auth);
    CHECK(r.status == 200);
    sy_resp_free(&r);
}

TEST(a_miss_then_a_hit_with_the_same_answer)
{
    sy_resp a, b;
    char *body = body_of("cached", "first question", "\"temperature\":0.2");
    long n0 = upstream();
    post(&a, body, NULL);
    CHECK(a.status == 200);
    CHECK_STR(cache_hdr(&a), "miss");
    CHECK(upstream() == n0 + 1);
    post(&b, body, NULL);
    CHECK(b.status == 200);
    CHECK_STR(cache_hdr(&b), "hit");
    CHECK(upstream() == n0 + 1); /* the upstream never saw the second one */
    CHECK_STR(b.body, a.body);   /* same id, same text, same usage */
    CHECK_STR(sy_resp_header(&b, "x-switchyard-model"), "echo");
    CHECK_CONTAINS(sy_resp_header(&b, "x-switchyard-route"), "cached; reason=");
    CHECK(sy_resp_header(&b, "x-switchyard-policy") != NULL);
    CHECK(sy_resp_header(&b, "age") != NULL);
    CHECK(sy_resp_header(&b, "x-switchyard-attempts") == NULL); /* no attempt was made */
    CHECK(sy_resp_header(&b, "x-switchyard-cost-usd") == NULL);
    CHECK(sy_resp_header(&a, "age") == NULL);
    cJSON *j = sy_resp_json(&b);
    CHECK_STR(sy_json_str(j, "model"), "echo");
    CHECK_STR(sy_json_str(j, "object"), "chat.completion");
    cJSON_Delete(j);
    sy_resp_free(&a);
    sy_resp_free(&b);
    free(body);
}

TEST(key_order_whitespace_and_ignored_fields_still_hit)
{
    sy_resp a, b;
    long n0 = upstream();
    post(&a, "{\"model\":\"cached\",\"temperature\":0.7,\"max_tokens\":50,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"order test\"}]}", NULL);
    CHECK_STR(cache_hdr(&a), "miss");
    post(&b, "{ \"messages\" : [ { \"content\" : \"order test\", \"role\" : \"user\" } ] ,\n"
             "  \"max_tokens\" : 50.0, \"user\": \"someone\", \"metadata\": {\"k\": \"v\"},\n"
             "  \"temperature\" : 0.70, \"model\" : \"cached\" }", NULL);
    CHECK_STR(cache_hdr(&b), "hit");
    CHECK(upstream() == n0 + 1);
    CHECK_STR(b.body, a.body);
    sy_resp_free(&a);
    sy_resp_free(&b);
}

TEST(a_changed_parameter_or_message_misses)
{
    sy_resp r;
    long n0 = upstream();
    char *b1 = body_of("cached", "change test", "\"temperature\":0.2");
    char *b2 = body_of("cached", "change test", "\"temperature\":0.3");
    char *b3 = body_of("cached", "change test!", "\"temperature\":0.2");
    char *b4 = body_of("cached", "change test", "\"temperature\":0.2,\"seed\":7");
    post(&r, b1, NULL);
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    const char *others[] = {b2, b3, b4};
    for (int i = 0; i < 3; i++) {
        post(&r, others[i], NULL);
        CHECK_STR(cache_hdr(&r), "miss");
        sy_resp_free(&r);
    }
    CHECK(upstream() == n0 + 4);
    post(&r, b1, NULL);
    CHECK_STR(cache_hdr(&r), "hit");
    sy_resp_free(&r);
    /* the same request on another route is another entry */
    char *b5 = body_of("replay", "change test", "\"temperature\":0.2");
    post(&r, b5, NULL);
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    free(b1), free(b2), free(b3), free(b4), free(b5);
}

TEST(entries_expire_after_ttl)
{
    sy_resp r;
    char *body = body_of("short", "ttl test", NULL);
    long n0 = upstream();
    post(&r, body, NULL);
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    post(&r, body, NULL);
    CHECK_STR(cache_hdr(&r), "hit");
    sy_resp_free(&r);
    sy_it_sleep_ms(1150);
    post(&r, body, NULL);
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    CHECK(upstream() == n0 + 2);
    CHECK(metric("switchyard_cache_expired_total") >= 1);
    free(body);
}

TEST(least_recently_used_answers_are_evicted_within_max_bytes)
{
    sy_resp r;
    char msg[32];
    double bytes0 = metric("switchyard_cache_bytes"), ev0 = metric("switchyard_cache_evictions_total");
    /* how big one entry is: every request below has the same size */
    char *b0 = body_of("small", "lru-00", NULL);
    post(&r, b0, NULL);
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    double one = metric("switchyard_cache_bytes") - bytes0;
    CHECK(one > 200 && one < 1500);
    int fit = (int)(3000 / one);
    CHECK(fit >= 2);
    for (int i = 1; i < fit; i++) { /* fills the route's share */
        snprintf(msg, sizeof msg, "lru-%02d", i);
        char *b = body_of("small", msg, NULL);
        post(&r, b, NULL);
        CHECK_STR(cache_hdr(&r), "miss");
        sy_resp_free(&r);
        free(b);
    }
    CHECK(metric("switchyard_cache_evictions_total") == ev0);
    post(&r, b0, NULL); /* lru-00 becomes the most recent: lru-01 is now the oldest */
    CHECK_STR(cache_hdr(&r), "hit");
    sy_resp_free(&r);
    char *bn = body_of("small", "lru-99", NULL);
    post(&r, bn, NULL);
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    CHECK(metric("switchyard_cache_evictions_total") == ev0 + 1);
    post(&r, b0, NULL);
    CHECK_STR(cache_hdr(&r), "hit");
    sy_resp_free(&r);
    char *b1 = body_of("small", "lru-01", NULL);
    post(&r, b1, NULL);
    CHECK_STR(cache_hdr(&r), "miss"); /* evicted */
    sy_resp_free(&r);
    free(b0), free(b1), free(bn);
}

TEST(streams_bypass_a_route_that_does_not_replay)
{
    sy_resp r;
    char *sb = body_of("cached", "stream bypass", "\"stream\":true");
    char *nb = body_of("cached", "stream bypass", NULL);
    long n0 = upstream();
    for (int i = 0; i < 2; i++) {
        post(&r, sb, NULL);
        CHECK(r.status == 200);
        CHECK_STR(cache_hdr(&r), "bypass");
        sy_resp_free(&r);
    }
    CHECK(upstream() == n0 + 2);
    post(&r, nb, NULL); /* nothing was stored from the streams */
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    free(sb), free(nb);
}

TEST(a_replay_route_streams_a_stored_answer_and_stores_a_stream)
{
    sy_resp a, b;
    sy_sse sse = {0};
    char *nb = body_of("replay", "replay me", NULL);
    char *sb = body_of("replay", "replay me",
                       "\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    long n0 = upstream();
    post(&a, nb, NULL);
    CHECK_STR(cache_hdr(&a), "miss");
    post(&b, sb, NULL);
    CHECK(b.status == 200);
    CHECK_STR(cache_hdr(&b), "hit");
    CHECK(upstream() == n0 + 1);
    CHECK_CONTAINS(sy_resp_header(&b, "content-type"), "text/event-stream");
    CHECK(sy_sse_parse(&b, &sse) == 0);
    CHECK(sse.done && sse.done_last);
    char *content = sy_sse_content(&sse);
    cJSON *j = sy_resp_json(&a);
    CHECK_STR(content, sy_json_str(j, "choices.0.message.content"));
    /* role first, usage (asked for) last before [DONE] */
    cJSON *e0 = sse.n ? cJSON_Parse(sse.ev[0].data) : NULL;
    CHECK_STR(sy_json_str(e0, "choices.0.delta.role"), "assistant");
    CHECK_STR(sy_json_str(e0, "model"), "echo");
    cJSON *eu = sse.n >= 2 ? cJSON_Parse(sse.ev[sse.n - 2].data) : NULL;
    CHECK(sy_json_num(eu, "usage.total_tokens", -1) == sy_json_num(j, "usage.total_tokens", -2));
    cJSON *ef = sse.n >= 3 ? cJSON_Parse(sse.ev[sse.n - 3].data) : NULL;
    CHECK_STR(sy_json_str(ef, "choices.0.finish_reason"), "stop");
    cJSON_Delete(e0), cJSON_Delete(eu), cJSON_Delete(ef), cJSON_Delete(j);
    free(content);
    sy_sse_free(&sse);
    sy_resp_free(&a);
    sy_resp_free(&b);

    /* a streamed miss is stored once complete: the plain request then hits */
    char *sb2 = body_of("replay", "stream first", "\"stream\":true");
    char *nb2 = body_of("replay", "stream first", NULL);
    post(&a, sb2, NULL);
    CHECK_STR(cache_hdr(&a), "miss");
    CHECK(sy_sse_parse(&a, &sse) == 0);
    content = sy_sse_content(&sse);
    sy_sse_free(&sse);
    post(&b, nb2, NULL);
    CHECK_STR(cache_hdr(&b), "hit");
    CHECK(upstream() == n0 + 2);
    j = sy_resp_json(&b);
    CHECK_STR(sy_json_str(j, "choices.0.message.content"), content);
    CHECK_STR(sy_json_str(j, "choices.0.finish_reason"), "stop");
    CHECK(sy_json_num(j, "usage.prompt_tokens", -1) > 0);
    cJSON_Delete(j);
    free(content);
    sy_resp_free(&a);
    sy_resp_free(&b);
    free(nb), free(sb), free(sb2), free(nb2);
}

TEST(errors_cut_streams_and_schema_invalid_answers_are_not_stored)
{
    sy_resp r;
    long n0 = upstream();
    char *down = body_of("failing", "fails", NULL);
    char *bad = body_of("refused", "refused", NULL);
    char *cut = body_of("cutting", "cut", "\"stream\":true");
    char *inv = body_of("pass", "schema",
                        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\","
                        "\"schema\":{\"type\":\"object\",\"required\":[\"name\"]}}}");
    for (int i = 0; i < 2; i++) {
        post(&r, down, NULL);
        CHECK(r.status == 502);
        CHECK_STR(cache_hdr(&r), "miss");
        sy_resp_free(&r);
        post(&r, bad, NULL);
        CHECK(r.status == 400);
        CHECK_STR(cache_hdr(&r), "miss");
        sy_resp_free(&r);
        post(&r, cut, NULL);
        CHECK(r.status == 200); /* committed, then cut: an error event, no [DONE] */
        CHECK_STR(cache_hdr(&r), "miss");
        CHECK(strstr(r.body, "[DONE]") == NULL);
        sy_resp_free(&r);
        post(&r, inv, NULL);
        CHECK(r.status == 200);
        CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-schema"), "invalid");
        CHECK_STR(cache_hdr(&r), "miss");
        sy_resp_free(&r);
    }
    CHECK(upstream() == n0 + 8);
    free(down), free(bad), free(cut), free(inv);
}

TEST(cache_control_no_store_and_no_cache)
{
    sy_resp r, a;
    char *body = body_of("cached", "cache control", NULL);
    const char *no_store[] = {"Cache-Control: no-store", NULL};
    const char *no_cache[] = {"Cache-Control: max-age=0, No-Cache", NULL};
    long n0 = upstream();
    post(&r, body, no_store);
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    post(&r, body, NULL); /* nothing was stored */
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    post(&r, body, no_store); /* no-store alone still reads */
    CHECK_STR(cache_hdr(&r), "hit");
    sy_resp_free(&r);
    post(&a, body, no_cache); /* skips the lookup, refreshes the entry */
    CHECK_STR(cache_hdr(&a), "bypass");
    CHECK(upstream() == n0 + 3);
    post(&r, body, NULL);
    CHECK_STR(cache_hdr(&r), "hit");
    CHECK_STR(r.body, a.body); /* the refreshed answer (the mock's ids differ per request) */
    sy_resp_free(&r);
    sy_resp_free(&a);
    free(body);
}

TEST(the_anthropic_dialect_hits_in_its_own_shape)
{
    sy_resp a, b;
    const char *msg = "{\"model\":\"cached\",\"max_tokens\":64,\"messages\":"
                      "[{\"role\":\"user\",\"content\":\"from anthropic\"}]}";
    long n0 = upstream();
    post_to(&a, "/v1/messages", msg, NULL);
    CHECK(a.status == 200);
    CHECK_STR(cache_hdr(&a), "miss");
    post_to(&b, "/v1/messages", msg, NULL);
    CHECK(b.status == 200);
    CHECK_STR(cache_hdr(&b), "hit");
    CHECK(upstream() == n0 + 1);
    cJSON *ja = sy_resp_json(&a), *jb = sy_resp_json(&b);
    CHECK_STR(sy_json_str(jb, "type"), "message");
    CHECK_STR(sy_json_str(jb, "model"), "echo");
    CHECK_STR(sy_json_str(jb, "content.0.text"), sy_json_str(ja, "content.0.text"));
    CHECK_CONTAINS(sy_json_str(jb, "content.0.text"), "from anthropic");
    cJSON_Delete(ja), cJSON_Delete(jb);
    sy_resp_free(&a);
    sy_resp_free(&b);
    /* and as an Anthropic event stream, from the route that replays */
    const char *plain = "{\"model\":\"replay\",\"max_tokens\":64,\"messages\":"
                        "[{\"role\":\"user\",\"content\":\"anthropic stream\"}]}";
    const char *streamed = "{\"model\":\"replay\",\"max_tokens\":64,\"stream\":true,\"messages\":"
                           "[{\"role\":\"user\",\"content\":\"anthropic stream\"}]}";
    post_to(&a, "/v1/messages", plain, NULL);
    CHECK_STR(cache_hdr(&a), "miss");
    post_to(&b, "/v1/messages", streamed, NULL);
    CHECK_STR(cache_hdr(&b), "hit");
    CHECK(upstream() == n0 + 2);
    CHECK_CONTAINS(b.body, "event: message_start");
    CHECK_CONTAINS(b.body, "anthropic stream");
    CHECK_CONTAINS(b.body, "event: message_stop");
    sy_resp_free(&a);
    sy_resp_free(&b);
}

TEST(routes_without_a_cache_say_nothing)
{
    sy_resp r;
    char *body = body_of("plain", "no cache", NULL);
    long n0 = upstream();
    for (int i = 0; i < 2; i++) {
        post(&r, body, NULL);
        CHECK(r.status == 200);
        CHECK(sy_resp_header(&r, "x-switchyard-cache") == NULL);
        sy_resp_free(&r);
    }
    CHECK(upstream() == n0 + 2);
    free(body);
}

TEST(a_reload_empties_the_cache)
{
    sy_resp r;
    char *body = body_of("cached", "before reload", NULL);
    post(&r, body, NULL);
    sy_resp_free(&r);
    post(&r, body, NULL);
    CHECK_STR(cache_hdr(&r), "hit");
    sy_resp_free(&r);
    CHECK(metric("switchyard_cache_entries") > 0);
    reload();
    CHECK(metric("switchyard_cache_entries") == 0);
    CHECK(metric("switchyard_cache_bytes") == 0);
    long n0 = upstream();
    post(&r, body, NULL);
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    CHECK(upstream() == n0 + 1);
    free(body);
}

/* POST /v1/route for route with x-switchyard-task: task (none when NULL): the reason, and
 * whether it came from the decision cache. */
static void route_reason(const char *route, const char *task, char *reason, size_t cap, int *cached)
{
    sy_resp r;
    char hdr[100], *body = body_of(route, "decide", NULL);
    snprintf(hdr, sizeof hdr, "x-switchyard-task: %s", task ? task : "");
    const char *h[] = {hdr, NULL};
    post_to(&r, "/v1/route", body, task ? h : NULL);
    CHECK(r.status == 200);
    cJSON *j = sy_resp_json(&r);
    snprintf(reason, cap, "%s", sy_json_str(j, "reason") ? sy_json_str(j, "reason") : "?");
    *cached = sy_json_str(j, "decision_cache") && strcmp(sy_json_str(j, "decision_cache"), "hit") == 0;
    cJSON_Delete(j);
    sy_resp_free(&r);
    free(body);
}

TEST(the_decision_cache_skips_the_policy_for_a_known_key)
{
    char reason[300];
    int cached;
    reload(); /* a fresh VM: the policy's counter starts at 0 */
    double h0 = metric("switchyard_decision_cache_requests_total{result=\"hit\"}");
    route_reason("dc", "a", reason, sizeof reason, &cached);
    CHECK_STR(reason, "call 1");
    CHECK(!cached);
    route_reason("dc", "a", reason, sizeof reason, &cached);
    CHECK_STR(reason, "call 1 (decision cache)"); /* route() did not run */
    CHECK(cached);
    route_reason("dc", "b", reason, sizeof reason, &cached);
    CHECK_STR(reason, "call 2");
    route_reason("dc", NULL, reason, sizeof reason, &cached); /* no key: always decided */
    CHECK_STR(reason, "call 3");
    route_reason("dc", NULL, reason, sizeof reason, &cached);
    CHECK_STR(reason, "call 4");
    route_reason("dc", "volatile", reason, sizeof reason, &cached); /* cache = false */
    CHECK_STR(reason, "call 5");
    route_reason("dc", "volatile", reason, sizeof reason, &cached);
    CHECK_STR(reason, "call 6");
    route_reason("dc", "boom", reason, sizeof reason, &cached); /* cache_key() fails: decided */
    CHECK_STR(reason, "call 7");
    for (int i = 0; i < 2; i++) { /* keys that are not strings or too long: decided, twice */
        route_reason("dc", "table", reason, sizeof reason, &cached);
        CHECK(!cached);
        route_reason("dc", "long", reason, sizeof reason, &cached);
        CHECK(!cached);
    }
    CHECK_STR(reason, "call 11");
    route_reason("dc_off", "a", reason, sizeof reason, &cached); /* route without the cache */
    CHECK_STR(reason, "call 1");
    route_reason("dc_off", "a", reason, sizeof reason, &cached);
    CHECK_STR(reason, "call 2");
    /* a chat request uses it too, and says so in its route header */
    sy_resp r;
    char *body = body_of("dc", "decide", NULL);
    const char *h[] = {"x-switchyard-task: a", NULL};
    post(&r, body, h);
    CHECK(r.status == 200);
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-route"), "reason=\"call 1 (decision cache)\"");
    sy_resp_free(&r);
    free(body);
    CHECK(metric("switchyard_decision_cache_requests_total{result=\"hit\"}") == h0 + 2);
    /* ttl_ms */
    route_reason("dc_ttl", "t", reason, sizeof reason, &cached);
    CHECK(!cached);
    route_reason("dc_ttl", "t", reason, sizeof reason, &cached);
    CHECK(cached);
    sy_it_sleep_ms(400);
    route_reason("dc_ttl", "t", reason, sizeof reason, &cached);
    CHECK(!cached);
    /* a reload invalidates every decision */
    reload();
    route_reason("dc", "a", reason, sizeof reason, &cached);
    CHECK_STR(reason, "call 1");
    CHECK(!cached);
    route_reason("dc", "a", reason, sizeof reason, &cached);
    CHECK(cached);
}

TEST(metrics_count_hits_misses_and_stores)
{
    CHECK(metric("switchyard_cache_requests_total{result=\"hit\"}") >= 10);
    CHECK(metric("switchyard_cache_requests_total{result=\"miss\"}") >= 10);
    CHECK(metric("switchyard_cache_requests_total{result=\"bypass\"}") >= 3);
    CHECK(metric("switchyard_cache_stores_total") >= 10);
    CHECK(metric("switchyard_cache_evictions_total") >= 1);
    CHECK(metric("switchyard_decision_cache_stores_total") >= 3);
}

/* Tenants never see each other's answers: the tenant is the client key's team (a key
 * without a team is its own tenant), and it is part of every cache key. */
static const char *TENANT_CFG =
    "server { workers = 1 }\n"
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
    "model { id = \"echo\", provider = \"m\", upstream = \"mock?echo=1\" }\n"
    "key { id = \"alice\", key_env = \"SY_IT_KEY_A\", team = \"t1\" }\n"
    "key { id = \"alice2\", key_env = \"SY_IT_KEY_A2\", team = \"t1\" }\n"
    "key { id = \"bob\", key_env = \"SY_IT_KEY_B\", team = \"t2\" }\n"
    "key { id = \"carol\", key_env = \"SY_IT_KEY_C\" }\n"
    "key { id = \"t1\", key_env = \"SY_IT_KEY_T1\" }\n"
    "route { name = \"cached\", policy = \"chain.lua\", default = \"echo\","
    " options = { chain = { \"echo\" } }, cache = { stream = \"replay\" } }\n";

static void tenants_never_see_each_others_answers(void)
{
    sy_it_env e;
    memset(&e, 0, sizeof e);
    setenv("SY_IT_KEY_A", "sk-alice", 1);
    setenv("SY_IT_KEY_A2", "sk-alice-2", 1);
    setenv("SY_IT_KEY_B", "sk-bob", 1);
    setenv("SY_IT_KEY_C", "sk-carol", 1);
    setenv("SY_IT_KEY_T1", "sk-named-like-a-team", 1);
    CHECK(sy_it_env_start(&e, g_bin_path, g_mock_path, TENANT_CFG, FILES) == 0);
    const char *ha[] = {"Authorization: Bearer sk-alice", NULL};
    const char *ha2[] = {"Authorization: Bearer sk-alice-2", NULL};
    const char *hb[] = {"Authorization: Bearer sk-bob", NULL};
    char url[200];
    snprintf(url, sizeof url, "%s/v1/chat/completions", e.gw.base);
    const char *body = "{\"model\":\"cached\",\"messages\":[{\"role\":\"user\",\"content\":\"t\"}]}";
    sy_resp r;
    CHECK(sy_http_post(&r, url, body, ha) == 0);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-cache"), "miss");
    sy_resp_free(&r);
    CHECK(sy_http_post(&r, url, body, hb) == 0); /* another team: its own miss */
    CHECK_STR(sy_resp_header(&r, "x-switchyard-cache"), "miss");
    sy_resp_free(&r);
    CHECK(sy_http_post(&r, url, body, ha2) == 0); /* the same team, another key: shared */
    CHECK_STR(sy_resp_header(&r, "x-switchyard-cache"), "hit");
    sy_resp_free(&r);
    const char *hc[] = {"Authorization: Bearer sk-carol", NULL};
    CHECK(sy_http_post(&r, url, body, hc) == 0); /* no team: a tenant of its own */
    CHECK_STR(sy_resp_header(&r, "x-switchyard-cache"), "miss");
    sy_resp_free(&r);
    const char *ht1[] = {"Authorization: Bearer sk-named-like-a-team", NULL};
    CHECK(sy_http_post(&r, url, body, ht1) == 0); /* a key named like team t1 is not team t1 */
    CHECK_STR(sy_resp_header(&r, "x-switchyard-cache"), "miss");
    sy_resp_free(&r);
    CHECK(sy_http_post(&r, url, body, hb) == 0);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-cache"), "hit");
    cJSON *j = sy_resp_json(&r);
    CHECK_CONTAINS(sy_json_str(j, "choices.0.message.content"), "\"t\"");
    cJSON_Delete(j);
    sy_resp_free(&r);
    CHECK(sy_mock_stat(&e.mock, "requests") == 4);
    /* a hit replayed as a stream costs the key nothing, like any hit */
    char murl[200];
    snprintf(murl, sizeof murl, "%s/metrics", e.gw.base);
    sy_resp m0, m1;
    CHECK(sy_http_get(&m0, murl) == 0);
    CHECK(sy_http_post(&r, url, "{\"model\":\"cached\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"t\"}]}", hb) == 0);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-cache"), "hit");
    sy_resp_free(&r);
    CHECK(sy_http_get(&m1, murl) == 0);
    const char *series = "switchyard_key_tokens_total{key=\"bob\",team=\"t2\"} ";
    const char *t0 = strstr(m0.body, series), *t1 = strstr(m1.body, series);
    CHECK(t0 && t1 && atof(t0 + strlen(series)) == atof(t1 + strlen(series)));
    CHECK(strstr(m1.body, "switchyard_key_requests_total{key=\"bob\",team=\"t2\"} 3\n") != NULL);
    sy_resp_free(&m0);
    sy_resp_free(&m1);
    CHECK(sy_it_env_stop(&e, NULL) == 0);
}

/* ---- the Redis backend --------------------------------------------------------------- */

static sy_proc g_redis;

static int redis_start(int port)
{
    return sy_it_redis_start(&g_redis, g_redis_bin, port);
}

static const char *REDIS_CFG =
    "server { workers = 1, redis = \"redis://127.0.0.1:%d/5\", redis_timeout_ms = 200 }\n"
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
    "model { id = \"echo\", provider = \"m\", upstream = \"mock?echo=1\","
    " capabilities = { \"stream\" } }\n"
    "route { name = \"shared\", policy = \"chain.lua\", default = \"echo\","
    " options = { chain = { \"echo\" } }, cache = { backend = \"redis\", stream = \"replay\" } }\n"
    "route { name = \"brief\", policy = \"chain.lua\", default = \"echo\","
    " options = { chain = { \"echo\" } }, cache = { backend = \"redis\", ttl_s = 1 } }\n";

static int redis_gw(sy_gw *g, const char *dir, const char *name, int redis_port)
{
    char cfg[2048], path[700], log[700];
    snprintf(cfg, sizeof cfg, REDIS_CFG, redis_port, g_env.mock.port);
    sy_it_write_file(dir, name, cfg, path, sizeof path);
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    if (sy_gw_start(g, g_bin_path, path, 1, NULL, log) != 0) return -1;
    for (int i = 0; i < 50 && metric_of(g->base, "switchyard_redis_up") < 1; i++) sy_it_sleep_ms(100);
    return 0;
}

static void gw_post(sy_resp *r, const sy_gw *g, const char *body)
{
    char url[200];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g->base);
    CHECK(sy_http_post(r, url, body, NULL) == 0);
}

/* A's stores are sent after its answer: wait until Redis has taken n of them. */
static void wait_stores(const sy_gw *g, double n)
{
    for (int i = 0; i < 50 && metric_of(g->base, "switchyard_cache_stores_total") < n; i++)
        sy_it_sleep_ms(20);
    CHECK(metric_of(g->base, "switchyard_cache_stores_total") >= n);
}

TEST(two_gateways_share_answers_through_redis_and_miss_without_it)
{
    char dir[512];
    sy_gw a = {0}, b = {0};
    sy_resp r, h;
    sy_sse sse = {0};
    int port = sy_it_free_port();
    CHECK(sy_it_tmpdir(dir, sizeof dir) == 0);
    sy_it_write_file(dir, "chain.lua", SY_IT_CHAIN_POLICY, NULL, 0);
    CHECK(redis_start(port) == 0);
    CHECK(redis_gw(&a, dir, "a.lua", port) == 0);
    CHECK(redis_gw(&b, dir, "b.lua", port) == 0);
    CHECK(metric_of(a.base, "switchyard_redis_up") == 1);
    long n0 = upstream();
    char *body = body_of("shared", "across instances", NULL);
    gw_post(&r, &a, body);
    CHECK(r.status == 200);
    CHECK_STR(cache_hdr(&r), "miss");
    wait_stores(&a, 1);
    gw_post(&h, &b, body); /* the other instance */
    CHECK(h.status == 200);
    CHECK_STR(cache_hdr(&h), "hit");
    CHECK_STR(h.body, r.body);
    CHECK(sy_resp_header(&h, "age") != NULL);
    CHECK(upstream() == n0 + 1);
    sy_resp_free(&h);
    /* replayed as a stream from Redis */
    char *sbody = body_of("shared", "across instances", "\"stream\":true");
    gw_post(&h, &a, sbody);
    CHECK_STR(cache_hdr(&h), "hit");
    CHECK(sy_sse_parse(&h, &sse) == 0 && sse.done_last);
    char *content = sy_sse_content(&sse);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(content, sy_json_str(j, "choices.0.message.content"));
    cJSON_Delete(j);
    free(content);
    sy_sse_free(&sse);
    sy_resp_free(&h);
    sy_resp_free(&r);
    CHECK(upstream() == n0 + 1);
    CHECK(metric_of(b.base, "switchyard_cache_requests_total{result=\"hit\"}") == 1);
    /* ttl_s is Redis' own expiry */
    char *brief = body_of("brief", "expires", NULL);
    gw_post(&r, &a, brief);
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    wait_stores(&a, 2);
    gw_post(&r, &b, brief);
    CHECK_STR(cache_hdr(&r), "hit");
    sy_resp_free(&r);
    sy_it_sleep_ms(1150);
    gw_post(&r, &b, brief);
    CHECK_STR(cache_hdr(&r), "miss");
    sy_resp_free(&r);
    CHECK(upstream() == n0 + 3);
    /* Redis hangs. A client that gives up while its GET is out: the late answer (NULL, at
     * redis_timeout_ms) finds no call. */
    char url[200];
    snprintf(url, sizeof url, "%s/v1/chat/completions", a.base);
    kill(g_redis.pid, SIGSTOP);
    sy_req_opts quick = {.body = body, .timeout_ms = 40, .fresh_connect = 1};
    CHECK(sy_http(&r, url, &quick) == -1);
    sy_resp_free(&r);
    sy_it_sleep_ms(400);
    kill(g_redis.pid, SIGCONT);
    for (int i = 0; i < 50 && metric_of(a.base, "switchyard_redis_up") < 1; i++) sy_it_sleep_ms(100);
    /* a request whose deadline passes first gets its 504 (the late GET answer finds no
     * call), and one without waits at most about redis_timeout_ms, then misses */
    kill(g_redis.pid, SIGSTOP);
    const char *tmo[] = {"x-switchyard-timeout-ms: 50", NULL};
    CHECK(sy_http_post(&r, url, body, tmo) == 0);
    CHECK(r.status == 504);
    CHECK_CONTAINS(r.body, "deadline_exceeded");
    sy_resp_free(&r);
    gw_post(&r, &a, body);
    CHECK(r.status == 200);
    CHECK_STR(cache_hdr(&r), "miss");
    CHECK(r.t_total_ms < 1500); /* bounded by redis_timeout_ms, not by the hung Redis */
    sy_resp_free(&r);
    kill(g_redis.pid, SIGCONT);
    char *fresh = body_of("shared", "after the hang", NULL);
    gw_post(&r, &a, fresh); /* the gateway lives on */
    free(fresh);
    CHECK(r.status == 200);
    sy_resp_free(&r);
    CHECK(upstream() == n0 + 5);
    n0 += 2;
    /* Redis goes away: every request is a miss, answered, never an error */
    sy_proc_stop(&g_redis, 2000);
    for (int i = 0; i < 3; i++) {
        gw_post(&r, i % 2 ? &a : &b, body);
        CHECK(r.status == 200);
        CHECK_STR(cache_hdr(&r), "miss");
        sy_resp_free(&r);
    }
    CHECK(upstream() == n0 + 6);
    free(body), free(sbody), free(brief);
    sy_gw_stop(&a);
    sy_gw_stop(&b);
    for (int i = 0; i < 2; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s.lua.log", dir, i ? "b" : "a");
        char *log = sy_it_read_file(path, NULL);
        CHECK(!sy_it_sanitizer_report(log));
        CHECK(!log || strstr(log, "across instances") == NULL);
        free(log);
    }
    sy_it_rmtree(dir);
}

int main(int argc, char **argv)
{
    if (sy_it_args(argc, argv, &g_bin_path, &g_mock_path) != 0) return 2;
    g_redis_bin = argc > 3 ? argv[3] : "/usr/bin/redis-server";
    if (sy_it_env_start(&g_env, g_bin_path, g_mock_path, CFG, FILES) != 0) return 1;
    RUN_SEL(a_miss_then_a_hit_with_the_same_answer);
    RUN_SEL(key_order_whitespace_and_ignored_fields_still_hit);
    RUN_SEL(a_changed_parameter_or_message_misses);
    RUN_SEL(entries_expire_after_ttl);
    RUN_SEL(least_recently_used_answers_are_evicted_within_max_bytes);
    RUN_SEL(streams_bypass_a_route_that_does_not_replay);
    RUN_SEL(a_replay_route_streams_a_stored_answer_and_stores_a_stream);
    RUN_SEL(errors_cut_streams_and_schema_invalid_answers_are_not_stored);
    RUN_SEL(cache_control_no_store_and_no_cache);
    RUN_SEL(the_anthropic_dialect_hits_in_its_own_shape);
    RUN_SEL(routes_without_a_cache_say_nothing);
    RUN_SEL(a_reload_empties_the_cache);
    RUN_SEL(the_decision_cache_skips_the_policy_for_a_known_key);
    RUN_SEL(metrics_count_hits_misses_and_stores);
    if (access(g_redis_bin, X_OK) == 0)
        RUN_SEL(two_gateways_share_answers_through_redis_and_miss_without_it);
    else
        CHECK(!"redis-server not found: run make test-deps (Debian package redis-server)");
    /* the routing log, once the gateway stopped (and flushed it) */
    char log_path[700];
    snprintf(log_path, sizeof log_path, "%s/requests.jsonl", g_env.dir);
    sy_gw_stop(&g_env.gw);
    char *reqlog = sy_it_read_file(log_path, NULL), *log = NULL;
    CHECK(sy_it_env_stop(&g_env, &log) == 0);
    CHECK(reqlog != NULL);
    if (reqlog) {
        CHECK_CONTAINS(reqlog, "\"cache\":\"hit\"");
        CHECK_CONTAINS(reqlog, "\"cache\":\"miss\"");
        CHECK_CONTAINS(reqlog, "\"cache\":\"bypass\"");
        CHECK_CONTAINS(reqlog, "\"reason\":\"call 1 (decision cache)\",\"chain\":[\"echo\"],\"cached\":true");
        CHECK(strstr(reqlog, "first question") == NULL); /* no prompt text in the routing log */
    }
    /* nor in the gateway's own log */
    CHECK(!log || strstr(log, "first question") == NULL);
    RUN_SEL(tenants_never_see_each_others_answers);
    free(reqlog);
    free(log);
    curl_global_cleanup();
    return sy_test_summary();
}
