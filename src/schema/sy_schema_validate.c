/* sy_schema_validate.c — applies a compiled schema (sy_schema_int.h, built by
 * sy_schema_compile.c) to a cJSON instance. Read-only on the schema: all state is on the
 * caller's stack (paths, dynamic scope, annotation sets) plus one PCRE2 match block per call,
 * so any number of threads may validate against one schema at once.
 *
 * Modes: verdict only (no error buffer), first error, or collect up to max errors. Paths are
 * linked frames on the stack and only rendered into strings when an error is recorded.
 * Annotations (which properties / items were evaluated) are only collected below a node with
 * unevaluatedProperties / unevaluatedItems. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/sy_schema_int.h"

/* ============================================================================ context */

typedef struct ipath {
    const struct ipath *up;
    const char *key; /* NULL: idx is an array index */
    uint32_t idx;
} ipath;

typedef struct spath {
    const struct spath *up;
    const char *a; /* keyword */
    const char *b; /* then a member name, or (b NULL, bi >= 0) an index */
    int32_t bi;
} spath;

typedef struct dscope {
    const struct dscope *up;
    const sy_sres *res;
} dscope;

/* Which members / items of the current instance were evaluated (for unevaluated*). */
typedef struct {
    int all;
    uint32_t n;
    uint64_t *bits;
    uint64_t inl[4];
} ann;

/* PCRE2 allocates the match block (and its context) here, on the validating thread's stack:
 * no malloc per call. Bigger requests (the interpreter's backtracking frames when JIT is not
 * available) go to malloc; md_free tells the two apart. */
typedef struct {
    _Alignas(16) unsigned char buf[1024];
    size_t used;
} mdmem;

static void *md_malloc(PCRE2_SIZE n, void *d)
{
    mdmem *m = d;
    n = (n + 15) & ~(PCRE2_SIZE)15;
    if (n <= sizeof m->buf - m->used) {
        void *p = m->buf + m->used;
        m->used += n;
        return p;
    }
    return malloc(n);
}

static void md_free(void *p, void *d)
{
    mdmem *m = d;
    if ((unsigned char *)p >= m->buf && (unsigned char *)p < m->buf + sizeof m->buf) return;
    free(p);
}

typedef struct {
    const sy_schema *s;
    sy_schema_error *errs;
    int max;
    int n;
    int quiet; /* > 0 inside anyOf/oneOf/not/if/contains: record nothing, stop early */
    int depth;
    int overflow;      /* the depth limit was hit: the verdict is "invalid", whatever else */
    int overflow_told; /* ... and an error says so */
    int oom;
    pcre2_match_data *md;
    pcre2_general_context *gctx;
    mdmem *mdm;
} vctx;

#define STOP(c) ((c)->quiet || (c)->n >= (c)->max || (c)->overflow)
#define RECORDING(c) (!(c)->quiet && (c)->n < (c)->max)
/* fail(): 0, and an error when one is being recorded. The message arguments (number
 * formatting, lists) are only evaluated then: a quiet branch or a verdict-only call pays
 * nothing for them. */
#define fail(c, ...) (RECORDING(c) ? fail_((c), __VA_ARGS__) : 0)

static int v_node(vctx *c, const sy_snode *n, const cJSON *x, const ipath *ip, const spath *sp,
                  const dscope *ds, ann *a);

/* ============================================================================ errors */

/* Messages and paths are written with this small formatter (%s %d %u %zu %%), not
 * vsnprintf: on the first-error path glibc's printf machinery cost more than validating. */
typedef struct {
    char *p, *end; /* end: the last byte, kept for the NUL */
} mbuf;

static void m_strn(mbuf *m, const char *s, size_t n)
{
    size_t room = (size_t)(m->end - m->p);
    if (n > room) n = room;
    memcpy(m->p, s, n);
    m->p += n;
}

static void m_str(mbuf *m, const char *s)
{
    m_strn(m, s, strlen(s));
}

static void m_uint(mbuf *m, unsigned long long v)
{
    char tmp[24], *t = tmp + sizeof tmp;
    do {
        *--t = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    m_strn(m, t, (size_t)(tmp + sizeof tmp - t));
}

static void m_vfmt(mbuf *m, const char *fmt, va_list ap)
{
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            const char *q = strchr(f, '%');
            size_t n = q ? (size_t)(q - f) : strlen(f);
            m_strn(m, f, n);
            f += n - 1;
            continue;
        }
        f++;
        if (*f == 's') {
            m_str(m, va_arg(ap, const char *));
        } else if (*f == 'u') {
            m_uint(m, va_arg(ap, unsigned));
        } else if (*f == 'd') {
            int v = va_arg(ap, int);
            if (v < 0) m_strn(m, "-", 1);
            m_uint(m, v < 0 ? -(unsigned long long)v : (unsigned long long)v);
        } else if (*f == 'z' && f[1] == 'u') {
            f++;
            m_uint(m, va_arg(ap, size_t));
        } else {
            m_strn(m, f, 1); /* %% and anything unexpected: the character itself */
        }
    }
}

static void put_token(char **o, char *end, const char *s, int *trunc)
{
    for (; *s; s++) {
        const char *rep = *s == '~' ? "~0" : *s == '/' ? "~1" : NULL;
        size_t need = rep ? 2 : 1;
        if (*o + need >= end) {
            *trunc = 1;
            return;
        }
        if (rep) {
            *(*o)++ = rep[0];
            *(*o)++ = rep[1];
        } else {
            *(*o)++ = *s;
        }
    }
}

