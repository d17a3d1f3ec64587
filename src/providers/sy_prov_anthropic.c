/* sy_prov_anthropic.c — adapter for the Anthropic Messages API (POST {base_url}/messages):
 * the engine's Chat Completions request is translated into a Messages body, answers and SSE
 * events back into chat.completion / chat.completion.chunk objects. The translations are pure
 * functions (sy_prov_anthropic.h, tested by tests/c/test_anthropic.c); the transport is
 * sy_prov_http.c. The key goes into the x-api-key header only; it is never logged or echoed. */
#include "providers/sy_prov_anthropic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "providers/sy_prov_http.h"

/* ============================================================ helpers */

static void set_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    if (!err || !n) return;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Appends the text of a content value: a string, or the text parts of an array. */
static void content_text(const cJSON *content, sy_buf *out)
{
    if (cJSON_IsString(content)) {
        sy_buf_puts(out, content->valuestring);
        return;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const char *type = get_str(part, "type"), *text = get_str(part, "text");
        if (type && strcmp(type, "text") == 0 && text) sy_buf_puts(out, text);
    }
}

/* ============================================================ request */

static int add_text_block(cJSON *blocks, const char *text)
{
    if (!text || !*text) return SY_OK; /* Anthropic refuses empty text blocks */
    cJSON *b = cJSON_CreateObject();
    if (!b || !cJSON_AddStringToObject(b, "type", "text") || !cJSON_AddStringToObject(b, "text", text) ||
        !cJSON_AddItemToArray(blocks, b)) {
        cJSON_Delete(b);
        return SY_ENOMEM;
    }
    return SY_OK;
}

/* An image_url part → an image block: a base64 data: URL or an http(s) URL. */
static int add_image_block(cJSON *blocks, const cJSON *part, int mi, char *err, size_t errn)
{
    const cJSON *iu = get(part, "image_url");
    const char *url = cJSON_IsString(iu) ? iu->valuestring : get_str(iu, "url");
    if (!url) {
        set_err(err, errn, "messages[%d]: an image_url part needs a url", mi);
        return SY_EINVAL;
    }
    cJSON *b = cJSON_CreateObject(), *src = cJSON_CreateObject();
    int rc = SY_ENOMEM;
    if (!b || !src) goto fail;
    cJSON_AddStringToObject(b, "type", "image");
    if (has_prefix(url, "data:")) {
        /* data:<media type>;base64,<data> */
        const char *semi = strchr(url + 5, ';'), *comma = strchr(url + 5, ',');
        if (!semi || !comma || semi > comma || strncmp(semi, ";base64,", 8) != 0 || semi == url + 5) {
            set_err(err, errn, "messages[%d]: an image data URL must be data:<media type>;base64,...",
                    mi);
            rc = SY_EINVAL;
            goto fail;
        }
        char media[96];
        size_t ml = (size_t)(semi - (url + 5));
        if (ml >= sizeof media) {
            set_err(err, errn, "messages[%d]: the image's media type is too long", mi);
            rc = SY_EINVAL;
            goto fail;
        }
        memcpy(media, url + 5, ml);
        media[ml] = '\0';
        cJSON_AddStringToObject(src, "type", "base64");
        cJSON_AddStringToObject(src, "media_type", media);
        if (!cJSON_AddStringToObject(src, "data", comma + 1)) goto fail;
    } else if (has_prefix(url, "http://") || has_prefix(url, "https://")) {
        cJSON_AddStringToObject(src, "type", "url");
        if (!cJSON_AddStringToObject(src, "url", url)) goto fail;
    } else {
        set_err(err, errn, "messages[%d]: an image url must be a data: URL or http(s)", mi);
        rc = SY_EINVAL;
        goto fail;
    }
    cJSON_AddItemToObject(b, "source", src);
    src = NULL;
    if (!cJSON_AddItemToArray(blocks, b)) goto fail;
    return SY_OK;
fail:
    cJSON_Delete(src);
    cJSON_Delete(b);
    return rc;
}

