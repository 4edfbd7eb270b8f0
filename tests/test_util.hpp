// Small helpers shared by the test suites.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unistd.h>

namespace mtfcdd::test {

// The message of the exception `f` throws, or "<no exception>".
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no exception>";
}

// A fresh folder under the system's temporary directory, removed with its contents at the end;
// named by process and a counter so that parallel test processes never share one.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("mtfcdd_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The bundle made by the make_test_bundle CTest fixture (MTFCDD_TEST_BUNDLE; "" outside ctest).
inline std::string fixture_bundle() {
  const char* b = std::getenv("MTFCDD_TEST_BUNDLE");
  return b ? b : "";
}

}  // namespace mtfcdd::test
