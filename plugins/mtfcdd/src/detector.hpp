// The MultiTypeFCDD detector: frames in, per-type scores, decisions, heatmaps, regions and the
// routed action out. The C ABI (c_api.cpp) is a thin shell around this class.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include <mtfcdd/dnn_model.hpp>
#include <mtfcdd/postprocess.hpp>
#include "routing.hpp"

namespace mtfcdd {

// What reconfigure() may change; create() takes these plus the model and backend keys.
struct DetectorSettings {
  std::vector<double> image_thresholds, pixel_thresholds;  // per type, on z and on A
  std::vector<double> peak_fractions;  // per type: pixel_threshold_in_force's share of the map's peak
  bool heatmap = true;        // the type's map at model resolution
  bool heatmap_full = false;  // the type's map at frame resolution
  Upsampling upsampling = Upsampling::Bilinear;  // the bundle's unless the config says otherwise
  int64_t min_region_area = 1;
  std::shared_ptr<const Router> router;
};

struct TypeOutput {
  std::string name;
  float score = 0, probability = 0, threshold = 0;
  // On A, in force on this frame's map: the regions' threshold. Raised to the type's share of the
  // map's peak when the full map is made (a decision or heatmap_full), else the configured one.
  double pixel_threshold = 0;
  double configured_pixel_threshold = 0;  // the type's own, before the share of the peak
  bool decision = false;
  cv::Mat heatmap, heatmap_full;  // empty when not requested
  std::vector<Region> regions;
};

struct FrameOutput {
  bool decision = false;
  std::vector<TypeOutput> types;
  RoutingDecision routing;
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;
};

struct Frame {
  cv::Mat image;         // 8-bit GRAY, BGR or BGRA
  std::string category;  // may be empty
};

// The most worker threads a configuration may ask for.
constexpr int kMaxThreads = 256;

class Detector {
 public:
  // config: {"model": DIR, "backend": "cpu"|"cuda"|"cuda_fp16"|"auto", "fallback": "cpu"|"none",
  //          "conv": "auto"|"onednn"|"opencv", "threads": N, + the settings keys}; relative
  //          paths resolve against base_dir.
  // Throws ConfigError / std::runtime_error naming the cause. OpenCV has one thread pool per
  // process: the first detector that asks for a size sets it (1 on oneDNN, else `threads` when
  // given), later ones leave it as it is (docs/plugin-abi.md).
  Detector(const nlohmann::json& config, const std::string& base_dir);

  std::vector<FrameOutput> process(const std::vector<Frame>& frames);
  // Applies settings keys; on error nothing changes.
  void reconfigure(const nlohmann::json& config);
  nlohmann::json describe() const;

 private:
  // The config read once. base_dir first: a braced config ({{"model", ...}, ...}) would also
  // convert to a reader, and the public constructor would be ambiguous.
  Detector(const std::string& base_dir, const JsonReader<ConfigError>& config);
  TypeOutput type_output(const cv::Mat& map, size_t k, const cv::Size& frame, const Upsampler& up) const;

  DnnModel model_;
  DetectorSettings settings_;
};

}  // namespace mtfcdd
