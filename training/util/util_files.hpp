// Whole files read and written with their failures named, this process's resident memory, and
// folders that never outlive the scope that made them.
#pragma once

#include <mtfcdd/read_file.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace mtfcdd {

// The file's bytes; throws std::runtime_error "cannot read PATH: CAUSE" (the engine's reader).
inline std::string read_file(const std::string& path) { return read_file(path, "cannot read"); }

// Writes (replaces) the file; throws std::runtime_error "cannot write PATH" when any byte fails
// to reach it (a missing folder, a full disk).
inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Writes `path` as `write(tmp)` and a rename: a crash or a full disk mid-write leaves the file
// that was there whole, never a truncated one.
inline void write_then_rename(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string tmp = path + ".tmp";
  write(tmp);
  std::filesystem::rename(tmp, path);
}

// This process's resident set (VmRSS) in MiB; 0 where /proc does not say (not Linux).
inline double resident_mib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024;  // "VmRSS:  123 kB"
  return 0;
}

// Removes the folders of `paths` (with their contents) when it goes out of scope, also when an
// exception leaves it: temporary and trial folders never outlive their use. A folder already
// moved away is simply gone.
struct RemovedFolders {
  std::vector<std::string> paths;
  RemovedFolders() = default;
  explicit RemovedFolders(std::string path) : paths{std::move(path)} {}
  RemovedFolders(const RemovedFolders&) = delete;
  RemovedFolders& operator=(const RemovedFolders&) = delete;
  ~RemovedFolders() {
    std::error_code ec;  // a destructor must not throw: what cannot be removed stays
    for (const auto& p : paths) std::filesystem::remove_all(p, ec);
  }
};

}  // namespace mtfcdd
