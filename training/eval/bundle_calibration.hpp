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
  bool choose_upsampling = true;  // the upsampling of best mean validation AUPRO; else keep man's
  bool choose_smoothing = true;   // each type's sigma by its validation AUPRO; else keep man's
  bool choose_peak_fraction = true;  // each type's regions' share of the peak (kPeakFractions); else 0
};

// Chooses what `plan` asks on the masks of `val` (maps as `man` describes them), then calibrates
// every type's image and pixel threshold on the maps so obtained and writes them into `man`
// (calibrated = true). Says each choice on stdout and each calibration note on stderr. Returns
// the split's report on those maps (summarize's: a type's AUPRO is NaN without its masks).
// Throws as summarize and calibrate do.
EvalReport calibrate_manifest(BundleManifest& man, const std::vector<ImageScores>& val, const CalibrationPlan& plan);

// The input sides a bundle of a network trained at `trained` px is tried at when its size is
// chosen on validation masks: trained x 1, 7/6, 4/3, 3/2, rounded. A fully convolutional network
// maps a larger input at finer cells, so small defects cover more of them; whether that helps a
// model is its validation masks' call. Not beyond 3/2: on Magnetic Tile the validation AUPRO still
// rose at 5/3 while the test's fell (docs/results.md).
std::vector<int64_t> bundle_sizes(int64_t trained);
// The sides each type's own side is chosen from (ensemble --bundle-size per-type): trained x 1,
// 4/3, 5/3, 2, rounded. Up to 2: a type whose validation prefers a smaller side keeps it, so
// the finest side no longer costs the large patches their whole view (docs/results.md).
std::vector<int64_t> per_type_bundle_sizes(int64_t trained);

// Per type, the index of the candidate (reports on one split: one per set of runs that could map
// the type, or one per input side; runs_in[i]: how many runs candidate i averages, or for sides a
// rank, higher for the smaller) that serves it best. Its figure is the mean of AUPRO and image
// AUROC against normal images (one channel gives both the image score and the map, and a set that
// localizes best can rank images worst: docs/results.md), the image AUROC alone for a type without
// masks. A validation split holds few images of some types, so the highest figure can be luck: by
// the one-standard-error rule (Hastie, Tibshirani & Friedman, ESL 7.10) the type takes, of the
// candidates within one standard error of the highest, the one with the highest runs_in (the most
// runs: the steadier maps; the smallest side: the cheapest), the higher figure among equals; the
// highest itself where its standard error is NaN; the first where every figure is NaN.
// Throws std::invalid_argument on no candidate, reports of different types or a runs_in of
// another length.
std::vector<size_t> best_candidate_per_type(const std::vector<EvalReport>& candidates,
                                            const std::vector<size_t>& runs_in);
// The figure best_candidate_per_type ranks a type's candidates by (`masked`: some candidate has
// an AUPRO for it), and its standard error: AUPRO's and image AUROC's (TypeReport's, over the
// parts photographed) taken as independent of each other; NaN where either is.
double per_type_figure(const TypeReport& t, bool masked);
// Whether some candidate has an AUPRO for type k: the `masked` of the two above.
bool type_has_masks(const std::vector<EvalReport>& candidates, size_t k);
double per_type_figure_se(const TypeReport& t, bool masked);

// Each network's share of each type's map when type k is the mean of the runs in sets[k] (a bit
// per run; runs[r] networks each): [network][type], the runs' networks one after the other, 1 / n
// for each of the n networks of the type's runs, 0 for the rest. Throws std::invalid_argument on
// an empty set or one naming a run that does not exist.
std::vector<std::vector<float>> network_shares(const std::vector<int64_t>& runs, const std::vector<unsigned>& sets);

}  // namespace mtfcdd
