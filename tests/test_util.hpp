// Small helpers shared by the test suites.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

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
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Makes `dir` the working directory until it goes, then restores the one before.
class WorkingDirectory {
 public:
  explicit WorkingDirectory(const std::filesystem::path& dir) : before_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~WorkingDirectory() {
    std::error_code ec;
    std::filesystem::current_path(before_, ec);
  }
  WorkingDirectory(const WorkingDirectory&) = delete;
  WorkingDirectory& operator=(const WorkingDirectory&) = delete;

 private:
  std::filesystem::path before_;
};

// Polls `done` every 5 ms for up to `seconds`; whether it came true.
inline bool wait_until(const std::function<bool()>& done, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A child process (from fork), killed with SIGKILL and reaped when the guard goes unless it was
// reaped before: a test that ends early (a failed ASSERT) leaves nothing running.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(Child&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
  Child& operator=(Child&&) = delete;
  ~Child() { kill(); }
  pid_t pid() const { return pid_; }

  // Its exit code (128 + the signal when a signal ended it) once it ends within `seconds`; else
  // -1, after killing it.
  int exit_code_within(double seconds) {
    int status = 0;
    if (!wait_until([&] { return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_; }, seconds)) {
      kill();
      return -1;
    }
    pid_ = -1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  }

  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_;
};

// The bundle made by the make_test_bundle CTest fixture (MTFCDD_TEST_BUNDLE; "" outside ctest).
inline std::string fixture_bundle() {
  const char* b = std::getenv("MTFCDD_TEST_BUNDLE");
  return b ? b : "";
}

}  // namespace mtfcdd::test
