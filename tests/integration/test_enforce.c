/* test_enforce.c — answers that keep their promised shape, end to end: the real gateway, sim
 * models that break or fence their JSON on demand, and a mock upstream for exact answers and
 * tool calls. Every on_schema_failure action, normalisation, streams held until they check,
 * tool-call arguments, bad schemas in requests, and schema checks from a policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sy_itest.h"
#include "sy_test.h"

static const char *g_bin, *g_mock_bin;
static sy_it_env g_env;
#define g_mock (g_env.mock)
#define g_gw (g_env.gw)
#define g_dir (g_env.dir)

static const char *CONFIG_FMT =
    "server { workers = 1 }\n"
    "provider { id = \"sim\", kind = \"sim\", time_scale = 0 }\n"
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
    "model { id = \"broken\", provider = \"sim\", capabilities = { \"json\", \"stream\" },\n"
    "        sim = { invalid_json_rate = 1 } }\n"
    "model { id = \"fenced\", provider = \"sim\", capabilities = { \"json\", \"stream\" },\n"
    "        sim = { fenced_json_rate = 1 } }\n"
    "model { id = \"good\", provider = \"sim\", capabilities = { \"json\", \"stream\" } }\n"
    "model { id = \"m_echo\", provider = \"m\", upstream = \"mock?echo=1\" }\n"
    "model { id = \"m_prose\", provider = \"m\",\n"
    "        upstream = \"mock?content=Sure!+%%7B%%22a%%22%%3A1%%7D+hope+it+helps\" }\n"
    "model { id = \"m_tool_bad\", provider = \"m\",\n"
    "        upstream = \"mock?tool=lookup&content=%%7B%%22city%%22%%3A5%%7D\" }\n"
    "model { id = \"m_tool_good\", provider = \"m\",\n"
    "        upstream = \"mock?tool=lookup&content=%%7B%%22city%%22%%3A%%22Paris%%22%%7D\" }\n"
    "route { name = \"esc\", policy = \"chain.lua\", default = \"good\",\n"
    "        options = { chain = { \"broken\", \"good\" } } }\n"
    "route { name = \"retry\", policy = \"chain.lua\", default = \"good\", on_schema_failure = \"retry\",\n"
    "        options = { chain = { \"broken\", \"good\" } } }\n"
    "route { name = \"retry_echo\", policy = \"chain.lua\", default = \"good\",\n"
    "        on_schema_failure = \"retry\", options = { chain = { \"m_echo\" } } }\n"
    "route { name = \"pass\", policy = \"chain.lua\", default = \"broken\", on_schema_failure = \"pass\",\n"
    "        options = { chain = { \"broken\" } } }\n"
    "route { name = \"tools\", policy = \"chain.lua\", default = \"m_tool_good\",\n"
    "        options = { chain = { \"m_tool_bad\", \"m_tool_good\" } } }\n"
    "route { name = \"checker\", policy = \"checker.lua\", default = \"good\" }\n";


static const char *CHECKER =
    "local sy = require 'switchyard'\n"
    "local S = { type = 'object', required = { 'n' }, properties = { n = { type = 'integer' } } }\n"
    "return { route = function(req)\n"
    "  local ok, errs = sy.schema.validate(S, req.meta.v and { n = tonumber(req.meta.v) or req.meta.v } or {})\n"
    "  local why = ok and 'valid' or (errs[1].path .. ' ' .. errs[1].message .. ' @' .. errs[1].schema_path)\n"
    "  return sy.pick('good', why)\n"
    "end }\n";

static const char *SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0}},\"required\":[\"name\",\"age\"],"
    "\"additionalProperties\":false}";

static char *request(const char *model, const char *schema, int stream)
{
    size_t cap = strlen(schema) + 512;
    char *b = malloc(cap);
    snprintf(b, cap,
             "{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"user\",\"content\":"
             "\"Who?\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
             "{\"name\":\"person\",\"schema\":%s}}}",
             model, stream ? "true" : "false", schema);
    return b;
}

static void post(sy_resp *r, const char *body, const char *const *headers)
{
    char url[160];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g_gw.base);
    CHECK(sy_http_post(r, url, body, headers) == 0);
}

/* The answer's content (non-stream) parsed as JSON. */
static cJSON *content_json(const sy_resp *r)
{
    cJSON *j = sy_resp_json(r);
    const char *c = sy_json_str(j, "choices.0.message.content");
    cJSON *v = c ? cJSON_Parse(c) : NULL;
    cJSON_Delete(j);
    return v;
}

static void check_person(const cJSON *v)
{
    CHECK(v != NULL);
    CHECK(cJSON_IsString(sy_json_at(v, "name")));
    CHECK(cJSON_IsNumber(sy_json_at(v, "age")));
}

TEST(escalates_a_broken_answer)
{
    sy_resp r;
    char *b = request("esc", SCHEMA, 0);
    post(&r, b, NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "good");
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "broken:schema_invalid, good:200");
    CHECK_STR(sy_resp_header(&r, "x-switchyard-schema"), "valid");
    cJSON *v = content_json(&r);
    check_person(v);
    cJSON_Delete(v);
    sy_resp_free(&r);
    free(b);
}

