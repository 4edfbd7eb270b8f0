#include "dnn_model.hpp"

#include <opencv2/core/cuda.hpp>
#include <stdexcept>

#include "preprocess.hpp"

namespace mtfcdd {
namespace {

std::string choose_backend(cv::dnn::Net& net, const DnnOptions& o) {
  const bool want_cuda = o.backend == "cuda" || o.backend == "cuda_fp16";
  if (o.backend != "cpu" && o.backend != "auto" && !want_cuda)
    throw BackendError("unknown backend '" + o.backend + "' (cpu, cuda, cuda_fp16, auto)");
  const bool have_cuda = cv::cuda::getCudaEnabledDeviceCount() > 0;
  if (want_cuda && !have_cuda && !o.fallback_cpu)
    throw BackendError("backend '" + o.backend +
                             "' needs OpenCV built with CUDA and a CUDA device; this OpenCV has "
                             "none (set \"fallback\": \"cpu\" to run on the CPU instead)");
  if ((want_cuda || o.backend == "auto") && have_cuda) {
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_CUDA);
    const bool fp16 = o.backend == "cuda_fp16";
    net.setPreferableTarget(fp16 ? cv::dnn::DNN_TARGET_CUDA_FP16 : cv::dnn::DNN_TARGET_CUDA);
    return fp16 ? "cuda_fp16" : "cuda";
  }
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  return "cpu";
}

}  // namespace

DnnModel::DnnModel(const std::string& bundle_dir, const DnnOptions& opts)
    : manifest_(read_manifest(bundle_dir)) {
  const std::string path = bundle_dir + "/" + manifest_.model_file;
  try {
    net_ = cv::dnn::readNetFromONNX(path);
  } catch (const cv::Exception& e) {
    throw std::runtime_error("cannot load ONNX model " + path + ": " + e.what());
  }
  if (net_.empty()) throw std::runtime_error("cannot load ONNX model " + path);
  backend_ = choose_backend(net_, opts);

  // One dry run proves the network's output matches what the manifest promises.
  const cv::Mat probe(std::vector<int>{1, 3, manifest_.input_height, manifest_.input_width}, CV_32F,
                      cv::Scalar(0));
  cv::Mat maps;
  try {
    maps = forward(probe);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + " does not run at the manifest's input size " +
                             std::to_string(manifest_.input_width) + "x" +
                             std::to_string(manifest_.input_height) + ": " + e.what());
  }
  const int m = static_cast<int>(manifest_.types.size());
  if (maps.dims != 4 || maps.size[1] != m || maps.size[2] != manifest_.heatmap_height ||
      maps.size[3] != manifest_.heatmap_width) {
    std::string got;
    for (int i = 0; i < maps.dims; ++i) got += (i ? "x" : "") + std::to_string(maps.size[i]);
    throw std::runtime_error(path + " does not match its manifest: output '" + manifest_.maps_output +
                             "' is " + got + ", the manifest says 1x" + std::to_string(m) + "x" +
                             std::to_string(manifest_.heatmap_height) + "x" +
                             std::to_string(manifest_.heatmap_width));
  }
}

cv::Mat DnnModel::forward(const cv::Mat& blob) {
  if (blob.dims != 4 || blob.size[1] != 3 || blob.size[2] != manifest_.input_height ||
      blob.size[3] != manifest_.input_width || blob.type() != CV_32F)
    throw std::invalid_argument("input blob is not float32 Nx3x" + std::to_string(manifest_.input_height) +
                                "x" + std::to_string(manifest_.input_width));
  cv::Mat out;
  try {
    net_.setInput(blob, manifest_.input_name);
    out = net_.forward(manifest_.maps_output);
  } catch (const cv::Exception& e) {
    throw std::runtime_error(std::string("OpenCV DNN failed: ") + e.what());
  }
  if (!cv::checkRange(out, true, nullptr, -1e30, 1e30))
    throw std::runtime_error("the network produced NaN or infinite values");
  return out;
}

}  // namespace mtfcdd
