// Order statistics of timing samples, and how far apart two outputs are (training/util's, shared
// with the trainer).
#pragma once

#include <vector>

#include "util_numeric.hpp"

namespace mtfcdd::bench {

using mtfcdd::quantile;
using mtfcdd::relative_l2;

inline double median(const std::vector<double>& v) { return quantile(v, 0.5); }
inline double p95(const std::vector<double>& v) { return quantile(v, 0.95); }

}  // namespace mtfcdd::bench
