/* sy_messages.c — the Anthropic Messages dialect at the inbound edge (sy_messages.h). The
 * request is rewritten into the internal shape (a Chat Completions body); policies, the
 * executor and every provider see only that. Answers, stream chunks and errors are rewritten
 * back on their way out. */
#include "engine/sy_messages.h"

#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================ request → chat */

#define BAD(p, ...)                                         \
    do {                                                    \
        snprintf(param, paramlen, "%s", p);                 \
        snprintf(err, errlen, __VA_ARGS__);                 \
        goto fail;                                          \
    } while (0)

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* The text of a system prompt or tool result: a string, or the text of its text blocks. */
static int block_text(const cJSON *v, sy_buf *out)
{
    if (cJSON_IsString(v)) return sy_buf_puts(out, v->valuestring), 0;
    if (!cJSON_IsArray(v)) return -1;
    const cJSON *b;
    cJSON_ArrayForEach(b, v)
    {
        const char *t = str(b, "type");
        if (!t) return -1;
        if (strcmp(t, "text") == 0) {
            const char *tx = str(b, "text");
            if (!tx) return -1;
            if (out->len) sy_buf_puts(out, "\n");
            sy_buf_puts(out, tx);
        }
    }
    return 0;
}

/* An image block's source → an OpenAI image_url part. */
static cJSON *image_part(const cJSON *b)
{
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(b, "source");
    const char *type = str(src, "type");
    sy_buf url;
    sy_buf_init(&url);
    if (type && strcmp(type, "base64") == 0 && str(src, "media_type") && str(src, "data"))
        sy_buf_printf(&url, "data:%s;base64,%s", str(src, "media_type"), str(src, "data"));
    else if (type && strcmp(type, "url") == 0 && str(src, "url"))
        sy_buf_puts(&url, str(src, "url"));
    else
        return NULL;
    cJSON *part = cJSON_CreateObject();
    cJSON_AddStringToObject(part, "type", "image_url");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(part, "image_url"), "url", url.data);
    sy_buf_free(&url);
    return part;
}

