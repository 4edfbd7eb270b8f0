#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>

#include <mtfcdd/postprocess.hpp>

using namespace mtfcdd;

TEST(Postprocess, RegionsAreEightConnectedWithStats) {
  cv::Mat m(6, 8, CV_32F, cv::Scalar(0));
  // Region A: a diagonal pair (8-connected, not 4-connected) at (1,1),(2,2), values 2 and 4.
  m.at<float>(1, 1) = 2;
  m.at<float>(2, 2) = 4;
  // Region B: a 2x3 block at rows 3-4, cols 5-7, value 1.
  m(cv::Rect(5, 3, 3, 2)).setTo(1);
  const auto r = find_regions(m, 1.0f, 1);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].area, 6);  // largest first
  EXPECT_EQ(r[0].box, cv::Rect(5, 3, 3, 2));
  EXPECT_FLOAT_EQ(r[0].peak, 1);
  EXPECT_FLOAT_EQ(r[0].mean, 1);
  EXPECT_EQ(r[1].area, 2);
  EXPECT_EQ(r[1].box, cv::Rect(1, 1, 2, 2));
  EXPECT_FLOAT_EQ(r[1].peak, 4);
  EXPECT_FLOAT_EQ(r[1].mean, 3);
  // Calipers: the block's centres span 2 x 1, so sqrt(5) + 1 long and 2 wide; the pair sqrt(2) + 1 by 1.
  EXPECT_FLOAT_EQ(r[0].calipers.length, static_cast<float>(std::sqrt(5.0) + 1));
  EXPECT_FLOAT_EQ(r[0].calipers.width, 2);
  EXPECT_FLOAT_EQ(r[1].calipers.length, static_cast<float>(std::sqrt(2.0) + 1));
  EXPECT_FLOAT_EQ(r[1].calipers.width, 1);
  EXPECT_EQ(find_regions(m, 1.0f, 3).size(), 1u);  // minimum area drops the pair
  EXPECT_TRUE(find_regions(m, 5.0f, 1).empty());
}

// The largest and smallest distance between parallel lines enclosing the pixel centres, plus one.
TEST(Postprocess, CalipersOfPixelSets) {
  const auto size = [](std::vector<cv::Point> p) {
    const Calipers c = calipers(p);
    return std::pair<double, double>(c.length, c.width);
  };
  EXPECT_EQ(size({}), std::make_pair(0.0, 0.0));
  EXPECT_EQ(size({{3, 3}, {3, 3}}), std::make_pair(1.0, 1.0));  // one pixel, given twice
  EXPECT_EQ(size({{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}}), std::make_pair(5.0, 1.0));  // a run of 5
  // A diagonal of 4 pixels: 3 sqrt(2) + 1 by 1.
  EXPECT_FLOAT_EQ(size({{0, 0}, {1, 1}, {2, 2}, {3, 3}}).first, static_cast<float>(3 * std::sqrt(2.0) + 1));
  EXPECT_FLOAT_EQ(size({{0, 0}, {1, 1}, {2, 2}, {3, 3}}).second, 1);
  // A 3 x 4 block: centres span 2 x 3, so sqrt(13) + 1 long, 3 wide.
  std::vector<cv::Point> block;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 3; ++x) block.emplace_back(x, y);
  EXPECT_FLOAT_EQ(size(block).first, static_cast<float>(std::sqrt(13.0) + 1));
  EXPECT_FLOAT_EQ(size(block).second, 3);
  // A right triangle with legs 4 and 3: its hypotenuse 5 + 1 long; narrowest across the hypotenuse,
  // the right angle's distance to it 4 * 3 / 5 = 2.4, + 1.
  EXPECT_FLOAT_EQ(size({{0, 0}, {4, 0}, {0, 3}}).first, 6);
  EXPECT_FLOAT_EQ(size({{0, 0}, {4, 0}, {0, 3}}).second, 3.4f);
}

// A region that crosses a row twice (a U) is measured over all of it: centres span 4 x 2. A pixel
// of another region inside the U, on the U's first row, leaves the U's row ends as they are.
TEST(Postprocess, RegionCalipersCoverEveryRunOfARow) {
  cv::Mat m(3, 5, CV_32F, cv::Scalar(0));
  m.col(0).setTo(1);
  m.col(4).setTo(1);
  m.row(2).setTo(1);
  m.at<float>(0, 2) = 1;  // not 8-connected to the U: row 0 reads U, other, U
  const auto r = find_regions(m, 1.0f, 1);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].area, 9);
  EXPECT_FLOAT_EQ(r[0].calipers.length, static_cast<float>(std::sqrt(20.0) + 1));
  EXPECT_FLOAT_EQ(r[0].calipers.width, 3);
  EXPECT_EQ(r[1].area, 1);
  EXPECT_FLOAT_EQ(r[1].calipers.length, 1);
  EXPECT_FLOAT_EQ(r[1].calipers.width, 1);
}