/* A user or assistant message's content → text and image blocks. */
static int add_content(cJSON *blocks, const cJSON *content, int mi, char *err, size_t errn)
{
    if (!content || cJSON_IsNull(content)) return SY_OK;
    if (cJSON_IsString(content)) return add_text_block(blocks, content->valuestring);
    if (!cJSON_IsArray(content)) {
        set_err(err, errn, "messages[%d].content must be a string or an array of parts", mi);
        return SY_EINVAL;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const char *type = get_str(part, "type");
        int rc;
        if (type && strcmp(type, "text") == 0)
            rc = add_text_block(blocks, get_str(part, "text"));
        else if (type && strcmp(type, "image_url") == 0)
            rc = add_image_block(blocks, part, mi, err, errn);
        else if (type && strcmp(type, "refusal") == 0)
            rc = add_text_block(blocks, get_str(part, "refusal"));
        else {
            set_err(err, errn, "messages[%d]: content part type \"%s\" is not supported by an "
                    "anthropic provider", mi, type ? type : "(none)");
            rc = SY_EINVAL;
        }
        if (rc != SY_OK) return rc;
    }
    return SY_OK;
}

/* An assistant's tool_calls → tool_use blocks; arguments must be a JSON object. */
static int add_tool_uses(cJSON *blocks, const cJSON *calls, int mi, char *err, size_t errn)
{
    const cJSON *tc;
    int ti = 0;
    cJSON_ArrayForEach(tc, calls)
    {
        const cJSON *fn = get(tc, "function");
        const char *id = get_str(tc, "id"), *name = get_str(fn, "name");
        const char *args = get_str(fn, "arguments");
        if (!id || !name) {
            set_err(err, errn, "messages[%d].tool_calls[%d] needs an id and a function name", mi, ti);
            return SY_EINVAL;
        }
        cJSON *input = (!args || !*args) ? cJSON_CreateObject() : cJSON_Parse(args);
        if (!cJSON_IsObject(input)) {
            cJSON_Delete(input);
            set_err(err, errn, "messages[%d].tool_calls[%d].function.arguments is not a JSON object",
                    mi, ti);
            return SY_EINVAL;
        }
        cJSON *b = cJSON_CreateObject();
        if (!b || !cJSON_AddStringToObject(b, "type", "tool_use") ||
            !cJSON_AddStringToObject(b, "id", id) || !cJSON_AddStringToObject(b, "name", name)) {
            cJSON_Delete(b);
            cJSON_Delete(input);
            return SY_ENOMEM;
        }
        cJSON_AddItemToObject(b, "input", input);
        cJSON_AddItemToArray(blocks, b);
        ti++;
    }
    return SY_OK;
}

/* A tool message → a tool_result block. */
static int add_tool_result(cJSON *blocks, const cJSON *msg, int mi, char *err, size_t errn)
{
    const char *id = get_str(msg, "tool_call_id");
    if (!id) {
        set_err(err, errn, "messages[%d]: a tool message needs a tool_call_id", mi);
        return SY_EINVAL;
    }
    sy_buf text;
    sy_buf_init(&text);
    content_text(get(msg, "content"), &text);
    cJSON *b = cJSON_CreateObject();
    int ok = b && cJSON_AddStringToObject(b, "type", "tool_result") &&
             cJSON_AddStringToObject(b, "tool_use_id", id) &&
             (!text.len || cJSON_AddStringToObject(b, "content", text.data));
    sy_buf_free(&text);
    if (!ok) {
        cJSON_Delete(b);
        return SY_ENOMEM;
    }
    cJSON_AddItemToArray(blocks, b);
    return SY_OK;
}

/* messages → Anthropic messages (alternating roles: neighbours of one role are merged) with
 * system and developer messages joined into sys. */
