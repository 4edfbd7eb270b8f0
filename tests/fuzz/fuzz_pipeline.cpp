// The host's pipeline file (stages, plugin stage, action sinks): any text loads or is an error
// naming the file. "$PLUGIN" in an input stands for the plugin library.
#include <dlfcn.h>

#include "fuzz_util.hpp"
#include "pipeline.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Held for the whole run: unloading the instrumented plugin would leave libFuzzer reading the
  // coverage counters of an unmapped library.
  static void* const plugin = ::dlopen(MTFCDD_PLUGIN_PATH, RTLD_NOW | RTLD_NODELETE);
  if (!plugin) std::abort();
  std::string text = mtfcdd::fuzz::text(data, size);
  for (size_t at = text.find("$PLUGIN"); at != std::string::npos; at = text.find("$PLUGIN", at + 1))
    text.replace(at, 7, MTFCDD_PLUGIN_PATH);
  const std::string path = mtfcdd::fuzz::write_file("pipeline/pipeline.json", text);
  try {
    mtfcdd::host::load_pipeline(path);
  } catch (const std::exception&) {
  }
  return 0;
}
