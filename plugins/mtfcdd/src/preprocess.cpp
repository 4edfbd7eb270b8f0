#include "preprocess.hpp"

#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace mtfcdd {

cv::Mat resize_to_input(const cv::Mat& image, int width, int height) {
  if (image.cols == width && image.rows == height) return image;
  cv::Mat sized;
  cv::resize(image, sized, cv::Size(width, height), 0, 0, cv::INTER_AREA);
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
    const cv::Mat sized = resize_to_input(bgr, w, h);
    cv::Mat planes[3];
    cv::split(sized, planes);  // B, G, R
    for (int c = 0; c < 3; ++c) {
      const int src = m.channel_order == "RGB" ? 2 - c : c;
      cv::Mat dst(h, w, CV_32F, blob.ptr<float>(i, c));
      planes[src].convertTo(dst, CV_32F, 1.0 / m.std[c], -m.mean[c] / m.std[c]);
    }
  }
  return blob;
}

}  // namespace mtfcdd
