// Routing and settings through reconfigure(), then one frame routed by what was accepted.
#include <vector>

#include "fuzz_util.hpp"

namespace {

// Every counted region has its shape, at least a pixel across and no wider than long.
bool shapes_hold(const VpFrameResult& f) {
  for (uint32_t k = 0; k < f.type_count; ++k) {
    const VpTypeResult& t = *VP_ELEMENT(VpTypeResult, f.types, k);
    for (uint32_t i = 0; i < t.region_count; ++i)
      if (!t.region_shapes || !(t.region_shapes[i].width >= 1 && t.region_shapes[i].width <= t.region_shapes[i].length))
        return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtfcdd::fuzz;
  VpDetector* d = shared_detector(R"({"model": "$BUNDLE"})");
  // Each input starts from the same settings: all defective, so that rules and regions are reached.
  if (api().reconfigure(d, R"({"thresholds": {}, "routing": {}, "min_region_area": 1})") != VP_OK) std::abort();
  const std::string config(reinterpret_cast<const char*>(data), size);
  if (api().reconfigure(d, config.c_str()) != VP_OK) return 0;
  static const std::vector<uint8_t> pixels(32 * 24, 100);
  const char* categories[] = {nullptr, "", "disc", "plate"};
  VpImage im{sizeof(VpImage), 32, 24, 32, VP_PIXEL_GRAY8, pixels.data(), categories[size % 4]};
  VpResult* r = nullptr;
  if (api().process(d, &im, 1, &r) == VP_OK && (!r || r->frame_count != 1 || !r->frames[0].action)) std::abort();
  if (r && !shapes_hold(r->frames[0])) std::abort();
  api().release_result(r);
  return 0;
}
