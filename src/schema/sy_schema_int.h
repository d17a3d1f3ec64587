/* sy_schema_int.h — the compiled form of a JSON Schema, shared by sy_schema_compile.c (which
 * builds it), sy_schema_validate.c (which walks it), sy_schema_regex.c, sy_schema_format.c
 * and sy_schema_uri.c. Nothing here is public: sy_schema.h is the API.
 *
 * Invariant: after sy_schema_compile returns, nothing reachable from a sy_schema is written
 * again until sy_schema_free; validation state lives on the validating thread's stack. */
#ifndef SY_SCHEMA_INT_H
#define SY_SCHEMA_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <string.h>

#include "schema/sy_schema.h"

/* ---- arena: every compiled structure lives in one, freed at once -------------------- */
typedef struct sy_sarena_blk sy_sarena_blk;
typedef struct {
    sy_sarena_blk *head;
} sy_sarena;
void *sy_sarena_alloc(sy_sarena *a, size_t n); /* zeroed, 16-byte aligned; NULL on ENOMEM */
char *sy_sarena_strndup(sy_sarena *a, const char *s, size_t n);
void sy_sarena_free(sy_sarena *a);

/* ---- regex (sy_schema_regex.c) -------------------------------------------------------- */
typedef struct {
    pcre2_code *code;
    const char *src; /* the pattern as written in the schema */
} sy_sregex;
/* Compiles an ECMA-262 pattern with PCRE2 (see docs/schema.md for the dialect). 0 or -1 with
 * a message in err. */
int sy_sregex_compile(sy_sregex *re, const char *pattern, char *err, size_t errlen);
void sy_sregex_free(sy_sregex *re);
/* 1 match (unanchored search), 0 no match, -1 error (bad UTF-8, resource limit). md is one
 * match data block of the calling thread. */
int sy_sregex_match(const sy_sregex *re, const char *s, size_t len, pcre2_match_data *md,
                    pcre2_match_context *mc);

/* ---- formats (sy_schema_format.c) ----------------------------------------------------- */
typedef enum {
    SY_FMT_NONE = 0, /* unknown or not asserted */
    SY_FMT_DATE_TIME,
    SY_FMT_DATE,
    SY_FMT_TIME,
    SY_FMT_DURATION,
    SY_FMT_EMAIL,
    SY_FMT_HOSTNAME,
    SY_FMT_IPV4,
    SY_FMT_IPV6,
    SY_FMT_URI,
    SY_FMT_URI_REFERENCE,
    SY_FMT_UUID,
    SY_FMT_JSON_POINTER,
    SY_FMT_REL_JSON_POINTER,
    SY_FMT_REGEX,
} sy_sfmt;
sy_sfmt sy_sfmt_lookup(const char *name);
const char *sy_sfmt_name(sy_sfmt f);
int sy_sfmt_check(sy_sfmt f, const char *s, size_t len); /* 1 ok, 0 not */

/* ---- URIs and JSON pointers (sy_schema_uri.c) ----------------------------------------- */
/* RFC 3986 section 5.2 reference resolution, dot segments removed. Result malloc'd. */
char *sy_suri_resolve(const char *base, const char *ref);
/* Splits at '#': *frag points after it (or NULL), returns malloc'd URI without fragment. */
char *sy_suri_split(const char *uri, const char **frag);
/* Percent-decodes a URI fragment; malloc'd, NULL on a bad escape. */
char *sy_suri_pct_decode(const char *s);
/* Is the URI absolute (has a scheme)? */
int sy_suri_has_scheme(const char *uri);
/* Follows a JSON pointer ("" or "/a/b~1c/0") from root; NULL if it leads nowhere. */
const cJSON *sy_sjptr_get(const cJSON *root, const char *ptr);
/* Syntax check for format "uri" (absolute) / "uri-reference" (relative allowed). */
int sy_suri_valid(const char *s, size_t len, int absolute);

/* ---- the compiled form ------------------------------------------------------------------ */
enum {
    SY_T_NULL = 1 << 0,
    SY_T_BOOL = 1 << 1,
    SY_T_OBJECT = 1 << 2,
    SY_T_ARRAY = 1 << 3,
    SY_T_NUMBER = 1 << 4,
    SY_T_STRING = 1 << 5,
    SY_T_INTEGER = 1 << 6, /* "integer" in a type list; a number value with no fraction */
    SY_T_NONE = 1 << 15,   /* "type": [] -- present, and allows nothing */
};

/* Which keyword groups a node has: the validator skips a whole group on one test. */
enum {
    SY_H_ENUM = 1u << 0,
    SY_H_CONST = 1u << 1,
    SY_H_NUM = 1u << 2,     /* any of multipleOf, maximum, minimum, exclusive* */
    SY_H_STR = 1u << 3,     /* any of maxLength, minLength, pattern, asserted format */
    SY_H_ARR = 1u << 4,     /* any array keyword */
    SY_H_OBJ = 1u << 5,     /* any object keyword */
    SY_H_INPLACE = 1u << 6, /* allOf, anyOf, oneOf, not, if, $dynamicRef */
    SY_H_REF = 1u << 7,
    SY_H_UNEVAL = 1u << 8, /* unevaluatedProperties or unevaluatedItems: collect annotations */
};

typedef struct sy_snode sy_snode;
typedef struct sy_sres sy_sres;

typedef struct {
    const char *name; /* points into the schema document (NUL-terminated) */
    uint32_t len;
    uint32_t hash;
    const sy_snode *prop;       /* properties[name], or NULL */
    const sy_snode *dep_schema; /* dependentSchemas / dependencies[name] schema, or NULL */
    int32_t dep_req;            /* index into dep_req lists, or -1 */
} sy_sname;

