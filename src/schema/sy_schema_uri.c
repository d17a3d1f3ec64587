/* sy_schema_uri.c — URIs for $id/$ref (RFC 3986 resolution, fragments, percent-decoding),
 * JSON pointers (RFC 6901) and the "uri"/"uri-reference" format checks. Used by
 * sy_schema_compile.c and sy_schema_format.c; declared in sy_schema_int.h. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "schema/sy_schema_int.h"
#include "core/sy_core.h"

/* ================================================================== reference resolution */

typedef struct {
    const char *scheme;
    size_t scheme_len;
    const char *auth; /* NULL when absent */
    size_t auth_len;
    const char *path;
    size_t path_len;
    const char *query; /* NULL when absent; points after '?' */
    size_t query_len;
    const char *frag; /* NULL when absent; points after '#' */
} uri_parts;

static int is_scheme_char(int c, int first)
{
    if (isalpha(c)) return 1;
    return !first && (isdigit(c) || c == '+' || c == '-' || c == '.');
}

static size_t scheme_len(const char *s)
{
    size_t i = 0;
    if (!is_scheme_char((unsigned char)s[0], 1)) return 0;
    while (s[i] && is_scheme_char((unsigned char)s[i], i == 0))
        i++;
    return s[i] == ':' ? i : 0;
}

int sy_suri_has_scheme(const char *uri)
{
    return scheme_len(uri) > 0;
}

static void uri_parse(const char *s, uri_parts *u)
{
    memset(u, 0, sizeof *u);
    size_t n = scheme_len(s);
    if (n) {
        u->scheme = s;
        u->scheme_len = n;
        s += n + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        u->auth = s;
        while (*s && *s != '/' && *s != '?' && *s != '#')
            s++;
        u->auth_len = (size_t)(s - u->auth);
    }
    u->path = s;
    while (*s && *s != '?' && *s != '#')
        s++;
    u->path_len = (size_t)(s - u->path);
    if (*s == '?') {
        u->query = ++s;
        while (*s && *s != '#')
            s++;
        u->query_len = (size_t)(s - u->query);
    }
    if (*s == '#') u->frag = s + 1;
}

/* RFC 3986 5.2.4, in place on a NUL-terminated path. */
static void remove_dot_segments(char *path)
{
    char *in = path, *out = path;
    while (*in) {
        if (strncmp(in, "../", 3) == 0) {
            in += 3;
        } else if (strncmp(in, "./", 2) == 0) {
            in += 2;
        } else if (strncmp(in, "/./", 3) == 0) {
            in += 2;
        } else if (strcmp(in, "/.") == 0) {
            in[1] = '\0';
        } else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
            if (in[3] == '\0') {
                in += 2;
                *in = '/';
            } else {
                in += 3;
            }
            while (out > path && *--out != '/') {
            }
        } else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
            in += strlen(in);
        } else {
            if (*in == '/') *out++ = *in++;
            while (*in && *in != '/')
                *out++ = *in++;
        }
    }
    *out = '\0';
}

char *sy_suri_resolve(const char *base, const char *ref)
{
    uri_parts b, r;
    uri_parse(base ? base : "", &b);
    uri_parse(ref, &r);
    size_t cap = strlen(base ? base : "") + strlen(ref) + 8;
    char *out = malloc(cap), *path = malloc(cap);
    if (!out || !path) {
        free(out);
        free(path);
        return NULL;
    }
    const char *scheme = r.scheme ? r.scheme : b.scheme;
    size_t slen = r.scheme ? r.scheme_len : b.scheme_len;
    const char *auth, *query;
    size_t alen, qlen;
    if (r.scheme || r.auth) {
        auth = r.auth;
        alen = r.auth_len;
        memcpy(path, r.path, r.path_len);
        path[r.path_len] = '\0';
        remove_dot_segments(path);
        query = r.query;
        qlen = r.query_len;
    } else {
        auth = b.auth;
        alen = b.auth_len;
        if (r.path_len == 0) {
            memcpy(path, b.path, b.path_len);
            path[b.path_len] = '\0';
            query = r.query ? r.query : b.query;
            qlen = r.query ? r.query_len : b.query_len;
        } else {
            if (r.path[0] == '/') {
                memcpy(path, r.path, r.path_len);
                path[r.path_len] = '\0';
            } else if (b.auth && b.path_len == 0) {
                path[0] = '/';
                memcpy(path + 1, r.path, r.path_len);
                path[r.path_len + 1] = '\0';
            } else {
                size_t keep = b.path_len;
                while (keep > 0 && b.path[keep - 1] != '/')
                    keep--;
                memcpy(path, b.path, keep);
                memcpy(path + keep, r.path, r.path_len);
                path[keep + r.path_len] = '\0';
            }
            remove_dot_segments(path);
            query = r.query;
            qlen = r.query_len;
        }
    }
    char *o = out;
    if (scheme) {
        memcpy(o, scheme, slen);
        o += slen;
        *o++ = ':';
    }
    if (auth) {
        *o++ = '/';
        *o++ = '/';
        memcpy(o, auth, alen);
        o += alen;
    }
    size_t plen = strlen(path);
    memcpy(o, path, plen);
    o += plen;
    if (query) {
        *o++ = '?';
        memcpy(o, query, qlen);
        o += qlen;
    }
    if (r.frag) {
        size_t flen = strlen(r.frag);
        *o++ = '#';
        memcpy(o, r.frag, flen);
        o += flen;
    }
    *o = '\0';
    free(path);
    return out;
}

