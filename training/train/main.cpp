// mtfcdd-train: the companion trainer's command line (CLI11: every subcommand's --help is made
// from its options; ranges and choices are declared once, beside the option).
#include "mtfcdd/cli.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <optional>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "bundle_calibration.hpp"
#include "dataset.hpp"
#include "dist_env.hpp"
#include <mtfcdd/dnn_model.hpp>
#include "evaluate.hpp"
#include "quantize.hpp"
#include "export.hpp"
#include "fcdd_math.hpp"
#include "fcdd_model.hpp"
#include "figure.hpp"
#include "heap_tuning.hpp"
#include "launcher.hpp"
#include "safetensors.hpp"
#include "sampler.hpp"
#include "toy_data.hpp"
#include "trainer.hpp"
#include "weights.hpp"

namespace mtfcdd {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kPresets = {"irv2", "mobilenet_v1", "small"};
const std::vector<std::string> kFlips = {"none", "h", "v", "hv"};

std::vector<std::string> split_names(const std::string& names, const std::string& option) {
  std::vector<std::string> out;
  for (size_t pos = 0; !names.empty() && pos <= names.size();) {
    const size_t end = std::min(names.find(',', pos), names.size());
    out.push_back(names.substr(pos, end - pos));
    if (out.back().empty()) throw std::invalid_argument(option + " has an empty name");
    pos = end + 1;
  }
  return out;
}

// The network options info, export and train share (the types are the caller's).
struct NetOptions {
  ModelConfig m;
  int64_t head_channels = 0;  // 0 = the preset's default (128 for small, else 512)

