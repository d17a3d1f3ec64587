/* sy_config.c — reads a Lua config file into an immutable sy_config snapshot (sy_config.h).
 *
 * The config file runs in a throw-away Lua state whose environment holds only safe base
 * functions plus four declarations: server{}, provider{}, model{}, route{}. Each call records
 * the line it was made on, so every problem is reported as "file:line: key: message", like
 * `nginx -t`. Validation collects every problem instead of stopping at the first. */
#include "registry/sy_config.h"
#include "switchyard.h"

#include "core/sy_url.h"
#include "engine/sy_redis.h"
#include "tokens/sy_tokens.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/sha.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#define DEFAULT_MAX_BODY (8u * 1024 * 1024)

/* ============================================================ diagnostics */

typedef struct loader {
    lua_State *L;
    sy_config *cfg;
    sy_buf *diag;
    int errors;
    const char *file; /* cfg->path */
} loader;

static void problem(loader *ld, const char *file, int line, const char *key, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

static void problem(loader *ld, const char *file, int line, const char *key, const char *fmt,
                    ...)
{
    va_list ap;
    ld->errors++;
    sy_buf_printf(ld->diag, "%s:%d: %s: ", file ? file : ld->file, line, key);
    va_start(ap, fmt);
    sy_buf_vprintf(ld->diag, fmt, ap);
    va_end(ap);
    sy_buf_puts(ld->diag, "\n");
}

/* ============================================================ declarations */

/* server{...} / provider{...} / model{...} / route{...}: append {kind, line, t} to the
 * declaration list (upvalue 1) after checking the argument is a table. */
static int l_declare(lua_State *L)
{
    const char *kind = lua_tostring(L, lua_upvalueindex(2));
    if (lua_type(L, 1) != LUA_TTABLE)
        return luaL_error(L, "%s: expected a table, e.g. %s { ... }", kind, kind);
    lua_Debug ar;
    int line = 0;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar)) line = ar.currentline;
    lua_pushvalue(L, lua_upvalueindex(1));   /* decls */
    lua_createtable(L, 0, 3);                /* decls d */
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, line);
    lua_setfield(L, -2, "line");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "t");
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1); /* decls */
    lua_pop(L, 1);
    return 0;
}

/* The config environment: an allow list, never a full _G with holes punched in it. */
static void push_config_env(lua_State *L, int decls_idx)
{
    static const char *base_allowed[] = {"assert", "error",  "ipairs",   "next",  "pairs",
                                         "pcall",  "select", "tonumber", "tostring", "type",
                                         "unpack", NULL};
    static const char *libs[] = {"string", "table", "math", NULL};
    static const char *kinds[] = {"server", "provider", "model", "route", "classifier", "team",
                                  "key", NULL};

    lua_createtable(L, 0, 24); /* env */
    for (int i = 0; base_allowed[i]; i++) {
        lua_getglobal(L, base_allowed[i]);
        lua_setfield(L, -2, base_allowed[i]);
    }
    for (int i = 0; libs[i]; i++) {
        lua_getglobal(L, libs[i]);
        lua_setfield(L, -2, libs[i]);
    }
    /* os: getenv only (configs read ports and keys' variable names from the environment) */
    lua_createtable(L, 0, 1);
    lua_getglobal(L, "os");
    lua_getfield(L, -1, "getenv");
    lua_setfield(L, -3, "getenv");
    lua_pop(L, 1);
    lua_setfield(L, -2, "os");
    for (int i = 0; kinds[i]; i++) {
        lua_pushvalue(L, decls_idx);
        lua_pushstring(L, kinds[i]);
        lua_pushcclosure(L, l_declare, 2);
        lua_setfield(L, -2, kinds[i]);
    }
}

/* ============================================================ field readers */

/* Each reader looks at t[key] (raw, no metamethods) on the table at idx. They return 1 if
 * the field was present and valid, 0 if absent, -1 (and report) if present but invalid. */

typedef struct decl {
    const char *kind; /* "model" */
    const char *name; /* its id, for keys like model[small].price */
    int line;
    int tidx; /* stack index of the declared table */
} decl;

static void keyname(char *out, size_t n, const decl *d, const char *key)
{
    if (d->name)
        snprintf(out, n, "%s[%s].%s", d->kind, d->name, key);
    else
        snprintf(out, n, "%s.%s", d->kind, key);
}

static int get_raw(lua_State *L, int tidx, const char *key)
{
    lua_pushstring(L, key);
    lua_rawget(L, tidx);
    return lua_type(L, -1);
}

static int read_string(loader *ld, const decl *d, const char *key, char **out)
{
    char k[160];
    int t = get_raw(ld->L, d->tidx, key);
    int rc = 0;
    if (t == LUA_TNIL) {
        rc = 0;
    } else if (t != LUA_TSTRING || lua_objlen(ld->L, -1) == 0) {
        keyname(k, sizeof k, d, key);
        problem(ld, NULL, d->line, k, "must be a non-empty string");
        rc = -1;
    } else {
        free(*out);
        *out = sy_strdup(lua_tostring(ld->L, -1));
        rc = 1;
    }
    lua_pop(ld->L, 1);
    return rc;
}

static int read_number(loader *ld, const decl *d, const char *key, double min, double max,
                       double *out)
{
    char k[160];
    int t = get_raw(ld->L, d->tidx, key);
    int rc = 0;
    if (t == LUA_TNIL) {
        rc = 0;
    } else if (t != LUA_TNUMBER) {
        keyname(k, sizeof k, d, key);
        problem(ld, NULL, d->line, k, "must be a number, got %s", lua_typename(ld->L, t));
        rc = -1;
    } else {
        double v = lua_tonumber(ld->L, -1);
        if (!(v >= min && v <= max)) {
            keyname(k, sizeof k, d, key);
            if (min == 0 && v < 0)
                problem(ld, NULL, d->line, k, "must not be negative (got %g)", v);
            else
                problem(ld, NULL, d->line, k, "must be between %g and %g (got %g)", min, max, v);
            rc = -1;
        } else {
            *out = v;
            rc = 1;
        }
    }
    lua_pop(ld->L, 1);
    return rc;
}

static int read_int(loader *ld, const decl *d, const char *key, double min, double max,
                    int64_t *out)
{
    double v = 0;
    int rc = read_number(ld, d, key, min, max, &v);
    if (rc == 1) {
        if (v != floor(v)) {
            char k[160];
            keyname(k, sizeof k, d, key);
            problem(ld, NULL, d->line, k, "must be a whole number (got %g)", v);
            return -1;
        }
        *out = (int64_t)v;
    }
    return rc;
}

static int read_int32(loader *ld, const decl *d, const char *key, double min, double max,
                      int *out)
{
    int64_t v = 0;
    int rc = read_int(ld, d, key, min, max, &v);
    if (rc == 1) *out = (int)v;
    return rc;
}

/* Rejects keys the declaration does not know: a typo ("pirce") must not pass silently. */
static void check_known_keys(loader *ld, const decl *d, const char *const *known)
{
    lua_State *L = ld->L;
    lua_pushnil(L);
    while (lua_next(L, d->tidx)) {
        lua_pop(L, 1); /* value */
        char k[160];
        if (lua_type(L, -1) != LUA_TSTRING) {
            keyname(k, sizeof k, d, "?");
            problem(ld, NULL, d->line, k, "only named keys are allowed here");
            continue;
        }
        const char *key = lua_tostring(L, -1);
        int ok = 0;
        for (int i = 0; known[i]; i++)
            if (strcmp(known[i], key) == 0) ok = 1;
        if (!ok) {
            keyname(k, sizeof k, d, key);
            problem(ld, NULL, d->line, k, "unknown key");
        }
    }
}

/* Opens sub-table t[key] as a nested decl (kind "model[x].price"). Returns 1 and pushes it,
 * 0 if absent (nothing pushed), -1 on a wrong type (nothing pushed). */
static int open_sub(loader *ld, const decl *d, const char *key, decl *sub, char *kbuf,
                    size_t kn)
{
    int t = get_raw(ld->L, d->tidx, key);
    if (t == LUA_TNIL) {
        lua_pop(ld->L, 1);
        return 0;
    }
    keyname(kbuf, kn, d, key);
    if (t != LUA_TTABLE) {
        problem(ld, NULL, d->line, kbuf, "must be a table");
        lua_pop(ld->L, 1);
        return -1;
    }
    sub->kind = kbuf;
    sub->name = NULL;
    sub->line = d->line;
    sub->tidx = lua_gettop(ld->L);
    return 1;
}

