/* sy_server.h — inbound HTTP/1.1 server for one worker: a libevent bufferevent per
 * connection, parsed with http_parser; keep-alive, pipelining (one request at a time per
 * connection), bounded bodies, chunked streaming responses. Used by engine/sy_worker.c.
 *
 * Why not evhttp: libevent 2.1's evhttp answers an oversized body with its own HTML 413
 * page (no error callback until 2.2) and has no hook between headers and body; switchyard
 * must answer every error with an OpenAI JSON error object.
 *
 * Lifetime of a request: the server hands a complete request to on_request. From then on
 * the handler owns it and must finish it exactly once with sy_http_respond() or
 * sy_http_stream_end() (or sy_http_req_discard()). If the client disconnects first, the
 * abort callback (if set) runs once; writes then return SY_EIO and do nothing, but the
 * handler must still finish the request, which frees it. Nothing here takes a lock: a
 * server and its requests belong to one event_base / thread. */
#ifndef SY_SERVER_H
#define SY_SERVER_H

#include <stddef.h>

struct event_base;

typedef struct sy_http_server sy_http_server;
typedef struct sy_http_req sy_http_req;

typedef void (*sy_http_handler)(sy_http_req *req, void *ud);
typedef void (*sy_http_abort_cb)(sy_http_req *req, void *ud);

typedef struct sy_http_server_opts {
    size_t max_body;         /* bytes; a larger body gets 413 JSON, then close. 0 = 8 MiB */
    size_t max_header_bytes; /* request line + headers; larger gets 431 JSON. 0 = 64 KiB */
    int idle_timeout_ms;     /* keep-alive connection idle between requests. 0 = 60000 */
    int read_timeout_ms;     /* a started request must arrive whole within. 0 = 30000 */
    sy_http_handler on_request;
    void *ud;
} sy_http_server_opts;

/* Accepts on listen_fd (already bound, listening, non-blocking; the server does not close
 * it). Returns 0 or a negative SY_E* code. */
int sy_http_server_new(sy_http_server **out, struct event_base *base, int listen_fd,
                       const sy_http_server_opts *opts);
/* Stops accepting new connections; idle keep-alive connections are closed, requests in
 * flight finish and their connections close after the response. */
void sy_http_server_drain(sy_http_server *srv);
/* Requests handed to on_request and not yet finished. */
size_t sy_http_server_inflight(const sy_http_server *srv);
/* Open client connections. */
size_t sy_http_server_connections(const sy_http_server *srv);
/* Closes every connection. Requests still owned by a handler must be finished first. */
void sy_http_server_free(sy_http_server *srv);

/* ---- the request (valid from on_request until finished) --------------------------- */
const char *sy_http_req_method(const sy_http_req *req); /* "GET", "POST", ... */
const char *sy_http_req_path(const sy_http_req *req);   /* "/v1/models", no query string */
const char *sy_http_req_query(const sy_http_req *req);  /* after '?', or "" */
/* Case-insensitive lookup; first match or NULL. */
const char *sy_http_req_header(const sy_http_req *req, const char *name);
size_t sy_http_req_header_count(const sy_http_req *req);
void sy_http_req_header_at(const sy_http_req *req, size_t i, const char **name,
                           const char **value);
/* The whole body (NUL-terminated for convenience; len excludes the NUL). */
const char *sy_http_req_body(const sy_http_req *req, size_t *len);
/* Peer address as text ("127.0.0.1:53422"). */
const char *sy_http_req_peer(const sy_http_req *req);
void sy_http_req_set_abort_cb(sy_http_req *req, sy_http_abort_cb cb, void *ud);
int sy_http_req_aborted(const sy_http_req *req);

/* ---- the response ------------------------------------------------------------------ */
/* Adds a response header (copied). Only before respond / stream_start. */
int sy_http_add_header(sy_http_req *req, const char *name, const char *value);
/* Whether a response header of that name (any case) was added. */
int sy_http_has_header(const sy_http_req *req, const char *name);
/* Sends a complete response with Content-Length and finishes the request (req is invalid
 * afterwards). content_type NULL = "application/json". */
int sy_http_respond(sy_http_req *req, int status, const char *content_type, const char *body,
                    size_t len);
/* Starts a chunked response (Transfer-Encoding: chunked), e.g. text/event-stream. */
int sy_http_stream_start(sy_http_req *req, int status, const char *content_type);
/* Sends one chunk now (no buffering beyond the socket's). */
int sy_http_stream_write(sy_http_req *req, const char *data, size_t len);
/* Sends the last chunk and finishes the request (req is invalid afterwards). */
int sy_http_stream_end(sy_http_req *req);
/* Finishes a request without a (further) response: closes the connection. For a handler
 * that gives up on an aborted or half-streamed request. req is invalid afterwards. */
void sy_http_req_discard(sy_http_req *req);

#endif