char *sy_suri_split(const char *uri, const char **frag)
{
    const char *h = strchr(uri, '#');
    *frag = h ? h + 1 : NULL;
    size_t n = h ? (size_t)(h - uri) : strlen(uri);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, uri, n);
    s[n] = '\0';
    return s;
}

char *sy_suri_pct_decode(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = sy_hexval((unsigned char)s[i + 1]); /* NUL gives -1: no overrun */
            int lo = hi >= 0 ? sy_hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* ========================================================================= JSON pointer */

const cJSON *sy_sjptr_get(const cJSON *root, const char *ptr)
{
    const cJSON *cur = root;
    if (*ptr == '\0') return root;
    if (*ptr != '/') return NULL;
    size_t cap = strlen(ptr) + 1;
    char *tok = malloc(cap);
    if (!tok) return NULL;
    while (cur && *ptr == '/') {
        ptr++;
        size_t n = 0;
        while (*ptr && *ptr != '/') {
            if (*ptr == '~') {
                if (ptr[1] == '0')
                    tok[n++] = '~';
                else if (ptr[1] == '1')
                    tok[n++] = '/';
                else {
                    cur = NULL;
                    break;
                }
                ptr += 2;
            } else {
                tok[n++] = *ptr++;
            }
        }
        if (!cur) break;
        tok[n] = '\0';
        if (cJSON_IsObject(cur)) {
            const cJSON *next = NULL;
            for (const cJSON *m = cur->child; m; m = m->next)
                if (m->string && strcmp(m->string, tok) == 0) {
                    next = m;
                    break;
                }
            cur = next;
        } else if (cJSON_IsArray(cur)) {
            if (n == 0 || (n > 1 && tok[0] == '0') || n > 9) {
                cur = NULL;
                break;
            }
            long idx = 0;
            for (size_t i = 0; i < n; i++) {
                if (!isdigit((unsigned char)tok[i])) {
                    idx = -1;
                    break;
                }
                idx = idx * 10 + (tok[i] - '0');
            }
            cur = idx < 0 ? NULL : cJSON_GetArrayItem(cur, (int)idx);
        } else {
            cur = NULL;
        }
    }
    free(tok);
    return cur;
}

/* ========================================================================= URI syntax */

static int unreserved(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int sub_delim(int c)
{
    return c && strchr("!$&'()*+,;=", c) != NULL;
}

/* Matches *( allowed / pct-encoded ) from s[*i] while the char is allowed; 0 on a bad %. */
static int span(const char *s, size_t len, size_t *i, const char *extra)
{
    while (*i < len) {
        int c = (unsigned char)s[*i];
        if (c == '%') {
            if (*i + 2 >= len) return 0;
            if (sy_hexval((unsigned char)s[*i + 1]) < 0 || sy_hexval((unsigned char)s[*i + 2]) < 0)
                return 0;
            *i += 3;
        } else if (unreserved(c) || sub_delim(c) || (c && strchr(extra, c))) {
            (*i)++;
        } else {
            break;
        }
    }
    return 1;
}

int sy_sfmt_ipv6_host(const char *s, size_t len); /* sy_schema_format.c */

static int valid_authority(const char *s, size_t len)
{
    size_t at = len;
    for (size_t k = 0; k < len; k++)
        if (s[k] == '@') at = k;
    size_t i = 0;
    if (at < len) {
        if (!span(s, at, &i, ":") || i != at) return 0;
        i = at + 1;
    }
    if (i < len && s[i] == '[') {
        size_t close = i;
        while (close < len && s[close] != ']')
            close++;
        if (close == len) return 0;
        const char *h = s + i + 1;
        size_t hl = close - i - 1;
        if (hl > 0 && (h[0] == 'v' || h[0] == 'V')) {
            size_t j = 1;
            while (j < hl && isxdigit((unsigned char)h[j]))
                j++;
            if (j == 1 || j >= hl || h[j] != '.') return 0;
            j++;
            size_t start = j;
            while (j < hl && (unreserved((unsigned char)h[j]) || sub_delim((unsigned char)h[j]) ||
                              h[j] == ':'))
                j++;
            if (j != hl || j == start) return 0;
        } else if (!sy_sfmt_ipv6_host(h, hl)) {
            return 0;
        }
        i = close + 1;
    } else {
        if (!span(s, len, &i, "")) return 0;
    }
    if (i < len && s[i] == ':') {
        i++;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
    }
    return i == len;
}

int sy_suri_valid(const char *s, size_t len, int absolute)
{
    size_t i = 0, sl = 0;
    while (sl < len && is_scheme_char((unsigned char)s[sl], sl == 0))
        sl++;
    int has_scheme = sl > 0 && sl < len && s[sl] == ':';
    if (absolute && !has_scheme) return 0;
    if (has_scheme) i = sl + 1;
    if (i + 1 < len && s[i] == '/' && s[i + 1] == '/') {
        size_t a = i + 2, e = a;
        while (e < len && s[e] != '/' && s[e] != '?' && s[e] != '#')
            e++;
        if (!valid_authority(s + a, e - a)) return 0;
        i = e;
    } else if (!has_scheme) {
        /* path-noscheme: no ':' before the first '/' */
        for (size_t k = i; k < len && s[k] != '/' && s[k] != '?' && s[k] != '#'; k++)
            if (s[k] == ':') return 0;
    }
    if (!span(s, len, &i, ":@/")) return 0;
    if (i < len && s[i] == '?') {
        i++;
        if (!span(s, len, &i, ":@/?")) return 0;
    }
    if (i < len && s[i] == '#') {
        i++;
        if (!span(s, len, &i, ":@/?")) return 0;
    }
    return i == len;
}
