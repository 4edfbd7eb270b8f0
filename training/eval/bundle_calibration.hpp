// A bundle's map handling and thresholds chosen on a validation split already scored through the
// engine: shared by `mtfcdd-train train` (after training) and `mtfcdd-train calibrate` (a bundle
// that exists: quantized, moved to flip averaging, or given new validation images).
#pragma once

#include <vector>

#include "evaluate.hpp"
#include <mtfcdd/bundle.hpp>

namespace mtfcdd {

// The smoothing sigmas tried per type, in map cells (0: none).
inline const std::vector<double> kSmoothingSigmas{0, 1, 2, 3, 4, 6};

struct CalibrationPlan {
  bool choose_upsampling = true;  // bilinear or receptive by mean validation AUPRO; else keep man's
  bool choose_smoothing = true;   // each type's sigma by its validation AUPRO; else keep man's
};

// Chooses what `plan` asks on the masks of `val` (maps as `man` describes them), then calibrates
// every type's image and pixel threshold on the maps so obtained and writes them into `man`
// (calibrated = true). Says each choice on stdout and each calibration note on stderr.
// Throws as summarize and calibrate do.
void calibrate_manifest(BundleManifest& man, const std::vector<ImageScores>& val, const CalibrationPlan& plan);

}  // namespace mtfcdd
