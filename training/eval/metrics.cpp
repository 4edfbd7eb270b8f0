#include "metrics.hpp"

#include <mtfcdd/postprocess.hpp>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace mtfcdd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// End of the run of scores equal to *first in a range sorted by descending score: every metric
// here lowers its threshold one distinct score at a time, so tied items always move together.
template <class It, class Score>
It tie_end(It first, It end, Score score) {
  It last = first;
  while (last != end && score(*last) == score(*first)) ++last;
  return last;
}

// Mann-Whitney U / (P N) over a range sorted by descending score. U counts, for each negative,
// the positives scored above it plus half of those tied with it: the same as the rank-sum form
// with mid-ranks. Counts stay integers or halves far below 2^53, so the sums are exact.
template <class It, class Score, class IsPos>
double sorted_auroc(It begin, It end, Score score, IsPos is_pos) {
  double pos_above = 0, neg = 0, u = 0;
  for (It first = begin, last; first != end; first = last) {
    last = tie_end(first, end, score);
    double p = 0, n = 0;
    for (It it = first; it != last; ++it) (is_pos(*it) ? p : n) += 1;
    u += n * (pos_above + 0.5 * p);
    pos_above += p;
    neg += n;
  }
  if (pos_above == 0 || neg == 0) return kNaN;
  return u / (pos_above * neg);
}

// Best F1 over the thresholds of a range sorted by descending score, `pos` positives in it; the
// highest threshold on equal F1.
template <class It, class Score, class IsPos>
F1Result sorted_max_f1(It begin, It end, Score score, IsPos is_pos, double pos) {
  F1Result best;
  best.f1 = -1;
  double tp = 0, seen = 0;
  for (It first = begin, last; first != end; first = last) {
    last = tie_end(first, end, score);
    for (It it = first; it != last; ++it) tp += is_pos(*it);
    seen += static_cast<double>(last - first);
    const double f1 = 2 * tp / (seen + pos);  // 2PR / (P + R) with P = tp/seen, R = tp/pos
    if (f1 > best.f1) best = {f1, static_cast<double>(score(*first)), tp / seen, tp / pos};
  }
  return best;
}

using Scored = std::pair<double, int>;  // (score, label)
double score_of(const Scored& s) { return s.first; }

// Throws std::invalid_argument on different lengths, a label other than 0/1 or a non-finite score.
void check_scored(const std::vector<double>& scores, const std::vector<int>& labels, const std::string& fn) {
  if (scores.size() != labels.size())
    throw std::invalid_argument(fn + ": " + std::to_string(scores.size()) + " scores but " +
                                std::to_string(labels.size()) + " labels");
  for (size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] != 0 && labels[i] != 1)
      throw std::invalid_argument(fn + ": label " + std::to_string(labels[i]) + " at index " +
                                  std::to_string(i) + " is not 0 or 1");
    if (!std::isfinite(scores[i]))
      throw std::invalid_argument(fn + ": score at index " + std::to_string(i) + " is not finite");
  }
}

// Validates the inputs and returns (score, label) pairs sorted by descending score.
std::vector<Scored> sorted_desc(const std::vector<double>& scores, const std::vector<int>& labels,
                                const std::string& fn) {
  check_scored(scores, labels, fn);
  std::vector<Scored> v(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) v[i] = {scores[i], labels[i]};
  std::sort(v.begin(), v.end(), [](const Scored& a, const Scored& b) { return a.first > b.first; });
  return v;
}

double count_positives(const std::vector<Scored>& v) {
  double p = 0;
  for (const auto& s : v) p += s.second;
  return p;
}

// One pixel of the pooled sort, 8 bytes so that ~25M of them sort quickly. id: 0 = normal,
// otherwise defect (pixel AUROC) or the global ground-truth region, 1-based (AUPRO).
struct Pixel {
  float score;
  int32_t id;
};
float pixel_score(const Pixel& p) { return p.score; }

