// A figure of per-type heatmaps on scored images, like the FCDD paper's: one row per chosen image,
// the input image, then one cell per defect type with that type's map A_k blended over the
// grayscale image and the type's ground-truth mask outlined. No torch here.
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "evaluate.hpp"

namespace mtfcdd {

// The figure's geometry in pixels: width = kLabelWidth + (1 + types) * kCell,
// height = kHeader + rows * kCell + kFooter.
struct FigureLayout {
  static constexpr int kCell = 160;        // every image / heatmap cell is kCell x kCell
  static constexpr int kLabelWidth = 140;  // left column: the row's true type(s), or "normal"
  static constexpr int kHeader = 28;       // top row: "image" and the type names
  static constexpr int kFooter = 48;       // two lines: the colour scale and how rows were chosen
};

// Rows, in order: for each type k, the rows_per_type images having type k with the highest z_k
// (ties: split order), skipping images already shown for an earlier type; then one normal image,
// the one with the median (lower median) of max_k z_k, when the scores hold a normal image.
// Cells: the image read with cv::imread (IMREAD_COLOR) and resized to the cell like the model's
// input; per type, A_k upsampled to the cell by `upsampler` (the bundle's, as the detector draws
// it; default bilinear), divided by one scale shared by the whole
// figure (the 99th percentile of the shown rows' map values, so a type that does not fire stays
// dark), colour-mapped with INFERNO and blended over the grayscale image, its z_k written in the
// corner and the outline of the image's mask for that type (defect_pixels) drawn in white.
// Returns a CV_8UC3 BGR image. Throws std::invalid_argument when scores is empty, when
// rows_per_type < 1, or when an entry's z or maps does not have one entry per type;
// std::runtime_error naming the file of an unreadable image or mask.
cv::Mat heatmap_figure(const std::vector<ImageScores>& scores, const std::vector<std::string>& type_names,
                       int rows_per_type = 1, const Upsampler& upsampler = Upsampler{});

}  // namespace mtfcdd
