/* test_context.c — context-window routing end to end: the real gateway, a mock upstream that
 * echoes the messages it received, and the `switchyard tokens` command. Every outcome of the
 * issue: a model skipped (and said so), 400 context_length_exceeded with the numbers, the
 * drop_oldest and middle_out truncations (what reached the upstream), and explain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sy_itest.h"
#include "sy_test.h"

static const char *g_bin, *g_mock_bin;
static sy_it_env g_env;
#define g_mock (g_env.mock)
#define g_gw (g_env.gw)
#define g_dir (g_env.dir)

static const char *CONFIG_FMT =
    "server { workers = 1 }\n"
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"
    "model { id = \"tiny\", provider = \"m\", upstream = \"mock?echo=1&tag=tiny\",\n"
    "        context_window = 100, output_reserve = 20, tokenizer = \"o200k_base\" }\n"
    "model { id = \"mid\", provider = \"m\", upstream = \"mock?echo=1&tag=mid\",\n"
    "        context_window = 400, output_reserve = 20, tokenizer = \"o200k_base\" }\n"
    "model { id = \"big\", provider = \"m\", upstream = \"mock?echo=1&tag=big\",\n"
    "        context_window = 4000, tokenizer = \"cl100k_base\" }\n"
    "model { id = \"est\", provider = \"m\", upstream = \"mock?echo=1&tag=est\",\n"
    "        context_window = 100, output_reserve = 20, tokenizer = \"estimate\" }\n"
    "route { name = \"chain\", policy = \"chain.lua\", default = \"tiny\" }\n"
    "route { name = \"small\", policy = \"small.lua\", default = \"tiny\" }\n"
    "route { name = \"drop\", policy = \"small.lua\", default = \"tiny\", truncate = \"drop_oldest\" }\n"
    "route { name = \"middle\", policy = \"small.lua\", default = \"tiny\", truncate = \"middle_out\" }\n"
    "route { name = \"withest\", policy = \"withest.lua\", default = \"mid\" }\n";

static const char *CHAIN =
    "local sy = require 'switchyard'\n"
    "return { route = function(req) return sy.chain{ 'tiny', 'mid', 'big', reason = 'all' } end }\n";
static const char *SMALL =
    "local sy = require 'switchyard'\n"
    "return { route = function(req) return sy.chain{ 'tiny', 'mid', reason = 'small ones' } end }\n";
static const char *WITHEST =
    "local sy = require 'switchyard'\n"
    "return { route = function(req)\n"
    "  local n, est = sy.tokens('est', req)\n"
    "  return sy.chain{ 'est', 'mid', reason = string.format('est=%d %s', n, tostring(est)) }\n"
    "end }\n";

/* n words "w0 w1 …" with a tag in front: about one token per word */
static char *words(const char *tag, int n)
{
    size_t cap = strlen(tag) + (size_t)n * 8 + 16;
    char *s = malloc(cap);
    size_t k = (size_t)snprintf(s, cap, "%s", tag);
    for (int i = 0; i < n; i++) k += (size_t)snprintf(s + k, cap - k, " word%d", i % 10);
    return s;
}

static void post(sy_resp *r, const char *path, const char *body)
{
    char url[160];
    snprintf(url, sizeof url, "%s%s", g_gw.base, path);
    CHECK(sy_http_post(r, url, body, NULL) == 0);
}

static char *one_user(const char *model, const char *text, long max_tokens)
{
    size_t cap = strlen(text) + 256;
    char *b = malloc(cap);
    if (max_tokens >= 0)
        snprintf(b, cap,
                 "{\"model\":\"%s\",\"max_tokens\":%ld,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"%s\"}]}",
                 model, max_tokens, text);
    else
        snprintf(b, cap, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                 model, text);
    return b;
}

/* The messages the upstream received, from the echo answer. */
static cJSON *echoed(const sy_resp *r)
{
    cJSON *j = sy_resp_json(r);
    const char *content = sy_json_str(j, "choices.0.message.content");
    cJSON *msgs = content ? cJSON_Parse(content) : NULL;
    cJSON_Delete(j);
    return msgs;
}

/* A conversation: a system message, `turns` user/assistant pairs of n words each ("turnK"
 * first), and a final short user question. With tools: turn 0's answer is a tool call with
 * its result. */
