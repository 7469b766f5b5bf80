/*
** lf_plot.c — SVG line charts of pipeline histories (lf_plot.h).
*/
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "lf_plot.h"
#include "lf_ckpt.h"
#include "lf_ppl.h"
#include "lf_sync.h"
#include "lf_util.h"

/* ---- drawing ------------------------------------------------------------ */

/* Colours of matplotlib's tab10, so charts look familiar. */
static const char *const palette[] = {
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};
#define NPALETTE (int)(sizeof palette / sizeof palette[0])

static void append_escaped(sqlite3_str *s, const char *t){
  for(; *t; t++){
    switch( *t ){
      case '&': sqlite3_str_appendall(s, "&amp;"); break;
      case '<': sqlite3_str_appendall(s, "&lt;"); break;
      case '>': sqlite3_str_appendall(s, "&gt;"); break;
      case '"': sqlite3_str_appendall(s, "&quot;"); break;
      default: sqlite3_str_appendchar(s, 1, *t);
    }
  }
}

/* Ticks at multiples of a 1-2-5 step covering [lo, hi], about `want` of
** them. The axis range becomes the outer ticks. */
typedef struct ticks {
  double lo, hi, step;
  int n, decimals;
} ticks;

static void nice_ticks(double lo, double hi, int want, int integer, ticks *t){
  if( !(hi > lo) ){
    double pad = integer ? 1 : (fabs(lo) > 0 ? fabs(lo) * 0.1 : 1);
    lo -= pad;
    hi += pad;
    if( integer && lo < 0 && lo + pad >= 0 ) lo = 0;
  }
  double raw = (hi - lo) / (want > 1 ? want - 1 : 1);
  double mag = pow(10, floor(log10(raw)));
  double f = raw / mag;
  double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  if( integer && step < 1 ) step = 1;
  t->step = step;
  t->lo = floor(lo / step + 1e-9) * step;
  t->hi = ceil(hi / step - 1e-9) * step;
  if( t->hi <= t->lo ) t->hi = t->lo + step;
  t->n = (int)floor((t->hi - t->lo) / step + 0.5) + 1;
  int k = (int)floor(log10(step) + 1e-9);
  t->decimals = k < 0 ? -k : 0;
  if( t->decimals > 12 ) t->decimals = 12;
}

static void tick_label(const ticks *t, int i, char buf[48]){
  double v = t->lo + i * t->step;
  if( fabs(v) < t->step * 1e-9 ) v = 0;   /* no "-0.0" */
  double a = fabs(v);
  if( a != 0 && (a >= 1e6 || a < 1e-4) ) snprintf(buf, 48, "%.3g", v);
  else snprintf(buf, 48, "%.*f", t->decimals, v);
}

