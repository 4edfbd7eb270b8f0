// Reads little-endian float32 C-order .npy files (the shared reference tensors).
#pragma once

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace mtfcdd::test {

struct Npy {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline Npy read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  char magic[8];
  f.read(magic, 8);
  if (std::string(magic, 6) != "\x93NUMPY") throw std::runtime_error(path + ": not a .npy file");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint16_t h;
    f.read(reinterpret_cast<char*>(&h), 2);
    hlen = h;
  } else {
    f.read(reinterpret_cast<char*>(&hlen), 4);
  }
  std::string header(hlen, '\0');
  f.read(header.data(), hlen);
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path + ": expected C-order float32");
  Npy out;
  const auto open = header.find('(', header.find("'shape'")), close = header.find(')', open);
  std::string dims = header.substr(open + 1, close - open - 1);
  size_t count = 1;
  for (size_t pos = 0; pos < dims.size();) {
    const size_t comma = std::min(dims.find(',', pos), dims.size());
    const std::string d = dims.substr(pos, comma - pos);
    if (d.find_first_not_of(' ') != std::string::npos) {
      out.shape.push_back(std::stoll(d));
      count *= static_cast<size_t>(out.shape.back());
    }
    pos = comma + 1;
  }
  out.data.resize(count);
  if (!f.read(reinterpret_cast<char*>(out.data.data()), static_cast<std::streamsize>(count * 4)))
    throw std::runtime_error(path + ": truncated");
  return out;
}

}  // namespace mtfcdd::test
