/* test_anthropic_out.c — the anthropic provider end to end: the real gateway answers
 * /v1/chat/completions from the mock's Anthropic Messages API (tests/mock, POST
 * /v1/messages): text, the translated body (echo), streams with their usage billed, tool
 * calls streamed or not, a 529 "overloaded" falling over to the next model, a 429 with
 * Retry-After retried, a stream cut short, the key and version headers, a request Anthropic
 * cannot take, and the config error for anthropic_version on another kind.
 * SY_ITEST_TRANSPORT=curl runs the provider over libcurl instead of the built-in client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sy_itest.h"
#include "sy_test.h"

#define KEY "sk-ant-itest-5f3a9c2e"

static const char *g_bin, *g_mock_bin;
static char g_dir[512], g_log[600], g_reqlog[600];
static sy_mock g_mock;
static sy_gw g_gw;

/* %d: the mock's port; %s: the transport clause */
static const char *CONFIG =
    "server { workers = 1, request_log = \"requests.jsonl\" }\n"
    "provider { id = \"sim\", kind = \"sim\", time_scale = 0 }\n"
    "provider { id = \"an\", kind = \"anthropic\", base_url = \"http://127.0.0.1:%d/v1\",\n"
    "           api_key_env = \"SY_ITEST_ANTH_KEY\", anthropic_version = \"2023-06-01-itest\"%s }\n"
    "model { id = \"good\", provider = \"sim\" }\n"
    "model { id = \"claude\", provider = \"an\", upstream = \"mock?tag=plain\" }\n"
    "model { id = \"claude_s\", provider = \"an\", upstream = \"mock?tag=stream&cache=7\" }\n"
    "model { id = \"echo\", provider = \"an\", upstream = \"mock?echo=1\", max_output = 333 }\n"
    "model { id = \"tool\", provider = \"an\",\n"
    "        upstream = \"mock?tool=get_weather&content=%%7B%%22city%%22%%3A%%22Paris%%22%%7D\" }\n"
    "model { id = \"maxed\", provider = \"an\", upstream = \"mock?stop=max_tokens\" }\n"
    "model { id = \"cut\", provider = \"an\", upstream = \"mock?chunks=4&chunk_ms=20&fail_after_chunks=2\" }\n"
    "model { id = \"a529\", provider = \"an\", upstream = \"mock?status=529\", breaker = false }\n"
    "model { id = \"a429\", provider = \"an\", upstream = \"mock?status=429&retry_after=1\",\n"
    "        breaker = false }\n"
    "route { name = \"over\", policy = \"chain.lua\", default = \"good\",\n"
    "        options = { chain = { \"a529\", \"good\" } } }\n"
    "route { name = \"only529\", policy = \"chain.lua\", default = \"good\",\n"
    "        options = { chain = { \"a529\" } } }\n"
    "route { name = \"rl\", policy = \"chain.lua\", default = \"good\", retries = 1,\n"
    "        options = { chain = { \"a429\", \"good\" } } }\n";

static int start(void)
{
    char path[600], cfg[4096];
    const char *transport = getenv("SY_ITEST_TRANSPORT");
    char clause[64] = "";
    if (transport && *transport) snprintf(clause, sizeof clause, ", transport = \"%s\"", transport);
    if (sy_it_tmpdir(g_dir, sizeof g_dir) != 0 || sy_mock_start(&g_mock, g_mock_bin, NULL) != 0)
        return -1;
    snprintf(cfg, sizeof cfg, CONFIG, g_mock.port, clause);
    sy_it_write_file(g_dir, "chain.lua", SY_IT_CHAIN_POLICY, path, sizeof path);
    if (sy_it_write_file(g_dir, "config.lua", cfg, path, sizeof path) != 0) return -1;
    snprintf(g_log, sizeof g_log, "%s/gw.log", g_dir);
    snprintf(g_reqlog, sizeof g_reqlog, "%s/requests.jsonl", g_dir);
    char *const env[] = {"SY_ITEST_ANTH_KEY=" KEY, NULL};
    return sy_gw_start(&g_gw, g_bin, path, 1, env, g_log);
}

static void post(sy_resp *r, const char *body)
{
    char url[160];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g_gw.base);
    CHECK(sy_http_post(r, url, body, NULL) == 0);
    CHECK(!strstr(r->body, KEY));
}

static void chat(sy_resp *r, const char *model, int stream)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",%s\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", model,
             stream ? "\"stream\":true," : "");
    post(r, body);
}

