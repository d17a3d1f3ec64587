/* sy_policy_api.c — what a policy sees: the `switchyard` Lua module (decision builders,
 * registry lookups, log, now) and the lazy read-only request view `req`. Works with
 * sy_policy.c, which owns the VM and calls into here. */
#include "policy/sy_policy_int.h"
#include "switchyard.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <lauxlib.h>

#include "schema/sy_schema.h"
#include "tokens/sy_tokens.h"

#define JSON_MAX_DEPTH 64

sy_policy_vm *sy_vm_of(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "sy.vm");
    sy_policy_vm *vm = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return vm;
}

int sy_policy_api_error(lua_State *L, const char *fmt, ...)
{
    lua_Debug ar;
    va_list ap;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
        lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
    } else {
        sy_policy_vm *vm = sy_vm_of(L);
        lua_pushfstring(L, "%s: (in a tail call from route()) ",
                        vm && vm->cur_where ? vm->cur_where : "?");
    }
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

/* ============================================================ JSON text → Lua */

/* Pushes the JSON value at [off, off+len) of validated text; null becomes nil. */
static void push_json(lua_State *L, const char *text, const sy_json_member *v, int depth)
{
    sy_json_iter it;
    sy_json_member m;
    sy_buf b;
    if (depth > JSON_MAX_DEPTH) {
        lua_pushnil(L);
        return;
    }
    switch (v->type) {
    case 's':
        sy_buf_init(&b);
        sy_json_string(text, v->val_off, v->val_len, &b);
        lua_pushlstring(L, b.data ? b.data : "", b.len);
        sy_buf_free(&b);
        break;
    case 'n': lua_pushnumber(L, sy_json_number(text, v->val_off, v->val_len)); break;
    case 't': lua_pushboolean(L, 1); break;
    case 'f': lua_pushboolean(L, 0); break;
    case 'a': {
        int i = 1;
        lua_createtable(L, 4, 0);
        sy_json_iter_init(&it, text, v->val_off, v->val_len);
        while (sy_json_iter_next(&it, &m)) {
            push_json(L, text, &m, depth + 1);
            lua_rawseti(L, -2, i++);
        }
        break;
    }
    case 'o':
        lua_createtable(L, 0, 4);
        sy_json_iter_init(&it, text, v->val_off, v->val_len);
        while (sy_json_iter_next(&it, &m)) {
            if (m.type == 'z') continue;
            lua_pushlstring(L, text + m.key_off, m.key_len); /* keys are plain in practice */
            push_json(L, text, &m, depth + 1);
            lua_rawset(L, -3);
        }
        break;
    default: lua_pushnil(L);
    }
}

void sy_policy_api_push_json(lua_State *L, const char *text, size_t len)
{
    sy_json_top top;
    if (sy_json_scan(text, len, NULL, 0, &top, NULL) != 0) {
        lua_pushnil(L);
        return;
    }
    sy_json_member v = {0, 0, top.start, top.end - top.start, top.type};
    push_json(L, text, &v, 0);
}

/* sy.json.encode(value) → text */
static int l_json_encode(lua_State *L)
{
    sy_buf b;
    sy_buf_init(&b);
    luaL_checkany(L, 1);
    if (sy_lua_to_json(L, 1, &b, 0) != 0) {
        sy_buf_free(&b);
        return sy_policy_api_error(L, "sy.json.encode: value cannot be encoded as JSON");
    }
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    sy_buf_free(&b);
    return 1;
}

/* sy.json.decode(text) → value, or nil and an error */
static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    sy_json_top top;
    size_t at = 0;
    if (sy_json_scan(text, len, NULL, 0, &top, &at) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "invalid JSON near byte %d", (int)at);
        return 2;
    }
    sy_json_member v = {0, 0, top.start, top.end - top.start, top.type};
    push_json(L, text, &v, 0);
    return 1;
}

/* ============================================================ the request view */

static const char REQ_GEN_KEY = 0; /* address used as a private key in the view table */

static int l_req_newindex(lua_State *L)
{
    return luaL_error(L, "req is read-only (tried to set '%s')", lua_tostring(L, 2));
}

/* req.text: the text of the last user message. */
static void last_user_text(const sy_chat *c, sy_buf *b)
{
    sy_json_iter it;
    sy_json_member m, last = {0};
    sy_json_iter_init(&it, c->text, c->messages.val_off, c->messages.val_len);
    while (sy_json_iter_next(&it, &m))
        if (sy_chat_role_is(c, &m, "user")) last = m;
    if (last.type) sy_chat_content(c, &last, b);
}

