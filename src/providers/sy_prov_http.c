/* sy_prov_http.c — the HTTP + SSE transport of the HTTP adapters (sy_prov_http.h), used by
 * sy_prov_openai.c and sy_prov_anthropic.c. Two transports behind one parser: sy_hclient
 * for plain http to a numeric host (the low-overhead path), else a libcurl easy handle on
 * the worker's multi handle (sy_upstream.c). SSE is parsed incrementally into events that
 * the adapter turns into chunk objects. Keys travel in header lines only; every copy made
 * here is wiped before it is freed, and curl never prints anything. */
#include "providers/sy_prov_http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#define MAX_ERROR_BODY (64u * 1024)
#define MAX_BODY (64u * 1024 * 1024)
#define MAX_EVENT_NAME 64

typedef struct ph_state {
    sy_attempt *a;
    const sy_prov_api *api;
    void *st;                   /* the adapter's stream state */
    CURL *easy;                 /* curl transport, or */
    sy_hreq *hreq;              /* sy_hclient transport, or */
    struct event *fail_ev;      /* a failure before sending (reported from the loop) */
    struct curl_slist *headers;
    sy_buf hdrs;                /* the adapter's header lines (hold the key: wiped) */
    char *payload;
    size_t payload_len;
    sy_buf body;      /* non-stream answer, or an error body */
    sy_buf line;      /* SSE: the current incomplete line */
    sy_buf data;      /* SSE: data lines of the current event */
    char event[MAX_EVENT_NAME]; /* SSE: the current event's name */
    long status;
    int invalid;      /* we aborted the transfer on unusable data (see fail_info) */
    sy_prov_fail fail_info;
} ph_state;

static void wipe_buf(sy_buf *b)
{
    if (b->data) memset(b->data, 0, b->len);
    sy_buf_free(b);
}

static void ph_free(ph_state *s)
{
    if (!s) return;
    sy_upstream_release(s->a->env->up, s->easy);
    if (s->fail_ev) event_free(s->fail_ev);
    /* curl copies nothing of an slist: the lines are ours to wipe */
    for (struct curl_slist *l = s->headers; l; l = l->next)
        if (l->data) memset(l->data, 0, strlen(l->data));
    curl_slist_free_all(s->headers);
    wipe_buf(&s->hdrs);
    free(s->payload);
    sy_buf_free(&s->body);
    sy_buf_free(&s->line);
    sy_buf_free(&s->data);
    if (s->st && s->api->stream_state_free) s->api->stream_state_free(s->st);
    free(s->st);
    free(s);
}

static int status_ok(long st)
{
    return st >= 200 && st < 300;
}

static void set_invalid(ph_state *s, const char *msg)
{
    s->invalid = 1;
    s->fail_info.outcome = SY_OUT_INVALID;
    s->fail_info.status = (int)s->status;
    snprintf(s->fail_info.msg, sizeof s->fail_info.msg, "%s", msg);
}

/* One complete SSE event → the adapter. */
static int sse_event(ph_state *s)
{
    if (!s->data.data || s->data.len == 0) return 0;
    sy_prov_fail f = {SY_OUT_INVALID, (int)s->status, ""};
    if (s->api->sse_event(s->a, s->st, s->event, s->data.data, s->data.len, &f) == 0) return 0;
    s->invalid = 1;
    s->fail_info = f;
    if (!s->fail_info.msg[0])
        snprintf(s->fail_info.msg, sizeof s->fail_info.msg, "invalid upstream stream event");
    return -1;
}

/* Feeds bytes of an event stream: lines end in \n (optionally \r\n); a blank line ends an
 * event; "data:" lines are joined, "event:" names it, other fields are ignored. */
static int sse_feed(ph_state *s, const char *p, size_t n)
{
    char msg[96];
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c != '\n') {
            if (s->line.len >= MAX_BODY || sy_buf_append(&s->line, &c, 1)) {
                snprintf(msg, sizeof msg, "upstream stream line longer than %u bytes", MAX_BODY);
                set_invalid(s, msg);
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
            s->event[0] = '\0';
        } else if (strncmp(l, "data:", 5) == 0) {
            const char *v = l + 5;
            if (*v == ' ') v++;
            if (s->data.len + len > MAX_BODY) {
                snprintf(msg, sizeof msg, "upstream stream event larger than %u bytes", MAX_BODY);
                set_invalid(s, msg);
                return -1;
            }
            if (s->data.len) sy_buf_append(&s->data, "\n", 1);
            sy_buf_puts(&s->data, v);
        } else if (strncmp(l, "event:", 6) == 0) {
            const char *v = l + 6;
            if (*v == ' ') v++;
            snprintf(s->event, sizeof s->event, "%s", v);
        }
        sy_buf_reset(&s->line);
    }
    return 0;
}

