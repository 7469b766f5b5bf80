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
  TEST_EXIT();
}
