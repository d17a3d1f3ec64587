/* sy_policy.c — LuaJIT VM per worker: sandbox, policy loading, budgeted protected calls and
 * decision validation (see sy_policy.h). The `switchyard` module and the lazy request view
 * live in sy_policy_api.c.
 *
 * Budget: Debian's LuaJIT is built without LUAJIT_ENABLE_CHECKHOOK, so count hooks never
 * fire inside JIT-compiled traces. The VM therefore runs with the JIT engine off: every
 * policy runs in LuaJIT's (fast) interpreter, where the count hook always fires and a
 * `while true do end` is interrupted when its budget is spent. */
#include "policy/sy_policy_int.h"
#include "schema/sy_schema.h"
#include "policy/sy_lua_modules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <luajit.h>
#include <lualib.h>

#define HOOK_EVERY 1000 /* VM instructions between budget checks */
#define DEFAULT_MEM_LIMIT (64u * 1024 * 1024)

/* ============================================================ protected calls */

static int msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) msg = "(error object is not a string)";
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    sy_policy_vm *vm = sy_vm_of(L);
    if (!vm || !vm->deadline_ns) return;
    if (sy_now_ns() > vm->deadline_ns) {
        vm->overran = 1;
        luaL_error(L, "policy exceeded its time budget of %d us", vm->budget_us);
    }
    if ((size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 > vm->mem_limit) {
        vm->overran = 1;
        luaL_error(L, "policy exceeded the VM memory limit of %zu bytes", vm->mem_limit);
    }
}

/* The one way into Lua: fn and nargs are on the stack; on success nresults are left,
 * on failure the message (with traceback) is copied to err and the stack is restored. */
int sy_vm_pcall(sy_policy_vm *vm, int nargs, int nresults, int budget_us, char *err,
                size_t errlen)
{
    lua_State *L = vm->L;
    int base = lua_gettop(L) - nargs; /* fn's index */
    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    vm->budget_us = budget_us;
    vm->overran = 0;
    vm->deadline_ns = budget_us > 0 ? sy_now_ns() + (uint64_t)budget_us * 1000u : 0;
    if (budget_us > 0) lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
    int rc = lua_pcall(L, nargs, nresults, base);
    if (budget_us > 0) lua_sethook(L, NULL, 0, 0);
    vm->deadline_ns = 0;
    if (rc != 0) {
        const char *msg = lua_tostring(L, -1);
        snprintf(err, errlen, "%s", msg ? msg : "error");
        lua_settop(L, base - 1);
        if (vm->overran) lua_gc(L, LUA_GCCOLLECT, 0); /* give back what the runaway took */
        return SY_EPOLICY;
    }
    lua_remove(L, base);
    return SY_OK;
}

