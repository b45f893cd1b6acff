#ifndef SMIA_SHIM_H
#define SMIA_SHIM_H

/* The C side of the Swift <-> Lua boundary.
 *
 * Every Lua-callable function of the bridge is the one trampoline below: it reads the
 * function's integer id from its first upvalue and calls the Swift dispatcher. Only this C
 * code calls lua_error, so a Lua error never unwinds through a Swift frame. The rest are
 * wrappers for what Swift cannot call: macros, variadic functions, and calls that may raise. */

#include <stddef.h>
#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result of a dispatch: a result count >= 0, or one of these. */
enum {
    /* An error message (a string) is on top of the stack; the trampoline prefixes the
     * caller's position ("script.lua:12: ") and raises it. */
    SMIA_ERROR = -1,
    /* An error value is on top of the stack and is raised as it is (an error that came
     * out of a Lua function called from Swift already carries its position). */
    SMIA_ERROR_RAW = -2
};

typedef int (*smia_dispatch_fn)(lua_State *L, int id);

/* Registers the one Swift dispatcher (once; later calls replace it). */
void smia_set_dispatcher(smia_dispatch_fn fn);

/* Pushes the trampoline as a Lua function for `id`. The `nup` values on top of the stack
 * become its upvalues 2 ... nup+1 (they are popped); upvalue 1 holds the id. */
void smia_push_function(lua_State *L, int id, int nup);

/* Calls the function below `nargs` arguments in protected mode with a message handler that
 * records a traceback (luaL_traceback). Returns the lua_pcall status. On success the results
 * replace the function and arguments (as lua_pcall). On failure two values replace them:
 * the error object, unchanged, and the traceback string (empty when none was recorded). */
int smia_pcall_traceback(lua_State *L, int nargs, int nresults);

/* Loads a chunk from a file or a string (luaL_loadfilex / luaL_loadbufferx, which do not
 * raise); returns the status, the function or an error message pushed as they do. */
int smia_load_file(lua_State *L, const char *path);
int smia_load_string(lua_State *L, const char *code, size_t length, const char *chunkname);

/* A full collection (lua_gc is variadic). Errors in finalizers become warnings in 5.4. */
void smia_gc_collect(lua_State *L);
/* One step of the collector (LUA_GCSTEP 0): in generational mode a young collection. */
void smia_gc_step(lua_State *L);
/* Kilobytes in use by Lua (LUA_GCCOUNT). */
int smia_gc_count_kb(lua_State *L);

/* Hands memory freed by the C allocator back to the system (glibc's malloc_trim), so the
 * resident size follows what is really in use after a forced collection; but only when the
 * heap holds more than `keep` free bytes: a loop that allocates the same amount again (an
 * attack's activations each step) reuses them faster than it faults fresh pages in. */
void smia_release_free_memory(size_t keep);

/* Macro wrappers. */
int smia_upvalueindex(int i);
int smia_registryindex(void);
void smia_pop(lua_State *L, int n);
void smia_newtable(lua_State *L);
void smia_insert(lua_State *L, int idx);
void smia_remove(lua_State *L, int idx);
void *smia_newuserdata(lua_State *L, size_t size);
/* luaL_getmetatable: pushes the registry's metatable of that name (nil when absent). */
int smia_getmetatable_named(lua_State *L, const char *name);

#ifdef __cplusplus
}
#endif

#endif
