/*
** lf_readonly_query.c — prepares one read-only data query (see
** lf_readonly_query.h for the contract).
**
** Three locks, each enough against a different mistake:
**  1. the text is lexed first: one statement whose first word is SELECT,
**     WITH or VALUES, and after it only blanks, ';' and comments. Nothing
**     after the first statement is ever prepared (preparing "PRAGMA
**     hard_heap_limit=50000" is enough to apply it);
**  2. while SQLite prepares it, an authorizer allows reading tables,
**     SELECT, recursive CTEs and calls of functions that have no side
**     effects, and denies everything else (PRAGMA, ATTACH, writes, schema
**     changes, transactions, pragma_* tables, SQLITE_DIRECTONLY functions
**     and the few side-effecting functions some builds leave unflagged);
**  3. the prepared statement must be read-only and return columns.
*/
#include "lf_readonly_query.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Functions with side effects that are not SQLITE_DIRECTONLY in every
** build: edit() runs an editor, fts3_tokenizer() with two arguments
** installs a tokenizer from a pointer. */
static const char *const always_denied[] = {
  "load_extension", "writefile", "edit", "fts3_tokenizer",
};

typedef struct {
  char **directonly;     /* names of this connection's DIRECTONLY functions */
  int ndirectonly;
  char why[256];         /* the first thing denied */
} ro_auth;

const char *lf_sql_skip_blanks(const char *p){
  for(;;){
    while( *p==' ' || *p=='\t' || *p=='\n' || *p=='\r' || *p=='\f' || *p=='\v' ) p++;
    if( p[0]=='-' && p[1]=='-' ){
      while( *p && *p!='\n' ) p++;
    }else if( p[0]=='/' && p[1]=='*' ){
      const char *end = strstr(p + 2, "*/");
      p = end ? end + 2 : p + strlen(p);
    }else{
      return p;
    }
  }
}

int lf_sql_starts_with_word(const char *p, const char *word){
  size_t n = strlen(word);
  if( strncasecmp(p, word, n)!=0 ) return 0;
  char c = p[n];
  return !((c>='A' && c<='Z') || (c>='a' && c<='z') || (c>='0' && c<='9') || c=='_' || (unsigned char)c >= 0x80);
}

static int is_denied_function(const ro_auth *a, const char *name){
  if( name==NULL ) return 1;
  for(size_t i = 0; i < sizeof always_denied / sizeof always_denied[0]; i++){
    if( strcasecmp(name, always_denied[i])==0 ) return 1;
  }
  for(int i = 0; i < a->ndirectonly; i++){
    if( strcasecmp(name, a->directonly[i])==0 ) return 1;
  }
  return 0;
}

static int authorize(void *arg, int action, const char *a1, const char *a2, const char *dbname,
                     const char *inner){
  ro_auth *a = arg;
  (void)dbname; (void)inner;
  const char *what = NULL;
  switch( action ){
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_READ:
      /* pragma_* tables run a PRAGMA when they are read. */
      if( a1 && strncasecmp(a1, "pragma_", 7)==0 ){
        if( !a->why[0] ) snprintf(a->why, sizeof a->why, "may not read %s (it runs a PRAGMA)", a1);
        return SQLITE_DENY;
      }
      return SQLITE_OK;
    case SQLITE_FUNCTION:
      if( !is_denied_function(a, a2) ) return SQLITE_OK;
      if( !a->why[0] ) snprintf(a->why, sizeof a->why, "may not call %s(): it has side effects "
                                "(only functions a view may call are allowed)", a2 ? a2 : "?");
      return SQLITE_DENY;
    case SQLITE_UPDATE:
      /* Naming an eponymous virtual table (json_each, generate_series,
      ** ppl_history) is authorised as an update of sqlite_master's
      ** columns although nothing is written; a real write of it cannot
      ** pass lock 1 or 3. */
      if( a1 && (strcasecmp(a1, "sqlite_master")==0 || strcasecmp(a1, "sqlite_temp_master")==0) ) return SQLITE_OK;
      what = "write to a table";
      break;
    case SQLITE_PRAGMA: what = "run a PRAGMA"; break;
    case SQLITE_ATTACH: what = "ATTACH a database"; break;
    case SQLITE_DETACH: what = "DETACH a database"; break;
    case SQLITE_INSERT: case SQLITE_DELETE: what = "write to a table"; break;
    case SQLITE_TRANSACTION: case SQLITE_SAVEPOINT: what = "control transactions"; break;
    default: what = "change the database or the connection"; break;
  }
  if( !a->why[0] ) snprintf(a->why, sizeof a->why, "may only read: it may not %s", what);
  return SQLITE_DENY;
}

