// The eight defect types. Each painter gives its type a look of its own (shape, edge, shading, colour), so
// that the type can be told from appearance alone, and reports exactly which pixels it made defective.
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "rng.hpp"
#include "scenes.hpp"

namespace mtfcdd::synth {

// What a painter returns; every image is the scene's size.
struct Stroke {
  cv::Mat3f paint;      // the defect's look (a copy of the scene where it leaves pixels alone)
  cv::Mat1f alpha;      // how strongly `paint` replaces the scene
  cv::Mat1b footprint;  // 255 on the defect's pixels
};

constexpr float kReachMargin = 4;  // px at 128 px: line widths, anti-aliasing, shadows

struct DefectType {
  const char* name;
  const char* display;
  float min_radius, max_radius;  // the defect's extent around its centre, for a 128 px image
  float inset;  // the centre lies at least inset * radius inside the object (small: may cross the edge)
  float reach;  // the painter changes no pixel farther than reach * radius + kReachMargin * scale from the centre
  bool removes_material;  // the defect takes the object away where it paints (a missing part)
  Stroke (*paint)(const Scene&, cv::Point2f centre, float radius, Rng&);
};

// pit, deformation, abrasion, scratch, damage, missing_parts, foreign_object, contamination.
const std::vector<DefectType>& defect_types();
// Index in defect_types(), or -1.
int defect_index(const std::string& name);

// Paints the defects of the given types (indices in defect_types()) at random places on the object, so that
// no defect paints over another. Returns one binary mask (0/255) per type: its footprint on the object.
std::vector<cv::Mat1b> add_defects(Scene& scene, const std::vector<int>& types, Rng& rng);

}  // namespace mtfcdd::synth
