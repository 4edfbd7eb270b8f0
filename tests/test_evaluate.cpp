// Tests for the evaluation summaries (training/eval/evaluate.cpp) against values worked out by
// hand (the working is in the comments). score_split needs a real model bundle and is left to
// integration tests.
//
// Bilinear upsampling used throughout: OpenCV's INTER_LINEAR from 2 to 4 samples maps output
// index d to source position (d + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 (clamped to 0 and 1),
// so a row [a, b] becomes [a, 0.75a + 0.25b, 0.25a + 0.75b, b]. The 2x2 map [[1, 0], [0, 0]] is
// the outer product of w = [1, .75, .25, 0] with itself:
//   1     .75    .25    0
//   .75   .5625  .1875  0
//   .25   .1875  .0625  0
//   0     0      0      0
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "bundle_calibration.hpp"
#include "evaluate.hpp"
#include "test_util.hpp"
#include "two_regions.hpp"

namespace fs = std::filesystem;
using namespace mtfcdd;
using test::TempDir;
using test::TwoRegions;

namespace {

constexpr double kEps = 1e-12;

Sample sample(const std::string& image, std::vector<int> types, std::map<int, std::string> masks = {},
              const std::string& split = "test") {
  Sample s;
  s.image = image;
  s.split = split;
  s.types = std::move(types);
  s.masks = std::move(masks);
  return s;
}

// Maps at w x h the way the paper (and these hand computations) upsample: bilinearly.
Upsampler bilinear(int w, int h) { return {Upsampling::Bilinear, {}, {w, h}, {}}; }

cv::Mat map2(float a, float b, float c, float d) {
  return (cv::Mat_<float>(2, 2) << a, b, c, d);
}
cv::Mat const2(float v) { return map2(v, v, v, v); }

ImageScores scored(const Sample& s, std::vector<double> z, std::vector<double> max_pixel,
                   std::vector<cv::Mat> maps = {}) {
  ImageScores x;
  x.sample = &s;
  x.z = std::move(z);
  x.max_pixel = std::move(max_pixel);
  x.maps = std::move(maps);
  return x;
}

// An 8x8 mask whose top-left 4x4 is 200 (> 127: defect) and with 127 (not > 127: normal) at
// (6, 6). INTER_NEAREST to 4x4 samples source rows/cols 0, 2, 4, 6: the top-left 2x2 is defect,
// (3, 3) reads the 127 and stays normal.
std::string write_mask(const TempDir& dir, const std::string& name) {
  cv::Mat m = cv::Mat::zeros(8, 8, CV_8U);
  m(cv::Rect(0, 0, 4, 4)).setTo(200);
  m.at<uchar>(6, 6) = 127;
  const std::string p = dir.file(name);
  EXPECT_TRUE(cv::imwrite(p, m));
  return p;
}

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

#define EXPECT_HAS(haystack, needle)                               \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "'" << (haystack) << "' lacks '" << (needle) << "'"

// Image-level fixture: types a, b, c (c has no image); no maps (pixel_metrics = false).
//        types  z (a, b, c)      max_pixel (a, b, c)
//   N1   -      .1  .1  0        .2  .2   0
//   N2   -      .2  .3  .7       .3  .3   0
//   A1   a      .5  .4  0        .9  .5   0
//   B1   b      .6  .9  0        .1  .95  0
struct ImageFixture {
  std::vector<std::string> names{"a", "b", "c"};
  std::vector<Sample> samples{sample("n1.png", {}), sample("n2.png", {}), sample("a1.png", {0}),
                              sample("b1.png", {1})};
  std::vector<ImageScores> scores{scored(samples[0], {.1, .1, 0}, {.2, .2, 0}),
                                  scored(samples[1], {.2, .3, .7}, {.3, .3, 0}),
                                  scored(samples[2], {.5, .4, 0}, {.9, .5, 0}),
                                  scored(samples[3], {.6, .9, 0}, {.1, .95, 0})};
  EvalReport report() const { return summarize(scores, names, bilinear(4, 4), false); }
};

// Pixel fixture at input size 4x4: types scratch (0, with a mask) and dent (1, no mask anywhere).
//        types      maps scratch / dent            z (scratch, dent)
//   A    scratch    [[1,0],[0,0]] / 0, mask        .5 .1
//   N    -          .6 / .8 (constant)             .2 .3
//   B    dent       5 / 1 (no mask)                .4 .6
struct PixelFixture {
  TempDir dir;
  std::vector<std::string> names{"scratch", "dent"};
  std::vector<Sample> samples{sample("a.png", {0}, {{0, write_mask(dir, "a_mask.png")}}),
                              sample("n.png", {}), sample("b.png", {1})};
  std::vector<ImageScores> scores{
      scored(samples[0], {.5, .1}, {1, 0}, {map2(1, 0, 0, 0), const2(0)}),
      scored(samples[1], {.2, .3}, {.6, .8}, {const2(.6f), const2(.8f)}),
      scored(samples[2], {.4, .6}, {5, 1}, {const2(5), const2(1)})};
  EvalReport report() const { return summarize(scores, names, bilinear(4, 4), true, 0.3); }
};

}  // namespace

// ---------------------------------------------------------------- image level

TEST(Evaluate, VsNormalDiffersFromVsRest) {
  const ImageFixture f;
  const EvalReport r = f.report();
  ASSERT_EQ(r.types.size(), 3u);
  EXPECT_EQ(r.images, 4u);
  EXPECT_EQ(r.normal, 2u);
  EXPECT_EQ(r.split, "test");

  // a vs normal: A1 .5 against N1 .1, N2 .2: perfectly separated.
  const TypeReport& a = r.types[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.vs_normal.positives, 1u);
  EXPECT_EQ(a.vs_normal.negatives, 2u);
  EXPECT_NEAR(a.vs_normal.auroc, 1.0, kEps);
  EXPECT_NEAR(a.vs_normal.ap, 1.0, kEps);
  EXPECT_NEAR(a.vs_normal.max_f1, 1.0, kEps);
  // a vs rest adds B1 (z_a .6) as a negative above A1: AUROC 2/3 (A1 beats .1, .2, not .6);
  // AP: sorted .6(n) .5(p) -> precision 1/2 at the positive -> .5; max-F1: at t = .5 tp 1 of 2
  // predicted, 1 positive -> 2*1/(2+1) = 2/3 (t = .2: 2/4, t = .1: 2/5).
  EXPECT_EQ(a.vs_rest.positives, 1u);
  EXPECT_EQ(a.vs_rest.negatives, 3u);
  EXPECT_NEAR(a.vs_rest.auroc, 2.0 / 3, kEps);
  EXPECT_NEAR(a.vs_rest.ap, 0.5, kEps);
  EXPECT_NEAR(a.vs_rest.max_f1, 2.0 / 3, kEps);
  // Max-pixel: A1 .9 above .2, .3 (normal) and B1's .1 (rest): 1 both ways.
  EXPECT_NEAR(a.vs_normal_max.auroc, 1.0, kEps);
  EXPECT_NEAR(a.vs_rest_max.auroc, 1.0, kEps);
  EXPECT_NEAR(a.vs_rest_max.ap, 1.0, kEps);

  // b: B1 .9 above .1, .3 (normal) and A1's .4 (rest).
  const TypeReport& b = r.types[1];
  EXPECT_NEAR(b.vs_normal.auroc, 1.0, kEps);
  EXPECT_NEAR(b.vs_rest.auroc, 1.0, kEps);
  EXPECT_EQ(b.vs_rest.negatives, 3u);
  EXPECT_NEAR(b.vs_rest_max.auroc, 1.0, kEps);  // .95 vs .2, .3, .5

  // No pixel metrics asked for.
  EXPECT_TRUE(std::isnan(a.pixel_auroc));
  EXPECT_TRUE(std::isnan(r.any_pixel_auroc));
}

