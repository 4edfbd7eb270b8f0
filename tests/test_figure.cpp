// Tests for the heatmap figure (training/eval/figure.cpp) on tiny generated images: its size, which
// images become rows and in what order, the shared colour scale and the mask outlines.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "figure.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace mtfcdd;
using test::TempDir;
using L = FigureLayout;

namespace {

// A 64x48 image of one colour (non-square: the figure stretches it like the model's input), so
// that the image column tells which image a row shows.
std::string write_image(const TempDir& dir, const std::string& name, const cv::Scalar& bgr) {
  const std::string path = dir.file(name);
  EXPECT_TRUE(cv::imwrite(path, cv::Mat(48, 64, CV_8UC3, bgr)));
  return path;
}

Sample sample(const std::string& image, std::vector<int> types, std::map<int, std::string> masks = {}) {
  Sample s;
  s.image = image;
  s.split = "test";
  s.types = std::move(types);
  s.masks = std::move(masks);
  return s;
}

// Constant 4x4 maps, one per entry of `levels`; z = the map's mean = its level.
ImageScores scored(const Sample& s, const std::vector<float>& levels) {
  ImageScores x;
  x.sample = &s;
  for (float v : levels) {
    x.z.push_back(v);
    x.max_pixel.push_back(v);
    x.maps.push_back(cv::Mat(4, 4, CV_32F, cv::Scalar(v)));
  }
  return x;
}

// The top three quarters of a cell (the z label sits in the bottom quarter); col 0 = the image.
cv::Mat cell(const cv::Mat& fig, int row, int col) {
  return fig(cv::Rect(L::kLabelWidth + col * L::kCell, L::kHeader + row * L::kCell, L::kCell, L::kCell * 3 / 4));
}

cv::Scalar mean_bgr(const cv::Mat& fig, int row, int col) { return cv::mean(cell(fig, row, col)); }

int white_pixels(const cv::Mat& m) {
  cv::Mat white;
  cv::inRange(m, cv::Scalar(255, 255, 255), cv::Scalar(255, 255, 255), white);
  return cv::countNonZero(white);
}

const std::vector<std::string> kTypes = {"scratch", "pit"};
const cv::Scalar kRed(40, 40, 220), kGreen(40, 220, 40), kBlue(220, 40, 40), kGray(128, 128, 128);

}  // namespace

TEST(HeatmapFigure, OneRowPerTypePlusANormalRowAndTheFiringTypeIsBrighter) {
  TempDir dir;
  const Sample a = sample(write_image(dir, "a.png", kRed), {0}), b = sample(write_image(dir, "b.png", kGreen), {1}),
               c = sample(write_image(dir, "c.png", kGray), {});
  const cv::Mat fig = heatmap_figure({scored(c, {0.01f, 0.01f}), scored(a, {1, 0}), scored(b, {0, 1})}, kTypes);

  ASSERT_EQ(fig.type(), CV_8UC3);
  EXPECT_EQ(fig.cols, L::kLabelWidth + 3 * L::kCell);               // image + two types
  EXPECT_EQ(fig.rows, L::kHeader + 3 * L::kCell + L::kFooter);      // scratch, pit, normal
  // Rows in type order, then the normal image: the image column shows a, b, c.
  EXPECT_GT(mean_bgr(fig, 0, 0)[2], 150);
  EXPECT_GT(mean_bgr(fig, 1, 0)[1], 150);
  EXPECT_NEAR(mean_bgr(fig, 2, 0)[0], 128, 2);
  // Row 0 (a, scratch fires): the scratch cell is brighter and redder than the pit cell; row 1
  // the other way round. INFERNO runs from black through red to yellow.
  for (int row : {0, 1}) {
    const cv::Scalar fires = mean_bgr(fig, row, row + 1), silent = mean_bgr(fig, row, 2 - row);
    EXPECT_GT(fires[0] + fires[1] + fires[2], silent[0] + silent[1] + silent[2] + 200) << "row " << row;
    EXPECT_GT(fires[2], silent[2] + 100) << "row " << row;
  }
  // The normal image's maps (0.01) are far below the shared scale: they stay dark.
  EXPECT_LT(mean_bgr(fig, 2, 1)[2], mean_bgr(fig, 0, 1)[2] - 100);
}

