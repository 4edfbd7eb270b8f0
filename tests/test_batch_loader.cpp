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

// `n` distinct noise images img0.png ... in `dir`, the odd ones of type crack, all in train.
mtfcdd::Dataset noise_dataset(const mtfcdd::test::TempDir& dir, int n) {
  std::ofstream(dir.file("dataset.json")) << R"({"types": [{"name": "crack"}]})";
  std::ofstream csv(dir.file("manifest.csv"));
  csv << "image,split,types,masks\n";
  cv::RNG rng(5);
  for (int i = 0; i < n; ++i) {
    cv::Mat image(40 + i, 56, CV_8UC3);
    rng.fill(image, cv::RNG::UNIFORM, 0, 256);
    const std::string name = "img" + std::to_string(i) + ".png";
    EXPECT_TRUE(cv::imwrite(dir.file(name), image));
    csv << name << ",train," << (i % 2 ? "crack" : "") << ",\n";
  }
  csv.close();
  return mtfcdd::load_dataset(dir.file("dataset.json"));
}

BundleManifest input_32x24() {
  BundleManifest input;
  input.input_width = 32;
  input.input_height = 24;
  input.mean = {127.5, 127.5, 127.5};
  input.std = {127.5, 127.5, 127.5};
  return input;
}

// Every image augmented: rotations, shifts, flips, brightness and contrast all drawn.
mtfcdd::AugmentConfig always_augmented() {
  mtfcdd::AugmentConfig aug;
  aug.probability = 1;
  aug.flip_horizontal = aug.flip_vertical = true;
  return aug;
}

// The batches of `workers` threads for the same submissions: four augmented batches of three,
// then one plain, the last one's indices a shard starting at global position 2.
std::vector<mtfcdd::Batch> batches_of(const mtfcdd::Dataset& data, int workers) {
  mtfcdd::BatchLoader loader(data, input_32x24(), always_augmented(), workers, 11);
  for (int b = 0; b < 4; ++b) loader.submit({3 * b, 3 * b + 1, 3 * b + 2}, true);
  loader.submit({11, 0, 5}, false);
  loader.submit({4, 7}, true, 2);
  std::vector<mtfcdd::Batch> out;
  while (loader.pending() > 0) out.push_back(loader.next());
  return out;
}

}  // namespace

TEST(BatchLoader, TrainsOnTheInputThePluginMakes) {
  mtfcdd::test::TempDir dir;
  const std::string image = dir.file("tile.png");
  ASSERT_TRUE(cv::imwrite(image, checkerboard(173, 91)));
  std::ofstream(dir.file("dataset.json")) << R"({"types": [{"name": "crack"}]})";
  std::ofstream(dir.file("manifest.csv")) << "image,split,types,masks\ntile.png,train,,\n";
  const mtfcdd::Dataset data = mtfcdd::load_dataset(dir.file("dataset.json"));

  BundleManifest input = input_32x24();
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

// Augmentation is seeded by batch number and position, not by the thread that builds the batch:
// four workers hand out, in submission order, exactly the batches one worker does.
TEST(BatchLoader, FourWorkersGiveTheBatchesOfOneInOrder) {
  mtfcdd::test::TempDir dir;
  const mtfcdd::Dataset data = noise_dataset(dir, 12);
  const auto one = batches_of(data, 1), four = batches_of(data, 4);
  ASSERT_EQ(one.size(), 6u);
  ASSERT_EQ(four.size(), one.size());
  for (size_t b = 0; b < one.size(); ++b) {
    EXPECT_EQ(four[b].indices, one[b].indices) << "batch " << b;
    EXPECT_EQ(four[b].labels, one[b].labels) << "batch " << b;
    ASSERT_EQ(four[b].blob.total(), one[b].blob.total()) << "batch " << b;
    EXPECT_EQ(cv::norm(four[b].blob, one[b].blob, cv::NORM_INF), 0) << "batch " << b;
  }
  EXPECT_EQ(one[0].indices, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(one[0].labels, (std::vector<float>{0, 1, 0}));  // the odd images are cracks
  EXPECT_GT(cv::norm(one[0].blob, one[1].blob, cv::NORM_INF), 0);
}

// An image that cannot be decoded when its batch is built fails next(), naming the file and the
// manifest row; the batches before it are unaffected.
TEST(BatchLoader, AnUnreadableImageIsNamed) {
  mtfcdd::test::TempDir dir;
  const mtfcdd::Dataset data = noise_dataset(dir, 4);  // checked while whole
  std::ofstream(dir.file("img2.png"), std::ios::trunc) << "not a png";
  mtfcdd::BatchLoader loader(data, input_32x24(), mtfcdd::AugmentConfig{}, 2, 7);
  loader.submit({0, 1}, false);
  loader.submit({3, 2}, false);
  EXPECT_EQ(loader.next().indices, (std::vector<int>{0, 1}));
  const std::string why = mtfcdd::test::message_of([&] { loader.next(); });
  EXPECT_NE(why.find("cannot read image " + dir.file("img2.png")), std::string::npos) << why;
  EXPECT_NE(why.find("manifest.csv"), std::string::npos) << why;
}
