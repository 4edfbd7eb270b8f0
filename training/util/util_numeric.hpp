// Order statistics and the relative L2 distance of two outputs (export checks, quantization,
// the benchmark's comparisons).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace mtfcdd {

// The q-quantile (q clamped to 0..1) with linear interpolation between order statistics (numpy's
// default), so that p95 of 50 runs is not simply the 3rd-largest sample. O(n): it selects, it
// does not sort (millions of pixels). Throws std::invalid_argument on no values.
inline double quantile(std::vector<double> v, double q) {
  if (v.empty()) throw std::invalid_argument("quantile of no values");
  q = std::min(1.0, std::max(0.0, q));
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
  const double a = v[lo];
  if (lo + 1 >= v.size()) return a;
  const double b = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end());  // the next one
  return a + (b - a) * (pos - static_cast<double>(lo));
}

// ||a - b|| / ||b|| (Euclidean, in double) over one or more pieces of two outputs.
class RelativeL2 {
 public:
  void add(const float* a, const float* b, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(a[i]) - b[i];
      diff_ += d * d;
      ref_ += static_cast<double>(b[i]) * b[i];
    }
  }
  // 0 when both are zero, infinity when only b is.
  double value() const {
    if (ref_ == 0) return diff_ == 0 ? 0 : std::numeric_limits<double>::infinity();
    return std::sqrt(diff_ / ref_);
  }

 private:
  double diff_ = 0, ref_ = 0;
};

// RelativeL2 of two equally long outputs; throws std::invalid_argument when the sizes differ.
inline double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size())
    throw std::invalid_argument("relative_l2 of " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
                                " values");
  RelativeL2 r;
  r.add(a.data(), b.data(), a.size());
  return r.value();
}

}  // namespace mtfcdd
