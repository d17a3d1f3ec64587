/* test_server.c — unit tests for http/sy_server.c: a real server on 127.0.0.1 in a loop
 * thread, driven by raw blocking sockets from the main thread (SO_RCVTIMEO bounds every
 * read, so a bug fails a check instead of hanging). */
#include "http/sy_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "core/sy_core.h"
#include "sy_test.h"

#define RECV_TIMEOUT_MS 2000

/* ======================================================================== fixture */

typedef struct fixture {
    struct event_base *base;
    sy_http_server *srv;
    int lfd;
    int port;
    pthread_t thread;
    atomic_int requests;       /* on_request calls */
    atomic_int aborts;         /* abort callbacks */
    atomic_int late_rc;        /* what the last late finish (after abort) returned */
    atomic_int late_done;      /* late finishes so far */
    atomic_int chunks_written; /* stream chunks handed to sy_http_stream_write */
    atomic_int inject_rc;      /* sy_http_add_header with a CRLF in the value */
    atomic_int reserved_rc;    /* sy_http_add_header("Content-Length") */
    atomic_int empty_write_rc; /* sy_http_stream_write(req, "", 0) */
    atomic_int pending;        /* handler timers not yet done */
} fixture;

/* A handler operation that finishes later, on a timer in the server's own loop. */
enum { OP_ECHO, OP_RECORD, OP_STREAM };
typedef struct op {
    fixture *fx;
    sy_http_req *req;
    struct event *ev;
    int kind;
    int n, i, ms;
} op;

static void echo(fixture *fx, sy_http_req *req)
{
    sy_buf b;
    size_t blen;
    const char *body = sy_http_req_body(req, &blen);
    const char *xt = sy_http_req_header(req, "x-TEST");
    const char *xe = sy_http_req_header(req, "X-Empty");
    const char *n0 = NULL, *v0 = NULL;
    sy_http_req_header_at(req, 0, &n0, &v0);

    sy_buf_init(&b);
    sy_buf_puts(&b, "{\"method\":");
    sy_buf_json_str(&b, sy_http_req_method(req));
    sy_buf_puts(&b, ",\"path\":");
    sy_buf_json_str(&b, sy_http_req_path(req));
    sy_buf_puts(&b, ",\"query\":");
    sy_buf_json_str(&b, sy_http_req_query(req));
    sy_buf_puts(&b, ",\"x_test\":");
    xt ? sy_buf_json_str(&b, xt) : sy_buf_puts(&b, "null");
    sy_buf_puts(&b, ",\"x_empty\":");
    xe ? sy_buf_json_str(&b, xe) : sy_buf_puts(&b, "null");
    sy_buf_puts(&b, ",\"h0\":");
    sy_buf_json_str(&b, n0 ? n0 : "(none)");
    sy_buf_printf(&b, ",\"nh\":%zu,\"body_len\":%zu,\"body\":", sy_http_req_header_count(req),
                  blen);
    sy_buf_json_str(&b, body);
    sy_buf_puts(&b, ",\"peer\":");
    sy_buf_json_str(&b, sy_http_req_peer(req));
    sy_buf_puts(&b, "}");

    atomic_store(&fx->inject_rc, sy_http_add_header(req, "X-Bad", "a\r\nInjected: 1"));
    atomic_store(&fx->reserved_rc, sy_http_add_header(req, "Content-Length", "1"));
    sy_http_add_header(req, "X-Echo", "yes");
    sy_http_respond(req, 200, NULL, b.data, b.len);
    sy_buf_free(&b);
}

static int query_int(sy_http_req *req, const char *key, int dflt)
{
    const char *q = strstr(sy_http_req_query(req), key);
    return q ? atoi(q + strlen(key)) : dflt;
}

static void op_free(op *o)
{
    event_free(o->ev);
    atomic_fetch_sub(&o->fx->pending, 1);
    free(o);
}

static void op_tick(evutil_socket_t fd, short what, void *ud)
{
    op *o = ud;
    (void)fd;
    (void)what;
    if (o->kind == OP_ECHO) {
        echo(o->fx, o->req);
    } else if (o->kind == OP_RECORD) {
        atomic_store(&o->fx->late_rc, sy_http_respond(o->req, 200, "text/plain", "late", 4));
        atomic_fetch_add(&o->fx->late_done, 1);
    } else {
        char chunk[32];
        int n = snprintf(chunk, sizeof chunk, "data: %d\n\n", o->i);
        atomic_store(&o->fx->empty_write_rc, sy_http_stream_write(o->req, "", 0));
        int rc = sy_http_stream_write(o->req, chunk, (size_t)n);
        if (rc == 0) atomic_fetch_add(&o->fx->chunks_written, 1);
        if (rc != 0 || ++o->i == o->n) {
            int end = sy_http_stream_end(o->req);
            if (rc != 0) {
                atomic_store(&o->fx->late_rc, end);
                atomic_fetch_add(&o->fx->late_done, 1);
            }
        } else {
            struct timeval tv = {0, o->ms * 1000};
            evtimer_add(o->ev, &tv);
            return;
        }
    }
    op_free(o);
}

static void later(fixture *fx, sy_http_req *req, int kind, int ms, int n)
{
    op *o = calloc(1, sizeof *o);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    o->fx = fx;
    o->req = req;
    o->kind = kind;
    o->n = n;
    o->ms = ms;
    o->ev = evtimer_new(fx->base, op_tick, o);
    atomic_fetch_add(&fx->pending, 1);
    evtimer_add(o->ev, &tv);
}

