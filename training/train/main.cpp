// mtfcdd-train: the companion trainer's command line (CLI11: every subcommand's --help is made
// from its options; ranges and choices are declared once, beside the option).
#include "mtfcdd/cli.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <thread>

#include "dataset.hpp"
#include "dist_env.hpp"
#include "ensemble.hpp"
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
#include "util_files.hpp"
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

std::vector<DefectType> named_types(const std::vector<std::string>& names, int64_t m) {
  std::vector<DefectType> out;
  for (const auto& n : names) out.push_back(uncalibrated_type(n, n));
  for (int64_t k = static_cast<int64_t>(out.size()); k < m; ++k)
    out.push_back(uncalibrated_type("type" + std::to_string(k), "type" + std::to_string(k)));
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

// --smoothing and --peak-fraction (auto or none), chosen on `masks`, as train, calibrate and ensemble take them.
void add_map_choices(CLI::App* c, std::string& smoothing, std::string& peak_fraction, const std::string& masks) {
  c->add_option("--smoothing", smoothing, "each type's map smoothing: auto = the sigma " + masks + " prefer")
      ->check(CLI::IsMember({"auto", "none"}));
  c->add_option("--peak-fraction", peak_fraction,
                "each type's regions' least share of the map's peak: auto = the one " + masks + " prefer; none = 0")
      ->check(CLI::IsMember({"auto", "none"}));
}

// train's options beyond the network and the data: the run, and where it runs.
struct TrainOptions {
  TrainConfig t;
  std::string flip = "none", lr_schedule = "constant", smoothing = "auto", peak_fraction = "auto",
              bundle_size = "trained";
  int threads = 0;  // 0 = the cores / ranks on this machine
  int nproc = 0;    // > 0: launch this many local ranks
  DistFlags dist;
};

// What to train on, for how long, where it goes, and on what.
void add_run_options(CLI::App* c, TrainOptions& o) {
  TrainConfig& t = o.t;
  c->add_option("--data", t.data, "dataset: manifest folder, dataset.json, or Real-IAD JSON file/folder")->required();
  c->add_option("--out", t.out, "run folder: checkpoint.pt, best.pt, history.jsonl, bundle/")->required();
  c->add_option("--weights", t.weights, "backbone .safetensors (frozen); none = train the backbone from scratch");
  c->add_flag("--head-only", t.head_only, "keep the backbone frozen even without --weights (random: for timing)");
  c->add_option("--epochs", t.epochs, "balanced epochs")->check(CLI::Range(1, 100000));
  c->add_option("--max-minutes", t.max_minutes, "time budget; 0 = none (all ranks stop at the same step)")->check(CLI::NonNegativeNumber);
  c->add_option("--max-steps", t.max_steps, "stop after this many iterations in all; 0 = no limit")->check(CLI::NonNegativeNumber);
  c->add_option("--seed", t.seed, "sampling, augmentation and initialisation seed");
  c->add_flag("--resume", t.resume, "continue RUN/checkpoint.pt");
  c->add_option("--init", t.init,
                "start a new run from RUN's best network (same network and types; its --input-size may differ: "
                "fine-tune a run at a larger side)");
  c->add_option("--workers", t.workers, "data loading threads per rank")->check(CLI::Range(1, 64));
  c->add_option("--threads", o.threads, "compute threads per rank; default: the cores / the ranks on this machine")->check(CLI::Range(1, 1024));
  c->add_option("--device", t.device, "cpu, cuda or cuda:N");
}

// The optimiser, the weights kept, and which epoch is the best.
void add_optimiser_options(CLI::App* c, TrainOptions& o) {
  TrainConfig& t = o.t;
  c->add_option("--batch", t.batch, "global batch: the images of one step over all ranks")->check(CLI::Range(1, 65536));
  c->add_option("--lr", t.lr, "Adam learning rate")->check(CLI::PositiveNumber);
  c->add_option("--lr-schedule", o.lr_schedule, "over the planned iterations")->check(CLI::IsMember({"constant", "cosine"}));
  c->add_option("--weight-decay", t.weight_decay, "Adam's L2 penalty")->check(CLI::NonNegativeNumber);
  c->add_option("--ema", t.ema, "decay of the weight average validated and exported, e.g. 0.999; 0 = last weights")
      ->check(CLI::Range(0.0, 0.999999));
  cli::add_choice(c, "--select", t.select, "which val figure picks the best epoch, or last: the last epoch (no early stopping)");
  c->add_flag("--bf16", t.bf16, "forward passes autocast to bfloat16");
  c->add_flag("--global-bn", t.global_bn,
              "one process normalises BatchNorm as several do (slower; then it matches an N-process run)");
}

void add_augmentation_options(CLI::App* c, TrainOptions& o) {
  TrainConfig& t = o.t;
  cli::add_choice(c, "--resize", t.resize, "how images become the input");
  c->add_option("--aug-prob", t.aug.probability, "probability that an image is augmented")->check(CLI::Range(0.0, 1.0));
  c->add_option("--flip", o.flip, "augmentation flips")->check(CLI::IsMember(kFlips));
  c->add_option("--aug-stretch", t.aug.max_stretch, "largest aspect stretch")->check(CLI::Range(0.0, 1.0));
  c->add_option("--aug-scale", t.aug.max_scale, "largest scale change")->check(CLI::Range(0.0, 1.0));
  c->add_option("--aug-rotate", t.aug.max_rotation_deg, "largest rotation, degrees (0 where defects sit at the corners)")
      ->check(CLI::Range(0.0, 180.0));
  c->add_option("--aug-shift", t.aug.max_shift_px, "largest shift, input pixels")->check(CLI::Range(0.0, 4096.0));
}

// How RUN/bundle is made from the trained network.
void add_bundle_options(CLI::App* c, TrainOptions& o) {
  TrainConfig& t = o.t;
  c->add_option("--snapshots", t.snapshots, "the bundle averages the maps of K epochs evenly spaced over the run")
      ->check(CLI::Range(1, 16));
  c->add_option("--snapshot-span", t.snapshot_span,
                "the snapshots are spaced over this last fraction of the run, e.g. 0.5 (default 1: all of it)");
  cli::add_choice(c, "--flip-average", t.flip_average, "the bundle averages each image's maps over its mirror images");
  cli::add_choice(c, "--upsampling", t.upsampling, "auto",
                  "how the bundle brings maps to input resolution, thresholds calibrated on it (auto: the better on "
                  "the validation masks)");
  add_map_choices(c, o.smoothing, o.peak_fraction, "its validation masks");
  c->add_option("--bundle-size", o.bundle_size,
                "RUN/bundle's input side, as ensemble --runs RUN makes it: trained, a side in px, auto or per-type");
}

void add_distributed_options(CLI::App* c, TrainOptions& o) {
  c->add_option("--nproc", o.nproc, "launch this many ranks on this machine (127.0.0.1)")->check(CLI::Range(1, 256));
  c->add_option("--world-size", o.dist.world_size, "ranks in all (WORLD_SIZE)");
  c->add_option("--rank", o.dist.rank, "this process's rank (RANK)");
  c->add_option("--local-rank", o.dist.local_rank, "its rank on this machine (LOCAL_RANK)");
  c->add_option("--master-addr", o.dist.master_addr, "rank 0's address (MASTER_ADDR)");
  c->add_option("--master-port", o.dist.master_port, "rank 0's port (MASTER_PORT)");
  c->add_option("--dist-timeout", o.dist.timeout_seconds, "seconds for the rendezvous and each collective (60)");
}

// train's options, grouped as --help lists them.
void add_train_options(CLI::App* c, TrainOptions& o) {
  add_run_options(c, o);
  add_optimiser_options(c->add_option_group("optimiser", "the optimiser, the weights kept, the best epoch"), o);
  add_augmentation_options(c->add_option_group("augmentation", "how training images are resized and varied"), o);
  add_bundle_options(c->add_option_group("bundle", "how RUN/bundle is made from the trained network"), o);
  add_distributed_options(
      c->add_option_group("distributed", "data parallel over ranks (torchrun's variables; these flags win)"), o);
}

struct EvalOptions {
  std::string model, data, split = "test", report, json, csv, figure, upsampling;
  int batch = 8, figure_rows = 1;
  bool no_pixel = false, no_smoothing = false;
};

// What calibrate and ensemble choose on a split's masks, and how the bundle's maps are taken.
void add_calibration_choices(CLI::App* c, CalibrationChoices& o) {
  cli::add_choice(c, "--upsampling", o.upsampling, "auto", "auto = the better on the split's masks");
  cli::add_choice(c, "--flip-average", o.flip_average, "keep", "average each image's maps over its mirror images");
  add_map_choices(c, o.smoothing, o.peak_fraction, "its masks");
  c->add_option("--batch", o.batch, "images per forward")->check(CLI::Range(1, 1024));
}

struct CalibrateOptions {
  std::string model, data, split = "val", out;
  CalibrationChoices c;
};

// A new bundle: the model's network with its upsampling, smoothing, peak fractions and thresholds
// chosen again on a split's images (after quantize, a change of flip averaging, or new validation images).
int cmd_calibrate(const CalibrateOptions& o, const DataOptions& d) {
  if (fs::exists(o.out)) throw std::runtime_error("calibrate: " + o.out + " exists; give a new folder");
  BundleManifest man = read_manifest(o.model);
  if (o.c.flip_average) man.flip_average = *o.c.flip_average;
  fs::create_directories(o.out);
  try {
    fs::copy_file(fs::path(o.model) / man.model_file, fs::path(o.out) / man.model_file);
    write_manifest(man, o.out);  // the network runs with the flips asked for
    calibrate_in_place(o.out, o.data, d.options(), o.split, o.c);
  } catch (...) {
    fs::remove_all(o.out);
    throw;
  }
  return 0;
}

// ensemble's options as given: the lists comma-separated.
struct EnsembleArgs {
  std::string runs, type_sides;
  EnsembleOptions o;
};

int cmd_ensemble(EnsembleArgs a, const DataOptions& d) {
  a.o.runs = split_names(a.runs, "--runs");
  a.o.type_sides = split_names(a.type_sides, "--type-sides");
  make_ensemble(a.o, d.options());
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
  e.runs = {o.t.out};
  e.data = o.t.data;
  e.bundle_size = o.bundle_size;
  e.out = (fs::path(o.t.out) / "bundle.sized").string();
  e.c.smoothing = o.smoothing;
  e.c.peak_fraction = o.peak_fraction;
  e.c.upsampling = o.t.upsampling;
  fs::remove_all(e.out);  // left by a run stopped while bundling
  make_ensemble(e, d.options());
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
    std::optional<ReservedPort> reserved;  // held while the ranks run
    if (!o.dist.master_port) reserved.emplace();
    const int port = reserved ? reserved->port() : *o.dist.master_port;
    return launch_local(without_nproc(argc, argv), o.nproc, port, o.dist.timeout_seconds.value_or(60) + 30);
  }
  TrainConfig t = o.t;
  t.load = d.options();
  t.model = net.config(1);
  t.lr_schedule = parse_lr_schedule(o.lr_schedule);
  t.smoothing = o.smoothing == "auto";
  t.peak_fraction = o.peak_fraction == "auto";
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
  const Dataset data = load_for(dnn, o.data, d.options());
  const auto t0 = std::chrono::steady_clock::now();
  Upsampler up = upsampler_of(dnn.manifest(), o.upsampling.empty() ? std::nullopt : parse_name<Upsampling>(o.upsampling));
  if (o.no_smoothing) up.smoothing.assign(up.smoothing.size(), 0.0);
  const auto scores = score_split(dnn, data, o.split, up, o.batch, "scoring " + o.split);
  if (scores.empty()) throw std::runtime_error(o.data + ": no images in split '" + o.split + "'");
  std::vector<std::string> names;
  for (const auto& t : dnn.manifest().types) names.push_back(t.name);
  // The bundle's pixel thresholds were calibrated on its own upsampling and smoothing.
  std::vector<double> thresholds, fractions;
  if (up.mode == dnn.manifest().upsampling && up.smoothing == upsampler_of(dnn.manifest()).smoothing)
    for (const auto& t : dnn.manifest().types) {
      thresholds.push_back(t.pixel_threshold);
      fractions.push_back(t.peak_fraction);
    }
  const auto report = summarize(scores, names, up, !o.no_pixel, kAuproFprLimit, thresholds, fractions);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string text = markdown_report(report);
  std::cout << text;
  std::printf("\n%zu images evaluated in %.1f s (%.1f ms/image including decoding and metrics)\n", scores.size(), secs,
              1000 * secs / scores.size());
  if (!o.report.empty()) write_file(o.report, text);
  if (!o.json.empty()) write_file(o.json, report_json(report).dump(2) + "\n");
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

// Every subcommand's options, as parsing fills them.
struct AllOptions {
  NetOptions net;
  TypeCount tc;
  DataOptions data;
  ExportOptions ex;
  TrainOptions tr;
  EvalOptions ev;
  CalibrateOptions ca;
  EnsembleArgs en;
  QuantizeOptions qu;
  ToyOptions toy;
  std::string epochs_data;
  int epochs_batch = 32, trials = 10000;
};

CLI::App* add_info(CLI::App& app, AllOptions& o) {
  auto* c = app.add_subcommand("info", "parameter counts and FLOPs per image");
  o.net.add(c);
  o.tc.add(c);
  return c;
}

CLI::App* add_export(CLI::App& app, AllOptions& o) {
  auto* c = app.add_subcommand("export", "write a verified bundle (model.onnx + model.json) of an untrained head");
  o.net.add(c);
  o.tc.add(c);
  c->add_option("--out", o.ex.out, "bundle folder")->required();
  c->add_option("--weights", o.ex.weights, "backbone .safetensors");
  c->add_option("--seed", o.ex.seed, "initialisation seed");
  cli::add_choice(c, "--resize", o.ex.req.resize, "how images become the input");
  cli::add_choice(c, "--flip-average", o.ex.req.flip_average, "average each image's maps over its mirror images");
  cli::add_choice(c, "--upsampling", o.ex.req.upsampling, "how the bundle brings maps to input resolution");
  cli::add_choice(c, "--precision", o.ex.req.precision,
                  "bf16: convolutions in bfloat16, checked against LibTorch within 1e-2, needs AVX512_BF16 (int8: see quantize)");
  return c;
}

CLI::App* add_train(CLI::App& app, AllOptions& o) {
  auto* c = app.add_subcommand("train", "balanced-epoch training, on one process or data parallel over several");
  o.net.add(c);
  o.data.add(c);
  add_train_options(c, o.tr);
  return c;
}

CLI::App* add_eval(CLI::App& app, AllOptions& o) {
  EvalOptions& ev = o.ev;
  auto* c = app.add_subcommand("eval", "per-type image and pixel metrics through OpenCV DNN (the deployed path)");
  o.data.add(c);
  c->add_option("--model", ev.model, "bundle folder")->required();
  c->add_option("--data", ev.data, "dataset")->required();
  c->add_option("--split", ev.split, "split to evaluate")->check(CLI::IsMember({"train", "val", "test"}));
  c->add_option("--batch", ev.batch, "images per forward")->check(CLI::Range(1, 1024));
  c->add_option("--report", ev.report, "also write the tables as Markdown");
  c->add_option("--json", ev.json, "also write every number as JSON");
  c->add_option("--scores-out", ev.csv, "per-image scores as CSV");
  c->add_flag("--no-pixel", ev.no_pixel, "skip pixel metrics");
  c->add_option("--upsampling", ev.upsampling, "override the bundle's upsampling")
      ->check(CLI::IsMember(cli::names_of<Upsampling>()));
  c->add_flag("--no-smoothing", ev.no_smoothing, "evaluate the maps without the bundle's per-type smoothing");
  c->add_option("--figure", ev.figure, "draw each type's heatmaps on its highest-scoring images (PNG/JPEG)");
  c->add_option("--figure-rows", ev.figure_rows, "images per type in the figure")->check(CLI::Range(1, 64));
  return c;
}

CLI::App* add_calibrate(CLI::App& app, AllOptions& o) {
  auto* c = app.add_subcommand("calibrate",
                               "a copy of a bundle with upsampling, smoothing, peak fractions and thresholds chosen on a split");
  o.data.add(c);
  c->add_option("--model", o.ca.model, "bundle folder")->required();
  c->add_option("--data", o.ca.data, "dataset")->required();
  c->add_option("--split", o.ca.split, "the split to calibrate on")->check(CLI::IsMember({"train", "val", "test"}));
  c->add_option("--out", o.ca.out, "new bundle folder")->required();
  add_calibration_choices(c, o.ca.c);
  return c;
}

CLI::App* add_ensemble(CLI::App& app, AllOptions& o) {
  EnsembleArgs& en = o.en;
  auto* c = app.add_subcommand("ensemble", "one bundle from the best epochs of one or more runs (same backbone and types)");
  o.data.add(c);
  c->add_option("--runs", en.runs, "run folders of mtfcdd-train train, comma-separated")->required();
  c->add_option("--bundle-size", en.o.bundle_size,
                "the bundle's input side: trained, a side in px, auto (1 to 1.5x the trained, by validation AUPRO), "
                "or per-type (each type at its own of 1 to 2x the trained, by validation)");
  c->add_option("--data", en.o.data, "the dataset the runs trained on (its val split calibrates)")->required();
  c->add_option("--out", en.o.out, "new bundle folder")->required();
  c->add_option("--type-sides", en.type_sides,
                "each type's input side in px, e.g. fray=480,uneven=240 (every type; what --bundle-size per-type chooses)");
  c->add_flag("--per-type", en.o.per_type, "each type's maps from the set of the runs (2 to 4) that maps it best on validation");
  add_calibration_choices(c, en.o.c);
  return c;
}

CLI::App* add_quantize(CLI::App& app, AllOptions& o) {
  QuantizeOptions& qu = o.qu;
  auto* c = app.add_subcommand("quantize", "an int8 or bf16 bundle of a float32 one, checked on images");
  o.data.add(c);
  c->add_option("--model", qu.model, "float32 bundle folder")->required();
  c->add_option("--data", qu.data, "dataset of the calibration images")->required();
  c->add_option("--split", qu.split, "their split")->check(CLI::IsMember({"train", "val", "test"}));
  c->add_option("--images", qu.images, "how many, evenly spaced over the split")->check(CLI::Range(1, 100000));
  c->add_option("--out", qu.out, "new bundle folder")->required();
  cli::add_choice(c, "--precision", qu.precision, "int8 (needs AVX512_VNNI) or bf16 (AVX512_BF16)",
                  {Precision::BF16, Precision::Int8});
  c->add_option("--max-rel-l2", qu.max_rel_l2, "keep convolutions in float32 until the maps are this close to float32's (relative L2)")
      ->check(CLI::Range(0.0, 10.0));
  return c;
}

CLI::App* add_epochs(CLI::App& app, AllOptions& o) {
  auto* c = app.add_subcommand("epochs", "the balanced epoch's length (Monte Carlo, and the coupon-collector integral)");
  o.data.add(c);
  c->add_option("--data", o.epochs_data, "dataset")->required();
  c->add_option("--batch", o.epochs_batch, "batch")->check(CLI::Range(1, 65536));
  c->add_option("--trials", o.trials, "Monte Carlo trials")->check(CLI::Range(1, 10000000));
  return c;
}

CLI::App* add_toy_data(CLI::App& app, AllOptions& o) {
  ToyOptions& toy = o.toy;
  auto* c = app.add_subcommand("toy-data", "write a generated dataset (stripe defects, one period per type)");
  c->add_option("--out", toy.out, "dataset folder")->required();
  c->add_option("--type-count", toy.types, "number of defect types")->check(CLI::Range(1, 8));
  c->add_option("--size", toy.size, "image side")->check(CLI::Range(32, 4096));
  c->add_option("--train", toy.train, "train images")->check(CLI::Range(1, 1000000));
  c->add_option("--val", toy.val, "val images")->check(CLI::Range(0, 1000000));
  c->add_option("--test", toy.test, "test images")->check(CLI::Range(0, 1000000));
  c->add_option("--seed", toy.seed, "seed");
  return c;
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
  AllOptions o;
  const std::vector<std::pair<CLI::App*, std::function<int()>>> commands = {
      {add_info(app, o), [&] { return cmd_info(o.net, o.tc); }},
      {add_export(app, o), [&] { return cmd_export(o.net, o.tc, o.ex); }},
      {add_train(app, o), [&] { return cmd_train(o.tr, o.data, o.net, argc, argv); }},
      {add_eval(app, o), [&] { return cmd_eval(o.ev, o.data); }},
      {add_calibrate(app, o), [&] { return cmd_calibrate(o.ca, o.data); }},
      {add_ensemble(app, o), [&] { return cmd_ensemble(o.en, o.data); }},
      {add_quantize(app, o), [&] { return cmd_quantize(o.qu, o.data); }},
      {add_epochs(app, o), [&] { return cmd_epochs(o.epochs_data, o.data, o.epochs_batch, o.trials); }},
      {add_toy_data(app, o), [&] { return cmd_toy_data(o.toy); }}};
  if (const auto code = cli::parse(app, argc, argv)) return *code;
  keep_freed_memory_in_heap();
  const std::string cmd = app.get_subcommands().front()->get_name();
  try {
    for (const auto& [sub, run] : commands)
      if (sub->parsed()) return run();
    return 2;  // require_subcommand(1) lets none through
  } catch (const std::invalid_argument& e) {
    std::cerr << "mtfcdd-train " << cmd << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mtfcdd-train " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
}
