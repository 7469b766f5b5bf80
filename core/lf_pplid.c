/*
** lf_pplid.c — is a string a valid pplid? (rules in lf_pplid.h)
**
** Error messages echo the refused id, which came from the user and may hold
** anything: it is shown truncated, with every byte outside printable ASCII
** (and the quote and backslash, so the text stays unambiguous) as \xNN.
*/
#include "lf_pplid.h"
#include "lf_db.h"

#include <stdio.h>
#include <string.h>

#define LF_PPLID_MAX 128       /* longest valid pplid, in characters */
#define LF_PPLID_SHOWN 40      /* bytes of a refused id echoed in errors */

static int lf_pplid_char_ok(unsigned char c){
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
      || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Writes n bytes of s into out[outlen] safely, NUL-terminated. */
static void lf_pplid_show(const unsigned char *s, size_t n,
                          char *out, size_t outlen){
  size_t i, k = 0;
  for(i = 0; i < n && k + 5 <= outlen; i++){
    unsigned char c = s[i];
    if( c >= 0x20 && c < 0x7f && c != '\'' && c != '\\' ){
      out[k++] = (char)c;
    }else{
      snprintf(out + k, outlen - k, "\\x%02X", c);
      k += 4;
    }
  }
  out[k] = 0;
}

/* Bytes in the UTF-8 sequence starting at s[0] (1 for a stray byte), so a
** refused non-ASCII character is echoed whole. */
static size_t lf_pplid_seqlen(const unsigned char *s, size_t avail){
  size_t want = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 1;
  size_t n = 1;
  while( n < want && n < avail && (s[n] & 0xC0) == 0x80 ) n++;
  return n;
}

int lf_pplid_check(const char *s, int nbytes, char *err, size_t errlen){
  const unsigned char *u = (const unsigned char *)(s ? s : "");
  size_t n = nbytes < 0 ? strlen((const char *)u) : (size_t)nbytes;
  char shown[LF_PPLID_SHOWN * 4 + 4], ch[4 * 4 + 1];
  char reason[80];
  size_t i;

  if( s == NULL ) n = 0;
  reason[0] = 0;
  if( n == 0 ){
    snprintf(reason, sizeof reason, "empty");
  }else if( memchr(u, 0, n) ){
    snprintf(reason, sizeof reason, "contains a NUL byte");
  }else if( u[0] == '.' ){
    snprintf(reason, sizeof reason, "must not start with '.'");
  }else{
    /* Characters before length: a long non-ASCII id is refused for what it
    ** contains, not for a "length" that counts bytes. */
    for(i = 0; i < n && lf_pplid_char_ok(u[i]); i++){}
    if( i < n ){
      lf_pplid_show(u + i, lf_pplid_seqlen(u + i, n - i), ch, sizeof ch);
      snprintf(reason, sizeof reason,
               "character '%s' not allowed (use A-Z a-z 0-9 _ . -)", ch);
    }else if( n > LF_PPLID_MAX ){
      snprintf(reason, sizeof reason, "longer than %d characters",
               LF_PPLID_MAX);
    }
  }
  if( reason[0] == 0 ) return 0;

  if( err && errlen ){
    lf_pplid_show(u, n < LF_PPLID_SHOWN ? n : LF_PPLID_SHOWN,
                  shown, sizeof shown);
    snprintf(err, errlen, "invalid pplid '%s%s': %s", shown,
             n > LF_PPLID_SHOWN ? "..." : "", reason);
  }
  return -1;
}

/* ---- pplids read back from a database --------------------------------- */

const char *lf_pplid_column(sqlite3_stmt *st, int col, const char *table, char *err, size_t errlen){
  int type = sqlite3_column_type(st, col);
  if( type != SQLITE_TEXT ){
    char shown[64] = "";
    if( type==SQLITE_INTEGER || type==SQLITE_FLOAT ){
      snprintf(shown, sizeof shown, " (%.30s)", (const char*)sqlite3_column_text(st, col));
    }
    snprintf(err, errlen, "%s has a row whose pplid is %s%s: a pplid must be text (the database was changed "
             "outside LabFlow: remove or fix that row)", table, lf_sqlite_type_name(type), shown);
    return NULL;
  }
  const char *s = (const char*)sqlite3_column_text(st, col);
  char why[256];
  if( !s || lf_pplid_check(s, sqlite3_column_bytes(st, col), why, sizeof why) ){
    snprintf(err, errlen, "%s has a row with an %s", table, s ? why : "unreadable pplid (out of memory)");
    return NULL;
  }
  return s;
}
