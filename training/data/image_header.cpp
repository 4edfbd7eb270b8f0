#include "image_header.hpp"

#include <array>
#include <cstdint>
#include <fstream>

namespace mtfcdd {
namespace {

uint32_t be(const unsigned char* p, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

std::optional<HeaderSize> png_size(std::ifstream& in) {
  std::array<unsigned char, 24> h{};
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(h.data()), h.size())) return std::nullopt;
  const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (!std::equal(sig, sig + 8, h.begin()) || std::string(h.begin() + 12, h.begin() + 16) != "IHDR") return std::nullopt;
  const uint32_t w = be(&h[16], 4), ht = be(&h[20], 4);
  if (w == 0 || ht == 0 || w > 1u << 30 || ht > 1u << 30) return std::nullopt;
  return HeaderSize{static_cast<int>(w), static_cast<int>(ht)};
}

// Walks the JPEG's marker segments up to the first start-of-frame (SOF0..SOF15 but DHT C4, JPG C8
// and DAC CC), which holds the height and width.
std::optional<HeaderSize> jpeg_size(std::ifstream& in) {
  unsigned char b[9];
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(b), 2) || b[0] != 0xFF || b[1] != 0xD8) return std::nullopt;
  for (int segments = 0; segments < 1000; ++segments) {
    if (!in.read(reinterpret_cast<char*>(b), 4) || b[0] != 0xFF) return std::nullopt;
    const unsigned char marker = b[1];
    const uint32_t len = be(&b[2], 2);
    if (len < 2) return std::nullopt;
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (!in.read(reinterpret_cast<char*>(b), 5)) return std::nullopt;
      const uint32_t h = be(&b[1], 2), w = be(&b[3], 2);
      if (w == 0 || h == 0) return std::nullopt;
      return HeaderSize{static_cast<int>(w), static_cast<int>(h)};
    }
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;  // end of image or scan data before any frame
    in.seekg(len - 2, std::ios::cur);
  }
  return std::nullopt;
}

}  // namespace

std::optional<HeaderSize> image_header_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  if (auto s = png_size(in)) return s;
  in.clear();
  return jpeg_size(in);
}

}  // namespace mtfcdd
