// A Real-IAD category file: any text loads or is an error naming the file and record.
#include "dataset.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtfcdd;
  const std::string path = fuzz::write_file("ri/audiojack.json", fuzz::text(data, size));
  for (const bool skip_bad : {false, true}) {
    LoadOptions o;
    o.check_files = false;
    o.skip_bad = skip_bad;
    try {
      load_dataset(path, o);
    } catch (const std::exception&) {
    }
  }
  return 0;
}
