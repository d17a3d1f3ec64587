/* sy_mock_upstream.c — `sy-mock-upstream`, the mock OpenAI and Anthropic upstream of
 * tests/integration/ and bench/: each request's behaviour comes from its "model" string. */
/*
 * Usage: sy-mock-upstream --listen 127.0.0.1:PORT [--threads N] [--require-key KEY]
 *
 * PORT 0 picks a free port. Once every socket listens, one line "listening on HOST:PORT" goes
 * to stdout. N threads each run their own event_base + evhttp on their own SO_REUSEPORT
 * socket (the kernel spreads connections over them). SIGTERM / SIGINT: exit 0.
 *
 * POST /v1/chat/completions — the body's "model" is `mock` (or any name) optionally followed
 * by `?opt=v&opt=v`:
 *   status=N [retry_after=S]  HTTP N with an OpenAI error body (+ Retry-After: S); with
 *                             content=CODE the error's code is CODE
 *   delay_ms=N                wait N ms before sending anything (headers included)
 *   reset=1                   close the connection with a TCP RST, no response at all
 *   garbage=1                 200, application/json, body `this is not json{`
 *   chunks=N (3) chunk_ms=N (0)  stream pacing: event i goes out at stall_ms + i*chunk_ms,
 *                             the final (finish_reason "stop") event + [DONE] chunk_ms after
 *                             the last content event
 *   fail_after_chunks=K       stream: K content events, then the connection closes (FIN) with
 *                             no terminating chunk and no [DONE]; K >= chunks sends them all
 *   stall_ms=N                stream: headers first, then N ms before the first event
 *   echo=1                    the answer text is the request's "messages" array as JSON
 *   logprob=X                 (not streamed) the choice has logprobs: one token, logprob X
 *   tool=NAME                 (not streamed) the answer is a tool call of NAME whose
 *                             arguments are the answer text
 *   content=TEXT              URL-decoded ('+' is a space) answer text; default
 *                             "Hello from <model string as received>"
 * Precedence: delay, then reset, then status (>= 300 or < 200), then garbage, then the
 * answer. Unknown options are ignored (handy as tags: `mock?tag=big`).
 * The first stream event carries delta.role "assistant" together with the first piece, so
 * "chunks" is exactly the number of content events. stream_options.include_usage adds a
 * usage event (choices []) before [DONE].
 *
 *
 * POST /v1/messages — the Anthropic Messages API, the same "model" options:
 *   (none)                    a message with one text block, stop_reason "end_turn", usage
 *                             {input_tokens, output_tokens}
 *   echo=1                    the answer text is the whole request body as received (compact
 *                             JSON), so tests can check what a gateway translated
 *   content=TEXT              the answer text, as above
 *   tool=NAME                 a tool_use block of NAME (id "toolu_mock") whose input is the
 *                             answer text when that is a JSON object, else {"text": answer};
 *                             stop_reason "tool_use"; streamed as input_json_delta pieces
 *   stop=REASON               the stop_reason instead (max_tokens, refusal, ...)
 *   cache=N                   usage also has cache_read_input_tokens N
 *   status=N [retry_after=S]  HTTP N with an Anthropic error body {"type":"error","error":
 *                             {"type", "message"}}: 529 overloaded_error ("Overloaded"), 429
 *                             rate_limit_error, 400 invalid_request_error, 401
 *                             authentication_error, 403 permission_error, 404 not_found_error,
 *                             other 5xx api_error; content=TEXT is the message
 *   stream (request "stream": true): message_start (usage input_tokens, output_tokens 1),
 *                             content_block_start, ping, then `chunks` content_block_delta
 *                             events (text_delta or input_json_delta) `chunk_ms` apart,
 *                             content_block_stop, message_delta (stop_reason, usage
 *                             output_tokens), message_stop; fail_after_chunks=K closes after K
 *                             deltas (no message_stop); stall_ms, delay_ms, reset, garbage as
 *                             above
 * --require-key KEY also wants "x-api-key: KEY" here (else 401 authentication_error).
 *
 * GET /v1/models lists "mock". GET /_mock/stats: {"requests", "by_model": {model string:
 * count}, "client_closed", "last_authorization" (of the last request, "" if it had none),
 * "last_api_key", "last_anthropic_version" (the x-api-key and anthropic-version headers of
 * the last /v1/messages request, "" if absent), "threads"}; POST /_mock/reset zeroes them
 * (ids keep counting, so they stay unique).
 * --require-key KEY: /v1/ paths without "Authorization: Bearer KEY" gets 401 "bad key" (still
 * counted, so a test can read what was sent). Malformed JSON: 400; unknown path: 404.
 * Stats count POST /v1/chat/completions and /v1/messages only; each thread keeps its own
 * (behind its own, uncontended mutex) and /_mock/stats adds them up, so by_model works for
 * any --threads. client_closed counts requests whose client went away before the response
 * was complete: evhttp's connection close callback (a failed write) while the request is
 * still ours, plus our own EV_READ watch on the socket, because evhttp does not read while a
 * request is being answered and so would notice a hang-up only at the next write.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define MOCK_MAX_THREADS 64
#define MOCK_MAX_MODELS 256 /* distinct model strings per thread; more go to "(other)" */

/* ==== types ============================================================================ */

typedef struct model_count {
    char *model;
    long count;
} model_count;

typedef struct worker_stats {
    pthread_mutex_t mu;
    long requests;
    long client_closed;
    unsigned long auth_seq; /* process-wide order of last_auth; 0 = none yet */
    char *last_auth;
    unsigned long anth_seq; /* process-wide order of the last /v1/messages headers */
    char *last_api_key;
    char *last_version;
    model_count *models;
    size_t n_models;
} worker_stats;

typedef struct mock_server mock_server;
typedef struct mreq mreq;

typedef struct worker {
    mock_server *srv;
    int index;
    int listen_fd;
    int wake_fds[2];
    struct event_base *base;
    struct evhttp *http;
    struct event *wake_ev;
    pthread_t thread;
    int started;
    int stopping; /* set before teardown: closes then are ours, not the client's */
    worker_stats st;
    mreq *active; /* requests answered later (timers), doubly linked */
} worker;

struct mock_server {
    char host[64];
    int port;
    int nthreads;
    char *expected_auth; /* "Bearer KEY" or NULL */
    const char *expected_key; /* KEY or NULL */
    worker workers[MOCK_MAX_THREADS];
    atomic_ulong next_id;
    atomic_ulong auth_seq;
};