/* First line of a Lua error (drops the traceback) into dst. */
static void first_line(char *dst, size_t n, const char *src)
{
    size_t len = strcspn(src, "\n");
    if (len >= n) len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* ============================================================ sandbox */

/* Builds the environment a policy runs in: an allow list of safe functions, fresh copies of
 * the libraries (a policy cannot change what another sees), `require` limited to
 * switchyard's own modules, and a metatable that makes unknown globals an error. */
static int l_strict_index(lua_State *L)
{
    return luaL_error(L, "undefined global '%s'", lua_tostring(L, 2));
}

static int l_strict_newindex(lua_State *L)
{
    return luaL_error(L, "policies may not set globals (tried to set '%s'); use local",
                      lua_tostring(L, 2));
}

static void copy_lib(lua_State *L, const char *lib, const char *const *names)
{
    lua_getglobal(L, lib); /* env lib */
    lua_newtable(L);       /* env lib copy */
    for (int i = 0; names[i]; i++) {
        lua_getfield(L, -2, names[i]);
        lua_setfield(L, -2, names[i]);
    }
    lua_setfield(L, -3, lib);
    lua_pop(L, 1);
}

static void push_sandbox_env(lua_State *L);
static const char MODULE_CACHE_KEY = 0; /* address: private key in a policy's environment */

/* require: "switchyard" (C) and the trusted modules embedded from lua/switchyard/, each run
 * once per VM in a sandbox of its own; nothing else. */
static int l_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "sy.modules"); /* mods */
    lua_getfield(L, -1, name);                        /* mods mod */
    if (!lua_isnil(L, -1)) return 1;                  /* the (read-only) C module */
    lua_pop(L, 2);
    const sy_lua_module *m = sy_lua_modules;
    while (m->name && strcmp(m->name, name) != 0) m++;
    if (!m->name)
        return luaL_error(L,
                          "module '%s' is not available to policies (allowed: switchyard and "
                          "switchyard.<module> from lua/switchyard/)",
                          name);
    /* Lua modules: one instance per requiring chunk (cached in its environment), so a
     * policy that changes its copy of a table changes nothing for another policy. A tail
     * call (`return require "x"`) hides the caller: that instance is simply not cached. */
    lua_Debug ar;
    int cached = 0;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "f", &ar) && lua_isfunction(L, -1)) {
        lua_getfenv(L, -1); /* fn env */
        lua_remove(L, -2);  /* env */
        if (lua_istable(L, -1)) {
            lua_pushlightuserdata(L, (void *)&MODULE_CACHE_KEY);
            lua_rawget(L, -2); /* env cache */
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_newtable(L);
                lua_pushlightuserdata(L, (void *)&MODULE_CACHE_KEY);
                lua_pushvalue(L, -2);
                lua_rawset(L, -4); /* env cache */
            }
            lua_getfield(L, -1, name); /* env cache mod */
            if (!lua_isnil(L, -1)) return 1;
            lua_pop(L, 1);
            cached = 1;
        }
    }
    if (!cached) lua_newtable(L); /* a throw-away cache */
    char chunk[160];
    snprintf(chunk, sizeof chunk, "@lua/switchyard/%s.lua", m->name + strlen("switchyard."));
    if (luaL_loadbuffer(L, m->src, m->len, chunk) != 0) return lua_error(L); /* mods fn */
    push_sandbox_env(L);
    lua_setfenv(L, -2);
    lua_call(L, 0, 1); /* mods result; inside the caller's protected call and budget */
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    return 1;
}

static void push_sandbox_env(lua_State *L)
{
    static const char *const base[] = {"assert", "error", "ipairs", "next", "pairs", "pcall",
                                       "rawequal", "rawget", "rawset", "select", "setmetatable",
                                       "tonumber", "tostring", "type", "unpack", "xpcall", NULL};
    static const char *const str[] = {"byte", "char", "find", "format", "gmatch", "gsub",
                                      "len", "lower", "match", "rep", "reverse", "sub",
                                      "upper", NULL};
    static const char *const tbl[] = {"concat", "insert", "maxn", "remove", "sort", NULL};
    static const char *const math[] = {"abs", "ceil", "cos", "exp", "floor", "fmod", "huge",
                                       "log", "log10", "max", "min", "modf", "pi", "pow",
                                       "random", "sin", "sqrt", "tan", NULL};
    static const char *const os[] = {"time", "clock", "date", NULL};

    lua_createtable(L, 0, 32); /* env */
    for (int i = 0; base[i]; i++) {
        lua_getglobal(L, base[i]);
        lua_setfield(L, -2, base[i]);
    }
    copy_lib(L, "string", str);
    copy_lib(L, "table", tbl);
    copy_lib(L, "math", math);
    copy_lib(L, "os", os);
    lua_pushcfunction(L, l_require);
    lua_setfield(L, -2, "require");
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "_G");
    lua_createtable(L, 0, 2); /* env mt */
    lua_pushcfunction(L, l_strict_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_strict_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2); /* env */
}

/* ============================================================ loading */

/* The route's `options` override the policy's `options` table key by key, in place: every
 * route loads its own instance of the policy, so this changes only this route. Each key
 * must exist in the policy's table and keep its type. Stack: policy on top, unchanged. */
