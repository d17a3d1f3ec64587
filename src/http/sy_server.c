/* sy_server.c — inbound HTTP/1.1 server (interface in sy_server.h): an evconnlistener, one
 * bufferevent per connection, requests parsed with http_parser, every server-made error an
 * OpenAI JSON body built by core/sy_core.c. Tested by tests/c/test_server.c. */
#include "http/sy_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <http_parser.h>

#include "core/sy_core.h"

/* How it fits together.
 *
 * A connection is in one of four states:
 *   READING   parsing a request, or idle between requests (msg_started tells which);
 *   HANDLING  a complete request belongs to the handler; input is only buffered;
 *   CLOSING   the last response is flushing; closed (or lingered) once the output is empty;
 *   LINGER    write side shut down; input discarded until EOF or a short timer, so that
 *             unread request bytes do not turn our close into an RST that eats the response.
 *
 * The parser is paused in on_message_complete, so http_parser_execute returns with the
 * rest of a pipelined burst still in the input buffer; the handler is called outside the
 * parser. When a request is finished, the connection is "kicked" (an event made active)
 * rather than processed in place: respond() never re-enters the handler and never frees the
 * connection under a caller's feet. The only places that free a connection are libevent
 * callbacks (event, write, timer, kick), drain() (idle connections only) and server_free().
 *
 * One timer per connection serves three deadlines (timer_kind): IDLE between requests,
 * READ from a request's first byte to its last, LINGER. Stalled writes are caught by the
 * bufferevent's write timeout (no progress for read_timeout_ms while output is pending). */

#define SY_HTTP_DEFAULT_MAX_BODY ((size_t)8 * 1024 * 1024)
#define SY_HTTP_DEFAULT_MAX_HEADER ((size_t)64 * 1024)
#define SY_HTTP_DEFAULT_IDLE_MS 60000
#define SY_HTTP_DEFAULT_READ_MS 30000
#define SY_HTTP_MAX_HEADERS 100
#define SY_HTTP_LINGER_MS 2000
#define SY_HTTP_ACCEPT_RETRY_MS 100
/* Request buffers bigger than this are released between keep-alive requests. */
#define SY_HTTP_KEEP_BUF ((size_t)64 * 1024)
/* Counted against max_header_bytes: method, spaces, version and CRLF of the request line,
 * and ": " + CRLF per header line (callbacks only see names, values and the target). */
#define SY_HTTP_REQLINE_OVERHEAD 16
#define SY_HTTP_HEADER_OVERHEAD 4

static const char CONTINUE_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

typedef struct sy_http_conn sy_http_conn;

enum conn_state { CS_READING, CS_HANDLING, CS_CLOSING, CS_LINGER };
enum timer_kind { TK_NONE, TK_IDLE, TK_READ, TK_LINGER };
enum hdr_cb { HCB_NONE, HCB_FIELD, HCB_VALUE };
enum body_mode { BODY_LENGTH, BODY_CHUNKED, BODY_NONE };

typedef struct hdr_ref {
    size_t name; /* offsets into req->hdrs (offsets, not pointers: the buffer grows) */
    size_t value;
} hdr_ref;

struct sy_http_req {
    sy_http_server *srv; /* NULL if the server was freed while the request was orphaned */
    sy_http_conn *conn;  /* NULL once the client is gone (aborted) */
    const char *method;  /* static string from http_method_str */
    sy_buf url;          /* raw request target as received */
    sy_buf target;       /* "path\0query" */
    size_t query_off;
    sy_buf hdrs; /* "name\0value\0name\0value\0..." */
    hdr_ref *hv;
    size_t nh, hcap;
    sy_buf body;
    sy_buf resp_hdrs; /* "Name: value\r\n"... added by the handler */
    sy_http_abort_cb abort_cb;
    void *abort_ud;
    char peer[64];
    unsigned short http_major, http_minor;
    unsigned owned : 1;        /* handed to on_request and not finished */
    unsigned aborted : 1;      /* client gone while owned */
    unsigned abort_called : 1; /* abort_cb ran (it runs at most once) */
    unsigned keep_alive : 1;   /* the request allows another one on this connection */
    unsigned head : 1;         /* HEAD: headers only */
    unsigned streaming : 1;    /* stream_start done */
    unsigned stream_keep : 1;  /* "Connection: keep-alive" was promised in the stream head */
    unsigned stream_raw : 1;   /* HTTP/1.0 peer: no chunk framing, body ends at close */
    sy_http_req *orph_prev, *orph_next; /* server's list of aborted, unfinished requests */
};

struct sy_http_conn {
    sy_http_server *srv;
    struct bufferevent *bev;
    struct event *timer;      /* see timer_kind */
    struct event *kick;       /* made active to continue on the next pass of the loop */
    struct evbuffer *scratch; /* a response is built here, then moved into bev at once */
    sy_http_req *req;         /* reused between keep-alive requests; orphaned on abort */
    http_parser parser;
    enum conn_state state;
    enum timer_kind timer_kind;
    enum hdr_cb last_hdr; /* which header callback ran last (names/values arrive in pieces) */
    size_t head_bytes;    /* request line + headers so far */
    int err_status;       /* set by a parser callback that failed on purpose */
    const char *err_code;
    char err_msg[160];
    unsigned msg_started : 1; /* first byte of a request seen, request not yet complete */
    unsigned in_trailers : 1; /* header callbacks now carry chunked trailers (ignored) */
    unsigned linger : 1;      /* the client may still be sending: linger before close */
    unsigned close_after : 1; /* drain arrived mid-request: close after its response */
    sy_http_conn *prev, *next;
};

