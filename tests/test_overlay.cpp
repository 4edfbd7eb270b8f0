#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <tuple>

#include <opencv2/imgproc.hpp>

#include "overlay.hpp"
#include "test_util.hpp"

using namespace mtfcdd::host;
using mtfcdd::test::message_of;

namespace {

// A 32x24 low-resolution map (frame 320x240 is 10x) with a hot block at map cells x 10..14, y 8..12.
OverlayType hot_block(const std::string& name, bool decision) {
  OverlayType t;
  t.name = name;
  t.score = 3.5f;
  t.probability = decision ? 0.93f : 0.04f;
  t.decision = decision;
  t.heatmap = cv::Mat(24, 32, CV_32F, cv::Scalar(0));
  t.heatmap(cv::Rect(10, 8, 5, 5)).setTo(1.0f);
  t.pixel_threshold = 0.5f;
  return t;
}

cv::Mat textured_frame(int width, int height) {
  cv::Mat f(height, width, CV_8UC3);
  cv::randu(f, 60, 190);
  return f;
}

double distance(const cv::Vec3b& p, const cv::Scalar& c) {
  return std::sqrt(std::pow(p[0] - c[0], 2) + std::pow(p[1] - c[1], 2) + std::pow(p[2] - c[2], 2));
}

}  // namespace

TEST(Overlay, OutputIsFramePlusLegendStrip) {
  const cv::Mat frame = textured_frame(320, 240);
  const std::vector<OverlayType> types = {hot_block("scratch", true), hot_block("dent", false)};
  const OverlayLayout layout = overlay_layout(frame.size(), types, "reject");
  const cv::Mat out = render_overlay(frame, types, "reject");
  EXPECT_EQ(out.type(), CV_8UC3);
  EXPECT_GT(layout.legend.width, 0);
  EXPECT_EQ(layout.frame, cv::Rect(0, 0, 320, 240));
  EXPECT_EQ(layout.legend.x, 320);  // beside the frame
  EXPECT_EQ(out.size(), cv::Size(320 + layout.legend.width, 240));
  EXPECT_EQ(out.size(), layout.canvas);
}

TEST(Overlay, DefectRegionIsTintedAndFarPixelsAreUntouched) {
  const cv::Mat frame = textured_frame(320, 240);
  const cv::Mat before = frame.clone();
  const cv::Mat out = render_overlay(frame, {hot_block("scratch", true)}, "reject");
  EXPECT_EQ(cv::norm(frame, before, cv::NORM_INF), 0);  // the input is not drawn on

  const cv::Scalar colour = type_colour(0);
  const cv::Point inside(123, 102);  // map cell (12, 10): the block's centre
  const cv::Vec3b was = frame.at<cv::Vec3b>(inside), now = out.at<cv::Vec3b>(inside);
  EXPECT_NE(now, was);
  EXPECT_LT(distance(now, colour), distance(was, colour) - 30);

  // Far from the block (the map is zero there) the frame is exact: top band and bottom-left corner.
  EXPECT_EQ(cv::norm(out(cv::Rect(0, 0, 320, 60)), frame(cv::Rect(0, 0, 320, 60)), cv::NORM_INF), 0);
  EXPECT_EQ(cv::norm(out(cv::Rect(0, 160, 80, 80)), frame(cv::Rect(0, 160, 80, 80)), cv::NORM_INF), 0);
}

TEST(Overlay, OnlyDecidedTypesAreDrawnUnlessShowAll) {
  const cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(128, 128, 128));
  const std::vector<OverlayType> types = {hot_block("scratch", false)};
  const cv::Mat hidden = render_overlay(frame, types, "pass");
  EXPECT_EQ(cv::norm(hidden(cv::Rect(0, 0, 320, 240)), frame, cv::NORM_INF), 0);
  const cv::Mat shown = render_overlay(frame, types, "pass", /*show_all=*/true);
  EXPECT_NE(shown.at<cv::Vec3b>(102, 123), frame.at<cv::Vec3b>(102, 123));
}