static int apply_options(sy_policy_vm *vm, const sy_route *r, sy_buf *diag)
{
    lua_State *L = vm->L;
    int top = lua_gettop(L), rc = SY_OK;
    lua_getfield(L, top, "options"); /* policy opts */
    if (!lua_istable(L, -1)) {
        sy_buf_printf(diag, "%s:%d: route[%s].options: the policy declares no options table\n",
                      r->file, r->line, r->name);
        lua_settop(L, top);
        return SY_ECONFIG;
    }
    int opts = lua_gettop(L);
    sy_policy_api_push_json(L, r->options_json, strlen(r->options_json)); /* policy opts over */
    int over = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, over)) { /* ... key value */
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        lua_getfield(L, opts, key); /* ... key value default */
        if (lua_isnil(L, -1)) {
            sy_buf_printf(diag, "%s:%d: route[%s].options.%s: unknown option (the policy has:",
                          r->file, r->line, r->name, key);
            lua_pushnil(L);
            while (lua_next(L, opts)) {
                lua_pop(L, 1);
                if (lua_type(L, -1) == LUA_TSTRING) sy_buf_printf(diag, " %s", lua_tostring(L, -1));
            }
            sy_buf_puts(diag, ")\n");
            rc = SY_ECONFIG;
        } else if (lua_type(L, -1) != lua_type(L, -2)) {
            sy_buf_printf(diag, "%s:%d: route[%s].options.%s: must be a %s like the policy's default (got %s)\n",
                          r->file, r->line, r->name, key, luaL_typename(L, -1),
                          luaL_typename(L, -2));
            rc = SY_ECONFIG;
        } else {
            lua_pushvalue(L, -3);
            lua_pushvalue(L, -3);
            lua_rawset(L, opts);
        }
        lua_pop(L, 2); /* ... key */
    }
    lua_settop(L, top);
    return rc;
}

