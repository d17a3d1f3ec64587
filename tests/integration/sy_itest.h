/* sy_itest.h — harness of the integration tests (test_mock.c, test_gateway.c): processes, temp
 * files, ports, libcurl HTTP + SSE helpers, JSON paths; implemented in sy_itest.c. */
/*
 * Ownership: every *_start / sy_http* fills a caller-owned struct that the matching
 * *_stop / *_free releases; those are safe on a zeroed struct and idempotent, so a test can
 * zero everything first and clean up unconditionally at its end. Every child process is
 * also registered so that an exit (or SIGINT/SIGTERM) of the test kills it, and it gets
 * PR_SET_PDEATHSIG, so nothing outlives a crashed test.
 */
#ifndef SY_ITEST_H
#define SY_ITEST_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

/* Monotonic milliseconds. */
double sy_it_now_ms(void);
/* Sleeps ms milliseconds. */
void sy_it_sleep_ms(int ms);

/* ==== processes ======================================================================== */

typedef struct sy_proc {
    pid_t pid;  /* 0 = never started */
    int out_fd; /* read end of the child's stdout, or -1 */
    int exited; /* 1 once reaped */
    int status; /* waitpid status once reaped */
} sy_proc;

/* Starts argv[0] (a path) with argv. env: extra "NAME=value" strings added to the test's own
 * environment (NULL-terminated, may be NULL). capture_stdout: stdout to a pipe (read it with
 * sy_proc_read_line), else /dev/null. stderr_path: file that gets stderr (created/truncated),
 * NULL = inherit. Returns 0, or -1 with a message on stderr. */
int sy_proc_spawn(sy_proc *p, char *const argv[], char *const env[], int capture_stdout,
                  const char *stderr_path);
/* One line of the child's stdout (without '\n') within timeout_ms. Returns its length, or -1
 * on timeout / EOF. */
int sy_proc_read_line(sy_proc *p, char *buf, size_t cap, int timeout_ms);
/* Waits up to timeout_ms for the child to exit by itself. 1 = exited (p->status), 0 = still
 * running. */
int sy_proc_wait(sy_proc *p, int timeout_ms);
/* Exit code if it exited normally, 128+signal if killed, -1 if still running / never run. */
int sy_proc_exit_code(const sy_proc *p);
/* SIGTERM, up to timeout_ms for it to exit, then SIGKILL; always reaps. Idempotent. Returns
 * sy_proc_exit_code. */
int sy_proc_stop(sy_proc *p, int timeout_ms);

/* ==== files and ports ================================================================== */

/* mkdtemp under $TMPDIR or /tmp: "<tmp>/sy-itest-XXXXXX". Returns 0 or -1. */
int sy_it_tmpdir(char *out, size_t cap);
/* Writes text to dir/name; the full path goes to path_out (may be NULL). Returns 0 or -1. */
int sy_it_write_file(const char *dir, const char *name, const char *text, char *path_out,
                     size_t cap);
/* Whole file, NUL-terminated, malloc'ed (NULL on error). len may be NULL. */
char *sy_it_read_file(const char *path, size_t *len);
/* Removes the files directly in dir, then dir. Keeps it when $SY_ITEST_KEEP is set. */
void sy_it_rmtree(const char *dir);
/* A loopback port that was free a moment ago (bind 127.0.0.1:0, read, close). -1 on error. */
int sy_it_free_port(void);
/* Starts `bin --port PORT` as a throw-away redis-server on 127.0.0.1 (no persistence) and
 * waits up to 5 s until it accepts connections. 0, or -1 (p stopped again). */
int sy_it_redis_start(sy_proc *p, const char *bin, int port);

/* ==== the mock upstream and the gateway ================================================ */

typedef struct sy_mock {
    sy_proc proc;
    int port;
    char base[64]; /* "http://127.0.0.1:PORT" */
} sy_mock;