/* The names of the connection's SQLITE_DIRECTONLY functions, read before
** the authorizer is installed (it may not run SQL itself). */
static int list_directonly(sqlite3 *db, ro_auth *a){
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT DISTINCT name FROM pragma_function_list WHERE (flags & 524288) != 0",
                              -1, &st, NULL);
  while( rc==SQLITE_OK ){
    int s = sqlite3_step(st);
    if( s==SQLITE_DONE ) break;
    if( s!=SQLITE_ROW ){ rc = s; break; }
    const char *name = (const char*)sqlite3_column_text(st, 0);
    if( name==NULL ) continue;
    char **grown = sqlite3_realloc64(a->directonly, (sqlite3_uint64)(a->ndirectonly + 1) * sizeof *grown);
    char *copy = sqlite3_mprintf("%s", name);
    if( grown ) a->directonly = grown;
    if( grown==NULL || copy==NULL ){ sqlite3_free(copy); rc = SQLITE_NOMEM; break; }
    a->directonly[a->ndirectonly++] = copy;
  }
  sqlite3_finalize(st);
  return rc;
}

static void set_error(char **errmsg, const char *fmt, const char *detail){
  if( errmsg ) *errmsg = sqlite3_mprintf(fmt, detail);
}

int lf_prepare_readonly(sqlite3 *db, const char *sql, sqlite3_stmt **out, char **errmsg){
  ro_auth a;
  sqlite3_stmt *st = NULL;
  const char *tail = NULL;
  int rc = SQLITE_OK;
  memset(&a, 0, sizeof a);
  *out = NULL;
  if( errmsg ) *errmsg = NULL;
  if( db==NULL || sql==NULL ){
    set_error(errmsg, "%s", db ? "is NULL" : "has no database connection");
    return SQLITE_MISUSE;
  }
  const char *first = lf_sql_skip_blanks(sql);
  if( *first==0 ){
    set_error(errmsg, "%s", "is empty");
    return SQLITE_ERROR;
  }
  if( !lf_sql_starts_with_word(first, "SELECT") && !lf_sql_starts_with_word(first, "WITH") && !lf_sql_starts_with_word(first, "VALUES") ){
    set_error(errmsg, "must be one SELECT, WITH or VALUES statement, not '%.40s'", first);
    return SQLITE_AUTH;
  }
  rc = list_directonly(db, &a);
  if( rc!=SQLITE_OK ){
    set_error(errmsg, "cannot be checked: the connection's functions cannot be listed (%s)", sqlite3_errmsg(db));
    goto done;
  }
  sqlite3_set_authorizer(db, authorize, &a);
  rc = sqlite3_prepare_v2(db, first, -1, &st, &tail);
  sqlite3_set_authorizer(db, NULL, NULL);
  if( rc!=SQLITE_OK ){
    if( a.why[0] ) set_error(errmsg, "%s", a.why);
    else set_error(errmsg, "does not compile: %s", sqlite3_errmsg(db));
    goto done;
  }
  if( st==NULL ){
    set_error(errmsg, "%s", "is empty");
    rc = SQLITE_ERROR;
    goto done;
  }
  for(tail = lf_sql_skip_blanks(tail ? tail : ""); *tail==';'; tail = lf_sql_skip_blanks(tail + 1)){}
  if( *tail ){
    set_error(errmsg, "must be a single statement: remove '%.40s'", tail);
    rc = SQLITE_ERROR;
    goto done;
  }
  if( !sqlite3_stmt_readonly(st) ){
    set_error(errmsg, "%s", "may only read: it writes to the database");
    rc = SQLITE_AUTH;
    goto done;
  }
  if( sqlite3_column_count(st)==0 ){
    set_error(errmsg, "%s", "returns no columns (it must be a SELECT)");
    rc = SQLITE_ERROR;
    goto done;
  }
done:
  for(int i = 0; i < a.ndirectonly; i++) sqlite3_free(a.directonly[i]);
  sqlite3_free(a.directonly);
  if( rc==SQLITE_OK ) *out = st;
  else sqlite3_finalize(st);
  return rc;
}