/* Body bytes from either transport: an error body is kept (bounded), a stream is parsed,
 * an answer is collected. -1 aborts the transfer. */
static int consume(ph_state *s, const char *ptr, size_t n)
{
    if (!status_ok(s->status)) {
        size_t room = MAX_ERROR_BODY > s->body.len ? MAX_ERROR_BODY - s->body.len : 0;
        sy_buf_append(&s->body, ptr, n < room ? n : room);
        return 0;
    }
    if (s->a->stream) return sse_feed(s, ptr, n) < 0 ? -1 : 0;
    if (s->body.len + n > MAX_BODY || sy_buf_append(&s->body, ptr, n)) {
        char msg[96];
        snprintf(msg, sizeof msg, "upstream answer larger than %u bytes", MAX_BODY);
        set_invalid(s, msg);
        return -1;
    }
    return 0;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    ph_state *s = ud;
    size_t n = size * nmemb;
    if (!s->status) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    return consume(s, ptr, n) < 0 ? 0 : n; /* 0 aborts: CURLE_WRITE_ERROR */
}

static void retry_after(ph_state *s, const char *v, size_t n)
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
    ph_state *s = ud;
    size_t n = size * nitems;
    if (n > 12 && strncasecmp(buf, "retry-after:", 12) == 0) retry_after(s, buf + 12, n - 12);
    return n;
}

static void fail(ph_state *s, int outcome, int status, const char *msg, const char *body)
{
    sy_attempt *a = s->a;
    a->priv = NULL;
    /* copy what the callback needs before the state goes */
    sy_buf m, b;
    sy_buf_init(&m);
    sy_buf_init(&b);
    sy_buf_puts(&m, msg);
    if (body) sy_buf_puts(&b, body);
    ph_free(s);
    a->ev->on_fail(a, outcome, status, m.data, body ? b.data : NULL);
    sy_buf_free(&m);
    sy_buf_free(&b);
}

/* An error status: the adapter may word the message and re-shape the body. */
static void fail_status(ph_state *s)
{
    char msg[256];
    char *body = NULL;
    snprintf(msg, sizeof msg, "HTTP %ld", s->status);
    if (s->api->error) s->api->error((int)s->status, s->body.data, msg, sizeof msg, &body);
    fail(s, SY_OUT_HTTP, (int)s->status, msg, body ? body : s->body.data);
    free(body);
}

/* The transfer ended. transport: SY_OUT_OK, or how the connection failed (with msg). */
static void complete(ph_state *s, int transport, const char *tmsg)
{
    sy_attempt *a = s->a;
    char msg[256];
    if (s->invalid) {
        sy_prov_fail f = s->fail_info;
        fail(s, f.outcome, f.status, f.msg[0] ? f.msg : "invalid upstream data", NULL);
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
        fail_status(s);
        return;
    }
    if (a->stream) {
        /* flush a last event not followed by a blank line */
        if (s->line.len) sse_feed(s, "\n", 1);
        if (!s->invalid && s->data.len) sse_event(s);
        if (s->invalid) {
            sy_prov_fail f = s->fail_info;
            fail(s, f.outcome, f.status, f.msg, NULL);
            return;
        }
        if (!s->api->stream_complete(s->st)) {
            fail(s, SY_OUT_RESET, (int)s->status, "upstream stream ended before it was complete",
                 NULL);
            return;
        }
        a->priv = NULL;
        ph_free(s);
        a->ev->on_done(a, NULL);
        return;
    }
    sy_answer ans;
    sy_prov_fail f = {SY_OUT_INVALID, (int)s->status, ""};
    if (!s->body.data || s->api->answer(a, s->body.data, s->body.len, &ans, &f) != 0) {
        fail(s, f.outcome, f.status, f.msg[0] ? f.msg : "upstream answer is not a chat completion",
             NULL);
        return;
    }
    sy_buf_init(&s->body); /* the answer owns the bytes now */
    a->priv = NULL;
    ph_free(s);
    a->ev->on_done(a, &ans);
}