typedef struct mock_opts {
    int status;      /* 0 = none */
    int retry_after; /* -1 = none */
    int delay_ms;
    int reset;
    int garbage;
    int chunks;
    int chunk_ms;
    int fail_after_chunks; /* -1 = never */
    int stall_ms;
    char *content; /* decoded, owned, or NULL */
    int echo;      /* answer with the request's "messages" array as JSON text */
    char *stop;    /* anthropic: stop_reason, owned, or NULL */
    int cache;     /* anthropic: cache_read_input_tokens */
} mock_opts;

/* A request answered from timers. Owned by its worker's active list until finished or
 * until the client closes (on_conn_close), whichever comes first. */
struct mreq {
    worker *w;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event *timer;
    struct event *watch; /* EV_READ on the client socket: notices a hang-up while we wait */
    mreq *prev, *next;
    mock_opts o;
    char *model;
    char *answer;
    int stream;
    int include_usage;
    int anth;        /* an Anthropic /v1/messages request */
    char *tool;      /* anthropic: tool name (the answer is its input JSON), or NULL */
    int head_sent;   /* anthropic stream: message_start .. ping went out */
    long prompt_tokens, completion_tokens;
    unsigned long id;
    long created;
    int sent; /* content events sent */
};

static void print_usage(FILE *f)
{
    fputs("usage: sy-mock-upstream --listen HOST:PORT [--threads N] [--require-key KEY]\n"
          "  POST /v1/chat/completions  model = mock[?status=N&retry_after=S&delay_ms=N&reset=1\n"
          "                             &garbage=1&chunks=N&chunk_ms=N&fail_after_chunks=K\n"
          "                             &stall_ms=N&content=TEXT]\n"
          "  POST /v1/messages          the Anthropic Messages API, same options plus\n"
          "                             &tool=NAME&stop=REASON&cache=N\n"
          "  GET  /v1/models            one model, \"mock\"\n"
          "  GET  /_mock/stats          {requests, by_model, client_closed, last_authorization,\n"
          "                             last_api_key, last_anthropic_version}\n"
          "  POST /_mock/reset          zeroes the stats\n",
          f);
}

/* ==== small helpers ==================================================================== */

/* Appends s as a JSON string literal (quotes included). */
static void json_str(struct evbuffer *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;

    evbuffer_add(b, "\"", 1);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        evbuffer_add(b, s + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            evbuffer_add(b, esc, 2);
            break;
        case '\\':
            esc[1] = '\\';
            evbuffer_add(b, esc, 2);
            break;
        case '\n':
            esc[1] = 'n';
            evbuffer_add(b, esc, 2);
            break;
        case '\r':
            esc[1] = 'r';
            evbuffer_add(b, esc, 2);
            break;
        case '\t':
            esc[1] = 't';
            evbuffer_add(b, esc, 2);
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            evbuffer_add(b, esc, 6);
        }
    }
    evbuffer_add(b, s + run, len - run);
    evbuffer_add(b, "\"", 1);
}

static int parse_int(const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < INT_MIN || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Overloaded";
    default:
        return "Status";
    }
}

static long count_words(const char *s)
{
    long n = 0;
    int in = 0;

    for (; *s; s++) {
        int space = (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r');
        if (!space && !in) n++;
        in = !space;
    }
    return n;
}

/* Rough prompt size: bytes of message text / 4, at least 1. */
static long prompt_tokens(const cJSON *root)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *m, *part;
    size_t bytes = 0;

    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(c)) {
            bytes += strlen(c->valuestring);
        } else if (cJSON_IsArray(c)) {
            cJSON_ArrayForEach(part, c)
            {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (cJSON_IsString(t)) bytes += strlen(t->valuestring);
            }
        }
    }
    return (long)(bytes / 4) + 1;
}

static void send_json(struct evhttp_request *req, int status, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, reason_phrase(status), body);
}

