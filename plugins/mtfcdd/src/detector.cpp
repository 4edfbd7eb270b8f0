#include "detector.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <mtfcdd/json_input.hpp>
#include <opencv2/core/utility.hpp>

#include <mtfcdd/preprocess.hpp>

namespace mtfcdd {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

using Reader = JsonReader<ConfigError>;

// Scores are float32: a threshold beyond float's range would become infinite (number()'s default).
void apply_thresholds(const Reader& th, const std::vector<std::string>& names, DetectorSettings& s) {
  for (auto it = th.json().begin(); it != th.json().end(); ++it) {
    const auto pos = std::find(names.begin(), names.end(), it.key());
    if (pos == names.end()) th.fail(excerpt(it.key()), "the model has no such type");
    const Reader t = th.child(it.key());
    t.only({"image", "pixel", "peak_fraction"});
    const size_t k = pos - names.begin();
    s.image_thresholds[k] = t.has("image") ? t.number("image") : s.image_thresholds[k];
    s.pixel_thresholds[k] = t.has("pixel") ? t.number("pixel") : s.pixel_thresholds[k];
    s.peak_fractions[k] = t.number("peak_fraction", 0, kMaxPeakFraction, s.peak_fractions[k]);
  }
}

// Applies the settings keys present in `cfg` on top of `s`.
DetectorSettings apply_settings(const Reader& cfg, DetectorSettings s, const BundleManifest& m) {
  std::vector<std::string> names;
  for (const auto& t : m.types) names.push_back(t.name);
  if (cfg.has("thresholds")) apply_thresholds(cfg.child("thresholds"), names, s);
  if (cfg.has("heatmaps")) {
    const Reader h = cfg.child("heatmaps");
    h.only({"model", "full"});
    s.heatmap = h.flag("model", s.heatmap);
    s.heatmap_full = h.flag("full", s.heatmap_full);
  }
  if (cfg.has("upsampling")) {
    try {
      s.upsampling = upsampler_of(m, cfg.choice<Upsampling>("upsampling")).mode;
    } catch (const ConfigError&) {
      throw;
    } catch (const std::exception& e) {  // receptive asked of a bundle without a receptive field
      cfg.fail("upsampling", e.what());
    }
  }
  s.min_region_area = cfg.integer("min_region_area", 1, std::numeric_limits<int64_t>::max(), s.min_region_area);
  if (cfg.has("routing")) {
    try {
      s.router = std::make_shared<const Router>(cfg.at("routing"), names);
    } catch (const std::exception& e) {
      throw ConfigError(std::string("config: ") + e.what());
    }
  }
  return s;
}

constexpr std::initializer_list<std::string_view> kSettingsKeys = {"thresholds", "heatmaps", "upsampling",
                                                                   "min_region_area", "routing"};

std::string model_dir(const Reader& cfg, const std::string& base_dir) {
  const std::filesystem::path p = cfg.text("model");
  return (p.is_absolute() || base_dir.empty() ? p : std::filesystem::path(base_dir) / p).string();
}

DnnOptions dnn_options(const Reader& cfg) {
  cfg.only(kSettingsKeys, {"model", "backend", "fallback", "threads", "conv"});
  DnnOptions o;
  o.backend = cfg.choice("backend", o.backend);
  if (cfg.has("fallback")) {
    const auto f = cfg.text("fallback");
    if (f != "cpu" && f != "none") cfg.fail("fallback", "must be \"cpu\" or \"none\", got " + excerpt(cfg.at("fallback")));
    o.fallback_cpu = f == "cpu";
  }
  o.conv = cfg.choice("conv", o.conv);
  // 0: the default (OpenMP's for oneDNN, OpenCV's pool otherwise). Far more threads than cores
  // only costs; 100,000 overflowed libgomp's stack.
  o.threads = static_cast<int>(cfg.integer("threads", 0, kMaxThreads, 0));
  return o;
}

// OpenCV has one thread pool per process, and resizing it while another handle's parallel_for_
// runs is a race: the first detector that asks for a size (> 0) sets it, later ones leave it.
void size_opencv_pool_once(int threads) {
  if (threads < 1) return;
  static std::once_flag once;
  std::call_once(once, [threads] { cv::setNumThreads(threads); });
}

// What routing sees of a type: its regions are largest first, the longest may be another.
TypeOutcome outcome_of(const TypeOutput& t) {
  TypeOutcome o{t.name, t.decision, t.probability, t.regions.empty() ? 0 : t.regions.front().area, 0};
  for (const Region& r : t.regions) o.longest_region_length = std::max<double>(o.longest_region_length, r.calipers.length);
  return o;
}

}  // namespace

Detector::Detector(const json& config, const std::string& base_dir) : Detector(base_dir, Reader(config, "config")) {}

Detector::Detector(const std::string& base_dir, const Reader& config)
    : model_(model_dir(config, base_dir), dnn_options(config)) {
  DetectorSettings s;
  s.upsampling = model_.manifest().upsampling;
  for (const auto& t : model_.manifest().types) {
    s.image_thresholds.push_back(t.image_threshold);
    s.pixel_thresholds.push_back(t.pixel_threshold);
    s.peak_fractions.push_back(t.peak_fraction);
  }
  s.router = std::make_shared<const Router>();
  settings_ = apply_settings(config, s, model_.manifest());
  // Only once all is valid. A network on oneDNN runs on OpenMP's threads: OpenCV's pool (TBB)
  // then keeps only the calling thread, for the small rest of a call (pre- and post-processing,
  // the maps' last layers), since its waiting workers took turns on the cores with OpenMP's and
  // halved the convolutions' speed (docs/performance.md).
  size_opencv_pool_once(model_.conv_in_use() == Conv::OneDnn ? 1 : model_.options().threads);
}

