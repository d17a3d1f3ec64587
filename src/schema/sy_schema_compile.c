/* sy_schema_compile.c — turns a JSON Schema (cJSON) into the immutable compiled form of
 * sy_schema_int.h: a scan registers schema resources ($id), anchors and the draft of every
 * subschema; then a work queue compiles nodes one at a time (no recursion through $ref),
 * resolving $ref/$dynamicRef to node pointers; last, a check rejects $ref cycles that never
 * move into the instance. Every malformed keyword is rejected here with its schema path, so
 * sy_schema_validate.c never meets one. Works with sy_schema_uri.c and sy_schema_regex.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/sy_schema_int.h"

/* ================================================================================ arena */

struct sy_sarena_blk {
    sy_sarena_blk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *sy_sarena_alloc(sy_sarena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    sy_sarena_blk *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *sy_sarena_strndup(sy_sarena *a, const char *s, size_t n)
{
    char *p = sy_sarena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void sy_sarena_free(sy_sarena *a)
{
    sy_sarena_blk *b = a->head;
    while (b) {
        sy_sarena_blk *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* ========================================================================= pointer map */

typedef struct {
    const void **keys;
    void **vals;
    size_t cap, n; /* cap a power of two, or 0 */
} ptrmap;

static size_t ptr_slot(const void *p, size_t mask)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & mask;
}

static void *ptrmap_get(const ptrmap *m, const void *k)
{
    if (!m->cap) return NULL;
    for (size_t i = ptr_slot(k, m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == k) return m->vals[i];
        if (!m->keys[i]) return NULL;
    }
}

static int ptrmap_put(ptrmap *m, const void *k, void *v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        const void **keys = calloc(cap, sizeof *keys);
        void **vals = calloc(cap, sizeof *vals);
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t j = ptr_slot(m->keys[i], cap - 1);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    size_t i = ptr_slot(k, m->cap - 1);
    while (m->keys[i] && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) m->n++;
    m->keys[i] = k;
    m->vals[i] = v;
    return 0;
}

static void ptrmap_free(ptrmap *m)
{
    free(m->keys);
    free(m->vals);
}

/* ===================================================================== compile context */

typedef struct {
    sy_sres *res;
    sy_draft draft;
    const char *path;
} scaninfo;

typedef struct anchor_rec {
    const char *name;
    const cJSON *node;
    int dynamic;
    struct anchor_rec *next;
} anchor_rec;

typedef struct {
    sy_snode *n;
    const cJSON *json;
    scaninfo info;
} work;

typedef struct {
    sy_schema *s;
    int assert_format;
    ptrmap info;  /* cJSON* -> scaninfo* (every subschema the scan saw) */
    ptrmap nodes; /* cJSON* -> sy_snode* */
    work *queue;
    size_t nq, capq;
    sy_snode **all;
    size_t nall, capall;
    char *err;
    size_t errlen;
    int failed;
} cc;

static void cfail(cc *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cfail(cc *c, const char *path, const char *fmt, ...)
{
    if (c->failed) return;
    c->failed = 1;
    if (!c->errlen) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a very long path is cut in the middle so the message itself always fits */
    if (!path) path = "";
    size_t pl = strlen(path);
    if (pl > 160)
        snprintf(c->err, c->errlen, "invalid schema at \"%.60s...%s\": %s", path, path + pl - 90,
                 msg);
    else
        snprintf(c->err, c->errlen, "invalid schema at \"%s\": %s", path, msg);
}

static void *calloc_a(cc *c, size_t n)
{
    void *p = sy_sarena_alloc(&c->s->arena, n);
    if (!p) cfail(c, "", "out of memory");
    return p;
}

/* parent + "/" + seg, seg escaped as a JSON pointer token. */
static const char *path_seg(cc *c, const char *parent, const char *seg)
{
    size_t pl = strlen(parent), sl = strlen(seg), extra = 0;
    for (size_t i = 0; i < sl; i++)
        extra += seg[i] == '~' || seg[i] == '/';
    char *p = calloc_a(c, pl + sl + extra + 2);
    if (!p) return "";
    memcpy(p, parent, pl);
    char *o = p + pl;
    *o++ = '/';
    for (size_t i = 0; i < sl; i++) {
        if (seg[i] == '~') {
            *o++ = '~';
            *o++ = '0';
        } else if (seg[i] == '/') {
            *o++ = '~';
            *o++ = '1';
        } else {
            *o++ = seg[i];
        }
    }
    *o = '\0';
    return p;
}

static const char *path_idx(cc *c, const char *parent, int i)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%d", i);
    return path_seg(c, parent, buf);
}

static const char *type_name(const cJSON *v)
{
    if (!v) return "nothing";
    if (cJSON_IsObject(v)) return "object";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsNumber(v)) return "number";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsNull(v)) return "null";
    return "invalid";
}

static const cJSON *kw(const cJSON *obj, const char *name)
{
    for (const cJSON *m = obj->child; m; m = m->next)
        if (m->string && strcmp(m->string, name) == 0) return m;
    return NULL;
}

/* =============================================================================== scan */

static sy_sres *res_find(const sy_schema *s, const char *uri)
{
    for (sy_sres *r = s->resources; r; r = r->next)
        if (strcmp(r->uri, uri) == 0) return r;
    return NULL;
}

static sy_sres *res_new(cc *c, const char *uri, const cJSON *root, sy_draft d, const char *path)
{
    sy_sres *old = res_find(c->s, uri);
    if (old) {
        if (old->root != root) cfail(c, path, "duplicate \"$id\" \"%s\"", uri);
        return old;
    }
    sy_sres *r = calloc_a(c, sizeof *r);
    if (!r) return NULL;
    r->uri = sy_sarena_strndup(&c->s->arena, uri, strlen(uri));
    r->root = root;
    r->draft = d;
    r->next = c->s->resources;
    c->s->resources = r;
    return r;
}

static void anchor_add(cc *c, sy_sres *r, const char *name, const cJSON *node, int dynamic,
                       const char *path)
{
    for (anchor_rec *a = r->scan_anchors; a; a = a->next) {
        if (strcmp(a->name, name) == 0) {
            if (a->node != node) cfail(c, path, "duplicate anchor \"%s\"", name);
            if (dynamic) a->dynamic = 1;
            return;
        }
    }
    anchor_rec *a = calloc_a(c, sizeof *a);
    if (!a) return;
    a->name = name;
    a->node = node;
    a->dynamic = dynamic;
    a->next = r->scan_anchors;
    r->scan_anchors = a;
}

static int anchor_name_ok(const char *s)
{
    /* ^[A-Za-z_][-A-Za-z0-9._]*$ (2020-12 core, section 8.2.2) */
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_')) return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

/* 0 unknown, else the draft a "$schema" URI names */
static sy_draft draft_of_uri(const char *u)
{
    static const char *const d7[] = {
        "http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema",
        "https://json-schema.org/draft-07/schema#", "https://json-schema.org/draft-07/schema"};
    static const char *const d2020[] = {"https://json-schema.org/draft/2020-12/schema",
                                        "https://json-schema.org/draft/2020-12/schema#",
                                        "http://json-schema.org/draft/2020-12/schema",
                                        "http://json-schema.org/draft/2020-12/schema#"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(u, d7[i]) == 0) return SY_DRAFT_07;
        if (strcmp(u, d2020[i]) == 0) return SY_DRAFT_2020_12;
    }
    return SY_DRAFT_AUTO;
}

/* Schema-valued keywords, by shape. Unknown keywords are not scanned: an "$id" inside one
 * is not an identifier. */
static const char *const SINGLE_07[] = {"additionalItems",
                                        "additionalProperties",
                                        "contains",
                                        "not",
                                        "if",
                                        "then",
                                        "else",
                                        "propertyNames",
                                        "items",
                                        NULL};
static const char *const ARRAY_07[] = {"allOf", "anyOf", "oneOf", "items", NULL};
static const char *const MAP_07[] = {"properties", "patternProperties", "definitions",
                                     "dependencies", NULL};
static const char *const SINGLE_2020[] = {"additionalProperties",
                                          "propertyNames",
                                          "items",
                                          "contains",
                                          "not",
                                          "if",
                                          "then",
                                          "else",
                                          "unevaluatedItems",
                                          "unevaluatedProperties",
                                          "contentSchema",
                                          NULL};
static const char *const ARRAY_2020[] = {"allOf", "anyOf", "oneOf", "prefixItems", NULL};
static const char *const MAP_2020[] = {
    "properties",  "patternProperties", "$defs", "dependentSchemas",
    "definitions", "dependencies",      NULL};

static int is_schema_value(const cJSON *v)
{
    return cJSON_IsObject(v) || cJSON_IsBool(v);
}

static void scan(cc *c, const cJSON *node, sy_sres *res, sy_draft draft, const char *path,
                 int depth, int is_doc_root)
{
    if (c->failed) return;
    if (depth > SY_SCHEMA_MAX_DEPTH) {
        cfail(c, path, "schema nested deeper than %d levels", SY_SCHEMA_MAX_DEPTH);
        return;
    }
    if (!is_schema_value(node)) return; /* compile reports it if it is ever used */
    if (cJSON_IsObject(node)) {
        const cJSON *id = kw(node, "$id");
        const cJSON *ref = kw(node, "$ref");
        const cJSON *sch = kw(node, "$schema");
        if (sch && (is_doc_root || id)) {
            if (!cJSON_IsString(sch)) {
                cfail(c, path_seg(c, path, "$schema"), "must be a string, got %s", type_name(sch));
                return;
            }
            sy_draft d = draft_of_uri(sch->valuestring);
            if (!d) {
                cfail(c, path_seg(c, path, "$schema"),
                      "unsupported $schema \"%s\" (supported: draft-07, draft 2020-12)",
                      sch->valuestring);
                return;
            }
            draft = d;
            if (is_doc_root) res->draft = d;
        }
        if (id && !(draft == SY_DRAFT_07 && ref)) {
            if (!cJSON_IsString(id)) {
                cfail(c, path_seg(c, path, "$id"), "must be a string, got %s", type_name(id));
                return;
            }
            const char *v = id->valuestring;
            if (draft == SY_DRAFT_07 && v[0] == '#') {
                if (v[1]) anchor_add(c, res, v + 1, node, 0, path);
            } else {
                char *full = sy_suri_resolve(res->uri, v);
                const char *frag = NULL;
                char *base = full ? sy_suri_split(full, &frag) : NULL;
                if (!base) {
                    free(full);
                    cfail(c, path, "out of memory");
                    return;
                }
                if (frag && *frag && draft != SY_DRAFT_07) {
                    cfail(c, path_seg(c, path, "$id"),
                          "\"$id\" must not have a fragment (use \"$anchor\"): \"%s\"", v);
                } else {
                    sy_sres *nr = res_new(c, base, node, draft, path);
                    if (nr) {
                        res = nr;
                        if (frag && *frag && frag[0] != '/')
                            anchor_add(c, res, frag, node, 0, path);
                    }
                }
                free(base);
                free(full);
                if (c->failed) return;
            }
        }
        if (draft == SY_DRAFT_2020_12) {
            const char *names[2] = {"$anchor", "$dynamicAnchor"};
            for (int k = 0; k < 2; k++) {
                const cJSON *a = kw(node, names[k]);
                if (!a) continue;
                if (!cJSON_IsString(a) || !anchor_name_ok(a->valuestring)) {
                    cfail(c, path_seg(c, path, names[k]),
                          "must be a string matching ^[A-Za-z_][-A-Za-z0-9._]*$");
                    return;
                }
                anchor_add(c, res, a->valuestring, node, k == 1, path);
            }
        }
    }
    scaninfo *si = calloc_a(c, sizeof *si);
    if (!si) return;
    si->res = res;
    si->draft = draft;
    si->path = path;
    if (ptrmap_put(&c->info, node, si) != 0) {
        cfail(c, path, "out of memory");
        return;
    }
    if (!cJSON_IsObject(node)) return;
    const char *const *single = draft == SY_DRAFT_07 ? SINGLE_07 : SINGLE_2020;
    const char *const *array = draft == SY_DRAFT_07 ? ARRAY_07 : ARRAY_2020;
    const char *const *map = draft == SY_DRAFT_07 ? MAP_07 : MAP_2020;
    for (const cJSON *m = node->child; m && !c->failed; m = m->next) {
        if (!m->string) continue;
        for (size_t i = 0; single[i]; i++)
            if (strcmp(m->string, single[i]) == 0 && is_schema_value(m))
                scan(c, m, res, draft, path_seg(c, path, m->string), depth + 1, 0);
        for (size_t i = 0; array[i]; i++) {
            if (strcmp(m->string, array[i]) != 0 || !cJSON_IsArray(m)) continue;
            const char *ap = path_seg(c, path, m->string);
            int k = 0;
            for (const cJSON *e = m->child; e; e = e->next, k++)
                scan(c, e, res, draft, path_idx(c, ap, k), depth + 1, 0);
        }
        for (size_t i = 0; map[i]; i++) {
            if (strcmp(m->string, map[i]) != 0 || !cJSON_IsObject(m)) continue;
            const char *mp = path_seg(c, path, m->string);
            for (const cJSON *e = m->child; e; e = e->next)
                if (e->string) scan(c, e, res, draft, path_seg(c, mp, e->string), depth + 1, 0);
        }
    }
}

/* ============================================================================ nodes */

/* The node for a subschema: made (and queued for compiling) on first sight. */
static sy_snode *get_node(cc *c, const cJSON *json, const scaninfo *parent, const char *path)
{
    sy_snode *n = ptrmap_get(&c->nodes, json);
    if (n || c->failed) return n;
    n = calloc_a(c, sizeof *n);
    if (!n) return NULL;
    const scaninfo *si = ptrmap_get(&c->info, json);
    work w;
    w.n = n;
    w.json = json;
    if (si) {
        w.info = *si;
    } else {
        w.info = *parent;
        w.info.path = path;
    }
    n->path = w.info.path;
    n->res = w.info.res;
    n->draft = (uint8_t)w.info.draft;
    n->boolean = -1;
    if (ptrmap_put(&c->nodes, json, n) != 0) {
        cfail(c, path, "out of memory");
        return NULL;
    }
    if (c->nq == c->capq) {
        size_t cap = c->capq ? c->capq * 2 : 64;
        work *q = realloc(c->queue, cap * sizeof *q);
        if (!q) {
            cfail(c, path, "out of memory");
            return NULL;
        }
        c->queue = q;
        c->capq = cap;
    }
    c->queue[c->nq++] = w;
    if (c->nall == c->capall) {
        size_t cap = c->capall ? c->capall * 2 : 64;
        sy_snode **a = realloc(c->all, cap * sizeof *a);
        if (!a) {
            cfail(c, path, "out of memory");
            return NULL;
        }
        c->all = a;
        c->capall = cap;
    }
    c->all[c->nall++] = n;
    return n;
}

/* ---- reference resolution --------------------------------------------------------- */

static const cJSON *find_anchor(const sy_sres *r, const char *name, int *dynamic)
{
    for (const anchor_rec *a = r->scan_anchors; a; a = a->next)
        if (strcmp(a->name, name) == 0) {
            if (dynamic) *dynamic = a->dynamic;
            return a->node;
        }
    return NULL;
}

/* Resolves ref (from the resource of `from`) to a node; for $dynamicRef, *dyn_name gets the
 * anchor name when the static target carries a matching "$dynamicAnchor". */
static sy_snode *resolve(cc *c, const char *ref, const scaninfo *from, const char *kwpath,
                         const char **dyn_name)
{
    sy_snode *out = NULL;
    char *full = sy_suri_resolve(from->res->uri, ref);
    const char *frag = NULL;
    char *base = full ? sy_suri_split(full, &frag) : NULL;
    char *dec = NULL;
    if (!base) {
        cfail(c, kwpath, "out of memory");
        goto done;
    }
    sy_sres *r = res_find(c->s, base);
    if (!r) {
        if (sy_suri_has_scheme(base))
            cfail(c, kwpath,
                  "remote reference \"%s\" is not supported: only references into this schema "
                  "document resolve",
                  full);
        else
            cfail(c, kwpath, "unresolvable reference \"%s\"", ref);
        goto done;
    }
    dec = sy_suri_pct_decode(frag ? frag : "");
    if (!dec) {
        cfail(c, kwpath, "bad percent-encoding in reference \"%s\"", ref);
        goto done;
    }
    const cJSON *target;
    scaninfo at = {r, r->draft, NULL};
    if (dec[0] == '\0' || dec[0] == '/') {
        target = sy_sjptr_get(r->root, dec);
        if (!target) {
            cfail(c, kwpath, "unresolvable reference \"%s\": no value at that JSON pointer", ref);
            goto done;
        }
        at.path =
            ptrmap_get(&c->info, r->root) ? ((scaninfo *)ptrmap_get(&c->info, r->root))->path : "";
        char *p = malloc(strlen(at.path) + strlen(dec) + 1);
        if (!p) {
            cfail(c, kwpath, "out of memory");
            goto done;
        }
        strcpy(p, at.path);
        strcat(p, dec);
        at.path = sy_sarena_strndup(&c->s->arena, p, strlen(p));
        free(p);
        if (!is_schema_value(target)) {
            cfail(c, kwpath, "reference \"%s\" points at a %s, not a schema", ref,
                  type_name(target));
            goto done;
        }
    } else {
        int dynamic = 0;
        target = find_anchor(r, dec, &dynamic);
        if (!target) {
            cfail(c, kwpath, "unresolvable reference \"%s\": no anchor \"%s\"", ref, dec);
            goto done;
        }
        if (dyn_name && dynamic) {
            const cJSON *da = kw(target, "$dynamicAnchor");
            if (da && cJSON_IsString(da) && strcmp(da->valuestring, dec) == 0)
                *dyn_name = sy_sarena_strndup(&c->s->arena, dec, strlen(dec));
        }
        at.path = kwpath;
    }
    out = get_node(c, target, &at, at.path);
done:
    free(dec);
    free(base);
    free(full);
    return out;
}

/* ---- keyword readers ----------------------------------------------------------------- */

static const sy_snode *schema_kw(cc *c, const cJSON *v, const scaninfo *in, const char *path)
{
    if (!is_schema_value(v)) {
        cfail(c, path, "must be a schema (object or boolean), got %s", type_name(v));
        return NULL;
    }
    return get_node(c, v, in, path);
}

static const sy_snode *const *schema_list(cc *c, const cJSON *v, const scaninfo *in,
                                          const char *path, uint32_t *n)
{
    if (!cJSON_IsArray(v) || !v->child) {
        cfail(c, path, "must be a non-empty array of schemas, got %s",
              cJSON_IsArray(v) ? "an empty array" : type_name(v));
        return NULL;
    }
    uint32_t k = (uint32_t)cJSON_GetArraySize(v), i = 0;
    const sy_snode **out = calloc_a(c, k * sizeof *out);
    if (!out) return NULL;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        out[i] = schema_kw(c, e, in, path_idx(c, path, (int)i));
        if (!out[i]) return NULL;
    }
    *n = k;
    return out;
}

static int count_kw(cc *c, const cJSON *v, const char *path, uint32_t *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        floor(v->valuedouble) != v->valuedouble) {
        cfail(c, path, "must be a non-negative integer, got %s",
              cJSON_IsNumber(v) ? "a negative or fractional number" : type_name(v));
        return -1;
    }
    *out = v->valuedouble >= 4294967295.0 ? UINT32_MAX : (uint32_t)v->valuedouble;
    return 0;
}

