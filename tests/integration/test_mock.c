/* test_mock.c — self-test of tests/mock/sy_mock_upstream.c over real sockets: every option the
 * gateway tests lean on (harness: sy_itest.c). */
/* Usage: test_mock PATH/TO/sy-mock-upstream */
#include <stdlib.h>
#include <string.h>

#include "sy_itest.h"
#include "sy_test.h"

static const char *g_mock_bin;
static sy_mock g_mock; /* shared by the tests that need no special flags */

static char *url_of(const sy_mock *m, const char *path)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s%s", m->base, path);
    return buf;
}

/* POSTs {"model": model, "messages": [...], "stream": stream} to the shared mock. */
static int chat(sy_resp *r, const char *model, int stream, const sy_req_opts *extra)
{
    char body[1024];
    sy_req_opts o = {0};

    if (extra) o = *extra;
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there, "
             "mock\"}],\"stream\":%s}",
             model, stream ? "true" : "false");
    o.body = body;
    return sy_http(r, url_of(&g_mock, "/v1/chat/completions"), &o);
}

TEST(test_models_endpoint)
{
    sy_resp r;
    cJSON *j;

    CHECK(sy_http_get(&r, url_of(&g_mock, "/v1/models")) == 0);
    CHECK(r.status == 200);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "object"), "list");
    CHECK_STR(sy_json_str(j, "data.0.id"), "mock");
    CHECK_STR(sy_json_str(j, "data.0.owned_by"), "mock");
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(test_plain_completion)
{
    sy_resp r;
    cJSON *j;
    const char *id;
    double pt, ct;

    CHECK(chat(&r, "mock?tag=plain", 0, NULL) == 0);
    CHECK(r.status == 200);
    CHECK_CONTAINS(sy_resp_header(&r, "content-type"), "application/json");
    j = sy_resp_json(&r);
    CHECK(j != NULL);
    id = sy_json_str(j, "id");
    CHECK(id && strncmp(id, "chatcmpl-mock-", 14) == 0);
    CHECK_STR(sy_json_str(j, "object"), "chat.completion");
    CHECK(sy_json_num(j, "created", 0) > 1600000000);
    CHECK_STR(sy_json_str(j, "model"), "mock?tag=plain");
    CHECK(sy_json_num(j, "choices.0.index", -1) == 0);
    CHECK_STR(sy_json_str(j, "choices.0.message.role"), "assistant");
    CHECK_STR(sy_json_str(j, "choices.0.message.content"), "Hello from mock?tag=plain");
    CHECK_STR(sy_json_str(j, "choices.0.finish_reason"), "stop");
    pt = sy_json_num(j, "usage.prompt_tokens", -1);
    ct = sy_json_num(j, "usage.completion_tokens", -1);
    CHECK(pt >= 1);
    CHECK(ct == 3); /* "Hello from mock?tag=plain" */
    CHECK(sy_json_num(j, "usage.total_tokens", -1) == pt + ct);
    cJSON_Delete(j);
    sy_resp_free(&r);
}

TEST(test_status_and_retry_after)
{
    sy_resp r;
    cJSON *j;

    CHECK(chat(&r, "mock?status=500", 0, NULL) == 0);
    CHECK(r.status == 500);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.message"), "mock error 500");
    CHECK_STR(sy_json_str(j, "error.type"), "server_error");
    CHECK(cJSON_IsNull(sy_json_at(j, "error.param")));
    CHECK(cJSON_IsNull(sy_json_at(j, "error.code")));
    CHECK(sy_resp_header(&r, "retry-after") == NULL);
    cJSON_Delete(j);
    sy_resp_free(&r);

    CHECK(chat(&r, "mock?status=429&retry_after=7", 0, NULL) == 0);
    CHECK(r.status == 429);
    CHECK_STR(sy_resp_header(&r, "Retry-After"), "7");
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.message"), "mock error 429");
    cJSON_Delete(j);
    sy_resp_free(&r);

    /* A status also wins over stream: an error is never an event stream. */
    CHECK(chat(&r, "mock?status=503", 1, NULL) == 0);
    CHECK(r.status == 503);
    CHECK_CONTAINS(sy_resp_header(&r, "content-type"), "application/json");
    sy_resp_free(&r);

    CHECK(chat(&r, "mock?status=400", 0, NULL) == 0);
    CHECK(r.status == 400);
    sy_resp_free(&r);
}