static char *conversation(const char *model, int turns, int n, int tools)
{
    size_t cap = (size_t)turns * 2 * ((size_t)n * 8 + 128) + 1024;
    char *b = malloc(cap);
    size_t k = (size_t)snprintf(b, cap,
                                "{\"model\":\"%s\",\"messages\":[{\"role\":\"system\","
                                "\"content\":\"You are terse.\"}",
                                model);
    for (int t = 0; t < turns; t++) {
        char tag[32];
        snprintf(tag, sizeof tag, "turn%d", t);
        char *w = words(tag, n);
        k += (size_t)snprintf(b + k, cap - k, ",{\"role\":\"user\",\"content\":\"%s\"}", w);
        if (tools && t == 0)
            k += (size_t)snprintf(
                b + k, cap - k,
                ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call1\","
                "\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"{}\"}}]}"
                ",{\"role\":\"tool\",\"tool_call_id\":\"call1\",\"content\":\"%s\"}",
                w);
        else
            k += (size_t)snprintf(b + k, cap - k, ",{\"role\":\"assistant\",\"content\":\"%s\"}", w);
        free(w);
    }
    snprintf(b + k, cap - k, ",{\"role\":\"user\",\"content\":\"last question?\"}]}");
    return b;
}

/* `switchyard tokens ARGS… FILE` → stdout's first line; exit code in *code. */
static int run_tokens(const char *const args[], const char *input, char *out, size_t cap,
                      char *errout, size_t errcap)
{
    char path[600], errpath[600];
    char *argv[12];
    int n = 0;
    if (input) sy_it_write_file(g_dir, "tokens-in.txt", input, path, sizeof path);
    snprintf(errpath, sizeof errpath, "%s/tokens-err.txt", g_dir);
    argv[n++] = (char *)g_bin;
    argv[n++] = "tokens";
    for (int i = 0; args[i] && n < 10; i++) argv[n++] = (char *)args[i];
    if (input) argv[n++] = path;
    argv[n] = NULL;
    sy_proc p = {0};
    out[0] = '\0';
    if (sy_proc_spawn(&p, argv, NULL, 1, errpath) != 0) return -1;
    if (sy_proc_read_line(&p, out, cap, 10000) < 0) out[0] = '\0';
    sy_proc_wait(&p, 10000);
    int code = sy_proc_stop(&p, 1000);
    char *e = sy_it_read_file(errpath, NULL);
    snprintf(errout, errcap, "%s", e ? e : "");
    free(e);
    return code;
}

TEST(short_request_goes_to_the_first_model)
{
    sy_resp r;
    char *b = one_user("chain", "hi", -1);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "tiny");
    CHECK(sy_resp_header(&r, "x-switchyard-skipped") == NULL);
    sy_resp_free(&r);
    free(b);
}

TEST(too_long_for_the_first_model_skips_it)
{
    sy_resp r;
    sy_mock_reset(&g_mock);
    char *w = words("long", 150);
    char *b = one_user("chain", w, -1);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "mid");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-skipped"), "tiny:context(");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-skipped"), ">100)");
    /* it was never sent to tiny: no attempt, no upstream request */
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-attempts"), "mid:200");
    CHECK(strstr(sy_resp_header(&r, "x-switchyard-attempts"), "tiny") == NULL);
    CHECK(sy_mock_model_count(&g_mock, "mock?echo=1&tag=tiny") == 0);
    CHECK(sy_mock_model_count(&g_mock, "mock?echo=1&tag=mid") == 1);
    sy_resp_free(&r);
    free(b);
    free(w);
}

TEST(max_tokens_counts_against_the_window)
{
    sy_resp r;
    char *b = one_user("chain", "hi", 300);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "mid");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-skipped"), "tiny:context(");
    sy_resp_free(&r);
    free(b);
    /* more than mid takes, too: big (cl100k) answers */
    b = one_user("chain", "hi", 1000);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "big");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-skipped"), "mid:context(");
    sy_resp_free(&r);
    free(b);
}