static double metric(const char *series)
{
    sy_resp r;
    char url[160];
    double v = -1;
    snprintf(url, sizeof url, "%s/metrics", g_gw.base);
    if (sy_http_get(&r, url) == 0) {
        size_t n = strlen(series);
        for (const char *p = r.body; (p = strstr(p, series)); p += n)
            if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
                v = atof(p + n + 1);
                break;
            }
    }
    sy_resp_free(&r);
    return v;
}

TEST(text_answer_with_key_and_version_headers)
{
    sy_resp r;
    sy_mock_reset(&g_mock);
    chat(&r, "claude", 0);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "claude:200");
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "object"), "chat.completion");
    CHECK_STR(sy_json_str(j, "model"), "claude");
    CHECK_STR(sy_json_str(j, "choices.0.message.role"), "assistant");
    CHECK_STR(sy_json_str(j, "choices.0.message.content"), "Hello from mock?tag=plain");
    CHECK_STR(sy_json_str(j, "choices.0.finish_reason"), "stop");
    CHECK(sy_json_num(j, "usage.completion_tokens", -1) == 3);
    CHECK(sy_json_num(j, "usage.prompt_tokens", -1) == 1);
    CHECK(sy_json_num(j, "usage.total_tokens", -1) == 4);
    CHECK_CONTAINS(sy_json_str(j, "id"), "msg_mock_");
    cJSON_Delete(j);
    sy_resp_free(&r);
    cJSON *st = sy_mock_stats(&g_mock);
    CHECK_STR(sy_json_str(st, "last_api_key"), KEY);
    CHECK_STR(sy_json_str(st, "last_anthropic_version"), "2023-06-01-itest");
    CHECK_STR(sy_json_str(st, "last_authorization"), ""); /* no bearer token for Anthropic */
    CHECK(sy_json_num(st, "by_model.mock?tag=plain", 0) == 1);
    cJSON_Delete(st);
    /* stop_reason max_tokens → finish_reason length */
    chat(&r, "maxed", 0);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "choices.0.finish_reason"), "length");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(echo_shows_the_translated_body)
{
    sy_resp r;
    post(&r, "{\"model\":\"echo\",\"temperature\":1.5,\"stop\":\"END\",\"user\":\"u1\","
             "\"tool_choice\":\"auto\",\"parallel_tool_calls\":false,\"seed\":3,"
             "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
             "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}],"
             "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
             "{\"role\":\"developer\",\"content\":\"Use SI.\"},"
             "{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"user\",\"content\":\"there\"}]}");
    CHECK(r.status == 200);
    cJSON *j = sy_resp_json(&r);
    const char *content = sy_json_str(j, "choices.0.message.content");
    cJSON *sent = content ? cJSON_Parse(content) : NULL;
    CHECK(sent != NULL);
    CHECK_STR(sy_json_str(sent, "model"), "mock?echo=1");
    CHECK_STR(sy_json_str(sent, "system"), "Be brief.\n\nUse SI.");
    CHECK(sy_json_num(sent, "max_tokens", -1) == 333); /* the model's max_output */
    CHECK(sy_json_num(sent, "temperature", -1) == 1);
    CHECK_STR(sy_json_str(sent, "stop_sequences.0"), "END");
    CHECK_STR(sy_json_str(sent, "metadata.user_id"), "u1");
    CHECK_STR(sy_json_str(sent, "tools.0.name"), "get_weather");
    CHECK_STR(sy_json_str(sent, "tools.0.input_schema.properties.city.type"), "string");
    CHECK_STR(sy_json_str(sent, "tool_choice.type"), "auto");
    CHECK(cJSON_IsTrue(sy_json_at(sent, "tool_choice.disable_parallel_tool_use")));
    CHECK(sy_json_at(sent, "seed") == NULL);
    CHECK(sy_json_at(sent, "stream") == NULL);
    /* the two user messages merged into one */
    CHECK(cJSON_GetArraySize(sy_json_at(sent, "messages")) == 1);
    CHECK_STR(sy_json_str(sent, "messages.0.role"), "user");
    CHECK_STR(sy_json_str(sent, "messages.0.content.1.text"), "there");
    cJSON_Delete(sent);
    cJSON_Delete(j);
    sy_resp_free(&r);
    /* the request's own budget wins */
    post(&r, "{\"model\":\"echo\",\"max_completion_tokens\":50,\"max_tokens\":60,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    j = sy_resp_json(&r);
    sent = cJSON_Parse(sy_json_str(j, "choices.0.message.content") ? sy_json_str(j, "choices.0.message.content") : "");
    CHECK(sy_json_num(sent, "max_tokens", -1) == 50);
    cJSON_Delete(sent);
    cJSON_Delete(j);
    sy_resp_free(&r);
}

/* Content, finish_reason and the usage chunk of a stream. */
static void read_stream(const sy_resp *r, char **content, const char **finish, double *pt,
                        double *ct, int *done)
{
    sy_sse sse = {0};
    *finish = NULL;
    *pt = *ct = -1;
    CHECK(sy_sse_parse(r, &sse) == 0);
    *content = sy_sse_content(&sse);
    *done = sse.done_last;
    static char fin[32];
    for (size_t i = 0; i < sse.n; i++) {
        cJSON *c = cJSON_Parse(sse.ev[i].data);
        const char *f = sy_json_str(c, "choices.0.finish_reason");
        if (f) {
            snprintf(fin, sizeof fin, "%s", f);
            *finish = fin;
        }
        if (sy_json_at(c, "usage") && cJSON_GetArraySize(sy_json_at(c, "choices")) == 0) {
            *pt = sy_json_num(c, "usage.prompt_tokens", -1);
            *ct = sy_json_num(c, "usage.completion_tokens", -1);
        }
        if (i == 0) CHECK_STR(sy_json_str(c, "choices.0.delta.role"), "assistant");
        cJSON_Delete(c);
    }
    sy_sse_free(&sse);
}

TEST(stream_text_and_usage_billed)
{
    sy_resp r;
    char *content;
    const char *finish;
    double pt, ct;
    int done;
    chat(&r, "claude_s", 1);
    CHECK(r.status == 200);
    CHECK_CONTAINS(sy_resp_header(&r, "content-type"), "text/event-stream");
    read_stream(&r, &content, &finish, &pt, &ct, &done);
    CHECK_STR(content, "Hello from mock?tag=stream&cache=7");
    CHECK_STR(finish, "stop");
    CHECK(done);
    CHECK(pt == -1); /* the client did not ask for usage: not sent... */
    free(content);
    sy_resp_free(&r);
    /* ...but billed: prompt 1 (the mock's count) + 7 cache-read tokens, 3 words out */
    CHECK(metric("switchyard_tokens_in_total{model=\"claude_s\"}") == 8);
    CHECK(metric("switchyard_tokens_out_total{model=\"claude_s\"}") == 3);
    post(&r, "{\"model\":\"claude_s\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    read_stream(&r, &content, &finish, &pt, &ct, &done);
    CHECK(pt == 8 && ct == 3);
    CHECK(done);
    free(content);
    sy_resp_free(&r);
    CHECK(metric("switchyard_tokens_out_total{model=\"claude_s\"}") == 6);
}

TEST(tool_calls_streamed_or_not)
{
    sy_resp r;
    chat(&r, "tool", 0);
    CHECK(r.status == 200);
    cJSON *j = sy_resp_json(&r);
    CHECK(cJSON_IsNull(sy_json_at(j, "choices.0.message.content")));
    CHECK_STR(sy_json_str(j, "choices.0.message.tool_calls.0.id"), "toolu_mock");
    CHECK_STR(sy_json_str(j, "choices.0.message.tool_calls.0.type"), "function");
    CHECK_STR(sy_json_str(j, "choices.0.message.tool_calls.0.function.name"), "get_weather");
    CHECK_STR(sy_json_str(j, "choices.0.message.tool_calls.0.function.arguments"),
              "{\"city\":\"Paris\"}");
    CHECK_STR(sy_json_str(j, "choices.0.finish_reason"), "tool_calls");
    cJSON_Delete(j);
    sy_resp_free(&r);

    chat(&r, "tool", 1);
    CHECK(r.status == 200);
    sy_sse sse = {0};
    CHECK(sy_sse_parse(&r, &sse) == 0);
    CHECK(sse.done_last);
    char args[256] = "";
    const char *id = NULL, *name = NULL, *finish = NULL;
    cJSON *keep[64];
    size_t nk = 0;
    for (size_t i = 0; i < sse.n && nk < 64; i++) {
        cJSON *c = cJSON_Parse(sse.ev[i].data);
        if (!c) continue;
        keep[nk++] = c;
        const cJSON *tc = sy_json_at(c, "choices.0.delta.tool_calls.0");
        if (tc) {
            CHECK(sy_json_num(tc, "index", -1) == 0);
            if (sy_json_str(tc, "id")) id = sy_json_str(tc, "id");
            if (sy_json_str(tc, "function.name")) name = sy_json_str(tc, "function.name");
            const char *piece = sy_json_str(tc, "function.arguments");
            if (piece) strncat(args, piece, sizeof args - strlen(args) - 1);
        }
        if (sy_json_str(c, "choices.0.finish_reason")) finish = sy_json_str(c, "choices.0.finish_reason");
    }
    CHECK_STR(id, "toolu_mock");
    CHECK_STR(name, "get_weather");
    CHECK_STR(args, "{\"city\":\"Paris\"}");
    CHECK_STR(finish, "tool_calls");
    for (size_t i = 0; i < nk; i++) cJSON_Delete(keep[i]);
    sy_sse_free(&sse);
    sy_resp_free(&r);
}

/* Anthropic in, Anthropic out: a Messages client reaches an anthropic model through the
 * internal shape both ways and gets back what the upstream said, tool_use included. */
TEST(messages_in_to_an_anthropic_model)
{
    sy_resp r;
    char url[160];
    const char *const hdr[] = {"anthropic-version: 2023-06-01", NULL};
    snprintf(url, sizeof url, "%s/v1/messages", g_gw.base);
    CHECK(sy_http_post(&r, url,
                       "{\"model\":\"tool\",\"max_tokens\":64,"
                       "\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}],"
                       "\"tool_choice\":{\"type\":\"tool\",\"name\":\"get_weather\"},"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}]}",
                       hdr) == 0);
    CHECK(r.status == 200);
    CHECK(!strstr(r.body, KEY));
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "type"), "message");
    CHECK_STR(sy_json_str(j, "model"), "tool");
    CHECK_STR(sy_json_str(j, "stop_reason"), "tool_use");
    CHECK_STR(sy_json_str(j, "content.0.type"), "tool_use");
    CHECK_STR(sy_json_str(j, "content.0.id"), "toolu_mock");
    CHECK_STR(sy_json_str(j, "content.0.name"), "get_weather");
    CHECK_STR(sy_json_str(j, "content.0.input.city"), "Paris");
    cJSON_Delete(j);
    sy_resp_free(&r);

    CHECK(sy_http_post(&r, url,
                       "{\"model\":\"claude_s\",\"max_tokens\":64,\"stream\":true,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                       hdr) == 0);
    CHECK(r.status == 200);
    sy_sse sse = {0};
    CHECK(sy_sse_parse(&r, &sse) == 0);
    char text[256] = "";
    const char *first = NULL, *last = NULL, *stop = NULL;
    double out = -1;
    cJSON *keep[64];
    size_t nk = 0;
    for (size_t i = 0; i < sse.n && nk < 64; i++) {
        cJSON *c = cJSON_Parse(sse.ev[i].data);
        if (!c) continue;
        keep[nk++] = c;
        const char *type = sy_json_str(c, "type");
        if (!first) first = type;
        last = type;
        if (type && !strcmp(type, "content_block_delta") && sy_json_str(c, "delta.text"))
            strncat(text, sy_json_str(c, "delta.text"), sizeof text - strlen(text) - 1);
        if (type && !strcmp(type, "message_delta")) {
            stop = sy_json_str(c, "delta.stop_reason");
            out = sy_json_num(c, "usage.output_tokens", -1);
        }
    }
    CHECK_STR(first, "message_start");
    CHECK_STR(last, "message_stop");
    CHECK(strstr(r.body, "event: content_block_delta\n") != NULL);
    CHECK_STR(text, "Hello from mock?tag=stream&cache=7");
    CHECK_STR(stop, "end_turn");
    CHECK(out == 3);
    for (size_t i = 0; i < nk; i++) cJSON_Delete(keep[i]);
    sy_sse_free(&sse);
    sy_resp_free(&r);
}

TEST(overloaded_529_falls_over_and_keeps_the_message)
{
    sy_resp r;
    chat(&r, "over", 0);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "a529:529, good:200");
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "good");
    sy_resp_free(&r);
    /* alone: every attempt overloaded is "unavailable", 503, with the upstream's message */
    chat(&r, "only529", 0);
    CHECK(r.status == 503);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "a529:529");
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "upstream_unavailable");
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "a529: HTTP 529: Overloaded");
    CHECK(sy_json_num(j, "error.attempts.0.status", 0) == 529);
    CHECK_STR(sy_json_str(j, "error.attempts.0.outcome"), "http");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(rate_limit_429_retry_after_is_honoured)
{
    sy_resp r;
    double t0 = sy_it_now_ms();
    chat(&r, "rl", 0);
    double took = sy_it_now_ms() - t0;
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "a429:429, a429:429, good:200");
    CHECK(took >= 950 && took < 3000);
    sy_resp_free(&r);
}

