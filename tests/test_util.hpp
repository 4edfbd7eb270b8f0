// Small helpers shared by the test suites.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

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

}  // namespace mtfcdd::test
