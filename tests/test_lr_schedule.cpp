#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "lr_schedule.hpp"

using namespace mtfcdd;

TEST(LrSchedule, ConstantKeepsTheBaseRate) {
  EXPECT_EQ(scheduled_lr(LrSchedule::constant, 1e-3, 0, 100), 1e-3);
  EXPECT_EQ(scheduled_lr(LrSchedule::constant, 1e-3, 250, 100), 1e-3);
}

TEST(LrSchedule, CosineFallsFromBaseToZeroOverThePlan) {
  const double base = 1e-3;
  EXPECT_DOUBLE_EQ(scheduled_lr(LrSchedule::cosine, base, 0, 100), base);
  EXPECT_NEAR(scheduled_lr(LrSchedule::cosine, base, 50, 100), base / 2, 1e-15);
  // A quarter of the way: (1 + cos(pi / 4)) / 2 = 0.853553...
  EXPECT_NEAR(scheduled_lr(LrSchedule::cosine, base, 25, 100), 0.8535533905932737e-3, 1e-15);
  EXPECT_NEAR(scheduled_lr(LrSchedule::cosine, base, 100, 100), 0, 1e-18);
  // A balanced epoch may run a little past its expected length: the rate stays at zero, never rises.
  EXPECT_NEAR(scheduled_lr(LrSchedule::cosine, base, 130, 100), 0, 1e-18);
}

TEST(LrSchedule, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(parse_lr_schedule("cosine"), LrSchedule::cosine);
  EXPECT_EQ(parse_lr_schedule("constant"), LrSchedule::constant);
  EXPECT_STREQ(to_string(LrSchedule::cosine), "cosine");
  try {
    parse_lr_schedule("step");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'step'"), std::string::npos);
  }
}
