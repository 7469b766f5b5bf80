/*
** tag_funcs.c — ppl_note() and ppl_tag(): what researchers write about a
** run. Both are rows of ppl_tags (the note is the key 'note'), so archive,
** bundles and forks carry them with the pipeline's other rows.
*/
#include <stdio.h>
#include <string.h>
#include "lf_ext.h"
#include "../core/lf_db.h"
#include "../core/lf_ppl.h"
#include "../core/lf_project.h"
#include "../core/lf_txn.h"

#define TAG_KEY_MAX 100

/* Sets (value not NULL) or removes one tag; reports errors as fn. */
static void set_tag(sqlite3_context *ctx, const char *fn, const char *pplid,
                    const char *key, sqlite3_value *value){
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  char err[512];
  int t = sqlite3_value_type(value);
  if( t==SQLITE_BLOB ){
    lf_errorf(ctx, "%s: the value must be text or a number, got a blob (CAST(x AS TEXT) if it is text)", fn);
    return;
  }
  if( lf_project_upgrade(db, err, sizeof err) ){ lf_errorf(ctx, "%s: %s", fn, err); return; }
  int ex = lf_ppl_exists(db, pplid, err, sizeof err);
  if( ex < 0 ){ lf_errorf(ctx, "%s: %s", fn, err); return; }
  if( ex==0 ){
    int arch = lf_db_exists(db, "SELECT 1 FROM main.archived_ppls WHERE pplid=?1", pplid, err, sizeof err);
    if( arch==1 ) lf_errorf(ctx, "%s: pipeline '%s' is archived: ppl_unarchive('%s') first", fn, pplid, pplid);
    else lf_errorf(ctx, "%s: no pipeline '%s' (see SELECT pplid FROM ppls)", fn, pplid);
    return;
  }
  /* A write that waits for trainers' commits (lf_txn.h). */
  int txn = lf_txn_begin(db, err, sizeof err);
  if( txn < 0 ){ lf_errorf(ctx, "%s: %s", fn, err); return; }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, t==SQLITE_NULL
        ? "DELETE FROM main.ppl_tags WHERE pplid=?1 AND key=?2"
        : "INSERT OR REPLACE INTO main.ppl_tags(pplid, key, value) VALUES(?1, ?2, ?3)", -1, &st, NULL);
  if( rc==SQLITE_OK ){
    sqlite3_bind_text(st, 1, pplid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if( t != SQLITE_NULL ) sqlite3_bind_value(st, 3, value);
    rc = sqlite3_step(st);
  }
  if( rc != SQLITE_DONE ){
    lf_errorf(ctx, "%s: cannot record the tag: %s", fn, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    lf_txn_rollback(db, txn);
    return;
  }
  sqlite3_finalize(st);
  if( lf_txn_commit(db, txn, err, sizeof err) ){ lf_errorf(ctx, "%s: %s", fn, err); return; }
  sqlite3_result_value(ctx, value);
}

void lf_fn_ppl_note(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_note");
  if( !pplid ) return;
  int t = sqlite3_value_type(argv[1]);
  if( t != SQLITE_TEXT && t != SQLITE_NULL ){
    lf_errorf(ctx, "ppl_note: text must be text (or NULL to remove the note)");
    return;
  }
  set_tag(ctx, "ppl_note", pplid, "note", argv[1]);
}

void lf_fn_ppl_tag(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc;
  const char *pplid = lf_arg_pplid(ctx, argv, 0, "ppl_tag");
  if( !pplid ) return;
  const char *key = lf_arg_text(ctx, argv, 1, "ppl_tag: key");
  if( !key ) return;
  int len = sqlite3_value_bytes(argv[1]);
  if( len < 1 || len > TAG_KEY_MAX || (int)strlen(key) != len ){
    lf_errorf(ctx, "ppl_tag: key must be 1 to %d bytes of text without NUL bytes", TAG_KEY_MAX);
    return;
  }
  for(const unsigned char *c = (const unsigned char*)key; *c; c++){
    if( *c < 0x20 || *c == 0x7f ){
      lf_errorf(ctx, "ppl_tag: key must not contain control characters");
      return;
    }
  }
  set_tag(ctx, "ppl_tag", pplid, key, argv[2]);
}
