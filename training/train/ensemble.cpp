#include "ensemble.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "bundle_calibration.hpp"
#include "export.hpp"
#include "trainer.hpp"
#include "util_files.hpp"
#include "util_text.hpp"

namespace mtfcdd {

namespace fs = std::filesystem;

Dataset load_for(const DnnModel& dnn, const std::string& path, LoadOptions lo) {
  if (lo.types.empty() && !lo.single_channel)
    for (const auto& t : dnn.manifest().types) lo.types.push_back(t.name);
  Dataset data = load_dataset(path, lo);
  for (const auto& w : data.warnings) std::cerr << "warning: " << w << "\n";
  return data;
}

EvalReport calibrate_in_place(const std::string& dir, const std::string& data_path, const LoadOptions& d,
                              const std::string& split, const CalibrationChoices& c) {
  DnnModel dnn(dir);
  BundleManifest man = dnn.manifest();
  const Dataset data = load_for(dnn, data_path, d);
  if (c.upsampling) man.upsampling = upsampler_of(man, c.upsampling).mode;
  if (c.smoothing == "none")  // auto: calibrate_manifest chooses each type's sigma afresh
    for (auto& t : man.types) t.smoothing = 0;
  const auto scores = score_split(dnn, data, split, upsampler_of(man), c.batch, "calibrating on " + split);
  if (scores.empty()) throw std::runtime_error(data_path + ": no images in split '" + split + "' to calibrate on");
  const EvalReport report =
      calibrate_manifest(man, scores, {!c.upsampling, c.smoothing == "auto", c.peak_fraction == "auto"});
  write_manifest(man, dir);
  std::printf("bundle %s: thresholds calibrated on %zu %s images of %s\n", dir.c_str(), scores.size(), split.c_str(),
              data_path.c_str());
  return report;
}

namespace {

// Finished runs' best epochs (RUN/best.pt), checked to fit together, and what each was.
struct JoinedRuns {
  std::vector<std::string> names;    // as given
  std::vector<ModelConfig> configs;  // as trained (input_size: the trained side)
  std::vector<std::string> best;     // their RUN/best.pt
  std::vector<double> scales;        // each one's side over its trained side (1, or at_scales')
  Resize resize = Resize::Stretch;
  BundleManifest first;              // the first run's bundle: types and flip averaging
  nlohmann::json sources = nlohmann::json::array();

  int64_t trained_size() const { return configs.front().input_size; }
  // The runs whose bits are set in `set`, in order.
  JoinedRuns only(unsigned set) const {
    JoinedRuns o{{}, {}, {}, {}, resize, first, nlohmann::json::array()};
    for (size_t r = 0; r < names.size(); ++r)
      if (set >> r & 1u) o.add(*this, r, 1.0);
    return o;
  }
  // Every run once at each of `s` times its side: bit (i x runs + r) is run r at s[i].
  JoinedRuns at_scales(const std::vector<double>& s) const {
    JoinedRuns o{{}, {}, {}, {}, resize, first, nlohmann::json::array()};
    for (const double f : s)
      for (size_t r = 0; r < names.size(); ++r) o.add(*this, r, f);
    return o;
  }