/* Loads route idx's policy (shadow = 0) or its shadow policy (shadow = 1) into its slot. */
static int load_policy(sy_policy_vm *vm, int idx, int shadow, sy_buf *diag)
{
    lua_State *L = vm->L;
    const sy_route *r = &vm->cfg->routes[idx];
    sy_policy_slot *slot = &vm->slots[idx + (shadow ? vm->cfg->nroutes : 0)];
    const char *path = shadow ? r->shadow_path : r->policy_path;
    const char *src = shadow ? r->shadow_src : r->policy_src;
    size_t len = shadow ? r->shadow_len : r->policy_len;
    const char *hash = shadow ? r->shadow_hash : r->policy_hash;
    char chunk[1024], err[2048];
    char key[256];
    snprintf(key, sizeof key, shadow ? "route[%s].shadow" : "route[%s].policy", r->name);
    snprintf(chunk, sizeof chunk, "@%s", path);

    /* Text only: a policy can never be precompiled bytecode. */
    if (len > 0 && src[0] == LUA_SIGNATURE[0]) {
        sy_buf_printf(diag, "%s:1: %s: bytecode policies are not allowed\n", path,
                      key);
        return SY_ECONFIG;
    }
    if (luaL_loadbuffer(L, src, len, chunk) != 0) {
        const char *msg = lua_tostring(L, -1);
        const char *p = msg ? strstr(msg, ": ") : NULL;
        if (p)
            sy_buf_printf(diag, "%.*s: %s: %s\n", (int)(p - msg), msg, key, p + 2);
        else
            sy_buf_printf(diag, "%s:0: %s: %s\n", path, key, msg ? msg : "error");
        lua_pop(L, 1);
        return SY_ECONFIG;
    }
    push_sandbox_env(L); /* fn env */
    lua_setfenv(L, -2);  /* fn */
    if (sy_vm_pcall(vm, 0, 1, 100000, err, sizeof err) != SY_OK) {
        char line[1024];
        first_line(line, sizeof line, err);
        const char *p = strstr(line, ": ");
        if (p && strncmp(line, path, strlen(path)) == 0)
            sy_buf_printf(diag, "%.*s: %s: %s\n", (int)(p - line), line, key, p + 2);
        else
            sy_buf_printf(diag, "%s:1: %s: %s\n", path, key, line);
        return SY_ECONFIG;
    }
    /* policy */
    if (!lua_istable(L, -1)) {
        sy_buf_printf(diag, "%s:1: %s: the policy must return a table with a route function\n",
                      path, key);
        lua_pop(L, 1);
        return SY_ECONFIG;
    }
    lua_getfield(L, -1, "route");
    int ok = lua_isfunction(L, -1);
    if (ok) {
        lua_Debug ar;
        lua_getinfo(L, ">S", &ar); /* pops route */
        snprintf(slot->where, sizeof slot->where, "%s:%d", ar.short_src, ar.linedefined);
    } else {
        lua_pop(L, 1);
    }
    if (!ok) {
        sy_buf_printf(diag, "%s:1: %s: the policy's table has no route function\n",
                      path, key);
        lua_pop(L, 1);
        return SY_ECONFIG;
    }
    lua_getfield(L, -1, "cache_key"); /* policy cache_key */
    int bad_key = !lua_isnil(L, -1) && !lua_isfunction(L, -1);
    lua_pop(L, 1);
    if (bad_key) {
        sy_buf_printf(diag, "%s:1: %s: the policy's cache_key must be a function (req, ctx, conf)\n",
                      path, key);
        lua_pop(L, 1);
        return SY_ECONFIG;
    }
    if (!shadow && r->options_json && apply_options(vm, r, diag) != SY_OK) {
        lua_pop(L, 1);
        return SY_ECONFIG;
    }
    lua_getfield(L, -1, "name");
    const char *name = lua_tostring(L, -1);
    if (!name) {
        const char *slash = strrchr(path, '/');
        name = slash ? slash + 1 : path;
    }
    snprintf(slot->id, sizeof slot->id, "%.*s@%s", 96, name, hash);
    lua_pop(L, 1);
    slot->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return SY_OK;
}