struct sy_http_server {
    struct event_base *base;
    struct evconnlistener *lev;
    struct event *accept_retry; /* re-enables accepting after EMFILE and friends */
    sy_http_server_opts opts;   /* defaults resolved */
    http_parser_settings settings;
    sy_http_conn *conns;
    size_t nconns;
    sy_http_req *orphans;
    size_t inflight;
    int draining;
    time_t date_sec;
    char date[64];
};

static void conn_process(sy_http_conn *c);

/* ================================================================== small helpers */

static void timer_set(sy_http_conn *c, enum timer_kind kind, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    c->timer_kind = kind;
    evtimer_add(c->timer, &tv); /* re-adding a pending timer reschedules it */
}

static void timer_clear(sy_http_conn *c)
{
    evtimer_del(c->timer);
    c->timer_kind = TK_NONE;
}

static void kick(sy_http_conn *c)
{
    event_active(c->kick, EV_TIMEOUT, 0);
}

static struct evbuffer *conn_in(sy_http_conn *c)
{
    return bufferevent_get_input(c->bev);
}

static struct evbuffer *conn_out(sy_http_conn *c)
{
    return bufferevent_get_output(c->bev);
}

static void drain_all(struct evbuffer *b)
{
    evbuffer_drain(b, evbuffer_get_length(b));
}

/* RFC 7230 token: a header name must be one (no ':', spaces or controls). */
static int is_token(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
            continue;
        if (!strchr("!#$%&'*+-.^_`|~", ch)) return 0;
    }
    return 1;
}

/* A header value may not smuggle in a line break (response splitting) or other controls. */
static int is_field_value(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return 0;
    }
    return 1;
}

/* The server frames the response itself; a handler may not set these. */
static int is_reserved_header(const char *name)
{
    static const char *const reserved[] = {
        "content-length", "transfer-encoding", "connection", "content-type", "date",
        "server",         "keep-alive",        "upgrade"};
    for (size_t i = 0; i < SY_ARRAY_LEN(reserved); i++)
        if (sy_strcaseeq(name, reserved[i])) return 1;
    return 0;
}

static const char *http_date(sy_http_server *srv)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    if (now != srv->date_sec || !srv->date[0]) {
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(srv->date, sizeof srv->date, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        srv->date_sec = now;
    }
    return srv->date;
}

static void format_peer(char *out, size_t cap, const struct sockaddr *sa, int salen)
{
    char host[INET6_ADDRSTRLEN];
    if (sa && sa->sa_family == AF_INET && salen >= (int)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        if (!inet_ntop(AF_INET, &in->sin_addr, host, sizeof host)) host[0] = '\0';
        snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (sa && sa->sa_family == AF_INET6 && salen >= (int)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host)) host[0] = '\0';
        snprintf(out, cap, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, cap, "local");
    }
}

/* ======================================================================= requests */

static void buf_recycle(sy_buf *b)
{
    if (b->cap > SY_HTTP_KEEP_BUF)
        sy_buf_free(b);
    else
        sy_buf_reset(b);
}

static void req_free(sy_http_req *req)
{
    if (!req) return;
    sy_buf_free(&req->url);
    sy_buf_free(&req->target);
    sy_buf_free(&req->hdrs);
    sy_buf_free(&req->body);
    sy_buf_free(&req->resp_hdrs);
    free(req->hv);
    free(req);
}

/* Start of a new request on a reused struct: keep the buffers' capacity. */
static void req_reset_request(sy_http_req *req)
{
    sy_buf_reset(&req->url);
    sy_buf_reset(&req->target);
    sy_buf_reset(&req->hdrs);
    sy_buf_reset(&req->body);
    req->query_off = 0;
    req->nh = 0;
    req->method = NULL;
    req->http_major = req->http_minor = 0;
    req->keep_alive = 0;
    req->head = 0;
}

/* The handler is done: forget its response state, give back oversized buffers. */
static void req_reset_response(sy_http_req *req)
{
    req->owned = 0;
    req->abort_cb = NULL;
    req->abort_ud = NULL;
    req->streaming = req->stream_keep = req->stream_raw = 0;
    buf_recycle(&req->resp_hdrs);
    buf_recycle(&req->url);
    buf_recycle(&req->target);
    buf_recycle(&req->hdrs);
    buf_recycle(&req->body);
}

static void orphan_link(sy_http_server *srv, sy_http_req *req)
{
    req->orph_prev = NULL;
    req->orph_next = srv->orphans;
    if (srv->orphans) srv->orphans->orph_prev = req;
    srv->orphans = req;
}

/* Finishing an aborted request only frees it. */
static void orphan_release(sy_http_req *req)
{
    sy_http_server *srv = req->srv;
    if (srv) {
        if (req->orph_prev)
            req->orph_prev->orph_next = req->orph_next;
        else
            srv->orphans = req->orph_next;
        if (req->orph_next) req->orph_next->orph_prev = req->orph_prev;
        if (srv->inflight) srv->inflight--;
    }
    req_free(req);
}

/* ==================================================================== connections */

/* Frees the connection now. A request still owned by the handler is orphaned, marked
 * aborted and its abort callback runs (last, after the connection is gone, so that the
 * callback may finish the request on the spot). */