void Detector::reconfigure(const json& config) {
  // model, backend, conv and threads need a new detector.
  const Reader r(config, "reconfigure");
  r.only(kSettingsKeys);
  settings_ = apply_settings(r, settings_, model_.manifest());
}

json Detector::describe() const {
  const auto& m = model_.manifest();
  json types = json::array();
  for (size_t k = 0; k < m.types.size(); ++k)
    types.push_back({{"name", m.types[k].name},
                     {"display", m.types[k].display},
                     {"image_threshold", settings_.image_thresholds[k]},
                     {"pixel_threshold", settings_.pixel_thresholds[k]},
                     {"peak_fraction", settings_.peak_fractions[k]},
                     {"smoothing", m.types[k].smoothing}});
  return {{"plugin", "mtfcdd"},
          {"model", model_.bundle_dir()},
          {"types", types},
          {"input", {{"width", m.input_width}, {"height", m.input_height}, {"channel_order", name_of(m.channel_order)},
                     {"resize", name_of(m.resize)}}},
          {"flip_average", name_of(m.flip_average)},
          {"precision", name_of(m.precision)},
          {"heatmap", {{"width", m.heatmap_width}, {"height", m.heatmap_height}}},
          {"heatmaps", {{"model", settings_.heatmap}, {"full", settings_.heatmap_full}}},
          {"upsampling", name_of(settings_.upsampling)},
          {"min_region_area", settings_.min_region_area},
          {"calibrated", m.calibrated},
          {"backend", name_of(model_.backend_in_use())},
          {"conv", name_of(model_.conv_in_use())},
          {"threads", model_.threads_in_use()},
          {"routing", settings_.router->describe()},
          {"provenance", m.provenance},
          {"versions", {{"opencv", CV_VERSION}, {"bundle_format", m.format_version}}}};
}

// Type k's outcome from its map at model resolution, for a frame of size `frame`.
TypeOutput Detector::type_output(const cv::Mat& map, size_t k, const cv::Size& frame, const Upsampler& up) const {
  const auto& m = model_.manifest();
  TypeOutput t;
  t.name = m.types[k].name;
  t.score = static_cast<float>(cv::mean(map)[0]);
  t.probability = static_cast<float>(-std::expm1(-static_cast<double>(t.score)));
  t.threshold = static_cast<float>(settings_.image_thresholds[k]);
  t.pixel_threshold = t.configured_pixel_threshold = settings_.pixel_thresholds[k];
  t.decision = t.score >= t.threshold;
  // A "fit" input holds the frame in part of it, mirrored around: the maps returned show that part only.
  const bool fit = m.resize == Resize::Fit;
  // Heatmaps, regions and pixel thresholds all see the type's smoothed map; z does not.
  const cv::Mat shown = up.smooth(map, k);
  cv::Mat at_input;
  if (fit && (settings_.heatmap || t.decision || settings_.heatmap_full)) at_input = up.scale(shown, up.input);
  if (settings_.heatmap && !fit) {
    t.heatmap = shown.clone();
  } else if (settings_.heatmap) {
    // At the map's own resolution: the placed part's share of the map's cells.
    const cv::Rect at = input_placement(frame, m);
    const cv::Size cells(std::max(1, static_cast<int>(std::lround(at.width * double(map.cols) / m.input_width))),
                         std::max(1, static_cast<int>(std::lround(at.height * double(map.rows) / m.input_height))));
    t.heatmap = input_to_image(at_input, frame, m, cells);
  }
  // Regions are found at frame resolution, so their boxes and areas are in frame pixels.
  if (t.decision || settings_.heatmap_full) {
    const cv::Mat full = fit ? input_to_image(at_input, frame, m) : up.scale(shown, frame);
    t.pixel_threshold = pixel_threshold_in_force(t.pixel_threshold, settings_.peak_fractions[k], full);
    if (t.decision) t.regions = find_regions(full, static_cast<float>(t.pixel_threshold), settings_.min_region_area);
    if (settings_.heatmap_full) t.heatmap_full = full;
  }
  return t;
}

std::vector<FrameOutput> Detector::process(const std::vector<Frame>& frames) {
  const auto t0 = Clock::now();
  std::vector<cv::Mat> images;
  for (const auto& f : frames) images.push_back(f.image);
  const cv::Mat blob = make_blob(images, model_.manifest());
  const double pre = ms_since(t0);
  const auto t1 = Clock::now();
  const cv::Mat maps = model_.forward(blob);  // [n, types, u, v], as forward() checks
  const double inf = ms_since(t1);

  const int n = static_cast<int>(frames.size()), types = static_cast<int>(model_.manifest().types.size());
  const Upsampler up = upsampler_of(model_.manifest(), settings_.upsampling);
  std::vector<FrameOutput> out(n);
  for (int i = 0; i < n; ++i) {
    const auto t2 = Clock::now();
    FrameOutput& fo = out[i];
    std::vector<TypeOutcome> outcomes;
    for (int k = 0; k < types; ++k) {
      const cv::Mat map(maps.size[2], maps.size[3], CV_32F, const_cast<float*>(maps.ptr<float>(i, k)));
      TypeOutput t = type_output(map, static_cast<size_t>(k), frames[i].image.size(), up);
      fo.decision = fo.decision || t.decision;
      outcomes.push_back(outcome_of(t));
      fo.types.push_back(std::move(t));
    }
    fo.routing = settings_.router->route(outcomes, frames[i].category);
    fo.preprocess_ms = pre / n;
    fo.inference_ms = inf / n;
    fo.postprocess_ms = ms_since(t2);
  }
  return out;
}

}  // namespace mtfcdd