static int translate_messages(const cJSON *msgs, cJSON *out, sy_buf *sys, char *err, size_t errn)
{
    const cJSON *m;
    cJSON *last = NULL;
    const char *last_role = NULL;
    int mi = 0, rc = SY_OK;
    if (!cJSON_IsArray(msgs)) {
        set_err(err, errn, "messages must be an array");
        return SY_EINVAL;
    }
    cJSON_ArrayForEach(m, msgs)
    {
        const char *role = get_str(m, "role");
        const char *arole;
        if (!role) {
            set_err(err, errn, "messages[%d] has no role", mi);
            return SY_EINVAL;
        }
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            size_t before = sys->len;
            if (sys->len) sy_buf_puts(sys, "\n\n");
            size_t mark = sys->len;
            content_text(get(m, "content"), sys);
            if (sys->len == mark) { /* nothing added: no separator either */
                sys->len = before;
                if (sys->data) sys->data[before] = '\0';
            }
            mi++;
            continue;
        }
        cJSON *blocks = cJSON_CreateArray();
        if (!blocks) return SY_ENOMEM;
        if (strcmp(role, "user") == 0) {
            arole = "user";
            rc = add_content(blocks, get(m, "content"), mi, err, errn);
        } else if (strcmp(role, "assistant") == 0) {
            arole = "assistant";
            rc = add_content(blocks, get(m, "content"), mi, err, errn);
            if (rc == SY_OK) rc = add_tool_uses(blocks, get(m, "tool_calls"), mi, err, errn);
        } else if (strcmp(role, "tool") == 0) {
            arole = "user";
            rc = add_tool_result(blocks, m, mi, err, errn);
        } else {
            set_err(err, errn, "messages[%d]: role \"%s\" is not supported by an anthropic provider",
                    mi, role);
            rc = SY_EINVAL;
        }
        if (rc != SY_OK || cJSON_GetArraySize(blocks) == 0) {
            cJSON_Delete(blocks);
            if (rc != SY_OK) return rc;
            mi++;
            continue;
        }
        if (last && strcmp(last_role, arole) == 0) {
            cJSON *into = cJSON_GetObjectItemCaseSensitive(last, "content");
            while (blocks->child) cJSON_AddItemToArray(into, cJSON_DetachItemViaPointer(blocks, blocks->child));
            cJSON_Delete(blocks);
        } else {
            cJSON *am = cJSON_CreateObject();
            if (!am || !cJSON_AddStringToObject(am, "role", arole)) {
                cJSON_Delete(am);
                cJSON_Delete(blocks);
                return SY_ENOMEM;
            }
            cJSON_AddItemToObject(am, "content", blocks);
            cJSON_AddItemToArray(out, am);
            last = am;
            last_role = arole;
        }
        mi++;
    }
    return SY_OK;
}

/* tools (type function) → {name, description, input_schema}. */
static int translate_tools(const cJSON *tools, cJSON *root)
{
    const cJSON *t;
    cJSON *out = NULL;
    cJSON_ArrayForEach(t, tools)
    {
        const char *type = get_str(t, "type");
        const cJSON *fn = get(t, "function");
        const char *name = get_str(fn, "name"), *desc = get_str(fn, "description");
        if (!type || strcmp(type, "function") != 0 || !name) continue;
        if (!out && !(out = cJSON_AddArrayToObject(root, "tools"))) return SY_ENOMEM;
        cJSON *o = cJSON_CreateObject();
        if (!o) return SY_ENOMEM;
        cJSON_AddItemToArray(out, o);
        cJSON_AddStringToObject(o, "name", name);
        if (desc) cJSON_AddStringToObject(o, "description", desc);
        const cJSON *params = get(fn, "parameters");
        cJSON *schema = cJSON_IsObject(params)
                            ? cJSON_Duplicate(params, 1)
                            : cJSON_Parse("{\"type\":\"object\",\"properties\":{}}");
        if (!schema) return SY_ENOMEM;
        cJSON_AddItemToObject(o, "input_schema", schema);
    }
    return SY_OK;
}

/* tool_choice and parallel_tool_calls → Anthropic's tool_choice (only with tools). */
static int translate_tool_choice(const cJSON *req, cJSON *root)
{
    const cJSON *tc = get(req, "tool_choice"), *ptc = get(req, "parallel_tool_calls");
    cJSON *out = NULL;
    if (cJSON_IsString(tc)) {
        const char *v = tc->valuestring;
        const char *type = strcmp(v, "required") == 0 ? "any"
                           : strcmp(v, "none") == 0   ? "none"
                           : strcmp(v, "auto") == 0   ? "auto"
                                                      : NULL;
        if (type && !(out = cJSON_CreateObject())) return SY_ENOMEM;
        if (out) cJSON_AddStringToObject(out, "type", type);
    } else if (cJSON_IsObject(tc)) {
        const char *name = get_str(get(tc, "function"), "name");
        if (name) {
            if (!(out = cJSON_CreateObject())) return SY_ENOMEM;
            cJSON_AddStringToObject(out, "type", "tool");
            cJSON_AddStringToObject(out, "name", name);
        }
    }
    if (cJSON_IsFalse(ptc)) {
        if (!out && (out = cJSON_CreateObject())) cJSON_AddStringToObject(out, "type", "auto");
        if (!out) return SY_ENOMEM;
        if (strcmp(get_str(out, "type"), "none") != 0)
            cJSON_AddBoolToObject(out, "disable_parallel_tool_use", 1);
    }
    if (out) cJSON_AddItemToObject(root, "tool_choice", out);
    return SY_OK;
}

/* response_format json_object / json_schema → an instruction appended to the system prompt
 * (the engine checks the answer against the schema anyway). */
