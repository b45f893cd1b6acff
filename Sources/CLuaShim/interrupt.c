/*
 * Ctrl-C plumbing for smia-lua (see include/smia_interrupt.h).
 *
 * The pattern is lua.c's: the signal handler only sets a hook with lua_sethook, which is
 * safe to call from a signal handler; the hook runs inside the Lua VM at the next call,
 * return or instruction and raises "interrupted!" with luaL_error, which unwinds Lua frames
 * only, up to the host's lua_pcall. Native engine loops poll the flag instead.
 */
#include "smia_interrupt.h"

#include <lauxlib.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static lua_State *volatile running_state = NULL;
static volatile sig_atomic_t interrupt_flag = 0;
static volatile sig_atomic_t presses = 0;
static volatile sig_atomic_t prompt_flag = 0;
static volatile sig_atomic_t resize_flag = 0;

/*
 * The thread that runs Lua and reads the terminal. A process-directed signal can land on any
 * thread that does not block it (OpenBLAS starts such threads); a handler that finds itself
 * elsewhere passes the signal on to this thread, so a blocked read there sees EINTR.
 */
static pthread_t host_thread;
static volatile sig_atomic_t host_thread_known = 0;

static void remember_host_thread(void) {
    host_thread = pthread_self();
    host_thread_known = 1;
}

static int forwarded_to_host_thread(int sig) {
    if (host_thread_known && !pthread_equal(pthread_self(), host_thread)) {
        pthread_kill(host_thread, sig);
        return 1;
    }
    return 0;
}

/* ---- Ctrl-C while code runs, and the engine's flag ---- */

int smia_interrupt_pending(void) { return interrupt_flag != 0; }

void smia_interrupt_clear(void) { interrupt_flag = 0; }

/* The hook: runs inside the VM, so raising an error here is legal. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_sigint_while_running(int sig) {
    lua_State *L = running_state;
    if (forwarded_to_host_thread(sig))
        return;
    interrupt_flag = 1;
    presses = presses + 1;
    if (L != NULL)
        lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    if (presses >= 2) {
        static const char note[] =
            "\nsmia-lua: still running; press Ctrl-C again to kill the process\n";
        ssize_t written = write(STDERR_FILENO, note, sizeof note - 1);
        (void)written;
        signal(sig, SIG_DFL); /* the next Ctrl-C terminates, as in lua.c */
    }
}

/* lua.c's message handler: a string message gets a traceback; other objects their __tostring. */
static int message_handler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int smia_host_docall(lua_State *L, int narg, int nres) {
    static int depth = 0;
    struct sigaction action, previous;
    int base = lua_gettop(L) - narg;
    int status;

    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);

    if (depth > 0) { /* nested: the outer call owns the signal handler and the flag */
        status = lua_pcall(L, narg, nres, base);
        lua_remove(L, base);
        return status;
    }
    depth++;

    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigint_while_running;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;

    interrupt_flag = 0;
    presses = 0;
    remember_host_thread();
    running_state = L;
    sigaction(SIGINT, &action, &previous);

    status = lua_pcall(L, narg, nres, base);

    sigaction(SIGINT, &previous, NULL);
    running_state = NULL;
    /* A Ctrl-C that came too late to fire must not hit the next chunk. */
    if (lua_gethook(L) == stop_hook)
        lua_sethook(L, NULL, 0, 0);
    interrupt_flag = 0;
    presses = 0;
    depth--;

    lua_remove(L, base);
    return status;
}

/* ---- Ctrl-C at the REPL's prompt ---- */

static struct sigaction saved_int;

static void on_sigint_at_prompt(int sig) {
    if (forwarded_to_host_thread(sig))
        return;
    prompt_flag = 1;
}

void smia_host_prompt_signal_install(void) {
    struct sigaction action;
    remember_host_thread();
    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigint_at_prompt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; /* no SA_RESTART: the blocked read returns EINTR */
    sigaction(SIGINT, &action, &saved_int);
    prompt_flag = 0;
}

void smia_host_prompt_signal_uninstall(void) {
    sigaction(SIGINT, &saved_int, NULL);
    prompt_flag = 0;
}

int smia_host_prompt_interrupted(void) {
    int was = prompt_flag != 0;
    prompt_flag = 0;
    return was;
}

/* ---- Job control and resizing while the line editor reads ---- */

static struct termios outside_mode; /* the terminal's mode outside the editor */
static volatile sig_atomic_t have_outside_mode = 0;
static volatile sig_atomic_t continued_flag = 0;
static struct sigaction saved_tstp, saved_cont, saved_winch;

static void on_sigwinch(int sig) {
    if (forwarded_to_host_thread(sig))
        return;
    resize_flag = 1;
}

static void on_sigcont(int sig) {
    if (forwarded_to_host_thread(sig))
        return;
    continued_flag = 1;
}

/* Ctrl-Z: hand the terminal back in its normal mode, then stop for real. */
static void on_sigtstp(int sig) {
    struct sigaction self;
    sigset_t mask;
    int saved_errno = errno;
    if (have_outside_mode)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &outside_mode);
    sigaction(sig, NULL, &self);
    signal(sig, SIG_DFL);
    sigemptyset(&mask);
    sigaddset(&mask, sig);
    pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
    raise(sig); /* stops here until SIGCONT */
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    sigaction(sig, &self, NULL);
    continued_flag = 1;
    errno = saved_errno;
}

static void on_sigtstp_anywhere(int sig) {
    if (forwarded_to_host_thread(sig))
        return;
    on_sigtstp(sig);
}

void smia_host_editor_signals_begin(void) {
    struct sigaction action;
    remember_host_thread();
    have_outside_mode = tcgetattr(STDIN_FILENO, &outside_mode) == 0;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; /* no SA_RESTART: the editor's read returns EINTR and redraws */
    action.sa_handler = on_sigtstp_anywhere;
    sigaction(SIGTSTP, &action, &saved_tstp);
    action.sa_handler = on_sigcont;
    sigaction(SIGCONT, &action, &saved_cont);
    action.sa_handler = on_sigwinch;
    sigaction(SIGWINCH, &action, &saved_winch);
}

void smia_host_editor_signals_end(void) {
    sigaction(SIGTSTP, &saved_tstp, NULL);
    sigaction(SIGCONT, &saved_cont, NULL);
    sigaction(SIGWINCH, &saved_winch, NULL);
}

int smia_host_terminal_continued(void) {
    int was = continued_flag != 0;
    continued_flag = 0;
    return was;
}

int smia_host_terminal_resized(void) {
    int was = resize_flag != 0;
    resize_flag = 0;
    return was;
}

/* ---- Wrappers for what Swift cannot call ---- */

void smia_host_gc_generational(lua_State *L) { lua_gc(L, LUA_GCGEN, 0, 0); }

const char *smia_host_lua_copyright(void) { return LUA_COPYRIGHT; }