/* One Messages message → one or more chat messages appended to msgs. */
static int add_message(cJSON *msgs, const cJSON *m, int i, char *err, size_t errlen, char *param,
                       size_t paramlen)
{
    char p[64];
    const char *role = str(m, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    snprintf(p, sizeof p, "messages.%d.role", i);
    if (!cJSON_IsObject(m)) BAD(p, "messages.%d: must be an object", i);
    if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
        BAD(p, "messages.%d.role: must be \"user\" or \"assistant\"", i);
    int user = role[0] == 'u';
    snprintf(p, sizeof p, "messages.%d.content", i);
    if (cJSON_IsString(content)) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", role);
        cJSON_AddStringToObject(o, "content", content->valuestring);
        cJSON_AddItemToArray(msgs, o);
        return 0;
    }
    if (!cJSON_IsArray(content)) BAD(p, "messages.%d.content: must be a string or a list of content blocks", i);
    cJSON *parts = cJSON_CreateArray(), *calls = cJSON_CreateArray();
    sy_buf text;
    sy_buf_init(&text);
    int images = 0, k = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, content)
    {
        const char *t = str(b, "type");
        snprintf(p, sizeof p, "messages.%d.content.%d.type", i, k);
        if (!t) {
            sy_buf_free(&text);
            cJSON_Delete(parts);
            cJSON_Delete(calls);
            BAD(p, "messages.%d.content.%d: a content block needs a type", i, k);
        }
        if (strcmp(t, "text") == 0 && str(b, "text")) {
            cJSON *part = cJSON_CreateObject();
            cJSON_AddStringToObject(part, "type", "text");
            cJSON_AddStringToObject(part, "text", str(b, "text"));
            cJSON_AddItemToArray(parts, part);
            if (text.len) sy_buf_puts(&text, "\n");
            sy_buf_puts(&text, str(b, "text"));
        } else if (strcmp(t, "image") == 0 && user) {
            cJSON *part = image_part(b);
            if (!part) {
                sy_buf_free(&text);
                cJSON_Delete(parts);
                cJSON_Delete(calls);
                BAD(p, "messages.%d.content.%d.source: an image needs a base64 (media_type, data) "
                       "or url source", i, k);
            }
            cJSON_AddItemToArray(parts, part);
            images++;
        } else if (strcmp(t, "tool_use") == 0 && !user && str(b, "id") && str(b, "name")) {
            const cJSON *input = cJSON_GetObjectItemCaseSensitive(b, "input");
            char *args = input ? cJSON_PrintUnformatted(input) : NULL;
            cJSON *call = cJSON_CreateObject();
            cJSON_AddStringToObject(call, "id", str(b, "id"));
            cJSON_AddStringToObject(call, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(fn, "name", str(b, "name"));
            cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
            free(args);
            cJSON_AddItemToArray(calls, call);
        } else if (strcmp(t, "tool_result") == 0 && user && str(b, "tool_use_id")) {
            /* each result is a tool message, right after the assistant turn that called it */
            sy_buf rt;
            sy_buf_init(&rt);
            const cJSON *rc = cJSON_GetObjectItemCaseSensitive(b, "content");
            if (rc && block_text(rc, &rt) != 0) {
                sy_buf_free(&rt);
                sy_buf_free(&text);
                cJSON_Delete(parts);
                cJSON_Delete(calls);
                BAD(p, "messages.%d.content.%d.content: a tool result is a string or text blocks", i, k);
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "role", "tool");
            cJSON_AddStringToObject(o, "tool_call_id", str(b, "tool_use_id"));
            cJSON_AddStringToObject(o, "content", rt.data ? rt.data : "");
            cJSON_AddItemToArray(msgs, o);
            sy_buf_free(&rt);
        } else if (strcmp(t, "thinking") == 0 || strcmp(t, "redacted_thinking") == 0) {
            /* a model's own reasoning from an earlier turn: not part of the conversation */
        } else {
            sy_buf_free(&text);
            cJSON_Delete(parts);
            cJSON_Delete(calls);
            BAD(p, "messages.%d.content.%d.type: \"%s\" blocks are not supported in a%s message", i,
                k, t, user ? " user" : "n assistant");
        }
        k++;
    }
    int nparts = cJSON_GetArraySize(parts), ncalls = cJSON_GetArraySize(calls);
    if (nparts || ncalls) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", role);
        if (images)
            cJSON_AddItemToObject(o, "content", parts), parts = NULL;
        else if (nparts)
            cJSON_AddStringToObject(o, "content", text.data ? text.data : "");
        else
            cJSON_AddNullToObject(o, "content");
        if (ncalls) cJSON_AddItemToObject(o, "tool_calls", calls), calls = NULL;
        cJSON_AddItemToArray(msgs, o);
    }
    sy_buf_free(&text);
    cJSON_Delete(parts);
    cJSON_Delete(calls);
    return 0;
fail:
    return -1;
}

