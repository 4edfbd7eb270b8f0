// Metrics against values worked out by hand (the working is in the comments).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "metrics.hpp"
#include "two_regions.hpp"

using namespace mtfcdd;

namespace {

constexpr double kEps = 1e-12;
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

cv::Mat map_of(int rows, int cols, std::vector<float> v) {
  return cv::Mat(rows, cols, CV_32F, v.data()).clone();
}
cv::Mat mask_of(int rows, int cols, std::vector<uchar> v) {
  return cv::Mat(rows, cols, CV_8U, v.data()).clone();
}

}  // namespace

// ---------------------------------------------------------------- image level

TEST(Metrics, PerfectSeparation) {
  const std::vector<double> s{0.1, 0.2, 0.8, 0.9};
  const std::vector<int> y{0, 0, 1, 1};
  EXPECT_NEAR(auroc(s, y), 1.0, kEps);              // all 4 pos/neg pairs ordered
  EXPECT_NEAR(average_precision(s, y), 1.0, kEps);  // 0.5*1 + 0.5*1
  const F1Result f = max_f1(s, y);                  // t = 0.8: tp 2, fp 0
  EXPECT_NEAR(f.f1, 1.0, kEps);
  EXPECT_DOUBLE_EQ(f.threshold, 0.8);
  EXPECT_NEAR(f.precision, 1.0, kEps);
  EXPECT_NEAR(f.recall, 1.0, kEps);
}

TEST(Metrics, Reversed) {
  const std::vector<double> s{0.9, 0.8, 0.2, 0.1};
  const std::vector<int> y{0, 0, 1, 1};
  EXPECT_NEAR(auroc(s, y), 0.0, kEps);  // no pair ordered
  // Descending: neg, neg, pos (tp 1 of 3 seen, R 0.5), pos (tp 2 of 4, R 1):
  // AP = 0.5 * 1/3 + 0.5 * 2/4 = 5/12.
  EXPECT_NEAR(average_precision(s, y), 5.0 / 12, kEps);
}

TEST(Metrics, AllTied) {
  const std::vector<double> s{0.5, 0.5, 0.5, 0.5};
  const std::vector<int> y{0, 1, 0, 1};
  EXPECT_NEAR(auroc(s, y), 0.5, kEps);              // every pair tied: 4 * 0.5 / 4
  EXPECT_NEAR(average_precision(s, y), 0.5, kEps);  // one threshold: R 0 -> 1 at P 2/4
  const F1Result f = max_f1(s, y);                  // one threshold: P 0.5, R 1, F1 2/3
  EXPECT_NEAR(f.f1, 2.0 / 3, kEps);
  EXPECT_DOUBLE_EQ(f.threshold, 0.5);
  EXPECT_NEAR(f.precision, 0.5, kEps);
  EXPECT_NEAR(f.recall, 1.0, kEps);
}

TEST(Metrics, MixedTies) {
  const std::vector<double> s{0.9, 0.5, 0.5, 0.1};
  const std::vector<int> y{1, 1, 0, 0};
  // Mid-ranks ascending: 0.1 -> 1, 0.5 -> 2.5, 2.5, 0.9 -> 4. Positive rank sum 6.5,
  // U = 6.5 - 2*3/2 = 3.5, AUROC = 3.5 / 4 = 0.875.
  EXPECT_NEAR(auroc(s, y), 0.875, kEps);
  // t = 0.9: tp 1 of 1 (R 0.5); t = 0.5: tp 2 of 3 (R 1); t = 0.1: R unchanged.
  // AP = 0.5 * 1 + 0.5 * 2/3 = 5/6.
  EXPECT_NEAR(average_precision(s, y), 5.0 / 6, kEps);
}

