/* sy_batch.c — `switchyard batch`: an OpenAI Batch input file (JSON lines of custom_id, method,
 * url, body) through the gateway's HTTP API — an in-process engine on a loopback port
 * (--config; sy_engine.c, sy_worker.c) or a running gateway (--url) — at low priority with
 * bounded concurrency (libcurl multi), into an OpenAI Batch output file that a second run
 * resumes. Signals are caught by sy_main.c, which hands us the counters it bumps. */
/*
 * Invariants:
 *  - Nothing is sent before the whole input file (and the existing output) checked out.
 *  - Each output line goes out in one write() and ends with '\n'; a line is written only
 *    once its request has a final answer, so an interrupted run leaves complete lines only
 *    (a crash mid-write leaves at most one partial last line, which the next run cuts off).
 *  - A custom_id is written at most once per run, and a run skips every custom_id the
 *    output already holds: the union of the runs has each custom_id exactly once.
 */
#include "engine/sy_engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

int sy_batch_cli(int argc, char **argv, volatile sig_atomic_t *signals);

#define MAX_SHOWN_PROBLEMS 20
#define PROGRESS_EVERY_MS 200.0

typedef struct bopts {
    const char *config, *url, *in, *out, *priority, *key_env, *model;
    int concurrency, retries, workers, progress, skip_invalid;
    double timeout_s, max_wait_s, drain_s;
} bopts;

/* One input line. */
typedef struct breq {
    char *custom_id;
    const char *url; /* static: one of the accepted paths */
    char *body;      /* compact JSON, NULL for an invalid line */
    int line;
    int attempts;          /* sent so far */
    int done;              /* a result is in the output (from this run or an earlier one) */
    double not_before_ms;  /* a retry waits until then */
} breq;

typedef struct bmodel {
    char name[128];
    long n;
} bmodel;

typedef struct batch batch;

typedef struct xfer {
    batch *b;
    breq *r;
    CURL *h;
    sy_buf body;
    char request_id[128];
    char model[128];
    char retry_after[32];
    double cost;
    char err[CURL_ERROR_SIZE];
} xfer;

struct batch {
    const bopts *o;
    volatile sig_atomic_t *signals; /* [0] the last signal, [1] how many arrived */
    char base[300];                 /* "http://127.0.0.1:PORT", no trailing '/' */
    breq *reqs;
    int nreqs;
    breq **set; /* custom_id → request, open addressing, size nset (a power of 2) */
    size_t nset;
    int out_fd;
    CURLM *multi;
    struct curl_slist *hdrs;
    xfer **active;
    int nactive;
    breq **waiting; /* retries not yet due */
    int nwaiting;
    int next; /* the next request of reqs[] to consider */
    /* counts of this run */
    long total, done, ok, failed, skipped, left;
    long by_status[600]; /* failed with an HTTP status */
    long timeouts, transport;
    double cost, t0;
    bmodel *models;
    int nmodels;
    int progress_shown;
    double last_progress;
};

/* ============================================================ the custom_id set */

static size_t slot_of(const batch *b, const char *id)
{
    size_t mask = b->nset - 1, i = sy_hash64(id, strlen(id), 0) & mask;
    while (b->set[i] && strcmp(b->set[i]->custom_id, id) != 0) i = (i + 1) & mask;
    return i;
}

static breq *set_find(const batch *b, const char *id)
{
    return b->set[slot_of(b, id)];
}

/* ============================================================ reading the input */

static const char *const ACCEPTED_URLS[] = {"/v1/chat/completions", "/v1/messages"};

typedef struct problems {
    const char *file;
    long n;
} problems;