int sy_msg_request_to_chat(const char *body, size_t len, sy_buf *out, char *err, size_t errlen,
                           char *param, size_t paramlen)
{
    cJSON *in = cJSON_ParseWithLength(body, len), *o = NULL;
    err[0] = param[0] = '\0';
    if (!cJSON_IsObject(in)) BAD("", "the body must be a JSON object (a Messages API request)");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(in, "model");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(in, "max_tokens");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(in, "messages");
    if (!cJSON_IsString(model) || !model->valuestring[0]) BAD("model", "model: Field required (a string)");
    if (!max) BAD("max_tokens", "max_tokens: Field required");
    if (!cJSON_IsNumber(max) || !(max->valuedouble >= 1 && max->valuedouble <= 1e9) ||
        max->valuedouble != floor(max->valuedouble))
        BAD("max_tokens", "max_tokens: must be a whole number of at least 1 and at most 1000000000");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        BAD("messages", "messages: Field required (a non-empty list)");
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model->valuestring);
    cJSON *out_msgs = cJSON_AddArrayToObject(o, "messages");
    const cJSON *system = cJSON_GetObjectItemCaseSensitive(in, "system");
    if (system) {
        sy_buf s;
        sy_buf_init(&s);
        if (block_text(system, &s) != 0) {
            sy_buf_free(&s);
            BAD("system", "system: must be a string or a list of text blocks");
        }
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "system");
        cJSON_AddStringToObject(m, "content", s.data ? s.data : "");
        cJSON_AddItemToArray(out_msgs, m);
        sy_buf_free(&s);
    }
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        if (add_message(out_msgs, m, i++, err, errlen, param, paramlen) != 0) goto fail;
    }
    cJSON_AddNumberToObject(o, "max_tokens", max->valuedouble);
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(in, "stop_sequences");
    if (stop) {
        if (!cJSON_IsArray(stop)) BAD("stop_sequences", "stop_sequences: must be a list of strings");
        cJSON_AddItemToObject(o, "stop", cJSON_Duplicate(stop, 1));
    }
    static const char *const nums[] = {"temperature", "top_p"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, nums[k]);
        if (!v) continue;
        if (!cJSON_IsNumber(v)) BAD(nums[k], "%s: must be a number", nums[k]);
        cJSON_AddNumberToObject(o, nums[k], v->valuedouble);
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(in, "stream");
    if (cJSON_IsTrue(stream)) {
        cJSON_AddTrueToObject(o, "stream");
        /* message_delta carries the usage: ask for it */
        cJSON_AddTrueToObject(cJSON_AddObjectToObject(o, "stream_options"), "include_usage");
    }
    const char *user = str(cJSON_GetObjectItemCaseSensitive(in, "metadata"), "user_id");
    if (user) cJSON_AddStringToObject(o, "user", user);
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(in, "tools"), *t;
    if (tools) {
        if (!cJSON_IsArray(tools)) BAD("tools", "tools: must be a list");
        cJSON *ot = cJSON_AddArrayToObject(o, "tools");
        int k = 0;
        cJSON_ArrayForEach(t, tools)
        {
            char p[48];
            snprintf(p, sizeof p, "tools.%d", k);
            const char *type = str(t, "type");
            if (!str(t, "name") || (type && strcmp(type, "custom") != 0))
                BAD(p, "tools.%d: only client tools with a name and an input_schema are supported%s%s%s",
                    k, type ? " (got type " : "", type ? type : "", type ? ")" : "");
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(f, "function");
            cJSON_AddStringToObject(fn, "name", str(t, "name"));
            if (str(t, "description")) cJSON_AddStringToObject(fn, "description", str(t, "description"));
            const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "input_schema");
            cJSON_AddItemToObject(fn, "parameters",
                                  schema ? cJSON_Duplicate(schema, 1) : cJSON_CreateObject());
            cJSON_AddItemToArray(ot, f);
            k++;
        }
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(in, "tool_choice");
    if (tc) {
        const char *type = str(tc, "type");
        if (!type) BAD("tool_choice", "tool_choice: must be an object with a type");
        if (strcmp(type, "auto") == 0)
            cJSON_AddStringToObject(o, "tool_choice", "auto");
        else if (strcmp(type, "any") == 0)
            cJSON_AddStringToObject(o, "tool_choice", "required");
        else if (strcmp(type, "none") == 0)
            cJSON_AddStringToObject(o, "tool_choice", "none");
        else if (strcmp(type, "tool") == 0 && str(tc, "name")) {
            cJSON *c = cJSON_AddObjectToObject(o, "tool_choice");
            cJSON_AddStringToObject(c, "type", "function");
            cJSON_AddStringToObject(cJSON_AddObjectToObject(c, "function"), "name", str(tc, "name"));
        } else
            BAD("tool_choice", "tool_choice: type must be auto, any, tool (with a name) or none");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tc, "disable_parallel_tool_use")))
            cJSON_AddFalseToObject(o, "parallel_tool_calls");
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    cJSON_Delete(in);
    if (!txt) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sy_buf_reset(out);
    sy_buf_puts(out, txt);
    free(txt);
    return 0;
fail:
    cJSON_Delete(o);
    cJSON_Delete(in);
    return -1;
}

/* ============================================================ answers and errors */

const char *sy_msg_stop_reason(const char *fr)
{
    if (!fr) return NULL;
    if (strcmp(fr, "length") == 0) return "max_tokens";
    if (strcmp(fr, "tool_calls") == 0 || strcmp(fr, "function_call") == 0) return "tool_use";
    if (strcmp(fr, "content_filter") == 0) return "refusal";
    return "end_turn";
}

const char *sy_msg_error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

static void msg_id(sy_buf *out, const char *id)
{
    sy_buf_puts(out, "\"id\":");
    char tmp[128];
    snprintf(tmp, sizeof tmp, "msg_%s", id && *id ? id : "switchyard");
    sy_buf_json_str(out, tmp);
}