/* Starts `bin --listen 127.0.0.1:0 [extra...]` and reads its "listening on" line (5 s). */
int sy_mock_start(sy_mock *m, const char *bin, const char *const extra[]);
void sy_mock_stop(sy_mock *m);
/* GET /_mock/stats, parsed; the caller cJSON_Deletes it. NULL on error. */
cJSON *sy_mock_stats(const sy_mock *m);
/* POST /_mock/reset. Returns 0 or -1. */
int sy_mock_reset(const sy_mock *m);
/* One number from the stats ("requests", "client_closed"), -1 on error. */
long sy_mock_stat(const sy_mock *m, const char *key);
/* stats.by_model[model], 0 when absent, -1 on error. */
long sy_mock_model_count(const sy_mock *m, const char *model);

typedef struct sy_gw {
    sy_proc proc;
    int port;
    char base[64];         /* "http://127.0.0.1:PORT" */
    char stderr_path[512]; /* the gateway's stderr (logs) */
} sy_gw;

/* Starts `bin serve --config config --listen 127.0.0.1:<free port> [--workers N]` (workers
 * <= 0: not passed) with extra env, stderr to stderr_path, and polls GET /healthz until it
 * answers 200 (5 s). On failure the process is stopped and the tail of its stderr printed.
 * Returns 0 or -1. */
int sy_gw_start(sy_gw *g, const char *bin, const char *config, int workers, char *const env[],
                const char *stderr_path);
void sy_gw_stop(sy_gw *g);

/* A mock upstream and one gateway (1 worker) in a temp dir: the usual fixture of a test
 * program. config_fmt has up to four %d, each the mock's port; files are name, text pairs (NULL-ended)
 * written beside the config (policies). */
typedef struct sy_it_env {
    char dir[512];
    char log[600];
    sy_mock mock;
    sy_gw gw;
} sy_it_env;
/* 0, or -1 (with what failed on stderr; everything started is stopped again). */
int sy_it_env_start(sy_it_env *e, const char *gw_bin, const char *mock_bin, const char *config_fmt,
                    const char *const files[]);
/* The arguments of a test program that uses sy_it_env: PATH/TO/switchyard
 * PATH/TO/sy-mock-upstream. 0, or -1 after printing the usage. Also curl_global_init. */
int sy_it_args(int argc, char **argv, const char **gw_bin, const char **mock_bin);

/* A policy that returns its options' `chain` (model ids) as sy.chain: routes set
 * `options = { chain = { ... } }` (and `retries = N` for the decision's own retries). */
#define SY_IT_CHAIN_POLICY                                                                     \
    "local sy = require 'switchyard'\n"                                                        \
    "local OPTIONS = { chain = { 'good' }, retries = -1 }\n"                                   \
    "return { options = OPTIONS, route = function(req, ctx, conf)\n"                           \
    "  local ids = { reason = 'configured', retries = conf.retries >= 0 and conf.retries or nil }\n" \
    "  for i, id in ipairs(conf.chain) do ids[i] = id end\n"                                   \
    "  return sy.chain(ids)\n"                                                                 \
    "end }\n"

/* Stops both; returns 1 when the gateway's log held a sanitizer report (a failure). The log
 * text goes to *log_out (malloc'd) when log_out is not NULL. */
int sy_it_env_stop(sy_it_env *e, char **log_out);

/* ==== HTTP ============================================================================= */

typedef struct sy_piece {
    double t_ms; /* arrival, ms since the request started */
    size_t off;  /* offset of the piece in body */
    size_t len;
} sy_piece;

typedef struct sy_resp {
    CURLcode cc; /* CURLE_OK or the transfer error */
    long status; /* 0 when no status line arrived */
    char *body;  /* NUL-terminated (never NULL after sy_http) */
    size_t body_len;
    char **hdr_names; /* of the last response (a 100 Continue is dropped) */
    char **hdr_values;
    size_t n_hdrs;
    double t_headers_ms; /* status line arrival; -1 if none */
    double t_total_ms;   /* end of the transfer */
    sy_piece *pieces;    /* every body write callback, in order */
    size_t n_pieces;
    char err[CURL_ERROR_SIZE];
    /* internal */
    size_t body_cap, hdr_cap, piece_cap;
    double t0;
    long abort_after; /* copied from the options */
} sy_resp;