static void send_error(struct evhttp_request *req, int status, const char *type, const char *code,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void send_error(struct evhttp_request *req, int status, const char *type, const char *code,
                       const char *fmt, ...)
{
    struct evbuffer *b = evbuffer_new();
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!b) {
        evhttp_send_error(req, status, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"error\":{\"message\":");
    json_str(b, msg, strlen(msg));
    evbuffer_add_printf(b, ",\"type\":\"%s\",\"param\":null,\"code\":", type);
    if (code)
        evbuffer_add_printf(b, "\"%s\"", code);
    else
        evbuffer_add_printf(b, "null");
    evbuffer_add_printf(b, "}}");
    send_json(req, status, b);
    evbuffer_free(b);
}

/* ==== stats ============================================================================ */

static void stats_count_request(worker *w, const char *auth)
{
    worker_stats *st = &w->st;
    const char *a = auth ? auth : "";

    pthread_mutex_lock(&st->mu);
    st->requests++;
    st->auth_seq = atomic_fetch_add(&w->srv->auth_seq, 1) + 1;
    /* Only reallocate when the value changes: the benchmark sends the same header. */
    if (!st->last_auth || strcmp(st->last_auth, a) != 0) {
        char *copy = strdup(a);
        if (copy) {
            free(st->last_auth);
            st->last_auth = copy;
        }
    }
    pthread_mutex_unlock(&st->mu);
}

static void stats_count_model(worker *w, const char *model)
{
    worker_stats *st = &w->st;
    size_t i;

    pthread_mutex_lock(&st->mu);
    for (i = 0; i < st->n_models; i++) {
        if (strcmp(st->models[i].model, model) == 0) {
            st->models[i].count++;
            goto done;
        }
    }
    if (st->n_models >= MOCK_MAX_MODELS) {
        model = "(other)";
        for (i = 0; i < st->n_models; i++) {
            if (strcmp(st->models[i].model, model) == 0) {
                st->models[i].count++;
                goto done;
            }
        }
    }
    if (!st->models) {
        st->models = calloc(MOCK_MAX_MODELS + 1, sizeof *st->models);
        if (!st->models) goto done;
    }
    st->models[st->n_models].model = strdup(model);
    if (st->models[st->n_models].model) st->models[st->n_models++].count = 1;
done:
    pthread_mutex_unlock(&st->mu);
}

static void stats_count_closed(worker *w)
{
    pthread_mutex_lock(&w->st.mu);
    w->st.client_closed++;
    pthread_mutex_unlock(&w->st.mu);
}

/* Caller holds st->mu. */
static void stats_clear_locked(worker_stats *st)
{
    size_t i;

    for (i = 0; i < st->n_models; i++)
        free(st->models[i].model);
    free(st->models);
    st->models = NULL;
    st->n_models = 0;
    free(st->last_auth);
    st->last_auth = NULL;
    st->auth_seq = 0;
    free(st->last_api_key);
    st->last_api_key = NULL;
    free(st->last_version);
    st->last_version = NULL;
    st->anth_seq = 0;
    st->requests = 0;
    st->client_closed = 0;
}

static void handle_stats(worker *w, struct evhttp_request *req)
{
    mock_server *srv = w->srv;
    cJSON *root = cJSON_CreateObject();
    cJSON *by_model = cJSON_CreateObject();
    struct evbuffer *b = evbuffer_new();
    char *last_auth = NULL, *text = NULL, *last_key = NULL, *last_version = NULL;
    unsigned long best_seq = 0, best_anth = 0;
    long requests = 0, closed = 0;
    int i;
    size_t j;

    if (!root || !by_model || !b) goto fail;
    for (i = 0; i < srv->nthreads; i++) {
        worker_stats *st = &srv->workers[i].st;
        pthread_mutex_lock(&st->mu);
        requests += st->requests;
        closed += st->client_closed;
        if (st->auth_seq > best_seq && st->last_auth) {
            char *copy = strdup(st->last_auth);
            if (copy) {
                free(last_auth);
                last_auth = copy;
                best_seq = st->auth_seq;
            }
        }
        if (st->anth_seq > best_anth) {
            free(last_key);
            free(last_version);
            last_key = strdup(st->last_api_key ? st->last_api_key : "");
            last_version = strdup(st->last_version ? st->last_version : "");
            best_anth = st->anth_seq;
        }
        for (j = 0; j < st->n_models; j++) {
            cJSON *n = cJSON_GetObjectItemCaseSensitive(by_model, st->models[j].model);
            if (n)
                cJSON_SetNumberValue(n, n->valuedouble + (double)st->models[j].count);
            else
                cJSON_AddNumberToObject(by_model, st->models[j].model, (double)st->models[j].count);
        }
        pthread_mutex_unlock(&st->mu);
    }
    cJSON_AddNumberToObject(root, "requests", (double)requests);
    cJSON_AddItemToObject(root, "by_model", by_model);
    by_model = NULL; /* owned by root now */
    cJSON_AddNumberToObject(root, "client_closed", (double)closed);
    cJSON_AddStringToObject(root, "last_authorization", last_auth ? last_auth : "");
    cJSON_AddStringToObject(root, "last_api_key", last_key ? last_key : "");
    cJSON_AddStringToObject(root, "last_anthropic_version", last_version ? last_version : "");
    cJSON_AddNumberToObject(root, "threads", srv->nthreads);
    text = cJSON_PrintUnformatted(root);
    if (!text) goto fail;
    evbuffer_add(b, text, strlen(text));
    send_json(req, 200, b);
    goto done;
fail:
    evhttp_send_error(req, 500, NULL);
done:
    free(text);
    free(last_auth);
    free(last_key);
    free(last_version);
    if (b) evbuffer_free(b);
    cJSON_Delete(by_model);
    cJSON_Delete(root);
}

static void handle_reset(worker *w, struct evhttp_request *req)
{
    mock_server *srv = w->srv;
    struct evbuffer *b = evbuffer_new();
    int i;

    for (i = 0; i < srv->nthreads; i++) {
        worker_stats *st = &srv->workers[i].st;
        pthread_mutex_lock(&st->mu);
        stats_clear_locked(st);
        pthread_mutex_unlock(&st->mu);
    }
    atomic_store(&srv->auth_seq, 0);
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"ok\":true}");
    send_json(req, 200, b);
    evbuffer_free(b);
}

/* ==== model options ==================================================================== */

static void opts_init(mock_opts *o)
{
    memset(o, 0, sizeof *o);
    o->retry_after = -1;
    o->chunks = 3;
    o->fail_after_chunks = -1;
}

static void opts_free(mock_opts *o)
{
    free(o->content);
    o->content = NULL;
    free(o->stop);
    o->stop = NULL;
}

/* Parses the part after '?' of the model string. Bad numbers are ignored (the option keeps
 * its default), so a typo shows up as "the mock did the default", never as a crash. */
static void opts_parse(mock_opts *o, const char *model)
{
    const char *q = strchr(model, '?');
    char *copy, *save = NULL, *tok;

    if (!q || !(copy = strdup(q + 1))) return;
    for (tok = strtok_r(copy, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        const char *k = tok, *v = "";
        int n = 0, ok;
        if (eq) {
            *eq = '\0';
            v = eq + 1;
        }
        if (strcmp(k, "content") == 0) {
            char *dec = evhttp_uridecode(v, 1, NULL);
            if (dec) {
                free(o->content);
                o->content = dec;
            }
            continue;
        }
        if (strcmp(k, "stop") == 0) {
            free(o->stop);
            o->stop = strdup(v);
            continue;
        }
        ok = parse_int(v, &n) == 0;
        if (!ok) continue;
        if (strcmp(k, "status") == 0)
            o->status = n;
        else if (strcmp(k, "retry_after") == 0)
            o->retry_after = n;
        else if (strcmp(k, "delay_ms") == 0)
            o->delay_ms = n < 0 ? 0 : n;
        else if (strcmp(k, "echo") == 0)
            o->echo = n;
        else if (strcmp(k, "reset") == 0)
            o->reset = n;
        else if (strcmp(k, "garbage") == 0)
            o->garbage = n;
        else if (strcmp(k, "chunks") == 0)
            o->chunks = n < 0 ? 0 : n;
        else if (strcmp(k, "chunk_ms") == 0)
            o->chunk_ms = n < 0 ? 0 : n;
        else if (strcmp(k, "fail_after_chunks") == 0)
            o->fail_after_chunks = n < 0 ? -1 : n;
        else if (strcmp(k, "stall_ms") == 0)
            o->stall_ms = n < 0 ? 0 : n;
        else if (strcmp(k, "cache") == 0)
            o->cache = n < 0 ? 0 : n;
    }
    free(copy);
}

/* ==== answers ========================================================================== */

static void add_completion(struct evbuffer *b, unsigned long id, long created, const char *model,
                           const char *answer, long pt, long ct)
{
    evbuffer_add_printf(b,
                        "{\"id\":\"chatcmpl-mock-%lu\",\"object\":\"chat.completion\","
                        "\"created\":%ld,\"model\":",
                        id, created);
    json_str(b, model, strlen(model));
    evbuffer_add_printf(b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                           "\"content\":");
    /* tool=NAME: the answer is a call of NAME with the answer text as its arguments */
    const char *tool = strstr(model, "tool=");
    if (tool) {
        tool += 5;
        size_t tl = strcspn(tool, "&");
        evbuffer_add_printf(b, "null,\"tool_calls\":[{\"id\":\"call_mock\",\"type\":\"function\","
                               "\"function\":{\"name\":");
        json_str(b, tool, tl);
        evbuffer_add_printf(b, ",\"arguments\":");
        json_str(b, answer, strlen(answer));
        evbuffer_add_printf(b, "}}]");
    } else {
        json_str(b, answer, strlen(answer));
    }
    /* logprob=X: the choice carries one token's logprob, as when logprobs are asked for */
    const char *lp = strstr(model, "logprob=");
    if (lp) evbuffer_add_printf(b, "},\"logprobs\":{\"content\":[{\"token\":\"x\",\"logprob\":%.6f}]",
                                atof(lp + 8));
    evbuffer_add_printf(b,
                        "},\"finish_reason\":\"%s\"}],\"usage\":{\"prompt_tokens\":%ld,"
                        "\"completion_tokens\":%ld,\"total_tokens\":%ld}}",
                        tool ? "tool_calls" : "stop", pt, ct, pt + ct);
}

static void send_completion(struct evhttp_request *req, unsigned long id, long created,
                            const char *model, const char *answer, long pt, long ct)
{
    struct evbuffer *b = evbuffer_new();

    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    add_completion(b, id, created, model, answer, pt, ct);
    send_json(req, 200, b);
    evbuffer_free(b);
}

static void send_garbage(struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();

    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "this is not json{");
    send_json(req, 200, b);
    evbuffer_free(b);
}

