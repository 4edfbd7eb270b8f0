#include <mtfcdd/postprocess.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace mtfcdd {

double fcdd_kernel_std(int k) { return k < 32 ? std::log10(0.45 * k + 1) + 0.25 : 10.0; }

std::vector<float> fcdd_kernel_1d(int k, double std) {
  if (k < 1) throw std::invalid_argument("receptive kernel size must be >= 1, got " + std::to_string(k));
  if (!(std > 0)) throw std::invalid_argument("receptive kernel std must be positive");
  // scipy.signal.gaussian(m, std): exp(-n^2 / (2 std^2)) for n = -(m-1)/2 .. (m-1)/2.
  const int m = k % 2 ? k : k - 1;
  std::vector<float> g;
  for (int i = 0; i < m; ++i) {
    const double n = i - (m - 1) / 2.0;
    g.push_back(static_cast<float>(std::exp(-n * n / (2 * std * std))));
  }
  if (k % 2 == 0) {  // np.insert(g, (k-1)//2, g[(k-1)//2]) / 2
    g.insert(g.begin() + (k - 1) / 2, g[(k - 1) / 2]);
    for (float& v : g) v /= 2;
  }
  return g;
}

namespace {

// The transposed convolution along one axis as a matrix: out[y] = sum_i a(y, i) in[i], with
// a(y, i) = g[y + pad - shift - i * stride] inside the kernel (FCDD's crop res[pad - s : -pad - s]),
// times stride / sum(g); or, `normalized`, each row divided by its sum. The 2-D kernel is the outer
// product of the axes' kernels, so normalising each axis's rows divides each pixel by its weight.
cv::Mat spread_matrix(int out, int cells, const std::vector<float>& g, int stride, int shift, bool normalized) {
  const int k = static_cast<int>(g.size()), pad = (k - 1) / 2;
  double sum = 0;
  for (float v : g) sum += v;
  const float gain = static_cast<float>(stride / sum);
  cv::Mat a(out, cells, CV_32F, cv::Scalar(0));
  for (int y = 0; y < out; ++y)
    for (int i = 0; i < cells; ++i) {
      const int t = y + pad - shift - i * stride;
      if (t >= 0 && t < k) a.at<float>(y, i) = g[t] * gain;
    }
  if (normalized)
    for (int y = 0; y < out; ++y) {
      const double weight = cv::sum(a.row(y))[0];
      if (weight > 0) a.row(y) /= weight;  // 0: beyond every kernel's reach, stays 0
    }
  return a;
}

// Adds pixel (x, y), met in raster order, to a region's `ends`: its first and last pixel in every
// row it crosses. The convex hull, and so the calipers, of these is the whole region's, at two
// points per row instead of all.
void add_row_end(std::vector<cv::Point>& ends, int x, int y) {
  if (ends.empty() || ends.back().y != y) {
    ends.emplace_back(x, y);  // the row's first pixel
  } else if (ends.size() > 1 && ends[ends.size() - 2].y == y) {
    ends.back().x = x;  // the row's last pixel moves on
  } else {
    ends.emplace_back(x, y);  // the row's second pixel
  }
}

}  // namespace

cv::Mat receptive_upsample(const cv::Mat& map, cv::Size input, const ReceptiveField& field, bool normalized) {
  if (!field.known()) throw std::invalid_argument("receptive upsampling needs the network's receptive field");
  if (map.type() != CV_32FC1 || map.empty()) throw std::invalid_argument("receptive upsampling needs a CV_32FC1 map");
  const std::vector<float> g = fcdd_kernel_1d(field.size, fcdd_kernel_std(field.size));
  const int shift = static_cast<int>(std::trunc(field.offset));  // Python's int(s)
  const cv::Mat ay = spread_matrix(input.height, map.rows, g, field.stride, shift, normalized);
  const cv::Mat ax = spread_matrix(input.width, map.cols, g, field.stride, shift, normalized);
  cv::Mat rows, out;
  cv::gemm(ay, map, 1.0, cv::noArray(), 0.0, rows);
  cv::gemm(rows, ax, 1.0, cv::noArray(), 0.0, out, cv::GEMM_2_T);
  return out;
}

