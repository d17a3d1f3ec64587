/* sy_prov_sim.c — built-in simulated models: answer in-process with no network, on the
 * worker's event loop (timers, never sleeping), streaming included. Latency to the first
 * token is log-normal, fitted to the model's p50/p95; tokens then arrive at a steady pace.
 * Everything random is drawn from a generator seeded by (provider seed, model, request), so
 * the same request to the same model gives the same answer, timing and failures. */
#include "providers/sy_provider.h"
#include "tokens/sy_tokens.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

typedef struct sim_state {
    sy_attempt *a;
    struct event *timer;
    uint64_t rng;
    int ntokens;         /* answer length in tokens */
    int sent;            /* tokens streamed so far */
    int fail_status;     /* 0, or the status this attempt fails with */
    int truncated;       /* hit max_tokens */
    long prompt_tokens;
    double token_gap_ms;
    char id[48];
    long created;
    int json_mode;
    char tool[128];      /* "" or the tool this answer calls (its arguments are in text) */
    sy_buf text;         /* the whole answer */
} sim_state;

static const char *const WORDS[] = {
    "the",     "request", "was",     "routed", "to",      "a",       "simulated", "model",
    "which",   "answers", "quickly", "and",    "cheaply", "with",    "plausible", "text",
    "for",     "testing", "routing", "policies", "without", "network", "access",   "or",
    "keys",    "it",      "reports", "usage",  "tokens",  "latency", "cost",      "savings"};

/* The first tokens of every answer say who answered, so a person trying the quickstart sees
 * the routing at work; the rest are words drawn from WORDS. */
#define INTRO_TOKENS 4

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Log-normal with the given median and 95th percentile. */
static double lognormal(uint64_t *s, double p50, double p95)
{
    if (p50 <= 0) return 0;
    double sigma = p95 > p50 ? (log(p95) - log(p50)) / 1.6448536 : 0;
    double u1 = uniform(s), u2 = uniform(s);
    if (u1 < 1e-12) u1 = 1e-12;
    double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
    return exp(log(p50) + sigma * z);
}

static void sim_free(sim_state *s)
{
    if (!s) return;
    if (s->timer) event_free(s->timer);
    sy_buf_free(&s->text);
    free(s);
}

static void arm(sim_state *s, double ms)
{
    double scaled = ms * s->a->model->provider->time_scale;
    if (scaled < 0) scaled = 0;
    struct timeval tv = {(long)(scaled / 1000), (long)fmod(scaled * 1000, 1000000)};
    evtimer_add(s->timer, &tv);
}

static cJSON *usage(const sim_state *s)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)s->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", s->ntokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)s->prompt_tokens + s->ntokens);
    return u;
}

static cJSON *envelope(const sim_state *s, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)s->created);
    cJSON_AddStringToObject(o, "model", s->a->model->upstream);
    return o;
}

/* The text of token i (with a leading space after the first). */
static void token_text(const sim_state *s, int i, sy_buf *out)
{
    if (i > 0) sy_buf_puts(out, " ");
    if (i < INTRO_TOKENS && i < s->ntokens - 1) {
        const char *intro[INTRO_TOKENS] = {"Simulated", "answer", "from", s->a->model->id};
        sy_buf_puts(out, intro[i]);
        if (i == INTRO_TOKENS - 1) sy_buf_puts(out, ":");
        return;
    }
    /* derive per-token words from the attempt's seed, independent of the stream pace */
    uint64_t r = s->rng ^ (0x5bd1e995ull * (uint64_t)(i + 1));
    sy_buf_puts(out, WORDS[next_u64(&r) % SY_ARRAY_LEN(WORDS)]);
    if (i == s->ntokens - 1 && !s->truncated) sy_buf_puts(out, ".");
}

/* ---- answers shaped by the request's JSON schema ----------------------------------------- */

static const cJSON *first_of(const cJSON *schema, const char *key)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(schema, key);
    return cJSON_IsArray(l) ? cJSON_GetArrayItem(l, 0) : NULL;
}

/* "#/$defs/x" style references inside the schema document */
static const cJSON *deref(const cJSON *root, const cJSON *schema)
{
    for (int hops = 0; hops < 16; hops++) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(schema, "$ref");
        if (!cJSON_IsString(ref) || ref->valuestring[0] != '#') return schema;
        const cJSON *at = root;
        char *copy = strdup(ref->valuestring + 1), *save = NULL;
        for (char *t = copy ? strtok_r(copy, "/", &save) : NULL; t && at; t = strtok_r(NULL, "/", &save))
            at = cJSON_GetObjectItemCaseSensitive(at, t);
        free(copy);
        if (!at) return schema;
        schema = at;
    }
    return schema;
}