static void conn_close(sy_http_conn *c)
{
    sy_http_server *srv = c->srv;
    sy_http_req *req = c->req;
    int owned = req && req->owned;

    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    srv->nconns--;

    /* Safe inside the bufferevent's own callbacks: libevent defers the final release. */
    bufferevent_free(c->bev);
    event_free(c->timer);
    event_free(c->kick);
    evbuffer_free(c->scratch);
    free(c);

    if (!owned) {
        req_free(req);
        return;
    }
    req->conn = NULL;
    req->aborted = 1;
    orphan_link(srv, req);
    if (req->abort_cb && !req->abort_called) {
        req->abort_called = 1;
        req->abort_cb(req, req->abort_ud); /* may finish (and free) req */
    }
}

/* The response is out (or the connection is beyond saving): close, or first linger if the
 * client may still be sending, so our close does not reset the connection before the
 * client has read the response. */
static void conn_close_or_linger(sy_http_conn *c)
{
    if (!c->linger) {
        conn_close(c);
        return;
    }
    c->state = CS_LINGER;
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    drain_all(conn_in(c));
    bufferevent_enable(c->bev, EV_READ);
    int ms = c->srv->opts.read_timeout_ms;
    timer_set(c, TK_LINGER, ms < SY_HTTP_LINGER_MS ? ms : SY_HTTP_LINGER_MS);
}