static void send_status(struct evhttp_request *req, const mock_opts *o)
{
    if (o->retry_after >= 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", o->retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", v);
    }
    /* content=CODE gives the error object that code (e.g. context_length_exceeded) */
    send_error(req, o->status, o->status < 500 ? "invalid_request_error" : "server_error",
               o->content, "mock error %d", o->status);
}

/* Byte range of piece i of n over text of len bytes, never splitting a UTF-8 sequence. */
static void piece_range(const char *text, size_t len, int i, int n, size_t *from, size_t *to)
{
    size_t a = len * (size_t)i / (size_t)n, z = len * (size_t)(i + 1) / (size_t)n;

    while (a < len && ((unsigned char)text[a] & 0xC0) == 0x80)
        a++;
    while (z < len && ((unsigned char)text[z] & 0xC0) == 0x80)
        z++;
    *from = a;
    *to = z < a ? a : z;
}

static void chunk_head(struct evbuffer *b, const mreq *m)
{
    evbuffer_add_printf(b,
                        "data: {\"id\":\"chatcmpl-mock-%lu\",\"object\":"
                        "\"chat.completion.chunk\",\"created\":%ld,\"model\":",
                        m->id, m->created);
    json_str(b, m->model, strlen(m->model));
}

static void send_chunk_buf(mreq *m, struct evbuffer *b)
{
    evhttp_send_reply_chunk(m->req, b);
}

static void send_content_event(mreq *m, int i)
{
    struct evbuffer *b = evbuffer_new();
    size_t len = strlen(m->answer), from, to;

    if (!b) return;
    piece_range(m->answer, len, i, m->o.chunks, &from, &to);
    chunk_head(b, m);
    evbuffer_add_printf(b, ",\"choices\":[{\"index\":0,\"delta\":{%s\"content\":",
                        i == 0 ? "\"role\":\"assistant\"," : "");
    json_str(b, m->answer + from, to - from);
    evbuffer_add_printf(b, "},\"finish_reason\":null}]}\n\n");
    send_chunk_buf(m, b);
    evbuffer_free(b);
}

static void send_final_events(mreq *m)
{
    struct evbuffer *b = evbuffer_new();

    if (!b) return;
    chunk_head(b, m);
    /* With chunks=0 the role still has to appear once. */
    evbuffer_add_printf(b,
                        ",\"choices\":[{\"index\":0,\"delta\":{%s},\"finish_reason\":"
                        "\"stop\"}]}\n\n",
                        m->o.chunks == 0 ? "\"role\":\"assistant\",\"content\":\"\"" : "");
    send_chunk_buf(m, b);
    if (m->include_usage) {
        chunk_head(b, m);
        evbuffer_add_printf(b,
                            ",\"choices\":[],\"usage\":{\"prompt_tokens\":%ld,"
                            "\"completion_tokens\":%ld,\"total_tokens\":%ld}}\n\n",
                            m->prompt_tokens, m->completion_tokens,
                            m->prompt_tokens + m->completion_tokens);
        send_chunk_buf(m, b);
    }
    evbuffer_add_printf(b, "data: [DONE]\n\n");
    send_chunk_buf(m, b);
    evbuffer_free(b);
}

/* ==== Anthropic answers ================================================================ */

