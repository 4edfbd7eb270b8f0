// int8 bundles from float32 ones: each convolution's input range is calibrated on training images
// (the values it meets in use), the bundle is written with those ranges, and its maps are checked
// against the float32 bundle's on the same images.
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace mtfcdd {

// Relative L2 distance of the int8 maps from float32's above which more convolutions stay float32
// (by default). 0.1 lost up to 1.8 points of a type's image AUROC on Magnetic Tile's mobilenet_v1
// model, 0.05 up to 1.0 on the sample model; 0.03 at most 0.2 on either (docs/performance.md).
constexpr double kInt8Tolerance = 0.03;

struct QuantizeResult {
  size_t images = 0;        // calibration images
  size_t convolutions = 0;  // ranges calibrated
  // Kept in float32, most sensitive first, to bring the maps within the tolerance.
  std::vector<std::string> float32_convolutions;
  double maps_rel_l2 = 0;  // the bundle against float32, over the calibration images
};

// Writes out_dir (the bundle of in_dir with precision int8): every convolution in int8 when its
// maps stay within `tolerance` of float32's, else the most sensitive convolutions, one at a time,
// stay float32 until they do. Throws std::runtime_error naming the cause (an unreadable image, a
// bundle not in float32, no AVX512_VNNI, no convolution quantizable: then out_dir is removed).
QuantizeResult quantize_bundle(const std::string& in_dir, const std::vector<std::string>& images,
                               const std::string& out_dir, int batch = 8, double tolerance = kInt8Tolerance);
// The same on input blobs as make_blob() makes them.
QuantizeResult quantize_bundle(const std::string& in_dir, const std::vector<cv::Mat>& blobs, const std::string& out_dir,
                               double tolerance = kInt8Tolerance);

// `count` of `paths` evenly spaced (all of them when there are fewer), in order.
std::vector<std::string> evenly_spaced(const std::vector<std::string>& paths, size_t count);

}  // namespace mtfcdd