static void problem(problems *p, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(problems *p, int line, const char *key, const char *fmt, ...)
{
    if (p->n++ >= MAX_SHOWN_PROBLEMS) return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: %s: %s\n", p->file, line, key, msg);
}

/* Checks one parsed line; on success fills r (custom_id, url, body). Returns 0, or -1 after
 * reporting every problem of the line. *id_out is the line's custom_id when it is a usable
 * one (a string, new), even when something else is wrong: --skip-invalid writes its error. */
static int check_line(batch *b, problems *p, int line, const cJSON *j, breq *r, char **id_out)
{
    long before = p->n;
    *id_out = NULL;
    if (!cJSON_IsObject(j)) {
        problem(p, line, "line", "expected a JSON object {custom_id, method, url, body}");
        return -1;
    }
    for (const cJSON *it = j->child; it; it = it->next) {
        if (strcmp(it->string, "custom_id") && strcmp(it->string, "method") &&
            strcmp(it->string, "url") && strcmp(it->string, "body")) {
            problem(p, line, it->string, "unknown key (expected custom_id, method, url, body)");
        }
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "custom_id");
    if (!id) {
        problem(p, line, "custom_id", "missing");
    } else if (!cJSON_IsString(id) || !id->valuestring[0]) {
        problem(p, line, "custom_id", "must be a non-empty string");
    } else if (strlen(id->valuestring) > 512) {
        problem(p, line, "custom_id", "longer than 512 bytes");
    } else {
        breq *dup = set_find(b, id->valuestring);
        if (dup)
            problem(p, line, "custom_id", "\"%.200s\" is already used on line %d",
                    id->valuestring, dup->line);
        else
            *id_out = id->valuestring;
    }
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(j, "method");
    if (!method)
        problem(p, line, "method", "missing (expected \"POST\")");
    else if (!cJSON_IsString(method) || strcmp(method->valuestring, "POST") != 0)
        problem(p, line, "method", "must be \"POST\"");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(j, "url");
    r->url = NULL;
    if (cJSON_IsString(url))
        for (size_t i = 0; i < sizeof ACCEPTED_URLS / sizeof *ACCEPTED_URLS; i++)
            if (strcmp(url->valuestring, ACCEPTED_URLS[i]) == 0) r->url = ACCEPTED_URLS[i];
    if (!url)
        problem(p, line, "url", "missing (expected \"/v1/chat/completions\" or \"/v1/messages\")");
    else if (!r->url)
        problem(p, line, "url", "must be \"/v1/chat/completions\" or \"/v1/messages\"");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(j, "body");
    if (!body) {
        problem(p, line, "body", "missing (the request, a JSON object)");
    } else if (!cJSON_IsObject(body)) {
        problem(p, line, "body", "must be a JSON object");
    } else {
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
        const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
        if (!b->o->model && !model)
            problem(p, line, "body.model", "missing (or give --model)");
        else if (!b->o->model && (!cJSON_IsString(model) || !model->valuestring[0]))
            problem(p, line, "body.model", "must be a non-empty string");
        if (cJSON_IsTrue(stream))
            problem(p, line, "body.stream", "a batch does not stream; leave it out or false");
    }
    return p->n > before ? -1 : 0;
}

/* The request body as sent: compact, with --model applied. NULL out of memory. */
static char *body_text(const bopts *o, cJSON *body)
{
    if (o->model) {
        cJSON *m = cJSON_CreateString(o->model);
        if (!m) return NULL;
        if (cJSON_GetObjectItemCaseSensitive(body, "model"))
            cJSON_ReplaceItemInObjectCaseSensitive(body, "model", m);
        else
            cJSON_AddItemToObject(body, "model", m);
    }
    return cJSON_PrintUnformatted(body);
}

static void set_add(batch *b, breq *r)
{
    b->set[slot_of(b, r->custom_id)] = r;
}

/* Reads and checks the whole input. Returns 0, 2 (problems; reported) or 1 (I/O). Lines with
 * a usable custom_id but other problems are kept with body NULL (for --skip-invalid);
 * *invalid counts every bad line. */
static int read_input(batch *b, long *invalid)
{
    const bopts *o = b->o;
    size_t len = 0;
    char *text = sy_file_read(o->in, &len);
    *invalid = 0;
    if (!text) {
        fprintf(stderr, "switchyard batch: cannot read %s: %s\n", o->in, strerror(errno));
        return 2;
    }
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    b->reqs = calloc(lines, sizeof *b->reqs);
    for (b->nset = 16; b->nset < 2 * lines; b->nset *= 2) {
    }
    b->set = calloc(b->nset, sizeof *b->set);
    if (!b->reqs || !b->set) {
        free(text);
        fprintf(stderr, "switchyard batch: out of memory reading %s\n", o->in);
        return 1;
    }
    problems p = {o->in, 0};
    int lineno = 0;
    for (char *s = text; s < text + len;) {
        char *nl = memchr(s, '\n', (size_t)(text + len - s));
        char *e = nl ? nl : text + len;
        lineno++;
        char *q = s;
        while (q < e && strchr(" \t\r", *q)) q++;
        if (q == e) { /* empty line */
            s = e + 1;
            continue;
        }
        cJSON *j = cJSON_ParseWithLength(s, (size_t)(e - s));
        breq *r = &b->reqs[b->nreqs];
        char *id = NULL;
        int rc = -1;
        if (!j) {
            const char *at = cJSON_GetErrorPtr();
            long col = at && at >= s && at <= e ? (long)(at - s) + 1 : 0;
            problem(&p, lineno, "json", "not valid JSON (near column %ld)", col);
        } else {
            rc = check_line(b, &p, lineno, j, r, &id);
        }
        if (rc != 0) ++*invalid;
        if (id) {
            r->custom_id = sy_strdup(id);
            r->line = lineno;
            if (rc == 0) {
                cJSON *body = cJSON_GetObjectItemCaseSensitive(j, "body");
                r->body = body_text(o, body);
                if (!r->body) {
                    cJSON_Delete(j);
                    free(text);
                    fprintf(stderr, "switchyard batch: out of memory reading %s\n", o->in);
                    return 1;
                }
            }
            set_add(b, r);
            b->nreqs++;
        }
        cJSON_Delete(j);
        s = e + 1;
    }
    free(text);
    if (p.n > MAX_SHOWN_PROBLEMS)
        fprintf(stderr, "%s: ... and %ld more problems\n", o->in, p.n - MAX_SHOWN_PROBLEMS);
    if (*invalid && !o->skip_invalid) {
        fprintf(stderr,
                "switchyard batch: %s has %ld invalid line%s; nothing was sent (--skip-invalid "
                "records them as errors and sends the rest)\n",
                o->in, *invalid, *invalid == 1 ? "" : "s");
        return 2;
    }
    return 0;
}

/* ============================================================ the existing output (resume) */

/* Marks the custom_ids the output already holds as done and cuts a partial last line off.
 * Returns 0, or 2 after reporting why the output cannot be appended to. */
static int read_output(batch *b)
{
    const bopts *o = b->o;
    size_t len = 0;
    struct stat st;
    if (stat(o->out, &st) == 0 && !S_ISREG(st.st_mode))
        return 0; /* /dev/stdout, a pipe: written to, never resumed from */
    char *text = sy_file_read(o->out, &len);
    if (!text) {
        if (errno == ENOENT) return 0;
        fprintf(stderr, "switchyard batch: cannot read %s: %s\n", o->out, strerror(errno));
        return 2;
    }
    int lineno = 0, rc = 0;
    size_t good = 0; /* bytes of complete lines */
    for (char *s = text; s < text + len;) {
        char *nl = memchr(s, '\n', (size_t)(text + len - s));
        if (!nl) break; /* a partial last line: the write that a crash cut short */
        lineno++;
        char *q = s;
        while (q < nl && strchr(" \t\r", *q)) q++;
        if (q < nl) {
            cJSON *j = cJSON_ParseWithLength(s, (size_t)(nl - s));
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "custom_id");
            breq *r = cJSON_IsString(id) ? set_find(b, id->valuestring) : NULL;
            if (!cJSON_IsString(id)) {
                fprintf(stderr,
                        "%s:%d: custom_id: not a batch output line; refusing to append to "
                        "this file\n",
                        o->out, lineno);
                rc = 2;
            } else if (!r) {
                fprintf(stderr,
                        "%s:%d: custom_id: \"%.200s\" is not in %s: is this the output of "
                        "another batch?\n",
                        o->out, lineno, id->valuestring, o->in);
                rc = 2;
            } else if (!r->done) {
                r->done = 1;
                b->skipped++;
            }
            cJSON_Delete(j);
            if (rc) break;
        }
        good = (size_t)(nl + 1 - text);
        s = nl + 1;
    }
    free(text);
    if (rc == 0 && good < len) {
        if (truncate(o->out, (off_t)good) != 0) {
            fprintf(stderr, "switchyard batch: cannot cut the partial last line of %s: %s\n",
                    o->out, strerror(errno));
            return 2;
        }
        fprintf(stderr,
                "switchyard batch: %s ended in a partial line (%zu bytes, an interrupted "
                "write): removed; its request runs again\n",
                o->out, len - good);
    }
    return rc;
}

