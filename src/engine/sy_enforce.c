/* sy_enforce.c — answers that keep their promised shape: a request's response_format
 * (json_schema or json_object) and its tools' parameter schemas, compiled once per worker
 * (a small cache keyed by the schema text), and the check of an answer's message against
 * them, after normalisation (Markdown code fences and prose around a single JSON value
 * removed — the commonest way a small model breaks structured output). */
#include "engine/sy_engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sy_json.h"

/* ============================================================ the schema cache */

#define CACHE_SLOTS 64

typedef struct cache_slot {
    uint64_t hash;
    char *text;      /* the schema's JSON text as the request had it */
    size_t len;
    sy_schema *schema;
    uint64_t used;   /* for eviction: least recently used goes */
    int refs;        /* requests in flight that use it: never evicted meanwhile */
} cache_slot;

struct sy_schema_cache {
    cache_slot slots[CACHE_SLOTS];
    uint64_t tick;
};

sy_schema_cache *sy_schema_cache_new(void)
{
    return calloc(1, sizeof(sy_schema_cache));
}

void sy_schema_cache_free(sy_schema_cache *sc)
{
    if (!sc) return;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(sc->slots[i].text);
        sy_schema_free(sc->slots[i].schema);
    }
    free(sc);
}

const sy_schema *sy_schema_cache_get(sy_schema_cache *sc, const char *text, size_t len,
                                     char *err, size_t errlen)
{
    uint64_t h = sy_hash64(text, len, 0x5c7e3a);
    cache_slot *victim = NULL;
    sc->tick++;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cache_slot *s = &sc->slots[i];
        if (s->schema && s->hash == h && s->len == len && memcmp(s->text, text, len) == 0) {
            s->used = sc->tick;
            s->refs++;
            return s->schema;
        }
        if (!s->refs && (!victim || !s->schema || (victim->schema && s->used < victim->used)))
            victim = s;
    }
    sy_schema *compiled = sy_schema_compile_text(text, len, NULL, err, errlen);
    if (!compiled || !victim) return compiled; /* every slot busy: the caller's own copy */
    char *copy = malloc(len + 1);
    if (!copy) {
        sy_schema_free(compiled);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(victim->text);
    sy_schema_free(victim->schema);
    *victim = (cache_slot){h, copy, len, compiled, sc->tick, 1};
    return compiled;
}

void sy_schema_cache_put(sy_schema_cache *sc, const sy_schema *schema)
{
    if (!schema) return;
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (sc->slots[i].schema == schema) {
            sc->slots[i].refs--;
            return;
        }
    sy_schema_free((sy_schema *)schema); /* it was never cached */
}

void sy_enforce_release(sy_enforce *e, sy_schema_cache *sc)
{
    sy_schema_cache_put(sc, e->schema);
    for (int i = 0; i < e->ntools; i++) sy_schema_cache_put(sc, e->tools[i].params);
    memset(e, 0, sizeof *e);
}

/* ============================================================ preparing a request */

static int compile_member(sy_enforce *e, sy_schema_cache *sc, const char *text,
                          const sy_json_member *m, const char *where, char *err, size_t errlen)
{
    char why[400];
    const sy_schema *s = sy_schema_cache_get(sc, text + m->val_off, m->val_len, why, sizeof why);
    if (s) {
        e->schema = s;
        return 0;
    }
    snprintf(err, errlen, "%s is not a usable JSON Schema: %s", where, why);
    return -1;
}

