/* test_messages_in.c — POST /v1/messages (the Anthropic Messages dialect) through a real gateway
 * and the mock upstream: the request reaches the upstream as the internal Chat Completions
 * shape, policies route it as they route /v1/chat/completions, answers and streams come back
 * as Messages, errors as Anthropic error objects. Usage: test_messages_in SWITCHYARD MOCK */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sy_itest.h"
#include "sy_test.h"

static sy_it_env g_env;

static const char *CFG =
    "server { workers = 1 }\n"
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
    "provider { id = \"sim\", kind = \"sim\", time_scale = 0 }\n"
    "model { id = \"echo\", provider = \"m\", upstream = \"mock?echo=1\" }\n"
    "model { id = \"fine\", provider = \"m\", upstream = \"mock?chunks=3\" }\n"
    "model { id = \"down\", provider = \"m\", upstream = \"mock?status=503\" }\n"
    "model { id = \"cut\", provider = \"m\", upstream = \"mock?chunks=5&chunk_ms=20&fail_after_chunks=2\" }\n"
    "model { id = \"agent\", provider = \"sim\", capabilities = { \"tools\", \"stream\" } }\n"
    "model { id = \"clock\", provider = \"m\", upstream = \"mock?tool=get_time&content=%%7B%%7D\" }\n"
    "route { name = \"auto\", policy = \"p.lua\", default = \"fine\" }\n"
    "route { name = \"forced\", policy = \"chain.lua\", default = \"agent\","
    " options = { chain = { \"fine\", \"agent\" } } }\n"
    "route { name = \"forced2\", policy = \"chain.lua\", default = \"agent\","
    " options = { chain = { \"clock\", \"agent\" } } }\n";

static const char *const FILES[] = {
    "p.lua",
    "local sy = require 'switchyard'\n"
    "return { route = function(req)\n"
    "  if req.meta.lane == 'echo' then return sy.pick('echo', 'lane') end\n"
    "  if req.text:find('long', 1, true) then return sy.pick('fine', 'long word') end\n"
    "  return sy.pick('agent', 'default')\n"
    "end }\n",
    "chain.lua", SY_IT_CHAIN_POLICY,
    NULL};

static int post(sy_resp *r, const char *path, const char *body, const char *header)
{
    char url[200];
    snprintf(url, sizeof url, "%s%s", g_env.gw.base, path);
    const char *h[] = {header, NULL};
    return sy_http_post(r, url, body, header ? h : NULL);
}

TEST(the_upstream_receives_the_internal_shape)
{
    sy_resp r;
    CHECK(post(&r, "/v1/messages",
               "{\"model\":\"auto\",\"max_tokens\":64,\"system\":\"Be brief.\",\"messages\":["
               "{\"role\":\"user\",\"content\":\"q\"},"
               "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\","
               "\"input\":{\"a\":1}}]},"
               "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\","
               "\"content\":\"42\"}]}]}",
               "x-switchyard-lane: echo") == 0);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "echo");
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "type"), "message");
    CHECK_STR(sy_json_str(j, "role"), "assistant");
    CHECK_STR(sy_json_str(j, "model"), "echo");
    CHECK_STR(sy_json_str(j, "content.0.type"), "text");
    CHECK_STR(sy_json_str(j, "stop_reason"), "end_turn");
    CHECK(sy_json_num(j, "usage.input_tokens", -1) >= 0);
    /* the mock echoes the messages it was sent: the chat shape */
    const char *echoed = sy_json_str(j, "content.0.text");
    CHECK_CONTAINS(echoed, "{\"role\":\"system\",\"content\":\"Be brief.\"}");
    CHECK_CONTAINS(echoed, "\"tool_calls\":[{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\"");
    CHECK_CONTAINS(echoed, "{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"42\"}");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(both_dialects_route_alike)
{
    sy_resp a, b;
    CHECK(post(&a, "/v1/chat/completions",
               "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"a long question\"}]}",
               NULL) == 0);
    CHECK(post(&b, "/v1/messages",
               "{\"model\":\"auto\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":"
               "\"a long question\"}]}",
               "x-api-key: sk-anything") == 0);
    CHECK(a.status == 200 && b.status == 200);
    CHECK_STR(sy_resp_header(&a, "x-switchyard-model"), "fine");
    CHECK_STR(sy_resp_header(&b, "x-switchyard-model"), "fine");
    CHECK_STR(sy_resp_header(&a, "x-switchyard-policy"), sy_resp_header(&b, "x-switchyard-policy"));
    cJSON *j = sy_resp_json(&b);
    CHECK_STR(sy_json_str(j, "content.0.text"), "Hello from mock?chunks=3");
    cJSON_Delete(j);
    sy_resp_free(&a);
    sy_resp_free(&b);
    /* the key may come either way (keys are not checked yet) */
    CHECK(post(&b, "/v1/messages",
               "{\"model\":\"auto\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"long\"}]}",
               "Authorization: Bearer sk-anything") == 0);
    CHECK(b.status == 200);
    sy_resp_free(&b);
}

