#include "figure.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace mtfcdd {
namespace {

using L = FigureLayout;
const cv::Scalar kBlack(0, 0, 0), kWhite(255, 255, 255);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kPercentile = 0.99;
constexpr double kHeatWeight = 0.65;  // the rest is the grayscale image, so its structure stays visible

// Writes `text` with its baseline at `org`, shrunk until it fits max_width (long type names);
// centred in max_width when asked.
void put_fitted(cv::Mat& img, const std::string& text, cv::Point org, int max_width, double scale,
                const cv::Scalar& colour, bool centred = false) {
  int baseline = 0;
  int width = cv::getTextSize(text, kFont, scale, 1, &baseline).width;
  if (width > max_width) {
    scale *= static_cast<double>(max_width) / width;
    width = max_width;
  }
  if (centred) org.x += (max_width - width) / 2;
  cv::putText(img, text, org, kFont, scale, colour, 1, cv::LINE_AA);
}

// White text with a black outline, readable over any heat colour.
void put_outlined(cv::Mat& img, const std::string& text, cv::Point org) {
  cv::putText(img, text, org, kFont, 0.4, kBlack, 3, cv::LINE_AA);
  cv::putText(img, text, org, kFont, 0.4, kWhite, 1, cv::LINE_AA);
}

double max_z(const ImageScores& s) { return *std::max_element(s.z.begin(), s.z.end()); }

// Indices into scores, in the row order heatmap_figure documents.
std::vector<size_t> choose_rows(const std::vector<ImageScores>& scores, size_t types, int rows_per_type) {
  std::vector<size_t> rows;
  std::vector<bool> shown(scores.size(), false);
  for (size_t k = 0; k < types; ++k) {
    std::vector<size_t> cand;
    for (size_t i = 0; i < scores.size(); ++i) {
      const auto& t = scores[i].sample->types;
      if (!shown[i] && std::find(t.begin(), t.end(), static_cast<int>(k)) != t.end()) cand.push_back(i);
    }
    std::stable_sort(cand.begin(), cand.end(), [&](size_t a, size_t b) { return scores[a].z[k] > scores[b].z[k]; });
    cand.resize(std::min(cand.size(), static_cast<size_t>(rows_per_type)));
    for (size_t i : cand) {
      rows.push_back(i);
      shown[i] = true;
    }
  }
  std::vector<size_t> normal;
  for (size_t i = 0; i < scores.size(); ++i)
    if (scores[i].sample->types.empty()) normal.push_back(i);
  std::stable_sort(normal.begin(), normal.end(),
                   [&](size_t a, size_t b) { return max_z(scores[a]) < max_z(scores[b]); });
  if (!normal.empty()) rows.push_back(normal[(normal.size() - 1) / 2]);
  return rows;
}

// The shared colour scale: the 99th percentile (nearest rank) of every shown map value. Falls back
// to the maximum when most of the maps are 0 (sparse firing would otherwise saturate), and to 1
// when nothing fires at all, so that everything stays dark.
double colour_scale(const std::vector<ImageScores>& scores, const std::vector<size_t>& rows) {
  std::vector<float> values;
  for (size_t i : rows)
    for (const cv::Mat& m : scores[i].maps) {
      cv::Mat f;
      m.convertTo(f, CV_32F);
      values.insert(values.end(), f.begin<float>(), f.end<float>());
    }
  const auto nth = values.begin() + static_cast<std::ptrdiff_t>(kPercentile * (values.size() - 1));
  std::nth_element(values.begin(), nth, values.end());
  double scale = *nth;
  if (!(scale > 0)) scale = *std::max_element(values.begin(), values.end());
  return scale > 0 ? scale : 1.0;
}

// The outline of the mask's defect pixels (defect_pixels) at the cell size.
std::vector<std::vector<cv::Point>> mask_contours(const std::string& path) {
  cv::Mat defect;
  cv::resize(read_defect_mask(path), defect, cv::Size(L::kCell, L::kCell), 0, 0, cv::INTER_NEAREST);
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(defect, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  return contours;
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

cv::Mat heatmap_figure(const std::vector<ImageScores>& scores, const std::vector<std::string>& type_names,
                       int rows_per_type, const Upsampler& upsampler) {
  const size_t m = type_names.size();
  if (scores.empty()) throw std::invalid_argument("heatmap_figure: no scored images");
  if (m == 0) throw std::invalid_argument("heatmap_figure: no type names");
  if (rows_per_type < 1) throw std::invalid_argument("heatmap_figure: rows per type must be >= 1");
  for (const ImageScores& s : scores) {
    const bool maps_ok = s.maps.size() == m && std::none_of(s.maps.begin(), s.maps.end(),
                                                            [](const cv::Mat& a) { return a.empty(); });
    const bool types_ok = s.sample && std::all_of(s.sample->types.begin(), s.sample->types.end(),
                                                  [&](int t) { return t >= 0 && static_cast<size_t>(t) < m; });
    if (!types_ok || s.z.size() != m || !maps_ok)
      throw std::invalid_argument("heatmap_figure: every image needs a sample with type indices below " +
                                  std::to_string(m) + " and " + std::to_string(m) +
                                  " scores and maps (one per type)" +
                                  (s.sample ? " (" + s.sample->image + " has not)" : ""));
  }

  const std::vector<size_t> rows = choose_rows(scores, m, rows_per_type);
  const double scale = colour_scale(scores, rows);
  const int cols = static_cast<int>(m) + 1;
  const cv::Size cell(L::kCell, L::kCell);
  cv::Mat fig(L::kHeader + static_cast<int>(rows.size()) * L::kCell + L::kFooter,
              L::kLabelWidth + cols * L::kCell, CV_8UC3, kWhite);

  const int header_base = L::kHeader - 9;
  put_fitted(fig, "image", {L::kLabelWidth, header_base}, L::kCell, 0.5, kBlack, true);
  for (size_t k = 0; k < m; ++k)
    put_fitted(fig, type_names[k], {L::kLabelWidth + static_cast<int>(k + 1) * L::kCell, header_base}, L::kCell - 4,
               0.5, kBlack, true);

  for (size_t r = 0; r < rows.size(); ++r) {
    const ImageScores& s = scores[rows[r]];
    const int top = L::kHeader + static_cast<int>(r) * L::kCell;

    // Left label: the true type(s), one per line.
    std::vector<std::string> label;
    for (int t : s.sample->types) label.push_back(type_names.at(static_cast<size_t>(t)));
    if (label.empty()) label.push_back("normal");
    for (size_t j = 0; j < label.size(); ++j)
      put_fitted(fig, label[j], {6, top + 22 + static_cast<int>(j) * 18}, L::kLabelWidth - 10, 0.5, kBlack);

    const cv::Mat image = cv::imread(s.sample->image, cv::IMREAD_COLOR);
    if (image.empty()) throw std::runtime_error("heatmap_figure: cannot read image " + s.sample->image);
    // The image squashed into the cell, and each map's part that covers the image likewise, so
    // they line up for "stretch" and "fit" inputs alike.
    cv::Mat bgr, gray, gray_bgr;
    cv::resize(image, bgr, cell, 0, 0, cv::INTER_AREA);
    bgr.copyTo(fig(cv::Rect(L::kLabelWidth, top, L::kCell, L::kCell)));
    cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
    cv::cvtColor(gray, gray_bgr, cv::COLOR_GRAY2BGR);

    for (size_t k = 0; k < m; ++k) {
      cv::Mat up, level, heat;
      if (s.placed.empty())
        up = upsampler(s.maps[k], cell, k);
      else
        cv::resize(upsampler(s.maps[k], s.input, k)(s.placed), up, cell, 0, 0, cv::INTER_LINEAR);
      up.convertTo(level, CV_8U, 255.0 / scale);  // saturates above the scale
      cv::applyColorMap(level, heat, cv::COLORMAP_INFERNO);
      cv::Mat out = fig(cv::Rect(L::kLabelWidth + static_cast<int>(k + 1) * L::kCell, top, L::kCell, L::kCell));
      cv::addWeighted(heat, kHeatWeight, gray_bgr, 1.0 - kHeatWeight, 0, out);
      const auto mask = s.sample->masks.find(static_cast<int>(k));
      if (mask != s.sample->masks.end()) cv::drawContours(out, mask_contours(mask->second), -1, kWhite, 1, cv::LINE_8);
      put_outlined(out, "z " + fmt("%.3g", s.z[k]), {4, L::kCell - 6});
    }
  }

  const int foot = L::kHeader + static_cast<int>(rows.size()) * L::kCell;
  const std::string split = scores.front().sample->split;
  const bool has_normal = !rows.empty() && scores[rows.back()].sample->types.empty();
  put_fitted(fig, "colour scale: 0 .. " + fmt("%.4g", scale) + " (A_k), shared by all cells; white: ground-truth mask",
             {6, foot + 19}, fig.cols - 12, 0.45, kBlack);
  put_fitted(fig, "per type: its highest-scoring " + split + " images" +
                      (has_normal ? "; normal: the median by max over types of z" : ""),
             {6, foot + 39}, fig.cols - 12, 0.45, kBlack);
  return fig;
}

}  // namespace mtfcdd