int sy_policy_vm_new(sy_policy_vm **out, sy_config *cfg, sy_buf *diag)
{
    sy_policy_vm *vm = calloc(1, sizeof *vm);
    *out = NULL;
    if (!vm) return SY_ENOMEM;
    vm->cfg = sy_config_ref(cfg);
    vm->mem_limit = DEFAULT_MEM_LIMIT;
    /* routes' policies, then their shadow policies */
    vm->slots = calloc(2 * (size_t)cfg->nroutes + 1, sizeof *vm->slots);
    vm->L = luaL_newstate();
    if (!vm->slots || !vm->L) goto oom;
    luaL_openlibs(vm->L);
    /* JIT off for the whole VM: see the file comment (budgets must interrupt any loop). */
    luaJIT_setmode(vm->L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    lua_pushlightuserdata(vm->L, vm);
    lua_setfield(vm->L, LUA_REGISTRYINDEX, "sy.vm");
    lua_newtable(vm->L);
    sy_policy_api_open(vm); /* mods switchyard */
    lua_setfield(vm->L, -2, "switchyard");
    lua_setfield(vm->L, LUA_REGISTRYINDEX, "sy.modules");
    sy_policy_api_init_view(vm);

    int rc = SY_OK;
    for (int i = 0; i < cfg->nroutes; i++) {
        vm->slots[i].ref = vm->slots[cfg->nroutes + i].ref = LUA_NOREF;
        /* a missing source was reported by the config loader */
        if (cfg->routes[i].policy_src && load_policy(vm, i, 0, diag) != SY_OK) rc = SY_ECONFIG;
        if (cfg->routes[i].shadow_src && load_policy(vm, i, 1, diag) != SY_OK) rc = SY_ECONFIG;
    }
    if (rc != SY_OK) {
        sy_policy_vm_free(vm);
        return rc;
    }
    *out = vm;
    return SY_OK;
oom:
    sy_policy_vm_free(vm);
    return SY_ENOMEM;
}

void sy_policy_vm_free(sy_policy_vm *vm)
{
    if (!vm) return;
    if (vm->L) lua_close(vm->L);
    for (int i = 0; i < 16; i++) {
        free(vm->schemas[i].text);
        sy_schema_free(vm->schemas[i].schema);
    }
    free(vm->slots);
    sy_config_unref(vm->cfg);
    free(vm);
}

const sy_config *sy_policy_vm_config(const sy_policy_vm *vm)
{
    return vm->cfg;
}

const char *sy_policy_id(const sy_policy_vm *vm, const sy_route *r)
{
    int idx = (int)(r - vm->cfg->routes);
    if (idx < 0 || idx >= vm->cfg->nroutes) return "?";
    return vm->slots[idx].id;
}

/* ============================================================ routing */

static void use_default(sy_policy_vm *vm, const sy_route *r, sy_decision *out, const char *why)
{
    out->kind = SY_DEC_PICK;
    out->n = 1;
    out->models[0] = r->default_model;
    out->require_caps = 0;
    out->max_cost = 0;
    out->deadline_ms = 0;
    out->has_priority = 0;
    out->policy_failed = 1;
    first_line(out->error, sizeof out->error, why);
    snprintf(out->reason, sizeof out->reason, "policy failed; route default");
    sy_log(SY_LOG_WARN, "policy", "route %s policy %s failed, using default model %s: %s",
           r->name, sy_policy_id(vm, r), r->default_model ? r->default_model->id : "?",
           out->error);
}

static int route_slot(sy_policy_vm *vm, const sy_route *r, int shadow, const sy_request_view *req,
                      sy_decision *out)
{
    lua_State *L = vm->L;
    int idx = (int)(r - vm->cfg->routes);
    char err[2048];
    uint64_t t0 = sy_now_ns();
    memset(out, 0, sizeof *out);
    out->retries = -1; /* the route's, unless the decision says */

    int s = idx + (shadow ? vm->cfg->nroutes : 0);
    if (idx < 0 || idx >= vm->cfg->nroutes || vm->slots[s].ref == LUA_NOREF) {
        if (shadow) return SY_ENOTFOUND;
        use_default(vm, r, out, "route has no loaded policy");
        return SY_EPOLICY;
    }
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->slots[s].ref); /* policy */
    lua_getfield(L, -1, "route");                        /* policy route */
    sy_policy_api_push_request(vm, req);                 /* policy route req */
    vm->cur_where = vm->slots[s].where;
    lua_newtable(L);                                     /* policy route req ctx */
    lua_getfield(L, -4, "options");                      /* policy route req ctx conf */
    int rc = sy_vm_pcall(vm, 3, 1, r->budget_us, err, sizeof err);
    if (rc == SY_OK) {
        /* policy result */
        rc = sy_policy_api_read_decision(vm, -1, out, err, sizeof err);
    }
    sy_policy_api_close_request(vm);
    lua_settop(L, top);
    out->eval_us = (double)(sy_now_ns() - t0) / 1000.0;
    if (rc != SY_OK) {
        if (shadow) { /* a shadow's failure is logged with its decision, never acted on */
            out->policy_failed = 1;
            first_line(out->error, sizeof out->error, err);
            return SY_EPOLICY;
        }
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", err);
        use_default(vm, r, out, msg);
        out->eval_us = (double)(sy_now_ns() - t0) / 1000.0;
        return SY_EPOLICY;
    }
    return SY_OK;
}

int sy_policy_route(sy_policy_vm *vm, const sy_route *r, const sy_request_view *req,
                    sy_decision *out)
{
    return route_slot(vm, r, 0, req, out);
}

int sy_policy_shadow(sy_policy_vm *vm, const sy_route *r, const sy_request_view *req,
                     sy_decision *out)
{
    return route_slot(vm, r, 1, req, out);
}

