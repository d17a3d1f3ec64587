/* sy_hclient.h — a small HTTP/1.1 client for plain-http upstreams at numeric addresses (a
 * vLLM, Ollama or llama.cpp on the same host or LAN, the mock in tests): keep-alive pools
 * per worker, bufferevents, responses parsed with http_parser. It exists because that is
 * where gateway overhead shows, and libcurl costs ~55k instructions and four extra system
 * calls per request there (see bench/README.md). Everything else (https, names, proxies)
 * goes through libcurl (sy_upstream.h). One event_base, no locks. */
#ifndef SY_HCLIENT_H
#define SY_HCLIENT_H

#include <stddef.h>

#include "core/sy_url.h"

struct event_base;

typedef struct sy_hclient sy_hclient;
typedef struct sy_hreq sy_hreq;

enum { SY_HC_OK = 0, SY_HC_ECONNECT = 1, SY_HC_ETIMEOUT = 2, SY_HC_ERESET = 3, SY_HC_EABORT = 4 };

typedef struct sy_hreq_cbs {
    /* headers are complete */
    void (*on_status)(void *ud, int status);
    /* one response header (not NUL-terminated) */
    void (*on_header)(void *ud, const char *name, size_t nlen, const char *value, size_t vlen);
    /* body bytes (chunked encoding removed); return -1 to abort the request (SY_HC_EABORT) */
    int (*on_body)(void *ud, const char *data, size_t len);
    /* the end: SY_HC_* (the request is freed after this returns) */
    void (*on_done)(void *ud, int err);
} sy_hreq_cbs;

int sy_hclient_new(sy_hclient **out, struct event_base *base);
/* Frees idle connections. Requests still running must be cancelled first. */
void sy_hclient_free(sy_hclient *hc);

/* Sends POST url->path + path_suffix with the extra header lines (each "Name: value\r\n")
 * and body (borrowed until on_done or cancel). Callbacks never run inside this call.
 * Returns the request, or NULL on out of memory. */
sy_hreq *sy_hclient_post(sy_hclient *hc, const sy_hurl *url, const char *path_suffix,
                         const char *headers, const char *body, size_t len,
                         int connect_timeout_ms, int timeout_ms, const sy_hreq_cbs *cbs,
                         void *ud);
/* Stops a request: its connection is closed, no further callbacks. */
void sy_hreq_cancel(sy_hreq *r);

#endif