static void put_seg(char **o, char *end, const char *key, long idx, int *trunc)
{
    char num[24];
    if (*trunc) return;
    if (*o + 1 >= end) {
        *trunc = 1;
        return;
    }
    *(*o)++ = '/';
    if (!key) {
        mbuf m = {num, num + sizeof num - 1};
        m_uint(&m, (unsigned long long)idx);
        *m.p = '\0';
        key = num;
    }
    put_token(o, end, key, trunc);
}

static void finish_path(char *buf, size_t cap, char *o, int trunc)
{
    if (trunc) {
        o = buf + cap - 4;
        memcpy(o, "...", 3);
        o += 3;
    }
    *o = '\0';
}

#define MAX_CHAIN (SY_SCHEMA_MAX_DEPTH * 2 + 16)

static void render_ipath(const ipath *ip, char *buf, size_t cap)
{
    const ipath *chain[MAX_CHAIN];
    size_t k = 0;
    for (; ip && k < MAX_CHAIN; ip = ip->up)
        chain[k++] = ip;
    char *o = buf, *end = buf + cap;
    int trunc = 0;
    while (k--)
        put_seg(&o, end, chain[k]->key, chain[k]->key ? 0 : (long)chain[k]->idx, &trunc);
    finish_path(buf, cap, o, trunc);
}

static void render_spath(const spath *sp, const char *last, char *buf, size_t cap)
{
    const spath *chain[MAX_CHAIN];
    size_t k = 0;
    for (; sp && k < MAX_CHAIN; sp = sp->up)
        chain[k++] = sp;
    char *o = buf, *end = buf + cap;
    int trunc = 0;
    while (k--) {
        if (chain[k]->a) put_seg(&o, end, chain[k]->a, 0, &trunc);
        if (chain[k]->b)
            put_seg(&o, end, chain[k]->b, 0, &trunc);
        else if (chain[k]->bi >= 0)
            put_seg(&o, end, NULL, chain[k]->bi, &trunc);
    }
    if (last) put_seg(&o, end, last, 0, &trunc);
    finish_path(buf, cap, o, trunc);
}

static void record(vctx *c, const ipath *ip, const spath *sp, const char *kw, const char *fmt,
                   va_list ap)
{
    sy_schema_error *e = &c->errs[c->n++];
    render_ipath(ip, e->instance_path, sizeof e->instance_path);
    render_spath(sp, kw, e->schema_path, sizeof e->schema_path);
    mbuf m = {e->message, e->message + sizeof e->message - 1};
    m_vfmt(&m, fmt, ap);
    *m.p = '\0';
}

