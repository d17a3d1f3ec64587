/* test_batch.c — `switchyard batch` end to end: a real batch process (in-process gateway with
 * --config, or --url at a running gateway or at the mock itself) against the mock upstream;
 * output lines checked one by one, validation, SIGINT then resume, a partial last line, retries
 * on 429/503, timeouts and lost connections, priority and key headers, the progress bar on a
 * terminal and not on a file. Usage: test_batch SWITCHYARD MOCK */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sy_itest.h"
#include "sy_test.h"

static const char *g_bin;
static sy_it_env g_env;

#define CFG_BODY                                                                               \
    "provider { id = \"m\", kind = \"openai\", base_url = \"http://127.0.0.1:%d/v1\" }\n"     \
    "model { id = \"echo\", provider = \"m\", upstream = \"mock?echo=1&tag=echo\",\n"          \
    "        price = { input = 0.5, output = 1.0 } }\n"                                        \
    "model { id = \"bad\", provider = \"m\", upstream = \"mock?status=500&tag=bad\", breaker = false }\n" \
    "model { id = \"slow\", provider = \"m\", upstream = \"mock?delay_ms=400&tag=slow\" }\n"    \
    "model { id = \"busy\", provider = \"m\", upstream = \"mock?status=429&retry_after=0&tag=busy\",\n" \
    "        breaker = false }\n"                                                              \
    "model { id = \"hang\", provider = \"m\", upstream = \"mock?delay_ms=4000&tag=hang\" }\n"  \
    "model { id = \"lowlane\", provider = \"m\", upstream = \"mock?tag=lowlane\" }\n"          \
    "model { id = \"otherlane\", provider = \"m\", upstream = \"mock?tag=otherlane\" }\n"      \
    "route { name = \"lanes\", policy = \"lanes.lua\", default = \"otherlane\" }\n"

/* the gateway that --url talks to */
static const char *CFG = "server { workers = 1, request_log = \"gw_req.jsonl\" }\n" CFG_BODY;
/* the in-process gateway of --config (its own request log) */
static const char *BATCH_CFG = "server { workers = 2, request_log = \"batch_req.jsonl\" }\n" CFG_BODY;

static const char *const FILES[] = {
    "lanes.lua",
    "local sy = require 'switchyard'\n"
    "return { route = function(req)\n"
    "  if req.meta.priority == 'low' then return sy.pick('lowlane', 'batch traffic') end\n"
    "  return sy.pick('otherlane', 'priority ' .. tostring(req.meta.priority))\n"
    "end }\n",
    NULL};

static char g_cfg[700]; /* BATCH_CFG, written */

/* ============================================================ helpers */

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", g_env.dir, name);
}

/* Runs `switchyard batch ARGS...` (NULL-ended), stderr to a file; waits up to 30 s. Returns the
 * exit code; *err gets stderr (malloc'd) when err is not NULL. */
static int batch_run(char **err, char *const env[], const char *const args[])
{
    char *argv[40], errp[700];
    int n = 0;
    argv[n++] = (char *)g_bin;
    argv[n++] = "batch";
    for (int i = 0; args[i] && n < 38; i++) argv[n++] = (char *)args[i];
    argv[n] = NULL;
    path_in(errp, sizeof errp, "batch.err");
    sy_proc p;
    if (sy_proc_spawn(&p, argv, env, 0, errp) != 0) return -1;
    if (!sy_proc_wait(&p, 30000)) fprintf(stderr, "batch did not finish in 30 s\n");
    int code = sy_proc_stop(&p, 1000);
    char *text = sy_it_read_file(errp, NULL);
    CHECK(!sy_it_sanitizer_report(text)); /* the in-process gateway's reports land here */
    if (err)
        *err = text;
    else
        free(text);
    return code;
}

/* Writes the input file: n lines, custom_id "<prefix><i>", model(i). */
static void write_input(const char *name, int n, const char *prefix, const char *(*model)(int))
{
    size_t cap = (size_t)n * 300 + 1;
    char *text = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "{\"custom_id\":\"%s%d\",\"method\":\"POST\",\"url\":"
                                "\"/v1/chat/completions\",\"body\":{\"model\":\"%s\",\"messages\":"
                                "[{\"role\":\"user\",\"content\":\"question %d\"}]}}\n",
                                prefix, i, model(i), i);
    sy_it_write_file(g_env.dir, name, text, NULL, 0);
    free(text);
}

/* The output file's lines, parsed (an array); *complete = every line ended in '\n' and parsed. */
static cJSON *read_output(const char *name, int *complete)
{
    char p[700];
    path_in(p, sizeof p, name);
    char *text = sy_it_read_file(p, NULL);
    cJSON *arr = cJSON_CreateArray();
    *complete = 1;
    if (!text) return arr;
    for (char *s = text; *s;) {
        char *nl = strchr(s, '\n');
        if (!nl) {
            *complete = 0;
            break;
        }
        *nl = '\0';
        cJSON *j = cJSON_Parse(s);
        if (!j) *complete = 0;
        else cJSON_AddItemToArray(arr, j);
        s = nl + 1;
    }
    free(text);
    return arr;
}

/* Waits (10 s at most) until the output file has n complete lines. */
static int wait_lines(const char *name, int n)
{
    char p[700];
    path_in(p, sizeof p, name);
    for (double until = sy_it_now_ms() + 10000; sy_it_now_ms() < until; sy_it_sleep_ms(10)) {
        char *text = sy_it_read_file(p, NULL);
        int lines = 0;
        for (const char *q = text; q && (q = strchr(q, '\n')); q++) lines++;
        free(text);
        if (lines >= n) return 1;
    }
    return 0;
}

