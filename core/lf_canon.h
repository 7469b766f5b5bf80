/*
** lf_canon.h — canonical JSON and the config hash.
**
** Canonical form: objects with keys sorted by their UTF-8 bytes, no
** whitespace, strings with only the escapes JSON requires (", \\, control
** characters as \u00XX except \b \f \n \r \t) and non-ASCII kept as UTF-8,
** numbers normalised: an integral value in [-2^53, 2^53] is printed as an
** integer (so 1, 1.0 and 1e0 are the same), any other as the shortest
** "%.17g"-family text that parses back to the same double.
*/
#ifndef LF_CANON_H
#define LF_CANON_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

/* malloc'ed canonical text of v; NULL on out of memory. */
char *lf_canon_json(const cJSON *v);

/* hex SHA-256 of the canonical form of v into hex[65]; 0 or -1 (OOM). */
int lf_config_hash(const cJSON *v, char hex[65]);

/* The form of the identity stored config hashes have (lab_meta
** 'config_hash_form'; lf_config_identity_hash in lf_config.h): 2 filled in
** only the numeric defaults, 3 all defaults but a Graph's inputs, 4 (now)
** all of them. A project of an older form is rehashed once on load. */
#define LF_CONFIG_HASH_FORM 4
#define LF_CONFIG_HASH_FORM_TEXT "4"

#endif
