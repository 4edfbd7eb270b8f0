#include "augment.hpp"

#include <cmath>
#include <opencv2/imgproc.hpp>

namespace mtfcdd {
namespace {

// Uniform in [-1, 1] from raw engine bits, identical across standard libraries.
double symmetric(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53 * 2 - 1; }

}  // namespace

cv::Mat augment(const cv::Mat& image, const AugmentConfig& cfg, std::mt19937_64& rng) {
  if ((symmetric(rng) + 1) / 2 >= cfg.probability) return image;
  const double angle = symmetric(rng) * cfg.max_rotation_deg;
  const double dx = symmetric(rng) * cfg.max_shift_px, dy = symmetric(rng) * cfg.max_shift_px;
  const double gain = 1 + symmetric(rng) * cfg.max_contrast;
  const double offset = symmetric(rng) * cfg.max_brightness;
  const cv::Point2f centre(image.cols / 2.f, image.rows / 2.f);
  cv::Mat m = cv::getRotationMatrix2D(centre, angle, 1.0);
  // Drawn last and only when enabled, so runs without flips, stretch or scale keep their seeded draws.
  const bool h = cfg.flip_horizontal && symmetric(rng) < 0;
  const bool v = cfg.flip_vertical && symmetric(rng) < 0;
  // A factor log-uniform in [1/(1+s), 1].
  const auto shrink = [&](double s) { return std::exp(-(symmetric(rng) + 1) / 2 * std::log1p(s)); };
  if (cfg.max_stretch > 0 || cfg.max_scale > 0) {
    double sx = 1, sy = 1;
    if (cfg.max_stretch > 0) {
      sx = shrink(cfg.max_stretch);
      sy = shrink(cfg.max_stretch);
    }
    if (cfg.max_scale > 0) {
      const double f = shrink(cfg.max_scale);
      sx *= f;
      sy *= f;
    }
    // Rotation after the stretch, both about the centre: the translation column is recomputed.
    for (int r = 0; r < 2; ++r) {
      m.at<double>(r, 0) *= sx;
      m.at<double>(r, 1) *= sy;
      m.at<double>(r, 2) = (r ? centre.y : centre.x) - m.at<double>(r, 0) * centre.x - m.at<double>(r, 1) * centre.y;
    }
  }
  m.at<double>(0, 2) += dx;
  m.at<double>(1, 2) += dy;
  cv::Mat warped, out;
  // Reflect rather than fill black: a black corner would look like a defect.
  cv::warpAffine(image, warped, m, image.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT_101);
  // Contrast around mid-grey, then brightness; saturating to 0..255.
  warped.convertTo(out, -1, gain, offset + 127.5 * (1 - gain));
  if (h || v) cv::flip(out, out, h && v ? -1 : (h ? 1 : 0));
  return out;
}

}  // namespace mtfcdd