static int l_req_index(lua_State *L)
{
    sy_policy_vm *vm = sy_vm_of(L);
    lua_pushlightuserdata(L, (void *)&REQ_GEN_KEY);
    lua_rawget(L, 1);
    unsigned gen = (unsigned)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (!vm->cur || gen != vm->req_gen)
        return luaL_error(L, "req used after route() returned (do not keep it between calls)");
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    const char *k = lua_tostring(L, 2);
    const sy_request_view *req = vm->cur;
    const sy_chat *c = req->chat;
    sy_json_iter it;
    sy_json_member m;
    sy_buf b;

    if (strcmp(k, "model") == 0) {
        lua_pushstring(L, req->model);
    } else if (strcmp(k, "meta") == 0) {
        lua_createtable(L, 0, 4);
        if (c->metadata.type == 'o') {
            sy_json_iter_init(&it, c->text, c->metadata.val_off, c->metadata.val_len);
            while (sy_json_iter_next(&it, &m)) {
                if (m.type == 'z' || m.type == 'o' || m.type == 'a') continue;
                lua_pushlstring(L, c->text + m.key_off, m.key_len);
                push_json(L, c->text, &m, 0);
                lua_rawset(L, -3);
            }
        }
        for (int i = 0; i < req->nmeta; i++) { /* headers win over body metadata */
            lua_pushstring(L, req->meta_headers[2 * i + 1]);
            lua_setfield(L, -2, req->meta_headers[2 * i]);
        }
    } else if (strcmp(k, "messages") == 0) {
        push_json(L, c->text, &c->messages, 0);
    } else if (strcmp(k, "text") == 0 || strcmp(k, "system") == 0) {
        sy_buf_init(&b);
        sy_json_iter_init(&it, c->text, c->messages.val_off, c->messages.val_len);
        if (k[0] == 't') {
            last_user_text(c, &b);
        } else {
            while (sy_json_iter_next(&it, &m)) {
                if (!sy_chat_role_is(c, &m, "system") && !sy_chat_role_is(c, &m, "developer"))
                    continue;
                if (b.len) sy_buf_puts(&b, "\n");
                sy_chat_content(c, &m, &b);
            }
        }
        lua_pushlstring(L, b.data ? b.data : "", b.len);
        sy_buf_free(&b);
    } else if (strcmp(k, "tokens") == 0 || strcmp(k, "tokenizer") == 0) {
        /* counted with the tokenizer of the route's default model (of the model itself when
         * a model is asked for by name); sy.tokens(model, req) counts for any other */
        const sy_route *r = sy_config_route(vm->cfg, req->model);
        const sy_model *dm = r ? r->default_model : sy_config_model(vm->cfg, req->model);
        int kind = dm ? dm->tok_kind : SY_TOK_O200K;
        if (k[5] == 's')
            lua_pushinteger(L, sy_tokens_request(c, kind));
        else
            lua_pushstring(L, sy_tok_kind_name(kind));
    } else if (strcmp(k, "max_tokens") == 0) {
        long mt = sy_chat_max_tokens(c);
        if (mt >= 0)
            lua_pushnumber(L, (lua_Number)mt);
        else
            lua_pushnil(L);
    } else if (strcmp(k, "stream") == 0) {
        lua_pushboolean(L, c->streaming);
    } else if (strcmp(k, "priority") == 0) {
        if (!req->priority) return 0;
        lua_pushinteger(L, *req->priority);
    } else if (strcmp(k, "response_format") == 0) {
        push_json(L, c->text, &c->response_format, 0);
    } else if (strcmp(k, "tools") == 0) {
        push_json(L, c->text, &c->tools, 0);
    } else if (strcmp(k, "tool_choice") == 0) {
        push_json(L, c->text, &c->tool_choice, 0);
    } else if (strcmp(k, "user") == 0) {
        push_json(L, c->text, &c->user, 0);
    } else if (strcmp(k, "key") == 0) {
        /* the client's key (nil without keys): never the secret, only what the config says */
        if (!req->key) return 0;
        static const char *const lim[] = {"rpm", "tpm", "usd_day", "usd_month"};
        lua_createtable(L, 0, 6);
        lua_pushstring(L, req->key->id);
        lua_setfield(L, -2, "id");
        lua_pushstring(L, req->key->team);
        lua_setfield(L, -2, "team");
        lua_pushstring(L, req->key->tier);
        lua_setfield(L, -2, "tier");
        lua_pushinteger(L, req->key->priority);
        lua_setfield(L, -2, "priority");
        double left[4] = {-1, -1, -1, -1};
        if (req->remaining) req->remaining(req->remaining_ud, left);
        lua_createtable(L, 0, 4);
        for (int i = 0; i < 4; i++)
            if (left[i] >= 0) {
                lua_pushnumber(L, left[i]);
                lua_setfield(L, -2, lim[i]);
            }
        lua_setfield(L, -2, "remaining");
    } else {
        return 0; /* unknown fields read as nil; nothing is cached */
    }
    /* cache: the next read of this field costs a table lookup */
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

void sy_policy_api_init_view(sy_policy_vm *vm)
{
    lua_State *L = vm->L;
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, l_req_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_req_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setfield(L, LUA_REGISTRYINDEX, "sy.req_mt");
}

void sy_policy_api_push_request(sy_policy_vm *vm, const sy_request_view *req)
{
    lua_State *L = vm->L;
    vm->cur = req;
    vm->req_gen++;
    lua_createtable(L, 0, 8);
    lua_pushlightuserdata(L, (void *)&REQ_GEN_KEY);
    lua_pushinteger(L, (lua_Integer)vm->req_gen);
    lua_rawset(L, -3);
    lua_getfield(L, LUA_REGISTRYINDEX, "sy.req_mt");
    lua_setmetatable(L, -2);
}

void sy_policy_api_close_request(sy_policy_vm *vm)
{
    vm->cur = NULL;
}

/* ============================================================ decisions */

static const char *const KIND_NAMES[] = {NULL, "pick", "chain", "cascade", "hedge"};

static int kind_of(const char *s)
{
    for (int i = 1; i <= SY_DEC_HEDGE; i++)
        if (strcmp(s, KIND_NAMES[i]) == 0) return i;
    return 0;
}

/* Model id of the value at idx: a string or a model table from sy.model(). NULL if neither. */
static const char *model_name_at(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TSTRING) return lua_tostring(L, idx);
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_getfield(L, idx, "id");
        const char *s = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays reachable through the table */
        return s;
    }
    return NULL;
}