int sy_enforce_prepare(sy_enforce *e, const sy_chat *c, sy_schema_cache *sc, char *err,
                       size_t errlen, char *param, size_t paramlen)
{
    const char *text = c->text;
    sy_json_member type, js, schema, strict;
    memset(e, 0, sizeof *e);
    const sy_json_member *rf = &c->response_format;
    if (rf->type == 'o' && sy_json_get(text, rf->val_off, rf->val_len, "type", &type)) {
        if (sy_json_string_eq(text, &type, "json_object")) {
            e->active = e->json_object = 1;
        } else if (sy_json_string_eq(text, &type, "json_schema")) {
            e->active = 1;
            if (!sy_json_get(text, rf->val_off, rf->val_len, "json_schema", &js) || js.type != 'o' ||
                !sy_json_get(text, js.val_off, js.val_len, "schema", &schema) ||
                (schema.type != 'o' && schema.type != 't' && schema.type != 'f')) {
                snprintf(err, errlen, "response_format json_schema needs a \"json_schema\" object "
                                      "with a \"schema\"");
                snprintf(param, paramlen, "response_format.json_schema.schema");
                return -1;
            }
            if (compile_member(e, sc, text, &schema, "response_format.json_schema.schema", err,
                               errlen) != 0) {
                snprintf(param, paramlen, "response_format.json_schema.schema");
                return -1;
            }
            (void)strict;
        }
    }
    /* tools: each function's parameters, by name */
    if (c->tools.type == 'a') {
        sy_json_iter it;
        sy_json_member tool, fn, name, params;
        int idx = 0;
        sy_json_iter_init(&it, text, c->tools.val_off, c->tools.val_len);
        while (sy_json_iter_next(&it, &tool)) {
            int i = idx++;
            if (tool.type != 'o' || !sy_json_get(text, tool.val_off, tool.val_len, "function", &fn) ||
                fn.type != 'o' || !sy_json_get(text, fn.val_off, fn.val_len, "name", &name) ||
                name.type != 's')
                continue;
            if (e->ntools >= SY_ENFORCE_MAX_TOOLS) break;
            sy_enforce_tool *t = &e->tools[e->ntools];
            sy_buf nb;
            sy_buf_init(&nb);
            sy_json_string(text, name.val_off, name.val_len, &nb);
            snprintf(t->name, sizeof t->name, "%s", nb.data ? nb.data : "");
            sy_buf_free(&nb);
            t->params = NULL;
            if (sy_json_get(text, fn.val_off, fn.val_len, "parameters", &params) &&
                params.type == 'o') {
                char where[64], why[400];
                snprintf(where, sizeof where, "tools[%d].function.parameters", i);
                t->params = sy_schema_cache_get(sc, text + params.val_off, params.val_len, why,
                                                sizeof why);
                if (!t->params) {
                    snprintf(err, errlen, "%s is not a usable JSON Schema: %s", where, why);
                    snprintf(param, paramlen, "%s", where);
                    return -1;
                }
            }
            e->ntools++;
            e->active = 1;
        }
    }
    /* tool_choice "required" or a named function: an answer without that call breaks the
     * request's promise like a schema does */
    const sy_json_member *tc = &c->tool_choice;
    sy_json_member fn, name;
    if (e->ntools && tc->type == 's' && sy_json_string_eq(text, tc, "required")) {
        e->require_call = 1;
    } else if (e->ntools && tc->type == 'o' &&
               sy_json_get(text, tc->val_off, tc->val_len, "function", &fn) && fn.type == 'o' &&
               sy_json_get(text, fn.val_off, fn.val_len, "name", &name) && name.type == 's') {
        sy_buf nb;
        sy_buf_init(&nb);
        sy_json_string(text, name.val_off, name.val_len, &nb);
        snprintf(e->require_tool, sizeof e->require_tool, "%s", nb.data ? nb.data : "");
        sy_buf_free(&nb);
        e->require_call = 1;
    }
    return 0;
}

/* ============================================================ normalisation */

static int is_json(const char *s, size_t n)
{
    sy_json_top top;
    return n > 0 && sy_json_scan(s, n, NULL, 0, &top, NULL) == 0;
}

/* The span of the single JSON value in s, once Markdown fences and prose around it are cut
 * away. *how says what was removed ("" when nothing). 0, or -1 when no JSON value is there. */
static int normalize(const char *s, size_t n, size_t *off, size_t *len, const char **how)
{
    size_t a = 0, b = n;
    *how = "";
    while (a < b && strchr(" \t\r\n", s[a])) a++;
    while (b > a && strchr(" \t\r\n", s[b - 1])) b--;
    if (is_json(s + a, b - a)) {
        *off = a;
        *len = b - a;
        return 0;
    }
    /* ```json … ``` (anywhere: prose may come before or after the fence) */
    const char *fence = b - a >= 3 ? memmem(s + a, b - a, "```", 3) : NULL;
    if (fence) {
        const char *body = memchr(fence, '\n', (size_t)(s + b - fence));
        if (body) {
            body++;
            const char *end = memmem(body, (size_t)(s + b - body), "```", 3);
            if (end) {
                size_t x = (size_t)(body - s), y = (size_t)(end - s);
                while (x < y && strchr(" \t\r\n", s[x])) x++;
                while (y > x && strchr(" \t\r\n", s[y - 1])) y--;
                if (is_json(s + x, y - x)) {
                    *off = x;
                    *len = y - x;
                    *how = "code_fence";
                    return 0;
                }
            }
        }
    }
    /* prose around one object or array: from the first opening bracket to the last closing
     * one of the same kind */
    for (int k = 0; k < 2; k++) {
        char open = k ? '[' : '{', close = k ? ']' : '}';
        const char *p = memchr(s + a, open, b - a);
        if (!p) continue;
        size_t x = (size_t)(p - s), y = b;
        while (y > x && s[y - 1] != close) y--;
        if (y > x && is_json(s + x, y - x)) {
            *off = x;
            *len = y - x;
            *how = "surrounding_text";
            return 0;
        }
    }
    return -1;
}

/* ============================================================ checking an answer */