/* Status line + headers into c->scratch. req may be NULL (server-made errors). */
static int put_head(sy_http_conn *c, const sy_http_req *req, int status, const char *ctype,
                    enum body_mode mode, size_t clen, int keep)
{
    /* Plain appends, no printf: this runs for every response. */
    char head[512];
    sy_buf h = {head, 0, sizeof head};
    const char *reason = sy_http_reason(status), *date = http_date(c->srv);
    const char *conn = keep ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    char num[24];
    struct evbuffer *b = c->scratch;
    int bad = 0;
    size_t need = 64 + strlen(reason) + strlen(date) + (ctype ? strlen(ctype) : 0) + 96;
    if (need > sizeof head) return SY_ENOMEM; /* reason, date and type are short */
    memcpy(head, "HTTP/1.1 ", 9);
    h.len = 9;
    num[0] = (char)('0' + status / 100 % 10);
    num[1] = (char)('0' + status / 10 % 10);
    num[2] = (char)('0' + status % 10);
    num[3] = ' ';
    memcpy(head + h.len, num, 4);
    h.len += 4;
#define PUT(str)                                                                           \
    do {                                                                                   \
        size_t n_ = strlen(str);                                                           \
        memcpy(head + h.len, (str), n_);                                                   \
        h.len += n_;                                                                       \
    } while (0)
    PUT(reason);
    PUT("\r\nServer: switchyard\r\nDate: ");
    PUT(date);
    PUT("\r\n");
    bad |= evbuffer_add(b, head, h.len) < 0;
    h.len = 0;
    if (req && req->resp_hdrs.len)
        bad |= evbuffer_add(b, req->resp_hdrs.data, req->resp_hdrs.len) < 0;
    if (ctype) {
        PUT("Content-Type: ");
        PUT(ctype);
        PUT("\r\n");
    }
    if (mode == BODY_LENGTH) {
        char *e = num + sizeof num, *p = e;
        size_t v = clen;
        do {
            *--p = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        PUT("Content-Length: ");
        memcpy(head + h.len, p, (size_t)(e - p));
        h.len += (size_t)(e - p);
        PUT("\r\n");
    } else if (mode == BODY_CHUNKED) {
        PUT("Transfer-Encoding: chunked\r\n");
    }
    PUT(conn);
#undef PUT
    bad |= evbuffer_add(b, head, h.len) < 0;
    return bad ? SY_ENOMEM : SY_OK;
}

/* Moves everything built in scratch into the bufferevent: one write per API call. */
static int flush_scratch(sy_http_conn *c)
{
    if (bufferevent_write_buffer(c->bev, c->scratch) == 0) return SY_OK;
    drain_all(c->scratch);
    return SY_ENOMEM;
}

/* An OpenAI-style JSON error with "Connection: close". */
static int put_error(sy_http_conn *c, int status, const char *code, const char *msg)
{
    sy_buf body;
    sy_buf_init(&body);
    int rc = sy_error_body(&body, msg, sy_error_type_for_status(status), NULL, code);
    if (!rc) rc = put_head(c, NULL, status, "application/json", BODY_LENGTH, body.len, 0);
    if (!rc && evbuffer_add(c->scratch, body.data, body.len) < 0) rc = SY_ENOMEM;
    if (!rc)
        rc = flush_scratch(c);
    else
        drain_all(c->scratch);
    sy_buf_free(&body);
    return rc;
}

/* The server answers the current (unfinished, not handed out) request with an error and
 * closes the connection once it is flushed. */
static void conn_fail(sy_http_conn *c, int status, const char *code, const char *msg)
{
    sy_log(SY_LOG_DEBUG, "http", "%s: %d %s", c->req->peer, status, code);
    timer_clear(c);
    c->msg_started = 0;
    c->state = CS_CLOSING;
    c->linger = 1; /* the rest of the request may still be on its way */
    drain_all(conn_in(c));
    put_error(c, status, code, msg);
    kick(c); /* closes at once if nothing could be queued */
}

/* The handler is done with req (connection still open). keep: the response allows another
 * request on this connection. */
static void req_finish(sy_http_req *req, int keep)
{
    sy_http_conn *c = req->conn;
    sy_http_server *srv = c->srv;

    req_reset_response(req);
    if (srv->inflight) srv->inflight--;
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    if (keep && req->keep_alive && !srv->draining && !c->close_after) {
        http_parser_pause(&c->parser, 0);
        c->state = CS_READING;
    } else {
        c->state = CS_CLOSING;
        if (evbuffer_get_length(conn_in(c))) c->linger = 1;
    }
    kick(c); /* parse what is buffered / close once flushed — never from inside here */
}

static void dispatch(sy_http_conn *c)
{
    sy_http_server *srv = c->srv;
    sy_http_req *req = c->req;

    timer_clear(c);
    c->msg_started = 0;
    c->state = CS_HANDLING;
    req->owned = 1;
    req->aborted = req->abort_called = 0;
    srv->inflight++;
    /* Keep reading so a disconnect is noticed (abort), but buffer at most about one request
     * head of whatever the client pipelines meanwhile. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, srv->opts.max_header_bytes);
    srv->opts.on_request(req, srv->opts.ud);
    /* c may be in any state now; the caller returns without touching it. */
}

/* ================================================================ parser callbacks */

static int cb_fail(sy_http_conn *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int cb_fail(sy_http_conn *c, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err_msg, sizeof c->err_msg, fmt, ap);
    va_end(ap);
    c->err_status = status;
    c->err_code = code;
    return -1;
}

static int cb_nomem(sy_http_conn *c)
{
    return cb_fail(c, 500, "out_of_memory", "The server is out of memory");
}

static int head_grow(sy_http_conn *c, size_t n)
{
    size_t max = c->srv->opts.max_header_bytes;
    c->head_bytes += n;
    if (c->head_bytes <= max) return 0;
    return cb_fail(c, 431, "headers_too_large", "Request headers exceed the limit of %zu bytes",
                   max);
}

static int body_fail(sy_http_conn *c)
{
    return cb_fail(c, 413, "request_too_large", "Request body exceeds the limit of %zu bytes",
                   c->srv->opts.max_body);
}

/* The current header name is complete: terminate it, the value starts here. */
static int hdr_end_name(sy_http_req *req)
{
    if (sy_buf_append(&req->hdrs, "", 1)) return -1;
    req->hv[req->nh - 1].value = req->hdrs.len;
    return 0;
}

/* The current value is complete: drop trailing blanks (http_parser keeps them), terminate. */
static int hdr_end_value(sy_http_req *req)
{
    size_t start = req->hv[req->nh - 1].value;
    while (req->hdrs.len > start &&
           (req->hdrs.data[req->hdrs.len - 1] == ' ' || req->hdrs.data[req->hdrs.len - 1] == '\t'))
        req->hdrs.len--;
    return sy_buf_append(&req->hdrs, "", 1) ? -1 : 0;
}

static int on_message_begin(http_parser *p)
{
    sy_http_conn *c = p->data;
    req_reset_request(c->req);
    c->head_bytes = SY_HTTP_REQLINE_OVERHEAD;
    c->last_hdr = HCB_NONE;
    c->in_trailers = 0;
    c->msg_started = 1;
    timer_set(c, TK_READ, c->srv->opts.read_timeout_ms);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    sy_http_conn *c = p->data;
    if (head_grow(c, len)) return -1;
    return sy_buf_append(&c->req->url, at, len) ? cb_nomem(c) : 0;
}

/* http_parser may deliver one name or value in several calls (data arriving in pieces);
 * a name call after a value call starts the next header. */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
    sy_http_conn *c = p->data;
    sy_http_req *req = c->req;
    if (head_grow(c, len)) return -1;
    if (c->in_trailers) return 0;
    if (c->last_hdr != HCB_FIELD) {
        if (c->last_hdr == HCB_VALUE && hdr_end_value(req)) return cb_nomem(c);
        if (req->nh == SY_HTTP_MAX_HEADERS)
            return cb_fail(c, 431, "headers_too_large", "More than %d request headers",
                           SY_HTTP_MAX_HEADERS);
        if (req->nh == req->hcap) {
            size_t cap = req->hcap ? req->hcap * 2 : 16;
            hdr_ref *hv = realloc(req->hv, cap * sizeof *hv);
            if (!hv) return cb_nomem(c);
            req->hv = hv;
            req->hcap = cap;
        }
        req->hv[req->nh].name = req->hdrs.len;
        req->hv[req->nh].value = req->hdrs.len;
        req->nh++;
        c->last_hdr = HCB_FIELD;
        if (head_grow(c, SY_HTTP_HEADER_OVERHEAD)) return -1;
    }
    return sy_buf_append(&req->hdrs, at, len) ? cb_nomem(c) : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    sy_http_conn *c = p->data;
    sy_http_req *req = c->req;
    if (head_grow(c, len)) return -1;
    if (c->in_trailers) return 0;
    if (c->last_hdr != HCB_VALUE) {
        if (c->last_hdr != HCB_FIELD)
            return cb_fail(c, 400, "bad_http", "Header value without a name");
        if (hdr_end_name(req)) return cb_nomem(c);
        c->last_hdr = HCB_VALUE;
    }
    return sy_buf_append(&req->hdrs, at, len) ? cb_nomem(c) : 0;
}

