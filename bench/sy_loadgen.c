/* sy_loadgen.c — open-loop constant-rate HTTP/1.1 load generator, run by bench/gateway.sh. */
/*
 * Open loop (default): request i is due at t0 + i/rate, whether or not earlier requests have
 * been answered. Its latency is measured from that *scheduled* time, so time spent waiting
 * for a free keep-alive connection (or for this process to get the CPU) counts: a server
 * that stalls cannot hide the stall by slowing the load down (no coordinated omission).
 *
 * Closed loop (--max): every connection sends its next request as soon as the previous one
 * is answered; latency is measured from the send. A fallback for when wrk is missing.
 *
 * Latencies go into a log-linear histogram (values below 256 ns exact, then 128 buckets per
 * power of two: at most 0.8 % error), so memory and reporting cost do not grow with the
 * number of requests. One JSON line goes to stdout; diagnostics go to stderr.
 *
 * Exit status: 0 when every measured request got a 2xx, 1 when some did not (the JSON line is
 * still printed), 2 on bad arguments or when no connection could be made.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime, getaddrinfo, MSG_NOSIGNAL, prctl under -std=c11 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#define MAX_HEADERS 32
#define MAX_LINE 8192        /* a response header line longer than this is cut, not parsed */
#define MAX_HEAD_BYTES 65536 /* a response head still without CRLF past this is an error */
#define RETRY_MS 50          /* delay before reconnecting after a failed connect */
#define CONNECT_WAIT_MS 3000 /* how long to wait for the connections before starting */

/* ======================================================================================
 * Histogram
 * ==================================================================================== */

#define H_SUB_BITS 7 /* 128 sub-buckets per power of two */
#define H_SUB (1u << H_SUB_BITS)
#define H_EXACT (2u * H_SUB) /* values below this are stored exactly */
#define H_SIZE ((64 - H_SUB_BITS) * H_SUB + H_EXACT)

typedef struct hist {
    uint64_t counts[H_SIZE];
    uint64_t total;
    uint64_t max;
} hist;

static size_t hist_index(uint64_t v)
{
    if (v < H_EXACT) return (size_t)v;
    int e = 63 - __builtin_clzll(v);                     /* e >= H_SUB_BITS + 1 */
    int shift = e - H_SUB_BITS;                          /* >= 1 */
    return (size_t)shift * H_SUB + (size_t)(v >> shift); /* v >> shift in [H_SUB, 2 H_SUB) */
}

/* The middle of bucket i: the value reported for every sample that fell into it. */
static double hist_value(size_t i)
{
    if (i < H_EXACT) return (double)i;
    size_t shift = i / H_SUB - 1;
    uint64_t mant = (uint64_t)(i - shift * H_SUB);
    double lo = (double)(mant << shift);
    return lo + (double)(1ull << shift) / 2.0;
}

static void hist_record(hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->total++;
    if (v > h->max) h->max = v;
}

/* The value below which a fraction q of the samples lie (0 when empty). */
static double hist_quantile(const hist *h, double q)
{
    if (h->total == 0) return 0.0;
    uint64_t want = (uint64_t)ceil(q * (double)h->total);
    if (want < 1) want = 1;
    if (want >= h->total) return (double)h->max;
    uint64_t seen = 0;
    for (size_t i = 0; i < H_SIZE; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            double v = hist_value(i);
            return v > (double)h->max ? (double)h->max : v;
        }
    }
    return (double)h->max;
}

/* ======================================================================================
 * State
 * ==================================================================================== */

typedef enum {
    RS_STATUS,
    RS_HEADERS,
    RS_BODY_LEN,
    RS_BODY_EOF,
    RS_CHUNK_SIZE,
    RS_CHUNK_DATA,
    RS_CHUNK_CRLF,
    RS_TRAILERS,
} resp_state;

struct loadgen;

