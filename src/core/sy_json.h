/* sy_json.h — a one-pass JSON validator that records where the top-level members of an
 * object are, without building a tree. The request path uses it to rewrite one field (the
 * "model") of a body it passes through, instead of parsing and re-printing the whole body.
 * Implemented in sy_json.c; depends on nothing. */
#ifndef SY_JSON_H
#define SY_JSON_H

#include <stddef.h>

#include "core/sy_core.h"

typedef struct sy_json_member {
    size_t key_off, key_len; /* the key's bytes, quotes excluded, escapes not decoded */
    size_t val_off, val_len; /* the value's bytes, exactly as in the text */
    char type;               /* 'o' object, 'a' array, 's' string, 'n' number, 't', 'f', 'z' null */
} sy_json_member;

typedef struct sy_json_top {
    char type;               /* type of the top-level value */
    size_t start, end;       /* its span (whitespace around it excluded) */
    int n;                   /* members recorded (an object only; at most the caller's max) */
    int total;               /* members present */
} sy_json_top;

/* Validates that text is exactly one JSON value (RFC 8259; whitespace around it allowed,
 * nesting up to 256 levels) and records up to max top-level members of an object in order.
 * Returns 0, or -1 with *err_at set to the byte offset of the first error. */
int sy_json_scan(const char *text, size_t len, sy_json_member *members, int max,
                 sy_json_top *top, size_t *err_at);


/* ---- walking text that sy_json_scan has already validated ------------------------------
 * No validation here: these only skip and decode, so they must only see validated text. */

/* Iterates the members of an object or the elements of an array given the span of the
 * container ("{...}" or "[...]"). Elements of an array have key_len 0. */
typedef struct sy_json_iter {
    const char *text;
    size_t i, end;
    int is_object;
} sy_json_iter;

void sy_json_iter_init(sy_json_iter *it, const char *text, size_t off, size_t len);
/* 1 and *m filled (offsets into text), or 0 at the end. */
int sy_json_iter_next(sy_json_iter *it, sy_json_member *m);
/* The member of the object at [off, off+len) with the given key, or 0 if absent. */
int sy_json_get(const char *text, size_t off, size_t len, const char *key, sy_json_member *m);

/* Appends the decoded value of a string span (quotes included) as UTF-8. */
int sy_json_string(const char *text, size_t off, size_t len, sy_buf *out);
/* Whether the string span equals s (after decoding). */
int sy_json_string_eq(const char *text, const sy_json_member *m, const char *s);
/* The value of a number span. */
double sy_json_number(const char *text, size_t off, size_t len);

struct cJSON;
/* obj[key] += piece (a string item; anything else is ignored): the pieces of a streamed
 * string put back together. */
void sy_cjson_append_str(struct cJSON *obj, const char *key, const struct cJSON *piece);
/* Folds one stream delta (choices[i].delta) into msg, an assistant message being put back
 * together: content, refusal and tool calls by their index (ids, names, arguments). */
void sy_cjson_fold_delta(struct cJSON *msg, const struct cJSON *delta);

#endif