TEST(Evaluate, MeanRowIgnoresNaN) {
  const ImageFixture f;
  const EvalReport r = f.report();
  // c has no image: every image number NaN.
  const TypeReport& c = r.types[2];
  EXPECT_EQ(c.vs_normal.positives, 0u);
  EXPECT_EQ(c.vs_normal.negatives, 2u);
  EXPECT_EQ(c.vs_rest.negatives, 4u);
  EXPECT_TRUE(std::isnan(c.vs_normal.auroc));
  EXPECT_TRUE(std::isnan(c.vs_rest.ap));
  EXPECT_TRUE(std::isnan(c.vs_rest_max.max_f1));
  // Mean over a and b only: AUROC vs normal (1 + 1)/2, vs rest (2/3 + 1)/2 = 5/6,
  // AP vs rest (.5 + 1)/2 = .75, F1 vs rest (2/3 + 1)/2 = 5/6; pixel: all NaN -> NaN.
  EXPECT_EQ(r.mean.name, "Mean");
  EXPECT_NEAR(r.mean.vs_normal.auroc, 1.0, kEps);
  EXPECT_NEAR(r.mean.vs_rest.auroc, 5.0 / 6, kEps);
  EXPECT_NEAR(r.mean.vs_rest.ap, 0.75, kEps);
  EXPECT_NEAR(r.mean.vs_rest.max_f1, 5.0 / 6, kEps);
  EXPECT_NEAR(r.mean.vs_rest_max.auroc, 1.0, kEps);
  EXPECT_TRUE(std::isnan(r.mean.pixel_auroc));
  EXPECT_TRUE(std::isnan(r.mean.aupro));
}

TEST(Evaluate, AnyAnomaly) {
  const ImageFixture f;
  const EvalReport r = f.report();
  // Score = max over types of z: N1 .1, N2 .7, A1 .5, B1 .9; defective A1, B1.
  // AUROC: .5 beats .1 only, .9 beats both -> 3/4. AP: .9(p) .7(n) .5(p) .1(n) ->
  // .5*1 + .5*(2/3) = 5/6. Max-F1: t=.9 2/3, t=.7 2/4, t=.5 tp 2 of 3 -> 4/5, t=.1 4/6 -> .8.
  EXPECT_EQ(r.any.positives, 2u);
  EXPECT_EQ(r.any.negatives, 2u);
  EXPECT_NEAR(r.any.auroc, 0.75, kEps);
  EXPECT_NEAR(r.any.ap, 5.0 / 6, kEps);
  EXPECT_NEAR(r.any.max_f1, 0.8, kEps);
  // Max of max_pixel: N1 .2, N2 .3, A1 .9, B1 .95: separated.
  EXPECT_NEAR(r.any_max.auroc, 1.0, kEps);
  EXPECT_NEAR(r.any_max.max_f1, 1.0, kEps);
  // Confusion: A1 argmax a, B1 argmax b; normal images not counted.
  const std::vector<std::vector<size_t>> want{{1, 0, 0}, {0, 1, 0}, {0, 0, 0}};
  EXPECT_EQ(r.confusion, want);
}

TEST(Evaluate, ConfusionWithMultiTypeImage) {
  const std::vector<std::string> names{"a", "b", "c"};
  const std::vector<Sample> s{sample("a1.png", {0}), sample("a2.png", {0}), sample("ab.png", {0, 1}),
                              sample("c1.png", {2}), sample("n.png", {})};
  const std::vector<ImageScores> sc{
      scored(s[0], {.9, .1, .2}, {0, 0, 0}),  // true a -> predicted a
      scored(s[1], {.1, .5, .2}, {0, 0, 0}),  // true a -> predicted b
      scored(s[2], {.2, .3, .7}, {0, 0, 0}),  // true a and b -> predicted c, in rows a and b
      scored(s[3], {0, 0, 0}, {0, 0, 0}),     // true c, all tied -> the first type, a
      scored(s[4], {9, 9, 9}, {0, 0, 0})};    // normal: not in the matrix
  const EvalReport r = summarize(sc, names, bilinear(4, 4), false);
  const std::vector<std::vector<size_t>> want{{1, 1, 1}, {0, 0, 1}, {1, 0, 0}};
  EXPECT_EQ(r.confusion, want);
  // The multi-type image is a positive of both a and b.
  EXPECT_EQ(r.types[0].vs_rest.positives, 3u);
  EXPECT_EQ(r.types[1].vs_rest.positives, 1u);
}

// ---------------------------------------------------------------- pixel level

TEST(Evaluate, PixelMetricsWithAndWithoutMasks) {
  const PixelFixture f;
  const EvalReport r = f.report();
  // scratch: A (mask) + N (normal); B (dent, no scratch mask) is left out, its 5s never count.
  // Defect pixels (top-left 2x2 of the upsampled A): 1, .75, .75, .5625. Normal pixels: A's
  // other 12 (at most .25) and N's 16 at .6 -> 28. Pairs won: 1, .75, .75 beat all 28 (84);
  // .5625 beats A's 12 only -> (84 + 12) / (4 * 28) = 96/112 = 6/7.
  // AUPRO (one region of 4 pixels): t=1 -> PRO .25, FPR 0; t=.75 -> PRO .75, FPR 0; t=.6 ->
  // FPR 16/28 > .3, PRO still .75 -> area .3 * .75, / .3 = .75.
  const TypeReport& scratch = r.types[0];
  EXPECT_EQ(scratch.pixel_images, 2u);
  EXPECT_NEAR(scratch.pixel_auroc, 6.0 / 7, 1e-9);
  EXPECT_NEAR(scratch.aupro, 0.75, 1e-9);
  // dent: no mask anywhere -> NaN.
  const TypeReport& dent = r.types[1];
  EXPECT_EQ(dent.pixel_images, 0u);
  EXPECT_TRUE(std::isnan(dent.pixel_auroc));
  EXPECT_TRUE(std::isnan(dent.aupro));
  // Mean ignores dent's NaN.
  EXPECT_NEAR(r.mean.pixel_auroc, 6.0 / 7, 1e-9);
  EXPECT_NEAR(r.mean.aupro, 0.75, 1e-9);
}

