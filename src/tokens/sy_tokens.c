/* sy_tokens.c — chat request token counts (the rule is in sy_tokens.h). */
#include "tokens/sy_tokens.h"

#include <limits.h>
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "switchyard.h"
#include "tokens/sy_bpe.h"

static const char *const KIND_NAMES[SY_TOK_NKINDS] = {"cl100k_base", "o200k_base", "estimate"};
/* the encoding that counts for a kind */
static const char *const BASE_ENC[SY_TOK_NKINDS] = {"cl100k_base", "o200k_base", "o200k_base"};
#define ESTIMATE_FACTOR 1.25

int sy_tok_kind(const char *name)
{
    for (int k = 0; name && k < SY_TOK_NKINDS; k++)
        if (strcmp(name, KIND_NAMES[k]) == 0) return k;
    return -1;
}

const char *sy_tok_kind_name(int kind)
{
    return kind >= 0 && kind < SY_TOK_NKINDS ? KIND_NAMES[kind] : "?";
}

int sy_tok_kind_guess(const char *name)
{
    static const char *const o200k[] = {"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5",
                                        "o1",     "o3",         "o4",      "gpt-oss", NULL};
    static const char *const cl100k[] = {"gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3",
                                         "text-embedding-ada-002", NULL};
    if (!name) return SY_TOK_ESTIMATE;
    const char *slash = strrchr(name, '/'); /* "openai/gpt-4o" */
    if (slash) name = slash + 1;
    for (int i = 0; o200k[i]; i++) {
        size_t n = strlen(o200k[i]);
        /* "o1" but not "o1x…": the family name ends the string or is followed by - . _ : */
        if (strncasecmp(name, o200k[i], n) == 0 && strchr("-._:", name[n])) return SY_TOK_O200K;
    }
    for (int i = 0; cl100k[i]; i++) {
        size_t n = strlen(cl100k[i]);
        if (strncasecmp(name, cl100k[i], n) == 0 && strchr("-._:", name[n])) return SY_TOK_CL100K;
    }
    return SY_TOK_ESTIMATE;
}

static const sy_encoding *enc_of(int kind)
{
    char err[16];
    if (kind < 0 || kind >= SY_TOK_NKINDS) kind = SY_TOK_ESTIMATE;
    /* loaded at config time (sy_tokens_init); this is a lookup after that */
    return sy_encoding_get(BASE_ENC[kind], err, sizeof err);
}

int sy_tokens_init(int kind, char *err, size_t errlen)
{
    if (kind < 0 || kind >= SY_TOK_NKINDS) {
        snprintf(err, errlen, "unknown tokenizer");
        return -1;
    }
    return sy_encoding_get(BASE_ENC[kind], err, errlen) ? 0 : -1;
}

long sy_tokens_scale(int kind, long base_count)
{
    if (kind != SY_TOK_ESTIMATE) return base_count;
    return (long)ceil((double)base_count * ESTIMATE_FACTOR);
}

static long count(const sy_encoding *e, const char *s, size_t n)
{
    return e && n ? (long)sy_bpe_count(e, s, n) : 0;
}

long sy_tokens_text(int kind, const char *s, size_t n)
{
    return sy_tokens_scale(kind, count(enc_of(kind), s, n));
}

/* Tokens of the decoded JSON string at m (a string span). */
static long count_str(const sy_encoding *e, const char *text, const sy_json_member *m, sy_buf *tmp)
{
    if (m->type != 's') return 0;
    /* no escapes: the span's inside is the text itself */
    if (!memchr(text + m->val_off, '\\', m->val_len))
        return count(e, text + m->val_off + 1, m->val_len - 2);
    sy_buf_reset(tmp);
    sy_json_string(text, m->val_off, m->val_len, tmp);
    return count(e, tmp->data, tmp->len);
}

static long count_key(const sy_encoding *e, const char *text, const sy_json_member *obj,
                      const char *key, sy_buf *tmp)
{
    sy_json_member v;
    if (obj->type != 'o' || !sy_json_get(text, obj->val_off, obj->val_len, key, &v)) return 0;
    return count_str(e, text, &v, tmp);
}

/* A content array: text parts as text, images by detail. */
static long count_parts(const sy_encoding *e, const char *text, const sy_json_member *arr,
                        sy_buf *tmp)
{
    sy_json_iter it;
    sy_json_member part, v, img;
    long n = 0;
    sy_json_iter_init(&it, text, arr->val_off, arr->val_len);
    while (sy_json_iter_next(&it, &part)) {
        if (part.type != 'o') continue;
        if (sy_json_get(text, part.val_off, part.val_len, "text", &v)) {
            n += count_str(e, text, &v, tmp);
        } else if (sy_json_get(text, part.val_off, part.val_len, "image_url", &img)) {
            int low = img.type == 'o' &&
                      sy_json_get(text, img.val_off, img.val_len, "detail", &v) &&
                      sy_json_string_eq(text, &v, "low");
            n += low ? 85 : 765;
        }
    }
    return n;
}

