#include "dnn_model.hpp"

#include <mtfcdd/json_input.hpp>
#include <opencv2/core/cuda.hpp>
#include <opencv2/dnn/shape_utils.hpp>
#include <stdexcept>

#include "flip_average.hpp"
#include "preprocess.hpp"
#ifdef MTFCDD_WITH_ONEDNN
#include "onednn_conv.hpp"
#endif

namespace mtfcdd {
namespace {

// cpu, cuda or cuda_fp16.
std::string choose_backend(const DnnOptions& o) {
  const bool want_cuda = o.backend == "cuda" || o.backend == "cuda_fp16";
  if (o.backend != "cpu" && o.backend != "auto" && !want_cuda)
    throw ConfigError("config: unknown backend '" + excerpt(o.backend) + "' (cpu, cuda, cuda_fp16, auto)");
  const bool have_cuda = cv::cuda::getCudaEnabledDeviceCount() > 0;
  if (want_cuda && !have_cuda && !o.fallback_cpu)
    throw BackendError("backend '" + o.backend +
                             "' needs OpenCV built with CUDA and a CUDA device; this OpenCV has "
                             "none (set \"fallback\": \"cpu\" to run on the CPU instead)");
  if ((want_cuda || o.backend == "auto") && have_cuda) return o.backend == "cuda_fp16" ? "cuda_fp16" : "cuda";
  return "cpu";
}

void set_backend(cv::dnn::Net& net, const std::string& backend) {
  if (backend == "cpu") {
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  } else {
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_CUDA);
    net.setPreferableTarget(backend == "cuda_fp16" ? cv::dnn::DNN_TARGET_CUDA_FP16 : cv::dnn::DNN_TARGET_CUDA);
  }
}

// onednn or opencv: oneDNN's layer is a CPU one, so CUDA keeps OpenCV's.
std::string choose_conv(const DnnOptions& o, const std::string& backend) {
  if (o.conv != "auto" && o.conv != "onednn" && o.conv != "opencv")
    throw ConfigError("config: unknown conv '" + excerpt(o.conv) + "' (auto, onednn, opencv)");
  if (o.conv == "onednn" && !have_onednn())
    throw BackendError("conv 'onednn' needs the plugin built with oneDNN (libdnnl-dev); this one was built without");
  if (o.conv == "onednn" && backend != "cpu")
    throw BackendError("conv 'onednn' runs on the cpu backend, not on " + backend);
  return o.conv != "opencv" && have_onednn() && backend == "cpu" ? "onednn" : "opencv";
}

// A bf16 bundle runs where its arithmetic can, never silently in float32: oneDNN's bf16 kernels,
// which need AVX512_BF16.
void check_precision(const BundleManifest& m, const std::string& conv, const std::string& bundle_dir) {
  if (m.precision == "float32") return;
  if (conv != "onednn")
    throw BackendError("bundle " + bundle_dir + " has precision " + m.precision +
                       ", which runs on the oneDNN convolutions (cpu backend, conv auto or onednn), not on conv " +
                       conv);
  if (!have_bf16())
    throw BackendError("bundle " + bundle_dir + " has precision " + m.precision +
                       ", which needs a CPU with AVX512_BF16; this one has none (export the model in float32)");
}

cv::dnn::Net read_onnx(const std::string& path, const std::string& conv, const BundleManifest& m) {
#ifdef MTFCDD_WITH_ONEDNN
  if (conv == "onednn")
    return read_onnx_with_onednn_conv(path, {1, 3, m.input_height, m.input_width}, m.precision == "bf16");
  return read_onnx_with_opencv_conv(path);
#else
  return cv::dnn::readNetFromONNX(path);
#endif
}

}  // namespace

bool have_onednn() {
#ifdef MTFCDD_WITH_ONEDNN
  return true;
#else
  return false;
#endif
}

bool have_bf16() {
#ifdef MTFCDD_WITH_ONEDNN
  return cpu_has_bf16();
#else
  return false;
#endif
}

