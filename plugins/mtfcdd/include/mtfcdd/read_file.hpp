// Reading a whole file, with the system's reason when that fails.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

namespace mtfcdd {

// The bytes of the file at `path`. Throws std::runtime_error "WHAT PATH: CAUSE", the cause as
// the system words it: "No such file or directory", "Permission denied", "Is a directory" (which
// opens, then fails to read), an I/O error while reading.
inline std::string read_file(const std::string& path, const std::string& what) {
  const auto fail = [&](int error) { throw std::runtime_error(what + " " + path + ": " + std::strerror(error)); };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) fail(errno);
  std::string bytes;
  char buffer[1 << 16];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0;) bytes.append(buffer, n);
  if (std::ferror(file.get())) fail(errno);
  return bytes;
}

}  // namespace mtfcdd
