/*
** lf_signals.h — keep asynchronous signals away from threads that run
** oneDNN kernels.
**
** oneDNN 2.x's JIT GEMM kernels (x64:gemm:jit, used by inner products and
** some convolutions) point the stack pointer into a heap workspace while
** they run (oneDNN issue #4845, fixed upstream by PR #4855 in 2026; Debian ships
** 2.6). A signal handled on
** that thread, such as the sqlite3 shell's Ctrl-C handler, then has its
** frame written by the kernel into the heap, and the process later aborts
** with "corrupted size vs. prev_size". So:
**
**   lf_signals_hold()     blocks asynchronous signals on the calling thread
**                         (nested calls only count) and, once per team
**                         size, on the OpenMP worker threads for good;
**   lf_signals_release()  restores the caller's mask when the outermost
**                         hold ends: a signal that arrived meanwhile is
**                         delivered there, on a safe stack.
**
** Signals raised by a faulting instruction (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
** SIGTRAP, SIGSYS) and SIGABRT are never blocked. Every oneDNN execution goes
** through lf_prim_run(), which holds; callers that run many primitives hold
** around all of them so that the mask changes once per batch.
*/
#ifndef LF_SIGNALS_H
#define LF_SIGNALS_H

void lf_signals_hold(void);
void lf_signals_release(void);

#endif
