/* test_anthropic.c — the pure translations of the anthropic adapter
 * (src/providers/sy_prov_anthropic.c): Chat Completions request → Messages body, Messages
 * answer → chat.completion, Anthropic SSE events → chat.completion.chunk objects, error
 * bodies → messages; and bad inputs giving errors, never crashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/sy_prov_anthropic.h"
#include "sy_test.h"

static char g_err[256];

/* The translated body of req (parsed; caller deletes), NULL on a translation error. */
static cJSON *xlate_opts(const char *req, long max_output, int stream)
{
    sy_buf out;
    sy_buf_init(&out);
    g_err[0] = '\0';
    int rc = sy_anth_request(req, strlen(req), "claude-x", max_output, stream, &out, g_err,
                             sizeof g_err);
    cJSON *j = rc == SY_OK ? cJSON_Parse(out.data) : NULL;
    sy_buf_free(&out);
    return j;
}

static cJSON *xlate(const char *req)
{
    return xlate_opts(req, 1000, 0);
}

/* Compact JSON text of o[path] (path as in "messages.0.content"); static buffer. */
static const char *jat(const cJSON *o, const char *path)
{
    static char buf[4096];
    char key[128];
    const cJSON *cur = o;
    const char *p = path;
    while (cur && *p) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        if (cJSON_IsArray(cur))
            cur = cJSON_GetArrayItem(cur, atoi(key));
        else
            cur = cJSON_GetObjectItemCaseSensitive(cur, key);
        p += n;
        if (*p == '.') p++;
    }
    if (!cur) return "(absent)";
    char *t = cJSON_PrintUnformatted(cur);
    snprintf(buf, sizeof buf, "%s", t ? t : "(oom)");
    free(t);
    return buf;
}

#define MSGS(x) "{\"model\":\"m\",\"messages\":[" x "]}"

/* ==== requests ========================================================================= */

TEST(request_basics_and_system_hoisting)
{
    cJSON *j = xlate(MSGS("{\"role\":\"system\",\"content\":\"Be brief.\"},"
                          "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Use SI.\"}]},"
                          "{\"role\":\"user\",\"content\":\"hi\"},"
                          "{\"role\":\"system\",\"content\":\"Late rule.\"}"));
    CHECK(j != NULL);
    CHECK_STR(jat(j, "model"), "\"claude-x\"");
    CHECK_STR(jat(j, "system"), "\"Be brief.\\n\\nUse SI.\\n\\nLate rule.\"");
    CHECK_STR(jat(j, "messages"), "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]");
    CHECK_STR(jat(j, "max_tokens"), "1000"); /* the model's max_output */
    CHECK_STR(jat(j, "stream"), "(absent)");
    cJSON_Delete(j);
    /* no system message: no system field */
    j = xlate(MSGS("{\"role\":\"user\",\"content\":\"hi\"}"));
    CHECK_STR(jat(j, "system"), "(absent)");
    cJSON_Delete(j);
    j = xlate_opts(MSGS("{\"role\":\"user\",\"content\":\"hi\"}"), 10, 1);
    CHECK_STR(jat(j, "stream"), "true");
    cJSON_Delete(j);
}

TEST(request_merges_neighbours_of_one_role)
{
    cJSON *j = xlate(MSGS("{\"role\":\"user\",\"content\":\"a\"},"
                          "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"b\"}]},"
                          "{\"role\":\"assistant\",\"content\":\"c\"},"
                          "{\"role\":\"assistant\",\"content\":\"\"},"
                          "{\"role\":\"assistant\",\"content\":\"d\"},"
                          "{\"role\":\"user\",\"content\":\"e\"}"));
    CHECK(j != NULL);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages")) == 3);
    CHECK_STR(jat(j, "messages.0"),
              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}");
    CHECK_STR(jat(j, "messages.1"),
              "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"c\"},{\"type\":\"text\",\"text\":\"d\"}]}");
    CHECK_STR(jat(j, "messages.2.role"), "\"user\"");
    cJSON_Delete(j);
}