int sy_msg_answer_from_chat(const char *json, size_t len, const char *model, sy_buf *out)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c0, "message");
    if (!cJSON_IsObject(msg)) {
        cJSON_Delete(root);
        return -1;
    }
    sy_buf_reset(out);
    sy_buf_puts(out, "{");
    msg_id(out, str(root, "id"));
    sy_buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    sy_buf_json_str(out, model);
    sy_buf_puts(out, ",\"content\":[");
    int n = 0;
    const char *text = str(msg, "content");
    if (text && *text) {
        sy_buf_puts(out, "{\"type\":\"text\",\"text\":");
        sy_buf_json_str(out, text);
        sy_buf_puts(out, "}");
        n++;
    }
    const cJSON *call;
    cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"))
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        const char *args = str(fn, "arguments");
        cJSON *input = args ? cJSON_Parse(args) : NULL;
        if (!cJSON_IsObject(input)) { /* Anthropic's input is an object: keep what came */
            cJSON_Delete(input);
            input = cJSON_CreateObject();
            if (args && *args) cJSON_AddStringToObject(input, "_raw_arguments", args);
        }
        char *in = cJSON_PrintUnformatted(input);
        cJSON_Delete(input);
        sy_buf_puts(out, n++ ? ",{\"type\":\"tool_use\",\"id\":" : "{\"type\":\"tool_use\",\"id\":");
        sy_buf_json_str(out, str(call, "id") ? str(call, "id") : "toolu_switchyard");
        sy_buf_puts(out, ",\"name\":");
        sy_buf_json_str(out, str(fn, "name") ? str(fn, "name") : "");
        sy_buf_printf(out, ",\"input\":%s}", in ? in : "{}");
        free(in);
    }
    const char *stop = sy_msg_stop_reason(str(c0, "finish_reason"));
    sy_buf_puts(out, "],\"stop_reason\":");
    if (stop)
        sy_buf_json_str(out, stop);
    else
        sy_buf_puts(out, "null");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "usage");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
    sy_buf_printf(out, ",\"stop_sequence\":null,\"usage\":{\"input_tokens\":%.0f,\"output_tokens\":%.0f}}",
                  cJSON_IsNumber(pt) ? pt->valuedouble : 0, cJSON_IsNumber(ct) ? ct->valuedouble : 0);
    cJSON_Delete(root);
    return 0;
}

void sy_msg_error_body(int status, const char *json, size_t len, sy_buf *out)
{
    cJSON *root = json ? cJSON_ParseWithLength(json, len) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const char *message = str(e, "message");
    sy_buf_reset(out);
    sy_buf_printf(out, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
                  sy_msg_error_type(status));
    if (message)
        sy_buf_json_str(out, message);
    else {
        sy_buf raw;
        sy_buf_init(&raw);
        sy_buf_append(&raw, json ? json : "", json ? len : 0);
        sy_buf_json_str(out, raw.data ? raw.data : "error");
        sy_buf_free(&raw);
    }
    /* switchyard's own details stay beside Anthropic's two fields */
    static const char *const keep[] = {"code", "param", "attempts", "prompt_tokens", "output_tokens",
                                       "context_window", "largest_model", "tokens_estimated"};
    for (size_t k = 0; e && k < sizeof keep / sizeof keep[0]; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, keep[k]);
        if (!v || cJSON_IsNull(v)) continue;
        char *t = cJSON_PrintUnformatted(v);
        if (t) sy_buf_printf(out, ",\"%s\":%s", keep[k], t);
        free(t);
    }
    sy_buf_puts(out, "}}");
    cJSON_Delete(root);
}

/* ============================================================ streams */

void sy_msg_stream_init(sy_msg_stream *s, const char *id, const char *model, long input_tokens)
{
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "msg_%s", id && *id ? id : "switchyard");
    snprintf(s->model, sizeof s->model, "%s", model);
    s->input_tokens = input_tokens;
    s->usage_in = s->usage_out = -1;
    s->block = -1;
    s->tool = -1;
}