TEST(test_delay)
{
    sy_resp r;

    CHECK(chat(&r, "mock?delay_ms=400", 0, NULL) == 0);
    CHECK(r.status == 200);
    CHECK(r.t_headers_ms >= 380);
    CHECK(r.t_total_ms < 2000);
    sy_resp_free(&r);

    /* The delay holds back the headers of a stream and of an error too. */
    CHECK(chat(&r, "mock?delay_ms=300&chunks=1", 1, NULL) == 0);
    CHECK(r.status == 200);
    CHECK(r.t_headers_ms >= 280);
    sy_resp_free(&r);
    CHECK(chat(&r, "mock?delay_ms=300&status=502", 0, NULL) == 0);
    CHECK(r.status == 502);
    CHECK(r.t_headers_ms >= 280);
    sy_resp_free(&r);
}

TEST(test_reset)
{
    sy_resp r;

    CHECK(chat(&r, "mock?reset=1", 0, NULL) < 0);
    CHECK(r.status == 0);
    CHECK(r.cc == CURLE_GOT_NOTHING || r.cc == CURLE_RECV_ERROR);
    CHECK(r.body_len == 0);
    sy_resp_free(&r);
    /* Also with a delay first; and the mock lives on. */
    CHECK(chat(&r, "mock?reset=1&delay_ms=100", 1, NULL) < 0);
    CHECK(r.status == 0);
    CHECK(r.t_total_ms >= 90);
    sy_resp_free(&r);
    CHECK(chat(&r, "mock", 0, NULL) == 0);
    CHECK(r.status == 200);
    sy_resp_free(&r);
}

TEST(test_garbage)
{
    sy_resp r;

    CHECK(chat(&r, "mock?garbage=1", 0, NULL) == 0);
    CHECK(r.status == 200);
    CHECK_CONTAINS(sy_resp_header(&r, "content-type"), "application/json");
    CHECK_STR(r.body, "this is not json{");
    sy_resp_free(&r);
}

TEST(test_malformed_request)
{
    sy_resp r;
    cJSON *j;

    CHECK(sy_http_post(&r, url_of(&g_mock, "/v1/chat/completions"), "{\"model\": \"mock\",",
                       NULL) == 0);
    CHECK(r.status == 400);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.type"), "invalid_request_error");
    CHECK(sy_json_str(j, "error.message") != NULL);
    cJSON_Delete(j);
    sy_resp_free(&r);

    CHECK(sy_http_post(&r, url_of(&g_mock, "/v1/chat/completions"), "[1,2]", NULL) == 0);
    CHECK(r.status == 400);
    sy_resp_free(&r);
}

TEST(test_content_override)
{
    sy_resp r;
    sy_sse s;
    cJSON *j;
    char *text;

    CHECK(chat(&r, "mock?content=Hi%20there%26co+x", 0, NULL) == 0);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "choices.0.message.content"), "Hi there&co x");
    CHECK(sy_json_num(j, "usage.completion_tokens", -1) == 3);
    cJSON_Delete(j);
    sy_resp_free(&r);

    /* Multi-byte UTF-8 split over more events than bytes: never cut inside a character. */
    CHECK(chat(&r, "mock?content=%C3%A9t%C3%A9&chunks=6", 1, NULL) == 0);
    CHECK(sy_sse_parse(&r, &s) == 0);
    CHECK(s.n == 8); /* 6 content + final + [DONE] */
    text = sy_sse_content(&s);
    CHECK_STR(text, "\xC3\xA9t\xC3\xA9");
    free(text);
    sy_sse_free(&s);
    sy_resp_free(&r);
}

