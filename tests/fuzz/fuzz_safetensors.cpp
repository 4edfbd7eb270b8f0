// A safetensors file (length, JSON header, tensor bytes): any bytes read or are an error naming
// the file, never a read outside the file's data.
#include "fuzz_util.hpp"
#include "safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = mtfcdd::fuzz::write_file("st/weights.safetensors", mtfcdd::fuzz::text(data, size));
  try {
    mtfcdd::read_safetensors(path);
  } catch (const std::exception&) {
  }
  return 0;
}
