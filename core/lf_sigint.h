/*
** lf_sigint.h — SIGINT (Ctrl-C, a notebook's interrupt button) stops a
** training in any host, not only in the sqlite3 shell.
**
** The shell turns Ctrl-C into sqlite3_interrupt(), which the trainer sees.
** Python, Jupyter and most other hosts only set a flag of their own that
** nobody looks at until the call returns. So while ppl_train runs,
** LabFlow's own SIGINT handler is installed: it notes the signal (the
** trainer stops after the current batch) and passes it on to the host's
** handler, as if LabFlow were not there (the shell then interrupts the
** statement; Python raises KeyboardInterrupt once the call returns). When
** the host's disposition is the default (terminate), the signal is raised
** again after the training has stopped cleanly; when it is ignored, nothing
** is installed. The host's handler is back in place when the call returns,
** so a SIGINT outside training goes straight to it.
**
** The handler only stores to a sig_atomic_t and calls the host's handler.
** Where it may run is unchanged: kernels/lf_signals.h keeps asynchronous
** signals away from threads that run oneDNN kernels.
*/
#ifndef LF_SIGINT_H
#define LF_SIGINT_H

typedef struct lf_sigint_watch {
  unsigned long seen;   /* SIGINTs counted before the watch began */
  int installed;
} lf_sigint_watch;

/* Installs the handler (nested and concurrent watches share it). */
void lf_sigint_watch_begin(lf_sigint_watch *w);
/* 1 if a SIGINT arrived since the watch began. Cheap. */
int lf_sigint_fired(const lf_sigint_watch *w);
/* Restores the host's handler when the last watch ends. If a SIGINT came
** and the host's disposition was the default, raises it again now. */
void lf_sigint_watch_end(lf_sigint_watch *w);

#endif
