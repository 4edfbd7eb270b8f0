// Frames through process(): sizes, strides, formats, struct sizes and batches taken from the
// input; pixel buffers are exactly as large as the image claims, so any read past them is a bug.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "fuzz_util.hpp"

namespace {

int32_t side(FuzzedDataProvider& in) {
  return in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(-1, 300) : in.ConsumeIntegral<int32_t>();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtfcdd::fuzz;
  VpDetector* d = shared_detector(R"({"model": "$BUNDLE", "heatmaps": {"model": true, "full": true},
                                      "thresholds": {}})");
  FuzzedDataProvider in(data, size);
  const uint32_t count = in.ConsumeIntegralInRange<uint32_t>(0, 4);
  // The array's element size: this header's, a future larger one, or anything (refused or not).
  const int kind = in.ConsumeIntegralInRange(0, 9);
  const uint32_t element = kind < 6   ? sizeof(VpImage)
                           : kind < 9 ? sizeof(VpImage) + 8 * in.ConsumeIntegralInRange<uint32_t>(1, 8)
                                      : in.ConsumeIntegralInRange<uint32_t>(0, 8192);
  std::vector<uint8_t> array(size_t(std::max<uint32_t>(count, 1)) * element + sizeof(VpImage), 0);
  std::vector<std::vector<uint8_t>> buffers(count);
  static const uint8_t kDummy[4] = {};
  for (uint32_t i = 0; i < count; ++i) {
    VpImage im{};
    // Image 0's struct_size is the array's stride (the header's rule); a later one may disagree.
    im.struct_size = i > 0 && in.ConsumeIntegralInRange(0, 19) == 0 ? in.ConsumeIntegral<uint32_t>() : element;
    im.width = side(in);
    im.height = side(in);
    im.format = in.ConsumeIntegralInRange<int32_t>(0, 5);
    const int bpp = im.format == VP_PIXEL_GRAY8 ? 1 : im.format == VP_PIXEL_BGRA8 ? 4 : 3;
    im.stride = in.ConsumeBool() ? int32_t(int64_t(im.width) * bpp + in.ConsumeIntegralInRange<int32_t>(-2, 16))
                                 : in.ConsumeIntegral<int32_t>();
    const int64_t bytes = int64_t(im.stride) * im.height;
    if (im.width > 0 && im.height > 0 && im.stride > 0 && bytes <= (16 << 20)) {
      buffers[i] = in.ConsumeBytes<uint8_t>(size_t(im.stride));  // one row's worth, then filler
      buffers[i].resize(size_t(bytes), 0x5a);
      im.data = buffers[i].data();
    } else if (im.width > 0 && im.height > 0 && im.stride >= int64_t(im.width) * bpp && im.width <= VP_MAX_SIDE &&
               im.height <= VP_MAX_SIDE && im.stride <= VP_MAX_STRIDE) {
      return 0;  // a valid image too large to allocate here
    } else {
      im.data = in.ConsumeBool() ? kDummy : nullptr;  // invalid: the plugin must refuse before reading
    }
    static const char* categories[] = {nullptr, "", "disc"};
    im.category = categories[in.ConsumeIntegralInRange(0, 2)];
    std::memcpy(array.data() + size_t(i) * element, &im, std::min<size_t>(element, sizeof im));
  }
  VpResult* r = nullptr;
  const VpStatus s = api().process(d, count ? reinterpret_cast<const VpImage*>(array.data()) : nullptr, count, &r);
  if (s == VP_OK && (!r || r->frame_count != count)) std::abort();
  if (s != VP_OK && r) std::abort();
  api().release_result(r);
  return 0;
}
