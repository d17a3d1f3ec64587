/* sy_json.c — one-pass JSON validation and top-level member spans (see sy_json.h). */
#include "core/sy_json.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

typedef struct scanner {
    const unsigned char *p;
    size_t len, i;
} scanner;

static void skip_ws(scanner *s)
{
    while (s->i < s->len) {
        unsigned char c = s->p[s->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
        s->i++;
    }
}

/* A string starting at the opening quote; leaves i after the closing quote. Control
 * characters must be escaped; the escapes must be valid. (UTF-8 is not re-validated here:
 * the bytes are passed through as they came.) */
/* Bytes that end the fast run inside a string: the quote, backslash, control characters. */
static const unsigned char STR_STOP[256] = {
    [0] = 1,  [1] = 1,  [2] = 1,  [3] = 1,  [4] = 1,  [5] = 1,  [6] = 1,  [7] = 1,
    [8] = 1,  [9] = 1,  [10] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1, [15] = 1,
    [16] = 1, [17] = 1, [18] = 1, [19] = 1, [20] = 1, [21] = 1, [22] = 1, [23] = 1,
    [24] = 1, [25] = 1, [26] = 1, [27] = 1, [28] = 1, [29] = 1, [30] = 1, [31] = 1,
    ['"'] = 1, ['\\'] = 1,
};

static int scan_string(scanner *s)
{
    const unsigned char *p = s->p;
    size_t i = s->i + 1, len = s->len; /* after the opening quote */
    for (;;) {
        while (i + 4 <= len && !STR_STOP[p[i]] && !STR_STOP[p[i + 1]] && !STR_STOP[p[i + 2]] &&
               !STR_STOP[p[i + 3]])
            i += 4;
        while (i < len && !STR_STOP[p[i]]) i++;
        if (i >= len) {
            s->i = i;
            return -1;
        }
        if (p[i] == '"') {
            s->i = i + 1;
            return 0;
        }
        if (p[i] < 0x20) {
            s->i = i;
            return -1;
        }
        /* a backslash: one escape sequence, checked */
        s->i = i;
        if (s->i + 1 >= len) return -1;
        unsigned char e = p[s->i + 1];
        if (e == 'u') {
            if (s->i + 5 >= len) return -1;
            for (int k = 2; k < 6; k++)
                if (sy_hexval(p[s->i + (size_t)k]) < 0) return -1;
            i = s->i + 6;
            continue;
        }
        if (!strchr("\"\\/bfnrt", e) || e == 0) return -1;
        i = s->i + 2;
    }
}

static int is_digit(scanner *s)
{
    return s->i < s->len && s->p[s->i] >= '0' && s->p[s->i] <= '9';
}

static int scan_number(scanner *s)
{
    if (s->i < s->len && s->p[s->i] == '-') s->i++;
    if (!is_digit(s)) return -1;
    if (s->p[s->i] == '0') {
        s->i++;
    } else {
        while (is_digit(s)) s->i++;
    }
    if (s->i < s->len && s->p[s->i] == '.') {
        s->i++;
        if (!is_digit(s)) return -1;
        while (is_digit(s)) s->i++;
    }
    if (s->i < s->len && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
        s->i++;
        if (s->i < s->len && (s->p[s->i] == '+' || s->p[s->i] == '-')) s->i++;
        if (!is_digit(s)) return -1;
        while (is_digit(s)) s->i++;
    }
    return 0;
}

static int scan_literal(scanner *s, const char *lit)
{
    size_t n = strlen(lit);
    if (s->len - s->i < n || memcmp(s->p + s->i, lit, n) != 0) return -1;
    s->i += n;
    return 0;
}

static char type_at(scanner *s)
{
    switch (s->p[s->i]) {
    case '{': return 'o';
    case '[': return 'a';
    case '"': return 's';
    case 't': return 't';
    case 'f': return 'f';
    case 'n': return 'z';
    default: return 'n';
    }
}

/* Iterative over containers: a stack of open brackets instead of recursion, so a deeply
 * nested body cannot exhaust the C stack. Members of the top-level object are recorded. */
static int scan_value(scanner *s, sy_json_member *mem, int max, sy_json_top *top)
{
    char stack[MAX_DEPTH];
    int depth = 0;
    int expect_key = 0; /* inside an object, at a key position */
    sy_json_member *cur = NULL;

    skip_ws(s);
    if (s->i >= s->len) return -1;
    top->type = type_at(s);
    top->start = s->i;
    for (;;) {
        /* --- one value at s->i --- */
        skip_ws(s);
        if (s->i >= s->len) return -1;
        if (expect_key) {
            if (s->p[s->i] != '"') return -1;
            size_t k0 = s->i;
            if (scan_string(s) < 0) return -1;
            if (depth == 1) {
                top->total++;
                cur = top->n < max ? &mem[top->n++] : NULL;
                if (cur) {
                    cur->key_off = k0 + 1;
                    cur->key_len = s->i - k0 - 2;
                }
            }
            skip_ws(s);
            if (s->i >= s->len || s->p[s->i] != ':') return -1;
            s->i++;
            skip_ws(s);
            if (s->i >= s->len) return -1;
            expect_key = 0;
        }
        size_t v0 = s->i;
        char t = type_at(s);
        int opened = 0;
        switch (s->p[s->i]) {
        case '{':
        case '[':
            if (depth >= MAX_DEPTH) return -1;
            stack[depth++] = (char)s->p[s->i];
            s->i++;
            skip_ws(s);
            if (s->i < s->len && s->p[s->i] == (stack[depth - 1] == '{' ? '}' : ']')) {
                s->i++; /* empty container */
                depth--;
            } else {
                opened = 1;
                expect_key = stack[depth - 1] == '{';
            }
            break;
        case '"':
            if (scan_string(s) < 0) return -1;
            break;
        case 't':
            if (scan_literal(s, "true") < 0) return -1;
            break;
        case 'f':
            if (scan_literal(s, "false") < 0) return -1;
            break;
        case 'n':
            if (scan_literal(s, "null") < 0) return -1;
            break;
        default:
            if (scan_number(s) < 0) return -1;
        }
        if (opened) {
            if (depth == 2 && cur) { /* a top-level member's value opens a container */
                cur->val_off = v0;
                cur->type = t;
            }
            continue;
        }
        if (depth == 1 && cur) { /* a scalar (or empty container) member value */
            cur->val_off = v0;
            cur->val_len = s->i - v0;
            cur->type = t;
            cur = NULL;
        }
        /* --- after a value: a comma or the close of containers --- */
        for (;;) {
            if (depth == 0) {
                top->end = s->i;
                return 0;
            }
            skip_ws(s);
            if (s->i >= s->len) return -1;
            unsigned char c = s->p[s->i];
            if (c == ',') {
                s->i++;
                expect_key = stack[depth - 1] == '{';
                break;
            }
            if (c != (stack[depth - 1] == '{' ? '}' : ']')) return -1;
            s->i++;
            depth--;
            if (depth == 1 && top->n > 0) { /* a top-level member's container closed */
                sy_json_member *m = &mem[top->n - 1];
                if (m->val_len == 0 && top->total == top->n) m->val_len = s->i - m->val_off;
            }
        }
    }
}

int sy_json_scan(const char *text, size_t len, sy_json_member *members, int max,
                 sy_json_top *top, size_t *err_at)
{
    scanner s = {(const unsigned char *)text, len, 0};
    memset(top, 0, sizeof *top);
    if (members && max > 0) memset(members, 0, sizeof *members * (size_t)max);
    if (!members) max = 0;
    if (scan_value(&s, members, max, top) < 0) goto fail;
    skip_ws(&s);
    if (s.i != len) goto fail;
    return 0;
fail:
    if (err_at) *err_at = s.i;
    return -1;
}


/* ============================================================ walking validated text */

/* Index just past the string whose opening quote is at i: memchr finds each quote (fast
 * on long prompts); a quote preceded by an odd run of backslashes is escaped. */
static size_t skip_string(const char *t, size_t i, size_t end)
{
    size_t j = i + 1;
    for (;;) {
        const char *q = memchr(t + j, '"', end - j);
        if (!q) return end;
        size_t at = (size_t)(q - t), k = at;
        while (k > i + 1 && t[k - 1] == '\\') k--;
        if (((at - k) & 1) == 0) return at + 1;
        j = at + 1;
    }
}

/* Bytes that matter when skipping a container: strings and brackets. */
static const unsigned char STRUCT[256] = {['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1};

/* Index just past the value starting at i (the text is known to be valid). */
static size_t skip_value(const char *t, size_t i, size_t end)
{
    const unsigned char *u = (const unsigned char *)t;
    char c = t[i];
    if (c == '"') return skip_string(t, i, end);
    if (c == '{' || c == '[') {
        int depth = 0;
        while (i < end) {
            while (i + 4 <= end && !STRUCT[u[i]] && !STRUCT[u[i + 1]] && !STRUCT[u[i + 2]] &&
                   !STRUCT[u[i + 3]])
                i += 4;
            while (i < end && !STRUCT[u[i]]) i++;
            if (i >= end) break;
            char d = t[i];
            if (d == '"') {
                i = skip_string(t, i, end);
                continue;
            }
            if (d == '{' || d == '[') {
                depth++;
            } else if (--depth == 0) {
                return i + 1;
            }
            i++;
        }
        return end;
    }
    /* number or literal: up to a delimiter */
    while (i < end && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\n' &&
           t[i] != '\r' && t[i] != '\t')
        i++;
    return i;
}

static size_t skip_space(const char *t, size_t i, size_t end)
{
    while (i < end && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) i++;
    return i;
}

void sy_json_iter_init(sy_json_iter *it, const char *text, size_t off, size_t len)
{
    it->text = text;
    it->is_object = len > 0 && text[off] == '{';
    it->i = off + 1;
    it->end = len > 0 ? off + len - 1 : off; /* at the closing bracket */
}

int sy_json_iter_next(sy_json_iter *it, sy_json_member *m)
{
    const char *t = it->text;
    size_t i = skip_space(t, it->i, it->end);
    if (i < it->end && t[i] == ',') i = skip_space(t, i + 1, it->end);
    if (i >= it->end) {
        it->i = it->end;
        return 0;
    }
    memset(m, 0, sizeof *m);
    if (it->is_object) {
        size_t k = skip_value(t, i, it->end);
        m->key_off = i + 1;
        m->key_len = k - i - 2;
        i = skip_space(t, k, it->end);
        i = skip_space(t, i + 1, it->end); /* ':' */
    }
    size_t v = skip_value(t, i, it->end);
    m->val_off = i;
    m->val_len = v - i;
    switch (t[i]) {
    case '{': m->type = 'o'; break;
    case '[': m->type = 'a'; break;
    case '"': m->type = 's'; break;
    case 't': m->type = 't'; break;
    case 'f': m->type = 'f'; break;
    case 'n': m->type = 'z'; break;
    default: m->type = 'n';
    }
    it->i = v;
    return 1;
}

int sy_json_get(const char *text, size_t off, size_t len, const char *key, sy_json_member *m)
{
    sy_json_iter it;
    size_t klen = strlen(key);
    if (len == 0 || text[off] != '{') return 0;
    sy_json_iter_init(&it, text, off, len);
    while (sy_json_iter_next(&it, m))
        if (m->key_len == klen && memcmp(text + m->key_off, key, klen) == 0) return 1;
    return 0;
}

static void put_utf8(sy_buf *out, unsigned cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    sy_buf_append(out, b, n);
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) v = v * 16 + (unsigned)sy_hexval((unsigned char)p[k]);
    return v;
}

int sy_json_string(const char *text, size_t off, size_t len, sy_buf *out)
{
    const char *p = text + off + 1, *end = text + off + len - 1; /* inside the quotes */
    if (len < 2 || sy_buf_reserve(out, len)) return SY_ENOMEM;
    while (p < end) {
        const char *q = memchr(p, '\\', (size_t)(end - p));
        if (!q) q = end;
        sy_buf_append(out, p, (size_t)(q - p));
        if (q >= end) break;
        char e = q[1];
        p = q + 2;
        switch (e) {
        case 'b': sy_buf_append(out, "\b", 1); break;
        case 'f': sy_buf_append(out, "\f", 1); break;
        case 'n': sy_buf_append(out, "\n", 1); break;
        case 'r': sy_buf_append(out, "\r", 1); break;
        case 't': sy_buf_append(out, "\t", 1); break;
        case 'u': {
            unsigned cp = hex4(p);
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = hex4(p + 2);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd; /* a lone surrogate */
            put_utf8(out, cp);
            break;
        }
        default: sy_buf_append(out, &e, 1); /* \" \\ \/ */
        }
    }
    return SY_OK;
}

int sy_json_string_eq(const char *text, const sy_json_member *m, const char *s)
{
    size_t n = strlen(s);
    if (m->type != 's') return 0;
    /* fast path: no escapes in the span */
    if (m->val_len == n + 2 && memcmp(text + m->val_off + 1, s, n) == 0) return 1;
    if (!memchr(text + m->val_off, '\\', m->val_len)) return 0;
    sy_buf b;
    sy_buf_init(&b);
    sy_json_string(text, m->val_off, m->val_len, &b);
    int eq = b.len == n && memcmp(b.data, s, n) == 0;
    sy_buf_free(&b);
    return eq;
}

double sy_json_number(const char *text, size_t off, size_t len)
{
    char tmp[64];
    if (len >= sizeof tmp) len = sizeof tmp - 1;
    memcpy(tmp, text + off, len);
    tmp[len] = '\0';
    return strtod(tmp, NULL);
}

void sy_cjson_append_str(cJSON *obj, const char *key, const cJSON *piece)
{
    if (!cJSON_IsString(piece)) return;
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(cur)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
        cJSON_AddStringToObject(obj, key, piece->valuestring);
        return;
    }
    /* grown in place (cJSON's default allocator is malloc, no hooks are installed): one
     * realloc a piece instead of two copies of everything so far */
    size_t a = strlen(cur->valuestring), b = strlen(piece->valuestring);
    char *joined = realloc(cur->valuestring, a + b + 1);
    if (!joined) return;
    memcpy(joined + a, piece->valuestring, b + 1);
    cur->valuestring = joined;
}

void sy_cjson_fold_delta(cJSON *msg, const cJSON *delta)
{
    sy_cjson_append_str(msg, "content", cJSON_GetObjectItemCaseSensitive(delta, "content"));
    sy_cjson_append_str(msg, "refusal", cJSON_GetObjectItemCaseSensitive(delta, "refusal"));
    const cJSON *tc;
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(delta, "tool_calls"))
    {
        cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
        if (!calls) calls = cJSON_AddArrayToObject(msg, "tool_calls");
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(tc, "index");
        int k = cJSON_IsNumber(ix) ? ix->valueint : 0;
        if (!calls || k < 0 || k > 127) continue;
        while (cJSON_GetArraySize(calls) <= k) {
            cJSON *n = cJSON_CreateObject();
            cJSON_AddStringToObject(n, "type", "function");
            cJSON_AddObjectToObject(n, "function");
            cJSON_AddItemToArray(calls, n);
        }
        cJSON *call = cJSON_GetArrayItem(calls, k);
        sy_cjson_append_str(call, "id", cJSON_GetObjectItemCaseSensitive(tc, "id"));
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        cJSON *cfn = cJSON_GetObjectItemCaseSensitive(call, "function");
        sy_cjson_append_str(cfn, "name", cJSON_GetObjectItemCaseSensitive(fn, "name"));
        sy_cjson_append_str(cfn, "arguments", cJSON_GetObjectItemCaseSensitive(fn, "arguments"));
    }
}