/* A list of strings t[key] = {"a", "b"} into a malloc'd array. */
static int read_string_list(loader *ld, const decl *d, const char *key, char ***out, int *n)
{
    char k[160];
    decl sub;
    int rc = open_sub(ld, d, key, &sub, k, sizeof k);
    if (rc <= 0) return rc;
    int len = (int)lua_objlen(ld->L, sub.tidx);
    char **arr = calloc((size_t)len + 1, sizeof *arr);
    int bad = 0;
    for (int i = 1; arr && i <= len; i++) {
        lua_rawgeti(ld->L, sub.tidx, i);
        if (lua_type(ld->L, -1) == LUA_TSTRING)
            arr[i - 1] = sy_strdup(lua_tostring(ld->L, -1));
        else
            bad = 1;
        lua_pop(ld->L, 1);
    }
    lua_pop(ld->L, 1);
    if (bad) problem(ld, NULL, d->line, k, "must be a list of strings");
    *out = arr;
    *n = len;
    return bad ? -1 : 1;
}

/* "8MiB", "512KiB", "1MB", or a number of bytes. */
static int parse_size(lua_State *L, int idx, size_t *out)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (v < 1 || v > (double)SIZE_MAX / 2 || v != floor(v)) return -1;
        *out = (size_t)v;
        return 0;
    }
    if (lua_type(L, idx) != LUA_TSTRING) return -1;
    const char *s = lua_tostring(L, idx);
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0) return -1;
    while (*end == ' ') end++;
    double mul = 1;
    if (*end == '\0' || sy_strcaseeq(end, "b"))
        mul = 1;
    else if (sy_strcaseeq(end, "k") || sy_strcaseeq(end, "kb") || sy_strcaseeq(end, "kib"))
        mul = 1024;
    else if (sy_strcaseeq(end, "m") || sy_strcaseeq(end, "mb") || sy_strcaseeq(end, "mib"))
        mul = 1024 * 1024;
    else
        return -1;
    *out = (size_t)(v * mul);
    return 0;
}

/* ============================================================ declarations → structs */

static char *join_path(const char *dir, const char *rel);

/* queue = { max = N, timeout_ms = N }: how many attempts may wait for a slot of a model at
 * its concurrency limit, and for how long (server: the defaults of every model). */
static int load_queue(loader *ld, decl *d, int *max, int *timeout_ms)
{
    char k[160];
    decl sub;
    if (open_sub(ld, d, "queue", &sub, k, sizeof k) != 1) return 0;
    static const char *const qk[] = {"max", "timeout_ms", NULL};
    check_known_keys(ld, &sub, qk);
    read_int32(ld, &sub, "max", 0, 1000000, max);
    read_int32(ld, &sub, "timeout_ms", 1, 600000, timeout_ms);
    lua_pop(ld->L, 1);
    return 1;
}

static void load_server(loader *ld, decl *d)
{
    static const char *const known[] = {"listen",    "workers",     "max_body",
                                        "request_timeout_ms", "log_level", "admin_token",
                                        "admin_token_env", "request_log", "log_content",
                                        "redis", "redis_failure", "redis_timeout_ms", "queue", NULL};
    sy_config *cfg = ld->cfg;
    check_known_keys(ld, d, known);
    char *listen = NULL;
    if (read_string(ld, d, "listen", &listen) == 1) {
        char *host = NULL;
        int port = 0;
        if (sy_parse_listen(listen, &host, &port) != SY_OK) {
            problem(ld, NULL, d->line, "server.listen", "expected HOST:PORT, got \"%s\"",
                    listen);
        } else {
            free(cfg->listen_host);
            cfg->listen_host = host;
            cfg->listen_port = port;
        }
    }
    free(listen);
    read_int32(ld, d, "workers", 0, 256, &cfg->workers);
    read_int32(ld, d, "request_timeout_ms", 1, 86400000, &cfg->request_timeout_ms);
    load_queue(ld, d, &cfg->queue_max, &cfg->queue_timeout_ms);
    if (get_raw(ld->L, d->tidx, "max_body") != LUA_TNIL) {
        size_t v;
        if (parse_size(ld->L, -1, &v) != 0)
            problem(ld, NULL, d->line, "server.max_body",
                    "must be a positive size in bytes or a string like \"8MiB\"");
        else
            cfg->max_body = v;
    }
    lua_pop(ld->L, 1);
    read_string(ld, d, "admin_token", &cfg->admin_token);
    char *token_env = NULL;
    if (read_string(ld, d, "admin_token_env", &token_env) == 1) {
        const char *v = getenv(token_env);
        if (v && *v) {
            free(cfg->admin_token);
            cfg->admin_token = sy_strdup(v);
        } else {
            problem(ld, NULL, d->line, "server.admin_token_env",
                    "environment variable %s is not set", token_env);
        }
    }
    free(token_env);
    if (read_string(ld, d, "request_log", &cfg->request_log) == 1 && cfg->request_log[0] != '/' &&
        strcmp(cfg->request_log, "stdout") != 0) {
        char *rel = join_path(cfg->dir, cfg->request_log);
        free(cfg->request_log);
        cfg->request_log = rel;
    }
    int lc = get_raw(ld->L, d->tidx, "log_content");
    if (lc == LUA_TBOOLEAN)
        cfg->log_content = lua_toboolean(ld->L, -1);
    else if (lc != LUA_TNIL)
        problem(ld, NULL, d->line, "server.log_content", "must be true or false");
    lua_pop(ld->L, 1);
    if (read_string(ld, d, "redis", &cfg->redis_url) == 1) {
        char *h = NULL, *pw = NULL, err[128];
        int port, db;
        if (sy_redis_parse_url(cfg->redis_url, &h, &port, &pw, &db, err, sizeof err) != 0)
            problem(ld, NULL, d->line, "server.redis", "%s", err);
        free(h);
        free(pw);
    }
    char *rf = NULL;
    if (read_string(ld, d, "redis_failure", &rf) == 1) {
        if (strcmp(rf, "open") == 0)
            cfg->redis_fail_open = 1;
        else if (strcmp(rf, "closed") == 0)
            cfg->redis_fail_open = 0;
        else
            problem(ld, NULL, d->line, "server.redis_failure",
                    "must be \"open\" (admit requests while Redis is unreachable) or \"closed\" "
                    "(refuse them)");
    }
    free(rf);
    read_int32(ld, d, "redis_timeout_ms", 1, 60000, &cfg->redis_timeout_ms);
    if (read_string(ld, d, "log_level", &cfg->log_level) == 1) {
        const char *v = cfg->log_level;
        if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error"))
            problem(ld, NULL, d->line, "server.log_level",
                    "must be one of debug, info, warn, error");
    }
}

static void load_provider(loader *ld, decl *d, sy_provider_cfg *p)
{
    static const char *const known[] = {"id",         "kind",       "base_url", "api_key_env",
                                        "timeout_ms", "connect_timeout_ms",     "seed",
                                        "time_scale", "transport", "ttft_timeout_ms",
                                        "idle_timeout_ms", "anthropic_version", NULL};
    char *kind = NULL;
    p->line = d->line;
    p->timeout_ms = 60000;
    p->connect_timeout_ms = 5000;
    p->time_scale = 1.0;
    check_known_keys(ld, d, known);
    if (read_string(ld, d, "kind", &kind) == 0)
        problem(ld, NULL, d->line, "provider.kind",
                "is required (\"openai\", \"anthropic\" or \"sim\")");
    if (kind) {
        if (strcmp(kind, "openai") == 0)
            p->kind = SY_PROV_OPENAI;
        else if (strcmp(kind, "anthropic") == 0)
            p->kind = SY_PROV_ANTHROPIC;
        else if (strcmp(kind, "sim") == 0)
            p->kind = SY_PROV_SIM;
        else {
            char k[160];
            keyname(k, sizeof k, d, "kind");
            problem(ld, NULL, d->line, k,
                    "unknown provider kind \"%s\" (known: openai, anthropic, sim)", kind);
        }
    }
    free(kind);
    read_string(ld, d, "base_url", &p->base_url);
    if (p->kind == SY_PROV_ANTHROPIC && !p->base_url)
        p->base_url = sy_strdup("https://api.anthropic.com/v1");
    if (p->kind == SY_PROV_ANTHROPIC) {
        p->anthropic_version = sy_strdup("2023-06-01");
        read_string(ld, d, "anthropic_version", &p->anthropic_version);
    } else if (get_raw(ld->L, d->tidx, "anthropic_version") != LUA_TNIL) {
        char k[160];
        keyname(k, sizeof k, d, "anthropic_version");
        problem(ld, NULL, d->line, k, "only applies to an anthropic provider");
        lua_pop(ld->L, 1);
    } else {
        lua_pop(ld->L, 1);
    }
    if (p->kind == SY_PROV_OPENAI || p->kind == SY_PROV_ANTHROPIC) {
        if (!p->base_url) {
            char k[160];
            keyname(k, sizeof k, d, "base_url");
            problem(ld, NULL, d->line, k, "is required for an openai provider");
        } else {
            size_t n = strlen(p->base_url);
            while (n > 0 && p->base_url[n - 1] == '/') p->base_url[--n] = '\0';
            if (strncmp(p->base_url, "http://", 7) && strncmp(p->base_url, "https://", 8)) {
                char k[160];
                keyname(k, sizeof k, d, "base_url");
                problem(ld, NULL, d->line, k, "must start with http:// or https://");
            }
        }
    }
    if (read_string(ld, d, "api_key_env", &p->api_key_env) == 1) {
        const char *v = getenv(p->api_key_env);
        if (v && *v) p->api_key = sy_strdup(v);
        /* A missing key is not a config error: the provider answers 401 and the chain moves
         * on. serve logs a warning naming the variable (never a value). */
    }
    read_int32(ld, d, "timeout_ms", 1, 86400000, &p->timeout_ms);
    read_int32(ld, d, "connect_timeout_ms", 1, 600000, &p->connect_timeout_ms);
    read_int32(ld, d, "ttft_timeout_ms", 0, 3600000, &p->ttft_timeout_ms);
    read_int32(ld, d, "idle_timeout_ms", 0, 3600000, &p->idle_timeout_ms);
    int64_t seed = 0;
    if (read_int(ld, d, "seed", 0, 9007199254740991.0, &seed) == 1) p->seed = (uint64_t)seed;
    read_number(ld, d, "time_scale", 0, 1000, &p->time_scale);
    char *transport = NULL;
    int want_direct = 1;
    if (read_string(ld, d, "transport", &transport) == 1) {
        if (strcmp(transport, "curl") == 0) {
            want_direct = 0;
        } else if (strcmp(transport, "auto") != 0) {
            char k[160];
            keyname(k, sizeof k, d, "transport");
            problem(ld, NULL, d->line, k, "must be \"auto\" or \"curl\"");
        }
    }
    free(transport);
    sy_hurl u;
    if ((p->kind == SY_PROV_OPENAI || p->kind == SY_PROV_ANTHROPIC) && want_direct && p->base_url &&
        sy_hurl_parse(p->base_url, &u) == 0) {
        p->direct_http = 1;
        p->hurl = u;
    }
}

