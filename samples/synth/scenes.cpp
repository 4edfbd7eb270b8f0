#include "scenes.hpp"

#include <opencv2/imgproc.hpp>

#include "raster.hpp"

namespace mtfcdd::synth {
namespace {

constexpr float kPi = 3.14159265f;

// Composites the object colour at one pixel with coverage `cov`.
void put(Scene& s, int x, int y, const cv::Vec3f& colour, float cov) {
  s.object(y, x) = cov;
  s.image(y, x) = mix(s.background(y, x), colour, cov);
}

cv::Point2f image_centre(const Scene& s, Rng& rng, float jitter) {
  const float c = 0.5f * s.image.cols, j = jitter * s.image.cols;
  return {c + rng.uniformf(-j, j), c + rng.uniformf(-j, j)};
}

// A slight random colour cast, so that no category has one exact tint.
cv::Vec3f tinted(float v, Rng& rng, float amount) {
  return {v * rng.uniformf(1 - amount, 1 + amount), v * rng.uniformf(1 - amount, 1 + amount),
          v * rng.uniformf(1 - amount, 1 + amount)};
}

// Turned metal: concentric lathe rings, a bow-tie highlight across the disc, a lit bevel at the rim.
void paint_disc(Scene& s, Rng& rng) {
  const float S = static_cast<float>(s.image.cols);
  const float R = rng.uniformf(0.32, 0.45) * S;
  const cv::Point2f c = image_centre(s, rng, 0.05f);
  const cv::Vec3f base = tinted(rng.uniformf(0.42, 0.68), rng, 0.05f);
  const Profile rings(static_cast<int>(R) + 4, 0.7f, rng);
  const float period = rng.uniformf(2.5, 5.0) * s.scale, ring_amp = rng.uniformf(0.03, 0.07);
  const float th0 = rng.angle(), highlight = rng.uniformf(0.12, 0.28), bevel = 2.5f * s.scale;
  for_each_pixel(box_around(c, R + 1, s.image.size()), [&](int x, int y) {
    const cv::Point2f d(x - c.x, y - c.y);
    const float r = std::hypot(d.x, d.y), cov = coverage(r - R);
    if (cov <= 0) return;
    const float lobe = std::pow(std::cos(std::atan2(d.y, d.x) - th0), 2.f);
    float v = 1 + ring_amp * (rings(r) + 0.6f * std::sin(2 * kPi * r / period));
    cv::Vec3f col = base * v + grey(highlight * std::pow(lobe, 6.f));
    if (R - r < bevel) col += grey(0.15f * dot(d, s.light) / std::max(r, 1.f));
    put(s, x, y, col, cov);
  });
}

// Brushed sheet: fine straight streaks along the brushing direction, a soft sheen across the plate.
void paint_brushed_plate(Scene& s, Rng& rng) {
  const float S = static_cast<float>(s.image.cols);
  const float hx = rng.uniformf(0.33, 0.47) * S, hy = rng.uniformf(0.25, 0.45) * S,
              corner = rng.uniformf(0.02, 0.08) * S;
  const Frame f(image_centre(s, rng, 0.04f), rng.uniformf(-0.35, 0.35) + (rng.chance(0.5) ? kPi / 2 : 0.f));
  const Frame brush(f.centre, std::atan2(f.sn, f.cs) + rng.uniformf(-0.08, 0.08));
  const cv::Vec3f base = tinted(rng.uniformf(0.5, 0.78), rng, 0.04f);
  const Profile streaks(2 * static_cast<int>(S), 0.6f, rng);
  const cv::Mat1f along = value_noise(s.image.size(), 6 * s.scale, rng);
  const float amp = rng.uniformf(0.04, 0.08), sheen = rng.uniformf(-0.12, 0.12);
  for_each_pixel(cv::Rect(0, 0, s.image.cols, s.image.rows), [&](int x, int y) {
    const cv::Point2f p = f.local(x, y);
    const float sd = sd_round_box(p, hx, hy, corner), cov = coverage(sd);
    if (cov <= 0) return;
    const float v = 1 + amp * streaks(brush.local(x, y).y + S) * (0.6f + 0.4f * along(y, x)) + sheen * p.y / hy;
    cv::Vec3f col = base * v;
    if (sd > -2 * s.scale) col += grey(0.1f * dot(f.direction({p.x / hx, p.y / hy}), s.light));
    put(s, x, y, col, cov);
  });
}

// Moulded plastic: one smooth colour, darker rounded edges, a soft specular blob towards the light.
void paint_plastic(Scene& s, Rng& rng) {
  const float S = static_cast<float>(s.image.cols);
  const float hx = rng.uniformf(0.25, 0.42) * S, hy = rng.uniformf(0.2, 0.4) * S;
  const float corner = rng.uniformf(0.25, 0.6) * std::min(hx, hy);
  const Frame f(image_centre(s, rng, 0.05f), rng.angle());
  const cv::Vec3f colour = hsv_to_bgr(rng.uniformf(0, 1), rng.uniformf(0.35, 0.75), rng.uniformf(0.45, 0.85));
  const cv::Point2f spec = f.centre + s.light * (rng.uniformf(0.1, 0.45) * std::min(hx, hy));
  const float sigma = rng.uniformf(0.1, 0.2) * S, spec_amp = rng.uniformf(0.15, 0.35), rim = 5 * s.scale;
  for_each_pixel(cv::Rect(0, 0, s.image.cols, s.image.rows), [&](int x, int y) {
    const cv::Point2f p = f.local(x, y);
    const float sd = sd_round_box(p, hx, hy, corner), cov = coverage(sd);
    if (cov <= 0) return;
    const float edge = smoothstep(0, rim, -sd);
    const cv::Point2f outward = f.direction(p * (1.f / std::max(std::hypot(p.x, p.y), 1.f)));
    const float shade = 0.72f + 0.28f * edge + (1 - edge) * 0.15f * dot(outward, s.light);
    const cv::Point2f ds(x - spec.x, y - spec.y);
    const float glint = spec_amp * std::exp(-dot(ds, ds) / (2 * sigma * sigma));
    put(s, x, y, colour * shade + (cv::Vec3f::all(1) - colour) * glint, cov);
  });
}

// Plain weave: warp and weft threads alternate over/under on a checkerboard, each thread rounded.
void paint_fabric(Scene& s, Rng& rng) {
  const float S = static_cast<float>(s.image.cols);
  const float hx = rng.uniformf(0.45, 0.62) * S, hy = rng.uniformf(0.45, 0.62) * S;
  const Frame f(image_centre(s, rng, 0.03f), rng.uniformf(-0.3, 0.3));
  const Frame weave(f.centre, std::atan2(f.sn, f.cs) + rng.uniformf(-0.1, 0.1));
  const float period = rng.uniformf(3.5, 6.5) * s.scale, h = rng.uniformf(0, 1);
  const float sat = rng.uniformf(0.15, 0.6), val = rng.uniformf(0.45, 0.8);
  const cv::Vec3f warp = hsv_to_bgr(h, sat, val);
  const cv::Vec3f weft = hsv_to_bgr(h + rng.uniformf(-0.06, 0.06), sat, val * rng.uniformf(0.85, 1.1));
  const cv::Mat1f fuzz = value_noise(s.image.size(), 1.5f * s.scale, rng);
  for_each_pixel(cv::Rect(0, 0, s.image.cols, s.image.rows), [&](int x, int y) {
    const float cov = coverage(sd_round_box(f.local(x, y), hx, hy, 0.03f * S));
    if (cov <= 0) return;
    const cv::Point2f p = weave.local(x, y) * (1 / period);
    const int i = static_cast<int>(std::floor(p.x)), j = static_cast<int>(std::floor(p.y));
    const float a = std::sin(kPi * (p.x - i)), b = std::sin(kPi * (p.y - j));
    const bool warp_on_top = ((i + j) & 1) == 0;
    const float across = warp_on_top ? a : b, along = warp_on_top ? b : a;
    const float shade = 0.5f + 0.5f * across * (0.75f + 0.25f * along) + 0.04f * fuzz(y, x);
    put(s, x, y, (warp_on_top ? warp : weft) * shade, cov);
  });
}

// A polyline in a board frame with right-angle and 45-degree bends, like a routed trace.
std::vector<cv::Point> trace_path(const Frame& f, float hx, float hy, Rng& rng) {
  cv::Point2f p(rng.uniformf(-hx, hx), rng.uniformf(-hy, hy));
  std::vector<cv::Point> out{f.to_image(p)};
  float dir = static_cast<float>(rng.randint(0, 3)) * kPi / 2;
  for (int k = rng.randint(2, 4); k > 0; --k) {
    const float len = rng.uniformf(0.15, 0.5) * hx;
    p += cv::Point2f(std::cos(dir), std::sin(dir)) * len;
    out.push_back(f.to_image(p));
    dir += static_cast<float>(rng.randint(-2, 2)) * kPi / 4;
  }
  return out;
}

// Printed circuit board: green solder mask, copper traces under it, bare pads.
void paint_pcb(Scene& s, Rng& rng) {
  const float S = static_cast<float>(s.image.cols);
  const float hx = rng.uniformf(0.36, 0.5) * S, hy = rng.uniformf(0.36, 0.5) * S;
  const Frame f(image_centre(s, rng, 0.04f), rng.uniformf(-0.2, 0.2));
  const cv::Vec3f board = hsv_to_bgr(rng.uniformf(0.36, 0.44), rng.uniformf(0.55, 0.85), rng.uniformf(0.28, 0.5));
  const cv::Vec3f trace = mix(board, {0.3f, 0.55f, 0.75f}, rng.uniformf(0.3, 0.5));
  const cv::Vec3f pad = rng.chance(0.5) ? cv::Vec3f(0.78f, 0.78f, 0.8f) : cv::Vec3f(0.35f, 0.7f, 0.85f);
  cv::Mat1b traces = cv::Mat1b::zeros(s.image.size()), pads = traces.clone();
  for (int k = rng.randint(5, 10); k > 0; --k) {
    const auto path = trace_path(f, hx, hy, rng);
    const int thick = std::max(2, static_cast<int>(std::lround(rng.uniform(2.0, 3.5) * s.scale)));
    cv::polylines(traces, path, false, 255, thick, cv::LINE_AA);
    const int r = std::max(2, static_cast<int>(std::lround(rng.uniform(2.5, 4.0) * s.scale)));
    for (const cv::Point& end : {path.front(), path.back()}) {
      if (rng.chance(0.5))
        cv::circle(pads, end, r, 255, cv::FILLED, cv::LINE_AA);
      else
        cv::rectangle(pads, end - cv::Point(r, r), end + cv::Point(r, r), 255, cv::FILLED);
    }
  }
  const cv::Mat1f grain = value_noise(s.image.size(), 3 * s.scale, rng);
  for_each_pixel(cv::Rect(0, 0, s.image.cols, s.image.rows), [&](int x, int y) {
    const float cov = coverage(sd_round_box(f.local(x, y), hx, hy, 0.02f * S));
    if (cov <= 0) return;
    cv::Vec3f col = mix(board * (1 + 0.04f * grain(y, x)), trace, traces(y, x) / 255.f);
    put(s, x, y, mix(col, pad, pads(y, x) / 255.f), cov);
  });
}

// Wooden stick: growth rings bent by a slow wobble, fine fibres along the stick.
void paint_wood(Scene& s, Rng& rng) {
  const float S = static_cast<float>(s.image.cols);
  const float hl = rng.uniformf(0.36, 0.47) * S, hw = rng.uniformf(0.1, 0.2) * S, corner = rng.uniformf(0.3, 1.0) * hw;
  const Frame f(image_centre(s, rng, 0.05f), rng.angle());
  const cv::Vec3f base = hsv_to_bgr(rng.uniformf(0.06, 0.1), rng.uniformf(0.35, 0.6), rng.uniformf(0.55, 0.85));
  const Profile wobble(2 * static_cast<int>(S), 12 * s.scale, rng), fibres(2 * static_cast<int>(S), 0.8f, rng);
  const float period = rng.uniformf(3.0, 7.0) * s.scale, phase = rng.angle(), bend = rng.uniformf(1.5, 4.0) * s.scale;
  const float depth = rng.uniformf(0.15, 0.3);
  for_each_pixel(cv::Rect(0, 0, s.image.cols, s.image.rows), [&](int x, int y) {
    const cv::Point2f p = f.local(x, y);
    const float sd = sd_round_box(p, hl, hw, corner), cov = coverage(sd);
    if (cov <= 0) return;
    const float w = p.y + bend * wobble(p.x + S);
    const float ring = std::pow(0.5f + 0.5f * std::sin(2 * kPi * w / period + phase), 3.f);
    const float shade =
        (1 - depth * ring + 0.04f * fibres(p.y + S)) * (0.85f + 0.15f * smoothstep(0, 3 * s.scale, -sd));
    put(s, x, y, base * shade, cov);
  });
}

// A dark, slightly tinted, mottled backdrop (conveyor or table).
cv::Mat3f paint_background(cv::Size size, float scale, Rng& rng) {
  const cv::Vec3f base = tinted(rng.uniformf(0.05, 0.22), rng, 0.15f);
  const cv::Mat1f mottle = value_noise(size, 24 * scale, rng);
  cv::Mat3f out(size);
  for_each_pixel(cv::Rect(cv::Point(), size), [&](int x, int y) { out(y, x) = base * (1 + 0.25f * mottle(y, x)); });
  return out;
}

}  // namespace

const std::vector<Category>& categories() {
  static const std::vector<Category> all{{"disc", paint_disc},       {"brushed_plate", paint_brushed_plate},
                                         {"plastic", paint_plastic}, {"fabric", paint_fabric},
                                         {"pcb", paint_pcb},         {"wood", paint_wood}};
  return all;
}

int category_index(const std::string& name) {
  const auto& all = categories();
  for (size_t i = 0; i < all.size(); ++i)
    if (name == all[i].name) return static_cast<int>(i);
  return -1;
}

Scene paint_scene(const Category& category, int size, Rng& rng) {
  Scene s;
  s.scale = size / 128.f;
  const float a = rng.angle();
  s.light = {std::cos(a), std::sin(a)};
  s.background = paint_background({size, size}, s.scale, rng);
  s.image = s.background.clone();
  s.object = cv::Mat1f::zeros(size, size);
  category.paint(s, rng);
  return s;
}

void apply_lighting(cv::Mat3f& image, Rng& rng) {
  const float S = static_cast<float>(image.cols), gain = rng.uniformf(0.8, 1.2);
  const float a = rng.angle(), slope = rng.uniformf(0, 0.3) / S, vignette = rng.uniformf(0, 0.35);
  const cv::Point2f dir(std::cos(a) * slope, std::sin(a) * slope), c(0.5f * S, 0.5f * S);
  for_each_pixel(cv::Rect(0, 0, image.cols, image.rows), [&](int x, int y) {
    const cv::Point2f d(x - c.x, y - c.y);
    image(y, x) *= gain * (1 + dot(d, dir)) * (1 - vignette * 2 * dot(d, d) / (S * S));
  });
  image += gaussian_noise(image.size(), CV_32FC3, rng.uniformf(0.004, 0.018), rng);
}

}  // namespace mtfcdd::synth
