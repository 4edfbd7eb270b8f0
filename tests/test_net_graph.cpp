// The receptive-field arithmetic over a NetGraph against a hand-computed chain.
#include <gtest/gtest.h>

#include <cmath>

#include "net_graph.hpp"

using namespace mtfcdd;

TEST(NetGraph, ReceptionFollowsFcddArithmetic) {
  NetGraph g({1, 16, 16}, "image");
  // conv 3x3 stride 2, pads top 1 / left 0: span 3.
  //   vertical:   size 1 + 2 * 1 = 3, offset 0 + (1 - 1) * 1 = 0, stride 2
  //   horizontal: size 3,             offset 0 + (1 - 0) * 1 = 1, stride 2
  NetGraph::Id x = g.conv(g.input(), "c1", std::vector<float>(9, 1.f), 1, 3, 3, {}, 2, Pads{1, 0, 1, 1});
  x = g.relu(x);
  // conv 3x3 dilation 2, no pads: span 5. size += 4 * 2 = 11, offset += (2 - 0) * 2 = +4.
  x = g.conv(x, "c2", std::vector<float>(9, 1.f), 1, 3, 3, {}, 1, Pads{}, 1, 2);
  // max pool 2 stride 2: span 2. size += 1 * 2 = 13, offset += (0.5 - 0) * 2 = +1, stride 4.
  x = g.max_pool(x, 2, 2, Pads{});
  g.mark_output(x, "maps");
  EXPECT_EQ(reception(g, x, 0), (Reception{13, 4, 5.0}));
  EXPECT_EQ(reception(g, x, 1), (Reception{13, 4, 6.0}));
  EXPECT_EQ(reception(g, g.input(), 0), (Reception{1, 1, 0.0}));
  EXPECT_THROW(reception(g, x, 2), std::invalid_argument);
}

TEST(NetGraph, ReceptionOfABranchIsTheWidest) {
  NetGraph g({1, 8, 8}, "image");
  const NetGraph::Id narrow = g.conv(g.input(), "n", {1.f}, 1, 1, 1, {}, 1, Pads{});
  const NetGraph::Id wide = g.conv(g.input(), "w", std::vector<float>(9, 1.f), 1, 3, 3, {}, 1, Pads::same(1));
  const NetGraph::Id sum = g.add(narrow, wide);
  EXPECT_EQ(reception(g, sum, 0), (Reception{3, 1, 0.0}));
}

// Upsampling by 2 after the first chain's conv (size 3, stride 2, offsets 0 and 1): stride 1, each
// cell's two copies centred on it (offset -= 0.5), size kept; the shape doubles.
TEST(NetGraph, ReceptionOfAnUpsamplingHalvesTheStride) {
  NetGraph g({1, 16, 16}, "image");
  NetGraph::Id x = g.conv(g.input(), "c1", std::vector<float>(9, 1.f), 1, 3, 3, {}, 2, Pads{1, 0, 1, 1});
  x = g.upsample_nearest(x, 2);
  EXPECT_EQ(g.shape(x).h, 16);
  EXPECT_EQ(g.shape(x).w, 16);
  EXPECT_EQ(reception(g, x, 0), (Reception{3, 1, -0.5}));
  EXPECT_EQ(reception(g, x, 1), (Reception{3, 1, 0.5}));
  // A stride the factor does not divide has no field.
  EXPECT_THROW(reception(g, g.upsample_nearest(x, 2), 0), std::invalid_argument);
}

// A bilinear resize to any size: its scales floor to the size asked (ONNX's output size), the graph
// says it resamples, and its cells have no single receptive field. A per-channel scale keeps the shape.
TEST(NetGraph, BilinearResizeAndChannelScales) {
  NetGraph g({2, 36, 36}, "image");
  EXPECT_FALSE(g.resamples());
  for (const int64_t to : {45, 29, 7, 36 * 7 / 6}) {
    const NetGraph::Id y = g.resize_bilinear(g.input(), to, to);
    EXPECT_EQ(g.shape(y).h, to);
    const float f = g.initializers().back().data.at(2);
    EXPECT_EQ(static_cast<int64_t>(std::floor(36.f * f)), to) << to;
    EXPECT_NEAR(f, to / 36.0, 1e-6) << to;
  }
  EXPECT_TRUE(g.resamples());
  const NetGraph::Id y = g.resize_bilinear(g.input(), 45, 45);
  EXPECT_THROW(reception(g, y, 0), std::invalid_argument);
  EXPECT_EQ(g.shape(g.scale_channels(y, {0.5f, 2.f})).h, 45);
  EXPECT_THROW(g.scale_channels(y, {1.f}), std::invalid_argument);
  EXPECT_THROW(g.resize_bilinear(y, 0, 4), std::invalid_argument);
}