static const char *ev_type(const sy_sse *s, size_t i, cJSON **keep)
{
    *keep = cJSON_Parse(s->ev[i].data);
    return sy_json_str(*keep, "type");
}

TEST(streams_come_back_as_events)
{
    sy_resp r;
    sy_sse sse = {0};
    CHECK(post(&r, "/v1/messages",
               "{\"model\":\"auto\",\"max_tokens\":64,\"stream\":true,\"messages\":[{\"role\":\"user\","
               "\"content\":\"long\"}]}",
               NULL) == 0);
    CHECK(r.status == 200);
    CHECK_CONTAINS(sy_resp_header(&r, "content-type"), "text/event-stream");
    CHECK(sy_sse_parse(&r, &sse) == 0);
    CHECK(!sse.done); /* no [DONE] in this dialect */
    CHECK(strstr(r.body, "event: message_start\n") != NULL);
    char text[256] = "";
    const char *want[] = {"message_start", "content_block_start"};
    for (size_t i = 0; i < sse.n; i++) {
        cJSON *e;
        const char *t = ev_type(&sse, i, &e);
        if (i < 2) CHECK_STR(t, want[i]);
        const char *piece = sy_json_str(e, "delta.text");
        if (t && strcmp(t, "content_block_delta") == 0 && piece &&
            strlen(text) + strlen(piece) < sizeof text)
            strcat(text, piece);
        if (i == sse.n - 2) {
            CHECK_STR(t, "message_delta");
            CHECK_STR(sy_json_str(e, "delta.stop_reason"), "end_turn");
            CHECK(sy_json_num(e, "usage.output_tokens", -1) >= 0);
        }
        if (i == sse.n - 1) CHECK_STR(t, "message_stop");
        cJSON_Delete(e);
    }
    CHECK_STR(text, "Hello from mock?chunks=3");
    sy_sse_free(&sse);
    sy_resp_free(&r);
}

TEST(tool_use_from_a_simulated_agent)
{
    sy_resp r;
    const char *tools = "\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\","
                        "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}]";
    char body[1024];
    snprintf(body, sizeof body,
             "{\"model\":\"auto\",\"max_tokens\":64,%s,\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}]}",
             tools);
    CHECK(post(&r, "/v1/messages", body, NULL) == 0);
    CHECK(r.status == 200);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "stop_reason"), "tool_use");
    CHECK_STR(sy_json_str(j, "content.0.type"), "tool_use");
    CHECK_STR(sy_json_str(j, "content.0.name"), "get_weather");
    CHECK(sy_json_str(j, "content.0.input.city") != NULL);
    cJSON_Delete(j);
    sy_resp_free(&r);
    /* the result goes back: a text answer */
    snprintf(body, sizeof body,
             "{\"model\":\"auto\",\"max_tokens\":64,%s,\"messages\":[{\"role\":\"user\",\"content\":"
             "\"weather?\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"c1\","
             "\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}]},{\"role\":\"user\",\"content\":"
             "[{\"type\":\"tool_result\",\"tool_use_id\":\"c1\",\"content\":\"sunny\"}]}]}",
             tools);
    CHECK(post(&r, "/v1/messages", body, NULL) == 0);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "stop_reason"), "end_turn");
    CHECK_STR(sy_json_str(j, "content.0.type"), "text");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

