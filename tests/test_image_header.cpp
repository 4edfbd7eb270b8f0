#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "image_header.hpp"
#include "test_util.hpp"

using namespace mtfcdd;

TEST(ImageHeader, PngAndJpegSizesWithoutDecoding) {
  test::TempDir dir;
  const cv::Mat img(23, 37, CV_8UC3, cv::Scalar(10, 20, 30));
  cv::imwrite(dir.file("a.png"), img);
  cv::imwrite(dir.file("a.jpg"), img);
  cv::imwrite(dir.file("g.png"), cv::Mat(5, 7, CV_8UC1, cv::Scalar(255)));
  for (const char* f : {"a.png", "a.jpg"}) {
    const auto s = image_header_size(dir.file(f));
    ASSERT_TRUE(s) << f;
    EXPECT_EQ(s->width, 37) << f;
    EXPECT_EQ(s->height, 23) << f;
  }
  EXPECT_EQ(image_header_size(dir.file("g.png"))->width, 7);
}

TEST(ImageHeader, UnknownOrCutShortIsNoAnswer) {
  test::TempDir dir;
  std::ofstream(dir.file("garbage.png")) << "not an image at all";
  cv::imwrite(dir.file("a.jpg"), cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)));
  std::ifstream in(dir.file("a.jpg"), std::ios::binary);
  const std::string jpg((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir.file("cut.jpg"), std::ios::binary) << jpg.substr(0, 6);
  cv::imwrite(dir.file("a.bmp"), cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)));
  EXPECT_FALSE(image_header_size(dir.file("garbage.png")));
  EXPECT_FALSE(image_header_size(dir.file("cut.jpg")));
  EXPECT_FALSE(image_header_size(dir.file("a.bmp")));  // another format: the caller decodes it
  EXPECT_FALSE(image_header_size(dir.file("missing.png")));
}