/* Builds {kind=, models={...}, reason=} from the list part of the table at idx (for chain,
 * cascade, hedge) and copies its named options. Raises a Lua error naming the caller's
 * file:line on a bad model. */
static int build_decision(lua_State *L, int kind)
{
    sy_policy_vm *vm = sy_vm_of(L);
    const char *fname = KIND_NAMES[kind];
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)lua_objlen(L, 1);
    if (n == 0) return sy_policy_api_error(L, "sy.%s: needs at least one model", fname);
    if (n > SY_MAX_CHAIN)
        return sy_policy_api_error(L, "sy.%s: at most %d models (got %d)", fname, SY_MAX_CHAIN, n);
    if (kind == SY_DEC_HEDGE && n < 2) return sy_policy_api_error(L, "sy.hedge: needs two models");
    lua_createtable(L, 0, 4); /* t d */
    lua_pushstring(L, fname);
    lua_setfield(L, -2, "kind");
    lua_createtable(L, n, 0); /* t d models */
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        const char *id = model_name_at(L, -1);
        if (!id)
            return sy_policy_api_error(L, "sy.%s: entry %d must be a model id (got %s)", fname, i,
                              luaL_typename(L, -1));
        if (!sy_config_model(vm->cfg, id))
            return sy_policy_api_error(L, "sy.%s: unknown model '%s'", fname, id);
        lua_pushstring(L, id);
        lua_rawseti(L, -3, i);
        lua_pop(L, 1);
    }
    lua_setfield(L, -2, "models"); /* t d */
    lua_pushnil(L);
    while (lua_next(L, 1)) { /* copy named options (reason, accept, after_ms, ...) */
        if (lua_type(L, -2) == LUA_TSTRING) {
            if (strcmp(lua_tostring(L, -2), "reason") == 0 && !lua_isstring(L, -1))
                return sy_policy_api_error(L, "sy.%s: reason must be a string", fname);
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);
        } else {
            lua_pop(L, 1);
        }
    }
    return 1;
}

static int l_chain(lua_State *L)
{
    return build_decision(L, SY_DEC_CHAIN);
}

static int l_cascade(lua_State *L)
{
    return build_decision(L, SY_DEC_CASCADE);
}

static int l_hedge(lua_State *L)
{
    return build_decision(L, SY_DEC_HEDGE);
}

/* sy.pick(model [, reason | {reason=...}]) */
static int l_pick(lua_State *L)
{
    sy_policy_vm *vm = sy_vm_of(L);
    const char *id = model_name_at(L, 1);
    if (!id) return sy_policy_api_error(L, "sy.pick: expected a model id (got %s)", luaL_typename(L, 1));
    if (!sy_config_model(vm->cfg, id)) return sy_policy_api_error(L, "sy.pick: unknown model '%s'", id);
    lua_createtable(L, 0, 3);
    lua_pushliteral(L, "pick");
    lua_setfield(L, -2, "kind");
    lua_createtable(L, 1, 0);
    lua_pushstring(L, id);
    lua_rawseti(L, -2, 1);
    lua_setfield(L, -2, "models");
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "reason");
    } else if (lua_type(L, 2) == LUA_TTABLE) {
        lua_getfield(L, 2, "reason");
        if (!lua_isnil(L, -1) && !lua_isstring(L, -1))
            return sy_policy_api_error(L, "sy.pick: reason must be a string");
        lua_setfield(L, -2, "reason");
        lua_getfield(L, 2, "priority"); /* checked with the decision */
        lua_setfield(L, -2, "priority");
        lua_getfield(L, 2, "cache"); /* cache = false: not for the decision cache */
        lua_setfield(L, -2, "cache");
    } else if (!lua_isnoneornil(L, 2)) {
        return sy_policy_api_error(L, "sy.pick: second argument must be a reason or an options table");
    }
    return 1;
}