TEST(request_images_data_url_and_http_url)
{
    cJSON *j = xlate(MSGS("{\"role\":\"user\",\"content\":["
                          "{\"type\":\"text\",\"text\":\"what is it?\"},"
                          "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0K\"}},"
                          "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.test/cat.jpg\",\"detail\":\"low\"}}]}"));
    CHECK(j != NULL);
    CHECK_STR(jat(j, "messages.0.content.1"),
              "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"iVBORw0K\"}}");
    CHECK_STR(jat(j, "messages.0.content.2"),
              "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"https://x.test/cat.jpg\"}}");
    cJSON_Delete(j);
    /* not base64, or neither data: nor http(s): the request's fault */
    CHECK(xlate(MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png,abc\"}}]}")) == NULL);
    CHECK_CONTAINS(g_err, "base64");
    CHECK(xlate(MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"ftp://x/y.png\"}}]}")) == NULL);
    CHECK_CONTAINS(g_err, "messages[0]");
    CHECK(xlate(MSGS("{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\",\"input_audio\":{}}]}")) == NULL);
    CHECK_CONTAINS(g_err, "input_audio");
}

TEST(request_tool_calls_and_results)
{
    cJSON *j = xlate(MSGS(
        "{\"role\":\"user\",\"content\":\"weather in Paris and Rome?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"wx\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"wx\",\"arguments\":\"\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18C\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":[{\"type\":\"text\",\"text\":\"21C\"}]},"
        "{\"role\":\"user\",\"content\":\"thanks\"}"));
    CHECK(j != NULL);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages")) == 3);
    CHECK_STR(jat(j, "messages.1"),
              "{\"role\":\"assistant\",\"content\":["
              "{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"wx\",\"input\":{\"city\":\"Paris\"}},"
              "{\"type\":\"tool_use\",\"id\":\"call_2\",\"name\":\"wx\",\"input\":{}}]}");
    /* the tool results and the next user text: one user message */
    CHECK_STR(jat(j, "messages.2"),
              "{\"role\":\"user\",\"content\":["
              "{\"type\":\"tool_result\",\"tool_use_id\":\"call_1\",\"content\":\"18C\"},"
              "{\"type\":\"tool_result\",\"tool_use_id\":\"call_2\",\"content\":\"21C\"},"
              "{\"type\":\"text\",\"text\":\"thanks\"}]}");
    cJSON_Delete(j);
    /* text and a call in one assistant message */
    j = xlate(MSGS("{\"role\":\"user\",\"content\":\"x\"},"
                   "{\"role\":\"assistant\",\"content\":\"Let me look.\",\"tool_calls\":["
                   "{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}"));
    CHECK_STR(jat(j, "messages.1.content.0.text"), "\"Let me look.\"");
    CHECK_STR(jat(j, "messages.1.content.1.type"), "\"tool_use\"");
    cJSON_Delete(j);
}

TEST(request_bad_tool_arguments_are_an_error)
{
    CHECK(xlate(MSGS("{\"role\":\"user\",\"content\":\"x\"},"
                     "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
                     "\"function\":{\"name\":\"f\",\"arguments\":\"{not json\"}}]}")) == NULL);
    CHECK_STR(g_err, "messages[1].tool_calls[0].function.arguments is not a JSON object");
    CHECK(xlate(MSGS("{\"role\":\"user\",\"content\":\"x\"},"
                     "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
                     "\"function\":{\"name\":\"f\",\"arguments\":\"[1,2]\"}}]}")) == NULL);
    CHECK_CONTAINS(g_err, "not a JSON object");
    CHECK(xlate(MSGS("{\"role\":\"assistant\",\"tool_calls\":[{\"type\":\"function\"}]}")) == NULL);
    CHECK_CONTAINS(g_err, "needs an id");
    CHECK(xlate(MSGS("{\"role\":\"tool\",\"content\":\"x\"}")) == NULL);
    CHECK_CONTAINS(g_err, "tool_call_id");
    CHECK(xlate(MSGS("{\"role\":\"function\",\"content\":\"x\"}")) == NULL);
    CHECK_CONTAINS(g_err, "role \"function\"");
    CHECK(xlate(MSGS("{\"role\":\"user\",\"content\":42}")) == NULL);
    CHECK_CONTAINS(g_err, "messages[0].content");
    CHECK(xlate("[1,2]") == NULL);
    CHECK(xlate("{\"model\":\"m\",\"messages\":{}}") == NULL);
    CHECK(xlate("{not json") == NULL);
}

TEST(request_tools_and_tool_choice)
{
    const char *tools =
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"wx\",\"description\":\"Weather\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"now\"}},"
        "{\"type\":\"code_interpreter\"}]";
    char req[1024];
    struct {
        const char *choice, *want;
    } cases[] = {
        {"", "(absent)"},
        {",\"tool_choice\":\"auto\"", "{\"type\":\"auto\"}"},
        {",\"tool_choice\":\"required\"", "{\"type\":\"any\"}"},
        {",\"tool_choice\":\"none\"", "{\"type\":\"none\"}"},
        {",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"wx\"}}",
         "{\"type\":\"tool\",\"name\":\"wx\"}"},
        {",\"parallel_tool_calls\":false", "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}"},
        {",\"tool_choice\":\"required\",\"parallel_tool_calls\":false",
         "{\"type\":\"any\",\"disable_parallel_tool_use\":true}"},
        {",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"wx\"}},\"parallel_tool_calls\":false",
         "{\"type\":\"tool\",\"name\":\"wx\",\"disable_parallel_tool_use\":true}"},
        {",\"parallel_tool_calls\":true", "(absent)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(req, sizeof req,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s%s}", tools,
                 cases[i].choice);
        cJSON *j = xlate(req);
        CHECK(j != NULL);
        CHECK_STR(jat(j, "tool_choice"), cases[i].want);
        if (i == 0) {
            CHECK_STR(jat(j, "tools"),
                      "[{\"name\":\"wx\",\"description\":\"Weather\",\"input_schema\":{\"type\":\"object\","
                      "\"properties\":{\"city\":{\"type\":\"string\"}}}},"
                      "{\"name\":\"now\",\"input_schema\":{\"type\":\"object\",\"properties\":{}}}]");
        }
        cJSON_Delete(j);
    }
    /* a tool_choice without tools is dropped (Anthropic refuses one) */
    cJSON *j = xlate("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                     "\"tool_choice\":\"required\"}");
    CHECK_STR(jat(j, "tool_choice"), "(absent)");
    CHECK_STR(jat(j, "tools"), "(absent)");
    cJSON_Delete(j);
}

TEST(request_sampling_stop_max_tokens_user)
{
#define REQ(extra) "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]" extra "}"
    cJSON *j = xlate(REQ(",\"stop\":\"END\",\"temperature\":1.7,\"top_p\":0.9,\"user\":\"u-42\","
                         "\"presence_penalty\":1,\"seed\":7,\"logprobs\":true,\"n\":1"));
    CHECK_STR(jat(j, "stop_sequences"), "[\"END\"]");
    CHECK_STR(jat(j, "temperature"), "1"); /* clamped to Anthropic's 0..1 */
    CHECK_STR(jat(j, "top_p"), "0.9");
    CHECK_STR(jat(j, "metadata"), "{\"user_id\":\"u-42\"}");
    CHECK_STR(jat(j, "presence_penalty"), "(absent)");
    CHECK_STR(jat(j, "seed"), "(absent)");
    CHECK_STR(jat(j, "logprobs"), "(absent)");
    CHECK_STR(jat(j, "n"), "(absent)");
    cJSON_Delete(j);
    j = xlate(REQ(",\"stop\":[\"a\",\"b\"],\"temperature\":0.3"));
    CHECK_STR(jat(j, "stop_sequences"), "[\"a\",\"b\"]");
    CHECK_STR(jat(j, "temperature"), "0.3");
    cJSON_Delete(j);
    j = xlate(REQ(",\"stop\":null,\"temperature\":-1"));
    CHECK_STR(jat(j, "stop_sequences"), "(absent)");
    CHECK_STR(jat(j, "temperature"), "0");
    cJSON_Delete(j);
    /* max_tokens: max_completion_tokens, else max_tokens, else max_output, else 4096 */
    j = xlate(REQ(",\"max_tokens\":50,\"max_completion_tokens\":70"));
    CHECK_STR(jat(j, "max_tokens"), "70");
    cJSON_Delete(j);
    j = xlate(REQ(",\"max_tokens\":50"));
    CHECK_STR(jat(j, "max_tokens"), "50");
    cJSON_Delete(j);
    j = xlate_opts(REQ(""), 0, 0);
    CHECK_STR(jat(j, "max_tokens"), "4096");
    cJSON_Delete(j);
    j = xlate_opts(REQ(",\"max_tokens\":null"), 256, 0);
    CHECK_STR(jat(j, "max_tokens"), "256");
    cJSON_Delete(j);
}

TEST(request_response_format_becomes_an_instruction)
{
    cJSON *j = xlate(REQ(",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"c\","
                         "\"schema\":{\"type\":\"object\",\"required\":[\"city\"]}}}"));
    CHECK_STR(jat(j, "system"),
              "\"Respond with only JSON that matches this JSON schema, without Markdown fences or any "
              "other text:\\n{\\\"type\\\":\\\"object\\\",\\\"required\\\":[\\\"city\\\"]}\"");
    CHECK_STR(jat(j, "response_format"), "(absent)");
    cJSON_Delete(j);
    j = xlate("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"S.\"},"
              "{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_object\"}}");
    CHECK_STR(jat(j, "system"),
              "\"S.\\n\\nRespond with only a JSON object, without Markdown fences or any other text.\"");
    cJSON_Delete(j);
    j = xlate(REQ(",\"response_format\":{\"type\":\"text\"}"));
    CHECK_STR(jat(j, "system"), "(absent)");
    cJSON_Delete(j);
#undef REQ
}

/* ==== answers ========================================================================== */

static cJSON *answer(const char *body)
{
    g_err[0] = '\0';
    char *t = sy_anth_answer(body, strlen(body), 1700000000, g_err, sizeof g_err);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    return j;
}

TEST(answer_text)
{
    cJSON *j = answer("{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\","
                      "\"content\":[{\"type\":\"text\",\"text\":\"Hello\"},{\"type\":\"text\",\"text\":\" there\"}],"
                      "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
                      "\"usage\":{\"input_tokens\":12,\"output_tokens\":3}}");
    CHECK(j != NULL);
    CHECK_STR(jat(j, ""), "{\"id\":\"msg_1\",\"object\":\"chat.completion\",\"created\":1700000000,"
                          "\"model\":\"claude-x\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                          "\"content\":\"Hello there\"},\"finish_reason\":\"stop\"}],"
                          "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}");
    cJSON_Delete(j);
}

TEST(answer_tool_use_and_mixed)
{
    cJSON *j = answer("{\"id\":\"msg_2\",\"model\":\"c\",\"content\":["
                      "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"wx\",\"input\":{\"city\":\"Paris\"}}],"
                      "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":5,\"output_tokens\":7}}");
    CHECK_STR(jat(j, "choices.0.message"),
              "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"toolu_1\",\"type\":\"function\","
              "\"function\":{\"name\":\"wx\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]}");
    CHECK_STR(jat(j, "choices.0.finish_reason"), "\"tool_calls\"");
    cJSON_Delete(j);
    j = answer("{\"id\":\"msg_3\",\"model\":\"c\",\"content\":["
               "{\"type\":\"thinking\",\"thinking\":\"hmm\",\"signature\":\"s\"},"
               "{\"type\":\"text\",\"text\":\"Checking.\"},"
               "{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"a\",\"input\":{}},"
               "{\"type\":\"tool_use\",\"id\":\"t2\",\"name\":\"b\",\"input\":{\"x\":[1]}}],"
               "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}");
    CHECK_STR(jat(j, "choices.0.message.content"), "\"Checking.\"");
    CHECK_STR(jat(j, "choices.0.message.tool_calls.0.function.arguments"), "\"{}\"");
    CHECK_STR(jat(j, "choices.0.message.tool_calls.1.id"), "\"t2\"");
    CHECK_STR(jat(j, "choices.0.message.tool_calls.1.function.arguments"), "\"{\\\"x\\\":[1]}\"");
    cJSON_Delete(j);
}

TEST(answer_every_stop_reason_and_cache_usage)
{
    struct {
        const char *in, *out;
    } m[] = {{"\"end_turn\"", "stop"},         {"\"stop_sequence\"", "stop"},
             {"\"max_tokens\"", "length"},     {"\"tool_use\"", "tool_calls"},
             {"\"refusal\"", "content_filter"}, {"\"pause_turn\"", "stop"},
             {"null", "stop"},                 {"\"something_new\"", "stop"}};
    char body[512], want[64];
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"id\":\"x\",\"model\":\"c\",\"content\":[{\"type\":\"text\",\"text\":\"t\"}],"
                 "\"stop_reason\":%s,\"usage\":{\"input_tokens\":10,\"output_tokens\":4,"
                 "\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":1000}}",
                 m[i].in);
        cJSON *j = answer(body);
        snprintf(want, sizeof want, "\"%s\"", m[i].out);
        CHECK_STR(jat(j, "choices.0.finish_reason"), want);
        CHECK_STR(jat(j, "usage"), "{\"prompt_tokens\":1110,\"completion_tokens\":4,\"total_tokens\":1114}");
        cJSON_Delete(j);
    }
    CHECK_STR(sy_anth_finish_reason("max_tokens"), "length");
}