 private:
  void add(const JoinedRuns& from, size_t r, double f) {
    const auto side = std::llround(f * from.scales[r] * static_cast<double>(from.configs[r].input_size));
    names.push_back(f == 1.0 ? from.names[r] : from.names[r] + "@" + std::to_string(side));
    configs.push_back(from.configs[r]);
    best.push_back(from.best[r]);
    scales.push_back(f * from.scales[r]);
    sources.push_back(from.sources[r]);
  }
};

JoinedRuns read_runs(const std::vector<std::string>& runs) {
  JoinedRuns j;
  for (size_t i = 0; i < runs.size(); ++i) {
    const fs::path r = runs[i];
    const RunNetwork n = run_network(r.string());
    if (i > 0 && n.resize != j.resize)
      throw std::invalid_argument(r.string() + " was trained on '" + name_of(n.resize) + "' inputs, " + runs[0] +
                                  " on '" + name_of(j.resize) + "': the runs must place the part alike");
    if (!fs::exists(r / "best.pt") || !fs::exists(r / "bundle" / "model.json"))
      throw std::runtime_error(r.string() + ": no best.pt or bundle/ (an unfinished run: finish it or --resume it first)");
    const BundleManifest man = read_manifest((r / "bundle").string());
    if (i == 0) j.first = man;
    const auto names = type_names_of(man.types), first = type_names_of(j.first.types);
    if (names != first)  // a count alone would join one run's channel k with another's type
      throw std::invalid_argument(r.string() + " maps the types [" + join(names, ", ") + "], " + runs[0] + " [" +
                                  join(first, ", ") + "]: the runs must map the same types in the same order");
    j.resize = n.resize;
    j.names.push_back(r.string());
    j.configs.push_back(n.model);
    j.best.push_back((r / "best.pt").string());
    j.scales.push_back(1.0);
    j.sources.push_back({{"run", r.string()}, {"network", network_description(n.model)},
                         {"best_epoch", man.provenance.value("best_epoch", -1)}, {"seed", man.provenance.value("seed", -1)},
                         {"trained_input_size", n.model.input_size}});
    const auto init = man.provenance.find("init");  // the run it was fine-tuned from, if any
    if (init != man.provenance.end() && !init->is_null()) j.sources.back()["init"] = *init;
  }
  return j;
}

// The runs' networks in the order one bundle holds them: the largest side first (its side is the
// bundle's input and its grid the maps'), each run at `scale` times its trained side, with each
// network's per-type share when `sets` (per type, the bits of the runs whose mean is its map) are given.
struct BundleOrder {
  std::vector<ModelConfig> configs;
  std::vector<std::string> best;
  std::vector<std::vector<float>> shares;
  nlohmann::json sources = nlohmann::json::array();
  int64_t trained_first = 0;  // the trained side of the run whose side is the input
};

BundleOrder bundle_order(const JoinedRuns& j, double scale, const std::vector<unsigned>& sets) {
  std::vector<int64_t> members, side;
  for (size_t r = 0; r < j.configs.size(); ++r) {
    members.push_back(j.configs[r].members);
    side.push_back(std::llround(scale * j.scales[r] * static_cast<double>(j.configs[r].input_size)));
  }
  std::vector<size_t> order(j.configs.size()), first_net(j.configs.size(), 0);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return side[a] > side[b]; });
  for (size_t r = 1; r < members.size(); ++r) first_net[r] = first_net[r - 1] + static_cast<size_t>(members[r - 1]);
  const auto shares = sets.empty() ? std::vector<std::vector<float>>{} : network_shares(members, sets);
  BundleOrder b;
  b.trained_first = j.configs[order.front()].input_size;
  for (const size_t r : order) {
    b.configs.push_back(j.configs[r]);
    b.configs.back().input_size = side[r];
    b.best.push_back(j.best[r]);
    b.sources.push_back(j.sources[r]);
    b.sources.back()["input_size"] = side[r];
    for (int64_t m = 0; m < members[r] && !shares.empty(); ++m) b.shares.push_back(shares[first_net[r] + m]);
  }
  return b;
}

