/*
** lf_signals.c — asynchronous signals blocked while oneDNN kernels run.
** Why, and the rules: lf_signals.h.
*/
#include "lf_signals.h"

#include <omp.h>
#include <pthread.h>
#include <signal.h>

/* Per calling thread: a host may call LabFlow from several threads, each
** with its own OpenMP team. */
static __thread int hold_depth;
static __thread sigset_t hold_saved;
static __thread int workers_masked;  /* team size whose workers block */

static void async_signals(sigset_t *s){
  sigfillset(s);
  sigdelset(s, SIGSEGV);
  sigdelset(s, SIGBUS);
  sigdelset(s, SIGFPE);
  sigdelset(s, SIGILL);
  sigdelset(s, SIGTRAP);
  sigdelset(s, SIGSYS);
  sigdelset(s, SIGABRT);
}

void lf_signals_hold(void){
  sigset_t s;
  int nt;
  if( hold_depth++>0 ) return;
  async_signals(&s);
  pthread_sigmask(SIG_BLOCK, &s, &hold_saved);
  /* Workers started from now on inherit this thread's (blocked) mask;
  ** ones that already exist, or that a team of another size started, are
  ** told here. They never need to take a process signal: the calling
  ** thread takes it when the hold ends. */
  nt = omp_get_max_threads();
  if( nt>1 && nt!=workers_masked ){
    #pragma omp parallel num_threads(nt)
    {
      if( omp_get_thread_num()!=0 ) pthread_sigmask(SIG_BLOCK, &s, 0);
    }
    workers_masked = nt;
  }
}

void lf_signals_release(void){
  if( hold_depth==0 || --hold_depth>0 ) return;
  pthread_sigmask(SIG_SETMASK, &hold_saved, 0);
}
