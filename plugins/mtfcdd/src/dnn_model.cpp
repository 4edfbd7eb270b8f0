#include <mtfcdd/dnn_model.hpp>

#include <mtfcdd/json_input.hpp>
#include <mtfcdd/onnx_wire.hpp>
#include <opencv2/core/cuda.hpp>
#include <opencv2/dnn/shape_utils.hpp>
#include <stdexcept>

#include <mtfcdd/flip_average.hpp>
#include <mtfcdd/preprocess.hpp>
#ifdef MTFCDD_WITH_ONEDNN
#include "onednn_conv.hpp"
#endif

namespace mtfcdd {
namespace {

Backend choose_backend(const DnnOptions& o) {
  const bool want_cuda = o.backend == Backend::Cuda || o.backend == Backend::CudaFp16;
  const bool have_cuda = cv::cuda::getCudaEnabledDeviceCount() > 0;
  if (want_cuda && !have_cuda && !o.fallback_cpu)
    throw BackendError(std::string("backend '") + name_of(o.backend) +
                       "' needs OpenCV built with CUDA and a CUDA device; this OpenCV has "
                       "none (set \"fallback\": \"cpu\" to run on the CPU instead)");
  if ((want_cuda || o.backend == Backend::Auto) && have_cuda)
    return o.backend == Backend::CudaFp16 ? Backend::CudaFp16 : Backend::Cuda;
  return Backend::Cpu;
}

void set_backend(cv::dnn::Net& net, Backend backend) {
  if (backend == Backend::Cpu) {
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  } else {
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_CUDA);
    net.setPreferableTarget(backend == Backend::CudaFp16 ? cv::dnn::DNN_TARGET_CUDA_FP16 : cv::dnn::DNN_TARGET_CUDA);
  }
}

// oneDNN's layer is a CPU one, so CUDA keeps OpenCV's.
Conv choose_conv(const DnnOptions& o, Backend backend) {
  if (o.conv == Conv::OneDnn && !have_onednn())
    throw BackendError("conv 'onednn' needs the plugin built with oneDNN (libdnnl-dev); this one was built without");
  if (o.conv == Conv::OneDnn && backend != Backend::Cpu)
    throw BackendError(std::string("conv 'onednn' runs on the cpu backend, not on ") + name_of(backend));
  return o.conv != Conv::OpenCv && have_onednn() && backend == Backend::Cpu ? Conv::OneDnn : Conv::OpenCv;
}

// A bf16 or int8 bundle runs where its arithmetic can, never silently in float32: oneDNN's bf16
// kernels need AVX512_BF16, its fast int8 ones AVX512_VNNI.
void check_precision(const BundleManifest& m, Conv conv, const std::string& bundle_dir) {
  if (m.precision == Precision::Float32) return;
  const std::string what = "bundle " + bundle_dir + " has precision " + name_of(m.precision);
  if (conv != Conv::OneDnn)
    throw BackendError(what + ", which runs on the oneDNN convolutions (cpu backend, conv auto or onednn), not on conv " +
                       name_of(conv));
  if (m.precision == Precision::BF16 && !have_bf16())
    throw BackendError(what + ", which needs a CPU with AVX512_BF16; this one has none (export the model in float32)");
  if (m.precision == Precision::Int8 && !have_int8())
    throw BackendError(what + ", which needs a CPU with AVX512_VNNI; this one has none (use the float32 bundle)");
}

cv::dnn::Net read_onnx(const OnnxFile& onnx, Conv conv, const BundleManifest& m, int threads) {
#ifdef MTFCDD_WITH_ONEDNN
  if (conv == Conv::OneDnn)
    return read_onnx_with_onednn(onnx, m, threads);
  return read_onnx_with_opencv_conv(onnx);
#else
  return cv::dnn::readNetFromONNX(onnx.bytes.data(), onnx.bytes.size());
#endif
}

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (const int64_t d : dims) s += " " + (d < 0 ? std::string("?") : std::to_string(d));
  return s + " ]";
}

// OpenCV 4.6's importer trusts things a damaged or hostile model.onnx can get wrong, so they are
// checked on the file's bytes first: its tensors and node inputs (onnx_model_problem), and the
// shape it declares for its input. OpenCV sizes some layers from that shape (a ReduceMean becomes
// a reduction over the declared map size), and running such a network on another size reads out
// of bounds (fuzzing: declared 64x65, run at 32x32, SEGV in forward): the declared shape must be
// the manifest's, only the batch may be symbolic.
void check_model_bytes(const OnnxFile& onnx, const BundleManifest& m) {
  const std::string& path = onnx.path;
  std::vector<int64_t> dims;
  std::string problem;
  try {
    dims = onnx_declared_input_shape(onnx.bytes, m.input_name);
    problem = onnx_model_problem(onnx.bytes);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("cannot load ONNX model " + path + ": " + e.what());
  }
  if (!problem.empty()) throw std::runtime_error("cannot load ONNX model " + path + ": " + problem);
  if (dims.empty()) return;  // undeclared: OpenCV sizes nothing from it
  const std::vector<int64_t> want{1, 3, m.input_height, m.input_width};
  bool same = dims.size() == want.size();
  for (size_t i = 0; same && i < dims.size(); ++i) same = dims[i] == want[i] || (i == 0 && dims[i] == -1);
  if (!same)
    throw std::runtime_error(path + " does not match its manifest: it declares input '" + excerpt(m.input_name) +
                             "' as " + shape_text(dims) + ", the manifest says " + shape_text(want));
}

}  // namespace