/* ============================================================ writing results */

static void random_hex(char *out, size_t nbytes)
{
    unsigned char raw[32];
    if (nbytes > sizeof raw) nbytes = sizeof raw;
    if (getrandom(raw, nbytes, 0) != (ssize_t)nbytes) {
        uint64_t x = sy_now_ns() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < nbytes; i++) raw[i] = (unsigned char)(x >> (8 * (i % 8))) ^ (unsigned char)i;
    }
    for (size_t i = 0; i < nbytes; i++) sprintf(out + 2 * i, "%02x", raw[i]);
}

/* One output line, in one write. status 0: no response (error_code/message set). */
static int write_result(batch *b, breq *r, long status, const char *request_id, const char *body,
                        size_t body_len, const char *error_code, const char *error_message)
{
    char id[64] = "batch_req_";
    random_hex(id + 10, 16);
    cJSON *root = cJSON_CreateObject(), *resp = NULL, *err = NULL;
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddStringToObject(root, "custom_id", r->custom_id);
    if (status > 0) {
        resp = cJSON_AddObjectToObject(root, "response");
        cJSON_AddNumberToObject(resp, "status_code", (double)status);
        cJSON_AddStringToObject(resp, "request_id", request_id ? request_id : "");
        cJSON *jb = cJSON_ParseWithLength(body, body_len);
        if (!jb) { /* not JSON (a proxy's HTML page, say): kept as text */
            char *s = sy_strndup(body, body_len);
            jb = cJSON_CreateString(s ? s : "");
            free(s);
        }
        cJSON_AddItemToObject(resp, "body", jb);
        cJSON_AddNullToObject(root, "error");
    } else {
        cJSON_AddNullToObject(root, "response");
        err = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(err, "code", error_code);
        cJSON_AddStringToObject(err, "message", error_message);
    }
    char *line = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!line) return -1;
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the NUL: the line and its end in one write */
    size_t off = 0;
    while (off < n + 1) {
        ssize_t w = write(b->out_fd, line + off, n + 1 - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            free(line);
            return -1;
        }
        off += (size_t)w;
    }
    free(line);
    r->done = 1;
    b->done++;
    return 0;
}

static void count_model(batch *b, const char *name)
{
    if (!name[0]) return;
    for (int i = 0; i < b->nmodels; i++)
        if (strcmp(b->models[i].name, name) == 0) {
            b->models[i].n++;
            return;
        }
    bmodel *m = realloc(b->models, (size_t)(b->nmodels + 1) * sizeof *m);
    if (!m) return;
    b->models = m;
    snprintf(m[b->nmodels].name, sizeof m[b->nmodels].name, "%s", name);
    m[b->nmodels++].n = 1;
}