static int response_format_note(const cJSON *rf, sy_buf *sys)
{
    const char *type = get_str(rf, "type");
    if (!type) return SY_OK;
    if (strcmp(type, "json_object") == 0) {
        if (sys->len) sy_buf_puts(sys, "\n\n");
        sy_buf_puts(sys, "Respond with only a JSON object, without Markdown fences or any other text.");
    } else if (strcmp(type, "json_schema") == 0) {
        const cJSON *schema = get(get(rf, "json_schema"), "schema");
        char *s = schema ? cJSON_PrintUnformatted(schema) : NULL;
        if (sys->len) sy_buf_puts(sys, "\n\n");
        if (s) {
            sy_buf_puts(sys, "Respond with only JSON that matches this JSON schema, without Markdown "
                             "fences or any other text:\n");
            sy_buf_puts(sys, s);
        } else {
            sy_buf_puts(sys, "Respond with only JSON, without Markdown fences or any other text.");
        }
        free(s);
    }
    return SY_OK;
}

static long positive(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 1 ? (long)v->valuedouble : 0;
}

int sy_anth_request(const char *chat, size_t len, const char *model, long max_output,
                    int stream, sy_buf *out, char *err, size_t errn)
{
    cJSON *req = cJSON_ParseWithLength(chat, len), *root = cJSON_CreateObject(), *msgs = NULL;
    sy_buf sys;
    char *text = NULL;
    int rc = SY_ENOMEM;
    sy_buf_init(&sys);
    if (!cJSON_IsObject(req)) {
        set_err(err, errn, "the request is not a JSON object");
        rc = SY_EINVAL;
        goto done;
    }
    if (!root || !cJSON_AddStringToObject(root, "model", model)) goto done;
    msgs = cJSON_CreateArray();
    if (!msgs) goto done;
    rc = translate_messages(get(req, "messages"), msgs, &sys, err, errn);
    if (rc != SY_OK) goto done;
    rc = SY_ENOMEM;
    response_format_note(get(req, "response_format"), &sys);
    if (sys.len && !cJSON_AddStringToObject(root, "system", sys.data)) goto done;
    cJSON_AddItemToObject(root, "messages", msgs);
    msgs = NULL;

    long mt = positive(get(req, "max_completion_tokens"));
    if (!mt) mt = positive(get(req, "max_tokens"));
    if (!mt) mt = max_output > 0 ? max_output : SY_ANTH_DEFAULT_MAX_TOKENS;
    cJSON_AddNumberToObject(root, "max_tokens", (double)mt);

    const cJSON *stop = get(req, "stop");
    if (cJSON_IsString(stop) || cJSON_IsArray(stop)) {
        cJSON *seqs = cJSON_CreateArray();
        if (!seqs) goto done;
        if (cJSON_IsString(stop)) {
            if (*stop->valuestring) cJSON_AddItemToArray(seqs, cJSON_CreateString(stop->valuestring));
        } else {
            const cJSON *s;
            cJSON_ArrayForEach(s, stop) if (cJSON_IsString(s) && *s->valuestring)
                cJSON_AddItemToArray(seqs, cJSON_CreateString(s->valuestring));
        }
        if (cJSON_GetArraySize(seqs))
            cJSON_AddItemToObject(root, "stop_sequences", seqs);
        else
            cJSON_Delete(seqs);
    }
    const cJSON *t = get(req, "temperature");
    if (cJSON_IsNumber(t)) /* Anthropic takes 0..1, OpenAI 0..2 */
        cJSON_AddNumberToObject(root, "temperature",
                                t->valuedouble < 0 ? 0 : t->valuedouble > 1 ? 1 : t->valuedouble);
    const cJSON *tp = get(req, "top_p");
    if (cJSON_IsNumber(tp)) cJSON_AddNumberToObject(root, "top_p", tp->valuedouble);
    if (translate_tools(get(req, "tools"), root) != SY_OK) goto done;
    if (get(root, "tools") && translate_tool_choice(req, root) != SY_OK) goto done;
    const char *user = get_str(req, "user");
    if (user) {
        cJSON *md = cJSON_AddObjectToObject(root, "metadata");
        if (!md || !cJSON_AddStringToObject(md, "user_id", user)) goto done;
    }
    if (stream) cJSON_AddBoolToObject(root, "stream", 1);
    text = cJSON_PrintUnformatted(root);
    if (!text || sy_buf_puts(out, text)) goto done;
    rc = SY_OK;
done:
    free(text);
    sy_buf_free(&sys);
    cJSON_Delete(msgs);
    cJSON_Delete(root);
    cJSON_Delete(req);
    return rc;
}