static const cJSON *by_id(const cJSON *arr, const char *id, int *count)
{
    const cJSON *hit = NULL, *it;
    *count = 0;
    cJSON_ArrayForEach(it, arr)
    {
        const char *cid = sy_json_str(it, "custom_id");
        if (cid && strcmp(cid, id) == 0) {
            hit = it;
            ++*count;
        }
    }
    return hit;
}

static long mock_count(const char *tag)
{
    char m[80];
    snprintf(m, sizeof m, "mock?%s", tag);
    return sy_mock_model_count(&g_env.mock, m);
}

static const char *model_mixed(int i)
{
    return i % 10 == 3 ? "bad" : i % 10 == 7 ? "lanes" : "echo";
}
static const char *model_slow(int i)
{
    (void)i;
    return "slow";
}
static const char *model_echo(int i)
{
    (void)i;
    return "echo";
}

/* ============================================================ tests */

/* 50 requests, concurrency 4: one line per custom_id with the right body and status; the
 * failing model's answers recorded with their 502; cost and per-model counts in the summary;
 * every request reached the upstream exactly once; no progress bar on a file; no prompt text
 * in stderr. */
TEST(a_batch_run_records_every_request)
{
    char *err = NULL, in[700], out[700];
    sy_mock_reset(&g_env.mock);
    write_input("run.jsonl", 50, "q", model_mixed);
    path_in(in, sizeof in, "run.jsonl");
    path_in(out, sizeof out, "run.out.jsonl");
    const char *args[] = {"--config", g_cfg, "--concurrency", "4", in, out, NULL};
    int code = batch_run(&err, NULL, args);
    CHECK(code == 1); /* complete, with failures */
    int complete = 0;
    cJSON *arr = read_output("run.out.jsonl", &complete);
    CHECK(complete);
    CHECK(cJSON_GetArraySize(arr) == 50);
    int right = 0;
    for (int i = 0; i < 50; i++) {
        char id[16], want[32];
        snprintf(id, sizeof id, "q%d", i);
        int count = 0;
        const cJSON *l = by_id(arr, id, &count);
        if (count != 1 || !l) {
            fprintf(stderr, "  %s appears %d times\n", id, count);
            continue;
        }
        const char *rid = sy_json_str(l, "id");
        int ok = rid && strncmp(rid, "batch_req_", 10) == 0 &&
                 cJSON_IsNull(cJSON_GetObjectItem(l, "error")) &&
                 sy_json_str(l, "response.request_id") &&
                 strncmp(sy_json_str(l, "response.request_id"), "sy-", 3) == 0;
        long status = (long)sy_json_num(l, "response.status_code", 0);
        const char *content = sy_json_str(l, "response.body.choices.0.message.content");
        if (i % 10 == 3) {
            ok = ok && status == 502 && sy_json_str(l, "response.body.error.code") &&
                 strcmp(sy_json_str(l, "response.body.error.code"), "upstream_error") == 0;
        } else if (i % 10 == 7) {
            ok = ok && status == 200 && content && strcmp(content, "Hello from mock?tag=lowlane") == 0;
        } else {
            snprintf(want, sizeof want, "question %d\"", i); /* echo: the messages as JSON */
            ok = ok && status == 200 && content && strstr(content, want);
        }
        if (ok) right++;
        else fprintf(stderr, "  wrong line for %s\n", id);
    }
    CHECK(right == 50);
    cJSON_Delete(arr);
    CHECK(mock_count("echo=1&tag=echo") == 40);
    CHECK(mock_count("status=500&tag=bad") == 5);
    CHECK(mock_count("tag=lowlane") == 5); /* in-process too, the policy saw priority low */
    CHECK_CONTAINS(err, "switchyard batch: 50 of 50 done (45 ok, 5 failed), 0 skipped");
    CHECK_CONTAINS(err, "switchyard batch: failed: HTTP 502: 5\n");
    CHECK_CONTAINS(err, "answered by: ");
    CHECK_CONTAINS(err, "echo 40");
    CHECK_CONTAINS(err, "lowlane 5");
    CHECK(err && !strstr(err, "cost $0.000000,")); /* echo has a price */
    CHECK(err && !strchr(err, '\r') && !strstr(err, "ETA")); /* stderr is a file: no bar */
    CHECK(err && !strstr(err, "question"));                /* no prompt text */
    CHECK(err && !strstr(err, "warn gateway"));            /* each failure is in OUT instead */
    /* the in-process gateway kept its request log: the routing results are there */
    char log[700];
    path_in(log, sizeof log, "batch_req.jsonl");
    char *rl = sy_it_read_file(log, NULL);
    int lines = 0;
    for (const char *p = rl; p && (p = strchr(p, '\n')); p++) lines++;
    CHECK(lines == 50);
    CHECK_CONTAINS(rl, "\"priority\":\"low\"");
    free(rl);
    free(err);

    /* a second run finds everything done: nothing sent, exit 0 */
    sy_mock_reset(&g_env.mock);
    code = batch_run(&err, NULL, args);
    CHECK(code == 0);
    CHECK_CONTAINS(err, "nothing to send: all 50 results are already in");
    CHECK(sy_mock_stat(&g_env.mock, "requests") == 0);
    free(err);
}

/* A slot that comes free is filled at once, not after the next wait of the loop (100 ms):
 * one at a time, 60 quick answers take well under a second. */
