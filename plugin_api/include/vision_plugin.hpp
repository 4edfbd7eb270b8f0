// vision_plugin.hpp - a small header-only C++ wrapper over vision_plugin.h for hosts:
// RAII handles and exceptions on the host's side of the boundary.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "vision_plugin.h"

namespace vp {

class Error : public std::runtime_error {
 public:
  Error(VpStatus status, const std::string& msg) : std::runtime_error(msg), status_(status) {}
  VpStatus status() const { return status_; }

 private:
  VpStatus status_;
};

// The table a plugin serves for this header's ABI version; throws when it serves none.
inline const VpApi& negotiate(VpGetApiFn get_api, const std::string& plugin_name) {
  const VpApi* api = get_api ? get_api(VP_ABI_VERSION) : nullptr;
  if (!api)
    throw Error(VP_ERR_INTERNAL, plugin_name + " does not serve vision plugin ABI version " +
                                     std::to_string(VP_ABI_VERSION));
  return *api;
}

// A frame's k-th type result, stepped by the plugin's struct_size (the header's array rule).
inline const VpTypeResult& type_at(const VpFrameResult& f, uint32_t k) { return *VP_ELEMENT(VpTypeResult, f.types, k); }

// A plugin that serves this header's ABI version fills all of its fields, so each result struct
// is at least this header's sizeof; throws when one is smaller, before any field past it is read.
inline void check_result_sizes(const VpResult& r) {
  const auto at_least = [](uint32_t got, size_t want, const char* what) {
    if (got < want)
      throw Error(VP_ERR_INTERNAL, std::string("plugin result: ") + what + ".struct_size " + std::to_string(got) +
                                       " is smaller than ABI version " + std::to_string(VP_ABI_VERSION) + "'s " +
                                       std::to_string(want) + " (the plugin does not fill the version it serves)");
  };
  at_least(VP_STRUCT_SIZE(&r), sizeof(VpResult), "VpResult");
  for (uint32_t i = 0; i < r.frame_count; ++i) {
    const VpFrameResult* f = VP_ELEMENT(VpFrameResult, r.frames, i);
    at_least(VP_STRUCT_SIZE(f), sizeof(VpFrameResult), "VpFrameResult");
    for (uint32_t k = 0; k < f->type_count; ++k)
      at_least(VP_STRUCT_SIZE(VP_ELEMENT(VpTypeResult, f->types, k)), sizeof(VpTypeResult), "VpTypeResult");
  }
}

// Throws Error (VP_ERR_INTERNAL) naming a type whose regions are counted but whose region or shape
// array is NULL, before a host reads one.
inline void check_region_arrays(const VpResult& r) {
  for (uint32_t i = 0; i < r.frame_count; ++i) {
    const VpFrameResult* f = VP_ELEMENT(VpFrameResult, r.frames, i);
    for (uint32_t k = 0; k < f->type_count; ++k) {
      const VpTypeResult* t = VP_ELEMENT(VpTypeResult, f->types, k);
      if (t->region_count > 0 && (!t->regions || !t->region_shapes))
        throw Error(VP_ERR_INTERNAL, "plugin result: frames[" + std::to_string(i) + "].types[" + std::to_string(k) +
                                         "] counts " + std::to_string(t->region_count) + " regions but its " +
                                         (t->regions ? "region_shapes" : "regions") + " array is NULL");
    }
  }
}

class Result {
 public:
  Result(const VpApi& api, VpResult* r) : api_(&api), r_(r) {}
  Result(Result&& o) noexcept : api_(o.api_), r_(std::exchange(o.r_, nullptr)) {}
  Result& operator=(Result&& o) noexcept {
    std::swap(api_, o.api_);
    std::swap(r_, o.r_);
    return *this;
  }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result() { api_->release_result(r_); }

  uint32_t size() const { return r_->frame_count; }
  const VpFrameResult& operator[](uint32_t i) const { return *VP_ELEMENT(VpFrameResult, r_->frames, i); }

 private:
  const VpApi* api_;
  VpResult* r_;
};

class Detector {
 public:
  Detector(const VpApi& api, const std::string& config_json, const std::string& base_dir = "") : api_(&api) {
    check(api.create(config_json.c_str(), base_dir.empty() ? nullptr : base_dir.c_str(), &d_), "create");
  }
  Detector(Detector&& o) noexcept : api_(o.api_), d_(std::exchange(o.d_, nullptr)) {}
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;
  Detector& operator=(Detector&&) = delete;
  ~Detector() { api_->destroy(d_); }

  std::string describe() {
    const char* s = nullptr;
    check(api_->describe(d_, &s), "describe");
    return s;
  }
  void reconfigure(const std::string& config_json) { check(api_->reconfigure(d_, config_json.c_str()), "reconfigure"); }
  Result process(const VpImage* images, uint32_t count) {
    VpResult* r = nullptr;
    check(api_->process(d_, images, count, &r), "process");
    Result res(*api_, r);
    check_result_sizes(*r);
    check_region_arrays(*r);
    return res;
  }

 private:
  void check(VpStatus s, const char* what) const {
    if (s != VP_OK) throw Error(s, std::string(what) + ": " + api_->last_error(d_));
  }
  const VpApi* api_;
  VpDetector* d_ = nullptr;
};

}  // namespace vp