TEST(test_stream_shape)
{
    sy_resp r;
    sy_sse s;
    size_t i;
    char *text;

    CHECK(chat(&r, "mock?tag=s", 1, NULL) == 0);
    CHECK(r.status == 200);
    CHECK(r.cc == CURLE_OK);
    CHECK_CONTAINS(sy_resp_header(&r, "content-type"), "text/event-stream");
    CHECK_STR(sy_resp_header(&r, "transfer-encoding"), "chunked");
    CHECK(sy_sse_parse(&r, &s) == 0);
    CHECK(s.n == 5); /* default 3 content events, the finish event, [DONE] */
    CHECK(s.done && s.done_last);
    CHECK(s.trailing == 0);
    for (i = 0; i + 1 < s.n; i++) {
        cJSON *j = cJSON_Parse(s.ev[i].data);
        const char *id = sy_json_str(j, "id");
        CHECK(j != NULL);
        CHECK(id && strncmp(id, "chatcmpl-mock-", 14) == 0);
        CHECK_STR(sy_json_str(j, "object"), "chat.completion.chunk");
        CHECK_STR(sy_json_str(j, "model"), "mock?tag=s");
        if (i == 0)
            CHECK_STR(sy_json_str(j, "choices.0.delta.role"), "assistant");
        else
            CHECK(sy_json_at(j, "choices.0.delta.role") == NULL);
        if (i + 2 < s.n) {
            CHECK(cJSON_IsNull(sy_json_at(j, "choices.0.finish_reason")));
            CHECK(sy_json_str(j, "choices.0.delta.content") != NULL);
        } else {
            CHECK_STR(sy_json_str(j, "choices.0.finish_reason"), "stop");
            CHECK(cJSON_GetArraySize(sy_json_at(j, "choices.0.delta")) == 0);
        }
        cJSON_Delete(j);
    }
    text = sy_sse_content(&s);
    CHECK_STR(text, "Hello from mock?tag=s");
    free(text);
    sy_sse_free(&s);
    sy_resp_free(&r);
}

TEST(test_stream_usage)
{
    sy_resp r;
    sy_sse s;
    cJSON *j;

    CHECK(sy_http_post(&r, url_of(&g_mock, "/v1/chat/completions"),
                       "{\"model\":\"mock?chunks=2\",\"stream\":true,\"messages\":[{\"role\":"
                       "\"user\",\"content\":\"12345678\"}],\"stream_options\":{"
                       "\"include_usage\":true}}",
                       NULL) == 0);
    CHECK(sy_sse_parse(&r, &s) == 0);
    CHECK(s.n == 5); /* 2 content, finish, usage, [DONE] */
    j = s.n == 5 ? cJSON_Parse(s.ev[3].data) : NULL;
    CHECK(cJSON_GetArraySize(sy_json_at(j, "choices")) == 0);
    CHECK(sy_json_num(j, "usage.prompt_tokens", -1) == 3);
    CHECK(sy_json_num(j, "usage.completion_tokens", -1) == 3);
    cJSON_Delete(j);
    sy_sse_free(&s);
    sy_resp_free(&r);
}

TEST(test_stream_chunk_timing)
{
    sy_resp r;
    sy_sse s;
    size_t i;

    CHECK(chat(&r, "mock?chunks=5&chunk_ms=200", 1, NULL) == 0);
    CHECK(sy_sse_parse(&r, &s) == 0);
    CHECK(s.n == 7);
    if (s.n == 7) {
        /* Event i leaves at i*200 ms: each arrives on its own, never batched. */
        CHECK(s.ev[0].t_ms < 150);
        for (i = 1; i < 6; i++)
            CHECK(s.ev[i].t_ms - s.ev[i - 1].t_ms >= 150);
        CHECK(s.ev[6].t_ms >= 950);
        CHECK(r.n_pieces >= 6);
    }
    CHECK(r.t_total_ms >= 950 && r.t_total_ms < 3000);
    sy_sse_free(&s);
    sy_resp_free(&r);
}

TEST(test_stream_stall)
{
    sy_resp r;
    sy_sse s;

    CHECK(chat(&r, "mock?chunks=2&stall_ms=600", 1, NULL) == 0);
    CHECK(r.status == 200);
    CHECK(r.t_headers_ms >= 0 && r.t_headers_ms < 300);
    CHECK(sy_sse_parse(&r, &s) == 0);
    CHECK(s.n == 4);
    CHECK(s.n > 0 && s.ev[0].t_ms >= 580);
    sy_sse_free(&s);
    sy_resp_free(&r);
}

