#include "evaluate.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include <mtfcdd/dnn_model.hpp>
#include "metrics.hpp"
#include "progress.hpp"
#include "util_numeric.hpp"
#include "util_text.hpp"
#include <mtfcdd/preprocess.hpp>

namespace mtfcdd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Pixel max-F1 and pixel quantiles in calibrate() look at no more than this many pixels: above
// it they keep every k-th pixel of the pooled set (k = ceil(total / kMaxPixels), counted over
// the images in order, row-major within each), which is deterministic and keeps memory bounded.
constexpr size_t kMaxPixels = 4'000'000;

bool has_type(const Sample& s, int k) {
  return std::find(s.types.begin(), s.types.end(), k) != s.types.end();
}

// Checks that every entry has a sample and one score per type (and one CV_32FC1 map per type
// when need_maps), and that the sample's type and mask indices lie in [0, m).
void check_scores(const std::vector<ImageScores>& scores, size_t m, bool need_maps,
                  const std::string& fn) {
  if (m == 0) throw std::invalid_argument(fn + ": no type names");
  for (size_t i = 0; i < scores.size(); ++i) {
    const ImageScores& s = scores[i];
    const std::string at = fn + ": scores[" + std::to_string(i) + "]: ";
    if (!s.sample) throw std::invalid_argument(at + "no sample");
    if (s.z.size() != m || s.max_pixel.size() != m)
      throw std::invalid_argument(at + std::to_string(s.z.size()) + " z and " +
                                  std::to_string(s.max_pixel.size()) + " max_pixel values for " +
                                  std::to_string(m) + " types (" + s.sample->image + ")");
    for (size_t k = 0; k < m; ++k)
      if (!std::isfinite(s.z[k]) || !std::isfinite(s.max_pixel[k]))
        throw std::invalid_argument(at + "non-finite score (" + s.sample->image + ")");
    for (int t : s.sample->types)
      if (t < 0 || static_cast<size_t>(t) >= m)
        throw std::invalid_argument(at + "type index " + std::to_string(t) + " outside 0.." +
                                    std::to_string(m - 1) + " (" + s.sample->image + ")");
    for (const auto& [t, path] : s.sample->masks)
      if (t < 0 || static_cast<size_t>(t) >= m)
        throw std::invalid_argument(at + "mask type index " + std::to_string(t) + " outside 0.." +
                                    std::to_string(m - 1) + " (" + path + ")");
    if (!need_maps) continue;
    if (s.maps.size() != m)
      throw std::invalid_argument(at + std::to_string(s.maps.size()) + " maps for " +
                                  std::to_string(m) + " types (" + s.sample->image + ")");
    for (const cv::Mat& map : s.maps)
      if (map.empty() || map.type() != CV_32FC1)
        throw std::invalid_argument(at + "a map is empty or not CV_32FC1 (" + s.sample->image + ")");
  }
}

void check_size(int w, int h, const std::string& fn) {
  if (w <= 0 || h <= 0)
    throw std::invalid_argument(fn + ": input size " + std::to_string(w) + "x" + std::to_string(h) +
                                " is not positive");
}

// Type k's map at the model input size (as deployment upsamples it), cut to where the image lies
// in the input (the pixels that show the part: a "fit" input mirrors the image around it).
cv::Mat placed_map(const ImageScores& s, size_t k, const Upsampler& up) {
  const cv::Mat full = up(s.maps[k], up.input, k);
  return s.placed.empty() || s.placed.size() == full.size() ? full : full(s.placed).clone();
}

// A mask file's defect pixels at the size of the image's placed map.
cv::Mat read_mask(const std::string& path, cv::Size size) {
  cv::Mat out;
  cv::resize(read_defect_mask(path), out, size, 0, 0, cv::INTER_NEAREST);
  return out;
}

BinaryMetrics binary(const std::vector<double>& scores, const std::vector<int>& labels) {
  BinaryMetrics b;
  for (int l : labels) (l ? b.positives : b.negatives) += 1;
  b.auroc = auroc(scores, labels);
  b.ap = average_precision(scores, labels);
  b.max_f1 = max_f1(scores, labels).f1;
  return b;
}

// Mean of the finite values; NaN when there is none.
double nan_mean(const std::vector<double>& v) {
  double sum = 0;
  size_t n = 0;
  for (double x : v)
    if (std::isfinite(x)) sum += x, ++n;
  return n ? sum / static_cast<double>(n) : kNaN;
}

// Each image's part: images of one `group` share an id; an image without a group has its own.
// The ids are 0 .. parts - 1.
std::vector<size_t> group_ids(const std::vector<const Sample*>& samples) {
  std::map<std::string, size_t> named;
  std::vector<size_t> out;
  size_t next = 0;
  for (const Sample* s : samples) {
    if (s->group.empty()) {
      out.push_back(next++);
      continue;
    }
    const auto [it, fresh] = named.emplace(s->group, next);
    next += fresh;
    out.push_back(it->second);
  }
  return out;
}
const Sample* sample_of(const ImageScores& s) { return s.sample; }
const Sample* sample_of(const ImageScores* s) { return s->sample; }
// The same for the images of scores, or of pointers to them.
template <class Scores>
std::vector<size_t> group_ids(const Scores& scores) {
  std::vector<const Sample*> samples;
  for (const auto& s : scores) samples.push_back(sample_of(s));
  return group_ids(samples);
}