static unsigned cap_bit(const char *name)
{
    if (strcmp(name, "json") == 0) return SY_CAP_JSON;
    if (strcmp(name, "tools") == 0) return SY_CAP_TOOLS;
    if (strcmp(name, "vision") == 0) return SY_CAP_VISION;
    if (strcmp(name, "stream") == 0) return SY_CAP_STREAM;
    return 0;
}

static void load_sim(loader *ld, decl *d, sy_model *m)
{
    static const char *const known[] = {"failure_rate",      "failure_status",  "ttft",
                                        "tokens_per_second", "output_tokens",   "invalid_json_rate",
                                        "fenced_json_rate",  "slow_rate",       "slow_factor",
                                        "deterministic",     NULL};
    char k[160];
    decl sub;
    check_known_keys(ld, d, known);
    read_number(ld, d, "failure_rate", 0, 1, &m->sim.failure_rate);
    read_number(ld, d, "invalid_json_rate", 0, 1, &m->sim.invalid_json_rate);
    read_number(ld, d, "fenced_json_rate", 0, 1, &m->sim.fenced_json_rate);
    read_number(ld, d, "slow_rate", 0, 1, &m->sim.slow_rate);
    read_number(ld, d, "slow_factor", 1, 1000, &m->sim.slow_factor);
    int dt = get_raw(ld->L, d->tidx, "deterministic");
    if (dt == LUA_TBOOLEAN) {
        m->sim.deterministic = lua_toboolean(ld->L, -1);
    } else if (dt != LUA_TNIL) {
        keyname(k, sizeof k, d, "deterministic");
        problem(ld, NULL, d->line, k, "must be true or false");
    }
    lua_pop(ld->L, 1);
    read_int32(ld, d, "failure_status", 400, 599, &m->sim.failure_status);
    read_number(ld, d, "tokens_per_second", 0.001, 1e6, &m->sim.tokens_per_s);
    if (open_sub(ld, d, "ttft", &sub, k, sizeof k) == 1) {
        static const char *const tk[] = {"p50", "p95", NULL};
        check_known_keys(ld, &sub, tk);
        read_number(ld, &sub, "p50", 0, 3600000, &m->sim.ttft_p50_ms);
        read_number(ld, &sub, "p95", 0, 3600000, &m->sim.ttft_p95_ms);
        lua_pop(ld->L, 1);
    }
    if (open_sub(ld, d, "output_tokens", &sub, k, sizeof k) == 1) {
        static const char *const ok[] = {"min", "max", NULL};
        check_known_keys(ld, &sub, ok);
        read_int32(ld, &sub, "min", 1, 1000000, &m->sim.out_min);
        read_int32(ld, &sub, "max", 1, 1000000, &m->sim.out_max);
        if (m->sim.out_max < m->sim.out_min)
            problem(ld, NULL, d->line, k, "max must be >= min");
        lua_pop(ld->L, 1);
    }
}

static void load_model(loader *ld, decl *d, sy_model *m)
{
    static const char *const known[] = {"id",        "provider",       "upstream",
                                        "price",     "context_window", "max_output",
                                        "capabilities", "tokenizer",   "latency",
                                        "tags",      "sim",            "output_reserve",
                                        "breaker",   "concurrency",    "queue",
                                        NULL};
    sy_config *cfg = ld->cfg;
    char k[160];
    decl sub;
    char *prov = NULL;

    m->line = d->line;
    m->context_window = 8192;
    m->max_output = 4096;
    m->sim.failure_status = 500;
    m->sim.tokens_per_s = 80;
    m->sim.out_min = 12;
    m->sim.out_max = 48;
    m->sim.slow_factor = 10;
    m->sim.deterministic = 1;
    check_known_keys(ld, d, known);
    if (read_string(ld, d, "provider", &prov) == 0) {
        keyname(k, sizeof k, d, "provider");
        problem(ld, NULL, d->line, k, "is required");
    }
    if (prov) {
        for (int i = 0; i < cfg->nproviders; i++)
            if (cfg->providers[i].id && strcmp(cfg->providers[i].id, prov) == 0)
                m->provider = &cfg->providers[i];
        if (!m->provider) {
            keyname(k, sizeof k, d, "provider");
            problem(ld, NULL, d->line, k, "unknown provider \"%s\"", prov);
        }
    }
    free(prov);
    read_string(ld, d, "upstream", &m->upstream);
    if (!m->upstream) m->upstream = sy_strdup(m->id);

    if (open_sub(ld, d, "price", &sub, k, sizeof k) == 1) {
        static const char *const pk[] = {"input", "output", NULL};
        check_known_keys(ld, &sub, pk);
        read_number(ld, &sub, "input", 0, 1e6, &m->price_in);
        read_number(ld, &sub, "output", 0, 1e6, &m->price_out);
        lua_pop(ld->L, 1);
    }
    read_int(ld, d, "context_window", 1, 1e9, &m->context_window);
    read_int(ld, d, "max_output", 1, 1e9, &m->max_output);
    m->output_reserve = m->max_output < 512 ? m->max_output : 512;
    read_int(ld, d, "output_reserve", 0, 1e9, &m->output_reserve);

    char **caps = NULL;
    int ncaps = 0;
    if (read_string_list(ld, d, "capabilities", &caps, &ncaps) == 1) {
        for (int i = 0; i < ncaps; i++) {
            unsigned bit = cap_bit(caps[i]);
            if (!bit) {
                keyname(k, sizeof k, d, "capabilities");
                problem(ld, NULL, d->line, k,
                        "unknown capability \"%s\" (known: json, tools, vision, stream)",
                        caps[i]);
            }
            m->caps |= bit;
        }
    } else {
        m->caps = SY_CAP_STREAM; /* every OpenAI-compatible endpoint streams */
    }
    for (int i = 0; caps && i < ncaps; i++) free(caps[i]);
    free(caps);

    if (read_string(ld, d, "tokenizer", &m->tokenizer) == 0) {
        m->tok_kind = sy_tok_kind_guess(m->upstream);
        m->tokenizer = sy_strdup(sy_tok_kind_name(m->tok_kind));
    } else if ((m->tok_kind = sy_tok_kind(m->tokenizer)) < 0) {
        keyname(k, sizeof k, d, "tokenizer");
        problem(ld, NULL, d->line, k,
                "unknown tokenizer \"%s\" (known: cl100k_base, o200k_base, estimate)",
                m->tokenizer);
        m->tok_kind = SY_TOK_ESTIMATE;
    }
    char terr[512];
    if (sy_tokens_init(m->tok_kind, terr, sizeof terr) != 0) {
        keyname(k, sizeof k, d, "tokenizer");
        problem(ld, NULL, d->line, k, "%s", terr);
    }
    if (open_sub(ld, d, "latency", &sub, k, sizeof k) == 1) {
        static const char *const lk[] = {"p50", "p95", NULL};
        check_known_keys(ld, &sub, lk);
        read_number(ld, &sub, "p50", 0, 3600000, &m->lat_p50_ms);
        read_number(ld, &sub, "p95", 0, 3600000, &m->lat_p95_ms);
        if (m->lat_p95_ms < m->lat_p50_ms) problem(ld, NULL, d->line, k, "p95 must be >= p50");
        lua_pop(ld->L, 1);
    }
    if (m->lat_p50_ms == 0) m->lat_p50_ms = 800;
    if (m->lat_p95_ms == 0) m->lat_p95_ms = m->lat_p50_ms * 2.5;
    read_string_list(ld, d, "tags", &m->tags, &m->ntags);
    if (open_sub(ld, d, "sim", &sub, k, sizeof k) == 1) {
        if (m->provider && m->provider->kind != SY_PROV_SIM)
            problem(ld, NULL, d->line, k, "only applies to models of a sim provider");
        load_sim(ld, &sub, m);
        lua_pop(ld->L, 1);
    }
    m->breaker = (sy_breaker_cfg){1, 0.5, 10, 10000, 5000};
    int bt = get_raw(ld->L, d->tidx, "breaker");
    lua_pop(ld->L, 1);
    if (bt == LUA_TBOOLEAN) {
        lua_getfield(ld->L, d->tidx, "breaker");
        m->breaker.enabled = lua_toboolean(ld->L, -1);
        lua_pop(ld->L, 1);
    } else if (open_sub(ld, d, "breaker", &sub, k, sizeof k) == 1) {
        static const char *const bk[] = {"error_rate", "min_requests", "window_ms", "cooldown_ms",
                                         NULL};
        check_known_keys(ld, &sub, bk);
        read_number(ld, &sub, "error_rate", 0.01, 1, &m->breaker.error_rate);
        read_int32(ld, &sub, "min_requests", 1, 1000000, &m->breaker.min_requests);
        read_int32(ld, &sub, "window_ms", 100, 3600000, &m->breaker.window_ms);
        read_int32(ld, &sub, "cooldown_ms", 10, 3600000, &m->breaker.cooldown_ms);
        lua_pop(ld->L, 1);
    }
    read_int32(ld, d, "concurrency", 0, 1000000, &m->concurrency);
    m->queue_max = cfg->queue_max;
    m->queue_timeout_ms = cfg->queue_timeout_ms;
    if (load_queue(ld, d, &m->queue_max, &m->queue_timeout_ms) && m->concurrency == 0) {
        keyname(k, sizeof k, d, "queue");
        problem(ld, NULL, d->line, k, "has no effect without concurrency (the model has no limit)");
    }
    if (m->sim.ttft_p50_ms == 0) m->sim.ttft_p50_ms = m->lat_p50_ms / 3;
    if (m->sim.ttft_p95_ms == 0) m->sim.ttft_p95_ms = m->lat_p95_ms / 3;
    if (m->sim.ttft_p95_ms < m->sim.ttft_p50_ms) m->sim.ttft_p95_ms = m->sim.ttft_p50_ms;
}

