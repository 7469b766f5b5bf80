/*
** lf_guard.c — decides whether a LabFlow function with side effects may
** run now, on behalf of the person at the keyboard, or was reached through
** content of a database someone sent (issue 19).
**
** SQLITE_DIRECTONLY keeps these functions out of views and triggers, but
** SQLite 3.40 still evaluates them in CHECK constraints (under INSERT,
** UPDATE, PRAGMA integrity_check/quick_check, pragma_integrity_check), and in
** DEFAULTs, generated columns and index expressions of a schema parsed
** before LabFlow was loaded. So, before each call, lf_guard_refuses_db()
** checks, in order:
**  1. no other LabFlow function is running on this connection (nothing
**     LabFlow runs — a dataset query, its own statements — may call back);
**  2. no table, index, view or trigger of the main or an attached schema
**     names one of these functions followed by '(' (temp objects are the
**     connection's own and are not looked at);
**  3. no PRAGMA is executing on the connection (integrity_check and
**     quick_check evaluate CHECK constraints and index expressions;
**     pragma_* tables run a PRAGMA);
**  4. for functions that write: no INSERT, UPDATE, DELETE or other writing
**     statement is executing (it may be evaluating a CHECK or a DEFAULT).
** Check 2 reads the schema text itself, so it does not depend on which
** SQLite version or which path evaluates the expression.
*/
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "lf_ext.h"
#include "lf_guard.h"
#include "../core/lf_project.h"
#include "../core/lf_readonly_query.h"
#include "../core/lf_txn.h"

static int is_ident_char(char c){
  return (c>='A' && c<='Z') || (c>='a' && c<='z') || (c>='0' && c<='9') || c=='_' || c=='$';
}

/* Does sql call `name` (any case, possibly quoted, blanks or comments
** before the '(')? Also true inside string literals and comments: a false
** alarm there only asks the user to look at that object. */
static int text_calls(const char *sql, const char *name){
  size_t len = strlen(name);
  for(const char *p = sql; (p = strcasestr(p, name)) != NULL; p++){
    if( p > sql && is_ident_char(p[-1]) ) continue;
    const char *q = p + len;
    if( *q=='"' || *q=='`' || *q==']' ) q++;
    if( *lf_sql_skip_blanks(q)=='(' ) return 1;
  }
  return 0;
}

/* The first side-effecting LabFlow function called by `sql`, or NULL. */
static const char *side_effect_called(const char *sql){
  int n;
  const lf_func_entry *e = lf_func_entries(&n);
  for(int i = 0; i < n; i++){
    if( (e[i].flags & SQLITE_DIRECTONLY) && text_calls(sql, e[i].name) ) return e[i].name;
  }
  return NULL;
}

/* Check 2; 1 with why set if an object calls one, -1 on error. */
static int schema_calls(sqlite3 *db, char *why, size_t n, int *busy){
  sqlite3_stmt *dbs = NULL;
  int found = 0;
  if( sqlite3_prepare_v2(db, "SELECT name FROM pragma_database_list WHERE name <> 'temp'", -1, &dbs, NULL) != SQLITE_OK ){
    snprintf(why, n, "cannot list the connection's databases: %s", sqlite3_errmsg(db));
    *busy = (sqlite3_errcode(db) & 0xff)==SQLITE_BUSY;
    sqlite3_finalize(dbs);
    return -1;
  }
  while( !found && sqlite3_step(dbs)==SQLITE_ROW ){
    const char *schema = (const char*)sqlite3_column_text(dbs, 0);
    if( !schema ) continue;
    char *q = sqlite3_mprintf("SELECT type, name, sql FROM \"%w\".sqlite_schema WHERE sql IS NOT NULL", schema);
    sqlite3_stmt *st = NULL;
    if( !q || sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK ){
      snprintf(why, n, "cannot read the schema of database '%s': %s", schema, q ? sqlite3_errmsg(db) : "out of memory");
      *busy = q && (sqlite3_errcode(db) & 0xff)==SQLITE_BUSY;
      found = -1;
    }
    int rc = SQLITE_DONE;
    while( found==0 && st && (rc = sqlite3_step(st))==SQLITE_ROW ){
      const char *sql = (const char*)sqlite3_column_text(st, 2);
      const char *fn = sql ? side_effect_called(sql) : NULL;
      if( fn ){
        const char *type = (const char*)sqlite3_column_text(st, 0);
        const char *name = (const char*)sqlite3_column_text(st, 1);
        snprintf(why, n, "the %s '%s.%.60s' of this database calls %s(): a CHECK constraint, default, generated "
                 "column, index, view or trigger may not call a LabFlow function that acts (the database may "
                 "come from someone else). Remove it (DROP it, or copy the table without it) and call again",
                 type ? type : "object", schema, name ? name : "?", fn);
        found = 1;
      }
    }
    if( found==0 && rc != SQLITE_DONE && rc != SQLITE_ROW ){
      snprintf(why, n, "cannot read the schema of database '%s': %s", schema, sqlite3_errmsg(db));
      *busy = (rc & 0xff)==SQLITE_BUSY;
      found = -1;
    }
    sqlite3_finalize(st);
    sqlite3_free(q);
  }
  sqlite3_finalize(dbs);
  return found;
}

