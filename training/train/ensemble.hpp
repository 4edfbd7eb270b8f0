// Bundles made again from what training left: a bundle's upsampling, smoothing, peak fractions and
// thresholds chosen on a split (calibrate), and one bundle of one or more finished runs at their trained side
// or another, each type from the runs or at the side that serves it best (ensemble).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <mtfcdd/bundle.hpp>
#include <mtfcdd/dnn_model.hpp>
#include "dataset.hpp"
#include "evaluate.hpp"

namespace mtfcdd {

// What calibrate and ensemble choose on a split's masks, and how the bundle's maps are taken.
struct CalibrationChoices {
  std::string smoothing = "auto";           // auto: each type's sigma by its masks; none
  std::string peak_fraction = "auto";       // auto: each type's regions' share of the peak by its masks; none: 0
  std::optional<Upsampling> upsampling;     // unset: the better on the masks
  std::optional<FlipAverage> flip_average;  // unset: the bundle's (ensemble: the first run's)
  int batch = 8;
};

// The dataset as the bundle sees it: its types, in its order, unless `lo` names them.
Dataset load_for(const DnnModel& dnn, const std::string& path, LoadOptions lo);

// Chooses the upsampling of the bundle in `dir` (unless fixed), each type's smoothing and peak
// fraction (unless none) and the thresholds on a split's images; rewrites its model.json. Returns the split's
// report on the maps so chosen (AUPRO NaN without masks).
EvalReport calibrate_in_place(const std::string& dir, const std::string& data_path, const LoadOptions& load,
                              const std::string& split, const CalibrationChoices& c);

// --bundle-size: kTrainedSide, kAutoSide, kPerTypeSide, else the side asked for (32 to 4096 px);
// std::invalid_argument naming the choices otherwise.
constexpr int64_t kTrainedSide = 0, kAutoSide = -1, kPerTypeSide = -2;
int64_t parse_bundle_size(const std::string& s);

struct EnsembleOptions {
  std::vector<std::string> runs;        // run folders of `train`
  std::vector<std::string> type_sides;  // "type=px" for every type, or none
  std::string data, out, bundle_size = "trained";
  bool per_type = false;
  CalibrationChoices c;  // on the validation split
};

// One bundle in o.out from one or more finished runs. Runs trained apart (other seeds, head
// dilations, sides, machines) err differently; the mean of their maps can be steadier than any one
// of them, and with per_type each type takes the runs that map it best. The bundle's input side
// may differ from the trained one: a larger input maps at finer cells. Bad options throw
// std::invalid_argument before any work; a failure leaves no bundle.
void make_ensemble(const EnsembleOptions& o, const LoadOptions& load);

}  // namespace mtfcdd
