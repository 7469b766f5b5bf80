/*
** lf_ppl_tables.c — the per-pipeline tables (lf_ppl_tables.h).
*/
#include "lf_ppl_tables.h"

const lf_ppl_table lf_ppl_tables[LF_PPL_NTABLES] = {
  {"ppls", "pplid", "pplid, config, config_hash, status, created_time", 5, 1, 0},
  {"ppl_state", "pplid", "pplid, last_epoch, best_epoch, best_value, classes", 5, 0, 0},
  {"history", "pplid", "pplid, epoch, name, value", 4, 0, 0},
  {"ppl_edges", "child", "child, base, patch", 3, 0, 0},
  {"ppl_weight_files", "pplid", "pplid, epoch, bytes", 3, 0, 0},
  {"ppl_tags", "pplid", "pplid, key, value", 3, 0, 1},
  {"ppl_plugins", "pplid", "pplid, plugin, version, sha256", 4, 0, 1},
};
