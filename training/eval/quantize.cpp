#include "quantize.hpp"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <mtfcdd/dnn_model.hpp>
#include <mtfcdd/preprocess.hpp>
#include <opencv2/imgcodecs.hpp>
#include <stdexcept>

namespace mtfcdd {
namespace fs = std::filesystem;
namespace {

std::vector<cv::Mat> read_blobs(const std::vector<std::string>& images, const BundleManifest& m, int batch) {
  std::vector<cv::Mat> blobs, frames;
  for (size_t i = 0; i < images.size(); ++i) {
    cv::Mat img = cv::imread(images[i], cv::IMREAD_COLOR);
    if (img.empty()) throw std::runtime_error("cannot read calibration image " + images[i]);
    frames.push_back(std::move(img));
    if (static_cast<int>(frames.size()) == batch || i + 1 == images.size()) {
      blobs.push_back(make_blob(frames, m));
      frames.clear();
    }
  }
  return blobs;
}

double relative_l2(const std::vector<cv::Mat>& a, const std::vector<cv::Mat>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += std::pow(cv::norm(a[i], b[i], cv::NORM_L2), 2);
    den += std::pow(cv::norm(b[i], cv::NORM_L2), 2);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Every convolution in int8 when the maps stay within `tolerance`; else the ones whose own
// quantization moves the maps most are kept in float32, one at a time, until they do. Fills
// r.maps_rel_l2 and r.float32_convolutions; throws when even one int8 convolution is too many.
std::map<std::string, Int8Range> keep_within(const std::map<std::string, Int8Range>& ranges, double tolerance,
                                             const std::function<double(const std::map<std::string, Int8Range>&)>& error_with,
                                             QuantizeResult& r) {
  std::map<std::string, Int8Range> int8 = ranges;
  r.maps_rel_l2 = error_with(int8);
  if (r.maps_rel_l2 <= tolerance) return int8;
  std::vector<std::pair<double, std::string>> alone;  // each convolution's error when it alone is int8
  for (const auto& [layer, range] : ranges) alone.push_back({error_with({{layer, range}}), layer});
  std::sort(alone.rbegin(), alone.rend());
  for (const auto& [error, layer] : alone) {
    int8.erase(layer);
    r.float32_convolutions.push_back(layer);
    if (int8.empty()) break;
    r.maps_rel_l2 = error_with(int8);
    if (r.maps_rel_l2 <= tolerance) return int8;
  }
  throw std::runtime_error("quantize check failed: no convolution quantizes within relative L2 " + std::to_string(tolerance) +
                           " of the float32 maps");
}

}  // namespace

std::vector<std::string> evenly_spaced(const std::vector<std::string>& paths, size_t count) {
  if (paths.size() <= count) return paths;
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) out.push_back(paths[i * paths.size() / count]);
  return out;
}

QuantizeResult quantize_bundle(const std::string& in_dir, const std::vector<std::string>& images,
                               const std::string& out_dir, int batch, double tolerance) {
  if (images.empty()) throw std::runtime_error("quantize: no calibration images");
  return quantize_bundle(in_dir, read_blobs(images, read_manifest(in_dir), batch), out_dir, tolerance);
}

QuantizeResult quantize_bundle(const std::string& in_dir, const std::vector<cv::Mat>& blobs, const std::string& out_dir,
                               double tolerance) {
  if (!have_int8()) throw std::runtime_error("quantize: int8 bundles need oneDNN and a CPU with AVX512_VNNI");
  if (fs::exists(out_dir)) throw std::runtime_error("quantize: " + out_dir + " exists; give a new folder");
  DnnModel float32(in_dir);
  if (float32.manifest().precision != Precision::Float32)
    throw std::runtime_error("quantize: " + in_dir + " is not a float32 bundle");
  QuantizeResult r;
  for (const cv::Mat& b : blobs) r.images += static_cast<size_t>(b.size[0]);
  const std::map<std::string, Int8Range> ranges = float32.calibrate_int8(blobs);
  r.convolutions = ranges.size();
  std::vector<cv::Mat> reference;
  for (const cv::Mat& b : blobs) reference.push_back(float32.forward(b));
  BundleManifest m = float32.manifest();
  m.precision = Precision::Int8;
  fs::create_directories(out_dir);
  try {
    fs::copy_file(fs::path(in_dir) / m.model_file, fs::path(out_dir) / m.model_file);
    // The maps' distance from float32's with the convolutions in `int8` quantized, the rest float32.
    const auto error_with = [&](const std::map<std::string, Int8Range>& int8) {
      m.int8_ranges = int8;
      write_manifest(m, out_dir);
      DnnModel model(out_dir);
      std::vector<cv::Mat> maps;
      for (const cv::Mat& b : blobs) maps.push_back(model.forward(b));
      return relative_l2(maps, reference);
    };
    m.int8_ranges = keep_within(ranges, tolerance, error_with, r);
    write_manifest(m, out_dir);
  } catch (...) {
    fs::remove_all(out_dir);
    throw;
  }
  return r;
}

}  // namespace mtfcdd