static void push_model(lua_State *L, const sy_model *m)
{
    lua_createtable(L, 0, 12);
    lua_pushstring(L, m->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, m->provider ? m->provider->id : "");
    lua_setfield(L, -2, "provider");
    lua_pushstring(L, m->upstream);
    lua_setfield(L, -2, "upstream");
    lua_pushnumber(L, m->price_in);
    lua_setfield(L, -2, "price_in");
    lua_pushnumber(L, m->price_out);
    lua_setfield(L, -2, "price_out");
    lua_pushnumber(L, (lua_Number)m->context_window);
    lua_setfield(L, -2, "context_window");
    lua_pushnumber(L, (lua_Number)m->max_output);
    lua_setfield(L, -2, "max_output");
    lua_pushnumber(L, m->lat_p50_ms);
    lua_setfield(L, -2, "latency_p50");
    lua_pushnumber(L, m->lat_p95_ms);
    lua_setfield(L, -2, "latency_p95");
    lua_pushstring(L, m->tokenizer);
    lua_setfield(L, -2, "tokenizer");
    lua_pushnumber(L, (lua_Number)m->output_reserve);
    lua_setfield(L, -2, "output_reserve");
    lua_createtable(L, 0, 4);
    static const char *const caps[] = {"json", "tools", "vision", "stream"};
    for (int i = 0; i < 4; i++) {
        lua_pushboolean(L, (m->caps >> i) & 1);
        lua_setfield(L, -2, caps[i]);
    }
    lua_setfield(L, -2, "capabilities");
    lua_createtable(L, m->ntags, 0);
    for (int i = 0; i < m->ntags; i++) {
        lua_pushstring(L, m->tags[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "tags");
    /* live health, shared by every worker: until a model has answered, its latency is the
     * static p50 and its error rate 0 */
    lua_createtable(L, 0, 5);
    sy_live *lv = m->live;
    double lat = lv ? sy_live_get(&lv->ewma_latency_ms) : 0;
    double ttft = lv ? sy_live_get(&lv->ewma_ttft_ms) : 0;
    lua_pushnumber(L, lat > 0 ? lat : m->lat_p50_ms);
    lua_setfield(L, -2, "latency_ms");
    lua_pushnumber(L, ttft);
    lua_setfield(L, -2, "ttft_ms");
    lua_pushnumber(L, lv ? sy_live_get(&lv->ewma_error) : 0);
    lua_setfield(L, -2, "error_rate");
    lua_pushinteger(L, lv ? atomic_load(&lv->inflight) : 0);
    lua_setfield(L, -2, "inflight");
    lua_pushnumber(L, lv ? (lua_Number)atomic_load(&lv->attempts) : 0);
    lua_setfield(L, -2, "attempts");
    lua_pushstring(L, sy_breaker_state_name(lv ? atomic_load(&lv->br_state) : SY_BREAKER_CLOSED));
    lua_setfield(L, -2, "breaker");
    lua_setfield(L, -2, "live");
}

/* sy.model(id) → model table or nil */
static int l_model(lua_State *L)
{
    sy_policy_vm *vm = sy_vm_of(L);
    const sy_model *m = sy_config_model(vm->cfg, luaL_checkstring(L, 1));
    if (!m) return 0;
    push_model(L, m);
    return 1;
}

/* ---- sy.models{filter}: the registry, filtered and sorted ---- */

typedef struct model_filter {
    unsigned caps;          /* required SY_CAP_* bits */
    double min_context;
    double max_price_in, max_price_out, max_latency_p95;
    const char *tag, *provider;
    int sort;               /* 0 declaration, 1 price, 2 latency, 3 context */
} model_filter;

static unsigned cap_named(const char *name)
{
    static const char *const caps[] = {"json", "tools", "vision", "stream"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, caps[i]) == 0) return 1u << i;
    return 0;
}

static int has_tag(const sy_model *m, const char *tag)
{
    for (int i = 0; i < m->ntags; i++)
        if (strcmp(m->tags[i], tag) == 0) return 1;
    return 0;
}

/* qsort_r comparator: ctx is the sort mode (workers sort concurrently: no global) */
static int cmp_models(const void *a, const void *b, void *ctx)
{
    const sy_model *x = *(const sy_model *const *)a, *y = *(const sy_model *const *)b;
    double dx, dy;
    switch (*(const int *)ctx) {
    case 1: dx = x->price_in + x->price_out; dy = y->price_in + y->price_out; break;
    case 2: dx = x->lat_p95_ms; dy = y->lat_p95_ms; break;
    case 3: dx = -(double)x->context_window; dy = -(double)y->context_window; break;
    case 4:
        dx = x->live && sy_live_get(&x->live->ewma_latency_ms) > 0
                 ? sy_live_get(&x->live->ewma_latency_ms) : x->lat_p50_ms;
        dy = y->live && sy_live_get(&y->live->ewma_latency_ms) > 0
                 ? sy_live_get(&y->live->ewma_latency_ms) : y->lat_p50_ms;
        break;
    default: dx = dy = 0;
    }
    if (dx != dy) return dx < dy ? -1 : 1;
    return x->index - y->index; /* stable: declaration order breaks ties */
}

static double opt_number(lua_State *L, int t, const char *key, double dflt)
{
    lua_getfield(L, t, key);
    double v = dflt;
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1)) {
            lua_pop(L, 1);
            return sy_policy_api_error(L, "sy.models: %s must be a number", key), dflt;
        }
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* sy.models([filter]) → array of model tables with :cheapest() :fastest() :ids() */
static int l_models(lua_State *L)
{
    sy_policy_vm *vm = sy_vm_of(L);
    model_filter f = {0, 0, 1e300, 1e300, 1e300, NULL, NULL, 0};
    int exclude = 0;
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_getfield(L, 1, "cap");
        if (lua_type(L, -1) == LUA_TSTRING) {
            f.caps = cap_named(lua_tostring(L, -1));
            if (!f.caps) return sy_policy_api_error(L, "sy.models: unknown capability '%s'", lua_tostring(L, -1));
        } else if (lua_istable(L, -1)) {
            for (int i = 1; i <= (int)lua_objlen(L, -1); i++) {
                lua_rawgeti(L, -1, i);
                unsigned bit = lua_type(L, -1) == LUA_TSTRING ? cap_named(lua_tostring(L, -1)) : 0;
                if (!bit) return sy_policy_api_error(L, "sy.models: unknown capability in cap");
                f.caps |= bit;
                lua_pop(L, 1);
            }
        } else if (!lua_isnil(L, -1)) {
            return sy_policy_api_error(L, "sy.models: cap must be a string or a list");
        }
        lua_pop(L, 1);
        f.min_context = opt_number(L, 1, "min_context", 0);
        f.max_price_in = opt_number(L, 1, "max_price_in", 1e300);
        f.max_price_out = opt_number(L, 1, "max_price_out", 1e300);
        f.max_latency_p95 = opt_number(L, 1, "max_latency_p95", 1e300);
        lua_getfield(L, 1, "tag");
        f.tag = lua_tostring(L, -1); /* stays reachable through the filter table */
        lua_pop(L, 1);
        lua_getfield(L, 1, "provider");
        f.provider = lua_tostring(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, 1, "sort");
        if (!lua_isnil(L, -1)) {
            const char *so = lua_tostring(L, -1);
            if (so && strcmp(so, "price") == 0) f.sort = 1;
            else if (so && strcmp(so, "latency") == 0) f.sort = 2;
            else if (so && strcmp(so, "context") == 0) f.sort = 3;
            else if (so && strcmp(so, "live_latency") == 0) f.sort = 4;
            else return sy_policy_api_error(L, "sy.models: sort must be price, latency, live_latency or context");
        }
        lua_pop(L, 1);
        lua_getfield(L, 1, "exclude");
        exclude = lua_istable(L, -1) ? lua_gettop(L) : 0;
        if (!exclude) lua_pop(L, 1);
    }
    const sy_config *cfg = vm->cfg;
    const sy_model *picked[256];
    int n = 0;
    for (int i = 0; i < cfg->nmodels && n < 256; i++) {
        const sy_model *m = &cfg->models[i];
        if ((m->caps & f.caps) != f.caps) continue;
        if ((double)m->context_window < f.min_context) continue;
        if (m->price_in > f.max_price_in || m->price_out > f.max_price_out) continue;
        if (m->lat_p95_ms > f.max_latency_p95) continue;
        if (f.tag && !has_tag(m, f.tag)) continue;
        if (f.provider && strcmp(m->provider->id, f.provider) != 0) continue;
        if (exclude) {
            int skip = 0;
            for (int k = 1; k <= (int)lua_objlen(L, exclude) && !skip; k++) {
                lua_rawgeti(L, exclude, k);
                const char *id = lua_tostring(L, -1);
                skip = id && strcmp(id, m->id) == 0;
                lua_pop(L, 1);
            }
            if (skip) continue;
        }
        picked[n++] = m;
    }
    if (f.sort) qsort_r(picked, (size_t)n, sizeof picked[0], cmp_models, &f.sort);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        push_model(L, picked[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "sy.models_mt");
    lua_setmetatable(L, -2);
    return 1;
}

