#include <mtfcdd/flip_average.hpp>


namespace mtfcdd {
namespace {

// Plane (n, c) of a 4-D float32 Mat, sharing its data.
cv::Mat plane(const cv::Mat& m, int n, int c) {
  return cv::Mat(m.size[2], m.size[3], CV_32F, const_cast<float*>(m.ptr<float>(n, c)));
}

void mirror(const cv::Mat& src, cv::Mat dst, int view) {
  if (view == kNoFlip) src.copyTo(dst);
  else cv::flip(src, dst, view);
}

}  // namespace

std::vector<int> flip_views(FlipAverage mode) {
  switch (mode) {
    case FlipAverage::None: return {kNoFlip};
    case FlipAverage::H: return {kNoFlip, 1};
    case FlipAverage::V: return {kNoFlip, 0};
    case FlipAverage::HV: return {kNoFlip, 1, 0, -1};
  }
  return {kNoFlip};  // unreachable: every enumerator is handled above
}

cv::Mat flipped_views(const cv::Mat& blob, const std::vector<int>& views) {
  CV_Assert(blob.dims == 4 && blob.type() == CV_32F && blob.isContinuous());
  const int n = blob.size[0], c = blob.size[1], nv = static_cast<int>(views.size());
  cv::Mat out(std::vector<int>{nv * n, c, blob.size[2], blob.size[3]}, CV_32F);
  for (int v = 0; v < nv; ++v)
    for (int i = 0; i < n; ++i)
      for (int ch = 0; ch < c; ++ch) mirror(plane(blob, i, ch), plane(out, v * n + i, ch), views[v]);
  return out;
}

cv::Mat average_views(const cv::Mat& maps, const std::vector<int>& views) {
  const int nv = static_cast<int>(views.size());
  CV_Assert(maps.dims == 4 && maps.type() == CV_32F && maps.isContinuous() && nv > 0 && maps.size[0] % nv == 0);
  const int n = maps.size[0] / nv, m = maps.size[1];
  cv::Mat out(std::vector<int>{n, m, maps.size[2], maps.size[3]}, CV_32F, cv::Scalar(0));
  cv::Mat back(maps.size[2], maps.size[3], CV_32F);
  for (int v = 0; v < nv; ++v)
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < m; ++k) {
        mirror(plane(maps, v * n + i, k), back, views[v]);
        cv::Mat acc = plane(out, i, k);
        cv::add(acc, back, acc);
      }
  out.convertTo(out, CV_32F, 1.0 / nv);
  return out;
}

}  // namespace mtfcdd