DnnModel::DnnModel(const std::string& bundle_dir, const DnnOptions& opts)
    : manifest_(read_manifest(bundle_dir)), views_(flip_views(manifest_.flip_average)) {
  const std::string path = bundle_dir + "/" + manifest_.model_file;
  backend_ = choose_backend(opts);
  conv_ = choose_conv(opts, backend_);
  check_precision(manifest_, conv_, bundle_dir);
  try {
    net_ = read_onnx(path, conv_, manifest_);
  } catch (const cv::Exception& e) {
    throw std::runtime_error("cannot load ONNX model " + path + ": " + e.what());
  }
  if (net_.empty()) throw std::runtime_error("cannot load ONNX model " + path);
  set_backend(net_, backend_);

  check_output_shapes(path);
  // One dry run proves the network's maps match what the manifest promises.
  const cv::Mat probe(std::vector<int>{1, 3, manifest_.input_height, manifest_.input_width}, CV_32F,
                      cv::Scalar(0));
  cv::Mat maps;
  try {
    net_.setInput(probe, manifest_.input_name);
    maps = net_.forward(manifest_.maps_output);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + " does not run with the manifest's input size " +
                             std::to_string(manifest_.input_width) + "x" + std::to_string(manifest_.input_height) +
                             " and output '" + excerpt(manifest_.maps_output) + "': " + e.what());
  }
  if (!cv::checkRange(maps, true, nullptr, -1e30, 1e30))
    throw std::runtime_error(path + " is broken: the network produced NaN or infinite values on a blank frame");
  const int m = static_cast<int>(manifest_.types.size());
  if (maps.dims != 4 || maps.size[1] != m || maps.size[2] != manifest_.heatmap_height ||
      maps.size[3] != manifest_.heatmap_width) {
    std::string got;
    for (int i = 0; i < maps.dims; ++i) got += (i ? "x" : "") + std::to_string(maps.size[i]);
    throw std::runtime_error(path + " does not match its manifest: output '" + excerpt(manifest_.maps_output) +
                             "' is " + got + ", the manifest says 1x" + std::to_string(m) + "x" +
                             std::to_string(manifest_.heatmap_height) + "x" +
                             std::to_string(manifest_.heatmap_width));
  }
}

// OpenCV's shape inference, before anything runs: OpenCV 4.6's layers can read out of bounds on
// shapes they do not expect (fuzzing found a ReduceMean over the batch axis that crashes in
// forward), so a network whose outputs disagree with the manifest is refused without running it.
void DnnModel::check_output_shapes(const std::string& path) const {
  const int m = static_cast<int>(manifest_.types.size());
  const std::string& name = manifest_.maps_output;
  const cv::dnn::MatShape want{1, m, manifest_.heatmap_height, manifest_.heatmap_width};
  std::vector<cv::dnn::MatShape> ins, outs;
  try {
    const int id = net_.getLayerId(name);
    if (id < 0) throw std::runtime_error("no such layer");
    net_.getLayerShapes(cv::dnn::MatShape{1, 3, manifest_.input_height, manifest_.input_width}, id, ins, outs);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + " has no output '" + excerpt(name) + "' that OpenCV can size: " + e.what());
  }
  const cv::dnn::MatShape got = outs.empty() ? cv::dnn::MatShape{} : outs[0];
  if (got != want)
    throw std::runtime_error(path + " does not match its manifest: output '" + excerpt(name) + "' is " +
                             cv::dnn::toString(got) + ", the manifest says " + cv::dnn::toString(want));
}

cv::Mat DnnModel::forward(const cv::Mat& blob) {
  if (blob.dims != 4 || blob.size[1] != 3 || blob.size[2] != manifest_.input_height ||
      blob.size[3] != manifest_.input_width || blob.type() != CV_32F)
    throw std::invalid_argument("input blob is not float32 Nx3x" + std::to_string(manifest_.input_height) +
                                "x" + std::to_string(manifest_.input_width));
  cv::Mat out;
  try {
    net_.setInput(views_.size() > 1 ? flipped_views(blob, views_) : blob, manifest_.input_name);
    out = net_.forward(manifest_.maps_output);
  } catch (const cv::Exception& e) {
    throw std::runtime_error(std::string("OpenCV DNN failed: ") + e.what());
  }
  if (views_.size() > 1) out = average_views(out, views_);
  if (!cv::checkRange(out, true, nullptr, -1e30, 1e30))
    throw std::runtime_error("the network produced NaN or infinite values");
  return out;
}

}  // namespace mtfcdd