TEST(a_free_slot_is_filled_at_once)
{
    char *err = NULL, in[700], out[700];
    write_input("quick.jsonl", 60, "k", model_echo);
    path_in(in, sizeof in, "quick.jsonl");
    path_in(out, sizeof out, "quick.out.jsonl");
    const char *args[] = {"--url", g_env.gw.base, "--concurrency", "1", in, out, NULL};
    double t0 = sy_it_now_ms();
    CHECK(batch_run(&err, NULL, args) == 0);
    double ms = sy_it_now_ms() - t0;
    if (ms >= 3000) fprintf(stderr, "  60 requests took %.0f ms\n", ms);
    CHECK(ms < 3000); /* 6 s and more when each waits out the loop's timeout */
    CHECK_CONTAINS(err, "60 of 60 done (60 ok, 0 failed)");
    free(err);
}

/* Every problem of the input is reported as FILE:LINE: KEY: message; nothing is sent and no
 * output file is created; exit 2. */
static const char *BAD_INPUT =
    "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}\n"
    "\n"
    "{\"custom_id\":\"b\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\n"
    "{\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"echo\"}}\n"
    "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"echo\"}}\n"
    "{\"custom_id\":\"c\",\"method\":\"GET\",\"url\":\"/v1/embeddings\",\"body\":[]}\n"
    "{\"custom_id\":\"d\",\"method\":\"POST\",\"url\":\"/v1/messages\",\"body\":{\"stream\":true},\"extra\":1}\n"
    "[1,2]\n"
    "   \n"
    "{\"custom_id\":7,\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"echo\"}}\n"
    "{\"custom_id\":\"e\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}\n";

TEST(validation_errors_name_file_line_key_and_send_nothing)
{
    char *err = NULL, in[700], out[700];
    sy_it_write_file(g_env.dir, "bad.jsonl", BAD_INPUT, in, sizeof in);
    path_in(out, sizeof out, "bad.out.jsonl");
    unlink(out);
    sy_mock_reset(&g_env.mock);
    const char *args[] = {"--config", g_cfg, in, out, NULL};
    CHECK(batch_run(&err, NULL, args) == 2);
    char want[2000];
#define WANT(line, key, msg)                                                                   \
    snprintf(want, sizeof want, "%s:%d: %s: %s\n", in, line, key, msg);                        \
    CHECK_CONTAINS(err, want)
    WANT(3, "json", "not valid JSON (near column 78)");
    WANT(4, "custom_id", "missing");
    WANT(5, "custom_id", "\"a\" is already used on line 1");
    WANT(6, "method", "must be \"POST\"");
    WANT(6, "url", "must be \"/v1/chat/completions\" or \"/v1/messages\"");
    WANT(6, "body", "must be a JSON object");
    WANT(7, "extra", "unknown key (expected custom_id, method, url, body)");
    WANT(7, "body.model", "missing (or give --model)");
    WANT(7, "body.stream", "a batch does not stream; leave it out or false");
    WANT(8, "line", "expected a JSON object {custom_id, method, url, body}");
    WANT(10, "custom_id", "must be a non-empty string");
#undef WANT
    CHECK(err && !strstr(err, ":1:") && !strstr(err, ":11:")); /* the good lines */
    CHECK_CONTAINS(err, "has 7 invalid lines; nothing was sent");
    CHECK(access(out, F_OK) != 0);
    CHECK(sy_mock_stat(&g_env.mock, "requests") == 0);
    free(err);

    /* --model stands in for a missing body.model (line 7 still has its other problems) */
    const char *args2[] = {"--config", g_cfg, "--model", "echo", in, out, NULL};
    CHECK(batch_run(&err, NULL, args2) == 2);
    CHECK(err && !strstr(err, "body.model"));
    free(err);
}

/* --skip-invalid: the valid lines are sent, the invalid ones that have a usable custom_id get
 * an error line (invalid_request), the others are only reported; exit 1. */
TEST(skip_invalid_records_the_bad_lines)
{
    char *err = NULL, in[700], out[700];
    path_in(in, sizeof in, "bad.jsonl");
    path_in(out, sizeof out, "skip.out.jsonl");
    sy_mock_reset(&g_env.mock);
    const char *args[] = {"--config", g_cfg, "--skip-invalid", in, out, NULL};
    CHECK(batch_run(&err, NULL, args) == 1);
    int complete = 0, n = 0;
    cJSON *arr = read_output("skip.out.jsonl", &complete);
    CHECK(complete);
    /* a and e are sent; b has no usable id (bad JSON), the second a is a duplicate, 7 is not a
     * string: c and d get error lines */
    CHECK(cJSON_GetArraySize(arr) == 4);
    const cJSON *l = by_id(arr, "a", &n);
    CHECK(n == 1 && sy_json_num(l, "response.status_code", 0) == 200);
    l = by_id(arr, "e", &n);
    CHECK(n == 1 && sy_json_num(l, "response.status_code", 0) == 200);
    l = by_id(arr, "c", &n);
    CHECK(n == 1 && cJSON_IsNull(cJSON_GetObjectItem(l, "response")));
    CHECK_STR(sy_json_str(l, "error.code"), "invalid_request");
    CHECK_CONTAINS(sy_json_str(l, "error.message"), "line 6 of");
    by_id(arr, "d", &n);
    CHECK(n == 1);
    cJSON_Delete(arr);
    CHECK(mock_count("echo=1&tag=echo") == 2);
    CHECK_CONTAINS(err, "4 of 4 done (2 ok, 2 failed)");
    free(err);
}

/* Starts a batch of n slow requests (400 ms each) at concurrency 4 in the background, with
 * extra options; in, out and errp get the paths of NAME.jsonl, NAME.out.jsonl, NAME.err. */
