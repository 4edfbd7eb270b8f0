// Order statistics of timing samples.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
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

}  // namespace mtfcdd::bench
