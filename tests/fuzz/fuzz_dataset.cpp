// A manifest dataset: the input is dataset.json, then a line "@@", then manifest.csv. Any text
// loads or is an error naming the file and line (files are not checked: there are none).
#include "dataset.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtfcdd;
  const std::string in = fuzz::text(data, size);
  const size_t cut = in.find("\n@@\n");
  fuzz::write_file("ds/dataset.json", in.substr(0, cut));
  fuzz::write_file("ds/manifest.csv", cut == std::string::npos ? "" : in.substr(cut + 4));
  for (const bool skip_bad : {false, true}) {
    LoadOptions o;
    o.check_files = false;
    o.skip_bad = skip_bad;
    try {
      load_dataset((fuzz::scratch() / "ds").string(), o);
    } catch (const std::exception&) {
    }
  }
  return 0;
}