// A map peaking at 2: its share 0.6 is 1.2, above a threshold of 0.5 and below one of 1.5.
TEST(Postprocess, PixelThresholdInForceIsTheHigherOfThresholdAndPeakShare) {
  cv::Mat m(3, 3, CV_32F, cv::Scalar(0.25));
  m.at<float>(1, 2) = 2;
  EXPECT_DOUBLE_EQ(pixel_threshold_in_force(0.5, 0.6, m), 1.2);
  EXPECT_DOUBLE_EQ(pixel_threshold_in_force(1.5, 0.6, m), 1.5);
  EXPECT_DOUBLE_EQ(pixel_threshold_in_force(0.5, 0, m), 0.5);
  // At 1.2 the region is the peak alone; the threshold 0.1 alone takes the whole map.
  EXPECT_EQ(find_regions(m, static_cast<float>(pixel_threshold_in_force(0.1, 0.6, m)), 1).front().area, 1);
  EXPECT_EQ(find_regions(m, 0.1f, 1).front().area, 9);
  EXPECT_THROW(pixel_threshold_in_force(0.5, 1, m), std::invalid_argument);
  EXPECT_THROW(pixel_threshold_in_force(0.5, -0.1, m), std::invalid_argument);
  EXPECT_THROW(pixel_threshold_in_force(0.5, std::nan(""), m), std::invalid_argument);
  EXPECT_THROW(pixel_threshold_in_force(0.5, 0.5, cv::Mat(2, 2, CV_8U, cv::Scalar(1))), std::invalid_argument);
}

TEST(Postprocess, FcddKernelMatchesScipyGaussian) {
  // kernel_size_to_std: log10(0.45 k + 1) + 0.25 below 32, else 10.
  EXPECT_NEAR(fcdd_kernel_std(10), std::log10(5.5) + 0.25, 1e-12);
  EXPECT_EQ(fcdd_kernel_std(32), 10.0);
  EXPECT_EQ(fcdd_kernel_std(75), 10.0);
  // scipy.signal.gaussian(3, 1) = [e^-1/2, 1, e^-1/2] = [.60653, 1, .60653].
  const std::vector<float> odd = fcdd_kernel_1d(3, 1.0);
  ASSERT_EQ(odd.size(), 3u);
  EXPECT_NEAR(odd[0], 0.606531, 1e-6);
  EXPECT_FLOAT_EQ(odd[1], 1.0f);
  EXPECT_NEAR(odd[2], 0.606531, 1e-6);
  // Even k = 4: gaussian(3, 1) with its centre doubled, halved: [.30327, .5, .5, .30327].
  const std::vector<float> even = fcdd_kernel_1d(4, 1.0);
  ASSERT_EQ(even.size(), 4u);
  EXPECT_NEAR(even[0], 0.303265, 1e-6);
  EXPECT_FLOAT_EQ(even[1], 0.5f);
  EXPECT_FLOAT_EQ(even[2], 0.5f);
  EXPECT_NEAR(even[3], 0.303265, 1e-6);
  EXPECT_EQ(fcdd_kernel_1d(1, 1.0), std::vector<float>{1.0f});
  EXPECT_THROW(fcdd_kernel_1d(0, 1.0), std::invalid_argument);
}

