#include "export.hpp"

#include <cmath>
#include <ctime>
#include <filesystem>

#include <mtfcdd/dnn_model.hpp>
#include <mtfcdd/flip_average.hpp>
#include "fcdd_math.hpp"
#include "onnx_writer.hpp"
#include "util_numeric.hpp"

namespace mtfcdd {
namespace fs = std::filesystem;

double relative_l2(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.numel() != b.numel())
    throw std::invalid_argument("relative_l2 of " + std::to_string(a.numel()) + " and " + std::to_string(b.numel()) +
                                " values");
  const auto x = a.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const auto y = b.detach().to(torch::kCPU, torch::kFloat).contiguous();
  RelativeL2 r;
  r.add(x.data_ptr<float>(), y.data_ptr<float>(), static_cast<size_t>(x.numel()));
  return r.value();
}

namespace {

// The receptive field of the cells of `g`'s first output; unknown where its two axes differ.
ReceptiveField field_of(const NetGraph& g) {
  const NetGraph::Id out = g.outputs().front().id;
  const Reception rf = reception(g, out, 0);
  if (!(rf == reception(g, out, 1))) return {};
  return {static_cast<int>(rf.size), static_cast<int>(rf.stride), rf.offset};
}

}  // namespace

BundleManifest manifest_for(const FcddModelImpl& model, const std::vector<DefectType>& types) {
  const NetGraph g = model.to_graph();
  BundleManifest m;
  m.types = types;
  m.input_width = m.input_height = static_cast<int>(model.config().input_size);
  m.channel_order = ChannelOrder::RGB;
  m.mean = {127.5, 127.5, 127.5};  // every preset takes x / 127.5 - 1
  m.std = {127.5, 127.5, 127.5};
  const NetGraph::Id maps = g.outputs().front().id;
  const Shape hs = g.shape(maps);
  m.heatmap_height = static_cast<int>(hs.h);
  m.heatmap_width = static_cast<int>(hs.w);
  // Members at other input sides reach the first member's grid resized (bilinear): the field is
  // that member's, whose cells the maps are on; for the others' maps the receptive spread is an
  // approximation, which calibration weighs against bilinear on validation masks.
  m.receptive_field = field_of(g.resamples() ? model.own_graph() : g);
  return m;
}