TEST(direct_model_too_long_is_400_with_the_numbers)
{
    sy_resp r;
    sy_mock_reset(&g_mock);
    char *w = words("long", 150);
    char *b = one_user("tiny", w, -1);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 400);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "context_length_exceeded");
    CHECK_STR(sy_json_str(j, "error.type"), "invalid_request_error");
    CHECK_STR(sy_json_str(j, "error.param"), "messages");
    CHECK(sy_json_num(j, "error.context_window", 0) == 100);
    CHECK(sy_json_num(j, "error.output_tokens", 0) == 20);
    CHECK_STR(sy_json_str(j, "error.largest_model"), "tiny");
    CHECK(sy_json_at(j, "error.tokens_estimated") && cJSON_IsFalse(sy_json_at(j, "error.tokens_estimated")));
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "context window");
    /* the prompt count is the one `switchyard tokens --chat` gives */
    char out[64], err[512];
    const char *args[] = {"--chat", NULL};
    CHECK(run_tokens(args, b, out, sizeof out, err, sizeof err) == 0);
    CHECK(sy_json_num(j, "error.prompt_tokens", -1) == atof(out));
    CHECK(atof(out) > 80);
    cJSON_Delete(j);
    CHECK(sy_mock_stat(&g_mock, "requests") == 0);
    CHECK(sy_resp_header(&r, "x-request-id") != NULL);
    sy_resp_free(&r);
    free(b);
    free(w);
}

TEST(no_candidate_fits_is_400_naming_the_largest)
{
    sy_resp r;
    char *w = words("long", 500);
    char *b = one_user("small", w, -1);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 400);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "context_length_exceeded");
    CHECK_STR(sy_json_str(j, "error.largest_model"), "mid");
    CHECK(sy_json_num(j, "error.context_window", 0) == 400);
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "truncate");
    cJSON_Delete(j);
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-skipped"), "tiny:context(");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-skipped"), "mid:context(");
    sy_resp_free(&r);

    /* the same decision explained, calling no upstream */
    post(&r, "/v1/route?explain=1", b);
    CHECK(r.status == 200);
    j = sy_resp_json(&r);
    CHECK(cJSON_IsTrue(sy_json_at(j, "context_length_exceeded")));
    CHECK_STR(sy_json_str(j, "truncate"), "none");
    CHECK_STR(sy_json_str(j, "skipped.0.model"), "tiny");
    CHECK_STR(sy_json_str(j, "skipped.1.model"), "mid");
    CHECK(sy_json_num(j, "skipped.1.needs", 0) > 400);
    CHECK_STR(sy_json_str(j, "tokenizer"), "o200k_base");
    const cJSON *c;
    int seen = 0;
    cJSON_ArrayForEach(c, sy_json_at(j, "candidates"))
    {
        if (strcmp(sy_json_str(c, "model"), "mid") != 0) continue;
        seen = 1;
        CHECK(sy_json_num(c, "prompt_tokens", 0) > 400);
        CHECK(cJSON_IsFalse(sy_json_at(c, "fits_context")));
        CHECK_CONTAINS(sy_json_str(c, "why"), "skipped at execution");
    }
    CHECK(seen);
    cJSON_Delete(j);
    sy_resp_free(&r);
    free(b);
    free(w);
}

TEST(drop_oldest_keeps_system_and_recent_turns)
{
    sy_resp r;
    char *b = conversation("drop", 8, 40, 0);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "mid");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-truncation"), "drop_oldest; removed_messages=");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-truncation"), "model=mid");
    cJSON *m = echoed(&r);
    CHECK(m != NULL);
    int n = cJSON_GetArraySize(m);
    CHECK(n >= 3 && n < 18);
    CHECK_STR(sy_json_str(m, "0.role"), "system");
    CHECK_STR(sy_json_str(m, "0.content"), "You are terse.");
    CHECK_STR(sy_json_str(cJSON_GetArrayItem(m, n - 1), "content"), "last question?");
    /* the oldest turn went, the newest stayed, and what stayed is a suffix */
    char *text = cJSON_PrintUnformatted(m);
    CHECK(strstr(text, "turn0") == NULL);
    CHECK(strstr(text, "turn7") != NULL);
    free(text);
    cJSON_Delete(m);
    sy_resp_free(&r);
    free(b);
}

TEST(middle_out_keeps_both_ends)
{
    sy_resp r;
    char *b = conversation("middle", 8, 40, 0);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 200);
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-truncation"), "middle_out; removed_messages=");
    cJSON *m = echoed(&r);
    CHECK(m != NULL);
    char *text = cJSON_PrintUnformatted(m);
    CHECK(strstr(text, "You are terse.") != NULL);
    CHECK(strstr(text, "turn0") != NULL);  /* the first turn stays */
    CHECK(strstr(text, "last question?") != NULL);
    CHECK(strstr(text, "turn4") == NULL);  /* the middle went */
    free(text);
    cJSON_Delete(m);
    sy_resp_free(&r);
    free(b);
}