struct PixelMetrics {
  double auroc = kNaN, aupro = kNaN, aupro_se = kNaN;
  size_t images = 0, regions = 0;
  F1Result at_threshold = nan_f1(), best = nan_f1();
};

// Pixel metrics of type k (k < 0: any anomaly: max over types vs union of masks) over images with
// a mask of the type (any mask for k < 0) plus normal images; F1 at `threshold` unless NaN. Only
// this one set of upsampled maps and masks is alive at a time.
PixelMetrics pixel_metrics_of(const std::vector<ImageScores>& scores, int k, const Upsampler& up, double fpr_limit,
                              double threshold = kNaN, double peak_fraction = 0) {
  const std::vector<size_t> groups = group_ids(scores);
  std::vector<cv::Mat> maps, masks;
  std::vector<size_t> map_groups;
  bool any_mask = false;
  for (size_t i = 0; i < scores.size(); ++i) {
    const ImageScores& s = scores[i];
    const Sample& smp = *s.sample;
    const size_t maps_before = maps.size();
    const bool normal = smp.types.empty();
    if (k >= 0) {
      const auto it = smp.masks.find(k);
      const bool has_mask = it != smp.masks.end();
      if (has_mask || normal) {
        maps.push_back(placed_map(s, k, up));
        masks.push_back(has_mask ? read_mask(it->second, maps.back().size()) : cv::Mat::zeros(maps.back().size(), CV_8U));
        any_mask = any_mask || has_mask;
      }
    } else if (!smp.masks.empty() || normal) {
      cv::Mat fused = placed_map(s, 0, up);
      for (size_t t = 1; t < s.maps.size(); ++t) cv::max(fused, placed_map(s, t, up), fused);
      cv::Mat uni = cv::Mat::zeros(fused.size(), CV_8U);
      for (const auto& [t, path] : smp.masks) cv::bitwise_or(uni, read_mask(path, fused.size()), uni);
      any_mask = any_mask || !smp.masks.empty();
      maps.push_back(fused);
      masks.push_back(uni);
    }
    if (maps.size() > maps_before) map_groups.push_back(groups[i]);
  }
  PixelMetrics p;
  if (!any_mask) return p;  // nothing marks a defect: no pixel numbers
  p.images = maps.size();
  const PixelRanking ranking = pixel_ranking(maps, masks);
  p.auroc = ranking.auroc;
  p.best = ranking.best;
  const std::vector<double> regions = region_aupros(maps, masks, fpr_limit);
  p.aupro = nan_mean(regions);
  std::vector<size_t> region_groups;
  for (size_t image : region_images(masks)) region_groups.push_back(map_groups[image]);
  p.aupro_se = standard_error(regions, region_groups);
  p.regions = regions.size();
  if (!std::isnan(threshold)) p.at_threshold = pixel_f1(maps, masks, threshold, peak_fraction);
  return p;
}

std::vector<double> pixel_f1s(const std::vector<TypeReport>& types, F1Result TypeReport::*which) {
  std::vector<double> out;
  for (const TypeReport& t : types) out.push_back((t.*which).f1);
  return out;
}

BinaryMetrics mean_binary(const std::vector<TypeReport>& types, BinaryMetrics TypeReport::*field) {
  std::vector<double> a, p, f;
  for (const TypeReport& t : types) {
    a.push_back((t.*field).auroc);
    p.push_back((t.*field).ap);
    f.push_back((t.*field).max_f1);
  }
  BinaryMetrics b;
  b.auroc = nan_mean(a);
  b.ap = nan_mean(p);
  b.max_f1 = nan_mean(f);
  return b;
}