TEST(Overlay, SecondTypeUsesItsOwnColour) {
  const cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(128, 128, 128));
  OverlayType other = hot_block("dent", true);
  other.heatmap.setTo(0);
  other.heatmap(cv::Rect(24, 16, 4, 4)).setTo(2.0f);
  other.pixel_threshold = 1.0f;
  const cv::Mat out = render_overlay(frame, {hot_block("scratch", true), other}, "reject");
  const cv::Vec3b p = out.at<cv::Vec3b>(175, 255);  // centre of the second block
  EXPECT_LT(distance(p, type_colour(1)), distance(p, type_colour(0)));
}

// The tint's alpha is 0.6 * value / max(2 * configured threshold, map max); the contour follows the
// threshold in force. A threshold raised by a share of the peak leaves the tint as it was.
TEST(Overlay, TintScalesWithTheConfiguredThresholdNotTheRaisedOne) {
  const cv::Mat frame(60, 60, CV_8UC3, cv::Scalar(120, 120, 120));
  OverlayType t = hot_block("scratch", true);
  t.heatmap = cv::Mat(60, 60, CV_32F, cv::Scalar(0));  // at frame size: no resize
  t.heatmap(cv::Rect(20, 20, 20, 20)).setTo(1.0f);
  t.pixel_threshold = 0.8f;  // raised to 0.8 of the peak
  t.configured_pixel_threshold = 0.1f;
  const auto centre = [&] { return render_overlay(frame, {t}, "reject").at<cv::Vec3b>(30, 30); };
  // Red (0, 0, 255) at alpha 0.6: 120 + 0.6 * (0 - 120) = 48, 120 + 0.6 * (255 - 120) = 201.
  EXPECT_EQ(centre(), cv::Vec3b(48, 48, 201));
  // A map whose peak is below twice its own threshold looks faint: alpha 0.6 * 1 / 1.6 = 0.375,
  // 120 - 0.375 * 120 = 75, 120 + 0.375 * 135 = 170.625, rounded to 171.
  t.configured_pixel_threshold = 0.8f;
  EXPECT_EQ(centre(), cv::Vec3b(75, 75, 171));
}

TEST(Overlay, AcceptsGrayAndBgraFrames) {
  cv::Mat gray(240, 320, CV_8U);
  cv::randu(gray, 0, 256);
  const cv::Mat from_gray = render_overlay(gray, {hot_block("scratch", true)}, "reject");
  EXPECT_EQ(from_gray.type(), CV_8UC3);
  cv::Mat gray_bgr;
  cv::cvtColor(gray, gray_bgr, cv::COLOR_GRAY2BGR);
  EXPECT_EQ(cv::norm(from_gray(cv::Rect(0, 0, 320, 60)), gray_bgr(cv::Rect(0, 0, 320, 60)), cv::NORM_INF), 0);

  cv::Mat bgra(240, 320, CV_8UC4, cv::Scalar(10, 20, 30, 0));
  const cv::Mat from_bgra = render_overlay(bgra, {hot_block("scratch", true)}, "reject");
  EXPECT_EQ(from_bgra.type(), CV_8UC3);
  EXPECT_EQ(from_bgra.at<cv::Vec3b>(5, 5), cv::Vec3b(10, 20, 30));

  EXPECT_THROW(render_overlay(cv::Mat(8, 8, CV_32F), {}, "x"), std::runtime_error);
  EXPECT_THROW(render_overlay(cv::Mat(), {}, "x"), std::runtime_error);
}

