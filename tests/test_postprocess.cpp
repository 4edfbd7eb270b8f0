#include <gtest/gtest.h>

#include "postprocess.hpp"

using namespace mtfcdd;

TEST(Postprocess, RegionsAreEightConnectedWithStats) {
  cv::Mat m(6, 8, CV_32F, cv::Scalar(0));
  // Region A: a diagonal pair (8-connected, not 4-connected) at (1,1),(2,2), values 2 and 4.
  m.at<float>(1, 1) = 2;
  m.at<float>(2, 2) = 4;
  // Region B: a 2x3 block at rows 3-4, cols 5-7, value 1.
  m(cv::Rect(5, 3, 3, 2)).setTo(1);
  const auto r = find_regions(m, 1.0f, 1);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].area, 6);  // largest first
  EXPECT_EQ(r[0].box, cv::Rect(5, 3, 3, 2));
  EXPECT_FLOAT_EQ(r[0].peak, 1);
  EXPECT_FLOAT_EQ(r[0].mean, 1);
  EXPECT_EQ(r[1].area, 2);
  EXPECT_EQ(r[1].box, cv::Rect(1, 1, 2, 2));
  EXPECT_FLOAT_EQ(r[1].peak, 4);
  EXPECT_FLOAT_EQ(r[1].mean, 3);
  EXPECT_EQ(find_regions(m, 1.0f, 3).size(), 1u);  // minimum area drops the pair
  EXPECT_TRUE(find_regions(m, 5.0f, 1).empty());
}

TEST(Postprocess, UpsamplingKeepsSizeAndMass) {
  cv::Mat m(4, 4, CV_32F, cv::Scalar(0));
  m.at<float>(1, 2) = 1;
  const cv::Mat b = upsample_map(m, cv::Size(40, 32), Upsampling::Bilinear);
  const cv::Mat g = upsample_map(m, cv::Size(40, 32), Upsampling::Gaussian);
  EXPECT_EQ(b.size(), cv::Size(40, 32));
  EXPECT_EQ(g.size(), cv::Size(40, 32));
  // The Gaussian variant spreads the peak: lower maximum, similar total.
  double bmax, gmax;
  cv::minMaxLoc(b, nullptr, &bmax);
  cv::minMaxLoc(g, nullptr, &gmax);
  EXPECT_LT(gmax, bmax);
  EXPECT_NEAR(cv::sum(g)[0], cv::sum(b)[0], 0.1 * cv::sum(b)[0]);
  EXPECT_EQ(parse_name<Upsampling>("nearest"), std::nullopt);
}
