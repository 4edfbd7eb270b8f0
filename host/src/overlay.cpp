#include "overlay.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "vision_plugin.hpp"

namespace mtfcdd::host {
namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr float kMaxAlpha = 0.6f;
constexpr int kContourThickness = 2;
constexpr size_t kMaxNameChars = 28;  // keeps one odd long name from widening the legend for every frame
constexpr double kMinInFrameScale = 0.25;  // below this Hershey text is no longer legible
const cv::Scalar kLegendBackground(32, 32, 32);
const cv::Scalar kText(235, 235, 235);
const cv::Scalar kDim(150, 150, 150);
const cv::Scalar kDefect(70, 70, 255);
const cv::Scalar kOk(110, 210, 110);

struct Row {
  std::string name, percent, status;
  size_t colour;  // the type's index, which picks its colour
};

// The legend's text, computed once for layout and drawing so both agree.
struct LegendText {
  std::string verdict, action;
  std::vector<Row> rows;
};

// Rows for every type, or only for those `drawn` when given.
LegendText legend_text(const std::vector<OverlayType>& types, const std::string& action,
                       const std::vector<bool>* drawn = nullptr) {
  LegendText t;
  bool any = false;
  for (size_t i = 0; i < types.size(); ++i) {
    const OverlayType& type = types[i];
    any = any || type.decision;
    if (drawn && !(*drawn)[i]) continue;
    std::string name = type.name.size() > kMaxNameChars ? type.name.substr(0, kMaxNameChars - 3) + "..." : type.name;
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * type.probability);
    t.rows.push_back({name, pct, type.decision ? "DEFECT" : "ok", i});
  }
  t.verdict = any ? "DEFECT" : "OK";
  t.action = action.empty() ? "" : "  action: " + action;
  return t;
}

struct Metrics {
  double scale;
  int thick, text_h, baseline, line_h, pad, gap, swatch;
  int width(const std::string& s) const {
    int base = 0;
    return s.empty() ? 0 : cv::getTextSize(s, kFont, scale, thick, &base).width;
  }
};

Metrics metrics_at(double scale) {
  Metrics m{};
  m.scale = scale;
  m.thick = std::max(1, static_cast<int>(std::lround(m.scale * 1.4)));
  m.text_h = cv::getTextSize("Ag", kFont, m.scale, m.thick, &m.baseline).height;
  m.gap = std::max(3, m.text_h / 2);
  m.line_h = m.text_h + m.baseline + m.gap;
  m.pad = m.gap;
  m.swatch = m.text_h + m.baseline / 2;
  return m;
}

// Scale with the frame's linear size, clamped so 64 px frames stay legible and 2000 px ones are not dwarfed.
double frame_scale(cv::Size frame) { return std::clamp(std::sqrt(double(frame.area())) / 900.0, 0.42, 3.0); }

Metrics metrics(cv::Size frame) { return metrics_at(frame_scale(frame)); }

// Column x offsets within the legend and its size.
struct Columns {
  int name, percent_right, status, width, height;
};

Columns columns(const Metrics& m, const LegendText& t) {
  int name_w = 0, pct_w = 0, status_w = 0;
  for (const auto& r : t.rows) {
    name_w = std::max(name_w, m.width(r.name));
    pct_w = std::max(pct_w, m.width(r.percent));
    status_w = std::max(status_w, m.width(r.status));
  }
  Columns c{};
  c.name = m.pad + m.swatch + m.gap;
  c.percent_right = c.name + name_w + 2 * m.gap + pct_w;
  c.status = c.percent_right + 2 * m.gap;
  const int rows_w = t.rows.empty() ? 0 : c.status + status_w + m.pad;
  const int header_w = 2 * m.pad + m.width(t.verdict) + m.width(t.action);
  c.width = std::max(rows_w, header_w);
  c.height = 2 * m.pad + m.line_h + m.gap + static_cast<int>(t.rows.size()) * m.line_h;
  return c;
}

OverlayLayout layout_for(cv::Size frame, const Metrics& m, const Columns& c) {
  OverlayLayout l;
  l.frame = cv::Rect(cv::Point(0, 0), frame);
  l.font_scale = m.scale;
  l.thickness = m.thick;
  l.line_height = m.line_h;
  if (frame.width >= c.width) {
    l.canvas = cv::Size(frame.width + c.width, std::max(frame.height, c.height));
    l.legend = cv::Rect(frame.width, 0, c.width, l.canvas.height);
  } else {  // narrow frame: a strip beside it would be mostly legend, so stack it below
    l.canvas = cv::Size(c.width, frame.height + c.height);
    l.legend = cv::Rect(0, frame.height, c.width, c.height);
  }
  return l;
}