typedef struct conn {
    struct loadgen *lg;
    struct bufferevent *bev; /* NULL while waiting to reconnect */
    struct event *retry;
    TAILQ_ENTRY(conn) idle_link;
    int connected;
    int idle;         /* on lg->idle */
    int busy;         /* a request is in flight */
    int measured;     /* that request counts towards the results */
    int64_t start_ns; /* latency origin: scheduled time (open) or send time (closed) */
    int64_t sent_ns;  /* when it was written, for --timeout */
    /* response parser */
    resp_state st;
    int status;
    int chunked;
    int has_len;
    int close_after;
    uint64_t remaining;
} conn;

TAILQ_HEAD(conn_list, conn);

typedef struct opts {
    const char *url;
    double rate;
    double duration;
    double warmup;
    int connections;
    const char *body_file;
    const char *method;
    const char *headers[MAX_HEADERS];
    int nheaders;
    int timeout_ms;
    int spin_us;
    int max_mode;
} opts;

typedef struct loadgen {
    opts o;
    struct event_base *base;
    struct event *tick;       /* open loop: next scheduled send; closed loop: end of run */
    struct event *watchdog;   /* request timeouts */
    struct event *start_wait; /* gives up waiting for connections */
    struct event *drain;      /* open loop: deadline for the last answers */
    conn *conns;
    struct conn_list idle;
    int nconnected;
    int nbusy;
    int started;
    int finished;
    int warned_connect;
    /* target */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *req;
    size_t req_len;
    /* schedule (open loop) */
    int64_t t0;
    uint64_t total;      /* requests scheduled over warm-up + duration */
    uint64_t warm;       /* the first `warm` are not measured */
    uint64_t issued;     /* requests whose scheduled time has come */
    uint64_t dispatched; /* requests written to a connection */
    /* closed loop */
    int64_t measure_start;
    int64_t end_ns;
    /* results (measured requests only) */
    uint64_t sent;
    uint64_t ok;
    uint64_t non2xx;
    uint64_t conn_errors;
    uint64_t timeouts;
    int64_t last_done;
    hist h;   /* latency: from start_ns to the end of the response */
    hist lag; /* how late sends were against their schedule (open loop) */
    hist svc; /* from the actual send: what a closed-loop tool would report */
} loadgen;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timeval ns_to_tv(int64_t ns)
{
    struct timeval tv;
    if (ns < 0) ns = 0;
    ns += 999; /* round up: a timer that fires early only costs another wake-up */
    tv.tv_sec = (time_t)(ns / 1000000000);
    tv.tv_usec = (suseconds_t)((ns % 1000000000) / 1000);
    return tv;
}

static int64_t sched_ns(const loadgen *lg, uint64_t i)
{
    return lg->t0 + (int64_t)((double)i * 1e9 / lg->o.rate);
}

static void conn_open(conn *c);
static void conn_drop(conn *c, int64_t delay_ms);
static void dispatch(loadgen *lg);
static void maybe_finish(loadgen *lg);

/* ======================================================================================
 * Connections
 * ==================================================================================== */

static void idle_push(conn *c)
{
    if (!c->idle) {
        TAILQ_INSERT_TAIL(&c->lg->idle, c, idle_link);
        c->idle = 1;
    }
}

static void idle_remove(conn *c)
{
    if (c->idle) {
        TAILQ_REMOVE(&c->lg->idle, c, idle_link);
        c->idle = 0;
    }
}

static void parser_reset(conn *c)
{
    c->st = RS_STATUS;
    c->status = 0;
    c->chunked = 0;
    c->has_len = 0;
    c->close_after = 0;
    c->remaining = 0;
}

static void send_request(conn *c, int64_t start_ns, int measured)
{
    loadgen *lg = c->lg;
    idle_remove(c);
    c->busy = 1;
    c->measured = measured;
    c->start_ns = start_ns;
    c->sent_ns = now_ns();
    lg->nbusy++;
    parser_reset(c);
    /* Write straight to the socket when nothing is queued: bufferevent_write alone would
     * wait a loop iteration for EPOLLOUT, and that delay would count as server latency. */
    size_t done = 0;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) == 0) {
        ssize_t n = send(bufferevent_getfd(c->bev), lg->req, lg->req_len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_drop(c, 0);
            return;
        }
        done = n > 0 ? (size_t)n : 0;
    }
    if (done < lg->req_len && bufferevent_write(c->bev, lg->req + done, lg->req_len - done) != 0)
        conn_drop(c, 0);
}

