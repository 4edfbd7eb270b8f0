#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "stages.hpp"
#include "test_util.hpp"

using namespace mtfcdd::host;
using mtfcdd::test::message_of;
using nlohmann::json;

namespace {

// Gray image whose pixel (x, y) holds y * 10 + x, so positions can be read back from values.
cv::Mat coordinates(int width, int height) {
  cv::Mat m(height, width, CV_8U);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) m.at<uchar>(y, x) = static_cast<uchar>(y * 10 + x);
  return m;
}

cv::Mat run(const json& spec, const cv::Mat& image) { return make_stage(spec, "stages[0]")->apply(image); }

double stddev(const cv::Mat& m) {
  cv::Scalar mean, sd;
  cv::meanStdDev(m, mean, sd);
  return sd[0];
}

// Expects parsing `spec` to fail with a message containing every one of `parts`.
void expect_parse_error(const json& spec, const std::string& where, std::initializer_list<const char*> parts) {
  const std::string msg = message_of([&] { make_stage(spec, where); });
  for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

}  // namespace

TEST(Stages, CropTakesTheRegion) {
  const auto stage = make_stage(json{{"type", "crop"}, {"x", 2}, {"y", 1}, {"width", 4}, {"height", 3}}, "stages[0]");
  EXPECT_EQ(stage->name(), "crop");
  const cv::Mat out = stage->apply(coordinates(10, 8));
  ASSERT_EQ(out.size(), cv::Size(4, 3));
  EXPECT_EQ(out.at<uchar>(0, 0), 12);  // (x=2, y=1)
  EXPECT_EQ(out.at<uchar>(2, 3), 35);  // (x=5, y=3)
  // The ROI touching the far edges is still inside.
  EXPECT_EQ(run({{"type", "crop"}, {"x", 6}, {"y", 5}, {"width", 4}, {"height", 3}}, coordinates(10, 8)).size(),
            cv::Size(4, 3));
}

TEST(Stages, CropOutsideTheImageNamesStageAndSizes) {
  const auto stage = make_stage(json{{"type", "crop"}, {"x", 8}, {"y", 0}, {"width", 4}, {"height", 3}}, "stages[2]");
  const std::string msg = message_of([&] { stage->apply(coordinates(10, 8)); });
  for (const char* part : {"crop", "stages[2]", "4x3", "10x8"}) {
    EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  }
  EXPECT_THROW(stage->apply(coordinates(10, 8)), std::runtime_error);
}

TEST(Stages, ResizeKeepsAspectRatioWhenOneSideIsGiven) {
  const cv::Mat img(20, 40, CV_8UC3, cv::Scalar(10, 20, 30));
  EXPECT_EQ(run({{"type", "resize"}, {"width", 20}}, img).size(), cv::Size(20, 10));
  EXPECT_EQ(run({{"type", "resize"}, {"height", 5}}, img).size(), cv::Size(10, 5));
  const cv::Mat both = run({{"type", "resize"}, {"width", 7}, {"height", 9}, {"interpolation", "area"}}, img);
  EXPECT_EQ(both.size(), cv::Size(7, 9));
  EXPECT_EQ(both.type(), CV_8UC3);
  // Nearest keeps the original values exactly when upsampling by 2.
  const cv::Mat near = run({{"type", "resize"}, {"width", 20}, {"interpolation", "nearest"}}, coordinates(10, 8));
  ASSERT_EQ(near.size(), cv::Size(20, 16));
  EXPECT_EQ(near.at<uchar>(2, 6), 13);  // source (x=3, y=1)
}

TEST(Stages, ColorConvertsBetweenGrayAndBgr) {
  const cv::Mat bgr(4, 5, CV_8UC3, cv::Scalar(0, 0, 255));
  const cv::Mat gray = run({{"type", "color"}, {"to", "gray"}}, bgr);
  EXPECT_EQ(gray.type(), CV_8UC1);
  EXPECT_EQ(gray.at<uchar>(1, 1), 76);  // 0.299 * 255
  const cv::Mat back = run({{"type", "color"}, {"to", "bgr"}}, gray);
  EXPECT_EQ(back.type(), CV_8UC3);
  EXPECT_EQ(back.at<cv::Vec3b>(2, 3), cv::Vec3b(76, 76, 76));
  const cv::Mat bgra(4, 5, CV_8UC4, cv::Scalar(1, 2, 3, 200));
  EXPECT_EQ(run({{"type", "color"}, {"to", "bgr"}}, bgra).at<cv::Vec3b>(0, 0), cv::Vec3b(1, 2, 3));
  EXPECT_EQ(run({{"type", "color"}, {"to", "gray"}}, bgra).type(), CV_8UC1);
}