// Sorts by descending score with an LSD radix sort on the float's order-preserving bit pattern:
// 4 linear passes, several times faster than std::sort on ~25M pixels (costs one extra buffer).
void sort_desc(std::vector<Pixel>& px) {
  const auto key = [](const Pixel& p) {
    uint32_t u;
    std::memcpy(&u, &p.score, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // unsigned order == float order
    return ~u;                                         // descending
  };
  std::vector<Pixel> tmp(px.size());
  for (int shift = 0; shift < 32; shift += 8) {  // even pass count: the result ends in px
    size_t start[257] = {};
    for (const auto& p : px) ++start[((key(p) >> shift) & 0xFF) + 1];
    for (int b = 0; b < 256; ++b) start[b + 1] += start[b];
    for (const auto& p : px) tmp[start[(key(p) >> shift) & 0xFF]++] = p;
    px.swap(tmp);
  }
}

void check_pixel_inputs(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks,
                        const std::string& fn) {
  if (maps.empty()) throw std::invalid_argument(fn + ": no maps");
  if (maps.size() != masks.size())
    throw std::invalid_argument(fn + ": " + std::to_string(maps.size()) + " maps but " +
                                std::to_string(masks.size()) + " masks");
  for (size_t i = 0; i < maps.size(); ++i) {
    const std::string at = fn + ": image " + std::to_string(i) + ": ";
    if (maps[i].empty()) throw std::invalid_argument(at + "empty map");
    if (maps[i].type() != CV_32FC1) throw std::invalid_argument(at + "map is not CV_32FC1");
    if (masks[i].type() != CV_8UC1) throw std::invalid_argument(at + "mask is not CV_8UC1");
    if (maps[i].size() != masks[i].size())
      throw std::invalid_argument(at + "map and mask differ in size");
  }
}

// Pools every pixel of every (already checked) map, with the id at the same position of
// ids_of(i) (CV_32S, built per image so only one is alive at a time), sorted by descending score.
std::vector<Pixel> pool_sorted(const std::vector<cv::Mat>& maps,
                               const std::function<cv::Mat(size_t)>& ids_of,
                               const std::string& fn) {
  size_t total = 0;
  for (const auto& m : maps) total += m.total();
  std::vector<Pixel> px;
  px.reserve(total);
  for (size_t i = 0; i < maps.size(); ++i) {
    const cv::Mat ids = ids_of(i);
    for (int r = 0; r < maps[i].rows; ++r) {
      const float* s = maps[i].ptr<float>(r);
      const int32_t* id = ids.ptr<int32_t>(r);
      for (int c = 0; c < maps[i].cols; ++c) {
        if (!std::isfinite(s[c]))
          throw std::invalid_argument(fn + ": image " + std::to_string(i) +
                                      ": non-finite score at row " + std::to_string(r) +
                                      ", col " + std::to_string(c));
        px.push_back({s[c], id[c]});
      }
    }
  }
  sort_desc(px);
  return px;
}

// Checks the inputs and pools every pixel, id 1 = defect, 0 = normal, sorted by descending score.
std::vector<Pixel> pool_defects(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks,
                                const std::string& fn) {
  check_pixel_inputs(maps, masks, fn);
  return pool_sorted(
      maps,
      [&](size_t i) {
        cv::Mat ids;
        cv::Mat(masks[i] != 0).convertTo(ids, CV_32S, 1.0 / 255);  // 255/0 -> 1/0
        return ids;
      },
      fn);
}

}  // namespace

double auroc(const std::vector<double>& scores, const std::vector<int>& labels) {
  const auto v = sorted_desc(scores, labels, "auroc");
  return sorted_auroc(v.begin(), v.end(), score_of, [](const Scored& s) { return s.second == 1; });
}

