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
// (calibrated = true). Says each choice on stdout and each calibration note on stderr. Returns
// the split's mean report on those maps (summarize's `mean`: its AUPRO is NaN when no type has a
// mask). Throws as summarize and calibrate do.
TypeReport calibrate_manifest(BundleManifest& man, const std::vector<ImageScores>& val, const CalibrationPlan& plan);

// The input sides a bundle of a network trained at `trained` px is tried at when its size is
// chosen on validation masks: trained x 1, 7/6, 4/3, 3/2, rounded. A fully convolutional network
// maps a larger input at finer cells, so small defects cover more of them; whether that helps a
// model is its validation masks' call. Not beyond 3/2: on Magnetic Tile the validation AUPRO still
// rose at 5/3 while the test's fell (docs/results.md).
std::vector<int64_t> bundle_sizes(int64_t trained);

}  // namespace mtfcdd