/* ============================================================ progress */

static void fmt_duration(char *out, size_t cap, double s)
{
    if (s < 60)
        snprintf(out, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(out, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(out, cap, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void progress(batch *b, int final)
{
    if (!b->o->progress) return;
    double now = sy_now_ms();
    if (!final && now - b->last_progress < PROGRESS_EVERY_MS) return;
    b->last_progress = now;
    long finished = b->ok + b->failed;
    double el = (now - b->t0) / 1000.0, rate = el > 0 ? finished / el : 0;
    int w = 24, fill = b->total ? (int)(finished * w / b->total) : w;
    char eta[32] = "--";
    if (rate > 0 && finished < b->total) fmt_duration(eta, sizeof eta, (b->total - finished) / rate);
    else if (finished >= b->total) snprintf(eta, sizeof eta, "0s");
    fprintf(stderr, "\r\033[K  [%.*s%*s] %ld/%ld  ok %ld  failed %ld  %.1f req/s  $%.4f  ETA %s",
            fill, "========================", w - fill, "", finished, b->total, b->ok, b->failed,
            rate, b->cost, eta);
    if (final) fputc('\n', stderr);
    fflush(stderr);
    b->progress_shown = 1;
}

/* ============================================================ transfers */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    return sy_buf_append(&x->body, data, size * n) == 0 ? size * n : 0;
}

static void header_value(char *out, size_t cap, const char *v, size_t len)
{
    while (len && (*v == ' ' || *v == '\t')) v++, len--;
    while (len && strchr(" \t\r\n", v[len - 1])) len--;
    if (len >= cap) len = cap - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) { /* a new response (after a 100) */
        x->request_id[0] = x->model[0] = x->retry_after[0] = '\0';
        x->cost = 0;
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon) return len;
    size_t nl = (size_t)(colon - data), vl = len - nl - 1;
    char cost[64];
    if (nl == 12 && strncasecmp(data, "x-request-id", 12) == 0)
        header_value(x->request_id, sizeof x->request_id, colon + 1, vl);
    else if (nl == 18 && strncasecmp(data, "x-switchyard-model", 18) == 0)
        header_value(x->model, sizeof x->model, colon + 1, vl);
    else if (nl == 11 && strncasecmp(data, "retry-after", 11) == 0)
        header_value(x->retry_after, sizeof x->retry_after, colon + 1, vl);
    else if (nl == 21 && strncasecmp(data, "x-switchyard-cost-usd", 21) == 0) {
        header_value(cost, sizeof cost, colon + 1, vl);
        double c = strtod(cost, NULL);
        x->cost = isfinite(c) && c > 0 ? c : 0;
    }
    return len;
}

static void xfer_free(batch *b, xfer *x)
{
    if (!x) return;
    if (x->h) {
        curl_multi_remove_handle(b->multi, x->h);
        curl_easy_cleanup(x->h);
    }
    sy_buf_free(&x->body);
    free(x);
}

static int start(batch *b, breq *r)
{
    xfer *x = calloc(1, sizeof *x);
    if (!x) return -1;
    x->b = b;
    x->r = r;
    sy_buf_init(&x->body);
    char url[400];
    snprintf(url, sizeof url, "%s%s", b->base, r->url);
    x->h = curl_easy_init();
    if (!x->h) {
        free(x);
        return -1;
    }
    CURL *h = x->h;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, b->hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->err);
    curl_easy_setopt(h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(b->o->timeout_s * 1000));
    if (b->o->config) curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* our own loopback port */
    if (curl_multi_add_handle(b->multi, h) != CURLM_OK) {
        xfer_free(b, x);
        return -1;
    }
    r->attempts++;
    b->active[b->nactive++] = x;
    return 0;
}

/* Seconds of a Retry-After header (the gateway sends seconds); -1 when absent or a date. */
static double retry_after_s(const char *v)
{
    char *end;
    if (!v[0]) return -1;
    double s = strtod(v, &end);
    return end != v && !*end && s >= 0 && isfinite(s) ? s : -1;
}

static void wait_then_retry(batch *b, breq *r, double wait_s)
{
    if (wait_s < 0) { /* exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... */
        double base = 0.5 * pow(2, r->attempts - 1);
        unsigned char j = 0;
        if (getrandom(&j, 1, 0) != 1) j = 128;
        wait_s = base * (0.75 + 0.5 * j / 255.0);
    }
    if (wait_s > b->o->max_wait_s) wait_s = b->o->max_wait_s;
    r->not_before_ms = sy_now_ms() + wait_s * 1000;
    b->waiting[b->nwaiting++] = r;
}

/* A transfer ended: retry it, or write its result. Returns -1 when the output cannot be
 * written (the run stops: nothing more would be recorded). */
static int finish(batch *b, xfer *x, CURLcode cc, int stopping)
{
    breq *r = x->r;
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    int can_retry = r->attempts <= b->o->retries;
    int rc = 0;
    if (cc != CURLE_OK) {
        int timeout = cc == CURLE_OPERATION_TIMEDOUT;
        /* the gateway was unreachable or hung up: worth another try, a timeout is not */
        if (!timeout && can_retry) {
            if (!stopping) wait_then_retry(b, r, -1);
            return 0; /* stopping: not written, the next run sends it again */
        }
        char msg[CURL_ERROR_SIZE + 96];
        if (timeout)
            snprintf(msg, sizeof msg, "no answer from the gateway within %g s (--timeout)",
                     b->o->timeout_s);
        else
            snprintf(msg, sizeof msg, "%s (after %d attempts)",
                     x->err[0] ? x->err : curl_easy_strerror(cc), r->attempts);
        rc = write_result(b, r, 0, NULL, NULL, 0, timeout ? "timeout" : "connection_error", msg);
        b->failed++;
        if (timeout)
            b->timeouts++;
        else
            b->transport++;
        return rc;
    }
    if ((status == 429 || status == 503) && can_retry) {
        if (!stopping) wait_then_retry(b, r, retry_after_s(x->retry_after));
        return 0;
    }
    rc = write_result(b, r, status, x->request_id, x->body.data ? x->body.data : "", x->body.len,
                      NULL, NULL);
    b->cost += x->cost;
    if (status >= 200 && status < 300) {
        b->ok++;
        count_model(b, x->model);
    } else {
        b->failed++;
        b->by_status[status > 0 && status < 600 ? status : 0]++;
    }
    return rc;
}

static void remove_active(batch *b, int i)
{
    b->active[i] = b->active[--b->nactive];
}

/* ============================================================ the run */

/* Sends every request not yet done. Returns 0 (all done), 1 (interrupted) or -1 (the output
 * could not be written). */
static int run(batch *b)
{
    const bopts *o = b->o;
    int stopping = 0, rc = 0;
    double drain_until = 0;
    b->t0 = sy_now_ms();
    b->last_progress = -1e9;
    progress(b, 0);
    for (;;) {
        double now = sy_now_ms();
        if (b->signals[1] && !stopping) {
            stopping = 1;
            drain_until = now + o->drain_s * 1000;
            b->nwaiting = 0; /* retries not yet due are left to the next run */
            if (b->progress_shown) fputc('\n', stderr);
            fprintf(stderr,
                    "switchyard batch: %s: sending nothing more; waiting up to %g s for the %d "
                    "request%s in flight (again to stop now)\n",
                    b->signals[0] == SIGTERM ? "SIGTERM" : "SIGINT", o->drain_s, b->nactive,
                    b->nactive == 1 ? "" : "s");
        }
        if (stopping && (b->signals[1] > 1 || now >= drain_until)) {
            while (b->nactive) { /* cancelled: no result, the next run sends them again */
                xfer_free(b, b->active[b->nactive - 1]);
                b->nactive--;
            }
        }
        if (rc < 0) break;
        if (!stopping) {
            /* due retries first, then new requests */
            for (int i = 0; i < b->nwaiting && b->nactive < o->concurrency;) {
                if (b->waiting[i]->not_before_ms <= now) {
                    breq *r = b->waiting[i];
                    b->waiting[i] = b->waiting[--b->nwaiting];
                    if (start(b, r) != 0) {
                        rc = -1;
                        break;
                    }
                } else {
                    i++;
                }
            }
            /* a request waiting for its retry keeps its place: at most --concurrency are
             * outstanding, so a gateway answering 429 slows the batch down (and waiting[]
             * never holds more than --concurrency) */
            while (rc == 0 && b->nactive + b->nwaiting < o->concurrency && b->next < b->nreqs) {
                breq *r = &b->reqs[b->next++];
                if (r->done || !r->body) continue;
                if (start(b, r) != 0) rc = -1;
            }
            if (rc < 0) {
                fprintf(stderr, "switchyard batch: out of memory starting a request\n");
                break;
            }
        }
        if (b->nactive == 0 && (stopping || (b->nwaiting == 0 && b->next >= b->nreqs))) break;
        int running = 0;
        curl_multi_perform(b->multi, &running);
        CURLMsg *m;
        int left, finished = 0;
        while ((m = curl_multi_info_read(b->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            finished++;
            xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = m->data.result;
            for (int i = 0; i < b->nactive; i++)
                if (b->active[i] == x) remove_active(b, i);
            if (finish(b, x, cc, stopping) != 0 && rc == 0) {
                fprintf(stderr, "switchyard batch: cannot write %s: %s\n", o->out,
                        strerror(errno));
                rc = -1;
            }
            xfer_free(b, x);
        }
        progress(b, 0);
        if (rc < 0) {
            stopping = 1;
            while (b->nactive) {
                xfer_free(b, b->active[b->nactive - 1]);
                b->nactive--;
            }
            break;
        }
        int timeout = 100;
        for (int i = 0; i < b->nwaiting; i++) {
            double d = b->waiting[i]->not_before_ms - now;
            if (d < timeout) timeout = d < 0 ? 0 : (int)d;
        }
        /* a slot came free: fill it now, not after the next wait */
        if (finished) continue;
        curl_multi_poll(b->multi, NULL, 0, timeout, NULL);
    }
    if (b->progress_shown) progress(b, 1);
    return rc < 0 ? -1 : stopping ? 1 : 0;
}

/* ============================================================ the in-process gateway */

typedef struct served {
    sy_engine *eng;
    char listen[64];
    int workers;
    atomic_int finished;
    int rc;
} served;

static void *serve_main(void *arg)
{
    served *s = arg;
    sy_serve_opts so = {s->listen, s->workers};
    s->rc = sy_engine_serve(s->eng, &so);
    atomic_store(&s->finished, 1);
    return NULL;
}

/* A loopback port held for the engine: bound with SO_REUSEPORT and never listening, so the
 * engine's workers (SO_REUSEPORT too) can bind it and no other program can take it between
 * our choosing it and their binding it. Returns the socket (close it after the run), -1. */
static int reserve_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {0};
    socklen_t al = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static size_t discard(char *d, size_t s, size_t n, void *u)
{
    (void)d;
    (void)u;
    return s * n;
}

/* GET base/healthz answers (any status): the gateway is there. */
static int reachable(const char *base, char *err, size_t cap, int noproxy)
{
    char url[400];
    snprintf(url, sizeof url, "%s/healthz", base);
    CURL *h = curl_easy_init();
    if (!h) return 0;
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    if (noproxy) curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK && err) snprintf(err, cap, "%s", ebuf[0] ? ebuf : curl_easy_strerror(cc));
    curl_easy_cleanup(h);
    return cc == CURLE_OK;
}

static int start_engine(const bopts *o, served *s, pthread_t *th, char *base, size_t cap)
{
    int rc = sy_engine_open(&s->eng, o->config);
    if (rc != SY_OK) {
        const char *msg = sy_engine_errmsg(s->eng);
        fputs(msg, stderr);
        if (msg[0] && msg[strlen(msg) - 1] != '\n') fputc('\n', stderr);
        fprintf(stderr, "switchyard batch: configuration %s has errors\n", o->config);
        return -1;
    }
    int port = 0, hold = reserve_port(&port);
    if (hold < 0) {
        fprintf(stderr, "switchyard batch: cannot reserve a loopback port: %s\n", strerror(errno));
        return -1;
    }
    snprintf(s->listen, sizeof s->listen, "127.0.0.1:%d", port);
    snprintf(base, cap, "http://127.0.0.1:%d", port);
    s->workers = o->workers;
    if (pthread_create(th, NULL, serve_main, s) != 0) {
        close(hold);
        fprintf(stderr, "switchyard batch: cannot start the gateway thread\n");
        return -1;
    }
    /* until it answers, or it gave up (it could not listen, say) */
    double until = sy_now_ms() + 10000;
    int up = 0;
    while (!atomic_load(&s->finished) && sy_now_ms() < until)
        if ((up = reachable(base, NULL, 0, 1))) break;
        else usleep(10000);
    close(hold);
    if (!up) {
        if (!atomic_load(&s->finished)) sy_engine_stop(s->eng);
        pthread_join(*th, NULL);
        const char *msg = sy_engine_errmsg(s->eng);
        fprintf(stderr, "switchyard batch: the gateway did not start%s%s", msg[0] ? ": " : "\n",
                msg);
        return -1;
    }
    return 1;
}

/* ============================================================ options */

static void batch_usage(FILE *f)
{
    fputs("usage: switchyard batch (--config FILE | --url http://HOST:PORT) IN.jsonl OUT.jsonl\n"
          "  --config FILE      run the gateway in this process (loopback port) with this config\n"
          "  --url URL          send to a running gateway instead (shares its queues)\n"
          "  --concurrency N    requests in flight at once (8)\n"
          "  --priority P       x-switchyard-priority of every request: low (default), normal,\n"
          "                     high or 0..9\n"
          "  --key-env VAR      send the API key in $VAR as Authorization: Bearer\n"
          "  --model NAME       use this model (or route) for every request\n"
          "  --retries N        more tries of a request on 429/503 or a lost connection (3)\n"
          "  --max-wait S       longest wait before a retry, Retry-After included (60)\n"
          "  --timeout S        longest wait for one answer (600)\n"
          "  --drain S          on SIGINT/SIGTERM, wait this long for requests in flight (30)\n"
          "  --workers N        worker threads of the in-process gateway (the config's)\n"
          "  --skip-invalid     record invalid lines as errors and send the rest\n"
          "  --no-progress      no progress bar (it shows only on a terminal)\n",
          f);
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "switchyard batch: %s must be a number from %g to %g (got \"%s\")\n", opt,
                lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

static int parse_opts(int argc, char **argv, bopts *o)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    o->priority = "low";
    o->concurrency = 8;
    o->retries = 3;
    o->timeout_s = 600;
    o->max_wait_s = 60;
    o->drain_s = 30;
    o->progress = isatty(2);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double d = 0;
        int takes = strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0 ||
                    strcmp(a, "--url") == 0 || strcmp(a, "--concurrency") == 0 ||
                    strcmp(a, "--priority") == 0 || strcmp(a, "--key-env") == 0 ||
                    strcmp(a, "--model") == 0 || strcmp(a, "--retries") == 0 ||
                    strcmp(a, "--max-wait") == 0 || strcmp(a, "--timeout") == 0 ||
                    strcmp(a, "--drain") == 0 || strcmp(a, "--workers") == 0;
        if (takes && i + 1 >= argc) {
            fprintf(stderr, "switchyard batch: %s needs a value\n", a);
            return -1;
        }
        const char *v = takes ? argv[++i] : NULL;
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) o->config = v;
        else if (strcmp(a, "--url") == 0) o->url = v;
        else if (strcmp(a, "--priority") == 0) o->priority = v;
        else if (strcmp(a, "--key-env") == 0) o->key_env = v;
        else if (strcmp(a, "--model") == 0) o->model = v;
        else if (strcmp(a, "--concurrency") == 0) {
            if (parse_num(a, v, 1, 1024, &d) || d != (int)d) return -1;
            o->concurrency = (int)d;
        } else if (strcmp(a, "--retries") == 0) {
            if (parse_num(a, v, 0, 100, &d) || d != (int)d) return -1;
            o->retries = (int)d;
        } else if (strcmp(a, "--workers") == 0) {
            if (parse_num(a, v, 1, 256, &d) || d != (int)d) return -1;
            o->workers = (int)d;
        } else if (strcmp(a, "--max-wait") == 0) {
            if (parse_num(a, v, 0, 3600, &o->max_wait_s)) return -1;
        } else if (strcmp(a, "--timeout") == 0) {
            if (parse_num(a, v, 0.001, 86400, &o->timeout_s)) return -1;
        } else if (strcmp(a, "--drain") == 0) {
            if (parse_num(a, v, 0, 3600, &o->drain_s)) return -1;
        } else if (strcmp(a, "--skip-invalid") == 0) o->skip_invalid = 1;
        else if (strcmp(a, "--no-progress") == 0) o->progress = 0;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            batch_usage(stdout);
            exit(0);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "switchyard batch: unknown option %s\n", a);
            return -1;
        } else if (npos < 2) pos[npos++] = a;
        else {
            fprintf(stderr, "switchyard batch: one input and one output file, not more (\"%s\")\n",
                    a);
            return -1;
        }
    }
    if (npos != 2) {
        fprintf(stderr, "switchyard batch: needs an input file and an output file\n");
        return -1;
    }
    o->in = pos[0];
    o->out = pos[1];
    if (!o->config == !o->url) {
        fprintf(stderr, "switchyard batch: give either --config FILE or --url URL\n");
        return -1;
    }
    if (o->url && strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
        fprintf(stderr, "switchyard batch: --url must start with http:// or https:// (got \"%s\")\n",
                o->url);
        return -1;
    }
    const char *p = o->priority;
    if (sy_parse_priority(p) < 0) {
        fprintf(stderr, "switchyard batch: --priority must be low, normal, high or 0..9 (got "
                        "\"%s\")\n",
                p);
        return -1;
    }
    return 0;
}

