/*
** test_readonly_query.c — lf_prepare_readonly (core/lf_readonly_query.c):
** a data query from a sent database may only read, and preparing a refused
** one changes nothing on the connection or in the process.
*/
#include <stdlib.h>
#include <string.h>
#include "lf_test.h"
#include "lf_readonly_query.h"

static int side_effects;

static void bump(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; (void)argv;
  side_effects++;
  sqlite3_result_int(ctx, 1);
}

static sqlite3_int64 int_of(sqlite3 *db, const char *sql){
  sqlite3_stmt *st = NULL;
  sqlite3_int64 v = -999;
  if( sqlite3_prepare_v2(db, sql, -1, &st, NULL)==SQLITE_OK && sqlite3_step(st)==SQLITE_ROW ) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static void refused(sqlite3 *db, const char *sql, const char *want, const char *name){
  sqlite3_stmt *st = (sqlite3_stmt*)1;
  char *why = NULL;
  int rc = lf_prepare_readonly(db, sql, &st, &why);
  CHECK(rc!=SQLITE_OK && st==NULL && why && strstr(why, want), "readonly: %s refused (%s)", name, why ? why : "no message");
  sqlite3_free(why);
}

static void accepted(sqlite3 *db, const char *sql, sqlite3_int64 want_first, const char *name){
  sqlite3_stmt *st = NULL;
  char *why = NULL;
  int rc = lf_prepare_readonly(db, sql, &st, &why);
  sqlite3_int64 got = -1;
  if( rc==SQLITE_OK && sqlite3_step(st)==SQLITE_ROW ) got = sqlite3_column_int64(st, 0);
  CHECK(rc==SQLITE_OK && got==want_first, "readonly: %s accepted (%s, first value %lld)", name, why ? why : "ok", (long long)got);
  sqlite3_finalize(st);
  sqlite3_free(why);
}

int main(void){
  sqlite3 *db = NULL;
  sqlite3_open(":memory:", &db);
  sqlite3_exec(db, "CREATE TABLE t(a, b); INSERT INTO t VALUES(1, 2), (3, 4);"
                   "CREATE VIEW v AS SELECT a * 10 AS a FROM t;", NULL, NULL, NULL);
  sqlite3_create_function(db, "bump", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL, bump, NULL, NULL);
  sqlite3_create_function(db, "plain_bump", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, NULL, bump, NULL, NULL);
  sqlite3_int64 sync_before = int_of(db, "PRAGMA synchronous");

  /* What a data query is for. */
  accepted(db, "SELECT a, b FROM t ORDER BY a", 1, "SELECT");
  accepted(db, "  -- a comment\n /* and another */ select a FROM t ORDER BY a;  ;\n -- trailing\n", 1,
           "comments and trailing semicolons");
  accepted(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<5) SELECT max(i) FROM n", 5,
           "recursive WITH");
  accepted(db, "VALUES (7), (8)", 7, "VALUES");
  accepted(db, "SELECT a FROM v ORDER BY a", 10, "a view");
  accepted(db, "SELECT abs(-3) + length(json_extract('{\"x\":\"ab\"}', '$.x'))", 5, "functions without side effects");
  accepted(db, "SELECT count(*) FROM json_each('[1,2,3]')", 3, "an eponymous virtual table");
  accepted(db, "SELECT plain_bump()", 1, "an application function not flagged DIRECTONLY");

  /* PRAGMAs are refused before they take effect (issue 19: one stored as a
  ** dataset query made every SQLite call of the process fail). */
  refused(db, "PRAGMA hard_heap_limit=50000", "must be one SELECT", "PRAGMA hard_heap_limit");
  refused(db, "PRAGMA query_only=1", "must be one SELECT", "PRAGMA query_only");
  refused(db, "  /* x */ PRAGMA synchronous=OFF", "must be one SELECT", "PRAGMA after a comment");
  refused(db, "SELECT 1; PRAGMA hard_heap_limit=50000", "single statement", "PRAGMA after a SELECT");
  refused(db, "SELECT 1; PRAGMA query_only=1", "single statement", "query_only after a SELECT");
  refused(db, "SELECT * FROM pragma_table_info('t')", "pragma_table_info", "a pragma_* table");
  CHECK(sqlite3_hard_heap_limit64(-1)==0, "readonly: hard_heap_limit untouched");
  CHECK(int_of(db, "PRAGMA query_only")==0, "readonly: query_only untouched");
  CHECK(int_of(db, "PRAGMA synchronous")==sync_before, "readonly: synchronous untouched");

  /* Writes, schema changes, ATTACH, transactions. */
  refused(db, "DELETE FROM t", "must be one SELECT", "DELETE");
  refused(db, "WITH x AS (SELECT 1) DELETE FROM t", "may only read", "WITH ... DELETE");
  refused(db, "WITH x AS (SELECT 1) UPDATE sqlite_master SET sql = 'x'", "sqlite_master may not be modified", "WITH ... UPDATE sqlite_master");
  refused(db, "WITH x AS (SELECT 1) INSERT INTO t SELECT 5, 6 FROM x", "may only read", "WITH ... INSERT");
  refused(db, "ATTACH ':memory:' AS other", "must be one SELECT", "ATTACH");
  refused(db, "BEGIN", "must be one SELECT", "BEGIN");
  refused(db, "CREATE TABLE evil(x)", "must be one SELECT", "CREATE");
  refused(db, "SELECT 1; DELETE FROM t", "single statement", "a second statement");
  CHECK(int_of(db, "SELECT count(*) FROM t")==2, "readonly: table intact");
  CHECK(int_of(db, "SELECT count(*) FROM sqlite_schema WHERE name='evil'")==0, "readonly: nothing created");
  CHECK(int_of(db, "SELECT count(*) FROM pragma_database_list")==1, "readonly: nothing attached");
  CHECK(sqlite3_get_autocommit(db), "readonly: no transaction left open");

  /* Side-effecting functions: DIRECTONLY ones and the known unflagged ones. */
  refused(db, "SELECT bump()", "may not call bump()", "a DIRECTONLY function");
  refused(db, "SELECT a FROM t WHERE (SELECT bump()) > 0", "may not call bump()", "a DIRECTONLY function in a subquery");
  refused(db, "SELECT load_extension('x')", "may not call load_extension()", "load_extension");
  refused(db, "SELECT edit('x')", "edit", "edit()");
  CHECK(side_effects==1, "readonly: no refused function ran (only plain_bump did: %d)", side_effects);

  /* Other refusals. */
  refused(db, "", "is empty", "empty text");
  refused(db, " -- only a comment", "is empty", "only a comment");
  refused(db, "SELECT * FRM t", "does not compile", "a syntax error");
  refused(db, "EXPLAIN SELECT 1", "must be one SELECT", "EXPLAIN");
  sqlite3_stmt *st = NULL;
  char *why = NULL;
  CHECK(lf_prepare_readonly(NULL, "SELECT 1", &st, &why)!=SQLITE_OK && st==NULL && why && strstr(why, "no database connection"),
        "readonly: no connection refused");
  sqlite3_free(why);
  /* The authorizer is gone afterwards: the connection works as before. */
  CHECK(sqlite3_exec(db, "CREATE TABLE after(x); DROP TABLE after;", NULL, NULL, NULL)==SQLITE_OK,
        "readonly: connection unrestricted afterwards");
  sqlite3_close(db);
  TEST_EXIT();
}
