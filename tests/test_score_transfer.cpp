#include <gtest/gtest.h>

#include "score_transfer.hpp"
#include "test_util.hpp"

using namespace mtfcdd;

TEST(ScoreTransfer, RoundTripAndBadBytes) {
  Dataset d;
  d.samples.resize(3);
  ImageScores s;
  s.sample = &d.samples[2];
  s.z = {0.25, 1.5};
  s.max_pixel = {2.0, 3.0};
  s.input = {64, 48};
  s.placed = {1, 2, 60, 40};
  s.maps = {cv::Mat(2, 3, CV_32F, cv::Scalar(0.5f)), cv::Mat(2, 3, CV_32F, cv::Scalar(1.5f))};
  s.maps[1].at<float>(1, 2) = 7.f;
  const std::string bytes = encode_scores({s, s}, d);
  const auto back = decode_scores(bytes, d);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].sample, &d.samples[2]);
  EXPECT_EQ(back[1].z, s.z);
  EXPECT_EQ(back[1].max_pixel, s.max_pixel);
  EXPECT_EQ(back[1].input, s.input);
  EXPECT_EQ(back[1].placed, s.placed);
  ASSERT_EQ(back[1].maps.size(), 2u);
  EXPECT_EQ(back[1].maps[1].at<float>(1, 2), 7.f);
  EXPECT_EQ(cv::norm(back[0].maps[0], s.maps[0]), 0.0);
  EXPECT_EQ(test::message_of([&] { decode_scores(bytes.substr(0, bytes.size() - 1), d); }),
            "score transfer: a map larger than the bytes");
  Dataset smaller;
  smaller.samples.resize(2);
  EXPECT_EQ(test::message_of([&] { decode_scores(bytes, smaller); }), "score transfer: sample 2 is not in the dataset");
}
