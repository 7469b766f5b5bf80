/*
** lf_plot.h — ppl_plot: line charts of pipeline histories as SVG files
** [plot_metrics, group_by_common_columns].
**
** Pipelines are grouped by the set of history columns they have (as the
** reference's group_by_common_columns does); each requested metric is
** drawn from every pipeline whose group has that column: one file
** <out_dir>/<metric>.svg per metric, a polyline per pipeline, x and y axes
** with ticks and numeric labels, axis titles, a legend of pplids and a
** title. The SVG is written by hand (no dependency) and is plain SVG 1.1
** that browsers and rsvg render.
*/
#ifndef LF_PLOT_H
#define LF_PLOT_H

#include <stddef.h>
#include "lf_sqlite.h"
#include "lf_archive.h"

/* ids: the pipelines (NULL: every active one). metrics: a metric, a JSON
** list of them, or NULL for every history column except durations; a name
** is a history column ("val_loss") or a quantity ("loss" = train_loss and
** val_loss). x: "epoch", "time" (cumulative training and validation
** seconds, shown in s, min or h) or a history column (a *_duration column is
** summed up to each epoch). options: JSON {width, height, log_x, log_y,
** ymin, ymax, clip} or NULL. Legends name what differs between the
** pipelines' configs; y ranges are robust (lf_svg_chart). out_dir is made if missing
** (relative: against the database's folder). Returns the JSON list of the
** files written (malloc'ed), or NULL with err. */
char *lf_plot(sqlite3 *db, const lf_pplist *ids, const char *metrics,
              const char *out_dir, const char *x, const char *options,
              char *err, size_t n);

/* How one chart is drawn. */
typedef struct lf_chart_opts {
  double width, height;     /* pixels; 0: 820 x 480, grown for the legend */
  int log_x, log_y;         /* log10 axes (values must be > 0) */
  int has_ymin, has_ymax;   /* y limits given by the caller */
  double ymin, ymax;
  int clip;                 /* robust y range: outliers clipped, marked */
  int unit_interval;        /* a [0, 1] metric: the axis stays within it */
  int x_integer;            /* integer x ticks (epochs) */
} lf_chart_opts;

/* The SVG text of one chart (malloc'ed); exposed for tests. series[i] has
** npts[i] points xs[i][k], ys[i][k]. */
char *lf_svg_chart(const char *title, const char *xlabel, const char *ylabel,
                   int nseries, const char *const *names, const int *npts,
                   const double *const *xs, const double *const *ys, const lf_chart_opts *o);

#endif