  void add(CLI::App* c) {
    c->add_option("--preset", m.preset, "network preset")->check(CLI::IsMember(kPresets));
    c->add_option("--cut", m.cut, "mobilenet_v1: the last layer kept (conv_pw_5 .. conv_pw_11)");
    c->add_option("--second-cut", m.second_cut,
                  "mobilenet_v1: a deeper layer (e.g. conv_pw_11) whose features, upsampled to --cut's grid, join its "
                  "features before the head (maps from two depths)");
    c->add_option("--input-size", m.input_size, "square input side; 0 = the preset's (299 irv2, 224 others)")
        ->check(CLI::Range(0, 4096));
    c->add_option("--head-channels", head_channels, "width of the head's 3x3 convs; default 128 for small, 512 else")
        ->check(CLI::Range(1, 4096));
    c->add_option("--head-dilation", m.head_dilation, "dilation of both head convs")->check(CLI::Range(1, 16));
    c->add_option("--members", m.members, "independently initialised networks whose maps are averaged")
        ->check(CLI::Range(1, 64));
  }
  ModelConfig config(int64_t types) const {
    ModelConfig c = m;
    c.head_channels = head_channels > 0 ? head_channels : (c.preset == "small" ? 128 : 512);
    c.types = types;
    return resolved(c);
  }
};

// How a dataset is read (train, eval, epochs).
struct DataOptions {
  std::string types;
  LoadOptions load;
  void add(CLI::App* c) {
    c->add_option("--types", types, "comma-separated type names: choose and order the channels (default: all)");
    c->add_flag("--single-channel", load.single_channel, "one type 'anomaly': every defect image is positive");
    c->add_flag("--skip-bad", load.skip_bad, "warn and skip bad records instead of stopping");
    c->add_flag("--decode-check", load.decode_check, "decode every image and mask at load (default: sizes from PNG/JPEG headers)");
    c->add_option("--image-root", load.image_root, "Real-IAD: the folder its JSON paths are relative to");
  }
  LoadOptions options() const {
    LoadOptions o = load;
    o.types = split_names(types, "--types");
    return o;
  }
};

void print_export(const ExportResult& r, const std::string& dir) {
  std::printf("bundle written: %s (model.onnx %.2f MB)\n", dir.c_str(), r.onnx_bytes / 1e6);
  std::printf("export check (OpenCV DNN vs LibTorch): relative L2 maps %.3g, scores %.3g (limit %.0e)\n",
              r.maps_rel_l2, r.scores_rel_l2, kExportTolerance);
  if (r.manifest.precision != Precision::Float32)
    std::printf("export check in %s: relative L2 maps %.3g, scores %.3g (limit %.0e)\n", name_of(r.manifest.precision),
                r.bf16_maps_rel_l2, r.bf16_scores_rel_l2, kExportBf16Tolerance);
}

std::vector<DefectType> named_types(const std::vector<std::string>& names, int64_t m) {
  std::vector<DefectType> out;
  for (const auto& n : names) out.push_back({n, n, std::log(2.0), std::log(2.0)});  // p = 0.5 until calibrated
  for (int64_t k = static_cast<int64_t>(out.size()); k < m; ++k)
    out.push_back({"type" + std::to_string(k), "type" + std::to_string(k), std::log(2.0), std::log(2.0)});
  return out;
}

// info and export: --type-count M, or as many types as --types names (every command's --types
// is a list of names; a count is always --type-count).
struct TypeCount {
  int64_t count = 0;
  std::string names;
  void add(CLI::App* c) {
    c->add_option("--type-count", count, "number of defect types (output channels)")->check(CLI::Range(1, 256));
    c->add_option("--types", names, "comma-separated type names (their count is the number of types)");
  }
  std::vector<std::string> list() const { return split_names(names, "--types"); }
  int64_t resolve(int64_t fallback) const {
    const auto n = static_cast<int64_t>(list().size());
    if (count > 0 && n > 0 && count != n)
      throw std::invalid_argument("--types lists " + std::to_string(n) + " names, --type-count says " +
                                  std::to_string(count));
    return count > 0 ? count : n > 0 ? n : fallback;
  }
};

int cmd_info(const NetOptions& net, const TypeCount& tc) {
  const ModelConfig cfg = net.config(tc.resolve(1));
  FcddModel model(cfg);
  model->set_backbone_frozen(true);
  const auto pc = count_parameters(*model);
  const NetGraph g = model->to_graph();
  const Shape hs = g.shape(g.outputs().front().id);
  std::printf("preset %s%s, %lld types, input %lldx%lld, heatmap %lldx%lld, head width %lld, dilation %lld, members %lld\n",
              cfg.preset.c_str(), cfg.cut.empty() ? "" : (" (" + cfg.cut + (cfg.second_cut.empty() ? "" : " + " + cfg.second_cut) + ")").c_str(),
              static_cast<long long>(cfg.types), static_cast<long long>(cfg.input_size),
              static_cast<long long>(cfg.input_size), static_cast<long long>(hs.h),
              static_cast<long long>(hs.w), static_cast<long long>(cfg.head_channels),
              static_cast<long long>(cfg.head_dilation), static_cast<long long>(cfg.members));
  std::printf("parameters: total %lld (%.2f M), trainable with frozen backbone %lld (%.2f M)\n",
              static_cast<long long>(pc.total), pc.total / 1e6, static_cast<long long>(pc.trainable),
              pc.trainable / 1e6);
  std::printf("  backbone %lld, head %lld\n", static_cast<long long>(pc.backbone), static_cast<long long>(pc.head));
  std::printf("FLOPs per image: %.3f GFLOP (multiply-add = 2)\n", g.flops() / 1e9);
  const NetGraph::Id maps = g.outputs().front().id;
  for (int axis = 0; axis < 2; ++axis) {
    const Reception r = reception(g, maps, axis);
    std::printf("receptive field (%s): size %lld, stride %lld, offset %g\n", axis ? "horizontal" : "vertical",
                static_cast<long long>(r.size), static_cast<long long>(r.stride), r.offset);
  }
  return 0;
}

struct ExportOptions {
  std::string out, weights;
  int64_t seed = 1;
  ExportRequest req;
};

int cmd_export(const NetOptions& net, const TypeCount& tc, ExportOptions o) {
  const int64_t m = tc.resolve(0);
  if (m == 0) throw std::invalid_argument("give --type-count M or --types a,b,..");
  const ModelConfig cfg = net.config(m);
  torch::manual_seed(o.seed);
  o.req.out_dir = o.out;
  o.req.types = named_types(tc.list(), cfg.types);
  FcddModel model(cfg);
  const std::string weights = setup_backbone(*model, o.weights, true);
  o.req.provenance = network_description(cfg);
  o.req.provenance.update({{"weights", weights}, {"data", "none (untrained head)"},
                           {"trainer", "mtfcdd-train " MTFCDD_VERSION}});
  print_export(export_bundle(*model, o.req), o.out);
  return 0;
}

struct ToyOptions {
  std::string out;
  int64_t types = 3, size = 64;
  int train = 160, val = 48, test = 48;
  uint64_t seed = 5;
};

int cmd_toy_data(const ToyOptions& o) {
  write_toy_dataset(o.out, o.types, o.size, {o.train, o.val, o.test}, o.seed);
  std::printf("toy dataset written to %s: %d train, %d val, %d test images of %lldx%lld, %lld types\n", o.out.c_str(),
              o.train, o.val, o.test, static_cast<long long>(o.size), static_cast<long long>(o.size),
              static_cast<long long>(o.types));
  return 0;
}

// train's options beyond the network and the data: the run, and where it runs.
struct TrainOptions {
  TrainConfig t;
  std::string flip = "none", lr_schedule = "constant", smoothing = "auto", bundle_size = "trained";
  int threads = 0;  // 0 = the cores / ranks on this machine
  int nproc = 0;    // > 0: launch this many local ranks
  DistFlags dist;
};

void add_train_options(CLI::App* c, TrainOptions& o) {
  TrainConfig& t = o.t;
  c->add_option("--data", t.data, "dataset: manifest folder, dataset.json, or Real-IAD JSON file/folder")->required();
  c->add_option("--out", t.out, "run folder: checkpoint.pt, best.pt, history.jsonl, bundle/")->required();
  c->add_option("--weights", t.weights, "backbone .safetensors (frozen); none = train the backbone from scratch");
  c->add_flag("--head-only", t.head_only, "keep the backbone frozen even without --weights (random: for timing)");
  c->add_option("--epochs", t.epochs, "balanced epochs")->check(CLI::Range(1, 100000));
  c->add_option("--batch", t.batch, "global batch: the images of one step over all ranks")->check(CLI::Range(1, 65536));
  c->add_option("--lr", t.lr, "Adam learning rate")->check(CLI::PositiveNumber);
  c->add_option("--lr-schedule", o.lr_schedule, "over the planned iterations")->check(CLI::IsMember({"constant", "cosine"}));
  c->add_option("--weight-decay", t.weight_decay, "Adam's L2 penalty")->check(CLI::NonNegativeNumber);
  c->add_option("--max-minutes", t.max_minutes, "time budget; 0 = none (all ranks stop at the same step)")->check(CLI::NonNegativeNumber);
  c->add_option("--max-steps", t.max_steps, "stop after this many iterations in all; 0 = no limit")->check(CLI::NonNegativeNumber);
  c->add_option("--aug-prob", t.aug.probability, "probability that an image is augmented")->check(CLI::Range(0.0, 1.0));
  c->add_option("--flip", o.flip, "augmentation flips")->check(CLI::IsMember(kFlips));
  c->add_option("--aug-stretch", t.aug.max_stretch, "largest aspect stretch")->check(CLI::Range(0.0, 1.0));
  c->add_option("--aug-scale", t.aug.max_scale, "largest scale change")->check(CLI::Range(0.0, 1.0));
  c->add_option("--aug-rotate", t.aug.max_rotation_deg, "largest rotation, degrees (0 where defects sit at the corners)")
      ->check(CLI::Range(0.0, 180.0));
  c->add_option("--aug-shift", t.aug.max_shift_px, "largest shift, input pixels")->check(CLI::Range(0.0, 4096.0));
  c->add_option("--ema", t.ema, "decay of the weight average validated and exported, e.g. 0.999; 0 = last weights")
      ->check(CLI::Range(0.0, 0.999999));
  c->add_option("--workers", t.workers, "data loading threads per rank")->check(CLI::Range(1, 64));
  c->add_option("--seed", t.seed, "sampling, augmentation and initialisation seed");
  c->add_option("--threads", o.threads, "compute threads per rank; default: the cores / the ranks on this machine")->check(CLI::Range(1, 1024));
  c->add_flag("--resume", t.resume, "continue RUN/checkpoint.pt");
  c->add_option("--init", t.init,
                "start a new run from RUN's best network (same network and types; its --input-size may differ: "
                "fine-tune a run at a larger side)");
  cli::add_choice(c, "--select", t.select, "which val figure picks the best epoch, or last: the last epoch (no early stopping)");
  c->add_flag("--bf16", t.bf16, "forward passes autocast to bfloat16");
  c->add_flag("--global-bn", t.global_bn,
              "one process normalises BatchNorm as several do (slower; then it matches an N-process run)");
  cli::add_choice(c, "--resize", t.resize, "how images become the input");
  c->add_option("--snapshots", t.snapshots, "the bundle averages the maps of K epochs evenly spaced over the run")
      ->check(CLI::Range(1, 16));
  c->add_option("--snapshot-span", t.snapshot_span,
                "the snapshots are spaced over this last fraction of the run, e.g. 0.5 (default 1: all of it)");
  cli::add_choice(c, "--flip-average", t.flip_average, "the bundle averages each image's maps over its mirror images");
  cli::add_choice(c, "--upsampling", t.upsampling, "auto",
                  "how the bundle brings maps to input resolution, thresholds calibrated on it (auto: the better on "
                  "the validation masks)");
  c->add_option("--smoothing", o.smoothing, "each type's map smoothing: auto = the sigma its validation masks prefer")
      ->check(CLI::IsMember({"auto", "none"}));
  c->add_option("--bundle-size", o.bundle_size,
                "RUN/bundle's input side, as ensemble --runs RUN makes it: trained, a side in px, auto or per-type");
  c->add_option("--device", t.device, "cpu, cuda or cuda:N");
  auto* g = c->add_option_group("distributed", "data parallel over ranks (torchrun's variables; these flags win)");
  g->add_option("--nproc", o.nproc, "launch this many ranks on this machine (127.0.0.1)")->check(CLI::Range(1, 256));
  g->add_option("--world-size", o.dist.world_size, "ranks in all (WORLD_SIZE)");
  g->add_option("--rank", o.dist.rank, "this process's rank (RANK)");
  g->add_option("--local-rank", o.dist.local_rank, "its rank on this machine (LOCAL_RANK)");
  g->add_option("--master-addr", o.dist.master_addr, "rank 0's address (MASTER_ADDR)");
  g->add_option("--master-port", o.dist.master_port, "rank 0's port (MASTER_PORT)");
  g->add_option("--dist-timeout", o.dist.timeout_seconds, "seconds for the rendezvous and each collective (60)");
}

struct EvalOptions {
  std::string model, data, split = "test", report, json, csv, figure, upsampling;
  int batch = 8, figure_rows = 1;
  bool no_pixel = false, no_smoothing = false;
};

// What calibrate and ensemble choose on a split's masks, and how the bundle's maps are taken.
struct CalibrationChoices {
  std::string smoothing = "auto";
  std::optional<Upsampling> upsampling;     // unset: the better on the masks
  std::optional<FlipAverage> flip_average;  // unset: the bundle's (ensemble: the first run's)
  int batch = 8;
  void add(CLI::App* c) {
    cli::add_choice(c, "--upsampling", upsampling, "auto", "auto = the better on the split's masks");
    cli::add_choice(c, "--flip-average", flip_average, "keep", "average each image's maps over its mirror images");
    c->add_option("--smoothing", smoothing, "each type's map smoothing: auto = the sigma its masks prefer")
        ->check(CLI::IsMember({"auto", "none"}));
    c->add_option("--batch", batch, "images per forward")->check(CLI::Range(1, 1024));
  }
};

struct CalibrateOptions {
  std::string model, data, split = "val", out;
  CalibrationChoices c;
};

// The dataset as the bundle sees it: its types, in its order, unless --types chooses.
Dataset load_for(const DnnModel& dnn, const std::string& path, const DataOptions& d) {
  LoadOptions lo = d.options();
  if (lo.types.empty() && !lo.single_channel)
    for (const auto& t : dnn.manifest().types) lo.types.push_back(t.name);
  Dataset data = load_dataset(path, lo);
  for (const auto& w : data.warnings) std::cerr << "warning: " << w << "\n";
  return data;
}

// Chooses the upsampling of the bundle in `dir` (unless fixed), each type's smoothing (unless
// none) and the thresholds on a split's images; rewrites its model.json. Returns the split's
// report on the maps so chosen (AUPRO NaN without masks).
EvalReport calibrate_in_place(const std::string& dir, const std::string& data_path, const DataOptions& d,
                              const std::string& split, const CalibrationChoices& c) {
  DnnModel dnn(dir);
  BundleManifest man = dnn.manifest();
  const Dataset data = load_for(dnn, data_path, d);
  if (c.upsampling) man.upsampling = upsampler_of(man, c.upsampling).mode;
  if (c.smoothing == "none")  // auto: calibrate_manifest chooses each type's sigma afresh
    for (auto& t : man.types) t.smoothing = 0;
  const auto scores = score_split(dnn, data, split, upsampler_of(man), c.batch);
  if (scores.empty()) throw std::runtime_error(data_path + ": no images in split '" + split + "' to calibrate on");
  const EvalReport report = calibrate_manifest(man, scores, {!c.upsampling, c.smoothing == "auto"});
  write_manifest(man, dir);
  std::printf("bundle %s: thresholds calibrated on %zu %s images of %s\n", dir.c_str(), scores.size(), split.c_str(),
              data_path.c_str());
  return report;
}

// A new bundle: the model's network with its upsampling, smoothing and thresholds chosen again on
// a split's images (after quantize, a change of flip averaging, or new validation images).
int cmd_calibrate(const CalibrateOptions& o, const DataOptions& d) {
  if (fs::exists(o.out)) throw std::runtime_error("calibrate: " + o.out + " exists; give a new folder");
  BundleManifest man = read_manifest(o.model);
  if (o.c.flip_average) man.flip_average = *o.c.flip_average;
  fs::create_directories(o.out);
  try {
    fs::copy_file(fs::path(o.model) / man.model_file, fs::path(o.out) / man.model_file);
    write_manifest(man, o.out);  // the network runs with the flips asked for
    calibrate_in_place(o.out, o.data, d, o.split, o.c);
  } catch (...) {
    fs::remove_all(o.out);
    throw;
  }
  return 0;
}

struct EnsembleOptions {
  std::string runs, data, out, bundle_size = "trained", type_sides;
  bool per_type = false;
  CalibrationChoices c;  // on the validation split
};

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
                       const DataOptions& d, const std::vector<unsigned>& sets = {}) {
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

// --bundle-size: kTrainedSide, kAutoSide, kPerTypeSide, else the side asked for.
constexpr int64_t kTrainedSide = 0, kAutoSide = -1, kPerTypeSide = -2;
int64_t parse_bundle_size(const std::string& s) {
  if (s == "trained") return kTrainedSide;
  if (s == "auto") return kAutoSide;
  if (s == "per-type") return kPerTypeSide;
  if (const auto v = side_in_px(s)) return *v;
  throw std::invalid_argument("--bundle-size " + s + ": give trained, auto, per-type or a side in px (32 to 4096)");
}

// Removes the folders of `paths` when it goes out of scope: trial bundles never outlive a choice.
struct TrialFolders {
  std::vector<std::string> paths;
  ~TrialFolders() {
    for (const auto& p : paths) fs::remove_all(p);
  }
};

// The bundle of all the runs at each of `sizes` (px), each calibrated in `o.out`.sizeN (a folder
// of `trials`), and their validation reports.
std::vector<EvalReport> bundles_at_sides(const JoinedRuns& j, const std::vector<int64_t>& sizes, const EnsembleOptions& o,
                                         const DataOptions& d, TrialFolders& trials) {
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
BestSide bundle_at_best_side(const JoinedRuns& j, const EnsembleOptions& o, const DataOptions& d,
                             const std::string& keep_as) {
  const int64_t trained = j.trained_size();
  const auto sizes = bundle_sizes(trained);
  TrialFolders trials;
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
void bundle_per_type(const JoinedRuns& j, double scale, EnsembleOptions o, const DataOptions& d,
                     const EvalReport* all_runs_bundled) {
  const unsigned all = (1u << j.names.size()) - 1;
  std::vector<unsigned> sets{all};
  for (unsigned s = 1; s < all; ++s) sets.push_back(s);
  TrialFolders trials;
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
                          const DataOptions& d) {
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
void bundle_each_type_at_its_side(const JoinedRuns& j, const EnsembleOptions& o, const DataOptions& d) {
  const auto sizes = per_type_bundle_sizes(j.trained_size());
  TrialFolders trials;
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

// --type-sides "name=px,...": each type's side, every type of the runs named once.
std::vector<int64_t> parse_type_sides(const std::string& s, const std::vector<DefectType>& types) {
  std::vector<int64_t> side_of(types.size(), 0);
  std::string names;
  for (const auto& t : types) names += (names.empty() ? "" : ",") + t.name;
  for (const std::string& item : split_names(s, "--type-sides")) {
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

// One bundle from one or more finished runs. Runs trained apart (other seeds, head dilations,
// sides, machines) err differently; the mean of their maps can be steadier than any one of them,
// and with --per-type each type takes the runs that map it best. The bundle's input side may
// differ from the trained one: a larger input maps at finer cells.
int cmd_ensemble(const EnsembleOptions& o, const DataOptions& d) {
  const auto runs = split_names(o.runs, "--runs");
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
    return 0;
  }
  if (!o.type_sides.empty()) {
    bundle_at_type_sides(j, parse_type_sides(o.type_sides, j.first.types), o, d);
    return 0;
  }
  if (asked == kAutoSide) {  // auto: the side's bundle of all the runs is the answer, or --per-type's first set
    const unsigned all = (1u << runs.size()) - 1;
    const BestSide side = bundle_at_best_side(j, o, d, o.per_type ? per_type_trial(o.out, all) : o.out);
    if (o.per_type) bundle_per_type(j, side.scale, o, d, &side.report);
    return 0;
  }
  const double scale = asked > 0 ? static_cast<double>(asked) / static_cast<double>(j.trained_size()) : 1.0;
  if (o.per_type)
    bundle_per_type(j, scale, o, d, nullptr);
  else
    bundle_runs(j, scale, o.out, o, d);
  return 0;
}

// argv without --nproc (and its value): what each launched rank runs.
std::vector<std::string> without_nproc(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--nproc") {
      ++i;
      continue;
    }
    if (a.rfind("--nproc=", 0) == 0) continue;
    out.push_back(a);
  }
  return out;
}

// train --bundle-size: RUN/bundle made again at another side, as `ensemble --runs RUN` makes it.
int rebundle(const TrainOptions& o, const DataOptions& d) {
  EnsembleOptions e;
  e.runs = o.t.out;
  e.data = o.t.data;
  e.bundle_size = o.bundle_size;
  e.out = (fs::path(o.t.out) / "bundle.sized").string();
  e.c.smoothing = o.smoothing;
  e.c.upsampling = o.t.upsampling;
  fs::remove_all(e.out);  // left by a run stopped while bundling
  cmd_ensemble(e, d);
  const fs::path bundle = fs::path(o.t.out) / "bundle";
  fs::remove_all(bundle);
  fs::rename(e.out, bundle);
  return 0;
}

int cmd_train(TrainOptions o, const DataOptions& d, const NetOptions& net, int argc, char** argv) {
  const bool resized = parse_bundle_size(o.bundle_size) != kTrainedSide;  // refused before training, not after
  if (resized && o.t.snapshots > 1)
    throw std::invalid_argument("--bundle-size makes the bundle from best.pt, not from --snapshots: give one of them");
  if (o.nproc > 0) {
    if (o.dist.world_size || o.dist.rank || std::getenv("WORLD_SIZE"))
      throw std::invalid_argument("--nproc launches its own ranks: give it without --world-size, --rank or WORLD_SIZE");
    const int port = o.dist.master_port ? *o.dist.master_port : free_local_port();
    return launch_local(without_nproc(argc, argv), o.nproc, port, o.dist.timeout_seconds.value_or(60) + 30);
  }
  TrainConfig t = o.t;
  t.load = d.options();
  t.model = net.config(1);
  t.lr_schedule = parse_lr_schedule(o.lr_schedule);
  t.smoothing = o.smoothing == "auto";
  t.bundled_again = resized;
  t.aug.flip_horizontal = o.flip.find('h') != std::string::npos;
  t.aug.flip_vertical = o.flip.find('v') != std::string::npos;
  t.dist = dist_config([](const char* k) { return std::getenv(k); }, o.dist);
  // Debian's LibTorch starts with one intra-op thread; share this machine's cores among its ranks.
  const char* local = std::getenv("LOCAL_WORLD_SIZE");
  const int ranks_here = local ? std::max(1, std::atoi(local)) : 1;
  const int threads = o.threads > 0 ? o.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / ranks_here);
  torch::set_num_threads(threads);
  cv::setNumThreads(threads);
  torch::manual_seed(t.seed);
  const int rc = run_training(t);
  return rc != 0 || t.dist.rank != 0 || !resized ? rc : rebundle(o, d);
}

struct QuantizeOptions {
  std::string model, data, split = "train", out;
  size_t images = 64;
  double max_rel_l2 = kQuantizeTolerance;
  Precision precision = Precision::Int8;
};

int cmd_quantize(const QuantizeOptions& o, const DataOptions& d) {
  const Dataset data = load_dataset(o.data, d.options());
  std::vector<std::string> paths;
  for (const Sample* s : data.split(o.split)) paths.push_back(s->image);
  const auto r = quantize_bundle(o.model, evenly_spaced(paths, o.images), o.out, 8, o.max_rel_l2, o.precision);
  const char* precision = name_of(o.precision);
  std::printf("%s bundle written: %s (%zu convolutions calibrated on %zu %s images of %s)\n", precision, o.out.c_str(),
              r.convolutions, r.images, o.split.c_str(), o.data.c_str());
  std::printf("quantize check (%s vs float32 maps on those images): relative L2 %.3g (limit %.3g)\n", precision,
              r.maps_rel_l2, o.max_rel_l2);
  if (!r.float32_convolutions.empty())
    std::printf("kept in float32 to stay within the limit: %s\n", nlohmann::json(r.float32_convolutions).dump().c_str());
  return 0;
}

int cmd_eval(const EvalOptions& o, const DataOptions& d) {
  DnnModel dnn(o.model);
  const Dataset data = load_for(dnn, o.data, d);
  const auto t0 = std::chrono::steady_clock::now();
  Upsampler up = upsampler_of(dnn.manifest(), o.upsampling.empty() ? std::nullopt : parse_name<Upsampling>(o.upsampling));
  if (o.no_smoothing) up.smoothing.assign(up.smoothing.size(), 0.0);
  const auto scores = score_split(dnn, data, o.split, up, o.batch);
  if (scores.empty()) throw std::runtime_error(o.data + ": no images in split '" + o.split + "'");
  std::vector<std::string> names;
  for (const auto& t : dnn.manifest().types) names.push_back(t.name);
  // The bundle's pixel thresholds were calibrated on its own upsampling and smoothing.
  std::vector<double> thresholds;
  if (up.mode == dnn.manifest().upsampling && up.smoothing == upsampler_of(dnn.manifest()).smoothing)
    for (const auto& t : dnn.manifest().types) thresholds.push_back(t.pixel_threshold);
  const auto report = summarize(scores, names, up, !o.no_pixel, kAuproFprLimit, thresholds);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string text = markdown_report(report);
  std::cout << text;
  std::printf("\n%zu images evaluated in %.1f s (%.1f ms/image including decoding and metrics)\n", scores.size(), secs,
              1000 * secs / scores.size());
  if (!o.report.empty()) std::ofstream(o.report) << text;
  if (!o.json.empty()) std::ofstream(o.json) << report_json(report).dump(2) << "\n";
  if (!o.csv.empty()) write_scores_csv(scores, names, o.csv);
  if (!o.figure.empty()) {
    const cv::Mat fig = heatmap_figure(scores, names, o.figure_rows, up);
    // imwrite returns false when the file cannot be written, and throws on an unknown extension.
    std::string why;
    try {
      if (!cv::imwrite(o.figure, fig)) why = "the file cannot be written";
    } catch (const cv::Exception& e) {
      why = e.err;
    }
    if (!why.empty()) throw std::runtime_error("cannot write the figure " + o.figure + ": " + why);
    std::printf("figure: %s\n", o.figure.c_str());
  }
  return 0;
}

int cmd_epochs(const std::string& path, const DataOptions& d, int batch, int trials) {
  LoadOptions lo = d.options();
  lo.check_files = false;
  const Dataset data = load_dataset(path, lo);
  const auto pools = class_pools(data, "train");
  const EpochStats st = balanced_epoch_length(pools, trials, 12345);
  std::vector<int> quotas;
  for (const auto& p : pools)
    if (!p.empty()) quotas.push_back(static_cast<int>(p.size()));
  const double integral = expected_epoch_length_integral(quotas);
  std::printf("| images | classes | mu_T | mu_T / batch | standard iterations | standard epochs per balanced epoch |\n");
  std::printf("|---|---|---|---|---|---|\n");
  std::printf("| %zu | %d | %.1f | %.1f | %.1f | %.2f |\n", st.images, st.classes, st.mean_draws, st.mean_draws / batch,
              static_cast<double>(st.images) / batch, st.mean_draws / st.images);
  std::printf("\nMonte Carlo over %d trials: mu_T = %.1f (sd %.1f); batch %d\n", st.trials, st.mean_draws,
              st.stddev_draws, batch);
  if (std::isfinite(integral))
    std::printf("coupon-collector integral (Eq. 4, images in several pools counted in each): %.1f (%.2f%% from Monte Carlo)\n",
                integral, 100 * (integral - st.mean_draws) / st.mean_draws);
  return 0;
}

}  // namespace
}  // namespace mtfcdd

int main(int argc, char** argv) {
  using namespace mtfcdd;
  CLI::App app{"trains, exports and evaluates MultiTypeFCDD models (presets: irv2 = Inception-ResNet-v2 with timm "
               "weights, mobilenet_v1, small = compact, from scratch)", "mtfcdd-train"};
  cli::configure(app);
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag wins, as in scripts
  app.set_version_flag("--version", "mtfcdd-train " MTFCDD_VERSION);
  NetOptions net;
  TypeCount tc;
  DataOptions data;

  auto* info = app.add_subcommand("info", "parameter counts and FLOPs per image");
  net.add(info);
  tc.add(info);

  ExportOptions ex;
  auto* exp = app.add_subcommand("export", "write a verified bundle (model.onnx + model.json) of an untrained head");
  net.add(exp);
  tc.add(exp);
  exp->add_option("--out", ex.out, "bundle folder")->required();
  exp->add_option("--weights", ex.weights, "backbone .safetensors");
  exp->add_option("--seed", ex.seed, "initialisation seed");
  cli::add_choice(exp, "--resize", ex.req.resize, "how images become the input");
  cli::add_choice(exp, "--flip-average", ex.req.flip_average, "average each image's maps over its mirror images");
  cli::add_choice(exp, "--upsampling", ex.req.upsampling, "how the bundle brings maps to input resolution");
  cli::add_choice(exp, "--precision", ex.req.precision,
                  "bf16: convolutions in bfloat16, checked against LibTorch within 1e-2, needs AVX512_BF16 (int8: see quantize)");

  TrainOptions tr;
  auto* train = app.add_subcommand("train", "balanced-epoch training, on one process or data parallel over several");
  net.add(train);
  data.add(train);
  add_train_options(train, tr);

  EvalOptions ev;
  auto* eval = app.add_subcommand("eval", "per-type image and pixel metrics through OpenCV DNN (the deployed path)");
  data.add(eval);
  eval->add_option("--model", ev.model, "bundle folder")->required();
  eval->add_option("--data", ev.data, "dataset")->required();
  eval->add_option("--split", ev.split, "split to evaluate")->check(CLI::IsMember({"train", "val", "test"}));
  eval->add_option("--batch", ev.batch, "images per forward")->check(CLI::Range(1, 1024));
  eval->add_option("--report", ev.report, "also write the tables as Markdown");
  eval->add_option("--json", ev.json, "also write every number as JSON");
  eval->add_option("--scores-out", ev.csv, "per-image scores as CSV");
  eval->add_flag("--no-pixel", ev.no_pixel, "skip pixel metrics");
  eval->add_option("--upsampling", ev.upsampling, "override the bundle's upsampling")
      ->check(CLI::IsMember(cli::names_of<Upsampling>()));
  eval->add_flag("--no-smoothing", ev.no_smoothing, "evaluate the maps without the bundle's per-type smoothing");
  eval->add_option("--figure", ev.figure, "draw each type's heatmaps on its highest-scoring images (PNG/JPEG)");
  eval->add_option("--figure-rows", ev.figure_rows, "images per type in the figure")->check(CLI::Range(1, 64));

  CalibrateOptions ca;
  auto* cal = app.add_subcommand("calibrate", "a copy of a bundle with upsampling, smoothing and thresholds chosen on a split");
  data.add(cal);
  cal->add_option("--model", ca.model, "bundle folder")->required();
  cal->add_option("--data", ca.data, "dataset")->required();
  cal->add_option("--split", ca.split, "the split to calibrate on")->check(CLI::IsMember({"train", "val", "test"}));
  cal->add_option("--out", ca.out, "new bundle folder")->required();
  ca.c.add(cal);

  EnsembleOptions en;
  auto* ens = app.add_subcommand("ensemble", "one bundle from the best epochs of one or more runs (same backbone and types)");
  data.add(ens);
  ens->add_option("--runs", en.runs, "run folders of mtfcdd-train train, comma-separated")->required();
  ens->add_option("--bundle-size", en.bundle_size,
                  "the bundle's input side: trained, a side in px, auto (1 to 1.5x the trained, by validation AUPRO), "
                  "or per-type (each type at its own of 1 to 2x the trained, by validation)");
  ens->add_option("--data", en.data, "the dataset the runs trained on (its val split calibrates)")->required();
  ens->add_option("--out", en.out, "new bundle folder")->required();
  ens->add_option("--type-sides", en.type_sides,
                  "each type's input side in px, e.g. fray=480,uneven=240 (every type; what --bundle-size per-type chooses)");
  ens->add_flag("--per-type", en.per_type,
                "each type's maps from the set of the runs (2 to 4) that maps it best on validation");
  en.c.add(ens);

  QuantizeOptions qu;
  auto* quant = app.add_subcommand("quantize", "an int8 or bf16 bundle of a float32 one, checked on images");
  data.add(quant);
  quant->add_option("--model", qu.model, "float32 bundle folder")->required();
  quant->add_option("--data", qu.data, "dataset of the calibration images")->required();
  quant->add_option("--split", qu.split, "their split")->check(CLI::IsMember({"train", "val", "test"}));
  quant->add_option("--images", qu.images, "how many, evenly spaced over the split")->check(CLI::Range(1, 100000));
  quant->add_option("--out", qu.out, "new bundle folder")->required();
  cli::add_choice(quant, "--precision", qu.precision, "int8 (needs AVX512_VNNI) or bf16 (AVX512_BF16)",
                  {Precision::BF16, Precision::Int8});
  quant->add_option("--max-rel-l2", qu.max_rel_l2, "keep convolutions in float32 until the maps are this close to float32's (relative L2)")
      ->check(CLI::Range(0.0, 10.0));

  std::string epochs_data;
  int epochs_batch = 32, trials = 10000;
  auto* epochs = app.add_subcommand("epochs", "the balanced epoch's length (Monte Carlo, and the coupon-collector integral)");
  data.add(epochs);
  epochs->add_option("--data", epochs_data, "dataset")->required();
  epochs->add_option("--batch", epochs_batch, "batch")->check(CLI::Range(1, 65536));
  epochs->add_option("--trials", trials, "Monte Carlo trials")->check(CLI::Range(1, 10000000));

  ToyOptions toy;
  auto* toyc = app.add_subcommand("toy-data", "write a generated dataset (stripe defects, one period per type)");
  toyc->add_option("--out", toy.out, "dataset folder")->required();
  toyc->add_option("--type-count", toy.types, "number of defect types")->check(CLI::Range(1, 8));
  toyc->add_option("--size", toy.size, "image side")->check(CLI::Range(32, 4096));
  toyc->add_option("--train", toy.train, "train images")->check(CLI::Range(1, 1000000));
  toyc->add_option("--val", toy.val, "val images")->check(CLI::Range(0, 1000000));
  toyc->add_option("--test", toy.test, "test images")->check(CLI::Range(0, 1000000));
  toyc->add_option("--seed", toy.seed, "seed");

  if (const auto code = cli::parse(app, argc, argv)) return *code;
  keep_freed_memory_in_heap();
  const std::string cmd = app.get_subcommands().front()->get_name();
  try {
    if (info->parsed()) return cmd_info(net, tc);
    if (exp->parsed()) return cmd_export(net, tc, ex);
    if (train->parsed()) return cmd_train(tr, data, net, argc, argv);
    if (eval->parsed()) return cmd_eval(ev, data);
    if (cal->parsed()) return cmd_calibrate(ca, data);
    if (ens->parsed()) return cmd_ensemble(en, data);
    if (quant->parsed()) return cmd_quantize(qu, data);
    if (epochs->parsed()) return cmd_epochs(epochs_data, data, epochs_batch, trials);
    return cmd_toy_data(toy);
  } catch (const std::invalid_argument& e) {
    std::cerr << "mtfcdd-train " << cmd << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mtfcdd-train " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
}