/* "path\0query" from the raw target (origin-form or absolute-form). */
static int split_target(sy_http_conn *c, const http_parser *p)
{
    sy_http_req *req = c->req;
    const char *url = req->url.data ? req->url.data : "";
    const char *path = "/", *query = "";
    size_t plen = 1, qlen = 0;
    struct http_parser_url u;

    http_parser_url_init(&u);
    if (http_parser_parse_url(url, req->url.len, p->method == HTTP_CONNECT, &u))
        return cb_fail(c, 400, "bad_http", "Malformed request target");
    if (p->method == HTTP_CONNECT) {
        path = url;
        plen = req->url.len;
    } else if (u.field_set & (1u << UF_PATH)) {
        path = url + u.field_data[UF_PATH].off;
        plen = u.field_data[UF_PATH].len;
    }
    if (u.field_set & (1u << UF_QUERY)) {
        query = url + u.field_data[UF_QUERY].off;
        qlen = u.field_data[UF_QUERY].len;
    }
    sy_buf_reset(&req->target);
    if (sy_buf_append(&req->target, path, plen) || sy_buf_append(&req->target, "", 1))
        return cb_nomem(c);
    req->query_off = req->target.len;
    if (sy_buf_append(&req->target, query, qlen)) return cb_nomem(c);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    sy_http_conn *c = p->data;
    sy_http_req *req = c->req;
    size_t max = c->srv->opts.max_body;
    int chunked = (p->flags & F_CHUNKED) != 0;
    uint64_t clen = p->content_length; /* ULLONG_MAX when absent (not 0, whatever the
                                          header comment in http_parser.h says) */

    if (c->last_hdr == HCB_FIELD && hdr_end_name(req)) return cb_nomem(c);
    if (c->last_hdr != HCB_NONE && hdr_end_value(req)) return cb_nomem(c);
    c->last_hdr = HCB_NONE;
    c->in_trailers = 1;

    req->method = http_method_str((enum http_method)p->method);
    req->http_major = p->http_major;
    req->http_minor = p->http_minor;
    req->head = p->method == HTTP_HEAD;
    if (p->http_major != 1)
        return cb_fail(c, 400, "bad_http", "Unsupported HTTP version %u.%u", p->http_major,
                       p->http_minor);
    if (split_target(c, p)) return -1;

    /* Refuse an oversized declared body before reading a byte of it. */
    if (!chunked && clen != ULLONG_MAX && clen > max) return body_fail(c);
    if (!chunked && clen != ULLONG_MAX && clen > 0 && sy_buf_reserve(&req->body, (size_t)clen))
        return cb_nomem(c);

    /* libcurl waits (1 s) for this before sending any POST body over 1 KiB. */
    const char *expect = sy_http_req_header(req, "Expect");
    if (expect && sy_strcaseeq(expect, "100-continue") && p->http_minor >= 1 &&
        (chunked || (clen != ULLONG_MAX && clen > 0)))
        bufferevent_write(c->bev, CONTINUE_100, sizeof CONTINUE_100 - 1);
    return 0;
}

static int on_chunk_header(http_parser *p)
{
    sy_http_conn *c = p->data;
    /* content_length holds this chunk's size: fail before its bytes arrive. */
    if (p->content_length > c->srv->opts.max_body - c->req->body.len) return body_fail(c);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    sy_http_conn *c = p->data;
    sy_http_req *req = c->req;
    if (len > c->srv->opts.max_body - req->body.len) return body_fail(c);
    return sy_buf_append(&req->body, at, len) ? cb_nomem(c) : 0;
}

static int on_message_complete(http_parser *p)
{
    sy_http_conn *c = p->data;
    /* An upgrade (or CONNECT) is not followed: answer it, then close. */
    c->req->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    /* One request at a time: stop here; the rest of the input waits in the bufferevent. */
    http_parser_pause(p, 1);
    return 0;
}

/* =============================================================== connection flow */

static void parse_failed(sy_http_conn *c, enum http_errno err)
{
    char msg[160];
    if (c->err_status) {
        conn_fail(c, c->err_status, c->err_code, c->err_msg);
        return;
    }
    if (err == HPE_HEADER_OVERFLOW) { /* http_parser's own (process-global) limit */
        snprintf(msg, sizeof msg, "Request headers exceed the limit of %zu bytes",
                 c->srv->opts.max_header_bytes);
        conn_fail(c, 431, "headers_too_large", msg);
        return;
    }
    snprintf(msg, sizeof msg, "Malformed HTTP request: %s", http_errno_description(err));
    conn_fail(c, 400, "bad_http", msg);
}

/* Feeds buffered input to the parser until a request is complete (then hands it out) or
 * the input runs dry (then arms the idle or read deadline). */
static void conn_process(sy_http_conn *c)
{
    struct evbuffer *in = conn_in(c);
    while (c->state == CS_READING && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v[8];
        int nv = evbuffer_peek(in, -1, NULL, v, 8);
        size_t used = 0;
        enum http_errno err = HPE_OK;
        if (nv > 8) nv = 8;
        for (int i = 0; i < nv && err == HPE_OK; i++) {
            if (v[i].iov_len == 0) continue; /* a zero length would mean EOF to the parser */
            size_t n =
                http_parser_execute(&c->parser, &c->srv->settings, v[i].iov_base, v[i].iov_len);
            used += n;
            err = HTTP_PARSER_ERRNO(&c->parser);
            if (err == HPE_OK && n != v[i].iov_len) err = HPE_UNKNOWN; /* cannot happen */
        }
        evbuffer_drain(in, used);
        if (err == HPE_PAUSED) {
            dispatch(c);
            return;
        }
        if (err != HPE_OK) {
            parse_failed(c, err);
            return;
        }
    }
    if (c->state == CS_READING && !c->msg_started)
        timer_set(c, TK_IDLE, c->srv->opts.idle_timeout_ms);
}

static void on_read(struct bufferevent *bev, void *ud)
{
    sy_http_conn *c = ud;
    (void)bev;
    switch (c->state) {
    case CS_READING:
        conn_process(c);
        break;
    case CS_HANDLING:
        break; /* waits for the handler; bounded by the read watermark */
    case CS_CLOSING:
        c->linger = 1;
        drain_all(conn_in(c));
        break;
    case CS_LINGER:
        drain_all(conn_in(c));
        break;
    }
}

