/* sy_json.h — a one-pass JSON validator that records where the top-level members of an
 * object are, without building a tree. The request path uses it to rewrite one field (the
 * "model") of a body it passes through, instead of parsing and re-printing the whole body.
 * Implemented in sy_json.c; depends on nothing. */
#ifndef SY_JSON_H
#define SY_JSON_H

#include <stddef.h>

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

/* The recorded member whose (unescaped ASCII) key equals key, or NULL. */
const sy_json_member *sy_json_find(const char *text, const sy_json_member *members, int n,
                                   const char *key);

#endif