std::string fmt_g(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

std::string pct(double x) {
  if (!std::isfinite(x)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", 100.0 * x);
  return buf;
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

nlohmann::json num(double x) {
  if (!std::isfinite(x)) return nullptr;
  return x;
}

nlohmann::json binary_json(const BinaryMetrics& b, bool counts = true) {
  nlohmann::json j = {{"auroc", num(b.auroc)}, {"ap", num(b.ap)}, {"max_f1", num(b.max_f1)}};
  if (counts) {
    j["positives"] = b.positives;
    j["negatives"] = b.negatives;
  }
  return j;
}

nlohmann::json f1_json(const F1Result& f) {
  return {{"f1", num(f.f1)}, {"threshold", num(f.threshold)}, {"precision", num(f.precision)}, {"recall", num(f.recall)}};
}

nlohmann::json type_json(const TypeReport& t) {
  return {{"name", t.name},
          {"vs_normal", binary_json(t.vs_normal)},
          {"vs_rest", binary_json(t.vs_rest)},
          {"vs_normal_max", binary_json(t.vs_normal_max)},
          {"vs_rest_max", binary_json(t.vs_rest_max)},
          {"pixel_auroc", num(t.pixel_auroc)},
          {"aupro", num(t.aupro)},
          {"auroc_se", num(t.auroc_se)},
          {"aupro_se", num(t.aupro_se)},
          {"regions", t.regions},
          {"groups", t.groups},
          {"pixel_images", t.pixel_images},
          {"pixel_f1_at_threshold", f1_json(t.pixel_at_threshold)},
          {"peak_fraction", t.peak_fraction},
          {"pixel_max_f1", f1_json(t.pixel_best)}};
}

}  // namespace

cv::Mat defect_pixels(const cv::Mat& gray) {
  double top = 0;
  cv::minMaxLoc(gray, nullptr, &top);
  return top > 127 ? gray > 127 : gray > 0;
}

cv::Mat read_defect_mask(const std::string& path) {
  const cv::Mat gray = cv::imread(path, cv::IMREAD_GRAYSCALE);
  if (gray.empty()) throw std::runtime_error("cannot read mask " + path);
  return defect_pixels(gray);
}

// ------------------------------------------------------------------------ running the model

std::vector<ImageScores> score_split(DnnModel& model, const Dataset& data, const std::string& split,
                                     const Upsampler& up, int batch, const std::string& progress) {
  return score_samples(model, data, data.split(split), up, batch, progress);
}

std::vector<ImageScores> score_samples(DnnModel& model, const Dataset& data, const std::vector<const Sample*>& samples,
                                       const Upsampler& up, int batch, const std::string& progress) {
  if (batch < 1) throw std::invalid_argument("score_split: batch must be >= 1");
  const BundleManifest& man = model.manifest();
  std::vector<std::string> data_names, model_names;
  for (const TypeName& t : data.types) data_names.push_back(t.name);
  for (const DefectType& t : man.types) model_names.push_back(t.name);
  if (data_names != model_names)
    throw std::runtime_error("dataset '" + data.name + "' has the types [" + join(data_names, ", ") +
                             "] but the model has [" + join(model_names, ", ") +
                             "]; they must be the same names in the same order");
  const int m = static_cast<int>(model_names.size());
  std::vector<ImageScores> out;
  out.reserve(samples.size());
  std::optional<ProgressLine> line;
  if (!progress.empty()) line.emplace(progress, "images");
  for (size_t start = 0; start < samples.size(); start += static_cast<size_t>(batch)) {
    const size_t end = std::min(samples.size(), start + static_cast<size_t>(batch));
    std::vector<cv::Mat> images;
    for (size_t i = start; i < end; ++i) {
      cv::Mat img = cv::imread(samples[i]->image, cv::IMREAD_COLOR);
      if (img.empty())
        throw std::runtime_error("cannot read image " + samples[i]->image +
                                 (samples[i]->origin.empty() ? "" : " (" + samples[i]->origin + ")"));
      images.push_back(std::move(img));
    }
    cv::Mat maps = model.forward(make_blob(images, man));
    if (!maps.isContinuous()) maps = maps.clone();
    const int n = static_cast<int>(images.size());
    if (maps.dims != 4 || maps.size[0] != n || maps.size[1] != m)
      throw std::runtime_error("the model returned maps of an unexpected shape (expected " +
                               std::to_string(n) + "x" + std::to_string(m) + "xUxV)");
    const int u = maps.size[2], v = maps.size[3];
    for (int i = 0; i < n; ++i) {
      ImageScores s;
      s.sample = samples[start + static_cast<size_t>(i)];
      s.input = {man.input_width, man.input_height};
      s.placed = input_placement(images[static_cast<size_t>(i)].size(), man);
      for (int k = 0; k < m; ++k) {
        s.maps.push_back(cv::Mat(u, v, CV_32F, maps.ptr<float>(i, k)).clone());
        s.z.push_back(cv::mean(s.maps.back())[0]);
        double mx = 0;
        cv::minMaxLoc(placed_map(s, static_cast<size_t>(k), up), nullptr, &mx);
        s.max_pixel.push_back(mx);
      }
      out.push_back(std::move(s));
    }
    if (line) line->update(static_cast<double>(out.size()), static_cast<double>(samples.size()));
  }
  if (line) line->end();
  return out;
}

// ------------------------------------------------------------------------ summaries

EvalReport summarize(const std::vector<ImageScores>& scores, const std::vector<std::string>& type_names,
                     const Upsampler& up, bool pixel_metrics, double fpr_limit,
                     const std::vector<double>& pixel_thresholds, const std::vector<double>& peak_fractions) {
  const std::string fn = "summarize";
  const size_t m = type_names.size();
  check_scores(scores, m, pixel_metrics, fn);
  if (!pixel_thresholds.empty() && pixel_thresholds.size() != m)
    throw std::invalid_argument(fn + ": " + std::to_string(pixel_thresholds.size()) + " pixel thresholds for " +
                                std::to_string(m) + " types");
  if (!peak_fractions.empty() && peak_fractions.size() != m)
    throw std::invalid_argument(fn + ": " + std::to_string(peak_fractions.size()) + " peak fractions for " +
                                std::to_string(m) + " types");
  if (pixel_metrics) check_size(up.input.width, up.input.height, fn);

  EvalReport r;
  if (!scores.empty()) r.split = scores.front().sample->split;
  r.images = scores.size();
  for (const ImageScores& s : scores) r.normal += s.sample->types.empty();
  const std::vector<size_t> groups = group_ids(scores);

  for (size_t k = 0; k < m; ++k) {
    TypeReport t;
    t.name = type_names[k];
    std::vector<double> zn, xn, zr, xr;  // z / max-pixel, vs normal / vs rest
    std::vector<int> yn, yr;
    std::vector<size_t> gn;
    std::set<size_t> parts;
    for (size_t i = 0; i < scores.size(); ++i) {
      const ImageScores& s = scores[i];
      const bool pos = has_type(*s.sample, static_cast<int>(k));
      if (pos) parts.insert(groups[i]);
      zr.push_back(s.z[k]);
      xr.push_back(s.max_pixel[k]);
      yr.push_back(pos);
      if (pos || s.sample->types.empty()) {
        zn.push_back(s.z[k]);
        xn.push_back(s.max_pixel[k]);
        yn.push_back(pos);
        gn.push_back(groups[i]);
      }
    }
    t.vs_normal = binary(zn, yn);
    t.auroc_se = auroc_standard_error(zn, yn, gn);
    t.groups = parts.size();
    t.vs_rest = binary(zr, yr);
    t.vs_normal_max = binary(xn, yn);
    t.vs_rest_max = binary(xr, yr);
    if (pixel_metrics) {
      t.peak_fraction = peak_fractions.empty() ? 0 : peak_fractions[k];
      const PixelMetrics p = pixel_metrics_of(scores, static_cast<int>(k), up, fpr_limit,
                                              pixel_thresholds.empty() ? kNaN : pixel_thresholds[k], t.peak_fraction);
      std::tie(t.pixel_auroc, t.aupro, t.aupro_se, t.regions, t.pixel_images, t.pixel_at_threshold, t.pixel_best) =
          std::tie(p.auroc, p.aupro, p.aupro_se, p.regions, p.images, p.at_threshold, p.best);
    }
    r.types.push_back(std::move(t));
  }

  r.mean.name = "Mean";
  r.mean.vs_normal = mean_binary(r.types, &TypeReport::vs_normal);
  r.mean.vs_rest = mean_binary(r.types, &TypeReport::vs_rest);
  r.mean.vs_normal_max = mean_binary(r.types, &TypeReport::vs_normal_max);
  r.mean.vs_rest_max = mean_binary(r.types, &TypeReport::vs_rest_max);
  std::vector<double> pa, pr;
  for (const TypeReport& t : r.types) {
    pa.push_back(t.pixel_auroc);
    pr.push_back(t.aupro);
    r.mean.vs_normal.positives += t.vs_normal.positives;
    r.mean.vs_normal.negatives += t.vs_normal.negatives;
    r.mean.vs_rest.positives += t.vs_rest.positives;
    r.mean.vs_rest.negatives += t.vs_rest.negatives;
    r.mean.vs_normal_max.positives += t.vs_normal_max.positives;
    r.mean.vs_normal_max.negatives += t.vs_normal_max.negatives;
    r.mean.vs_rest_max.positives += t.vs_rest_max.positives;
    r.mean.vs_rest_max.negatives += t.vs_rest_max.negatives;
    r.mean.pixel_images += t.pixel_images;
  }
  r.mean.pixel_auroc = nan_mean(pa);
  r.mean.aupro = nan_mean(pr);
  r.mean.pixel_at_threshold.f1 = nan_mean(pixel_f1s(r.types, &TypeReport::pixel_at_threshold));
  r.mean.pixel_best.f1 = nan_mean(pixel_f1s(r.types, &TypeReport::pixel_best));

  std::vector<double> za, xa;
  std::vector<int> ya;
  r.confusion.assign(m, std::vector<size_t>(m, 0));
  for (const ImageScores& s : scores) {
    za.push_back(*std::max_element(s.z.begin(), s.z.end()));
    xa.push_back(*std::max_element(s.max_pixel.begin(), s.max_pixel.end()));
    ya.push_back(!s.sample->types.empty());
    if (s.sample->types.empty()) continue;
    const size_t pred = static_cast<size_t>(std::max_element(s.z.begin(), s.z.end()) - s.z.begin());
    for (int t : s.sample->types) ++r.confusion[static_cast<size_t>(t)][pred];
  }
  r.any = binary(za, ya);
  r.any_max = binary(xa, ya);
  if (pixel_metrics) {
    const PixelMetrics p = pixel_metrics_of(scores, -1, up, fpr_limit);
    std::tie(r.any_pixel_auroc, r.any_aupro, r.any_pixel_images) = std::tie(p.auroc, p.aupro, p.images);
  }
  return r;
}

// ------------------------------------------------------------------------ reports

Upsampler better_upsampler(const std::vector<ImageScores>& val, const std::vector<std::string>& type_names,
                           const std::vector<Upsampler>& candidates, std::vector<double>* aupro) {
  if (candidates.empty()) throw std::invalid_argument("better_upsampler: no candidate");
  std::vector<double> means;
  size_t best = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    means.push_back(summarize(val, type_names, candidates[i], true).mean.aupro);
    if (means[i] > means[best]) best = i;  // never on NaN: both are NaN without masks
  }
  if (aupro) *aupro = means;
  return candidates[best];
}

std::vector<double> widest_smoothing(const std::vector<ImageScores>& val, size_t types, const Upsampler& up) {
  std::vector<double> out(types, std::numeric_limits<double>::infinity());
  for (size_t k = 0; k < types; ++k) {
    std::vector<cv::Mat> masks;
    double cell = 0;  // input pixels per map cell
    for (const ImageScores& s : val) {
      const auto it = s.sample->masks.find(static_cast<int>(k));
      if (it == s.sample->masks.end()) continue;
      const cv::Size placed = s.placed.empty() ? up.input : s.placed.size();
      masks.push_back(read_mask(it->second, placed));
      cell = static_cast<double>(up.input.width) / s.maps[k].cols;
    }
    const double r = median_region_radius(masks);
    if (!std::isnan(r)) out[k] = r / cell;
  }
  return out;
}

std::vector<double> better_smoothing(const std::vector<ImageScores>& val, const std::vector<std::string>& type_names,
                                     const Upsampler& up, const std::vector<double>& sigmas,
                                     std::vector<std::vector<double>>* aupro, std::vector<double>* widest) {
  const std::string fn = "better_smoothing";
  if (sigmas.empty()) throw std::invalid_argument(fn + ": no sigma");
  const size_t m = type_names.size();
  check_scores(val, m, true, fn);
  check_size(up.input.width, up.input.height, fn);
  // Each type's AUPRO alone: the image metrics and the any-anomaly maps of summarize are not needed.
  std::vector<std::vector<double>> per_sigma;
  for (double sigma : sigmas) {
    Upsampler u = up;
    u.smoothing.assign(m, sigma);
    std::vector<double> a;
    for (size_t k = 0; k < m; ++k) a.push_back(pixel_metrics_of(val, static_cast<int>(k), u, kAuproFprLimit).aupro);
    per_sigma.push_back(std::move(a));
  }
  const std::vector<double> cap = widest_smoothing(val, m, up);
  std::vector<double> chosen(m, sigmas[0]);
  for (size_t k = 0; k < m; ++k) {
    if (!(per_sigma[0][k] > kAuproChance)) continue;  // masks not found: they cannot rank sigmas
    size_t best = 0;
    for (size_t i = 1; i < sigmas.size(); ++i)  // never on NaN: a type without masks keeps the first
      if (sigmas[i] <= cap[k] && per_sigma[i][k] > per_sigma[best][k]) best = i;
    chosen[k] = sigmas[best];
  }
  if (aupro) *aupro = std::move(per_sigma);
  if (widest) *widest = cap;
  return chosen;
}

namespace {

// markdown_report's sections, each a table (or a line) with its caption.
void main_table(std::ostream& o, const EvalReport& r) {
  o << "Image score z (mean of the type's map) and pixel level, in %. "
       "\"vs normal\": images of the type against normal images; \"vs rest\": against every other "
       "image.\n\n";
  o << "| Type | Images | AUROC vs normal | AP vs normal | F1 vs normal | AUROC vs rest | AP vs rest "
       "| F1 vs rest | Pixel AUROC | AUPRO |\n";
  o << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  const auto row = [&](const TypeReport& t, const std::string& count) {
    o << "| " << md_cell(t.name) << " | " << count << " | " << pct(t.vs_normal.auroc) << " | "
      << pct(t.vs_normal.ap) << " | " << pct(t.vs_normal.max_f1) << " | " << pct(t.vs_rest.auroc)
      << " | " << pct(t.vs_rest.ap) << " | " << pct(t.vs_rest.max_f1) << " | " << pct(t.pixel_auroc)
      << " | " << pct(t.aupro) << " |\n";
  };
  for (const TypeReport& t : r.types) row(t, std::to_string(t.vs_normal.positives));
  row(r.mean, "-");
}

// Few images or regions of a type make its figures move with one image: say how far.
void standard_error_table(std::ostream& o, const EvalReport& r) {
  o << "\nStandard errors, in points, over the parts photographed (the manifest's `group`; images of "
       "one part are not independent): image AUROC vs normal (Obuchowski) and AUPRO (each region's "
       "own AUPRO):\n\n";
  o << "| Type | groups | AUROC vs normal | SE | regions | AUPRO | SE |\n|---|---:|---:|---:|---:|---:|---:|\n";
  for (const TypeReport& t : r.types)
    o << "| " << md_cell(t.name) << " | " << t.groups << " | " << pct(t.vs_normal.auroc) << " | "
      << pct(t.auroc_se) << " | " << t.regions << " | " << pct(t.aupro) << " | " << pct(t.aupro_se) << " |\n";
}

void max_pixel_table(std::ostream& o, const EvalReport& r) {
  o << "\nMax-pixel image score (maximum of the upsampled map), in %:\n\n";
  o << "| Type | AUROC vs normal | AP vs normal | F1 vs normal | AUROC vs rest | AP vs rest | F1 vs "
       "rest |\n";
  o << "|---|---:|---:|---:|---:|---:|---:|\n";
  const auto row = [&](const TypeReport& t) {
    o << "| " << md_cell(t.name) << " | " << pct(t.vs_normal_max.auroc) << " | "
      << pct(t.vs_normal_max.ap) << " | " << pct(t.vs_normal_max.max_f1) << " | "
      << pct(t.vs_rest_max.auroc) << " | " << pct(t.vs_rest_max.ap) << " | "
      << pct(t.vs_rest_max.max_f1) << " |\n";
  };
  for (const TypeReport& t : r.types) row(t);
  row(r.mean);
}

// Only with masks (the best F1 is NaN without).
void pixel_threshold_table(std::ostream& o, const EvalReport& r) {
  if (std::isnan(r.mean.pixel_best.f1)) return;
  o << "\nPixels (defect iff the upsampled map >= the threshold), in %: at the bundle's calibrated pixel "
       "threshold, raised on each image to its peak fraction of the map's peak (the detector's regions), and "
       "at the best threshold alone for this split:\n\n";
  o << "| Type | bundle's threshold | peak fraction | F1 | precision | recall | best threshold | best F1 |\n";
  o << "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  const auto value = [](double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3g", x);
    return std::isnan(x) ? std::string("-") : std::string(b);
  };
  const auto row = [&](const TypeReport& t) {
    const F1Result &at = t.pixel_at_threshold, &best = t.pixel_best;
    o << "| " << md_cell(t.name) << " | " << value(at.threshold) << " | "
      << value(std::isnan(at.threshold) ? kNaN : t.peak_fraction) << " | " << pct(at.f1) << " | "
      << pct(at.precision) << " | " << pct(at.recall) << " | " << value(best.threshold) << " | " << pct(best.f1)
      << " |\n";
  };
  for (const TypeReport& t : r.types) row(t);
  row(r.mean);
}