static void on_write(struct bufferevent *bev, void *ud)
{
    sy_http_conn *c = ud;
    (void)bev;
    if (c->state == CS_CLOSING && evbuffer_get_length(conn_out(c)) == 0) conn_close_or_linger(c);
}

static void on_event(struct bufferevent *bev, short what, void *ud)
{
    sy_http_conn *c = ud;
    (void)bev;
    /* A client that half-closes after its request still gets the response already queued;
     * a handler-owned request counts as abandoned (the handler is told). */
    if ((what & BEV_EVENT_EOF) && !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) &&
        (c->state == CS_CLOSING ||
         (c->state == CS_READING && evbuffer_get_length(conn_out(c)) > 0))) {
        c->state = CS_CLOSING;
        c->linger = 0;
        c->msg_started = 0;
        timer_clear(c);
        if (evbuffer_get_length(conn_out(c)) == 0) conn_close(c);
        return;
    }
    conn_close(c);
}

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
    sy_http_conn *c = ud;
    enum timer_kind kind = c->timer_kind;
    (void)fd;
    (void)what;
    c->timer_kind = TK_NONE;
    switch (kind) {
    case TK_IDLE:
        if (c->state != CS_READING || c->msg_started) break;
        if (evbuffer_get_length(conn_out(c)) == 0) {
            conn_close(c); /* idle keep-alive: silently */
        } else {
            c->state = CS_CLOSING; /* a slow reader: finish the last response first */
        }
        break;
    case TK_READ:
        if (c->state == CS_READING && c->msg_started) {
            char msg[96];
            snprintf(msg, sizeof msg, "Request not received within %d ms",
                     c->srv->opts.read_timeout_ms);
            conn_fail(c, 408, "request_timeout", msg);
        }
        break;
    case TK_LINGER:
        conn_close(c);
        break;
    case TK_NONE:
        break;
    }
}

static void on_kick(evutil_socket_t fd, short what, void *ud)
{
    sy_http_conn *c = ud;
    (void)fd;
    (void)what;
    if (c->state == CS_READING) {
        conn_process(c);
    } else if (c->state == CS_CLOSING) {
        drain_all(conn_in(c));
        if (evbuffer_get_length(conn_out(c)) == 0) conn_close_or_linger(c);
    }
}

/* ======================================================================== accepting */

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *ud)
{
    sy_http_server *srv = ud;
    sy_http_conn *c = NULL;
    int one = 1;
    (void)lev;

    if (srv->draining) goto fail;
    /* Streamed chunks must leave now, not after Nagle's delay. Fails harmlessly on AF_UNIX. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    c = calloc(1, sizeof *c);
    if (!c) goto fail;
    c->srv = srv;
    c->req = calloc(1, sizeof *c->req);
    c->timer = evtimer_new(srv->base, on_timer, c);
    c->kick = event_new(srv->base, -1, 0, on_kick, c);
    c->scratch = evbuffer_new();
    if (!c->req || !c->timer || !c->kick || !c->scratch) goto fail;
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) goto fail;
    fd = -1; /* the bufferevent owns it now */

    c->req->conn = c;
    c->req->srv = srv;
    format_peer(c->req->peer, sizeof c->req->peer, sa, salen);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->state = CS_READING;

    struct timeval wtv = {srv->opts.read_timeout_ms / 1000,
                          (srv->opts.read_timeout_ms % 1000) * 1000};
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_set_timeouts(c->bev, NULL, &wtv);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE)) goto fail;

    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    timer_set(c, TK_IDLE, srv->opts.idle_timeout_ms);
    return;

fail:
    if (c) {
        if (c->bev) bufferevent_free(c->bev);
        evbuffer_free(c->scratch);
        if (c->kick) event_free(c->kick);
        if (c->timer) event_free(c->timer);
        req_free(c->req);
        free(c);
        if (!srv->draining) sy_log(SY_LOG_ERROR, "http", "out of memory accepting a connection");
    }
    if (fd >= 0) evutil_closesocket(fd);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *ud)
{
    sy_http_server *srv = ud;
    (void)fd;
    (void)what;
    if (!srv->draining) evconnlistener_enable(srv->lev);
}

/* EMFILE, ENFILE, ENOBUFS...: without this the listener would spin on a readable socket. */
static void on_accept_error(struct evconnlistener *lev, void *ud)
{
    sy_http_server *srv = ud;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval tv = {0, SY_HTTP_ACCEPT_RETRY_MS * 1000};
    sy_log(SY_LOG_WARN, "http", "accept failed: %s; pausing accepts for %d ms",
           evutil_socket_error_to_string(err), SY_HTTP_ACCEPT_RETRY_MS);
    evconnlistener_disable(lev);
    evtimer_add(srv->accept_retry, &tv);
}

/* =========================================================================== server */

