/*
** fuzz_bundle.c — libFuzzer harness for the bundle reader: the input is
** written as a bundle file and imported into a scratch project with
** lf_transfer_import (manifest and format checks, path checks, weight-file
** checksums, config validation). A bundle that imports resets the project.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lf_project.h"
#include "lf_transfer.h"

static char dir[64], dbpath[96], bundle[96];
static sqlite3 *db;

static void reset(void){
  char cmd[160], err[512];
  int created;
  if( db ) sqlite3_close(db);
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
  if( system(cmd) != 0 ) abort();
  /* The data the seed bundle's config names (relative to the project). */
  char csv[128];
  snprintf(csv, sizeof csv, "%s/d.csv", dir);
  FILE *f = fopen(csv, "w");
  if( !f ) abort();
  fputs("a,b,c,d,label\n", f);
  for(int i=0; i<16; i++) fprintf(f, "%d,%d,%d,%d,%d\n", i%3, i%5, i%7, i%2, (i%3 + i%2) % 2);
  fclose(f);
  if( sqlite3_open(dbpath, &db) != SQLITE_OK ) abort();
  char *art = lf_project_init(db, "{\"metrics\":[\"accuracy\"],\"progress\":false}", &created, err, sizeof err);
  if( !art ){ fprintf(stderr, "lab_init: %s\n", err); abort(); }
  free(art);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  if( !dir[0] ){
    snprintf(dir, sizeof dir, "/tmp/lf-fuzz-bundle-%ld", (long)getpid());
    snprintf(dbpath, sizeof dbpath, "%s/p.db", dir);
    snprintf(bundle, sizeof bundle, "/tmp/lf-fuzz-bundle-%ld.lfbundle", (long)getpid());
    reset();
  }
  FILE *f = fopen(bundle, "wb");
  if( !f ) abort();
  if( size ) fwrite(data, 1, size, f);
  fclose(f);
  char err[2048];
  int n = lf_transfer_import(db, NULL, 0, bundle, NULL, err, sizeof err);
  if( n > 0 ) reset();
  unlink(bundle);
  return 0;
}
