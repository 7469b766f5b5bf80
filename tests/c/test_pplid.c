/*
** test_pplid.c — pplid validation and its error messages.
*/
#include "../../core/lf_pplid.h"
#include "lf_test.h"

/* Checks one id: want_err NULL means valid, else the exact message. */
static void check_id(const char *name, const char *s, int nbytes,
                     const char *want_err){
  char err[256] = "";
  int rc = lf_pplid_check(s, nbytes, err, sizeof err);
  if( want_err == NULL ){
    CHECK(rc == 0 && err[0] == 0, "pplid %s accepted (got %d '%s')",
          name, rc, err);
  }else{
    CHECK(rc == -1 && strcmp(err, want_err) == 0,
          "pplid %s refused (got %d '%s')", name, rc, err);
  }
}

int main(void){
  char id[200];

  check_id("a.b-c_D9", "a.b-c_D9", 8, NULL);
  check_id("single char", "x", 1, NULL);
  check_id("dots inside", "run..2", 6, NULL);
  check_id("nbytes -1 means strlen", "abc", -1, NULL);

  check_id("../x", "../x", 4, "invalid pplid '../x': must not start with '.'");
  check_id(".hidden", ".hidden", 7,
           "invalid pplid '.hidden': must not start with '.'");
  check_id("a/b", "a/b", 3, "invalid pplid 'a/b': character '/' not allowed "
           "(use A-Z a-z 0-9 _ . -)");
  check_id("space", "a b", 3, "invalid pplid 'a b': character ' ' not allowed "
           "(use A-Z a-z 0-9 _ . -)");
  check_id("empty", "", 0, "invalid pplid '': empty");
  check_id("SQL NULL", NULL, 0, "invalid pplid '': empty");

  /* 128 is the limit. */
  memset(id, 'a', sizeof id);
  id[128] = 0;
  check_id("128 chars", id, 128, NULL);
  id[128] = 'a';
  id[129] = 0;
  check_id("129 chars", id, 129,
           "invalid pplid 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': "
           "longer than 128 characters");

  /* The NUL is inside the nbytes SQLite reported: refused, and shown. */
  check_id("embedded NUL", "ab\0cd", 5,
           "invalid pplid 'ab\\x00cd': contains a NUL byte");

  /* Non-ASCII: the whole UTF-8 character is named, bytes escaped. */
  check_id("unicode", "r\xC3\xBCn", 4,
           "invalid pplid 'r\\xC3\\xBCn': character '\\xC3\\xBC' not allowed "
           "(use A-Z a-z 0-9 _ . -)");
  check_id("emoji", "\xF0\x9F\x98\x80", 4,
           "invalid pplid '\\xF0\\x9F\\x98\\x80': character "
           "'\\xF0\\x9F\\x98\\x80' not allowed (use A-Z a-z 0-9 _ . -)");
  /* Quote, backslash and control bytes cannot break out of the quotes. */
  check_id("quote", "a'b", 3, "invalid pplid 'a\\x27b': character '\\x27' "
           "not allowed (use A-Z a-z 0-9 _ . -)");
  check_id("newline", "a\nb\\", 4, "invalid pplid 'a\\x0Ab\\x5C': character "
           "'\\x0A' not allowed (use A-Z a-z 0-9 _ . -)");
  /* Long bad input: truncated to 40 bytes in the message. */
  memset(id, '/', 100);
  check_id("long junk", id, 100,
           "invalid pplid '////////////////////////////////////////...': "
           "character '/' not allowed (use A-Z a-z 0-9 _ . -)");

  /* err may be absent; a too-small err is truncated, not overrun. */
  CHECK(lf_pplid_check("a/b", 3, NULL, 0) == -1, "pplid NULL err buffer");
  {
    char small[8];
    CHECK(lf_pplid_check("a/b", 3, small, sizeof small) == -1
          && strcmp(small, "invalid") == 0, "pplid small err buffer");
  }

  TEST_EXIT();
}