static void batch_spawn_slow(sy_proc *p, const char *name, int n, const char *const extra[],
                             char *in, char *out, char *errp)
{
    char f[64];
    snprintf(f, sizeof f, "%s.jsonl", name);
    write_input(f, n, "s", model_slow);
    path_in(in, 700, f);
    snprintf(f, sizeof f, "%s.out.jsonl", name);
    path_in(out, 700, f);
    snprintf(f, sizeof f, "%s.err", name);
    path_in(errp, 700, f);
    sy_mock_reset(&g_env.mock);
    char *argv[40];
    int k = 0;
    const char *head[] = {g_bin, "batch", "--config", g_cfg, "--concurrency", "4"};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++) argv[k++] = (char *)head[i];
    for (int i = 0; extra && extra[i] && k < 36; i++) argv[k++] = (char *)extra[i];
    argv[k++] = in;
    argv[k++] = out;
    argv[k] = NULL;
    CHECK(sy_proc_spawn(p, argv, NULL, 0, errp) == 0);
}

/* Waits for the batch to exit (10 s), checks its exit code; its stderr (malloc'd), which
 * must hold no sanitizer report. */
static char *batch_reap(sy_proc *p, const char *errp, int code)
{
    CHECK(sy_proc_wait(p, 10000));
    CHECK(sy_proc_exit_code(p) == code);
    sy_proc_stop(p, 100);
    char *err = sy_it_read_file(errp, NULL);
    CHECK(!sy_it_sanitizer_report(err));
    return err;
}

/* How many of custom_ids s0 .. s(n-1) the output holds exactly once. */
static int ids_once(const cJSON *arr, int n)
{
    int once = 0;
    for (int i = 0; i < n; i++) {
        char id[16];
        int c = 0;
        snprintf(id, sizeof id, "s%d", i);
        by_id(arr, id, &c);
        once += c == 1;
    }
    return once;
}

/* SIGINT mid-run: requests in flight finish and are written, nothing new is sent, exit 130
 * with a resume hint; a partial last line (a crash mid-write) is cut off; the second run sends
 * only the rest and says how many it skipped; together each custom_id exactly once, and the
 * upstream saw each request exactly once. */
TEST(interrupt_then_resume)
{
    char *err = NULL, in[700], out[700], errp[700];
    sy_proc p;
    batch_spawn_slow(&p, "slow", 40, NULL, in, out, errp);
    CHECK(wait_lines("slow.out.jsonl", 8)); /* two rounds of 4 done */
    sy_it_sleep_ms(200);                     /* the third round in flight */
    kill(p.pid, SIGINT);
    double t0 = sy_it_now_ms();
    err = batch_reap(&p, errp, 130);
    CHECK(sy_it_now_ms() - t0 < 2000); /* the in-flight ones (400 ms) only */
    CHECK_CONTAINS(err, "SIGINT: sending nothing more");
    CHECK_CONTAINS(err, "run the same command again to resume");
    int complete = 0;
    cJSON *arr = read_output("slow.out.jsonl", &complete);
    int first = cJSON_GetArraySize(arr);
    CHECK(complete);
    CHECK(first == 12);
    CHECK(mock_count("delay_ms=400&tag=slow") == first); /* in flight = finished and written */
    cJSON_Delete(arr);
    free(err);

    /* a crash in the middle of a write */
    FILE *f = fopen(out, "a");
    fputs("{\"id\":\"batch_req_x\",\"custom_id\":\"s3", f);
    fclose(f);

    const char *args[] = {"--config", g_cfg, "--concurrency", "4", in, out, NULL};
    CHECK(batch_run(&err, NULL, args) == 0);
    char want[300];
    snprintf(want, sizeof want, "%d of %d done (%d ok, 0 failed), %d skipped", 40 - first,
             40 - first, 40 - first, first);
    CHECK_CONTAINS(err, want);
    CHECK_CONTAINS(err, "ended in a partial line (35 bytes, an interrupted write): removed");
    free(err);
    arr = read_output("slow.out.jsonl", &complete);
    CHECK(complete);
    CHECK(cJSON_GetArraySize(arr) == 40);
    CHECK(ids_once(arr, 40) == 40);
    cJSON_Delete(arr);
    CHECK(mock_count("delay_ms=400&tag=slow") == 40);
}

/* A second signal cancels the requests in flight at once; they are not written and the next
 * run sends them. SIGTERM exits 143. */
TEST(a_second_signal_cancels_what_is_in_flight)
{
    char *err = NULL, in[700], out[700], errp[700];
    sy_proc p;
    batch_spawn_slow(&p, "slow2", 40, NULL, in, out, errp);
    CHECK(wait_lines("slow2.out.jsonl", 4)); /* the first round done */
    sy_it_sleep_ms(200);                      /* the second in flight */
    kill(p.pid, SIGTERM);
    sy_it_sleep_ms(50);
    kill(p.pid, SIGTERM);
    double t0 = sy_it_now_ms();
    err = batch_reap(&p, errp, 143);
    CHECK(sy_it_now_ms() - t0 < 1000);
    CHECK_CONTAINS(err, "SIGTERM: sending nothing more");
    CHECK_CONTAINS(err, "to resume");
    free(err);
    int complete = 0;
    cJSON *arr = read_output("slow2.out.jsonl", &complete);
    int first = cJSON_GetArraySize(arr);
    CHECK(complete && first > 0 && first < 40);
    /* sent but cancelled, so not written: the resume sends them again */
    CHECK(first == 4 && mock_count("delay_ms=400&tag=slow") == 8);
    cJSON_Delete(arr);
    const char *args[] = {"--config", g_cfg, "--concurrency", "8", in, out, NULL};
    CHECK(batch_run(&err, NULL, args) == 0);
    free(err);
    arr = read_output("slow2.out.jsonl", &complete);
    CHECK(complete && cJSON_GetArraySize(arr) == 40);
    CHECK(ids_once(arr, 40) == 40);
    cJSON_Delete(arr);
}