typedef struct sy_req_opts {
    const char *method;         /* NULL: POST when body, else GET */
    const char *body;           /* NULL: no body */
    size_t body_len;            /* 0: strlen(body) */
    const char *const *headers; /* NULL-terminated "Name: value" lines, may be NULL */
    long timeout_ms;            /* whole transfer; 0 = 15000 */
    int fresh_connect;          /* new connection, closed afterwards */
    long abort_after_bytes;     /* > 0: hang up once this many body bytes arrived */
} sy_req_opts;

/* One request; r is zeroed first. Returns 0 when a response (any status) arrived, -1 on a
 * transport error (r->cc, r->err say which). r must be freed either way. */
int sy_http(sy_resp *r, const char *url, const sy_req_opts *o);
int sy_http_get(sy_resp *r, const char *url);
/* POST url with a JSON body and optional extra headers. */
int sy_http_post(sy_resp *r, const char *url, const char *json, const char *const *headers);
/* Runs n requests at once on one curl multi handle (no connection limit) within
 * overall_timeout_ms. rs[i] gets the answer to urls[i] with opts[i]. Returns the number of
 * transfers that got a response. */
size_t sy_http_many(sy_resp *rs, const char *const *urls, const sy_req_opts *opts, size_t n,
                    long overall_timeout_ms);
void sy_resp_free(sy_resp *r);
/* Case-insensitive header lookup; borrowed value (trimmed) or NULL. */
const char *sy_resp_header(const sy_resp *r, const char *name);
/* The body parsed as JSON (caller deletes) or NULL. */
cJSON *sy_resp_json(const sy_resp *r);

/* Connects to 127.0.0.1:port, sends len bytes, reads until the peer closes, reply is full
 * or timeout_ms passes. Returns bytes read (reply NUL-terminated) or -1 if it could not
 * connect. */
long sy_tcp_raw(int port, const void *data, size_t len, char *reply, size_t cap, int timeout_ms);

/* ==== server-sent events =============================================================== */

typedef struct sy_sse_event {
    char *data;  /* the joined "data:" lines, leading space removed */
    double t_ms; /* arrival of the piece that completed the event */
} sy_sse_event;

typedef struct sy_sse {
    sy_sse_event *ev;
    size_t n;
    int done;        /* a "[DONE]" event was seen */
    int done_last;   /* ... and it was the last event */
    size_t trailing; /* bytes after the last complete event (an unterminated event) */
} sy_sse;

/* Splits r->body into events (blank-line separated; "data:" lines joined; comments and
 * other fields ignored). Returns 0 or -1 (out of memory). */
int sy_sse_parse(const sy_resp *r, sy_sse *out);
void sy_sse_free(sy_sse *s);
/* The concatenated choices[0].delta.content of all chunk events; malloc'ed. */
char *sy_sse_content(const sy_sse *s);

/* ==== JSON ============================================================================= */

/* Looks up a dotted path: "error.code", "choices.0.message.content" (numbers index
 * arrays). Borrowed item or NULL. */
const cJSON *sy_json_at(const cJSON *root, const char *path);
/* The string at path or NULL. */
const char *sy_json_str(const cJSON *root, const char *path);
/* The number at path, or def if absent / not a number. */
double sy_json_num(const cJSON *root, const char *path, double def);

/* Whether a gateway log holds an ASan/UBSan report (a sanitized build writes them there). A
 * clean log proves nothing; a report is a failure. */
static inline int sy_it_sanitizer_report(const char *log)
{
    return log && (strstr(log, "Sanitizer") || strstr(log, "runtime error:"));
}

/* ==== running a subset ================================================================= */

/* SY_ITEST_ONLY=<substring> runs only the tests whose name contains it. */
static inline int sy_it_selected(const char *name)
{
    const char *only = getenv("SY_ITEST_ONLY");
    return !only || !*only || strstr(name, only) != NULL;
}

/* RUN (from sy_test.h) when selected. */
#define RUN_SEL(name)                                                                          \
    do {                                                                                       \
        if (sy_it_selected(#name)) RUN(name);                                                  \
    } while (0)

#endif