TEST(Postprocess, ReceptiveUpsampleIsTheStridedTransposedConvolution) {
  // Map [[1, 2], [3, 4]], field size 3, stride 2, offset 0, to 4x4. Kernel [a, 1, a] with
  // a = exp(-1 / (2 std^2)), std = log10(0.45 * 3 + 1) + 0.25 = 0.62107: a = 0.27355. Cell i is
  // centred on pixel 2i, so along an axis [p, q] -> [p, a (p + q), q, a q] (the last cell's right
  // tail is cut at the input's edge). Rows, then columns:
  //   [1,   3a,    2,  2a  ]
  //   [4a,  10a^2, 6a, 6a^2]
  //   [3,   7a,    4,  4a  ]
  //   [3a,  7a^2,  4a, 4a^2]
  // times (2 / (1 + 2a))^2, each axis scaled by stride / sum(kernel).
  const double a = 0.273553;
  EXPECT_NEAR(fcdd_kernel_1d(3, fcdd_kernel_std(3))[0], a, 1e-5);
  const cv::Mat m = (cv::Mat_<float>(2, 2) << 1, 2, 3, 4);
  const ReceptiveField rf{3, 2, 0.0};
  const cv::Mat out = receptive_upsample(m, {4, 4}, rf);
  ASSERT_EQ(out.size(), cv::Size(4, 4));
  const double g = std::pow(2 / (1 + 2 * a), 2);
  const double want[4][4] = {{1, 3 * a, 2, 2 * a},
                             {4 * a, 10 * a * a, 6 * a, 6 * a * a},
                             {3, 7 * a, 4, 4 * a},
                             {3 * a, 7 * a * a, 4 * a, 4 * a * a}};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_NEAR(out.at<float>(y, x), g * want[y][x], 1e-5) << y << "," << x;
  // Offset 1.7 counts as 1 (FCDD's int(s)): cell (0, 0) now peaks at pixel (1, 1).
  const cv::Mat shifted = receptive_upsample(m, {4, 4}, {3, 2, 1.7});
  EXPECT_NEAR(shifted.at<float>(1, 1), g * 1, 1e-5);
  EXPECT_NEAR(shifted.at<float>(0, 0), g * a * a, 1e-5);
  EXPECT_THROW(receptive_upsample(m, {4, 4}, {}), std::invalid_argument);
}

TEST(Postprocess, ReceptiveUpsampleKeepsAUniformLevelInside) {
  // MobileNet at conv_pw_5: field 75, stride 8 (sigma 10). Away from the edges every pixel gets
  // the whole kernel's weight at spacing 8, which the scale makes 1.
  // Pixel 64 of 128 gets every cell within the kernel's 37 pixels (cells 4..12 of 16). What is
  // left is the ripple of a Gaussian of sigma 10 sampled every 8 pixels: within 1.4e-4 per axis.
  const cv::Mat ones(16, 16, CV_32F, cv::Scalar(1));
  const cv::Mat out = receptive_upsample(ones, {128, 128}, {75, 8, 0.0});
  EXPECT_NEAR(out.at<float>(64, 64), 1.0, 3e-4);
  EXPECT_NEAR(out.at<float>(68, 61), 1.0, 3e-4);  // between cell centres too
  EXPECT_LT(out.at<float>(0, 0), 0.5);  // the edge has neighbours on one side only
}

TEST(Postprocess, NormalizedReceptiveUpsampleDividesEachPixelByItsWeight) {
  // The map and field of the test above. Along an axis the weights of [p, q] per pixel are
  // [1, 0], [a, a], [0, 1], [0, a]; divided by their sums: [p, (p + q) / 2, q, q]. Rows, then
  // columns, of [[1, 2], [3, 4]]:
  const cv::Mat m = (cv::Mat_<float>(2, 2) << 1, 2, 3, 4);
  const cv::Mat out = receptive_upsample(m, {4, 4}, {3, 2, 0.0}, true);
  const double want[4][4] = {{1, 1.5, 2, 2}, {2, 2.5, 3, 3}, {3, 3.5, 4, 4}, {3, 3.5, 4, 4}};
  ASSERT_EQ(out.size(), cv::Size(4, 4));
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_NEAR(out.at<float>(y, x), want[y][x], 1e-6) << y << "," << x;
  // MobileNet's field at conv_pw_5: a uniform map stays uniform to the corners, no ripple inside.
  const cv::Mat ones(16, 16, CV_32F, cv::Scalar(1));
  const cv::Mat flat = receptive_upsample(ones, {128, 128}, {75, 8, 0.0}, true);
  EXPECT_NEAR(cv::norm(flat - 1, cv::NORM_INF), 0.0, 1e-6);
}