static char *join_path(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !dir || !*dir) return sy_strdup(rel);
    sy_buf b;
    sy_buf_init(&b);
    sy_buf_printf(&b, "%s/%s", dir, rel);
    return sy_buf_steal(&b);
}

static char *read_file(const char *path, size_t *len, int *err)
{
    errno = 0;
    char *text = sy_file_read(path, len);
    *err = text ? 0 : (errno ? errno : EIO);
    return text;
}

/* Reads a policy file named by key (relative to the config) and checks its syntax: nothing
 * runs here, sy_policy loads it later. Problems are reported, and *src stays NULL. */
static void read_policy(loader *ld, decl *d, const char *key, const char *name, char **path,
                        char **src, size_t *len, char hash[13])
{
    char k[160];
    keyname(k, sizeof k, d, key);
    *path = join_path(ld->cfg->dir, name);
    int err = 0;
    *src = read_file(*path, len, &err);
    if (!*src || err) {
        problem(ld, NULL, d->line, k, "cannot read policy file %s: %s", *path,
                strerror(err ? err : EIO));
        free(*src);
        *src = NULL;
    } else if (*len > 0 && (*src)[0] == LUA_SIGNATURE[0]) {
        /* never hand bytecode to the loader: malformed bytecode can crash the VM */
        problem(ld, *path, 1, k, "bytecode policies are not allowed");
        free(*src);
        *src = NULL;
    } else if (luaL_loadbuffer(ld->L, *src, *len, "=policy") != 0) {
        /* Syntax only: reported even when other declarations are broken too, so one `check`
         * lists every problem. */
        const char *msg = lua_tostring(ld->L, -1);
        const char *p = msg ? strstr(msg, ":") : NULL; /* "policy:LINE: message" */
        if (p) {
            long line = strtol(p + 1, NULL, 10);
            const char *rest = strstr(p + 1, ": ");
            problem(ld, *path, (int)line, k, "%s", rest ? rest + 2 : msg);
        } else {
            problem(ld, *path, 0, k, "%s", msg ? msg : "syntax error");
        }
        lua_pop(ld->L, 1);
    } else {
        lua_pop(ld->L, 1);
        snprintf(hash, 13, "%012llx",
                 (unsigned long long)(sy_hash64(*src, *len, 0) & 0xffffffffffffull));
    }
}

/* route.cache = true | { ttl_s, max_bytes, stream = "replay" | false } and
 * route.decision_cache = { max, ttl_ms } (engine/sy_cache.c). */
static void load_route_caches(loader *ld, decl *d, sy_route *r)
{
    char k[160], sk[160]; /* sk: the sub-table's name, which keyname reads */
    decl sub;
    int t = get_raw(ld->L, d->tidx, "cache");
    if (t == LUA_TBOOLEAN) r->cache.enabled = lua_toboolean(ld->L, -1);
    lua_pop(ld->L, 1);
    r->cache.ttl_s = 300;
    r->cache.max_bytes = 64u << 20;
    if (t != LUA_TNIL && t != LUA_TBOOLEAN && t != LUA_TTABLE) {
        keyname(k, sizeof k, d, "cache");
        problem(ld, NULL, d->line, k, "must be true, false or a table (ttl_s, max_bytes, stream)");
    } else if (t == LUA_TTABLE && open_sub(ld, d, "cache", &sub, sk, sizeof sk) == 1) {
        static const char *const ck[] = {"ttl_s", "max_bytes", "stream", "backend", NULL};
        check_known_keys(ld, &sub, ck);
        r->cache.enabled = 1;
        read_int32(ld, &sub, "ttl_s", 0, 365 * 86400, &r->cache.ttl_s);
        int mt = get_raw(ld->L, sub.tidx, "max_bytes");
        if (mt != LUA_TNIL &&
            (parse_size(ld->L, -1, &r->cache.max_bytes) != 0 || r->cache.max_bytes < 1024)) {
            keyname(k, sizeof k, &sub, "max_bytes");
            problem(ld, NULL, d->line, k, "must be a size of at least 1024 bytes (\"64MiB\", 1048576)");
        }
        lua_pop(ld->L, 1);
        int st = get_raw(ld->L, sub.tidx, "stream");
        if (st == LUA_TSTRING && strcmp(lua_tostring(ld->L, -1), "replay") == 0)
            r->cache.stream_replay = 1;
        else if (!(st == LUA_TNIL || (st == LUA_TBOOLEAN && !lua_toboolean(ld->L, -1)))) {
            keyname(k, sizeof k, &sub, "stream");
            problem(ld, NULL, d->line, k, "must be \"replay\" or false");
        }
        lua_pop(ld->L, 1);
        char *backend = NULL;
        if (read_string(ld, &sub, "backend", &backend) == 1 && strcmp(backend, "memory") != 0) {
            keyname(k, sizeof k, &sub, "backend");
            if (strcmp(backend, "redis") != 0)
                problem(ld, NULL, d->line, k, "unknown backend \"%s\" (known: memory, redis)", backend);
            else if (!ld->cfg->redis_url)
                problem(ld, NULL, d->line, k, "\"redis\" needs server.redis (a redis:// URL)");
            else
                r->cache.redis = 1;
        }
        free(backend);
        lua_pop(ld->L, 1);
    }
    if (open_sub(ld, d, "decision_cache", &sub, sk, sizeof sk) == 1) {
        static const char *const dk[] = {"max", "ttl_ms", NULL};
        check_known_keys(ld, &sub, dk);
        r->dcache_max = 10000;
        read_int32(ld, &sub, "max", 1, 10000000, &r->dcache_max);
        read_int32(ld, &sub, "ttl_ms", 0, 86400000, &r->dcache_ttl_ms);
        lua_pop(ld->L, 1);
    }
}

