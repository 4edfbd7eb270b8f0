// Inspection overlay (the paper's Figure 2): the frame with each defect type's heatmap in its own colour,
// contours at the pixel threshold in force on the frame and a legend with the verdict.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vision_plugin.h"

namespace mtfcdd::host {

struct OverlayType {
  std::string name;
  float score = 0, probability = 0;
  bool decision = false;
  cv::Mat heatmap;            // CV_32F (other single-channel depths are converted), any size; upsampled bilinearly
  float pixel_threshold = 0;  // contour level on the heatmap values
  // The type's own pixel threshold, which a share of the map's peak may have raised to
  // pixel_threshold: the tint's scale, so that raising the contour does not fade the map.
  float configured_pixel_threshold = 0;
};

// The overlay types of a plugin's frame result, in its order: each type's frame-sized map
// (heatmap_full) when the plugin made one, else the model's (heatmap), else none. The maps point
// into the result's memory: draw them while it lives. A NULL name becomes "".
std::vector<OverlayType> overlay_types(const VpFrameResult& f);

// Where render_overlay puts things; useful to map canvas clicks back to frame pixels.
struct OverlayLayout {
  cv::Size canvas;     // the whole output image
  cv::Rect frame;      // the frame, always at (0, 0) in its own size
  cv::Rect legend;     // the legend strip: right of the frame, or below it when the frame is narrower than the legend
  double font_scale = 1;
  int thickness = 1;   // text stroke
  int line_height = 0; // one legend row
};

// The layout render_overlay uses for a frame of `frame_size` with these types and action.
OverlayLayout overlay_layout(cv::Size frame_size, const std::vector<OverlayType>& types, const std::string& action);

// Returns a BGR image of the frame's size plus a legend strip on the right (or below for narrow frames; the canvas
// grows to fit a legend taller or wider than the frame). For each type with decision == true (or all types when
// show_all) its map is normalised (value / max(configured_pixel_threshold * 2, map max): a map that barely passes
// its threshold looks faint), coloured with the type's colour with alpha proportional to the value (at most 0.6),
// and contoured at the pixel threshold (the plugin's, in force on the frame) in the same colour (2 px).
// Pixels where no drawn map is positive keep the frame's values. The legend lists every type: colour swatch (filled
// when its map is drawn), name, p as percent, and "DEFECT" / "ok"; a header gives the overall verdict and the action.
// `frame` is 8-bit gray, BGR or BGRA; throws std::runtime_error on other frames or on a multi-channel heatmap.
cv::Mat render_overlay(const cv::Mat& frame, const std::vector<OverlayType>& types, const std::string& action,
                       bool show_all = false);

// The same maps and contours drawn into `image` itself (8-bit BGR, changed in place), for hosts that cannot grow
// the frame (an in-place video filter): the legend sits in the top-left corner over the frame, lists only the
// types whose maps are drawn, and its text shrinks (down to a legible minimum) to take at most the frame's width
// and half its height; what still does not fit is clipped. Throws std::runtime_error on other frame types.
void draw_overlay_in_frame(cv::Mat& image, const std::vector<OverlayType>& types, const std::string& action,
                           bool show_all = false);

// A fixed, distinguishable palette (12 colours, then cycling), BGR.
cv::Scalar type_colour(size_t index);

}  // namespace mtfcdd::host
