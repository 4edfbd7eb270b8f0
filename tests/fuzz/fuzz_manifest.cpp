// model.json: any text is a manifest or an error naming the cause; what is read writes back and
// reads again to the same manifest.
#include <mtfcdd/json_input.hpp>

#include <mtfcdd/bundle.hpp>
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtfcdd;
  BundleManifest m;
  try {
    m = manifest_from_json(parse_json(fuzz::text(data, size)), "model.json");
  } catch (const std::exception&) {
    return 0;
  }
  const BundleManifest again = manifest_from_json(manifest_to_json(m), "written");  // must not throw
  if (manifest_to_json(again) != manifest_to_json(m)) std::abort();
  return 0;
}
