#include "smia_shim.h"
#include <lauxlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* The bridge's one Lua-callable C function and the helpers Swift needs around it.
 * Only this file raises Lua errors (lua_error), always from a C frame. */

static smia_dispatch_fn dispatcher = NULL;

/* Room for the values a binding pushes before it returns (nested tables, results). */
#define SMIA_STACK_RESERVE 64

void smia_set_dispatcher(smia_dispatch_fn fn) { dispatcher = fn; }

static int trampoline(lua_State *L) {
    int id = (int)lua_tointeger(L, lua_upvalueindex(1));
    if (dispatcher == NULL) {
        return luaL_error(L, "smia: the Swift bridge is not initialized");
    }
    if (!lua_checkstack(L, SMIA_STACK_RESERVE)) {
        return luaL_error(L, "smia: Lua stack overflow");
    }
    int n = dispatcher(L, id);
    if (n >= 0) return n;
    if (n == SMIA_ERROR) {
        /* Position of the Lua code that made the call, as luaL_error does. */
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

void smia_push_function(lua_State *L, int id, int nup) {
    lua_pushinteger(L, id);
    if (nup > 0) lua_insert(L, -(nup + 1));
    lua_pushcclosure(L, trampoline, nup + 1);
}

/* The key of the last traceback in the registry. */
static char traceback_key;

static int traceback_handler(lua_State *L) {
    luaL_traceback(L, L, NULL, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &traceback_key);
    lua_settop(L, 1);
    return 1;
}

int smia_pcall_traceback(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &traceback_key);
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (status != LUA_OK) {
        if (lua_rawgetp(L, LUA_REGISTRYINDEX, &traceback_key) != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushliteral(L, "");
        }
        lua_pushnil(L);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &traceback_key);
    }
    return status;
}

int smia_load_file(lua_State *L, const char *path) { return luaL_loadfilex(L, path, NULL); }

int smia_load_string(lua_State *L, const char *code, size_t length, const char *chunkname) {
    return luaL_loadbufferx(L, code, length, chunkname, "t");
}

void smia_gc_collect(lua_State *L) { lua_gc(L, LUA_GCCOLLECT, 0); }
void smia_gc_step(lua_State *L) { lua_gc(L, LUA_GCSTEP, 0); }
int smia_gc_count_kb(lua_State *L) { return lua_gc(L, LUA_GCCOUNT, 0); }

int smia_upvalueindex(int i) { return lua_upvalueindex(i); }
int smia_registryindex(void) { return LUA_REGISTRYINDEX; }
void smia_pop(lua_State *L, int n) { lua_pop(L, n); }
void smia_newtable(lua_State *L) { lua_newtable(L); }
void smia_insert(lua_State *L, int idx) { lua_insert(L, idx); }
void smia_remove(lua_State *L, int idx) { lua_remove(L, idx); }
void *smia_newuserdata(lua_State *L, size_t size) { return lua_newuserdatauv(L, size, 0); }
int smia_getmetatable_named(lua_State *L, const char *name) { return luaL_getmetatable(L, name); }

void smia_release_free_memory(size_t keep) {
#ifdef __GLIBC__
    struct mallinfo2 info = mallinfo2();
    if (info.fordblks > keep) malloc_trim(0);
#else
    (void)keep;
#endif
}