// The fixture's scratch mask is A's top-left 2x2, where bilinear puts A's hot cell (AUPRO .75,
// above); a receptive field centring cell (0, 0) on pixel (3, 3) puts it on a normal pixel.
TEST(Evaluate, BetterUpsamplerIsTheOneTheMasksPrefer) {
  const PixelFixture f;
  const Upsampler misplaced{Upsampling::Receptive, {3, 2, 3}, {4, 4}, {}};
  std::vector<double> aupro;
  EXPECT_EQ(better_upsampler(f.scores, f.names, {misplaced, bilinear(4, 4)}, &aupro).mode, Upsampling::Bilinear);
  ASSERT_EQ(aupro.size(), 2u);
  EXPECT_LT(aupro[0], 0.75);
  EXPECT_NEAR(aupro[1], 0.75, 1e-9);
  EXPECT_EQ(better_upsampler(f.scores, f.names, {bilinear(4, 4), misplaced}).mode, Upsampling::Bilinear);
  // Without masks both means are NaN: the first candidate.
  const std::vector<ImageScores> unmasked{f.scores[1], f.scores[2]};
  EXPECT_EQ(better_upsampler(unmasked, f.names, {misplaced, bilinear(4, 4)}).mode, Upsampling::Receptive);
  EXPECT_THROW(better_upsampler(f.scores, f.names, {}), std::invalid_argument);
}

// calibrate_manifest answers the report of the maps it settled on: the fixture's bilinear 4x4
// maps give scratch AUPRO .75 (above) and dent has no mask, so the mean AUPRO is .75 as well.
TEST(Evaluate, CalibrateManifestReturnsTheValidationReport) {
  const PixelFixture f;
  BundleManifest man;
  man.input_width = man.input_height = 4;
  man.heatmap_width = man.heatmap_height = 2;
  for (const auto& n : f.names) man.types.push_back({n, n});
  const EvalReport r = calibrate_manifest(man, f.scores, {false, false});
  ASSERT_EQ(r.types.size(), 2u);
  EXPECT_NEAR(r.types[0].aupro, 0.75, 1e-9);
  EXPECT_TRUE(std::isnan(r.types[1].aupro));
  EXPECT_NEAR(r.mean.aupro, 0.75, 1e-9);
  EXPECT_TRUE(man.calibrated);
  EXPECT_TRUE(std::isnan(calibrate_manifest(man, {f.scores[1], f.scores[2]}, {false, false}).mean.aupro));
}

// 192 x 7/6 = 224, x 4/3 = 256, x 3/2 = 288; 299 x 7/6 = 348.83, x 4/3 = 398.67, x 3/2 = 448.5;
// per type: 192 x 4/3 = 256, x 5/3 = 320, x 2 = 384; 299 x 5/3 = 498.33, x 2 = 598.
TEST(Evaluate, BundleSizesRunFromTheTrainedSideToOneAndAHalfOrTwiceIt) {
  EXPECT_EQ(bundle_sizes(192), (std::vector<int64_t>{192, 224, 256, 288}));
  EXPECT_EQ(bundle_sizes(299), (std::vector<int64_t>{299, 349, 399, 449}));
  EXPECT_THROW(bundle_sizes(0), std::invalid_argument);
  EXPECT_EQ(per_type_bundle_sizes(192), (std::vector<int64_t>{192, 256, 320, 384}));
  EXPECT_EQ(per_type_bundle_sizes(299), (std::vector<int64_t>{299, 399, 498, 598}));
  EXPECT_THROW(per_type_bundle_sizes(0), std::invalid_argument);
}

namespace {

// A report of per-type (AUPRO, image AUROC against normal images).
EvalReport report_of(const std::vector<std::pair<double, double>>& types) {
  EvalReport r;
  for (const auto& [aupro, auroc] : types) {
    TypeReport t;
    t.aupro = aupro;
    t.vs_normal.auroc = auroc;
    r.types.push_back(t);
  }
  return r;
}

}  // namespace

// Three candidate sets of networks, five types, ranked by the mean of AUPRO and image AUROC:
// `a` .7, .6, .65 (the best AUPRO loses on its image AUROC), `b` without masks by image AUROC
// (.9), `c` where the later candidates have no AUPRO (the first keeps it), `d` where only the
// last has figures (.4), `e` .7, .7, .65 (a tie: the first).
TEST(Evaluate, EachTypeTakesTheCandidateThatServesItBest) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<EvalReport> candidates{
      report_of({{.5, .9}, {nan, .6}, {.8, .7}, {nan, nan}, {.6, .8}}),
      report_of({{.7, .5}, {nan, .9}, {nan, .9}, {nan, nan}, {.8, .6}}),
      report_of({{.7, .6}, {nan, nan}, {nan, .9}, {.3, .5}, {.7, .6}})};
  // No standard error is known here (no counts, no region spread): the highest figure itself.
  EXPECT_EQ(best_candidate_per_type(candidates, {3, 1, 2}), (std::vector<size_t>{0, 1, 0, 2, 0}));
  EXPECT_THROW(best_candidate_per_type({}, {}), std::invalid_argument);
  EXPECT_THROW(best_candidate_per_type({candidates[0], report_of({{.5, .5}})}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(best_candidate_per_type(candidates, {3, 1}), std::invalid_argument);
  EXPECT_DOUBLE_EQ(per_type_figure(candidates[0].types[0], true), .7);
  EXPECT_DOUBLE_EQ(per_type_figure(candidates[0].types[0], false), .9);
}

// Candidates of 3, 1 and 2 runs, every AUPRO SE .06 and image AUROC SE .1 (.07 for the third
// type); type 0: figures .70, .75, .73, the best's standard error sqrt(.06^2 + .1^2) / 2 = .0583,
// so the three runs' .70 is within it; type 1: the three runs' .69 is not, the two runs' .73 is;
// type 2 (no masks): image AUROC .85 against the best's .9 with standard error .07.
TEST(Evaluate, WithinOneStandardErrorTheTypeTakesTheMostRuns) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<EvalReport> candidates{report_of({{.60, .8}, {.58, .8}, {nan, .85}}),
                                     report_of({{.70, .8}, {.70, .8}, {nan, .90}}),
                                     report_of({{.66, .8}, {.66, .8}, {nan, .80}})};
  for (auto& c : candidates)
    for (auto& t : c.types) {
      t.aupro_se = std::isnan(t.aupro) ? nan : .06;
      t.auroc_se = std::isnan(t.aupro) ? .07 : .1;
    }
  EXPECT_NEAR(per_type_figure_se(candidates[1].types[0], true), std::sqrt(.0136) / 2, 1e-12);
  EXPECT_NEAR(per_type_figure_se(candidates[1].types[2], false), .07, 1e-12);
  EXPECT_EQ(best_candidate_per_type(candidates, {3, 1, 2}), (std::vector<size_t>{0, 2, 0}));
  // As many runs each: the highest figure.
  EXPECT_EQ(best_candidate_per_type(candidates, {1, 1, 1}), (std::vector<size_t>{1, 1, 1}));
}

