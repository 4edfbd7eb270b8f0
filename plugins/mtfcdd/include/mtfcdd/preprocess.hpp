// Images -> the network's input blob, exactly as the bundle's manifest says, and the network's
// maps back onto the image.
#pragma once

#include <opencv2/core.hpp>
#include <vector>

#include "bundle.hpp"

namespace mtfcdd {

// Where an image of `image` size lands in the manifest's input: the whole input for "stretch";
// for "fit" the image scaled alike on both axes until it touches two opposite sides, centred.
cv::Rect input_placement(cv::Size image, const BundleManifest& m);

// The one resize between a camera image and the model input, used by the trainer's loader too:
// the network must see at inspection exactly the filtering it was trained on. Area averaging,
// because tiles and parts are mostly shrunk, where bilinear sampling aliases fine texture (the
// Magnetic Tile models lost 0.8-2.8 points of image AUROC while training and inspection differed).
// "fit" fills the input around the placed image by mirroring it (OpenCV's BORDER_REFLECT_101): the
// filling looks like more of the part, not like an edge, and a defect mirrored into it keeps its
// share of the map, so the image score z (the map's mean) needs no mask.
cv::Mat resize_to_input(const cv::Mat& image, const BundleManifest& m);

// A map at the model's input size, cut to where an image of `image` size was placed and scaled
// (bilinear) to `out`, by default the image's size.
cv::Mat input_to_image(const cv::Mat& at_input, cv::Size image, const BundleManifest& m, cv::Size out = {});

// Accepts 8-bit GRAY, BGR or BGRA images of any size (BGR is OpenCV's order); resizes them with
// resize_to_input, reorders channels, normalises; returns float32 [N, 3, H, W].
// Throws std::invalid_argument for an empty image or an unsupported type.
cv::Mat make_blob(const std::vector<cv::Mat>& images, const BundleManifest& m);

}  // namespace mtfcdd
