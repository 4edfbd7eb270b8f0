// An image's size from its file header (PNG, JPEG), without decoding it: how a dataset of 150,000
// records is checked in seconds, not minutes. No torch here.
#pragma once

#include <optional>
#include <string>

namespace mtfcdd {

struct HeaderSize {
  int width = 0, height = 0;
};

// The size a PNG's IHDR or a JPEG's SOF marker declares; nullopt when the file is neither (or its
// header is cut short or malformed), so that the caller decodes it instead.
std::optional<HeaderSize> image_header_size(const std::string& path);

}  // namespace mtfcdd
