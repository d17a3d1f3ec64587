/* test_messages.c — the inbound Anthropic Messages dialect (src/engine/sy_messages.c): every
 * request mapping, answers, errors and the stream's event sequence. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine/sy_messages.h"
#include "sy_test.h"

/* The rewritten chat body of a Messages request, parsed (NULL on a translation error, with
 * the message in err). */
static cJSON *to_chat(const char *body, char *err, char *param)
{
    sy_buf out;
    sy_buf_init(&out);
    char e[300], p[64];
    int rc = sy_msg_request_to_chat(body, strlen(body), &out, e, sizeof e, p, sizeof p);
    if (err) strcpy(err, rc ? e : "");
    if (param) strcpy(param, rc ? p : "");
    cJSON *j = rc ? NULL : cJSON_Parse(out.data);
    sy_buf_free(&out);
    return j;
}

static char *print(const cJSON *j)
{
    return j ? cJSON_PrintUnformatted(j) : strdup("null");
}

#define CHECK_JSON(j, want)                 \
    do {                                    \
        char *got_ = print(j);              \
        CHECK_STR(got_, want);              \
        free(got_);                         \
    } while (0)

TEST(request_basics)
{
    cJSON *j = to_chat("{\"model\":\"auto\",\"max_tokens\":100,\"system\":\"Be brief.\","
                       "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                       "\"stop_sequences\":[\"END\"],\"temperature\":0.5,\"top_p\":0.9,\"top_k\":5,"
                       "\"metadata\":{\"user_id\":\"u1\"}}",
                       NULL, NULL);
    CHECK_JSON(j, "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                  "{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":100,\"stop\":[\"END\"],"
                  "\"temperature\":0.5,\"top_p\":0.9,\"user\":\"u1\"}");
    cJSON_Delete(j);
    /* system as text blocks; streaming asks for usage */
    j = to_chat("{\"model\":\"m\",\"max_tokens\":1,\"stream\":true,\"system\":[{\"type\":\"text\","
                "\"text\":\"A\"},{\"type\":\"text\",\"text\":\"B\"}],\"messages\":[{\"role\":\"user\","
                "\"content\":[{\"type\":\"text\",\"text\":\"x\"},{\"type\":\"text\",\"text\":\"y\"}]}]}",
                NULL, NULL);
    CHECK_JSON(j, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"A\\nB\"},"
                  "{\"role\":\"user\",\"content\":\"x\\ny\"}],\"max_tokens\":1,\"stream\":true,"
                  "\"stream_options\":{\"include_usage\":true}}");
    cJSON_Delete(j);
}

TEST(request_images_and_tools)
{
    cJSON *j = to_chat(
        "{\"model\":\"m\",\"max_tokens\":10,\"messages\":["
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"what?\"},{\"type\":\"image\","
        "\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"AAA\"}},{\"type\":"
        "\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x/y.png\"}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hmm\"},{\"type\":"
        "\"text\",\"text\":\"calling\"},{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":"
        "{\"a\":1}},{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"g\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":"
        "\"42\"},{\"type\":\"tool_result\",\"tool_use_id\":\"t2\",\"content\":[{\"type\":\"text\","
        "\"text\":\"ok\"}]},{\"type\":\"text\",\"text\":\"thanks\"}]}],"
        "\"tools\":[{\"name\":\"f\",\"description\":\"F\",\"input_schema\":{\"type\":\"object\"}}],"
        "\"tool_choice\":{\"type\":\"tool\",\"name\":\"f\",\"disable_parallel_tool_use\":true}}",
        NULL, NULL);
    CHECK_JSON(j,
               "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
               "\"what?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAA\"}},"
               "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}]},{\"role\":"
               "\"assistant\",\"content\":\"calling\",\"tool_calls\":[{\"id\":\"t1\",\"type\":\"function\","
               "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}},{\"id\":\"t2\",\"type\":"
               "\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\","
               "\"tool_call_id\":\"t1\",\"content\":\"42\"},{\"role\":\"tool\",\"tool_call_id\":\"t2\","
               "\"content\":\"ok\"},{\"role\":\"user\",\"content\":\"thanks\"}],\"max_tokens\":10,"
               "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"F\","
               "\"parameters\":{\"type\":\"object\"}}}],\"tool_choice\":{\"type\":\"function\",\"function\":"
               "{\"name\":\"f\"}},\"parallel_tool_calls\":false}");
    cJSON_Delete(j);
    /* an assistant turn of tool calls only: content null */
    j = to_chat("{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
                "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\","
                "\"input\":{}}]}],\"tool_choice\":{\"type\":\"any\"}}",
                NULL, NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "tool_choice")), "required");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 1), "content")));
    cJSON_Delete(j);
    static const char *const choices[][2] = {{"auto", "auto"}, {"none", "none"}};
    for (int i = 0; i < 2; i++) {
        char b[300];
        snprintf(b, sizeof b, "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\","
                              "\"content\":\"q\"}],\"tool_choice\":{\"type\":\"%s\"}}", choices[i][0]);
        j = to_chat(b, NULL, NULL);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "tool_choice")), choices[i][1]);
        cJSON_Delete(j);
    }
}

