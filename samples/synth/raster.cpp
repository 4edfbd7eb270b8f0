#include "raster.hpp"

#include <opencv2/imgproc.hpp>

namespace mtfcdd::synth {

cv::Vec3f hsv_to_bgr(float h, float s, float v) {
  cv::Mat3f px(1, 1, cv::Vec3f(360.f * (h - std::floor(h)), s, v)), out;
  cv::cvtColor(px, out, cv::COLOR_HSV2BGR);
  return out(0, 0);
}

float hue_of(const cv::Vec3f& bgr) {
  cv::Mat3f px(1, 1, bgr), out;
  cv::cvtColor(px, out, cv::COLOR_BGR2HSV);
  return out(0, 0)[0] / 360.f;
}

cv::Mat1f value_noise(cv::Size size, float cell, Rng& rng) {
  const cv::Size grid(static_cast<int>(size.width / cell) + 2, static_cast<int>(size.height / cell) + 2);
  cv::Mat1f knots(grid), out;
  for (float& v : knots) v = rng.uniformf(-1.0, 1.0);
  cv::resize(knots, out, size, 0, 0, cv::INTER_CUBIC);
  return out;
}

cv::Mat gaussian_noise(cv::Size size, int type, float sigma, Rng& rng) {
  cv::Mat out(size, type);
  cv::RNG cv_rng(rng.bits());
  cv_rng.fill(out, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(sigma));
  return out;
}

Profile::Profile(int length, float cell, Rng& rng) : knots_(static_cast<size_t>(length / cell) + 3), cell_(cell) {
  for (float& k : knots_) k = static_cast<float>(rng.normal());
}

float Profile::operator()(float t) const {
  const float p = std::min(std::max(t / cell_, 0.f), static_cast<float>(knots_.size() - 2));
  const size_t i = static_cast<size_t>(p);
  return knots_[i] + (knots_[i + 1] - knots_[i]) * smoothstep(0.f, 1.f, p - i);
}

}  // namespace mtfcdd::synth
