// Evaluating a trained model on a dataset split: running the deployed OpenCV DNN path over the
// images (score_split), the paper's image- and pixel-level tables per defect type
// (summarize, markdown_report, report_json), a per-image score CSV, and threshold calibration on
// a validation split (calibrate). No torch here.
//
// Scores: the model's map A_k >= 0 per type k; the image score is z_k = mean of A_k over the
// low-resolution map (the paper's Eq. 2; p_k = 1 - exp(-z_k) is monotone in z_k, so every
// ranking metric and argmax is the same on z or p). The "max-pixel" variant scores an image by
// the maximum of A_k upsampled to the model input size. Every upsampling is the engine's
// (Upsampler, postprocess.hpp): the one the detector applies, bilinear or receptive.
#pragma once

#include <cstddef>
#include <limits>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "dataset.hpp"
#include "metrics.hpp"
#include <mtfcdd/postprocess.hpp>

namespace mtfcdd {

class DnnModel;  // <mtfcdd/dnn_model.hpp>

struct ImageScores {
  const Sample* sample = nullptr;  // points into the Dataset
  std::vector<double> z;           // per type: mean of the map (image score)
  std::vector<double> max_pixel;   // per type: max of the map upsampled (by `up`) to the model input size
  std::vector<cv::Mat> maps;       // per type: the low-resolution map (u x v, CV_32F), for pixel metrics
  cv::Size input;                  // the model input size the maps cover
  cv::Rect placed;                 // where the image lies in that input; empty = all of it
};

// Reads each image of `split` (cv::imread, IMREAD_COLOR), in batches of `batch`, runs
// make_blob + DnnModel::forward, and keeps z, max_pixel (maps upsampled by `up`) and the maps per
// type, in split order.
// A non-empty `progress` labels a ProgressLine of the images scored.
// Throws std::runtime_error when the dataset's type names (in order) differ from the manifest's
// (naming both lists), or naming the file of an unreadable image; std::invalid_argument when
// batch < 1.
std::vector<ImageScores> score_split(DnnModel& model, const Dataset& data, const std::string& split,
                                     const Upsampler& up, int batch = 8, const std::string& progress = "");
// The same over given samples of `data` (a data-parallel rank's shard of a split).
std::vector<ImageScores> score_samples(DnnModel& model, const Dataset& data, const std::vector<const Sample*>& samples,
                                       const Upsampler& up, int batch = 8, const std::string& progress = "");

struct BinaryMetrics {
  double auroc = std::numeric_limits<double>::quiet_NaN();
  double ap = std::numeric_limits<double>::quiet_NaN();
  double max_f1 = std::numeric_limits<double>::quiet_NaN();
  size_t positives = 0, negatives = 0;
};

inline F1Result nan_f1() {
  const double n = std::numeric_limits<double>::quiet_NaN();
  return {n, n, n, n};
}

struct TypeReport {
  std::string name;
  // Image score z. vs_normal: positives = images with the type, negatives = normal images;
  // vs_rest: negatives = every image without the type (normal or of other types).
  BinaryMetrics vs_normal, vs_rest;
  BinaryMetrics vs_normal_max, vs_rest_max;  // the same with the max-pixel score
  // Over images with a mask for this type (positives) plus normal images (all-zero masks);
  // NaN when no image has a mask of this type (pixel_images is then 0).
  double pixel_auroc = std::numeric_limits<double>::quiet_NaN();
  double aupro = std::numeric_limits<double>::quiet_NaN();
  // Standard errors over the parts photographed (the samples' `group`; an image without one is its
  // own): vs_normal.auroc's and aupro's over its regions, NaN with fewer than two groups; neither
  // kept for the mean. groups: how many parts the type's images show.
  double auroc_se = std::numeric_limits<double>::quiet_NaN();
  double aupro_se = std::numeric_limits<double>::quiet_NaN();
  size_t regions = 0, pixel_images = 0, groups = 0;
  // Over the same pixels, "defect iff A >= threshold": at the bundle's calibrated pixel threshold
  // raised to peak_fraction of each image's peak (what the detector's regions use; NaN when not
  // given) and at the best threshold alone.
  F1Result pixel_at_threshold = nan_f1(), pixel_best = nan_f1();
  double peak_fraction = 0;
};

struct EvalReport {
  std::string split;
  std::vector<TypeReport> types;
  // name "Mean": the mean over types of each metric, ignoring NaN (NaN when all are NaN). Its
  // counts (positives, negatives, pixel_images) are the sums over types.
  TypeReport mean;
  // Any anomaly: score = max over types (of z, resp. of max_pixel), label = has any type;
  // positives = defective images, negatives = normal images.
  BinaryMetrics any, any_max;
  // Max over types of the upsampled maps vs the union of the image's masks, over images with at
  // least one mask plus normal images. (A defect of a type without a mask in such an image counts
  // as normal pixels, since nothing marks where it is.)
  double any_pixel_auroc = std::numeric_limits<double>::quiet_NaN();
  double any_aupro = std::numeric_limits<double>::quiet_NaN();
  size_t any_pixel_images = 0;
  // [true type][predicted type] over defective images; predicted = argmax z (= argmax p; the
  // first type on ties); a multi-type image counts once in each of its true rows.
  std::vector<std::vector<size_t>> confusion;
  size_t images = 0, normal = 0;
};

// A mask image's defect pixels as CV_8U 255 (the rest 0). A mask whose largest value is above 127
// (0/255, anti-aliased edges included) marks the pixels above 127; one saved as labels (0/1, any
// largest value up to 127) marks its non-zero pixels, which "> 127" would lose entirely.
cv::Mat defect_pixels(const cv::Mat& gray);

// The mask file's defect_pixels (read IMREAD_GRAYSCALE); std::runtime_error "cannot read mask PATH".
cv::Mat read_defect_mask(const std::string& path);

// Pure given the scores (reads only the mask files). type_names: channel order, one per entry of
// z / max_pixel / maps. Pixel metrics upsample each map with `up` to up.input
// and read masks (read_defect_mask, resized with INTER_NEAREST), one type at
// a time. pixel_metrics = false skips them (NaN; maps may then be empty). fpr_limit: AUPRO's.
// pixel_thresholds (per type, on those upsampled maps; empty: none): the pixel F1 at each, with
// each image's threshold raised to peak_fractions' share of its peak (per type; empty: all 0).
// Throws std::invalid_argument on inconsistent scores, std::runtime_error on an unreadable mask.
// AUPRO's false-positive-rate limit (the paper's and ADEval's).
constexpr double kAuproFprLimit = 0.3;
// What a map of random scores gets: PRO = FPR on average, so its AUPRO is fpr_limit / 2.
constexpr double kAuproChance = kAuproFprLimit / 2;

EvalReport summarize(const std::vector<ImageScores>& scores, const std::vector<std::string>& type_names,
                     const Upsampler& up, bool pixel_metrics = true, double fpr_limit = kAuproFprLimit,
                     const std::vector<double>& pixel_thresholds = {},
                     const std::vector<double>& peak_fractions = {});

// Of `candidates` (upsamplers at one input size), the one whose maps give the higher mean AUPRO
// over the types with masks in `val`; the first on a tie or when no type has a mask. FCDD's
// receptive upsampling won on Magnetic Tile and lost on the synthetic parts (docs/results.md), so
// a model's own validation masks decide. `aupro`, when given, receives each candidate's mean.
// Throws as summarize does; std::invalid_argument on no candidate.
Upsampler better_upsampler(const std::vector<ImageScores>& val, const std::vector<std::string>& type_names,
                           const std::vector<Upsampler>& candidates, std::vector<double>* aupro = nullptr);

// Per type, the sigma of `sigmas` (smooth_map's, in map cells) whose maps, smoothed and upsampled
// by `up`, give the type's highest AUPRO on the masks in `val`; the first on a tie, for a type
// without masks, and for a type whose maps under the first sigma score no better than chance
// (kAuproChance): maps that do not find the masks cannot rank sigmas (run L-SM-D2 at 56 epochs:
// `break` 0.066 unsmoothed, 0.337 at sigma 4, and that sigma cost 22.5 points on test). Large
// defects light the map in patches and want more smoothing than thin ones, so each type's own
// validation masks decide, within widest_smoothing: a Gaussian wider than the defects spreads
// their response beyond them (run L-SM-S8: `break`, whose validation regions have a median radius
// of 3.6 px, chose sigma 6 cells = 48 px, and lost 30.5 points on test). `aupro`, when given,
// receives per sigma each type's AUPRO, `widest` each type's cap. Throws as summarize does;
// std::invalid_argument on no sigma.
std::vector<double> better_smoothing(const std::vector<ImageScores>& val, const std::vector<std::string>& type_names,
                                     const Upsampler& up, const std::vector<double>& sigmas,
                                     std::vector<std::vector<double>>* aupro = nullptr,
                                     std::vector<double>* widest = nullptr);

// Per type, the widest smoothing sigma (map cells) within its defects: the median equivalent
// radius of its masks' regions in `val` (median_region_radius, in input pixels) over the map cell's
// size (`up.input` width over the map's). Infinity for a type without masks.
std::vector<double> widest_smoothing(const std::vector<ImageScores>& val, size_t types, const Upsampler& up);

// Markdown: the per-type table (image AUROC / AP / max-F1 vs normal and vs rest, pixel AUROC /
// AUPRO; percentages, one decimal, '-' for NaN) with a Mean row, the max-pixel table, an
// any-anomaly line and the confusion matrix (rows true, columns predicted).
std::string markdown_report(const EvalReport& r);

// Every number of the report; NaN as null.
nlohmann::json report_json(const EvalReport& r);

// RFC 4180 CSV (CRLF line ends, fields quoted when they hold a comma, quote, CR or LF):
// image, split, types (';'-joined names), z_<type>..., maxpix_<type>...; numbers as %.9g.
// Throws std::runtime_error naming the path when it cannot be written.
void write_scores_csv(const std::vector<ImageScores>& s, const std::vector<std::string>& type_names,
                      const std::string& path);

// How a type's peak fraction was chosen, on the split's pixels before the normal pixels' floor
// (NaN F1s without masks of the type).
struct PeakFractionChoice {
  double best = 0;  // the share of highest pixel F1
  double best_f1 = std::numeric_limits<double>::quiet_NaN(), alone_f1 = std::numeric_limits<double>::quiet_NaN();
  double gain_se = std::numeric_limits<double>::quiet_NaN();  // of best_f1 - alone_f1, over the split's parts
};

struct Calibration {
  std::vector<double> image, pixel;  // per type, in type_names order
  std::vector<double> peak_fraction;  // per type: the regions' share of a map's peak
  std::vector<PeakFractionChoice> peak_fraction_choice;  // per type
  std::vector<std::string> notes;    // one per fallback taken (and per subsampled pixel set)
};

// calibrate()'s quantiles of normal images: of z, where a type has no image; of the pixels, the
// pixel threshold's floor (at most 0.1% of a normal part's pixels fire).
constexpr double kNormalImageQuantile = 0.99, kNormalPixelQuantile = 0.999;
// The peak fractions calibrate() tries for the regions (pixel_threshold_in_force).
inline const std::vector<double> kPeakFractions{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};

// Thresholds per type, for the rule "positive iff score >= threshold" (max_f1's):
// image: the max-F1 threshold of z_k one-vs-rest over the split; when the split has no image of
// type k or no negative, the `quantile` of z_k over normal images (a note says so).
// pixel: the rule "defect iff A >= max(threshold, peak_fraction * the image's peak)" (the
// detector's regions) of highest F1 over the pixels of the upsampled maps of type k (images with a
// mask of type k plus normal images), the peak fraction one of `peak_fractions` (the first on a
// tie); a share other than 0 is kept only when its F1 beats the threshold alone's by more than
// one standard error over the split's parts (f1_difference_se; the manifest's `group`): a few
// parts' maps do not tell shares apart (Magnetic Tile's `break`, docs/results.md). The threshold
// is raised to the `pixel_quantile` of the normal images' upsampled pixels when below it (a
// note). Without masks of type k: that quantile and share 0 (a note). With no normal image either,
// the fallback value (a note).
// Quantiles interpolate linearly between order statistics (numpy's default).
// Throws std::invalid_argument when a fallback vector's size differs from type_names', or when
// peak_fractions does not start with 0 or holds a value outside [0, kMaxPeakFraction].
Calibration calibrate(const std::vector<ImageScores>& val, const std::vector<std::string>& type_names,
                      const Upsampler& up, const std::vector<double>& fallback_image,
                      const std::vector<double>& fallback_pixel, double quantile = kNormalImageQuantile,
                      double pixel_quantile = kNormalPixelQuantile,
                      const std::vector<double>& peak_fractions = kPeakFractions);

}  // namespace mtfcdd
