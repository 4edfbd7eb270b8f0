#include "stages.hpp"

#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <stdexcept>
#include <utility>

#include <mtfcdd/json_input.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

namespace mtfcdd::host {
namespace {

using nlohmann::json;

// Upper bound for resize targets: a typo such as 100000 should fail at parse time, not allocate gigabytes per frame.
constexpr int kMaxSide = 1 << 16;

std::string size_text(int width, int height) { return std::to_string(width) + "x" + std::to_string(height); }

using SpecReader = JsonReader<std::runtime_error>;

// A positive number at `key`, or `fallback` when it is absent.
double positive_or(const SpecReader& s, const char* key, double fallback) {
  const double x = s.has(key) ? s.number(key) : fallback;
  if (!(x > 0)) s.fail(key, "must be > 0, got " + excerpt(s.at(key)));
  return x;
}

// Shared plumbing: the stage's type name and where it came from, for apply-time messages.
class BasicStage : public Stage {
 public:
  BasicStage(std::string type, std::string where) : type_(std::move(type)), where_(std::move(where)) {}
  std::string name() const override { return type_; }

  cv::Mat apply(const cv::Mat& image) const final {
    const int cn = image.channels();
    if (image.empty()) fail("empty image");
    if (image.depth() != CV_8U || (cn != 1 && cn != 3 && cn != 4)) {
      fail("expected an 8-bit gray, BGR or BGRA image, got " + cv::typeToString(image.type()));
    }
    return run(image);
  }

 protected:
  virtual cv::Mat run(const cv::Mat& image) const = 0;  // image already checked
  [[noreturn]] void fail(const std::string& message) const {
    throw std::runtime_error(type_ + " (" + where_ + "): " + message);
  }

 private:
  std::string type_, where_;
};

// Applies `f` to the BGR part of a colour image, carrying BGRA's alpha over unchanged.
cv::Mat on_colour(const cv::Mat& image, const std::function<cv::Mat(const cv::Mat&)>& f) {
  if (image.channels() == 3) return f(image);
  cv::Mat bgr, alpha, out;
  cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
  cv::extractChannel(image, alpha, 3);
  cv::cvtColor(f(bgr), out, cv::COLOR_BGR2BGRA);
  cv::insertChannel(alpha, out, 3);
  return out;
}

// Runs `f` on one channel of a colour space (e.g. L of Lab), keeping the others.
cv::Mat on_channel(const cv::Mat& bgr, int to_space, int from_space, const std::function<void(cv::Mat&)>& f) {
  cv::Mat converted, channel, out;
  cv::cvtColor(bgr, converted, to_space);
  cv::extractChannel(converted, channel, 0);
  f(channel);
  cv::insertChannel(channel, converted, 0);
  cv::cvtColor(converted, out, from_space);
  return out;
}

class Crop final : public BasicStage {
 public:
  Crop(const SpecReader& s, const std::string& where) : BasicStage("crop", where) {
    // Separate statements so errors come in key order (argument evaluation order is unspecified).
    roi_.x = static_cast<int>(s.integer("x", 0));
    roi_.y = static_cast<int>(s.integer("y", 0));
    roi_.width = static_cast<int>(s.integer("width", 1));
    roi_.height = static_cast<int>(s.integer("height", 1));
  }

 protected:
  cv::Mat run(const cv::Mat& image) const override {
    // 64-bit sums: x + width may exceed INT_MAX for absurd but parseable values.
    if (std::int64_t{roi_.x} + roi_.width > image.cols || std::int64_t{roi_.y} + roi_.height > image.rows) {
      fail("region " + size_text(roi_.width, roi_.height) + " at (" + std::to_string(roi_.x) + ", " +
           std::to_string(roi_.y) + ") does not fit in the " + size_text(image.cols, image.rows) + " image");
    }
    return image(roi_);  // a view: no copy per frame
  }