static int number_kw(cc *c, const cJSON *v, const char *path, double *out)
{
    if (!cJSON_IsNumber(v)) {
        cfail(c, path, "must be a number, got %s", type_name(v));
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

static int string_array(cc *c, const cJSON *v, const char *path)
{
    if (!cJSON_IsArray(v)) {
        cfail(c, path, "must be an array of strings, got %s", type_name(v));
        return -1;
    }
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e)) {
            cfail(c, path_idx(c, path, i), "must be a string, got %s", type_name(e));
            return -1;
        }
        for (const cJSON *f = v->child; f != e; f = f->next)
            if (strcmp(f->valuestring, e->valuestring) == 0) {
                cfail(c, path_idx(c, path, i), "duplicate name \"%s\"", e->valuestring);
                return -1;
            }
    }
    return 0;
}

static int type_bit(const char *t)
{
    static const struct {
        const char *n;
        int bit;
    } T[] = {{"null", SY_T_NULL},      {"boolean", SY_T_BOOL},  {"object", SY_T_OBJECT},
             {"array", SY_T_ARRAY},    {"number", SY_T_NUMBER}, {"string", SY_T_STRING},
             {"integer", SY_T_INTEGER}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strcmp(T[i].n, t) == 0) return T[i].bit;
    return 0;
}

