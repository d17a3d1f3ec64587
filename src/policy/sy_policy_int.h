/* sy_policy_int.h — internals shared by sy_policy.c (VM, sandbox, calls) and
 * sy_policy_api.c (the `switchyard` Lua module, request view, decisions). Not public. */
#ifndef SY_POLICY_INT_H
#define SY_POLICY_INT_H

#include <lua.h>

#include "policy/sy_policy.h"

typedef struct sy_policy_slot {
    int ref;       /* registry ref of the policy table, LUA_NOREF if not loaded */
    char id[128];  /* "name@hash" */
    char where[300]; /* "file:line" where route() is defined, for errors a tail call hides */
} sy_policy_slot;

struct sy_policy_vm {
    lua_State *L;
    sy_config *cfg;
    sy_policy_slot *slots;       /* one per cfg->routes[i] */
    uint64_t deadline_ns;        /* budget of the call in progress, 0 = none */
    int budget_us;
    int overran;
    size_t mem_limit;
    const sy_request_view *cur;  /* request of the call in progress */
    const char *cur_where;       /* slot->where of the call in progress */
    unsigned req_gen;            /* bumped per request: a stale req view is detected */
    struct sy_vm_schema {        /* sy.schema.validate's compiled schemas, by JSON text */
        char *text;
        struct sy_schema *schema;
    } schemas[16];
    int schema_next;             /* the slot the next new schema takes (round robin) */
};

sy_policy_vm *sy_vm_of(lua_State *L);
int sy_vm_pcall(sy_policy_vm *vm, int nargs, int nresults, int budget_us, char *err,
                size_t errlen);

/* Raises a Lua error prefixed with the policy's file:line. A tail call (`return sy.pick(x)`)
 * erases the caller's frame; then the line where route() is defined is named instead. */
int sy_policy_api_error(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Pushes the JSON value of validated text (objects → tables; null → nil). */
void sy_policy_api_push_json(lua_State *L, const char *text, size_t len);

/* Pushes the `switchyard` module table. */
void sy_policy_api_open(sy_policy_vm *vm);
/* Registers the request view's metatable. */
void sy_policy_api_init_view(sy_policy_vm *vm);
/* Pushes a fresh lazy, read-only view of req; sy_policy_api_close_request invalidates it. */
void sy_policy_api_push_request(sy_policy_vm *vm, const sy_request_view *req);
void sy_policy_api_close_request(sy_policy_vm *vm);
/* Validates the value at idx as a decision into *out; SY_EPOLICY with a message on error. */
int sy_policy_api_read_decision(sy_policy_vm *vm, int idx, sy_decision *out, char *err,
                                size_t errlen);

#endif
