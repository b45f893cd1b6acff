/*
 * Ctrl-C plumbing for smia-lua, and the few Lua helpers the host needs in C.
 *
 * Engine side: long native loops poll smia_interrupt_pending() and stop early (with an
 * "interrupted!" error) when it returns nonzero. The flag is raised by Ctrl-C while the host
 * runs a chunk, and stays raised until that chunk ends, so one Ctrl-C stops every native
 * loop of the chunk; smia_interrupt_clear() lowers it for code that has handled it.
 *
 * Host side (smia_host_*): the host calls Lua only through smia_host_docall, which runs the
 * function under lua_pcall with a traceback message handler and a SIGINT handler that
 * arms a Lua hook raising "interrupted!" inside the VM (never through a Swift frame).
 */
#ifndef SMIA_INTERRUPT_H
#define SMIA_INTERRUPT_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Nonzero when the user pressed Ctrl-C during the chunk now running. Async-signal-safe. */
int smia_interrupt_pending(void);
/* Lowers the flag. */
void smia_interrupt_clear(void);

/*
 * Calls the function below `narg` arguments on the stack, like lua_pcall(L, narg, nres, h)
 * with h a handler that appends a traceback to the message. While it runs, Ctrl-C stops the
 * Lua code with the error "interrupted!" and raises the engine's flag; a second Ctrl-C
 * warns, a third one kills the process (for native code that never polls). Returns the
 * lua_pcall status; on error the message (with traceback) is on the top of the stack.
 * Meant for the host; a nested call (from inside a running chunk) is a plain protected call
 * that leaves the handler and the flag to the outer one.
 */
int smia_host_docall(lua_State *L, int narg, int nres);

/*
 * The REPL's SIGINT, for its whole life (smia_host_docall swaps in its own handler while code
 * runs): Ctrl-C at the prompt only sets a flag and interrupts the blocked read (no SA_RESTART).
 */
void smia_host_prompt_signal_install(void);
void smia_host_prompt_signal_uninstall(void);
/* Nonzero, once, if Ctrl-C was pressed at the prompt since the last call. */
int smia_host_prompt_interrupted(void);

/*
 * Around each read of the line editor: Ctrl-Z puts the terminal back in the mode it had at
 * smia_host_editor_signals_begin and stops; SIGCONT and SIGWINCH set flags. All three
 * interrupt the editor's read (EINTR) so it can redraw. The previous handlers come back at
 * smia_host_editor_signals_end.
 */
void smia_host_editor_signals_begin(void);
void smia_host_editor_signals_end(void);
/* Nonzero, once, if the process was continued (after Ctrl-Z) since the last call. */
int smia_host_terminal_continued(void);
/* Nonzero, once, if the terminal was resized since the last call. */
int smia_host_terminal_resized(void);

/* Switches the collector to generational mode, as lua.c does (lua_gc is variadic). */
void smia_host_gc_generational(lua_State *L);

/* LUA_COPYRIGHT of the Lua headers the host was built with. */
const char *smia_host_lua_copyright(void);

#ifdef __cplusplus
}
#endif

#endif
