/* sy_prov_openai.c — adapter for OpenAI-compatible Chat Completions endpoints (OpenAI, vLLM,
 * Ollama, llama.cpp, Groq, Together, OpenRouter...): the request goes as the client sent it
 * but for "model", chunks pass through as they come. The transport is sy_prov_http.c. The
 * API key goes into the Authorization header only; it is never logged or echoed. */
#include "providers/sy_prov_http.h"

#include <stdlib.h>
#include <string.h>

typedef struct oa_stream {
    int done_seen;    /* "data: [DONE]" */
    int finish_seen;  /* a chunk carried a finish_reason */
} oa_stream;

/* The request as the client sent it, with the upstream's model name spliced in: the body is
 * never re-printed. */
static int oa_payload(const sy_attempt *a, sy_buf *pay, sy_prov_fail *f)
{
    const sy_chat *c = a->chat;
    (void)f;
    if (sy_buf_reserve(pay, c->len + strlen(a->model->upstream) + 48)) return 0; /* oom: empty */
    sy_buf_append(pay, c->text, c->model.val_off);
    sy_buf_json_str(pay, a->model->upstream);
    /* a stream's usage is what it costs: ask for it (the engine passes it on only when the
     * client asked too) */
    if (a->stream && !c->has_stream_options)
        sy_buf_puts(pay, ",\"stream_options\":{\"include_usage\":true}");
    size_t rest = c->model.val_off + c->model.val_len;
    sy_buf_append(pay, c->text + rest, c->len - rest);
    return 0;
}

static int oa_headers(const sy_attempt *a, sy_buf *h)
{
    const char *key = a->model->provider->api_key;
    if (!key) return 0;
    int bad = sy_buf_puts(h, "Authorization: Bearer ");
    bad |= sy_buf_puts(h, key);
    bad |= sy_buf_puts(h, "\r\n");
    return bad ? -1 : 0;
}

/* One SSE event: a chunk, [DONE], or an error. */
static int oa_sse_event(sy_attempt *a, void *stp, const char *event, const char *d, size_t len,
                        sy_prov_fail *f)
{
    oa_stream *st = stp;
    (void)event;
    if (strcmp(d, "[DONE]") == 0) {
        st->done_seen = 1;
        return 0;
    }
    cJSON *chunk = cJSON_ParseWithLength(d, len);
    if (!cJSON_IsObject(chunk)) {
        cJSON_Delete(chunk);
        snprintf(f->msg, sizeof f->msg, "upstream sent a stream event that is not JSON");
        return -1;
    }
    if (cJSON_GetObjectItemCaseSensitive(chunk, "error")) {
        cJSON_Delete(chunk);
        snprintf(f->msg, sizeof f->msg, "upstream sent an error event mid-stream");
        return -1;
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
    const cJSON *c0 = cJSON_IsArray(choices) ? choices->child : NULL;
    const cJSON *fr = c0 ? cJSON_GetObjectItemCaseSensitive(c0, "finish_reason") : NULL;
    if (cJSON_IsString(fr)) st->finish_seen = 1;
    a->ev->on_chunk(a, chunk);
    return 0;
}

static int oa_stream_complete(const void *stp)
{
    const oa_stream *st = stp;
    return st->done_seen || st->finish_seen;
}

static int oa_answer(const sy_attempt *a, char *text, size_t len, sy_answer *ans, sy_prov_fail *f)
{
    (void)a;
    if (sy_answer_take(ans, text, len) != 0) {
        snprintf(f->msg, sizeof f->msg, "upstream answer is not a chat completion");
        return -1;
    }
    return 0;
}

static const sy_prov_api OPENAI_API = {
    .path = "/chat/completions",
    .stream_state_size = sizeof(oa_stream),
    .payload = oa_payload,
    .headers = oa_headers,
    .sse_event = oa_sse_event,
    .stream_complete = oa_stream_complete,
    .answer = oa_answer,
    .error = NULL, /* "HTTP N" and the upstream's body as it is */
};

int sy_prov_openai_start(sy_attempt *a)
{
    return sy_prov_http_start(a, &OPENAI_API);
}

void sy_prov_openai_cancel(sy_attempt *a)
{
    sy_prov_http_cancel(a);
}