TEST(Metrics, SklearnDocExample) {
  const std::vector<double> s{0.1, 0.4, 0.35, 0.8};
  const std::vector<int> y{0, 0, 1, 1};
  // Pairs: 0.8 beats 0.1 and 0.4, 0.35 beats 0.1 -> 3 of 4.
  EXPECT_NEAR(auroc(s, y), 0.75, kEps);
  // t = 0.8: P 1, R 0.5; t = 0.4: R unchanged; t = 0.35: P 2/3, R 1 -> 0.5 + 1/3.
  EXPECT_NEAR(average_precision(s, y), 5.0 / 6, kEps);
}

TEST(Metrics, MaxF1Threshold) {
  const std::vector<double> s{0.9, 0.8, 0.7, 0.6, 0.5, 0.4};
  const std::vector<int> y{1, 0, 1, 1, 0, 0};
  // F1 = 2 tp / (tp + fp + 3): t 0.9 -> 2/4, 0.8 -> 2/5, 0.7 -> 4/6, 0.6 -> 6/7,
  // 0.5 -> 6/8, 0.4 -> 6/9. Best at t = 0.6 with P 3/4, R 1.
  const F1Result f = max_f1(s, y);
  EXPECT_NEAR(f.f1, 6.0 / 7, kEps);
  EXPECT_DOUBLE_EQ(f.threshold, 0.6);
  EXPECT_NEAR(f.precision, 0.75, kEps);
  EXPECT_NEAR(f.recall, 1.0, kEps);
}

// Positives no threshold reaches count as misses at every threshold: scores .9 (p), .8 (n), .7 (p)
// with 1 missed, so 3 positives: t .9 -> 2/(1+3) = 1/2; .8 -> 2/5; .7 -> 4/6. Best at .7, P 2/3,
// R 2/3. Without the missed one, .7 gives 4/5.
TEST(Metrics, MaxF1WithMissedPositives) {
  const std::vector<double> s{0.9, 0.8, 0.7};
  const std::vector<int> y{1, 0, 1};
  const F1Result f = max_f1(s, y, 1);
  EXPECT_NEAR(f.f1, 2.0 / 3, kEps);
  EXPECT_DOUBLE_EQ(f.threshold, 0.7);
  EXPECT_NEAR(f.precision, 2.0 / 3, kEps);
  EXPECT_NEAR(f.recall, 2.0 / 3, kEps);
  EXPECT_NEAR(max_f1(s, y, 0).f1, 0.8, kEps);
  // Only positives: one class missing (NaN), unless some are missed: 4 positives, .9 -> 2/5,
  // .7 -> 4/6.
  EXPECT_TRUE(std::isnan(max_f1({0.9, 0.7}, {1, 1}, 0).f1));
  EXPECT_NEAR(max_f1({0.9, 0.7}, {1, 1}, 2).f1, 4.0 / 6, kEps);
  // Nothing can fire: F1 0 with no threshold; no positive at all: NaN.
  const F1Result none = max_f1({}, {}, 2);
  EXPECT_EQ(none.f1, 0);
  EXPECT_TRUE(std::isnan(none.threshold));
  EXPECT_TRUE(std::isnan(max_f1({0.5}, {0}, 0).f1));
  EXPECT_THROW(max_f1(s, y, -1), std::invalid_argument);
  EXPECT_THROW(max_f1(s, y, kInf), std::invalid_argument);
}

TEST(Metrics, OneClassMissingIsNaN) {
  const std::vector<double> s{0.1, 0.7, 0.3};
  EXPECT_TRUE(std::isnan(auroc(s, {1, 1, 1})));
  EXPECT_TRUE(std::isnan(auroc(s, {0, 0, 0})));
  EXPECT_TRUE(std::isnan(average_precision(s, {0, 0, 0})));
  EXPECT_TRUE(std::isnan(average_precision(s, {1, 1, 1})));
  EXPECT_TRUE(std::isnan(max_f1(s, {0, 0, 0}).f1));
  EXPECT_TRUE(std::isnan(max_f1(s, {1, 1, 1}).threshold));
  EXPECT_TRUE(std::isnan(auroc({}, {})));
}