int sy_http_server_new(sy_http_server **out, struct event_base *base, int listen_fd,
                       const sy_http_server_opts *opts)
{
    sy_http_server *srv = NULL;
    int rc = SY_EINVAL;

    if (!out) return SY_EINVAL;
    *out = NULL;
    if (!base || listen_fd < 0 || !opts || !opts->on_request || opts->idle_timeout_ms < 0 ||
        opts->read_timeout_ms < 0)
        goto fail;

    rc = SY_ENOMEM;
    srv = calloc(1, sizeof *srv);
    if (!srv) goto fail;
    srv->base = base;
    srv->opts = *opts;
    if (!srv->opts.max_body) srv->opts.max_body = SY_HTTP_DEFAULT_MAX_BODY;
    if (!srv->opts.max_header_bytes) srv->opts.max_header_bytes = SY_HTTP_DEFAULT_MAX_HEADER;
    if (!srv->opts.idle_timeout_ms) srv->opts.idle_timeout_ms = SY_HTTP_DEFAULT_IDLE_MS;
    if (!srv->opts.read_timeout_ms) srv->opts.read_timeout_ms = SY_HTTP_DEFAULT_READ_MS;

    http_parser_settings_init(&srv->settings);
    srv->settings.on_message_begin = on_message_begin;
    srv->settings.on_url = on_url;
    srv->settings.on_header_field = on_header_field;
    srv->settings.on_header_value = on_header_value;
    srv->settings.on_headers_complete = on_headers_complete;
    srv->settings.on_chunk_header = on_chunk_header;
    srv->settings.on_body = on_body;
    srv->settings.on_message_complete = on_message_complete;

    srv->accept_retry = evtimer_new(base, on_accept_retry, srv);
    if (!srv->accept_retry) goto fail;
    /* No LEV_OPT_CLOSE_ON_FREE: listen_fd belongs to the caller. Backlog 0: already
     * listening, so libevent does not call listen() again. */
    srv->lev = evconnlistener_new(base, on_accept, srv, LEV_OPT_CLOSE_ON_EXEC, 0, listen_fd);
    if (!srv->lev) {
        rc = SY_EIO;
        goto fail;
    }
    evconnlistener_set_error_cb(srv->lev, on_accept_error);
    *out = srv;
    return SY_OK;

fail:
    sy_http_server_free(srv);
    return rc;
}

void sy_http_server_drain(sy_http_server *srv)
{
    sy_http_conn *c, *next;
    if (!srv || srv->draining) return;
    srv->draining = 1;
    evconnlistener_disable(srv->lev);
    evtimer_del(srv->accept_retry);
    for (c = srv->conns; c; c = next) {
        next = c->next; /* closing a non-handling connection runs no user code */
        if (c->state != CS_READING) continue; /* HANDLING / CLOSING finish on their own */
        if (c->msg_started) {
            c->close_after = 1; /* a request is arriving: answer it, then close */
            continue;
        }
        timer_clear(c);
        if (evbuffer_get_length(conn_out(c)) == 0)
            conn_close(c);
        else
            c->state = CS_CLOSING; /* the write callback closes it once flushed */
    }
}

size_t sy_http_server_inflight(const sy_http_server *srv)
{
    return srv ? srv->inflight : 0;
}

size_t sy_http_server_connections(const sy_http_server *srv)
{
    return srv ? srv->nconns : 0;
}

void sy_http_server_free(sy_http_server *srv)
{
    if (!srv) return;
    if (srv->lev) evconnlistener_free(srv->lev);
    srv->lev = NULL;
    srv->draining = 1;
    /* A request still owned by a handler is a caller bug; abort it rather than leave the
     * handler holding a pointer into freed memory. */
    while (srv->conns)
        conn_close(srv->conns);
    while (srv->orphans) {
        sy_http_req *req = srv->orphans;
        srv->orphans = req->orph_next;
        req->srv = NULL;
        req->orph_prev = req->orph_next = NULL;
    }
    if (srv->accept_retry) event_free(srv->accept_retry);
    free(srv);
}

/* ========================================================================= request */

const char *sy_http_req_method(const sy_http_req *req)
{
    return req && req->method ? req->method : "";
}

const char *sy_http_req_path(const sy_http_req *req)
{
    return req && req->target.data ? req->target.data : "";
}

const char *sy_http_req_query(const sy_http_req *req)
{
    return req && req->target.data ? req->target.data + req->query_off : "";
}

const char *sy_http_req_header(const sy_http_req *req, const char *name)
{
    if (!req || !name) return NULL;
    for (size_t i = 0; i < req->nh; i++)
        if (sy_strcaseeq(req->hdrs.data + req->hv[i].name, name))
            return req->hdrs.data + req->hv[i].value;
    return NULL;
}

size_t sy_http_req_header_count(const sy_http_req *req)
{
    return req ? req->nh : 0;
}

void sy_http_req_header_at(const sy_http_req *req, size_t i, const char **name, const char **value)
{
    int ok = req && i < req->nh;
    if (name) *name = ok ? req->hdrs.data + req->hv[i].name : NULL;
    if (value) *value = ok ? req->hdrs.data + req->hv[i].value : NULL;
}

const char *sy_http_req_body(const sy_http_req *req, size_t *len)
{
    if (len) *len = req ? req->body.len : 0;
    return req && req->body.data ? req->body.data : "";
}

const char *sy_http_req_peer(const sy_http_req *req)
{
    return req ? req->peer : "";
}

/* Set on a request that is already aborted, the callback is not called: the handler
 * asks sy_http_req_aborted() instead (calling it from in here could free state the caller
 * is still using). */
void sy_http_req_set_abort_cb(sy_http_req *req, sy_http_abort_cb cb, void *ud)
{
    if (!req || !req->owned) return;
    req->abort_cb = cb;
    req->abort_ud = ud;
}

int sy_http_req_aborted(const sy_http_req *req)
{
    return req ? req->aborted : 1;
}

/* ======================================================================== response */