/* ============================================================ answers */

const char *sy_anth_finish_reason(const char *r)
{
    if (!r) return "stop";
    if (strcmp(r, "max_tokens") == 0 || strcmp(r, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(r, "tool_use") == 0) return "tool_calls";
    if (strcmp(r, "refusal") == 0) return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* input tokens as billed: cache writes and reads are input too */
static double input_tokens(const cJSON *usage)
{
    return num(usage, "input_tokens") + num(usage, "cache_creation_input_tokens") +
           num(usage, "cache_read_input_tokens");
}

static cJSON *usage_obj(double in, double out)
{
    cJSON *u = cJSON_CreateObject();
    if (!u) return NULL;
    cJSON_AddNumberToObject(u, "prompt_tokens", in);
    cJSON_AddNumberToObject(u, "completion_tokens", out);
    cJSON_AddNumberToObject(u, "total_tokens", in + out);
    return u;
}

char *sy_anth_answer(const char *body, size_t len, long created, char *err, size_t errn)
{
    cJSON *in = cJSON_ParseWithLength(body, len), *out = NULL;
    cJSON *choices, *choice, *msg, *calls = NULL;
    sy_buf text;
    char *res = NULL;
    sy_buf_init(&text);
    const cJSON *content = get(in, "content");
    if (!cJSON_IsObject(in) || !cJSON_IsArray(content)) {
        set_err(err, errn, "upstream answer is not an Anthropic message");
        goto done;
    }
    out = cJSON_CreateObject();
    if (!out) goto oom;
    const char *id = get_str(in, "id"), *model = get_str(in, "model");
    cJSON_AddStringToObject(out, "id", id ? id : "msg");
    cJSON_AddStringToObject(out, "object", "chat.completion");
    cJSON_AddNumberToObject(out, "created", (double)created);
    cJSON_AddStringToObject(out, "model", model ? model : "");
    if (!(choices = cJSON_AddArrayToObject(out, "choices")) || !(choice = cJSON_CreateObject()))
        goto oom;
    cJSON_AddItemToArray(choices, choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    if (!(msg = cJSON_AddObjectToObject(choice, "message"))) goto oom;
    cJSON_AddStringToObject(msg, "role", "assistant");
    const cJSON *b;
    cJSON_ArrayForEach(b, content)
    {
        const char *type = get_str(b, "type");
        if (!type) continue;
        if (strcmp(type, "text") == 0) {
            const char *t = get_str(b, "text");
            if (t) sy_buf_puts(&text, t);
        } else if (strcmp(type, "tool_use") == 0) {
            const char *tid = get_str(b, "id"), *name = get_str(b, "name");
            const cJSON *input = get(b, "input");
            if (!tid || !name) {
                set_err(err, errn, "upstream answer has a tool_use block without id or name");
                goto done;
            }
            char *args = input ? cJSON_PrintUnformatted(input) : NULL;
            cJSON *tc = cJSON_CreateObject(), *fn = cJSON_CreateObject();
            if (!calls) calls = cJSON_CreateArray();
            if (!tc || !fn || !calls) {
                free(args);
                cJSON_Delete(tc);
                cJSON_Delete(fn);
                goto oom;
            }
            cJSON_AddItemToArray(calls, tc);
            cJSON_AddStringToObject(tc, "id", tid);
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON_AddItemToObject(tc, "function", fn);
            cJSON_AddStringToObject(fn, "name", name);
            cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
            free(args);
        } /* thinking, redacted_thinking, server tool blocks: not part of the answer */
    }
    if (text.len || !calls)
        cJSON_AddStringToObject(msg, "content", text.data ? text.data : "");
    else
        cJSON_AddNullToObject(msg, "content");
    if (calls) cJSON_AddItemToObject(msg, "tool_calls", calls);
    calls = NULL;
    cJSON_AddStringToObject(choice, "finish_reason", sy_anth_finish_reason(get_str(in, "stop_reason")));
    const cJSON *usage = get(in, "usage");
    cJSON *u = usage_obj(input_tokens(usage), num(usage, "output_tokens"));
    if (!u) goto oom;
    cJSON_AddItemToObject(out, "usage", u);
    res = cJSON_PrintUnformatted(out);
    if (!res) goto oom;
    goto done;
oom:
    set_err(err, errn, "out of memory");
done:
    cJSON_Delete(calls);
    sy_buf_free(&text);
    cJSON_Delete(out);
    cJSON_Delete(in);
    return res;
}

/* ============================================================ streams */

void sy_anth_stream_free(sy_anth_stream *st)
{
    if (!st) return;
    free(st->tool_of);
    st->tool_of = NULL;
    st->ntool_of = 0;
}

/* A chunk with an empty delta; the first one also says the role. */
static cJSON *chunk_new(sy_anth_stream *st, cJSON **delta)
{
    cJSON *c = cJSON_CreateObject(), *choices, *ch;
    if (!c) return NULL;
    cJSON_AddStringToObject(c, "id", st->id);
    cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(c, "created", (double)st->created);
    cJSON_AddStringToObject(c, "model", st->model);
    if (!(choices = cJSON_AddArrayToObject(c, "choices")) || !(ch = cJSON_CreateObject())) {
        cJSON_Delete(c);
        return NULL;
    }
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    *delta = cJSON_AddObjectToObject(ch, "delta");
    cJSON_AddNullToObject(ch, "finish_reason");
    if (!*delta) {
        cJSON_Delete(c);
        return NULL;
    }
    if (!st->role_sent) {
        cJSON_AddStringToObject(*delta, "role", "assistant");
        st->role_sent = 1;
    }
    return c;
}

static int emit_text(sy_anth_stream *st, const char *text, cJSON *out)
{
    cJSON *delta, *c;
    if (!text || !*text) return SY_OK;
    if (!(c = chunk_new(st, &delta))) return SY_ENOMEM;
    cJSON_AddStringToObject(delta, "content", text);
    cJSON_AddItemToArray(out, c);
    return SY_OK;
}

/* delta.tool_calls[0] of a new chunk: {index} plus what the caller adds. */
static cJSON *tool_delta(sy_anth_stream *st, int tool, cJSON *out)
{
    cJSON *delta, *c = chunk_new(st, &delta), *calls, *tc;
    if (!c) return NULL;
    if (!(calls = cJSON_AddArrayToObject(delta, "tool_calls")) || !(tc = cJSON_CreateObject())) {
        cJSON_Delete(c);
        return NULL;
    }
    cJSON_AddItemToArray(calls, tc);
    cJSON_AddNumberToObject(tc, "index", tool);
    cJSON_AddItemToArray(out, c);
    return tc;
}

static int map_block(sy_anth_stream *st, int index, int tool)
{
    if (index < 0 || index > 4096) return SY_EINVAL;
    if (index >= st->ntool_of) {
        int n = index + 8;
        int *p = realloc(st->tool_of, (size_t)n * sizeof *p);
        if (!p) return SY_ENOMEM;
        for (int i = st->ntool_of; i < n; i++) p[i] = -1;
        st->tool_of = p;
        st->ntool_of = n;
    }
    st->tool_of[index] = tool;
    return SY_OK;
}

static int block_index(const cJSON *ev)
{
    const cJSON *i = get(ev, "index");
    return cJSON_IsNumber(i) ? i->valueint : -1;
}

int sy_anth_stream_event(sy_anth_stream *st, const char *event, const char *data, size_t len,
                         cJSON *out, int *status, char *err, size_t errn)
{
    cJSON *ev = cJSON_ParseWithLength(data, len);
    int rc = SY_OK;
    *status = 0;
    if (!cJSON_IsObject(ev)) {
        set_err(err, errn, "upstream sent a stream event that is not JSON");
        rc = SY_EINVAL;
        goto done;
    }
    const char *type = get_str(ev, "type");
    if (!type) type = event ? event : "";
    if (strcmp(type, "message_start") == 0) {
        const cJSON *m = get(ev, "message");
        const char *id = get_str(m, "id"), *model = get_str(m, "model");
        snprintf(st->id, sizeof st->id, "%s", id ? id : "msg");
        snprintf(st->model, sizeof st->model, "%s", model ? model : "");
        if (!st->created) st->created = (long)time(NULL);
        const cJSON *u = get(m, "usage");
        st->in_tokens = input_tokens(u);
        st->out_tokens = num(u, "output_tokens");
    } else if (strcmp(type, "content_block_start") == 0) {
        const cJSON *cb = get(ev, "content_block");
        const char *bt = get_str(cb, "type");
        int index = block_index(ev);
        if (bt && strcmp(bt, "tool_use") == 0) {
            const char *id = get_str(cb, "id"), *name = get_str(cb, "name");
            int tool = st->ntools++;
            if ((rc = map_block(st, index, tool)) != SY_OK) {
                set_err(err, errn, "upstream sent a content block without a valid index");
                goto done;
            }
            cJSON *tc = tool_delta(st, tool, out), *fn;
            if (!tc) {
                rc = SY_ENOMEM;
                goto done;
            }
            cJSON_AddStringToObject(tc, "id", id ? id : "");
            cJSON_AddStringToObject(tc, "type", "function");
            if ((fn = cJSON_AddObjectToObject(tc, "function"))) {
                cJSON_AddStringToObject(fn, "name", name ? name : "");
                cJSON_AddStringToObject(fn, "arguments", "");
            }
        } else if (bt && strcmp(bt, "text") == 0) {
            rc = emit_text(st, get_str(cb, "text"), out);
        }
    } else if (strcmp(type, "content_block_delta") == 0) {
        const cJSON *d = get(ev, "delta");
        const char *dt = get_str(d, "type");
        if (dt && strcmp(dt, "text_delta") == 0) {
            rc = emit_text(st, get_str(d, "text"), out);
        } else if (dt && strcmp(dt, "input_json_delta") == 0) {
            int index = block_index(ev);
            const char *piece = get_str(d, "partial_json");
            int tool = index >= 0 && index < st->ntool_of ? st->tool_of[index] : -1;
            if (tool < 0) {
                set_err(err, errn, "upstream sent tool input for a block that is not a tool call");
                rc = SY_EINVAL;
                goto done;
            }
            if (piece && *piece) {
                cJSON *tc = tool_delta(st, tool, out), *fn;
                if (!tc || !(fn = cJSON_AddObjectToObject(tc, "function")) ||
                    !cJSON_AddStringToObject(fn, "arguments", piece)) {
                    rc = SY_ENOMEM;
                    goto done;
                }
            }
        } /* thinking_delta, signature_delta, citations: not part of the answer */
    } else if (strcmp(type, "message_delta") == 0) {
        const cJSON *u = get(ev, "usage");
        if (cJSON_IsNumber(get(u, "output_tokens"))) st->out_tokens = num(u, "output_tokens");
        if (cJSON_IsNumber(get(u, "input_tokens"))) st->in_tokens = input_tokens(u);
        cJSON *delta, *c = chunk_new(st, &delta);
        if (!c) {
            rc = SY_ENOMEM;
            goto done;
        }
        cJSON *ch = cJSON_GetArrayItem(get(c, "choices"), 0);
        cJSON_ReplaceItemInObjectCaseSensitive(
            ch, "finish_reason",
            cJSON_CreateString(sy_anth_finish_reason(get_str(get(ev, "delta"), "stop_reason"))));
        cJSON_AddItemToArray(out, c);
        /* the bill: the engine reads usage from a chunk without choices */
        cJSON *uc = cJSON_CreateObject(), *uo = usage_obj(st->in_tokens, st->out_tokens);
        if (!uc || !uo) {
            cJSON_Delete(uc);
            cJSON_Delete(uo);
            rc = SY_ENOMEM;
            goto done;
        }
        cJSON_AddStringToObject(uc, "id", st->id);
        cJSON_AddStringToObject(uc, "object", "chat.completion.chunk");
        cJSON_AddNumberToObject(uc, "created", (double)st->created);
        cJSON_AddStringToObject(uc, "model", st->model);
        cJSON_AddArrayToObject(uc, "choices");
        cJSON_AddItemToObject(uc, "usage", uo);
        cJSON_AddItemToArray(out, uc);
        st->finished = 1;
    } else if (strcmp(type, "message_stop") == 0) {
        st->stopped = 1;
    } else if (strcmp(type, "error") == 0) {
        const cJSON *e = get(ev, "error");
        const char *et = get_str(e, "type"), *em = get_str(e, "message");
        if (et && strcmp(et, "overloaded_error") == 0) {
            *status = 529;
            set_err(err, errn, "HTTP 529: %.200s", em ? em : "Overloaded");
        } else {
            set_err(err, errn, "upstream error event: %s: %.200s", et ? et : "error",
                    em ? em : "(no message)");
        }
        rc = SY_EINVAL;
    } /* ping, content_block_stop and event types added later: nothing to pass on */
done:
    cJSON_Delete(ev);
    if (rc == SY_ENOMEM) set_err(err, errn, "out of memory");
    return rc;
}

/* ============================================================ errors */

void sy_anth_error(int status, const char *body, char *msg, size_t msgn, char **body_out)
{
    cJSON *in = body ? cJSON_Parse(body) : NULL;
    const cJSON *e = get(in, "error");
    const char *et = get_str(e, "type"), *em = get_str(e, "message");
    *body_out = NULL;
    if (!et) {
        set_err(msg, msgn, "HTTP %d", status);
        cJSON_Delete(in);
        return;
    }
    /* one bounded line: an upstream's text goes into logs and the 502/503 summary */
    char clean[201];
    size_t n = 0;
    for (const char *p = em ? em : ""; *p && n < sizeof clean - 1; p++)
        clean[n++] = (unsigned char)*p < 0x20 ? ' ' : *p;
    clean[n] = '\0';
    set_err(msg, msgn, "HTTP %d: %s", status, n ? clean : et);
    const char *code = et;
    if (strcmp(et, "invalid_request_error") == 0 && em && strstr(em, "prompt is too long"))
        code = "context_length_exceeded"; /* so the chain tries a model with a larger window */
    cJSON *o = cJSON_CreateObject(), *oe = cJSON_AddObjectToObject(o, "error");
    if (oe) {
        cJSON_AddStringToObject(oe, "message", em ? em : et);
        cJSON_AddStringToObject(oe, "type", et);
        cJSON_AddNullToObject(oe, "param");
        cJSON_AddStringToObject(oe, "code", code);
        *body_out = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    cJSON_Delete(in);
}

/* ============================================================ the adapter */

static int an_payload(const sy_attempt *a, sy_buf *out, sy_prov_fail *f)
{
    int rc = sy_anth_request(a->chat->text, a->chat->len, a->model->upstream,
                             (long)a->model->max_output, a->stream, out, f->msg, sizeof f->msg);
    if (rc == SY_EINVAL) return -1;
    if (rc != SY_OK) sy_buf_free(out); /* out of memory: an empty payload says so */
    return 0;
}

static int an_headers(const sy_attempt *a, sy_buf *h)
{
    const sy_provider_cfg *p = a->model->provider;
    int bad = 0;
    if (p->api_key) {
        bad |= sy_buf_puts(h, "x-api-key: ");
        bad |= sy_buf_puts(h, p->api_key);
        bad |= sy_buf_puts(h, "\r\n");
    }
    bad |= sy_buf_puts(h, "anthropic-version: ");
    bad |= sy_buf_puts(h, p->anthropic_version ? p->anthropic_version : "2023-06-01");
    bad |= sy_buf_puts(h, "\r\n");
    return bad ? -1 : 0;
}

static int an_sse_event(sy_attempt *a, void *stp, const char *event, const char *data, size_t len,
                        sy_prov_fail *f)
{
    cJSON *chunks = cJSON_CreateArray();
    int status = 0;
    if (!chunks) {
        snprintf(f->msg, sizeof f->msg, "out of memory");
        return -1;
    }
    int rc = sy_anth_stream_event(stp, event, data, len, chunks, &status, f->msg, sizeof f->msg);
    if (rc == SY_OK) {
        while (chunks->child) a->ev->on_chunk(a, cJSON_DetachItemViaPointer(chunks, chunks->child));
    } else if (status) {
        f->outcome = SY_OUT_HTTP; /* overloaded: the chain moves on as after an HTTP 529 */
        f->status = status;
    }
    cJSON_Delete(chunks);
    return rc == SY_OK ? 0 : -1;
}

static int an_stream_complete(const void *st)
{
    return ((const sy_anth_stream *)st)->stopped;
}

static void an_stream_free(void *st)
{
    sy_anth_stream_free(st);
}

static int an_answer(const sy_attempt *a, char *text, size_t len, sy_answer *ans, sy_prov_fail *f)
{
    (void)a;
    char *cc = sy_anth_answer(text, len, (long)time(NULL), f->msg, sizeof f->msg);
    if (!cc) return -1;
    if (sy_answer_take(ans, cc, strlen(cc)) != 0) {
        free(cc);
        snprintf(f->msg, sizeof f->msg, "upstream answer is not a chat completion");
        return -1;
    }
    free(text);
    return 0;
}

static const sy_prov_api ANTHROPIC_API = {
    .path = "/messages",
    .stream_state_size = sizeof(sy_anth_stream),
    .stream_state_free = an_stream_free,
    .payload = an_payload,
    .headers = an_headers,
    .sse_event = an_sse_event,
    .stream_complete = an_stream_complete,
    .answer = an_answer,
    .error = sy_anth_error,
};

int sy_prov_anthropic_start(sy_attempt *a)
{
    return sy_prov_http_start(a, &ANTHROPIC_API);
}

void sy_prov_anthropic_cancel(sy_attempt *a)
{
    sy_prov_http_cancel(a);
}
