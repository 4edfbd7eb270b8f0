// Writes a model bundle (model.onnx + model.json) and proves it: the written ONNX file is run
// through OpenCV DNN and compared with LibTorch on the same inputs.
#pragma once

#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include <mtfcdd/bundle.hpp>
#include "fcdd_model.hpp"

namespace mtfcdd {

// Relative L2 error above which an export is refused.
constexpr double kExportTolerance = 1e-4;
// The same for a bf16 bundle, whose convolutions round their inputs and weights to bfloat16 (8
// significant bits): measured 2e-5 (small at 64 px) to 7e-4 (irv2 at 107 px) from float32.
constexpr double kExportBf16Tolerance = 1e-2;

struct ExportRequest {
  std::string out_dir;
  std::vector<DefectType> types;  // channel order; size must equal the model's M
  bool calibrated = false;
  Resize resize = Resize::Stretch;  // how frames become the input
  // The check compares one view, the network itself, with LibTorch.
  FlipAverage flip_average = FlipAverage::None;
  // A bf16 bundle is checked in float32 first, then again in bf16 against kExportBf16Tolerance.
  Precision precision = Precision::Float32;
  // How the thresholds calibrated afterwards and the detector bring maps to input resolution;
  // Receptive needs the network's receptive field (both axes alike).
  Upsampling upsampling = Upsampling::Bilinear;
  nlohmann::json provenance = nlohmann::json::object();  // export adds "created" (UTC)
  torch::Tensor check_inputs;     // normalised [K, 3, H, W]; undefined = generated patterns
};

// The network's shape as bundles' provenance and checkpoints record it: preset, cut, head width
// and dilation, members.
nlohmann::json network_description(const ModelConfig& m);

struct ExportResult {
  double maps_rel_l2 = 0, scores_rel_l2 = 0;            // in float32
  double bf16_maps_rel_l2 = 0, bf16_scores_rel_l2 = 0;  // a bf16 bundle in bf16
  int64_t onnx_bytes = 0;
  BundleManifest manifest;
};

// The manifest an export of `model` writes: input size, normalisation ([-1, 1], RGB), heatmap size,
// receptive field (left out when the two axes differ: the receptive upsampling is square).
BundleManifest manifest_for(const FcddModelImpl& model, const std::vector<DefectType>& types);

// A type as a bundle holds it until calibrated: both thresholds at p = 0.5 (z = ln 2), no smoothing.
DefectType uncalibrated_type(const std::string& name, const std::string& display);

// Throws std::runtime_error (and leaves no bundle behind) when the check fails.
ExportResult export_bundle(FcddModelImpl& model, const ExportRequest& req);
// Prints where the bundle was written and its export check's figures.
void print_export(const ExportResult& r, const std::string& dir);

// Float32 NCHW blobs (OpenCV DNN's layout) to and from LibTorch tensors; both copy.
torch::Tensor tensor_from_blob(const cv::Mat& blob);
cv::Mat blob_from_tensor(const torch::Tensor& t);

// Relative L2 error ||a - b|| / ||b|| (util_numeric.hpp's RelativeL2, in double, of their float32 values); throws
// std::invalid_argument when their sizes differ.
double relative_l2(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace mtfcdd
