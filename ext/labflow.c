/*
** labflow.c — the extension's entry point and its one table of SQL
** functions.
**
** sqlite3_labflow_init() registers every entry of lf_funcs[] (and every
** virtual table of lf_modules[]) on the connection that loads it. Functions
** with side effects are SQLITE_DIRECTONLY, so a view or trigger in a
** database someone sent you cannot call them; pure helpers are
** SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC. labflow_help() prints from the
** same table, so the help cannot drift from what is registered.
*/
#include <stdlib.h>
#include <string.h>
#include "lf_ext.h"
#include "lf_vtab.h"
#include "lf_guard.h"
#include "../core/lf_project.h"
#include "../core/lf_ppl.h"
#include "../core/lf_claim.h"
#include "../core/lf_journal.h"
#include "../core/lf_registry.h"
#include "../core/lf_model_cache.h"

SQLITE_EXTENSION_INIT1

#define LF_VERSION "0.1.0"
/* The flags and writes columns of lf_funcs[], in pairs. */
/* Changes the project or its files: SQLITE_DIRECTONLY and guarded. */
#define SIDE SQLITE_UTF8 | SQLITE_DIRECTONLY, 1
/* DIRECTONLY (it reads files and fills caches) and guarded, but changes no
** project row or file, so it stays usable inside UPDATE ... SET x =
** ppl_predict(...). */
#define SIDE_READING SQLITE_UTF8 | SQLITE_DIRECTONLY, 0
#define PURE SQLITE_UTF8 | SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, 0
/* Reads the database: innocuous, but not deterministic across statements. */
#define READS SQLITE_UTF8 | SQLITE_INNOCUOUS, 0

static void fn_version(sqlite3_context*, int, sqlite3_value**);
static void fn_help(sqlite3_context*, int, sqlite3_value**);