static void load_route(loader *ld, decl *d, sy_route *r)
{
    static const char *const known[] = {"name",     "policy",   "default",
                                        "budget_ms", "options", "truncate",
                                        "on_schema_failure", "stream_buffer", "retries",
                                        "backoff", "reference", "shadow", "cache",
                                        "decision_cache", NULL};
    sy_config *cfg = ld->cfg;
    char k[160];
    char *policy = NULL, *def = NULL;

    r->line = d->line;
    r->budget_us = 2000;
    check_known_keys(ld, d, known);
    if (read_string(ld, d, "policy", &policy) == 0) {
        keyname(k, sizeof k, d, "policy");
        problem(ld, NULL, d->line, k, "is required (a policy file)");
    }
    if (policy)
        read_policy(ld, d, "policy", policy, &r->policy_path, &r->policy_src, &r->policy_len,
                    r->policy_hash);
    char *shadow = NULL;
    if (read_string(ld, d, "shadow", &shadow) == 1)
        read_policy(ld, d, "shadow", shadow, &r->shadow_path, &r->shadow_src, &r->shadow_len,
                    r->shadow_hash);
    free(shadow);
    char *trunc = NULL;
    if (read_string(ld, d, "truncate", &trunc) == 1) {
        if (strcmp(trunc, "drop_oldest") == 0)
            r->truncate = SY_TRUNC_DROP_OLDEST;
        else if (strcmp(trunc, "middle_out") == 0)
            r->truncate = SY_TRUNC_MIDDLE_OUT;
        else if (strcmp(trunc, "none") != 0) {
            keyname(k, sizeof k, d, "truncate");
            problem(ld, NULL, d->line, k,
                    "unknown strategy \"%s\" (known: none, drop_oldest, middle_out)", trunc);
        }
    }
    free(trunc);
    char *osf = NULL;
    if (read_string(ld, d, "on_schema_failure", &osf) == 1) {
        if (strcmp(osf, "escalate") == 0)
            r->on_schema_failure = SY_SCHEMA_ESCALATE;
        else if (strcmp(osf, "retry") == 0)
            r->on_schema_failure = SY_SCHEMA_RETRY;
        else if (strcmp(osf, "pass") == 0)
            r->on_schema_failure = SY_SCHEMA_PASS;
        else {
            keyname(k, sizeof k, d, "on_schema_failure");
            problem(ld, NULL, d->line, k, "unknown action \"%s\" (known: escalate, retry, pass)",
                    osf);
        }
    }
    free(osf);
    char *refname = NULL;
    if (read_string(ld, d, "reference", &refname) == 1) {
        r->reference = (sy_model *)sy_config_model(cfg, refname);
        if (!r->reference) {
            keyname(k, sizeof k, d, "reference");
            problem(ld, NULL, d->line, k, "unknown model \"%s\"", refname);
        }
    }
    free(refname);
    r->backoff_base_ms = 100;
    r->backoff_max_ms = 5000;
    read_int32(ld, d, "retries", 0, 10, &r->retries);
    decl bsub;
    if (open_sub(ld, d, "backoff", &bsub, k, sizeof k) == 1) {
        static const char *const bk[] = {"base_ms", "max_ms", NULL};
        check_known_keys(ld, &bsub, bk);
        read_int32(ld, &bsub, "base_ms", 1, 600000, &r->backoff_base_ms);
        read_int32(ld, &bsub, "max_ms", 1, 3600000, &r->backoff_max_ms);
        lua_pop(ld->L, 1);
    }
    load_route_caches(ld, d, r);
    int sb = get_raw(ld->L, d->tidx, "stream_buffer");
    if (sb == LUA_TBOOLEAN) {
        r->stream_buffer = lua_toboolean(ld->L, -1);
    } else if (sb != LUA_TNIL) {
        keyname(k, sizeof k, d, "stream_buffer");
        problem(ld, NULL, d->line, k, "must be true or false");
    }
    lua_pop(ld->L, 1);
    if (read_string(ld, d, "default", &def) == 0) {
        keyname(k, sizeof k, d, "default");
        problem(ld, NULL, d->line, k, "is required (the model used when the policy fails)");
    }
    if (def) {
        r->default_model = (sy_model *)sy_config_model(cfg, def);
        if (!r->default_model) {
            keyname(k, sizeof k, d, "default");
            problem(ld, NULL, d->line, k, "unknown model \"%s\"", def);
        }
    }
    int t = get_raw(ld->L, d->tidx, "options");
    if (t == LUA_TTABLE) {
        sy_buf j;
        sy_buf_init(&j);
        if (sy_lua_to_json(ld->L, -1, &j, 0) != 0) {
            keyname(k, sizeof k, d, "options");
            problem(ld, NULL, d->line, k, "must hold only strings, numbers, booleans and tables");
            sy_buf_free(&j);
        } else {
            r->options_json = sy_buf_steal(&j);
        }
    } else if (t != LUA_TNIL) {
        keyname(k, sizeof k, d, "options");
        problem(ld, NULL, d->line, k, "must be a table of the policy's options");
    }
    lua_pop(ld->L, 1);
    double budget_ms = 0;
    if (read_number(ld, d, "budget_ms", 0.01, 10000, &budget_ms) == 1)
        r->budget_us = (int)(budget_ms * 1000);
    free(policy);
    free(def);
}

/* Reads the id/name field that identifies a declaration and checks it is unique among
 * the ids seen so far (seen: array of n strings). */
static char *read_id(loader *ld, decl *d, const char *field, char **seen, int n)
{
    char *id = NULL;
    char k[160];
    snprintf(k, sizeof k, "%s.%s", d->kind, field);
    if (read_string(ld, d, field, &id) == 0) problem(ld, NULL, d->line, k, "is required");
    if (!id) return NULL;
    for (int i = 0; i < n; i++) {
        if (seen[i] && strcmp(seen[i], id) == 0) {
            problem(ld, NULL, d->line, k, "duplicate %s \"%s\"", field, id);
            break;
        }
    }
    d->name = id;
    return id;
}

/* ============================================================ keys and teams */

/* limits = { rpm = 60, tpm = 100000, usd_day = 5, usd_month = 100 } */
static void load_limits(loader *ld, const decl *d, sy_limits *lim)
{
    static const char *const known[] = {"rpm", "tpm", "usd_day", "usd_month", NULL};
    decl sub;
    char k[160];
    if (open_sub(ld, d, "limits", &sub, k, sizeof k) != 1) return;
    check_known_keys(ld, &sub, known);
    int64_t v;
    if (read_int(ld, &sub, "rpm", 0, 1e12, &v) == 1) lim->rpm = (long)v;
    if (read_int(ld, &sub, "tpm", 0, 1e15, &v) == 1) lim->tpm = (long)v;
    read_number(ld, &sub, "usd_day", 0, 1e12, &lim->usd_day);
    read_number(ld, &sub, "usd_month", 0, 1e12, &lim->usd_month);
    lua_pop(ld->L, 1);
}

static void each_team(loader *ld, decl *d, int i)
{
    static const char *const known[] = {"id", "limits", NULL};
    sy_team_cfg *t = &ld->cfg->teams[i];
    char **seen = calloc((size_t)i + 1, sizeof *seen);
    for (int j = 0; seen && j < i; j++) seen[j] = ld->cfg->teams[j].id;
    t->id = read_id(ld, d, "id", seen, i);
    free(seen);
    t->file = ld->file;
    t->line = d->line;
    check_known_keys(ld, d, known);
    load_limits(ld, d, &t->limits);
}

int sy_parse_priority(const char *s)
{
    if (!s) return -1;
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n == 1 && s[0] >= '0' && s[0] <= '9') return s[0] - '0';
    if (n == 3 && strncasecmp(s, "low", 3) == 0) return SY_PRIO_LOW;
    if (n == 6 && strncasecmp(s, "normal", 6) == 0) return SY_PRIO_NORMAL;
    if (n == 4 && strncasecmp(s, "high", 4) == 0) return SY_PRIO_HIGH;
    return -1;
}

/* key { id = "support-bot", sha256 = "…64 hex…" | key_env = "VAR", team = "support",
 *       routes = {"auto"}, models = {"small"}, tier = "pro", priority = "high",
 *       limits = {...} } */