/* The in-flight request on c failed (connection error, timeout, protocol error). */
static void request_failed(conn *c, int timed_out)
{
    loadgen *lg = c->lg;
    if (!c->busy) return;
    c->busy = 0;
    lg->nbusy--;
    if (lg->o.max_mode) {
        c->measured = c->start_ns >= lg->measure_start && now_ns() <= lg->end_ns;
        lg->sent += (uint64_t)c->measured;
    }
    if (c->measured) {
        if (timed_out)
            lg->timeouts++;
        else
            lg->conn_errors++;
    }
}

static void request_done(conn *c)
{
    loadgen *lg = c->lg;
    int64_t t = now_ns();
    c->busy = 0;
    lg->nbusy--;
    if (lg->o.max_mode) c->measured = c->start_ns >= lg->measure_start && t <= lg->end_ns;
    if (c->measured) {
        if (lg->o.max_mode) lg->sent++;
        if (c->status >= 200 && c->status < 300) {
            lg->ok++;
            hist_record(&lg->h, (uint64_t)(t - c->start_ns));
            hist_record(&lg->lag, (uint64_t)(c->sent_ns - c->start_ns));
            hist_record(&lg->svc, (uint64_t)(t - c->sent_ns));
        } else {
            lg->non2xx++;
        }
        lg->last_done = t;
    }
    if (c->close_after)
        conn_drop(c, 0);
    else if (lg->o.max_mode && t < lg->end_ns)
        send_request(c, now_ns(), 1); /* closed loop: the next request right away */
    else {
        idle_push(c);
        dispatch(lg);
    }
    maybe_finish(lg);
}

/* Closes c (failing its request, if any) and reconnects after delay_ms unless finished. */
static void conn_drop(conn *c, int64_t delay_ms)
{
    loadgen *lg = c->lg;
    request_failed(c, 0);
    idle_remove(c);
    if (c->connected) {
        c->connected = 0;
        lg->nconnected--;
    }
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (lg->finished) return;
    if (delay_ms <= 0) {
        conn_open(c);
    } else {
        struct timeval tv = ns_to_tv(delay_ms * 1000000);
        evtimer_add(c->retry, &tv);
    }
    maybe_finish(lg);
}

/* Copies the next CRLF-terminated line (without CRLF, cut to cap-1 bytes, NUL-terminated)
 * and drains it. Returns 1 for a line, 0 if none is complete yet, -1 if the head is too
 * long to be an HTTP response. */
static int read_line(struct evbuffer *in, char *buf, size_t cap)
{
    size_t eol_len = 0;
    struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
    if (p.pos < 0) return evbuffer_get_length(in) > MAX_HEAD_BYTES ? -1 : 0;
    size_t n = (size_t)p.pos < cap - 1 ? (size_t)p.pos : cap - 1;
    evbuffer_copyout(in, buf, n);
    buf[n] = '\0';
    evbuffer_drain(in, (size_t)p.pos + eol_len);
    return 1;
}

static int header_is(const char *line, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncasecmp(line, name, n) != 0 || line[n] != ':') return 0;
    const char *v = line + n + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    *value = v;
    return 1;
}

static int contains_token(const char *v, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = v; *p; p++)
        if (strncasecmp(p, token, n) == 0) return 1;
    return 0;
}