// The runs joined into one network for inputs `scale` times each run's trained side (fully
// convolutional: the weights fit any side), exported to `dir`, checked and calibrated on the
// validation split as `train` does; returns the split's report. Runs trained at other sides see
// the part at the same scale of their own: the largest side is the bundle's input, the others
// see it resized and their maps are resized to its finer grid. sets: as for bundle_order (every
// type from all the runs, or none given: the plain mean). Removes `dir` on failure.
EvalReport bundle_runs(const JoinedRuns& j, double scale, const std::string& dir, const EnsembleOptions& o,
                       const LoadOptions& d, const std::vector<unsigned>& sets = {}) {
  const unsigned all = (1u << j.names.size()) - 1;
  const bool mean = std::all_of(sets.begin(), sets.end(), [&](unsigned s) { return s == all; });
  const BundleOrder b = bundle_order(j, scale, mean ? std::vector<unsigned>{} : sets);
  FcddModel model = ensemble_of(b.configs, b.best);
  model->set_type_weights(b.shares);
  ExportRequest req;
  req.out_dir = dir;
  req.types = j.first.types;  // their smoothing and thresholds are chosen again by the calibration
  req.resize = j.resize;
  req.flip_average = o.c.flip_average.value_or(j.first.flip_average);
  req.provenance = {{"preset", model->config().preset},
                    {"members", model->config().members},
                    {"ensemble_of", b.sources},
                    {"data", o.data},
                    {"trainer", "mtfcdd-train " MTFCDD_VERSION}};
  for (size_t k = 0; k < sets.size() && !mean; ++k)
    for (size_t r = 0; r < j.names.size(); ++r)
      if (sets[k] >> r & 1u) req.provenance["type_runs"][j.first.types[k].name].push_back(j.names[r]);
  if (b.configs.front().input_size != b.trained_first) req.provenance["trained_input_size"] = b.trained_first;
  try {
    print_export(export_bundle(*model, req), dir);
    return calibrate_in_place(dir, o.data, d, "val", o.c);
  } catch (...) {
    fs::remove_all(dir);
    throw;
  }
}

// `s` as an input side in px (32 to 4096), or nothing.
std::optional<int64_t> side_in_px(const std::string& s) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
  }
  if (used != s.size() || v < 32 || v > 4096) return std::nullopt;
  return v;
}

// The bundle of all the runs at each of `sizes` (px), each calibrated in `o.out`.sizeN (a folder
// of `trials`), and their validation reports.
std::vector<EvalReport> bundles_at_sides(const JoinedRuns& j, const std::vector<int64_t>& sizes, const EnsembleOptions& o,
                                         const LoadOptions& d, RemovedFolders& trials) {
  std::vector<EvalReport> reports;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::printf("bundle size %lld px (%zu of %zu):\n", static_cast<long long>(sizes[i]), i + 1, sizes.size());
    trials.paths.push_back(o.out + ".size" + std::to_string(sizes[i]));
    reports.push_back(bundle_runs(j, static_cast<double>(sizes[i]) / j.trained_size(), trials.paths.back(), o, d));
  }
  return reports;
}

// The side of bundle_sizes whose bundle of all the runs has the highest mean validation AUPRO (the
// trained side when no type has masks): its scale (bundle side over trained side) and validation
// report. Each side is calibrated in `o.out`.sizeN; the chosen bundle is moved to `keep_as` unless
// it is empty. Each side's image AUROC is printed beside it: a larger side can rank images worse.
struct BestSide {
  double scale;
  EvalReport report;
};
BestSide bundle_at_best_side(const JoinedRuns& j, const EnsembleOptions& o, const LoadOptions& d,
                             const std::string& keep_as) {
  const int64_t trained = j.trained_size();
  const auto sizes = bundle_sizes(trained);
  RemovedFolders trials;
  const std::vector<EvalReport> reports = bundles_at_sides(j, sizes, o, d, trials);
  std::string said;
  size_t best = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const TypeReport& mean = reports[i].mean;
    if (mean.aupro > reports[best].mean.aupro) best = i;  // never on NaN
    char part[80];
    std::snprintf(part, sizeof part, "%s%lld px %.4f (image AUROC %.4f)", i ? ", " : "", static_cast<long long>(sizes[i]),
                  mean.aupro, mean.vs_normal.auroc);
    said += part;
  }
  if (!keep_as.empty()) fs::rename(trials.paths[best], keep_as);
  const double scale = static_cast<double>(sizes[best]) / static_cast<double>(trained);
  std::printf("bundle size %lld px by validation mean AUPRO: %s; inference costs %.2fx the trained side's\n",
              static_cast<long long>(sizes[best]), said.c_str(), scale * scale);
  return {scale, reports[best]};
}

