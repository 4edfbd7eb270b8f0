// Order statistics of timing samples, and how far apart two outputs are.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace mtfcdd::bench {

// The q-quantile (0..1) with linear interpolation between order statistics (numpy's default),
// so p95 of 50 runs is not simply the 3rd-largest sample.
inline double quantile(std::vector<double> v, double q) {
  if (v.empty()) throw std::invalid_argument("quantile of no samples");
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

inline double median(const std::vector<double>& v) { return quantile(v, 0.5); }
inline double p95(const std::vector<double>& v) { return quantile(v, 0.95); }

// ||a - b|| / ||b|| (Euclidean); 0 when both are zero, infinity when only b is. Throws
// std::invalid_argument when the sizes differ.
inline double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size())
    throw std::invalid_argument("relative_l2 of " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
                                " values");
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    diff += d * d;
    ref += static_cast<double>(b[i]) * b[i];
  }
  if (ref == 0) return diff == 0 ? 0 : INFINITY;
  return std::sqrt(diff / ref);
}

}  // namespace mtfcdd::bench
