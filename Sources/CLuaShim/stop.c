/* A polite stop on SIGINT and SIGTERM (see include/smia_stop.h). */
#include "smia_stop.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_flag = 0;

static void on_stop_signal(int sig) {
    if (stop_flag) { /* the second one: end now, as the default action would */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_flag = 1;
}

void smia_stop_signals_install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

int smia_stop_requested(void) { return stop_flag != 0; }
