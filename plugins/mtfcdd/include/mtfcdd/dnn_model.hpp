// A model bundle loaded into OpenCV DNN: checks the ONNX file against its manifest at load
// time, then turns normalised NCHW blobs into anomaly maps.
#pragma once

#include <map>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "bundle.hpp"
#include "json_input.hpp"

namespace mtfcdd {

// The requested compute backend cannot run here (e.g. CUDA without a CUDA build of OpenCV).
struct BackendError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where the network runs; Auto is CUDA when OpenCV has a CUDA device, else the CPU.
enum class Backend { Cpu, Cuda, CudaFp16, Auto };
// The CPU backend's convolutions; Auto is oneDNN when the plugin has it.
enum class Conv { OneDnn, OpenCv, Auto };

template <>
struct Names<Backend> {
  static constexpr std::pair<Backend, const char*> table[] = {
      {Backend::Cpu, "cpu"}, {Backend::Cuda, "cuda"}, {Backend::CudaFp16, "cuda_fp16"}, {Backend::Auto, "auto"}};
};
template <>
struct Names<Conv> {
  static constexpr std::pair<Conv, const char*> table[] = {
      {Conv::OneDnn, "onednn"}, {Conv::OpenCv, "opencv"}, {Conv::Auto, "auto"}};
};

struct DnnOptions {
  Backend backend = Backend::Cpu;
  bool fallback_cpu = false;  // when CUDA is asked for but unavailable
  Conv conv = Conv::Auto;
  // Threads of the oneDNN layers (0: OpenMP's default, OMP_NUM_THREADS or one per core); OpenCV's
  // own layers use OpenCV's pool (cv::setNumThreads).
  int threads = 0;
};

// Whether this build can run convolutions through oneDNN.
bool have_onednn();
// Whether this build and CPU run bf16 bundles (BundleManifest::precision): oneDNN and AVX512_BF16.
bool have_bf16();
// Whether this build and CPU run int8 bundles: oneDNN and AVX512_VNNI.
bool have_int8();

// One layer's share of the last forward (OpenCV DNN's per-layer profile).
struct LayerTime {
  std::string name, type;  // type: OpenCV's layer type ("OneDnnConvolution", "ReLU", "Eltwise", ...)
  double ms = 0;
};

class DnnModel {
 public:
  // Throws std::runtime_error naming the bundle and the cause (missing file, unreadable ONNX,
  // outputs that do not match the manifest, unavailable backend).
  DnnModel(const std::string& bundle_dir, const DnnOptions& opts = {});

  const BundleManifest& manifest() const { return manifest_; }
  const std::string& bundle_dir() const { return bundle_dir_; }
  // As given; the *_in_use() below say what they resolved to.
  const DnnOptions& options() const { return options_; }
  // Never Auto: what the options resolved to here.
  Backend backend_in_use() const { return backend_; }
  // OneDnn or OpenCv on the CPU backend; OpenCv on CUDA.
  Conv conv_in_use() const { return conv_; }
  // The threads a forward runs on: oneDNN's (DnnOptions::threads resolved) or OpenCV's pool.
  int threads_in_use() const;

  // blob: float32 [N, 3, H, W] as made by make_blob(). Returns the maps [N, M, u, v] (continuous
  // float32), averaged over the manifest's flips (one network call of N times the views); throws
  // std::runtime_error if the network's output has another shape (a network can slice its batch
  // and still pass the load-time checks of batch 1) or holds a NaN or an infinity.
  cv::Mat forward(const cv::Mat& blob);

  // Each layer's time in the last forward(), in the network's order: where a forward's time goes.
  std::vector<LayerTime> layer_times();

  // The range of every convolution's input over forwards of `blobs` (as make_blob() makes them),
  // for an int8 bundle; `maps`, when given, receives those forwards' maps. Needs a float32 bundle
  // on the oneDNN convolutions.
  std::map<std::string, Int8Range> calibrate_int8(const std::vector<cv::Mat>& blobs,
                                                  std::vector<cv::Mat>* maps = nullptr);

 private:
  void check_output_shapes(const std::string& path) const;
  std::string maps_problem(const cv::Mat& maps, int batch) const;

  std::string bundle_dir_;
  DnnOptions options_;
  BundleManifest manifest_;
  std::vector<int> views_;  // flip_views(manifest_.flip_average), fixed at load
  cv::dnn::Net net_;
  Backend backend_ = Backend::Cpu;
  Conv conv_ = Conv::OpenCv;
};

}  // namespace mtfcdd