static void first_error(sy_check *out, const char *what, const sy_schema_error *er)
{
    sy_buf b;
    sy_buf_init(&b);
    sy_buf_printf(&b, "%s%s%s: %s (%s)", what, *what ? " " : "",
                  er->instance_path[0] ? er->instance_path : "(root)", er->message,
                  er->schema_path[0] ? er->schema_path : "#");
    snprintf(out->error, sizeof out->error, "%s", b.data ? b.data : "");
    sy_buf_free(&b);
}

/* Parses (after normalisation) and validates one JSON text. 1 valid, 0 not (out->error). When
 * normalised and valid, *fixed gets the clean text (malloc'd). */
static int check_text(const char *s, size_t n, const sy_schema *schema, int want_object,
                      const char *what, sy_check *out, char **fixed, const char **how)
{
    size_t off, len;
    *fixed = NULL;
    if (normalize(s, n, &off, &len, how) != 0) {
        snprintf(out->error, sizeof out->error, "%s%sis not JSON", what, *what ? " " : "");
        return 0;
    }
    cJSON *v = cJSON_ParseWithLength(s + off, len);
    if (!v) {
        snprintf(out->error, sizeof out->error, "%s%sis not JSON", what, *what ? " " : "");
        return 0;
    }
    int ok = 1;
    if (want_object && !cJSON_IsObject(v)) {
        snprintf(out->error, sizeof out->error, "%s%sis not a JSON object", what, *what ? " " : "");
        ok = 0;
    } else if (schema) {
        sy_schema_error er;
        int nerr = 0;
        ok = sy_schema_validate(schema, v, &er, 1, &nerr);
        if (!ok) first_error(out, what, &er);
    }
    cJSON_Delete(v);
    if (ok && **how) {
        *fixed = malloc(len + 1);
        if (*fixed) {
            memcpy(*fixed, s + off, len);
            (*fixed)[len] = '\0';
        }
    }
    return ok;
}

void sy_enforce_check(const sy_enforce *e, cJSON *message, sy_check *out)
{
    memset(out, 0, sizeof *out);
    out->valid = 1;
    out->how = "";
    if (!e->active) return;
    cJSON *tool_calls = cJSON_GetObjectItemCaseSensitive(message, "tool_calls");
    cJSON *content = cJSON_GetObjectItemCaseSensitive(message, "content");
    int has_calls = cJSON_IsArray(tool_calls) && cJSON_GetArraySize(tool_calls) > 0;
    char *fixed;
    const char *how;
    if ((e->schema || e->json_object) && !has_calls) {
        if (!cJSON_IsString(content)) {
            snprintf(out->error, sizeof out->error, "the answer has no content");
            out->valid = 0;
            return;
        }
        const char *s = content->valuestring;
        if (!check_text(s, strlen(s), e->schema, e->json_object, "", out, &fixed, &how)) {
            out->valid = 0;
            return;
        }
        if (fixed) {
            cJSON_SetValuestring(content, fixed);
            free(fixed);
            out->how = how;
        }
    }
    if (e->require_call && !has_calls) {
        if (e->require_tool[0])
            snprintf(out->error, sizeof out->error,
                     "tool_choice requires a call of \"%s\"; the answer has no tool call",
                     e->require_tool);
        else
            snprintf(out->error, sizeof out->error,
                     "tool_choice is \"required\"; the answer has no tool call");
        out->valid = 0;
        return;
    }
    cJSON *call, *calls = has_calls ? tool_calls : NULL;
    int i = 0;
    cJSON_ArrayForEach(call, calls)
    {
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        char what[128];
        snprintf(what, sizeof what, "tool_calls[%d]", i++);
        const sy_enforce_tool *t = NULL;
        for (int k = 0; cJSON_IsString(name) && k < e->ntools; k++)
            if (strcmp(e->tools[k].name, name->valuestring) == 0) t = &e->tools[k];
        if (t && e->require_tool[0] && strcmp(t->name, e->require_tool) != 0) {
            snprintf(out->error, sizeof out->error, "%s calls \"%s\"; tool_choice requires \"%s\"",
                     what, t->name, e->require_tool);
            out->valid = 0;
            return;
        }
        if (!t) {
            snprintf(out->error, sizeof out->error, "%s calls %s%s%s, which is not one of the "
                     "request's tools", what, cJSON_IsString(name) ? "\"" : "",
                     cJSON_IsString(name) ? name->valuestring : "no function",
                     cJSON_IsString(name) ? "\"" : "");
            out->valid = 0;
            return;
        }
        if (!cJSON_IsString(args)) {
            snprintf(out->error, sizeof out->error, "%s has no arguments string", what);
            out->valid = 0;
            return;
        }
        snprintf(what + strlen(what), sizeof what - strlen(what), " (%s) arguments", t->name);
        if (!check_text(args->valuestring, strlen(args->valuestring), t->params, 1, what, out,
                        &fixed, &how)) {
            out->valid = 0;
            return;
        }
        if (fixed) {
            cJSON_SetValuestring(args, fixed);
            free(fixed);
            out->how = how;
        }
    }
}
