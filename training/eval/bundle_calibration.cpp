#include "bundle_calibration.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <stdexcept>
#include <string>

namespace mtfcdd {
namespace {

std::vector<std::string> type_names(const BundleManifest& man) {
  std::vector<std::string> names;
  for (const auto& t : man.types) names.push_back(t.name);
  return names;
}

void choose_upsampling(BundleManifest& man, const std::vector<ImageScores>& val) {
  if (!man.receptive_field.known()) return;  // receptive needs the field; bilinear it is
  std::vector<Upsampler> candidates;  // every mode, bilinear first: it wins a tie
  for (const auto& [mode, name] : Names<Upsampling>::table) candidates.push_back(upsampler_of(man, mode));
  std::vector<double> aupro;
  man.upsampling = better_upsampler(val, type_names(man), candidates, &aupro).mode;
  if (std::isnan(aupro[0])) return;
  std::string said;
  for (size_t i = 0; i < candidates.size(); ++i) {
    char part[64];
    std::snprintf(part, sizeof part, "%s%s %.4f", i ? ", " : "", Names<Upsampling>::table[i].second, aupro[i]);
    said += part;
  }
  std::printf("upsampling %s: validation mean AUPRO %s\n", name_of(man.upsampling), said.c_str());
}

void choose_smoothing(BundleManifest& man, const std::vector<ImageScores>& val) {
  std::vector<std::vector<double>> aupro;
  std::vector<double> widest;
  const auto sigmas = better_smoothing(val, type_names(man), upsampler_of(man), kSmoothingSigmas, &aupro, &widest);
  std::string said;
  for (size_t k = 0; k < man.types.size(); ++k) {
    man.types[k].smoothing = sigmas[k];
    if (std::isnan(aupro[0][k])) continue;  // no mask of the type: unsmoothed
    const size_t i = std::find(kSmoothingSigmas.begin(), kSmoothingSigmas.end(), sigmas[k]) - kSmoothingSigmas.begin();
    char part[160];
    std::snprintf(part, sizeof part, "%s %g (%.4f, unsmoothed %.4f, widest %.1f)", man.types[k].name.c_str(), sigmas[k],
                  aupro[i][k], aupro[0][k], widest[k]);
    said += (said.empty() ? "" : ", ") + std::string(part);
  }
  if (!said.empty()) std::printf("smoothing sigma in map cells by validation AUPRO: %s\n", said.c_str());
}

// Says each type's peak fraction, the validation pixel F1 of the best share and of the threshold
// alone, and the standard error of the gain.
void say_peak_fractions(const BundleManifest& man, const Calibration& cal) {
  std::string said;
  for (size_t k = 0; k < man.types.size(); ++k) {
    const PeakFractionChoice& c = cal.peak_fraction_choice[k];
    if (std::isnan(c.best_f1)) continue;  // no mask of the type
    char part[200];
    std::snprintf(part, sizeof part, "%s %g (best %g: %.4f, threshold alone %.4f, gain's SE %.4f)",
                  man.types[k].name.c_str(), cal.peak_fraction[k], c.best, c.best_f1, c.alone_f1, c.gain_se);
    said += (said.empty() ? "" : ", ") + std::string(part);
  }
  if (!said.empty()) std::printf("regions' share of the map's peak by validation pixel F1: %s\n", said.c_str());
}

}  // namespace

EvalReport calibrate_manifest(BundleManifest& man, const std::vector<ImageScores>& val, const CalibrationPlan& plan) {
  // The upsampling is chosen on the maps as the network gives them, as after training, not on a
  // smoothing about to be chosen again.
  if (plan.choose_smoothing)
    for (auto& t : man.types) t.smoothing = 0;
  if (plan.choose_upsampling) choose_upsampling(man, val);
  if (plan.choose_smoothing) choose_smoothing(man, val);
  std::vector<double> fb_img, fb_pix;
  for (const auto& t : man.types) {
    fb_img.push_back(t.image_threshold);
    fb_pix.push_back(t.pixel_threshold);
  }
  const std::vector<double> fractions = plan.choose_peak_fraction ? kPeakFractions : std::vector<double>{0};
  const Calibration cal = calibrate(val, type_names(man), upsampler_of(man), fb_img, fb_pix, kNormalImageQuantile,
                                    kNormalPixelQuantile, fractions);
  for (size_t k = 0; k < man.types.size(); ++k) {
    man.types[k].image_threshold = cal.image[k];
    man.types[k].pixel_threshold = cal.pixel[k];
    man.types[k].peak_fraction = cal.peak_fraction[k];
  }
  man.calibrated = true;
  if (plan.choose_peak_fraction) say_peak_fractions(man, cal);
  for (const auto& n : cal.notes) std::cerr << "calibration: " << n << "\n";
  return summarize(val, type_names(man), upsampler_of(man));
}

namespace {

// `trained` times each factor, rounded; `who` names the caller in the error.
std::vector<int64_t> scaled_sides(int64_t trained, std::initializer_list<double> factors, const char* who) {
  if (trained < 1) throw std::invalid_argument(std::string(who) + ": input side " + std::to_string(trained) + " px");
  std::vector<int64_t> out;
  for (const double f : factors) out.push_back(std::llround(static_cast<double>(trained) * f));
  return out;
}

}  // namespace

std::vector<int64_t> bundle_sizes(int64_t trained) {
  return scaled_sides(trained, {1.0, 7.0 / 6, 4.0 / 3, 1.5}, "bundle_sizes");
}

std::vector<int64_t> per_type_bundle_sizes(int64_t trained) {
  return scaled_sides(trained, {1.0, 4.0 / 3, 5.0 / 3, 2.0}, "per_type_bundle_sizes");
}

bool type_has_masks(const std::vector<EvalReport>& candidates, size_t k) {
  return std::any_of(candidates.begin(), candidates.end(), [&](const EvalReport& c) { return !std::isnan(c.types[k].aupro); });
}

double per_type_figure(const TypeReport& t, bool masked) {
  return masked ? (t.aupro + t.vs_normal.auroc) / 2 : t.vs_normal.auroc;
}

double per_type_figure_se(const TypeReport& t, bool masked) {
  return masked ? std::sqrt(t.aupro_se * t.aupro_se + t.auroc_se * t.auroc_se) / 2 : t.auroc_se;
}

std::vector<size_t> best_candidate_per_type(const std::vector<EvalReport>& candidates,
                                            const std::vector<size_t>& runs_in) {
  if (candidates.empty()) throw std::invalid_argument("best_candidate_per_type: no candidate");
  if (runs_in.size() != candidates.size())
    throw std::invalid_argument("best_candidate_per_type: " + std::to_string(runs_in.size()) + " run counts for " +
                                std::to_string(candidates.size()) + " candidates");
  const size_t types = candidates.front().types.size();
  for (const auto& c : candidates)
    if (c.types.size() != types) throw std::invalid_argument("best_candidate_per_type: the reports' types differ");
  std::vector<size_t> chosen(types, 0);
  for (size_t k = 0; k < types; ++k) {
    const bool masked = type_has_masks(candidates, k);
    const auto figure = [&](size_t i) { return per_type_figure(candidates[i].types[k], masked); };
    size_t best = 0;
    for (size_t i = 1; i < candidates.size(); ++i)
      if (figure(i) > figure(best) || (std::isnan(figure(best)) && !std::isnan(figure(i)))) best = i;
    // NaN (too few regions or images to tell) leaves no tolerance: the best itself.
    const double se = per_type_figure_se(candidates[best].types[k], masked);
    const double floor = figure(best) - (std::isnan(se) ? 0 : se);
    chosen[k] = best;
    for (size_t i = 0; i < candidates.size(); ++i)
      if (figure(i) >= floor && (runs_in[i] > runs_in[chosen[k]] ||
                                 (runs_in[i] == runs_in[chosen[k]] && figure(i) > figure(chosen[k]))))
        chosen[k] = i;
  }
  return chosen;
}

std::vector<std::vector<float>> network_shares(const std::vector<int64_t>& runs, const std::vector<unsigned>& sets) {
  const int64_t networks = std::accumulate(runs.begin(), runs.end(), int64_t{0});
  std::vector<std::vector<float>> w(static_cast<size_t>(networks), std::vector<float>(sets.size(), 0.f));
  for (size_t k = 0; k < sets.size(); ++k) {
    if (sets[k] == 0 || sets[k] >> runs.size() != 0)
      throw std::invalid_argument("network_shares: type " + std::to_string(k) + "'s set of runs is empty or too wide");
    int64_t n = 0;
    for (size_t r = 0; r < runs.size(); ++r)
      if (sets[k] >> r & 1u) n += runs[r];
    size_t first = 0;
    for (size_t r = 0; r < runs.size(); first += static_cast<size_t>(runs[r]), ++r)
      if (sets[k] >> r & 1u)
        for (int64_t m = 0; m < runs[r]; ++m) w[first + static_cast<size_t>(m)][k] = 1.f / static_cast<float>(n);
  }
  return w;
}

}  // namespace mtfcdd
