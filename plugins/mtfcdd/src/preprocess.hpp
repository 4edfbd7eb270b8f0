// Images -> the network's input blob, exactly as the bundle's manifest says.
#pragma once

#include <opencv2/core.hpp>
#include <vector>

#include "bundle.hpp"

namespace mtfcdd {

// The one resize between a camera image and the model input, used by the trainer's loader too:
// the network must see at inspection exactly the filtering it was trained on. Area averaging,
// because tiles and parts are mostly shrunk, where bilinear sampling aliases fine texture (the
// Magnetic Tile models lost 0.8-2.8 points of image AUROC while training and inspection differed).
cv::Mat resize_to_input(const cv::Mat& image, int width, int height);

// Accepts 8-bit GRAY, BGR or BGRA images of any size (BGR is OpenCV's order); resizes them with
// resize_to_input, reorders channels, normalises; returns float32 [N, 3, H, W].
// Throws std::invalid_argument for an empty image or an unsupported type.
cv::Mat make_blob(const std::vector<cv::Mat>& images, const BundleManifest& m);

}  // namespace mtfcdd