static const char *anth_error_type(int status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 529:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

static void anth_send_error(struct evhttp_request *req, int status, const char *msg)
{
    struct evbuffer *b = evbuffer_new();

    if (!b) {
        evhttp_send_error(req, status, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
                        anth_error_type(status));
    json_str(b, msg, strlen(msg));
    evbuffer_add_printf(b, "}}");
    send_json(req, status, b);
    evbuffer_free(b);
}

static void anth_send_status(struct evhttp_request *req, const mock_opts *o)
{
    char msg[64];

    if (o->retry_after >= 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", o->retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", v);
    }
    snprintf(msg, sizeof msg, o->status == 529 ? "Overloaded" : "mock error %d", o->status);
    anth_send_error(req, o->status, o->content ? o->content : msg);
}

static const char *anth_stop_reason(const mreq *m)
{
    return m->o.stop ? m->o.stop : m->tool ? "tool_use" : "end_turn";
}

static void anth_usage(struct evbuffer *b, const mreq *m, long out)
{
    evbuffer_add_printf(b, "{\"input_tokens\":%ld,\"output_tokens\":%ld", m->prompt_tokens, out);
    if (m->o.cache) evbuffer_add_printf(b, ",\"cache_read_input_tokens\":%d", m->o.cache);
    evbuffer_add_printf(b, "}");
}

static void anth_send_message(mreq *m)
{
    struct evbuffer *b = evbuffer_new();

    if (!b) {
        evhttp_send_error(m->req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"id\":\"msg_mock_%lu\",\"type\":\"message\",\"role\":\"assistant\","
                           "\"model\":", m->id);
    json_str(b, m->model, strlen(m->model));
    if (m->tool) {
        evbuffer_add_printf(b, ",\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_mock\",\"name\":");
        json_str(b, m->tool, strlen(m->tool));
        evbuffer_add_printf(b, ",\"input\":%s}]", m->answer); /* a JSON object (see handle) */
    } else {
        evbuffer_add_printf(b, ",\"content\":[{\"type\":\"text\",\"text\":");
        json_str(b, m->answer, strlen(m->answer));
        evbuffer_add_printf(b, "}]");
    }
    evbuffer_add_printf(b, ",\"stop_reason\":");
    json_str(b, anth_stop_reason(m), strlen(anth_stop_reason(m)));
    evbuffer_add_printf(b, ",\"stop_sequence\":null,\"usage\":");
    anth_usage(b, m, m->completion_tokens);
    evbuffer_add_printf(b, "}");
    send_json(m->req, 200, b);
    evbuffer_free(b);
}

static void anth_event(struct evbuffer *b, const char *name)
{
    evbuffer_add_printf(b, "event: %s\ndata: ", name);
}

/* message_start, content_block_start and a ping: what Anthropic sends before any content. */
static void anth_send_head(mreq *m, struct evbuffer *b)
{
    anth_event(b, "message_start");
    evbuffer_add_printf(b, "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_mock_%lu\","
                           "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":",
                        m->id);
    json_str(b, m->model, strlen(m->model));
    evbuffer_add_printf(b, ",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
    anth_usage(b, m, 1);
    evbuffer_add_printf(b, "}}\n\n");
    anth_event(b, "content_block_start");
    if (m->tool) {
        evbuffer_add_printf(b, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                               "{\"type\":\"tool_use\",\"id\":\"toolu_mock\",\"name\":");
        json_str(b, m->tool, strlen(m->tool));
        evbuffer_add_printf(b, ",\"input\":{}}}\n\n");
    } else {
        evbuffer_add_printf(b, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                               "{\"type\":\"text\",\"text\":\"\"}}\n\n");
    }
    anth_event(b, "ping");
    evbuffer_add_printf(b, "{\"type\": \"ping\"}\n\n");
    m->head_sent = 1;
}

static void anth_send_content_event(mreq *m, int i)
{
    struct evbuffer *b = evbuffer_new();
    size_t len = strlen(m->answer), from, to;

    if (!b) return;
    if (!m->head_sent) anth_send_head(m, b);
    piece_range(m->answer, len, i, m->o.chunks, &from, &to);
    anth_event(b, "content_block_delta");
    evbuffer_add_printf(b, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":");
    if (m->tool) {
        evbuffer_add_printf(b, "\"input_json_delta\",\"partial_json\":");
    } else {
        evbuffer_add_printf(b, "\"text_delta\",\"text\":");
    }
    json_str(b, m->answer + from, to - from);
    evbuffer_add_printf(b, "}}\n\n");
    send_chunk_buf(m, b);
    evbuffer_free(b);
}

static void anth_send_final_events(mreq *m)
{
    struct evbuffer *b = evbuffer_new();
    const char *reason = anth_stop_reason(m);

    if (!b) return;
    if (!m->head_sent) anth_send_head(m, b);
    anth_event(b, "content_block_stop");
    evbuffer_add_printf(b, "{\"type\":\"content_block_stop\",\"index\":0}\n\n");
    anth_event(b, "message_delta");
    evbuffer_add_printf(b, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
    json_str(b, reason, strlen(reason));
    evbuffer_add_printf(b, ",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%ld}}\n\n",
                        m->completion_tokens);
    anth_event(b, "message_stop");
    evbuffer_add_printf(b, "{\"type\":\"message_stop\"}\n\n");
    send_chunk_buf(m, b);
    evbuffer_free(b);
}

/* ==== delayed requests ================================================================= */

static void on_conn_close(struct evhttp_connection *evcon, void *arg);

static void mreq_link(mreq *m)
{
    worker *w = m->w;

    m->prev = NULL;
    m->next = w->active;
    if (w->active) w->active->prev = m;
    w->active = m;
}

/* Takes m off its worker and its connection; the evhttp request is untouched. */
static void mreq_detach(mreq *m)
{
    worker *w = m->w;

    if (m->prev)
        m->prev->next = m->next;
    else if (w->active == m)
        w->active = m->next;
    if (m->next) m->next->prev = m->prev;
    m->prev = m->next = NULL;
    if (m->evcon) evhttp_connection_set_closecb(m->evcon, NULL, NULL);
    if (m->timer) event_del(m->timer);
    if (m->watch) event_del(m->watch);
}

static void mreq_free(mreq *m)
{
    if (!m) return;
    if (m->timer) event_free(m->timer);
    if (m->watch) event_free(m->watch);
    opts_free(&m->o);
    free(m->model);
    free(m->answer);
    free(m->tool);
    free(m);
}

/* The client is gone while the request was still ours. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    mreq *m = arg;
    worker *w = m->w;

    if (!w->stopping) stats_count_closed(w);
    mreq_detach(m);
    /* evhttp detaches an unfinished request from a failed connection and leaves it to us;
     * an attached one is freed with the connection. */
    if (evhttp_request_get_connection(m->req) == NULL) evhttp_request_free(m->req);
    mreq_free(m);
}

/* Ends the connection now. rst: TCP RST (SO_LINGER 0) instead of FIN. Whatever evhttp has
 * queued is written first so that the events sent so far really reach the client. */
static void hard_close(mreq *m, int rst)
{
    struct evhttp_connection *evcon = m->evcon;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bufferevent_getfd(bev);
    struct evbuffer *out = bufferevent_get_output(bev);
    int tries = 0;

    mreq_detach(m);
    while (fd >= 0 && evbuffer_get_length(out) > 0 && tries++ < 100) {
        if (evbuffer_write(out, fd) < 0 && errno != EAGAIN && errno != EINTR) break;
    }
    if (fd >= 0 && rst) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    evhttp_connection_free(evcon); /* frees m->req too: it is still attached */
    mreq_free(m);
}

/* 1: the client closed (EOF or error), 2: it sent more bytes, 0: nothing to read. */
static int peer_state(mreq *m)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(m->evcon);
    evutil_socket_t fd = bufferevent_getfd(bev);
    char c;
    ssize_t n;

    if (fd < 0) return 1;
    n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return 2;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return 1;
    return 0;
}

/* The client hung up while we wait: count it and drop the connection and the request. */
static void client_gone(mreq *m)
{
    struct evhttp_connection *evcon = m->evcon;

    stats_count_closed(m->w);
    mreq_detach(m);
    evhttp_connection_free(evcon); /* frees m->req: still attached */
    mreq_free(m);
}

/* evhttp stops reading a connection while its request is being answered, so without this
 * watch a hang-up would only be noticed at the next write. */
static void on_peer_readable(evutil_socket_t fd, short what, void *arg)
{
    mreq *m = arg;
    int st = peer_state(m);

    if (st == 1)
        client_gone(m);
    else if (st == 2)
        event_del(m->watch); /* a pipelined request: not a hang-up; stop watching */
}

static void arm(mreq *m, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(m->timer, &tv);
}

static void on_stream_tick(evutil_socket_t fd, short what, void *arg);

/* One stream step per tick: content event, then the final events (or the abrupt close). */
static void stream_step(mreq *m)
{
    for (;;) {
        if (m->sent < m->o.chunks) {
            if (m->o.fail_after_chunks >= 0 && m->sent >= m->o.fail_after_chunks) {
                hard_close(m, 0);
                return;
            }
            if (m->anth)
                anth_send_content_event(m, m->sent);
            else
                send_content_event(m, m->sent);
            m->sent++;
        } else {
            if (m->o.fail_after_chunks >= 0) {
                hard_close(m, 0);
                return;
            }
            mreq_detach(m);
            if (m->anth)
                anth_send_final_events(m);
            else
                send_final_events(m);
            evhttp_send_reply_end(m->req);
            mreq_free(m);
            return;
        }
        if (m->o.chunk_ms > 0) {
            event_assign(m->timer, m->w->base, -1, 0, on_stream_tick, m);
            arm(m, m->o.chunk_ms);
            return;
        }
    }
}

static void on_stream_tick(evutil_socket_t fd, short what, void *arg)
{
    stream_step(arg);
}

static void on_delay_done(evutil_socket_t fd, short what, void *arg)
{
    mreq *m = arg;
    struct evkeyvalq *h;

    if (m->o.delay_ms > 0 && peer_state(m) == 1) {
        client_gone(m);
        return;
    }
    if (m->o.reset) {
        hard_close(m, 1);
        return;
    }
    if (m->o.status && (m->o.status < 200 || m->o.status >= 300)) {
        mreq_detach(m);
        if (m->anth)
            anth_send_status(m->req, &m->o);
        else
            send_status(m->req, &m->o);
        mreq_free(m);
        return;
    }
    if (m->o.garbage) {
        mreq_detach(m);
        send_garbage(m->req);
        mreq_free(m);
        return;
    }
    if (!m->stream) {
        mreq_detach(m);
        if (m->anth)
            anth_send_message(m);
        else
            send_completion(m->req, m->id, m->created, m->model, m->answer, m->prompt_tokens,
                            m->completion_tokens);
        mreq_free(m);
        return;
    }
    h = evhttp_request_get_output_headers(m->req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_send_reply_start(m->req, 200, "OK");
    if (m->o.stall_ms > 0) {
        event_assign(m->timer, m->w->base, -1, 0, on_stream_tick, m);
        arm(m, m->o.stall_ms);
        return;
    }
    stream_step(m);
}

/* Numbers the request, watches its peer and starts its delay timer. Always through the
 * loop, also for delay 0: hard_close must not free the connection from inside evhttp's own
 * request callback. Returns -1 when out of memory (m is left for the caller to free). */
static int mreq_launch(mreq *m, mock_server *srv)
{
    evutil_socket_t fd;

    m->id = atomic_fetch_add(&srv->next_id, 1) + 1;
    m->created = (long)time(NULL);
    m->timer = evtimer_new(m->w->base, on_delay_done, m);
    if (!m->timer) return -1;
    fd = bufferevent_getfd(evhttp_connection_get_bufferevent(m->evcon));
    if (fd >= 0) {
        m->watch = event_new(m->w->base, fd, EV_READ | EV_PERSIST, on_peer_readable, m);
        if (m->watch) event_add(m->watch, NULL);
    }
    mreq_link(m);
    evhttp_connection_set_closecb(m->evcon, on_conn_close, m);
    arm(m, m->o.delay_ms);
    return 0;
}

/* ==== /v1/chat/completions ============================================================= */

static void handle_chat(worker *w, struct evhttp_request *req)
{
    mock_server *srv = w->srv;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = (const char *)evbuffer_pullup(in, -1);
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    cJSON *root = NULL;
    const cJSON *jm, *js, *jso;
    const char *model = "mock";
    mock_opts o;
    mreq *m = NULL;
    char *answer = NULL;
    long pt, ct;

    opts_init(&o);
    stats_count_request(w, auth);
    if (body && len) root = cJSON_ParseWithLength(body, len);
    if (root && cJSON_IsObject(root)) {
        jm = cJSON_GetObjectItemCaseSensitive(root, "model");
        if (cJSON_IsString(jm)) model = jm->valuestring;
        stats_count_model(w, model);
    }
    if (srv->expected_auth && (!auth || strcmp(auth, srv->expected_auth) != 0)) {
        send_error(req, 401, "invalid_request_error", "invalid_api_key", "bad key");
        goto done;
    }
    if (!root || !cJSON_IsObject(root)) {
        send_error(req, 400, "invalid_request_error", "invalid_json",
                   "mock: request body is not valid JSON");
        goto done;
    }
    opts_parse(&o, model);
    js = cJSON_GetObjectItemCaseSensitive(root, "stream");
    jso = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    pt = prompt_tokens(root);
    if (o.echo) {
        answer = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, "messages"));
    } else if (o.content) {
        answer = strdup(o.content);
    } else {
        size_t n = strlen(model) + sizeof "Hello from ";
        answer = malloc(n);
        if (answer) snprintf(answer, n, "Hello from %s", model);
    }
    if (!answer) {
        send_error(req, 500, "server_error", NULL, "mock: out of memory");
        goto done;
    }
    ct = count_words(answer);

    /* The benchmark's hot path: answer at once, nothing allocated beyond the reply. */
    if (!cJSON_IsTrue(js) && o.delay_ms == 0 && !o.reset && !o.garbage &&
        (o.status == 0 || (o.status >= 200 && o.status < 300))) {
        send_completion(req, atomic_fetch_add(&srv->next_id, 1) + 1, (long)time(NULL), model,
                        answer, pt, ct);
        goto done;
    }

    m = calloc(1, sizeof *m);
    if (!m || !(m->model = strdup(model))) {
        send_error(req, 500, "server_error", NULL, "mock: out of memory");
        goto done;
    }
    m->w = w;
    m->req = req;
    m->evcon = evhttp_request_get_connection(req);
    m->o = o;
    opts_init(&o); /* content moved into m */
    m->answer = answer;
    answer = NULL;
    m->stream = cJSON_IsTrue(js);
    m->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(jso, "include_usage"));
    m->prompt_tokens = pt;
    m->completion_tokens = ct;
    if (mreq_launch(m, srv) != 0) {
        send_error(req, 500, "server_error", NULL, "mock: out of memory");
        goto done;
    }
    m = NULL;
done:
    mreq_free(m);
    free(answer);
    opts_free(&o);
    cJSON_Delete(root);
}