TEST(Metrics, ImageInputsValidated) {
  EXPECT_THROW(auroc({0.1, 0.2}, {0}), std::invalid_argument);
  EXPECT_THROW(auroc({0.1, 0.2}, {0, 2}), std::invalid_argument);
  EXPECT_THROW(average_precision({0.1, kNaN}, {0, 1}), std::invalid_argument);
  EXPECT_THROW(max_f1({kInf, 0.2}, {0, 1}), std::invalid_argument);
}

// ---------------------------------------------------------------- pixel AUROC

TEST(Metrics, PixelAuroc) {
  const cv::Mat m = map_of(2, 3, {0.9f, 0.2f, 0.3f, 0.4f, 0.6f, 0.1f});
  const cv::Mat k = mask_of(2, 3, {255, 0, 0, 1, 0, 0});  // any non-zero is a defect
  // Positives {0.9, 0.4}, negatives {0.2, 0.3, 0.6, 0.1}: 0.9 beats 4, 0.4 beats 3 -> 7/8.
  EXPECT_NEAR(pixel_auroc({m}, {k}), 0.875, kEps);
  // Pixels are pooled over images: the same pixels split into two images give the same value.
  EXPECT_NEAR(pixel_auroc({m.row(0).clone(), m.row(1).clone()}, {k.row(0).clone(), k.row(1).clone()}),
              0.875, kEps);
  // A flat map ties everything: 0.5.
  EXPECT_NEAR(pixel_auroc({cv::Mat(2, 3, CV_32F, cv::Scalar(0.3))}, {k}), 0.5, kEps);
  EXPECT_TRUE(std::isnan(pixel_auroc({m}, {cv::Mat::zeros(2, 3, CV_8U)})));
}

// Pixels pooled, "defect iff score >= t": positives {0.9, 0.4} among {0.9 .2 .3 .4 .6 .1}.
TEST(Metrics, PixelF1AtAThresholdAndAtTheBest) {
  const cv::Mat m = map_of(2, 3, {0.9f, 0.2f, 0.3f, 0.4f, 0.6f, 0.1f});
  const cv::Mat k = mask_of(2, 3, {255, 0, 0, 1, 0, 0});
  // t = 0.5: 0.9 and 0.6 fire, one of them a defect: P 1/2, R 1/2, F1 1/2.
  const F1Result at = pixel_f1({m}, {k}, 0.5);
  EXPECT_NEAR(at.f1, 0.5, kEps);
  EXPECT_NEAR(at.precision, 0.5, kEps);
  EXPECT_NEAR(at.recall, 0.5, kEps);
  EXPECT_EQ(at.threshold, 0.5);
  // Nothing fires: all zero.
  const F1Result none = pixel_f1({m}, {k}, 0.95);
  EXPECT_EQ(none.f1, 0);
  EXPECT_EQ(none.precision, 0);
  // Best: t = 0.9 -> 2/3; 0.6 -> 1/2; 0.4 -> tp 2 of 3 fired: 4/5; lower ones less.
  const F1Result best = pixel_max_f1({m}, {k});
  EXPECT_NEAR(best.f1, 0.8, kEps);
  EXPECT_NEAR(best.threshold, 0.4, 1e-6);
  EXPECT_NEAR(best.precision, 2.0 / 3, kEps);
  EXPECT_NEAR(best.recall, 1.0, kEps);
  EXPECT_TRUE(std::isnan(pixel_f1({m}, {cv::Mat::zeros(2, 3, CV_8U)}, 0.5).f1));
  EXPECT_TRUE(std::isnan(pixel_max_f1({m}, {cv::Mat::zeros(2, 3, CV_8U)}).f1));
}