cv::Mat to_bgr(const cv::Mat& frame) {
  if (frame.empty()) throw std::runtime_error("render_overlay: empty frame");
  const int cn = frame.channels();
  if (frame.depth() != CV_8U || (cn != 1 && cn != 3 && cn != 4)) {
    throw std::runtime_error("render_overlay: frame must be 8-bit gray, BGR or BGRA, got " +
                             cv::typeToString(frame.type()));
  }
  cv::Mat out;
  if (cn == 3) {
    frame.copyTo(out);  // drawn on below; the caller's frame stays untouched
  } else {
    cv::cvtColor(frame, out, cn == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_BGRA2BGR);
  }
  return out;
}

// The type's map at frame size as an owned CV_32F copy (NaNs patched so max and thresholds behave).
cv::Mat frame_map(const OverlayType& type, cv::Size size) {
  if (type.heatmap.channels() != 1) {
    throw std::runtime_error("render_overlay: heatmap of '" + type.name + "' must be single-channel, got " +
                             cv::typeToString(type.heatmap.type()));
  }
  cv::Mat f = type.heatmap, out;
  if (f.depth() != CV_32F) type.heatmap.convertTo(f, CV_32F);
  if (f.size() != size) {
    cv::resize(f, out, size, 0, 0, cv::INTER_LINEAR);
  } else {
    out = f.data == type.heatmap.data ? f.clone() : f;  // patchNaNs below must not write into the caller's map
  }
  cv::patchNaNs(out, 0);
  return out;
}

// Blends `colour` into `image` with alpha = kMaxAlpha * clamp(map * inv_den, 0, 1); alpha 0 leaves pixels exact.
void tint(cv::Mat& image, const cv::Mat& map, float inv_den, const cv::Scalar& colour) {
  const float col[3] = {float(colour[0]), float(colour[1]), float(colour[2])};
  for (int y = 0; y < image.rows; ++y) {
    const float* m = map.ptr<float>(y);
    uchar* p = image.ptr<uchar>(y);
    for (int x = 0; x < image.cols; ++x, p += 3) {
      const float a = kMaxAlpha * std::min(m[x] * inv_den, 1.0f);
      if (!(a > 0)) continue;
      for (int k = 0; k < 3; ++k) p[k] = cv::saturate_cast<uchar>(p[k] + a * (col[k] - p[k]));
    }
  }
}

void put(cv::Mat& img, const std::string& text, cv::Point org, const cv::Scalar& colour, const Metrics& m) {
  cv::putText(img, text, org, kFont, m.scale, colour, m.thick, cv::LINE_AA);
}

void draw_legend(cv::Mat& legend, const Metrics& m, const Columns& c, const LegendText& t,
                 const std::vector<bool>& drawn) {
  legend.setTo(kLegendBackground);
  int top = m.pad;
  const int text_dy = m.gap / 2 + m.text_h;  // baseline offset within a row
  put(legend, t.verdict, {m.pad, top + text_dy}, t.verdict == "OK" ? kOk : kDefect, m);
  put(legend, t.action, {m.pad + m.width(t.verdict), top + text_dy}, kText, m);
  top += m.line_h;
  cv::line(legend, {m.pad, top + m.gap / 2}, {legend.cols - m.pad, top + m.gap / 2}, kDim, 1);
  top += m.gap;
  for (size_t i = 0; i < t.rows.size(); ++i, top += m.line_h) {
    const Row& r = t.rows[i];
    const cv::Rect swatch(m.pad, top + (m.line_h - m.swatch) / 2, m.swatch, m.swatch);
    // Filled: its map is on the frame; outlined: listed only, so the user knows why no colour shows.
    cv::rectangle(legend, swatch, type_colour(r.colour), drawn[r.colour] ? cv::FILLED : std::max(1, m.thick));
    put(legend, r.name, {c.name, top + text_dy}, kText, m);
    put(legend, r.percent, {c.percent_right - m.width(r.percent), top + text_dy}, kText, m);
    put(legend, r.status, {c.status, top + text_dy}, r.status == "ok" ? kOk : kDefect, m);
  }
}

}  // namespace

std::vector<OverlayType> overlay_types(const VpFrameResult& f) {
  std::vector<OverlayType> out;
  for (uint32_t k = 0; k < f.type_count; ++k) {
    const VpTypeResult& t = vp::type_at(f, k);
    const VpHeatmap& h = t.heatmap_full.data ? t.heatmap_full : t.heatmap;
    cv::Mat map;  // OpenCV resizes either to the frame
    if (h.data) map = cv::Mat(h.height, h.width, CV_32F, const_cast<float*>(h.data));
    out.push_back({t.name ? t.name : "", t.score, t.probability, t.decision != 0, map,
                   static_cast<float>(t.pixel_threshold), static_cast<float>(t.configured_pixel_threshold)});
  }
  return out;
}