// The runs whose bits are set in `set`, by name.
std::string run_names(const JoinedRuns& j, unsigned set) {
  std::string s;
  for (size_t r = 0; r < j.names.size(); ++r)
    if (set >> r & 1u) s += (s.empty() ? "" : "+") + fs::path(j.names[r]).filename().string();
  return s;
}

// "type T from|at LABEL (validation AUPRO/image AUROC: figure +- its standard error: LABEL a/b:
// f +- se, ...)": what best_candidate_per_type weighed for type k and what it chose.
void print_type_choice(const std::string& type, const char* how, size_t k, size_t chosen,
                       const std::vector<std::string>& labels, const std::vector<EvalReport>& reports) {
  const bool masked = type_has_masks(reports, k);
  std::string figures;
  for (size_t i = 0; i < reports.size(); ++i) {
    const TypeReport& t = reports[i].types[k];
    char part[160];
    std::snprintf(part, sizeof part, "%s%s %.4f/%.4f: %.4f +- %.4f", i ? ", " : "", labels[i].c_str(), t.aupro,
                  t.vs_normal.auroc, per_type_figure(t, masked), per_type_figure_se(t, masked));
    figures += part;
  }
  std::printf("type %s %s %s (validation AUPRO/image AUROC: figure +- its standard error: %s)\n", type.c_str(), how,
              labels[chosen].c_str(), figures.c_str());
}

// Where bundle_per_type measures the runs whose bits are set in `set`.
std::string per_type_trial(const std::string& out, unsigned set) { return out + ".runs" + std::to_string(set); }

// Each type's map from the set of runs that serves it best on validation. Every non-empty set of
// the runs is measured as the bundle of all of them maps it (the same input, grid and upsampling;
// the other runs' share 0), in per_type_trial, all the runs first (already there, with its
// validation report `all_runs_bundled`, when --bundle-size auto made it); each type takes the set
// best_candidate_per_type says (AUPRO and image AUROC, the most runs within one standard error). The
// runs no type took are left out of `o.out` (if one has the largest side, the bundle takes the
// next side's inputs and its figures move a little from the printed ones).
void bundle_per_type(const JoinedRuns& j, double scale, EnsembleOptions o, const LoadOptions& d,
                     const EvalReport* all_runs_bundled) {
  const unsigned all = (1u << j.names.size()) - 1;
  std::vector<unsigned> sets{all};
  for (unsigned s = 1; s < all; ++s) sets.push_back(s);
  RemovedFolders trials;
  std::vector<EvalReport> reports;
  for (size_t i = 0; i < sets.size(); ++i) {
    trials.paths.push_back(per_type_trial(o.out, sets[i]));
    std::printf("runs %s (%zu of %zu):%s\n", run_names(j, sets[i]).c_str(), i + 1, sets.size(),
                i == 0 && all_runs_bundled ? " the bundle at the side chosen above" : "");
    reports.push_back(i == 0 && all_runs_bundled
                          ? *all_runs_bundled
                          : bundle_runs(j, scale, trials.paths.back(), o, d,
                                        std::vector<unsigned>(j.first.types.size(), sets[i])));
    if (i == 0) o.c.upsampling = read_manifest(trials.paths[0]).upsampling;  // one for every set
  }
  std::vector<size_t> runs_in;
  for (unsigned s : sets) runs_in.push_back(static_cast<size_t>(__builtin_popcount(s)));
  const auto best = best_candidate_per_type(reports, runs_in);
  std::vector<std::string> labels;
  for (unsigned set : sets) labels.push_back(run_names(j, set));
  std::vector<unsigned> chosen;
  unsigned used = 0;
  for (size_t k = 0; k < best.size(); ++k) {
    chosen.push_back(sets[best[k]]);
    used |= chosen.back();
    print_type_choice(j.first.types[k].name, "from", k, best[k], labels, reports);
  }
  if (std::all_of(chosen.begin(), chosen.end(), [&](unsigned s) { return s == all; })) {
    fs::rename(trials.paths.front(), o.out);  // every type from all the runs: that bundle as it is
    return;
  }
  // The chosen sets over the runs kept: bit r of `used` becomes bit (its rank among used's bits).
  std::vector<unsigned> kept(chosen.size(), 0);
  for (size_t k = 0; k < chosen.size(); ++k)
    for (unsigned r = 0, at = 0; r < j.names.size(); r += 1)
      if (used >> r & 1u) kept[k] |= (chosen[k] >> r & 1u) << at++;
  std::printf("bundle of %s, each type from its runs:\n", run_names(j, used).c_str());
  bundle_runs(j.only(used), scale, o.out, o, d, kept);
}