/* ============================================================ the command */

static void summary(const batch *b, int outcome)
{
    double el = (sy_now_ms() - b->t0) / 1000.0;
    char dur[32];
    if (el < 60) snprintf(dur, sizeof dur, "%.1f s", el);
    else fmt_duration(dur, sizeof dur, el);
    fprintf(stderr,
            "switchyard batch: %ld of %ld done (%ld ok, %ld failed), %ld skipped (already in "
            "%s), cost $%.6f, %s\n",
            b->ok + b->failed, b->total, b->ok, b->failed, b->skipped, b->o->out, b->cost, dur);
    if (b->failed) {
        sy_buf f;
        sy_buf_init(&f);
        for (int s = 0; s < 600; s++)
            if (b->by_status[s]) sy_buf_printf(&f, "%sHTTP %d: %ld", f.len ? ", " : "", s, b->by_status[s]);
        if (b->timeouts) sy_buf_printf(&f, "%stimeout: %ld", f.len ? ", " : "", b->timeouts);
        if (b->transport)
            sy_buf_printf(&f, "%sconnection error: %ld", f.len ? ", " : "", b->transport);
        if (f.len) fprintf(stderr, "switchyard batch: failed: %s\n", f.data);
        sy_buf_free(&f);
    }
    if (b->nmodels) {
        sy_buf f;
        sy_buf_init(&f);
        for (int i = 0; i < b->nmodels; i++)
            sy_buf_printf(&f, "%s%s %ld", i ? ", " : "", b->models[i].name, b->models[i].n);
        fprintf(stderr, "switchyard batch: answered by: %s\n", f.data);
        sy_buf_free(&f);
    }
    if (outcome == 1)
        fprintf(stderr,
                "switchyard batch: interrupted with %ld request%s left: run the same command "
                "again to resume\n",
                b->left, b->left == 1 ? "" : "s");
}

