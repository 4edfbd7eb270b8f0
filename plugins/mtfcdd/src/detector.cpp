#include "detector.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <mtfcdd/json_input.hpp>
#include <opencv2/core/utility.hpp>
#include <set>

#include "preprocess.hpp"

namespace mtfcdd {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

void reject_unknown_keys(const json& j, const std::set<std::string>& known, const std::string& where) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key())) throw ConfigError(where + ": unknown key '" + it.key() + "'");
}

template <typename T>
T get_as(const json& j, const std::string& key, const std::string& where) {
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw ConfigError(where + ": '" + key + "' has the wrong type: " + excerpt(j.at(key)));
  }
}

int64_t integer_at(const json& j, const std::string& key, const std::string& where, int64_t lo, int64_t hi) {
  const auto v = integer_in(j.at(key), lo, hi);
  if (!v)
    throw ConfigError(where + ": '" + key + "' must be an integer " + std::to_string(lo) + " .. " +
                      std::to_string(hi) + ", got " + excerpt(j.at(key)));
  return *v;
}

double threshold_at(const json& j, const std::string& key, const std::string& where) {
  const double v = get_as<double>(j, key, where);
  // Scores are float32: a threshold beyond float's range would become infinite.
  if (!is_finite_float(v)) throw ConfigError(where + "." + key + ": must be a finite float32, got " + excerpt(j.at(key)));
  return v;
}

// Applies the settings keys present in `cfg` on top of `s`.
DetectorSettings apply_settings(const json& cfg, DetectorSettings s, const BundleManifest& m) {
  std::vector<std::string> names;
  for (const auto& t : m.types) names.push_back(t.name);
  if (cfg.contains("thresholds")) {
    const json& th = cfg.at("thresholds");
    if (!th.is_object()) throw ConfigError("config: 'thresholds' must be an object of type names");
    for (auto it = th.begin(); it != th.end(); ++it) {
      const auto pos = std::find(names.begin(), names.end(), it.key());
      const std::string where = "config: thresholds." + it.key();
      if (pos == names.end()) throw ConfigError(where + ": the model has no such type");
      if (!it->is_object()) throw ConfigError(where + " must be an object with 'image' and/or 'pixel'");
      reject_unknown_keys(*it, {"image", "pixel"}, where);
      const size_t k = pos - names.begin();
      if (it->contains("image")) s.image_thresholds[k] = threshold_at(*it, "image", where);
      if (it->contains("pixel")) s.pixel_thresholds[k] = threshold_at(*it, "pixel", where);
    }
  }
  if (cfg.contains("heatmaps")) {
    const json& h = cfg.at("heatmaps");
    if (!h.is_object()) throw ConfigError("config: 'heatmaps' must be an object");
    reject_unknown_keys(h, {"model", "full"}, "config: heatmaps");
    if (h.contains("model")) s.heatmap = get_as<bool>(h, "model", "config: heatmaps");
    if (h.contains("full")) s.heatmap_full = get_as<bool>(h, "full", "config: heatmaps");
  }
  if (cfg.contains("upsampling")) {
    try {
      s.upsampling = upsampler_of(m, parse_upsampling(get_as<std::string>(cfg, "upsampling", "config"))).mode;
    } catch (const ConfigError&) {
      throw;
    } catch (const std::exception& e) {
      throw ConfigError(std::string("config: ") + e.what());
    }
  }
  if (cfg.contains("min_region_area"))
    s.min_region_area = integer_at(cfg, "min_region_area", "config", 1, std::numeric_limits<int64_t>::max());
  if (cfg.contains("routing")) {
    try {
      s.router = std::make_shared<const Router>(cfg.at("routing"), names);
    } catch (const std::exception& e) {
      throw ConfigError(std::string("config: ") + e.what());
    }
    s.routing = cfg.at("routing");
  }
  return s;
}

const std::set<std::string> kSettingsKeys = {"thresholds", "heatmaps", "upsampling", "min_region_area", "routing"};

std::string model_dir(const json& cfg, const std::string& base_dir) {
  if (!cfg.is_object()) throw ConfigError("config: must be a JSON object");
  if (!cfg.contains("model")) throw ConfigError("config: missing key 'model' (the bundle folder)");
  const std::filesystem::path p = get_as<std::string>(cfg, "model", "config");
  return (p.is_absolute() || base_dir.empty() ? p : std::filesystem::path(base_dir) / p).string();
}

DnnOptions dnn_options(const json& cfg) {
  std::set<std::string> known = kSettingsKeys;
  known.insert({"model", "backend", "fallback", "threads", "conv"});
  reject_unknown_keys(cfg, known, "config");
  DnnOptions o;
  if (cfg.contains("backend")) o.backend = get_as<std::string>(cfg, "backend", "config");
  if (cfg.contains("fallback")) {
    const auto f = get_as<std::string>(cfg, "fallback", "config");
    if (f != "cpu" && f != "none") throw ConfigError("config: 'fallback' must be \"cpu\" or \"none\"");
    o.fallback_cpu = f == "cpu";
  }
  if (cfg.contains("conv")) o.conv = get_as<std::string>(cfg, "conv", "config");
  return o;
}

}  // namespace

