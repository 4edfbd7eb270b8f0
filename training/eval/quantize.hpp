// int8 and bf16 bundles from float32 ones: each convolution's input range is calibrated on training
// images (the values it meets in use; int8 needs them), the bundle is written, and its maps are
// checked against the float32 bundle's on the same images, the most sensitive convolutions kept in
// float32 until they are close enough.
#pragma once

#include <mtfcdd/bundle.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace mtfcdd {

// Relative L2 distance of the int8 or bf16 maps from float32's above which more convolutions stay
// float32 (by default). For int8, 0.1 lost up to 1.8 points of a type's image AUROC on Magnetic
// Tile's mobilenet_v1 model, 0.05 up to 1.0 on the sample model; 0.03 at most 0.2 on either; bf16
// with every convolution (0.28 on Magnetic Tile) lost 2.8 of a type's AUPRO, 0.03 at most 0.3
// (docs/performance.md).
constexpr double kQuantizeTolerance = 0.03;

struct QuantizeResult {
  size_t images = 0;        // calibration images
  size_t convolutions = 0;  // oneDNN convolutions (each with its input range calibrated)
  // Kept in float32, most sensitive first, to bring the maps within the tolerance.
  std::vector<std::string> float32_convolutions;
  double maps_rel_l2 = 0;  // the bundle against float32, over the calibration images
};

// Writes out_dir (the bundle of in_dir with `precision` int8 or bf16): every convolution in that
// precision when its maps stay within `tolerance` of float32's, else the most sensitive
// convolutions, one at a time, stay float32 until they do. Throws std::runtime_error naming the
// cause (an unreadable image, a bundle not in float32, no AVX512_VNNI or AVX512_BF16, no
// convolution reducible: then out_dir is removed).
QuantizeResult quantize_bundle(const std::string& in_dir, const std::vector<std::string>& images,
                               const std::string& out_dir, int batch = 8, double tolerance = kQuantizeTolerance,
                               Precision precision = Precision::Int8);
// The same on input blobs as make_blob() makes them.
QuantizeResult quantize_bundle(const std::string& in_dir, const std::vector<cv::Mat>& blobs, const std::string& out_dir,
                               double tolerance = kQuantizeTolerance, Precision precision = Precision::Int8);

// `count` of `paths` evenly spaced (all of them when there are fewer), in order.
std::vector<std::string> evenly_spaced(const std::vector<std::string>& paths, size_t count);

}  // namespace mtfcdd
