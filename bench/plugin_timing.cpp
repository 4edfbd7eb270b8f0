#include "plugin_timing.hpp"

#include <dlfcn.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include <mtfcdd/bundle.hpp>
#include "child_process.hpp"
#include "ort_timing.hpp"
#include "util_files.hpp"
#include <mtfcdd/preprocess.hpp>
#include "vision_plugin.h"

namespace mtfcdd::bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Above any score a network produces: no type fires, so no frame-resolution region search runs
// and the call is preprocessing + network + per-type scores and model-resolution heatmaps.
constexpr double kNeverFires = 1e30;

void check(const VpApi* api, VpDetector* d, VpStatus s, const std::string& what) {
  if (s != VP_OK)
    throw std::runtime_error("plugin " + what + " failed (status " + std::to_string(s) + "): " + api->last_error(d));
}

// The blob the plugin makes of `pixels` and the model-resolution maps of `res`, for ONNX Runtime.
void dump(const std::string& dir, const std::string& bundle, std::vector<std::vector<uint8_t>>& pixels,
          const VpResult& res) {
  const cv::Mat blob = blob_of(pixels, read_manifest(bundle));
  write_floats(dir + "/blob.f32", blob.ptr<float>(), blob.total());
  std::vector<float> maps;
  for (uint32_t f = 0; f < res.frame_count; ++f) {
    const VpFrameResult* frame = VP_ELEMENT(VpFrameResult, res.frames, f);  // stepped by the plugin's struct_size
    for (uint32_t t = 0; t < frame->type_count; ++t) {
      const VpHeatmap& m = VP_ELEMENT(VpTypeResult, frame->types, t)->heatmap;
      if (!m.data) throw std::runtime_error("the plugin returned no model-resolution heatmap");
      maps.insert(maps.end(), m.data, m.data + static_cast<size_t>(m.width) * m.height);
    }
  }
  write_floats(dir + "/maps.f32", maps.data(), maps.size());
}

// Never dlclose'd: the child exits right after, and unloading a library that started OpenCV's
// worker threads is a crash risk for no gain.
const VpApi* load_api(const std::string& plugin) {
  void* lib = dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  const auto get_api = reinterpret_cast<VpGetApiFn>(dlsym(lib, "vp_get_api"));
  if (!get_api) throw std::runtime_error(plugin + " has no vp_get_api");
  const VpApi* api = get_api(VP_ABI_VERSION);
  if (!api) throw std::runtime_error(plugin + " does not serve ABI version " + std::to_string(VP_ABI_VERSION));
  return api;
}

using Detector = std::unique_ptr<VpDetector, void (*)(VpDetector*)>;

// A detector on the bundle whose thresholds no type reaches; `info` gets what it describes.
Detector open_detector(const VpApi* api, const PluginRequest& r, json& info) {
  json config = {{"model", r.bundle}, {"threads", r.threads}, {"heatmaps", {{"model", true}, {"full", false}}}};
  if (!r.conv.empty()) config["conv"] = r.conv;
  VpDetector* raw = nullptr;
  check(api, nullptr, api->create(config.dump().c_str(), nullptr, &raw), "create");
  Detector det(raw, api->destroy);
  const char* described = nullptr;
  check(api, det.get(), api->describe(det.get(), &described), "describe");
  info = json::parse(described);
  json thresholds = json::object();
  for (const auto& t : info.at("types")) thresholds[t.at("name").get<std::string>()] = {{"image", kNeverFires}};
  check(api, det.get(), api->reconfigure(det.get(), json{{"thresholds", thresholds}}.dump().c_str()), "reconfigure");
  return det;
}