TEST(request_errors)
{
    static const char *const cases[][3] = {
        {"[1]", "", "the body must be a JSON object"},
        {"{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model", "model: Field required"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens", "max_tokens: Field required"},
        {"{\"model\":\"m\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens", "at least 1"},
        {"{\"model\":\"m\",\"max_tokens\":1.5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens", "whole number"},
        {"{\"model\":\"m\",\"max_tokens\":1e300,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens", "at most 1000000000"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[]}", "messages", "messages: Field required"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", "messages.0.role", "must be \"user\" or \"assistant\""},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages.0.content", "must be a string or a list"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\"}]}]}", "messages.0.content.0.type", "\"document\" blocks are not supported"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{}}]}]}", "messages.0.content.0.type", "an image needs"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}", "messages.0.content.0.type", "needs a type"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"system\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "system", "system: must be"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"w\"}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "tools.0", "are supported (got type web_search_20250305)"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"tool_choice\":{\"type\":\"tool\"},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "tool_choice", "type must be auto, any, tool"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"temperature\":\"hot\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "temperature", "temperature: must be a number"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"stop_sequences\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "stop_sequences", "must be a list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[300], param[64];
        cJSON *j = to_chat(cases[i][0], err, param);
        CHECK(j == NULL);
        CHECK_STR(param, cases[i][1]);
        CHECK_CONTAINS(err, cases[i][2]);
        cJSON_Delete(j);
    }
}

TEST(answers)
{
    sy_buf out;
    sy_buf_init(&out);
    const char *chat = "{\"id\":\"c1\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\","
                       "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                       "\"arguments\":\"{\\\"a\\\":1}\"}}]},\"finish_reason\":\"tool_calls\"}],"
                       "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}";
    CHECK(sy_msg_answer_from_chat(chat, strlen(chat), "small", &out) == 0);
    CHECK_STR(out.data, "{\"id\":\"msg_c1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"small\","
                        "\"content\":[{\"type\":\"text\",\"text\":\"Hi\"},{\"type\":\"tool_use\",\"id\":"
                        "\"call_1\",\"name\":\"f\",\"input\":{\"a\":1}}],\"stop_reason\":\"tool_use\","
                        "\"stop_sequence\":null,\"usage\":{\"input_tokens\":7,\"output_tokens\":3}}");
    static const char *const stops[][2] = {{"stop", "end_turn"}, {"length", "max_tokens"},
                                           {"tool_calls", "tool_use"}, {"content_filter", "refusal"},
                                           {"function_call", "tool_use"}};
    for (int i = 0; i < 5; i++) CHECK_STR(sy_msg_stop_reason(stops[i][0]), stops[i][1]);
    CHECK(sy_msg_stop_reason(NULL) == NULL);
    /* arguments that are not an object are kept, not lost */
    const char *odd = "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{\"function\":"
                      "{\"name\":\"f\",\"arguments\":\"[1\"}}]},\"finish_reason\":null}]}";
    CHECK(sy_msg_answer_from_chat(odd, strlen(odd), "m", &out) == 0);
    CHECK_CONTAINS(out.data, "\"input\":{\"_raw_arguments\":\"[1\"}");
    CHECK_CONTAINS(out.data, "\"stop_reason\":null");
    CHECK(sy_msg_answer_from_chat("{}", 2, "m", &out) == -1);
    CHECK(sy_msg_answer_from_chat("nope", 4, "m", &out) == -1);
    sy_buf_free(&out);
}