namespace {

std::string utc_now() {
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

torch::Tensor generated_inputs(int64_t size) {
  // Noise, a smooth gradient and a bright square: varied enough to exercise every layer.
  torch::manual_seed(7);
  auto noise = torch::rand({1, 3, size, size}) * 2 - 1;
  auto ramp = torch::linspace(-1, 1, size).view({1, 1, 1, size}).expand({1, 3, size, size});
  auto square = torch::full({1, 3, size, size}, -0.5);
  square.index_put_({torch::indexing::Slice(), torch::indexing::Slice(),
                     torch::indexing::Slice(size / 3, size / 2), torch::indexing::Slice(size / 3, size / 2)},
                    0.9);
  return torch::cat({noise, ramp.contiguous(), square}, 0);
}

}  // namespace

cv::Mat blob_from_tensor(const torch::Tensor& t) {
  const auto c = t.to(torch::kFloat).contiguous();
  std::vector<int> dims(c.sizes().begin(), c.sizes().end());
  return cv::Mat(dims, CV_32F, c.data_ptr<float>()).clone();
}

torch::Tensor tensor_from_blob(const cv::Mat& blob) {
  std::vector<int64_t> dims(blob.size.p, blob.size.p + blob.dims);
  return torch::from_blob(const_cast<float*>(blob.ptr<float>()), dims, torch::kFloat).clone();
}

nlohmann::json network_description(const ModelConfig& m) {
  nlohmann::json j = {{"preset", m.preset},
                      {"cut", m.cut},
                      {"head_channels", m.head_channels},
                      {"head_dilation", m.head_dilation},
                      {"members", m.members}};
  if (!m.second_cut.empty()) j["second_cut"] = m.second_cut;  // absent before two-depth maps: old checkpoints match
  return j;
}

namespace {

// The manifest an export request writes, before its check.
BundleManifest requested_manifest(const FcddModelImpl& model, const ExportRequest& req) {
  BundleManifest m = manifest_for(model, req.types);
  m.calibrated = req.calibrated;
  m.resize = req.resize;
  m.upsampling = upsampler_of(m, req.upsampling).mode;  // throws without a field
  m.provenance = req.provenance;
  m.provenance["created"] = utc_now();
  return m;
}

// Writes the bundle of res.manifest and checks it as OpenCV DNN runs it against LibTorch
// (relative L2 of maps and scores), in float32 and then in the precision asked for; flip
// averaging is written last, the check being of single views.
void write_checked(FcddModelImpl& model, const ExportRequest& req, ExportResult& res) {
  const fs::path onnx_path = fs::path(req.out_dir) / res.manifest.model_file;
  write_onnx(model.to_graph(), onnx_path.string(), "mtfcdd-train");
  write_manifest(res.manifest, req.out_dir);
  res.onnx_bytes = static_cast<int64_t>(fs::file_size(onnx_path));
  const auto inputs = req.check_inputs.defined() ? req.check_inputs : generated_inputs(model.config().input_size);
  const auto ref_maps = model.maps(inputs);
  const auto ref_scores = anomaly_scores(ref_maps);
  const auto check = [&](double limit, const std::string& what) {
    DnnModel dnn(req.out_dir);
    const auto maps = tensor_from_blob(dnn.forward(blob_from_tensor(inputs)));
    const double m = relative_l2(maps, ref_maps), s = relative_l2(anomaly_scores(maps), ref_scores);
    if (!(m <= limit) || !(s <= limit))
      throw std::runtime_error("export check failed: OpenCV DNN" + what + " differs from LibTorch by relative L2 " +
                               std::to_string(m) + " (maps) and " + std::to_string(s) + " (scores), limit " +
                               std::to_string(limit));
    return std::pair{m, s};
  };
  std::tie(res.maps_rel_l2, res.scores_rel_l2) = check(kExportTolerance, "");
  if (req.precision != Precision::Float32) {
    res.manifest.precision = req.precision;
    write_manifest(res.manifest, req.out_dir);
    std::tie(res.bf16_maps_rel_l2, res.bf16_scores_rel_l2) =
        check(kExportBf16Tolerance, std::string(" in ") + name_of(req.precision));
  }
  if (req.flip_average != FlipAverage::None) {
    res.manifest.flip_average = req.flip_average;
    write_manifest(res.manifest, req.out_dir);
  }
}

}  // namespace

DefectType uncalibrated_type(const std::string& name, const std::string& display) {
  return {name, display, std::log(2.0), std::log(2.0)};  // z = ln 2 is p = 1 - exp(-z) = 0.5
}

ExportResult export_bundle(FcddModelImpl& model, const ExportRequest& req) {
  if (static_cast<int64_t>(req.types.size()) != model.config().types)
    throw std::runtime_error("export: " + std::to_string(req.types.size()) + " type names for a model with " +
                             std::to_string(model.config().types) + " output channels");
  if (req.precision == Precision::Int8)
    throw std::invalid_argument("export: int8 bundles are made from a float32 one by `mtfcdd-train quantize`, "
                                "which calibrates them on images");
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  ExportResult res;
  res.manifest = requested_manifest(model, req);
  fs::create_directories(req.out_dir);
  try {
    write_checked(model, req, res);
  } catch (...) {
    fs::remove(fs::path(req.out_dir) / res.manifest.model_file);
    fs::remove(fs::path(req.out_dir) / "model.json");
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  return res;
}

void print_export(const ExportResult& r, const std::string& dir) {
  std::printf("bundle written: %s (model.onnx %.2f MB)\n", dir.c_str(), r.onnx_bytes / 1e6);
  std::printf("export check (OpenCV DNN vs LibTorch): relative L2 maps %.3g, scores %.3g (limit %.0e)\n",
              r.maps_rel_l2, r.scores_rel_l2, kExportTolerance);
  if (r.manifest.precision != Precision::Float32)
    std::printf("export check in %s: relative L2 maps %.3g, scores %.3g (limit %.0e)\n", name_of(r.manifest.precision),
                r.bf16_maps_rel_l2, r.bf16_scores_rel_l2, kExportBf16Tolerance);
}

}  // namespace mtfcdd
