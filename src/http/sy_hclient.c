/* sy_hclient.c — HTTP/1.1 keep-alive client for plain-http upstreams (see sy_hclient.h).
 *
 * A request takes an idle pooled connection to its host:port or opens one, writes its head
 * and body, and parses the answer with http_parser. A reused connection that closes before
 * the first byte of the answer (the server timed it out while idle) is retried once on a
 * fresh connection. Callbacks never run inside sy_hclient_post; a request's end runs after
 * its connection is back in the pool (or closed), so on_done may start the next request. */
#include "http/sy_hclient.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h>

#include "core/sy_core.h"

#define POOL_MAX 256

typedef struct hconn hconn;

struct sy_hclient {
    struct event_base *base;
    hconn *idle; /* LIFO: the warmest connection first */
    int nidle;
    http_parser_settings settings;
};

struct hconn {
    sy_hclient *hc;
    struct bufferevent *bev;
    char key[96];       /* "host:port" */
    hconn *next;
    sy_hreq *req;       /* the request using it, or NULL when idle */
    http_parser parser;
    int connected;
};

struct sy_hreq {
    sy_hclient *hc;
    hconn *conn;
    const sy_hreq_cbs *cbs;
    void *ud;
    struct event *timer;
    const sy_hurl *url;
    sy_buf head;        /* request line + headers */
    const char *body;
    size_t len;
    int connect_timeout_ms, timeout_ms;
    uint64_t deadline_ns;
    int reused;         /* on a pooled connection */
    int retried;
    int got_bytes;      /* any byte of the answer arrived */
    int complete;       /* on_message_complete seen */
    int keepalive;
    int aborted;        /* on_body asked to stop */
    int pending_err;    /* an error to report from the timer (never inside post) */
    sy_buf hname, hval; /* header being parsed */
    int in_value;
};

/* ============================================================ connections */

static void conn_free(hconn *c)
{
    if (!c) return;
    if (c->bev) bufferevent_free(c->bev);
    free(c);
}

static void pool_remove(sy_hclient *hc, hconn *c)
{
    for (hconn **pp = &hc->idle; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            hc->nidle--;
            return;
        }
    }
}

static void req_free(sy_hreq *r)
{
    if (r->timer) event_free(r->timer);
    sy_buf_free(&r->head);
    sy_buf_free(&r->hname);
    sy_buf_free(&r->hval);
    free(r);
}

/* Ends r: its connection goes back to the pool (or is closed), then on_done runs. */
static void req_finish(sy_hreq *r, int err)
{
    hconn *c = r->conn;
    r->conn = NULL;
    if (c) {
        c->req = NULL;
        /* pooled only when the request went out whole: the body is only borrowed */
        if (err == SY_HC_OK && r->keepalive && r->hc->nidle < POOL_MAX &&
            evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
            http_parser_init(&c->parser, HTTP_RESPONSE);
            c->parser.data = c;
            c->next = r->hc->idle;
            r->hc->idle = c;
            r->hc->nidle++;
        } else {
            conn_free(c);
        }
    }
    const sy_hreq_cbs *cbs = r->cbs;
    void *ud = r->ud;
    req_free(r);
    cbs->on_done(ud, err);
}

/* ---- http_parser callbacks (data = the connection) ---- */

static void emit_header(sy_hreq *r)
{
    if (r->hname.len && r->cbs->on_header)
        r->cbs->on_header(r->ud, r->hname.data, r->hname.len, r->hval.data ? r->hval.data : "",
                          r->hval.len);
    sy_buf_reset(&r->hname);
    sy_buf_reset(&r->hval);
    r->in_value = 0;
}

static int p_header_field(http_parser *p, const char *at, size_t len)
{
    sy_hreq *r = ((hconn *)p->data)->req;
    if (!r) return -1;
    if (r->in_value) emit_header(r);
    return sy_buf_append(&r->hname, at, len) ? -1 : 0;
}

static int p_header_value(http_parser *p, const char *at, size_t len)
{
    sy_hreq *r = ((hconn *)p->data)->req;
    if (!r) return -1;
    r->in_value = 1;
    return sy_buf_append(&r->hval, at, len) ? -1 : 0;
}

static int p_headers_complete(http_parser *p)
{
    sy_hreq *r = ((hconn *)p->data)->req;
    if (!r) return -1;
    emit_header(r);
    r->cbs->on_status(r->ud, (int)p->status_code);
    return 0;
}

static int p_body(http_parser *p, const char *at, size_t len)
{
    sy_hreq *r = ((hconn *)p->data)->req;
    if (!r) return -1;
    if (r->cbs->on_body(r->ud, at, len) < 0) {
        r->aborted = 1;
        return -1;
    }
    return 0;
}

