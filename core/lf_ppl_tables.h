/*
** lf_ppl_tables.h — the per-pipeline tables of sql/schema.sql, in one
** list: what ppl_archive moves to and from their archived_ twins,
** ppl_delete_archived empties and a bundle (ppl_transfer) carries.
** tests/c/test_ppl_tables.c checks the list against schema.sql.
*/
#ifndef LF_PPL_TABLES_H
#define LF_PPL_TABLES_H

typedef struct lf_ppl_table {
  const char *name;        /* the table in main (archived_<name> its twin) */
  const char *key;         /* the column holding the pplid */
  const char *cols;        /* every column, in schema order */
  int ncols;
  int rowid;               /* a rowid table whose rowid order archiving keeps */
  int optional;            /* added to the bundle format later, so a bundle
                              written before may lack it (format_version
                              stays 1: readers that do not know the table
                              ignore it) */
} lf_ppl_table;

#define LF_PPL_NTABLES 7
extern const lf_ppl_table lf_ppl_tables[LF_PPL_NTABLES];

#endif
