// The benchmark's arithmetic: FLOPs of the FMA peak loop, relative L2 distance of two outputs.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "fma_peak.hpp"
#include "stats.hpp"

using mtfcdd::bench::fma_loop_flops;
using mtfcdd::bench::relative_l2;

TEST(FmaLoopFlops, TwoFlopsPerLanePerAccumulatorPerTurn) {
  // 1000 turns x 16 accumulators x 16 lanes x 2 (multiply and add) x 2 threads.
  EXPECT_DOUBLE_EQ(fma_loop_flops(1000, 16, 16, 2), 1'024'000.0);
  EXPECT_DOUBLE_EQ(fma_loop_flops(1, 1, 8, 1), 16.0);
}

TEST(RelativeL2, HandComputed) {
  // a = b + (0.3, 0.4): |(0.3, 0.4)| / |(3, 4)| = 0.5 / 5.
  EXPECT_NEAR(relative_l2({3.3f, 4.4f}, {3.f, 4.f}), 0.1, 1e-7);
  EXPECT_EQ(relative_l2({1.f, 2.f}, {1.f, 2.f}), 0.0);
  EXPECT_EQ(relative_l2({0.f}, {0.f}), 0.0);
  EXPECT_TRUE(std::isinf(relative_l2({1.f}, {0.f})));
  EXPECT_THROW(relative_l2({1.f}, {1.f, 2.f}), std::invalid_argument);
}

// numpy's default quantile: linear between order statistics; q outside 0..1 is clamped.
TEST(Quantile, InterpolatesAndClamps) {
  using mtfcdd::bench::median;
  using mtfcdd::bench::quantile;
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.95), 3.85);  // position 2.85: 3 + .85 x 1
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 2), 4);
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, -1), 1);
  EXPECT_DOUBLE_EQ(median({7}), 7);
  EXPECT_THROW(quantile({}, 0.5), std::invalid_argument);
}