// The runs joined once per side in `side_of` (type k's side in px), the largest side the input,
// each type's map from its side's networks; exported and calibrated in o.out. Inference costs the
// sum of the sides' areas.
void bundle_at_type_sides(const JoinedRuns& j, const std::vector<int64_t>& side_of, const EnsembleOptions& o,
                          const LoadOptions& d) {
  std::vector<int64_t> sides(side_of);
  std::sort(sides.rbegin(), sides.rend());
  sides.erase(std::unique(sides.begin(), sides.end()), sides.end());
  if (j.names.size() * sides.size() > 32)  // a bit per run and side in each type's set
    throw std::invalid_argument(std::to_string(j.names.size()) + " runs at " + std::to_string(sides.size()) +
                                " sides: at most 32 networks");
  std::vector<double> scales;
  std::string said;
  double area = 0;
  for (const int64_t side : sides) {
    scales.push_back(static_cast<double>(side) / static_cast<double>(j.trained_size()));
    area += scales.back() * scales.back();
    said += (said.empty() ? "" : ", ") + std::to_string(side) + " px";
  }
  const unsigned runs = (1u << j.names.size()) - 1;
  std::vector<unsigned> sets;  // at_scales' bits: the runs at the type's side
  for (const int64_t side : side_of) {
    const auto rank = static_cast<size_t>(std::find(sides.begin(), sides.end(), side) - sides.begin());
    sets.push_back(runs << (j.names.size() * rank));
  }
  std::printf("bundle of the runs at %s, each type at its own; inference costs %.2fx the trained side's:\n",
              said.c_str(), area);
  bundle_runs(j.at_scales(scales), 1.0, o.out, o, d, sets);
}

// --bundle-size per-type: every type inspected at the side of per_type_bundle_sizes that its
// validation prefers (best_candidate_per_type: of the sides within one standard error of the best,
// the smallest). Small marks want fine cells and large patches a whole view, and one side for all
// trades one for the other (docs/results.md).
void bundle_each_type_at_its_side(const JoinedRuns& j, const EnsembleOptions& o, const LoadOptions& d) {
  const auto sizes = per_type_bundle_sizes(j.trained_size());
  RemovedFolders trials;
  const std::vector<EvalReport> reports = bundles_at_sides(j, sizes, o, d, trials);
  std::vector<std::string> labels;
  std::vector<size_t> smaller_first;
  for (size_t i = 0; i < sizes.size(); ++i) {
    labels.push_back(std::to_string(sizes[i]) + " px");
    smaller_first.push_back(sizes.size() - i);
  }
  const auto best = best_candidate_per_type(reports, smaller_first);
  std::vector<int64_t> side_of;
  for (size_t k = 0; k < best.size(); ++k) {
    print_type_choice(j.first.types[k].name, "at", k, best[k], labels, reports);
    side_of.push_back(sizes[best[k]]);
  }
  if (std::all_of(best.begin(), best.end(), [&](size_t i) { return i == best.front(); }))
    fs::rename(trials.paths[best.front()], o.out);  // one side for every type: that bundle as it is
  else
    bundle_at_type_sides(j, side_of, o, d);
}