TEST(test_stream_fail_after_chunks)
{
    sy_resp r;
    sy_sse s;
    char *text;

    CHECK(chat(&r,
               "mock?chunks=5&chunk_ms=50&fail_after_chunks=2&content=aaaaabbbbbccccc"
               "dddddeeeee",
               1, NULL) == 0);
    CHECK(r.status == 200);
    CHECK(r.cc != CURLE_OK); /* no terminating chunk: curl sees the cut */
    CHECK(sy_sse_parse(&r, &s) == 0);
    CHECK(s.n == 2);
    CHECK(!s.done);
    CHECK(s.trailing == 0); /* the two events arrived whole */
    text = sy_sse_content(&s);
    CHECK_STR(text, "aaaaabbbbb");
    free(text);
    sy_sse_free(&s);
    sy_resp_free(&r);

    /* Without pacing the close must still come after the events, not instead of them. */
    CHECK(chat(&r, "mock?chunks=4&fail_after_chunks=3", 1, NULL) == 0);
    CHECK(r.cc != CURLE_OK);
    CHECK(sy_sse_parse(&r, &s) == 0);
    CHECK(s.n == 3 && !s.done);
    sy_sse_free(&s);
    sy_resp_free(&r);

    /* fail_after_chunks >= chunks: all content, then the cut instead of the end. */
    CHECK(chat(&r, "mock?chunks=2&fail_after_chunks=9", 1, NULL) == 0);
    CHECK(r.cc != CURLE_OK);
    CHECK(sy_sse_parse(&r, &s) == 0);
    CHECK(s.n == 2 && !s.done);
    sy_sse_free(&s);
    sy_resp_free(&r);
}

TEST(test_stats_and_reset)
{
    static const char *const auth[] = {"Authorization: Bearer abc", NULL};
    sy_req_opts o = {0};
    sy_resp r;
    cJSON *j;

    CHECK(sy_mock_reset(&g_mock) == 0);
    j = sy_mock_stats(&g_mock);
    CHECK(sy_json_num(j, "requests", -1) == 0);
    CHECK(sy_json_num(j, "client_closed", -1) == 0);
    CHECK(cJSON_GetArraySize(sy_json_at(j, "by_model")) == 0);
    CHECK_STR(sy_json_str(j, "last_authorization"), "");
    cJSON_Delete(j);

    chat(&r, "mock?tag=a", 0, NULL);
    sy_resp_free(&r);
    chat(&r, "mock?tag=a&status=500", 0, NULL);
    sy_resp_free(&r);
    o.headers = auth;
    chat(&r, "mock?tag=a", 1, &o);
    sy_resp_free(&r);
    /* Not chat completions: not counted. */
    sy_http_get(&r, url_of(&g_mock, "/v1/models"));
    sy_resp_free(&r);

    j = sy_mock_stats(&g_mock);
    CHECK(sy_json_num(j, "requests", -1) == 3);
    CHECK(sy_json_num(j, "by_model.mock?tag=a", -1) == 2);
    CHECK(sy_json_num(j, "by_model.mock?tag=a&status=500", -1) == 1);
    CHECK_STR(sy_json_str(j, "last_authorization"), "Bearer abc");
    cJSON_Delete(j);

    /* The last request decides, also when it had no header. */
    chat(&r, "mock", 0, NULL);
    sy_resp_free(&r);
    j = sy_mock_stats(&g_mock);
    CHECK_STR(sy_json_str(j, "last_authorization"), "");
    cJSON_Delete(j);

    CHECK(sy_mock_reset(&g_mock) == 0);
    CHECK(sy_mock_stat(&g_mock, "requests") == 0);
    CHECK(sy_mock_model_count(&g_mock, "mock?tag=a") == 0);
}

static int wait_closed(const sy_mock *m, long want, int timeout_ms)
{
    double deadline = sy_it_now_ms() + timeout_ms;
    long v;
    while ((v = sy_mock_stat(m, "client_closed")) != want && sy_it_now_ms() < deadline)
        sy_it_sleep_ms(20);
    return v == want;
}