TEST(escalates_a_broken_stream_before_sending_anything)
{
    sy_resp r;
    sy_sse sse = {0};
    char *b = request("esc", SCHEMA, 1);
    post(&r, b, NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "broken:schema_invalid, good:200");
    CHECK(sy_sse_parse(&r, &sse) == 0);
    CHECK(sse.done && sse.done_last);
    char *content = sy_sse_content(&sse);
    cJSON *v = content ? cJSON_Parse(content) : NULL;
    check_person(v);
    /* not one event of the broken answer reached the client */
    for (size_t i = 0; i + 1 < sse.n; i++) {
        cJSON *e = cJSON_Parse(sse.ev[i].data);
        CHECK_STR(sy_json_str(e, "model"), "good");
        cJSON_Delete(e);
    }
    cJSON_Delete(v);
    free(content);
    sy_sse_free(&sse);
    sy_resp_free(&r);
    free(b);
}

TEST(retries_the_same_model_once_then_escalates)
{
    sy_resp r;
    char *b = request("retry", SCHEMA, 0);
    post(&r, b, NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"),
              "broken:schema_invalid, broken:schema_invalid, good:200");
    sy_resp_free(&r);
    free(b);
}

TEST(the_retry_says_what_was_wrong)
{
    /* The mock echoes the messages it got: one message first (fails minItems 3), then the
     * retry's three: the question, the failed answer, and the note. */
    sy_resp r;
    sy_mock_reset(&g_mock);
    char *b = request("retry_echo", "{\"type\":\"array\",\"minItems\":3}", 0);
    post(&r, b, NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_echo:schema_invalid, m_echo:200");
    CHECK(sy_mock_model_count(&g_mock, "mock?echo=1") == 2);
    cJSON *v = content_json(&r);
    CHECK(cJSON_GetArraySize(v) == 3);
    CHECK_STR(sy_json_str(v, "1.role"), "assistant");
    CHECK_STR(sy_json_str(v, "1.content"), "[{\"role\":\"user\",\"content\":\"Who?\"}]");
    CHECK_STR(sy_json_str(v, "2.role"), "system");
    CHECK_CONTAINS(sy_json_str(v, "2.content"), "did not satisfy the required JSON schema");
    CHECK_CONTAINS(sy_json_str(v, "2.content"), "minItems");
    cJSON_Delete(v);
    sy_resp_free(&r);
    free(b);
}

TEST(pass_returns_it_marked_invalid)
{
    sy_resp r;
    char *b = request("pass", SCHEMA, 0);
    post(&r, b, NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "broken");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-schema"), "invalid; error=");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-schema"), "name");
    cJSON *v = content_json(&r);
    CHECK(v != NULL && sy_json_at(v, "name") == NULL); /* the broken answer, as it was */
    cJSON_Delete(v);
    sy_resp_free(&r);
    free(b);
    /* streamed the same way */
    sy_sse sse = {0};
    b = request("pass", SCHEMA, 1);
    post(&r, b, NULL);
    CHECK(r.status == 200);
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-schema"), "invalid; error=");
    CHECK(sy_sse_parse(&r, &sse) == 0 && sse.done);
    sy_sse_free(&sse);
    sy_resp_free(&r);
    free(b);
}

TEST(fences_and_prose_are_normalised)
{
    sy_resp r;
    char *b = request("fenced", SCHEMA, 0);
    post(&r, b, NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-schema"), "valid; normalized=code_fence");
    cJSON *v = content_json(&r); /* the content is exactly the JSON now */
    check_person(v);
    cJSON_Delete(v);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "model"), "fenced");
    cJSON_Delete(j);
    sy_resp_free(&r);
    free(b);

    sy_sse sse = {0};
    b = request("fenced", SCHEMA, 1);
    post(&r, b, NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-schema"), "valid; normalized=code_fence");
    CHECK(sy_sse_parse(&r, &sse) == 0 && sse.done_last);
    char *content = sy_sse_content(&sse);
    v = content ? cJSON_Parse(content) : NULL;
    check_person(v);
    cJSON_Delete(v);
    free(content);
    sy_sse_free(&sse);
    sy_resp_free(&r);
    free(b);

    /* json_object: prose around the object */
    post(&r,
         "{\"model\":\"m_prose\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"response_format\":{\"type\":\"json_object\"}}",
         NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-schema"), "valid; normalized=surrounding_text");
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "choices.0.message.content"), "{\"a\":1}");
    CHECK_STR(sy_json_str(j, "model"), "m_prose");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(tool_call_arguments_are_checked)
{
    sy_resp r;
    post(&r,
         "{\"model\":\"tools\",\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}],"
         "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"parameters\":"
         "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
         "\"required\":[\"city\"]}}}]}",
         NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "m_tool_bad:schema_invalid, m_tool_good:200");
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "choices.0.message.tool_calls.0.function.name"), "lookup");
    CHECK_STR(sy_json_str(j, "choices.0.message.tool_calls.0.function.arguments"),
              "{\"city\":\"Paris\"}");
    cJSON_Delete(j);
    sy_resp_free(&r);
    /* a sim model with invalid_json_rate 1 cuts its tool-call arguments: not JSON, so the
     * chain moves on to the good model */
    post(&r,
         "{\"model\":\"esc\",\"tool_choice\":\"required\",\"messages\":[{\"role\":\"user\",\"content\":\"w?\"}],"
         "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"parameters\":"
         "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\"}}}}}]}",
         NULL);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "broken:schema_invalid, good:200");
    j = sy_resp_json(&r);
    cJSON *args = cJSON_Parse(sy_json_str(j, "choices.0.message.tool_calls.0.function.arguments"));
    CHECK(cJSON_IsObject(args));
    cJSON_Delete(args);
    cJSON_Delete(j);
    sy_resp_free(&r);
    /* a call of a tool the request does not have */
    post(&r,
         "{\"model\":\"m_tool_good\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"other\"}}]}",
         NULL);
    CHECK(r.status == 502);
    j = sy_resp_json(&r);
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "not one of the request's tools");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(a_text_answer_to_a_request_with_tools_is_not_held)
{
    /* only tool-call arguments have a schema here: the text answer streams as it comes
     * (tool_choice none: a sim model calls a tool when it may and the user spoke last) */
    sy_resp r;
    sy_sse sse = {0};
    post(&r,
         "{\"model\":\"good\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
         "\"tool_choice\":\"none\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"parameters\":"
         "{\"type\":\"object\"}}}]}",
         NULL);
    CHECK(r.status == 200);
    CHECK(sy_resp_header(&r, "x-switchyard-schema") == NULL); /* never went through the hold */
    CHECK(sy_sse_parse(&r, &sse) == 0 && sse.done_last && sse.n > 3);
    sy_sse_free(&sse);
    sy_resp_free(&r);
}