TEST(middle_out_cuts_one_long_message)
{
    sy_resp r;
    char *w = words("START", 600);
    size_t n = strlen(w);
    char *w2 = malloc(n + 8);
    snprintf(w2, n + 8, "%s END", w);
    char *b = one_user("middle", w2, -1);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 200);
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-truncation"), "cut_message=1");
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "mid");
    cJSON *m = echoed(&r);
    const char *content = sy_json_str(m, "0.content");
    CHECK(content != NULL);
    if (content) {
        CHECK(strncmp(content, "START", 5) == 0);
        CHECK(strlen(content) > 4 && strcmp(content + strlen(content) - 4, " END") == 0);
        CHECK_CONTAINS(content, "[\xe2\x80\xa6]");
        CHECK(strlen(content) < n);
    }
    cJSON_Delete(m);
    sy_resp_free(&r);
    free(b);
    free(w);
    free(w2);
}

TEST(drop_oldest_that_cannot_fit_is_400)
{
    sy_resp r;
    char *w = words("huge", 600);
    char *b = one_user("drop", w, -1);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 400);
    cJSON *j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.code"), "context_length_exceeded");
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "drop_oldest could not make it fit");
    cJSON_Delete(j);
    CHECK(sy_resp_header(&r, "x-switchyard-truncation") == NULL);
    sy_resp_free(&r);
    free(b);
    free(w);
}

TEST(truncation_keeps_tool_calls_with_their_results)
{
    sy_resp r;
    char *b = conversation("drop", 8, 40, 1);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 200);
    cJSON *m = echoed(&r);
    CHECK(m != NULL);
    const cJSON *msg, *prev = NULL;
    cJSON_ArrayForEach(msg, m)
    {
        const char *role = sy_json_str(msg, "role");
        if (role && strcmp(role, "tool") == 0) {
            /* a tool result only ever follows the call it answers */
            CHECK(prev && sy_json_at(prev, "tool_calls") != NULL);
        }
        prev = msg;
    }
    cJSON_Delete(m);
    sy_resp_free(&r);
    free(b);
    /* middle_out as well: turn 0 (with its call) is the first group and stays whole */
    b = conversation("middle", 8, 40, 1);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 200);
    m = echoed(&r);
    char *text = cJSON_PrintUnformatted(m);
    CHECK(text && strstr(text, "\"tool_call_id\":\"call1\"") && strstr(text, "\"id\":\"call1\""));
    free(text);
    cJSON_Delete(m);
    sy_resp_free(&r);
    free(b);
}

TEST(estimated_tokenizer_is_marked)
{
    sy_resp r;
    char *w = words("long", 90);
    char *b = one_user("withest", w, -1);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 200);
    CHECK_STR(sy_resp_header(&r, "x-switchyard-model"), "mid");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-skipped"), "est:context(");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-skipped"), "~>100)");
    CHECK_CONTAINS(sy_resp_header(&r, "x-switchyard-route"), " true\"");
    sy_resp_free(&r);
    free(b);
    b = one_user("est", w, -1);
    post(&r, "/v1/chat/completions", b);
    CHECK(r.status == 400);
    cJSON *j = sy_resp_json(&r);
    CHECK(cJSON_IsTrue(sy_json_at(j, "error.tokens_estimated")));
    CHECK_CONTAINS(sy_json_str(j, "error.message"), "estimated");
    cJSON_Delete(j);
    sy_resp_free(&r);
    free(b);
    free(w);
}

