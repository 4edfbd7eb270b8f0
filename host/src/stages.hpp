// Built-in preprocessing stages that a pipeline JSON lists, in order, before the detector plugin.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>

namespace mtfcdd::host {

// One built-in stage; the image is 8-bit gray, BGR or BGRA in, 8-bit out (any of those).
// Stages are immutable after parsing, so one instance may serve several threads.
class Stage {
 public:
  virtual ~Stage() = default;
  // Throws std::runtime_error naming the stage when the image does not fit (e.g. crop outside the image).
  // The result may share pixels with `image` (crop returns a view, no-op stages return the input).
  virtual cv::Mat apply(const cv::Mat& image) const = 0;
  virtual std::string name() const = 0;  // the JSON "type", e.g. "crop"
};

// Parses one stage object; `where` is its JSON path for messages (e.g. "stages[2]").
// Unknown "type", unknown keys or bad values -> std::runtime_error naming `where` and the key.
//
//   crop           x, y (>= 0), width, height (> 0)
//   resize         width and/or height (> 0; a missing one keeps the aspect ratio),
//                  interpolation: linear (default) | area | nearest | cubic
//   color          to: gray | bgr
//   clahe          clip (> 0, default 2.0), tile (1..256, default 8); colour: on L of Lab
//   gaussian_blur  sigma (> 0), ksize (odd, default 0 = derived from sigma)
//   normalize      mode: minmax (default, per-image stretch to 0..255) | equalize (colour: on Y of YCrCb)
//   rotate         angle in degrees, counter-clockwise (OpenCV's convention); multiples of 90 are exact,
//                  others rotate about the centre keeping the size, replicating the border
//   flip           axis: horizontal (mirror left-right) | vertical (upside down) | both
std::unique_ptr<Stage> make_stage(const nlohmann::json& spec, const std::string& where);

}  // namespace mtfcdd::host