TEST(every_answer_broken_is_502)
{
    sy_resp r;
    char *b = request("broken", SCHEMA, 0);
    post(&r, b, NULL);
    CHECK(r.status == 502);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "schema_validation_failed");
    CHECK_STR(sy_json_str(j, "error.attempts.0.outcome"), "schema_invalid");
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "broken: (root): ");
    cJSON_Delete(j);
    sy_resp_free(&r);
    free(b);
}

TEST(bad_schemas_in_requests_are_400)
{
    sy_resp r;
    char *b = request("good", "{\"type\":12}", 0);
    post(&r, b, NULL);
    CHECK(r.status == 400);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "invalid_schema");
    CHECK_STR(sy_json_str(j, "error.param"), "response_format.json_schema.schema");
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "/type");
    cJSON_Delete(j);
    sy_resp_free(&r);
    free(b);
    post(&r,
         "{\"model\":\"good\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"response_format\":{\"type\":\"json_schema\"}}",
         NULL);
    CHECK(r.status == 400);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.param"), "response_format.json_schema.schema");
    cJSON_Delete(j);
    sy_resp_free(&r);
    post(&r,
         "{\"model\":\"good\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
         "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
         "{\"type\":\"object\",\"properties\":{\"a\":{\"pattern\":\"(\"}}}}}]}",
         NULL);
    CHECK(r.status == 400);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.param"), "tools[0].function.parameters");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(policies_validate_too)
{
    sy_resp r;
    const char *h1[] = {"x-switchyard-v: 5", NULL};
    const char *body = "{\"model\":\"checker\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    post(&r, body, h1);
    CHECK(r.status == 200);
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-route"), "reason=\"valid\"");
    sy_resp_free(&r);
    const char *h2[] = {"x-switchyard-v: five", NULL};
    post(&r, body, h2);
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-route"), "/n expected integer");
    sy_resp_free(&r);
    post(&r, body, NULL);
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-route"), "required");
    sy_resp_free(&r);
}

int main(int argc, char **argv)
{
    if (sy_it_args(argc, argv, &g_bin, &g_mock_bin) != 0) return 2;
    const char *const files[] = {"chain.lua", SY_IT_CHAIN_POLICY, "checker.lua", CHECKER, NULL};
    if (sy_it_env_start(&g_env, g_bin, g_mock_bin, CONFIG_FMT, files) != 0) return 1;
    RUN_SEL(escalates_a_broken_answer);
    RUN_SEL(escalates_a_broken_stream_before_sending_anything);
    RUN_SEL(retries_the_same_model_once_then_escalates);
    RUN_SEL(the_retry_says_what_was_wrong);
    RUN_SEL(pass_returns_it_marked_invalid);
    RUN_SEL(fences_and_prose_are_normalised);
    RUN_SEL(tool_call_arguments_are_checked);
    RUN_SEL(a_text_answer_to_a_request_with_tools_is_not_held);
    RUN_SEL(every_answer_broken_is_502);
    RUN_SEL(bad_schemas_in_requests_are_400);
    RUN_SEL(policies_validate_too);
    char *log = NULL;
    CHECK(sy_it_env_stop(&g_env, &log) == 0);
    /* nothing of an answer reaches the log */
    CHECK(!log || strstr(log, "Paris") == NULL);
    free(log);
    curl_global_cleanup();
    return sy_test_summary();
}
