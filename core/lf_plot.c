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
#include "lf_txn.h"
#include "lf_ckpt.h"
#include "lf_ppl.h"
#include "lf_query.h"
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
  int log;                 /* values are log10 of the data: labels 10^v */
} ticks;

static void nice_ticks(double lo, double hi, int want, int integer, ticks *t){
  t->log = 0;
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

/* Log axis (lo, hi are log10 of the data): ticks at whole decades, every
** second or third one when there are many. */
static void log_ticks(double lo, double hi, ticks *t){
  if( !(hi > lo) ){ lo -= 0.5; hi += 0.5; }
  t->log = 1;
  t->lo = floor(lo + 1e-9);
  t->hi = ceil(hi - 1e-9);
  if( t->hi <= t->lo ) t->hi = t->lo + 1;
  double decades = t->hi - t->lo;
  t->step = decades > 12 ? 3 : decades > 6 ? 2 : 1;
  t->hi = t->lo + ceil(decades / t->step - 1e-9) * t->step;
  t->n = (int)floor((t->hi - t->lo) / t->step + 0.5) + 1;
  t->decimals = 0;
}

/* The ticks are the multiples of the step within [lo, hi]. */
static int tick_count(const ticks *t){
  double k0 = ceil(t->lo / t->step - 1e-9), k1 = floor(t->hi / t->step + 1e-9);
  return k1 >= k0 ? (int)(k1 - k0) + 1 : 0;
}

static double tick_value(const ticks *t, int i){
  return (ceil(t->lo / t->step - 1e-9) + i) * t->step;
}

static void tick_label(const ticks *t, double v, char buf[48]){
  if( t->log ){ snprintf(buf, 48, "%g", pow(10, v)); return; }
  if( fabs(v) < t->step * 1e-9 ) v = 0;   /* no "-0.0" */
  double a = fabs(v);
  if( a != 0 && (a >= 1e6 || a < 1e-4) ) snprintf(buf, 48, "%.3g", v);
  else snprintf(buf, 48, "%.*f", t->decimals, v);
}

static int cmp_double(const void *a, const void *b){
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

/* Quantile q of sorted v[0..n-1], linear between neighbours. */
static double quantile(const double *v, int n, double q){
  double at = q * (n - 1);
  int i = (int)floor(at);
  if( i >= n - 1 ) return v[n - 1];
  return v[i] + (at - i) * (v[i + 1] - v[i]);
}

/* The y range from the data: every value, unless a few outliers would
** squeeze the rest into a tenth of the chart; then the values inside
** Tukey's far-out fences (Q1 - 3 IQR, Q3 + 3 IQR). *clipped says which. */
static void robust_range(const double *sorted, int n, int clip, double *lo, double *hi, int *clipped){
  *lo = sorted[0];
  *hi = sorted[n - 1];
  *clipped = 0;
  if( !clip || n < 4 ) return;
  double q1 = quantile(sorted, n, 0.25), q3 = quantile(sorted, n, 0.75), iqr = q3 - q1;
  double flo = q1 - 3 * iqr, fhi = q3 + 3 * iqr;
  double clo = INFINITY, chi = -INFINITY;
  for(int i=0; i<n; i++){
    if( sorted[i] >= flo && sorted[i] <= fhi ){
      if( sorted[i] < clo ) clo = sorted[i];
      if( sorted[i] > chi ) chi = sorted[i];
    }
  }
  if( !(chi > clo) ) return;
  if( *hi - *lo > 10 * (chi - clo) ){
    *lo = clo;
    *hi = chi;
    *clipped = 1;
  }
}

/* Data to axis space (log10 on a log axis). */
static double axis_value(double v, int log_axis){
  return log_axis ? log10(v) : v;
}

char *lf_svg_chart(const char *title, const char *xlabel, const char *ylabel,
                   int nseries, const char *const *names, const int *npts,
                   const double *const *xs, const double *const *ys, const lf_chart_opts *o){
  /* Layout: plot area on the left, legend on the right. */
  const double left = 80, top = 58;
  double W = o->width > 0 ? o->width : 820, H = o->height > 0 ? o->height : 480;
  double legend_w = 0;
  for(int i=0; i<nseries; i++){
    /* About 7.5 px a character at 13 px. */
    double need = 30 + 7.5 * (double)strlen(names[i]) + 10;
    if( need > legend_w ) legend_w = need;
  }
  if( o->width <= 0 && 80 + 540 + 25 + legend_w > W ) W = 80 + 540 + 25 + legend_w;
  if( o->height <= 0 && 90 + 20.0 * nseries > H ) H = 90 + 20.0 * nseries;
  double plot_w = W - left - 25 - legend_w;
  if( plot_w < 120 ) plot_w = 120;
  const double plot_h = H - top - 70 > 60 ? H - top - 70 : 60;
  double xlo = INFINITY, xhi = -INFINITY;
  int ntotal = 0;
  for(int i=0; i<nseries; i++) ntotal += npts[i];
  double *sorted = malloc(sizeof(double) * (size_t)(ntotal ? ntotal : 1));
  if( !sorted ) return NULL;
  int nv = 0;
  for(int i=0; i<nseries; i++){
    for(int k=0; k<npts[i]; k++){
      double x = axis_value(xs[i][k], o->log_x), y = axis_value(ys[i][k], o->log_y);
      if( !isfinite(x) || !isfinite(y) ) continue;
      if( x < xlo ) xlo = x;
      if( x > xhi ) xhi = x;
      sorted[nv++] = y;
    }
  }
  double ylo = 0, yhi = 1;
  int clipped = 0;
  if( nv > 0 ){
    qsort(sorted, (size_t)nv, sizeof(double), cmp_double);
    robust_range(sorted, nv, o->clip && !o->has_ymin && !o->has_ymax, &ylo, &yhi, &clipped);
  }else{
    xlo = 0; xhi = 1;
  }
  free(sorted);
  ticks tx, ty;
  if( o->log_x ) log_ticks(xlo, xhi, &tx);
  else nice_ticks(xlo, xhi, 8, o->x_integer, &tx);
  /* A little room above and below, so no line runs along the frame. */
  if( yhi > ylo && !o->log_y ){
    double pad = (yhi - ylo) * 0.03;
    ylo -= pad;
    yhi += pad;
  }
  if( o->has_ymin ) ylo = axis_value(o->ymin, o->log_y);
  if( o->has_ymax ) yhi = axis_value(o->ymax, o->log_y);
  if( o->log_y ) log_ticks(ylo, yhi, &ty);
  else nice_ticks(ylo, yhi, 6, 0, &ty);
  /* A [0, 1] metric never gets an axis beyond [0, 1]. */
  if( o->unit_interval && !o->log_y ){
    if( ty.lo < 0 ) ty.lo = 0;
    if( ty.hi > 1 ) ty.hi = 1;
    if( ty.hi <= ty.lo ){ ty.lo = 0; ty.hi = 1; ty.step = 0.2; ty.decimals = 1; }
  }
  /* User limits are exact, not rounded out to ticks. */
  if( o->has_ymin ) ty.lo = axis_value(o->ymin, o->log_y);
  if( o->has_ymax ) ty.hi = axis_value(o->ymax, o->log_y);
#define PX(v) (left + ((v) - tx.lo) / (tx.hi - tx.lo) * plot_w)
#define PY(v) (top + plot_h - ((v) - ty.lo) / (ty.hi - ty.lo) * plot_h)
  sqlite3_str *s = sqlite3_str_new(NULL);
  sqlite3_str_appendf(s,
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%g\" height=\"%g\" "
    "viewBox=\"0 0 %g %g\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
    "<rect x=\"0\" y=\"0\" width=\"%g\" height=\"%g\" fill=\"white\"/>\n"
    "<defs><clipPath id=\"plot-area\"><rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\"/></clipPath></defs>\n",
    W, H, W, H, W, H, left, top, plot_w, plot_h);
  sqlite3_str_appendf(s, "<text class=\"title\" x=\"%g\" y=\"26\" font-size=\"17\" text-anchor=\"middle\">",
                      left + plot_w / 2);
  append_escaped(s, title);
  sqlite3_str_appendall(s, "</text>\n");
  /* Grid and ticks (only those inside the axis range). */
  sqlite3_str_appendall(s, "<g class=\"x-axis\" font-size=\"12\" text-anchor=\"middle\">\n");
  for(int i=0, nt = tick_count(&tx); i<nt; i++){
    double v = tick_value(&tx, i), px = PX(v);
    char lab[48];
    tick_label(&tx, v, lab);
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
  for(int i=0, nt = tick_count(&ty); i<nt; i++){
    double v = tick_value(&ty, i), py = PY(v);
    char lab[48];
    tick_label(&ty, v, lab);
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
  /* One polyline per series (clipped to the plot area), its points, and a
  ** triangle on the frame for each point outside the y range. */
  int above = 0, below = 0;
  for(int i=0; i<nseries; i++){
    const char *col = palette[i % NPALETTE];
    const char *dash = (i / NPALETTE) % 2 ? " stroke-dasharray=\"6 3\"" : "";
    sqlite3_str_appendf(s, "<g class=\"series\"><title>");
    append_escaped(s, names[i]);
    sqlite3_str_appendf(s, "</title>\n<polyline clip-path=\"url(#plot-area)\" fill=\"none\" stroke=\"%s\" "
                        "stroke-width=\"2\"%s points=\"", col, dash);
    int first = 1;
    for(int k=0; k<npts[i]; k++){
      double x = axis_value(xs[i][k], o->log_x), y = axis_value(ys[i][k], o->log_y);
      if( !isfinite(x) || !isfinite(y) ) continue;
      /* Far outside points are pulled to just beyond the frame so the
      ** line leaves the chart in the right direction. */
      double yy = y > ty.hi ? ty.hi + (ty.hi - ty.lo) * 0.05 : y < ty.lo ? ty.lo - (ty.hi - ty.lo) * 0.05 : y;
      sqlite3_str_appendf(s, "%s%.2f,%.2f", first ? "" : " ", PX(x), PY(yy));
      first = 0;
    }
    sqlite3_str_appendall(s, "\"/>\n");
    for(int k=0; k<npts[i]; k++){
      double x = axis_value(xs[i][k], o->log_x), y = axis_value(ys[i][k], o->log_y);
      if( !isfinite(x) || !isfinite(y) ) continue;
      double px = PX(x);
      if( y > ty.hi + 1e-12 || y < ty.lo - 1e-12 ){
        int up = y > ty.hi;
        double e = up ? top : top + plot_h, d = up ? 9 : -9;
        sqlite3_str_appendf(s, "<path class=\"outlier\" d=\"M%.2f %.2f L%.2f %.2f L%.2f %.2f Z\" fill=\"white\" "
                            "stroke=\"%s\" stroke-width=\"1.5\"><title>", px, e, px - 5, e + d, px + 5, e + d, col);
        append_escaped(s, names[i]);
        sqlite3_str_appendf(s, ": %g</title></path>", ys[i][k]);
        if( up ) above++; else below++;
      }else if( npts[i] <= 60 ){
        sqlite3_str_appendf(s, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>", px, PY(y), col);
      }
    }
    sqlite3_str_appendall(s, "\n</g>\n");
  }
  if( above || below ){
    sqlite3_str_appendf(s, "<text class=\"clip-note\" x=\"%g\" y=\"46\" font-size=\"12\" fill=\"#555\" "
                        "text-anchor=\"middle\">", left + plot_w / 2);
    if( above ) sqlite3_str_appendf(s, "%d point%s above", above, above > 1 ? "s" : "");
    if( above && below ) sqlite3_str_appendall(s, " and ");
    if( below ) sqlite3_str_appendf(s, "%d point%s below", below, below > 1 ? "s" : "");
    sqlite3_str_appendf(s, " the y range%s, marked on the frame</text>\n",
                        clipped ? " (outliers clipped; options {\"clip\": false} shows all)" : "");
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

/* ---- options ------------------------------------------------------------ */

static int parse_options(const char *json, lf_chart_opts *o, char *err, size_t n){
  memset(o, 0, sizeof *o);
  o->clip = 1;
  if( !json ) return 0;
  cJSON *j = cJSON_Parse(json);
  if( !cJSON_IsObject(j) ){
    cJSON_Delete(j);
    snprintf(err, n, "options must be a JSON object such as {\"width\": 900, \"log_y\": true, \"ymax\": 2}");
    return -1;
  }
  int rc = -1;
  for(const cJSON *e = j->child; e; e = e->next){
    const char *k = e->string;
    if( strcmp(k, "width")==0 || strcmp(k, "height")==0 ){
      if( !cJSON_IsNumber(e) || e->valuedouble < 200 || e->valuedouble > 10000 ){
        snprintf(err, n, "options: %s must be a number of pixels from 200 to 10000", k);
        goto done;
      }
      if( k[0]=='w' ) o->width = e->valuedouble; else o->height = e->valuedouble;
    }else if( strcmp(k, "log_x")==0 || strcmp(k, "log_y")==0 || strcmp(k, "clip")==0 ){
      if( !cJSON_IsBool(e) ){ snprintf(err, n, "options: %s must be true or false", k); goto done; }
      int v = cJSON_IsTrue(e);
      if( strcmp(k, "log_x")==0 ) o->log_x = v;
      else if( strcmp(k, "log_y")==0 ) o->log_y = v;
      else o->clip = v;
    }else if( strcmp(k, "ymin")==0 || strcmp(k, "ymax")==0 ){
      if( !cJSON_IsNumber(e) || !isfinite(e->valuedouble) ){
        snprintf(err, n, "options: %s must be a number", k);
        goto done;
      }
      if( k[1]=='m' && k[2]=='i' ){ o->has_ymin = 1; o->ymin = e->valuedouble; }
      else { o->has_ymax = 1; o->ymax = e->valuedouble; }
    }else{
      snprintf(err, n, "options: unknown key '%.40s' (known: width, height, log_x, log_y, ymin, ymax, clip)", k);
      goto done;
    }
  }
  if( o->has_ymin && o->has_ymax && !(o->ymax > o->ymin) ){
    snprintf(err, n, "options: ymax (%g) must be greater than ymin (%g)", o->ymax, o->ymin);
    goto done;
  }
  if( o->log_y && ((o->has_ymin && o->ymin <= 0) || (o->has_ymax && o->ymax <= 0)) ){
    snprintf(err, n, "options: with log_y, ymin and ymax must be greater than 0");
    goto done;
  }
  rc = 0;
done:
  cJSON_Delete(j);
  return rc;
}

/* ---- legends: what differs between the pipelines' configs ---------------- */

/* "optimizer>args>lr" -> "lr"; with more=1 the last two parts that are
** not "args" ("layers[2].out"); with more=2 every part but "args". */
static void short_key(const char *path, int more, char *out, size_t n){
  const char *parts[32];
  size_t lens[32];
  int np = 0;
  const char *p = path;
  while( *p && np < 32 ){
    const char *e = strchr(p, '>');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if( !(l==4 && strncmp(p, "args", 4)==0) ){ parts[np] = p; lens[np] = l; np++; }
    p = e ? e + 1 : p + l;
  }
  int from = more==0 ? np - 1 : more==1 ? np - 2 : 0;
  if( from < 0 ) from = 0;
  out[0] = 0;
  size_t k = 0;
  for(int i=from; i<np && k + 1 < n; i++){
    int w = snprintf(out + k, n - k, "%s%.*s", i > from ? "." : "", (int)lens[i], parts[i]);
    if( w < 0 ) break;
    k += (size_t)w;
    if( k >= n ) { out[n - 1] = 0; break; }
  }
}

static void value_text(const cJSON *v, char *out, size_t n){
  if( cJSON_IsString(v) ){ snprintf(out, n, "%s", v->valuestring); return; }
  char *t = cJSON_PrintUnformatted(v);
  snprintf(out, n, "%s", t ? t : "?");
  free(t);
}

#define LEGEND_KEYS 4
#define LEGEND_MAX 80

/* labels[p] = "<pplid>: key=value, ..." for the config keys whose values
** differ among the pipelines with has_any[p]; just the pplid when nothing
** differs. */
static int legend_labels(sqlite3 *db, const lf_pplist *ids, const unsigned char *has_any,
                         char **labels, char *err, size_t n){
  int np = ids->n, rc = -1;
  cJSON **cfg = calloc((size_t)(np ? np : 1), sizeof(cJSON*));
  lf_flat **fl = calloc((size_t)(np ? np : 1), sizeof(lf_flat*));
  int *nfl = calloc((size_t)(np ? np : 1), sizeof(int));
  char **diff = NULL;
  int ndiff = 0;
  if( !cfg || !fl || !nfl ){ snprintf(err, n, "out of memory"); goto done; }
  int shown = 0;
  for(int p=0; p<np; p++){
    if( !has_any[p] ) continue;
    shown++;
    char *text = lf_ppl_config(db, ids->ids[p], err, n);
    if( !text ) goto done;
    cfg[p] = cJSON_Parse(text);
    free(text);
    if( !cfg[p] || lf_json_flatten(cfg[p], &fl[p], &nfl[p]) ){ snprintf(err, n, "out of memory"); goto done; }
  }
  /* Keys (in the first config's order, then the others') whose value is
  ** not the same in every shown pipeline. */
  diff = calloc(1, sizeof(char*) * 256);
  if( !diff ){ snprintf(err, n, "out of memory"); goto done; }
  for(int p=0; p<np && shown > 1; p++){
    for(int i=0; i<nfl[p] && ndiff < 256; i++){
      const char *key = fl[p][i].key;
      int known = 0;
      for(int d=0; d<ndiff && !known; d++) known = strcmp(diff[d], key)==0;
      if( known ) continue;
      int differs = 0;
      for(int q=0; q<np && !differs; q++){
        if( !has_any[q] || q==p ) continue;
        const cJSON *other = NULL;
        for(int j=0; j<nfl[q]; j++) if( strcmp(fl[q][j].key, key)==0 ){ other = fl[q][j].value; break; }
        differs = !other || !lf_json_equal(other, fl[p][i].value);
      }
      if( differs ) diff[ndiff++] = fl[p][i].key;
    }
  }
  for(int p=0; p<np; p++){
    if( !has_any[p] ) continue;
    sqlite3_str *s = sqlite3_str_new(NULL);
    sqlite3_str_appendall(s, ids->ids[p]);
    int listed = 0;
    for(int d=0; d<ndiff; d++){
      const cJSON *v = NULL;
      for(int j=0; j<nfl[p]; j++) if( strcmp(fl[p][j].key, diff[d])==0 ){ v = fl[p][j].value; break; }
      if( !v ) continue;
      if( listed == LEGEND_KEYS ){ sqlite3_str_appendf(s, ", ..."); listed++; break; }
      /* The shortest key name no other differing key shares. */
      char name[128], other[128], val[64];
      int more = 0;
      for(; more < 2; more++){
        short_key(diff[d], more, name, sizeof name);
        int clash = 0;
        for(int e=0; e<ndiff && !clash; e++){
          if( e==d ) continue;
          short_key(diff[e], more, other, sizeof other);
          clash = strcmp(name, other)==0;
        }
        if( !clash ) break;
      }
      if( more==2 ) short_key(diff[d], 2, name, sizeof name);
      value_text(v, val, sizeof val);
      sqlite3_str_appendf(s, "%s%s=%s", listed ? ", " : ": ", name, val);
      listed++;
    }
    if( sqlite3_str_errcode(s) ){ sqlite3_free(sqlite3_str_finish(s)); snprintf(err, n, "out of memory"); goto done; }
    char *t = sqlite3_str_finish(s);
    size_t l = t ? strlen(t) : 0;
    if( l > LEGEND_MAX ) memcpy(t + LEGEND_MAX - 3, "...", 4);
    labels[p] = t ? strdup(t) : NULL;
    sqlite3_free(t);
    if( !labels[p] ){ snprintf(err, n, "out of memory"); goto done; }
  }
  rc = 0;
done:
  for(int p=0; p<np; p++){
    if( fl && fl[p] ) lf_flat_free(fl[p], nfl[p]);
    if( cfg ) cJSON_Delete(cfg[p]);
  }
  free(cfg); free(fl); free(nfl); free(diff);
  return rc;
}

/* 1 if the column's metric is one whose values lie in [0, 1] in every
** pipeline that has it (Accuracy, Precision, ..., by the metric's loc). */
static int unit_interval_metric(sqlite3 *db, const lf_pplist *ids, const unsigned char *in_chart,
                                const char *column){
  static const char *const bounded[] = {"Accuracy", "Precision", "Recall", "F1", "AUROC", "AUPRC", "TopKAccuracy"};
  const char *base = strncmp(column, "train_", 6)==0 ? column + 6 : strncmp(column, "val_", 4)==0 ? column + 4 : NULL;
  if( !base ) return 0;
  int any = 0;
  for(int p=0; p<ids->n; p++){
    if( !in_chart[p] ) continue;
    char err[256];
    char *text = lf_ppl_config(db, ids->ids[p], err, sizeof err);
    cJSON *c = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "metrics"), base), "loc");
    int ok = 0;
    for(size_t b=0; cJSON_IsString(loc) && b<sizeof bounded/sizeof bounded[0]; b++){
      ok |= strcmp(loc->valuestring, bounded[b])==0;
    }
    cJSON_Delete(c);
    if( !ok ) return 0;
    any = 1;
  }
  return any;
}

/* ---- ppl_plot ----------------------------------------------------------- */

/* One ppl_plot call: what it asked for (filled by lf_plot), the histories
** read (plot_read) and one SVG text per wanted column (plot_series). */
typedef struct plot_data {
  lf_chart_opts opts;
  char **names;                    /* the project's history columns */
  int ncols;
  int *want, nwant;                /* the wanted columns, a chart each */
  const char *x;                   /* as given: epoch, time or a column */
  int xc, xc2, x_cumulative;       /* x's column(s), -1: the epoch */
  lf_pplist all;                   /* every pipeline, when none are given */
  const lf_pplist *ids;            /* the pipelines drawn */
  lf_hist *h;                      /* h[p]: pipeline p's history */
  unsigned char *has;              /* has[p*ncols + c]: pipeline p has column c */
  char **labels;                   /* legend labels, NULL: the pplid */
  char **svg;                      /* svg[w]: chart of want[w], NULL: none */
} plot_data;

static void plot_data_free(plot_data *d){
  for(int w=0; d->svg && w<d->nwant; w++) free(d->svg[w]);
  free(d->svg);
  for(int p=0; d->labels && p<d->ids->n; p++) free(d->labels[p]);
  free(d->labels);
  if( d->h ) for(int p=0; p<d->ids->n; p++) lf_hist_free(&d->h[p]);
  free(d->h);
  free(d->has);
  free(d->want);
  lf_pplist_free(&d->all);
  if( d->names ) lf_history_names_free(d->names, d->ncols);
}

/* Reads, in one read transaction, the pipelines (ids_in, or all), their
** histories and their legend labels into d. */
static int plot_read(sqlite3 *db, const lf_pplist *ids_in, plot_data *d, char *err, size_t n){
  const lf_pplist *ids = ids_in;
  char **names = d->names;
  int ncols = d->ncols, rc = -1;
  unsigned char *has_any = NULL;
  if( lf_txn_savepoint(db, "lf_plot", err, n) ) return -1;
  if( !ids ){
    if( lf_pplist_all(db, &d->all, err, n) ) goto done;
    ids = &d->all;
  }else{
    for(int i=0; i<ids->n; i++){
      int ex = lf_ppl_exists(db, ids->ids[i], err, n);
      if( ex < 0 ) goto done;
      if( !ex ){ snprintf(err, n, "no pipeline '%s' in this project", ids->ids[i]); goto done; }
    }
  }
  d->ids = ids;
  lf_hist *h = d->h = calloc((size_t)(ids->n ? ids->n : 1), sizeof *h);
  unsigned char *has = d->has = calloc((size_t)(ids->n ? ids->n : 1) * (size_t)ncols, 1);
  if( !h || !has ){ snprintf(err, n, "out of memory"); goto done; }
  for(int p=0; p<ids->n; p++){
    if( lf_hist_read(db, ids->ids[p], names, ncols, &h[p], err, n) ) goto done;
    for(int r=0; r<h[p].nrows; r++){
      for(int c=0; c<ncols; c++) has[(size_t)p*ncols + c] |= h[p].present[(size_t)r*ncols + c];
    }
  }
  has_any = calloc((size_t)(ids->n ? ids->n : 1), 1);
  d->labels = calloc((size_t)(ids->n ? ids->n : 1), sizeof(char*));
  if( !has_any || !d->labels ){ snprintf(err, n, "out of memory"); goto done; }
  for(int p=0; p<ids->n; p++) has_any[p] = h[p].nrows > 0;
  if( legend_labels(db, ids, has_any, d->labels, err, n) ) goto done;
  rc = 0;
done:
  free(has_any);
  if( rc==0 ){
    lf_txn_release(db, "lf_plot", err, n);
  }else{
    char e2[64];
    lf_txn_release(db, "lf_plot", e2, sizeof e2);
  }
  return rc;
}

/* A chart per wanted column (d->svg), from the pipelines whose column
** group has it; at least one chart, else an error saying why. */
static int plot_series(sqlite3 *db, plot_data *d, const char *metrics, char *err, size_t n){
  const lf_pplist *ids = d->ids;
  char **names = d->names;
  int ncols = d->ncols, nwant = d->nwant, xc = d->xc, xc2 = d->xc2, x_cumulative = d->x_cumulative;
  const int *want = d->want;
  const char *x = d->x;
  const lf_hist *h = d->h;
  const unsigned char *has = d->has;
  char **labels = d->labels;
  const lf_chart_opts opts = d->opts;
  const char **lnames = NULL;      /* one chart's series, reused */
  int *npts = NULL, nfiles = 0, rc = -1;
  double **xs = NULL, **ys = NULL;
  unsigned char *in_chart = NULL;
  char **svg = d->svg = calloc((size_t)nwant, sizeof(char*));
  in_chart = calloc((size_t)(ids->n ? ids->n : 1), 1);
  if( !svg || !in_chart ){ snprintf(err, n, "out of memory"); goto done; }
  size_t np = (size_t)(ids->n ? ids->n : 1);
  lnames = malloc(sizeof(char*) * np);
  npts = malloc(sizeof(int) * np);
  xs = malloc(sizeof(double*) * np);
  ys = malloc(sizeof(double*) * np);
  if( !lnames || !npts || !xs || !ys ){ snprintf(err, n, "out of memory"); goto done; }
  for(int w=0; w<nwant; w++){
    int c = want[w];
    int ns = 0, oom = 0, all_unit = 1;
    double xmax = 0;
    memset(in_chart, 0, (size_t)(ids->n ? ids->n : 1));
    for(int p=0; p<ids->n; p++){
      if( !has[(size_t)p*ncols + c] || (xc >= 0 && !has[(size_t)p*ncols + xc]) ) continue;
      const lf_hist *hp = &h[p];
      xs[ns] = malloc(sizeof(double) * (size_t)hp->nrows);
      ys[ns] = malloc(sizeof(double) * (size_t)hp->nrows);
      if( !xs[ns] || !ys[ns] ){ free(xs[ns]); free(ys[ns]); oom = 1; break; }
      int k = 0;
      double cum = 0;
      for(int r=0; r<hp->nrows; r++){
        size_t at = (size_t)r*ncols;
        if( x_cumulative ){
          if( hp->present[at + xc] ) cum += hp->v[at + xc];
          if( xc2 >= 0 && hp->present[at + xc2] ) cum += hp->v[at + xc2];
        }
        if( !hp->present[at + c] || (xc >= 0 && !hp->present[at + xc]) ) continue;
        xs[ns][k] = x_cumulative ? cum : xc >= 0 ? hp->v[at + xc] : hp->epochs[r];
        ys[ns][k] = hp->v[at + c];
        if( ys[ns][k] < 0 || ys[ns][k] > 1 ) all_unit = 0;
        if( xs[ns][k] > xmax ) xmax = xs[ns][k];
        if( (opts.log_y && !(ys[ns][k] > 0)) || (opts.log_x && !(xs[ns][k] > 0)) ){
          snprintf(err, n, "a log axis needs values above 0, and %s of '%s' at epoch %d is %g; "
                   "leave out log_%c", opts.log_y && !(ys[ns][k] > 0) ? names[c] : x, ids->ids[p],
                   hp->epochs[r], opts.log_y && !(ys[ns][k] > 0) ? ys[ns][k] : xs[ns][k],
                   opts.log_y && !(ys[ns][k] > 0) ? 'y' : 'x');
          free(xs[ns]); free(ys[ns]);
          for(int i=0; i<ns; i++){ free(xs[i]); free(ys[i]); }
          goto done;
        }
        k++;
      }
      npts[ns] = k;
      lnames[ns] = labels[p] ? labels[p] : ids->ids[p];
      in_chart[p] = 1;
      ns++;
    }
    /* Cumulative seconds in the unit that keeps the numbers small. */
    char xlabel[160];
    if( x_cumulative ){
      double div = xmax >= 7200 ? 3600 : xmax >= 120 ? 60 : 1;
      const char *unit = div==3600 ? "h" : div==60 ? "min" : "s";
      for(int i=0; i<ns; i++) for(int k=0; k<npts[i]; k++) xs[i][k] /= div;
      if( xc2 >= 0 ) snprintf(xlabel, sizeof xlabel, "training time, cumulative (%s)", unit);
      else snprintf(xlabel, sizeof xlabel, "%s, cumulative (%s)", x, unit);
    }else{
      snprintf(xlabel, sizeof xlabel, "%s", x);
    }
    if( !oom && ns > 0 ){
      char title[256];
      snprintf(title, sizeof title, "%s by %s", names[c], x_cumulative && xc2 >= 0 ? "training time" : x);
      lf_chart_opts o = opts;
      o.x_integer = xc < 0;
      o.unit_interval = all_unit && unit_interval_metric(db, ids, in_chart, names[c]);
      svg[w] = lf_svg_chart(title, xlabel, names[c], ns, lnames, npts,
                            (const double *const *)xs, (const double *const *)ys, &o);
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
  rc = 0;
done:
  free(lnames); free(npts); free(xs); free(ys);
  free(in_chart);
  return rc;
}

/* Writes the charts into dir (made if missing): every chart to a temp
** name first, then the renames. The JSON list of the files written, or
** NULL with err (no chart left behind, a folder made here removed). */
static char *plot_write(const plot_data *d, const char *dir, char *err, size_t n){
  char **names = d->names;
  const int *want = d->want;
  int nwant = d->nwant, made_dir = 0;
  char *const *svg = d->svg;
  char *result = NULL;
  cJSON *list = NULL;
  char **tmp = calloc((size_t)nwant, sizeof(char*));
  char **final = calloc((size_t)nwant, sizeof(char*));
  if( !tmp || !final ){ snprintf(err, n, "out of memory"); goto done; }
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
  cJSON_Delete(list);
  for(int w=0; tmp && w<nwant; w++) free(tmp[w]);
  for(int w=0; final && w<nwant; w++) free(final[w]);
  free(tmp); free(final);
  return result;
}

char *lf_plot(sqlite3 *db, const lf_pplist *ids_in, const char *metrics,
              const char *out_dir, const char *x, const char *options,
              char *err, size_t n){
  lf_settings s;
  if( lf_project_settings(db, &s, err, n) ) return NULL;
  plot_data d;
  memset(&d, 0, sizeof d);
  char *dir = NULL, *result = NULL;
  if( parse_options(options, &d.opts, err, n) ) goto done;
  if( lf_history_names(&s, &d.names, &d.ncols) ){ snprintf(err, n, "out of memory"); goto done; }
  char **names = d.names;
  int ncols = d.ncols;
  /* x: the epoch, a history column, or cumulative time: 'time' (training
  ** and validation seconds) or a duration column summed up to each epoch. */
  int xc = -1, xc2 = -1, x_cumulative = 0;
  if( strcmp(x, "time")==0 ){
    xc = col_index(names, ncols, "train_duration");
    xc2 = col_index(names, ncols, "val_duration");
    x_cumulative = 1;
  }else if( strcmp(x, "epoch") != 0 ){
    xc = col_index(names, ncols, x);
    if( xc < 0 ){ snprintf(err, n, "x must be 'epoch', 'time' or a history column, not '%.60s'", x); goto done; }
    size_t l = strlen(x);
    x_cumulative = l > 9 && strcmp(x + l - 9, "_duration")==0;
  }
  if( xc < 0 && strcmp(x, "epoch") != 0 ){ snprintf(err, n, "this project's history has no durations"); goto done; }
  d.x = x;
  d.xc = xc;
  d.xc2 = xc2;
  d.x_cumulative = x_cumulative;
  d.want = malloc(sizeof(int) * (size_t)ncols);
  if( !d.want ){ snprintf(err, n, "out of memory"); goto done; }
  if( parse_metrics(metrics, names, ncols, d.want, &d.nwant, err, n) ) goto done;
  if( plot_read(db, ids_in, &d, err, n) ) goto done;
  dir = lf_project_resolve_path(db, out_dir);
  if( !dir ){ snprintf(err, n, "out of memory"); goto done; }
  if( plot_series(db, &d, metrics, err, n) ) goto done;
  result = plot_write(&d, dir, err, n);
done:
  plot_data_free(&d);
  free(dir);
  lf_settings_free(&s);
  return result;
}