TEST(stream_cut_short_ends_with_an_error_event)
{
    sy_resp r;
    /* (chunk_ms: the first delta is read before the close, on a reused connection too) */
    chat(&r, "cut", 1);
    CHECK(r.status == 200);
    sy_sse sse = {0};
    CHECK(sy_sse_parse(&r, &sse) == 0);
    CHECK(!sse.done);
    CHECK(sse.n >= 2);
    /* committed: the client has the first delta, then one error event and no [DONE] */
    if (sse.n) CHECK_CONTAINS(sse.ev[0].data, "\"role\":\"assistant\"");
    if (sse.n) CHECK_CONTAINS(sse.ev[sse.n - 1].data, "upstream cut failed mid-stream");
    sy_sse_free(&sse);
    sy_resp_free(&r);
}

TEST(a_request_anthropic_cannot_take_is_a_400)
{
    sy_resp r;
    sy_mock_reset(&g_mock);
    post(&r, "{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
             "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
             "\"function\":{\"name\":\"f\",\"arguments\":\"{oops\"}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"r\"}]}");
    CHECK(r.status == 400);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-attempts"), "claude:400");
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "unsupported_by_provider");
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "arguments is not a JSON object");
    cJSON_Delete(j);
    sy_resp_free(&r);
    CHECK(sy_mock_stat(&g_mock, "requests") == 0); /* nothing was sent */
}