static const lf_func_entry lf_funcs[] = {
  {"labflow_version", 0, 0, PURE, fn_version,
   "labflow_version() -> text", "The LabFlow version."},
  {"labflow_help", 0, 1, PURE, fn_help,
   "labflow_help([name]) -> text",
   "Usage of every SQL function, or of one function or component (loc)."},
  {"lab_init", 1, 1, SIDE, lf_fn_lab_init,
   "lab_init(settings_json) -> artifacts path",
   "Makes the database a LabFlow project (tables, WAL mode, artifacts folder). "
   "settings: metrics (list of names), strategy {monitor, mode}, artifacts, threads, keep, progress. "
   "The same settings again do nothing; different ones are refused."},
  {"lab_settings", 0, 0, READS, lf_fn_lab_settings,
   "lab_settings() -> JSON", "The project's settings with every default spelled out."},
  {"lab_settings", 1, 1, SIDE, lf_fn_lab_settings_patch,
   "lab_settings(patch_json) -> JSON",
   "Changes settings with an RFC 7396 merge patch and returns them: threads, progress and keep at any time; "
   "metrics may be added (not removed) and the strategy changed (best epochs are recomputed) while nothing trains."},
  {"ppl_new", 2, 2, SIDE, lf_fn_ppl_new,
   "ppl_new(pplid, config_json) -> pplid",
   "Creates a pipeline after validating every component, arg and shape of its config."},
  {"ppl_fork", 3, 3, SIDE, lf_fn_ppl_fork,
   "ppl_fork(new_pplid, base_pplid, patch_json) -> new pplid",
   "Creates a pipeline from a base's config with an RFC 7396 merge patch; records base -> new."},
  {"ppl_verify", 1, 1, READS, lf_fn_ppl_verify,
   "ppl_verify(pplid) -> pplid or NULL", "The pplid if the pipeline exists, else NULL."},
  {"ppl_find", 1, 1, READS, lf_fn_ppl_find,
   "ppl_find(config_json) -> pplid or NULL", "The pipeline with exactly this config (canonical JSON), else NULL."},
  {"ppl_config", 1, 1, READS, lf_fn_ppl_config,
   "ppl_config(pplid) -> JSON", "The pipeline's config (canonical JSON)."},
  {"ppl_path", 2, 3, READS, lf_fn_ppl_path,
   "ppl_path(of, pplid [, epoch]) -> path",
   "Path of an artifact: of is config, weight, gradient, history or quick; epoch is 'best', 'last' or N "
   "(weight and gradient). The file may not exist yet."},
  {"ppl_is_running", 1, 1, SIDE, lf_fn_ppl_is_running,
   "ppl_is_running(pplid) -> logid or NULL",
   "The logid of the connection training pplid, else NULL; a dead trainer's stale claim is cleared."},
  {"ppl_stop", 1, 1, SIDE, lf_fn_ppl_stop,
   "ppl_stop(pplid) -> 1 or 0",
   "Asks the trainer of pplid, in any process, to stop at the next batch: 1 if one was running; called on its own, returns once it has stopped (up to 60 s)."},
  {"ppl_train", 1, 4, SIDE, lf_fn_ppl_train,
   "ppl_train(pplid [, epochs=5 [, patience [, verbose]]]) -> JSON summary",
   "Trains epochs more epochs (0: none), resuming after the last finished one. Early stopping: once "
   "patience epochs have passed since the best epoch of the whole history (on the project's strategy); "
   "NULL patience: the strategy's patience, if any; 0: no early stopping. A call whose patience is "
   "already exhausted is an error. verbose: 0 (no progress), 1 (all), or a metric name "
   "(or 'loss', 'duration', 'lr') or JSON list of them: what the progress lines show. Ctrl-C or ppl_stop() stop after the current batch."},
  {"ppl_train_to", 2, 4, SIDE, lf_fn_ppl_train_to,
   "ppl_train_to(pplid, last_epoch [, patience [, verbose]]) -> JSON summary",
   "Trains until the pipeline's last epoch is last_epoch (nothing if it already is), as ppl_train "
   "otherwise: SELECT ppl_train_to(pplid, 10, 5) FROM ppls is the reference's multi_train(ppls, 10, 5)."},
  {"ppl_export", 2, 4, SIDE, lf_fn_ppl_export,
   "ppl_export(pplid, path [, epoch='best' [, options]]) -> JSON",
   "Writes the pipeline's network at that epoch as an ONNX file (opset 17) taking the same raw inputs as "
   "ppl_predict (scale and standardisation are in the graph), batch dimension symbolic. options: "
   "{output: 'raw'|'proba'|'class', overwrite: false}. A relative path is inside the project's folder; an "
   "existing file is refused unless overwrite. Needs a build with protobuf-c (see docs/export.md)."},
  {"ppl_predict", 2, 4, SIDE_READING, lf_fn_ppl_predict,
   "ppl_predict(pplid, input [, epoch='best' [, mode='raw']]) -> JSON",
   "Model outputs for one sample or a list of samples (JSON array, JSON object by feature column, "
   "BLOB of one uint8 sample or of float32 samples): mode 'raw', 'proba' or 'class'. The network stays "
   "cached on the connection between calls (see ppl_predict_cache)."},
  {"ppl_predict_cache", 0, 1, SIDE_READING, lf_fn_ppl_predict_cache,
   "ppl_predict_cache([max_mb]) -> JSON",
   "The connection's cache of ready networks used by ppl_predict and ppl_predict_rows: limit_mb, bytes "
   "(estimate), models, hits, revalidated, loads, evictions, threads, file_checks. max_mb sets the bound (default 256; least "
   "recently used models go first; 0 keeps none between calls)."},
  {"ppl_evaluate", 2, 3, SIDE_READING, lf_fn_ppl_evaluate,
   "ppl_evaluate(pplid, data_src [, epoch='best']) -> JSON",
   "Loss and every project metric of the pipeline's model on another data source."},
  {"ppl_archive", 1, 2, SIDE, lf_fn_ppl_archive,
   "ppl_archive(ppls [, reverse=0]) -> count",
   "Archives pipelines (a pplid or a JSON array): their rows leave every listing for the archived_* "
   "tables and their files move under Archived/. reverse=1 unarchives. Running pipelines are refused."},
  {"ppl_unarchive", 1, 1, SIDE, lf_fn_ppl_unarchive,
   "ppl_unarchive(ppls) -> count",
   "Restores archived pipelines exactly; refused if an active pipeline has the same pplid or configuration."},
  {"ppl_delete", 1, 1, SIDE, lf_fn_ppl_delete,
   "ppl_delete(ppls) -> count",
   "Deletes archived pipelines: their rows and files. Active pipelines must be archived first."},
  {"ppl_clean", 1, 2, SIDE, lf_fn_ppl_clean,
   "ppl_clean(ppls [, keep='best,last']) -> bytes freed",
   "Deletes the weight files of epochs not kept (keep: best, last and/or epoch numbers). "
   "The last epoch's weights and state always stay: ppl_train resumes from them."},
  {"ppl_transfer", 3, 5, SIDE, lf_fn_ppl_transfer,
   "ppl_transfer(ppls, 'export'|'import', 'copy'|'move' [, bundle_path [, remap_json]]) -> count",
   "export: writes the pipelines (NULL: all) into one bundle file (default Transfer/<pplid>.lfbundle); "
   "'move' removes them once the bundle is durable. import: merges a bundle (NULL path: every bundle in "
   "Transfer/), skipping configurations already here and refusing colliding pplids; remap_json "
   "{\"old prefix\": \"new prefix\"} rewrites data paths; 'move' deletes the bundle afterwards."},
  {"ppl_sync", 1, 1, SIDE, lf_fn_ppl_sync,
   "ppl_sync(pplid) -> path",
   "Writes Configs/<pplid>.json (config plus best and last epochs) and Histories/<pplid>.csv; "
   "returns the config file's path."},
  {"ppl_note", 2, 2, SIDE, lf_fn_ppl_note,
   "ppl_note(pplid, text) -> text",
   "Sets the pipeline's free-text note (the tag 'note' in ppl_tags); NULL removes it. Kept through "
   "archive, bundles and forks."},
  {"ppl_tag", 3, 3, SIDE, lf_fn_ppl_tag,
   "ppl_tag(pplid, key, value) -> value",
   "Sets a tag (text or number) on a pipeline, replacing the key's old value; NULL removes the tag. "
   "Tags are rows of the ppl_tags table (pplid, key, value), kept through archive, bundles and forks."},
  {"ppl_plot", 3, 5, SIDE, lf_fn_ppl_plot,
   "ppl_plot(ppls, metrics, out_path [, x='epoch' [, options]]) -> JSON list of files",
   "One SVG line chart per metric (<out_path>/<metric>.svg), a line per pipeline, the legend naming what "
   "differs between their configs. NULL ppls: all pipelines; NULL metrics: every history column but "
   "durations; a metric is a column (val_loss) or a quantity (loss = train_loss and val_loss). x: 'epoch', "
   "'time' (cumulative seconds) or a history column. options: {width, height, log_x, log_y, ymin, ymax, "
   "clip}; outliers are clipped and marked unless clip is false; [0,1] metrics stay within [0,1]."},
  {"ppl_sweep", 3, 6, SIDE, lf_fn_ppl_sweep,
   "ppl_sweep(name, base_pplid, space_json [, method='grid' [, n [, seed=0]]]) -> member count",
   "Creates a sweep: member pipelines forked from the base, named <name>-1, <name>-2, ... space maps config "
   "paths (optimizer>args>lr) to lists of values or distributions ({\"uniform\": [a, b]}, {\"log_uniform\": "
   "[a, b]}, {\"int\": [a, b]}, {\"choice\": [...]}); 'grid' takes every combination, 'random' draws n from "
   "seed. Every member is validated before any is created; a config already in the project is reused."},
  {"ppl_halving", 3, 4, SIDE, lf_fn_ppl_halving,
   "ppl_halving(name, min_epochs, max_epochs [, eta=3]) -> JSON summary",
   "Successive halving over a sweep's members: trains them to min_epochs, keeps the best 1/eta by the "
   "project's strategy, trains those eta times longer, ... up to max_epochs; losers are marked pruned. "
   "Progress is stored: after a stop, Ctrl-C or a kill, the same call continues without retraining."},
  {"lab_load_plugin", 1, 1, SIDE, lf_fn_lab_load_plugin,
   "lab_load_plugin(path) -> text",
   "Loads a C plugin (a .so built against labflow_plugin.h) and registers its components as "
   "'<plugin>.<name>' for this process; all or nothing. Needs extension loading enabled on the connection, "
   "as load_extension() does. See docs/plugins.md."},
  {"ppl_accept_plugin", 2, 2, SIDE, lf_fn_ppl_accept_plugin,
   "ppl_accept_plugin(pplid, plugin) -> text",
   "Records the loaded build of a plugin as the one the pipeline needs, after a rebuild changed its SHA-256 "
   "(training then continues with different code: resume is no longer bit for bit)."},
  {"lab_gradcheck", 3, 3, SIDE_READING, lf_fn_lab_gradcheck,
   "lab_gradcheck(loc, args_json, input_shape) -> JSON",
   "Finite-difference check of a layer's backward or a loss's gradient (built-in or plugin), the one the layer tests use: "
   "{\"ok\", \"tolerance\", \"checks\": [{\"grad\", \"rel_err\", \"ok\"}]} for dL/dinput and each parameter."},
};