int DnnModel::threads_in_use() const {
#ifdef MTFCDD_WITH_ONEDNN
  if (conv_ == Conv::OneDnn) return onednn_threads(options_.threads);
#endif
  return cv::getNumThreads();
}

bool have_onednn() {
#ifdef MTFCDD_WITH_ONEDNN
  return true;
#else
  return false;
#endif
}

bool have_int8() {
#ifdef MTFCDD_WITH_ONEDNN
  return cpu_has_vnni();
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
    : bundle_dir_(bundle_dir),
      options_(opts),
      manifest_(read_manifest(bundle_dir)),
      views_(flip_views(manifest_.flip_average)) {
  const std::string path = bundle_dir + "/" + manifest_.model_file;
  backend_ = choose_backend(opts);
  conv_ = choose_conv(opts, backend_);
  check_precision(manifest_, conv_, bundle_dir);
  const OnnxFile onnx = read_onnx_file(path);
  check_model_bytes(onnx, manifest_);
  try {
    net_ = read_onnx(onnx, conv_, manifest_, opts.threads);
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
  if (const std::string problem = maps_problem(maps, 1); !problem.empty())
    throw std::runtime_error(path + " does not match its manifest: " + problem);
}

// What differs between `maps` and what process() reads, continuous float32 [batch, M,
// heatmap_height, heatmap_width]; "" when nothing.
std::string DnnModel::maps_problem(const cv::Mat& maps, int batch) const {
  const cv::dnn::MatShape want{batch, static_cast<int>(manifest_.types.size()), manifest_.heatmap_height,
                               manifest_.heatmap_width};
  const cv::dnn::MatShape got = cv::dnn::shape(maps);
  if (got == want && maps.type() == CV_32F && maps.isContinuous()) return "";
  const std::string kind = maps.type() != CV_32F ? cv::typeToString(maps.type()) + " "
                           : maps.isContinuous() ? ""
                                                 : "non-continuous ";
  return "output '" + excerpt(manifest_.maps_output) + "' is " + kind + cv::dnn::toString(got) +
         ", the manifest says float32 " + cv::dnn::toString(want);
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
  // Checked at every call: the load-time checks ran a batch of 1, and process() reads every
  // frame's maps. With flips the network's batch is the frames' times the views.
  const int frames = blob.size[0], views = static_cast<int>(views_.size());
  if (const std::string problem = maps_problem(out, frames * views); !problem.empty()) {
    const std::string each = views > 1 ? " in " + std::to_string(views) + " views each (flip_average)" : "";
    throw std::runtime_error("the network does not match its manifest on " + std::to_string(frames) + " frame(s)" +
                             each + ": " + problem);
  }
  if (views > 1) out = average_views(out, views_);
  if (!cv::checkRange(out, true, nullptr, -1e30, 1e30))
    throw std::runtime_error("the network produced NaN or infinite values");
  return out;
}

std::vector<LayerTime> DnnModel::layer_times() {
  std::vector<double> ticks;
  net_.getPerfProfile(ticks);
  const std::vector<std::string> names = net_.getLayerNames();
  std::vector<LayerTime> out;
  for (size_t i = 0; i < ticks.size() && i < names.size(); ++i)
    out.push_back({names[i], net_.getLayer(net_.getLayerId(names[i]))->type, ticks[i] * 1e3 / cv::getTickFrequency()});
  return out;
}

std::map<std::string, Int8Range> DnnModel::calibrate_int8(const std::vector<cv::Mat>& blobs,
                                                          std::vector<cv::Mat>* maps) {
  if (conv_ != Conv::OneDnn || manifest_.precision != Precision::Float32)
    throw std::invalid_argument("int8 calibration needs a float32 bundle on the oneDNN convolutions");
#ifdef MTFCDD_WITH_ONEDNN
  record_input_ranges(net_, true);
  try {
    for (const cv::Mat& b : blobs) {
      cv::Mat m = forward(b);
      if (maps) maps->push_back(m);
    }
  } catch (...) {
    record_input_ranges(net_, false);
    throw;
  }
  record_input_ranges(net_, false);
  return recorded_input_ranges(net_);
#else
  return {};
#endif
}

}  // namespace mtfcdd
