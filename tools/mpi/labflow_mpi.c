/*
** labflow_mpi.c — labflow-mpi: LabFlow training on Open MPI (docs/mpi.md).
**
**   mpirun -np N labflow-mpi lab.db each "<SELECT pplid ...>|[json list]" --epochs E|--until E [--patience P]
**   mpirun -np N labflow-mpi lab.db halving SWEEP --min-epochs A --max-epochs B [--eta K]
**   mpirun -np N labflow-mpi lab.db train PPLID --epochs E|--until E [--patience P] [--print-hashes]
**
** Built from the same core/ and kernels/ as the extension, linked with
** libsqlite3 and MPI (the extension never links MPI). Rank 0 alone opens
** the database; the others only compute and talk to rank 0.
*/
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mpi_common.h"
#include "mpi_dp.h"
#include "mpi_each.h"
#include "../../core/lf_archive.h"
#include "../../core/lf_project.h"
#include "../../core/lf_readonly_query.h"

static const char *usage =
  "usage: labflow-mpi DB each \"<SELECT pplid ...>\"|'[\"id\", ...]' (--epochs E | --until E) [--patience P] [--quiet] [--timing]\n"
  "       labflow-mpi DB halving SWEEP --min-epochs A --max-epochs B [--eta K] [--quiet] [--timing]\n"
  "       labflow-mpi DB train PPLID (--epochs E | --until E) [--patience P] [--print-hashes] [--quiet] [--timing]\n"
  "run under mpirun or srun, e.g. mpirun -np 4 labflow-mpi lab.db each \"SELECT pplid FROM ppls\" --epochs 5\n"
  "(docs/mpi.md)\n";

typedef struct args {
  const char *db, *mode, *what;
  int epochs, until, patience, min_epochs, max_epochs, eta, quiet, print_hashes, timing;
} args;

static int int_opt(const char *name, const char *v, int lo, int *out, char *err, size_t n){
  char *end = NULL;
  long x = v ? strtol(v, &end, 10) : 0;
  if( !v || !*v || *end || x < lo || x > 1000000 ){
    snprintf(err, n, "%s needs an integer from %d to 1000000", name, lo);
    return -1;
  }
  *out = (int)x;
  return 0;
}

static int parse_args(int argc, char **argv, args *a, char *err, size_t n){
  memset(a, 0, sizeof *a);
  a->epochs = -1; a->patience = -1; a->eta = 3; a->min_epochs = -1; a->max_epochs = -1;
  if( argc < 4 ){ snprintf(err, n, "missing arguments"); return -1; }
  a->db = argv[1]; a->mode = argv[2]; a->what = argv[3];
  for(int i=4; i<argc; i++){
    const char *o = argv[i], *v = i + 1 < argc ? argv[i+1] : NULL;
    int rc = 0;
    if( strcmp(o, "--quiet")==0 ){ a->quiet = 1; continue; }
    if( strcmp(o, "--print-hashes")==0 ){ a->print_hashes = 1; continue; }
    if( strcmp(o, "--timing")==0 ){ a->timing = 1; continue; }
    if( strcmp(o, "--epochs")==0 ) rc = int_opt(o, v, 0, &a->epochs, err, n);
    else if( strcmp(o, "--until")==0 ) rc = int_opt(o, v, 1, &a->until, err, n);
    else if( strcmp(o, "--patience")==0 ) rc = int_opt(o, v, 0, &a->patience, err, n);
    else if( strcmp(o, "--min-epochs")==0 ) rc = int_opt(o, v, 1, &a->min_epochs, err, n);
    else if( strcmp(o, "--max-epochs")==0 ) rc = int_opt(o, v, 1, &a->max_epochs, err, n);
    else if( strcmp(o, "--eta")==0 ) rc = int_opt(o, v, 2, &a->eta, err, n);
    else { snprintf(err, n, "unknown option '%s'", o); return -1; }
    if( rc ) return -1;
    i++;
  }
  if( strcmp(a->mode, "each")==0 || strcmp(a->mode, "train")==0 ){
    if( (a->epochs < 0) == (a->until <= 0) ){
      snprintf(err, n, "%s needs --epochs E (E more epochs) or --until E (up to epoch E: the same command "
               "run again after a failure resumes to the same end)", a->mode);
      return -1;
    }
  }else if( strcmp(a->mode, "halving")==0 ){
    if( a->min_epochs < 0 || a->max_epochs < 0 ){ snprintf(err, n, "halving needs --min-epochs and --max-epochs"); return -1; }
  }else{
    snprintf(err, n, "unknown mode '%s' (each, halving or train)", a->mode);
    return -1;
  }
  return 0;
}

