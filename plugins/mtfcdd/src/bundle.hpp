// The model bundle's manifest (model.json): what the ONNX file expects and produces, the
// defect types in channel order with their thresholds, and where the model came from.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "postprocess.hpp"

namespace mtfcdd {

// The newest format this build reads. A bundle is written with the oldest version that holds what
// it uses (2: input.resize "fit"; 3: flip_average; 4: precision bf16; 5: upsampling receptive), so
// that older builds refuse what they would misread.
constexpr int kBundleFormatVersion = 5;

struct DefectType {
  std::string name;
  std::string display;
  double image_threshold = 0.0;  // on the image score z (mean of the type's map)
  double pixel_threshold = 0.0;  // on the map value A at input resolution
};

struct BundleManifest {
  int format_version = 1;  // as read; writing picks 1, 2 or 3 by what the bundle needs
  std::string model_file = "model.onnx";
  std::vector<DefectType> types;  // channel order
  int input_width = 0, input_height = 0;
  std::string channel_order = "RGB";          // RGB or BGR
  // How a frame becomes the input: "stretch" (each axis scaled to the input, the aspect ratio
  // lost) or "fit" (scaled alike on both axes to fit, centred, the rest filled by mirroring the
  // frame), for parts imaged at several aspect ratios. See input_placement().
  std::string resize = "stretch";
  // The maps are the mean over the frame and its mirror images (flip_average.hpp): none, h, v or
  // hv. The thresholds were calibrated on those means, so it belongs to the model, not to a config.
  std::string flip_average = "none";
  // The arithmetic of the convolutions: "float32", or "bf16" (bfloat16 inputs and weights,
  // float32 sums and outputs; oneDNN on a CPU with AVX512_BF16). The thresholds are calibrated on
  // the maps it gives, so it belongs to the model.
  std::string precision = "float32";
  std::array<double, 3> mean{}, std{};        // in 0..255 units, per channel in channel_order
  std::string input_name = "image";
  std::string maps_output = "anomaly_maps";   // [N, M, heatmap_height, heatmap_width]
  std::string scores_output = "scores";       // [N, M]
  int heatmap_width = 0, heatmap_height = 0;
  // Where each map cell looks in the input (written by the trainer; older bundles lack it).
  ReceptiveField receptive_field;
  // How maps reach input resolution for regions, overlays and pixel thresholds: the thresholds
  // were calibrated on those maps, so the bundle names it; a detector config may override it.
  Upsampling upsampling = Upsampling::Bilinear;
  bool calibrated = false;                    // thresholds chosen on validation data
  nlohmann::json provenance = nlohmann::json::object();
};

// Whether `s` names a resize mode this build implements (BundleManifest::resize).
bool is_resize_mode(const std::string& s);

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