TEST(tokens_command)
{
    char out[4096], err[1024];
    const char *plain[] = {NULL};
    CHECK(run_tokens(plain, "hello world", out, sizeof out, err, sizeof err) == 0);
    CHECK_STR(out, "2");
    const char *ids[] = {"--ids", NULL};
    CHECK(run_tokens(ids, "hello world", out, sizeof out, err, sizeof err) == 0);
    CHECK_STR(out, "24912 2375");
    const char *cl[] = {"--encoding", "cl100k_base", "--ids", NULL};
    CHECK(run_tokens(cl, "hello world", out, sizeof out, err, sizeof err) == 0);
    CHECK_STR(out, "15339 1917");
    /* OpenAI cookbook's example conversation: 129 tokens for gpt-4 (cl100k), 124 for gpt-4o */
    static const char *COOKBOOK =
        "{\"model\":\"x\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"You are a helpful, pattern-following assistant that "
        "translates corporate jargon into plain English.\"},"
        "{\"role\":\"system\",\"name\":\"example_user\",\"content\":\"New synergies will help "
        "drive top-line growth.\"},"
        "{\"role\":\"system\",\"name\":\"example_assistant\",\"content\":\"Things working well "
        "together will increase revenue.\"},"
        "{\"role\":\"system\",\"name\":\"example_user\",\"content\":\"Let's circle back when we "
        "have more bandwidth to touch base on opportunities for increased leverage.\"},"
        "{\"role\":\"system\",\"name\":\"example_assistant\",\"content\":\"Let's talk later when "
        "we're less busy about how to do better.\"},"
        "{\"role\":\"user\",\"content\":\"This late pivot means we don't have time to boil the "
        "ocean for the client deliverable.\"}]}";
    const char *chat_cl[] = {"--chat", "--encoding", "cl100k_base", NULL};
    CHECK(run_tokens(chat_cl, COOKBOOK, out, sizeof out, err, sizeof err) == 0);
    CHECK_STR(out, "129");
    const char *chat_o[] = {"--chat", NULL};
    CHECK(run_tokens(chat_o, COOKBOOK, out, sizeof out, err, sizeof err) == 0);
    CHECK_STR(out, "124");
    const char *chat_est[] = {"--chat", "--encoding", "estimate", NULL};
    CHECK(run_tokens(chat_est, COOKBOOK, out, sizeof out, err, sizeof err) == 0);
    CHECK_STR(out, "155 (estimate)"); /* ceil(124 * 1.25) */

    /* errors: exit 2 and a message that names the problem */
    const char *bad[] = {"--encoding", "p50k_base", NULL};
    CHECK(run_tokens(bad, "x", out, sizeof out, err, sizeof err) == 2);
    CHECK_CONTAINS(err, "unknown encoding \"p50k_base\"");
    const char *missing[] = {"/nonexistent/in.txt", NULL};
    CHECK(run_tokens(missing, NULL, out, sizeof out, err, sizeof err) == 2);
    CHECK_CONTAINS(err, "cannot open /nonexistent/in.txt");
    const char *notchat[] = {"--chat", NULL};
    CHECK(run_tokens(notchat, "[1,2]", out, sizeof out, err, sizeof err) == 2);
    CHECK_CONTAINS(err, "not a Chat Completions request");
    const char *both[] = {"--chat", "--ids", NULL};
    CHECK(run_tokens(both, "x", out, sizeof out, err, sizeof err) == 2);
    const char *unknown[] = {"--bogus", NULL};
    CHECK(run_tokens(unknown, "x", out, sizeof out, err, sizeof err) == 2);
    CHECK_CONTAINS(err, "unknown option --bogus");
}

int main(int argc, char **argv)
{
    if (sy_it_args(argc, argv, &g_bin, &g_mock_bin) != 0) return 2;
    const char *const files[] = {"chain.lua", CHAIN, "small.lua", SMALL, "withest.lua", WITHEST, NULL};
    if (sy_it_env_start(&g_env, g_bin, g_mock_bin, CONFIG_FMT, files) != 0) return 1;
    RUN_SEL(short_request_goes_to_the_first_model);
    RUN_SEL(too_long_for_the_first_model_skips_it);
    RUN_SEL(max_tokens_counts_against_the_window);
    RUN_SEL(direct_model_too_long_is_400_with_the_numbers);
    RUN_SEL(no_candidate_fits_is_400_naming_the_largest);
    RUN_SEL(drop_oldest_keeps_system_and_recent_turns);
    RUN_SEL(middle_out_keeps_both_ends);
    RUN_SEL(middle_out_cuts_one_long_message);
    RUN_SEL(drop_oldest_that_cannot_fit_is_400);
    RUN_SEL(truncation_keeps_tool_calls_with_their_results);
    RUN_SEL(estimated_tokenizer_is_marked);
    RUN_SEL(tokens_command);
    CHECK(sy_it_env_stop(&g_env, NULL) == 0);
    curl_global_cleanup();
    return sy_test_summary();
}