TEST(Postprocess, UpsamplerModes) {
  cv::Mat m(4, 4, CV_32F, cv::Scalar(0));
  m.at<float>(1, 2) = 1;
  const Upsampler bilinear{Upsampling::Bilinear, {}, {32, 32}, {}};
  const Upsampler receptive{Upsampling::Receptive, {19, 8, 0.0}, {32, 32}, {}};
  EXPECT_EQ(bilinear(m, {40, 24}, 0).size(), cv::Size(40, 24));
  // Receptive works at the input size, then resizes bilinearly.
  const cv::Mat at_input = receptive(m, {32, 32}, 0);
  cv::Mat resized;
  cv::resize(at_input, resized, {40, 24}, 0, 0, cv::INTER_LINEAR);
  EXPECT_EQ(cv::norm(receptive(m, {40, 24}, 0), resized, cv::NORM_INF), 0.0);
  cv::Point peak;
  cv::minMaxLoc(at_input, nullptr, nullptr, nullptr, &peak);
  EXPECT_EQ(peak, cv::Point(16, 8));  // cell (row 1, column 2) centred on pixel (2 * 8, 1 * 8)
  EXPECT_EQ(parse_name<Upsampling>("receptive"), Upsampling::Receptive);
  EXPECT_EQ(parse_name<Upsampling>("receptive-normalized"), Upsampling::ReceptiveNormalized);
  EXPECT_STREQ(name_of(Upsampling::Bilinear), "bilinear");
  const Upsampler normalized{Upsampling::ReceptiveNormalized, {19, 8, 0.0}, {32, 32}, {}};
  EXPECT_EQ(cv::norm(normalized(m, {32, 32}, 0), receptive_upsample(m, {32, 32}, {19, 8, 0.0}, true), cv::NORM_INF), 0.0);
  EXPECT_EQ(parse_name<Upsampling>("gaussian"), std::nullopt);
}

// sigma 1: radius 3, weights exp(-d^2 / 2) for d = 0..3: 1, .606531, .135335, .011109, sum over
// -3..3 = 2.505950; centre weight .399050. A 9x9 delta keeps .399050^2 = .159241 at its centre,
// .399050 * .242036 = .096585 one cell away (.606531 / 2.505950 = .242036) and .242036^2 =
// .058581 one cell away diagonally; its sum stays 1.
TEST(Postprocess, SmoothMapIsANormalisedGaussian) {
  cv::Mat delta(9, 9, CV_32F, cv::Scalar(0));
  delta.at<float>(4, 4) = 1;
  const cv::Mat s = smooth_map(delta, 1.0);
  EXPECT_NEAR(s.at<float>(4, 4), 0.159241, 1e-6);
  EXPECT_NEAR(s.at<float>(4, 5), 0.096585, 1e-6);
  EXPECT_NEAR(s.at<float>(3, 5), 0.058581, 1e-6);
  EXPECT_EQ(s.at<float>(4, 8), 0.0f);  // beyond the radius
  EXPECT_NEAR(cv::sum(s)[0], 1.0, 1e-5);
  // The border is replicated: a uniform map stays uniform, an edge defect keeps its level there.
  const cv::Mat flat(5, 7, CV_32F, cv::Scalar(2.5));
  EXPECT_LT(cv::norm(smooth_map(flat, 2.0), flat, cv::NORM_INF), 1e-5);
  cv::Mat edge(9, 9, CV_32F, cv::Scalar(0));
  edge.col(0).setTo(1);
  // Column 0 sees columns -3..-1 replicated as 1, columns 1..3 at 0: .399050 + .242036 +
  // .054006 + .004433 = .699525.
  EXPECT_NEAR(smooth_map(edge, 1.0).at<float>(4, 0), 0.699525, 1e-6);
  // sigma 0 is the map itself; a negative or infinite sigma, or another type, is refused.
  EXPECT_EQ(smooth_map(delta, 0).data, delta.data);
  EXPECT_THROW(smooth_map(delta, -1), std::invalid_argument);
  EXPECT_THROW(smooth_map(delta, std::numeric_limits<double>::infinity()), std::invalid_argument);
  EXPECT_THROW(smooth_map(cv::Mat(3, 3, CV_8U, cv::Scalar(0)), 1), std::invalid_argument);
}

// The Upsampler smooths type k's map by its own sigma, then scales it.
TEST(Postprocess, UpsamplerSmoothsEachTypeByItsSigma) {
  cv::Mat m(8, 8, CV_32F, cv::Scalar(0));
  m.at<float>(3, 3) = 1;
  const Upsampler up{Upsampling::Bilinear, {}, {16, 16}, {0, 1.5}};
  EXPECT_EQ(cv::norm(up(m, {16, 16}, 0), up.scale(m, {16, 16}), cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(up(m, {16, 16}, 1), up.scale(smooth_map(m, 1.5), {16, 16}), cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(up(m, {16, 16}, 2), up.scale(m, {16, 16}), cv::NORM_INF), 0.0);  // no sigma listed: none
}