static void on_abort_count(sy_http_req *req, void *ud)
{
    fixture *fx = ud;
    (void)req;
    atomic_fetch_add(&fx->aborts, 1);
}

/* Finishes the request from inside the abort callback itself. */
static void on_abort_cancel(sy_http_req *req, void *ud)
{
    op *o = ud;
    atomic_fetch_add(&o->fx->aborts, 1);
    sy_http_req_discard(req);
    op_free(o);
}

static void on_request(sy_http_req *req, void *ud)
{
    fixture *fx = ud;
    const char *path = sy_http_req_path(req);
    atomic_fetch_add(&fx->requests, 1);
    if (!strcmp(path, "/stream")) {
        sy_http_req_set_abort_cb(req, on_abort_count, fx);
        if (sy_http_stream_start(req, 200, NULL) == 0)
            later(fx, req, OP_STREAM, 50, query_int(req, "n=", 4));
        else
            sy_http_stream_end(req);
    } else if (!strcmp(path, "/delay")) {
        later(fx, req, OP_ECHO, query_int(req, "ms=", 50), 0);
    } else if (!strcmp(path, "/slow")) {
        sy_http_req_set_abort_cb(req, on_abort_count, fx);
        later(fx, req, OP_RECORD, 300, 0);
    } else if (!strcmp(path, "/big")) {
        size_t n = (size_t)query_int(req, "mb=", 1) << 20;
        char *big = malloc(n);
        memset(big, 'x', n);
        sy_http_respond(req, 200, "text/plain", big, n);
        free(big);
    } else if (!strcmp(path, "/discard")) {
        sy_http_req_discard(req);
    } else {
        echo(fx, req);
    }
}