/* Consumes as much of the response as is buffered. Returns 0, or -1 on a protocol error. */
static int parse_response(conn *c, struct evbuffer *in)
{
    char line[MAX_LINE];
    for (;;) {
        if (!c->busy) return evbuffer_get_length(in) ? -1 : 0; /* bytes nobody asked for */
        int r;
        switch (c->st) {
        case RS_STATUS:
            if ((r = read_line(in, line, sizeof line)) <= 0) return r;
            if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12) return -1;
            c->close_after = line[7] == '0'; /* HTTP/1.0 closes unless told otherwise */
            c->status = atoi(line + 9);
            c->st = RS_HEADERS;
            break;
        case RS_HEADERS: {
            if ((r = read_line(in, line, sizeof line)) <= 0) return r;
            const char *v;
            if (line[0] != '\0') {
                if (header_is(line, "content-length", &v)) {
                    c->has_len = 1;
                    c->remaining = strtoull(v, NULL, 10);
                } else if (header_is(line, "transfer-encoding", &v)) {
                    c->chunked = contains_token(v, "chunked");
                } else if (header_is(line, "connection", &v)) {
                    if (contains_token(v, "close"))
                        c->close_after = 1;
                    else if (contains_token(v, "keep-alive"))
                        c->close_after = 0;
                }
                break;
            }
            if (c->status >= 100 && c->status < 200) { /* interim response: skip it */
                parser_reset(c);
                break;
            }
            if (c->chunked) {
                c->st = RS_CHUNK_SIZE;
            } else if (c->has_len) {
                c->st = RS_BODY_LEN;
            } else if (c->status == 204 || c->status == 304) {
                request_done(c);
                return 0;
            } else {
                c->close_after = 1;
                c->st = RS_BODY_EOF;
            }
            break;
        }
        case RS_BODY_LEN: {
            size_t avail = evbuffer_get_length(in);
            size_t take = avail < c->remaining ? avail : (size_t)c->remaining;
            evbuffer_drain(in, take);
            c->remaining -= take;
            if (c->remaining > 0) return 0;
            request_done(c);
            return 0; /* c may have been reconnected: its buffer is no longer `in` */
        }
        case RS_BODY_EOF:
            evbuffer_drain(in, evbuffer_get_length(in));
            return 0; /* finished by the EOF event */
        case RS_CHUNK_SIZE: {
            if ((r = read_line(in, line, sizeof line)) <= 0) return r;
            char *end;
            errno = 0;
            c->remaining = strtoull(line, &end, 16);
            if (end == line || errno != 0) return -1;
            c->st = c->remaining == 0 ? RS_TRAILERS : RS_CHUNK_DATA;
            break;
        }
        case RS_CHUNK_DATA: {
            size_t avail = evbuffer_get_length(in);
            size_t take = avail < c->remaining ? avail : (size_t)c->remaining;
            evbuffer_drain(in, take);
            c->remaining -= take;
            if (c->remaining > 0) return 0;
            c->st = RS_CHUNK_CRLF;
            break;
        }
        case RS_CHUNK_CRLF:
            if ((r = read_line(in, line, sizeof line)) <= 0) return r;
            if (line[0] != '\0') return -1;
            c->st = RS_CHUNK_SIZE;
            break;
        case RS_TRAILERS:
            if ((r = read_line(in, line, sizeof line)) <= 0) return r;
            if (line[0] == '\0') {
                request_done(c);
                return 0;
            }
            break;
        }
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    if (parse_response(c, bufferevent_get_input(bev)) < 0) {
        fprintf(stderr, "sy-loadgen: malformed response, reconnecting\n");
        conn_drop(c, 0);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    loadgen *lg = c->lg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->connected = 1;
        lg->nconnected++;
        if (lg->o.max_mode && lg->started && now_ns() < lg->end_ns) {
            send_request(c, now_ns(), 1);
        } else {
            idle_push(c);
            if (lg->started) dispatch(lg);
        }
        if (!lg->started && lg->nconnected == lg->o.connections)
            event_active(lg->start_wait, EV_TIMEOUT, 0);
        return;
    }
    if (c->busy && c->st == RS_BODY_EOF && (what & BEV_EVENT_EOF)) {
        request_done(c); /* the body ended with the connection; request_done reconnects */
        return;
    }
    if (!c->connected && !lg->warned_connect) {
        fprintf(stderr, "sy-loadgen: connect to %s: %s\n", lg->o.url,
                strerror(EVUTIL_SOCKET_ERROR()));
        lg->warned_connect = 1;
    }
    conn_drop(c, c->connected ? 0 : RETRY_MS);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    conn_open(arg);
}