TEST(anthropic_version_on_an_openai_provider_is_a_config_error)
{
    char path[600], err[600];
    sy_it_write_file(g_dir, "bad.lua",
                     "provider { id = \"o\", kind = \"openai\", base_url = \"http://127.0.0.1:9/v1\",\n"
                     "           anthropic_version = \"2023-06-01\" }\n"
                     "model { id = \"m\", provider = \"o\" }\n",
                     path, sizeof path);
    snprintf(err, sizeof err, "%s/check.err", g_dir);
    char *argv[] = {(char *)g_bin, "check", path, NULL};
    sy_proc p = {0};
    CHECK(sy_proc_spawn(&p, argv, NULL, 0, err) == 0);
    CHECK(sy_proc_wait(&p, 10000) == 1);
    CHECK(sy_proc_exit_code(&p) == 1);
    char *text = sy_it_read_file(err, NULL);
    char want[700];
    snprintf(want, sizeof want, "%s:1: provider[o].anthropic_version: only applies to an anthropic provider",
             path);
    CHECK_CONTAINS(text, want);
    free(text);
    sy_proc_stop(&p, 1000);
}

TEST(the_key_is_never_logged)
{
    char *log = sy_it_read_file(g_log, NULL);
    char *reqlog = sy_it_read_file(g_reqlog, NULL);
    CHECK(log != NULL && reqlog != NULL);
    CHECK(log && !strstr(log, KEY));
    CHECK(reqlog && !strstr(reqlog, KEY));
    /* the upstream's message is in the attempt's log line */
    CHECK_CONTAINS(log, "attempt on a529 failed: HTTP 529: Overloaded");
    free(log);
    free(reqlog);
}