static void each_key(loader *ld, decl *d, int i)
{
    static const char *const known[] = {"id", "sha256", "key_env", "team", "routes", "models",
                                        "tier", "priority", "limits", NULL};
    sy_config *cfg = ld->cfg;
    sy_key_cfg *key = &cfg->keys[i];
    char k[160], **seen = calloc((size_t)i + 1, sizeof *seen);
    for (int j = 0; seen && j < i; j++) seen[j] = cfg->keys[j].id;
    key->id = read_id(ld, d, "id", seen, i);
    free(seen);
    key->file = ld->file;
    key->line = d->line;
    key->priority = SY_PRIO_NORMAL;
    check_known_keys(ld, d, known);
    char *hex = NULL, *env = NULL;
    int has_hex = read_string(ld, d, "sha256", &hex), has_env = read_string(ld, d, "key_env", &env);
    keyname(k, sizeof k, d, "sha256");
    if (has_hex == 1 && has_env == 1) {
        problem(ld, NULL, d->line, k, "give sha256 or key_env, not both");
    } else if (has_hex == 1) {
        int ok = strlen(hex) == 64;
        for (int b = 0; ok && b < 32; b++) {
            int hi = sy_hexval(hex[2 * b]), lo = sy_hexval(hex[2 * b + 1]);
            if (hi < 0 || lo < 0) ok = 0;
            else key->sha256[b] = (unsigned char)(hi << 4 | lo);
        }
        if (!ok)
            problem(ld, NULL, d->line, k,
                    "must be 64 hex digits: the SHA-256 of the key (switchyard key-hash)");
    } else if (has_env == 1) {
        const char *v = getenv(env);
        if (!v || !*v) {
            keyname(k, sizeof k, d, "key_env");
            problem(ld, NULL, d->line, k, "environment variable %s is not set", env);
        } else {
            SHA256((const unsigned char *)v, strlen(v), key->sha256);
        }
    } else if (has_hex == 0 && has_env == 0) {
        problem(ld, NULL, d->line, k,
                "is required: the SHA-256 of the key as hex (switchyard key-hash), or key_env "
                "naming a variable that holds the key");
    }
    free(hex);
    free(env);
    key->team = NULL;
    if (read_string(ld, d, "team", &key->team) == 1) {
        for (int j = 0; j < cfg->nteams; j++)
            if (cfg->teams[j].id && strcmp(cfg->teams[j].id, key->team) == 0)
                key->team_cfg = &cfg->teams[j];
        /* a team without limits needs no declaration: it still keeps caches apart */
    }
    if (!key->team) key->team = sy_strdup("");
    if (key->id) {
        size_t tn = strlen(key->team[0] ? key->team : key->id) + 3;
        key->tenant = malloc(tn);
        if (key->tenant)
            snprintf(key->tenant, tn, "%s:%s", key->team[0] ? "t" : "k",
                     key->team[0] ? key->team : key->id);
    }
    if (read_string(ld, d, "tier", &key->tier) != 1) key->tier = sy_strdup("");
    if (read_string_list(ld, d, "routes", &key->routes, &key->nroutes) == 1)
        for (int j = 0; j < key->nroutes; j++)
            if (!sy_config_route(cfg, key->routes[j]) && !sy_config_model(cfg, key->routes[j])) {
                keyname(k, sizeof k, d, "routes");
                problem(ld, NULL, d->line, k, "unknown route \"%s\"", key->routes[j]);
            }
    if (read_string_list(ld, d, "models", &key->models, &key->nmodels) == 1)
        for (int j = 0; j < key->nmodels; j++)
            if (!sy_config_model(cfg, key->models[j])) {
                keyname(k, sizeof k, d, "models");
                problem(ld, NULL, d->line, k, "unknown model \"%s\"", key->models[j]);
            }
    int t = get_raw(ld->L, d->tidx, "priority");
    if (t == LUA_TNUMBER || t == LUA_TSTRING) {
        char buf[32];
        snprintf(buf, sizeof buf, "%s", lua_tostring(ld->L, -1));
        int p = sy_parse_priority(buf);
        if (p < 0) {
            keyname(k, sizeof k, d, "priority");
            problem(ld, NULL, d->line, k, "must be \"low\", \"normal\", \"high\" or 0..9");
        } else {
            key->priority = p;
        }
    } else if (t != LUA_TNIL) {
        keyname(k, sizeof k, d, "priority");
        problem(ld, NULL, d->line, k, "must be \"low\", \"normal\", \"high\" or 0..9");
    }
    lua_pop(ld->L, 1);
    load_limits(ld, d, &key->limits);
    for (int j = 0; j < i; j++)
        if (memcmp(cfg->keys[j].sha256, key->sha256, 32) == 0 && has_hex + has_env > 0) {
            keyname(k, sizeof k, d, "sha256");
            problem(ld, NULL, d->line, k, "the same key as key[%s]", cfg->keys[j].id);
        }
}

const sy_key_cfg *sy_config_key(const sy_config *cfg, const unsigned char sha256[32])
{
    const sy_key_cfg *found = NULL;
    for (int i = 0; i < cfg->nkeys; i++) { /* every one compared: no timing by position */
        unsigned diff = 0;
        for (int b = 0; b < 32; b++) diff |= cfg->keys[i].sha256[b] ^ sha256[b];
        if (!diff) found = &cfg->keys[i];
    }
    return found;
}

int sy_key_allows_route(const sy_key_cfg *k, const char *name)
{
    if (!k || !k->routes) return 1;
    for (int i = 0; i < k->nroutes; i++)
        if (strcmp(k->routes[i], name) == 0) return 1;
    return 0;
}

int sy_key_may_use(const sy_key_cfg *k, const sy_config *cfg, const char *name)
{
    if (!k) return 1;
    if (sy_config_model(cfg, name)) return k->models ? sy_key_allows_model(k, name) : !k->routes;
    return !sy_config_route(cfg, name) || sy_key_allows_route(k, name);
}

int sy_key_allows_model(const sy_key_cfg *k, const char *model_id)
{
    if (!k || !k->models) return 1;
    for (int i = 0; i < k->nmodels; i++)
        if (strcmp(k->models[i], model_id) == 0) return 1;
    return 0;
}

/* ============================================================ load */

int sy_parse_listen(const char *s, char **host, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') return SY_EINVAL;
        h = s + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return SY_EINVAL;
        hlen = (size_t)(colon - s);
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535) return SY_EINVAL;
    *host = hlen ? sy_strndup(h, hlen) : sy_strdup("0.0.0.0");
    *port = (int)p;
    return *host ? SY_OK : SY_ENOMEM;
}

static int count_kind(lua_State *L, int decls, const char *kind)
{
    int n = 0, len = (int)lua_objlen(L, decls);
    for (int i = 1; i <= len; i++) {
        lua_rawgeti(L, decls, i);
        lua_getfield(L, -1, "kind");
        if (strcmp(lua_tostring(L, -1), kind) == 0) n++;
        lua_pop(L, 2);
    }
    return n;
}

/* Calls fn for each declaration of `kind`, with the declared table pushed at d.tidx. */
typedef void (*decl_fn)(loader *ld, decl *d, int i);

static void each_decl(loader *ld, int decls, const char *kind, decl_fn fn)
{
    lua_State *L = ld->L;
    int len = (int)lua_objlen(L, decls), n = 0;
    for (int i = 1; i <= len; i++) {
        lua_rawgeti(L, decls, i);       /* d */
        lua_getfield(L, -1, "kind");    /* d kind */
        int match = strcmp(lua_tostring(L, -1), kind) == 0;
        lua_pop(L, 1);
        if (match) {
            decl d = {kind, NULL, 0, 0};
            lua_getfield(L, -1, "line");
            d.line = (int)lua_tointeger(L, -1);
            lua_pop(L, 1);
            lua_getfield(L, -1, "t");   /* d t */
            d.tidx = lua_gettop(L);
            fn(ld, &d, n++);
            lua_settop(L, d.tidx - 1);  /* d */
        }
        lua_pop(L, 1);
    }
}

static void each_provider(loader *ld, decl *d, int i)
{
    sy_provider_cfg *p = &ld->cfg->providers[i];
    char **seen = calloc((size_t)i + 1, sizeof *seen);
    for (int j = 0; seen && j < i; j++) seen[j] = ld->cfg->providers[j].id;
    p->id = read_id(ld, d, "id", seen, i);
    free(seen);
    p->file = ld->file;
    load_provider(ld, d, p);
}

static void each_model(loader *ld, decl *d, int i)
{
    sy_model *m = &ld->cfg->models[i];
    char **seen = calloc((size_t)i + 1, sizeof *seen);
    for (int j = 0; seen && j < i; j++) seen[j] = ld->cfg->models[j].id;
    m->id = read_id(ld, d, "id", seen, i);
    free(seen);
    m->index = i;
    m->file = ld->file;
    load_model(ld, d, m);
}

static void each_route(loader *ld, decl *d, int i)
{
    sy_route *r = &ld->cfg->routes[i];
    char **seen = calloc((size_t)i + 1, sizeof *seen);
    for (int j = 0; seen && j < i; j++) seen[j] = ld->cfg->routes[j].name;
    r->name = read_id(ld, d, "name", seen, i);
    free(seen);
    r->file = ld->file;
    if (r->name && sy_config_model(ld->cfg, r->name)) {
        problem(ld, NULL, d->line, "route.name",
                "\"%s\" is already a model id; a route needs its own name", r->name);
    }
    load_route(ld, d, r);
}

