#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <set>

#include "augment.hpp"

namespace {

using mtfcdd::AugmentConfig;

// Only the flips left on: every output must be the input or one of its mirror images.
AugmentConfig flips_only(bool h, bool v) {
  AugmentConfig c;
  c.probability = 1;
  c.max_rotation_deg = c.max_shift_px = c.max_brightness = c.max_contrast = 0;
  c.flip_horizontal = h;
  c.flip_vertical = v;
  return c;
}

cv::Mat asymmetric() {
  cv::Mat m(4, 6, CV_8UC3);
  for (size_t i = 0; i < m.total() * 3; ++i) m.data[i] = static_cast<uchar>(i * 7 % 251);
  return m;
}

bool same(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF) == 0; }

// 0 identity, 1 horizontal, 2 vertical, 3 both; -1 none of them.
int which_flip(const cv::Mat& in, const cv::Mat& out) {
  cv::Mat f;
  if (same(in, out)) return 0;
  cv::flip(in, f, 1);
  if (same(f, out)) return 1;
  cv::flip(in, f, 0);
  if (same(f, out)) return 2;
  cv::flip(in, f, -1);
  if (same(f, out)) return 3;
  return -1;
}

std::set<int> flips_seen(const AugmentConfig& c) {
  const cv::Mat in = asymmetric();
  std::mt19937_64 rng(3);
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) seen.insert(which_flip(in, mtfcdd::augment(in, c, rng)));
  return seen;
}

TEST(Augment, FlipsGiveEachMirrorImageAndNothingElse) {
  EXPECT_EQ(flips_seen(flips_only(true, true)), (std::set<int>{0, 1, 2, 3}));
  EXPECT_EQ(flips_seen(flips_only(true, false)), (std::set<int>{0, 1}));
  EXPECT_EQ(flips_seen(flips_only(false, true)), (std::set<int>{0, 2}));
  EXPECT_EQ(flips_seen(flips_only(false, false)), (std::set<int>{0}));
}

TEST(Augment, ProbabilityZeroReturnsTheImageAndFlipsKeepOtherDraws) {
  const cv::Mat in = asymmetric();
  AugmentConfig off = flips_only(true, true);
  off.probability = 0;
  std::mt19937_64 rng(1);
  EXPECT_TRUE(same(mtfcdd::augment(in, off, rng), in));
  // The flip draws come after the geometric ones: a run that turns flips on sees the same
  // rotation and shift, mirrored.
  AugmentConfig plain;
  plain.probability = 1;
  AugmentConfig flipped = plain;
  flipped.flip_horizontal = true;
  cv::Mat big(64, 64, CV_8UC1);
  cv::randu(big, 0, 255);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 a(seed), b(seed);
    const cv::Mat pa = mtfcdd::augment(big, plain, a), pb = mtfcdd::augment(big, flipped, b);
    const int w = which_flip(pa, pb);
    EXPECT_TRUE(w == 0 || w == 1) << "seed " << seed;
  }
}

// A 20-pixel white square in the middle of a black 96x96 image.
cv::Mat centred_square() {
  cv::Mat in(96, 96, CV_8UC1, cv::Scalar(0));
  in(cv::Rect(38, 38, 20, 20)).setTo(255);
  return in;
}

// Only the stretch left on: a centred square comes out as a rectangle whose sides are shrunk
// independently, each by a factor within [1/(1+s), 1], never enlarged.
TEST(Augment, StretchScalesEachAxisWithinItsRange) {
  AugmentConfig c = flips_only(false, false);
  c.max_stretch = 0.5;
  const cv::Mat in = centred_square();
  std::mt19937_64 rng(5);
  double lo[2] = {9, 9}, hi[2] = {0, 0};
  int wider = 0, taller = 0;
  for (int i = 0; i < 300; ++i) {
    const cv::Rect box = cv::boundingRect(mtfcdd::augment(in, c, rng) > 127);
    const double f[2] = {box.width / 20.0, box.height / 20.0};
    for (int a = 0; a < 2; ++a) {
      lo[a] = std::min(lo[a], f[a]);
      hi[a] = std::max(hi[a], f[a]);
      // One pixel of rounding at each edge of a 20-pixel side.
      EXPECT_GE(f[a], 1 / 1.5 - 0.1) << "draw " << i;
      EXPECT_LE(f[a], 1 + 0.1) << "draw " << i;
    }
    wider += box.width > box.height + 2;
    taller += box.height > box.width + 2;
  }
  for (int a = 0; a < 2; ++a) {
    EXPECT_LT(lo[a], 0.75);
    EXPECT_GT(hi[a], 0.95);
  }
  EXPECT_GT(wider, 30);
  EXPECT_GT(taller, 30);
}

// Only the scale left on: a centred square stays a square, shrunk by a factor within [1/(1+s), 1].
TEST(Augment, ScaleShrinksBothAxesAlike) {
  AugmentConfig c = flips_only(false, false);
  c.max_scale = 0.5;
  const cv::Mat in = centred_square();
  std::mt19937_64 rng(5);
  double lo = 9, hi = 0;
  for (int i = 0; i < 300; ++i) {
    const cv::Rect box = cv::boundingRect(mtfcdd::augment(in, c, rng) > 127);
    EXPECT_LE(std::abs(box.width - box.height), 2) << "draw " << i;
    const double f = box.width / 20.0;
    lo = std::min(lo, f);
    hi = std::max(hi, f);
    EXPECT_GE(f, 1 / 1.5 - 0.1) << "draw " << i;
    EXPECT_LE(f, 1 + 0.1) << "draw " << i;
  }
  EXPECT_LT(lo, 0.75);
  EXPECT_GT(hi, 0.95);
}

}  // namespace