int main(int argc, char **argv)
{
    if (sy_it_args(argc, argv, &g_bin, &g_mock_bin) != 0) return 2;
    if (start() != 0) {
        fprintf(stderr, "test_anthropic_out: could not start the mock and the gateway\n");
        sy_mock_stop(&g_mock);
        return 1;
    }
    RUN_SEL(text_answer_with_key_and_version_headers);
    RUN_SEL(echo_shows_the_translated_body);
    RUN_SEL(stream_text_and_usage_billed);
    RUN_SEL(tool_calls_streamed_or_not);
    RUN_SEL(messages_in_to_an_anthropic_model);
    RUN_SEL(overloaded_529_falls_over_and_keeps_the_message);
    RUN_SEL(rate_limit_429_retry_after_is_honoured);
    RUN_SEL(stream_cut_short_ends_with_an_error_event);
    RUN_SEL(a_request_anthropic_cannot_take_is_a_400);
    RUN_SEL(anthropic_version_on_an_openai_provider_is_a_config_error);
    sy_it_sleep_ms(200); /* the request log is written by a background thread */
    RUN_SEL(the_key_is_never_logged);
    sy_gw_stop(&g_gw);
    sy_mock_stop(&g_mock);
    char *log = sy_it_read_file(g_log, NULL);
    CHECK(!sy_it_sanitizer_report(log));
    if (sy_it_sanitizer_report(log)) fprintf(stderr, "%s", log);
    free(log);
    sy_it_rmtree(g_dir);
    curl_global_cleanup();
    return sy_test_summary();
}