TEST(HeatmapFigure, RowsPerTypeTakesTheHighestScoresAndTheNormalRowTheMedian) {
  TempDir dir;
  const Sample low = sample(write_image(dir, "low.png", kBlue), {0});
  const Sample high = sample(write_image(dir, "high.png", kRed), {0});
  const Sample mid = sample(write_image(dir, "mid.png", kGreen), {0});
  const Sample both = sample(write_image(dir, "both.png", kGray), {0, 1});
  const Sample n1 = sample(write_image(dir, "n1.png", cv::Scalar(10, 10, 10)), {});
  const Sample n2 = sample(write_image(dir, "n2.png", cv::Scalar(100, 100, 100)), {});
  const Sample n3 = sample(write_image(dir, "n3.png", cv::Scalar(200, 200, 200)), {});
  // Normal images' max over types of z: n1 0.3, n2 0.1, n3 0.2 -> median n3.
  const std::vector<ImageScores> scores = {scored(low, {0.2f, 0}),  scored(n1, {0, 0.3f}),  scored(high, {0.9f, 0}),
                                           scored(n2, {0.1f, 0}),  scored(mid, {0.5f, 0}), scored(n3, {0.2f, 0.1f}),
                                           scored(both, {0.95f, 0.8f})};
  const cv::Mat fig = heatmap_figure(scores, kTypes, 2);

  // scratch: both (0.95), high (0.9); pit: both is already shown and nothing else has pit;
  // then the normal row.
  ASSERT_EQ(fig.rows, L::kHeader + 3 * L::kCell + L::kFooter);
  EXPECT_NEAR(mean_bgr(fig, 0, 0)[0], 128, 2);
  EXPECT_GT(mean_bgr(fig, 1, 0)[2], 150);
  EXPECT_NEAR(mean_bgr(fig, 2, 0)[0], 200, 2);

  const cv::Mat three = heatmap_figure(scores, kTypes, 3);
  EXPECT_EQ(three.rows, L::kHeader + 4 * L::kCell + L::kFooter);
  EXPECT_GT(mean_bgr(three, 2, 0)[1], 150);  // mid, the third highest
}

TEST(HeatmapFigure, OutlinesTheMaskOfItsTypeInWhite) {
  TempDir dir;
  cv::Mat mask(48, 64, CV_8U, cv::Scalar(0));
  mask(cv::Rect(8, 6, 24, 18)).setTo(255);  // in the top half, clear of the z label
  ASSERT_TRUE(cv::imwrite(dir.file("mask.png"), mask));
  const Sample a = sample(write_image(dir, "a.png", kGray), {0}, {{0, dir.file("mask.png")}});
  const cv::Mat fig = heatmap_figure({scored(a, {0.5f, 0.5f})}, kTypes);

  ASSERT_EQ(fig.rows, L::kHeader + L::kCell + L::kFooter);  // no normal image: no normal row
  // The 24x18 square becomes 60x60 in the 160x160 cell: an outline of about 4 * 60 pixels.
  EXPECT_GT(white_pixels(cell(fig, 0, 1)), 150);
  EXPECT_EQ(white_pixels(cell(fig, 0, 2)), 0);  // pit has no mask
}

TEST(HeatmapFigure, NamesAnUnreadableImageAndRejectsBadArguments) {
  TempDir dir;
  const Sample missing = sample(dir.file("missing.png"), {0});
  const std::string msg = test::message_of([&] { heatmap_figure({scored(missing, {1, 0})}, kTypes); });
  EXPECT_NE(msg.find(dir.file("missing.png")), std::string::npos) << msg;

  const Sample a = sample(write_image(dir, "a.png", kGray), {0});
  EXPECT_THROW(heatmap_figure({scored(a, {1, 0})}, kTypes, 0), std::invalid_argument);
  EXPECT_THROW(heatmap_figure({scored(a, {1})}, kTypes), std::invalid_argument);
  EXPECT_THROW(heatmap_figure({}, kTypes), std::invalid_argument);
  ImageScores no_maps = scored(a, {1, 0});
  no_maps.maps.clear();  // eval keeps the maps; a caller that dropped them gets a clear error
  EXPECT_THROW(heatmap_figure({no_maps}, kTypes), std::invalid_argument);
}