/* A plausible instance of schema (the subset small models are asked for: objects, arrays,
 * enums, consts, strings with formats and lengths, numbers with bounds). broken: leave out
 * the first required property of the top object. */
static void gen_value(sim_state *s, const cJSON *root, const cJSON *schema, int depth,
                      int broken, sy_buf *out)
{
    schema = deref(root, schema);
    const cJSON *v, *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (depth > 16 || !cJSON_IsObject(schema)) {
        sy_buf_puts(out, "null");
        return;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(schema, "const")) || (v = first_of(schema, "enum"))) {
        char *t = cJSON_PrintUnformatted(v);
        sy_buf_puts(out, t ? t : "null");
        free(t);
        return;
    }
    if ((v = first_of(schema, "anyOf")) || (v = first_of(schema, "oneOf")) ||
        (v = first_of(schema, "allOf"))) {
        gen_value(s, root, v, depth + 1, 0, out);
        return;
    }
    const char *t = cJSON_IsString(type) ? type->valuestring : NULL;
    if (cJSON_IsArray(type)) { /* the first type that is not "null" */
        cJSON_ArrayForEach(v, type) if (cJSON_IsString(v) && strcmp(v->valuestring, "null") != 0) {
            t = v->valuestring;
            break;
        }
    }
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    if (!t) t = props ? "object" : cJSON_GetObjectItemCaseSensitive(schema, "items") ? "array" : "string";
    if (strcmp(t, "object") == 0) {
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
        const char *skip = broken && cJSON_IsString(cJSON_GetArrayItem(req, 0))
                               ? cJSON_GetArrayItem(req, 0)->valuestring : NULL;
        int n = 0;
        sy_buf_puts(out, "{");
        cJSON_ArrayForEach(v, props)
        {
            if (skip && strcmp(v->string, skip) == 0) continue;
            sy_buf_puts(out, n++ ? "," : "");
            sy_buf_json_str(out, v->string);
            sy_buf_puts(out, ":");
            gen_value(s, root, v, depth + 1, 0, out);
        }
        sy_buf_puts(out, "}");
    } else if (strcmp(t, "array") == 0) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
        const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minItems");
        int n = cJSON_IsNumber(min) && min->valueint > 1 ? min->valueint : 1;
        if (n > 8) n = 8;
        sy_buf_puts(out, "[");
        for (int i = 0; i < n; i++) {
            if (i) sy_buf_puts(out, ",");
            if (cJSON_IsObject(items))
                gen_value(s, root, items, depth + 1, 0, out);
            else
                sy_buf_puts(out, "\"item\"");
        }
        sy_buf_puts(out, "]");
    } else if (strcmp(t, "integer") == 0 || strcmp(t, "number") == 0) {
        const cJSON *lo = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
        const cJSON *xlo = cJSON_GetObjectItemCaseSensitive(schema, "exclusiveMinimum");
        const cJSON *hi = cJSON_GetObjectItemCaseSensitive(schema, "maximum");
        double x = cJSON_IsNumber(lo) ? lo->valuedouble : cJSON_IsNumber(xlo) ? xlo->valuedouble + 1 : 1;
        if (cJSON_IsNumber(hi) && x > hi->valuedouble) x = hi->valuedouble;
        sy_buf_printf(out, t[0] == 'i' ? "%.0f" : "%.17g", t[0] == 'i' ? ceil(x) : x);
    } else if (strcmp(t, "boolean") == 0) {
        sy_buf_puts(out, "true");
    } else if (strcmp(t, "null") == 0) {
        sy_buf_puts(out, "null");
    } else {
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(schema, "format");
        const cJSON *minl = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
        const cJSON *maxl = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
        const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "";
        char word[96];
        if (strcmp(f, "date-time") == 0) snprintf(word, sizeof word, "2026-01-01T12:00:00Z");
        else if (strcmp(f, "date") == 0) snprintf(word, sizeof word, "2026-01-01");
        else if (strcmp(f, "email") == 0) snprintf(word, sizeof word, "user@example.com");
        else if (strcmp(f, "uuid") == 0) snprintf(word, sizeof word, "123e4567-e89b-42d3-a456-426614174000");
        else if (strcmp(f, "uri") == 0) snprintf(word, sizeof word, "https://example.com/");
        else {
            uint64_t r = s->rng ^ (uint64_t)depth * 0x9e37u ^ (uint64_t)out->len;
            snprintf(word, sizeof word, "%s %s", WORDS[next_u64(&r) % SY_ARRAY_LEN(WORDS)],
                     WORDS[next_u64(&r) % SY_ARRAY_LEN(WORDS)]);
        }
        size_t n = strlen(word);
        if (cJSON_IsNumber(minl))
            while (n < (size_t)minl->valueint && n + 1 < sizeof word) word[n++] = 'x';
        word[n] = '\0';
        if (cJSON_IsNumber(maxl) && maxl->valueint >= 0 && (size_t)maxl->valueint < n)
            word[maxl->valueint] = '\0';
        sy_buf_json_str(out, word);
    }
}