/* list:cheapest() / list:fastest(): the model with the lowest price / latency_p95, or nil */
static int best_of(lua_State *L, const char *field1, const char *field2)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int best = 0;
    double bv = 0;
    for (int i = 1; i <= (int)lua_objlen(L, 1); i++) {
        lua_rawgeti(L, 1, i);
        lua_getfield(L, -1, field1);
        double v = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (field2) {
            lua_getfield(L, -1, field2);
            v += lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (!best || v < bv) {
            best = i;
            bv = v;
        }
    }
    if (!best) return 0;
    lua_rawgeti(L, 1, best);
    return 1;
}

static int l_list_cheapest(lua_State *L)
{
    return best_of(L, "price_in", "price_out");
}

static int l_list_fastest(lua_State *L)
{
    return best_of(L, "latency_p95", NULL);
}

/* list:ids() → the first 8 ids, ready for sy.chain */
static int l_list_ids(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)lua_objlen(L, 1);
    if (n > SY_MAX_CHAIN) n = SY_MAX_CHAIN;
    lua_createtable(L, n, 0);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        lua_getfield(L, -1, "id");
        lua_rawseti(L, -3, i);
        lua_pop(L, 1);
    }
    return 1;
}

/* The live request when the table at idx is its view (not a copy or a made-up table). */
static const sy_chat *live_chat_at(lua_State *L, sy_policy_vm *vm, int idx)
{
    if (!vm->cur || !lua_istable(L, idx)) return NULL;
    lua_pushlightuserdata(L, (void *)&REQ_GEN_KEY);
    lua_rawget(L, idx);
    unsigned gen = (unsigned)lua_tointeger(L, -1);
    int live = !lua_isnil(L, -1) && gen == vm->req_gen;
    lua_pop(L, 1);
    return live ? vm->cur->chat : NULL;
}

/* sy.tokens(model, req) → the request's prompt tokens for that model's tokenizer, and
 * whether the count is an estimate (a model whose tokenizer is unknown). */
