// Defect-free scenes: one object of a category over a plain background, and the lighting applied last.
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "rng.hpp"

namespace mtfcdd::synth {

struct Scene {
  cv::Mat3f image;       // BGR in [0, 1]: the object over its background
  cv::Mat3f background;  // what the object hides; a missing part shows it
  cv::Mat1f object;      // object coverage in [0, 1], anti-aliased at the edge
  cv::Point2f light;     // unit vector towards the key light, in image axes (y down)
  float scale;           // image size / 128: painters give their sizes for a 128 px image
};

struct Category {
  const char* name;
  // Paints the object over scene.background into scene.image and scene.object.
  void (*paint)(Scene&, Rng&);
};

// disc, brushed_plate, plastic, fabric, pcb, wood.
const std::vector<Category>& categories();
// Index in categories(), or -1.
int category_index(const std::string& name);

// A random pose, size and colour of the category over a random background, under a random light direction.
Scene paint_scene(const Category& category, int size, Rng& rng);

// Global gain, a linear gradient, vignetting and sensor noise, applied to the finished image.
void apply_lighting(cv::Mat3f& image, Rng& rng);

}  // namespace mtfcdd::synth
