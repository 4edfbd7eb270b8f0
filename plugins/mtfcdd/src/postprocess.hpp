// From a type's low-resolution anomaly map to what a line needs: the map at frame resolution
// and the connected regions above the pixel threshold.
#pragma once

#include <opencv2/core.hpp>
#include <mtfcdd/names.hpp>
#include <string>
#include <vector>

namespace mtfcdd {

enum class Upsampling { Bilinear, Gaussian };

template <>
struct Names<Upsampling> {
  static constexpr std::pair<Upsampling, const char*> table[] = {{Upsampling::Bilinear, "bilinear"},
                                                                 {Upsampling::Gaussian, "gaussian"}};
};

// Bilinear (the paper) or FCDD's receptive-field style: bilinear followed by a Gaussian blur
// whose sigma is half the upsampling factor, which spreads each map cell over its footprint.
cv::Mat upsample_map(const cv::Mat& map, cv::Size size, Upsampling mode);

struct Region {
  cv::Rect box;
  int64_t area = 0;
  float peak = 0, mean = 0;
};

// 8-connected regions of `map` >= threshold with at least `min_area` pixels, largest first.
std::vector<Region> find_regions(const cv::Mat& map, float threshold, int64_t min_area);

}  // namespace mtfcdd
