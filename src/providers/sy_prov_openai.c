/* sy_prov_openai.c — adapter for OpenAI-compatible Chat Completions endpoints (OpenAI, vLLM,
 * Ollama, llama.cpp, Groq, Together, OpenRouter...). Two transports behind one parser:
 * sy_hclient for plain http to a numeric host (the low-overhead path), else a libcurl easy
 * handle on the worker's multi handle (sy_upstream.c). SSE is parsed incrementally into
 * chunk objects. The API key goes into the Authorization header only; it is never logged
 * or echoed. */
#include "providers/sy_provider.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ERROR_BODY (64u * 1024)
#define MAX_BODY (64u * 1024 * 1024)

typedef struct oa_state {
    sy_attempt *a;
    CURL *easy;                 /* curl transport, or */
    sy_hreq *hreq;              /* sy_hclient transport */
    struct curl_slist *headers;
    sy_buf hdrs;                /* sy_hclient: extra header lines */
    char *payload;
    size_t payload_len;
    sy_buf body;      /* non-stream answer, or an error body */
    sy_buf line;      /* SSE: the current incomplete line */
    sy_buf data;      /* SSE: data lines of the current event */
    long status;
    int done_seen;    /* "data: [DONE]" */
    int finish_seen;  /* a chunk carried a finish_reason */
    int invalid;      /* we aborted the transfer on unusable data */
    char invalid_msg[160];
} oa_state;

static void oa_free(oa_state *s)
{
    if (!s) return;
    sy_upstream_release(s->a->env->up, s->easy);
    curl_slist_free_all(s->headers);
    sy_buf_free(&s->hdrs);
    free(s->payload);
    sy_buf_free(&s->body);
    sy_buf_free(&s->line);
    sy_buf_free(&s->data);
    free(s);
}

static int status_ok(long st)
{
    return st >= 200 && st < 300;
}

/* One complete SSE event (its data lines joined) → a chunk, [DONE], or an error. */
static int sse_event(oa_state *s)
{
    const char *d = s->data.data;
    if (!d || s->data.len == 0) return 0;
    if (strcmp(d, "[DONE]") == 0) {
        s->done_seen = 1;
        return 0;
    }
    cJSON *chunk = cJSON_ParseWithLength(d, s->data.len);
    if (!cJSON_IsObject(chunk)) {
        cJSON_Delete(chunk);
        snprintf(s->invalid_msg, sizeof s->invalid_msg, "upstream sent a stream event that is not JSON");
        return -1;
    }
    if (cJSON_GetObjectItemCaseSensitive(chunk, "error")) {
        cJSON_Delete(chunk);
        snprintf(s->invalid_msg, sizeof s->invalid_msg, "upstream sent an error event mid-stream");
        return -1;
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
    const cJSON *c0 = cJSON_IsArray(choices) ? choices->child : NULL;
    const cJSON *fr = c0 ? cJSON_GetObjectItemCaseSensitive(c0, "finish_reason") : NULL;
    if (cJSON_IsString(fr)) s->finish_seen = 1;
    s->a->ev->on_chunk(s->a, chunk);
    return 0;
}

/* Feeds bytes of an event stream: lines end in \n (optionally \r\n); a blank line ends an
 * event; only "data:" fields matter here. */
static int sse_feed(oa_state *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c != '\n') {
            if (s->line.len >= MAX_BODY || sy_buf_append(&s->line, &c, 1)) {
                snprintf(s->invalid_msg, sizeof s->invalid_msg,
                         "upstream stream line longer than %u bytes", MAX_BODY);
                return -1;
            }
            continue;
        }
        size_t len = s->line.len;
        char *l = s->line.data ? s->line.data : (char *)"";
        if (len && l[len - 1] == '\r') l[--len] = '\0';
        if (len == 0) {
            if (sse_event(s) < 0) return -1;
            sy_buf_reset(&s->data);
        } else if (strncmp(l, "data:", 5) == 0) {
            const char *v = l + 5;
            if (*v == ' ') v++;
            if (s->data.len + len > MAX_BODY) {
                snprintf(s->invalid_msg, sizeof s->invalid_msg,
                         "upstream stream event larger than %u bytes", MAX_BODY);
                return -1;
            }
            if (s->data.len) sy_buf_append(&s->data, "\n", 1);
            sy_buf_puts(&s->data, v);
        }
        sy_buf_reset(&s->line);
    }
    return 0;
}

/* Body bytes from either transport: an error body is kept (bounded), a stream is parsed,
 * an answer is collected. -1 aborts the transfer. */