static void each_server(loader *ld, decl *d, int i)
{
    if (i > 0) problem(ld, NULL, d->line, "server", "declared more than once");
    load_server(ld, d);
}

/* classifier { id = "difficulty", path = "model.bin", models = { large = "gpt-4" } }: the
 * file is loaded now (a reload loads it again); each label of the model file maps to the
 * registry model named in `models`, else to the model whose id or upstream name is the label. */
static void load_classifier(loader *ld, decl *d, sy_classifier_cfg *c)
{
    static const char *const known[] = {"id", "path", "models", NULL};
    char k[160], *path = NULL, err[512];
    c->line = d->line;
    c->file = ld->file;
    check_known_keys(ld, d, known);
    keyname(k, sizeof k, d, "path");
    if (read_string(ld, d, "path", &path) == 0) problem(ld, NULL, d->line, k, "is required (a file made by switchyard train)");
    if (!path) return;
    c->path = join_path(ld->cfg->dir, path);
    free(path);
    int rc = sy_classifier_load(&c->cls, c->path, err, sizeof err);
    if (rc != SY_OK) {
        problem(ld, NULL, d->line, k, "%s", err);
        return;
    }
    c->nlabels = sy_classifier_nlabels(c->cls);
    if (c->nlabels > SY_CLASSIFIER_MAX_LABELS) {
        problem(ld, NULL, d->line, k, "%d models in the file, at most %d", c->nlabels,
                SY_CLASSIFIER_MAX_LABELS);
        return;
    }
    for (int i = 0; i < c->nlabels; i++) {
        const char *label = sy_classifier_label(c->cls, i);
        const sy_model *m = sy_config_model(ld->cfg, label);
        for (int j = 0; !m && j < ld->cfg->nmodels; j++)
            if (ld->cfg->models[j].upstream && strcmp(ld->cfg->models[j].upstream, label) == 0)
                m = &ld->cfg->models[j];
        c->model_of[i] = m;
    }
    decl sub;
    char kb[160];
    if (open_sub(ld, d, "models", &sub, kb, sizeof kb) == 1) {
        lua_State *L = ld->L;
        lua_pushnil(L);
        while (lua_next(L, sub.tidx)) {
            const char *mid = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            const char *label = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            const sy_model *m = mid ? sy_config_model(ld->cfg, mid) : NULL;
            int li = -1;
            for (int i = 0; label && i < c->nlabels; i++)
                if (strcmp(sy_classifier_label(c->cls, i), label) == 0) li = i;
            if (!mid || !label)
                problem(ld, NULL, d->line, kb, "must map model ids to the file's labels (strings)");
            else if (!m)
                problem(ld, NULL, d->line, kb, "unknown model \"%s\"", mid);
            else if (li < 0) {
                sy_buf b;
                sy_buf_init(&b);
                for (int i = 0; i < c->nlabels; i++)
                    sy_buf_printf(&b, "%s\"%s\"", i ? ", " : "", sy_classifier_label(c->cls, i));
                problem(ld, NULL, d->line, kb, "%s: no label \"%s\" in %s (it has: %s)", mid, label,
                        c->path, b.data ? b.data : "");
                sy_buf_free(&b);
            } else
                c->model_of[li] = m;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

static void each_classifier(loader *ld, decl *d, int i)
{
    sy_classifier_cfg *c = &ld->cfg->classifiers[i];
    char **seen = calloc((size_t)i + 1, sizeof *seen);
    for (int j = 0; seen && j < i; j++) seen[j] = ld->cfg->classifiers[j].id;
    c->id = read_id(ld, d, "id", seen, i);
    free(seen);
    load_classifier(ld, d, c);
}

int sy_config_load(sy_config **out, const char *path, sy_buf *diag)
{
    loader ld = {0};
    sy_config *cfg = calloc(1, sizeof *cfg);
    lua_State *L = luaL_newstate();
    *out = NULL;
    if (!cfg || !L) goto oom;
    luaL_openlibs(L);
    ld.L = L;
    ld.cfg = cfg;
    ld.diag = diag;
    atomic_init(&cfg->refs, 1);
    cfg->path = sy_strdup(path);
    const char *slash = strrchr(path, '/');
    cfg->dir = slash ? sy_strndup(path, (size_t)(slash - path)) : sy_strdup(".");
    cfg->listen_host = sy_strdup("127.0.0.1");
    cfg->listen_port = 8080;
    cfg->max_body = DEFAULT_MAX_BODY;
    cfg->request_timeout_ms = 300000;
    cfg->redis_fail_open = 1;
    cfg->redis_timeout_ms = 50;
    cfg->queue_max = 256;
    cfg->queue_timeout_ms = 10000;
    ld.file = cfg->path;

    lua_newtable(L); /* decls */
    int decls = lua_gettop(L);
    size_t len = 0;
    int err = 0;
    char *src = read_file(path, &len, &err);
    if (!src || err) {
        problem(&ld, path, 0, "config", "cannot read: %s", strerror(err ? err : EIO));
        free(src);
        goto fail;
    }
    char chunkname[PATH_MAX + 2];
    snprintf(chunkname, sizeof chunkname, "@%s", path);
    int lrc = luaL_loadbuffer(L, src, len, chunkname);
    free(src);
    if (lrc == 0) {
        push_config_env(L, decls); /* decls fn env */
        lua_setfenv(L, -2);
        lrc = lua_pcall(L, 0, 0, 0);
    }
    if (lrc != 0) {
        /* Lua's message already starts with "file:line:"; keep it and name the key. */
        const char *msg = lua_tostring(L, -1);
        ld.errors++;
        const char *p = msg ? strstr(msg, ": ") : NULL;
        if (p && strncmp(msg, path, strlen(path)) == 0)
            sy_buf_printf(diag, "%.*s: config: %s\n", (int)(p - msg), msg, p + 2);
        else
            sy_buf_printf(diag, "%s:0: config: %s\n", path, msg ? msg : "error");
        goto fail;
    }

    cfg->nproviders = count_kind(L, decls, "provider");
    cfg->nmodels = count_kind(L, decls, "model");
    cfg->nroutes = count_kind(L, decls, "route");
    cfg->nclassifiers = count_kind(L, decls, "classifier");
    cfg->nteams = count_kind(L, decls, "team");
    cfg->nkeys = count_kind(L, decls, "key");
    cfg->teams = calloc((size_t)cfg->nteams + 1, sizeof *cfg->teams);
    cfg->keys = calloc((size_t)cfg->nkeys + 1, sizeof *cfg->keys);
    cfg->classifiers = calloc((size_t)cfg->nclassifiers + 1, sizeof *cfg->classifiers);
    cfg->providers = calloc((size_t)cfg->nproviders + 1, sizeof *cfg->providers);
    cfg->models = calloc((size_t)cfg->nmodels + 1, sizeof *cfg->models);
    cfg->routes = calloc((size_t)cfg->nroutes + 1, sizeof *cfg->routes);
    if (!cfg->providers || !cfg->models || !cfg->routes || !cfg->classifiers || !cfg->teams ||
        !cfg->keys) {
        /* nothing was declared into them: sy_config_unref must not walk them */
        cfg->nproviders = cfg->nmodels = cfg->nroutes = cfg->nclassifiers = 0;
        cfg->nteams = cfg->nkeys = 0;
        goto oom;
    }
    each_decl(&ld, decls, "server", each_server);
    each_decl(&ld, decls, "provider", each_provider);
    each_decl(&ld, decls, "model", each_model);
    each_decl(&ld, decls, "route", each_route);
    each_decl(&ld, decls, "classifier", each_classifier);
    each_decl(&ld, decls, "team", each_team);
    each_decl(&ld, decls, "key", each_key);
    if (cfg->nmodels == 0) problem(&ld, path, 1, "model", "the config declares no model");
    if (ld.errors) goto fail;

    lua_close(L);
    *out = cfg;
    return SY_OK;

oom:
    sy_buf_printf(diag, "%s:0: config: out of memory\n", path);
    ld.errors++;
fail:
    if (L) lua_close(L);
    sy_config_unref(cfg);
    return ld.errors ? SY_ECONFIG : SY_ENOMEM;
}

/* ============================================================ lifetime, lookups */

sy_config *sy_config_ref(sy_config *cfg)
{
    if (cfg) atomic_fetch_add(&cfg->refs, 1);
    return cfg;
}

void sy_config_unref(sy_config *cfg)
{
    if (!cfg) return;
    if (atomic_fetch_sub(&cfg->refs, 1) != 1) return;
    for (int i = 0; i < cfg->nproviders; i++) {
        sy_provider_cfg *p = &cfg->providers[i];
        free(p->id);
        free(p->base_url);
        free(p->api_key_env);
        free(p->anthropic_version);
        if (p->api_key) {
            /* wipe the secret before the memory is reused */
            volatile char *v = p->api_key;
            while (*v) *v++ = 0;
            free(p->api_key);
        }
    }
    for (int i = 0; i < cfg->nmodels; i++) {
        sy_model *m = &cfg->models[i];
        free(m->id);
        free(m->upstream);
        free(m->tokenizer);
        for (int t = 0; t < m->ntags; t++) free(m->tags[t]);
        free(m->tags);
    }
    for (int i = 0; i < cfg->nroutes; i++) {
        free(cfg->routes[i].name);
        free(cfg->routes[i].policy_path);
        free(cfg->routes[i].policy_src);
        free(cfg->routes[i].shadow_path);
        free(cfg->routes[i].shadow_src);
        free(cfg->routes[i].options_json);
    }
    for (int i = 0; i < cfg->nclassifiers; i++) {
        free(cfg->classifiers[i].id);
        free(cfg->classifiers[i].path);
        sy_classifier_free(cfg->classifiers[i].cls);
    }
    free(cfg->classifiers);
    for (int i = 0; i < cfg->nkeys; i++) {
        sy_key_cfg *k = &cfg->keys[i];
        free(k->id);
        free(k->team);
        free(k->tenant);
        free(k->tier);
        for (int j = 0; j < k->nroutes; j++) free(k->routes[j]);
        free(k->routes);
        for (int j = 0; j < k->nmodels; j++) free(k->models[j]);
        free(k->models);
        volatile unsigned char *h = k->sha256; /* a store the compiler may not drop */
        for (size_t b = 0; b < sizeof k->sha256; b++) h[b] = 0;
    }
    free(cfg->keys);
    for (int i = 0; i < cfg->nteams; i++) free(cfg->teams[i].id);
    free(cfg->teams);
    free(cfg->redis_url);
    free(cfg->providers);
    free(cfg->models);
    free(cfg->routes);
    free(cfg->path);
    free(cfg->dir);
    free(cfg->listen_host);
    free(cfg->log_level);
    free(cfg->request_log);
    if (cfg->admin_token) {
        volatile char *v = cfg->admin_token;
        while (*v) *v++ = 0;
        free(cfg->admin_token);
    }
    free(cfg);
}

const sy_model *sy_config_model(const sy_config *cfg, const char *id)
{
    for (int i = 0; i < cfg->nmodels; i++)
        if (cfg->models[i].id && strcmp(cfg->models[i].id, id) == 0) return &cfg->models[i];
    return NULL;
}

const sy_classifier_cfg *sy_config_classifier(const sy_config *cfg, const char *id)
{
    for (int i = 0; i < cfg->nclassifiers; i++)
        if (cfg->classifiers[i].id && strcmp(cfg->classifiers[i].id, id) == 0)
            return &cfg->classifiers[i];
    return NULL;
}

const sy_route *sy_config_route(const sy_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->nroutes; i++)
        if (cfg->routes[i].name && strcmp(cfg->routes[i].name, name) == 0)
            return &cfg->routes[i];
    return NULL;
}

/* Lua value at idx → JSON (tables with a list part are arrays). depth-bounded. */
int sy_lua_to_json(lua_State *L, int idx, sy_buf *out, int depth)
{
    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    if (depth > 32) return -1;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: return sy_buf_json_str(out, lua_tostring(L, idx));
    case LUA_TBOOLEAN: return sy_buf_puts(out, lua_toboolean(L, idx) ? "true" : "false");
    case LUA_TNUMBER: return sy_buf_printf(out, "%.17g", lua_tonumber(L, idx));
    case LUA_TNIL: return sy_buf_puts(out, "null");
    case LUA_TTABLE: break;
    default: return -1;
    }
    int n = (int)lua_objlen(L, idx), rc = 0;
    if (n > 0) {
        rc |= sy_buf_puts(out, "[");
        for (int i = 1; i <= n && rc == 0; i++) {
            if (i > 1) rc |= sy_buf_puts(out, ",");
            lua_rawgeti(L, idx, i);
            rc |= sy_lua_to_json(L, -1, out, depth + 1);
            lua_pop(L, 1);
        }
        return rc | sy_buf_puts(out, "]");
    }
    int first = 1;
    rc |= sy_buf_puts(out, "{");
    lua_pushnil(L);
    while (rc == 0 && lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            if (!first) rc |= sy_buf_puts(out, ",");
            first = 0;
            rc |= sy_buf_json_str(out, lua_tostring(L, -2));
            rc |= sy_buf_puts(out, ":");
            rc |= sy_lua_to_json(L, -1, out, depth + 1);
        }
        lua_pop(L, 1);
    }
    if (rc) lua_pop(L, 1); /* the key left by an interrupted lua_next */
    return rc | sy_buf_puts(out, "}");
}