// Runs of 2 and 1 networks; type 0 from both runs (three networks, 1/3 each), type 1 from the
// first run (its two networks, 1/2 each), type 2 from the second run alone.
TEST(Evaluate, NetworkSharesSplitEachTypeOverItsRunsNetworks) {
  const float third = 1.f / 3;
  EXPECT_EQ(network_shares({2, 1}, {3u, 1u, 2u}),
            (std::vector<std::vector<float>>{{third, .5f, 0.f}, {third, .5f, 0.f}, {third, 0.f, 1.f}}));
  EXPECT_THROW(network_shares({2, 1}, {0u}), std::invalid_argument);
  EXPECT_THROW(network_shares({2, 1}, {4u}), std::invalid_argument);
}

// Three types on 8x8 maps at an 8x8 input: `uneven` lights its mask (the left half) in a
// checkerboard, as large defects light a map in patches; `crack` lights its one-column mask
// exactly; `dent` has no mask. The normal image reads .2 everywhere. Unsmoothed, half of
// uneven's region stays at 0 (AUPRO about .5); smoothed, the region reads about .35 or more
// against at most .2 outside. crack's AUPRO is 1 either way: the tie keeps the first sigma.
TEST(Evaluate, BetterSmoothingIsEachTypesOwn) {
  const TempDir dir;
  const auto mask = [&](const std::string& name, cv::Rect defect) {
    cv::Mat m = cv::Mat::zeros(8, 8, CV_8U);
    m(defect).setTo(255);
    const std::string p = dir.file(name);
    EXPECT_TRUE(cv::imwrite(p, m));
    return p;
  };
  const std::vector<Sample> s{sample("u.png", {0}, {{0, mask("u.png", {0, 0, 4, 8})}}),
                              sample("c.png", {1}, {{1, mask("c.png", {6, 0, 1, 8})}}), sample("n.png", {})};
  cv::Mat patches = cv::Mat::zeros(8, 8, CV_32F), line = cv::Mat::zeros(8, 8, CV_32F);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 4; ++x) patches.at<float>(y, x) = (x + y) % 2;
  line.col(6).setTo(1);
  const cv::Mat zero = cv::Mat::zeros(8, 8, CV_32F), low(8, 8, CV_32F, cv::Scalar(0.2));
  const std::vector<ImageScores> val{scored(s[0], {1, 0, 0}, {1, 0, 0}, {patches, zero, zero}),
                                     scored(s[1], {0, 1, 0}, {0, 1, 0}, {zero, line, zero}),
                                     scored(s[2], {.2, .2, .2}, {.2, .2, .2}, {low, low, low})};
  std::vector<std::vector<double>> aupro;
  const auto sigmas = better_smoothing(val, {"uneven", "crack", "dent"}, bilinear(8, 8), {0, 1, 2}, &aupro);
  ASSERT_EQ(sigmas.size(), 3u);
  EXPECT_GT(sigmas[0], 0.0);
  EXPECT_EQ(sigmas[1], 0.0);
  EXPECT_EQ(sigmas[2], 0.0);
  ASSERT_EQ(aupro.size(), 3u);
  EXPECT_LT(aupro[0][0], 0.6);
  EXPECT_GT(aupro[1][0], 0.95);
  EXPECT_NEAR(aupro[0][1], 1.0, 1e-9);
  EXPECT_TRUE(std::isnan(aupro[0][2]));
  EXPECT_THROW(better_smoothing(val, {"uneven", "crack", "dent"}, bilinear(8, 8), {}), std::invalid_argument);
  // No wider than the defects: uneven's one region is 4 x 8 = 32 px, radius sqrt(32 / pi) = 3.19
  // px = 3.19 cells of 1 px; crack's 1 x 8, 1.60; dent has no mask. Sigma 4 is past uneven's cap.
  std::vector<double> widest;
  const auto capped = better_smoothing(val, {"uneven", "crack", "dent"}, bilinear(8, 8), {0, 4}, nullptr, &widest);
  ASSERT_EQ(widest.size(), 3u);
  EXPECT_NEAR(widest[0], std::sqrt(32 / M_PI), 1e-9);
  EXPECT_NEAR(widest[1], std::sqrt(8 / M_PI), 1e-9);
  EXPECT_TRUE(std::isinf(widest[2]));
  EXPECT_EQ(capped[0], 0.0);
}

// `chip`'s map lights the columns beside its mask (columns 2-3) and not the mask: unsmoothed the
// region reads 0, below the normal image's .2, while the lit columns alone are 16 of the 112
// normal pixels (FPR .14) and the next threshold (.2) jumps to FPR .71: PRO is 0 up to the limit,
// AUPRO exactly 0. Sigma 1 spills the lit columns into the region (about .3, above .2), so its
// AUPRO looks better; maps that miss the masks cannot rank sigmas, and the first is kept.
TEST(Evaluate, BetterSmoothingKeepsTheFirstSigmaWhereMasksAreNotFound) {
  const TempDir dir;
  cv::Mat m = cv::Mat::zeros(8, 8, CV_8U);
  m(cv::Rect(2, 0, 2, 8)).setTo(255);
  ASSERT_TRUE(cv::imwrite(dir.file("chip.png"), m));
  const std::vector<Sample> s{sample("chip.png", {0}, {{0, dir.file("chip.png")}}), sample("n.png", {})};
  cv::Mat beside = cv::Mat::zeros(8, 8, CV_32F);
  beside.col(1).setTo(1);
  beside.col(4).setTo(1);
  const std::vector<ImageScores> val{scored(s[0], {.25}, {1}, {beside}),
                                     scored(s[1], {.2}, {.2}, {cv::Mat(8, 8, CV_32F, cv::Scalar(0.2))})};
  std::vector<std::vector<double>> aupro;
  EXPECT_EQ(better_smoothing(val, {"chip"}, bilinear(8, 8), {0, 1}, &aupro), std::vector<double>{0});
  EXPECT_NEAR(aupro[0][0], 0.0, 1e-12);
  EXPECT_GT(aupro[1][0], kAuproChance);
}