static int consume(oa_state *s, const char *ptr, size_t n)
{
    if (!status_ok(s->status)) {
        size_t room = MAX_ERROR_BODY > s->body.len ? MAX_ERROR_BODY - s->body.len : 0;
        sy_buf_append(&s->body, ptr, n < room ? n : room);
        return 0;
    }
    if (s->a->stream) {
        if (sse_feed(s, ptr, n) < 0) {
            s->invalid = 1;
            return -1;
        }
        return 0;
    }
    if (s->body.len + n > MAX_BODY || sy_buf_append(&s->body, ptr, n)) {
        s->invalid = 1;
        snprintf(s->invalid_msg, sizeof s->invalid_msg, "upstream answer larger than %u bytes",
                 MAX_BODY);
        return -1;
    }
    return 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    oa_state *s = ud;
    size_t n = size * nmemb;
    if (!s->status) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    return consume(s, ptr, n) < 0 ? 0 : n; /* 0 aborts: CURLE_WRITE_ERROR */
}

static void retry_after(oa_state *s, const char *v, size_t n)
{
    char tmp[32];
    if (n >= sizeof tmp) return;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    long secs = strtol(tmp, NULL, 10);
    if (secs >= 0 && secs < 86400) s->a->retry_after_ms = (int)(secs * 1000);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    oa_state *s = ud;
    size_t n = size * nitems;
    if (n > 12 && strncasecmp(buf, "retry-after:", 12) == 0) retry_after(s, buf + 12, n - 12);
    return n;
}

static void fail(oa_state *s, int outcome, int status, const char *msg, const char *body)
{
    sy_attempt *a = s->a;
    a->priv = NULL;
    /* copy what the callback needs before the state goes */
    sy_buf m, b;
    sy_buf_init(&m);
    sy_buf_init(&b);
    sy_buf_puts(&m, msg);
    if (body) sy_buf_puts(&b, body);
    oa_free(s);
    a->ev->on_fail(a, outcome, status, m.data, body ? b.data : NULL);
    sy_buf_free(&m);
    sy_buf_free(&b);
}

/* The transfer ended. transport: SY_OUT_OK, or how the connection failed (with msg). */
static void complete(oa_state *s, int transport, const char *tmsg)
{
    sy_attempt *a = s->a;
    char msg[256];
    if (s->invalid) {
        fail(s, SY_OUT_INVALID, (int)s->status,
             s->invalid_msg[0] ? s->invalid_msg : "invalid upstream data", NULL);
        return;
    }
    if (transport != SY_OUT_OK) {
        if (transport == SY_OUT_TIMEOUT)
            snprintf(msg, sizeof msg, "timeout after %d ms", a->model->provider->timeout_ms);
        else
            snprintf(msg, sizeof msg, "%s", tmsg);
        fail(s, transport, (int)s->status, msg, NULL);
        return;
    }
    if (!status_ok(s->status)) {
        snprintf(msg, sizeof msg, "HTTP %ld", s->status);
        fail(s, SY_OUT_HTTP, (int)s->status, msg, s->body.data);
        return;
    }
    if (a->stream) {
        /* flush a last event not followed by a blank line */
        if (s->line.len) sse_feed(s, "\n", 1);
        if (s->data.len && sse_event(s) < 0) {
            fail(s, SY_OUT_INVALID, (int)s->status, s->invalid_msg, NULL);
            return;
        }
        if (!s->done_seen && !s->finish_seen) {
            fail(s, SY_OUT_RESET, (int)s->status, "upstream stream ended before it was complete",
                 NULL);
            return;
        }
        a->priv = NULL;
        oa_free(s);
        a->ev->on_done(a, NULL);
        return;
    }
    sy_answer ans;
    size_t blen = s->body.len;
    if (sy_answer_take(&ans, s->body.data, blen) != 0) {
        fail(s, SY_OUT_INVALID, (int)s->status, "upstream answer is not a chat completion", NULL);
        return;
    }
    sy_buf_init(&s->body); /* the answer owns the bytes now */
    a->priv = NULL;
    oa_free(s);
    a->ev->on_done(a, &ans);
}

static void on_curl_done(CURL *easy, CURLcode rc, void *ud)
{
    oa_state *s = ud;
    (void)easy;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    int transport = SY_OUT_OK;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        transport = SY_OUT_TIMEOUT;
    else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
             rc == CURLE_COULDNT_RESOLVE_PROXY)
        transport = SY_OUT_CONNECT;
    else if (rc != CURLE_OK)
        transport = SY_OUT_RESET;
    complete(s, transport, curl_easy_strerror(rc));
}

/* ---- sy_hclient transport ---- */

static void hc_status(void *ud, int status)
{
    ((oa_state *)ud)->status = status;
}

static void hc_header(void *ud, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (nlen == 11 && strncasecmp(name, "retry-after", 11) == 0) retry_after(ud, value, vlen);
}

static int hc_body(void *ud, const char *data, size_t len)
{
    return consume(ud, data, len);
}