const char *sy_policy_shadow_id(const sy_policy_vm *vm, const sy_route *r)
{
    int idx = (int)(r - vm->cfg->routes);
    if (idx < 0 || idx >= vm->cfg->nroutes || vm->slots[vm->cfg->nroutes + idx].ref == LUA_NOREF)
        return NULL;
    return vm->slots[vm->cfg->nroutes + idx].id;
}

int sy_policy_cache_key(sy_policy_vm *vm, const sy_route *r, const sy_request_view *req,
                        char *out, size_t outlen)
{
    lua_State *L = vm->L;
    int idx = (int)(r - vm->cfg->routes);
    if (idx < 0 || idx >= vm->cfg->nroutes || vm->slots[idx].ref == LUA_NOREF) return 0;
    int top = lua_gettop(L), rc = 0;
    char err[1024];
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->slots[idx].ref); /* policy */
    lua_getfield(L, -1, "cache_key");                      /* policy fn */
    if (!lua_isfunction(L, -1)) {
        lua_settop(L, top);
        return 0;
    }
    sy_policy_api_push_request(vm, req);                   /* policy fn req */
    vm->cur_where = vm->slots[idx].where;
    lua_createtable(L, 0, 1);                              /* policy fn req ctx */
    lua_pushstring(L, r->name);
    lua_setfield(L, -2, "route");
    lua_getfield(L, -4, "options");                        /* policy fn req ctx conf */
    if (sy_vm_pcall(vm, 3, 1, r->budget_us, err, sizeof err) != SY_OK) {
        rc = -1;
    } else if (lua_isnil(L, -1) || (lua_isboolean(L, -1) && !lua_toboolean(L, -1))) {
        rc = 0;
    } else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
        size_t n;
        const char *k = lua_tolstring(L, -1, &n);
        if (n < outlen && n <= 512) {
            memcpy(out, k, n + 1);
            rc = 1;
        } else {
            snprintf(err, sizeof err, "cache_key() returned %zu bytes (at most 512)", n);
            rc = -1;
        }
    } else {
        snprintf(err, sizeof err, "cache_key() must return a string, a number or nil (got %s)",
                 luaL_typename(L, -1));
        rc = -1;
    }
    sy_policy_api_close_request(vm);
    lua_settop(L, top);
    if (rc < 0)
        sy_log(SY_LOG_WARN, "policy", "route %s: cache_key() failed, the policy decides: %s",
               r->name, err);
    return rc;
}

int sy_policy_accept(sy_policy_vm *vm, const sy_route *r, const char *model, const char *content,
                     const char *finish_reason, double confidence, char *why, size_t whylen)
{
    lua_State *L = vm->L;
    int idx = (int)(r - vm->cfg->routes);
    if (idx < 0 || idx >= vm->cfg->nroutes || vm->slots[idx].ref == LUA_NOREF) return 1;
    int top = lua_gettop(L), verdict = 1;
    char err[1024];
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->slots[idx].ref);
    lua_getfield(L, -1, "accept");
    if (!lua_isfunction(L, -1)) {
        lua_settop(L, top);
        return 1;
    }
    lua_createtable(L, 0, 4);
    lua_pushstring(L, model);
    lua_setfield(L, -2, "model");
    lua_pushstring(L, content ? content : "");
    lua_setfield(L, -2, "content");
    if (finish_reason) {
        lua_pushstring(L, finish_reason);
        lua_setfield(L, -2, "finish_reason");
    }
    if (confidence == confidence) { /* not NaN */
        lua_pushnumber(L, confidence);
        lua_setfield(L, -2, "confidence");
    }
    lua_createtable(L, 0, 1);
    lua_pushstring(L, r->name);
    lua_setfield(L, -2, "route");
    vm->cur_where = vm->slots[idx].where;
    if (sy_vm_pcall(vm, 2, 2, r->budget_us, err, sizeof err) != SY_OK) {
        sy_log(SY_LOG_WARN, "policy", "route %s: accept() failed, the answer is accepted: %s",
               r->name, err);
    } else if (!lua_toboolean(L, -2)) {
        verdict = 0;
        snprintf(why, whylen, "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                                   : "rejected by accept()");
    }
    lua_settop(L, top);
    return verdict;
}