/* Check 2 reads every schema: too much for ppl_predict called once per
** row (docs/performance.md, "Scoring a table"). Its answer changes only when a schema does, so a clean
** answer is remembered with every database's data version, which changes
** with every commit (this connection's or another's). The key is not
** trusted while a database has a write transaction open (this
** connection's own uncommitted schema change). A database without an open
** read transaction first gets one through PRAGMA data_version, which
** refreshes the version (a statement that evaluates a schema expression
** always has one open). NULL: no key, check the schemas. */
int lf_guard_db_versions(sqlite3 *db, char *buf, size_t n){
  size_t k = 0;
  for(int i = 0; ; i++){
    const char *name = sqlite3_db_name(db, i);
    if( !name ) break;
    if( strcmp(name, "temp")==0 ) continue;
    int state = sqlite3_txn_state(db, name);
    if( state==SQLITE_TXN_WRITE ) return -1;
    if( state==SQLITE_TXN_NONE ){
      char *q = sqlite3_mprintf("PRAGMA \"%w\".data_version", name);
      sqlite3_stmt *st = NULL;
      int rc = q ? sqlite3_prepare_v2(db, q, -1, &st, NULL) : SQLITE_NOMEM;
      if( rc==SQLITE_OK ) rc = sqlite3_step(st);
      sqlite3_finalize(st);
      sqlite3_free(q);
      if( rc != SQLITE_ROW ) return -1;
    }
    unsigned version = 0;
    if( sqlite3_file_control(db, name, SQLITE_FCNTL_DATA_VERSION, &version) != SQLITE_OK ) return -1;
    /* name=version; by hand: snprintf would be most of the cost. */
    char digits[16];
    int nd = 0;
    do{ digits[nd++] = (char)('0' + version % 10); version /= 10; }while( version );
    size_t len = strlen(name);
    if( k + len + (size_t)nd + 3 > n ) return -1;
    memcpy(buf + k, name, len);
    k += len;
    buf[k++] = '=';
    while( nd ) buf[k++] = digits[--nd];
    buf[k++] = ';';
  }
  if( n==0 ) return -1;
  buf[k] = 0;
  return 0;
}

static int is_pragma(sqlite3_stmt *s){
  const char *sql = sqlite3_sql(s);
  if( !sql ) return 0;
  return lf_sql_starts_with_word(lf_sql_skip_blanks(sql), "PRAGMA");
}

/* CREATE TABLE ... AS SELECT writes only the table it creates, which has
** no CHECK, DEFAULT or trigger yet: nothing of a sent schema runs there. */
static int is_create(sqlite3_stmt *s){
  const char *sql = sqlite3_sql(s);
  if( !sql ) return 0;
  return lf_sql_starts_with_word(lf_sql_skip_blanks(sql), "CREATE");
}

int lf_guard_create_busy(sqlite3 *db){
  for(sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s)){
    if( sqlite3_stmt_busy(s) && is_create(s) ) return 1;
  }
  return 0;
}


int lf_guard_refuses_db(sqlite3 *db, lf_conn *c, int writes, char *why, size_t n){
  char key[LF_GUARD_KEY_MAX];
  return lf_guard_refuses_keyed(db, c, writes, lf_guard_db_versions(db, key, sizeof key)==0 ? key : NULL, why, n);
}

int lf_guard_refuses_keyed(sqlite3 *db, lf_conn *c, int writes, const char *key, char *why, size_t n){
  if( c->depth > 0 ){
    snprintf(why, n, "cannot run while another LabFlow function runs on this connection (it was reached from "
             "inside one: a dataset query or the database's schema); call it on its own");
    return 1;
  }
  for(sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s)){
    if( !sqlite3_stmt_busy(s) ) continue;
    if( is_pragma(s) ){
      snprintf(why, n, "cannot run while a PRAGMA runs (PRAGMA integrity_check evaluates the database's CHECK "
               "constraints, which may be calling it); call it from a SELECT");
      return 1;
    }
    if( writes && !sqlite3_stmt_readonly(s) && !is_create(s) ){
      snprintf(why, n, "cannot run inside an INSERT, UPDATE or DELETE statement (a CHECK constraint of the "
               "database may be calling it); call it from a SELECT");
      return 1;
    }
  }
  if( key && c->schema_clean && strcmp(key, c->schema_clean)==0 ) return 0;
  /* Another process initialising or switching the file to WAL holds it
  ** locked for a moment: wait, as every LabFlow write does (lf_txn.h). */
  double t0 = lf_now_unix();
  int found, busy = 0;
  while( (found = schema_calls(db, why, n, &busy)) < 0 && busy && lf_now_unix() - t0 < LF_TXN_WAIT_SECONDS ){
    busy = 0;
    lf_txn_pause();
  }
  sqlite3_free(c->schema_clean);
  c->schema_clean = found==0 && key ? sqlite3_mprintf("%s", key) : NULL;
  return found != 0;
}