/* ---- the name table of an object schema --------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int32_t name_find(const sy_snode *n, const char *name)
{
    uint32_t len, h = sy_sname_hash(name, &len);
    for (uint32_t i = h & n->hmask;; i = (i + 1) & n->hmask) {
        int32_t k = n->htab[i];
        if (k < 0) return -1;
        if (n->names[k].hash == h && n->names[k].len == len &&
            memcmp(n->names[k].name, name, len) == 0)
            return k;
    }
}

typedef struct {
    const cJSON *props, *required, *dep_req, *dep_schemas, *deps;
} objkw;

static int build_names(cc *c, sy_snode *n, const objkw *o, const scaninfo *in, const char *path)
{
    /* every name any of these keywords mentions, sorted, without duplicates */
    size_t cap = 0;
    const cJSON *lists[] = {o->props, o->dep_req, o->dep_schemas, o->deps};
    for (size_t l = 0; l < 4; l++)
        if (lists[l])
            for (const cJSON *m = lists[l]->child; m; m = m->next) {
                cap++;
                if (cJSON_IsArray(m)) cap += (size_t)cJSON_GetArraySize(m);
            }
    if (o->required) cap += (size_t)cJSON_GetArraySize(o->required);
    if (cap == 0) return 0;
    const char **tmp = malloc(cap * sizeof *tmp);
    if (!tmp) {
        cfail(c, path, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t l = 0; l < 4; l++)
        if (lists[l])
            for (const cJSON *m = lists[l]->child; m; m = m->next) {
                tmp[k++] = m->string;
                if (cJSON_IsArray(m))
                    for (const cJSON *e = m->child; e; e = e->next)
                        tmp[k++] = e->valuestring;
            }
    if (o->required)
        for (const cJSON *e = o->required->child; e; e = e->next)
            tmp[k++] = e->valuestring;
    qsort(tmp, k, sizeof *tmp, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(tmp[u - 1], tmp[i]) != 0) tmp[u++] = tmp[i];
    sy_sname *names = calloc_a(c, u * sizeof *names);
    uint32_t size = 4;
    while (size < u * 2)
        size *= 2;
    int32_t *htab = calloc_a(c, size * sizeof *htab);
    if (!names || !htab) {
        free(tmp);
        return -1;
    }
    for (uint32_t i = 0; i < size; i++)
        htab[i] = -1;
    for (size_t i = 0; i < u; i++) {
        names[i].name = tmp[i];
        names[i].hash = sy_sname_hash(tmp[i], &names[i].len);
        names[i].dep_req = -1;
        uint32_t j = names[i].hash & (size - 1);
        while (htab[j] >= 0)
            j = (j + 1) & (size - 1);
        htab[j] = (int32_t)i;
    }
    free(tmp);
    n->names = names;
    n->nnames = (uint32_t)u;
    n->hmask = size - 1;
    n->htab = htab;

    if (o->props) {
        const char *pp = path_seg(c, path, "properties");
        for (const cJSON *m = o->props->child; m; m = m->next) {
            const sy_snode *s = schema_kw(c, m, in, path_seg(c, pp, m->string));
            if (!s) return -1;
            names[name_find(n, m->string)].prop = s;
        }
    }
    if (o->required) {
        int32_t *req = calloc_a(c, (size_t)cJSON_GetArraySize(o->required) * sizeof *req + 1);
        if (!req) return -1;
        for (const cJSON *e = o->required->child; e; e = e->next)
            req[n->nrequired++] = name_find(n, e->valuestring);
        n->required = req;
    }
    /* dependentRequired / array-valued dependencies; dependentSchemas / schema-valued ones */
    const cJSON *dr[2] = {o->dep_req, o->deps};
    const cJSON *ds[2] = {o->dep_schemas, o->deps};
    size_t ndr = 0;
    for (int l = 0; l < 2; l++)
        if (dr[l])
            for (const cJSON *m = dr[l]->child; m; m = m->next)
                ndr += cJSON_IsArray(m);
    sy_sdepreq *deps = ndr ? calloc_a(c, ndr * sizeof *deps) : NULL;
    if (ndr && !deps) return -1;
    for (int l = 0; l < 2; l++) {
        if (!dr[l]) continue;
        for (const cJSON *m = dr[l]->child; m; m = m->next) {
            if (!cJSON_IsArray(m)) continue;
            sy_sdepreq *d = &deps[n->ndep_req];
            d->key = name_find(n, m->string);
            d->n = (uint32_t)cJSON_GetArraySize(m);
            int32_t *needs = calloc_a(c, d->n * sizeof *needs + 1);
            if (!needs) return -1;
            uint32_t i = 0;
            for (const cJSON *e = m->child; e; e = e->next)
                needs[i++] = name_find(n, e->valuestring);
            d->needs = needs;
            names[d->key].dep_req = (int32_t)n->ndep_req++;
        }
    }
    n->dep_req = deps;
    for (int l = 0; l < 2; l++) {
        if (!ds[l]) continue;
        const char *dp = path_seg(c, path, ds[l]->string);
        for (const cJSON *m = ds[l]->child; m; m = m->next) {
            if (cJSON_IsArray(m)) continue;
            const sy_snode *s = schema_kw(c, m, in, path_seg(c, dp, m->string));
            if (!s) return -1;
            names[name_find(n, m->string)].dep_schema = s;
            n->ndep_schema++;
        }
    }
    return 0;
}