/* ==== /v1/messages (Anthropic) ========================================================= */

static void stats_count_anth(worker *w, const char *key, const char *version)
{
    worker_stats *st = &w->st;
    char *k = strdup(key ? key : ""), *v = strdup(version ? version : "");

    pthread_mutex_lock(&st->mu);
    st->anth_seq = atomic_fetch_add(&w->srv->auth_seq, 1) + 1;
    free(st->last_api_key);
    free(st->last_version);
    st->last_api_key = k;
    st->last_version = v;
    pthread_mutex_unlock(&st->mu);
}

/* Same flow as handle_chat: every answer goes out from the loop (timers), so delay, reset,
 * stall and streams behave alike for both APIs. */
static void handle_messages(worker *w, struct evhttp_request *req)
{
    mock_server *srv = w->srv;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = (const char *)evbuffer_pullup(in, -1);
    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    const char *key = evhttp_find_header(ih, "x-api-key");
    cJSON *root = NULL, *input = NULL;
    const cJSON *jm;
    const char *model = "mock", *tool;
    mock_opts o;
    mreq *m = NULL;
    char *answer = NULL;

    opts_init(&o);
    stats_count_request(w, evhttp_find_header(ih, "Authorization"));
    stats_count_anth(w, key, evhttp_find_header(ih, "anthropic-version"));
    if (body && len) root = cJSON_ParseWithLength(body, len);
    if (root && cJSON_IsObject(root)) {
        jm = cJSON_GetObjectItemCaseSensitive(root, "model");
        if (cJSON_IsString(jm)) model = jm->valuestring;
        stats_count_model(w, model);
    }
    if (srv->expected_key && (!key || strcmp(key, srv->expected_key) != 0)) {
        anth_send_error(req, 401, "invalid x-api-key");
        goto done;
    }
    if (!root || !cJSON_IsObject(root)) {
        anth_send_error(req, 400, "mock: request body is not valid JSON");
        goto done;
    }
    opts_parse(&o, model);
    if (o.echo)
        answer = cJSON_PrintUnformatted(root);
    else if (o.content)
        answer = strdup(o.content);
    else {
        size_t n = strlen(model) + sizeof "Hello from ";
        answer = malloc(n);
        if (answer) snprintf(answer, n, "Hello from %s", model);
    }
    m = calloc(1, sizeof *m);
    if (!answer || !m || !(m->model = strdup(model))) {
        anth_send_error(req, 500, "mock: out of memory");
        goto done;
    }
    m->completion_tokens = count_words(answer);
    tool = strstr(model, "tool=");
    if (tool) {
        /* the tool's input: the answer when it is a JSON object, else {"text": answer} */
        tool += 5;
        m->tool = strndup(tool, strcspn(tool, "&"));
        input = cJSON_Parse(answer);
        if (!cJSON_IsObject(input)) {
            cJSON_Delete(input);
            input = cJSON_CreateObject();
            cJSON_AddStringToObject(input, "text", answer);
        }
        free(answer);
        answer = cJSON_PrintUnformatted(input);
        if (!m->tool || !answer) {
            anth_send_error(req, 500, "mock: out of memory");
            goto done;
        }
    }
    m->w = w;
    m->req = req;
    m->evcon = evhttp_request_get_connection(req);
    m->anth = 1;
    m->o = o;
    opts_init(&o); /* content and stop moved into m */
    m->answer = answer;
    answer = NULL;
    m->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    m->prompt_tokens = prompt_tokens(root);
    if (mreq_launch(m, srv) != 0) {
        anth_send_error(req, 500, "mock: out of memory");
        goto done;
    }
    m = NULL;
done:
    mreq_free(m);
    free(answer);
    cJSON_Delete(input);
    opts_free(&o);
    cJSON_Delete(root);
}