static void event(sy_buf *out, const char *name, const char *data_fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void event(sy_buf *out, const char *name, const char *data_fmt, ...)
{
    va_list ap;
    sy_buf_printf(out, "event: %s\ndata: ", name);
    va_start(ap, data_fmt);
    sy_buf_vprintf(out, data_fmt, ap);
    va_end(ap);
    sy_buf_puts(out, "\n\n");
}

static void start(sy_msg_stream *s, sy_buf *out)
{
    if (s->started) return;
    s->started = 1;
    sy_buf_printf(out, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":");
    sy_buf_json_str(out, s->id);
    sy_buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    sy_buf_json_str(out, s->model);
    sy_buf_printf(out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":"
                       "{\"input_tokens\":%ld,\"output_tokens\":1}}}\n\n",
                  s->input_tokens > 0 ? s->input_tokens : 0);
}

static void close_block(sy_msg_stream *s, sy_buf *out)
{
    if (s->block < 0) return;
    event(out, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":%d}", s->block);
    s->block = -1;
}

void sy_msg_stream_chunk(sy_msg_stream *s, const cJSON *chunk, sy_buf *out)
{
    start(s, out);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(chunk, "choices"), 0);
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(c0, "delta");
    const char *text = str(delta, "content");
    if (text && *text) {
        if (s->block < 0 || s->block_tool) {
            close_block(s, out);
            s->block = s->nblocks++;
            s->block_tool = 0;
            event(out, "content_block_start",
                  "{\"type\":\"content_block_start\",\"index\":%d,\"content_block\":{\"type\":\"text\","
                  "\"text\":\"\"}}",
                  s->block);
        }
        sy_buf_printf(out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                           "\"index\":%d,\"delta\":{\"type\":\"text_delta\",\"text\":",
                      s->block);
        sy_buf_json_str(out, text);
        sy_buf_puts(out, "}}\n\n");
        s->out_chars += (long)strlen(text);
    }
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(delta, "tool_calls"))
    {
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(tc, "index");
        int idx = cJSON_IsNumber(ix) ? ix->valueint : 0;
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        if (!s->block_tool || s->block < 0 || idx != s->tool) { /* a new tool call */
            close_block(s, out);
            s->block = s->nblocks++;
            s->block_tool = 1;
            s->tool = idx;
            sy_buf_printf(out, "event: content_block_start\ndata: {\"type\":\"content_block_start\","
                               "\"index\":%d,\"content_block\":{\"type\":\"tool_use\",\"id\":",
                          s->block);
            sy_buf_json_str(out, str(tc, "id") ? str(tc, "id") : "toolu_switchyard");
            sy_buf_puts(out, ",\"name\":");
            sy_buf_json_str(out, str(fn, "name") ? str(fn, "name") : "");
            sy_buf_puts(out, ",\"input\":{}}}\n\n");
        }
        const char *args = str(fn, "arguments");
        if (args && *args) {
            sy_buf_printf(out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                               "\"index\":%d,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":",
                          s->block);
            sy_buf_json_str(out, args);
            sy_buf_puts(out, "}}\n\n");
        }
    }
    const char *fr = str(c0, "finish_reason");
    if (fr) snprintf(s->stop_reason, sizeof s->stop_reason, "%s", sy_msg_stop_reason(fr));
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
    if (cJSON_IsNumber(pt)) s->usage_in = (long)pt->valuedouble;
    if (cJSON_IsNumber(ct)) s->usage_out = (long)ct->valuedouble;
}

void sy_msg_stream_end(sy_msg_stream *s, sy_buf *out)
{
    start(s, out);
    close_block(s, out);
    long in = s->usage_in >= 0 ? s->usage_in : s->input_tokens > 0 ? s->input_tokens : 0;
    long outk = s->usage_out >= 0 ? s->usage_out : (s->out_chars + 3) / 4;
    event(out, "message_delta",
          "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":null},"
          "\"usage\":{\"input_tokens\":%ld,\"output_tokens\":%ld}}",
          s->stop_reason[0] ? s->stop_reason : "end_turn", in, outk);
    event(out, "message_stop", "{\"type\":\"message_stop\"}");
}

void sy_msg_stream_error(sy_msg_stream *s, int status, const char *message, sy_buf *out)
{
    (void)s;
    sy_buf_printf(out, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
                  sy_msg_error_type(status));
    sy_buf_json_str(out, message);
    sy_buf_puts(out, "}}\n\n");
}
