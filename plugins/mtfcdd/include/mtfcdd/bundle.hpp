// The model bundle's manifest (model.json): what the ONNX file expects and produces, the
// defect types in channel order with their thresholds, and where the model came from.
#pragma once

#include <array>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "names.hpp"
#include "postprocess.hpp"

namespace mtfcdd {

enum class ChannelOrder { RGB, BGR };
// How a frame becomes the input: Stretch (each axis scaled to the input, the aspect ratio lost) or
// Fit (scaled alike on both axes to fit, centred, the rest filled by mirroring the frame), for
// parts imaged at several aspect ratios. See input_placement().
enum class Resize { Stretch, Fit };
// The maps are the mean over the frame and its mirror images (flip_average.hpp).
enum class FlipAverage { None, H, V, HV };
// The arithmetic of the convolutions: float32; bf16 (bfloat16 inputs and weights, float32 sums
// and outputs; oneDNN on a CPU with AVX512_BF16); or int8 (8-bit inputs quantized with ranges
// calibrated on training images, 8-bit weights per output channel, 32-bit integer sums, float32
// outputs; oneDNN on a CPU with AVX512_VNNI).
enum class Precision { Float32, BF16, Int8 };

// The values a convolution's input took on calibration images; an int8 convolution maps them to
// u8 (min >= 0, e.g. after a ReLU) or s8, the largest magnitude to 255 or 127.
struct Int8Range {
  float min = 0, max = 0;
};

template <>
struct Names<ChannelOrder> {
  static constexpr std::pair<ChannelOrder, const char*> table[] = {{ChannelOrder::RGB, "RGB"},
                                                                   {ChannelOrder::BGR, "BGR"}};
};
template <>
struct Names<Resize> {
  static constexpr std::pair<Resize, const char*> table[] = {{Resize::Stretch, "stretch"}, {Resize::Fit, "fit"}};
};
template <>
struct Names<FlipAverage> {
  static constexpr std::pair<FlipAverage, const char*> table[] = {
      {FlipAverage::None, "none"}, {FlipAverage::H, "h"}, {FlipAverage::V, "v"}, {FlipAverage::HV, "hv"}};
};
template <>
struct Names<Precision> {
  static constexpr std::pair<Precision, const char*> table[] = {
      {Precision::Float32, "float32"}, {Precision::BF16, "bf16"}, {Precision::Int8, "int8"}};
};

// The newest format this build reads. A bundle is written with the oldest version that holds what
// it uses (2: input.resize "fit"; 3: flip_average; 4: precision bf16; 5: upsampling receptive;
// 6: precision int8; 7: bf16 with float32_convolutions; 8: a type's smoothing; 9: upsampling
// receptive-normalized; 10: a type's peak_fraction), so that older builds refuse what they would
// misread.
constexpr int kBundleFormatVersion = 10;

// The largest peak_fraction a bundle or a config may set: at 1 only the peak pixel would remain.
constexpr double kMaxPeakFraction = 0.99;

struct DefectType {
  std::string name;
  std::string display;
  double image_threshold = 0.0;  // on the image score z (mean of the type's map)
  double pixel_threshold = 0.0;  // on the map value A at input resolution, after smoothing
  double smoothing = 0.0;        // smooth_map's sigma in map cells before upsampling (0: none)
  double peak_fraction = 0.0;    // regions: pixel_threshold_in_force's share of the map's peak, in [0, 1)
};

struct BundleManifest {
  int format_version = 1;  // as read; writing picks the oldest that holds what the bundle uses
  std::string model_file = "model.onnx";
  std::vector<DefectType> types;  // channel order
  int input_width = 0, input_height = 0;
  ChannelOrder channel_order = ChannelOrder::RGB;
  Resize resize = Resize::Stretch;
  // The thresholds were calibrated on the maps these two give, so they belong to the model, not to
  // a detector config.
  FlipAverage flip_average = FlipAverage::None;
  Precision precision = Precision::Float32;
  // Int8: the calibrated input range of each convolution that runs in int8, by its layer name in
  // OpenCV's network; the others run in float32.
  std::map<std::string, Int8Range> int8_ranges;
  // BF16: the convolutions (by layer name) that stay float32 because bf16 moved the maps most
  // (chosen by `mtfcdd-train quantize --precision bf16`); the others run in bfloat16.
  std::set<std::string> float32_convolutions;
  std::array<double, 3> mean{}, std{};        // in 0..255 units, per channel in channel_order
  std::string input_name = "image";
  std::string maps_output = "anomaly_maps";   // [N, M, heatmap_height, heatmap_width]
  int heatmap_width = 0, heatmap_height = 0;
  // Where each map cell looks in the input (written by the trainer; older bundles lack it).
  ReceptiveField receptive_field;
  // How maps reach input resolution for regions, overlays and pixel thresholds: the thresholds
  // were calibrated on those maps, so the bundle names it; a detector config may override it.
  Upsampling upsampling = Upsampling::Bilinear;
  bool calibrated = false;                    // thresholds chosen on validation data
  nlohmann::json provenance = nlohmann::json::object();
};

// Throws std::runtime_error naming `source` and the offending key.
BundleManifest manifest_from_json(const nlohmann::json& j, const std::string& source);
nlohmann::json manifest_to_json(const BundleManifest& m);

// How the detector and the evaluation bring this bundle's maps to input resolution: its own
// upsampling, or `mode`. Throws std::runtime_error when receptive is asked of a bundle without a
// receptive field.
Upsampler upsampler_of(const BundleManifest& m, std::optional<Upsampling> mode = std::nullopt);

BundleManifest read_manifest(const std::string& bundle_dir);
void write_manifest(const BundleManifest& m, const std::string& bundle_dir);

}  // namespace mtfcdd
