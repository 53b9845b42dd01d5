/* signals.h - what the loop needs from signal.c: releasing a loop's signalfd and signal mask when corio_run ends.
 * (Not signal.h: with -Isrc on the command line, that name would hide the system's <signal.h>.) */
#ifndef CORIO_SIGNALS_H
#define CORIO_SIGNALS_H

#include "internal.h"

/* Releases what corio_signal_wait and corio_signal_cancel_main set up for loop l, if anything: drops deliveries
 * still queued on the signalfd (they were the loop's), closes it with corio_close, and unblocks the signals the
 * loop blocked (those already blocked before stay blocked). Call it in corio_run after every task is freed and
 * before the fd registry and the backend are. */
void corio__signal_loop_free(corio__loop *l);

#endif