static long message_base(const sy_encoding *e, const char *text, const sy_json_member *msg,
                         sy_buf *tmp)
{
    sy_json_iter it, calls;
    sy_json_member f, call, fn;
    long n = 3;
    if (msg->type != 'o') return n;
    sy_json_iter_init(&it, text, msg->val_off, msg->val_len);
    while (sy_json_iter_next(&it, &f)) {
        if (f.type == 's') {
            n += count_str(e, text, &f, tmp);
            if (f.key_len == 4 && memcmp(text + f.key_off, "name", 4) == 0) n += 1;
        } else if (f.type == 'a' && f.key_len == 7 && memcmp(text + f.key_off, "content", 7) == 0) {
            n += count_parts(e, text, &f, tmp);
        } else if (f.type == 'a' && f.key_len == 10 &&
                   memcmp(text + f.key_off, "tool_calls", 10) == 0) {
            sy_json_iter_init(&calls, text, f.val_off, f.val_len);
            while (sy_json_iter_next(&calls, &call)) {
                if (call.type != 'o' ||
                    !sy_json_get(text, call.val_off, call.val_len, "function", &fn))
                    continue;
                n += 3 + count_key(e, text, &fn, "name", tmp) +
                     count_key(e, text, &fn, "arguments", tmp);
            }
        } else if (f.type == 'o' && f.key_len == 13 &&
                   memcmp(text + f.key_off, "function_call", 13) == 0) {
            n += 3 + count_key(e, text, &f, "name", tmp) + count_key(e, text, &f, "arguments", tmp);
        }
    }
    return n;
}

long sy_tokens_message(const sy_chat *c, const sy_json_member *msg, int kind)
{
    sy_buf tmp;
    sy_buf_init(&tmp);
    long n = message_base(enc_of(kind), c->text, msg, &tmp);
    sy_buf_free(&tmp);
    return n;
}

/* Tokens of "a:b" or "a:b:c" built from decoded strings (a description loses a final '.'). */
static long count_line(const sy_encoding *e, const char *text, const sy_json_member *parts[],
                       int nparts, sy_buf *line, sy_buf *tmp)
{
    sy_buf_reset(line);
    for (int i = 0; i < nparts; i++) {
        if (i) sy_buf_puts(line, ":");
        if (!parts[i] || parts[i]->type != 's') continue;
        sy_buf_reset(tmp);
        sy_json_string(text, parts[i]->val_off, parts[i]->val_len, tmp);
        size_t n = tmp->len;
        if (i == nparts - 1 && n && tmp->data[n - 1] == '.') n--;
        sy_buf_append(line, tmp->data ? tmp->data : "", n);
    }
    return count(e, line->data, line->len);
}

long sy_tokens_tools(const sy_chat *c, int kind)
{
    const sy_encoding *e = enc_of(kind);
    const char *text = c->text;
    if (c->tools.type != 'a') return 0;
    /* num_tokens_for_tools: gpt-4o / o200k and gpt-4 / cl100k differ in func_init only */
    const long func_init = kind == SY_TOK_CL100K ? 10 : 7, prop_init = 3, prop_key = 3,
               enum_init = -3, enum_item = 3, func_end = 12;
    sy_buf line, tmp;
    sy_buf_init(&line);
    sy_buf_init(&tmp);
    sy_json_iter tools, props, items;
    sy_json_member tool, fn, name, desc, params, pr, prop, type, pdesc, en, item;
    long n = 0;
    int nfuncs = 0;
    sy_json_iter_init(&tools, text, c->tools.val_off, c->tools.val_len);
    while (sy_json_iter_next(&tools, &tool)) {
        if (tool.type != 'o' || !sy_json_get(text, tool.val_off, tool.val_len, "function", &fn) ||
            fn.type != 'o')
            continue;
        nfuncs++;
        n += func_init;
        int has_name = sy_json_get(text, fn.val_off, fn.val_len, "name", &name);
        int has_desc = sy_json_get(text, fn.val_off, fn.val_len, "description", &desc);
        const sy_json_member *fl[2] = {has_name ? &name : NULL, has_desc ? &desc : NULL};
        n += count_line(e, text, fl, 2, &line, &tmp);
        if (!sy_json_get(text, fn.val_off, fn.val_len, "parameters", &params) || params.type != 'o' ||
            !sy_json_get(text, params.val_off, params.val_len, "properties", &pr) || pr.type != 'o' ||
            pr.val_len <= 2)
            continue;
        n += prop_init;
        sy_json_iter_init(&props, text, pr.val_off, pr.val_len);
        while (sy_json_iter_next(&props, &prop)) {
            n += prop_key;
            sy_json_member key = {.val_off = prop.key_off - 1, .val_len = prop.key_len + 2,
                                  .type = 's'};
            int has_type = prop.type == 'o' && sy_json_get(text, prop.val_off, prop.val_len, "type", &type);
            int has_pdesc = prop.type == 'o' &&
                            sy_json_get(text, prop.val_off, prop.val_len, "description", &pdesc);
            if (prop.type == 'o' && sy_json_get(text, prop.val_off, prop.val_len, "enum", &en) &&
                en.type == 'a') {
                n += enum_init;
                sy_json_iter_init(&items, text, en.val_off, en.val_len);
                while (sy_json_iter_next(&items, &item))
                    n += enum_item + (item.type == 's' ? count_str(e, text, &item, &tmp)
                                                       : count(e, text + item.val_off, item.val_len));
            }
            const sy_json_member *pl[3] = {&key, has_type ? &type : NULL, has_pdesc ? &pdesc : NULL};
            n += count_line(e, text, pl, 3, &line, &tmp);
        }
    }
    if (nfuncs) n += func_end;
    sy_buf_free(&line);
    sy_buf_free(&tmp);
    return n;
}