 private:
  cv::Rect roi_;
};

class Resize final : public BasicStage {
 public:
  Resize(const SpecReader& s, const std::string& where) : BasicStage("resize", where) {
    if (!s.has("width") && !s.has("height")) s.fail("width", "resize needs width, height or both");
    width_ = static_cast<int>(s.integer("width", 1, kMaxSide, 0));
    height_ = static_cast<int>(s.integer("height", 1, kMaxSide, 0));
    static const int modes[] = {cv::INTER_LINEAR, cv::INTER_AREA, cv::INTER_NEAREST, cv::INTER_CUBIC};
    interpolation_ = modes[s.one_of("interpolation", {"linear", "area", "nearest", "cubic"}, 0)];
  }

 protected:
  cv::Mat run(const cv::Mat& image) const override {
    cv::Size target(width_, height_);
    if (width_ == 0) target.width = std::max(1, static_cast<int>(std::lround(double(image.cols) * height_ / image.rows)));
    if (height_ == 0) target.height = std::max(1, static_cast<int>(std::lround(double(image.rows) * width_ / image.cols)));
    if (target == image.size()) return image;
    cv::Mat out;
    cv::resize(image, out, target, 0, 0, interpolation_);
    return out;
  }

 private:
  int width_ = 0, height_ = 0;  // 0: derived from the other side
  int interpolation_ = cv::INTER_LINEAR;
};

class Color final : public BasicStage {
 public:
  Color(const SpecReader& s, const std::string& where)
      : BasicStage("color", where), to_gray_(s.one_of("to", {"gray", "bgr"}) == 0) {}

 protected:
  cv::Mat run(const cv::Mat& image) const override {
    const int cn = image.channels();
    if ((to_gray_ && cn == 1) || (!to_gray_ && cn == 3)) return image;
    const int code = to_gray_ ? (cn == 3 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGRA2GRAY)
                              : (cn == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_BGRA2BGR);
    cv::Mat out;
    cv::cvtColor(image, out, code);
    return out;
  }

 private:
  bool to_gray_;
};

class Clahe final : public BasicStage {
 public:
  Clahe(const SpecReader& s, const std::string& where)
      : BasicStage("clahe", where), clip_(positive_or(s, "clip", 2.0)), tile_(static_cast<int>(s.integer("tile", 1, 256, 8))) {}

 protected:
  cv::Mat run(const cv::Mat& image) const override {
    // A fresh CLAHE per call: the object keeps scratch buffers, so sharing one would make apply() thread-unsafe.
    const cv::Ptr<cv::CLAHE> clahe = cv::createCLAHE(clip_, cv::Size(tile_, tile_));
    const auto equalise = [&](cv::Mat& channel) { clahe->apply(channel, channel); };
    if (image.channels() == 1) {
      cv::Mat out;
      clahe->apply(image, out);
      return out;
    }
    return on_colour(image, [&](const cv::Mat& bgr) {
      return on_channel(bgr, cv::COLOR_BGR2Lab, cv::COLOR_Lab2BGR, equalise);  // lightness only: hues stay
    });
  }

 private:
  double clip_;
  int tile_;
};

class GaussianBlur final : public BasicStage {
 public:
  GaussianBlur(const SpecReader& s, const std::string& where)
      : BasicStage("gaussian_blur", where), sigma_(s.number("sigma")), ksize_(static_cast<int>(s.integer("ksize", 0, 1001, 0))) {
    if (!(sigma_ > 0)) s.fail("sigma", "must be > 0, got " + std::to_string(sigma_));
    if (ksize_ != 0 && ksize_ % 2 == 0) s.fail("ksize", "must be odd (or 0 to derive it from sigma), got " + std::to_string(ksize_));
  }

 protected:
  cv::Mat run(const cv::Mat& image) const override {
    cv::Mat out;
    cv::GaussianBlur(image, out, cv::Size(ksize_, ksize_), sigma_, sigma_, cv::BORDER_REPLICATE);
    return out;
  }

 private:
  double sigma_;
  int ksize_;
};

class Normalize final : public BasicStage {
 public:
  Normalize(const SpecReader& s, const std::string& where)
      : BasicStage("normalize", where), equalize_(s.one_of("mode", {"minmax", "equalize"}, 0) == 1) {}