/* --drain bounds the wait for requests in flight after a signal: past it they are cancelled
 * (sent, not written) and the next run sends them. */
TEST(the_drain_time_is_bounded)
{
    char *err = NULL, in[700], out[700], errp[700];
    const char *extra[] = {"--drain", "0.05", "--workers", "1", NULL};
    sy_proc p;
    batch_spawn_slow(&p, "slow3", 12, extra, in, out, errp);
    CHECK(wait_lines("slow3.out.jsonl", 4));
    sy_it_sleep_ms(100); /* the second round: 300 ms from its answers */
    kill(p.pid, SIGINT);
    err = batch_reap(&p, errp, 130);
    CHECK_CONTAINS(err, "waiting up to 0.05 s for the 4 requests in flight");
    CHECK_CONTAINS(err, "interrupted with 8 requests left");
    free(err);
    int complete = 0;
    cJSON *arr = read_output("slow3.out.jsonl", &complete);
    CHECK(complete && cJSON_GetArraySize(arr) == 4);
    cJSON_Delete(arr);
    CHECK(mock_count("delay_ms=400&tag=slow") == 8);
    const char *args[] = {"--config", g_cfg, "--concurrency", "8", in, out, NULL};
    CHECK(batch_run(&err, NULL, args) == 0);
    CHECK_CONTAINS(err, "8 of 8 done (8 ok, 0 failed), 4 skipped");
    free(err);
}

/* An output file that is not this batch's is refused, and left as it was. */
TEST(a_foreign_output_is_refused)
{
    char *err = NULL, in[700], out[700];
    write_input("few.jsonl", 3, "s", model_echo);
    path_in(in, sizeof in, "few.jsonl");
    const char *foreign = "{\"id\":\"batch_req_1\",\"custom_id\":\"zz9\",\"response\":null,\"error\":null}\n";
    sy_it_write_file(g_env.dir, "foreign.jsonl", foreign, out, sizeof out);
    sy_mock_reset(&g_env.mock);
    const char *args[] = {"--config", g_cfg, in, out, NULL};
    CHECK(batch_run(&err, NULL, args) == 2);
    char want[2000];
    snprintf(want, sizeof want, "%s:1: custom_id: \"zz9\" is not in %s: is this the output of "
                                "another batch?\n", out, in);
    CHECK_CONTAINS(err, want);
    free(err);
    sy_it_write_file(g_env.dir, "foreign.jsonl", "{\"custom_id\":\"s1\"}\nnot json\n", out,
                     sizeof out);
    CHECK(batch_run(&err, NULL, args) == 2);
    snprintf(want, sizeof want, "%s:2: custom_id: not a batch output line", out);
    CHECK_CONTAINS(err, want);
    free(err);
    char *text = sy_it_read_file(out, NULL);
    CHECK_STR(text, "{\"custom_id\":\"s1\"}\nnot json\n");
    free(text);
    CHECK(sy_mock_stat(&g_env.mock, "requests") == 0);
    /* the input is not an output */
    const char *same[] = {"--config", g_cfg, in, in, NULL};
    CHECK(batch_run(&err, NULL, same) == 2);
    CHECK_CONTAINS(err, "the output file is the input file");
    free(err);
}

/* --url: the requests go to the running gateway with x-switchyard-priority: low (its policy
 * routes on it, its request log records it); --priority overrides it. */
TEST(url_mode_goes_through_a_running_gateway)
{
    char *err = NULL, in[700], out[700];
    sy_mock_reset(&g_env.mock);
    const char *text =
        "{\"custom_id\":\"u1\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"lanes\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}}\n"
        "{\"custom_id\":\"u2\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"lanes\",\"messages\":[{\"role\":\"user\",\"content\":\"y\"}]}}\n"
        "{\"custom_id\":\"u3\",\"method\":\"POST\",\"url\":\"/v1/messages\",\"body\":{\"model\":\"lanes\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"z\"}]}}\n";
    sy_it_write_file(g_env.dir, "url.jsonl", text, in, sizeof in);
    path_in(out, sizeof out, "url.out.jsonl");
    char base[100];
    snprintf(base, sizeof base, "%s/", g_env.gw.base); /* a trailing slash is fine */
    char log[700];
    path_in(log, sizeof log, "gw_req.jsonl");
    size_t before = 0; /* earlier tests' lines */
    free(sy_it_read_file(log, &before));
    const char *args[] = {"--url", base, in, out, NULL};
    CHECK(batch_run(&err, NULL, args) == 0);
    CHECK_CONTAINS(err, "3 of 3 done (3 ok, 0 failed)");
    CHECK_CONTAINS(err, "answered by: lowlane 3");
    free(err);
    CHECK(mock_count("tag=lowlane") == 3);
    int complete = 0, n = 0;
    cJSON *arr = read_output("url.out.jsonl", &complete);
    const cJSON *l = by_id(arr, "u3", &n);
    CHECK(n == 1);
    CHECK_STR(sy_json_str(l, "response.body.type"), "message"); /* the Messages dialect */
    cJSON_Delete(arr);
    char *rl = NULL;
    size_t len = 0;
    int lines = 0;
    for (int i = 0; i < 100; i++, sy_it_sleep_ms(20)) { /* written every 100 ms */
        free(rl);
        rl = sy_it_read_file(log, &len);
        lines = 0;
        for (const char *q = rl && len > before ? rl + before : NULL; q && (q = strchr(q, '\n')); q++)
            lines++;
        if (lines >= 3) break;
    }
    CHECK(lines == 3);
    int low = 0;
    for (const char *q = rl && len > before ? rl + before : NULL; q && (q = strstr(q, "\"meta\":{\"priority\":\"low\"}")); q++)
        low++;
    CHECK(low == 3);
    free(rl);

    path_in(out, sizeof out, "url2.out.jsonl");
    const char *args2[] = {"--url", g_env.gw.base, "--priority", "high", in, out, NULL};
    CHECK(batch_run(&err, NULL, args2) == 0);
    CHECK_CONTAINS(err, "answered by: otherlane 3");
    free(err);
}

