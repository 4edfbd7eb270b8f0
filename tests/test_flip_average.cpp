#include <gtest/gtest.h>

#include <mtfcdd/flip_average.hpp>
#include "test_util.hpp"

using namespace mtfcdd;

namespace {

// [n, c, 2, 3] with plane (i, ch) = base + {0 1 2; 3 4 5}, base = 10 * (i * c + ch).
cv::Mat numbered(int n, int c) {
  cv::Mat m(std::vector<int>{n, c, 2, 3}, CV_32F);
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch)
      for (int e = 0; e < 6; ++e) m.ptr<float>(i, ch)[e] = 10.f * (i * c + ch) + e;
  return m;
}

std::vector<float> plane_values(const cv::Mat& m, int i, int ch) {
  const float* p = m.ptr<float>(i, ch);
  return {p, p + 6};
}

}  // namespace

TEST(FlipAverage, ModesNameTheirViewsIdentityFirst) {
  EXPECT_EQ(flip_views(FlipAverage::None), std::vector<int>({kNoFlip}));
  EXPECT_EQ(flip_views(FlipAverage::H), std::vector<int>({kNoFlip, 1}));
  EXPECT_EQ(flip_views(FlipAverage::V), std::vector<int>({kNoFlip, 0}));
  EXPECT_EQ(flip_views(FlipAverage::HV), std::vector<int>({kNoFlip, 1, 0, -1}));
}

TEST(Names, ModesAreSpelledOnceBothWays) {
  EXPECT_EQ(parse_name<FlipAverage>("hv"), FlipAverage::HV);
  EXPECT_EQ(parse_name<FlipAverage>("vh"), std::nullopt);
  EXPECT_STREQ(name_of(Resize::Fit), "fit");
  EXPECT_EQ(names_list<FlipAverage>(), "none, h, v or hv");
  EXPECT_EQ(names_list<Resize>(), "stretch or fit");
  EXPECT_EQ(name_map<Precision>().at("bf16"), Precision::BF16);
}

// View v of image i sits at v * N + i; each plane mirrored on its own.
TEST(FlipAverage, ViewsAreTheImagesMirrored) {
  const cv::Mat blob = numbered(2, 3);
  const cv::Mat views = flipped_views(blob, flip_views(FlipAverage::HV));
  ASSERT_EQ(views.size[0], 8);
  ASSERT_EQ(views.size[1], 3);
  EXPECT_EQ(plane_values(views, 1, 2), std::vector<float>({50, 51, 52, 53, 54, 55}));  // identity, image 1
  EXPECT_EQ(plane_values(views, 2, 0), std::vector<float>({2, 1, 0, 5, 4, 3}));        // h, image 0
  EXPECT_EQ(plane_values(views, 5, 1), std::vector<float>({43, 44, 45, 40, 41, 42}));  // v, image 1
  EXPECT_EQ(plane_values(views, 6, 0), std::vector<float>({5, 4, 3, 2, 1, 0}));        // hv, image 0
}

// Maps that follow their input exactly average back to the input's own map.
TEST(FlipAverage, EquivariantMapsAverageToTheOriginal) {
  const cv::Mat blob = numbered(2, 2);
  for (const auto& [mode, name] : Names<FlipAverage>::table) {
    const cv::Mat back = average_views(flipped_views(blob, flip_views(mode)), flip_views(mode));
    ASSERT_EQ(back.size[0], 2) << name;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 2; ++k) EXPECT_EQ(plane_values(back, i, k), plane_values(blob, i, k)) << name;
  }
}

// Identity map A, the h view's map B (in mirrored coordinates): the mean is (A + mirror(B)) / 2.
TEST(FlipAverage, MeanOfTheViewsMirroredBack) {
  cv::Mat maps(std::vector<int>{2, 1, 2, 3}, CV_32F, cv::Scalar(0));
  const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {10, 0, 0, 0, 0, 20};
  std::copy(a, a + 6, maps.ptr<float>(0, 0));
  std::copy(b, b + 6, maps.ptr<float>(1, 0));
  const cv::Mat mean = average_views(maps, flip_views(FlipAverage::H));
  ASSERT_EQ(mean.size[0], 1);
  // mirror(B) = {0 0 10; 20 0 0}
  EXPECT_EQ(plane_values(mean, 0, 0), std::vector<float>({0.5f, 1, 6.5f, 12, 2.5f, 3}));
}
