// Small pure raster helpers shared by the scene and defect painters. Images are BGR CV_32FC3 in [0, 1].
#pragma once

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <vector>

#include "rng.hpp"

namespace mtfcdd::synth {

inline float clamp01(float x) { return std::min(1.f, std::max(0.f, x)); }

inline float smoothstep(float e0, float e1, float x) {
  const float t = clamp01((x - e0) / (e1 - e0));
  return t * t * (3.f - 2.f * t);
}

inline cv::Vec3f mix(const cv::Vec3f& a, const cv::Vec3f& b, float t) { return a * (1.f - t) + b * t; }

inline float dot(const cv::Point2f& a, const cv::Point2f& b) { return a.x * b.x + a.y * b.y; }

// h, s, v in [0, 1].
cv::Vec3f hsv_to_bgr(float h, float s, float v);
// Hue in [0, 1) of a BGR colour.
float hue_of(const cv::Vec3f& bgr);
inline cv::Vec3f grey(float v) { return {v, v, v}; }

// Coordinates in a frame rotated by `angle` around `centre`: u along the angle, v across it.
struct Frame {
  cv::Point2f centre;
  float cs, sn;
  Frame(cv::Point2f c, float angle) : centre(c), cs(std::cos(angle)), sn(std::sin(angle)) {}
  cv::Point2f local(float x, float y) const {
    const float dx = x - centre.x, dy = y - centre.y;
    return {dx * cs + dy * sn, -dx * sn + dy * cs};
  }
  cv::Point2f to_image(cv::Point2f p) const { return {centre.x + p.x * cs - p.y * sn, centre.y + p.x * sn + p.y * cs}; }
  // A direction given in the frame, in image axes.
  cv::Point2f direction(cv::Point2f d) const { return {d.x * cs - d.y * sn, d.x * sn + d.y * cs}; }
};

// Signed distance (pixels, negative inside) to a box with half sizes (hx, hy) and rounded corners of radius r.
inline float sd_round_box(cv::Point2f p, float hx, float hy, float r) {
  const float qx = std::abs(p.x) - hx + r, qy = std::abs(p.y) - hy + r;
  const float ox = std::max(qx, 0.f), oy = std::max(qy, 0.f);
  return std::sqrt(ox * ox + oy * oy) + std::min(std::max(qx, qy), 0.f) - r;
}

// Anti-aliased coverage of a shape from its signed distance.
inline float coverage(float sd) { return clamp01(0.5f - sd); }

// The pixels within `r` of `c`, clipped to the image.
inline cv::Rect box_around(cv::Point2f c, float r, cv::Size size) {
  const int x0 = std::max(0, static_cast<int>(std::floor(c.x - r))),
            y0 = std::max(0, static_cast<int>(std::floor(c.y - r)));
  const int x1 = std::min(size.width, static_cast<int>(std::ceil(c.x + r)) + 1);
  const int y1 = std::min(size.height, static_cast<int>(std::ceil(c.y + r)) + 1);
  return {x0, y0, std::max(0, x1 - x0), std::max(0, y1 - y0)};
}

// fn(x, y) for every pixel of `roi`, row by row.
template <class Fn>
void for_each_pixel(const cv::Rect& roi, Fn&& fn) {
  for (int y = roi.y; y < roi.y + roi.height; ++y)
    for (int x = roi.x; x < roi.x + roi.width; ++x) fn(x, y);
}

// Smooth value noise in about [-1, 1] with features of about `cell` pixels.
cv::Mat1f value_noise(cv::Size size, float cell, Rng& rng);
// Independent Gaussian noise with standard deviation `sigma`, one value per pixel and channel.
cv::Mat gaussian_noise(cv::Size size, int type, float sigma, Rng& rng);

// A smooth 1-D random profile, sampled at any real position (e.g. turning rings, wood grain).
class Profile {
 public:
  Profile(int length, float cell, Rng& rng);
  float operator()(float t) const;

 private:
  std::vector<float> knots_;
  float cell_;
};

}  // namespace mtfcdd::synth
