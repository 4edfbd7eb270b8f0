// int8 bundles from float32 ones (training/eval/quantize): calibration, the check against float32
// and the convolutions kept in float32 to pass it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <mtfcdd/dnn_model.hpp>

#include "quantize.hpp"
#include "test_util.hpp"

using namespace mtfcdd;
using test::fixture_bundle;
using test::message_of;
namespace fs = std::filesystem;

namespace {

std::vector<cv::Mat> random_blobs(const BundleManifest& m) {
  std::vector<cv::Mat> out;
  for (int n : {3, 2}) {
    cv::Mat blob(std::vector<int>{n, 3, m.input_height, m.input_width}, CV_32F);
    cv::RNG rng(n);
    rng.fill(blob, cv::RNG::NORMAL, 0, 1);
    out.push_back(blob);
  }
  return out;
}

}  // namespace

TEST(Quantize, EvenlySpacedPicksInOrder) {
  const std::vector<std::string> p = {"a", "b", "c", "d", "e", "f"};
  EXPECT_EQ(evenly_spaced(p, 3), (std::vector<std::string>{"a", "c", "e"}));
  EXPECT_EQ(evenly_spaced(p, 4), (std::vector<std::string>{"a", "b", "d", "e"}));
  EXPECT_EQ(evenly_spaced(p, 10), p);
}

TEST(Quantize, WritesAnInt8BundleWithinTheLimitOrNothing) {
  if (fixture_bundle().empty()) GTEST_SKIP() << "MTFCDD_TEST_BUNDLE not set (run through ctest)";
  test::TempDir dir;
  const auto blobs = random_blobs(read_manifest(fixture_bundle()));
  if (!have_int8()) {
    EXPECT_NE(message_of([&] { quantize_bundle(fixture_bundle(), blobs, dir.file("q")); }).find("AVX512_VNNI"),
              std::string::npos);
    GTEST_SKIP() << "this CPU lacks AVX512_VNNI: only the refusal was checked";
  }
  const QuantizeResult r = quantize_bundle(fixture_bundle(), blobs, dir.file("q"));
  EXPECT_EQ(r.images, 5u);
  EXPECT_GT(r.convolutions, 0u);
  EXPECT_LE(r.maps_rel_l2, kQuantizeTolerance);
  const BundleManifest m = read_manifest(dir.file("q"));
  EXPECT_EQ(m.precision, Precision::Int8);
  EXPECT_EQ(m.int8_ranges.size() + r.float32_convolutions.size(), r.convolutions);
  EXPECT_NE(message_of([&] { quantize_bundle(fixture_bundle(), blobs, dir.file("q")); }).find("exists"),
            std::string::npos);
  EXPECT_NE(message_of([&] { quantize_bundle(dir.file("q"), blobs, dir.file("qq")); }).find("not a float32 bundle"),
            std::string::npos);
  // A limit no int8 convolution meets: every one is tried in float32, then nothing is left.
  EXPECT_NE(message_of([&] { quantize_bundle(fixture_bundle(), blobs, dir.file("zero"), 0.0); })
                .find("no convolution reduces"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("zero")));
}

// bf16 keeps in float32 what the limit asks, names those in the manifest, and runs them so.
TEST(Quantize, Bf16KeepsTheMostSensitiveConvolutionsInFloat32) {
  if (fixture_bundle().empty()) GTEST_SKIP() << "MTFCDD_TEST_BUNDLE not set (run through ctest)";
  test::TempDir dir;
  const auto blobs = random_blobs(read_manifest(fixture_bundle()));
  if (!have_bf16()) {
    EXPECT_NE(message_of([&] { quantize_bundle(fixture_bundle(), blobs, dir.file("b"), 1e-3, Precision::BF16); })
                  .find("AVX512_BF16"),
              std::string::npos);
    GTEST_SKIP() << "this CPU lacks AVX512_BF16: only the refusal was checked";
  }
  const QuantizeResult all = quantize_bundle(fixture_bundle(), blobs, dir.file("all"), 1.0, Precision::BF16);
  EXPECT_TRUE(all.float32_convolutions.empty());
  EXPECT_GT(all.maps_rel_l2, 0);
  EXPECT_EQ(read_manifest(dir.file("all")).format_version, 4);  // nothing kept: readable by older builds
  // Half the full bf16 distance: some convolutions go back to float32, the most sensitive first.
  const double limit = all.maps_rel_l2 / 2;
  const QuantizeResult r = quantize_bundle(fixture_bundle(), blobs, dir.file("b"), limit, Precision::BF16);
  ASSERT_FALSE(r.float32_convolutions.empty());
  EXPECT_LE(r.maps_rel_l2, limit);
  const BundleManifest m = read_manifest(dir.file("b"));
  EXPECT_EQ(m.precision, Precision::BF16);
  EXPECT_EQ(m.format_version, 7);
  EXPECT_EQ(m.float32_convolutions,
            std::set<std::string>(r.float32_convolutions.begin(), r.float32_convolutions.end()));
  EXPECT_TRUE(m.int8_ranges.empty());
}