long sy_tokens_request(const sy_chat *c, int kind)
{
    if (kind < 0 || kind >= SY_TOK_NKINDS) kind = SY_TOK_ESTIMATE;
    /* an estimate is the scaled o200k count: share its memo */
    int slot = kind == SY_TOK_ESTIMATE ? SY_TOK_O200K : kind;
    long base = c->ntok[slot];
    if (base < 0) {
        const sy_encoding *e = enc_of(kind);
        sy_buf tmp;
        sy_json_iter it;
        sy_json_member m;
        sy_buf_init(&tmp);
        base = 3; /* the reply's priming */
        sy_json_iter_init(&it, c->text, c->messages.val_off, c->messages.val_len);
        while (sy_json_iter_next(&it, &m)) base += message_base(e, c->text, &m, &tmp);
        sy_buf_free(&tmp);
        base += sy_tokens_tools(c, kind);
        ((sy_chat *)c)->ntok[slot] = base; /* a memo: the request itself is unchanged */
    }
    return sy_tokens_scale(kind, base);
}

long sy_tokens_request_bound(const sy_chat *c)
{
    /* A token is at least one byte of the text it encodes, and no JSON escape decodes to
     * more bytes than it takes; per message at most 4 tokens of overhead; tools' overheads
     * stay below the bytes of their definitions. Images and audio are counted by rule, not
     * by bytes: no bound. */
    if (memmem(c->text, c->len, "\"image_url\"", 11) || memmem(c->text, c->len, "\"input_audio\"", 13))
        return LONG_MAX;
    long n = (long)c->len + 4L * c->nmessages + 64;
    return sy_tokens_scale(SY_TOK_ESTIMATE, n);
}

/* ============================================================ public API (switchyard.h) */

static const sy_encoding *public_enc(const char *encoding, char *err, size_t errlen)
{
    int k = sy_tok_kind(encoding);
    if (k < 0 || k == SY_TOK_ESTIMATE) {
        snprintf(err, errlen, "unknown encoding \"%s\" (known: cl100k_base, o200k_base)",
                 encoding ? encoding : "");
        return NULL;
    }
    return sy_encoding_get(encoding, err, errlen);
}

int sy_tokens_count_text(const char *encoding, const char *text, size_t len, size_t *n,
                         char *err, size_t errlen)
{
    const sy_encoding *e = public_enc(encoding, err, errlen);
    if (!e) return SY_EINVAL;
    *n = sy_bpe_count(e, text, len);
    return SY_OK;
}

int sy_tokens_encode_text(const char *encoding, const char *text, size_t len, uint32_t **ids,
                          size_t *n, char *err, size_t errlen)
{
    const sy_encoding *e = public_enc(encoding, err, errlen);
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    if (!e) return SY_EINVAL;
    if (sy_bpe_encode(e, text, len, ids, n, &cap) != 0) {
        free(*ids);
        *ids = NULL;
        snprintf(err, errlen, "out of memory");
        return SY_ENOMEM;
    }
    return SY_OK;
}

int sy_tokens_count_chat(const char *encoding, const char *json, size_t len, long *n, char *err,
                         size_t errlen)
{
    int k = sy_tok_kind(encoding);
    if (k < 0) {
        snprintf(err, errlen, "unknown encoding \"%s\" (known: cl100k_base, o200k_base, estimate)",
                 encoding ? encoding : "");
        return SY_EINVAL;
    }
    if (sy_tokens_init(k, err, errlen) != 0) return SY_EINVAL;
    sy_chat c;
    sy_chat_error ce;
    if (sy_chat_parse(&c, json, len, &ce) != 0) {
        snprintf(err, errlen, "not a Chat Completions request: %s", ce.message);
        sy_chat_free(&c);
        return SY_EINVAL;
    }
    *n = sy_tokens_request(&c, k);
    sy_chat_free(&c);
    return SY_OK;
}