/* ---- one node ------------------------------------------------------------------------- */

#define KW(name) ((v = kw(j, name)) != NULL)
#define KWPATH(name) path_seg(c, path, name)

static void compile_node(cc *c, sy_snode *n, const cJSON *j, const scaninfo *in)
{
    const char *path = in->path;
    const cJSON *v;
    int d7 = in->draft == SY_DRAFT_07;
    if (cJSON_IsBool(j)) {
        n->boolean = cJSON_IsTrue(j) ? 1 : 0;
        return;
    }
    if (!cJSON_IsObject(j)) {
        cfail(c, path, "a schema must be an object or a boolean, got %s", type_name(j));
        return;
    }
    /* $ref: in draft-07 it replaces every sibling keyword */
    if (KW("$ref")) {
        if (!cJSON_IsString(v)) {
            cfail(c, KWPATH("$ref"), "must be a string, got %s", type_name(v));
            return;
        }
        n->ref = resolve(c, v->valuestring, in, KWPATH("$ref"), NULL);
        if (!n->ref) return;
        n->has |= SY_H_REF;
        if (d7) return;
    }
    if (KW("type")) {
        if (cJSON_IsString(v)) {
            n->types = (uint16_t)type_bit(v->valuestring);
            if (!n->types) {
                cfail(c, KWPATH("type"), "unknown type \"%s\"", v->valuestring);
                return;
            }
        } else if (cJSON_IsArray(v)) {
            int i = 0;
            for (const cJSON *e = v->child; e; e = e->next, i++) {
                int b = cJSON_IsString(e) ? type_bit(e->valuestring) : 0;
                if (!b || (n->types & b)) {
                    cfail(c, path_idx(c, KWPATH("type"), i), "%s",
                          !b ? "must be a type name (null, boolean, object, array, number, "
                               "string, integer)"
                             : "duplicate type");
                    return;
                }
                n->types |= (uint16_t)b;
            }
            if (!n->types) n->types = SY_T_NONE;
        } else {
            cfail(c, KWPATH("type"), "must be a string or an array of strings, got %s",
                  type_name(v));
            return;
        }
    }
    if (KW("enum")) {
        if (!cJSON_IsArray(v)) {
            cfail(c, KWPATH("enum"), "must be an array, got %s", type_name(v));
            return;
        }
        n->enum_v = v;
        uint32_t k = 0;
        for (const cJSON *e = v->child; e; e = e->next)
            k += cJSON_IsString(e) != 0;
        sy_sstr *strs = calloc_a(c, k * sizeof *strs + 1);
        if (!strs) return;
        for (const cJSON *e = v->child; e; e = e->next)
            if (cJSON_IsString(e)) {
                strs[n->nenum_strs].s = e->valuestring;
                strs[n->nenum_strs++].len = (uint32_t)strlen(e->valuestring);
            }
        n->enum_strs = strs;
        n->has |= SY_H_ENUM;
    }
    if (KW("const")) {
        n->const_v = v;
        n->has |= SY_H_CONST;
    }
    /* ---- numbers */
    if (KW("multipleOf")) {
        if (number_kw(c, v, KWPATH("multipleOf"), &n->multiple_of)) return;
        if (!(n->multiple_of > 0)) {
            cfail(c, KWPATH("multipleOf"), "must be greater than 0");
            return;
        }
        n->num_has |= 1;
    }
    static const char *const numkw[] = {"maximum", "minimum", "exclusiveMaximum",
                                        "exclusiveMinimum"};
    double *numdst[] = {&n->maximum, &n->minimum, &n->ex_maximum, &n->ex_minimum};
    for (int i = 0; i < 4; i++) {
        if (!KW(numkw[i])) continue;
        if (cJSON_IsBool(v) && i >= 2) {
            cfail(c, KWPATH(numkw[i]),
                  "must be a number (a boolean %s is draft-04, which is not supported)", numkw[i]);
            return;
        }
        if (number_kw(c, v, KWPATH(numkw[i]), numdst[i])) return;
        n->num_has |= 2u << i;
    }
    if (n->num_has) n->has |= SY_H_NUM;
    /* ---- strings */
    n->max_length = UINT32_MAX;
    if (KW("maxLength") && count_kw(c, v, KWPATH("maxLength"), &n->max_length)) return;
    if (KW("minLength") && count_kw(c, v, KWPATH("minLength"), &n->min_length)) return;
    if (n->max_length != UINT32_MAX || n->min_length) n->has |= SY_H_STR;
    if (KW("pattern")) {
        if (!cJSON_IsString(v)) {
            cfail(c, KWPATH("pattern"), "must be a string, got %s", type_name(v));
            return;
        }
        sy_sregex *re = calloc_a(c, sizeof *re);
        char msg[256];
        if (!re) return;
        if (sy_sregex_compile(re, v->valuestring, msg, sizeof msg) != 0) {
            cfail(c, KWPATH("pattern"), "%s", msg);
            return;
        }
        sy_sregex **list = realloc(c->s->regexes, (c->s->nregexes + 1) * sizeof *list);
        if (!list) {
            sy_sregex_free(re);
            cfail(c, path, "out of memory");
            return;
        }
        c->s->regexes = list;
        list[c->s->nregexes++] = re;
        n->pattern = re;
        n->has |= SY_H_STR;
    }
    if (KW("format")) {
        if (!cJSON_IsString(v)) {
            cfail(c, KWPATH("format"), "must be a string, got %s", type_name(v));
            return;
        }
        if (c->assert_format) {
            n->format = (uint8_t)sy_sfmt_lookup(v->valuestring);
            if (n->format) n->has |= SY_H_STR;
        }
    }
    /* ---- arrays */
    n->max_items = UINT32_MAX;
    n->max_contains = UINT32_MAX;
    n->min_contains = 1;
    if (d7) {
        n->prefix_kw = "items";
        n->rest_kw = "additionalItems";
        if (KW("items")) {
            if (cJSON_IsArray(v)) {
                int i = 0;
                n->nprefix = (uint32_t)cJSON_GetArraySize(v);
                const sy_snode **p = calloc_a(c, n->nprefix * sizeof *p + 1);
                if (!p) return;
                for (const cJSON *e = v->child; e; e = e->next, i++)
                    if (!(p[i] = schema_kw(c, e, in, path_idx(c, KWPATH("items"), i)))) return;
                n->prefix = p;
                if (KW("additionalItems") &&
                    !(n->rest = schema_kw(c, v, in, KWPATH("additionalItems"))))
                    return;
            } else {
                n->rest_kw = "items";
                if (!(n->rest = schema_kw(c, v, in, KWPATH("items")))) return;
            }
        }
    } else {
        n->prefix_kw = "prefixItems";
        n->rest_kw = "items";
        if (KW("prefixItems") &&
            !(n->prefix = schema_list(c, v, in, KWPATH("prefixItems"), &n->nprefix)))
            return;
        if (KW("items")) {
            if (cJSON_IsArray(v)) {
                cfail(c, KWPATH("items"),
                      "must be a schema in draft 2020-12 (the array form is draft-07; use "
                      "\"prefixItems\")");
                return;
            }
            if (!(n->rest = schema_kw(c, v, in, KWPATH("items")))) return;
        }
        if (KW("unevaluatedItems") &&
            !(n->uneval_items = schema_kw(c, v, in, KWPATH("unevaluatedItems"))))
            return;
    }
    if (KW("contains")) {
        if (!(n->contains = schema_kw(c, v, in, KWPATH("contains")))) return;
        if (!d7) {
            if (KW("minContains") && count_kw(c, v, KWPATH("minContains"), &n->min_contains))
                return;
            if (KW("maxContains") && count_kw(c, v, KWPATH("maxContains"), &n->max_contains))
                return;
        }
    }
    if (KW("maxItems") && count_kw(c, v, KWPATH("maxItems"), &n->max_items)) return;
    if (KW("minItems") && count_kw(c, v, KWPATH("minItems"), &n->min_items)) return;
    if (KW("uniqueItems")) {
        if (!cJSON_IsBool(v)) {
            cfail(c, KWPATH("uniqueItems"), "must be a boolean, got %s", type_name(v));
            return;
        }
        n->unique_items = cJSON_IsTrue(v);
    }
    if (n->nprefix || n->rest || n->contains || n->max_items != UINT32_MAX || n->min_items ||
        n->unique_items || n->uneval_items)
        n->has |= SY_H_ARR;
    /* ---- objects */
    objkw o = {0};
    if (KW("properties")) {
        if (!cJSON_IsObject(v)) {
            cfail(c, KWPATH("properties"), "must be an object, got %s", type_name(v));
            return;
        }
        o.props = v;
    }
    if (KW("required")) {
        if (string_array(c, v, KWPATH("required"))) return;
        o.required = v;
    }
    const char *dr_name = d7 ? NULL : "dependentRequired";
    const char *ds_name = d7 ? NULL : "dependentSchemas";
    if (dr_name && KW(dr_name)) {
        if (!cJSON_IsObject(v)) {
            cfail(c, KWPATH(dr_name), "must be an object, got %s", type_name(v));
            return;
        }
        for (const cJSON *m = v->child; m; m = m->next)
            if (string_array(c, m, path_seg(c, KWPATH(dr_name), m->string))) return;
        o.dep_req = v;
    }
    if (ds_name && KW(ds_name)) {
        if (!cJSON_IsObject(v)) {
            cfail(c, KWPATH(ds_name), "must be an object, got %s", type_name(v));
            return;
        }
        o.dep_schemas = v;
    }
    n->dep_req_kw = "dependentRequired";
    n->dep_schema_kw = "dependentSchemas";
    if (!o.dep_req && !o.dep_schemas && KW("dependencies")) {
        if (!cJSON_IsObject(v)) {
            cfail(c, KWPATH("dependencies"), "must be an object, got %s", type_name(v));
            return;
        }
        for (const cJSON *m = v->child; m; m = m->next) {
            const char *mp = path_seg(c, KWPATH("dependencies"), m->string);
            if (cJSON_IsArray(m)) {
                if (string_array(c, m, mp)) return;
            } else if (!is_schema_value(m)) {
                cfail(c, mp, "must be an array of names or a schema, got %s", type_name(m));
                return;
            }
        }
        o.deps = v;
        n->dep_req_kw = n->dep_schema_kw = "dependencies";
    }
    if (build_names(c, n, &o, in, path)) return;
    if (KW("patternProperties")) {
        if (!cJSON_IsObject(v)) {
            cfail(c, KWPATH("patternProperties"), "must be an object, got %s", type_name(v));
            return;
        }
        uint32_t k = (uint32_t)cJSON_GetArraySize(v);
        sy_spattern *pp = calloc_a(c, k * sizeof *pp + 1);
        if (!pp) return;
        const char *ppath = KWPATH("patternProperties");
        for (const cJSON *m = v->child; m; m = m->next) {
            char msg[256];
            const char *mp = path_seg(c, ppath, m->string);
            sy_spattern *p = &pp[n->npatterns];
            if (sy_sregex_compile(&p->re, m->string, msg, sizeof msg) != 0) {
                cfail(c, mp, "%s", msg);
                return;
            }
            sy_sregex **list = realloc(c->s->regexes, (c->s->nregexes + 1) * sizeof *list);
            if (!list) {
                sy_sregex_free(&p->re);
                cfail(c, path, "out of memory");
                return;
            }
            c->s->regexes = list;
            list[c->s->nregexes++] = &p->re;
            n->npatterns++;
            if (!(p->schema = schema_kw(c, m, in, mp))) return;
        }
        n->patterns = pp;
    }
    if (KW("additionalProperties") &&
        !(n->additional_props = schema_kw(c, v, in, KWPATH("additionalProperties"))))
        return;
    if (KW("propertyNames") && !(n->property_names = schema_kw(c, v, in, KWPATH("propertyNames"))))
        return;
    if (!d7 && KW("unevaluatedProperties") &&
        !(n->uneval_props = schema_kw(c, v, in, KWPATH("unevaluatedProperties"))))
        return;
    n->max_props = UINT32_MAX;
    if (KW("maxProperties") && count_kw(c, v, KWPATH("maxProperties"), &n->max_props)) return;
    if (KW("minProperties") && count_kw(c, v, KWPATH("minProperties"), &n->min_props)) return;
    int has_names = 0;
    for (uint32_t i = 0; i < n->nnames; i++)
        has_names |= n->names[i].prop != NULL;
    n->props_walk = has_names || n->npatterns || n->additional_props || n->property_names ||
                    n->nrequired || n->ndep_req || n->ndep_schema || n->uneval_props;
    if (n->props_walk || n->max_props != UINT32_MAX || n->min_props) n->has |= SY_H_OBJ;
    if (n->uneval_props || n->uneval_items) n->has |= SY_H_UNEVAL;
    /* ---- in place */
    if (KW("allOf") && !(n->all_of = schema_list(c, v, in, KWPATH("allOf"), &n->nall_of))) return;
    if (KW("anyOf") && !(n->any_of = schema_list(c, v, in, KWPATH("anyOf"), &n->nany_of))) return;
    if (KW("oneOf") && !(n->one_of = schema_list(c, v, in, KWPATH("oneOf"), &n->none_of))) return;
    if (KW("not") && !(n->not_ = schema_kw(c, v, in, KWPATH("not")))) return;
    if (KW("if")) {
        if (!(n->if_ = schema_kw(c, v, in, KWPATH("if")))) return;
        if (KW("then") && !(n->then_ = schema_kw(c, v, in, KWPATH("then")))) return;
        if (KW("else") && !(n->else_ = schema_kw(c, v, in, KWPATH("else")))) return;
    } else { /* then/else without if do nothing, but must still be schemas */
        if (KW("then") && !schema_kw(c, v, in, KWPATH("then"))) return;
        if (KW("else") && !schema_kw(c, v, in, KWPATH("else"))) return;
    }
    if (!d7 && KW("$dynamicRef")) {
        if (!cJSON_IsString(v)) {
            cfail(c, KWPATH("$dynamicRef"), "must be a string, got %s", type_name(v));
            return;
        }
        n->dynref = resolve(c, v->valuestring, in, KWPATH("$dynamicRef"), &n->dynref_name);
        if (!n->dynref) return;
        if (n->dynref_name) c->s->uses_dynamic = 1;
    }
    if (n->nall_of || n->nany_of || n->none_of || n->not_ || n->if_ || n->dynref)
        n->has |= SY_H_INPLACE;
    /* definitions are compiled (and so checked) even when nothing refers to them */
    const char *defs[] = {"$defs", "definitions"};
    for (int i = 0; i < 2; i++) {
        if (!KW(defs[i])) continue;
        if (!cJSON_IsObject(v)) {
            cfail(c, KWPATH(defs[i]), "must be an object, got %s", type_name(v));
            return;
        }
        for (const cJSON *m = v->child; m; m = m->next)
            if (!schema_kw(c, m, in, path_seg(c, KWPATH(defs[i]), m->string))) return;
    }
    static const char *const strkw[] = {"$id", "$anchor", "$comment"};
    for (size_t i = 0; i < 3; i++) {
        if (KW(strkw[i]) && !cJSON_IsString(v)) {
            cfail(c, KWPATH(strkw[i]), "must be a string, got %s", type_name(v));
            return;
        }
    }
}

