/* sy_lua_modules.h — the trusted Lua modules policies may require ("switchyard.text", ...),
 * embedded at build time from lua/switchyard/ by cmake/embed_lua.cmake. */
#ifndef SY_LUA_MODULES_H
#define SY_LUA_MODULES_H

#include <stddef.h>

typedef struct sy_lua_module {
    const char *name; /* "switchyard.text"; NULL ends the table */
    const char *src;
    size_t len;
} sy_lua_module;

extern const sy_lua_module sy_lua_modules[];

#endif