/* ============================================================ live stats */

void sy_live_ewma(_Atomic uint64_t *slot, double sample)
{
    uint64_t old = atomic_load(slot), next;
    do {
        double cur;
        memcpy(&cur, &old, sizeof cur);
        double v = old == 0 ? sample : cur * 0.8 + sample * 0.2;
        if (v == 0) v = 1e-9; /* 0 bits mean "no sample" */
        memcpy(&next, &v, sizeof next);
    } while (!atomic_compare_exchange_weak(slot, &old, next));
}

double sy_live_get(_Atomic uint64_t *slot)
{
    uint64_t bits = atomic_load(slot);
    double v;
    memcpy(&v, &bits, sizeof v);
    return bits ? v : 0;
}

/* ============================================================ circuit breaker */

const char *sy_breaker_state_name(int state)
{
    return state == SY_BREAKER_OPEN ? "open" : state == SY_BREAKER_HALF_OPEN ? "half_open" : "closed";
}

int sy_breaker_admit(sy_live *lv, const sy_breaker_cfg *cfg, int64_t now_ms, int *probe)
{
    *probe = 0;
    if (!lv || !cfg->enabled) return 1;
    int st = atomic_load(&lv->br_state);
    if (st == SY_BREAKER_CLOSED) return 1;
    if (st == SY_BREAKER_OPEN) {
        if (now_ms < atomic_load(&lv->br_until_ms)) return 0;
        /* the cooldown is over: half-open, and this attempt is the probe */
        atomic_compare_exchange_strong(&lv->br_state, &st, SY_BREAKER_HALF_OPEN);
    }
    int free_slot = 0;
    if (atomic_compare_exchange_strong(&lv->br_probe, &free_slot, 1)) {
        *probe = 1;
        return 1;
    }
    return 0; /* a probe is in flight: the others still skip the model */
}

static void breaker_reset_window(sy_live *lv, int64_t now_ms)
{
    atomic_store(&lv->br_window_ms, now_ms);
    atomic_store(&lv->br_total, 0);
    atomic_store(&lv->br_failed, 0);
}

void sy_breaker_record(sy_live *lv, const sy_breaker_cfg *cfg, int64_t now_ms, int failed,
                       int cancelled, int probe)
{
    if (!lv || !cfg->enabled) return;
    if (probe) {
        if (!cancelled) {
            if (failed) {
                atomic_store(&lv->br_until_ms, now_ms + cfg->cooldown_ms);
                atomic_store(&lv->br_state, SY_BREAKER_OPEN);
                atomic_fetch_add(&lv->br_opened, 1);
            } else {
                breaker_reset_window(lv, now_ms);
                atomic_store(&lv->br_state, SY_BREAKER_CLOSED);
            }
        }
        atomic_store(&lv->br_probe, 0);
        return;
    }
    if (cancelled || atomic_load(&lv->br_state) != SY_BREAKER_CLOSED) return;
    /* a fixed window: counts are approximate under races, which a breaker can afford */
    int64_t start = atomic_load(&lv->br_window_ms);
    if (now_ms - start >= cfg->window_ms &&
        atomic_compare_exchange_strong(&lv->br_window_ms, &start, now_ms)) {
        atomic_store(&lv->br_total, 0);
        atomic_store(&lv->br_failed, 0);
    }
    unsigned total = atomic_fetch_add(&lv->br_total, 1) + 1;
    unsigned bad = failed ? atomic_fetch_add(&lv->br_failed, 1) + 1 : atomic_load(&lv->br_failed);
    if (total >= (unsigned)cfg->min_requests && bad >= cfg->error_rate * total) {
        int closed = SY_BREAKER_CLOSED;
        atomic_store(&lv->br_until_ms, now_ms + cfg->cooldown_ms);
        if (atomic_compare_exchange_strong(&lv->br_state, &closed, SY_BREAKER_OPEN)) {
            atomic_fetch_add(&lv->br_opened, 1);
            breaker_reset_window(lv, now_ms);
        }
    }
}