TEST(test_client_closed)
{
    sy_req_opts o = {0};
    sy_resp r;
    double t0;

    CHECK(sy_mock_reset(&g_mock) == 0);
    /* Hang up on a delayed answer: counted promptly, long before the delay would end. */
    o.timeout_ms = 200;
    t0 = sy_it_now_ms();
    CHECK(chat(&r, "mock?delay_ms=3000", 0, &o) < 0);
    CHECK(r.cc == CURLE_OPERATION_TIMEDOUT);
    sy_resp_free(&r);
    CHECK(wait_closed(&g_mock, 1, 1000));
    CHECK(sy_it_now_ms() - t0 < 1500);

    /* Hang up mid-stream after the first bytes. */
    memset(&o, 0, sizeof o);
    o.abort_after_bytes = 1;
    CHECK(chat(&r, "mock?chunks=20&chunk_ms=100", 1, &o) == 0);
    CHECK(r.cc == CURLE_WRITE_ERROR);
    sy_resp_free(&r);
    CHECK(wait_closed(&g_mock, 2, 1000));

    /* Hang up while a stream stalls after its headers. */
    memset(&o, 0, sizeof o);
    o.timeout_ms = 200;
    CHECK(chat(&r, "mock?stall_ms=3000", 1, &o) == 0);
    sy_resp_free(&r);
    CHECK(wait_closed(&g_mock, 3, 1000));

    /* Completed answers are not hang-ups. */
    CHECK(chat(&r, "mock?delay_ms=50", 0, NULL) == 0);
    sy_resp_free(&r);
    CHECK(chat(&r, "mock?chunks=3&chunk_ms=20", 1, NULL) == 0);
    sy_resp_free(&r);
    CHECK(chat(&r, "mock", 0, NULL) == 0);
    sy_resp_free(&r);
    sy_it_sleep_ms(100);
    CHECK(sy_mock_stat(&g_mock, "client_closed") == 3);
    CHECK(sy_mock_stat(&g_mock, "requests") == 6);
}

TEST(test_require_key)
{
    static const char *const extra[] = {"--require-key", "sk-k", NULL};
    static const char *const good[] = {"Authorization: Bearer sk-k", NULL};
    static const char *const bad[] = {"Authorization: Bearer sk-x", NULL};
    const char *body = "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    sy_mock m;
    sy_resp r;
    char url[128];
    cJSON *j;

    memset(&r, 0, sizeof r);
    if (sy_mock_start(&m, g_mock_bin, extra) < 0) {
        CHECK(!"mock with --require-key started");
        return;
    }
    snprintf(url, sizeof url, "%s/v1/chat/completions", m.base);
    CHECK(sy_http_post(&r, url, body, NULL) == 0);
    CHECK(r.status == 401);
    j = sy_resp_json(&r);
    CHECK_STR(sy_json_str(j, "error.message"), "bad key");
    CHECK_STR(sy_json_str(j, "error.type"), "invalid_request_error");
    cJSON_Delete(j);
    sy_resp_free(&r);

    CHECK(sy_http_post(&r, url, body, bad) == 0);
    CHECK(r.status == 401);
    CHECK(strstr(r.body, "sk-x") == NULL);
    sy_resp_free(&r);

    CHECK(sy_http_post(&r, url, body, good) == 0);
    CHECK(r.status == 200);
    sy_resp_free(&r);
    j = sy_mock_stats(&m);
    CHECK(sy_json_num(j, "requests", -1) == 3);
    CHECK_STR(sy_json_str(j, "last_authorization"), "Bearer sk-k");
    cJSON_Delete(j);
    sy_mock_stop(&m);
}