int sy_http_add_header(sy_http_req *req, const char *name, const char *value)
{
    if (!req || !name || !value || !is_token(name) || !is_field_value(value) ||
        is_reserved_header(name))
        return SY_EINVAL;
    if (!req->owned || req->streaming) return SY_ESTATE;
    if (!req->conn) return SY_EIO;
    int rc = sy_buf_puts(&req->resp_hdrs, name);
    rc |= sy_buf_append(&req->resp_hdrs, ": ", 2);
    rc |= sy_buf_puts(&req->resp_hdrs, value);
    rc |= sy_buf_append(&req->resp_hdrs, "\r\n", 2);
    return rc ? SY_ENOMEM : SY_OK;
}

int sy_http_has_header(const sy_http_req *req, const char *name)
{
    size_t n = strlen(name);
    const char *p = req ? req->resp_hdrs.data : NULL, *end = p ? p + req->resp_hdrs.len : NULL;
    for (; p && p < end; p = memchr(p, '\n', (size_t)(end - p)), p = p ? p + 1 : NULL)
        if ((size_t)(end - p) > n && p[n] == ':' && strncasecmp(p, name, n) == 0) return 1;
    return 0;
}

/* respond / stream_end / discard always finish the request, whatever they return; only
 * a request that is not (or no longer) owned by the handler is left alone (SY_ESTATE). */
int sy_http_respond(sy_http_req *req, int status, const char *content_type, const char *body,
                    size_t len)
{
    sy_http_conn *c;
    int rc, keep, nobody;

    if (!req) return SY_EINVAL;
    if (!req->owned) return SY_ESTATE;
    if (!req->conn) {
        orphan_release(req);
        return SY_EIO;
    }
    c = req->conn;
    if (req->streaming) { /* a second head cannot be sent: cut the stream */
        req_finish(req, 0);
        return SY_ESTATE;
    }
    if (!content_type) content_type = "application/json";
    if (status < 200 || status > 599 || (!body && len) || !is_field_value(content_type)) {
        put_error(c, 500, NULL, "The server produced an invalid response");
        req_finish(req, 0);
        return SY_EINVAL;
    }
    keep = req->keep_alive && !c->close_after && !c->srv->draining;
    nobody = status == 204 || status == 304;
    rc = put_head(c, req, status, nobody ? NULL : content_type, nobody ? BODY_NONE : BODY_LENGTH,
                  len, keep);
    if (!rc && !nobody && !req->head && len && evbuffer_add(c->scratch, body, len) < 0)
        rc = SY_ENOMEM;
    if (!rc)
        rc = flush_scratch(c);
    else
        drain_all(c->scratch);
    req_finish(req, keep && !rc);
    return rc;
}

/* content_type NULL = "text/event-stream". An HTTP/1.0 client gets the body unframed and
 * the connection closes at the end. */
int sy_http_stream_start(sy_http_req *req, int status, const char *content_type)
{
    sy_http_conn *c;
    int rc, keep, raw;

    if (!req) return SY_EINVAL;
    if (!req->owned || req->streaming) return SY_ESTATE;
    if (!req->conn) return SY_EIO;
    if (!content_type) content_type = "text/event-stream";
    if (status < 200 || status > 599 || status == 204 || status == 304 ||
        !is_field_value(content_type))
        return SY_EINVAL;
    c = req->conn;
    raw = req->http_minor == 0;
    keep = !raw && req->keep_alive && !c->close_after && !c->srv->draining;
    rc = put_head(c, req, status, content_type, raw ? BODY_NONE : BODY_CHUNKED, 0, keep);
    if (!rc)
        rc = flush_scratch(c);
    else
        drain_all(c->scratch);
    req->streaming = 1;
    req->stream_raw = raw;
    req->stream_keep = keep && !rc;
    return rc;
}

int sy_http_stream_write(sy_http_req *req, const char *data, size_t len)
{
    sy_http_conn *c;
    int bad = 0;

    if (!req || (!data && len)) return SY_EINVAL;
    if (!req->owned || !req->streaming) return SY_ESTATE;
    if (!req->conn) return SY_EIO;
    if (len == 0 || req->head) return SY_OK; /* an empty chunk would end the stream */
    c = req->conn;
    if (!req->stream_raw) bad |= evbuffer_add_printf(c->scratch, "%zx\r\n", len) < 0;
    bad |= evbuffer_add(c->scratch, data, len) < 0;
    if (!req->stream_raw) bad |= evbuffer_add(c->scratch, "\r\n", 2) < 0;
    if (bad) {
        drain_all(c->scratch);
        req->stream_keep = 0; /* the stream has a hole now: end it with the connection */
        return SY_ENOMEM;
    }
    if (flush_scratch(c)) {
        req->stream_keep = 0;
        return SY_ENOMEM;
    }
    return SY_OK;
}

int sy_http_stream_end(sy_http_req *req)
{
    int rc = SY_OK;
    if (!req) return SY_EINVAL;
    if (!req->owned) return SY_ESTATE;
    if (!req->conn) {
        orphan_release(req);
        return SY_EIO;
    }
    if (!req->streaming) {
        req_finish(req, 0);
        return SY_ESTATE;
    }
    if (!req->head && !req->stream_raw && bufferevent_write(req->conn->bev, "0\r\n\r\n", 5) != 0)
        rc = SY_ENOMEM;
    req_finish(req, req->stream_keep && !rc && !req->stream_raw);
    return rc;
}

void sy_http_req_discard(sy_http_req *req)
{
    if (!req || !req->owned) return;
    if (!req->conn) {
        orphan_release(req);
        return;
    }
    req_finish(req, 0);
}