#define N_FUNCS (sizeof lf_funcs / sizeof lf_funcs[0])

const lf_func_entry *lf_func_entries(int *n){
  *n = (int)N_FUNCS;
  return lf_funcs;
}

sqlite3_int64 lf_conn_logid(lf_conn *c, sqlite3 *writer, char *err, size_t n){
  return lf_log_ensure(writer, &c->logid, NULL, err, n);
}

/* ---- labflow_version, labflow_help ---------------------------------- */

static void fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; (void)argv;
  sqlite3_result_text(ctx, LF_VERSION, -1, SQLITE_STATIC);
}

static void fn_help(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  sqlite3_str *out = sqlite3_str_new(NULL);
  const char *name = NULL;
  if( argc==1 ){
    name = lf_arg_text(ctx, argv, 0, "labflow_help: name");
    if( !name ){ sqlite3_free(sqlite3_str_finish(out)); return; }
  }
  int found = 0;
  for(size_t i=0; i<N_FUNCS; i++){
    if( name && strcmp(name, lf_funcs[i].name)!=0 ) continue;
    sqlite3_str_appendf(out, "%s%s\n  %s", found ? "\n" : "", lf_funcs[i].usage, lf_funcs[i].help);
    found++;
  }
  if( name && !found ){
    const lf_component *c = lf_registry_find(name);
    if( c ){
      char *h = lf_registry_help(c);
      if( h ) sqlite3_str_appendall(out, h);
      free(h);
      found = 1;
    }
  }
  if( !name ){
    sqlite3_str_appendall(out, "\n\nComponents (labflow_help('<loc>') for args):");
    for(int k = LF_KIND_MODEL; k <= LF_KIND_DATASET; k++){
      char names[1024];
      sqlite3_str_appendf(out, "\n  %s: %s", lf_kind_name((lf_kind)k), lf_registry_names((lf_kind)k, names, sizeof names));
    }
  }
  if( sqlite3_str_errcode(out) ){
    sqlite3_free(sqlite3_str_finish(out));
    sqlite3_result_error_nomem(ctx);
    return;
  }
  char *text = sqlite3_str_finish(out);
  if( name && !found ){
    sqlite3_free(text);
    lf_errorf(ctx, "labflow_help: no function or component named '%.60s'", name);
    return;
  }
  sqlite3_result_text(ctx, text, -1, sqlite3_free);
}