// The pixel F1 at given thresholds, on the same pixels as AUROC: scratch's defect pixels 1, .75,
// .75, .5625 against A's 12 (at most .25) and N's 16 at .6.
TEST(Evaluate, PixelF1AtTheBundleThresholdAndTheBest) {
  const PixelFixture f;
  const EvalReport r = summarize(f.scores, f.names, bilinear(4, 4), true, 0.3, {0.7, 0.5});
  const TypeReport& scratch = r.types[0];
  // t = .7: 1, .75, .75 fire, all defects: P 1, R 3/4, F1 6/7.
  EXPECT_NEAR(scratch.pixel_at_threshold.f1, 6.0 / 7, 1e-9);
  EXPECT_NEAR(scratch.pixel_at_threshold.precision, 1.0, 1e-9);
  EXPECT_NEAR(scratch.pixel_at_threshold.recall, 0.75, 1e-9);
  // Best: t = .75 (the same three; at .6 N's 16 join).
  EXPECT_NEAR(scratch.pixel_best.f1, 6.0 / 7, 1e-9);
  EXPECT_NEAR(scratch.pixel_best.threshold, 0.75, 1e-6);
  EXPECT_TRUE(std::isnan(r.types[1].pixel_at_threshold.f1));  // dent has no mask
  EXPECT_NEAR(r.mean.pixel_at_threshold.f1, 6.0 / 7, 1e-9);
  EXPECT_TRUE(std::isnan(f.report().types[0].pixel_at_threshold.f1));  // no thresholds given
  EXPECT_NEAR(f.report().types[0].pixel_best.f1, 6.0 / 7, 1e-9);
  EXPECT_THROW(summarize(f.scores, f.names, bilinear(4, 4), true, 0.3, {0.7}), std::invalid_argument);
  // A share of .3 of each map's peak stays below .7 on every image: the same F1, and the report
  // names the share beside the threshold.
  const EvalReport shared = summarize(f.scores, f.names, bilinear(4, 4), true, 0.3, {0.7, 0.5}, {0.3, 0});
  EXPECT_NEAR(shared.types[0].pixel_at_threshold.f1, 6.0 / 7, 1e-9);
  EXPECT_HAS(markdown_report(shared), "| scratch | 0.7 | 0.3 | 85.7 |");
  EXPECT_EQ(report_json(shared).at("types").at(0).at("peak_fraction"), 0.3);
}

TEST(Evaluate, AnyAnomalyPixel) {
  const PixelFixture f;
  const EvalReport r = f.report();
  // Images with a mask (A) + normal (N); B left out. Fused map = max over types: A's dent map is
  // 0 so A stays the scratch map; N becomes max(.6, .8) = .8 everywhere. Defect 1 beats all 28
  // normals, .75, .75, .5625 beat only A's 12 -> (28 + 36) / 112 = 4/7.
  // AUPRO: t=1 -> PRO .25; t=.8 -> FPR 16/28 > .3 with PRO .25 -> .25.
  EXPECT_EQ(r.any_pixel_images, 2u);
  EXPECT_NEAR(r.any_pixel_auroc, 4.0 / 7, 1e-9);
  EXPECT_NEAR(r.any_aupro, 0.25, 1e-9);
}

TEST(Evaluate, UnreadableMaskNamesTheFile) {
  TempDir dir;
  const std::vector<Sample> s{sample("a.png", {0}, {{0, dir.file("missing_mask.png")}})};
  const std::vector<ImageScores> sc{scored(s[0], {.5}, {.5}, {const2(.5f)})};
  try {
    summarize(sc, {"scratch"}, bilinear(4, 4));
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_HAS(e.what(), "missing_mask.png");
  }
}

TEST(Evaluate, InconsistentScoresThrow) {
  const std::vector<Sample> s{sample("a.png", {0})};
  // Two types named, one score.
  EXPECT_THROW(summarize({scored(s[0], {.5}, {.5})}, {"a", "b"}, bilinear(4, 4), false), std::invalid_argument);
  // Pixel metrics without maps.
  EXPECT_THROW(summarize({scored(s[0], {.5}, {.5})}, {"a"}, bilinear(4, 4), true), std::invalid_argument);
  // A type index outside the names.
  const std::vector<Sample> bad{sample("x.png", {3})};
  EXPECT_THROW(summarize({scored(bad[0], {.5}, {.5})}, {"a"}, bilinear(4, 4), false), std::invalid_argument);
}

// ---------------------------------------------------------------- calibration

TEST(Evaluate, CalibrationMaxF1AndQuantileFallback) {
  TempDir dir;
  const std::vector<std::string> names{"scratch", "dent"};
  const std::vector<Sample> s{sample("a.png", {0}, {{0, write_mask(dir, "a_mask.png")}}, "val"),
                              sample("n.png", {}, {}, "val"), sample("n2.png", {}, {}, "val")};
  const std::vector<ImageScores> val{
      scored(s[0], {.5, .05}, {0, 0}, {map2(1, 0, 0, 0), const2(0)}),
      scored(s[1], {.2, .1}, {0, 0}, {const2(.6f), const2(.2f)}),
      scored(s[2], {.4, .3}, {0, 0}, {const2(.05f), map2(.4f, .8f, .4f, .8f)})};
  const Calibration c = calibrate(val, names, bilinear(4, 4), {-1, -1}, {-1, -1}, 0.99, 0.5);
  ASSERT_EQ(c.image.size(), 2u);
  ASSERT_EQ(c.pixel.size(), 2u);
  // scratch image: z .5 (p), .4, .2 (n): t = .5 gives F1 1.
  EXPECT_DOUBLE_EQ(c.image[0], 0.5);
  // scratch pixel (A + N + N2): 1(p) F1 2/5; .75 (2 p) tp 3 of 3 -> 6/7; .6 (16 n) 6/23;
  // .5625(p) 8/24; lower thresholds only add normals -> .75.
  EXPECT_DOUBLE_EQ(c.pixel[0], 0.75);
  // dent: no image -> .99 quantile of z over normals {.1, .3}: .1 + .99 * .2 = .298.
  EXPECT_NEAR(c.image[1], 0.298, kEps);
  // dent: no mask -> .5 quantile of the normal pixels: 16 x .2 (N) and N2's rows
  // [.4, .5, .7, .8] x 4; sorted, positions 15 and 16 are .2 and .4 -> 15.5 -> .3 (float maps).
  EXPECT_NEAR(c.pixel[1], 0.3, 1e-6);
  // One note per fallback, both about dent.
  ASSERT_EQ(c.notes.size(), 2u) << ::testing::PrintToString(c.notes);
  for (const std::string& n : c.notes) {
    EXPECT_HAS(n, "'dent'");
    EXPECT_HAS(n, "quantile");
  }
  EXPECT_HAS(c.notes[0], "no image of this type");
  EXPECT_HAS(c.notes[1], "no mask of this type");
}