static void hc_done(void *ud, int err)
{
    oa_state *s = ud;
    s->hreq = NULL; /* freed by sy_hclient after this returns */
    switch (err) {
    case SY_HC_OK: complete(s, SY_OUT_OK, NULL); break;
    case SY_HC_ECONNECT: complete(s, SY_OUT_CONNECT, "could not connect to the upstream"); break;
    case SY_HC_ETIMEOUT: complete(s, SY_OUT_TIMEOUT, NULL); break;
    case SY_HC_EABORT: complete(s, SY_OUT_INVALID, "invalid upstream data"); break;
    default: complete(s, SY_OUT_RESET, "upstream closed the connection before the answer was complete");
    }
}

static const sy_hreq_cbs HC_CBS = {hc_status, hc_header, hc_body, hc_done};

static int start_hclient(oa_state *s, sy_attempt *a)
{
    const sy_provider_cfg *p = a->model->provider;
    sy_buf *h = &s->hdrs;
    int bad = sy_buf_puts(h, "Content-Type: application/json\r\nAccept: ");
    bad |= sy_buf_puts(h, a->stream ? "text/event-stream" : "application/json");
    bad |= sy_buf_puts(h, "\r\nUser-Agent: switchyard/" SY_VERSION "\r\n");
    if (p->api_key) {
        bad |= sy_buf_puts(h, "Authorization: Bearer ");
        bad |= sy_buf_puts(h, p->api_key);
        bad |= sy_buf_puts(h, "\r\n");
    }
    if (bad) return SY_ENOMEM;
    s->hreq = sy_hclient_post(a->env->hc, &p->hurl, "/chat/completions", h->data, s->payload,
                              s->payload_len, p->connect_timeout_ms, p->timeout_ms, &HC_CBS, s);
    return s->hreq ? SY_OK : SY_ENOMEM;
}

/* Appends a header line; on failure the list so far stays (and is freed with the state). */
static int add_header(oa_state *s, const char *line)
{
    struct curl_slist *l = curl_slist_append(s->headers, line);
    if (!l) return -1;
    s->headers = l;
    return 0;
}

int sy_prov_openai_start(sy_attempt *a)
{
    const sy_provider_cfg *p = a->model->provider;
    oa_state *s = calloc(1, sizeof *s);
    char url[2048];
    if (!s) return SY_ENOMEM;
    s->a = a;
    sy_buf_init(&s->body);
    sy_buf_init(&s->line);
    sy_buf_init(&s->data);
    sy_buf_init(&s->hdrs);

    /* The request as the client sent it, with the upstream's model name spliced in: the
     * body is never re-printed. */
    {
        const sy_chat *c = a->chat;
        sy_buf pay;
        sy_buf_init(&pay);
        if (sy_buf_reserve(&pay, c->len + strlen(a->model->upstream) + 48)) goto oom;
        sy_buf_append(&pay, c->text, c->model.val_off);
        sy_buf_json_str(&pay, a->model->upstream);
        /* a stream's usage is what it costs: ask for it (the engine passes it on only when
         * the client asked too) */
        if (a->stream && !c->has_stream_options)
            sy_buf_puts(&pay, ",\"stream_options\":{\"include_usage\":true}");
        size_t rest = c->model.val_off + c->model.val_len;
        sy_buf_append(&pay, c->text + rest, c->len - rest);
        s->payload_len = pay.len;
        s->payload = sy_buf_steal(&pay);
    }
    if (p->direct_http) {
        if (start_hclient(s, a) != SY_OK) goto oom;
        a->priv = s;
        return SY_OK;
    }

    s->easy = sy_upstream_easy(a->env->up);
    if (!s->easy) goto oom;
    snprintf(url, sizeof url, "%s/chat/completions", p->base_url);
    if (add_header(s, "Content-Type: application/json") ||
        add_header(s, a->stream ? "Accept: text/event-stream" : "Accept: application/json") ||
        add_header(s, "Expect:"))
        goto oom;
    if (p->api_key) {
        sy_buf auth;
        sy_buf_init(&auth);
        sy_buf_printf(&auth, "Authorization: Bearer %s", p->api_key);
        int bad = !auth.data || add_header(s, auth.data);
        if (auth.data) memset(auth.data, 0, auth.len);
        sy_buf_free(&auth);
        if (bad) goto oom;
    }
    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->payload);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)s->payload_len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)p->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "switchyard/" SY_VERSION);
    /* Never let curl print anything (it could include headers, i.e. the key). */
    curl_easy_setopt(e, CURLOPT_VERBOSE, 0L);
    if (sy_upstream_add(a->env->up, e, on_curl_done, s) != SY_OK) goto oom;
    a->priv = s;
    return SY_OK;
oom:
    oa_free(s);
    return SY_ENOMEM;
}

void sy_prov_openai_cancel(sy_attempt *a)
{
    oa_state *s = a->priv;
    if (!s) return;
    if (s->hreq) sy_hreq_cancel(s->hreq);
    if (s->easy) sy_upstream_cancel(a->env->up, s->easy);
    a->priv = NULL;
    oa_free(s);
}
