// The detector configuration through create() and describe(): any bytes are a status, never a crash.
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtfcdd::fuzz;
  const std::string config = with_bundle(text(data, size));
  VpDetector* d = nullptr;
  if (api().create(config.c_str(), nullptr, &d) == VP_OK) {
    const char* json = nullptr;
    if (api().describe(d, &json) != VP_OK || !json) std::abort();
  } else if (d || std::string(api().last_error(nullptr)).size() > 1024) {
    std::abort();  // the header promises NULL and a short message after a failure
  }
  api().destroy(d);
  return 0;
}