/* The pipelines of "each": a JSON list, or the first column of a
** read-only SELECT on the project (as ppl_train_each). */
static int list_pipelines(sqlite3 *db, const char *src, lf_pplist *out, char *err, size_t n){
  memset(out, 0, sizeof *out);
  const char *p = src;
  while( *p==' ' || *p=='\t' || *p=='\n' || *p=='\r' ) p++;
  if( *p=='[' ) return lf_pplist_parse(src, out, err, n);
  sqlite3_stmt *st = NULL;
  char *why = NULL;
  if( lf_prepare_readonly(db, src, &st, &why) ){
    snprintf(err, n, "the pipelines must be a JSON list of pplids or a SELECT whose first column is the "
             "pplid: %s", why ? why : "out of memory");
    sqlite3_free(why);
    return -1;
  }
  int rc;
  while( (rc = sqlite3_step(st))==SQLITE_ROW ){
    const char *id = (const char*)sqlite3_column_text(st, 0);
    if( id && lf_pplist_add(out, id) ){ rc = SQLITE_NOMEM; break; }
  }
  if( rc != SQLITE_DONE ) snprintf(err, n, "the SELECT failed: %s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return rc==SQLITE_DONE ? 0 : -1;
}

static void on_signal(int sig){
  (void)sig;
  mp_signalled = 1;
}

/* The scratch folder holds a job's resume files for a moment: $TMPDIR,
** else /dev/shm (memory: their fsyncs cost nothing), else /tmp. */
static int make_scratch(lf_mpi *c, char *err, size_t n){
  const char *base = getenv("TMPDIR");
  if( !base || !*base ) base = access("/dev/shm", W_OK | X_OK)==0 ? "/dev/shm" : "/tmp";
  snprintf(c->tmpdir, sizeof c->tmpdir, "%s/labflow-mpi-XXXXXX", base && *base ? base : "/tmp");
  if( !mkdtemp(c->tmpdir) ){
    snprintf(err, n, "rank %d cannot make a scratch folder under %s", c->rank, base && *base ? base : "/tmp");
    c->tmpdir[0] = 0;
    return -1;
  }
  return 0;
}

int main(int argc, char **argv){
  lf_mpi c;
  memset(&c, 0, sizeof c);
  int provided = 0;
  /* FUNNELED: only the main thread calls MPI (rank 0 also runs a commit
  ** thread, mpi_commit.h; oneDNN its OpenMP threads). */
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &c.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &c.size);
  char err[2048] = "";
  args a;
  int ok = parse_args(argc, argv, &a, err, sizeof err)==0;
  if( !ok ){
    if( c.rank==0 ) fprintf(stderr, "labflow-mpi: %s\n%s", err, usage);
    MPI_Finalize();
    return 2;
  }
  c.quiet = a.quiet;
  c.timing = a.timing;
  c.times.start = lf_now_unix();
  ok = make_scratch(&c, err, sizeof err)==0;
  if( !ok ) fprintf(stderr, "labflow-mpi: %s\n", err);
  lf_pplist ids;
  memset(&ids, 0, sizeof ids);
  if( c.rank==0 && ok ){
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ok = mp_open_project(&c, a.db, err, sizeof err)==0;
    if( ok && strcmp(a.mode, "each")==0 ) ok = list_pipelines(c.db, a.what, &ids, err, sizeof err)==0;
    if( !ok ) fprintf(stderr, "labflow-mpi: %s\n", err);
  }
  int all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  int rc = 1;
  if( all ){
    if( strcmp(a.mode, "train")==0 ){
      rc = mp_dp_train(&c, a.what, a.epochs, a.until, a.patience, a.print_hashes);
    }else if( c.rank != 0 ){
      rc = mp_each_worker(&c);
    }else if( strcmp(a.mode, "each")==0 ){
      rc = mp_each(&c, ids.ids, ids.n, a.epochs, a.until, a.patience);
    }else{
      rc = mp_halving(&c, a.what, a.min_epochs, a.max_epochs, a.eta);
    }
  }
  lf_pplist_free(&ids);
  mp_print_times(&c);
  mp_data_cache_free();
  mp_close_project(&c);
  if( c.tmpdir[0] ) rmdir(c.tmpdir);
  if( rc==-2 ){
    /* Signalled: the other ranks are being ended with us; every claim is
    ** released and every finished epoch committed. */
    if( c.rank==0 ) fprintf(stderr, "labflow-mpi: interrupted; run the same command again to resume\n");
    if( c.size > 1 ) MPI_Abort(MPI_COMM_WORLD, 130);
    MPI_Finalize();
    return 130;
  }
  MPI_Finalize();
  return rc==0 ? 0 : 1;
}