static int l_tokens(lua_State *L)
{
    sy_policy_vm *vm = sy_vm_of(L);
    const char *id = model_name_at(L, 1);
    const sy_model *m = id ? sy_config_model(vm->cfg, id) : NULL;
    if (!m) return sy_policy_api_error(L, "sy.tokens: unknown model");
    const sy_chat *c = live_chat_at(L, vm, 2);
    if (!c) return sy_policy_api_error(L, "sy.tokens: the second argument must be the req of this call");
    lua_pushinteger(L, sy_tokens_request(c, m->tok_kind));
    lua_pushboolean(L, m->tok_kind == SY_TOK_ESTIMATE);
    return 2;
}

/* sy.classify(name, req or text) → {model id = probability that it answers well}: the
 * config's classifier `name` on req.text (the last user message) or on the given string.
 * Labels of the model file with no registry model are keyed by the label itself. The text is
 * read for the call only; nothing of it is kept. */
static int l_classify(lua_State *L)
{
    sy_policy_vm *vm = sy_vm_of(L);
    const char *name = luaL_checkstring(L, 1);
    const sy_classifier_cfg *cc = sy_config_classifier(vm->cfg, name);
    if (!cc) {
        char known[512] = "";
        size_t off = 0;
        for (int i = 0; i < vm->cfg->nclassifiers && off < sizeof known; i++)
            off += (size_t)snprintf(known + off, sizeof known - off, " %s", vm->cfg->classifiers[i].id);
        return sy_policy_api_error(L, "sy.classify: no classifier named '%s' (declared:%s)", name,
                                   known[0] ? known : " none");
    }
    sy_buf b;
    sy_buf_init(&b);
    const char *text;
    size_t len;
    if (lua_type(L, 2) == LUA_TSTRING) {
        text = lua_tolstring(L, 2, &len);
    } else {
        const sy_chat *c = live_chat_at(L, vm, 2);
        if (!c) return sy_policy_api_error(L, "sy.classify: the second argument must be the req of this call or a string");
        last_user_text(c, &b);
        text = b.data ? b.data : "";
        len = b.len;
    }
    double p[SY_CLASSIFIER_MAX_LABELS];
    int n = sy_classifier_predict(cc->cls, text, len, p, SY_CLASSIFIER_MAX_LABELS);
    sy_buf_free(&b);
    if (n < 0) return sy_policy_api_error(L, "sy.classify: the classifier failed");
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, p[i]);
        lua_setfield(L, -2, cc->model_of[i] ? cc->model_of[i]->id : sy_classifier_label(cc->cls, i));
    }
    return 1;
}

/* sy.cost(model, req) → estimated USD for this request on that model: prompt tokens (for
 * that model's tokenizer when req is the live request, else req.tokens) at the input price,
 * req.max_tokens (else the model's output_reserve) at the output price. */
static int l_cost(lua_State *L)
{
    sy_policy_vm *vm = sy_vm_of(L);
    const char *id = model_name_at(L, 1);
    const sy_model *m = id ? sy_config_model(vm->cfg, id) : NULL;
    if (!m) return sy_policy_api_error(L, "sy.cost: unknown model");
    luaL_checktype(L, 2, LUA_TTABLE);
    const sy_chat *c = live_chat_at(L, vm, 2);
    if (c)
        lua_pushinteger(L, sy_tokens_request(c, m->tok_kind));
    else
        lua_getfield(L, 2, "tokens");
    double in = lua_tonumber(L, -1);
    lua_getfield(L, 2, "max_tokens");
    double out = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : (double)m->output_reserve;
    lua_pop(L, 2);
    lua_pushnumber(L, (in * m->price_in + out * m->price_out) / 1000.0);
    return 1;
}

/* sy.schema.validate(schema, value) → true, or false and a list of errors {path,
 * schema_path, message} (at most 8). schema and value are Lua tables (or JSON-able values);
 * a schema is compiled once per VM and kept (16 at most, by text). */
static int l_schema_validate(lua_State *L)
{
    sy_policy_vm *vm = sy_vm_of(L);
    sy_buf st, vt;
    sy_buf_init(&st);
    sy_buf_init(&vt);
    if (lua_gettop(L) < 2) lua_settop(L, 2);
    if (sy_lua_to_json(L, 1, &st, 0) != 0 || sy_lua_to_json(L, 2, &vt, 0) != 0) {
        sy_buf_free(&st);
        sy_buf_free(&vt);
        return sy_policy_api_error(L, "sy.schema.validate: schema and value must be JSON data");
    }
    const sy_schema *schema = NULL;
    for (int i = 0; i < 16 && !schema; i++)
        if (vm->schemas[i].text && strcmp(vm->schemas[i].text, st.data) == 0)
            schema = vm->schemas[i].schema;
    if (!schema) {
        char err[300];
        sy_schema *s = sy_schema_compile_text(st.data, st.len, NULL, err, sizeof err);
        if (!s) {
            sy_buf_free(&st);
            sy_buf_free(&vt);
            return sy_policy_api_error(L, "sy.schema.validate: %s", err);
        }
        struct sy_vm_schema *slot = &vm->schemas[vm->schema_next];
        vm->schema_next = (vm->schema_next + 1) % 16;
        free(slot->text);
        sy_schema_free(slot->schema);
        slot->text = sy_buf_steal(&st);
        slot->schema = s;
        schema = s;
    }
    sy_buf_free(&st);
    cJSON *value = cJSON_ParseWithLength(vt.data, vt.len);
    sy_buf_free(&vt);
    if (!value) return sy_policy_api_error(L, "sy.schema.validate: out of memory");
    sy_schema_error errs[8];
    int nerr = 0;
    int ok = sy_schema_validate(schema, value, errs, 8, &nerr);
    cJSON_Delete(value);
    lua_pushboolean(L, ok);
    if (ok) return 1;
    lua_createtable(L, nerr, 0);
    for (int i = 0; i < nerr; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, errs[i].instance_path);
        lua_setfield(L, -2, "path");
        lua_pushstring(L, errs[i].schema_path);
        lua_setfield(L, -2, "schema_path");
        lua_pushstring(L, errs[i].message);
        lua_setfield(L, -2, "message");
        lua_rawseti(L, -2, i + 1);
    }
    return 2;
}