static void *loop_main(void *arg)
{
    fixture *fx = arg;
    event_base_loop(fx->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int fx_start(fixture *fx, int max_body, int max_header, int idle_ms, int read_ms)
{
    struct sockaddr_in sa;
    socklen_t slen = sizeof sa;
    int one = 1;
    sy_http_server_opts o = {0};

    memset(fx, 0, sizeof *fx);
    fx->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(fx->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fx->lfd, (struct sockaddr *)&sa, sizeof sa) || listen(fx->lfd, 64) ||
        getsockname(fx->lfd, (struct sockaddr *)&sa, &slen))
        return -1;
    fx->port = ntohs(sa.sin_port);
    fx->base = event_base_new();
    o.max_body = (size_t)max_body;
    o.max_header_bytes = (size_t)max_header;
    o.idle_timeout_ms = idle_ms;
    o.read_timeout_ms = read_ms;
    o.on_request = on_request;
    o.ud = fx;
    if (!fx->base || sy_http_server_new(&fx->srv, fx->base, fx->lfd, &o)) return -1;
    atomic_store(&fx->late_rc, 1);
    return pthread_create(&fx->thread, NULL, loop_main, fx);
}

/* ------------------------------------------------------------ calls into the loop */

typedef struct loop_call {
    void (*fn)(fixture *, void *);
    fixture *fx;
    void *arg;
    int done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} loop_call;

static void loop_call_cb(evutil_socket_t fd, short what, void *ud)
{
    loop_call *lc = ud;
    (void)fd;
    (void)what;
    lc->fn(lc->fx, lc->arg);
    pthread_mutex_lock(&lc->mu);
    lc->done = 1;
    pthread_cond_signal(&lc->cv);
    pthread_mutex_unlock(&lc->mu);
}

/* Runs fn on the loop thread (the server is single-threaded) and waits for it. */
static void in_loop(fixture *fx, void (*fn)(fixture *, void *), void *arg)
{
    loop_call lc = {fn, fx, arg, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};
    struct timeval tv0 = {0, 0};
    event_base_once(fx->base, -1, EV_TIMEOUT, loop_call_cb, &lc, &tv0);
    pthread_mutex_lock(&lc.mu);
    while (!lc.done)
        pthread_cond_wait(&lc.cv, &lc.mu);
    pthread_mutex_unlock(&lc.mu);
}

typedef struct counts {
    size_t inflight, conns;
} counts;

static void get_counts(fixture *fx, void *arg)
{
    counts *ct = arg;
    ct->inflight = sy_http_server_inflight(fx->srv);
    ct->conns = sy_http_server_connections(fx->srv);
}

static counts srv_counts(fixture *fx)
{
    counts ct;
    in_loop(fx, get_counts, &ct);
    return ct;
}

static void do_drain(fixture *fx, void *arg)
{
    (void)arg;
    sy_http_server_drain(fx->srv);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until the server has exactly `conns` connections and `inflight` requests. */
static int wait_counts(fixture *fx, size_t conns, size_t inflight, int ms)
{
    for (int waited = 0; waited <= ms; waited += 10) {
        counts ct = srv_counts(fx);
        if (ct.conns == conns && ct.inflight == inflight) return 1;
        sleep_ms(10);
    }
    return 0;
}

static int wait_atomic(atomic_int *v, int want, int ms)
{
    for (int waited = 0; waited <= ms; waited += 5) {
        if (atomic_load(v) == want) return 1;
        sleep_ms(5);
    }
    return 0;
}

static void fx_stop(fixture *fx)
{
    CHECK(wait_atomic(&fx->pending, 0, 2000));
    CHECK(wait_counts(fx, 0, 0, 2000)); /* every test leaves no connection behind */
    event_base_loopbreak(fx->base);
    pthread_join(fx->thread, NULL);
    sy_http_server_free(fx->srv);
    event_base_free(fx->base);
    close(fx->lfd);
}

/* ========================================================================= client */

typedef struct client {
    int fd;
    char *buf;
    size_t len, cap;
} client;

typedef struct resp {
    int status;
    char head[16384];
    sy_buf body;
} resp;

static void set_rcvtimeo(int fd, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static int cli_open(client *cl, int port)
{
    struct sockaddr_in sa;
    struct timeval tv = {RECV_TIMEOUT_MS / 1000, 0};
    int one = 1;
    cl->cap = 1 << 20;
    cl->buf = malloc(cl->cap);
    cl->len = 0;
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    set_rcvtimeo(cl->fd, RECV_TIMEOUT_MS);
    setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(cl->fd, (struct sockaddr *)&sa, sizeof sa);
}

static void cli_close(client *cl)
{
    if (cl->fd >= 0) close(cl->fd);
    cl->fd = -1;
    free(cl->buf);
    cl->buf = NULL;
}

static int cli_send(client *cl, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(cl->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int cli_sends(client *cl, const char *s)
{
    return cli_send(cl, s, strlen(s));
}

/* 1 = more bytes, 0 = EOF, -1 = error or timeout (errno says which). */
static int cli_fill(client *cl)
{
    if (cl->len + 1 >= cl->cap) return -1;
    ssize_t n = recv(cl->fd, cl->buf + cl->len, cl->cap - cl->len - 1, 0);
    if (n > 0) {
        cl->len += (size_t)n;
        cl->buf[cl->len] = '\0';
        return 1;
    }
    return n == 0 ? 0 : -1;
}

static int cli_until(client *cl, const char *pat, size_t *end)
{
    for (;;) {
        char *p = cl->len ? memmem(cl->buf, cl->len, pat, strlen(pat)) : NULL;
        if (p) {
            *end = (size_t)(p - cl->buf) + strlen(pat);
            return 0;
        }
        if (cli_fill(cl) <= 0) return -1;
    }
}

static int cli_need(client *cl, size_t n)
{
    while (cl->len < n)
        if (cli_fill(cl) <= 0) return -1;
    return 0;
}

static void cli_consume(client *cl, size_t n)
{
    memmove(cl->buf, cl->buf + n, cl->len - n);
    cl->len -= n;
    cl->buf[cl->len] = '\0';
}

/* Header value from a response head; 1 if present. */
static int resp_header(const resp *r, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line && line[2] != '\r') {
        line += 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            size_t n = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 1;
        }
        line = strstr(line, "\r\n");
    }
    return 0;
}

static int cli_head(client *cl, resp *r)
{
    size_t end;
    r->status = 0;
    r->head[0] = '\0';
    sy_buf_reset(&r->body);
    if (cli_until(cl, "\r\n\r\n", &end) || end >= sizeof r->head) return -1;
    memcpy(r->head, cl->buf, end);
    r->head[end] = '\0';
    cli_consume(cl, end);
    return sscanf(r->head, "HTTP/1.%*d %d", &r->status) == 1 ? 0 : -1;
}

/* Reads one whole response (head + body by Content-Length, chunks, or until EOF). */
static int cli_response_ex(client *cl, resp *r, int head_only)
{
    char v[64];
    size_t end;
    if (cli_head(cl, r)) return -1;
    if (head_only || r->status < 200 || r->status == 204 || r->status == 304) return 0;
    if (resp_header(r, "Content-Length", v, sizeof v)) {
        size_t n = strtoul(v, NULL, 10);
        if (cli_need(cl, n)) return -1;
        sy_buf_append(&r->body, cl->buf, n);
        cli_consume(cl, n);
        return 0;
    }
    if (resp_header(r, "Transfer-Encoding", v, sizeof v)) {
        for (;;) {
            if (cli_until(cl, "\r\n", &end)) return -1;
            size_t n = strtoul(cl->buf, NULL, 16);
            cli_consume(cl, end);
            if (cli_need(cl, n + 2) || memcmp(cl->buf + n, "\r\n", 2)) return -1;
            sy_buf_append(&r->body, cl->buf, n);
            cli_consume(cl, n + 2);
            if (n == 0) return 0;
        }
    }
    for (;;) {
        int f = cli_fill(cl);
        if (f == 0) break;
        if (f < 0) return -1;
    }
    sy_buf_append(&r->body, cl->buf, cl->len);
    cli_consume(cl, cl->len);
    return 0;
}

static int cli_response(client *cl, resp *r)
{
    return cli_response_ex(cl, r, 0);
}

/* 1 if the server closed (EOF or reset) within ms with no further bytes. */
static int cli_closed_within(client *cl, int ms)
{
    set_rcvtimeo(cl->fd, ms);
    int f = cl->len ? 1 : cli_fill(cl);
    int e = errno;
    set_rcvtimeo(cl->fd, RECV_TIMEOUT_MS);
    return f == 0 || (f < 0 && e == ECONNRESET);
}

/* 1 only for an orderly close (FIN). After a response to a request whose body was left
 * unread, a plain close() would send RST instead: the server must linger. */
static int cli_fin_within(client *cl, int ms)
{
    set_rcvtimeo(cl->fd, ms);
    int f = cl->len ? 1 : cli_fill(cl);
    set_rcvtimeo(cl->fd, RECV_TIMEOUT_MS);
    return f == 0;
}

/* 1 if nothing at all arrives within ms (connection still open). */
static int cli_quiet_for(client *cl, int ms)
{
    set_rcvtimeo(cl->fd, ms);
    int f = cl->len ? 1 : cli_fill(cl);
    int e = errno;
    set_rcvtimeo(cl->fd, RECV_TIMEOUT_MS);
    return f < 0 && (e == EAGAIN || e == EWOULDBLOCK);
}

static resp *resp_new(void)
{
    resp *r = calloc(1, sizeof *r);
    sy_buf_init(&r->body);
    return r;
}

static void resp_free(resp *r)
{
    sy_buf_free(&r->body);
    free(r);
}

static int head_has(const resp *r, const char *name, const char *value)
{
    char v[256];
    return resp_header(r, name, v, sizeof v) && sy_strcaseeq(v, value);
}

/* Checks a server-made error: status, JSON content type, Connection: close, type, code. */
static void check_error(const resp *r, int status, const char *code)
{
    char want[96];
    CHECK(r->status == status);
    CHECK(head_has(r, "Content-Type", "application/json"));
    CHECK(head_has(r, "Connection", "close"));
    CHECK_CONTAINS(r->body.data, "\"type\":\"invalid_request_error\"");
    snprintf(want, sizeof want, "\"code\":\"%s\"", code);
    CHECK_CONTAINS(r->body.data, want);
    CHECK_CONTAINS(r->body.data, "{\"error\":{\"message\":");
}

#define STD_LIMITS 4096, 4096, 300, 300

/* ========================================================================== tests */

TEST(test_new_rejects_bad_args)
{
    sy_http_server *srv = (sy_http_server *)1;
    struct event_base *base = event_base_new();
    sy_http_server_opts o = {0};
    CHECK(sy_http_server_new(&srv, base, 3, &o) == SY_EINVAL); /* no on_request */
    CHECK(srv == NULL);
    o.on_request = on_request;
    CHECK(sy_http_server_new(&srv, base, -1, &o) == SY_EINVAL);
    CHECK(sy_http_server_new(&srv, NULL, 3, &o) == SY_EINVAL);
    sy_http_server_free(NULL);
    sy_http_server_drain(NULL);
    CHECK(sy_http_server_inflight(NULL) == 0);
    event_base_free(base);
}

TEST(test_get_simple)
{
    fixture fx;
    client cl;
    resp *r = resp_new();
    CHECK(fx_start(&fx, STD_LIMITS) == 0);
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /v1/models?limit=5&x=%20 HTTP/1.1\r\nHost: a\r\n"
                         "X-Test:  hello world  \r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK(strncmp(r->head, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(head_has(r, "Server", "switchyard"));
    CHECK(head_has(r, "Content-Type", "application/json"));
    CHECK(head_has(r, "Connection", "keep-alive"));
    CHECK(head_has(r, "X-Echo", "yes"));
    CHECK(strstr(r->head, "Date: ") != NULL);
    CHECK(strstr(r->head, "Injected") == NULL);
    CHECK_CONTAINS(r->body.data, "\"method\":\"GET\"");
    CHECK_CONTAINS(r->body.data, "\"path\":\"/v1/models\"");
    CHECK_CONTAINS(r->body.data, "\"query\":\"limit=5&x=%20\"");
    CHECK_CONTAINS(r->body.data, "\"x_test\":\"hello world\""); /* blanks trimmed */
    CHECK_CONTAINS(r->body.data, "\"h0\":\"Host\"");
    CHECK_CONTAINS(r->body.data, "\"nh\":2");
    CHECK_CONTAINS(r->body.data, "\"peer\":\"127.0.0.1:");
    CHECK(atomic_load(&fx.inject_rc) == SY_EINVAL);
    CHECK(atomic_load(&fx.reserved_rc) == SY_EINVAL);
    counts ct = srv_counts(&fx);
    CHECK(ct.conns == 1 && ct.inflight == 0);
    cli_close(&cl);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_post_and_keepalive)
{
    fixture fx;
    client cl;
    resp *r = resp_new();
    CHECK(fx_start(&fx, STD_LIMITS) == 0);
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n"
                         "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                         "{\"model\":\"x\"}") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK_CONTAINS(r->body.data, "\"method\":\"POST\"");
    CHECK_CONTAINS(r->body.data, "\"body_len\":13");
    CHECK_CONTAINS(r->body.data, "\"body\":\"{\\\"model\\\":\\\"x\\\"}\"");
    /* second request, same socket, async handler this time */
    CHECK(cli_sends(&cl, "GET /delay?ms=20 HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK_CONTAINS(r->body.data, "\"path\":\"/delay\"");
    CHECK_CONTAINS(r->body.data, "\"body_len\":0");
    /* HEAD: Content-Length announced, no body sent (the next response parses cleanly) */
    CHECK(cli_sends(&cl, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_response_ex(&cl, r, 1) == 0);
    CHECK(r->status == 200);
    CHECK(resp_header(r, "Content-Length", (char[16]){0}, 16));
    CHECK(cli_sends(&cl, "GET /third HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK_CONTAINS(r->body.data, "\"path\":\"/third\"");
    CHECK(atomic_load(&fx.requests) == 4);
    CHECK(srv_counts(&fx).conns == 1);
    cli_close(&cl);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_pipelining)
{
    fixture fx;
    client cl;
    resp *r = resp_new();
    CHECK(fx_start(&fx, STD_LIMITS) == 0);
    CHECK(cli_open(&cl, fx.port) == 0);
    /* the first answer is slow: the later ones must still come after it, in order */
    CHECK(cli_sends(&cl, "GET /delay?ms=60 HTTP/1.1\r\nHost: a\r\n\r\n"
                         "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
                         "GET /third?q=3 HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK_CONTAINS(r->body.data, "\"path\":\"/delay\"");
    CHECK(cli_response(&cl, r) == 0);
    CHECK_CONTAINS(r->body.data, "\"path\":\"/p\"");
    CHECK_CONTAINS(r->body.data, "\"body\":\"xyz\"");
    CHECK(cli_response(&cl, r) == 0);
    CHECK_CONTAINS(r->body.data, "\"path\":\"/third\"");
    CHECK_CONTAINS(r->body.data, "\"query\":\"q=3\"");
    CHECK(atomic_load(&fx.requests) == 3);
    cli_close(&cl);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_expect_continue)
{
    fixture fx;
    client cl;
    resp *r = resp_new();
    char body[2001];
    memset(body, 'a', 2000);
    body[2000] = '\0';
    CHECK(fx_start(&fx, STD_LIMITS) == 0);
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n"
                         "Expect: 100-continue\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0); /* arrives before any body byte was sent */
    CHECK(r->status == 100);
    CHECK(strcmp(r->head, "HTTP/1.1 100 Continue\r\n\r\n") == 0);
    CHECK(cli_sends(&cl, body) == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK_CONTAINS(r->body.data, "\"body_len\":2000");
    cli_close(&cl);

    /* over the limit: straight 413, no 100 */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n"
                         "Expect: 100-continue\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    check_error(r, 413, "request_too_large");
    CHECK(cli_closed_within(&cl, 1000));
    CHECK(atomic_load(&fx.requests) == 1);
    cli_close(&cl);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_chunked_body_in_pieces)
{
    fixture fx;
    client cl;
    resp *r = resp_new();
    CHECK(fx_start(&fx, STD_LIMITS) == 0);
    CHECK(cli_open(&cl, fx.port) == 0);
    /* split inside the method, a header name, a value, a chunk size and chunk data */
    const char *pieces[] = {"PO",
                            "ST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-Te",
                            "st: abcde",
                            "fghij\r\nX-Empty:\r\nX-Last: z\r\n\r\n5\r\nhel",
                            "lo\r\n",
                            "6\r\n world\r\n",
                            "0\r\nX-Trailer: t\r\n\r\n"};
    for (size_t i = 0; i < SY_ARRAY_LEN(pieces); i++) {
        CHECK(cli_sends(&cl, pieces[i]) == 0);
        sleep_ms(15);
    }
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK_CONTAINS(r->body.data, "\"body\":\"hello world\"");
    CHECK_CONTAINS(r->body.data, "\"x_test\":\"abcdefghij\"");
    CHECK_CONTAINS(r->body.data, "\"x_empty\":\"\"");
    CHECK_CONTAINS(r->body.data, "\"nh\":5"); /* the trailer is not a header */
    /* the connection is still usable after a chunked body with trailers */
    CHECK(cli_sends(&cl, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK_CONTAINS(r->body.data, "\"path\":\"/after\"");
    cli_close(&cl);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_413)
{
    fixture fx;
    client cl;
    resp *r = resp_new();
    char *big = malloc(100001);
    memset(big, 'b', 100000);
    big[100000] = '\0';
    CHECK(fx_start(&fx, STD_LIMITS) == 0);

    /* by Content-Length, body never sent: answered right after the headers */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    check_error(r, 413, "request_too_large");
    CHECK_CONTAINS(r->body.data, "4096 bytes");
    CHECK(cli_closed_within(&cl, 1000));
    cli_close(&cl);

    /* by Content-Length while the client pushes the body anyway: still gets the 413 */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n") == 0);
    CHECK(cli_sends(&cl, big) == 0);
    CHECK(cli_response(&cl, r) == 0);
    check_error(r, 413, "request_too_large");
    CHECK(cli_fin_within(&cl, 1000)); /* FIN, not RST, although the body was never read */
    cli_close(&cl);

    /* by accumulation of chunks (the third chunk header crosses 4096) */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n") == 0);
    for (int i = 0; i < 2; i++) {
        CHECK(cli_sends(&cl, "800\r\n") == 0);
        CHECK(cli_send(&cl, big, 0x800) == 0);
        CHECK(cli_sends(&cl, "\r\n") == 0);
    }
    CHECK(cli_sends(&cl, "800\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    check_error(r, 413, "request_too_large");
    CHECK(cli_closed_within(&cl, 1000));
    cli_close(&cl);

    /* exactly at the limit is fine */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4096\r\n\r\n") == 0);
    CHECK(cli_send(&cl, big, 4096) == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK_CONTAINS(r->body.data, "\"body_len\":4096");
    cli_close(&cl);

    CHECK(atomic_load(&fx.requests) == 1);
    free(big);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_431)
{
    fixture fx;
    client cl;
    resp *r = resp_new();
    sy_buf req;
    sy_buf_init(&req);
    CHECK(fx_start(&fx, STD_LIMITS) == 0);

    /* one header over the limit */
    sy_buf_puts(&req, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    for (int i = 0; i < 5000; i++)
        sy_buf_puts(&req, "b");
    sy_buf_puts(&req, "\r\n\r\n");
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_send(&cl, req.data, req.len) == 0);
    CHECK(cli_response(&cl, r) == 0);
    check_error(r, 431, "headers_too_large");
    CHECK(cli_closed_within(&cl, 1000));
    cli_close(&cl);

    /* a long request target counts too */
    sy_buf_reset(&req);
    sy_buf_puts(&req, "GET /");
    for (int i = 0; i < 5000; i++)
        sy_buf_puts(&req, "p");
    sy_buf_puts(&req, " HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_send(&cl, req.data, req.len) == 0);
    CHECK(cli_response(&cl, r) == 0);
    check_error(r, 431, "headers_too_large");
    cli_close(&cl);

    /* too many (small) headers */
    sy_buf_reset(&req);
    sy_buf_puts(&req, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 101; i++)
        sy_buf_printf(&req, "H%d: v\r\n", i);
    sy_buf_puts(&req, "\r\n");
    CHECK(req.len < 4096);
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_send(&cl, req.data, req.len) == 0);
    CHECK(cli_response(&cl, r) == 0);
    check_error(r, 431, "headers_too_large");
    cli_close(&cl);

    /* just under the limit passes */
    sy_buf_reset(&req);
    sy_buf_puts(&req, "GET / HTTP/1.1\r\nX-Test: ");
    for (int i = 0; i < 3900; i++)
        sy_buf_puts(&req, "c");
    sy_buf_puts(&req, "\r\n\r\n");
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_send(&cl, req.data, req.len) == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    cli_close(&cl);

    CHECK(atomic_load(&fx.requests) == 1);
    sy_buf_free(&req);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_400_malformed)
{
    static const char *const bad[] = {
        "\x01\x02garbage\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", /* smuggling */
        "GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET / HTTP/2.0\r\n\r\n",
    };
    fixture fx;
    client cl;
    resp *r = resp_new();
    CHECK(fx_start(&fx, STD_LIMITS) == 0);
    for (size_t i = 0; i < SY_ARRAY_LEN(bad); i++) {
        CHECK(cli_open(&cl, fx.port) == 0);
        CHECK(cli_sends(&cl, bad[i]) == 0);
        CHECK(cli_response(&cl, r) == 0);
        check_error(r, 400, "bad_http");
        CHECK(cli_closed_within(&cl, 1000));
        cli_close(&cl);
    }
    /* a good request followed by garbage: the first is answered, then the 400 */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\nBLAH\x7f\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK(cli_response(&cl, r) == 0);
    check_error(r, 400, "bad_http");
    cli_close(&cl);
    CHECK(atomic_load(&fx.requests) == 1);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_408_and_idle)
{
    fixture fx;
    client cl;
    resp *r = resp_new();
    CHECK(fx_start(&fx, STD_LIMITS) == 0);

    /* half a request: 408 after read_timeout_ms */
    CHECK(cli_open(&cl, fx.port) == 0);
    double t0 = sy_now_ms();
    CHECK(cli_sends(&cl, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc") == 0);
    CHECK(cli_response(&cl, r) == 0);
    double dt = sy_now_ms() - t0;
    check_error(r, 408, "request_timeout");
    CHECK(dt >= 250 && dt < 1500);
    CHECK(cli_closed_within(&cl, 1000));
    cli_close(&cl);

    /* a connection that never sends: closed silently after idle_timeout_ms */
    CHECK(cli_open(&cl, fx.port) == 0);
    t0 = sy_now_ms();
    CHECK(cli_closed_within(&cl, 1500));
    dt = sy_now_ms() - t0;
    CHECK(dt >= 250 && dt < 1500);
    CHECK(cl.len == 0);
    cli_close(&cl);

    /* idle after a keep-alive response: closed silently too */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK(cli_quiet_for(&cl, 150)); /* not before the timeout */
    CHECK(cli_closed_within(&cl, 1000));
    CHECK(cl.len == 0);
    cli_close(&cl);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_connection_close_and_http10)
{
    fixture fx;
    client cl;
    resp *r = resp_new();
    /* idle timeout far beyond the 1 s waits below: a close seen here is the server's
     * answer to "Connection: close", not the idle timer */
    CHECK(fx_start(&fx, 4096, 4096, 5000, 2000) == 0);

    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK(head_has(r, "Connection", "close"));
    CHECK(cli_closed_within(&cl, 1000));
    cli_close(&cl);

    /* HTTP/1.0 closes by default */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /b HTTP/1.0\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK(head_has(r, "Connection", "close"));
    CHECK_CONTAINS(r->body.data, "\"path\":\"/b\"");
    CHECK(cli_closed_within(&cl, 1000));
    cli_close(&cl);

    /* ... unless it asks for keep-alive */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(head_has(r, "Connection", "keep-alive"));
    CHECK(cli_sends(&cl, "GET /d HTTP/1.0\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK_CONTAINS(r->body.data, "\"path\":\"/d\"");
    CHECK(head_has(r, "Connection", "close"));
    CHECK(cli_closed_within(&cl, 1000));
    cli_close(&cl);

    /* HTTP/1.0 streaming: no chunk framing, the body ends with the connection */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /stream?n=2 HTTP/1.0\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK(!resp_header(r, "Transfer-Encoding", (char[16]){0}, 16));
    CHECK(head_has(r, "Connection", "close"));
    CHECK_STR(r->body.data, "data: 0\n\ndata: 1\n\n");
    cli_close(&cl);

    /* half-close right after the request: the answer (made synchronously, so queued before
     * the EOF is seen) still arrives, keep-alive or not */
    static const char *const halfclose[] = {"GET /hc HTTP/1.1\r\nHost: a\r\n\r\n",
                                            "GET /hc HTTP/1.1\r\nConnection: close\r\n\r\n"};
    for (size_t i = 0; i < SY_ARRAY_LEN(halfclose); i++) {
        CHECK(cli_open(&cl, fx.port) == 0);
        CHECK(cli_sends(&cl, halfclose[i]) == 0);
        shutdown(cl.fd, SHUT_WR);
        CHECK(cli_response(&cl, r) == 0);
        CHECK(r->status == 200);
        CHECK_CONTAINS(r->body.data, "\"path\":\"/hc\"");
        CHECK(cli_fin_within(&cl, 1000));
        cli_close(&cl);
    }

    /* the same with a response far larger than the socket buffers: the EOF is seen while
     * most of it is still queued, and the rest must still be flushed */
    static const char *const bigreq[] = {"GET /big?mb=16 HTTP/1.1\r\nHost: a\r\n\r\n",
                                         "GET /big?mb=16 HTTP/1.1\r\nConnection: close\r\n\r\n"};
    for (size_t i = 0; i < SY_ARRAY_LEN(bigreq); i++) {
        char v[32];
        size_t want, got;
        CHECK(cli_open(&cl, fx.port) == 0);
        CHECK(cli_sends(&cl, bigreq[i]) == 0);
        shutdown(cl.fd, SHUT_WR);
        sleep_ms(100);
        CHECK(cli_head(&cl, r) == 0);
        CHECK(r->status == 200);
        CHECK(resp_header(r, "Content-Length", v, sizeof v));
        want = strtoul(v, NULL, 10);
        CHECK(want == (size_t)16 << 20);
        for (got = cl.len, cl.len = 0; got < want; got += cl.len, cl.len = 0)
            if (cli_fill(&cl) <= 0) break;
        CHECK(got == want);
        CHECK(cli_fin_within(&cl, 1000));
        cli_close(&cl);
    }

    /* the handler gives up: connection closed, nothing sent */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /discard HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_closed_within(&cl, 1000));
    CHECK(cl.len == 0);
    cli_close(&cl);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_stream)
{
    fixture fx;
    client cl;
    resp *r = resp_new();
    size_t end;
    CHECK(fx_start(&fx, STD_LIMITS) == 0);
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /stream?n=4 HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_head(&cl, r) == 0);
    CHECK(r->status == 200);
    CHECK(head_has(r, "Transfer-Encoding", "chunked"));
    CHECK(head_has(r, "Content-Type", "text/event-stream"));
    CHECK(head_has(r, "Connection", "keep-alive"));
    CHECK(!resp_header(r, "Content-Length", (char[16]){0}, 16));
    /* the first chunk, exactly framed, arrives while later ones are not yet written */
    CHECK(cli_until(&cl, "data: 0\n\n\r\n", &end) == 0);
    CHECK(atomic_load(&fx.chunks_written) < 4);
    CHECK(end == 14 && memcmp(cl.buf, "9\r\ndata: 0\n\n\r\n", 14) == 0);
    cli_consume(&cl, end);
    /* the rest: three chunks and the terminator, nothing else */
    CHECK(cli_until(&cl, "0\r\n\r\n", &end) == 0);
    CHECK(atomic_load(&fx.chunks_written) == 4);
    CHECK(end == 3 * 14 + 5);
    CHECK(memcmp(cl.buf, "9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n9\r\ndata: 3\n\n\r\n0\r\n\r\n",
                 end) == 0);
    cli_consume(&cl, end);
    CHECK(atomic_load(&fx.empty_write_rc) == 0);
    /* keep-alive after a stream */
    CHECK(cli_sends(&cl, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_response(&cl, r) == 0);
    CHECK_CONTAINS(r->body.data, "\"path\":\"/next\"");
    cli_close(&cl);
    resp_free(r);
    fx_stop(&fx);
}

TEST(test_abort_on_disconnect)
{
    fixture fx;
    client cl;
    CHECK(fx_start(&fx, STD_LIMITS) == 0);

    /* handler finishes after the client left: abort cb once, respond gives SY_EIO */
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(wait_counts(&fx, 1, 1, 1000));
    cli_close(&cl);
    CHECK(wait_atomic(&fx.aborts, 1, 1000));
    CHECK(wait_counts(&fx, 0, 1, 100)); /* socket gone, request still owned */
    CHECK(wait_atomic(&fx.late_done, 1, 1000));
    CHECK(atomic_load(&fx.late_rc) == SY_EIO);
    CHECK(atomic_load(&fx.aborts) == 1);
    CHECK(wait_counts(&fx, 0, 0, 500));

    /* client leaves mid-stream: the next write fails, stream_end frees */
    atomic_store(&fx.late_done, 0);
    atomic_store(&fx.aborts, 0);
    atomic_store(&fx.late_rc, 1);
    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /stream?n=40 HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    size_t end;
    CHECK(cli_until(&cl, "data: 0\n\n\r\n", &end) == 0);
    cli_close(&cl);
    CHECK(wait_atomic(&fx.late_done, 1, 1000));
    CHECK(atomic_load(&fx.late_rc) == SY_EIO);
    CHECK(atomic_load(&fx.aborts) == 1);
    CHECK(atomic_load(&fx.chunks_written) < 40);
    CHECK(wait_counts(&fx, 0, 0, 500));
    fx_stop(&fx);
}

/* A handler whose abort callback itself discards the request (and cancels its timer). */
static void on_request_cancel(sy_http_req *req, void *ud)
{
    fixture *fx = ud;
    op *o = calloc(1, sizeof *o);
    struct timeval tv = {5, 0};
    atomic_fetch_add(&fx->requests, 1);
    o->fx = fx;
    o->req = req;
    o->kind = OP_RECORD;
    o->ev = evtimer_new(fx->base, op_tick, o);
    atomic_fetch_add(&fx->pending, 1);
    evtimer_add(o->ev, &tv);
    sy_http_req_set_abort_cb(req, on_abort_cancel, o);
}

TEST(test_abort_cb_finishes_request)
{
    fixture fx;
    client cl;
    struct sockaddr_in sa;
    socklen_t slen = sizeof sa;
    sy_http_server_opts o = {0};

    /* own server with the cancelling handler */
    memset(&fx, 0, sizeof fx);
    fx.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fx.lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(fx.lfd, 16) == 0);
    getsockname(fx.lfd, (struct sockaddr *)&sa, &slen);
    fx.port = ntohs(sa.sin_port);
    fx.base = event_base_new();
    o.on_request = on_request_cancel;
    o.ud = &fx;
    CHECK(sy_http_server_new(&fx.srv, fx.base, fx.lfd, &o) == 0);
    CHECK(pthread_create(&fx.thread, NULL, loop_main, &fx) == 0);

    CHECK(cli_open(&cl, fx.port) == 0);
    CHECK(cli_sends(&cl, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(wait_counts(&fx, 1, 1, 1000));
    cli_close(&cl);
    CHECK(wait_atomic(&fx.aborts, 1, 1000));
    CHECK(wait_counts(&fx, 0, 0, 500));
    CHECK(atomic_load(&fx.pending) == 0);
    fx_stop(&fx);
}

TEST(test_drain)
{
    fixture fx;
    client a, b, c;
    resp *r = resp_new();
    CHECK(fx_start(&fx, 4096, 4096, 5000, 2000) == 0);

    CHECK(cli_open(&a, fx.port) == 0); /* will be idle */
    CHECK(cli_sends(&a, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_response(&a, r) == 0);
    CHECK(cli_open(&b, fx.port) == 0); /* in flight */
    CHECK(cli_sends(&b, "GET /delay?ms=300 HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(wait_counts(&fx, 2, 1, 1000));

    in_loop(&fx, do_drain, NULL);
    double t0 = sy_now_ms();
    CHECK(cli_closed_within(&a, 1000)); /* idle: closed now */
    CHECK(sy_now_ms() - t0 < 200);
    CHECK(cli_response(&b, r) == 0); /* in flight: answered, then closed */
    CHECK(r->status == 200);
    CHECK(head_has(r, "Connection", "close"));
    CHECK_CONTAINS(r->body.data, "\"path\":\"/delay\"");
    CHECK(cli_closed_within(&b, 1000));

    /* no longer accepting: the kernel completes the handshake, nobody answers */
    CHECK(cli_open(&c, fx.port) == 0);
    CHECK(cli_sends(&c, "GET /late HTTP/1.1\r\nHost: a\r\n\r\n") == 0);
    CHECK(cli_quiet_for(&c, 200));
    CHECK(wait_counts(&fx, 0, 0, 500));
    CHECK(atomic_load(&fx.requests) == 2);
    cli_close(&a);
    cli_close(&b);
    cli_close(&c);
    resp_free(r);
    fx_stop(&fx);
}

int main(void)
{
    sy_log_set_level(SY_LOG_WARN);
    evthread_use_pthreads(); /* the test thread posts calls into the server's loop */
    double t0 = sy_now_ms();
    RUN(test_new_rejects_bad_args);
    RUN(test_get_simple);
    RUN(test_post_and_keepalive);
    RUN(test_pipelining);
    RUN(test_expect_continue);
    RUN(test_chunked_body_in_pieces);
    RUN(test_413);
    RUN(test_431);
    RUN(test_400_malformed);
    RUN(test_408_and_idle);
    RUN(test_connection_close_and_http10);
    RUN(test_stream);
    RUN(test_abort_on_disconnect);
    RUN(test_abort_cb_finishes_request);
    RUN(test_drain);
    fprintf(stderr, "total %.0f ms\n", sy_now_ms() - t0);
    libevent_global_shutdown();
    return sy_test_summary();
}