/* Records an error at instance ip, keyword kw under schema location sp. Returns 0. */
static int fail_(vctx *c, const ipath *ip, const spath *sp, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail_(vctx *c, const ipath *ip, const spath *sp, const char *kw, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(c, ip, sp, kw, fmt, ap);
    va_end(ap);
    return 0;
}

/* The depth limit: recorded even inside quiet branches (it decides the verdict). */
static int fail_depth(vctx *c, const ipath *ip, const spath *sp)
{
    if (!c->overflow_told && c->n < c->max) {
        c->overflow_told = 1;
        sy_schema_error *e = &c->errs[c->n++];
        render_ipath(ip, e->instance_path, sizeof e->instance_path);
        render_spath(sp, NULL, e->schema_path, sizeof e->schema_path);
        snprintf(e->message, sizeof e->message,
                 "validation deeper than %d levels (instance or $ref nesting); giving up",
                 SY_SCHEMA_MAX_DEPTH);
    }
    c->overflow = 1;
    return 0;
}

static const char *got_name(const cJSON *x)
{
    switch (x->type & 0xFF) {
    case cJSON_NULL:
        return "null";
    case cJSON_False:
    case cJSON_True:
        return "boolean";
    case cJSON_Object:
        return "object";
    case cJSON_Array:
        return "array";
    case cJSON_String:
        return "string";
    case cJSON_Number:
        return isfinite(x->valuedouble) && floor(x->valuedouble) == x->valuedouble ? "integer"
                                                                                   : "number";
    }
    return "an unknown value";
}

static void type_list(uint16_t types, char *buf, size_t cap)
{
    static const struct {
        int bit;
        const char *name;
    } T[] = {{SY_T_OBJECT, "object"}, {SY_T_ARRAY, "array"},     {SY_T_STRING, "string"},
             {SY_T_NUMBER, "number"}, {SY_T_INTEGER, "integer"}, {SY_T_BOOL, "boolean"},
             {SY_T_NULL, "null"}};
    size_t k = 0, total = 0;
    mbuf m = {buf, buf + cap - 1};
    for (size_t i = 0; i < 7; i++)
        total += (types & T[i].bit) != 0;
    if (!total) m_str(&m, "nothing");
    for (size_t i = 0; i < 7; i++) {
        if (!(types & T[i].bit)) continue;
        k++;
        if (k > 1) m_str(&m, k == total ? " or " : ", ");
        m_str(&m, T[i].name);
    }
    *m.p = '\0';
}

static const char *fmtnum(double v, char *buf, size_t cap)
{
    if (v == floor(v) && fabs(v) < 1e15) { /* integers: no printf, no strtod */
        mbuf m = {buf, buf + cap - 1};
        if (v < 0) m_strn(&m, "-", 1);
        m_uint(&m, (unsigned long long)fabs(v));
        *m.p = '\0';
        return buf;
    }
    snprintf(buf, cap, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, cap, "%.17g", v);
    return buf;
}

/* A short JSON rendering of a value for messages ("\"a\"", 3, [...], {...}). */
static void m_json(mbuf *m, const cJSON *v)
{
    char num[40];
    switch (v->type & 0xFF) {
    case cJSON_String: {
        size_t n = strlen(v->valuestring);
        m_strn(m, "\"", 1);
        m_strn(m, v->valuestring, n > 40 ? 40 : n);
        if (n > 40) m_str(m, "...");
        m_strn(m, "\"", 1);
        break;
    }
    case cJSON_Number:
        m_str(m, fmtnum(v->valuedouble, num, sizeof num));
        break;
    case cJSON_True:
        m_str(m, "true");
        break;
    case cJSON_False:
        m_str(m, "false");
        break;
    case cJSON_NULL:
        m_str(m, "null");
        break;
    case cJSON_Array:
        m_str(m, "[...]");
        break;
    default:
        m_str(m, "{...}");
        break;
    }
}

static const char *short_json(const cJSON *v, char *buf, size_t cap)
{
    mbuf m = {buf, buf + cap - 1};
    m_json(&m, v);
    *m.p = '\0';
    return buf;
}

/* ====================================================================== annotations */

static int ann_init(vctx *c, ann *a, const cJSON *x)
{
    uint32_t n = 0;
    for (const cJSON *m = x->child; m; m = m->next)
        n++;
    a->all = 0;
    a->n = n;
    size_t words = (n + 63) / 64;
    if (words <= 4) {
        a->bits = a->inl;
        memset(a->inl, 0, sizeof a->inl);
        return 0;
    }
    a->bits = calloc(words, sizeof *a->bits);
    if (!a->bits) {
        c->oom = 1;
        return -1;
    }
    return 0;
}

static int ann_init_like(vctx *c, ann *a, const ann *like)
{
    a->all = 0;
    a->n = like->n;
    size_t words = (a->n + 63) / 64;
    if (words <= 4) {
        a->bits = a->inl;
        memset(a->inl, 0, sizeof a->inl);
        return 0;
    }
    a->bits = calloc(words, sizeof *a->bits);
    if (!a->bits) {
        c->oom = 1;
        return -1;
    }
    return 0;
}

static void ann_free(ann *a)
{
    if (a->bits && a->bits != a->inl) free(a->bits);
    a->bits = NULL;
}

static inline void ann_mark(ann *a, uint32_t i)
{
    if (a && i < a->n) a->bits[i >> 6] |= 1ULL << (i & 63);
}

static inline int ann_has(const ann *a, uint32_t i)
{
    return a->all || (a->bits[i >> 6] >> (i & 63)) & 1;
}

static void ann_merge(ann *dst, const ann *src)
{
    if (!dst) return;
    if (src->all) dst->all = 1;
    size_t words = (dst->n + 63) / 64;
    for (size_t i = 0; i < words; i++)
        dst->bits[i] |= src->bits[i];
}

/* ======================================================================== equality */

/* JSON equality: numbers by value (1 == 1.0), objects regardless of member order. */
static int jeq(vctx *c, const cJSON *a, const cJSON *b, int depth)
{
    int ta = a->type & 0xFF, tb = b->type & 0xFF;
    if (ta != tb) return 0;
    if (depth > SY_SCHEMA_MAX_DEPTH) {
        c->overflow = 1;
        return 0;
    }
    switch (ta) {
    case cJSON_Number:
        return a->valuedouble == b->valuedouble;
    case cJSON_String:
        return strcmp(a->valuestring, b->valuestring) == 0;
    case cJSON_Array: {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            if (!jeq(c, x, y, depth + 1)) return 0;
        return !x && !y;
    }
    case cJSON_Object: {
        size_t na = 0, nb = 0;
        for (const cJSON *x = a->child; x; x = x->next)
            na++;
        for (const cJSON *y = b->child; y; y = y->next)
            nb++;
        if (na != nb) return 0;
        for (const cJSON *x = a->child; x; x = x->next) {
            const cJSON *y = b->child;
            while (y && strcmp(y->string, x->string) != 0)
                y = y->next;
            if (!y || !jeq(c, x, y, depth + 1)) return 0;
        }
        return 1;
    }
    default:
        return 1; /* null, true, false: same type is same value */
    }
}

/* A hash consistent with jeq, for uniqueItems on long arrays. */
static uint64_t jhash(const cJSON *v, int depth)
{
    uint64_t h = (uint64_t)(v->type & 0xFF) * 0x9E3779B97F4A7C15ULL;
    if (depth > SY_SCHEMA_MAX_DEPTH) return h;
    switch (v->type & 0xFF) {
    case cJSON_Number: {
        double d = v->valuedouble == 0 ? 0.0 : v->valuedouble; /* -0 == 0 */
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        return h ^ (bits * 0xff51afd7ed558ccdULL);
    }
    case cJSON_String: {
        uint32_t len;
        return h ^ sy_sname_hash(v->valuestring, &len) ^ ((uint64_t)len << 32);
    }
    case cJSON_Array:
        for (const cJSON *e = v->child; e; e = e->next)
            h = (h ^ jhash(e, depth + 1)) * 31;
        return h;
    case cJSON_Object: {
        uint64_t sum = 0;
        for (const cJSON *e = v->child; e; e = e->next) {
            uint32_t len;
            sum += (sy_sname_hash(e->string, &len) + 1) * (jhash(e, depth + 1) | 1);
        }
        return h ^ sum;
    }
    }
    return h;
}

typedef struct {
    uint64_t h;
    uint32_t i;
    const cJSON *v;
} hitem;

static int cmp_hitem(const void *a, const void *b)
{
    const hitem *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Finds two equal items; 1 and their indices if found. */
static int find_duplicate(vctx *c, const cJSON *arr, uint32_t n, uint32_t *i1, uint32_t *i2)
{
    if (n <= 24) {
        uint32_t i = 0;
        for (const cJSON *x = arr->child; x; x = x->next, i++) {
            uint32_t j = i + 1;
            for (const cJSON *y = x->next; y; y = y->next, j++)
                if (jeq(c, x, y, 0)) {
                    *i1 = i;
                    *i2 = j;
                    return 1;
                }
        }
        return 0;
    }
    hitem *h = malloc(n * sizeof *h);
    if (!h) {
        c->oom = 1;
        return 0;
    }
    uint32_t k = 0;
    for (const cJSON *x = arr->child; x && k < n; x = x->next, k++)
        h[k] = (hitem){jhash(x, 0), k, x};
    qsort(h, k, sizeof *h, cmp_hitem);
    int found = 0;
    for (uint32_t i = 0; i < k && !found; i++)
        for (uint32_t j = i + 1; j < k && h[j].h == h[i].h; j++)
            if (jeq(c, h[i].v, h[j].v, 0)) {
                *i1 = h[i].i < h[j].i ? h[i].i : h[j].i;
                *i2 = h[i].i < h[j].i ? h[j].i : h[i].i;
                found = 1;
                break;
            }
    free(h);
    return found;
}

/* ========================================================================== numbers */

static int is_multiple(double v, double m)
{
    double q = v / m;
    if (!isfinite(q)) return fmod(v, m) == 0.0; /* e.g. 1e308 / 0.5 */
    double r = fabs(q - nearbyint(q));
    /* q carries the rounding of v and m: within a few ulps of an integer is a multiple
     * (0.3 / 0.1, 0.0075 / 0.0001), more is not (1000000.0001 / 1). */
    return r <= fmax(1e-9, fabs(q) * 8 * 2.220446049250313e-16) ? 1 : 0;
}

static int v_number(vctx *c, const sy_snode *n, const cJSON *x, const ipath *ip, const spath *sp)
{
    double v = x->valuedouble;
    char b1[40], b2[40];
    int ok = 1;
    if ((n->num_has & 1) && !is_multiple(v, n->multiple_of)) {
        ok = fail(c, ip, sp, "multipleOf", "%s is not a multiple of %s", fmtnum(v, b1, 40),
                  fmtnum(n->multiple_of, b2, 40));
        if (STOP(c)) return 0;
    }
    if ((n->num_has & 2) && v > n->maximum) {
        ok = fail(c, ip, sp, "maximum", "%s is greater than the maximum %s", fmtnum(v, b1, 40),
                  fmtnum(n->maximum, b2, 40));
        if (STOP(c)) return 0;
    }
    if ((n->num_has & 4) && v < n->minimum) {
        ok = fail(c, ip, sp, "minimum", "%s is less than the minimum %s", fmtnum(v, b1, 40),
                  fmtnum(n->minimum, b2, 40));
        if (STOP(c)) return 0;
    }
    if ((n->num_has & 8) && v >= n->ex_maximum) {
        ok = fail(c, ip, sp, "exclusiveMaximum", "%s is not less than %s", fmtnum(v, b1, 40),
                  fmtnum(n->ex_maximum, b2, 40));
        if (STOP(c)) return 0;
    }
    if ((n->num_has & 16) && v <= n->ex_minimum) {
        ok = fail(c, ip, sp, "exclusiveMinimum", "%s is not greater than %s", fmtnum(v, b1, 40),
                  fmtnum(n->ex_minimum, b2, 40));
    }
    return ok;
}

/* ========================================================================== strings */

static int match(vctx *c, const sy_sregex *re, const char *s, size_t len)
{
    if (!c->md) {
        if (!c->gctx) c->gctx = pcre2_general_context_create(md_malloc, md_free, c->mdm);
        c->md = c->gctx ? pcre2_match_data_create(1, c->gctx) : NULL;
        if (!c->md) {
            c->oom = 1;
            return -1;
        }
    }
    return sy_sregex_match(re, s, len, c->md, c->s->mctx);
}

static int v_string(vctx *c, const sy_snode *n, const cJSON *x, const ipath *ip, const spath *sp)
{
    const char *s = x->valuestring;
    size_t len = strlen(s);
    int ok = 1;
    /* len bytes hold between ceil(len / 4) and len code points: count only when that range
     * straddles a bound */
    if ((len > n->max_length) || ((len + 3) / 4 < n->min_length)) {
        size_t cps = 0;
        for (size_t i = 0; i < len; i++)
            cps += ((unsigned char)s[i] & 0xC0) != 0x80;
        if (cps > n->max_length) {
            ok = fail(c, ip, sp, "maxLength", "string has %zu characters, more than %u", cps,
                      n->max_length);
            if (STOP(c)) return 0;
        }
        if (cps < n->min_length) {
            ok = fail(c, ip, sp, "minLength", "string has %zu characters, fewer than %u", cps,
                      n->min_length);
            if (STOP(c)) return 0;
        }
    }
    if (n->pattern) {
        int m = match(c, n->pattern, s, len);
        if (m != 1) {
            ok = fail(c, ip, sp, "pattern",
                      m == 0 ? "string does not match pattern \"%s\""
                             : "pattern \"%s\" could not be matched "
                               "(invalid UTF-8 or match limit)",
                      n->pattern->src);
            if (STOP(c)) return 0;
        }
    }
    if (n->format && !sy_sfmt_check((sy_sfmt)n->format, s, len))
        ok =
            fail(c, ip, sp, "format", "string is not a valid %s", sy_sfmt_name((sy_sfmt)n->format));
    return ok;
}

/* =========================================================================== arrays */

static int v_array(vctx *c, const sy_snode *n, const cJSON *x, const ipath *ip, const spath *sp,
                   const dscope *ds, ann *acc)
{
    int ok = 1, rest_failed = 0;
    uint32_t matches = 0, i = 0;
    /* contains may stop at minContains unless maxContains or annotations need every match */
    int count_all = acc != NULL || n->max_contains != UINT32_MAX;
    for (const cJSON *e = x->child; e; e = e->next, i++) {
        ipath ci = {ip, NULL, i};
        if (i < n->nprefix) {
            spath cs = {sp, n->prefix_kw, NULL, (int32_t)i};
            if (!v_node(c, n->prefix[i], e, &ci, &cs, ds, NULL)) {
                ok = 0;
                if (STOP(c)) return 0;
            }
            ann_mark(acc, i);
        } else if (n->rest && !rest_failed) {
            if (n->rest->boolean == 0) {
                rest_failed = 1; /* one error for all the extra items */
                ok = fail(c, ip, sp, n->rest_kw, "array has more than %u items", n->nprefix);
                if (STOP(c)) return 0;
            } else {
                spath cs = {sp, n->rest_kw, NULL, -1};
                if (!v_node(c, n->rest, e, &ci, &cs, ds, NULL)) {
                    ok = 0;
                    if (STOP(c)) return 0;
                }
                ann_mark(acc, i);
            }
        }
        if (n->contains && (count_all || matches < n->min_contains)) {
            spath cs = {sp, "contains", NULL, -1};
            c->quiet++;
            int r = v_node(c, n->contains, e, &ci, &cs, ds, NULL);
            c->quiet--;
            if (c->overflow) return 0;
            if (r) {
                matches++;
                ann_mark(acc, i);
            }
        }
    }
    if (n->contains) {
        if (matches < n->min_contains) {
            if (n->min_contains == 1)
                ok = fail(c, ip, sp, "contains", "array has no item that matches \"contains\"");
            else
                ok = fail(c, ip, sp, "minContains",
                          "array has %u items that match \"contains\", fewer than %u", matches,
                          n->min_contains);
            if (STOP(c)) return 0;
        }
        if (matches > n->max_contains) {
            ok = fail(c, ip, sp, "maxContains",
                      "array has %u items that match \"contains\", more than %u", matches,
                      n->max_contains);
            if (STOP(c)) return 0;
        }
    }
    if (i > n->max_items) {
        ok = fail(c, ip, sp, "maxItems", "array has %u items, more than %u", i, n->max_items);
        if (STOP(c)) return 0;
    }
    if (i < n->min_items) {
        ok = fail(c, ip, sp, "minItems", "array has %u items, fewer than %u", i, n->min_items);
        if (STOP(c)) return 0;
    }
    if (n->unique_items && i > 1) {
        uint32_t d1 = 0, d2 = 0;
        if (find_duplicate(c, x, i, &d1, &d2))
            ok = fail(c, ip, sp, "uniqueItems", "items %u and %u are equal", d1, d2);
        if (c->overflow) return fail_depth(c, ip, sp);
    }
    return ok;
}

/* ========================================================================== objects */

static int v_object(vctx *c, const sy_snode *n, const cJSON *x, const ipath *ip, const spath *sp,
                    const dscope *ds, ann *acc)
{
    int ok = 1;
    uint32_t count = 0;
    if (!n->props_walk) {
        for (const cJSON *m = x->child; m; m = m->next)
            count++;
        goto counts;
    }
    uint64_t seen_inl[8], *seen = seen_inl;
    int need_seen = n->nrequired || n->ndep_req || n->ndep_schema;
    size_t words = (n->nnames + 63) / 64;
    if (need_seen) {
        if (words > 8) {
            seen = calloc(words, sizeof *seen);
            if (!seen) {
                c->oom = 1;
                return fail(c, ip, sp, NULL, "out of memory");
            }
        } else {
            memset(seen_inl, 0, sizeof seen_inl);
        }
    }
    for (const cJSON *m = x->child; m; m = m->next, count++) {
        const char *key = m->string;
        ipath ci = {ip, key, 0};
        int matched = 0;
        if (n->nnames) {
            uint32_t len, h = sy_sname_hash(key, &len);
            for (uint32_t s = h & n->hmask;; s = (s + 1) & n->hmask) {
                int32_t k = n->htab[s];
                if (k < 0) break;
                const sy_sname *nm = &n->names[k];
                if (nm->hash != h || nm->len != len || !sy_sbytes_eq(nm->name, key, len)) continue;
                if (need_seen) seen[k >> 6] |= 1ULL << (k & 63);
                if (nm->prop) {
                    matched = 1;
                    spath cs = {sp, "properties", nm->name, -1};
                    if (!v_node(c, nm->prop, m, &ci, &cs, ds, NULL)) {
                        ok = 0;
                        if (STOP(c)) goto done;
                    }
                    ann_mark(acc, count);
                }
                break;
            }
        }
        for (uint32_t p = 0; p < n->npatterns; p++) {
            int r = match(c, &n->patterns[p].re, key, strlen(key));
            if (r < 0) {
                ok = fail(c, ip, sp, "patternProperties",
                          "property name \"%s\" could not be matched against \"%s\"", key,
                          n->patterns[p].re.src);
                if (STOP(c)) goto done;
                continue;
            }
            if (!r) continue;
            matched = 1;
            spath cs = {sp, "patternProperties", n->patterns[p].re.src, -1};
            if (!v_node(c, n->patterns[p].schema, m, &ci, &cs, ds, NULL)) {
                ok = 0;
                if (STOP(c)) goto done;
            }
            ann_mark(acc, count);
        }
        if (!matched && n->additional_props) {
            if (n->additional_props->boolean == 0) {
                ok = fail(c, ip, sp, "additionalProperties", "property \"%s\" is not allowed", key);
                if (STOP(c)) goto done;
            } else {
                spath cs = {sp, "additionalProperties", NULL, -1};
                if (!v_node(c, n->additional_props, m, &ci, &cs, ds, NULL)) {
                    ok = 0;
                    if (STOP(c)) goto done;
                }
            }
            ann_mark(acc, count);
        }
        if (n->property_names) {
            /* the name as a string instance; errors go into a one-entry buffer so the
             * message can say which name failed and why */
            cJSON name;
            memset(&name, 0, sizeof name);
            name.type = cJSON_String;
            name.valuestring = (char *)key;
            sy_schema_error inner;
            spath cs = {sp, "propertyNames", NULL, -1};
            int r, inner_n = 0;
            if (c->quiet) {
                r = v_node(c, n->property_names, &name, ip, &cs, ds, NULL);
            } else {
                vctx sub = *c;
                sub.errs = &inner;
                sub.max = 1;
                sub.n = 0;
                r = v_node(&sub, n->property_names, &name, ip, &cs, ds, NULL);
                c->md = sub.md;
                c->gctx = sub.gctx;
                c->oom |= sub.oom;
                c->overflow |= sub.overflow;
                inner_n = sub.n;
            }
            if (!r) {
                if (c->overflow) goto done;
                ok = fail(c, ip, sp, "propertyNames", "property name \"%s\" is invalid: %s", key,
                          inner_n ? inner.message : "does not match \"propertyNames\"");
                if (STOP(c)) goto done;
            }
        }
    }
    if (n->nrequired) {
        for (uint32_t r = 0; r < n->nrequired; r++) {
            int32_t k = n->required[r];
            if (!((seen[k >> 6] >> (k & 63)) & 1)) {
                ok = fail(c, ip, sp, "required", "missing required property \"%s\"",
                          n->names[k].name);
                if (STOP(c)) goto done;
            }
        }
    }
    for (uint32_t d = 0; d < n->ndep_req; d++) {
        const sy_sdepreq *dr = &n->dep_req[d];
        if (!((seen[dr->key >> 6] >> (dr->key & 63)) & 1)) continue;
        for (uint32_t j = 0; j < dr->n; j++) {
            int32_t k = dr->needs[j];
            if (!((seen[k >> 6] >> (k & 63)) & 1)) {
                ok = fail(c, ip, sp, n->dep_req_kw, "property \"%s\" requires property \"%s\"",
                          n->names[dr->key].name, n->names[k].name);
                if (STOP(c)) goto done;
            }
        }
    }
    if (n->ndep_schema) {
        for (uint32_t k = 0; k < n->nnames; k++) {
            const sy_sname *nm = &n->names[k];
            if (!nm->dep_schema || !((seen[k >> 6] >> (k & 63)) & 1)) continue;
            spath cs = {sp, n->dep_schema_kw, nm->name, -1};
            if (!v_node(c, nm->dep_schema, x, ip, &cs, ds, acc)) {
                ok = 0;
                if (STOP(c)) goto done;
            }
        }
    }
done:
    if (seen != seen_inl) free(seen);
    if (!ok && STOP(c)) return 0;
counts:
    if (count > n->max_props) {
        ok = fail(c, ip, sp, "maxProperties", "object has %u properties, more than %u", count,
                  n->max_props);
        if (STOP(c)) return 0;
    }
    if (count < n->min_props)
        ok = fail(c, ip, sp, "minProperties", "object has %u properties, fewer than %u", count,
                  n->min_props);
    return ok;
}

/* ============================================================ in-place applicators */

static int v_inplace(vctx *c, const sy_snode *n, const cJSON *x, const ipath *ip, const spath *sp,
                     const dscope *ds, ann *acc)
{
    int ok = 1;
    for (uint32_t i = 0; i < n->nall_of; i++) {
        spath cs = {sp, "allOf", NULL, (int32_t)i};
        if (!v_node(c, n->all_of[i], x, ip, &cs, ds, acc)) {
            ok = 0;
            if (STOP(c)) return 0;
        }
    }
    if (n->nany_of) {
        int any = 0;
        c->quiet++;
        for (uint32_t i = 0; i < n->nany_of; i++) {
            spath cs = {sp, "anyOf", NULL, (int32_t)i};
            if (acc) {
                ann t;
                if (ann_init_like(c, &t, acc)) break;
                int r = v_node(c, n->any_of[i], x, ip, &cs, ds, &t);
                if (r) ann_merge(acc, &t);
                ann_free(&t);
                any |= r;
            } else if (v_node(c, n->any_of[i], x, ip, &cs, ds, NULL)) {
                any = 1;
                break;
            }
            if (c->overflow) break;
        }
        c->quiet--;
        if (c->overflow) return 0;
        if (!any) {
            ok = fail(c, ip, sp, "anyOf", "value does not match any of the %u \"anyOf\" schemas",
                      n->nany_of);
            if (STOP(c)) return 0;
        }
    }
    if (n->none_of) {
        int first = -1, second = -1;
        ann keep;
        keep.bits = NULL;
        c->quiet++;
        for (uint32_t i = 0; i < n->none_of && second < 0; i++) {
            spath cs = {sp, "oneOf", NULL, (int32_t)i};
            int r;
            if (acc) {
                ann t;
                if (ann_init_like(c, &t, acc)) break;
                r = v_node(c, n->one_of[i], x, ip, &cs, ds, &t);
                if (r && first < 0) {
                    keep = t; /* its bits may be inline: re-point them at keep's copy */
                    if (t.bits == t.inl) keep.bits = keep.inl;
                } else {
                    ann_free(&t);
                }
            } else {
                r = v_node(c, n->one_of[i], x, ip, &cs, ds, NULL);
            }
            if (r) {
                if (first < 0)
                    first = (int)i;
                else
                    second = (int)i;
            }
            if (c->overflow) break;
        }
        c->quiet--;
        if (first >= 0 && second < 0 && acc && keep.bits) ann_merge(acc, &keep);
        if (keep.bits) ann_free(&keep);
        if (c->overflow) return 0;
        if (first < 0 || second >= 0) {
            if (first < 0)
                ok = fail(c, ip, sp, "oneOf",
                          "value does not match any of the %u \"oneOf\" schemas", n->none_of);
            else
                ok = fail(c, ip, sp, "oneOf",
                          "value matches \"oneOf\" schemas %d and %d, expected exactly one", first,
                          second);
            if (STOP(c)) return 0;
        }
    }
    if (n->not_) {
        spath cs = {sp, "not", NULL, -1};
        c->quiet++;
        int r = v_node(c, n->not_, x, ip, &cs, ds, NULL);
        c->quiet--;
        if (c->overflow) return 0;
        if (r) {
            ok = fail(c, ip, sp, "not", "value must not match the \"not\" schema");
            if (STOP(c)) return 0;
        }
    }
    if (n->if_) {
        spath cs = {sp, "if", NULL, -1};
        int r;
        c->quiet++;
        if (acc) {
            ann t;
            if (ann_init_like(c, &t, acc)) {
                c->quiet--;
                return 0;
            }
            r = v_node(c, n->if_, x, ip, &cs, ds, &t);
            if (r) ann_merge(acc, &t);
            ann_free(&t);
        } else {
            r = v_node(c, n->if_, x, ip, &cs, ds, NULL);
        }
        c->quiet--;
        if (c->overflow) return 0;
        const sy_snode *branch = r ? n->then_ : n->else_;
        if (branch) {
            spath bs = {sp, r ? "then" : "else", NULL, -1};
            if (!v_node(c, branch, x, ip, &bs, ds, acc)) {
                ok = 0;
                if (STOP(c)) return 0;
            }
        }
    }
    if (n->dynref) {
        const sy_snode *t = n->dynref;
        if (n->dynref_name) {
            /* the outermost resource in the dynamic scope with a matching $dynamicAnchor */
            for (const dscope *d = ds; d; d = d->up)
                for (uint32_t k = 0; k < d->res->ndyn; k++)
                    if (strcmp(d->res->dyn[k].name, n->dynref_name) == 0) {
                        t = d->res->dyn[k].node;
                        break;
                    }
        }
        spath cs = {sp, "$dynamicRef", NULL, -1};
        if (!v_node(c, t, x, ip, &cs, ds, acc)) {
            ok = 0;
            if (STOP(c)) return 0;
        }
    }
    return ok;
}

/* ============================================================================ a node */

static int v_node(vctx *c, const sy_snode *n, const cJSON *x, const ipath *ip, const spath *sp,
                  const dscope *ds, ann *a)
{
    if (n->boolean >= 0)
        return n->boolean ? 1 : fail(c, ip, sp, NULL, "no value is allowed here (false schema)");
    if (c->overflow) return 0;
    if (c->depth >= SY_SCHEMA_MAX_DEPTH) return fail_depth(c, ip, sp);
    c->depth++;
    int ok = 1;
    dscope here;
    if (c->s->uses_dynamic && n->res != ds->res) {
        here.up = ds;
        here.res = n->res;
        ds = &here;
    }
    int xt = x->type & 0xFF;
    if (n->types) {
        int t;
        switch (xt) {
        case cJSON_NULL:
            t = SY_T_NULL;
            break;
        case cJSON_False:
        case cJSON_True:
            t = SY_T_BOOL;
            break;
        case cJSON_Object:
            t = SY_T_OBJECT;
            break;
        case cJSON_Array:
            t = SY_T_ARRAY;
            break;
        case cJSON_String:
            t = SY_T_STRING;
            break;
        case cJSON_Number:
            t = SY_T_NUMBER;
            if ((n->types & (SY_T_INTEGER | SY_T_NUMBER)) == SY_T_INTEGER &&
                floor(x->valuedouble) == x->valuedouble && isfinite(x->valuedouble))
                t |= SY_T_INTEGER;
            break;
        default:
            t = 0;
        }
        if (!(n->types & t)) {
            ok = 0;
            if (RECORDING(c)) {
                char want[96];
                type_list(n->types, want, sizeof want);
                fail(c, ip, sp, "type", "expected %s, got %s", want, got_name(x));
            }
            if (STOP(c)) goto out;
        }
    }
    if (n->has & SY_H_CONST) {
        if (!jeq(c, n->const_v, x, 0)) {
            if (c->overflow) {
                ok = fail_depth(c, ip, sp);
                goto out;
            }
            char buf[64];
            ok = fail(c, ip, sp, "const", "value must be %s", short_json(n->const_v, buf, 64));
            if (STOP(c)) goto out;
        }
    }
    if (n->has & SY_H_ENUM) {
        int found = 0;
        if (xt == cJSON_String) {
            size_t len = strlen(x->valuestring);
            for (uint32_t k = 0; k < n->nenum_strs && !found; k++)
                found = n->enum_strs[k].len == len &&
                        sy_sbytes_eq(n->enum_strs[k].s, x->valuestring, len);
        } else {
            for (const cJSON *e = n->enum_v->child; e && !found; e = e->next)
                found = jeq(c, e, x, 0);
        }
        if (!found && c->overflow) {
            ok = fail_depth(c, ip, sp);
            goto out;
        }
        if (!found) {
            ok = 0;
            if (RECORDING(c)) {
                char list[200];
                mbuf m = {list, list + sizeof list - 1};
                for (const cJSON *e = n->enum_v->child; e; e = e->next) {
                    if (e != n->enum_v->child) m_strn(&m, ", ", 2);
                    if (m.end - m.p < 48) {
                        m_str(&m, "...");
                        break;
                    }
                    m_json(&m, e);
                }
                *m.p = '\0';
                fail(c, ip, sp, "enum", "value must be one of: %s", list);
            }
            if (STOP(c)) goto out;
        }
    }
    ann mine, *acc = a;
    mine.bits = NULL;
    if ((n->has & SY_H_UNEVAL) && (xt == cJSON_Object || xt == cJSON_Array)) {
        if (ann_init(c, &mine, x)) {
            ok = fail(c, ip, sp, NULL, "out of memory");
            goto out;
        }
        acc = &mine;
    }
    if (n->has & SY_H_REF) {
        spath cs = {sp, "$ref", NULL, -1};
        if (!v_node(c, n->ref, x, ip, &cs, ds, acc)) {
            ok = 0;
            if (STOP(c)) goto out_ann;
        }
    }
    switch (xt) {
    case cJSON_Number:
        if ((n->has & SY_H_NUM) && !v_number(c, n, x, ip, sp)) {
            ok = 0;
            if (STOP(c)) goto out_ann;
        }
        break;
    case cJSON_String:
        if ((n->has & SY_H_STR) && !v_string(c, n, x, ip, sp)) {
            ok = 0;
            if (STOP(c)) goto out_ann;
        }
        break;
    case cJSON_Array:
        if ((n->has & SY_H_ARR) && !v_array(c, n, x, ip, sp, ds, acc)) {
            ok = 0;
            if (STOP(c)) goto out_ann;
        }
        break;
    case cJSON_Object:
        if ((n->has & SY_H_OBJ) && !v_object(c, n, x, ip, sp, ds, acc)) {
            ok = 0;
            if (STOP(c)) goto out_ann;
        }
        break;
    }
    if ((n->has & SY_H_INPLACE) && !v_inplace(c, n, x, ip, sp, ds, acc)) {
        ok = 0;
        if (STOP(c)) goto out_ann;
    }
    if (acc == &mine) {
        /* unevaluated*: every member / item no other keyword evaluated successfully */
        const sy_snode *u = xt == cJSON_Object ? n->uneval_props : n->uneval_items;
        const char *kwn = xt == cJSON_Object ? "unevaluatedProperties" : "unevaluatedItems";
        if (u && !mine.all) {
            uint32_t i = 0;
            for (const cJSON *e = x->child; e; e = e->next, i++) {
                if (ann_has(&mine, i)) continue;
                ipath ci = {ip, xt == cJSON_Object ? e->string : NULL, i};
                if (u->boolean == 0) {
                    if (xt == cJSON_Object)
                        ok = fail(c, ip, sp, kwn, "property \"%s\" is not allowed (unevaluated)",
                                  e->string);
                    else
                        ok = fail(c, ip, sp, kwn, "item %u is not allowed (unevaluated)", i);
                    if (STOP(c)) goto out_ann;
                    continue;
                }
                spath cs = {sp, kwn, NULL, -1};
                if (!v_node(c, u, e, &ci, &cs, ds, NULL)) {
                    ok = 0;
                    if (STOP(c)) goto out_ann;
                }
            }
            mine.all = 1;
        }
        if (ok && a) ann_merge(a, &mine);
    }
out_ann:
    if (acc == &mine) ann_free(&mine);
out:
    c->depth--;
    return ok && !c->overflow;
}

/* =========================================================================== public */

int sy_schema_validate(const sy_schema *s, const cJSON *instance, sy_schema_error *errs,
                       int max_errors, int *nerr)
{
    vctx c;
    mdmem mdm;
    memset(&c, 0, sizeof c);
    mdm.used = 0;
    c.mdm = &mdm;
    c.s = s;
    c.errs = errs;
    c.max = errs && max_errors > 0 ? max_errors : 0;
    int ok;
    if (!s || !instance) {
        ok = 0;
        if (c.max) {
            memset(errs, 0, sizeof *errs);
            snprintf(errs->message, sizeof errs->message, "no %s", s ? "instance" : "schema");
            c.n = 1;
        }
    } else {
        dscope root = {NULL, s->root->res};
        ok = v_node(&c, s->root, instance, NULL, NULL, &root, NULL);
        if (c.overflow) ok = 0;
        if (!ok && c.n == 0 && c.max) {
            memset(errs, 0, sizeof *errs);
            snprintf(errs->message, sizeof errs->message,
                     c.oom ? "out of memory while validating" : "instance is invalid");
            c.n = 1;
        }
    }
    if (c.md) pcre2_match_data_free(c.md);
    if (c.gctx) pcre2_general_context_free(c.gctx);
    if (nerr) *nerr = c.n;
    return ok;
}