static void conn_open(conn *c)
{
    loadgen *lg = c->lg;
    c->bev = bufferevent_socket_new(lg->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) goto fail;
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) goto fail;
    /* On an immediate failure this frees nothing and returns -1; errors found later arrive
     * through on_event. */
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&lg->addr, (int)lg->addrlen) != 0)
        goto fail;
    return;
fail:
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    struct timeval tv = ns_to_tv((int64_t)RETRY_MS * 1000000);
    evtimer_add(c->retry, &tv);
}

/* ======================================================================================
 * Schedule
 * ==================================================================================== */

/* Open loop: hands due requests, oldest first, to free connections. */
static void dispatch(loadgen *lg)
{
    if (lg->o.max_mode || !lg->started || lg->finished) return;
    while (lg->dispatched < lg->issued && !TAILQ_EMPTY(&lg->idle)) {
        conn *c = TAILQ_FIRST(&lg->idle);
        uint64_t i = lg->dispatched++;
        send_request(c, sched_ns(lg, i), i >= lg->warm);
    }
}

static void finish(loadgen *lg)
{
    if (lg->finished) return;
    lg->finished = 1;
    event_base_loopbreak(lg->base);
}

static void maybe_finish(loadgen *lg)
{
    if (lg->finished || !lg->started) return;
    if (!lg->o.max_mode && lg->issued == lg->total && lg->dispatched == lg->total && lg->nbusy == 0)
        finish(lg);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    finish(arg); /* whatever is still unanswered counts as an error */
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    loadgen *lg = arg;
    if (lg->o.max_mode) { /* end of a closed-loop run: later answers would not count */
        finish(lg);
        return;
    }
    int64_t t = now_ns();
    while (lg->issued < lg->total && sched_ns(lg, lg->issued) <= t)
        lg->issued++;
    dispatch(lg);
    if (lg->issued < lg->total) {
        int64_t wait = sched_ns(lg, lg->issued) - t - (int64_t)lg->o.spin_us * 1000;
        if (wait <= 0) {
            event_active(lg->tick, EV_TIMEOUT, 0); /* spin: poll I/O, come straight back */
        } else {
            struct timeval tv = ns_to_tv(wait);
            evtimer_add(lg->tick, &tv);
        }
    } else {
        struct timeval tv = ns_to_tv((int64_t)lg->o.timeout_ms * 1000000);
        evtimer_add(lg->drain, &tv);
        maybe_finish(lg);
    }
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    loadgen *lg = arg;
    int64_t limit = now_ns() - (int64_t)lg->o.timeout_ms * 1000000;
    for (int i = 0; i < lg->o.connections; i++) {
        conn *c = &lg->conns[i];
        if (c->busy && c->sent_ns < limit) {
            request_failed(c, 1);
            conn_drop(c, 0);
        }
    }
}