// --type-sides items "name=px": each type's side, every type of the runs named once.
std::vector<int64_t> parse_type_sides(const std::vector<std::string>& items, const std::vector<DefectType>& types) {
  std::vector<int64_t> side_of(types.size(), 0);
  std::string names;
  for (const auto& t : types) names += (names.empty() ? "" : ",") + t.name;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    const auto t = std::find_if(types.begin(), types.end(), [&](const DefectType& d) { return d.name == name; });
    if (eq == std::string::npos || t == types.end())
      throw std::invalid_argument("--type-sides " + item + ": give type=px for the runs' types (" + names + ")");
    const auto px = side_in_px(item.substr(eq + 1));
    if (!px) throw std::invalid_argument("--type-sides " + item + ": give a side in px (32 to 4096)");
    int64_t& side = side_of[static_cast<size_t>(t - types.begin())];
    if (side != 0) throw std::invalid_argument("--type-sides names " + name + " twice");
    side = *px;
  }
  for (size_t k = 0; k < types.size(); ++k)
    if (side_of[k] == 0) throw std::invalid_argument("--type-sides: no side for type " + types[k].name);
  return side_of;
}

}  // namespace

int64_t parse_bundle_size(const std::string& s) {
  if (s == "trained") return kTrainedSide;
  if (s == "auto") return kAutoSide;
  if (s == "per-type") return kPerTypeSide;
  if (const auto v = side_in_px(s)) return *v;
  throw std::invalid_argument("--bundle-size " + s + ": give trained, auto, per-type or a side in px (32 to 4096)");
}

void make_ensemble(const EnsembleOptions& o, const LoadOptions& d) {
  const auto& runs = o.runs;
  if (runs.empty()) throw std::invalid_argument("--runs needs at least one run folder");
  const int64_t asked = parse_bundle_size(o.bundle_size);
  if (o.per_type && (asked == kPerTypeSide || !o.type_sides.empty()))
    throw std::invalid_argument("--per-type and each type at its side: give one of them (each type from its runs, or at its side)");
  if (o.per_type && (runs.size() < 2 || runs.size() > 4))
    throw std::invalid_argument("--per-type bundles every set of the runs: give 2 to 4 runs, not " +
                                std::to_string(runs.size()));
  if (!o.type_sides.empty() && asked != kTrainedSide)
    throw std::invalid_argument("--type-sides gives every type's side: leave --bundle-size out");
  if (asked == kPerTypeSide && runs.size() > 8)  // a bit per run and side in each type's set
    throw std::invalid_argument("--bundle-size per-type joins every run at up to 4 sides: give at most 8 runs");
  if (fs::exists(o.out)) throw std::runtime_error(o.out + " exists; give a new folder");
  const JoinedRuns j = read_runs(runs);
  if (asked == kPerTypeSide) {
    bundle_each_type_at_its_side(j, o, d);
    return;
  }
  if (!o.type_sides.empty()) {
    bundle_at_type_sides(j, parse_type_sides(o.type_sides, j.first.types), o, d);
    return;
  }
  if (asked == kAutoSide) {  // auto: the side's bundle of all the runs is the answer, or --per-type's first set
    const unsigned all = (1u << runs.size()) - 1;
    const BestSide side = bundle_at_best_side(j, o, d, o.per_type ? per_type_trial(o.out, all) : o.out);
    if (o.per_type) bundle_per_type(j, side.scale, o, d, &side.report);
    return;
  }
  const double scale = asked > 0 ? static_cast<double>(asked) / static_cast<double>(j.trained_size()) : 1.0;
  if (o.per_type)
    bundle_per_type(j, scale, o, d, nullptr);
  else
    bundle_runs(j, scale, o.out, o, d);
}

}  // namespace mtfcdd
