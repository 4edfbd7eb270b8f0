#include "synth_cli.hpp"

#include <stdexcept>

#include "defects.hpp"
#include "mtfcdd/cli.hpp"
#include "scenes.hpp"

namespace mtfcdd::synth {
namespace {

template <class Table>
std::vector<std::string> names_of(const Table& table) {
  std::vector<std::string> names;
  for (const auto& entry : table) names.push_back(entry.name);
  return names;
}

// A comma-separated list of names, each one of `known` (CLI11 skips empty entries).
CLI::Option* add_name_list(CLI::App& app, const std::string& flag, std::vector<std::string>& into,
                           const std::vector<std::string>& known, const std::string& what) {
  return app.add_option(flag, into, what)->delimiter(',')->check(CLI::IsMember(known))->type_name("a,b,..");
}

}  // namespace

void declare_options(CLI::App& app, SynthOptions& o) {
  cli::configure(app);
  app.description(
      "Writes a synthetic multi-type defect dataset: DIR/dataset.json, DIR/manifest.csv, DIR/img/<split>/*.png\n"
      "and DIR/img/<split>/masks/*.png. The same seed and options give byte-identical files\n"
      "with any --threads (on one build: another compiler or libm may round differently).");
  app.add_option("--out", o.out, "dataset folder (created; files there are overwritten)")->required()->type_name("DIR");
  app.add_option("--seed", o.seed, "random seed")->check(CLI::NonNegativeNumber);
  app.add_option("--size", o.size, "image side in pixels")->check(CLI::Range(kMinSize, kMaxSize));
  for (size_t s = 0; s < kSplits.size(); ++s)
    app.add_option(std::string("--") + kSplits[s], o.counts[s], std::string("images in ") + kSplits[s])
        ->check(CLI::Range(0, kMaxImagesPerSplit));
  app.add_option("--alpha", o.alpha, "fraction of defective images in train")->check(CLI::Range(0.0, 1.0));
  app.add_option("--eval-defective", o.eval_defective, "fraction of defective images in val and test")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--two-type-ratio", o.two_type_ratio, "fraction of defective images with two types")
      ->check(CLI::Range(0.0, 1.0));
  add_name_list(app, "--splits", o.splits, {kSplits.begin(), kSplits.end()},
                "splits to write; the manifest lists only these");
  add_name_list(app, "--categories", o.categories, names_of(categories()), "object categories")
      ->default_str("all");
  add_name_list(app, "--types", o.types, names_of(defect_types()), "defect types, in the dataset's order")
      ->default_str("all");
  app.add_option("--threads", o.threads, "worker threads")
      ->check(CLI::PositiveNumber)
      ->default_str("one per hardware thread");
  // What a range cannot say (a name listed twice, an empty list) the library checks.
  app.final_callback([&o] {
    try {
      validate(o);
    } catch (const std::invalid_argument& e) {
      throw CLI::ValidationError(e.what());
    }
  });
}

}  // namespace mtfcdd::synth