double average_precision(const std::vector<double>& scores, const std::vector<int>& labels) {
  const auto v = sorted_desc(scores, labels, "average_precision");
  const double pos = count_positives(v);
  if (pos == 0 || pos == static_cast<double>(v.size())) return kNaN;
  double tp = 0, seen = 0, ap = 0;
  for (auto first = v.begin(), last = first; first != v.end(); first = last) {
    last = tie_end(first, v.end(), score_of);
    double p = 0;
    for (auto it = first; it != last; ++it) p += it->second;
    tp += p;
    seen += static_cast<double>(last - first);
    ap += (p / pos) * (tp / seen);  // recall step times precision at this threshold
  }
  return ap;
}

F1Result max_f1(const std::vector<double>& scores, const std::vector<int>& labels, double missed) {
  if (!(missed >= 0 && std::isfinite(missed))) throw std::invalid_argument("max_f1: missed positives must be >= 0");
  const auto v = sorted_desc(scores, labels, "max_f1");
  const double pos = count_positives(v) + missed;
  if (pos == 0 || (missed == 0 && pos == static_cast<double>(v.size()))) return {kNaN, kNaN, kNaN, kNaN};
  if (v.empty()) return {0, kNaN, 0, 0};
  return sorted_max_f1(v.begin(), v.end(), score_of, [](const Scored& s) { return s.second == 1; }, pos);
}

namespace {

PixelRanking ranking(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks, const std::string& fn) {
  const auto px = pool_defects(maps, masks, fn);
  const auto is_defect = [](const Pixel& p) { return p.id != 0; };
  double pos = 0;
  for (const Pixel& p : px) pos += p.id;
  PixelRanking r;
  r.auroc = sorted_auroc(px.begin(), px.end(), pixel_score, is_defect);
  r.best = pos == 0 || pos == static_cast<double>(px.size()) ? F1Result{kNaN, kNaN, kNaN, kNaN}
                                                             : sorted_max_f1(px.begin(), px.end(), pixel_score, is_defect, pos);
  return r;
}

}  // namespace

PixelRanking pixel_ranking(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks) {
  return ranking(maps, masks, "pixel_ranking");
}

double pixel_auroc(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks) {
  return ranking(maps, masks, "pixel_auroc").auroc;
}

F1Result pixel_max_f1(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks) {
  return ranking(maps, masks, "pixel_max_f1").best;
}

F1Result pixel_f1(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks, double threshold,
                  double peak_fraction) {
  check_pixel_inputs(maps, masks, "pixel_f1");
  double tp = 0, predicted = 0, pos = 0;
  for (size_t i = 0; i < maps.size(); ++i) {
    const cv::Mat hit = maps[i] >= pixel_threshold_in_force(threshold, peak_fraction, maps[i]), defect = masks[i] != 0;
    tp += cv::countNonZero(hit & defect);
    predicted += cv::countNonZero(hit);
    pos += cv::countNonZero(defect);
  }
  if (pos == 0) return {kNaN, kNaN, kNaN, kNaN};
  return {2 * tp / (predicted + pos), threshold, predicted > 0 ? tp / predicted : 0, tp / pos};
}