/* The structured answer: an instance of the request's schema (json_schema), or a small
 * object (json_object); at the model's configured rates broken, or fenced in Markdown. */
static void build_json(sim_state *s, const char *words)
{
    const sy_chat *c = s->a->chat;
    const sy_sim_cfg *cfg = &s->a->model->sim;
    sy_json_member js, schema;
    cJSON *root = NULL;
    if (sy_json_get(c->text, c->response_format.val_off, c->response_format.val_len, "json_schema",
                    &js) &&
        js.type == 'o' && sy_json_get(c->text, js.val_off, js.val_len, "schema", &schema))
        root = cJSON_ParseWithLength(c->text + schema.val_off, schema.val_len);
    int broken = uniform(&s->rng) < cfg->invalid_json_rate;
    int fenced = !broken && uniform(&s->rng) < cfg->fenced_json_rate;
    sy_buf v;
    sy_buf_init(&v);
    if (root) {
        gen_value(s, root, root, 0, broken, &v);
        /* nothing required to leave out: cut the text instead */
        if (broken && v.len > 2 && (v.data[0] != '{' || !cJSON_GetObjectItemCaseSensitive(root, "required")))
            v.len /= 2;
    } else {
        sy_buf_puts(&v, broken ? "{\"answer\": " : "{\"answer\":");
        sy_buf_json_str(&v, broken ? "" : words);
        if (!broken) {
            sy_buf_puts(&v, ",\"model\":");
            sy_buf_json_str(&v, s->a->model->id);
            sy_buf_puts(&v, "}");
        }
    }
    cJSON_Delete(root);
    if (fenced) sy_buf_puts(&s->text, "Here is the JSON you asked for:\n```json\n");
    sy_buf_append(&s->text, v.data ? v.data : "", v.len);
    if (fenced) sy_buf_puts(&s->text, "\n```\n");
    sy_buf_free(&v);
}

/* Whether (and which) tool the answer calls: tool_choice "required" or a named function
 * always call one; "auto" (or none given) calls one when the conversation ends with the user
 * (a tool's result coming back gets a text answer, as in an agent loop); "none" never. The
 * arguments are an instance of the tool's parameters, broken at invalid_json_rate. */
static void build_tool_call(sim_state *s)
{
    const sy_chat *c = s->a->chat;
    if (c->tools.type != 'a') return;
    cJSON *tools = cJSON_ParseWithLength(c->text + c->tools.val_off, c->tools.val_len);
    cJSON *choice = c->tool_choice.type
                        ? cJSON_ParseWithLength(c->text + c->tool_choice.val_off, c->tool_choice.val_len)
                        : NULL;
    const char *want = NULL;
    int call = 0;
    if (cJSON_IsString(choice)) {
        call = strcmp(choice->valuestring, "required") == 0 ||
               (strcmp(choice->valuestring, "auto") == 0);
    } else if (cJSON_IsObject(choice)) {
        want = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(choice, "function"), "name"));
        call = want != NULL;
    } else {
        call = 1; /* no tool_choice: auto */
    }
    if (call && !(cJSON_IsObject(choice) || (cJSON_IsString(choice) && choice->valuestring[0] == 'r'))) {
        /* auto: only when the last message is the user's */
        sy_json_iter it;
        sy_json_member m, last = {0};
        sy_json_iter_init(&it, c->text, c->messages.val_off, c->messages.val_len);
        while (sy_json_iter_next(&it, &m)) last = m;
        call = last.type && sy_chat_role_is(c, &last, "user");
    }
    /* the named tool, else one at random (drawn only when a call is made, so requests that
     * merely carry tools keep the draws of the rest of the simulation) */
    const cJSON *t, *pick = NULL;
    int n = cJSON_GetArraySize(tools);
    if (call && want) {
        cJSON_ArrayForEach(t, tools)
        {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(t, "function"), "name"));
            if (name && strcmp(name, want) == 0) {
                pick = t;
                break;
            }
        }
    } else if (call && n > 0) {
        pick = cJSON_GetArrayItem(tools, (int)(uniform(&s->rng) * n));
    }
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(pick, "function");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fn, "name"));
    if (call && name) {
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        int broken = uniform(&s->rng) < s->a->model->sim.invalid_json_rate;
        snprintf(s->tool, sizeof s->tool, "%s", name);
        sy_buf_reset(&s->text);
        if (cJSON_IsObject(params))
            gen_value(s, params, params, 0, broken, &s->text);
        else
            sy_buf_puts(&s->text, "{}");
        if (broken && s->text.len > 2 && !cJSON_GetObjectItemCaseSensitive(params, "required")) {
            s->text.len /= 2; /* cut in the middle: not JSON (tool_calls() reads a C string) */
            s->text.data[s->text.len] = '\0';
        }
    }
    cJSON_Delete(tools);
    cJSON_Delete(choice);
}

