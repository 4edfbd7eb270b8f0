// Shared by the libFuzzer harnesses: a scratch folder per process, a test bundle, input text.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "vision_plugin.h"

namespace mtfcdd::fuzz {

// A folder of this process's own (parallel fuzz jobs never share one), removed at exit. The
// remover is made after the path, so it is destroyed before it (an atexit handler registered
// while the path was being made ran after the path was gone and left every folder behind).
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    const auto d = std::filesystem::temp_directory_path() / ("mtfcdd_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  static const struct Remover {
    ~Remover() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remover;
  return dir;
}

inline std::string write_file(const std::string& name, const std::string& bytes) {
  const auto p = scratch() / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  return p.string();
}

inline std::string text(const uint8_t* data, size_t size) { return {reinterpret_cast<const char*>(data), size}; }

// The bundle the plugin harnesses load: $MTFCDD_FUZZ_BUNDLE (scripts/test.sh passes the small
// test bundle), else the sample model in the tree.
inline std::string bundle() {
  const char* b = std::getenv("MTFCDD_FUZZ_BUNDLE");
  return b && *b ? b : MTFCDD_SAMPLE_MODEL;
}

// Every "$BUNDLE" in `s` replaced by bundle(): seeds name the bundle without knowing where it is.
inline std::string with_bundle(std::string s) {
  const std::string key = "$BUNDLE", b = bundle();
  for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + b.size())) s.replace(at, key.size(), b);
  return s;
}

inline const VpApi& api() { return *vp_get_api(VP_ABI_VERSION); }

// One detector for the whole run, for the harnesses that fuzz what comes after create().
inline VpDetector* shared_detector(const std::string& config) {
  static VpDetector* d = [&] {
    VpDetector* made = nullptr;
    if (api().create(with_bundle(config).c_str(), nullptr, &made) != VP_OK) {
      fprintf(stderr, "fuzz: cannot create the detector: %s\n", api().last_error(nullptr));
      std::abort();
    }
    return made;
  }();
  return d;
}

}  // namespace mtfcdd::fuzz