std::vector<double> region_aupros(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks,
                                  double fpr_limit) {
  const std::string fn = "aupro";
  if (!(fpr_limit > 0 && fpr_limit <= 1))
    throw std::invalid_argument(fn + ": fpr_limit must lie in (0, 1]");
  check_pixel_inputs(maps, masks, fn);

  // inv_size[id] = 1 / region size, so a region's PRO grows by it per detected pixel.
  std::vector<double> inv_size{0.0};  // id 0 = normal pixel
  const auto px = pool_sorted(
      maps,
      [&](size_t i) {
        const cv::Mat defect = masks[i] != 0;
        cv::Mat ids, stats, centroids;
        const int n = cv::connectedComponentsWithStats(defect, ids, stats, centroids, 8, CV_32S);
        // Local labels 1..n-1 become global region ids; background stays 0.
        cv::add(ids, cv::Scalar(static_cast<double>(inv_size.size() - 1)), ids, defect);
        for (int k = 1; k < n; ++k) inv_size.push_back(1.0 / stats.at<int>(k, cv::CC_STAT_AREA));
        return ids;
      },
      fn);

  double normals = 0;
  for (const auto& p : px) normals += (p.id == 0);
  if (inv_size.size() == 1 || normals == 0) return {};

  // Walk the curve from FPR 0 one distinct threshold at a time. A pixel found at the step from
  // fpr_prev to fpr raises its region's PRO linearly over that step (the trapezoid's half) and
  // fully from fpr to the limit; in the step that crosses the limit, up to the limit only. The
  // last threshold reaches FPR 1 >= fpr_limit, so the loop always ends in that step.
  std::vector<double> area(inv_size.size(), 0.0);
  double fp = 0, fpr_prev = 0;
  for (auto first = px.begin(), last = first; first != px.end(); first = last) {
    last = tie_end(first, px.end(), pixel_score);
    for (auto it = first; it != last; ++it) fp += (it->id == 0);
    const double fpr = fp / normals, step = fpr - fpr_prev;
    const double found = fpr < fpr_limit ? step / 2 + (fpr_limit - fpr)
                                         : (fpr_limit - fpr_prev) * (fpr_limit - fpr_prev) / (2 * step);
    for (auto it = first; it != last; ++it) area[it->id] += inv_size[it->id] * found;
    if (fpr >= fpr_limit) break;
    fpr_prev = fpr;
  }
  std::vector<double> out;
  for (size_t id = 1; id < area.size(); ++id) out.push_back(area[id] / fpr_limit);
  return out;
}

double aupro(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks,
             double fpr_limit) {
  const std::vector<double> r = region_aupros(maps, masks, fpr_limit);
  return r.empty() ? kNaN : std::accumulate(r.begin(), r.end(), 0.0) / static_cast<double>(r.size());
}

std::vector<size_t> region_images(const std::vector<cv::Mat>& masks) {
  std::vector<size_t> out;
  for (size_t i = 0; i < masks.size(); ++i) {
    cv::Mat ids;
    const int n = cv::connectedComponents(masks[i] != 0, ids, 8, CV_32S);  // as region_aupros
    out.insert(out.end(), static_cast<size_t>(n - 1), i);
  }
  return out;
}

double standard_error(const std::vector<double>& values, const std::vector<size_t>& clusters) {
  if (clusters.size() != values.size())
    throw std::invalid_argument("standard_error: " + std::to_string(clusters.size()) + " cluster ids for " +
                                std::to_string(values.size()) + " values");
  const double n = static_cast<double>(values.size());
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  std::map<size_t, double> deviation;  // per cluster, the sum of its values' deviations
  for (size_t i = 0; i < values.size(); ++i) deviation[clusters[i]] += values[i] - mean;
  const double g = static_cast<double>(deviation.size());
  if (deviation.size() < 2) return kNaN;
  double ss = 0;
  for (const auto& [c, d] : deviation) ss += d * d;
  return std::sqrt(g / (g - 1) * ss) / n;
}

namespace {
// sum A and sum B of F1 = A / B, A = 2 TP, B = 2 TP + FP + FN.
std::pair<double, double> f1_sums(const std::vector<F1Counts>& clusters) {
  double a = 0, b = 0;
  for (const F1Counts& c : clusters) a += 2 * c.tp, b += 2 * c.tp + c.fp + c.fn;
  return {a, b};
}
}  // namespace

double pooled_f1(const std::vector<F1Counts>& clusters) {
  const auto [a, b] = f1_sums(clusters);
  return b > 0 ? a / b : kNaN;
}