TEST(Stages, ClaheRaisesContrastAndKeepsSizeAndType) {
  cv::Mat gray(64, 64, CV_8U);
  cv::randu(gray, 100, 120);  // low contrast
  const cv::Mat out = run({{"type", "clahe"}, {"clip", 4.0}, {"tile", 4}}, gray);
  EXPECT_EQ(out.size(), gray.size());
  EXPECT_EQ(out.type(), CV_8UC1);
  EXPECT_GT(stddev(out), 1.5 * stddev(gray));

  cv::Mat bgra(64, 64, CV_8UC4);
  cv::randu(bgra, 100, 120);
  bgra.forEach<cv::Vec4b>([](cv::Vec4b& p, const int*) { p[3] = 77; });
  const cv::Mat colour = run({{"type", "clahe"}}, bgra);
  EXPECT_EQ(colour.size(), bgra.size());
  EXPECT_EQ(colour.type(), CV_8UC4);
  EXPECT_EQ(colour.at<cv::Vec4b>(10, 10)[3], 77);  // alpha carried over
  EXPECT_NE(cv::norm(colour, bgra, cv::NORM_INF), 0);
}

TEST(Stages, GaussianBlurSmooths) {
  cv::Mat board(32, 32, CV_8U);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) board.at<uchar>(y, x) = ((x + y) % 2) ? 200 : 40;
  const cv::Mat out = run({{"type", "gaussian_blur"}, {"sigma", 1.5}}, board);
  EXPECT_EQ(out.size(), board.size());
  EXPECT_LT(stddev(out), 0.2 * stddev(board));
  EXPECT_NEAR(cv::mean(out)[0], cv::mean(board)[0], 2.0);
  EXPECT_EQ(run({{"type", "gaussian_blur"}, {"sigma", 1.0}, {"ksize", 3}}, board).size(), board.size());
}

TEST(Stages, NormalizeStretchesToFullRange) {
  cv::Mat img(10, 51, CV_8U);
  for (int x = 0; x < 51; ++x) img.col(x).setTo(50 + x);  // 50..100
  const cv::Mat out = run({{"type", "normalize"}}, img);
  double lo, hi;
  cv::minMaxLoc(out, &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 255);
  EXPECT_NEAR(out.at<uchar>(0, 25), 127.5, 0.5);  // 75 -> 127.5, either rounding

  // Colour: one range over B, G and R so hues are kept; alpha untouched.
  const cv::Mat bgra(2, 2, CV_8UC4, cv::Scalar(50, 75, 100, 9));
  const cv::Vec4b p = run({{"type", "normalize"}, {"mode", "minmax"}}, bgra).at<cv::Vec4b>(0, 0);
  EXPECT_EQ(p[0], 0);
  EXPECT_NEAR(p[1], 127.5, 0.5);
  EXPECT_EQ(p[2], 255);
  EXPECT_EQ(p[3], 9);

  const cv::Mat flat(3, 3, CV_8U, cv::Scalar(42));
  EXPECT_EQ(cv::countNonZero(run({{"type", "normalize"}}, flat) != 42), 0);  // nothing to stretch

  const cv::Mat eq = run({{"type", "normalize"}, {"mode", "equalize"}}, img);
  cv::minMaxLoc(eq, &lo, &hi);
  EXPECT_EQ(hi, 255);
  EXPECT_EQ(run({{"type", "normalize"}, {"mode", "equalize"}}, cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3))).type(),
            CV_8UC3);
}

TEST(Stages, RotateRightAnglesAreExact) {
  const cv::Mat img = coordinates(6, 4);  // width 6, height 4
  const cv::Mat r90 = run({{"type", "rotate"}, {"angle", 90}}, img);
  ASSERT_EQ(r90.size(), cv::Size(4, 6));
  // Counter-clockwise: source (x, y) lands at (y, width - 1 - x); the top-right corner becomes the top-left.
  EXPECT_EQ(r90.at<uchar>(0, 0), img.at<uchar>(0, 5));
  EXPECT_EQ(r90.at<uchar>(6 - 1 - 4, 1), img.at<uchar>(1, 4));

  const cv::Mat r270 = run({{"type", "rotate"}, {"angle", 270}}, img);
  EXPECT_EQ(cv::norm(r270, run({{"type", "rotate"}, {"angle", -90}}, img), cv::NORM_INF), 0);
  EXPECT_EQ(cv::norm(run({{"type", "rotate"}, {"angle", 90}}, r270), img, cv::NORM_INF), 0);
  const cv::Mat r180 = run({{"type", "rotate"}, {"angle", 180}}, img);
  EXPECT_EQ(r180.at<uchar>(0, 0), img.at<uchar>(3, 5));
  EXPECT_EQ(cv::norm(run({{"type", "rotate"}, {"angle", 360}}, img), img, cv::NORM_INF), 0);

  const cv::Mat r30 = run({{"type", "rotate"}, {"angle", 30}}, cv::Mat(20, 30, CV_8UC3, cv::Scalar(5, 6, 7)));
  EXPECT_EQ(r30.size(), cv::Size(30, 20));
  EXPECT_EQ(r30.at<cv::Vec3b>(0, 0), cv::Vec3b(5, 6, 7));  // border replicated, no black corners
}