TEST(Overlay, EmptyTypeListGivesFrameAndHeader) {
  const cv::Mat frame = textured_frame(200, 150);
  const cv::Mat out = render_overlay(frame, {}, "pass");
  const OverlayLayout layout = overlay_layout(frame.size(), {}, "pass");
  EXPECT_EQ(out.size(), layout.canvas);
  EXPECT_GT(out.cols * out.rows, frame.cols * frame.rows);
  EXPECT_EQ(cv::norm(out(layout.frame), frame, cv::NORM_INF), 0);
  // The header is drawn: the legend is not one flat colour.
  cv::Mat legend_gray;
  cv::cvtColor(out(layout.legend), legend_gray, cv::COLOR_BGR2GRAY);
  double lo, hi;
  cv::minMaxLoc(legend_gray, &lo, &hi);
  EXPECT_GT(hi - lo, 50);
}

TEST(Overlay, LegendScalesWithFrameAndFitsSmallFrames) {
  const std::vector<OverlayType> types = {hot_block("scratch", true), hot_block("dent", false),
                                          hot_block("contamination", false)};
  const OverlayLayout small = overlay_layout({64, 64}, types, "reject");
  const OverlayLayout large = overlay_layout({2000, 1500}, types, "reject");
  EXPECT_GT(large.font_scale, 2 * small.font_scale);
  const cv::Rect small_canvas(cv::Point(0, 0), small.canvas);
  EXPECT_EQ(small.legend & small_canvas, small.legend);  // whole legend inside the canvas
  EXPECT_EQ(small.legend & small.frame, cv::Rect());     // and not over the frame
  EXPECT_GE(small.legend.height, 4 * small.line_height);  // header + 3 rows
  EXPECT_EQ(small.legend.y, 64);                          // narrow frame: legend below
  const cv::Mat out = render_overlay(cv::Mat(64, 64, CV_8UC3, cv::Scalar(90, 90, 90)), types, "reject");
  EXPECT_EQ(out.size(), small.canvas);
  EXPECT_EQ(large.legend.x, 2000);
}

TEST(Overlay, HeatmapEdgeCases) {
  const cv::Mat frame(48, 64, CV_8UC3, cv::Scalar(100, 100, 100));
  OverlayType t = hot_block("scratch", true);
  t.heatmap = cv::Mat(48, 64, CV_32F, cv::Scalar(0));  // already at frame size
  t.heatmap.at<float>(3, 3) = std::numeric_limits<float>::quiet_NaN();
  t.heatmap(cv::Rect(20, 20, 8, 8)).setTo(1.0f);
  const cv::Mat out = render_overlay(frame, {t}, "reject");
  EXPECT_TRUE(std::isnan(t.heatmap.at<float>(3, 3)));  // the caller's map is not patched in place
  EXPECT_EQ(out.at<cv::Vec3b>(3, 3), cv::Vec3b(100, 100, 100));
  EXPECT_NE(out.at<cv::Vec3b>(24, 24), cv::Vec3b(100, 100, 100));

  OverlayType flat = hot_block("flat", true);
  flat.heatmap.setTo(0);
  flat.pixel_threshold = 0;
  // All-zero and empty maps: nothing to show, so the frame comes out as it went in, beside the legend.
  const std::vector<OverlayType> nothing = {flat, OverlayType{}};
  const cv::Mat plain = render_overlay(frame, nothing, "reject");
  const OverlayLayout layout = overlay_layout(frame.size(), nothing, "reject");
  ASSERT_EQ(plain.size(), layout.canvas);
  EXPECT_EQ(cv::norm(plain(layout.frame), frame, cv::NORM_INF), 0);

  OverlayType bad = hot_block("bad_map", true);
  bad.heatmap = cv::Mat(4, 4, CV_32FC3);
  EXPECT_NE(message_of([&] { render_overlay(frame, {bad}, "reject"); }).find("bad_map"), std::string::npos);
}

TEST(Overlay, PaletteIsDistinctThenCycles) {
  std::set<std::tuple<double, double, double>> seen;
  for (size_t i = 0; i < 10; ++i) seen.insert({type_colour(i)[0], type_colour(i)[1], type_colour(i)[2]});
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(type_colour(0), type_colour(12));
}

