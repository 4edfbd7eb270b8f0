// The progress line's text, against hand-computed bars, rates and ETAs.
#include <gtest/gtest.h>

#include "progress.hpp"

namespace mtfcdd {

TEST(Progress, DurationIsHoursMinutesSeconds) {
  EXPECT_EQ(format_duration(0), "0:00:00");
  EXPECT_EQ(format_duration(59.6), "0:01:00");
  EXPECT_EQ(format_duration(3725.4), "1:02:05");  // 1 h 2 min 5 s
}

TEST(Progress, ExactTotal) {
  // 50 of 200 in 10 s: a quarter of 24 marks is 6, 5 images/s, 150 left take 30 s.
  EXPECT_EQ(progress_text("scoring test", 50, 200, "images", false, 10, ""),
            "scoring test [######..................] 50/200 images  5.00 images/s  ETA 0:00:30");
}

TEST(Progress, ApproximateTotalWithExtra) {
  // 12 of ~110 in 6 s: 12/110 of 24 marks is 2.6 (2 drawn), 2 it/s, 98 left take 49 s.
  EXPECT_EQ(progress_text("epoch 3/80", 12, 110, "it", true, 6, "loss 0.0123"),
            "epoch 3/80 [##......................] 12/~110 it  2.00 it/s  loss 0.0123  ETA 0:00:49");
}

TEST(Progress, PastAnExpectedTotalTheBarIsFullAndTheEtaZero) {
  EXPECT_EQ(progress_text("epoch 1/1", 120, 110, "it", true, 60, ""),
            "epoch 1/1 [########################] 120/~110 it  2.00 it/s  ETA 0:00:00");
  EXPECT_EQ(progress_text("x", 0, 0, "it", false, 0, ""), "x [........................] 0/0 it  0.00 it/s  ETA 0:00:00");
}

}  // namespace mtfcdd