void any_anomaly_line(std::ostream& o, const EvalReport& r) {
  o << "\nAny anomaly (score = max over types; " << r.any.positives << " defective vs "
    << r.any.negatives << " normal images): AUROC " << pct(r.any.auroc) << ", AP " << pct(r.any.ap)
    << ", max-F1 " << pct(r.any.max_f1) << "; max-pixel AUROC " << pct(r.any_max.auroc) << ", AP "
    << pct(r.any_max.ap) << ", max-F1 " << pct(r.any_max.max_f1) << "; pixel AUROC "
    << pct(r.any_pixel_auroc) << ", AUPRO " << pct(r.any_aupro) << " (" << r.any_pixel_images
    << " images).\n";
}

void confusion_table(std::ostream& o, const EvalReport& r) {
  o << "\nConfusion matrix over defective images (rows: true type, columns: predicted = argmax "
       "z; a multi-type image counts in each of its true rows):\n\n";
  o << "| true / predicted |";
  for (const TypeReport& t : r.types) o << " " << md_cell(t.name) << " |";
  o << "\n|---|";
  for (size_t k = 0; k < r.types.size(); ++k) o << "---:|";
  o << "\n";
  for (size_t i = 0; i < r.confusion.size(); ++i) {
    o << "| " << (i < r.types.size() ? md_cell(r.types[i].name) : std::to_string(i)) << " |";
    for (size_t c : r.confusion[i]) o << " " << c << " |";
    o << "\n";
  }
}

}  // namespace

