/* loops.h - what loops.c gives chan.c and signal.c: a loop's inbox, a lock-free multi-producer single-consumer
 * queue of messages that any thread may post to and only the loop's own thread runs, woken through an eventfd; and
 * what a group of loops (corio_run_threads) shares about signals. */
#ifndef CORIO_LOOPS_H
#define CORIO_LOOPS_H

#include <stdatomic.h>

#include "internal.h"

/* A message: intrusive, so posting allocates nothing; run is called on the inbox's loop thread, with l NULL when
 * the loop is gone and the message can only be discarded. */
typedef struct corio__xnode {
    _Atomic(struct corio__xnode *) next;
    void (*run)(corio__loop *l, struct corio__xnode *n);
} corio__xnode;

typedef struct corio__xloop corio__xloop;

/* The inbox of loop l (the caller runs on l), created on first use: NULL and errno on failure. */
corio__xloop *corio__xloop_get(corio__loop *l);
/* Pins x so the loop cannot free it while the caller posts to it: the caller must know x is alive when it pins
 * it (e.g. a task of that loop waits for the message, or a group slot is open). */
void corio__xloop_pin(corio__xloop *x);
void corio__xloop_unpin(corio__xloop *x);
/* Posts n to x and wakes x's loop; from any thread, with x pinned. */
void corio__xloop_post(corio__xloop *x, corio__xnode *n);

/* Under corio_run_threads, cancels the main task of every other loop of the caller's group whose function still
 * runs, through their inboxes (a signal corio_signal_cancel_main asked for, seen by the caller's loop); at most one
 * such cancel is on its way to a loop at a time, and nothing is allocated. A no-op outside a group. */
void corio__loops_cancel_mains(void);
/* The set of signals whose handler the caller's group holds until corio_run_threads returns (signal.c reads and
 * changes it under its own lock, then corio__signal_group_end drops them), or NULL outside corio_run_threads. */
unsigned long long *corio__loops_signals_held(void);

/* A corio_select waiting on a channel (chan.c, select.c): on the channel's watch list, under its mutex, until a
 * change that may make it ready takes it off (notified) and sends its task a wake message (delivered). */
typedef struct corio__chan_watch {
    corio__link link;
    corio__xnode wake;
    corio__loop *loop;
    corio__xloop *inbox;
    corio_task *task;
    bool notified;  /* under the channel's mutex */
    bool delivered; /* on the loop's thread only */
} corio__chan_watch;
/* Puts w (loop, inbox and task filled in) on ch's watch list for a receive (send false) or a send: 0, or 1 if ch is
 * ready for it already (w is not added: try again). */
int corio__chan_watch_add(corio_chan *ch, bool send, corio__chan_watch *w);
/* Takes w off again; if a wake message is already on its way, waits for it (shielded): w may be freed after. */
void corio__chan_watch_remove(corio_chan *ch, corio__chan_watch *w);

#endif
