// The frame -> input mapping of a bundle (plugins/mtfcdd/src/preprocess.cpp) and its inverse for maps.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <mtfcdd/preprocess.hpp>

using namespace mtfcdd;

namespace {

BundleManifest input(int w, int h, Resize resize) {
  BundleManifest m;
  m.input_width = w;
  m.input_height = h;
  m.resize = resize;
  m.mean = {127.5, 127.5, 127.5};
  m.std = {127.5, 127.5, 127.5};
  return m;
}

// Distinct values along each axis, so that a mirror can be told from a copy.
cv::Mat ramp(int w, int h) {
  cv::Mat m(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<uchar>(y, x) = static_cast<uchar>((3 * x + 7 * y) % 256);
  return m;
}

}  // namespace

TEST(Preprocess, FitPlacesTheImageCentredAtItsAspectRatio) {
  const auto fit = input(64, 64, Resize::Fit);
  EXPECT_EQ(input_placement({100, 50}, fit), cv::Rect(0, 16, 64, 32));
  EXPECT_EQ(input_placement({50, 100}, fit), cv::Rect(16, 0, 32, 64));
  EXPECT_EQ(input_placement({30, 30}, fit), cv::Rect(0, 0, 64, 64));  // enlarged alike
  EXPECT_EQ(input_placement({1000, 3}, fit), cv::Rect(0, 31, 64, 1));  // never thinner than a pixel
  EXPECT_EQ(input_placement({100, 50}, input(64, 64, Resize::Stretch)), cv::Rect(0, 0, 64, 64));
}

TEST(Preprocess, FitMirrorsTheImageIntoTheRestOfTheInput) {
  const auto fit = input(64, 64, Resize::Fit);
  const cv::Mat image = ramp(64, 32);  // placed 1:1 at rows 16..47
  const cv::Mat in = resize_to_input(image, fit);
  ASSERT_EQ(in.size(), cv::Size(64, 64));
  EXPECT_EQ(cv::norm(in.rowRange(16, 48), image, cv::NORM_INF), 0);
  // Mirrored about the image's first and last rows, which are not repeated (BORDER_REFLECT_101).
  for (int j = 1; j <= 16; ++j) {
    EXPECT_EQ(cv::norm(in.row(16 - j), image.row(j), cv::NORM_INF), 0) << j;
    if (j < 16) EXPECT_EQ(cv::norm(in.row(47 + j), image.row(31 - j), cv::NORM_INF), 0) << j;
  }
  // A sliver much thinner than the filling is mirrored back and forth, never read out of bounds.
  const cv::Mat sliver = resize_to_input(ramp(640, 30), fit);
  ASSERT_EQ(sliver.size(), cv::Size(64, 64));
  const cv::Rect at = input_placement({640, 30}, fit);
  double lo, hi, in_lo, in_hi;
  cv::minMaxLoc(sliver, &lo, &hi);
  cv::minMaxLoc(sliver(at), &in_lo, &in_hi);
  EXPECT_GE(lo, in_lo);
  EXPECT_LE(hi, in_hi);
}

// By hand: a 6x2 image stretched to 2x1 is the mean of each 3x2 block (the aspect ratio lost).
TEST(Preprocess, StretchIsTheAreaResizeOfTheWholeImage) {
  const cv::Mat image = (cv::Mat_<uchar>(2, 6) << 0, 10, 20, 30, 40, 50,  //
                         60, 70, 80, 90, 100, 110);
  const cv::Mat expected = (cv::Mat_<uchar>(1, 2) << (0 + 10 + 20 + 60 + 70 + 80) / 6,  // 40
                            (30 + 40 + 50 + 90 + 100 + 110) / 6);                         // 70
  const cv::Mat out = resize_to_input(image, input(2, 1, Resize::Stretch));
  ASSERT_EQ(out.size(), cv::Size(2, 1));
  EXPECT_EQ(cv::norm(out, expected, cv::NORM_INF), 0) << out;
}

TEST(Preprocess, InputToImageBringsAMapBackOntoTheImage) {
  const auto fit = input(64, 64, Resize::Fit);
  const cv::Size image(200, 100);  // placed at (0, 16, 64, 32): 1 input pixel = 3.125 image pixels
  cv::Mat at_input(64, 64, CV_32F, cv::Scalar(0));
  at_input(cv::Rect(32, 16, 32, 16)).setTo(1);  // the image's top right quarter
  at_input.rowRange(0, 16).setTo(5);            // the mirrored filling: not part of the image
  const cv::Mat back = input_to_image(at_input, image, fit);
  ASSERT_EQ(back.size(), image);
  EXPECT_NEAR(back.at<float>(10, 190), 1, 1e-6);
  EXPECT_NEAR(back.at<float>(90, 10), 0, 1e-6);
  double hi;
  cv::minMaxLoc(back, nullptr, &hi);
  EXPECT_NEAR(hi, 1, 1e-6);  // nothing of the filling
  EXPECT_EQ(input_to_image(at_input, image, fit, {8, 4}).size(), cv::Size(8, 4));
  EXPECT_NEAR(input_to_image(at_input, image, input(64, 64, Resize::Stretch)).at<float>(5, 5), 5, 1e-5);
}