TEST(answer_bad_inputs)
{
    CHECK(answer("[1]") == NULL);
    CHECK_STR(g_err, "upstream answer is not an Anthropic message");
    CHECK(answer("\"text\"") == NULL);
    CHECK(answer("{\"id\":\"x\"}") == NULL);
    CHECK(answer("{\"content\":\"not an array\"}") == NULL);
    CHECK(answer("not json") == NULL);
    CHECK(answer("{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}") == NULL);
    CHECK(answer("{\"content\":[{\"type\":\"tool_use\",\"input\":{}}]}") == NULL);
    CHECK_CONTAINS(g_err, "tool_use block without id");
    /* odd but harmless: empty content, no usage */
    cJSON *j = answer("{\"content\":[]}");
    CHECK_STR(jat(j, "choices.0.message.content"), "\"\"");
    CHECK_STR(jat(j, "usage.total_tokens"), "0");
    cJSON_Delete(j);
}

/* ==== streams ========================================================================== */

/* Feeds "event\ndata" pairs; the chunks come back as one JSON array text (caller frees). */
static char *feed(sy_anth_stream *st, const char *const *evs, int *rc_out, int *status)
{
    cJSON *out = cJSON_CreateArray();
    int rc = SY_OK;
    for (int i = 0; evs[i] && rc == SY_OK; i += 2)
        rc = sy_anth_stream_event(st, evs[i], evs[i + 1], strlen(evs[i + 1]), out, status, g_err,
                                  sizeof g_err);
    *rc_out = rc;
    char *t = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    return t;
}