/* --key-env sends Authorization: Bearer (seen here by the mock itself, as a stand-in gateway);
 * an unset variable is refused before anything is sent. */
TEST(the_key_goes_in_the_authorization_header)
{
    char *err = NULL, in[700], out[700];
    path_in(in, sizeof in, "url.jsonl");
    path_in(out, sizeof out, "key.out.jsonl");
    sy_mock_reset(&g_env.mock);
    char *env[] = {"SY_BATCH_TEST_KEY=sk-batch-123", NULL};
    const char *args[] = {"--url", g_env.mock.base, "--key-env", "SY_BATCH_TEST_KEY", in, out, NULL};
    CHECK(batch_run(&err, env, args) == 0);
    CHECK(err && !strstr(err, "sk-batch-123"));
    free(err);
    cJSON *st = sy_mock_stats(&g_env.mock);
    CHECK_STR(sy_json_str(st, "last_authorization"), "Bearer sk-batch-123");
    cJSON_Delete(st);
    path_in(out, sizeof out, "key2.out.jsonl");
    sy_mock_reset(&g_env.mock);
    const char *args2[] = {"--url", g_env.mock.base, "--key-env", "SY_BATCH_UNSET_VAR", in, out, NULL};
    CHECK(batch_run(&err, NULL, args2) == 2);
    CHECK_CONTAINS(err, "--key-env: environment variable SY_BATCH_UNSET_VAR is not set");
    free(err);
    CHECK(sy_mock_stat(&g_env.mock, "requests") == 0);
}

/* A gateway with keys (in process): --key-env authenticates every request (the key never
 * shows in the batch's output), and without a key each line records the gateway's 401. */
TEST(a_keyed_gateway_takes_the_batch_key)
{
    char cfg[4096], path[700], in[700], out[700], *err = NULL;
    snprintf(cfg, sizeof cfg,
             "server { workers = 1 }\n" CFG_BODY
             "key { id = \"nightly\", key_env = \"SY_BATCH_TEST_KEY\", team = \"ops\", priority = \"low\",\n"
             "      limits = { rpm = 1000 } }\n",
             g_env.mock.port);
    sy_it_write_file(g_env.dir, "keyed.lua", cfg, path, sizeof path);
    path_in(in, sizeof in, "url.jsonl");
    path_in(out, sizeof out, "keyed.out.jsonl");
    char *env[] = {"SY_BATCH_TEST_KEY=sk-batch-keyed-77", NULL};
    const char *args[] = {"--config", path, "--key-env", "SY_BATCH_TEST_KEY", "--priority", "high",
                          in, out, NULL};
    CHECK(batch_run(&err, env, args) == 0);
    CHECK_CONTAINS(err, "3 of 3 done (3 ok, 0 failed)");
    CHECK(err && !strstr(err, "sk-batch-keyed-77"));
    free(err);
    path_in(out, sizeof out, "keyed2.out.jsonl");
    const char *args2[] = {"--config", path, in, out, NULL};
    CHECK(batch_run(&err, env, args2) == 1); /* complete, every request failed */
    free(err);
    int complete = 0, n = 0;
    cJSON *arr = read_output("keyed2.out.jsonl", &complete);
    CHECK(complete && cJSON_GetArraySize(arr) == 3);
    const cJSON *l = by_id(arr, "u1", &n);
    CHECK(sy_json_num(l, "response.status_code", 0) == 401);
    CHECK_STR(sy_json_str(l, "response.body.error.code"), "missing_api_key");
    cJSON_Delete(arr);
}

/* 429/503 from the gateway: tried again (--retries more times), then recorded with the last
 * status. A timeout and a lost connection are error lines with response null. */