std::string markdown_report(const EvalReport& r) {
  std::ostringstream o;
  o << "## Evaluation on split '" << md_cell(r.split) << "'\n\n";
  o << "Images: " << r.images << " (" << r.normal << " normal, " << (r.images - r.normal) << " defective).\n\n";
  main_table(o, r);
  standard_error_table(o, r);
  max_pixel_table(o, r);
  pixel_threshold_table(o, r);
  any_anomaly_line(o, r);
  confusion_table(o, r);
  return o.str();
}

nlohmann::json report_json(const EvalReport& r) {
  nlohmann::json types = nlohmann::json::array();
  std::vector<std::string> labels;
  for (const TypeReport& t : r.types) {
    types.push_back(type_json(t));
    labels.push_back(t.name);
  }
  return {{"split", r.split},
          {"images", r.images},
          {"normal", r.normal},
          {"types", types},
          {"mean", type_json(r.mean)},
          {"any", binary_json(r.any)},
          {"any_max", binary_json(r.any_max)},
          {"any_pixel_auroc", num(r.any_pixel_auroc)},
          {"any_aupro", num(r.any_aupro)},
          {"any_pixel_images", r.any_pixel_images},
          {"confusion", {{"labels", labels}, {"matrix", r.confusion}}}};
}

void write_scores_csv(const std::vector<ImageScores>& s, const std::vector<std::string>& type_names,
                      const std::string& path) {
  check_scores(s, type_names.size(), false, "write_scores_csv");
  std::ofstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot write " + path);
  f << "image,split,types";
  for (const std::string& n : type_names) f << ',' << csv_field("z_" + n);
  for (const std::string& n : type_names) f << ',' << csv_field("maxpix_" + n);
  f << "\r\n";
  for (const ImageScores& x : s) {
    std::vector<std::string> names;
    for (int t : x.sample->types) names.push_back(type_names[static_cast<size_t>(t)]);
    f << csv_field(x.sample->image) << ',' << csv_field(x.sample->split) << ','
      << csv_field(join(names, ";"));
    for (double v : x.z) f << ',' << fmt_g(v);
    for (double v : x.max_pixel) f << ',' << fmt_g(v);
    f << "\r\n";
  }
  f.flush();
  if (!f) throw std::runtime_error("cannot write " + path);
}