static void check_error(const char *body, int status, const char *type, const char *msg)
{
    sy_resp r;
    CHECK(post(&r, "/v1/messages", body, NULL) == 0);
    CHECK(r.status == status);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "type"), "error");
    CHECK_STR(sy_json_str(j, "error.type"), type);
    CHECK_CONTAINS(sy_json_str(j, "error.message"), msg);
    if (r.status != status) fprintf(stderr, "  body: %s\n", r.body);
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(errors_are_anthropic_errors)
{
    check_error("{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400,
                "invalid_request_error", "max_tokens: Field required");
    check_error("not json", 400, "invalid_request_error", "must be a JSON object");
    check_error("{\"model\":\"gpt-9\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                404, "not_found_error", "The model 'gpt-9' does not exist");
    check_error("{\"model\":\"down\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                503, "overloaded_error", "all 1 upstream attempt failed");
    /* the chat endpoint keeps OpenAI's shape */
    sy_resp r;
    CHECK(post(&r, "/v1/chat/completions", "{\"model\":\"gpt-9\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", NULL) == 0);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "model_not_found");
    cJSON_Delete(j);
    sy_resp_free(&r);
    /* GET is not allowed */
    char url[200];
    snprintf(url, sizeof url, "%s/v1/messages", g_env.gw.base);
    CHECK(sy_http_get(&r, url) == 0 && r.status == 405);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.type"), "invalid_request_error");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(a_stream_cut_short_ends_with_an_error_event)
{
    sy_resp r;
    sy_sse sse = {0};
    CHECK(post(&r, "/v1/messages",
               "{\"model\":\"cut\",\"max_tokens\":64,\"stream\":true,\"messages\":[{\"role\":\"user\","
               "\"content\":\"x\"}]}",
               NULL) == 0);
    CHECK(r.status == 200);
    CHECK(sy_sse_parse(&r, &sse) == 0 && sse.n >= 2);
    if (sse.n >= 2) {
        cJSON *e;
        CHECK_STR(ev_type(&sse, sse.n - 1, &e), "error");
        CHECK_CONTAINS(sy_json_str(e, "error.message"), "failed mid-stream");
        cJSON_Delete(e);
    }
    CHECK(strstr(r.body, "message_stop") == NULL);
    sy_sse_free(&sse);
    sy_resp_free(&r);
}

TEST(sdk_details)
{
    /* one entry of the models list; unknown ids are a 404 */
    char url[200];
    sy_resp r;
    snprintf(url, sizeof url, "%s/v1/models/fine", g_env.gw.base);
    CHECK(sy_http_get(&r, url) == 0 && r.status == 200);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "id"), "fine");
    CHECK_STR(sy_json_str(j, "object"), "model");
    cJSON_Delete(j);
    sy_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/models/nope", g_env.gw.base);
    CHECK(sy_http_get(&r, url) == 0 && r.status == 404);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "model_not_found");
    cJSON_Delete(j);
    sy_resp_free(&r);
    /* the gateway's 5xx come after its own fallbacks: SDKs must not run the chain again */
    CHECK(post(&r, "/v1/chat/completions", "{\"model\":\"down\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", NULL) == 0);
    CHECK(r.status == 503);
    CHECK_STR(sy_resp_header(&r, "x-should-retry"), "false");
    sy_resp_free(&r);
    CHECK(post(&r, "/v1/chat/completions", "{\"model\":\"gpt-9\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", NULL) == 0);
    CHECK(r.status == 404 && sy_resp_header(&r, "x-should-retry") == NULL);
    sy_resp_free(&r);
    /* a sim stream's usage comes in a chunk of its own, with no choices */
    sy_sse sse = {0};
    CHECK(post(&r, "/v1/chat/completions",
               "{\"model\":\"agent\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
               "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", NULL) == 0);
    CHECK(sy_sse_parse(&r, &sse) == 0 && sse.done_last && sse.n >= 3);
    if (sse.n >= 3) {
        cJSON *u = cJSON_Parse(sse.ev[sse.n - 2].data), *f = cJSON_Parse(sse.ev[sse.n - 3].data);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(u, "choices")) == 0);
        CHECK(sy_json_num(u, "usage.completion_tokens", 0) > 0);
        CHECK_STR(sy_json_str(f, "choices.0.finish_reason"), "stop");
        CHECK(cJSON_GetObjectItem(f, "usage") == NULL);
        cJSON_Delete(u);
        cJSON_Delete(f);
    }
    sy_sse_free(&sse);
    sy_resp_free(&r);
}

