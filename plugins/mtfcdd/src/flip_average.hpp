// Test-time flip averaging: the network sees the input and its mirror images in one batch, and
// each type's map is the mean of their maps, mirrored back. An ensemble of views at no training
// cost; it lowers the variance of a small from-scratch network's scores (docs/experiments.md).
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace mtfcdd {

// The identity view; the others are cv::flip codes (1 horizontal, 0 vertical, -1 both).
constexpr int kNoFlip = 2;

// The modes this build implements: none, h (2 views), v (2) or hv (all 4).
inline const std::vector<std::string> kFlipAverageModes{"none", "h", "v", "hv"};

// Whether `mode` is one of kFlipAverageModes.
bool is_flip_average_mode(const std::string& mode);

// The views averaged under `mode`, the identity first. Throws std::invalid_argument on an unknown mode.
std::vector<int> flip_views(const std::string& mode);

// blob [N, C, H, W] -> [V*N, C, H, W]: view v of image i at v*N + i.
cv::Mat flipped_views(const cv::Mat& blob, const std::vector<int>& views);

// maps [V*N, M, u, v] as the network returns them for flipped_views() -> [N, M, u, v]: the mean
// of each image's views, each mirrored back first.
cv::Mat average_views(const cv::Mat& maps, const std::vector<int>& views);

}  // namespace mtfcdd