char *lf_svg_chart(const char *title, const char *xlabel, const char *ylabel,
                   int nseries, const char *const *names, const int *npts,
                   const double *const *xs, const double *const *ys, int x_integer){
  /* Layout: plot area on the left, legend on the right. */
  const double left = 80, top = 50, plot_w = 540;
  double W = 820, H = 480;
  /* Room for the longest legend entry (about 8 px a character at 13 px). */
  for(int i=0; i<nseries; i++){
    double need = left + plot_w + 25 + 30 + 8.0 * (double)strlen(names[i]) + 10;
    if( need > W ) W = need;
  }
  if( 70 + 20.0 * nseries > H ) H = 70 + 20.0 * nseries;
  const double plot_h = H - top - 70;
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for(int i=0; i<nseries; i++){
    for(int k=0; k<npts[i]; k++){
      if( xs[i][k] < xlo ) xlo = xs[i][k];
      if( xs[i][k] > xhi ) xhi = xs[i][k];
      if( ys[i][k] < ylo ) ylo = ys[i][k];
      if( ys[i][k] > yhi ) yhi = ys[i][k];
    }
  }
  if( !isfinite(xlo) ){ xlo = 0; xhi = 1; ylo = 0; yhi = 1; }
  ticks tx, ty;
  nice_ticks(xlo, xhi, 8, x_integer, &tx);
  /* A little room above and below, so no line runs along the frame. */
  if( yhi > ylo ){
    double pad = (yhi - ylo) * 0.03;
    ylo -= pad;
    yhi += pad;
  }
  nice_ticks(ylo, yhi, 6, 0, &ty);
#define PX(v) (left + ((v) - tx.lo) / (tx.hi - tx.lo) * plot_w)
#define PY(v) (top + plot_h - ((v) - ty.lo) / (ty.hi - ty.lo) * plot_h)
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendf(s,
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%g\" height=\"%g\" "
    "viewBox=\"0 0 %g %g\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
    "<rect x=\"0\" y=\"0\" width=\"%g\" height=\"%g\" fill=\"white\"/>\n", W, H, W, H, W, H);
  sqlite3_str_appendf(s, "<text class=\"title\" x=\"%g\" y=\"28\" font-size=\"17\" text-anchor=\"middle\">",
                      left + plot_w / 2);
  append_escaped(s, title);
  sqlite3_str_appendall(s, "</text>\n");
  /* Grid and ticks. */
  sqlite3_str_appendall(s, "<g class=\"x-axis\" font-size=\"12\" text-anchor=\"middle\">\n");
  for(int i=0; i<tx.n; i++){
    double v = tx.lo + i * tx.step, px = PX(v);
    char lab[48];
    tick_label(&tx, i, lab);
    sqlite3_str_appendf(s,
      "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e5e5e5\"/>"
      "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>"
      "<text class=\"tick\" x=\"%.2f\" y=\"%.2f\">%s</text>\n",
      px, top, px, top + plot_h, px, top + plot_h, px, top + plot_h + 5, px, top + plot_h + 19, lab);
  }
  sqlite3_str_appendf(s, "<text class=\"axis-title\" x=\"%g\" y=\"%g\" font-size=\"14\">",
                      left + plot_w / 2, top + plot_h + 45);
  append_escaped(s, xlabel);
  sqlite3_str_appendall(s, "</text>\n</g>\n<g class=\"y-axis\" font-size=\"12\" text-anchor=\"end\">\n");
  for(int i=0; i<ty.n; i++){
    double v = ty.lo + i * ty.step, py = PY(v);
    char lab[48];
    tick_label(&ty, i, lab);
    sqlite3_str_appendf(s,
      "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e5e5e5\"/>"
      "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>"
      "<text class=\"tick\" x=\"%.2f\" y=\"%.2f\">%s</text>\n",
      left, py, left + plot_w, py, left - 5, py, left, py, left - 8, py + 4, lab);
  }
  sqlite3_str_appendf(s, "<text class=\"axis-title\" x=\"%g\" y=\"%g\" font-size=\"14\" text-anchor=\"middle\" "
                      "transform=\"rotate(-90 %g %g)\">", 22.0, top + plot_h / 2, 22.0, top + plot_h / 2);
  append_escaped(s, ylabel);
  sqlite3_str_appendall(s, "</text>\n</g>\n");
  /* Axes on top of the grid. */
  sqlite3_str_appendf(s, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n",
                      left, top, plot_w, plot_h);
  /* One polyline per series, then its points. */
  for(int i=0; i<nseries; i++){
    const char *col = palette[i % NPALETTE];
    const char *dash = (i / NPALETTE) % 2 ? " stroke-dasharray=\"6 3\"" : "";
    sqlite3_str_appendf(s, "<g class=\"series\"><title>");
    append_escaped(s, names[i]);
    sqlite3_str_appendf(s, "</title>\n<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", col, dash);
    for(int k=0; k<npts[i]; k++){
      sqlite3_str_appendf(s, "%s%.2f,%.2f", k ? " " : "", PX(xs[i][k]), PY(ys[i][k]));
    }
    sqlite3_str_appendall(s, "\"/>\n");
    if( npts[i] <= 60 ){
      for(int k=0; k<npts[i]; k++){
        sqlite3_str_appendf(s, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>", PX(xs[i][k]), PY(ys[i][k]), col);
      }
      sqlite3_str_appendchar(s, 1, '\n');
    }
    sqlite3_str_appendall(s, "</g>\n");
  }
  /* Legend. */
  double lx = left + plot_w + 25;
  sqlite3_str_appendf(s, "<g class=\"legend\" font-size=\"13\">\n");
  for(int i=0; i<nseries; i++){
    double ly = top + 10 + 20.0 * i;
    const char *dash = (i / NPALETTE) % 2 ? " stroke-dasharray=\"6 3\"" : "";
    sqlite3_str_appendf(s, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"3\"%s/>"
                        "<text x=\"%g\" y=\"%g\">", lx, ly, lx + 24, ly, palette[i % NPALETTE], dash, lx + 30, ly + 4);
    append_escaped(s, names[i]);
    sqlite3_str_appendall(s, "</text>\n");
  }
  sqlite3_str_appendall(s, "</g>\n</svg>\n");
#undef PX
#undef PY
  if( sqlite3_str_errcode(s) ){
    sqlite3_free(sqlite3_str_finish(s));
    return NULL;
  }
  char *t = sqlite3_str_finish(s);
  char *out = t ? strdup(t) : NULL;
  sqlite3_free(t);
  return out;
}

/* ---- data --------------------------------------------------------------- */

static int col_index(char **names, int n, const char *name){
  for(int i=0; i<n; i++) if( strcmp(names[i], name)==0 ) return i;
  return -1;
}

/* Adds column c to the wanted list once. */
static void want_col(int *want, int *nwant, int c){
  for(int i=0; i<*nwant; i++) if( want[i]==c ) return;
  want[(*nwant)++] = c;
}

/* Parses metrics into column indices. */
static int parse_metrics(const char *text, char **names, int ncols, int *want, int *nwant,
                         char *err, size_t n){
  *nwant = 0;
  if( !text ){
    for(int c=0; c<ncols; c++){
      size_t l = strlen(names[c]);
      if( l < 9 || strcmp(names[c] + l - 9, "_duration") != 0 ) want_col(want, nwant, c);
    }
    return 0;
  }
  cJSON *a = NULL;
  const char *p = text;
  while( *p==' ' ) p++;
  if( *p=='[' ){
    a = cJSON_Parse(text);
    if( !cJSON_IsArray(a) ){
      cJSON_Delete(a);
      snprintf(err, n, "metrics must be a name or a JSON array of names; '%.60s' is not valid JSON", text);
      return -1;
    }
  }
  int count = a ? cJSON_GetArraySize(a) : 1;
  for(int i=0; i<count; i++){
    const cJSON *e = a ? cJSON_GetArrayItem(a, i) : NULL;
    const char *m = a ? (cJSON_IsString(e) ? e->valuestring : NULL) : text;
    if( !m ){ cJSON_Delete(a); snprintf(err, n, "metrics[%d] must be a name", i); return -1; }
    int c = col_index(names, ncols, m);
    if( c >= 0 ){ want_col(want, nwant, c); continue; }
    char tn[128], vn[128];
    snprintf(tn, sizeof tn, "train_%s", m);
    snprintf(vn, sizeof vn, "val_%s", m);
    int ct = col_index(names, ncols, tn), cv = col_index(names, ncols, vn);
    if( ct < 0 && cv < 0 ){
      char known[1024] = "";
      for(int k=0; k<ncols; k++){
        size_t l = strlen(known);
        snprintf(known + l, sizeof known - l, "%s%s", k ? ", " : "", names[k]);
      }
      snprintf(err, n, "unknown metric '%.60s' (history columns: %s)", m, known);
      cJSON_Delete(a);
      return -1;
    }
    if( ct >= 0 ) want_col(want, nwant, ct);
    if( cv >= 0 ) want_col(want, nwant, cv);
  }
  cJSON_Delete(a);
  if( *nwant==0 ){ snprintf(err, n, "metrics is an empty list"); return -1; }
  return 0;
}

char *lf_plot(sqlite3 *db, const lf_pplist *ids_in, const char *metrics,
              const char *out_dir, const char *x, char *err, size_t n){
  lf_settings s;
  if( lf_project_settings(db, &s, err, n) ) return NULL;
  char **names = NULL;
  int ncols = 0;
  lf_pplist all = {0};
  const lf_pplist *ids = ids_in;
  lf_hist *h = NULL;
  unsigned char *has = NULL;       /* has[p*ncols + c]: pipeline p has column c */
  int *want = NULL, nwant = 0;
  char *dir = NULL, *result = NULL;
  char **tmp = NULL, **final = NULL;
  char **svg = NULL;
  int nfiles = 0, made_dir = 0, in_read = 0;
  const char **lnames = NULL;      /* one chart's series, reused */
  int *npts = NULL;
  double **xs = NULL, **ys = NULL;
  cJSON *list = NULL;
  if( lf_history_names(&s, &names, &ncols) ){ snprintf(err, n, "out of memory"); goto done; }
  int xc = -1;
  if( strcmp(x, "epoch") != 0 ){
    xc = col_index(names, ncols, x);
    if( xc < 0 ){ snprintf(err, n, "x must be 'epoch' or a history column, not '%.60s'", x); goto done; }
  }
  want = malloc(sizeof(int) * (size_t)ncols);
  if( !want ){ snprintf(err, n, "out of memory"); goto done; }
  if( parse_metrics(metrics, names, ncols, want, &nwant, err, n) ) goto done;
  if( lf_exec(db, "SAVEPOINT lf_plot", err, n) ) goto done;
  in_read = 1;
  if( !ids ){
    if( lf_pplist_all(db, &all, err, n) ) goto done;
    ids = &all;
  }else{
    for(int i=0; i<ids->n; i++){
      int ex = lf_ppl_exists(db, ids->ids[i], err, n);
      if( ex < 0 ) goto done;
      if( !ex ){ snprintf(err, n, "no pipeline '%s' in this project", ids->ids[i]); goto done; }
    }
  }
  h = calloc((size_t)(ids->n ? ids->n : 1), sizeof *h);
  has = calloc((size_t)(ids->n ? ids->n : 1) * (size_t)ncols, 1);
  if( !h || !has ){ snprintf(err, n, "out of memory"); goto done; }
  for(int p=0; p<ids->n; p++){
    if( lf_hist_read(db, ids->ids[p], names, ncols, &h[p], err, n) ) goto done;
    for(int r=0; r<h[p].nrows; r++){
      for(int c=0; c<ncols; c++) has[(size_t)p*ncols + c] |= h[p].present[(size_t)r*ncols + c];
    }
  }
  lf_exec(db, "RELEASE lf_plot", err, n);
  in_read = 0;

  /* A chart per wanted column, from the pipelines whose column group has it. */
  svg = calloc((size_t)nwant, sizeof(char*));
  tmp = calloc((size_t)nwant, sizeof(char*));
  final = calloc((size_t)nwant, sizeof(char*));
  dir = lf_project_resolve_path(db, out_dir);
  if( !svg || !tmp || !final || !dir ){ snprintf(err, n, "out of memory"); goto done; }
  size_t np = (size_t)(ids->n ? ids->n : 1);
  lnames = malloc(sizeof(char*) * np);
  npts = malloc(sizeof(int) * np);
  xs = malloc(sizeof(double*) * np);
  ys = malloc(sizeof(double*) * np);
  if( !lnames || !npts || !xs || !ys ){ snprintf(err, n, "out of memory"); goto done; }
  for(int w=0; w<nwant; w++){
    int c = want[w];
    int ns = 0, oom = 0;
    for(int p=0; p<ids->n; p++){
      if( !has[(size_t)p*ncols + c] || (xc >= 0 && !has[(size_t)p*ncols + xc]) ) continue;
      const lf_hist *hp = &h[p];
      xs[ns] = malloc(sizeof(double) * (size_t)hp->nrows);
      ys[ns] = malloc(sizeof(double) * (size_t)hp->nrows);
      if( !xs[ns] || !ys[ns] ){ free(xs[ns]); free(ys[ns]); oom = 1; break; }
      int k = 0;
      for(int r=0; r<hp->nrows; r++){
        size_t at = (size_t)r*ncols;
        if( !hp->present[at + c] || (xc >= 0 && !hp->present[at + xc]) ) continue;
        xs[ns][k] = xc >= 0 ? hp->v[at + xc] : hp->epochs[r];
        ys[ns][k] = hp->v[at + c];
        k++;
      }
      npts[ns] = k;
      lnames[ns] = ids->ids[p];
      ns++;
    }
    if( !oom && ns > 0 ){
      char title[256];
      snprintf(title, sizeof title, "%s by %s", names[c], x);
      svg[w] = lf_svg_chart(title, x, names[c], ns, lnames, npts,
                            (const double *const *)xs, (const double *const *)ys, xc < 0);
      if( !svg[w] ) oom = 1;
    }
    for(int i=0; i<ns; i++){ free(xs[i]); free(ys[i]); }
    if( oom ){ snprintf(err, n, "out of memory"); goto done; }
    if( ns==0 && metrics ){
      snprintf(err, n, "nothing to plot for '%s': none of the pipelines has it (train them first)", names[c]);
      goto done;
    }
  }
  for(int w=0; w<nwant; w++) if( svg[w] ) nfiles++;
  if( nfiles==0 ){
    snprintf(err, n, "nothing to plot: the pipelines have no history yet (train them first)");
    goto done;
  }
  /* Files: every chart to a temp name first, then the renames. */
  made_dir = !lf_path_exists(dir);
  if( lf_mkdirs(dir, err, n) ) goto done;
  for(int w=0; w<nwant; w++){
    if( !svg[w] ) continue;
    char name[160];
    snprintf(name, sizeof name, "%s.svg", names[want[w]]);
    final[w] = lf_path_join(dir, name);
    snprintf(name, sizeof name, ".%s.svg.tmp-%ld", names[want[w]], (long)getpid());
    tmp[w] = lf_path_join(dir, name);
    if( !final[w] || !tmp[w] ){ snprintf(err, n, "out of memory"); goto fail_files; }
    if( lf_write_file_atomic(tmp[w], svg[w], strlen(svg[w]), err, n) ){
      free(tmp[w]);
      tmp[w] = NULL;
      goto fail_files;
    }
  }
  list = cJSON_CreateArray();
  for(int w=0; w<nwant; w++){
    if( !tmp[w] ) continue;
    if( rename(tmp[w], final[w]) != 0 ){
      snprintf(err, n, "cannot write %s: %s", final[w], strerror(errno));
      goto fail_files;
    }
    free(tmp[w]);
    tmp[w] = NULL;
    cJSON_AddItemToArray(list, cJSON_CreateString(final[w]));
  }
  result = cJSON_PrintUnformatted(list);
  if( !result ) snprintf(err, n, "out of memory");
  goto done;
fail_files:
  for(int w=0; w<nwant; w++) if( tmp[w] ) unlink(tmp[w]);
  if( made_dir ) rmdir(dir);
done:
  if( in_read ){
    char e2[64];
    lf_exec(db, "RELEASE lf_plot", e2, sizeof e2);
  }
  cJSON_Delete(list);
  for(int w=0; svg && w<nwant; w++) free(svg[w]);
  for(int w=0; tmp && w<nwant; w++) free(tmp[w]);
  for(int w=0; final && w<nwant; w++) free(final[w]);
  free(svg); free(tmp); free(final);
  free(lnames); free(npts); free(xs); free(ys);
  free(dir);
  if( h ) for(int p=0; p<ids->n; p++) lf_hist_free(&h[p]);
  free(h);
  free(has);
  free(want);
  lf_pplist_free(&all);
  if( names ) lf_history_names_free(names, ncols);
  lf_settings_free(&s);
  return result;
}
