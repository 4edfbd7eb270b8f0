// Test-time flip averaging: the network sees the input and its mirror images in one batch, and
// each type's map is the mean of their maps, mirrored back. An ensemble of views at no training
// cost; it lowers the variance of a small from-scratch network's scores (docs/experiments.md).
#pragma once

#include <opencv2/core.hpp>
#include <vector>

#include "bundle.hpp"

namespace mtfcdd {

// The identity view; the others are cv::flip codes (1 horizontal, 0 vertical, -1 both).
constexpr int kNoFlip = 2;

// The views averaged under `mode`, the identity first: 1 (none), 2 (h, v) or 4 (hv).
std::vector<int> flip_views(FlipAverage mode);

// blob [N, C, H, W] -> [V*N, C, H, W]: view v of image i at v*N + i.
cv::Mat flipped_views(const cv::Mat& blob, const std::vector<int>& views);

// maps [V*N, M, u, v] as the network returns them for flipped_views() -> [N, M, u, v]: the mean
// of each image's views, each mirrored back first.
cv::Mat average_views(const cv::Mat& maps, const std::vector<int>& views);

}  // namespace mtfcdd