/* ---- the guard ------------------------------------------------------ */

/* Every SQLITE_DIRECTONLY function runs through guarded(): lf_guard.c
** refuses calls that a database someone sent could have made (CHECK
** constraints under PRAGMA integrity_check or INSERT, generated columns,
** calls from inside another LabFlow function). Entries whose writes is 0
** (ppl_predict, ppl_evaluate, ...) stay usable in UPDATE ... SET x =
** ppl_predict(...). */

/* Before anything reads or changes the project: a housekeeping call killed
** after its commit left file steps to do (lf_journal.h), a killed trainer
** left its claim and 'running' status (lf_claim.h). Best effort: a failure
** shows in the call itself. A reading call (ppl_predict, once per row of a
** table) looks again only when a database changed since the last look found
** nothing; a call that changes the project always looks. */
static void settle_project(sqlite3 *db, lf_conn *c, int writes, const char *key){
  if( writes ) key = NULL;
  if( key && c->settled && strcmp(key, c->settled)==0 ) return;
  char err[256];
  int rolled = lf_journal_settle(db, 10, err, sizeof err);
  if( rolled ) lf_model_cache_changed();
  int swept = lf_claim_sweep(db, 0);
  sqlite3_free(c->settled);
  c->settled = NULL;
  /* Whatever was done committed, so the versions moved: look again next time. */
  if( rolled==0 && swept==0 && key ) c->settled = sqlite3_mprintf("%s", key);
}

/* The one dispatcher of every guarded function: its user data (one
** lf_fn_data per entry and connection) names the entry to run. */
static void guarded(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const lf_fn_data *d = sqlite3_user_data(ctx);
  const lf_func_entry *e = d->entry;
  lf_conn *c = d->conn;
  int writes = e->writes;
  char why[512];
  /* The data versions' key, made once for the guard's memo and the settle's. */
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  char key[LF_GUARD_KEY_MAX];
  const char *k = c->depth==0 && lf_guard_db_versions(db, key, sizeof key)==0 ? key : NULL;
  if( lf_guard_refuses_keyed(db, c, writes, k, why, sizeof why) ){
    lf_errorf(ctx, "%s: %s", e->name, why);
    return;
  }
  if( c->depth==0 ) settle_project(db, c, writes, k);
  c->depth++;
  /* Any project change may make a cached model stale (lf_model_cache.h). */
  if( writes ) lf_model_cache_changed();
  e->fn(ctx, argc, argv);
  if( writes ) lf_model_cache_changed();
  c->depth--;
}

