#include <mtfcdd/preprocess.hpp>

#include <opencv2/imgproc.hpp>
#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace mtfcdd {

cv::Rect input_placement(cv::Size image, const BundleManifest& m) {
  const cv::Rect all(0, 0, m.input_width, m.input_height);
  if (m.resize != Resize::Fit || image.empty()) return all;
  const double s = std::min(static_cast<double>(m.input_width) / image.width,
                            static_cast<double>(m.input_height) / image.height);
  const int w = std::clamp(static_cast<int>(std::lround(image.width * s)), 1, m.input_width);
  const int h = std::clamp(static_cast<int>(std::lround(image.height * s)), 1, m.input_height);
  return {(m.input_width - w) / 2, (m.input_height - h) / 2, w, h};
}

cv::Mat resize_to_input(const cv::Mat& image, const BundleManifest& m) {
  const cv::Rect at = input_placement(image.size(), m);
  cv::Mat sized = image;
  if (image.size() != at.size()) cv::resize(image, sized, at.size(), 0, 0, cv::INTER_AREA);
  if (at.size() == cv::Size(m.input_width, m.input_height)) return sized;
  cv::Mat filled;
  cv::copyMakeBorder(sized, filled, at.y, m.input_height - at.y - at.height, at.x, m.input_width - at.x - at.width,
                     cv::BORDER_REFLECT_101);
  return filled;
}

cv::Mat input_to_image(const cv::Mat& at_input, cv::Size image, const BundleManifest& m, cv::Size out) {
  if (out.empty()) out = image;
  const cv::Mat placed = at_input(input_placement(image, m));
  if (placed.size() == out) return placed.clone();
  cv::Mat sized;
  cv::resize(placed, sized, out, 0, 0, cv::INTER_LINEAR);
  return sized;
}

cv::Mat make_blob(const std::vector<cv::Mat>& images, const BundleManifest& m) {
  const int n = static_cast<int>(images.size()), h = m.input_height, w = m.input_width;
  cv::Mat blob(std::vector<int>{n, 3, h, w}, CV_32F);
  for (int i = 0; i < n; ++i) {
    const cv::Mat& img = images[i];
    if (img.empty()) throw std::invalid_argument("image " + std::to_string(i) + " is empty");
    if (img.depth() != CV_8U || (img.channels() != 1 && img.channels() != 3 && img.channels() != 4))
      throw std::invalid_argument("image " + std::to_string(i) +
                                  " is not 8-bit gray, BGR or BGRA");
    cv::Mat bgr;
    if (img.channels() == 1) cv::cvtColor(img, bgr, cv::COLOR_GRAY2BGR);
    else if (img.channels() == 4) cv::cvtColor(img, bgr, cv::COLOR_BGRA2BGR);
    else bgr = img;
    const cv::Mat sized = resize_to_input(bgr, m);
    cv::Mat planes[3];
    cv::split(sized, planes);  // B, G, R
    for (int c = 0; c < 3; ++c) {
      const int src = m.channel_order == ChannelOrder::RGB ? 2 - c : c;
      cv::Mat dst(h, w, CV_32F, blob.ptr<float>(i, c));
      planes[src].convertTo(dst, CV_32F, 1.0 / m.std[c], -m.mean[c] / m.std[c]);
    }
  }
  return blob;
}

}  // namespace mtfcdd