/* ============================================================ self-tests */

static int selftest_one(sy_policy_vm *vm, const sy_route *r, int slot_ref, int i, sy_buf *diag)
{
    lua_State *L = vm->L;
    const sy_policy_slot *slot = &vm->slots[r - vm->cfg->routes];
    int top = lua_gettop(L), rc = SY_ECONFIG;
    sy_buf json;
    sy_buf_init(&json);
    (void)slot_ref;
    /* t */
    lua_getfield(L, -1, "request");
    if (lua_type(L, -1) == LUA_TSTRING)
        sy_buf_puts(&json, lua_tostring(L, -1));
    else if (!lua_istable(L, -1) || sy_lua_to_json(L, -1, &json, 0) != 0) {
        sy_buf_printf(diag, "%s: route[%s].policy: self-test %d: request must be a table or JSON text\n",
                      slot->where, r->name, i);
        goto done;
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "expect");
    const char *expect = lua_tostring(L, -1);
    if (!expect) {
        sy_buf_printf(diag, "%s: route[%s].policy: self-test %d: expect must be a model id\n",
                      slot->where, r->name, i);
        goto done;
    }
    sy_chat chat;
    sy_chat_error err;
    if (sy_chat_parse(&chat, json.data, json.len, &err) != 0) {
        sy_buf_printf(diag, "%s: route[%s].policy: self-test %d: bad request: %s\n", slot->where,
                      r->name, i, err.message);
        sy_chat_free(&chat);
        goto done;
    }
    sy_request_view view = {.chat = &chat, .model = chat.model_name};
    sy_decision d;
    int prc = sy_policy_route(vm, r, &view, &d);
    sy_chat_free(&chat);
    if (prc != SY_OK) {
        sy_buf_printf(diag, "%s: route[%s].policy: self-test %d: the policy failed: %s\n",
                      slot->where, r->name, i, d.error);
        goto done;
    }
    if (strcmp(d.models[0]->id, expect) != 0) {
        sy_buf_printf(diag, "%s: route[%s].policy: self-test %d: expected '%s', got '%s' (%s)\n",
                      slot->where, r->name, i, expect, d.models[0]->id, d.reason);
        goto done;
    }
    rc = SY_OK;
done:
    lua_settop(L, top);
    sy_buf_free(&json);
    return rc;
}

int sy_policy_vm_selftest(sy_policy_vm *vm, sy_buf *diag)
{
    lua_State *L = vm->L;
    int rc = SY_OK;
    for (int i = 0; i < vm->cfg->nroutes; i++) {
        if (vm->slots[i].ref == LUA_NOREF) continue;
        int top = lua_gettop(L);
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->slots[i].ref); /* policy */
        lua_getfield(L, -1, "tests");                        /* policy tests */
        if (lua_istable(L, -1)) {
            int n = (int)lua_objlen(L, -1);
            for (int k = 1; k <= n; k++) {
                lua_rawgeti(L, -1, k); /* policy tests t */
                if (!lua_istable(L, -1)) {
                    sy_buf_printf(diag, "%s: route[%s].policy: self-test %d: must be a table\n",
                                  vm->slots[i].where, vm->cfg->routes[i].name, k);
                    rc = SY_ECONFIG;
                } else if (selftest_one(vm, &vm->cfg->routes[i], vm->slots[i].ref, k, diag) != SY_OK) {
                    rc = SY_ECONFIG;
                }
                lua_pop(L, 1);
            }
        } else if (!lua_isnil(L, -1)) {
            sy_buf_printf(diag, "%s: route[%s].policy: tests must be a list of tables\n",
                          vm->slots[i].where, vm->cfg->routes[i].name);
            rc = SY_ECONFIG;
        }
        lua_settop(L, top);
    }
    return rc;
}