#define HEAD "{\"id\":\"msg_s\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"claude-x\","

TEST(stream_text_exact_chunks)
{
    /* a recorded sequence (shortened ids), ping included */
    const char *evs[] = {
        "message_start",
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\",\"type\":\"message\",\"role\":\"assistant\","
        "\"content\":[],\"model\":\"claude-x\",\"stop_reason\":null,\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}",
        "content_block_start",
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
        "ping", "{\"type\": \"ping\"}",
        "content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}",
        "content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"!\"}}",
        "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}",
        "message_delta",
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
        "\"usage\":{\"output_tokens\":15}}",
        "message_stop", "{\"type\":\"message_stop\"}",
        NULL};
    sy_anth_stream st = {0};
    st.created = 1700000000;
    int rc, status = -1;
    char *t = feed(&st, evs, &rc, &status);
    CHECK(rc == SY_OK);
    CHECK(status == 0);
    CHECK_STR(t, "["
              HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":null}]},"
              HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"finish_reason\":null}]},"
              HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]},"
              HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":15,\"total_tokens\":45}}"
              "]");
    CHECK(st.stopped == 1 && st.finished == 1);
    free(t);
    sy_anth_stream_free(&st);
}

TEST(stream_tool_use_with_input_json_delta)
{
    const char *evs[] = {
        "message_start",
        "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}",
        "content_block_start",
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
        "content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Okay.\"}}",
        "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}",
        "content_block_start",
        "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"wx\",\"input\":{}}}",
        "content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}",
        "content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \"}}",
        "content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}",
        "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}",
        "content_block_start",
        "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"now\",\"input\":{}}}",
        "content_block_delta",
        "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}",
        "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}",
        "message_delta",
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":40}}",
        "message_stop", "{\"type\":\"message_stop\"}",
        NULL};
    sy_anth_stream st = {0};
    st.created = 1700000000;
    int rc, status;
    char *t = feed(&st, evs, &rc, &status);
    CHECK(rc == SY_OK);
    CHECK_STR(t, "["
              HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Okay.\"},\"finish_reason\":null}]},"
              HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"toolu_a\",\"type\":\"function\","
                   "\"function\":{\"name\":\"wx\",\"arguments\":\"\"}}]},\"finish_reason\":null}]},"
              HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\": \"}}]},\"finish_reason\":null}]},"
              HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},\"finish_reason\":null}]},"
              HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"toolu_b\",\"type\":\"function\","
                   "\"function\":{\"name\":\"now\",\"arguments\":\"\"}}]},\"finish_reason\":null}]},"
              HEAD "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]},\"finish_reason\":null}]},"
              HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]},"
              HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":40,\"total_tokens\":49}}"
              "]");
    free(t);
    sy_anth_stream_free(&st);
}

