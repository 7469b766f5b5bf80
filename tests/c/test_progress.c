/*
** test_progress.c — the live progress line fits the terminal: never wider
** than its columns minus one (a wrapped line cannot be erased with \r),
** and keeps the most useful fields (epoch i/N, the ETA) when narrow.
*/
#include <stdlib.h>
#include "../../core/lf_progress.h"
#include "lf_test.h"

static const char *const names[] = {"loss", "accuracy", "balanced_accuracy", "f1_macro", "precision_macro"};
static const double values[] = {0.5123, 0.8123, 0.7777, 0.7011, 0.6999};

int main(void){
  char line[1024];
  const char *id = "fashion-mlp-lr0.001-out256-dropout0.3";
  int worst = 0, lost_epoch = 0, lost_eta = 0;
  for(int cols = 20; cols <= 240; cols++){
    lf_progress_format(line, sizeof line, cols, id, 3, 12, 417, 938, 12345.6, 754.2, names, values, 5);
    int len = (int)strlen(line);
    if( len > cols - 1 && len - (cols - 1) > worst ) worst = len - (cols - 1);
    if( !strstr(line, "epoch 3/12") ) lost_epoch = cols;
    if( cols >= 30 && !strstr(line, "ETA 12m34s") ) lost_eta = cols;
  }
  CHECK(worst == 0, "the line is at most columns-1 wide at every width from 20 to 240 (over by %d)", worst);
  CHECK(lost_epoch == 0, "'epoch i/N' is always shown (missing at %d columns)", lost_epoch);
  CHECK(lost_eta == 0, "the ETA of the whole call is shown from 30 columns on (missing at %d)", lost_eta);

  lf_progress_format(line, sizeof line, 80, id, 3, 12, 417, 938, 12345.6, 754.2, names, values, 5);
  CHECK(strlen(line) <= 79 && strstr(line, "[") && strstr(line, "417/938") && strstr(line, "loss 0.5123"),
        "80 columns: bar, batches and loss fit ('%s')", line);
  CHECK(strstr(line, "fashion-mlp..-dropout0.3 epoch 3/12") == line,
        "80 columns: the long pplid is shortened in the middle, first on the line ('%s')", line);

  lf_progress_format(line, sizeof line, 200, id, 3, 12, 417, 938, 12345.6, 754.2, names, values, 5);
  CHECK(strstr(line, "fashion-mlp..") && strstr(line, "precision_macro 0.6999") && strstr(line, "12346/s")
        && strstr(line, "[#########"),
        "200 columns: every field and a wider bar ('%s')", line);

  lf_progress_format(line, sizeof line, 240, "p", 3, 12, 417, 938, 1.0, 754.2, names, values, 1);
  CHECK(strstr(line, "[#############.................]") != NULL, "a wide terminal: the bar at its widest, 30 ('%s')", line);

  lf_progress_format(line, sizeof line, 80, "p", 1, 3, 1, 938, 1.0, -1, names, values, 1);
  CHECK(strstr(line, "ETA --") != NULL, "no estimate yet: 'ETA --' ('%s')", line);

  lf_progress_format(line, sizeof line, 12, id, 3, 12, 1, 938, 1.0, -1, names, values, 5);
  CHECK(strlen(line) <= 11, "a terminal narrower than the epoch field still gets a line that fits ('%s')", line);

  lf_progress_format(line, sizeof line, 80, "p", 1, 1, 1, 10, 1.0, 4000.0, names, values, 1);
  CHECK(strstr(line, "ETA 1h06m") != NULL, "hours in the ETA ('%s')", line);
  /* The finished epoch's plain line of labflow-mpi's rank 0 (a pipe that
  ** ends on a terminal): fitted to $COLUMNS, else 80. */
  static const char *const hist[] = {"train_accuracy", "train_loss", "train_duration", "lr",
                                     "val_accuracy", "val_loss", "val_duration"};
  static const double hv[] = {0.9192, 0.2050, 12.5, 0.001, 0.9850, 0.0859, 1.25};
  worst = 0;
  int lost_head = 0, lost_val = 0;
  for(int cols = 20; cols <= 240; cols++){
    lf_progress_epoch_fit(line, sizeof line, cols, id, "rank 1", 3, 12, hist, hv, 7, "best");
    int len = (int)strlen(line);
    if( len > cols - 1 && len - (cols - 1) > worst ) worst = len - (cols - 1);
    if( cols >= 50 && !strstr(line, "[rank 1] epoch 3/12:") ) lost_head = cols;
    if( cols >= 70 && !strstr(line, "val_loss=0.0859") ) lost_val = cols;
  }
  CHECK(worst == 0, "epoch line: at most columns-1 wide at every width from 20 to 240 (over by %d)", worst);
  CHECK(lost_head == 0, "epoch line: rank and 'epoch i/N' kept from 50 columns on (missing at %d)", lost_head);
  CHECK(lost_val == 0, "epoch line: val_loss kept from 70 columns on (missing at %d)", lost_val);
  lf_progress_epoch_fit(line, sizeof line, 80, "p0", "rank 1", 3, 12, hist, hv, 7, "best");
  CHECK(strlen(line) <= 79 && strstr(line, "p0 [rank 1] epoch 3/12: ") == line && strstr(line, " (best)")
        && strstr(line, "val_accuracy=0.9850 val_loss=0.0859") && !strstr(line, "duration") && !strstr(line, "lr="),
        "epoch line, 80 columns: validation first, the rest dropped, the note kept ('%s')", line);
  lf_progress_epoch_fit(line, sizeof line, 110, "p0", "rank 1", 3, 12, hist, hv, 7, "best");
  const char *a = strstr(line, "train_loss"), *b = strstr(line, "val_accuracy");
  CHECK(a && b && a < b && !strstr(line, "lr="), "epoch line, 110 columns: the quantities stay in history order, "
        "the learning rate only after the training metrics ('%s')", line);
  lf_progress_epoch_fit(line, sizeof line, 200, id, "rank 1", 3, 12, hist, hv, 7, "");
  CHECK(strstr(line, id) == line && strstr(line, "train_duration=12.5000") && strstr(line, "lr=0.0010")
        && strstr(line, "val_duration=1.2500") && !strstr(line, "("),
        "epoch line, 200 columns: the whole pplid and every quantity ('%s')", line);
  lf_progress_epoch_fit(line, sizeof line, 80, id, "2 ranks", 3, 12, hist, hv, 7, "best");
  CHECK(strlen(line) <= 79 && strstr(line, "fashion-mlp..-dropout0.3 [2 ranks] epoch 3/12:") == line,
        "epoch line, 80 columns: a long pplid shortened in the middle ('%s')", line);
  TEST_EXIT();
}