TEST(a_forced_tool_choice_needs_a_tool_call)
{
    /* fine (the mock) answers with text: not what tool_choice promised, so the chain moves on */
    const char *tools = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
                        "\"string\"}},\"required\":[\"city\"]}}}]";
    char body[1024];
    for (int stream = 0; stream < 2; stream++) {
        snprintf(body, sizeof body,
                 "{\"model\":\"forced\",%s%s,\"tool_choice\":{\"type\":\"function\",\"function\":"
                 "{\"name\":\"get_weather\"}},\"messages\":[{\"role\":\"user\",\"content\":\"w?\"}]}",
                 stream ? "\"stream\":true," : "", tools);
        sy_resp r;
        CHECK(post(&r, "/v1/chat/completions", body, NULL) == 0);
        CHECK(r.status == 200);
        CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "fine:schema_invalid, agent:200");
        CHECK_CONTAINS(r.body, "get_weather");
        sy_resp_free(&r);
    }
    /* a call of another tool the request offers does not meet a named tool_choice either */
    snprintf(body, sizeof body,
             "{\"model\":\"forced2\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
             "\"get_time\",\"parameters\":{\"type\":\"object\"}}},%s,\"tool_choice\":{\"type\":"
             "\"function\",\"function\":{\"name\":\"get_weather\"}},"
             "\"messages\":[{\"role\":\"user\",\"content\":\"w?\"}]}",
             tools + strlen("\"tools\":["));
    {
        sy_resp r;
        CHECK(post(&r, "/v1/chat/completions", body, NULL) == 0);
        CHECK(r.status == 200);
        CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "clock:schema_invalid, agent:200");
        CHECK_CONTAINS(r.body, "get_weather");
        sy_resp_free(&r);
    }
    /* "required" with only a text model: 502 that says why */
    snprintf(body, sizeof body,
             "{\"model\":\"fine\",%s,\"tool_choice\":\"required\",\"messages\":[{\"role\":\"user\",\"content\":\"w?\"}]}",
             tools);
    sy_resp r;
    CHECK(post(&r, "/v1/chat/completions", body, NULL) == 0);
    CHECK(r.status == 502);
    CHECK_CONTAINS(r.body, "tool_choice is \\\"required\\\"; the answer has no tool call");
    sy_resp_free(&r);
}

int main(int argc, char **argv)
{
    const char *gw, *mock;
    if (sy_it_args(argc, argv, &gw, &mock) != 0) return 2;
    if (sy_it_env_start(&g_env, gw, mock, CFG, FILES) != 0) return 1;
    RUN(the_upstream_receives_the_internal_shape);
    RUN(both_dialects_route_alike);
    RUN(streams_come_back_as_events);
    RUN(tool_use_from_a_simulated_agent);
    RUN(errors_are_anthropic_errors);
    RUN(a_stream_cut_short_ends_with_an_error_event);
    RUN(sdk_details);
    RUN(a_forced_tool_choice_needs_a_tool_call);
    CHECK(sy_it_env_stop(&g_env, NULL) == 0);
    return sy_test_summary();
}