// ------------------------------------------------------------------------ calibration

namespace {

struct PooledPixels {
  std::vector<double> px;
  std::vector<int> lab;          // 1 inside type k's mask
  std::vector<uint32_t> image;   // the index in `set` of the pixel's image
  std::vector<double> peak;      // per image: its map's peak
  std::vector<size_t> part;      // per image: the part it shows (group_ids)
  size_t stride = 1, total = 0, parts = 0;
};

// Type k's placed, upsampled map pixels over `set`, labelled by k's masks (0 without one); above
// kMaxPixels pooled pixels, every stride-th one (see kMaxPixels).
PooledPixels pooled_pixels(const std::vector<const ImageScores*>& set, size_t k, const Upsampler& up) {
  PooledPixels p;
  p.total = set.size() * static_cast<size_t>(up.input.area());
  p.stride = p.total > kMaxPixels ? (p.total + kMaxPixels - 1) / kMaxPixels : 1;
  p.px.reserve(p.total / p.stride + 1);
  p.lab.reserve(p.px.capacity());
  p.image.reserve(p.px.capacity());
  p.part = group_ids(set);
  p.parts = p.part.empty() ? 0 : *std::max_element(p.part.begin(), p.part.end()) + 1;  // ids 0 .. parts - 1
  size_t idx = 0;
  for (size_t i = 0; i < set.size(); ++i) {
    const ImageScores* s = set[i];
    const cv::Mat map = placed_map(*s, k, up);
    const auto it = s->sample->masks.find(static_cast<int>(k));
    const cv::Mat mask = it != s->sample->masks.end() ? read_mask(it->second, map.size()) : cv::Mat::zeros(map.size(), CV_8U);
    p.peak.push_back(0);
    cv::minMaxLoc(map, nullptr, &p.peak.back());
    for (int r = 0; r < map.rows; ++r) {
      const float* a = map.ptr<float>(r);
      const uchar* d = mask.ptr<uchar>(r);
      for (int col = 0; col < map.cols; ++col, ++idx)
        if (idx % p.stride == 0) {
          p.px.push_back(a[col]);
          p.lab.push_back(d[col] != 0);
          p.image.push_back(static_cast<uint32_t>(i));
        }
    }
  }
  return p;
}

// Whether pixel i of `all` reaches `fraction` of its map's peak, compared as the detector compares
// (pixel_threshold_in_force, then float maps against a float threshold).
bool reaches_share(const PooledPixels& all, size_t i, double fraction) {
  return fraction == 0 || all.px[i] >= static_cast<float>(fraction * all.peak[all.image[i]]);
}

// For each of `fractions`, the rule of highest F1 over `all`: the pixels under that share of their
// map's peak can never fire (missed when defects), and max_f1 over the others gives the threshold.
struct PixelRule {
  F1Result f1 = nan_f1();
  double peak_fraction = 0;
};
std::vector<PixelRule> pixel_rules(const PooledPixels& all, const std::vector<double>& fractions) {
  std::vector<PixelRule> rules;
  for (const double r : fractions) {
    std::vector<double> px;
    std::vector<int> lab;
    double missed = 0;
    for (size_t i = 0; i < all.px.size(); ++i)
      if (reaches_share(all, i, r)) {
        px.push_back(all.px[i]);
        lab.push_back(all.lab[i]);
      } else {
        missed += all.lab[i];
      }
    rules.push_back({max_f1(px, lab, missed), r});
  }
  return rules;
}

// The counts of the rule (threshold, peak_fraction) over `all`, per part.
std::vector<F1Counts> rule_counts(const PooledPixels& all, double threshold, double peak_fraction) {
  std::vector<F1Counts> c(all.parts);
  for (size_t i = 0; i < all.px.size(); ++i) {
    F1Counts& part = c[all.part[all.image[i]]];
    if (all.px[i] >= threshold && reaches_share(all, i, peak_fraction)) (all.lab[i] ? part.tp : part.fp) += 1;
    else part.fn += all.lab[i];
  }
  return c;
}

// Of `fractions` (the first 0: the threshold alone), the rule of highest F1 over `all`, unless its
// gain over the threshold alone lies within one standard error over the parts or the threshold
// alone is undefined; `choice` receives how it went.
PixelRule chosen_pixel_rule(const PooledPixels& all, const std::vector<double>& fractions, PeakFractionChoice& choice) {
  const std::vector<PixelRule> rules = pixel_rules(all, fractions);
  const PixelRule& alone = rules.front();
  PixelRule best = alone;
  for (const PixelRule& r : rules)
    if (std::isfinite(r.f1.threshold) && !(r.f1.f1 <= best.f1.f1)) best = r;  // best.f1 NaN at first
  choice = {best.peak_fraction, best.f1.f1, alone.f1.f1, kNaN};
  if (best.peak_fraction == 0 || !std::isfinite(alone.f1.threshold)) return alone;
  choice.gain_se = f1_difference_se(rule_counts(all, best.f1.threshold, best.peak_fraction),
                                    rule_counts(all, alone.f1.threshold, 0));
  return best.f1.f1 - alone.f1.f1 > choice.gain_se ? best : alone;  // NaN (one part): alone
}

// One type's view of the calibration split.
struct TypeSplit {
  const std::vector<ImageScores>& val;
  const std::vector<const ImageScores*>& normals;
  size_t k;
  const std::string& name;
  std::string note(const std::string& what) const { return "type '" + name + "': " + what; }
};

// Max-F1 one-vs-rest on z_k; without images of the type (or without others) the `quantile` of the
// normal images' z_k, without those the fallback (each with a note).
double image_threshold(const TypeSplit& t, double quantile, double fallback, std::vector<std::string>& notes) {
  std::vector<double> z;
  std::vector<int> y;
  size_t pos = 0;
  for (const ImageScores& s : t.val) {
    z.push_back(s.z[t.k]);
    y.push_back(has_type(*s.sample, static_cast<int>(t.k)));
    pos += y.back();
  }
  if (pos > 0 && pos < t.val.size()) return max_f1(z, y).threshold;
  const std::string why = pos == 0 ? "no image of this type" : "no image without this type";
  if (t.normals.empty()) {
    notes.push_back(t.note(why + " and no normal image in the split; image threshold kept at " + fmt_g(fallback)));
    return fallback;
  }
  std::vector<double> zn;
  for (const ImageScores* s : t.normals) zn.push_back(s->z[t.k]);
  notes.push_back(t.note(why + " in the split; image threshold = the " + fmt_g(quantile) + " quantile of z over " +
                         std::to_string(t.normals.size()) + " normal images"));
  return mtfcdd::quantile(zn, quantile);
}

struct PixelCalibration {
  double threshold = kNaN, peak_fraction = 0;
  PeakFractionChoice choice;
};

// The pixel rule of highest F1 over the pixels of images with a mask of type k plus normal images
// (chosen_pixel_rule), its threshold raised to the pixel_quantile of the normal images' pixels
// when below it: a type with few validation masks put max-F1 far too low on Magnetic Tile
// (docs/results.md). Without masks that quantile, without normal images the fallback (notes).
PixelCalibration pixel_calibration(const TypeSplit& t, const Upsampler& up, double pixel_quantile,
                                   const std::vector<double>& peak_fractions, double fallback,
                                   std::vector<std::string>& notes) {
  const int ki = static_cast<int>(t.k);
  std::vector<const ImageScores*> set;
  for (const ImageScores& s : t.val)
    if (s.sample->masks.count(ki) || s.sample->types.empty()) set.push_back(&s);
  const bool has_masks = std::any_of(set.begin(), set.end(),
                                     [&](const ImageScores* s) { return s->sample->masks.count(ki) > 0; });
  PixelCalibration p;
  if (has_masks) {
    const PooledPixels all = pooled_pixels(set, t.k, up);
    const PixelRule rule = chosen_pixel_rule(all, peak_fractions, p.choice);
    std::tie(p.threshold, p.peak_fraction) = std::tie(rule.f1.threshold, rule.peak_fraction);
    if (!std::isfinite(p.threshold))
      notes.push_back(t.note("its masks give no defect pixel or no normal pixel; pixel max-F1 undefined"));
    else if (all.stride > 1)
      notes.push_back(t.note("pixel max-F1 subsampled to 1 pixel in " + std::to_string(all.stride) + " of " +
                             std::to_string(all.total)));
  }
  if (!t.normals.empty()) {
    const PooledPixels normal = pooled_pixels(t.normals, t.k, up);
    const double floor = mtfcdd::quantile(normal.px, pixel_quantile);
    const std::string what = "the " + fmt_g(pixel_quantile) + " quantile of the upsampled maps of " +
                             std::to_string(t.normals.size()) + " normal images";
    if (!std::isfinite(p.threshold))
      notes.push_back(t.note(std::string(has_masks ? "" : "no mask of this type in the split; ") + "pixel threshold = " +
                             what));
    else if (floor > p.threshold)
      notes.push_back(t.note("pixel max-F1 threshold " + fmt_g(p.threshold) + " raised to " + what + ", " +
                             fmt_g(floor)));
    p.threshold = std::isfinite(p.threshold) ? std::max(p.threshold, floor) : floor;
    if (normal.stride > 1)
      notes.push_back(t.note("pixel quantile subsampled to 1 pixel in " + std::to_string(normal.stride) + " of " +
                             std::to_string(normal.total)));
  }
  if (!std::isfinite(p.threshold)) {
    p.threshold = fallback;
    notes.push_back(t.note(std::string(has_masks ? "" : "no mask of this type and ") +
                           "no normal image in the split; pixel threshold kept at " + fmt_g(fallback)));
  }
  return p;
}

void check_peak_fractions(const std::vector<double>& fractions, const std::string& fn) {
  if (fractions.empty() || fractions.front() != 0)
    throw std::invalid_argument(fn + ": the peak fractions to try must start with 0, the threshold alone");
  for (const double r : fractions)
    if (!(r >= 0 && r <= kMaxPeakFraction))
      throw std::invalid_argument(fn + ": peak fraction " + fmt_g(r) + " outside [0, " + fmt_g(kMaxPeakFraction) + "]");
}

}  // namespace