TEST(retries_timeouts_and_lost_connections)
{
    char *err = NULL, in[700], out[700];
    /* how many upstream calls one gateway request makes to the busy model */
    sy_mock_reset(&g_env.mock);
    sy_resp r;
    char url[200];
    snprintf(url, sizeof url, "%s/v1/chat/completions", g_env.gw.base);
    sy_http_post(&r, url, "{\"model\":\"busy\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                 NULL);
    CHECK(r.status == 503);
    sy_resp_free(&r);
    long per = mock_count("status=429&retry_after=0&tag=busy");
    CHECK(per >= 1);
    sy_mock_reset(&g_env.mock);
    const char *text =
        "{\"custom_id\":\"busy\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"busy\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}}\n"
        "{\"custom_id\":\"hang\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"hang\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}}\n";
    sy_it_write_file(g_env.dir, "retry.jsonl", text, in, sizeof in);
    path_in(out, sizeof out, "retry.out.jsonl");
    const char *args[] = {"--url", g_env.gw.base, "--retries", "2", "--timeout", "0.5", in, out, NULL};
    CHECK(batch_run(&err, NULL, args) == 1);
    CHECK_CONTAINS(err, "2 of 2 done (0 ok, 2 failed)");
    CHECK_CONTAINS(err, "failed: HTTP 503: 1, timeout: 1");
    free(err);
    CHECK(mock_count("status=429&retry_after=0&tag=busy") == 3 * per);
    int complete = 0, n = 0;
    cJSON *arr = read_output("retry.out.jsonl", &complete);
    const cJSON *l = by_id(arr, "busy", &n);
    CHECK(n == 1 && sy_json_num(l, "response.status_code", 0) == 503);
    CHECK_STR(sy_json_str(l, "response.body.error.code"), "upstream_unavailable");
    l = by_id(arr, "hang", &n);
    CHECK(n == 1 && cJSON_IsNull(cJSON_GetObjectItem(l, "response")));
    CHECK_STR(sy_json_str(l, "error.code"), "timeout");
    CHECK_STR(sy_json_str(l, "error.message"), "no answer from the gateway within 0.5 s (--timeout)");
    cJSON_Delete(arr);

    /* more requests retrying than --concurrency: a waiting retry keeps its place, so they go
     * one after another and all are recorded (this overran the retry list before) */
    sy_mock_reset(&g_env.mock);
    text = "{\"custom_id\":\"b1\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"busy\",\"messages\":[{\"role\":\"user\",\"content\":\"1\"}]}}\n"
           "{\"custom_id\":\"b2\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"busy\",\"messages\":[{\"role\":\"user\",\"content\":\"2\"}]}}\n"
           "{\"custom_id\":\"b3\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"busy\",\"messages\":[{\"role\":\"user\",\"content\":\"3\"}]}}\n";
    sy_it_write_file(g_env.dir, "busy3.jsonl", text, in, sizeof in);
    path_in(out, sizeof out, "busy3.out.jsonl");
    const char *args_busy[] = {"--url", g_env.gw.base, "--concurrency", "1", "--retries", "1",
                           "--max-wait", "0.05", in, out, NULL};
    CHECK(batch_run(&err, NULL, args_busy) == 1);
    CHECK_CONTAINS(err, "3 of 3 done (0 ok, 3 failed)");
    free(err);
    CHECK(mock_count("status=429&retry_after=0&tag=busy") == 3 * 2 * per);
    arr = read_output("busy3.out.jsonl", &complete);
    CHECK(complete && cJSON_GetArraySize(arr) == 3);
    cJSON_Delete(arr);

    /* a connection reset on every try (the mock as the "gateway", model reset=1) */
    sy_mock_reset(&g_env.mock);
    text = "{\"custom_id\":\"rst\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"mock?reset=1\",\"messages\":[]}}\n";
    sy_it_write_file(g_env.dir, "reset.jsonl", text, in, sizeof in);
    path_in(out, sizeof out, "reset.out.jsonl");
    const char *args2[] = {"--url", g_env.mock.base, "--retries", "1", "--max-wait", "0", in, out, NULL};
    CHECK(batch_run(&err, NULL, args2) == 1);
    CHECK_CONTAINS(err, "failed: connection error: 1");
    free(err);
    CHECK(mock_count("reset=1") == 2);
    arr = read_output("reset.out.jsonl", &complete);
    l = by_id(arr, "rst", &n);
    CHECK(n == 1 && cJSON_IsNull(cJSON_GetObjectItem(l, "response")));
    CHECK_STR(sy_json_str(l, "error.code"), "connection_error");
    CHECK_CONTAINS(sy_json_str(l, "error.message"), "(after 2 attempts)");
    cJSON_Delete(arr);

    /* an answer that is not JSON is kept as a string */
    text = "{\"custom_id\":\"junk\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"mock?garbage=1\",\"messages\":[]}}\n";
    sy_it_write_file(g_env.dir, "junk.jsonl", text, in, sizeof in);
    path_in(out, sizeof out, "junk.out.jsonl");
    const char *args3[] = {"--url", g_env.mock.base, in, out, NULL};
    CHECK(batch_run(&err, NULL, args3) == 0);
    free(err);
    arr = read_output("junk.out.jsonl", &complete);
    l = by_id(arr, "junk", &n);
    CHECK(n == 1 && sy_json_num(l, "response.status_code", 0) == 200);
    CHECK_STR(sy_json_str(l, "response.body"), "this is not json{");
    cJSON_Delete(arr);
}

/* The output can be a device or a pipe (no resume then); a write that fails stops the run
 * with exit 1; an output that cannot be opened is refused before anything is sent. */
TEST(outputs_that_are_not_files)
{
    char *err = NULL, in[700], out[700];
    path_in(in, sizeof in, "url.jsonl");
    sy_mock_reset(&g_env.mock);
    const char *args[] = {"--url", g_env.mock.base, in, "/dev/null", NULL};
    CHECK(batch_run(&err, NULL, args) == 0);
    CHECK_CONTAINS(err, "3 of 3 done (3 ok, 0 failed), 0 skipped");
    free(err);
    const char *full[] = {"--url", g_env.mock.base, in, "/dev/full", NULL};
    CHECK(batch_run(&err, NULL, full) == 1);
    CHECK_CONTAINS(err, "cannot write /dev/full: No space left on device");
    free(err);
    /* --model replaces every body's model */
    sy_mock_reset(&g_env.mock);
    const char *forced[] = {"--url", g_env.mock.base, "--model", "mock?tag=forced", in, "/dev/null", NULL};
    CHECK(batch_run(&err, NULL, forced) == 0);
    free(err);
    CHECK(mock_count("tag=forced") == 3);
    const char *isdir[] = {"--url", g_env.mock.base, in, g_env.dir, NULL};
    CHECK(batch_run(&err, NULL, isdir) == 2);
    CHECK_CONTAINS(err, "Is a directory");
    free(err);
    path_in(out, sizeof out, "no/such/dir/out.jsonl");
    sy_mock_reset(&g_env.mock);
    const char *nodir[] = {"--url", g_env.mock.base, in, out, NULL};
    CHECK(batch_run(&err, NULL, nodir) == 2);
    CHECK_CONTAINS(err, "cannot open");
    CHECK_CONTAINS(err, "No such file or directory");
    free(err);
    CHECK(sy_mock_stat(&g_env.mock, "requests") == 0);
}

