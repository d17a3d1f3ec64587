/* sy_prov_http.h — the HTTP + SSE transport shared by the adapters of HTTP APIs
 * (sy_prov_openai.c, sy_prov_anthropic.c); implemented in sy_prov_http.c. An adapter is a
 * table of callbacks (sy_prov_api): the path, its headers, the payload, what one SSE event
 * means, how a 2xx answer becomes a chat completion, how an error body reads. The transport
 * owns everything else: sy_hclient for plain http to a numeric host, else a libcurl easy
 * handle on the worker's multi handle, bounded bodies, the SSE line parser, Retry-After and
 * the on_done / on_fail plumbing of sy_provider.h. Internal to src/providers/. */
#ifndef SY_PROV_HTTP_H
#define SY_PROV_HTTP_H

#include "providers/sy_provider.h"

/* Why an adapter callback gave up: the attempt then fails with this outcome and status
 * (outcome defaults to SY_OUT_INVALID, status to the HTTP status of the answer). */
typedef struct sy_prov_fail {
    int outcome;
    int status;
    char msg[256];
} sy_prov_fail;

typedef struct sy_prov_api {
    const char *path;          /* appended to base_url: "/chat/completions" */
    size_t stream_state_size;  /* zeroed state handed to sse_event / stream_complete */
    void (*stream_state_free)(void *st); /* its owned parts, or NULL */
    /* The request body into out (empty on entry). 0, or -1 when the request cannot be sent
     * to this API: the attempt then fails (asynchronously) as an upstream 400 with f->msg
     * and an OpenAI error body, so the chain treats it as the request's fault. */
    int (*payload)(const sy_attempt *a, sy_buf *out, sy_prov_fail *f);
    /* Header lines "Name: value\r\n" besides Content-Type, Accept and User-Agent (the key
     * goes here; the transport wipes every copy it makes). 0 or -1 (out of memory). */
    int (*headers)(const sy_attempt *a, sy_buf *out);
    /* One complete SSE event of a 2xx stream: its "event:" name ("" when none) and its
     * "data:" lines joined (NUL-terminated, never empty). Chunks go to a->ev->on_chunk.
     * 0, or -1 with f filled: the transfer is aborted and the attempt fails. */
    int (*sse_event)(sy_attempt *a, void *st, const char *event, const char *data, size_t len,
                     sy_prov_fail *f);
    /* Whether the stream that just ended was complete (else SY_OUT_RESET). */
    int (*stream_complete)(const void *st);
    /* A 2xx non-stream body (malloc'd, NUL-terminated) → ans. On 0 the text is owned by
     * the callee (kept in ans or freed); on -1 (f->msg says why) it stays the caller's. */
    int (*answer)(const sy_attempt *a, char *text, size_t len, sy_answer *ans, sy_prov_fail *f);
    /* An error status: the message for on_fail (msg, "HTTP 529" at least) and optionally a
     * body to pass instead of the upstream's (*body_out malloc'd, else left NULL). NULL:
     * "HTTP N" and the upstream's body as it is. */
    void (*error)(int status, const char *body, char *msg, size_t msgn, char **body_out);
} sy_prov_api;

int sy_prov_http_start(sy_attempt *a, const sy_prov_api *api);
void sy_prov_http_cancel(sy_attempt *a);

#endif