typedef struct {
    const char *s;
    uint32_t len;
} sy_sstr;

typedef struct {
    sy_sregex re;
    const sy_snode *schema;
} sy_spattern;

typedef struct {
    int32_t key; /* index into names */
    uint32_t n;
    const int32_t *needs; /* indices into names */
} sy_sdepreq;

typedef struct {
    const char *name;
    const sy_snode *node;
} sy_sanchor;

/* A schema resource: the root document or a subschema with its own "$id". */
struct sy_sres {
    char *uri; /* absolute base URI without fragment ("" for an anonymous root) */
    const cJSON *root;
    sy_draft draft;
    /* "$dynamicAnchor"s of this resource (compiled), for $dynamicRef's dynamic scope */
    sy_sanchor *dyn;
    uint32_t ndyn;
    /* all anchors during compilation (cJSON nodes), private to sy_schema_compile.c */
    void *scan_anchors;
    sy_sres *next;
};

struct sy_snode {
    int8_t boolean; /* -1 an object schema, 0 the false schema, 1 the true schema */
    uint8_t draft;  /* sy_draft */
    uint8_t unique_items;
    uint8_t format; /* sy_sfmt, asserted; SY_FMT_NONE when not */
    uint16_t types; /* SY_T_* mask; 0 means no "type" */
    uint32_t has;   /* SY_H_* */
    uint32_t
        num_has; /* 1 multipleOf, 2 maximum, 4 minimum, 8 exclusiveMaximum, 16 exclusiveMinimum */
    const sy_sres *res;
    const char *path; /* canonical location in its document, for compile-time messages */

    const cJSON *enum_v;      /* an array */
    const sy_sstr *enum_strs; /* its string members, for the common all-strings enum */
    uint32_t nenum_strs;
    const cJSON *const_v;
    const sy_snode *ref;
    /* $dynamicRef: the static target, and the anchor name if it is dynamic ("bookended") */
    const sy_snode *dynref;
    const char *dynref_name;

    double multiple_of, maximum, minimum, ex_maximum, ex_minimum;

    uint32_t max_length, min_length; /* UINT32_MAX / 0 when absent */
    sy_sregex *pattern;

    /* array: prefix = prefixItems (2020-12) or array-form items (07); rest = items (2020-12),
     * schema-form items or additionalItems after array-form items (07) */
    const sy_snode *const *prefix;
    uint32_t nprefix;
    const sy_snode *rest;
    const char *prefix_kw, *rest_kw;
    const sy_snode *contains;
    uint32_t min_contains, max_contains;
    uint32_t max_items, min_items;
    const sy_snode *uneval_items;

    /* object: one name table for properties, required and the dependent* keywords */
    const sy_sname *names;
    uint32_t nnames;
    uint32_t hmask;          /* hash table size - 1 (0 with no names) */
    const int32_t *htab;     /* hmask+1 slots: index into names or -1 */
    const int32_t *required; /* indices into names, in schema order */
    uint32_t nrequired;
    const sy_sdepreq *dep_req;
    uint32_t ndep_req;
    uint32_t ndep_schema;
    const char *dep_req_kw, *dep_schema_kw; /* "dependentRequired" or "dependencies", ... */
    const sy_spattern *patterns;
    uint32_t npatterns;
    const sy_snode *additional_props;
    const sy_snode *property_names;
    const sy_snode *uneval_props;
    uint32_t max_props, min_props;
    uint8_t props_walk; /* must look at each member (not just count them) */

    /* in place */
    const sy_snode *const *all_of, *const *any_of, *const *one_of;
    uint32_t nall_of, nany_of, none_of;
    const sy_snode *not_, *if_, *then_, *else_;
};

struct sy_schema {
    const sy_snode *root;
    cJSON *doc; /* our copy of the schema: names and enum/const values point into it */
    sy_sres *resources;
    sy_sarena arena;
    sy_sregex **regexes; /* every compiled regex, to free */
    size_t nregexes;
    pcre2_match_context *mctx; /* match limits; read-only while matching */
    int uses_dynamic;          /* has a $dynamicRef that can resolve dynamically */
};

/* The hash of a NUL-terminated member name; *len gets its length. The one hash both the
 * compiler (name tables) and the validator (instance keys) use: 8 bytes per step. */
static inline uint64_t sy_smix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

static inline uint32_t sy_sname_hash(const char *s, uint32_t *len)
{
    size_t n = strlen(s);
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, w;
    const char *p = s;
    for (; n - (size_t)(p - s) >= 8; p += 8) {
        memcpy(&w, p, 8);
        h = sy_smix(h ^ w);
    }
    size_t rest = n - (size_t)(p - s);
    if (rest >= 4) { /* two overlapping loads, no byte loop, no read past the end */
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + rest - 4, 4);
        h = sy_smix(h ^ (lo | (uint64_t)hi << 32));
    } else if (rest) {
        const unsigned char *u = (const unsigned char *)p;
        h = sy_smix(h ^ (u[0] | (uint64_t)u[rest / 2] << 8 | (uint64_t)u[rest - 1] << 16));
    }
    *len = (uint32_t)n;
    return (uint32_t)h;
}

/* a == b for n bytes, inlined for the short names of JSON members. */
static inline int sy_sbytes_eq(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    while (n >= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
        a += 8;
        b += 8;
        n -= 8;
    }
    while (n--)
        if (*a++ != *b++) return 0;
    return 1;
}

#endif