// 4x4 maps at a 4x4 input. A's scratch map is .5 on its 2x2 mask, 0 elsewhere; N is 0 but for
// one pixel at .9; N2 is 0. Max-F1: at .9 no defect pixel; at .5 tp 4, fp 1 -> 8/9: t = .5.
// The .99 quantile of the 32 normal pixels (31 zeros, one .9): position 30.69 -> .69 * .9 = .621,
// above .5: the threshold is raised to it, with a note.
TEST(Evaluate, CalibrationRaisesMaxF1ToTheNormalQuantile) {
  TempDir dir;
  const std::vector<Sample> s{sample("a.png", {0}, {{0, write_mask(dir, "a_mask.png")}}, "val"),
                              sample("n.png", {}, {}, "val"), sample("n2.png", {}, {}, "val")};
  cv::Mat a = cv::Mat::zeros(4, 4, CV_32F), n = cv::Mat::zeros(4, 4, CV_32F);
  a(cv::Rect(0, 0, 2, 2)).setTo(0.5);
  n.at<float>(3, 3) = 0.9f;
  const std::vector<ImageScores> val{scored(s[0], {.5}, {.5}, {a}), scored(s[1], {.1}, {.9}, {n}),
                                     scored(s[2], {.1}, {0}, {cv::Mat::zeros(4, 4, CV_32F)})};
  const Calibration c = calibrate(val, {"scratch"}, bilinear(4, 4), {0}, {0}, 0.99, 0.99);
  EXPECT_NEAR(c.pixel[0], 0.69 * 0.9, 1e-6);
  ASSERT_EQ(c.notes.size(), 1u) << ::testing::PrintToString(c.notes);
  EXPECT_HAS(c.notes[0], "pixel max-F1 threshold 0.5 raised to the 0.99 quantile");
  // Without the outlier the quantile is 0 and max-F1's .5 stands, without a note.
  const std::vector<ImageScores> clean{val[0], val[2]};
  const Calibration d = calibrate(clean, {"scratch"}, bilinear(4, 4), {0}, {0}, 0.99, 0.99);
  EXPECT_DOUBLE_EQ(d.pixel[0], 0.5);
  EXPECT_TRUE(d.notes.empty()) << ::testing::PrintToString(d.notes);
}

// 4x4 maps at a 4x4 input, each defect on its image's top-left 2x2. A: a strong scratch, peak 1,
// the rest of its mask .9 and a halo of .6 around it; B: a faint one, .5 on its mask and .1 around;
// N: normal, .05. The threshold alone: 1 -> 2/(1+8); .9 -> 8/(4+8) = 2/3 (the best); .6 -> 8/24;
// .5 -> 16/(20+8). With each image's threshold at least .7 of its peak A's halo (.6 < .7) and B's
// rest (.1 < .35) cannot fire: .5 takes the 8 defect pixels and no other, F1 1. Shares .1 to .6
// keep A's halo; .7 is the first of kPeakFractions to reach 1.
// The gain of 1/3 is then weighed against its standard error over the parts. Shares of F1 per
// part, (A_g - R B_g) / sum B: the share rule's are all 0 (F1 1 on every part); the threshold
// alone's (R 2/3, sum B 12) A 2/9, B -2/9, N 0. Three parts: SE sqrt(3/2 * 2 * (2/9)^2) = 0.385,
// above the gain: the threshold alone stays. Three images of A and three of B as six parts: sum B
// 36, shares +-2/27, SE sqrt(7/6 * 6 * (2/27)^2) = 0.196: the share is kept.
TEST(Evaluate, CalibrationChoosesAPeakFractionThatBeatsTheThresholdAloneOverTheParts) {
  TempDir dir;
  const std::string mask = write_mask(dir, "mask.png");
  cv::Mat a(4, 4, CV_32F, cv::Scalar(0.6)), b(4, 4, CV_32F, cv::Scalar(0.1));
  a(cv::Rect(0, 0, 2, 2)).setTo(0.9);
  a.at<float>(0, 0) = 1;
  b(cv::Rect(0, 0, 2, 2)).setTo(0.5);
  std::vector<Sample> s;
  for (int i = 0; i < 3; ++i) {
    s.push_back(sample("a" + std::to_string(i) + ".png", {0}, {{0, mask}}, "val"));
    s.push_back(sample("b" + std::to_string(i) + ".png", {0}, {{0, mask}}, "val"));
  }
  s.push_back(sample("n.png", {}, {}, "val"));
  const cv::Mat n(4, 4, CV_32F, cv::Scalar(0.05));
  const std::vector<ImageScores> three{scored(s[0], {.8}, {1}, {a}), scored(s[1], {.3}, {.5}, {b}),
                                       scored(s[6], {.05}, {.05}, {n})};
  const Calibration few = calibrate(three, {"scratch"}, bilinear(4, 4), {0}, {0});
  EXPECT_EQ(few.peak_fraction[0], 0);
  EXPECT_NEAR(few.pixel[0], 0.9, 1e-6);
  const PeakFractionChoice& c = few.peak_fraction_choice[0];
  EXPECT_DOUBLE_EQ(c.best, 0.7);
  EXPECT_DOUBLE_EQ(c.best_f1, 1);
  EXPECT_NEAR(c.alone_f1, 2.0 / 3, 1e-12);
  EXPECT_NEAR(c.gain_se, 2.0 / 9 * std::sqrt(3.0), 1e-12);

  std::vector<ImageScores> seven;
  for (int i = 0; i < 3; ++i) {
    seven.push_back(scored(s[2 * i], {.8}, {1}, {a}));
    seven.push_back(scored(s[2 * i + 1], {.3}, {.5}, {b}));
  }
  seven.push_back(three[2]);
  const Calibration many = calibrate(seven, {"scratch"}, bilinear(4, 4), {0}, {0});
  EXPECT_DOUBLE_EQ(many.peak_fraction[0], 0.7);
  EXPECT_NEAR(many.pixel[0], 0.5, 1e-6);
  EXPECT_NEAR(many.peak_fraction_choice[0].gain_se, std::sqrt(7.0 / 6 * 6) * 2 / 27, 1e-12);
  // The same six images of two parts (the manifest's group): as few parts as before.
  for (int i = 0; i < 6; ++i) s[i].group = i % 2 ? "b" : "a";
  EXPECT_EQ(calibrate(seven, {"scratch"}, bilinear(4, 4), {0}, {0}).peak_fraction[0], 0);
  // Only the threshold: .9, as max-F1 alone gives.
  const Calibration alone = calibrate(seven, {"scratch"}, bilinear(4, 4), {0}, {0}, kNormalImageQuantile,
                                      kNormalPixelQuantile, {0});
  EXPECT_EQ(alone.peak_fraction[0], 0);
  EXPECT_NEAR(alone.pixel[0], 0.9, 1e-6);
  // summarize's pixel F1 at the bundle's rule: 1 with the share, 16/28 at .5 without it.
  EXPECT_DOUBLE_EQ(summarize(three, {"scratch"}, bilinear(4, 4), true, 0.3, {0.5}, {0.7}).types[0]
                       .pixel_at_threshold.f1, 1);
  EXPECT_NEAR(summarize(three, {"scratch"}, bilinear(4, 4), true, 0.3, {0.5}).types[0].pixel_at_threshold.f1,
              16.0 / 28, 1e-12);
  EXPECT_THROW(calibrate(three, {"scratch"}, bilinear(4, 4), {0}, {0}, 0.99, 0.999, {}), std::invalid_argument);
  EXPECT_THROW(calibrate(three, {"scratch"}, bilinear(4, 4), {0}, {0}, 0.99, 0.999, {0.5}), std::invalid_argument);
  EXPECT_THROW(calibrate(three, {"scratch"}, bilinear(4, 4), {0}, {0}, 0.99, 0.999, {0, 1}), std::invalid_argument);
  EXPECT_THROW(summarize(three, {"scratch"}, bilinear(4, 4), true, 0.3, {0.5}, {0.7, 0.7}), std::invalid_argument);
}