TEST(test_threads)
{
    static const char *const extra[] = {"--threads", "4", NULL};
    enum { N = 120 };
    const char *urls[N];
    sy_req_opts opts[N];
    sy_resp rs[N];
    char url[128];
    sy_mock m;
    size_t i, ok = 0, good = 0;
    cJSON *j;

    if (sy_mock_start(&m, g_mock_bin, extra) < 0) {
        CHECK(!"mock with --threads 4 started");
        return;
    }
    snprintf(url, sizeof url, "%s/v1/chat/completions", m.base);
    memset(opts, 0, sizeof opts);
    for (i = 0; i < N; i++) {
        urls[i] = url;
        opts[i].fresh_connect = 1;
        opts[i].body = i % 2 ? "{\"model\":\"mock?delay_ms=50\",\"messages\":[]}"
                             : "{\"model\":\"mock?chunks=3&chunk_ms=20\",\"stream\":true}";
    }
    ok = sy_http_many(rs, urls, opts, N, 20000);
    CHECK(ok == N);
    for (i = 0; i < N; i++) {
        if (rs[i].status == 200 &&
            strstr(rs[i].body, i % 2 ? "Hello from mock?delay_ms=50" : "data: [DONE]"))
            good++;
        sy_resp_free(&rs[i]);
    }
    CHECK(good == N);
    /* Stats add up over the threads, by_model too. */
    j = sy_mock_stats(&m);
    CHECK(sy_json_num(j, "threads", -1) == 4);
    CHECK(sy_json_num(j, "requests", -1) == N);
    CHECK(sy_json_num(j, "by_model.mock?delay_ms=50", -1) == N / 2);
    CHECK(sy_json_num(j, "by_model.mock?chunks=3&chunk_ms=20", -1) == N / 2);
    cJSON_Delete(j);
    CHECK(sy_proc_stop(&m.proc, 3000) == 0);
}

TEST(test_paths_and_methods)
{
    sy_req_opts o = {0};
    sy_resp r;
    cJSON *j;

    CHECK(sy_http_get(&r, url_of(&g_mock, "/nope")) == 0);
    CHECK(r.status == 404);
    j = sy_resp_json(&r);
    CHECK(sy_json_str(j, "error.message") != NULL);
    cJSON_Delete(j);
    sy_resp_free(&r);
    CHECK(sy_http_get(&r, url_of(&g_mock, "/v1/chat/completions")) == 0);
    CHECK(r.status == 405);
    sy_resp_free(&r);
    o.method = "DELETE";
    CHECK(sy_http(&r, url_of(&g_mock, "/v1/models"), &o) == 0);
    CHECK(r.status == 405);
    sy_resp_free(&r);
}

TEST(test_sigterm_exits_cleanly)
{
    sy_mock m;
    sy_req_opts o = {0};
    sy_resp r;
    char url[128];
    double t0;

    if (sy_mock_start(&m, g_mock_bin, NULL) < 0) {
        CHECK(!"mock started");
        return;
    }
    /* With a request still waiting inside: nothing may hang or leak on the way out. */
    snprintf(url, sizeof url, "%s/v1/chat/completions", m.base);
    o.body = "{\"model\":\"mock?delay_ms=5000\"}";
    o.timeout_ms = 100;
    sy_http(&r, url, &o);
    sy_resp_free(&r);
    t0 = sy_it_now_ms();
    CHECK(sy_proc_stop(&m.proc, 3000) == 0);
    CHECK(sy_it_now_ms() - t0 < 1000);
}

TEST(test_bad_cli)
{
    char *argv[] = {(char *)g_mock_bin, "--listen", "nonsense", NULL};
    sy_proc p;

    CHECK(sy_proc_spawn(&p, argv, NULL, 0, "/dev/null") == 0);
    CHECK(sy_proc_wait(&p, 3000) == 1);
    CHECK(sy_proc_exit_code(&p) == 2);
    sy_proc_stop(&p, 100);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/sy-mock-upstream\n", argv[0]);
        return 2;
    }
    g_mock_bin = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (sy_mock_start(&g_mock, g_mock_bin, NULL) < 0) {
        fprintf(stderr, "cannot start %s\n", g_mock_bin);
        CHECK(!"mock started");
        return sy_test_summary();
    }
    RUN(test_models_endpoint);
    RUN(test_plain_completion);
    RUN(test_status_and_retry_after);
    RUN(test_delay);
    RUN(test_reset);
    RUN(test_garbage);
    RUN(test_malformed_request);
    RUN(test_content_override);
    RUN(test_stream_shape);
    RUN(test_stream_usage);
    RUN(test_stream_chunk_timing);
    RUN(test_stream_stall);
    RUN(test_stream_fail_after_chunks);
    RUN(test_stats_and_reset);
    RUN(test_client_closed);
    RUN(test_require_key);
    RUN(test_threads);
    RUN(test_paths_and_methods);
    RUN(test_sigterm_exits_cleanly);
    RUN(test_bad_cli);
    CHECK(sy_proc_stop(&g_mock.proc, 3000) == 0); /* clean exit after all of the above */
    curl_global_cleanup();
    return sy_test_summary();
}