/* ====================================================================== cycle check */

/* The i-th in-place edge of a node (evaluating it looks at the same instance location), or
 * NULL past the last. */
static const sy_snode *edge_at(const sy_snode *n, size_t i)
{
    const sy_snode *fixed[6] = {n->ref, n->dynref, n->not_, n->if_, n->then_, n->else_};
    for (size_t k = 0; k < 6; k++)
        if (fixed[k] && i-- == 0) return fixed[k];
    if (i < n->nall_of) return n->all_of[i];
    i -= n->nall_of;
    if (i < n->nany_of) return n->any_of[i];
    i -= n->nany_of;
    if (i < n->none_of) return n->one_of[i];
    i -= n->none_of;
    for (uint32_t k = 0; k < n->nnames; k++)
        if (n->names[k].dep_schema && i-- == 0) return n->names[k].dep_schema;
    return NULL;
}

/* Iterative DFS; a back edge is a cycle of $ref/allOf/... that never consumes instance, so
 * validation would recurse forever: rejected here rather than met at run time. */
static void check_cycles(cc *c)
{
    ptrmap idx = {0};
    uint8_t *color = calloc(c->nall + 1, 1);
    struct frame {
        const sy_snode *n;
        size_t next;
    } *stack = malloc((c->nall + 1) * sizeof *stack);
    if (!color || !stack) {
        cfail(c, "", "out of memory");
        goto done;
    }
    for (size_t i = 0; i < c->nall; i++)
        if (ptrmap_put(&idx, c->all[i], (void *)(i + 1))) {
            cfail(c, "", "out of memory");
            goto done;
        }
    for (size_t r = 0; r < c->nall && !c->failed; r++) {
        if (color[r]) continue;
        size_t sp = 0;
        stack[sp++] = (struct frame){c->all[r], 0};
        color[r] = 1;
        while (sp && !c->failed) {
            struct frame *f = &stack[sp - 1];
            const sy_snode *t = edge_at(f->n, f->next++);
            if (!t) {
                color[(size_t)ptrmap_get(&idx, f->n) - 1] = 2;
                sp--;
                continue;
            }
            size_t ti = (size_t)ptrmap_get(&idx, t) - 1;
            if (color[ti] == 1) {
                cfail(c, t->path,
                      "reference cycle that never moves into the instance (validation would "
                      "recurse forever)");
            } else if (color[ti] == 0) {
                color[ti] = 1;
                stack[sp++] = (struct frame){t, 0};
            }
        }
    }
done:
    ptrmap_free(&idx);
    free(color);
    free(stack);
}

