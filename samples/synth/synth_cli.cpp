#include "synth_cli.hpp"

#include <limits>
#include <stdexcept>

#include "cli_args.hpp"

namespace mtfcdd::synth {

const char* const kUsage = R"(usage: mtfcdd-synth --out DIR [options]

Writes a synthetic multi-type defect dataset: DIR/dataset.json, DIR/manifest.csv, DIR/img/<split>/*.png
and DIR/img/<split>/masks/*.png. The same seed and options give byte-identical files.

options:
  --out DIR               dataset folder (created; files there are overwritten)
  --seed N                random seed (default 1)
  --size S                image side in pixels (default 128)
  --train N --val N --test N
                          images per split (defaults 1600, 320, 320)
  --alpha A               fraction of defective images in train (default 0.2)
  --eval-defective F      fraction of defective images in val and test (default 0.5)
  --two-type-ratio R      fraction of defective images with two types (default 0.15)
  --splits a,b,..         splits to write; the manifest lists only these (default train,val,test)
  --categories a,b,..     object categories (default all: disc,brushed_plate,plastic,fabric,pcb,wood)
  --types a,b,..          defect types, in the dataset's order (default all: pit,deformation,abrasion,
                          scratch,damage,missing_parts,foreign_object,contamination)
  --threads N             worker threads (default: one per hardware thread)
  --help                  this text
)";

namespace {

std::vector<std::string> name_list(const CliArgs& a, const std::string& key) {
  std::vector<std::string> out;
  const std::string v = a.str(key);
  for (size_t pos = 0; pos <= v.size();) {
    const size_t end = std::min(v.find(',', pos), v.size());
    out.push_back(v.substr(pos, end - pos));
    if (out.back().empty()) throw std::invalid_argument("--" + key + " has an empty name");
    pos = end + 1;
  }
  return out;
}

int bounded(const CliArgs& a, const std::string& key, long long def, long long lo) {
  const long long v = a.integer(key, def);
  if (v < lo || v > std::numeric_limits<int>::max())
    throw std::invalid_argument("--" + key + " must be at least " + std::to_string(lo) + ", got " + std::to_string(v));
  return static_cast<int>(v);
}

}  // namespace

CliRequest parse_cli(int argc, char** argv) {
  const CliArgs a(argc, argv, 1, {"help"});
  CliRequest r;
  r.help = a.has("help");
  SynthOptions& o = r.options;
  o.out = a.str("out");
  const long long seed = a.integer("seed", 1);
  if (seed < 0) throw std::invalid_argument("--seed must not be negative, got " + std::to_string(seed));
  o.seed = static_cast<uint64_t>(seed);
  o.size = bounded(a, "size", o.size, 32);
  for (size_t s = 0; s < kSplits.size(); ++s) o.counts[s] = bounded(a, kSplits[s], o.counts[s], 0);
  o.alpha = a.real("alpha", o.alpha);
  o.eval_defective = a.real("eval-defective", o.eval_defective);
  o.two_type_ratio = a.real("two-type-ratio", o.two_type_ratio);
  if (a.has("splits")) o.splits = name_list(a, "splits");
  if (a.has("categories")) o.categories = name_list(a, "categories");
  if (a.has("types")) o.types = name_list(a, "types");
  if (a.has("threads")) o.threads = bounded(a, "threads", 1, 1);
  a.reject_unknown();
  if (!r.help) validate(o);
  return r;
}

}  // namespace mtfcdd::synth