static int p_message_complete(http_parser *p)
{
    sy_hreq *r = ((hconn *)p->data)->req;
    if (!r) return -1;
    r->complete = 1;
    r->keepalive = http_should_keep_alive(p);
    http_parser_pause(p, 1); /* the caller finishes the request outside the parser */
    return 0;
}

/* Feeds the input to the parser. Returns 1 when the request ended (r is gone). */
static int conn_parse(hconn *c)
{
    sy_hreq *r = c->req;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (evbuffer_get_length(in) > 0 && !r->complete) {
        struct evbuffer_iovec v[8];
        int n = evbuffer_peek(in, -1, NULL, v, 8);
        size_t used = 0;
        for (int i = 0; i < n && i < 8; i++) {
            if (v[i].iov_len == 0) continue;
            r->got_bytes = 1;
            size_t k = http_parser_execute(&c->parser, &c->hc->settings, v[i].iov_base,
                                           v[i].iov_len);
            used += k;
            if (r->complete) break;
            if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
                evbuffer_drain(in, used);
                req_finish(r, r->aborted ? SY_HC_EABORT : SY_HC_ERESET);
                return 1;
            }
        }
        evbuffer_drain(in, used);
        if (used == 0) break;
    }
    if (r->complete) {
        if (evbuffer_get_length(in) > 0) r->keepalive = 0; /* unexpected extra bytes */
        req_finish(r, SY_HC_OK);
        return 1;
    }
    return 0;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    hconn *c = arg;
    (void)bev;
    if (!c->req) { /* bytes on an idle connection: not a state we can trust */
        pool_remove(c->hc, c);
        conn_free(c);
        return;
    }
    conn_parse(c);
}

static void start_on(sy_hreq *r, hconn *c);

/* The timer for a connection being opened: the connect timeout, within the deadline. */
static void arm_connect_timer(sy_hreq *r)
{
    uint64_t now = sy_now_ns();
    uint64_t left = r->deadline_ns > now ? (r->deadline_ns - now) / 1000000u : 0;
    uint64_t ms = (uint64_t)r->connect_timeout_ms < left ? (uint64_t)r->connect_timeout_ms : left;
    struct timeval tv = {(long)(ms / 1000), (long)(ms % 1000) * 1000};
    evtimer_del(r->timer);
    evtimer_add(r->timer, &tv);
}
static int open_conn(sy_hreq *r);

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    hconn *c = arg;
    sy_hreq *r = c->req;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        c->connected = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return;
    }
    if (!r) { /* an idle connection closed by the server */
        pool_remove(c->hc, c);
        conn_free(c);
        return;
    }
    if (!c->connected) {
        req_finish(r, SY_HC_ECONNECT);
        return;
    }
    if ((what & BEV_EVENT_EOF) && r->got_bytes) {
        /* an answer without Content-Length ends at EOF */
        http_parser_execute(&c->parser, &c->hc->settings, NULL, 0);
        if (r->complete) {
            r->keepalive = 0;
            req_finish(r, SY_HC_OK);
            return;
        }
    }
    if (!r->got_bytes && r->reused && !r->retried &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == r->head.len + r->len) {
        /* a pooled connection closed before any byte of the request left: the server never
         * saw it, so a fresh connection is safe. Once bytes left, the upstream may have
         * acted on them (and billed them): no blind resend. */
        r->retried = 1;
        r->conn = NULL;
        conn_free(c);
        if (open_conn(r) != 0) {
            r->pending_err = SY_HC_ECONNECT;
            event_active(r->timer, EV_TIMEOUT, 0);
            return;
        }
        arm_connect_timer(r);
        return;
    }
    req_finish(r, SY_HC_ERESET);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    sy_hreq *r = arg;
    (void)fd;
    (void)what;
    if (r->pending_err) {
        req_finish(r, r->pending_err);
        return;
    }
    if (r->conn && !r->conn->connected) {
        req_finish(r, SY_HC_ETIMEOUT);
        return;
    }
    if (sy_now_ns() < r->deadline_ns) { /* the connect phase ended: arm the total */
        uint64_t left = (r->deadline_ns - sy_now_ns()) / 1000;
        struct timeval tv = {(long)(left / 1000000), (long)(left % 1000000)};
        evtimer_add(r->timer, &tv);
        return;
    }
    req_finish(r, SY_HC_ETIMEOUT);
}