/* ---- registration ---------------------------------------------------- */

static void conn_release(void *p){
  lf_conn *c = p;
  if( --c->refs == 0 ){
    lf_model_cache_free(c->models);
    sqlite3_free(c->schema_clean);
    sqlite3_free(c->settled);
    sqlite3_free(c->fns);
    sqlite3_free(c);
  }
}

/* A function's user data goes with the connection it points at. */
static void fn_data_release(void *p){
  conn_release(((lf_fn_data*)p)->conn);
}

lf_conn *lf_ctx_conn(sqlite3_context *ctx){
  return ((const lf_fn_data*)sqlite3_user_data(ctx))->conn;
}

struct lf_model_cache *lf_conn_models(lf_conn *c){
  if( !c->models ) c->models = lf_model_cache_new();
  return c->models;
}

/* Virtual tables, registered from lf_vtab.c's table. */
int lf_register_modules(sqlite3 *db);

#ifdef _WIN32
__declspec(dllexport)
#endif
__attribute__((visibility("default")))
int sqlite3_labflow_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi){
  SQLITE_EXTENSION_INIT2(pApi);
  lf_conn *c = sqlite3_malloc(sizeof *c);
  if( !c ) return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->db = db;
  c->refs = 1;   /* held by this function until registration is done */
  c->fns = sqlite3_malloc64(sizeof *c->fns * N_FUNCS);
  if( !c->fns ){ sqlite3_free(c); return SQLITE_NOMEM; }
  int rc = SQLITE_OK;
  for(size_t i=0; i<N_FUNCS && rc==SQLITE_OK; i++){
    const lf_func_entry *e = &lf_funcs[i];
    c->fns[i].conn = c;
    c->fns[i].entry = e;
    void (*fn)(sqlite3_context*, int, sqlite3_value**) = (e->flags & SQLITE_DIRECTONLY) ? guarded : e->fn;
    for(int nargs = e->nmin; nargs <= e->nmax && rc==SQLITE_OK; nargs++){
      c->refs++;
      rc = sqlite3_create_function_v2(db, e->name, nargs, e->flags, &c->fns[i], fn, NULL, NULL, fn_data_release);
      /* On failure SQLite has already called fn_data_release for this one. */
      if( rc != SQLITE_OK && pzErrMsg ){
        *pzErrMsg = sqlite3_mprintf("labflow: cannot register %s: %s", e->name, sqlite3_errmsg(db));
      }
    }
  }
  if( rc==SQLITE_OK ){
    /* Holds the connection's model cache: the module keeps c alive. */
    c->refs++;
    rc = sqlite3_create_module_v2(db, "ppl_predict_rows", &lf_predict_rows_module, c, conn_release);
    if( rc != SQLITE_OK && pzErrMsg ){
      *pzErrMsg = sqlite3_mprintf("labflow: cannot register ppl_predict_rows: %s", sqlite3_errmsg(db));
    }
  }
  if( rc==SQLITE_OK ){
    /* ppl_train_each trains for this connection: it needs its lf_conn. */
    c->refs++;
    rc = sqlite3_create_module_v2(db, "ppl_train_each", &lf_train_each_module, c, conn_release);
    if( rc != SQLITE_OK && pzErrMsg ){
      *pzErrMsg = sqlite3_mprintf("labflow: cannot register ppl_train_each: %s", sqlite3_errmsg(db));
    }
  }
  if( rc==SQLITE_OK ){
    rc = lf_register_modules(db);
    if( rc != SQLITE_OK && pzErrMsg ){
      *pzErrMsg = sqlite3_mprintf("labflow: cannot register virtual tables: %s", sqlite3_errmsg(db));
    }
  }
  if( rc==SQLITE_OK ){
    /* WAL and new tables (lf_project.h), then config hashes stored in an
    ** earlier form recomputed once (lf_ppl.h). */
    lf_project_open(db);
    char err[256];
    lf_ppl_rehash_once(db, err, sizeof err);
    /* Finish what a housekeeping call killed after its commit left. */
    lf_journal_settle(db, 0, err, sizeof err);
    lf_claim_sweep(db, 1);
  }
  conn_release(c);
  return rc;
}