// Each image's threshold raised to a share of its own peak. A = [1 4 3 .5] with defects at 4 and
// 3, B = [.5 1 .2 .1] normal; t = .8. Share .5: A's threshold 2 (4 and 3 fire), B's .8 (1 fires):
// tp 2 of 3 fired, R 1, F1 4/5. Share 0: A's 1, 4, 3 and B's 1 fire: tp 2 of 4, F1 4/6.
TEST(Metrics, PixelF1WithEachImagesPeakShare) {
  const std::vector<cv::Mat> maps{map_of(1, 4, {1, 4, 3, 0.5f}), map_of(1, 4, {0.5f, 1, 0.2f, 0.1f})};
  const std::vector<cv::Mat> masks{mask_of(1, 4, {0, 255, 255, 0}), mask_of(1, 4, {0, 0, 0, 0})};
  const F1Result share = pixel_f1(maps, masks, 0.8, 0.5);
  EXPECT_NEAR(share.f1, 0.8, kEps);
  EXPECT_NEAR(share.precision, 2.0 / 3, kEps);
  EXPECT_NEAR(share.recall, 1, kEps);
  EXPECT_NEAR(pixel_f1(maps, masks, 0.8, 0).f1, 4.0 / 6, kEps);
  EXPECT_THROW(pixel_f1(maps, masks, 0.8, 1), std::invalid_argument);
}

TEST(Metrics, PixelAurocSignedScores) {
  // Exercises the sort on negative values and on -0 == +0.
  const cv::Mat m = map_of(1, 6, {-3.0f, 2.5f, -0.5f, -0.0f, 0.0f, -1e-3f});
  const cv::Mat k = mask_of(1, 6, {1, 1, 0, 1, 0, 0});
  // Positives {-3, 2.5, -0}, negatives {-0.5, +0, -0.001}: -3 beats none, 2.5 beats 3,
  // -0 beats -0.5 and -0.001 and ties +0 (0.5) -> 5.5 / 9 = 11/18.
  EXPECT_NEAR(pixel_auroc({m}, {k}), 11.0 / 18, kEps);
}