double f1_difference_se(const std::vector<F1Counts>& a, const std::vector<F1Counts>& b) {
  if (a.size() != b.size())
    throw std::invalid_argument("f1_difference_se: " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
                                " clusters");
  const auto [sa, ta] = f1_sums(a);
  const auto [sb, tb] = f1_sums(b);
  if (a.size() < 2 || !(ta > 0) || !(tb > 0)) return kNaN;
  const double ra = sa / ta, rb = sb / tb, g = static_cast<double>(a.size());
  double ss = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double share_a = (2 * a[i].tp - ra * (2 * a[i].tp + a[i].fp + a[i].fn)) / ta;
    const double share_b = (2 * b[i].tp - rb * (2 * b[i].tp + b[i].fp + b[i].fn)) / tb;
    ss += (share_a - share_b) * (share_a - share_b);
  }
  return std::sqrt(g / (g - 1) * ss);
}

namespace {
// Of `sorted` (ascending), the count below s plus half the count equal to it.
double rank_share(const std::vector<double>& sorted, double s) {
  const auto lo = std::lower_bound(sorted.begin(), sorted.end(), s);
  const auto hi = std::upper_bound(lo, sorted.end(), s);
  return static_cast<double>(lo - sorted.begin()) + 0.5 * static_cast<double>(hi - lo);
}

// The summed deviations of one cluster, S10/S01/S11 of Obuchowski's estimator.
struct ClusterShare {
  double v10 = 0, v01 = 0, m = 0, n = 0;  // shares of its positives / negatives, their counts
};
}  // namespace

double auroc_standard_error(const std::vector<double>& scores, const std::vector<int>& labels,
                            const std::vector<size_t>& clusters) {
  const std::string fn = "auroc_standard_error";
  check_scored(scores, labels, fn);
  if (clusters.size() != scores.size())
    throw std::invalid_argument(fn + ": " + std::to_string(clusters.size()) + " cluster ids for " +
                                std::to_string(scores.size()) + " scores");
  std::vector<double> pos, neg;
  for (size_t i = 0; i < scores.size(); ++i) (labels[i] ? pos : neg).push_back(scores[i]);
  std::sort(pos.begin(), pos.end());
  std::sort(neg.begin(), neg.end());
  const double P = static_cast<double>(pos.size()), N = static_cast<double>(neg.size());
  std::map<size_t, ClusterShare> by;
  double a = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    ClusterShare& c = by[clusters[i]];
    if (labels[i]) {
      const double v = rank_share(neg, scores[i]) / N;  // the negatives it ranks below it
      c.v10 += v, c.m += 1, a += v / P;
    } else {
      c.v01 += (P - rank_share(pos, scores[i])) / P, c.n += 1;  // the positives above it
    }
  }
  double i10 = 0, i01 = 0, s10 = 0, s01 = 0, s11 = 0;
  for (const auto& [id, c] : by) {
    i10 += c.m > 0, i01 += c.n > 0;
    s10 += (c.v10 - c.m * a) * (c.v10 - c.m * a);
    s01 += (c.v01 - c.n * a) * (c.v01 - c.n * a);
    s11 += (c.v10 - c.m * a) * (c.v01 - c.n * a);
  }
  if (i10 < 2 || i01 < 2) return kNaN;
  const double groups = static_cast<double>(by.size());
  s10 *= i10 / ((i10 - 1) * P);
  s01 *= i01 / ((i01 - 1) * N);
  s11 *= groups / (groups - 1);
  return std::sqrt(std::max(0.0, s10 / P + s01 / N + 2 * s11 / (P * N)));
}

double median_region_radius(const std::vector<cv::Mat>& masks) {
  std::vector<double> radii;
  for (const cv::Mat& m : masks) {
    cv::Mat ids, stats, centroids;
    const int n = cv::connectedComponentsWithStats(m != 0, ids, stats, centroids, 8, CV_32S);
    for (int k = 1; k < n; ++k) radii.push_back(std::sqrt(stats.at<int>(k, cv::CC_STAT_AREA) / M_PI));
  }
  if (radii.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::nth_element(radii.begin(), radii.begin() + radii.size() / 2, radii.end());
  return radii[radii.size() / 2];
}

}  // namespace mtfcdd