/* All connections are up (or CONNECT_WAIT_MS passed): start the clock. */
static void on_start(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    loadgen *lg = arg;
    if (lg->started) return;
    evtimer_del(lg->start_wait);
    if (lg->nconnected == 0) {
        fprintf(stderr, "sy-loadgen: no connection to %s after %d ms\n", lg->o.url,
                CONNECT_WAIT_MS);
        lg->finished = 1;
        event_base_loopbreak(lg->base);
        return;
    }
    if (lg->nconnected < lg->o.connections)
        fprintf(stderr, "sy-loadgen: only %d of %d connections up; starting anyway\n",
                lg->nconnected, lg->o.connections);
    lg->started = 1;
    int64_t t = now_ns();
    struct timeval every = {0, 100000};
    event_add(lg->watchdog, &every);
    if (lg->o.max_mode) {
        lg->measure_start = t + (int64_t)(lg->o.warmup * 1e9);
        lg->end_ns = lg->measure_start + (int64_t)(lg->o.duration * 1e9);
        struct timeval tv = ns_to_tv(lg->end_ns - t);
        evtimer_add(lg->tick, &tv);
        while (!TAILQ_EMPTY(&lg->idle))
            send_request(TAILQ_FIRST(&lg->idle), now_ns(), 1);
    } else {
        lg->t0 = t;
        lg->warm = (uint64_t)llround(lg->o.warmup * lg->o.rate);
        lg->total = lg->warm + (uint64_t)llround(lg->o.duration * lg->o.rate);
        lg->measure_start = sched_ns(lg, lg->warm);
        lg->sent = lg->total - lg->warm;
        event_active(lg->tick, EV_TIMEOUT, 0);
    }
}

/* ======================================================================================
 * Setup
 * ==================================================================================== */

static int read_file(const char *path, char **out, size_t *len)
{
    int rc = -1;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) goto fail;
    if (fseek(f, 0, SEEK_END) != 0) goto fail;
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) goto fail;
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) goto fail;
    buf[n] = '\0';
    *out = buf;
    *len = (size_t)n;
    buf = NULL;
    rc = 0;
fail:
    free(buf);
    if (f) fclose(f);
    return rc;
}

/* Resolves the URL and builds the request bytes, sent as they are for every request. */
static int prepare(loadgen *lg)
{
    int rc = -1;
    char host[256], port[16] = "80";
    char *body = NULL;
    size_t body_len = 0;
    struct addrinfo *ai = NULL;
    struct evbuffer *b = NULL;
    const char *u = lg->o.url;

    if (strncmp(u, "http://", 7) != 0) {
        fprintf(stderr, "sy-loadgen: only http:// URLs: %s\n", u);
        goto fail;
    }
    u += 7;
    const char *path = strchr(u, '/');
    size_t hostport_len = path ? (size_t)(path - u) : strlen(u);
    if (path == NULL) path = "/";
    if (hostport_len == 0 || hostport_len >= sizeof host) {
        fprintf(stderr, "sy-loadgen: bad host in %s\n", lg->o.url);
        goto fail;
    }
    memcpy(host, u, hostport_len);
    host[hostport_len] = '\0';
    char hostport[sizeof host];
    memcpy(hostport, host, hostport_len + 1);
    char *colon = strrchr(host, ':');
    if (colon) {
        *colon = '\0';
        snprintf(port, sizeof port, "%s", colon + 1);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "sy-loadgen: %s: %s\n", host, gai_strerror(gai));
        goto fail;
    }
    memcpy(&lg->addr, ai->ai_addr, ai->ai_addrlen);
    lg->addrlen = ai->ai_addrlen;

    if (lg->o.body_file && read_file(lg->o.body_file, &body, &body_len) != 0) {
        fprintf(stderr, "sy-loadgen: cannot read %s: %s\n", lg->o.body_file, strerror(errno));
        goto fail;
    }
    const char *method = lg->o.method ? lg->o.method : (body ? "POST" : "GET");
    int has_ctype = 0;
    for (int i = 0; i < lg->o.nheaders; i++)
        if (strncasecmp(lg->o.headers[i], "content-type:", 13) == 0) has_ctype = 1;

    b = evbuffer_new();
    if (b == NULL) goto fail;
    evbuffer_add_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sy-loadgen\r\n", method, path,
                        hostport);
    if (body) {
        if (!has_ctype) evbuffer_add_printf(b, "Content-Type: application/json\r\n");
        evbuffer_add_printf(b, "Content-Length: %zu\r\n", body_len);
    }
    for (int i = 0; i < lg->o.nheaders; i++)
        evbuffer_add_printf(b, "%s\r\n", lg->o.headers[i]);
    evbuffer_add(b, "\r\n", 2);
    if (body) evbuffer_add(b, body, body_len);
    lg->req_len = evbuffer_get_length(b);
    lg->req = malloc(lg->req_len);
    if (lg->req == NULL) goto fail;
    evbuffer_copyout(b, lg->req, lg->req_len);
    rc = 0;