TEST(stream_max_tokens_and_empty_answer_still_say_the_role)
{
    const char *evs[] = {
        "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":3}}}",
        "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":0}}",
        "message_stop", "{\"type\":\"message_stop\"}", NULL};
    sy_anth_stream st = {0};
    st.created = 1700000000;
    int rc, status;
    char *t = feed(&st, evs, &rc, &status);
    CHECK(rc == SY_OK);
    CHECK_CONTAINS(t, "\"delta\":{\"role\":\"assistant\"},\"finish_reason\":\"length\"");
    free(t);
    sy_anth_stream_free(&st);
}

TEST(stream_errors)
{
    sy_anth_stream st = {0};
    int rc, status;
    const char *over[] = {
        "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\"}}",
        "error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
        NULL};
    char *t = feed(&st, over, &rc, &status);
    CHECK(rc == SY_EINVAL);
    CHECK(status == 529);
    CHECK_STR(g_err, "HTTP 529: Overloaded");
    CHECK(!st.stopped);
    free(t);
    sy_anth_stream_free(&st);

    memset(&st, 0, sizeof st);
    const char *api[] = {"error", "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"boom\"}}", NULL};
    t = feed(&st, api, &rc, &status);
    CHECK(rc == SY_EINVAL && status == 0);
    CHECK_STR(g_err, "upstream error event: api_error: boom");
    free(t);

    const char *garbage[] = {"content_block_delta", "{nope", NULL};
    t = feed(&st, garbage, &rc, &status);
    CHECK(rc == SY_EINVAL && status == 0);
    CHECK_STR(g_err, "upstream sent a stream event that is not JSON");
    free(t);

    /* tool input for a block that never started as a tool */
    const char *orphan[] = {"content_block_delta",
                            "{\"type\":\"content_block_delta\",\"index\":7,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}",
                            NULL};
    t = feed(&st, orphan, &rc, &status);
    CHECK(rc == SY_EINVAL);
    free(t);
    const char *badidx[] = {"content_block_start",
                            "{\"type\":\"content_block_start\",\"index\":-3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"b\"}}",
                            NULL};
    t = feed(&st, badidx, &rc, &status);
    CHECK(rc == SY_EINVAL);
    free(t);
    /* unknown events and unknown deltas are ignored; the type field wins over the name */
    const char *unknown[] = {"future_event", "{\"type\":\"future_event\",\"x\":1}",
                             "content_block_delta",
                             "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}",
                             "", "{\"type\":\"message_stop\"}", NULL};
    t = feed(&st, unknown, &rc, &status);
    CHECK(rc == SY_OK);
    CHECK_STR(t, "[]");
    CHECK(st.stopped);
    free(t);
    sy_anth_stream_free(&st);
}

