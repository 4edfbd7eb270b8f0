#include "postprocess.hpp"

#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace mtfcdd {

cv::Mat upsample_map(const cv::Mat& map, cv::Size size, Upsampling mode) {
  cv::Mat out;
  cv::resize(map, out, size, 0, 0, cv::INTER_LINEAR);
  if (mode == Upsampling::Gaussian) {
    const double factor = std::max(static_cast<double>(size.width) / map.cols, static_cast<double>(size.height) / map.rows);
    const double sigma = std::max(0.5, factor / 2);
    cv::GaussianBlur(out, out, cv::Size(), sigma, sigma, cv::BORDER_REPLICATE);
  }
  return out;
}

std::vector<Region> find_regions(const cv::Mat& map, float threshold, int64_t min_area) {
  cv::Mat mask = map >= threshold;
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
  std::vector<Region> regions(n > 0 ? n - 1 : 0);
  std::vector<double> sums(regions.size(), 0.0);
  for (int y = 0; y < map.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    const float* v = map.ptr<float>(y);
    for (int x = 0; x < map.cols; ++x) {
      if (l[x] == 0) continue;
      Region& r = regions[l[x] - 1];
      r.peak = r.area == 0 ? v[x] : std::max(r.peak, v[x]);
      ++r.area;
      sums[l[x] - 1] += v[x];
    }
  }
  std::vector<Region> out;
  for (size_t i = 0; i < regions.size(); ++i) {
    Region r = regions[i];
    if (r.area < std::max<int64_t>(min_area, 1)) continue;
    const int* s = stats.ptr<int>(static_cast<int>(i) + 1);
    r.box = cv::Rect(s[cv::CC_STAT_LEFT], s[cv::CC_STAT_TOP], s[cv::CC_STAT_WIDTH], s[cv::CC_STAT_HEIGHT]);
    r.mean = static_cast<float>(sums[i] / r.area);
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const Region& a, const Region& b) { return a.area > b.area; });
  return out;
}

}  // namespace mtfcdd
