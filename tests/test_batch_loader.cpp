// Tests for the trainer's batch loader (training/data/batch_loader.cpp): what the network is
// trained on must be what the plugin feeds it at inspection.
#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "batch_loader.hpp"
#include <mtfcdd/preprocess.hpp>
#include "test_util.hpp"

namespace {

using mtfcdd::BundleManifest;

// A one-pixel checkerboard: the texture that a non-integer shrink aliases unless it averages.
cv::Mat checkerboard(int w, int h) {
  cv::Mat m(h, w, CV_8UC1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<uchar>(y, x) = (x + y) % 2 ? 255 : 0;
  return m;
}

TEST(BatchLoader, TrainsOnTheInputThePluginMakes) {
  mtfcdd::test::TempDir dir;
  const std::string image = dir.file("tile.png");
  ASSERT_TRUE(cv::imwrite(image, checkerboard(173, 91)));
  std::ofstream(dir.file("dataset.json")) << R"({"types": [{"name": "crack"}]})";
  std::ofstream(dir.file("manifest.csv")) << "image,split,types,masks\ntile.png,train,,\n";
  const mtfcdd::Dataset data = mtfcdd::load_dataset(dir.file("dataset.json"));

  BundleManifest input;
  input.input_width = 32;
  input.input_height = 24;
  input.mean = {127.5, 127.5, 127.5};
  input.std = {127.5, 127.5, 127.5};
  cv::Mat inspected;
  for (const auto& [resize, name] : mtfcdd::Names<mtfcdd::Resize>::table) {
    input.resize = resize;
    mtfcdd::BatchLoader loader(data, input, mtfcdd::AugmentConfig{}, 1, 7);
    loader.submit({0}, false);
    const cv::Mat trained = loader.next().blob;
    inspected = mtfcdd::make_blob({cv::imread(image, cv::IMREAD_COLOR)}, input);
    ASSERT_EQ(trained.total(), inspected.total()) << name;
    EXPECT_EQ(cv::norm(trained, inspected, cv::NORM_INF), 0) << name;
  }

  // Both average the checkerboard to mid-grey (0 after normalisation); sampling it bilinearly,
  // as the plugin once did, leaves stripes of up to half the range.
  double lo, hi;
  cv::minMaxLoc(inspected.reshape(1, 1), &lo, &hi);
  EXPECT_LT(std::max(-lo, hi), 0.05);
}

}  // namespace