int sy_batch_cli(int argc, char **argv, volatile sig_atomic_t *signals)
{
    bopts o = {0};
    batch b;
    memset(&b, 0, sizeof b);
    b.o = &o;
    b.signals = signals;
    b.out_fd = -1;
    served srv;
    memset(&srv, 0, sizeof srv);
    pthread_t th;
    int engine = 0, code = 2;
    long invalid = 0;
    if (parse_opts(argc, argv, &o) != 0) {
        batch_usage(stderr);
        return 2;
    }
    struct stat si, so;
    if (stat(o.in, &si) == 0 && stat(o.out, &so) == 0 && si.st_dev == so.st_dev &&
        si.st_ino == so.st_ino) {
        fprintf(stderr, "switchyard batch: the output file is the input file\n");
        return 2;
    }
    const char *key = NULL;
    if (o.key_env) {
        key = getenv(o.key_env);
        if (!key || !key[0]) {
            fprintf(stderr, "switchyard batch: --key-env: environment variable %s is not set\n",
                    o.key_env);
            return 2;
        }
    }
    if ((code = read_input(&b, &invalid)) != 0) goto done;
    if ((code = read_output(&b)) != 0) goto done;
    code = 1;
    b.out_fd = open(o.out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (b.out_fd < 0) {
        fprintf(stderr, "switchyard batch: cannot open %s: %s\n", o.out, strerror(errno));
        code = 2;
        goto done;
    }
    /* --skip-invalid: the bad lines that have a custom_id get their error now */
    for (int i = 0; i < b.nreqs; i++) {
        breq *r = &b.reqs[i];
        if (r->body || r->done) continue;
        char msg[200];
        snprintf(msg, sizeof msg, "line %d of %s is not a valid request (see the batch's stderr)",
                 r->line, o.in);
        if (write_result(&b, r, 0, NULL, NULL, 0, "invalid_request", msg) != 0) {
            fprintf(stderr, "switchyard batch: cannot write %s: %s\n", o.out, strerror(errno));
            goto done;
        }
        b.failed++;
    }
    for (int i = 0; i < b.nreqs; i++) b.total += b.reqs[i].body && !b.reqs[i].done;
    b.total += b.failed; /* the invalid ones just recorded */
    if (b.total == b.failed) {
        b.t0 = sy_now_ms();
        fprintf(stderr, "switchyard batch: nothing to send: ");
        if (b.skipped) fprintf(stderr, "all %ld results are already in %s\n", b.skipped, o.out);
        else fprintf(stderr, "no requests in %s\n", o.in);
        summary(&b, 0);
        code = b.failed || invalid ? 1 : 0;
        goto done;
    }
    if (!(b.active = calloc((size_t)o.concurrency, sizeof *b.active)) ||
        !(b.waiting = calloc((size_t)o.concurrency, sizeof *b.waiting)) ||
        !(b.multi = curl_multi_init())) {
        fprintf(stderr, "switchyard batch: out of memory\n");
        goto done;
    }
    curl_multi_setopt(b.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o.concurrency);
    char hv[600];
    b.hdrs = curl_slist_append(b.hdrs, "Content-Type: application/json");
    b.hdrs = curl_slist_append(b.hdrs, "Expect:");
    snprintf(hv, sizeof hv, "x-switchyard-priority: %s", o.priority);
    b.hdrs = curl_slist_append(b.hdrs, hv);
    if (key) {
        sy_buf a;
        sy_buf_init(&a);
        sy_buf_printf(&a, "Authorization: Bearer %s", key);
        b.hdrs = curl_slist_append(b.hdrs, a.data);
        memset(a.data, 0, a.len); /* curl has its copy */
        sy_buf_free(&a);
    }
    if (!b.hdrs) {
        fprintf(stderr, "switchyard batch: out of memory\n");
        goto done;
    }
    if (o.config) {
        int lvl = sy_log_level();
        if (lvl < SY_LOG_WARN) sy_log_set_level(SY_LOG_WARN); /* no "listening on" chatter */
        if (start_engine(&o, &srv, &th, b.base, sizeof b.base) < 0) goto done;
        engine = 1;
        /* the config's warnings are out; a failed request's own warning would only repeat
         * its result line (and break the progress bar) */
        if (sy_log_level() < SY_LOG_ERROR) sy_log_set_level(SY_LOG_ERROR);
    } else {
        snprintf(b.base, sizeof b.base, "%s", o.url);
        size_t n = strlen(b.base);
        while (n && b.base[n - 1] == '/') b.base[--n] = '\0';
        char err[CURL_ERROR_SIZE + 1];
        if (!reachable(b.base, err, sizeof err, 0)) {
            fprintf(stderr, "switchyard batch: cannot reach the gateway at %s: %s\n", b.base, err);
            goto done;
        }
    }
    int outcome = run(&b);
    for (int i = 0; i < b.nreqs; i++) b.left += b.reqs[i].body && !b.reqs[i].done;
    summary(&b, outcome);
    code = outcome < 0 ? 1 : outcome == 1 ? 128 + (signals[0] ? (int)signals[0] : SIGINT)
                                          : (b.failed || invalid ? 1 : 0);
done:
    if (engine) {
        sy_engine_stop(srv.eng);
        pthread_join(th, NULL);
    }
    sy_engine_free(srv.eng);
    for (int i = 0; i < b.nactive; i++) xfer_free(&b, b.active[i]);
    if (b.multi) curl_multi_cleanup(b.multi);
    curl_slist_free_all(b.hdrs);
    if (b.out_fd >= 0) close(b.out_fd);
    for (int i = 0; i < b.nreqs; i++) {
        free(b.reqs[i].custom_id);
        free(b.reqs[i].body);
    }
    free(b.reqs);
    free(b.set);
    free(b.active);
    free(b.waiting);
    free(b.models);
    return code;
}
