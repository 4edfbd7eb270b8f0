#include "quantize.hpp"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <mtfcdd/dnn_model.hpp>
#include <mtfcdd/preprocess.hpp>
#include <opencv2/imgcodecs.hpp>
#include <stdexcept>

#include "util_numeric.hpp"

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

// Over all the blobs' maps (float32, as the networks give them).
double relative_l2(const std::vector<cv::Mat>& a, const std::vector<cv::Mat>& b) {
  RelativeL2 r;
  for (size_t i = 0; i < a.size(); ++i) {
    const cv::Mat x = a[i].isContinuous() ? a[i] : a[i].clone(), y = b[i].isContinuous() ? b[i] : b[i].clone();
    if (x.type() != CV_32F || y.type() != CV_32F || x.total() != y.total())
      throw std::logic_error("relative_l2: maps of another type or size than the reference's");
    r.add(x.ptr<float>(), y.ptr<float>(), x.total());
  }
  return r.value();
}

// Every convolution in `reduced` keeps the reduced precision when the maps stay within
// `tolerance`; else the ones whose own reduction moves the maps most go back to float32, one at a
// time, until they do. Fills r.maps_rel_l2 and r.float32_convolutions; returns the reduced ones;
// throws when even one reduced convolution is too many. One whose own reduction changes nothing
// runs in float32 anyway (bf16 keeps Winograd's 3x3 ones), so it is neither listed nor counted.
std::vector<std::string> keep_within(std::vector<std::string> reduced, double tolerance,
                                     const std::function<double(const std::vector<std::string>&)>& error_with,
                                     QuantizeResult& r) {
  r.maps_rel_l2 = error_with(reduced);
  if (r.maps_rel_l2 <= tolerance) return reduced;
  std::vector<std::pair<double, std::string>> alone;  // each convolution's error when it alone is reduced
  for (const std::string& layer : reduced) alone.push_back({error_with({layer}), layer});
  std::sort(alone.rbegin(), alone.rend());
  for (size_t i = 0; i + 1 < alone.size() && alone[i + 1].first > 0; ++i) {  // one that counts stays reduced
    reduced.erase(std::find(reduced.begin(), reduced.end(), alone[i].second));
    r.float32_convolutions.push_back(alone[i].second);
    r.maps_rel_l2 = error_with(reduced);
    if (r.maps_rel_l2 <= tolerance) return reduced;
  }
  throw std::runtime_error("quantize check failed: no convolution reduces within relative L2 " + std::to_string(tolerance) +
                           " of the float32 maps");
}

// The manifest with exactly the convolutions in `reduced` in its precision (int8 takes their ranges).
void reduce_only(BundleManifest& m, const std::map<std::string, Int8Range>& ranges,
                 const std::vector<std::string>& reduced) {
  m.int8_ranges.clear();
  m.float32_convolutions.clear();
  for (const auto& [layer, range] : ranges) {
    const bool reduce = std::find(reduced.begin(), reduced.end(), layer) != reduced.end();
    if (m.precision == Precision::Int8 && reduce) m.int8_ranges[layer] = range;
    if (m.precision == Precision::BF16 && !reduce) m.float32_convolutions.insert(layer);
  }
}

void check_cpu(Precision precision) {
  if (precision == Precision::Float32) throw std::invalid_argument("quantize: the precision must be int8 or bf16");
  if (precision == Precision::Int8 && !have_int8())
    throw std::runtime_error("quantize: int8 bundles need oneDNN and a CPU with AVX512_VNNI");
  if (precision == Precision::BF16 && !have_bf16())
    throw std::runtime_error("quantize: bf16 bundles need oneDNN and a CPU with AVX512_BF16");
}

}  // namespace

std::vector<std::string> evenly_spaced(const std::vector<std::string>& paths, size_t count) {
  if (paths.size() <= count) return paths;
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) out.push_back(paths[i * paths.size() / count]);
  return out;
}

QuantizeResult quantize_bundle(const std::string& in_dir, const std::vector<std::string>& images,
                               const std::string& out_dir, int batch, double tolerance, Precision precision) {
  if (images.empty()) throw std::runtime_error("quantize: no calibration images");
  return quantize_bundle(in_dir, read_blobs(images, read_manifest(in_dir), batch), out_dir, tolerance, precision);
}

QuantizeResult quantize_bundle(const std::string& in_dir, const std::vector<cv::Mat>& blobs, const std::string& out_dir,
                               double tolerance, Precision precision) {
  check_cpu(precision);
  if (fs::exists(out_dir)) throw std::runtime_error("quantize: " + out_dir + " exists; give a new folder");
  DnnModel float32(in_dir);
  if (float32.manifest().precision != Precision::Float32)
    throw std::runtime_error("quantize: " + in_dir + " is not a float32 bundle");
  QuantizeResult r;
  for (const cv::Mat& b : blobs) r.images += static_cast<size_t>(b.size[0]);
  std::vector<cv::Mat> reference;  // the float32 maps
  const std::map<std::string, Int8Range> ranges = float32.calibrate_int8(blobs, &reference);  // names every convolution
  r.convolutions = ranges.size();
  std::vector<std::string> convolutions;
  for (const auto& [layer, range] : ranges) convolutions.push_back(layer);
  BundleManifest m = float32.manifest();
  m.precision = precision;
  fs::create_directories(out_dir);
  try {
    fs::copy_file(fs::path(in_dir) / m.model_file, fs::path(out_dir) / m.model_file);
    // The maps' distance from float32's with the convolutions in `reduced` reduced, the rest float32.
    const auto error_with = [&](const std::vector<std::string>& reduced) {
      reduce_only(m, ranges, reduced);
      write_manifest(m, out_dir);
      DnnModel model(out_dir);
      std::vector<cv::Mat> maps;
      for (const cv::Mat& b : blobs) maps.push_back(model.forward(b));
      return relative_l2(maps, reference);
    };
    reduce_only(m, ranges, keep_within(convolutions, tolerance, error_with, r));
    write_manifest(m, out_dir);
  } catch (...) {
    fs::remove_all(out_dir);
    throw;
  }
  return r;
}

}  // namespace mtfcdd
