/*
 * A polite stop for long runs: after smia_stop_signals_install(), SIGINT and SIGTERM (what
 * Ctrl-C, `kill` and a batch scheduler's time limit send) only raise a flag that the running
 * code polls between units of work (smia_stop_requested), so that it can save what is done
 * and end. A second such signal ends the process at once, as without the handler.
 */
#ifndef SMIA_STOP_H
#define SMIA_STOP_H

#ifdef __cplusplus
extern "C" {
#endif

void smia_stop_signals_install(void);
/* Nonzero once SIGINT or SIGTERM arrived after smia_stop_signals_install. */
int smia_stop_requested(void);

#ifdef __cplusplus
}
#endif

#endif
