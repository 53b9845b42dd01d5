/* signals.h - what the loops need from signal.c: releasing a loop's signal state when corio_run ends, and a group's
 * hold on the signal handlers when corio_run_threads ends.
 * (Not signal.h: with -Isrc on the command line, that name would hide the system's <signal.h>.) */
#ifndef CORIO_SIGNALS_H
#define CORIO_SIGNALS_H

#include "internal.h"

/* Releases what corio_signal_wait and corio_signal_cancel_main set up for loop l, if anything: no handler writes
 * to its eventfd any more, what is still queued in its signalfd goes to the other loops that asked for it, both
 * are closed with corio_close, the signals the loop blocked are unblocked (those blocked before stay blocked), and
 * (outside corio_run_threads) each signal's old disposition comes back once no other loop asks for it. Call it in
 * corio_run after every task is freed and before the fd registry and the backend are. */
void corio__signal_loop_free(corio__loop *l);

/* At the end of corio_run_threads, once every loop has ended: drops the group's hold on the handlers of the
 * signals in held (the set corio__loops_signals_held gave signal.c, 1 << (signo - 1) per signal). */
void corio__signal_group_end(unsigned long long held);

#endif