// Each timed call's wall time and the plugin's own split of it, summed over the batch's frames.
json time_calls(const VpApi* api, VpDetector* det, const PluginRequest& r, std::vector<std::vector<uint8_t>>& pixels,
                std::vector<VpImage>& images) {
  json call = json::array(), pre = json::array(), net = json::array(), post = json::array();
  for (int i = 0; i < r.warmup + r.runs; ++i) {
    VpResult* res = nullptr;
    const auto t0 = Clock::now();
    const VpStatus s = api->process(det, images.data(), static_cast<uint32_t>(r.batch), &res);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    check(api, det, s, "process");
    const std::unique_ptr<VpResult, void (*)(VpResult*)> result(res, api->release_result);
    if (!r.dump_dir.empty() && i + 1 == r.warmup + r.runs) dump(r.dump_dir, r.bundle, pixels, *res);
    if (i < r.warmup) continue;
    double p = 0, n = 0, q = 0;
    for (uint32_t f = 0; f < res->frame_count; ++f) {
      const VpFrameResult* frame = VP_ELEMENT(VpFrameResult, res->frames, f);
      p += frame->preprocess_ms;
      n += frame->inference_ms;
      q += frame->postprocess_ms;
    }
    call.push_back(ms);
    pre.push_back(p);
    net.push_back(n);
    post.push_back(q);
  }
  return {{"call_ms", call}, {"pre_ms", pre}, {"net_ms", net}, {"post_ms", post}};
}

json measure(const PluginRequest& r) {
  const double baseline_rss = resident_mib();
  const VpApi* api = load_api(r.plugin);
  json info;
  const Detector det = open_detector(api, r, info);
  // Frames at the model's input size (the resize is then a no-op), random pixels, one per image.
  const int w = info.at("input").at("width"), h = info.at("input").at("height");
  std::vector<std::vector<uint8_t>> pixels = random_frames(w, h, r.batch);
  std::vector<VpImage> images;
  for (auto& p : pixels) images.push_back({sizeof(VpImage), w, h, 3 * w, VP_PIXEL_BGR8, p.data(), nullptr});
  json out = time_calls(api, det.get(), r, pixels, images);
  out["backend"] = info.at("backend");
  out["conv"] = info.value("conv", "opencv");  // a plugin older than the key has OpenCV's only
  out["threads"] = info.at("threads");
  out["baseline_rss_mb"] = baseline_rss;
  return out;
}

}  // namespace

// Random pixels (seeded: every child gets the same frames), `count` BGR frames of w x h.
std::vector<std::vector<uint8_t>> random_frames(int w, int h, int count) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<std::vector<uint8_t>> pixels(count, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3));
  for (auto& p : pixels)
    for (auto& v : p) v = static_cast<uint8_t>(byte(rng));
  return pixels;
}

cv::Mat blob_of(std::vector<std::vector<uint8_t>>& pixels, const BundleManifest& m) {
  std::vector<cv::Mat> frames;
  for (auto& p : pixels) frames.emplace_back(m.input_height, m.input_width, CV_8UC3, p.data());
  return make_blob(frames, m);
}

const char* const kPluginIncludes =
    "one process() call through the C ABI: preprocessing (frames already at the input size: channel "
    "reorder, normalisation), the OpenCV DNN forward (convolutions as the plugin's \"conv\" says), "
    "post-processing (per-type scores, model-resolution heatmaps, routing; no type fires, so no "
    "frame-resolution upsampling or region search)";

PluginResult run_plugin_child(const PluginRequest& r) {
  std::vector<std::string> args = {"plugin-only", "--plugin", r.plugin, "--bundle", r.bundle, "--batch",
                                   std::to_string(r.batch), "--runs", std::to_string(r.runs), "--warmup",
                                   std::to_string(r.warmup), "--threads", std::to_string(r.threads)};
  if (!r.conv.empty()) args.insert(args.end(), {"--conv", r.conv});
  if (!r.dump_dir.empty()) args.insert(args.end(), {"--dump", r.dump_dir});
  const ChildRun run = run_self(args, wait_policy_env(r.spin));
  const json j = stdout_json(run, "plugin");
  PluginResult out;
  out.call_ms = j.at("call_ms").get<std::vector<double>>();
  out.pre_ms = j.at("pre_ms").get<std::vector<double>>();
  out.net_ms = j.at("net_ms").get<std::vector<double>>();
  out.post_ms = j.at("post_ms").get<std::vector<double>>();
  out.threads = j.at("threads");
  out.backend = j.at("backend");
  out.conv = j.at("conv");
  out.baseline_rss_mb = j.at("baseline_rss_mb");
  out.peak_rss_mb = run.max_rss_mb;
  return out;
}

int plugin_child_main(const PluginRequest& r) {
  std::cout << measure(r).dump() << std::endl;
  return 0;
}

}  // namespace mtfcdd::bench