/* ==== errors =========================================================================== */

TEST(error_bodies)
{
    char msg[256], *body;
    sy_anth_error(529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
                  msg, sizeof msg, &body);
    CHECK_STR(msg, "HTTP 529: Overloaded");
    CHECK_STR(body, "{\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\",\"param\":null,"
                    "\"code\":\"overloaded_error\"}}");
    free(body);
    sy_anth_error(400, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
                       "\"message\":\"prompt is too long: 210000 tokens > 200000 maximum\"}}",
                  msg, sizeof msg, &body);
    CHECK_CONTAINS(body, "\"code\":\"context_length_exceeded\"");
    free(body);
    sy_anth_error(500, "<html>oops</html>", msg, sizeof msg, &body);
    CHECK_STR(msg, "HTTP 500");
    CHECK(body == NULL);
    sy_anth_error(502, NULL, msg, sizeof msg, &body);
    CHECK_STR(msg, "HTTP 502");
    CHECK(body == NULL);
    /* one bounded line */
    char big[1200];
    snprintf(big, sizeof big, "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"a\\nb%0900d\"}}", 0);
    sy_anth_error(500, big, msg, sizeof msg, &body);
    CHECK(strchr(msg, '\n') == NULL);
    CHECK(strlen(msg) < 220);
    CHECK_CONTAINS(msg, "HTTP 500: a b000");
    free(body);
}

int main(void)
{
    RUN(request_basics_and_system_hoisting);
    RUN(request_merges_neighbours_of_one_role);
    RUN(request_images_data_url_and_http_url);
    RUN(request_tool_calls_and_results);
    RUN(request_bad_tool_arguments_are_an_error);
    RUN(request_tools_and_tool_choice);
    RUN(request_sampling_stop_max_tokens_user);
    RUN(request_response_format_becomes_an_instruction);
    RUN(answer_text);
    RUN(answer_tool_use_and_mixed);
    RUN(answer_every_stop_reason_and_cache_usage);
    RUN(answer_bad_inputs);
    RUN(stream_text_exact_chunks);
    RUN(stream_tool_use_with_input_json_delta);
    RUN(stream_max_tokens_and_empty_answer_still_say_the_role);
    RUN(stream_errors);
    RUN(error_bodies);
    return sy_test_summary();
}