/* ==== routing ========================================================================== */

static void handle_models(struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();

    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "{\"object\":\"list\",\"data\":[{\"id\":\"mock\",\"object\":\"model\","
                           "\"created\":0,\"owned_by\":\"mock\"}]}");
    send_json(req, 200, b);
    evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    worker *w = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    int is_get = cmd == EVHTTP_REQ_GET, is_post = cmd == EVHTTP_REQ_POST;
    const char *auth;

    if (!path) path = "";
    if (strcmp(path, "/v1/chat/completions") == 0) {
        if (is_post)
            handle_chat(w, req);
        else
            send_error(req, 405, "invalid_request_error", "method_not_allowed", "mock: use POST");
    } else if (strcmp(path, "/v1/messages") == 0) {
        if (is_post)
            handle_messages(w, req);
        else
            anth_send_error(req, 405, "mock: use POST");
    } else if (strcmp(path, "/v1/models") == 0) {
        auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
        if (!is_get)
            send_error(req, 405, "invalid_request_error", "method_not_allowed", "mock: use GET");
        else if (w->srv->expected_auth && (!auth || strcmp(auth, w->srv->expected_auth) != 0))
            send_error(req, 401, "invalid_request_error", "invalid_api_key", "bad key");
        else
            handle_models(req);
    } else if (strcmp(path, "/_mock/stats") == 0) {
        if (is_get)
            handle_stats(w, req);
        else
            send_error(req, 405, "invalid_request_error", "method_not_allowed", "mock: use GET");
    } else if (strcmp(path, "/_mock/reset") == 0) {
        if (is_post)
            handle_reset(w, req);
        else
            send_error(req, 405, "invalid_request_error", "method_not_allowed", "mock: use POST");
    } else {
        send_error(req, 404, "invalid_request_error", "not_found", "mock: no such path");
    }
}