static void start_on(sy_hreq *r, hconn *c)
{
    r->conn = c;
    c->req = r;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add(out, r->head.data, r->head.len);
    evbuffer_add_reference(out, r->body, r->len, NULL, NULL);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static int open_conn(sy_hreq *r)
{
    const sy_hurl *u = r->url;
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (strchr(u->host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)u->port);
        inet_pton(AF_INET6, u->host, &a->sin6_addr);
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)u->port);
        inet_pton(AF_INET, u->host, &a->sin_addr);
        sl = sizeof *a;
    }
    hconn *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->hc = r->hc;
    snprintf(c->key, sizeof c->key, "%s", u->hosthdr);
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->bev = bufferevent_socket_new(r->hc->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        free(c);
        return -1;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    start_on(r, c); /* queue the request: it goes out once connected */
    r->reused = 0;
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, (int)sl) < 0) {
        r->conn = NULL;
        conn_free(c);
        return -1;
    }
    return 0;
}

/* ============================================================ API */

int sy_hclient_new(sy_hclient **out, struct event_base *base)
{
    sy_hclient *hc = calloc(1, sizeof *hc);
    *out = NULL;
    if (!hc) return SY_ENOMEM;
    hc->base = base;
    http_parser_settings_init(&hc->settings);
    hc->settings.on_header_field = p_header_field;
    hc->settings.on_header_value = p_header_value;
    hc->settings.on_headers_complete = p_headers_complete;
    hc->settings.on_body = p_body;
    hc->settings.on_message_complete = p_message_complete;
    *out = hc;
    return SY_OK;
}

void sy_hclient_free(sy_hclient *hc)
{
    if (!hc) return;
    while (hc->idle) {
        hconn *c = hc->idle;
        hc->idle = c->next;
        conn_free(c);
    }
    free(hc);
}

sy_hreq *sy_hclient_post(sy_hclient *hc, const sy_hurl *url, const char *path_suffix,
                         const char *headers, const char *body, size_t len,
                         int connect_timeout_ms, int timeout_ms, const sy_hreq_cbs *cbs, void *ud)
{
    sy_hreq *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->hc = hc;
    r->cbs = cbs;
    r->ud = ud;
    r->url = url;
    r->body = body;
    r->len = len;
    r->connect_timeout_ms = connect_timeout_ms;
    r->timeout_ms = timeout_ms;
    r->deadline_ns = sy_now_ns() + (uint64_t)timeout_ms * 1000000u;
    sy_buf_init(&r->head);
    sy_buf_init(&r->hname);
    sy_buf_init(&r->hval);
    r->timer = evtimer_new(hc->base, on_timer, r);
    char num[24];
    int n = snprintf(num, sizeof num, "%zu", len);
    int bad = !r->timer;
    bad |= sy_buf_puts(&r->head, "POST ");
    bad |= sy_buf_puts(&r->head, url->path);
    bad |= sy_buf_puts(&r->head, path_suffix);
    bad |= sy_buf_puts(&r->head, " HTTP/1.1\r\nHost: ");
    bad |= sy_buf_puts(&r->head, url->hosthdr);
    bad |= sy_buf_puts(&r->head, "\r\nContent-Length: ");
    bad |= sy_buf_append(&r->head, num, (size_t)n);
    bad |= sy_buf_puts(&r->head, "\r\n");
    bad |= sy_buf_puts(&r->head, headers ? headers : "");
    bad |= sy_buf_puts(&r->head, "\r\n");
    if (bad) {
        req_free(r);
        return NULL;
    }
    /* the warmest idle connection to this host:port that is still open (a peek sees the
     * server's close before we send anything on it) */
    hconn *c = NULL;
    for (hconn **pp = &hc->idle; *pp;) {
        if (strcmp((*pp)->key, url->hosthdr) != 0) {
            pp = &(*pp)->next;
            continue;
        }
        hconn *cand = *pp;
        *pp = cand->next;
        hc->nidle--;
        char b;
        ssize_t got = recv(bufferevent_getfd(cand->bev), &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c = cand;
            break;
        }
        conn_free(cand); /* closed (0), broken (<0) or unexpected bytes (>0) */
    }
    int ms = connect_timeout_ms < timeout_ms ? connect_timeout_ms : timeout_ms;
    if (c) {
        start_on(r, c);
        r->reused = 1;
        ms = timeout_ms;
    } else if (open_conn(r) != 0) {
        r->pending_err = SY_HC_ECONNECT; /* reported from the loop, not from here */
        event_active(r->timer, EV_TIMEOUT, 0);
        return r;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(r->timer, &tv);
    return r;
}

void sy_hreq_cancel(sy_hreq *r)
{
    if (!r) return;
    if (r->conn) {
        r->conn->req = NULL;
        conn_free(r->conn); /* the upstream must see the cancel: close, never pool */
    }
    req_free(r);
}