TEST(Stages, FlipAxes) {
  const cv::Mat img = coordinates(5, 3);
  EXPECT_EQ(run({{"type", "flip"}, {"axis", "horizontal"}}, img).at<uchar>(0, 4), img.at<uchar>(0, 0));
  EXPECT_EQ(run({{"type", "flip"}, {"axis", "vertical"}}, img).at<uchar>(2, 0), img.at<uchar>(0, 0));
  EXPECT_EQ(run({{"type", "flip"}, {"axis", "both"}}, img).at<uchar>(2, 4), img.at<uchar>(0, 0));
}

TEST(Stages, RejectsImagesOutsideTheContract) {
  const auto stage = make_stage(json{{"type", "flip"}, {"axis", "both"}}, "stages[4]");
  const std::string msg = message_of([&] { stage->apply(cv::Mat(4, 4, CV_16U, cv::Scalar(0))); });
  EXPECT_NE(msg.find("flip (stages[4])"), std::string::npos) << msg;
  EXPECT_NE(message_of([&] { stage->apply(cv::Mat()); }).find("empty"), std::string::npos);
}

TEST(Stages, ParseErrorsNameWhereAndKey) {
  expect_parse_error({{"type", "sharpen"}}, "stages[3]", {"stages[3].type", "sharpen"});
  expect_parse_error({{"type", "flip"}, {"axis", "both"}, {"axsi", 1}}, "stages[1]", {"stages[1].axsi", "unknown key"});
  expect_parse_error({{"type", "resize"}, {"interpolation", "area"}}, "stages[0]", {"stages[0].width", "height"});
  expect_parse_error({{"type", "rotate"}}, "stages[2]", {"stages[2].angle", "missing"});
  expect_parse_error({{"type", "clahe"}, {"tile", 0}}, "stages[5]", {"stages[5].tile", "0"});
  expect_parse_error({{"type", "crop"}, {"x", 0}, {"y", 0}, {"width", 0}, {"height", 2}}, "s[0]", {"s[0].width"});
  expect_parse_error({{"type", "crop"}, {"x", 1.5}, {"y", 0}, {"width", 1}, {"height", 2}}, "s[0]", {"s[0].x", "integer"});
  expect_parse_error({{"type", "crop"}, {"x", -1}, {"y", 0}, {"width", 1}, {"height", 2}}, "s[0]", {"s[0].x"});
  expect_parse_error({{"type", "resize"}, {"width", 5}, {"interpolation", "lanczos"}}, "s[0]",
                     {"s[0].interpolation", "lanczos"});
  expect_parse_error({{"type", "color"}, {"to", "hsv"}}, "s[0]", {"s[0].to", "gray"});
  expect_parse_error({{"type", "gaussian_blur"}, {"sigma", 0}}, "s[0]", {"s[0].sigma"});
  expect_parse_error({{"type", "gaussian_blur"}, {"sigma", 1}, {"ksize", 4}}, "s[0]", {"s[0].ksize", "odd"});
  expect_parse_error({{"type", "normalize"}, {"mode", "zscore"}}, "s[0]", {"s[0].mode"});
  expect_parse_error({{"type", "rotate"}, {"angle", "90"}}, "s[0]", {"s[0].angle", "number"});
  expect_parse_error({{"type", "flip"}}, "s[0]", {"s[0].axis"});
  expect_parse_error({{"x", 1}}, "s[7]", {"s[7].type"});
  expect_parse_error(json::array({1, 2}), "s[8]", {"s[8]", "object"});
  EXPECT_THROW(make_stage({{"type", "crop"}, {"x", 0}, {"y", 0}, {"width", 1}, {"height", 1e20}}, "s"),
               std::runtime_error);
  EXPECT_THROW(make_stage({{"type", "resize"}, {"width", 4294967297ull}}, "s"), std::runtime_error);
}