/* ==== threads and sockets ============================================================== */

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    char c;

    while (read(fd, &c, 1) > 0) {
    }
    event_base_loopbreak(w->base);
}

static void *worker_main(void *arg)
{
    worker *w = arg;

    event_base_dispatch(w->base);
    return NULL;
}

static int open_listener(const char *host, int port)
{
    struct sockaddr_in sa;
    int fd, one = 1;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "sy-mock-upstream: bad IPv4 address '%s'\n", host);
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0)
        goto fail;
    return fd;
fail:
    fprintf(stderr, "sy-mock-upstream: %s:%d: %s\n", host, port, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
}

static int bound_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;

    if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) return -1;
    return ntohs(sa.sin_port);
}

static int worker_init(mock_server *srv, int i)
{
    worker *w = &srv->workers[i];
    struct event_config *cfg = NULL;
    int rc = -1;

    w->srv = srv;
    w->index = i;
    w->listen_fd = -1;
    w->wake_fds[0] = w->wake_fds[1] = -1;
    pthread_mutex_init(&w->st.mu, NULL);
    w->listen_fd = open_listener(srv->host, srv->port);
    if (w->listen_fd < 0) goto fail;
    if (srv->port == 0) srv->port = bound_port(w->listen_fd); /* the others join the same port */
    if (pipe2(w->wake_fds, O_NONBLOCK | O_CLOEXEC) < 0) goto fail;
    /* One thread per base and no evthread locking: nothing here is shared across bases. */
    cfg = event_config_new();
    if (!cfg) goto fail;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    w->base = event_base_new_with_config(cfg);
    if (!w->base) goto fail;
    w->http = evhttp_new(w->base);
    if (!w->http) goto fail;
    evhttp_set_timeout(w->http, 120);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(w->http, on_request, w);
    if (!evhttp_accept_socket_with_handle(w->http, w->listen_fd)) goto fail;
    w->wake_ev = event_new(w->base, w->wake_fds[0], EV_READ | EV_PERSIST, on_wake, w);
    if (!w->wake_ev || event_add(w->wake_ev, NULL) < 0) goto fail;
    rc = 0;
fail:
    if (rc < 0) fprintf(stderr, "sy-mock-upstream: cannot set up thread %d\n", i);
    event_config_free(cfg);
    return rc;
}

static void worker_cleanup(worker *w)
{
    mreq *m;

    w->stopping = 1;
    while ((m = w->active) != NULL) {
        mreq_detach(m);
        mreq_free(m); /* its evhttp request goes with the connection in evhttp_free */
    }
    if (w->wake_ev) event_free(w->wake_ev);
    if (w->http)
        evhttp_free(w->http); /* closes the listening socket too */
    else if (w->listen_fd >= 0)
        close(w->listen_fd);
    if (w->base) event_base_free(w->base);
    if (w->wake_fds[0] >= 0) close(w->wake_fds[0]);
    if (w->wake_fds[1] >= 0) close(w->wake_fds[1]);
    pthread_mutex_lock(&w->st.mu);
    stats_clear_locked(&w->st);
    pthread_mutex_unlock(&w->st.mu);
    pthread_mutex_destroy(&w->st.mu);
}

static int parse_listen(mock_server *srv, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    size_t hl;

    if (!colon || colon == arg || (hl = (size_t)(colon - arg)) >= sizeof srv->host) return -1;
    memcpy(srv->host, arg, hl);
    srv->host[hl] = '\0';
    if (parse_int(colon + 1, &srv->port) < 0 || srv->port < 0 || srv->port > 65535) return -1;
    return 0;
}

int main(int argc, char **argv)
{
    static mock_server srv; /* large; zeroed; only main() and the workers it starts use it */
    const char *listen_arg = NULL, *key = NULL;
    sigset_t sigs;
    int i, sig, n_init = 0, rc = 1;

    srv.nthreads = 1;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen_arg = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (parse_int(argv[++i], &srv.nthreads) < 0 || srv.nthreads < 1 ||
                srv.nthreads > MOCK_MAX_THREADS) {
                fprintf(stderr, "sy-mock-upstream: --threads must be 1..%d\n", MOCK_MAX_THREADS);
                return 2;
            }
        } else if (strcmp(argv[i], "--require-key") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return 0;
        } else {
            print_usage(stderr);
            return 2;
        }
    }
    if (!listen_arg || parse_listen(&srv, listen_arg) < 0) {
        print_usage(stderr);
        return 2;
    }
    if (key) {
        size_t n = strlen(key) + sizeof "Bearer ";
        srv.expected_auth = malloc(n);
        if (!srv.expected_auth) return 1;
        snprintf(srv.expected_auth, n, "Bearer %s", key);
        srv.expected_key = key;
    }

    /* Workers inherit this mask: only main() takes SIGINT/SIGTERM, in sigwait. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    for (n_init = 0; n_init < srv.nthreads; n_init++) {
        if (worker_init(&srv, n_init) < 0) {
            n_init++; /* clean up the half-made one too */
            goto fail;
        }
    }
    for (i = 0; i < srv.nthreads; i++) {
        if (pthread_create(&srv.workers[i].thread, NULL, worker_main, &srv.workers[i]) != 0)
            goto stop;
        srv.workers[i].started = 1;
    }
    printf("listening on %s:%d\n", srv.host, srv.port);
    fflush(stdout);

    for (;;) {
        if (sigwait(&sigs, &sig) == 0 && (sig == SIGINT || sig == SIGTERM)) break;
    }
    rc = 0;
stop:
    for (i = 0; i < srv.nthreads; i++) {
        if (srv.workers[i].started) {
            ssize_t wr = write(srv.workers[i].wake_fds[1], "x", 1);
            (void)wr;
            pthread_join(srv.workers[i].thread, NULL);
        }
    }
fail:
    for (i = 0; i < n_init; i++)
        worker_cleanup(&srv.workers[i]);
    free(srv.expected_auth);
    return rc;
}
