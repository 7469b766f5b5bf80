/*
** test_ppl_tables.c — core/lf_ppl_tables.c's list of per-pipeline tables
** against sql/schema.sql: each listed table and its archived_ twin exist
** with exactly the listed columns in order, and every table that has an
** archived_ twin is listed (ppl_archive, ppl_delete_archived and bundles
** would otherwise leave its rows behind).
*/
#include <sqlite3.h>
#include <stdlib.h>
#include "../../core/lf_ppl_tables.h"
#include "lf_test.h"

extern const char lf_schema_sql[];

/* "a, b, c" of table's columns in order (malloc'ed); NULL if no table. */
static char *columns(sqlite3 *db, const char *table, int *n){
  sqlite3_stmt *st = NULL;
  char *sql = sqlite3_mprintf("SELECT name FROM pragma_table_info(%Q) ORDER BY cid", table);
  sqlite3_str *out = sqlite3_str_new(NULL);
  *n = 0;
  if( sqlite3_prepare_v2(db, sql, -1, &st, NULL)==SQLITE_OK ){
    while( sqlite3_step(st)==SQLITE_ROW ){
      sqlite3_str_appendf(out, "%s%s", *n ? ", " : "", (const char*)sqlite3_column_text(st, 0));
      (*n)++;
    }
  }
  sqlite3_finalize(st);
  sqlite3_free(sql);
  char *s = sqlite3_str_finish(out);
  char *r = (*n && s) ? strdup(s) : NULL;
  sqlite3_free(s);
  return r;
}

static int listed(const char *name){
  for(int i=0; i<LF_PPL_NTABLES; i++) if( strcmp(lf_ppl_tables[i].name, name)==0 ) return 1;
  return 0;
}

int main(void){
  sqlite3 *db = NULL;
  char *msg = NULL;
  CHECK(sqlite3_open(":memory:", &db)==SQLITE_OK
        && sqlite3_exec(db, lf_schema_sql, NULL, NULL, &msg)==SQLITE_OK,
        "ppl_tables: schema.sql runs (%s)", msg ? msg : "ok");
  sqlite3_free(msg);
  for(int i=0; i<LF_PPL_NTABLES; i++){
    const lf_ppl_table *t = &lf_ppl_tables[i];
    for(int arch=0; arch<2; arch++){
      char name[64];
      snprintf(name, sizeof name, "%s%s", arch ? "archived_" : "", t->name);
      int n = 0;
      char *cols = columns(db, name, &n);
      CHECK(cols && strcmp(cols, t->cols)==0 && n==t->ncols,
            "ppl_tables: %s has the listed columns '%s' (%d) (schema.sql: '%s', %d)",
            name, t->cols, t->ncols, cols ? cols : "no such table", n);
      CHECK(cols && strstr(cols, t->key) != NULL, "ppl_tables: %s has its key column %s", name, t->key);
      free(cols);
    }
    if( t->rowid ){
      sqlite3_stmt *st = NULL;
      int rowid = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE name=?1 AND sql NOT LIKE "
                                     "'%WITHOUT ROWID%'", -1, &st, NULL)==SQLITE_OK
                  && sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC)==SQLITE_OK
                  && sqlite3_step(st)==SQLITE_ROW;
      sqlite3_finalize(st);
      CHECK(rowid, "ppl_tables: %s, listed as a rowid table, is one", t->name);
    }
  }
  /* Every table with an archived_ twin is a per-pipeline table. */
  sqlite3_stmt *st = NULL;
  int found = 0;
  if( sqlite3_prepare_v2(db, "SELECT substr(name, 10) FROM sqlite_schema WHERE type='table' "
                         "AND name LIKE 'archived\\_%' ESCAPE '\\' ORDER BY name", -1, &st, NULL)==SQLITE_OK ){
    while( sqlite3_step(st)==SQLITE_ROW ){
      const char *base = (const char*)sqlite3_column_text(st, 0);
      found++;
      CHECK(listed(base), "ppl_tables: archived_%s's table %s is in lf_ppl_tables", base, base);
    }
  }
  sqlite3_finalize(st);
  CHECK(found==LF_PPL_NTABLES, "ppl_tables: schema.sql has %d archived_ tables, the list %d",
        found, LF_PPL_NTABLES);
  sqlite3_close(db);
  TEST_EXIT();
}