static void on_curl_done(CURL *easy, CURLcode rc, void *ud)
{
    ph_state *s = ud;
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
    ((ph_state *)ud)->status = status;
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
    ph_state *s = ud;
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

/* The fixed header lines, then the adapter's (its key among them). */
static int header_lines(ph_state *s, sy_buf *h)
{
    int bad = sy_buf_puts(h, "Content-Type: application/json\r\nAccept: ");
    bad |= sy_buf_puts(h, s->a->stream ? "text/event-stream" : "application/json");
    bad |= sy_buf_puts(h, "\r\n");
    if (bad || s->api->headers(s->a, h) != 0) return SY_ENOMEM;
    return SY_OK;
}

static int start_hclient(ph_state *s, sy_attempt *a)
{
    const sy_provider_cfg *p = a->model->provider;
    sy_buf *h = &s->hdrs;
    if (header_lines(s, h) != SY_OK ||
        sy_buf_puts(h, "User-Agent: switchyard/" SY_VERSION "\r\n"))
        return SY_ENOMEM;
    s->hreq = sy_hclient_post(a->env->hc, &p->hurl, s->api->path, h->data, s->payload,
                              s->payload_len, p->connect_timeout_ms, p->timeout_ms, &HC_CBS, s);
    return s->hreq ? SY_OK : SY_ENOMEM;
}

/* The header lines of s->hdrs as a curl list (each line copied by curl_slist_append). */
static int start_curl(ph_state *s, sy_attempt *a)
{
    const sy_provider_cfg *p = a->model->provider;
    char url[2048];
    s->easy = sy_upstream_easy(a->env->up);
    if (!s->easy) return SY_ENOMEM;
    if (header_lines(s, &s->hdrs) != SY_OK || sy_buf_puts(&s->hdrs, "Expect:\r\n"))
        return SY_ENOMEM;
    for (char *l = s->hdrs.data, *e; l && *l; l = e + 2) {
        e = strstr(l, "\r\n");
        if (!e) break;
        *e = '\0';
        struct curl_slist *n = curl_slist_append(s->headers, l);
        *e = '\r';
        if (!n) return SY_ENOMEM;
        s->headers = n;
    }
    snprintf(url, sizeof url, "%s%s", p->base_url, s->api->path);
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
    return sy_upstream_add(a->env->up, e, on_curl_done, s);
}

/* ---- a request this API cannot take: failed from the loop, never inside start ---- */

static void on_fail_ev(evutil_socket_t fd, short what, void *ud)
{
    ph_state *s = ud;
    sy_buf body;
    (void)fd;
    (void)what;
    sy_buf_init(&body);
    sy_buf_puts(&body, "{\"error\":{\"message\":");
    sy_buf_json_str(&body, s->fail_info.msg);
    sy_buf_puts(&body, ",\"type\":\"invalid_request_error\",\"param\":null,"
                       "\"code\":\"unsupported_by_provider\"}}");
    sy_prov_fail f = s->fail_info;
    fail(s, SY_OUT_HTTP, f.status, f.msg, body.data ? body.data : "");
    sy_buf_free(&body);
}

static int start_failed(ph_state *s, sy_attempt *a)
{
    s->fail_info.outcome = SY_OUT_HTTP;
    s->fail_info.status = 400;
    if (!s->fail_info.msg[0])
        snprintf(s->fail_info.msg, sizeof s->fail_info.msg, "request not supported by the provider");
    s->fail_ev = evtimer_new(a->env->base, on_fail_ev, s);
    struct timeval now = {0, 0};
    if (!s->fail_ev || evtimer_add(s->fail_ev, &now) != 0) return SY_ENOMEM;
    return SY_OK;
}

int sy_prov_http_start(sy_attempt *a, const sy_prov_api *api)
{
    const sy_provider_cfg *p = a->model->provider;
    ph_state *s = calloc(1, sizeof *s);
    if (!s) return SY_ENOMEM;
    s->a = a;
    s->api = api;
    sy_buf_init(&s->body);
    sy_buf_init(&s->line);
    sy_buf_init(&s->data);
    sy_buf_init(&s->hdrs);
    if (api->stream_state_size && !(s->st = calloc(1, api->stream_state_size))) goto oom;
    {
        sy_buf pay;
        sy_buf_init(&pay);
        if (api->payload(a, &pay, &s->fail_info) != 0) {
            sy_buf_free(&pay);
            if (start_failed(s, a) != SY_OK) goto oom;
            a->priv = s;
            return SY_OK;
        }
        if (!pay.data) goto oom;
        s->payload_len = pay.len;
        s->payload = sy_buf_steal(&pay);
    }
    if ((p->direct_http ? start_hclient(s, a) : start_curl(s, a)) != SY_OK) goto oom;
    a->priv = s;
    return SY_OK;
oom:
    ph_free(s);
    return SY_ENOMEM;
}

void sy_prov_http_cancel(sy_attempt *a)
{
    ph_state *s = a->priv;
    if (!s) return;
    if (s->hreq) sy_hreq_cancel(s->hreq);
    if (s->easy) sy_upstream_cancel(a->env->up, s->easy);
    a->priv = NULL;
    ph_free(s);
}