TEST(Evaluate, CalibrationKeepsFallbackWithoutNormals) {
  TempDir dir;
  const std::vector<std::string> names{"scratch", "dent"};
  const std::vector<Sample> s{sample("a.png", {0}, {{0, write_mask(dir, "a_mask.png")}}, "val")};
  const std::vector<ImageScores> val{scored(s[0], {.5, .05}, {0, 0}, {map2(1, 0, 0, 0), const2(0)})};
  const Calibration c = calibrate(val, names, bilinear(4, 4), {1.5, 2.5}, {3.5, 4.5});
  // scratch image: no negative and no normal image -> fallback 1.5.
  EXPECT_DOUBLE_EQ(c.image[0], 1.5);
  // scratch pixel: A's own pixels have both classes; the lowest defect value .5625 takes all 4
  // defect pixels and no normal one (normals are at most .25) -> F1 1 at .5625.
  EXPECT_DOUBLE_EQ(c.pixel[0], 0.5625);
  // dent: no image, no mask, no normal -> fallbacks.
  EXPECT_DOUBLE_EQ(c.image[1], 2.5);
  EXPECT_DOUBLE_EQ(c.pixel[1], 4.5);
  ASSERT_EQ(c.notes.size(), 3u) << ::testing::PrintToString(c.notes);
  EXPECT_HAS(c.notes[0], "'scratch'");
  EXPECT_HAS(c.notes[0], "1.5");
  EXPECT_HAS(c.notes[1], "'dent'");
  EXPECT_HAS(c.notes[2], "4.5");
  // Fallback vectors must have one value per type.
  EXPECT_THROW(calibrate(val, names, bilinear(4, 4), {1.5}, {3.5, 4.5}), std::invalid_argument);
}

TEST(Evaluate, CalibrationSubsamplesLargePixelSets) {
  TempDir dir;
  // 2 images at 1500x1500 = 4.5M pixels > 4M: every 2nd pixel is kept, with a note. Constant
  // maps: A's scratch map .9 with the top-left quarter defect, N's .1 -> threshold .9 either way.
  const std::vector<Sample> s{sample("a.png", {0}, {{0, write_mask(dir, "a_mask.png")}}, "val"),
                              sample("n.png", {}, {}, "val")};
  const std::vector<ImageScores> val{scored(s[0], {.9}, {.9}, {const2(.9f)}),
                                     scored(s[1], {.1}, {.1}, {const2(.1f)})};
  const Calibration c = calibrate(val, {"scratch"}, bilinear(1500, 1500), {0}, {0});
  EXPECT_DOUBLE_EQ(c.image[0], 0.9);
  EXPECT_NEAR(c.pixel[0], 0.9, 1e-6);
  ASSERT_EQ(c.notes.size(), 1u) << ::testing::PrintToString(c.notes);
  EXPECT_HAS(c.notes[0], "1 pixel in 2 of 4500000");
}

// ---------------------------------------------------------------- reports

TEST(Evaluate, ScoresCsv) {
  TempDir dir;
  const std::vector<std::string> names{"scratch", "dent, deep"};
  const std::vector<Sample> s{sample("/data/a,b.png", {0, 1}), sample("/data/say \"hi\".png", {})};
  const std::vector<ImageScores> sc{scored(s[0], {0.1, 1.0 / 3}, {2, 1e-10}),
                                    scored(s[1], {0, 0.25}, {0.5, 1e6})};
  const std::string p = dir.file("scores.csv");
  write_scores_csv(sc, names, p);
  // Fields with a comma or a quote are quoted, quotes doubled; CRLF line ends; %.9g numbers.
  const std::string want =
      "image,split,types,z_scratch,\"z_dent, deep\",maxpix_scratch,\"maxpix_dent, deep\"\r\n"
      "\"/data/a,b.png\",test,\"scratch;dent, deep\",0.1,0.333333333,2,1e-10\r\n"
      "\"/data/say \"\"hi\"\".png\",test,,0,0.25,0.5,1000000\r\n";
  EXPECT_EQ(read_file(p), want);
  EXPECT_THROW(write_scores_csv(sc, names, dir.file("no/such/dir/x.csv")), std::runtime_error);
}

