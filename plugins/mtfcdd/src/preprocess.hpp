// Images -> the network's input blob, exactly as the bundle's manifest says.
#pragma once

#include <opencv2/core.hpp>
#include <vector>

#include "bundle.hpp"

namespace mtfcdd {

// Accepts 8-bit GRAY, BGR or BGRA images of any size (BGR is OpenCV's order); resizes
// bilinearly to the model input, reorders channels, normalises; returns float32 [N, 3, H, W].
// Throws std::invalid_argument for an empty image or an unsupported type.
cv::Mat make_blob(const std::vector<cv::Mat>& images, const BundleManifest& m);

}  // namespace mtfcdd
