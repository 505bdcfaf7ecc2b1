/* term.h - terminal echo control for the pamkit CLI. */
#ifndef PAMKIT_TOOLS_TERM_H
#define PAMKIT_TOOLS_TERM_H

#include <stdbool.h>

/* Install SIGINT/SIGTERM/SIGHUP/SIGQUIT handlers that restore the terminal
   and then die of the same signal.  Returns 0 or -errno. */
int term_install_signals(void);
/* Turn echo off on fd (a terminal); remembers the old mode.  0 or -errno. */
int term_echo_off(int fd);
/* Restore the mode saved by term_echo_off; harmless when nothing saved.
   Async-signal-safe. */
void term_restore(void);
/* True while echo is switched off by us. */
bool term_echo_is_off(void);

#endif