/* ========================================================================== public */

void sy_schema_free(sy_schema *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nregexes; i++)
        sy_sregex_free(s->regexes[i]);
    free(s->regexes);
    pcre2_match_context_free(s->mctx);
    cJSON_Delete(s->doc);
    sy_sarena_free(&s->arena);
    free(s);
}

sy_schema *sy_schema_compile(const cJSON *schema, const sy_schema_opts *opts, char *err,
                             size_t errlen)
{
    cc c;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.errlen = errlen;
    if (errlen) err[0] = '\0';
    c.assert_format = opts ? opts->assert_format : 0;
    sy_draft d = opts && opts->default_draft ? opts->default_draft : SY_DRAFT_2020_12;
    sy_schema *s = calloc(1, sizeof *s);
    if (!s) {
        cfail(&c, "", "out of memory");
        return NULL;
    }
    c.s = s;
    if (!schema) {
        cfail(&c, "", "no schema");
        goto fail;
    }
    s->doc = cJSON_Duplicate(schema, 1);
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->doc || !s->mctx) {
        cfail(&c, "", "out of memory");
        goto fail;
    }
    /* a backtracking bomb stops with an error instead of spinning */
    pcre2_set_match_limit(s->mctx, 1000000);
    pcre2_set_depth_limit(s->mctx, 10000);
    sy_sres *root = res_new(&c, "", s->doc, d, "");
    if (!root) goto fail;
    scan(&c, s->doc, root, d, "", 0, 1);
    if (c.failed) goto fail;
    const scaninfo *ri = ptrmap_get(&c.info, s->doc);
    scaninfo rinfo = {root, root->draft, ""};
    s->root = get_node(&c, s->doc, ri ? ri : &rinfo, "");
    if (!s->root) {
        if (!c.failed)
            cfail(&c, "", "a schema must be an object or a boolean, got %s", type_name(s->doc));
        goto fail;
    }
    size_t done = 0;
    for (;;) {
        while (done < c.nq && !c.failed) {
            work w = c.queue[done++];
            compile_node(&c, w.n, w.json, &w.info);
        }
        if (c.failed) goto fail;
        /* the $dynamicAnchors of every resource, for dynamic scope lookups */
        size_t before = c.nq;
        for (sy_sres *r = s->resources; r && !c.failed; r = r->next) {
            if (r->dyn) continue;
            uint32_t k = 0;
            for (anchor_rec *a = r->scan_anchors; a; a = a->next)
                k += a->dynamic;
            if (!k) continue;
            r->dyn = calloc_a(&c, k * sizeof *r->dyn);
            if (!r->dyn) goto fail;
            for (anchor_rec *a = r->scan_anchors; a; a = a->next) {
                if (!a->dynamic) continue;
                const scaninfo *ai = ptrmap_get(&c.info, a->node);
                r->dyn[r->ndyn].name = a->name;
                r->dyn[r->ndyn].node = get_node(&c, a->node, ai ? ai : &rinfo, "");
                r->ndyn++;
            }
        }
        if (c.nq == before && done == c.nq) break;
    }
    if (c.failed) goto fail;
    check_cycles(&c);
    if (c.failed) goto fail;
    ptrmap_free(&c.info);
    ptrmap_free(&c.nodes);
    free(c.queue);
    free(c.all);
    return s;
fail:
    ptrmap_free(&c.info);
    ptrmap_free(&c.nodes);
    free(c.queue);
    free(c.all);
    sy_schema_free(s);
    return NULL;
}

sy_schema *sy_schema_compile_text(const char *json, size_t len, const sy_schema_opts *opts,
                                  char *err, size_t errlen)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!doc) {
        if (errlen)
            snprintf(err, errlen, "schema is not valid JSON (near byte %zu)",
                     end && end >= json ? (size_t)(end - json) : (size_t)0);
        return NULL;
    }
    sy_schema *s = sy_schema_compile(doc, opts, err, errlen);
    cJSON_Delete(doc);
    return s;
}