 protected:
  cv::Mat run(const cv::Mat& image) const override {
    if (equalize_) {
      const auto equalise = [](cv::Mat& channel) { cv::equalizeHist(channel, channel); };
      if (image.channels() == 1) {
        cv::Mat out;
        cv::equalizeHist(image, out);
        return out;
      }
      return on_colour(image, [&](const cv::Mat& bgr) {
        return on_channel(bgr, cv::COLOR_BGR2YCrCb, cv::COLOR_YCrCb2BGR, equalise);
      });
    }
    // One range over all colour channels so the stretch does not shift hues; alpha is left out.
    return image.channels() == 1 ? stretch(image) : on_colour(image, stretch);
  }

 private:
  static cv::Mat stretch(const cv::Mat& image) {
    double lo = 0, hi = 0;
    cv::minMaxIdx(image.reshape(1), &lo, &hi);
    if (hi <= lo) return image;  // flat frame: nothing to stretch, and mapping it to black would hide it
    cv::Mat out;
    const double scale = 255.0 / (hi - lo);
    image.convertTo(out, CV_8U, scale, -lo * scale);
    return out;
  }

  bool equalize_;
};

class Rotate final : public BasicStage {
 public:
  Rotate(const SpecReader& s, const std::string& where) : BasicStage("rotate", where) {
    angle_ = std::fmod(s.number("angle"), 360.0);
    if (angle_ < 0) angle_ += 360.0;
  }

 protected:
  cv::Mat run(const cv::Mat& image) const override {
    if (angle_ == 0) return image;
    cv::Mat out;
    // Right angles go through cv::rotate: exact, no interpolation, and width/height swap as expected.
    if (angle_ == 90) {
      cv::rotate(image, out, cv::ROTATE_90_COUNTERCLOCKWISE);
    } else if (angle_ == 180) {
      cv::rotate(image, out, cv::ROTATE_180);
    } else if (angle_ == 270) {
      cv::rotate(image, out, cv::ROTATE_90_CLOCKWISE);
    } else {
      const cv::Point2f centre((image.cols - 1) * 0.5f, (image.rows - 1) * 0.5f);
      const cv::Mat m = cv::getRotationMatrix2D(centre, angle_, 1.0);
      cv::warpAffine(image, out, m, image.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    }
    return out;
  }

 private:
  double angle_ = 0;  // in [0, 360)
};

class Flip final : public BasicStage {
 public:
  Flip(const SpecReader& s, const std::string& where) : BasicStage("flip", where) {
    static const int codes[] = {1, 0, -1};  // OpenCV: 1 mirrors about the y axis, 0 about the x axis
    code_ = codes[s.one_of("axis", {"horizontal", "vertical", "both"})];
  }

 protected:
  cv::Mat run(const cv::Mat& image) const override {
    cv::Mat out;
    cv::flip(image, out, code_);
    return out;
  }

 private:
  int code_;
};

template <class T>
std::unique_ptr<Stage> build(const SpecReader& spec, const std::string& where,
                             std::initializer_list<std::string_view> keys) {
  spec.only({"type"}, keys);
  return std::make_unique<T>(spec, where);
}

}  // namespace

std::unique_ptr<Stage> make_stage(const json& json_spec, const std::string& where) {
  const SpecReader spec(json_spec, "", where);
  const std::string type = spec.text("type");
  if (type == "crop") return build<Crop>(spec, where, {"x", "y", "width", "height"});
  if (type == "resize") return build<Resize>(spec, where, {"width", "height", "interpolation"});
  if (type == "color") return build<Color>(spec, where, {"to"});
  if (type == "clahe") return build<Clahe>(spec, where, {"clip", "tile"});
  if (type == "gaussian_blur") return build<GaussianBlur>(spec, where, {"sigma", "ksize"});
  if (type == "normalize") return build<Normalize>(spec, where, {"mode"});
  if (type == "rotate") return build<Rotate>(spec, where, {"angle"});
  if (type == "flip") return build<Flip>(spec, where, {"axis"});
  spec.fail("type", "unknown stage type " + excerpt(spec.at("type")) +
                        " (expected crop, resize, color, clahe, gaussian_blur, normalize, rotate or flip)");
}

}  // namespace mtfcdd::host
