#include "defects.hpp"

#include <limits>
#include <opencv2/imgproc.hpp>
#include <optional>

#include "raster.hpp"

namespace mtfcdd::synth {
namespace {

constexpr float kPi = 3.14159265f;

Stroke blank_stroke(const Scene& s) {
  return {s.image.clone(), cv::Mat1f::zeros(s.image.size()), cv::Mat1b::zeros(s.image.size())};
}

void set(Stroke& st, int x, int y, const cv::Vec3f& colour, float alpha, bool defective) {
  st.paint(y, x) = colour;
  st.alpha(y, x) = alpha;
  st.footprint(y, x) = defective ? 255 : 0;
}

float luminance(const cv::Vec3f& c) { return 0.114f * c[0] + 0.587f * c[1] + 0.299f * c[2]; }

cv::Vec3f lighten(const cv::Vec3f& c, float t) { return c + (cv::Vec3f::all(1) - c) * t; }

int pixels(float length, const Scene& s) { return std::max(1, static_cast<int>(std::lround(length * s.scale))); }

// A slightly bent line through `centre`: a quadratic Bezier of half-length `half`.
std::vector<cv::Point> bent_line(cv::Point2f centre, float half, float bend, Rng& rng) {
  const float a = rng.angle();
  const cv::Point2f d(std::cos(a), std::sin(a)), n(-d.y, d.x);
  const cv::Point2f p0 = centre - d * half, p2 = centre + d * half, p1 = centre + n * (bend * half);
  std::vector<cv::Point> out;
  for (int k = 0; k <= 32; ++k) {
    const float t = k / 32.f;
    const cv::Point2f p = p0 * ((1 - t) * (1 - t)) + p1 * (2 * t * (1 - t)) + p2 * (t * t);
    out.emplace_back(static_cast<int>(std::lround(p.x)), static_cast<int>(std::lround(p.y)));
  }
  return out;
}

// An irregular polygon around `centre`: K vertices at jittered angles and radii in [lo, hi] * radius.
std::vector<cv::Point> ragged_polygon(cv::Point2f centre, float radius, int k, float lo, float hi, Rng& rng) {
  std::vector<cv::Point> out;
  const float a0 = rng.angle();
  for (int i = 0; i < k; ++i) {
    const float a = a0 + 2 * kPi * (i + rng.uniformf(-0.3, 0.3)) / k, r = radius * rng.uniformf(lo, hi);
    out.emplace_back(static_cast<int>(std::lround(centre.x + r * std::cos(a))),
                     static_cast<int>(std::lround(centre.y + r * std::sin(a))));
  }
  return out;
}

// 1-3 small round craters: a dark hollow whose far wall catches the light, and a bright raised rim.
Stroke paint_pit(const Scene& s, cv::Point2f c, float r, Rng& rng) {
  Stroke st = blank_stroke(s);
  const int n = rng.randint(1, 3);
  constexpr float rim = 1.7f;
  for (int k = 0; k < n; ++k) {
    const float cr = (n == 1 ? rng.uniformf(2.8, 4.2) : rng.uniformf(2.0, 3.2)) * s.scale;
    const float a = rng.angle(), off = n == 1 ? 0.f : rng.uniformf(0, std::max(0.f, r - rim * cr));
    const cv::Point2f ck = c + cv::Point2f(std::cos(a), std::sin(a)) * off;
    for_each_pixel(box_around(ck, rim * cr + 1, s.image.size()), [&](int x, int y) {
      const cv::Point2f d = cv::Point2f(x - ck.x, y - ck.y) * (1 / cr);
      const float q = std::hypot(d.x, d.y);
      if (q >= rim) return;
      const float towards = q > 0 ? dot(d, s.light) / q : 0.f;
      const cv::Vec3f orig = s.image(y, x);
      const cv::Vec3f col = q < 1 ? orig * (0.1f + 0.35f * std::max(0.f, -towards) * q)
                                  : lighten(orig, (1 - (q - 1) / (rim - 1)) * (0.45f + 0.45f * std::max(0.f, towards)));
      set(st, x, y, col, 1, true);
    });
  }
  return st;
}

// A dent or bulge: the surface texture is warped inwards or outwards and shaded by the slope of the bump.
Stroke paint_deformation(const Scene& s, cv::Point2f c, float r, Rng& rng) {
  Stroke st = blank_stroke(s);
  const Frame f(c, rng.angle());
  const float a = r, b = r * rng.uniformf(0.55, 1.0), sign = rng.chance(0.5) ? 1.f : -1.f;
  const float warp = rng.uniformf(0.25, 0.4), strength = rng.uniformf(0.55, 0.85);
  const float height = sign * a / 1.54f;  // the steepest slope of (1 - q^2)^2 is 1.54 / a: slopes stay within 1
  cv::Mat1f mx(s.image.size()), my(s.image.size()), shade(s.image.size(), 1.f);
  for_each_pixel(cv::Rect(0, 0, mx.cols, mx.rows), [&](int x, int y) {
    mx(y, x) = static_cast<float>(x);
    my(y, x) = static_cast<float>(y);
  });
  const cv::Rect box = box_around(c, r + 1, s.image.size());
  for_each_pixel(box, [&](int x, int y) {
    const cv::Point2f p = f.local(x, y);
    const float q2 = (p.x * p.x) / (a * a) + (p.y * p.y) / (b * b);
    if (q2 >= 1) return;
    const float w = (1 - q2) * (1 - q2), k = 1 - sign * warp * w;
    mx(y, x) = c.x + (x - c.x) * k;
    my(y, x) = c.y + (y - c.y) * k;
    const cv::Point2f slope = f.direction(cv::Point2f(p.x / (a * a), p.y / (b * b)) * (-4 * (1 - q2) * height));
    shade(y, x) = std::max(0.2f, 1 - strength * dot(slope, s.light));
    st.alpha(y, x) = 1;
    // The dent's outline: where its slope still shades the surface by 15%; its flat middle belongs to it too.
    st.footprint(y, x) = q2 < 0.5f || strength * std::hypot(slope.x, slope.y) >= 0.15f ? 255 : 0;
  });
  cv::Mat3f warped;
  cv::remap(s.image, warped, mx, my, cv::INTER_LINEAR, cv::BORDER_REFLECT);
  for_each_pixel(box, [&](int x, int y) { st.paint(y, x) = warped(y, x) * shade(y, x); });
  return st;
}

// A matte, lighter patch with a ragged outline, covered in many short parallel scratches.
Stroke paint_abrasion(const Scene& s, cv::Point2f c, float r, Rng& rng) {
  Stroke st = blank_stroke(s);
  const Frame f(c, rng.angle());
  const float a = r, b = r * rng.uniformf(0.45, 0.9), l3 = rng.uniformf(0, 0.15), l5 = rng.uniformf(0, 0.1);
  const float p3 = rng.angle(), p5 = rng.angle();
  auto extent = [&](int x, int y) {
    const cv::Point2f p = f.local(x, y);
    const float t = std::atan2(p.y, p.x);
    return std::hypot(p.x / a, p.y / b) / (1 + l3 * std::sin(3 * t + p3) + l5 * std::sin(5 * t + p5));
  };
  cv::Mat1b bright = cv::Mat1b::zeros(s.image.size()), dark = bright.clone();
  const float dir = rng.angle();
  for (int n = static_cast<int>(kPi * a * b / (5 * s.scale * s.scale)); n > 0; --n) {
    const cv::Point2f m = f.to_image({rng.uniformf(-a, a), rng.uniformf(-b, b)});
    const float len = 0.5f * rng.uniformf(3, 8) * s.scale, t = dir + 0.08f * static_cast<float>(rng.normal());
    const cv::Point2f h(std::cos(t) * len, std::sin(t) * len);
    cv::line(rng.chance(0.75) ? bright : dark, m - h, m + h, 255, 1, cv::LINE_AA);
  }
  const cv::Mat1f grit = gaussian_noise(s.image.size(), CV_32F, 0.035f, rng);
  const float lift = rng.uniformf(0.12, 0.22);
  for_each_pixel(box_around(c, 1.3f * r, s.image.size()), [&](int x, int y) {
    const float q = extent(x, y);
    if (q >= 1) return;
    const cv::Vec3f orig = s.image(y, x);
    const cv::Vec3f matte = mix(orig, grey(luminance(orig)), 0.4f) * 0.75f + grey(lift + grit(y, x));
    const cv::Vec3f col = matte + grey(0.35f * bright(y, x) / 255.f - 0.25f * dark(y, x) / 255.f);
    set(st, x, y, col, smoothstep(1.f, 0.75f, q), q < 0.9f);
  });
  return st;
}

// One long, thin, slightly curved line, lighter than the surface if that is dark and mostly darker if bright.
Stroke paint_scratch(const Scene& s, cv::Point2f c, float r, Rng& rng) {
  Stroke st = blank_stroke(s);
  const auto line = bent_line(c, r, rng.uniformf(-0.3, 0.3), rng);
  const int thick = pixels(static_cast<float>(rng.randint(1, 2)), s);
  cv::Mat1b soft = cv::Mat1b::zeros(s.image.size());
  cv::polylines(soft, line, false, 255, thick, cv::LINE_AA);
  cv::polylines(st.footprint, line, false, 255, thick, cv::LINE_8);
  const bool light = rng.chance(0.85 - 0.7 * luminance(s.image(cvRound(c.y), cvRound(c.x))));
  const float k = light ? rng.uniformf(0.5, 0.85) : rng.uniformf(0.1, 0.35);
  for_each_pixel(box_around(c, r * 1.2f + thick, s.image.size()), [&](int x, int y) {
    const cv::Vec3f orig = s.image(y, x);
    st.paint(y, x) = light ? lighten(orig, k) : orig * k;
    st.alpha(y, x) = soft(y, x) / 255.f;
    if (soft(y, x) > 40) st.footprint(y, x) = 255;  // the anti-aliased fringe is visibly changed too
  });
  return st;
}

// A chipped, cracked hole: dark rough interior, jagged outline whose broken edges catch the light, and
// hairline cracks running outwards.
Stroke paint_damage(const Scene& s, cv::Point2f c, float r, Rng& rng) {
  Stroke st = blank_stroke(s);
  auto poly = ragged_polygon(c, r, rng.randint(9, 15), 0.45f, 1.0f, rng);
  for (size_t i = 1; i < poly.size(); i += 2) poly[i] = c + (cv::Point2f(poly[i]) - c) * rng.uniformf(0.55, 0.85);
  cv::Mat1b inside = cv::Mat1b::zeros(s.image.size()), edge = inside.clone(), cracks = inside.clone();
  cv::fillPoly(inside, std::vector<std::vector<cv::Point>>{poly}, 255, cv::LINE_8);
  const int edge_px = pixels(1.3f, s);
  for (size_t i = 0; i < poly.size(); ++i) {
    const cv::Point p = poly[i], q = poly[(i + 1) % poly.size()];
    const cv::Point2f d = q - p, mid = cv::Point2f(p + q) * 0.5f;
    cv::Point2f outward = cv::Point2f(d.y, -d.x) * (1 / std::max(1e-3f, std::hypot(d.x, d.y)));
    if (dot(outward, mid - c) < 0) outward = -outward;
    const float lit = 0.35f + 0.55f * std::max(0.f, dot(outward, s.light));
    cv::line(edge, p, q, static_cast<int>(255 * lit), edge_px, cv::LINE_8);
  }
  for (int n = rng.randint(1, 3); n > 0; --n) {
    cv::Point2f p = poly[static_cast<size_t>(rng.randint(0, static_cast<int>(poly.size()) - 1))];
    float a = std::atan2(p.y - c.y, p.x - c.x);
    std::vector<cv::Point> crack{p};
    for (int k = rng.randint(3, 5); k > 0; --k) {
      a += rng.uniformf(-0.6, 0.6);
      p += cv::Point2f(std::cos(a), std::sin(a)) * (r * rng.uniformf(0.2, 0.35));
      crack.push_back(p);
    }
    cv::polylines(cracks, crack, false, 255, 1, cv::LINE_8);
  }
  const cv::Mat1f rough = gaussian_noise(s.image.size(), CV_32F, 0.05f, rng);
  for_each_pixel(box_around(c, 2.8f * r, s.image.size()), [&](int x, int y) {
    const cv::Vec3f orig = s.image(y, x);
    if (edge(y, x))
      set(st, x, y, lighten(orig, edge(y, x) / 255.f), 1, true);
    else if (inside(y, x))
      set(st, x, y, orig * 0.15f + grey(0.04f + rough(y, x)), 1, true);
    else if (cracks(y, x))
      set(st, x, y, orig * 0.25f, 1, true);
  });
  return st;
}

// A cleanly cut circle or (rounded) rectangle of the object is gone: the background shows through, darkened
// near the cut by the wall's shadow.
Stroke paint_missing_parts(const Scene& s, cv::Point2f c, float r, Rng& rng) {
  Stroke st = blank_stroke(s);
  const Frame f(c, rng.angle());
  const bool round = rng.chance(0.4);
  const float hx = r * rng.uniformf(0.7, 1.0), hy = round ? hx : r * rng.uniformf(0.45, 0.9);
  const float corner = round ? hx : rng.uniformf(0, 0.5) * std::min(hx, hy), wall = 3 * s.scale;
  for_each_pixel(box_around(c, 1.5f * r + 1, s.image.size()), [&](int x, int y) {
    const float sd = sd_round_box(f.local(x, y), hx, hy, corner), cov = coverage(sd);
    if (cov > 0) set(st, x, y, s.background(y, x) * (0.45f + 0.55f * smoothstep(0, wall, -sd)), cov, sd < 0);
  });
  return st;
}

// A small solid object of a saturated colour that contrasts with the part (a chip, or a thick fibre),
// casting a short shadow away from the light.
Stroke paint_foreign_object(const Scene& s, cv::Point2f c, float r, Rng& rng) {
  Stroke st = blank_stroke(s);
  const cv::Rect box = box_around(c, 2 * r + 4 * s.scale, s.image.size());
  const cv::Scalar under = cv::mean(s.image(box));
  const cv::Vec3f colour = hsv_to_bgr(hue_of(cv::Vec3f(under[0], under[1], under[2])) + rng.uniformf(0.3, 0.7),
                                      rng.uniformf(0.75, 1.0), rng.uniformf(0.7, 1.0));
  cv::Mat1b body = cv::Mat1b::zeros(s.image.size()), cast;
  if (rng.chance(0.6))
    cv::fillPoly(body,
                 std::vector<std::vector<cv::Point>>{
                     ragged_polygon(c, r * rng.uniformf(0.5, 0.8), rng.randint(5, 8), 0.7f, 1.0f, rng)},
                 255, cv::LINE_AA);
  else
    cv::polylines(body, bent_line(c, r * rng.uniformf(1.0, 1.6), rng.uniformf(-0.5, 0.5), rng), false, 255,
                  pixels(rng.uniformf(2.0, 3.0), s), cv::LINE_AA);
  const cv::Point2f offset = -s.light * (2.2f * s.scale);
  cv::warpAffine(body, cast, cv::Matx23f(1, 0, offset.x, 0, 1, offset.y), body.size());
  cv::GaussianBlur(cast, cast, cv::Size(3, 3), s.scale);
  for_each_pixel(box, [&](int x, int y) {
    const float o = body(y, x) / 255.f, shadow = cast(y, x) / 255.f;
    if (o <= 0 && shadow <= 0.01f) return;
    const cv::Vec3f col = mix(s.image(y, x) * (1 - 0.6f * shadow), colour, o);
    set(st, x, y, col, 1, o > 0.5f || shadow > 0.35f);
  });
  return st;
}

// A translucent stain with an irregular soft outline and a drying ring, texture still visible through it:
// dark brown on light surfaces, a lighter tan or oily film on dark ones.
Stroke paint_contamination(const Scene& s, cv::Point2f c, float r, Rng& rng) {
  Stroke st = blank_stroke(s);
  struct Blob {
    cv::Point2f centre;
    float sigma, weight;
  };
  std::vector<Blob> blobs;
  for (int n = rng.randint(3, 6); n > 0; --n) {
    const float a = rng.angle(), d = rng.uniformf(0, 0.5) * r;
    blobs.push_back(
        {c + cv::Point2f(std::cos(a), std::sin(a)) * d, r * rng.uniformf(0.25, 0.45), rng.uniformf(0.6, 1.0)});
  }
  const cv::Mat1f wobble = value_noise(s.image.size(), 3 * s.scale, rng);
  const cv::Scalar under = cv::mean(s.image(box_around(c, r, s.image.size())));
  const bool dark_surface = luminance(cv::Vec3f(under[0], under[1], under[2])) < 0.35f;
  const cv::Vec3f colour = dark_surface
                               ? hsv_to_bgr(rng.uniformf(0.08, 0.15), rng.uniformf(0.3, 0.55), rng.uniformf(0.55, 0.75))
                               : hsv_to_bgr(rng.uniformf(0.05, 0.1), rng.uniformf(0.5, 0.8), rng.uniformf(0.12, 0.3));
  const cv::Vec3f tint = colour * (1 / std::max({colour[0], colour[1], colour[2]}));
  const float opacity = rng.uniformf(0.55, 0.85), thr = 0.5f;
  for_each_pixel(box_around(c, 1.6f * r, s.image.size()), [&](int x, int y) {
    const float fade = smoothstep(1.6f * r, 1.3f * r, std::hypot(x - c.x, y - c.y));  // to zero at its reach
    if (fade <= 0) return;
    float field = 0.25f * wobble(y, x);
    for (const Blob& b : blobs) {
      const cv::Point2f d(x - b.centre.x, y - b.centre.y);
      field += b.weight * std::exp(-dot(d, d) / (2 * b.sigma * b.sigma));
    }
    const float ring = 0.45f * std::exp(-std::pow((field - thr) / 0.08f, 2.f));
    const float a = fade * std::min(1.f, opacity * (smoothstep(thr - 0.25f, thr + 0.15f, field) + ring));
    if (a <= 0) return;
    const cv::Vec3f orig = s.image(y, x);
    set(st, x, y, mix(orig.mul(tint), colour, 0.5f), a, a >= 0.3f);  // the drying ring's outer half included
  });
  return st;
}

struct Placement {
  cv::Point2f centre;
  float radius;
  float extent;  // how far its paint can reach: reach * radius + kReachMargin * scale
};

// A centre far enough inside the object (by the distance map `inside`) whose paint cannot touch that of an
// earlier defect; the radius shrinks when the object has no room. When no centre is free even then, the one
// that overlaps the others least (the caller keeps each mask to what stays visible), else the object's
// deepest point.
Placement place(const DefectType& t, float radius, const cv::Mat1f& inside, const std::vector<Placement>& taken,
                float scale, Rng& rng) {
  const auto extent_of = [&](float r) { return t.reach * r + kReachMargin * scale; };
  std::optional<Placement> best;
  float best_gap = -std::numeric_limits<float>::infinity();
  for (int shrink = 0; shrink < 8; ++shrink, radius *= 0.85f) {
    const float extent = extent_of(radius);
    for (int attempt = 0; attempt < 64; ++attempt) {
      const cv::Point2f p(rng.uniformf(0, inside.cols - 1), rng.uniformf(0, inside.rows - 1));
      if (inside(cvRound(p.y), cvRound(p.x)) < t.inset * radius + 1) continue;
      float gap = std::numeric_limits<float>::infinity();  // to the nearest earlier defect's paint
      for (const Placement& o : taken)
        gap = std::min(gap, std::hypot(p.x - o.centre.x, p.y - o.centre.y) - o.extent - extent);
      if (gap >= 0) return {p, radius, extent};
      if (gap > best_gap) best_gap = gap, best = Placement{p, radius, extent};
    }
  }
  if (best) return *best;
  cv::Point deepest;
  cv::minMaxLoc(inside, nullptr, nullptr, nullptr, &deepest);
  return {deepest, radius, extent_of(radius)};
}

// Nothing beyond the placement's extent, whatever the painter drew: painters keep within their reach at the
// sizes they are drawn at, but shrunk radii and small images leave fixed-size parts (a crater, a shadow,
// anti-aliasing) larger than the reach allows.
void beyond_reach(Stroke& st, const Placement& at) {
  for_each_pixel(cv::Rect(0, 0, st.alpha.cols, st.alpha.rows), [&](int x, int y) {
    if (std::hypot(x - at.centre.x, y - at.centre.y) <= at.extent) return;
    st.alpha(y, x) = 0;
    st.footprint(y, x) = 0;
  });
}

}  // namespace

const std::vector<DefectType>& defect_types() {
  static const std::vector<DefectType> all{
      {"pit", "Pit", 4, 8, 1.0f, 1.0f, false, paint_pit},
      {"deformation", "Deformation", 8, 16, 0.9f, 1.0f, false, paint_deformation},
      {"abrasion", "Abrasion", 9, 18, 0.8f, 1.3f, false, paint_abrasion},
      {"scratch", "Scratch", 16, 40, 0.25f, 1.1f, false, paint_scratch},
      {"damage", "Damage", 6, 13, 0.8f, 2.8f, false, paint_damage},
      {"missing_parts", "Missing parts", 8, 14, 0.4f, 1.4f, true, paint_missing_parts},
      {"foreign_object", "Foreign object", 4, 9, 1.0f, 2.1f, false, paint_foreign_object},
      {"contamination", "Contamination", 9, 18, 0.8f, 1.6f, false, paint_contamination}};
  return all;
}

int defect_index(const std::string& name) {
  const auto& all = defect_types();
  for (size_t i = 0; i < all.size(); ++i)
    if (name == all[i].name) return static_cast<int>(i);
  return -1;
}

std::vector<cv::Mat1b> add_defects(Scene& s, const std::vector<int>& types, Rng& rng) {
  // The image's border counts as the object's edge, so that no defect is cut off by the frame.
  cv::Mat1b solid = s.object > 0.5f;
  cv::rectangle(solid, cv::Rect(0, 0, solid.cols, solid.rows), 0, 1);
  cv::Mat1f inside;
  cv::distanceTransform(solid, inside, cv::DIST_L2, 3);
  std::vector<Placement> taken;
  std::vector<cv::Mat1b> masks;
  for (int k : types) {
    const DefectType& t = defect_types()[static_cast<size_t>(k)];
    const Placement at = place(t, rng.uniformf(t.min_radius, t.max_radius) * s.scale, inside, taken, s.scale, rng);
    taken.push_back(at);
    Stroke st = t.paint(s, at.centre, at.radius, rng);
    beyond_reach(st, at);
    const cv::Mat1f alpha = st.alpha.mul(s.object);
    for_each_pixel(cv::Rect(0, 0, s.image.cols, s.image.rows), [&](int x, int y) {
      if (alpha(y, x) > 0) s.image(y, x) = mix(s.image(y, x), st.paint(y, x), alpha(y, x));
    });
    masks.push_back(st.footprint & (s.object > 0.5f));
    // Only where placement fell back: an earlier defect's pixels under this one now show this one.
    for (size_t i = 0; i + 1 < masks.size(); ++i) masks[i].setTo(0, masks.back());
    if (t.removes_material) s.object = s.object.mul(1 - st.alpha);  // no later defect is drawn in the hole
  }
  return masks;
}

}  // namespace mtfcdd::synth