TEST(Metrics, PixelInputsValidated) {
  const cv::Mat m = cv::Mat::zeros(4, 4, CV_32F), k = cv::Mat::zeros(4, 4, CV_8U);
  EXPECT_THROW(pixel_auroc({}, {}), std::invalid_argument);
  EXPECT_THROW(pixel_auroc({m, m}, {k}), std::invalid_argument);
  EXPECT_THROW(pixel_auroc({cv::Mat::zeros(4, 4, CV_64F)}, {k}), std::invalid_argument);
  EXPECT_THROW(pixel_auroc({m}, {cv::Mat::zeros(4, 4, CV_32S)}), std::invalid_argument);
  EXPECT_THROW(aupro({m}, {cv::Mat::zeros(4, 5, CV_8U)}), std::invalid_argument);
  EXPECT_THROW(aupro({cv::Mat()}, {cv::Mat()}), std::invalid_argument);
  cv::Mat bad = m.clone();
  bad.at<float>(2, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(pixel_auroc({bad}, {k}), std::invalid_argument);
  EXPECT_THROW(aupro({bad}, {k}), std::invalid_argument);
  EXPECT_THROW(aupro({m}, {k}, 0.0), std::invalid_argument);
  EXPECT_THROW(aupro({m}, {k}, 1.5), std::invalid_argument);
}

// ---------------------------------------------------------------- AUPRO

TEST(Metrics, AuproPerfectRegion) {
  cv::Mat m = cv::Mat::zeros(4, 4, CV_32F), k = cv::Mat::zeros(4, 4, CV_8U);
  m(cv::Rect(1, 1, 2, 2)) = 1.0f;
  k(cv::Rect(1, 1, 2, 2)) = 255;
  // Curve (0,0) -> (0,1) -> (1,1): PRO 1 over all of [0, limit].
  EXPECT_NEAR(aupro({m}, {k}), 1.0, kEps);
  EXPECT_NEAR(aupro({m}, {k}, 1.0), 1.0, kEps);
}

TEST(Metrics, AuproNoRegionOrNoNormalIsNaN) {
  const cv::Mat m = cv::Mat::zeros(4, 4, CV_32F);
  EXPECT_TRUE(std::isnan(aupro({m}, {cv::Mat::zeros(4, 4, CV_8U)})));
  EXPECT_TRUE(std::isnan(aupro({m}, {cv::Mat(4, 4, CV_8U, cv::Scalar(1))})));
}

TEST(Metrics, AuproSmallRegionDetectedFirst) {
  // 10x10: region A = 1 pixel at (0,0), region B = 2x2 at rows/cols 5-6, 95 normal pixels.
  cv::Mat m = cv::Mat::zeros(10, 10, CV_32F), k = cv::Mat::zeros(10, 10, CV_8U);
  k.at<uchar>(0, 0) = 1;
  k(cv::Rect(5, 5, 2, 2)) = 1;
  m.at<float>(0, 0) = 0.9f;                      // A
  m.at<float>(5, 5) = m.at<float>(5, 6) = 0.3f;  // half of B; (6,5), (6,6) stay 0
  int normal = 0;                                // first 19 normals 0.5, next 19 0.3, rest 0
  for (int r = 0; r < 10; ++r)
    for (int c = 0; c < 10; ++c)
      if (!k.at<uchar>(r, c)) {
        if (normal < 19) m.at<float>(r, c) = 0.5f;
        else if (normal < 38) m.at<float>(r, c) = 0.3f;
        ++normal;
      }
  // Curve (FPR, PRO): t 0.9 -> (0, 1/2); t 0.5 -> (19/95, 1/2) = (0.2, 0.5);
  // t 0.3 -> (38/95, (1 + 2/4)/2) = (0.4, 0.75); t 0 -> (1, 1).
  // Area to 0.3: [0, 0.2] 0.2 * 0.5 = 0.1; at 0.3 PRO = 0.5 + 0.25 * 0.1/0.2 = 0.625,
  // [0.2, 0.3] 0.1 * (0.5 + 0.625)/2 = 0.05625. Total 0.15625 / 0.3 = 25/48.
  EXPECT_NEAR(aupro({m}, {k}), 25.0 / 48, kEps);
  // Full range: 0.1 + 0.2 * (0.5 + 0.75)/2 + 0.6 * (0.75 + 1)/2 = 0.1 + 0.125 + 0.525 = 0.75.
  EXPECT_NEAR(aupro({m}, {k}, 1.0), 0.75, kEps);
}

TEST(Metrics, AuproRegionsAre8Connected) {
  // Defects (0,0), (1,1) touch diagonally -> one region of 2; (3,3) is a region of 1.
  cv::Mat m = cv::Mat::zeros(4, 4, CV_32F), k = cv::Mat::zeros(4, 4, CV_8U);
  k.at<uchar>(0, 0) = k.at<uchar>(1, 1) = k.at<uchar>(3, 3) = 1;
  m.at<float>(0, 0) = 1.0f;
  // Curve (0,0) -> (0, (1/2 + 0)/2 = 0.25) -> (1,1); PRO(0.3) = 0.25 + 0.75*0.3 = 0.475;
  // area 0.3 * (0.25 + 0.475)/2, / 0.3 = 0.3625 (4-connectivity would give 13/30).
  EXPECT_NEAR(aupro({m}, {k}), 0.3625, kEps);
}

TEST(Metrics, AuproRegionsArePerImage) {
  // Image 0: region of 1 pixel, detected. Image 1: region of 3 pixels, 1 detected.
  const mtfcdd::test::TwoRegions t;
  const cv::Mat &m0 = t.m0, &k0 = t.k0, &m1 = t.m1, &k1 = t.k1;
  // Curve (0,0) -> (0, (1 + 1/3)/2 = 2/3) -> (1,1); PRO(0.3) = 2/3 + 0.3/3 = 23/30;
  // (2/3 + 23/30)/2 = 43/60.
  EXPECT_NEAR(aupro({m0, m1}, {k0, k1}), 43.0 / 60, kEps);
  // Alone: the first region is found at FPR 0, 1. The second's found pixel gives 1/3 over
  // [0, 0.3]; its other two are found at the step from FPR 0 to 1, which reaches 0.3 with each
  // pixel's share 0.3: 1/3 * 0.3 * 0.3 / 2 each. (0.1 + 0.03) / 0.3 = 13/30; their mean 43/60.
  const std::vector<double> regions = region_aupros({m0, m1}, {k0, k1});
  ASSERT_EQ(regions.size(), 2u);
  EXPECT_NEAR(regions[0], 1.0, kEps);
  EXPECT_NEAR(regions[1], 13.0 / 30, kEps);
  EXPECT_NEAR(standard_error(regions, {0, 1}), 17.0 / 60, kEps);  // two values: half their distance
  EXPECT_EQ(region_images({k0, k1}), (std::vector<size_t>{0, 1}));
  EXPECT_TRUE(region_aupros({m0}, {cv::Mat::zeros(4, 4, CV_8U)}).empty());
}

// Values 1, 1, 0, .5 in clusters a, a, b, c: mean .625, the clusters' summed deviations .75,
// -.625, -.125; 3/2 (.5625 + .390625 + .015625) / 16 = .0908203125. As four clusters: the sample
// variance .6875 / 3 over 4.
TEST(Metrics, StandardErrorOfAMeanCountsEachClusterOnce) {
  EXPECT_NEAR(standard_error({1, 1, 0, .5}, {7, 7, 2, 5}), std::sqrt(.0908203125), kEps);
  EXPECT_NEAR(standard_error({1, 1, 0, .5}, {0, 1, 2, 3}), std::sqrt(.6875 / 3 / 4), kEps);
  EXPECT_TRUE(std::isnan(standard_error({1, 0}, {4, 4})));  // one part: unknown
  EXPECT_THROW(standard_error({1, 0}, {4}), std::invalid_argument);
}

// Three parts. Rule a: {tp 4}, {tp 2, fp 2}, {fn 2}: F1 12/16. Rule b: {tp 4, fp 4}, {tp 2, fp 2},
// {fn 2}: F1 12/20. Shares (A_g - R B_g) / sum B: a .125, -.03125, -.09375; b .04, .02, -.06;
// differences .085, -.05125, -.03375; SE = sqrt(3/2 * their sum of squares).
TEST(Metrics, F1DifferenceStandardErrorOverParts) {
  const std::vector<F1Counts> a{{4, 0, 0}, {2, 2, 0}, {0, 0, 2}}, b{{4, 4, 0}, {2, 2, 0}, {0, 0, 2}};
  EXPECT_NEAR(pooled_f1(a), 0.75, kEps);
  EXPECT_NEAR(pooled_f1(b), 0.6, kEps);
  EXPECT_NEAR(f1_difference_se(a, b),
              std::sqrt(1.5 * (0.085 * 0.085 + 0.05125 * 0.05125 + 0.03375 * 0.03375)), kEps);
  EXPECT_NEAR(f1_difference_se(b, a), f1_difference_se(a, b), kEps);
  EXPECT_EQ(f1_difference_se(a, a), 0);
  EXPECT_TRUE(std::isnan(f1_difference_se({a[0]}, {b[0]})));  // one part: no spread to measure
  EXPECT_TRUE(std::isnan(pooled_f1({{0, 0, 0}})));
  EXPECT_THROW(f1_difference_se(a, {b[0]}), std::invalid_argument);
}

// Positives .9 (part 0), .2 (part 0), .7 (part 1); negatives .5, .3 (part 2), .8 (part 3).
// Each positive's share of the negatives below it: 1, 0, 2/3; each negative's of the positives
// above it: 2/3, 2/3, 1/3; AUROC 5/9. By part (Obuchowski): positives' sums 1 and 2/3 against 2
// and 1 times 5/9 deviate by -1/9 and 1/9, negatives' 4/3 and 1/3 by 2/9 and -2/9; S10 = 2/(1 3)
// 2/81 = 4/243, S01 = 2/(1 3) 8/81 = 16/243, no part holds both: variance 4/729 + 16/729.
// Every image its own part (DeLong): deviations 4/9, -5/9, 1/9 and 1/9, 1/9, -2/9, variances
// 42/81 / 2 and 6/81 / 2 over 3 each: 24/243.
TEST(Metrics, AurocStandardErrorOverParts) {
  const std::vector<double> s{.9, .2, .7, .5, .3, .8};
  const std::vector<int> y{1, 1, 1, 0, 0, 0};
  EXPECT_NEAR(auroc(s, y), 5.0 / 9, kEps);
  EXPECT_NEAR(auroc_standard_error(s, y, {0, 0, 1, 2, 2, 3}), std::sqrt(20.0 / 729), kEps);
  EXPECT_NEAR(auroc_standard_error(s, y, {0, 1, 2, 3, 4, 5}), std::sqrt(24.0 / 243), kEps);
  EXPECT_DOUBLE_EQ(auroc_standard_error({.9, .8, .1, .2}, {1, 1, 0, 0}, {0, 1, 2, 3}), 0.0);  // perfect
  EXPECT_TRUE(std::isnan(auroc_standard_error(s, y, {0, 0, 0, 2, 2, 3})));  // the positives: one part
  EXPECT_TRUE(std::isnan(auroc_standard_error({.9, .8}, {1, 1}, {0, 1})));  // no negative
  EXPECT_THROW(auroc_standard_error(s, y, {0, 1}), std::invalid_argument);
  EXPECT_THROW(auroc_standard_error(s, {1, 1, 2, 0, 0, 0}, {0, 0, 1, 2, 2, 3}), std::invalid_argument);
}

TEST(Metrics, AuproRisesOnlyPastLimit) {
  // 10x10, region 2x2 scored 0; the first 40 normal pixels score 1, the rest 0.
  cv::Mat m = cv::Mat::zeros(10, 10, CV_32F), k = cv::Mat::zeros(10, 10, CV_8U);
  k(cv::Rect(4, 4, 2, 2)) = 1;
  int normal = 0;
  for (int r = 0; r < 10; ++r)
    for (int c = 0; c < 10; ++c)
      if (!k.at<uchar>(r, c) && normal++ < 40) m.at<float>(r, c) = 1.0f;
  // Curve (0,0) -> (40/96 > 0.3, 0) -> (1,1): PRO is 0 on [0, 0.3].
  EXPECT_DOUBLE_EQ(aupro({m}, {k}), 0.0);
}

// Regions of 1 px, 2 x 2 and 4 x 4 px: radii sqrt(1 / pi), sqrt(4 / pi), sqrt(16 / pi), the median
// the 2 x 2's. A 4 x 4 and a 3 x 3 region in two masks: the upper median, the 4 x 4's.
TEST(Metrics, MedianRegionRadiusIsTheEquivalentCirclesMedian) {
  cv::Mat a = cv::Mat::zeros(10, 10, CV_8U), b = cv::Mat::zeros(10, 10, CV_8U);
  a.at<uchar>(0, 0) = 255;
  a(cv::Rect(3, 0, 2, 2)).setTo(1);
  a(cv::Rect(5, 5, 4, 4)).setTo(255);
  EXPECT_NEAR(median_region_radius({a}), std::sqrt(4 / M_PI), 1e-12);
  b(cv::Rect(0, 0, 3, 3)).setTo(255);
  const cv::Mat one = a(cv::Rect(5, 5, 5, 5)).clone();
  EXPECT_NEAR(median_region_radius({one, b}), std::sqrt(16 / M_PI), 1e-12);
  EXPECT_TRUE(std::isnan(median_region_radius({cv::Mat::zeros(4, 4, CV_8U)})));
  EXPECT_TRUE(std::isnan(median_region_radius({})));
}