fail:
    if (b) evbuffer_free(b);
    if (ai) freeaddrinfo(ai);
    free(body);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sy-loadgen --url http://HOST:PORT/PATH [options]\n"
               "  --rate R          requests per second, open loop (default 1000)\n"
               "  --max             closed loop instead: as fast as the connections allow\n"
               "  --duration S      measured seconds (default 10)\n"
               "  --warmup S        seconds run first and not measured (default 0)\n"
               "  --connections C   keep-alive connections (default 32)\n"
               "  --body FILE       request body (method defaults to POST; GET without)\n"
               "  --method M        request method\n"
               "  --header 'K: V'   extra request header (repeatable)\n"
               "  --timeout MS      a request unanswered this long fails (default 5000)\n"
               "  --spin-us US      busy-poll this long before each send instead of sleeping,\n"
               "                    for wake-ups that are late (default 0; costs CPU)\n"
               "Prints one JSON line; exit 0 if every measured request got a 2xx, 1 if not,\n"
               "2 on bad arguments or when no connection could be made.\n");
}

static int parse_args(opts *o, int argc, char **argv)
{
    *o = (opts){.rate = 1000, .duration = 10, .connections = 32, .timeout_ms = 5000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--max") == 0) {
            o->max_mode = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "sy-loadgen: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--url") == 0) {
            o->url = v;
        } else if (strcmp(a, "--rate") == 0) {
            o->rate = atof(v);
        } else if (strcmp(a, "--duration") == 0) {
            o->duration = atof(v);
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = atof(v);
        } else if (strcmp(a, "--connections") == 0) {
            o->connections = atoi(v);
        } else if (strcmp(a, "--body") == 0) {
            o->body_file = v;
        } else if (strcmp(a, "--method") == 0) {
            o->method = v;
        } else if (strcmp(a, "--timeout") == 0) {
            o->timeout_ms = atoi(v);
        } else if (strcmp(a, "--spin-us") == 0) {
            o->spin_us = atoi(v);
        } else if (strcmp(a, "--header") == 0) {
            if (o->nheaders == MAX_HEADERS || strchr(v, ':') == NULL || strpbrk(v, "\r\n")) {
                fprintf(stderr, "sy-loadgen: bad or too many --header: %s\n", v);
                return -1;
            }
            o->headers[o->nheaders++] = v;
        } else {
            fprintf(stderr, "sy-loadgen: unknown option %s\n", a);
            return -1;
        }
    }
    if (o->url == NULL || o->rate <= 0 || o->duration <= 0 || o->warmup < 0 || o->connections < 1 ||
        o->connections > 65536 || o->timeout_ms < 1 || o->spin_us < 0) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static void report(const loadgen *lg)
{
    uint64_t answered = lg->ok + lg->non2xx;
    uint64_t errors = lg->sent > answered ? lg->sent - answered : 0;
    uint64_t failed = lg->conn_errors + lg->timeouts;
    uint64_t unanswered = errors > failed ? errors - failed : 0; /* never sent, or cut off */
    double secs;
    if (lg->o.max_mode)
        secs = lg->o.duration;
    else
        secs = lg->last_done > lg->measure_start ? (double)(lg->last_done - lg->measure_start) / 1e9
                                                 : lg->o.duration;
    const hist *h = &lg->h;
    printf("{\"rate\":%.0f,\"sent\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"errors\":%" PRIu64
           ",\"non2xx\":%" PRIu64 ",\"achieved_rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p95_us\":%.1f"
           ",\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mode\":\"%s\""
           ",\"connections\":%d,\"duration_s\":%g,\"conn_errors\":%" PRIu64 ",\"timeouts\":%" PRIu64
           ",\"unanswered\":%" PRIu64 ",\"send_lag_p50_us\":%.1f,\"send_lag_p99_us\":%.1f"
           ",\"from_send_p50_us\":%.1f,\"from_send_p99_us\":%.1f}\n",
           lg->o.max_mode ? 0.0 : lg->o.rate, lg->sent, lg->ok, errors, lg->non2xx,
           (double)answered / secs, hist_quantile(h, 0.50) / 1e3, hist_quantile(h, 0.90) / 1e3,
           hist_quantile(h, 0.95) / 1e3,
           hist_quantile(h, 0.99) / 1e3, hist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3,
           lg->o.max_mode ? "max" : "rate", lg->o.connections, lg->o.duration, lg->conn_errors,
           lg->timeouts, unanswered, hist_quantile(&lg->lag, 0.50) / 1e3,
           hist_quantile(&lg->lag, 0.99) / 1e3, hist_quantile(&lg->svc, 0.50) / 1e3,
           hist_quantile(&lg->svc, 0.99) / 1e3);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int rc = 2;
    loadgen *lg = NULL;
    struct event_config *cfg = NULL;

    signal(SIGPIPE, SIG_IGN);
    /* Linux lets a normal thread's timers fire up to 50 us late (timer slack) to batch
     * wake-ups; every such delay would be charged to the server under test. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    lg = calloc(1, sizeof *lg);
    if (lg == NULL) goto fail;
    if (parse_args(&lg->o, argc, argv) != 0 || prepare(lg) != 0) goto fail;

    /* timerfd-backed timers (microseconds, not epoll's milliseconds) and no cached time:
     * a send that is late by a millisecond would show up in every latency figure. */
    cfg = event_config_new();
    if (cfg == NULL) goto fail;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER | EVENT_BASE_FLAG_NO_CACHE_TIME);
    lg->base = event_base_new_with_config(cfg);
    if (lg->base == NULL) goto fail;
    lg->tick = evtimer_new(lg->base, on_tick, lg);
    lg->drain = evtimer_new(lg->base, on_drain, lg);
    lg->start_wait = evtimer_new(lg->base, on_start, lg);
    lg->watchdog = event_new(lg->base, -1, EV_PERSIST, on_watchdog, lg);
    lg->conns = calloc((size_t)lg->o.connections, sizeof *lg->conns);
    if (!lg->tick || !lg->drain || !lg->start_wait || !lg->watchdog || !lg->conns) goto fail;
    TAILQ_INIT(&lg->idle);
    for (int i = 0; i < lg->o.connections; i++) {
        conn *c = &lg->conns[i];
        c->lg = lg;
        c->retry = evtimer_new(lg->base, on_retry, c);
        if (c->retry == NULL) goto fail;
        conn_open(c);
    }
    struct timeval wait = ns_to_tv((int64_t)CONNECT_WAIT_MS * 1000000);
    evtimer_add(lg->start_wait, &wait);

    event_base_dispatch(lg->base);
    if (!lg->started) goto fail;
    report(lg);
    rc = lg->ok == lg->sent && lg->sent > 0 ? 0 : 1;
fail:
    if (lg) {
        lg->finished = 1; /* conn_drop must not reconnect during teardown */
        for (int i = 0; lg->conns && i < lg->o.connections; i++) {
            if (lg->conns[i].bev) bufferevent_free(lg->conns[i].bev);
            if (lg->conns[i].retry) event_free(lg->conns[i].retry);
        }
        free(lg->conns);
        if (lg->tick) event_free(lg->tick);
        if (lg->drain) event_free(lg->drain);
        if (lg->start_wait) event_free(lg->start_wait);
        if (lg->watchdog) event_free(lg->watchdog);
        if (lg->base) event_base_free(lg->base);
        free(lg->req);
        free(lg);
    }
    if (cfg) event_config_free(cfg);
    return rc;
}