static int l_log(lua_State *L)
{
    lua_Debug ar;
    char where[256] = "?";
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar))
        snprintf(where, sizeof where, "%s:%d", ar.short_src, ar.currentline);
    const char *msg = luaL_checkstring(L, 1);
    sy_log(SY_LOG_INFO, "policy", "%s: %s", where, msg);
    return 0;
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)sy_wall_ms() / 1000.0);
    return 1;
}

static int l_readonly_newindex(lua_State *L)
{
    return luaL_error(L, "the switchyard module is read-only (tried to set '%s')",
                      lua_tostring(L, 2));
}

/* Replaces the table on top with a read-only proxy of it. */
static void push_readonly(lua_State *L)
{
    lua_newtable(L);          /* t proxy */
    lua_createtable(L, 0, 3); /* t proxy mt */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_readonly_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);  /* t proxy */
    lua_remove(L, -2);        /* proxy */
}

void sy_policy_api_open(sy_policy_vm *vm)
{
    static const luaL_Reg fns[] = {{"pick", l_pick},     {"chain", l_chain},
                                   {"cascade", l_cascade}, {"hedge", l_hedge},
                                   {"model", l_model},   {"models", l_models},
                                   {"cost", l_cost},     {"tokens", l_tokens},
                                   {"classify", l_classify},
                                   {"log", l_log},       {"now", l_now},
                                   {NULL, NULL}};
    lua_State *L = vm->L;
    lua_createtable(L, 0, 12);
    for (int i = 0; fns[i].name; i++) {
        lua_pushcfunction(L, fns[i].func);
        lua_setfield(L, -2, fns[i].name);
    }
    lua_pushstring(L, SY_VERSION);
    lua_setfield(L, -2, "version");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_schema_validate);
    lua_setfield(L, -2, "validate");
    push_readonly(L);
    lua_setfield(L, -2, "schema");
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, l_json_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, l_json_decode);
    lua_setfield(L, -2, "decode");
    push_readonly(L); /* one VM serves every policy: none may change what another sees */
    lua_setfield(L, -2, "json");
    /* the metatable of sy.models() lists */
    lua_createtable(L, 0, 2);
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, l_list_cheapest);
    lua_setfield(L, -2, "cheapest");
    lua_pushcfunction(L, l_list_fastest);
    lua_setfield(L, -2, "fastest");
    lua_pushcfunction(L, l_list_ids);
    lua_setfield(L, -2, "ids");
    lua_setfield(L, -2, "__index");
    lua_setfield(L, LUA_REGISTRYINDEX, "sy.models_mt");
    push_readonly(L);
}

/* Applies the decision's constraints: require = {caps}, max_cost = USD, deadline_ms = N.
 * Models that break them leave the chain (and are named in out->dropped); if none is left
 * the decision fails. */