static void build_text(sim_state *s)
{
    sy_buf words;
    sy_buf_init(&words);
    for (int i = 0; i < s->ntokens; i++) token_text(s, i, &words);
    if (s->json_mode) {
        build_json(s, words.data ? words.data : "");
    } else {
        sy_buf_append(&s->text, words.data ? words.data : "", words.len);
    }
    sy_buf_free(&words);
}

static void finish_fail(sim_state *s)
{
    sy_attempt *a = s->a;
    char msg[64], body[256];
    int status = s->fail_status;
    snprintf(msg, sizeof msg, "HTTP %d", status);
    snprintf(body, sizeof body,
             "{\"error\":{\"message\":\"simulated failure of %s\",\"type\":\"server_error\","
             "\"param\":null,\"code\":null}}",
             a->model->id);
    a->priv = NULL;
    sim_free(s);
    a->ev->on_fail(a, SY_OUT_HTTP, status, msg, body);
}

/* [{index, id, type, function: {name, arguments}}]: whole (non-stream, or with_args), or the
 * stream's first piece (name, empty arguments) */
static cJSON *tool_calls(const sim_state *s, int with_args)
{
    cJSON *arr = cJSON_CreateArray(), *tc = cJSON_CreateObject();
    char id[64];
    snprintf(id, sizeof id, "call_%s", s->id + 13); /* "chatcmpl-sim-" stripped */
    if (s->a->stream) cJSON_AddNumberToObject(tc, "index", 0);
    if (!with_args || !s->a->stream) {
        cJSON_AddStringToObject(tc, "id", id);
        cJSON_AddStringToObject(tc, "type", "function");
    }
    cJSON *fn = cJSON_AddObjectToObject(tc, "function");
    if (!with_args || !s->a->stream) cJSON_AddStringToObject(fn, "name", s->tool);
    cJSON_AddStringToObject(fn, "arguments", with_args && s->text.data ? s->text.data : "");
    cJSON_AddItemToArray(arr, tc);
    return arr;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    sim_state *s = arg;
    sy_attempt *a = s->a;
    (void)fd;
    (void)what;
    if (s->fail_status) {
        finish_fail(s);
        return;
    }
    const char *finish = s->truncated ? "length" : "stop";
    if (!a->stream) {
        cJSON *resp = envelope(s, "chat.completion");
        cJSON *choices = cJSON_AddArrayToObject(resp, "choices");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", 0);
        cJSON *msg = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        if (s->tool[0]) {
            cJSON_AddNullToObject(msg, "content");
            cJSON_AddItemToObject(msg, "tool_calls", tool_calls(s, 1));
            finish = "tool_calls";
        } else {
            cJSON_AddStringToObject(msg, "content", s->text.data ? s->text.data : "");
        }
        cJSON_AddStringToObject(c, "finish_reason", finish);
        cJSON_AddItemToArray(choices, c);
        cJSON_AddItemToObject(resp, "usage", usage(s));
        char *text = cJSON_PrintUnformatted(resp);
        cJSON_Delete(resp);
        sy_answer ans;
        a->priv = NULL;
        sim_free(s);
        if (!text || sy_answer_take(&ans, text, strlen(text)) != 0) {
            free(text);
            a->ev->on_fail(a, SY_OUT_INVALID, 200, "simulated answer could not be built", NULL);
            return;
        }
        a->ev->on_done(a, &ans);
        return;
    }
    /* stream: one token per tick (the JSON-mode answer goes out in one chunk) */
    cJSON *chunk = envelope(s, "chat.completion.chunk");
    cJSON *choices = cJSON_AddArrayToObject(chunk, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *delta = cJSON_AddObjectToObject(c, "delta");
    int last;
    if (s->sent == 0) cJSON_AddStringToObject(delta, "role", "assistant");
    if (s->tool[0]) { /* the call in one chunk, its arguments in the next */
        cJSON_AddItemToObject(delta, "tool_calls", tool_calls(s, s->sent > 0));
        if (s->sent == 0) {
            s->sent = 1;
            cJSON_AddNullToObject(c, "finish_reason");
            cJSON_AddItemToArray(choices, c);
            a->ev->on_chunk(a, chunk);
            arm(s, s->token_gap_ms);
            return;
        }
        s->sent = s->ntokens;
        finish = "tool_calls";
    } else if (s->json_mode) {
        cJSON_AddStringToObject(delta, "content", s->text.data ? s->text.data : "");
        s->sent = s->ntokens;
    } else {
        sy_buf piece;
        sy_buf_init(&piece);
        token_text(s, s->sent, &piece);
        cJSON_AddStringToObject(delta, "content", piece.data ? piece.data : "");
        sy_buf_free(&piece);
        s->sent++;
    }
    last = s->sent >= s->ntokens;
    if (last) {
        cJSON_AddStringToObject(c, "finish_reason", finish);
    } else {
        cJSON_AddNullToObject(c, "finish_reason");
    }
    cJSON_AddItemToArray(choices, c);
    a->ev->on_chunk(a, chunk);
    if (last) { /* the usage in a chunk of its own, with no choices, as OpenAI sends it */
        cJSON *u = envelope(s, "chat.completion.chunk");
        cJSON_AddArrayToObject(u, "choices");
        cJSON_AddItemToObject(u, "usage", usage(s));
        a->ev->on_chunk(a, u);
        a->priv = NULL;
        sim_free(s);
        a->ev->on_done(a, NULL);
        return;
    }
    arm(s, s->token_gap_ms);
}

int sy_prov_sim_start(sy_attempt *a)
{
    const sy_model *m = a->model;
    const sy_sim_cfg *cfg = &m->sim;
    sim_state *s = calloc(1, sizeof *s);
    if (!s) return SY_ENOMEM;
    s->a = a;
    sy_buf_init(&s->text);
    s->timer = evtimer_new(a->env->base, on_timer, s);
    if (!s->timer) goto oom;

    /* seed = f(provider seed, model, messages): deterministic per request */
    const sy_chat *c = a->chat;
    uint64_t seed = sy_hash64(m->id, strlen(m->id), m->provider->seed);
    s->rng = sy_hash64(c->text + c->messages.val_off, c->messages.val_len, seed);
    if (!cfg->deterministic) { /* every attempt draws anew (benchmarks send one body) */
        static _Atomic uint64_t nonce;
        s->rng ^= sy_hash64(&(uint64_t){atomic_fetch_add(&nonce, 1)}, sizeof(uint64_t), seed);
    }

    s->prompt_tokens = sy_tokens_request(c, m->tok_kind);
    s->ntokens = cfg->out_min + (int)(uniform(&s->rng) * (cfg->out_max - cfg->out_min + 1));
    long mt = sy_chat_max_tokens(c);
    if (mt >= 1 && mt < s->ntokens) {
        s->ntokens = (int)mt;
        s->truncated = 1;
    }
    sy_json_member rft;
    s->json_mode = c->response_format.type == 'o' &&
                   sy_json_get(c->text, c->response_format.val_off, c->response_format.val_len,
                               "type", &rft) &&
                   rft.type == 's' && !sy_json_string_eq(c->text, &rft, "text");
    if (uniform(&s->rng) < cfg->failure_rate) s->fail_status = cfg->failure_status;
    uint64_t idr = s->rng;
    snprintf(s->id, sizeof s->id, "chatcmpl-sim-%016llx", (unsigned long long)next_u64(&idr));
    s->created = (long)(sy_wall_ms() / 1000);
    s->token_gap_ms = 1000.0 / cfg->tokens_per_s;
    build_text(s);
    build_tool_call(s);

    double ttft = lognormal(&s->rng, cfg->ttft_p50_ms, cfg->ttft_p95_ms);
    if (cfg->slow_rate > 0 && uniform(&s->rng) < cfg->slow_rate) ttft *= cfg->slow_factor;
    /* a non-streamed answer arrives when the last token would have */
    double delay = a->stream || s->fail_status ? ttft : ttft + s->ntokens * s->token_gap_ms;
    a->priv = s;
    arm(s, delay);
    return SY_OK;
oom:
    sim_free(s);
    return SY_ENOMEM;
}

void sy_prov_sim_cancel(sy_attempt *a)
{
    sim_state *s = a->priv;
    a->priv = NULL;
    sim_free(s);
}
