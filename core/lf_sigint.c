/*
** lf_sigint.c — LabFlow's SIGINT handler while training runs
** (lf_sigint.h says why and what it does).
*/
#include "lf_sigint.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int watchers;                 /* watches that installed the handler */
static struct sigaction host_action; /* what was there before, restored */
static volatile sig_atomic_t count;  /* SIGINTs seen while installed */

static void on_sigint(int sig, siginfo_t *info, void *uctx){
  count++;
  /* Chain to the host's handler, exactly as the kernel would have. */
  if( host_action.sa_flags & SA_SIGINFO ){
    if( host_action.sa_sigaction ) host_action.sa_sigaction(sig, info, uctx);
  }else if( host_action.sa_handler != SIG_DFL && host_action.sa_handler != SIG_IGN ){
    host_action.sa_handler(sig);
  }
}

static int host_is_default(void){
  return !(host_action.sa_flags & SA_SIGINFO) && host_action.sa_handler == SIG_DFL;
}

void lf_sigint_watch_begin(lf_sigint_watch *w){
  memset(w, 0, sizeof *w);
  pthread_mutex_lock(&lock);
  if( watchers == 0 ){
    struct sigaction cur;
    if( sigaction(SIGINT, NULL, &cur) == 0
     && ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_IGN) ){
      struct sigaction mine;
      memset(&mine, 0, sizeof mine);
      mine.sa_sigaction = on_sigint;
      mine.sa_flags = SA_SIGINFO | SA_RESTART | (cur.sa_flags & SA_ONSTACK);
      /* The host's handler runs inside ours: block what it expected. */
      mine.sa_mask = cur.sa_mask;
      host_action = cur;
      if( sigaction(SIGINT, &mine, NULL) == 0 ) w->installed = 1;
    }
  }else{
    w->installed = 1;
  }
  if( w->installed ) watchers++;
  w->seen = (unsigned long)count;
  pthread_mutex_unlock(&lock);
}

int lf_sigint_fired(const lf_sigint_watch *w){
  return w->installed && (unsigned long)count != w->seen;
}

void lf_sigint_watch_end(lf_sigint_watch *w){
  if( !w->installed ) return;
  int fired = lf_sigint_fired(w), reraise = 0;
  pthread_mutex_lock(&lock);
  if( --watchers == 0 ){
    /* Only if ours is still there: a host that installed another handler
    ** meanwhile keeps it. */
    struct sigaction cur;
    if( sigaction(SIGINT, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigint ){
      sigaction(SIGINT, &host_action, NULL);
    }
    reraise = fired && host_is_default();
  }
  w->installed = 0;
  pthread_mutex_unlock(&lock);
  if( reraise ) raise(SIGINT);
}