TEST(errors)
{
    sy_buf out;
    sy_buf_init(&out);
    const char *e = "{\"error\":{\"message\":\"all 2 upstream attempts failed\",\"type\":\"server_error\","
                    "\"param\":null,\"code\":\"upstream_error\",\"attempts\":[{\"model\":\"a\"}]}}";
    sy_msg_error_body(502, e, strlen(e), &out);
    CHECK_STR(out.data, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"all 2 upstream "
                        "attempts failed\",\"code\":\"upstream_error\",\"attempts\":[{\"model\":\"a\"}]}}");
    sy_msg_error_body(400, "garbage", 7, &out);
    CHECK_STR(out.data, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"garbage\"}}");
    static const struct { int status; const char *type; } map[] = {
        {400, "invalid_request_error"}, {401, "authentication_error"}, {403, "permission_error"},
        {404, "not_found_error"}, {413, "request_too_large"}, {429, "rate_limit_error"},
        {500, "api_error"}, {502, "api_error"}, {503, "overloaded_error"}, {529, "overloaded_error"},
        {504, "api_error"}, {422, "invalid_request_error"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        CHECK_STR(sy_msg_error_type(map[i].status), map[i].type);
    sy_buf_free(&out);
}

static void feed(sy_msg_stream *s, const char *chunk, sy_buf *out)
{
    cJSON *c = cJSON_Parse(chunk);
    sy_msg_stream_chunk(s, c, out);
    cJSON_Delete(c);
}

TEST(stream_text_then_tools)
{
    sy_msg_stream s;
    sy_buf out;
    sy_buf_init(&out);
    sy_msg_stream_init(&s, "r1", "small", 12);
    feed(&s, "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"He\"}}]}", &out);
    feed(&s, "{\"choices\":[{\"delta\":{\"content\":\"llo\"}}]}", &out);
    feed(&s, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":"
             "{\"name\":\"f\",\"arguments\":\"\"}}]}}]}", &out);
    feed(&s, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\"\"}}]}}]}", &out);
    feed(&s, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]}}]}", &out);
    feed(&s, "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"c2\",\"function\":"
             "{\"name\":\"g\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}", &out);
    feed(&s, "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":9}}", &out);
    sy_msg_stream_end(&s, &out);
    CHECK_STR(out.data,
              "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_r1\","
              "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"small\",\"content\":[],"
              "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n"
              "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
              "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
              "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
              "{\"type\":\"text_delta\",\"text\":\"He\"}}\n\n"
              "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
              "{\"type\":\"text_delta\",\"text\":\"llo\"}}\n\n"
              "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
              "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
              "\"content_block\":{\"type\":\"tool_use\",\"id\":\"c1\",\"name\":\"f\",\"input\":{}}}\n\n"
              "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
              "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}\n\n"
              "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
              "{\"type\":\"input_json_delta\",\"partial_json\":\":1}\"}}\n\n"
              "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
              "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,"
              "\"content_block\":{\"type\":\"tool_use\",\"id\":\"c2\",\"name\":\"g\",\"input\":{}}}\n\n"
              "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":"
              "{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
              "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n"
              "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
              "\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":12,\"output_tokens\":9}}\n\n"
              "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    sy_buf_free(&out);
}

TEST(stream_edges)
{
    sy_msg_stream s;
    sy_buf out;
    sy_buf_init(&out);
    /* no chunk at all: still a well-formed message; output estimated without usage */
    sy_msg_stream_init(&s, NULL, "m", -1);
    sy_msg_stream_end(&s, &out);
    CHECK_CONTAINS(out.data, "\"id\":\"msg_switchyard\"");
    CHECK_CONTAINS(out.data, "\"input_tokens\":0");
    CHECK_CONTAINS(out.data, "\"stop_reason\":\"end_turn\"");
    CHECK(strstr(out.data, "content_block") == NULL);
    sy_buf_reset(&out);
    sy_msg_stream_init(&s, "x", "m", 5);
    feed(&s, "{\"choices\":[{\"delta\":{\"content\":\"abcdefgh\"},\"finish_reason\":\"length\"}]}", &out);
    sy_msg_stream_end(&s, &out);
    CHECK_CONTAINS(out.data, "\"stop_reason\":\"max_tokens\"");
    CHECK_CONTAINS(out.data, "\"usage\":{\"input_tokens\":5,\"output_tokens\":2}");
    sy_buf_reset(&out);
    sy_msg_stream_error(&s, 502, "upstream small failed \"mid\"-stream", &out);
    CHECK_STR(out.data, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                        "\"message\":\"upstream small failed \\\"mid\\\"-stream\"}}\n\n");
    sy_buf_free(&out);
}

int main(void)
{
    RUN(request_basics);
    RUN(request_images_and_tools);
    RUN(request_errors);
    RUN(answers);
    RUN(errors);
    RUN(stream_text_then_tools);
    RUN(stream_edges);
    return sy_test_summary();
}