static int read_constraints(sy_policy_vm *vm, int idx, sy_decision *out, char *err,
                            size_t errlen)
{
    lua_State *L = vm->L;
    lua_getfield(L, idx, "require");
    if (lua_type(L, -1) == LUA_TSTRING) {
        out->require_caps = cap_named(lua_tostring(L, -1));
        if (!out->require_caps) {
            snprintf(err, errlen, "decision: unknown capability '%s' in require", lua_tostring(L, -1));
            return SY_EPOLICY;
        }
    } else if (lua_istable(L, -1)) {
        for (int i = 1; i <= (int)lua_objlen(L, -1); i++) {
            lua_rawgeti(L, -1, i);
            const char *name = lua_tostring(L, -1);
            unsigned bit = lua_type(L, -1) == LUA_TSTRING ? cap_named(name) : 0;
            if (!bit) {
                snprintf(err, errlen,
                         "decision: unknown capability '%s' in require (json, tools, vision, stream)",
                         name ? name : luaL_typename(L, -1));
                lua_pop(L, 1);
                return SY_EPOLICY;
            }
            lua_pop(L, 1);
            out->require_caps |= bit;
        }
    } else if (!lua_isnil(L, -1)) {
        snprintf(err, errlen, "decision: require must be a capability or a list of them");
        return SY_EPOLICY;
    }
    lua_getfield(L, idx, "max_cost");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) <= 0) {
            snprintf(err, errlen, "decision: max_cost must be a positive number (USD)");
            return SY_EPOLICY;
        }
        out->max_cost = lua_tonumber(L, -1);
    }
    lua_getfield(L, idx, "retries");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) < 0 || lua_tonumber(L, -1) > 10) {
            snprintf(err, errlen, "decision: retries must be a number from 0 to 10");
            return SY_EPOLICY;
        }
        out->retries = (int)lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "after_ms");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) < 1 || lua_tonumber(L, -1) > 600000) {
            snprintf(err, errlen, "decision: after_ms must be a number of milliseconds (1 to 600000)");
            return SY_EPOLICY;
        }
        out->after_ms = (int)lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "priority");
    if (!lua_isnil(L, -1)) {
        int p = -1;
        if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_Number v = lua_tonumber(L, -1);
            if (v >= 0 && v <= SY_PRIO_MAX && v == (lua_Number)(int)v) p = (int)v;
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            p = sy_parse_priority(lua_tostring(L, -1));
        }
        if (p < 0) {
            snprintf(err, errlen, "decision: priority must be a whole number from 0 to 9 or "
                                  "\"low\", \"normal\", \"high\"");
            return SY_EPOLICY;
        }
        out->has_priority = 1;
        out->priority = p;
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "deadline_ms");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) < 1 || lua_tonumber(L, -1) > 86400000) {
            snprintf(err, errlen, "decision: deadline_ms must be a number of milliseconds");
            return SY_EPOLICY;
        }
        out->deadline_ms = (int)lua_tonumber(L, -1);
    }
    if (!out->require_caps && out->max_cost <= 0) return SY_OK;
    long max_out = vm->cur ? sy_chat_max_tokens(vm->cur->chat) : -1;
    int kept = 0;
    size_t dl = 0;
    for (int i = 0; i < out->n; i++) {
        const sy_model *m = out->models[i];
        long o = max_out >= 0 ? max_out : (long)m->output_reserve;
        long tokens = vm->cur ? sy_tokens_request(vm->cur->chat, m->tok_kind) : 0;
        double cost = ((double)tokens * m->price_in + (double)o * m->price_out) / 1000.0;
        const char *why = NULL;
        if ((m->caps & out->require_caps) != out->require_caps)
            why = "lacks a required capability";
        else if (out->max_cost > 0 && cost > out->max_cost)
            why = "over max_cost";
        if (why) {
            int w = snprintf(out->dropped + dl, sizeof out->dropped - dl, "%s%s: %s",
                             dl ? "; " : "", m->id, why);
            if (w > 0 && (size_t)w < sizeof out->dropped - dl) dl += (size_t)w;
            continue;
        }
        out->models[kept++] = m;
    }
    out->n = kept;
    if (kept == 0) {
        snprintf(err, errlen, "no model of the decision meets its constraints (%s)", out->dropped);
        return SY_EPOLICY;
    }
    return SY_OK;
}

/* Reads the result of route(): a model id, a decision built by sy.*, or a plain list. */
int sy_policy_api_read_decision(sy_policy_vm *vm, int idx, sy_decision *out, char *err,
                                size_t errlen)
{
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    int rc = SY_EPOLICY;
    idx = idx < 0 ? top + idx + 1 : idx;
    if (lua_type(L, idx) == LUA_TSTRING) {
        const sy_model *m = sy_config_model(vm->cfg, lua_tostring(L, idx));
        if (!m) {
            snprintf(err, errlen, "route() returned unknown model '%s'", lua_tostring(L, idx));
            goto done;
        }
        out->kind = SY_DEC_PICK;
        out->n = 1;
        out->models[0] = m;
        rc = SY_OK;
        goto done;
    }
    if (lua_type(L, idx) != LUA_TTABLE) {
        snprintf(err, errlen, "route() must return a model id or a decision (got %s)",
                 luaL_typename(L, idx));
        goto done;
    }
    lua_getfield(L, idx, "kind");
    if (lua_isnil(L, -1)) {
        out->kind = SY_DEC_CHAIN; /* a plain list of model ids */
        lua_pushvalue(L, idx);
    } else {
        out->kind = lua_type(L, -1) == LUA_TSTRING ? kind_of(lua_tostring(L, -1)) : 0;
        if (!out->kind) {
            snprintf(err, errlen, "route() returned a decision of unknown kind");
            goto done;
        }
        lua_getfield(L, idx, "models");
        if (!lua_istable(L, -1)) {
            snprintf(err, errlen, "route() returned a decision without models");
            goto done;
        }
    }
    int list = lua_gettop(L);
    int n = (int)lua_objlen(L, list);
    if (n < 1 || n > SY_MAX_CHAIN) {
        snprintf(err, errlen, "route() returned %d models (1 to %d allowed)", n, SY_MAX_CHAIN);
        goto done;
    }
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        const char *id = model_name_at(L, -1);
        const sy_model *m = id ? sy_config_model(vm->cfg, id) : NULL;
        if (!m) {
            snprintf(err, errlen, "route() returned unknown model '%s' at position %d",
                     id ? id : luaL_typename(L, -1), i);
            goto done;
        }
        out->models[i - 1] = m;
        lua_pop(L, 1);
    }
    out->n = n;
    lua_getfield(L, idx, "reason");
    if (lua_isstring(L, -1)) snprintf(out->reason, sizeof out->reason, "%s", lua_tostring(L, -1));
    lua_getfield(L, idx, "cache");
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) out->no_cache = 1;
    if (read_constraints(vm, idx, out, err, errlen) != SY_OK) goto done;
    rc = SY_OK;
done:
    lua_settop(L, top);
    return rc;
}