cv::Mat smooth_map(const cv::Mat& map, double sigma) {
  if (!(sigma >= 0) || !std::isfinite(sigma))
    throw std::invalid_argument("map smoothing needs a finite sigma >= 0, got " + std::to_string(sigma));
  if (map.type() != CV_32FC1) throw std::invalid_argument("map smoothing needs a CV_32FC1 map");
  if (sigma == 0) return map;
  const int radius = static_cast<int>(std::ceil(3 * sigma));
  cv::Mat g(2 * radius + 1, 1, CV_32F);
  for (int i = -radius; i <= radius; ++i) g.at<float>(i + radius) = static_cast<float>(std::exp(-i * i / (2 * sigma * sigma)));
  g /= cv::sum(g)[0];
  cv::Mat out;
  cv::sepFilter2D(map, out, CV_32F, g, g, cv::Point(-1, -1), 0, cv::BORDER_REPLICATE);
  return out;
}

cv::Mat Upsampler::smooth(const cv::Mat& map, size_t type) const {
  return smooth_map(map, type < smoothing.size() ? smoothing[type] : 0.0);
}

cv::Mat Upsampler::scale(const cv::Mat& map, cv::Size size) const {
  cv::Mat out;
  if (mode == Upsampling::Bilinear) {
    cv::resize(map, out, size, 0, 0, cv::INTER_LINEAR);
    return out;
  }
  out = receptive_upsample(map, input, field, mode == Upsampling::ReceptiveNormalized);
  if (out.size() != size) cv::resize(out, out, size, 0, 0, cv::INTER_LINEAR);
  return out;
}

double pixel_threshold_in_force(double threshold, double peak_fraction, const cv::Mat& map) {
  if (!(peak_fraction >= 0 && peak_fraction < 1))
    throw std::invalid_argument("pixel_threshold_in_force: peak_fraction " + std::to_string(peak_fraction) +
                                " lies outside [0, 1)");
  if (map.type() != CV_32FC1) throw std::invalid_argument("pixel_threshold_in_force: the map is not CV_32FC1");
  if (peak_fraction == 0 || map.empty()) return threshold;
  double peak = 0;
  cv::minMaxLoc(map, nullptr, &peak);
  return std::max(threshold, peak_fraction * peak);
}

Calipers calipers(const std::vector<cv::Point>& pixels) {
  if (pixels.empty()) return {};
  std::vector<cv::Point> hull;
  cv::convexHull(pixels, hull);
  // Both diameters are reached at hull vertices, the smallest flush with a hull edge; fewer than
  // three vertices lie on one line, 0 wide.
  double longest_sq = 0, narrowest = hull.size() < 3 ? 0 : std::numeric_limits<double>::max();
  for (size_t i = 0; i < hull.size(); ++i) {
    const cv::Point2d a = hull[i], edge = cv::Point2d(hull[(i + 1) % hull.size()]) - a;
    const double edge_length = std::hypot(edge.x, edge.y);
    double farthest = 0;
    for (const cv::Point& p : hull) {
      const cv::Point2d d = cv::Point2d(p) - a;
      longest_sq = std::max(longest_sq, d.dot(d));
      if (hull.size() >= 3 && edge_length > 0) farthest = std::max(farthest, std::abs(edge.cross(d)) / edge_length);
    }
    if (hull.size() >= 3 && edge_length > 0) narrowest = std::min(narrowest, farthest);
  }
  return {static_cast<float>(std::sqrt(longest_sq) + 1), static_cast<float>(narrowest + 1)};
}

std::vector<Region> find_regions(const cv::Mat& map, float threshold, int64_t min_area) {
  cv::Mat mask = map >= threshold;
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  std::vector<Region> regions(n > 0 ? n - 1 : 0);
  std::vector<double> sums(regions.size(), 0.0);
  std::vector<std::vector<cv::Point>> ends(regions.size());
  for (int y = 0; y < map.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    const float* v = map.ptr<float>(y);
    for (int x = 0; x < map.cols; ++x) {
      if (l[x] == 0) continue;
      Region& r = regions[l[x] - 1];
      r.peak = r.area == 0 ? v[x] : std::max(r.peak, v[x]);
      ++r.area;
      sums[l[x] - 1] += v[x];
      add_row_end(ends[l[x] - 1], x, y);
    }
  }
  std::vector<Region> out;
  for (size_t i = 0; i < regions.size(); ++i) {
    Region r = regions[i];
    if (r.area < std::max<int64_t>(min_area, 1)) continue;
    const int* s = stats.ptr<int>(static_cast<int>(i) + 1);
    r.box = cv::Rect(s[cv::CC_STAT_LEFT], s[cv::CC_STAT_TOP], s[cv::CC_STAT_WIDTH], s[cv::CC_STAT_HEIGHT]);
    r.mean = static_cast<float>(sums[i] / r.area);
    r.calipers = calipers(ends[i]);
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const Region& a, const Region& b) { return a.area > b.area; });
  return out;
}

}  // namespace mtfcdd
