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
** val_loss). x: "epoch" or a history column. out_dir is made if missing
** (relative: against the database's folder). Returns the JSON list of the
** files written (malloc'ed), or NULL with err. */
char *lf_plot(sqlite3 *db, const lf_pplist *ids, const char *metrics,
              const char *out_dir, const char *x, char *err, size_t n);

/* The SVG text of one chart (malloc'ed); exposed for tests. series[i] has
** npts[i] points xs[i][k], ys[i][k]. */
char *lf_svg_chart(const char *title, const char *xlabel, const char *ylabel,
                   int nseries, const char *const *names, const int *npts,
                   const double *const *xs, const double *const *ys, int x_integer);

#endif