TEST(Overlay, InFrameKeepsTheSizeTintsTheDefectAndPutsTheLegendTopLeft) {
  cv::Mat frame = textured_frame(320, 240);
  const cv::Mat before = frame.clone();
  draw_overlay_in_frame(frame, {hot_block("scratch", true), hot_block("dent", false)}, "reject");
  EXPECT_EQ(frame.size(), cv::Size(320, 240));
  // The hot block (map cells 10..14 x 8..12, frame pixels 100..149 x 80..129) is tinted red.
  const cv::Vec3b centre = frame.at<cv::Vec3b>(105, 125), was = before.at<cv::Vec3b>(105, 125);
  EXPECT_LT(distance(centre, type_colour(0)), distance(was, type_colour(0)));
  EXPECT_EQ(frame.at<cv::Vec3b>(200, 300), before.at<cv::Vec3b>(200, 300));  // far from block and legend
  EXPECT_EQ(frame.at<cv::Vec3b>(2, 2), cv::Vec3b(32, 32, 32));              // the legend's background
  EXPECT_THROW(draw_overlay_in_frame(frame = cv::Mat(8, 8, CV_8UC1), {}, "x"), std::runtime_error);
}

TEST(Overlay, InFrameLegendShrinksToFitSmallFramesAndListsDrawnTypesOnly) {
  const cv::Mat base = textured_frame(96, 96);
  cv::Mat clean = base.clone(), defect = base.clone();
  draw_overlay_in_frame(clean, {hot_block("scratch", false), hot_block("dent", false)}, "pass");
  draw_overlay_in_frame(defect, {hot_block("scratch", true), hot_block("dent", false)}, "reject");
  const auto legend_rows = [&](const cv::Mat& out) {  // rows of the legend's background colour in column 1
    int rows = 0;
    for (int y = 0; y < out.rows; ++y) rows += out.at<cv::Vec3b>(y, 1) == cv::Vec3b(32, 32, 32);
    return rows;
  };
  // Header only when clean; one more row when a map is drawn; never more than half the frame.
  EXPECT_GT(legend_rows(clean), 0);
  EXPECT_GT(legend_rows(defect), legend_rows(clean));
  EXPECT_LE(legend_rows(defect), 48);
  EXPECT_EQ(clean.at<cv::Vec3b>(90, 90), base.at<cv::Vec3b>(90, 90));
}

// The host and the GStreamer element draw the frame-sized map when the plugin made one.
TEST(Overlay, TypesFromAResultPreferTheFrameSizedHeatmap) {
  const std::vector<float> model(4 * 3, 1.0f), full(40 * 30, 2.0f);
  VpTypeResult t[3]{};
  for (auto& x : t) {
    x.struct_size = sizeof(VpTypeResult);
    x.name = "pit";
    x.decision = 1;
    x.pixel_threshold = 0.5;
    x.configured_pixel_threshold = 0.25;
  }
  t[0].heatmap = {4, 3, model.data()};
  t[0].heatmap_full = {40, 30, full.data()};
  t[1].heatmap = {4, 3, model.data()};
  t[2].name = nullptr;
  VpFrameResult f{};
  f.struct_size = sizeof f;
  f.types = t;
  f.type_count = 3;
  const std::vector<OverlayType> types = overlay_types(f);
  ASSERT_EQ(types.size(), 3u);
  EXPECT_EQ(types[0].heatmap.size(), cv::Size(40, 30));
  EXPECT_EQ(types[0].heatmap.at<float>(0, 0), 2.0f);
  EXPECT_EQ(types[1].heatmap.size(), cv::Size(4, 3));
  EXPECT_TRUE(types[2].heatmap.empty());
  EXPECT_EQ(types[2].name, "");
  EXPECT_TRUE(types[0].decision);
  EXPECT_FLOAT_EQ(types[0].pixel_threshold, 0.5f);
  EXPECT_FLOAT_EQ(types[0].configured_pixel_threshold, 0.25f);
}