Detector::Detector(const json& config, const std::string& base_dir)
    : model_(model_dir(config, base_dir), dnn_options(config)), bundle_dir_(model_dir(config, base_dir)) {
  // 0 = OpenCV's default. Far more threads than cores only costs; 100,000 overflowed libgomp's stack.
  if (config.contains("threads")) threads_ = static_cast<int>(integer_at(config, "threads", "config", 0, kMaxThreads));
  DetectorSettings s;
  s.upsampling = model_.manifest().upsampling;
  for (const auto& t : model_.manifest().types) {
    s.image_thresholds.push_back(t.image_threshold);
    s.pixel_thresholds.push_back(t.pixel_threshold);
  }
  s.router = std::make_shared<const Router>();
  settings_ = apply_settings(config, s, model_.manifest());
  if (threads_ > 0) cv::setNumThreads(threads_);  // process-wide (OpenCV has one pool): only once all is valid
}

void Detector::reconfigure(const json& config) {
  if (!config.is_object()) throw ConfigError("reconfigure: must be a JSON object");
  reject_unknown_keys(config, kSettingsKeys, "reconfigure (model, backend, conv and threads need a new detector)");
  settings_ = apply_settings(config, settings_, model_.manifest());
}

json Detector::describe() const {
  const auto& m = model_.manifest();
  json types = json::array();
  for (size_t k = 0; k < m.types.size(); ++k)
    types.push_back({{"name", m.types[k].name},
                     {"display", m.types[k].display},
                     {"image_threshold", settings_.image_thresholds[k]},
                     {"pixel_threshold", settings_.pixel_thresholds[k]}});
  return {{"plugin", "mtfcdd"},
          {"model", bundle_dir_},
          {"types", types},
          {"input", {{"width", m.input_width}, {"height", m.input_height}, {"channel_order", m.channel_order},
                     {"resize", m.resize}}},
          {"flip_average", m.flip_average},
          {"precision", m.precision},
          {"heatmap", {{"width", m.heatmap_width}, {"height", m.heatmap_height}}},
          {"heatmaps", {{"model", settings_.heatmap}, {"full", settings_.heatmap_full}}},
          {"upsampling", upsampling_name(settings_.upsampling)},
          {"min_region_area", settings_.min_region_area},
          {"calibrated", m.calibrated},
          {"backend", model_.backend_in_use()},
          {"conv", model_.conv_in_use()},
          {"threads", cv::getNumThreads()},
          {"routing", settings_.router->describe()},
          {"provenance", m.provenance},
          {"versions", {{"opencv", CV_VERSION}, {"bundle_format", m.format_version}}}};
}

std::vector<FrameOutput> Detector::process(const std::vector<Frame>& frames) {
  const auto t0 = Clock::now();
  std::vector<cv::Mat> images;
  for (const auto& f : frames) images.push_back(f.image);
  const cv::Mat blob = make_blob(images, model_.manifest());
  const double pre = ms_since(t0);
  const auto t1 = Clock::now();
  const cv::Mat maps = model_.forward(blob);
  const double inf = ms_since(t1);

  const auto& m = model_.manifest();
  const int n = static_cast<int>(frames.size()), types = static_cast<int>(m.types.size());
  const int u = maps.size[2], v = maps.size[3];
  // A "fit" input holds the frame in part of it, mirrored around: the maps returned show that part only.
  const bool fit = m.resize != "stretch";
  const Upsampler up = upsampler_of(m, settings_.upsampling);
  std::vector<FrameOutput> out(n);
  for (int i = 0; i < n; ++i) {
    const auto t2 = Clock::now();
    const cv::Size frame = frames[i].image.size();
    FrameOutput& fo = out[i];
    std::vector<TypeOutcome> outcomes;
    for (int k = 0; k < types; ++k) {
      const cv::Mat map(u, v, CV_32F, const_cast<float*>(maps.ptr<float>(i, k)));
      TypeOutput t;
      t.name = m.types[k].name;
      t.score = static_cast<float>(cv::mean(map)[0]);
      t.probability = static_cast<float>(-std::expm1(-static_cast<double>(t.score)));
      t.threshold = static_cast<float>(settings_.image_thresholds[k]);
      t.decision = t.score >= t.threshold;
      cv::Mat at_input;
      if (fit && (settings_.heatmap || t.decision || settings_.heatmap_full))
        at_input = up(map, up.input);
      if (settings_.heatmap && !fit) {
        t.heatmap = map.clone();
      } else if (settings_.heatmap) {
        // At the map's own resolution: the placed part's share of the map's cells.
        const cv::Rect at = input_placement(frame, m);
        const cv::Size cells(std::max(1, static_cast<int>(std::lround(at.width * double(v) / m.input_width))),
                             std::max(1, static_cast<int>(std::lround(at.height * double(u) / m.input_height))));
        t.heatmap = input_to_image(at_input, frame, m, cells);
      }
      // Regions are found at frame resolution, so their boxes and areas are in frame pixels.
      if (t.decision || settings_.heatmap_full) {
        const cv::Mat full = fit ? input_to_image(at_input, frame, m) : up(map, frame);
        if (t.decision)
          t.regions = find_regions(full, static_cast<float>(settings_.pixel_thresholds[k]), settings_.min_region_area);
        if (settings_.heatmap_full) t.heatmap_full = full;
      }
      fo.decision = fo.decision || t.decision;
      outcomes.push_back({t.name, t.decision, t.probability, t.regions.empty() ? 0 : t.regions.front().area});
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