/* Bad invocations: a clear message and exit 2 (1 for a broken config or an absent gateway),
 * nothing sent, no output file. */
TEST(bad_invocations)
{
    char *err = NULL, in[700], out[700];
    path_in(in, sizeof in, "url.jsonl");
    path_in(out, sizeof out, "never.jsonl");
    struct {
        const char *args[10];
        int code;
        const char *msg;
    } cases[] = {
        {{"--config", g_cfg, "--url", "http://127.0.0.1:1", in, out}, 2,
         "give either --config FILE or --url URL"},
        {{in, out}, 2, "give either --config FILE or --url URL"},
        {{"--config", g_cfg, in}, 2, "needs an input file and an output file"},
        {{"--config", g_cfg, "--concurrency", "0", in, out}, 2,
         "--concurrency must be a number from 1 to 1024 (got \"0\")"},
        {{"--config", g_cfg, "--priority", "urgent", in, out}, 2,
         "--priority must be low, normal, high or 0..9 (got \"urgent\")"},
        {{"--config", g_cfg, "--bogus", in, out}, 2, "unknown option --bogus"},
        {{"--url", "ftp://x", in, out}, 2, "--url must start with http:// or https://"},
        {{"--config", g_cfg, "/nonexistent/in.jsonl", out}, 2,
         "cannot read /nonexistent/in.jsonl: No such file or directory"},
        {{"--config", "/nonexistent/cfg.lua", in, out}, 1,
         "configuration /nonexistent/cfg.lua has errors"},
        {{"--url", "http://127.0.0.1:1", in, out}, 1, "cannot reach the gateway at http://127.0.0.1:1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unlink(out);
        int code = batch_run(&err, NULL, cases[i].args);
        if (code != cases[i].code) fprintf(stderr, "  case %zu: exit %d\n", i, code);
        CHECK(code == cases[i].code);
        CHECK_CONTAINS(err, cases[i].msg);
        free(err);
    }
    /* an empty input: nothing to do */
    sy_it_write_file(g_env.dir, "empty.jsonl", "\n\n", in, sizeof in);
    const char *args[] = {"--config", g_cfg, in, out, NULL};
    CHECK(batch_run(&err, NULL, args) == 0);
    CHECK_CONTAINS(err, "nothing to send: no requests in");
    free(err);
}

/* On a terminal, a progress bar with done/total, ok/failed, rate, cost and ETA. */
TEST(a_progress_bar_on_a_terminal)
{
    char in[700], out[700], name[100];
    write_input("tty.jsonl", 12, "t", model_echo);
    path_in(in, sizeof in, "tty.jsonl");
    path_in(out, sizeof out, "tty.out.jsonl");
    int master = -1, slave = -1;
    CHECK(openpty(&master, &slave, name, NULL, NULL) == 0);
    if (master < 0) return;
    char *argv[] = {(char *)g_bin, "batch", "--config", g_cfg, "--concurrency", "2", in, out, NULL};
    sy_proc p;
    CHECK(sy_proc_spawn(&p, argv, NULL, 0, name) == 0);
    char buf[16384];
    size_t len = 0;
    fcntl(master, F_SETFL, O_NONBLOCK);
    double until = sy_it_now_ms() + 20000;
    while (sy_it_now_ms() < until) {
        ssize_t n = read(master, buf + len, sizeof buf - 1 - len);
        if (n > 0) len += (size_t)n;
        if (sy_proc_wait(&p, 20)) break;
    }
    ssize_t n;
    while ((n = read(master, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)n;
    buf[len] = '\0';
    CHECK(sy_proc_exit_code(&p) == 0);
    sy_proc_stop(&p, 100);
    CHECK(!sy_it_sanitizer_report(buf));
    CHECK(strchr(buf, '\r') != NULL);
    CHECK_CONTAINS(buf, "[========================] 12/12  ok 12  failed 0  ");
    CHECK_CONTAINS(buf, " req/s  $0.");
    CHECK_CONTAINS(buf, "ETA 0s");
    CHECK_CONTAINS(buf, "12 of 12 done (12 ok, 0 failed)");
    close(master);
    close(slave);
}

int main(int argc, char **argv)
{
    const char *mock;
    if (sy_it_args(argc, argv, &g_bin, &mock) != 0) return 2;
    if (sy_it_env_start(&g_env, g_bin, mock, CFG, FILES) != 0) return 1;
    char *cfg = malloc(strlen(BATCH_CFG) + 32);
    sprintf(cfg, BATCH_CFG, g_env.mock.port);
    sy_it_write_file(g_env.dir, "batch.lua", cfg, g_cfg, sizeof g_cfg);
    free(cfg);
    RUN_SEL(a_batch_run_records_every_request);
    RUN_SEL(a_free_slot_is_filled_at_once);
    RUN_SEL(validation_errors_name_file_line_key_and_send_nothing);
    RUN_SEL(skip_invalid_records_the_bad_lines);
    RUN_SEL(interrupt_then_resume);
    RUN_SEL(a_second_signal_cancels_what_is_in_flight);
    RUN_SEL(the_drain_time_is_bounded);
    RUN_SEL(a_foreign_output_is_refused);
    RUN_SEL(url_mode_goes_through_a_running_gateway);
    RUN_SEL(the_key_goes_in_the_authorization_header);
    RUN_SEL(a_keyed_gateway_takes_the_batch_key);
    RUN_SEL(retries_timeouts_and_lost_connections);
    RUN_SEL(outputs_that_are_not_files);
    RUN_SEL(bad_invocations);
    RUN_SEL(a_progress_bar_on_a_terminal);
    CHECK(sy_it_env_stop(&g_env, NULL) == 0);
    return sy_test_summary();
}
