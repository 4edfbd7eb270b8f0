// The C ABI of vision_plugin.h around mtfcdd::Detector. Every entry point is noexcept and
// catches everything: no C++ exception crosses the boundary, not even one raised while an error
// is being reported.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <mtfcdd/json_input.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "detector.hpp"
#include "vision_plugin.h"

struct VpDetector {
  std::unique_ptr<mtfcdd::Detector> detector;
  std::string error;
  std::string description;
};

namespace {

using mtfcdd::ConfigError;

thread_local std::string t_error;  // last failure of a call without a usable handle

constexpr uint32_t kMaxStructSize = 4096;  // a larger struct_size is garbage, not a future version
constexpr size_t kMaxMessage = 1024;       // values inside are echoed shorter still (excerpt())

// The message when storing the real one fails (out of memory): it fits the in-place storage
// every std::string has (15 bytes or more), so storing it allocates nothing.
constexpr std::string_view kNoMemory = "out of memory";

// `to` = kNoMemory, without allocating: an assignment within the capacity reallocates nothing.
void store_no_memory(std::string& to) noexcept {
  to.clear();
  if (to.capacity() >= kNoMemory.size()) to.append(kNoMemory);
}

// Records the message `what` + `detail` (cut to kMaxMessage) and returns `status`. The parts are
// views, so that a catch handler passes e.what() on without allocating.
VpStatus fail(VpDetector* d, VpStatus status, std::string_view what, std::string_view detail = {}) noexcept {
  try {
    std::string msg(what);
    msg += detail;
    t_error = mtfcdd::excerpt(msg, kMaxMessage - 3);  // with "...", at most kMaxMessage
    if (d) d->error = t_error;
  } catch (...) {
    store_no_memory(t_error);
    if (d) store_no_memory(d->error);
  }
  return status;
}

nlohmann::json parse_config(const char* text) {
  try {
    return mtfcdd::parse_json(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError(std::string("config is not valid JSON: ") + e.what());
  } catch (const mtfcdd::JsonTooDeep& e) {
    throw ConfigError(std::string("config: ") + e.what());
  }
}

// Runs `f`, mapping exceptions to a status and message. `fallback` is the status of a
// std::runtime_error that is not one of the specific kinds (model errors at create, runtime
// errors at process).
template <typename F>
VpStatus guarded(VpDetector* d, VpStatus fallback, F&& f) noexcept {
  try {
    f();
    return VP_OK;
  } catch (const ConfigError& e) {
    return fail(d, VP_ERR_CONFIG, e.what());
  } catch (const nlohmann::json::exception& e) {  // a value of the wrong type read without a check
    return fail(d, VP_ERR_CONFIG, "config: ", e.what());
  } catch (const mtfcdd::BackendError& e) {
    return fail(d, VP_ERR_BACKEND, e.what());
  } catch (const std::invalid_argument& e) {
    return fail(d, VP_ERR_INVALID_ARGUMENT, e.what());
  } catch (const std::bad_alloc&) {
    return fail(d, VP_ERR_INTERNAL, kNoMemory);
  } catch (const std::exception& e) {
    return fail(d, fallback, e.what());
  } catch (...) {
    return fail(d, VP_ERR_INTERNAL, "unknown error");
  }
}

// Text of JSON that may quote a path from the host (base_dir), which need not be UTF-8: invalid
// bytes become U+FFFD rather than a type_error.316.
std::string json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

int bytes_per_pixel(int32_t format) {
  switch (format) {
    case VP_PIXEL_GRAY8: return 1;
    case VP_PIXEL_BGR8:
    case VP_PIXEL_RGB8: return 3;
    case VP_PIXEL_BGRA8: return 4;
    default: return 0;
  }
}

constexpr size_t kMinImageSize = offsetof(VpImage, data) + sizeof(VpImage::data);

// Element i of the caller's array, whose elements are images[0].struct_size bytes apart (a host
// built against another header version has another sizeof); fields it lacks read as zero.
VpImage image_at(const VpImage* images, uint32_t i) {
  const uint32_t size = images[0].struct_size;
  if (size < kMinImageSize || size > kMaxStructSize)
    throw std::invalid_argument("images: struct_size " + std::to_string(size) + " is outside " +
                                std::to_string(kMinImageSize) + ".." + std::to_string(kMaxStructSize));
  VpImage im{};
  std::memcpy(&im, reinterpret_cast<const char*>(images) + size_t(i) * size, std::min<size_t>(size, sizeof im));
  if (im.struct_size != size)
    throw std::invalid_argument("image " + std::to_string(i) + ": struct_size " + std::to_string(im.struct_size) +
                                " differs from image 0's " + std::to_string(size));
  return im;
}

// Checks a VpImage and wraps it without copying (RGB is converted to BGR).
mtfcdd::Frame to_frame(const VpImage& im, uint32_t index) {
  const std::string where = "image " + std::to_string(index) + ": ";
  if (!im.data) throw std::invalid_argument(where + "data is NULL");
  if (im.width < 1 || im.height < 1 || im.width > VP_MAX_SIDE || im.height > VP_MAX_SIDE)
    throw std::invalid_argument(where + "size " + std::to_string(im.width) + "x" + std::to_string(im.height) +
                                " is outside 1.." + std::to_string(VP_MAX_SIDE));
  const int bpp = bytes_per_pixel(im.format);
  if (bpp == 0) throw std::invalid_argument(where + "unsupported pixel format " + std::to_string(im.format));
  if (im.stride < im.width * bpp || im.stride > VP_MAX_STRIDE)
    throw std::invalid_argument(where + "stride " + std::to_string(im.stride) + " is smaller than a row (" +
                                std::to_string(im.width * bpp) + " bytes) or absurdly large");
  const cv::Mat wrapped(im.height, im.width, CV_8UC(bpp), const_cast<uint8_t*>(im.data), static_cast<size_t>(im.stride));
  mtfcdd::Frame f;
  if (im.format == VP_PIXEL_RGB8) cv::cvtColor(wrapped, f.image, cv::COLOR_RGB2BGR);
  else f.image = wrapped;
  if (im.struct_size >= offsetof(VpImage, category) + sizeof(im.category) && im.category) f.category = im.category;
  return f;
}

// A result and everything its pointers point to, freed together by release_result.
struct ResultStore {
  std::vector<mtfcdd::FrameOutput> outputs;
  std::vector<VpFrameResult> frames;
  std::vector<std::vector<VpTypeResult>> types;
  std::vector<std::vector<std::vector<VpRegion>>> regions;
  std::vector<std::vector<std::vector<VpRegionShape>>> shapes;  // regions' calipers, index for index
  std::vector<std::string> strings;  // action, params, matches per frame
};

struct OwnedResult {  // standard layout: the public struct first, so release can find the store
  VpResult pub;
  ResultStore* store;
};

VpHeatmap heatmap_of(const cv::Mat& m) {
  if (m.empty()) return {0, 0, nullptr};
  return {m.cols, m.rows, m.ptr<float>()};
}

// The C view of one type's output; `regions` and `shapes` (the store's, empty) receive its regions.
VpTypeResult type_result(const mtfcdd::TypeOutput& t, std::vector<VpRegion>& regions,
                         std::vector<VpRegionShape>& shapes) {
  for (const auto& r : t.regions) {
    regions.push_back({r.box.x, r.box.y, r.box.width, r.box.height, r.area, r.peak, r.mean});
    shapes.push_back({r.calipers.length, r.calipers.width});
  }
  VpTypeResult tr{};
  tr.struct_size = sizeof(VpTypeResult);
  tr.name = t.name.c_str();
  tr.score = t.score;
  tr.probability = t.probability;
  tr.threshold = t.threshold;
  tr.decision = t.decision ? 1 : 0;
  tr.heatmap = heatmap_of(t.heatmap);
  tr.heatmap_full = heatmap_of(t.heatmap_full);
  tr.regions = regions.empty() ? nullptr : regions.data();
  tr.region_count = static_cast<uint32_t>(regions.size());
  tr.pixel_threshold = t.pixel_threshold;
  tr.configured_pixel_threshold = t.configured_pixel_threshold;
  tr.region_shapes = shapes.empty() ? nullptr : shapes.data();
  return tr;
}

VpResult* make_result(std::vector<mtfcdd::FrameOutput>&& outputs) {
  auto store = std::make_unique<ResultStore>();
  store->outputs = std::move(outputs);
  const size_t n = store->outputs.size();
  store->frames.resize(n);
  store->types.resize(n);
  store->regions.resize(n);
  store->shapes.resize(n);
  store->strings.reserve(3 * n);  // no reallocation: frames point into these strings
  for (size_t i = 0; i < n; ++i) {
    auto& fo = store->outputs[i];
    store->regions[i].resize(fo.types.size());
    store->shapes[i].resize(fo.types.size());
    for (size_t k = 0; k < fo.types.size(); ++k)
      store->types[i].push_back(type_result(fo.types[k], store->regions[i][k], store->shapes[i][k]));
    nlohmann::json matches = nlohmann::json::array();
    for (const auto& mt : fo.routing.matches)
      matches.push_back({{"rule", mt.rule}, {"action", mt.action}, {"type", mt.type}, {"priority", mt.priority}});
    store->strings.push_back(fo.routing.action);
    const char* action = store->strings.back().c_str();
    store->strings.push_back(json_text(fo.routing.params));
    const char* params = store->strings.back().c_str();
    store->strings.push_back(json_text(matches));
    const char* match_json = store->strings.back().c_str();
    VpFrameResult& fr = store->frames[i];
    fr = {};
    fr.struct_size = sizeof(VpFrameResult);
    fr.decision = fo.decision ? 1 : 0;
    fr.types = store->types[i].data();
    fr.type_count = static_cast<uint32_t>(store->types[i].size());
    fr.action = action;
    fr.action_params = params;
    fr.matches = match_json;
    fr.preprocess_ms = fo.preprocess_ms;
    fr.inference_ms = fo.inference_ms;
    fr.postprocess_ms = fo.postprocess_ms;
    fr.decisive_type = fo.routing.decisive_type;
  }
  auto* owned = new OwnedResult{{sizeof(VpResult), store->frames.data(), static_cast<uint32_t>(n)}, store.get()};
  store.release();
  return &owned->pub;
}

const VpPluginInfo* get_info() noexcept {
  static const VpPluginInfo info = {sizeof(VpPluginInfo), VP_ABI_VERSION, 8, "mtfcdd", MTFCDD_VERSION,
                                    "MultiTypeFCDD: one anomaly heatmap per defect type (OpenCV DNN)"};
  return &info;
}

VpStatus create(const char* config_json, const char* base_dir, VpDetector** out) noexcept {
  if (!out) return fail(nullptr, VP_ERR_INVALID_ARGUMENT, "create: out is NULL");
  *out = nullptr;
  if (!config_json) return fail(nullptr, VP_ERR_INVALID_ARGUMENT, "create: config_json is NULL");
  return guarded(nullptr, VP_ERR_MODEL, [&] {
    auto d = std::make_unique<VpDetector>();
    d->detector = std::make_unique<mtfcdd::Detector>(parse_config(config_json), base_dir ? base_dir : "");
    *out = d.release();
  });
}

void destroy(VpDetector* d) noexcept { delete d; }

const char* last_error(const VpDetector* d) noexcept { return d ? d->error.c_str() : t_error.c_str(); }

VpStatus describe(VpDetector* d, const char** json_out) noexcept {
  if (json_out) *json_out = nullptr;
  if (!d || !json_out) return fail(d, VP_ERR_INVALID_ARGUMENT, "describe: detector or json_out is NULL");
  return guarded(d, VP_ERR_INTERNAL, [&] {
    d->description = json_text(d->detector->describe(), 2);
    *json_out = d->description.c_str();
  });
}

VpStatus reconfigure(VpDetector* d, const char* config_json) noexcept {
  if (!d || !config_json) return fail(d, VP_ERR_INVALID_ARGUMENT, "reconfigure: detector or config_json is NULL");
  return guarded(d, VP_ERR_CONFIG, [&] { d->detector->reconfigure(parse_config(config_json)); });
}

VpStatus process(VpDetector* d, const VpImage* images, uint32_t count, VpResult** out) noexcept {
  if (out) *out = nullptr;
  if (!d || !images || !out) return fail(d, VP_ERR_INVALID_ARGUMENT, "process: detector, images or out is NULL");
  return guarded(d, VP_ERR_RUNTIME, [&] {
    if (count < 1 || count > VP_MAX_BATCH)
      throw std::invalid_argument("process: count must be 1.." + std::to_string(VP_MAX_BATCH));
    std::vector<mtfcdd::Frame> frames;
    for (uint32_t i = 0; i < count; ++i) frames.push_back(to_frame(image_at(images, i), i));
    *out = make_result(d->detector->process(frames));
  });
}

void release_result(VpResult* r) noexcept {
  if (!r) return;
  auto* owned = reinterpret_cast<OwnedResult*>(r);
  delete owned->store;
  delete owned;
}

const VpApi kApi = {sizeof(VpApi), VP_ABI_VERSION, get_info, create, destroy, last_error,
                    describe, reconfigure, process, release_result};

}  // namespace

extern "C" VP_EXPORT const VpApi* vp_get_api(uint32_t abi_version) {
  // One table serves every version: results carry every field of the newest, and an older host
  // steps their arrays by struct_size. A host built against a newer ABI gets NULL.
  return abi_version >= 1 && abi_version <= VP_ABI_VERSION ? &kApi : nullptr;
}