// Metrics.AurocStandardErrorOverParts' scores and Metrics.AuproRegionsArePerImage's maps as
// images of parts (`group`): summarize counts each part once, and an image without a group alone.
TEST(Evaluate, StandardErrorsCountEachPartOnce) {
  const auto part = [](Sample s, const std::string& g) { return s.group = g, s; };
  std::vector<Sample> img{part(sample("p1", {0}), "p0"), part(sample("p2", {0}), "p0"), part(sample("p3", {0}), "p1"),
                          part(sample("n1", {}), "n0"), part(sample("n2", {}), "n0"), part(sample("n3", {}), "")};
  const std::vector<double> z{.9, .2, .7, .5, .3, .8};
  const auto image_report = [&] {
    std::vector<ImageScores> sc;
    for (size_t i = 0; i < img.size(); ++i) sc.push_back(scored(img[i], {z[i]}, {z[i]}));
    return summarize(sc, {"a"}, bilinear(4, 4), false, 0.3).types[0];
  };
  EXPECT_NEAR(image_report().auroc_se, std::sqrt(20.0 / 729), 1e-12);
  EXPECT_EQ(image_report().groups, 2u);
  for (auto& s : img) s.group.clear();
  EXPECT_NEAR(image_report().auroc_se, std::sqrt(24.0 / 243), 1e-12);
  EXPECT_EQ(image_report().groups, 3u);

  const TempDir dir;
  const TwoRegions r;
  ASSERT_TRUE(cv::imwrite(dir.file("k0.png"), r.k0) && cv::imwrite(dir.file("k1.png"), r.k1));
  std::vector<Sample> masked{part(sample("a", {0}, {{0, dir.file("k0.png")}}), "t0"),
                             part(sample("b", {0}, {{0, dir.file("k1.png")}}), "t1")};
  const auto pixel_report = [&] {
    const std::vector<ImageScores> sc{scored(masked[0], {1}, {1}, {r.m0}), scored(masked[1], {1}, {1}, {r.m1})};
    return summarize(sc, {"a"}, bilinear(4, 4), true, 0.3).types[0];
  };
  EXPECT_NEAR(pixel_report().aupro_se, 17.0 / 60, 1e-12);  // two parts: regions 1 and 13/30
  masked[1].group = "t0";
  EXPECT_TRUE(std::isnan(pixel_report().aupro_se));  // one part
  EXPECT_EQ(pixel_report().regions, 2u);
}

TEST(Evaluate, MarkdownReport) {
  const PixelFixture f;
  const std::string md = markdown_report(f.report());
  // Type rows with their image count, a Mean row, percentages with one decimal.
  EXPECT_HAS(md, "| scratch | 1 |");
  EXPECT_HAS(md, "| dent | 1 |");
  EXPECT_HAS(md, "| Mean | - |");
  // scratch: pixel AUROC 6/7 = 85.7 %, AUPRO 75.0 %; dent: '-' for both NaN.
  EXPECT_HAS(md, "| 85.7 | 75.0 |\n");
  EXPECT_HAS(md, "| - | - |\n");
  // Standard errors: one part of scratch (a.png), one region: neither is known.
  EXPECT_HAS(md, "| scratch | 1 | 100.0 | - | 1 | 75.0 | - |\n");
  // scratch vs normal: A .5 vs N .2 -> 100.0.
  EXPECT_HAS(md, "| scratch | 1 | 100.0 | 100.0 | 100.0 |");
  EXPECT_HAS(md, "Max-pixel");
  EXPECT_HAS(md, "Any anomaly");
  EXPECT_HAS(md, "pixel AUROC 57.1, AUPRO 25.0");
  // Confusion: A (scratch) argmax scratch (.5 > .1); B (dent) argmax dent (.6 > .4).
  EXPECT_HAS(md, "| true / predicted | scratch | dent |");
  EXPECT_HAS(md, "| scratch | 1 | 0 |\n");
  EXPECT_HAS(md, "| dent | 0 | 1 |\n");
}

TEST(Evaluate, JsonNullForNaN) {
  const PixelFixture f;
  const nlohmann::json j = report_json(f.report());
  EXPECT_EQ(j["split"], "test");
  EXPECT_EQ(j["images"], 3);
  EXPECT_EQ(j["normal"], 1);
  ASSERT_EQ(j["types"].size(), 2u);
  EXPECT_EQ(j["types"][0]["name"], "scratch");
  EXPECT_NEAR(j["types"][0]["pixel_auroc"].get<double>(), 6.0 / 7, 1e-9);
  EXPECT_TRUE(j["types"][1]["pixel_auroc"].is_null());
  EXPECT_TRUE(j["types"][1]["aupro"].is_null());
  EXPECT_EQ(j["types"][1]["pixel_images"], 0);
  // dent vs normal: B .6 vs N .3 -> 1; dent has 1 positive, 1 normal negative, 2 rest negatives.
  EXPECT_NEAR(j["types"][1]["vs_normal"]["auroc"].get<double>(), 1.0, kEps);
  EXPECT_EQ(j["types"][1]["vs_rest"]["negatives"], 2);
  EXPECT_EQ(j["mean"]["name"], "Mean");
  EXPECT_NEAR(j["any_aupro"].get<double>(), 0.25, 1e-9);
  EXPECT_EQ(j["confusion"]["labels"], nlohmann::json({"scratch", "dent"}));
  EXPECT_EQ(j["confusion"]["matrix"], nlohmann::json({{1, 0}, {0, 1}}));
  // A report with no pixel metrics: those are null, and nothing dumps as NaN.
  const ImageFixture g;
  const nlohmann::json k = report_json(g.report());
  EXPECT_TRUE(k["any_pixel_auroc"].is_null());
  EXPECT_TRUE(k["types"][2]["vs_rest"]["auroc"].is_null());
  EXPECT_EQ(k.dump().find("NaN"), std::string::npos);
  EXPECT_EQ(k.dump().find("nan"), std::string::npos);
}

// Masks saved as 0/255 (anti-aliased edges included) mark the pixels above 127; masks saved as
// labels (0/1, or any largest value up to 127) mark their non-zero pixels instead of nothing.
TEST(Evaluate, DefectPixelsOfBinaryAndLabelMasks) {
  const auto marked = [](const cv::Mat& m) { return cv::countNonZero(defect_pixels(m)); };
  const cv::Mat labels = (cv::Mat_<uint8_t>(2, 3) << 0, 1, 1, 0, 0, 1);
  EXPECT_EQ(marked(labels), 3);
  const cv::Mat smoothed = (cv::Mat_<uint8_t>(2, 3) << 0, 40, 128, 255, 127, 0);  // edges of a 0/255 mask
  EXPECT_EQ(marked(smoothed), 2);
  EXPECT_EQ(marked(cv::Mat::zeros(2, 3, CV_8U)), 0);
  const cv::Mat out = defect_pixels(labels);
  EXPECT_EQ(out.type(), CV_8U);
  EXPECT_EQ(out.at<uint8_t>(0, 1), 255);
  EXPECT_EQ(out.at<uint8_t>(0, 0), 0);

  TempDir dir;
  ASSERT_TRUE(cv::imwrite(dir.file("labels.png"), labels));
  EXPECT_EQ(cv::countNonZero(read_defect_mask(dir.file("labels.png"))), 3);
  EXPECT_NE(test::message_of([&] { read_defect_mask(dir.file("none.png")); }).find("cannot read mask " + dir.file("none.png")),
            std::string::npos);
}