cv::Scalar type_colour(size_t index) {
  // Saturated hues that stay visible over gray industrial frames and differ from their neighbours in the list.
  static const cv::Scalar palette[] = {
      {0, 0, 255},     // red
      {255, 128, 0},   // azure
      {0, 220, 255},   // yellow
      {0, 200, 0},     // green
      {255, 0, 255},   // magenta
      {255, 255, 0},   // cyan
      {0, 128, 255},   // orange
      {255, 0, 128},   // violet
      {180, 105, 255}, // pink
      {128, 128, 0},   // teal
      {45, 82, 160},   // brown
      {0, 128, 128},   // olive
  };
  return palette[index % (sizeof palette / sizeof palette[0])];
}

OverlayLayout overlay_layout(cv::Size frame_size, const std::vector<OverlayType>& types, const std::string& action) {
  const Metrics m = metrics(frame_size);
  return layout_for(frame_size, m, columns(m, legend_text(types, action)));
}

namespace {

// Tints `image` (BGR) with the maps of the types to show and contours them; returns which were drawn.
std::vector<bool> draw_maps(cv::Mat& image, const std::vector<OverlayType>& types, bool show_all) {
  std::vector<bool> drawn(types.size(), false);
  std::vector<std::vector<std::vector<cv::Point>>> contours(types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    const OverlayType& type = types[i];
    if (!(type.decision || show_all) || type.heatmap.empty()) continue;
    const cv::Mat map = frame_map(type, image.size());
    double max_value = 0;
    cv::minMaxLoc(map, nullptr, &max_value);
    const double den = std::max(2.0 * type.configured_pixel_threshold, max_value);
    if (!(den > 0)) continue;  // nothing positive to show
    tint(image, map, static_cast<float>(1.0 / den), type_colour(i));
    drawn[i] = true;
    // A mask covering everything would only trace the frame border, which says nothing.
    const cv::Mat mask = map > type.pixel_threshold;
    const int above = cv::countNonZero(mask);
    if (above > 0 && above < mask.rows * mask.cols) {
      cv::findContours(mask, contours[i], cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
    }
  }
  // Contours after all tints so a later type's tint does not wash out an earlier type's outline.
  for (size_t i = 0; i < types.size(); ++i) {
    if (!contours[i].empty()) cv::drawContours(image, contours[i], -1, type_colour(i), kContourThickness, cv::LINE_AA);
  }
  return drawn;
}

}  // namespace

cv::Mat render_overlay(const cv::Mat& frame, const std::vector<OverlayType>& types, const std::string& action,
                       bool show_all) {
  cv::Mat image = to_bgr(frame);
  const std::vector<bool> drawn = draw_maps(image, types, show_all);
  const Metrics m = metrics(image.size());
  const LegendText text = legend_text(types, action);
  const Columns cols = columns(m, text);
  const OverlayLayout layout = layout_for(image.size(), m, cols);
  cv::Mat canvas(layout.canvas, CV_8UC3, kLegendBackground);
  image.copyTo(canvas(layout.frame));
  cv::Mat legend = canvas(layout.legend);
  draw_legend(legend, m, cols, text, drawn);
  return canvas;
}

void draw_overlay_in_frame(cv::Mat& image, const std::vector<OverlayType>& types, const std::string& action,
                           bool show_all) {
  if (image.type() != CV_8UC3) {
    throw std::runtime_error("draw_overlay_in_frame: frame must be 8-bit BGR, got " + cv::typeToString(image.type()));
  }
  const std::vector<bool> drawn = draw_maps(image, types, show_all);
  const LegendText text = legend_text(types, action, &drawn);
  Metrics m = metrics(image.size());
  Columns cols = columns(m, text);
  // Shrink the text until the legend takes at most the frame's width and half its height.
  const double fit = std::min({1.0, double(image.cols) / cols.width, 0.5 * image.rows / cols.height});
  if (fit < 1.0) {
    m = metrics_at(std::max(kMinInFrameScale, m.scale * fit));
    cols = columns(m, text);
  }
  cv::Mat legend(cols.height, cols.width, CV_8UC3);
  draw_legend(legend, m, cols, text, drawn);
  const cv::Rect shown = cv::Rect(0, 0, cols.width, cols.height) & cv::Rect(0, 0, image.cols, image.rows);
  legend(shown).copyTo(image(shown));
}

}  // namespace mtfcdd::host