Calibration calibrate(const std::vector<ImageScores>& val, const std::vector<std::string>& type_names,
                      const Upsampler& up, const std::vector<double>& fallback_image,
                      const std::vector<double>& fallback_pixel, double quantile,
                      double pixel_quantile, const std::vector<double>& peak_fractions) {
  const std::string fn = "calibrate";
  const size_t m = type_names.size();
  check_scores(val, m, true, fn);
  check_peak_fractions(peak_fractions, fn);
  check_size(up.input.width, up.input.height, fn);
  if (fallback_image.size() != m || fallback_pixel.size() != m)
    throw std::invalid_argument(fn + ": " + std::to_string(fallback_image.size()) + " image and " +
                                std::to_string(fallback_pixel.size()) + " pixel fallbacks for " +
                                std::to_string(m) + " types");

  Calibration c;
  std::vector<const ImageScores*> normals;
  for (const ImageScores& s : val)
    if (s.sample->types.empty()) normals.push_back(&s);
  for (size_t k = 0; k < m; ++k) {
    const TypeSplit split{val, normals, k, type_names[k]};
    c.image.push_back(image_threshold(split, quantile, fallback_image[k], c.notes));
    const PixelCalibration p = pixel_calibration(split, up, pixel_quantile, peak_fractions, fallback_pixel[k], c.notes);
    c.pixel.push_back(p.threshold);
    c.peak_fraction.push_back(p.peak_fraction);
    c.peak_fraction_choice.push_back(p.choice);
  }
  return c;
}

}  // namespace mtfcdd
