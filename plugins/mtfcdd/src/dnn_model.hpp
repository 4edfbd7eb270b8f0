// A model bundle loaded into OpenCV DNN: checks the ONNX file against its manifest at load
// time, then turns normalised NCHW blobs into anomaly maps.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bundle.hpp"

namespace mtfcdd {

// A configuration error (unknown key, bad value), so the C ABI can tell it from model errors.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The requested compute backend cannot run here (e.g. CUDA without a CUDA build of OpenCV).
struct BackendError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct DnnOptions {
  std::string backend = "cpu";  // cpu | cuda | cuda_fp16 | auto
  bool fallback_cpu = false;    // when CUDA is asked for but unavailable
  // The CPU backend's convolutions: onednn | opencv | auto (onednn when the plugin has it).
  std::string conv = "auto";
};

// Whether this build can run convolutions through oneDNN.
bool have_onednn();
// Whether this build and CPU run bf16 bundles (BundleManifest::precision): oneDNN and AVX512_BF16.
bool have_bf16();

// The shape model.onnx declares for its graph input `name`, read from the protobuf bytes: one entry
// per dimension, -1 where a dimension is symbolic or unset; empty when the input is not declared
// or has no shape. Throws std::runtime_error on bytes that are not protobuf wire format.
std::vector<int64_t> onnx_declared_input_shape(std::string_view onnx, std::string_view name);

class DnnModel {
 public:
  // Throws std::runtime_error naming the bundle and the cause (missing file, unreadable ONNX,
  // outputs that do not match the manifest, unavailable backend).
  DnnModel(const std::string& bundle_dir, const DnnOptions& opts = {});

  const BundleManifest& manifest() const { return manifest_; }
  const std::string& backend_in_use() const { return backend_; }
  // "onednn" or "opencv" on the CPU backend; "opencv" on CUDA.
  const std::string& conv_in_use() const { return conv_; }

  // blob: float32 [N, 3, H, W] as made by make_blob(). Returns the maps [N, M, u, v], averaged
  // over the manifest's flips (one network call of N times the views); throws if the network
  // produced a NaN or an infinity.
  cv::Mat forward(const cv::Mat& blob);

 private:
  void check_output_shapes(const std::string& path) const;

  BundleManifest manifest_;
  std::vector<int> views_;  // flip_views(manifest_.flip_average), fixed at load
  cv::dnn::Net net_;
  std::string backend_, conv_;
};

}  // namespace mtfcdd
