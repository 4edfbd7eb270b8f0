// mtfcdd-train: the companion trainer's command line.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "cli_args.hpp"
#include "dataset.hpp"
#include "dnn_model.hpp"
#include "evaluate.hpp"
#include "export.hpp"
#include "fcdd_math.hpp"
#include "fcdd_model.hpp"
#include "figure.hpp"
#include "heap_tuning.hpp"
#include "safetensors.hpp"
#include "sampler.hpp"
#include "toy_data.hpp"
#include "trainer.hpp"
#include "weights.hpp"

namespace mtfcdd {
namespace {

const char* kUsage = R"(usage: mtfcdd-train COMMAND [options]

commands:
  info    --preset P [--types M] [--cut C] [--input-size S] [--head-channels H] [--head-dilation D]
          [--members K]
          parameter counts and FLOPs per image
  export  --preset P (--types M | --type-names a,b,..) --out DIR [--weights W.safetensors]
          [--cut C] [--input-size S] [--head-channels H] [--head-dilation D] [--members K]
          [--seed N] [--resize stretch|fit] [--flip-average none|h|v|hv] [--precision float32|bf16]
          write a verified bundle (model.onnx + model.json) of an untrained head (bf16: its
          convolutions in bfloat16, checked against LibTorch within 1e-2; needs AVX512_BF16)
  train   --data D --out RUN [--preset P] [--cut C] [--weights W] [--types a,b,..] [--single-channel]
          [--epochs 10] [--batch 32] [--lr 1e-4] [--lr-schedule constant|cosine] [--weight-decay 0]
          [--max-minutes M] [--aug-prob 0.5]
          [--flip none|h|v|hv] [--aug-stretch 0] [--aug-scale 0] [--ema 0] [--workers 2]
          [--seed 1] [--input-size S] [--head-channels H] [--head-dilation D] [--members K] [--threads N]
          [--skip-bad] [--resume] [--select loss|auroc] [--bf16] [--resize stretch|fit] [--snapshots K]
          [--flip-average none|h|v|hv]
          balanced-epoch training; writes RUN/checkpoint.pt, RUN/best.pt, RUN/history.jsonl and
          RUN/bundle/ (best epoch by val loss or val image AUROC, thresholds calibrated on val;
          --ema D validates and exports a moving average of the weights, e.g. 0.999;
          --members K trains K independently initialised networks and exports their mean map;
          --snapshots K exports the mean map of K epochs evenly spaced over the run instead;
          --flip-average hv makes the bundle average each image's maps over its mirror images)
  eval    --model BUNDLE --data D [--split test] [--types a,b,..] [--single-channel] [--batch 8]
          [--report R.md] [--json R.json] [--scores-out scores.csv] [--no-pixel] [--skip-bad]
          [--figure FIG.png [--figure-rows 1]]
          per-type image and pixel metrics through OpenCV DNN (the deployed code path); --figure
          draws each type's heatmaps on its N highest-scoring images and one normal image
  epochs  --data D [--batch 32] [--trials 10000] [--types a,b,..]
          the balanced epoch's length (Monte Carlo, and the coupon-collector integral)
  toy-data --out DIR [--types 3] [--size 64] [--train 160] [--val 48] [--test 48] [--seed 5]
          write a generated dataset (stripe defects, one period per type) in the manifest format

presets: irv2 (Inception-ResNet-v2, timm weights), mobilenet_v1 (--cut conv_pw_5 .. conv_pw_11),
         small (compact, trained from scratch)
)";

std::vector<std::string> split_names(const std::string& names) {
  std::vector<std::string> out;
  for (size_t pos = 0; !names.empty() && pos <= names.size();) {
    const size_t end = std::min(names.find(',', pos), names.size());
    out.push_back(names.substr(pos, end - pos));
    if (out.back().empty()) throw std::invalid_argument("--type-names has an empty name");
    pos = end + 1;
  }
  return out;
}

// --types M, or as many as --type-names lists.
int64_t type_count(const CliArgs& a, int64_t fallback) {
  return a.integer("types", a.has("type-names") ? static_cast<int64_t>(split_names(a.str("type-names")).size())
                                                : fallback);
}

// The network options every command shares; the types are set by the caller.
ModelConfig model_options(const CliArgs& a) {
  ModelConfig c;
  c.preset = a.str("preset", c.preset);
  c.cut = a.str("cut", c.cut);
  c.head_channels = a.integer("head-channels", c.preset == "small" ? 128 : 512);
  c.head_dilation = a.integer("head-dilation", c.head_dilation);
  c.members = a.integer("members", c.members);
  c.input_size = a.integer("input-size", 0);
  return c;
}

ModelConfig config_from(const CliArgs& a, int64_t default_types) {
  ModelConfig c = model_options(a);
  c.types = type_count(a, default_types);
  return resolved(c);
}

std::vector<DefectType> types_from(const CliArgs& a, int64_t m) {
  std::vector<DefectType> out;
  for (const auto& n : split_names(a.str("type-names"))) out.push_back({n, n, std::log(2.0), std::log(2.0)});
  if (out.empty())
    for (int64_t k = 0; k < m; ++k) {
      const std::string n = "type" + std::to_string(k);
      out.push_back({n, n, std::log(2.0), std::log(2.0)});  // p = 0.5 until calibrated
    }
  if (static_cast<int64_t>(out.size()) != m)
    throw std::invalid_argument("--type-names lists " + std::to_string(out.size()) + " names, --types says " +
                                std::to_string(m));
  return out;
}

// Loads the backbone weights if given (and freezes the backbone); otherwise says loudly that
// the backbone is random and will be trained too. Returns what provenance should record.
std::string setup_backbone(FcddModelImpl& model, const CliArgs& a) {
  const std::string path = a.str("weights");
  if (path.empty()) {
    if (model.config().preset != "small")
      std::cerr << "WARNING: no --weights given: the " << model.config().preset
                << " backbone is randomly initialised and is trained from scratch, not frozen\n";
    model.set_backbone_frozen(false);
    return "random";
  }
  const auto tensors = read_safetensors(path);
  LoadReport report;
  for (auto* member : model.member_list()) report = load_weights(*member->backbone, tensors, path);
  std::cerr << "loaded " << report.loaded << " backbone tensors from " << path << " (" << report.ignored
            << " tensors of later layers ignored); backbone frozen\n";
  model.set_backbone_frozen(true);
  return path;
}

void print_export(const ExportResult& r, const std::string& dir) {
  std::printf("bundle written: %s (model.onnx %.2f MB)\n", dir.c_str(), r.onnx_bytes / 1e6);
  std::printf("export check (OpenCV DNN vs LibTorch): relative L2 maps %.3g, scores %.3g (limit %.0e)\n",
              r.maps_rel_l2, r.scores_rel_l2, kExportTolerance);
  if (r.manifest.precision != "float32")
    std::printf("export check in %s: relative L2 maps %.3g, scores %.3g (limit %.0e)\n", r.manifest.precision.c_str(),
                r.bf16_maps_rel_l2, r.bf16_scores_rel_l2, kExportBf16Tolerance);
}

int cmd_info(const CliArgs& a) {
  const ModelConfig cfg = config_from(a, 1);
  a.reject_unknown();
  FcddModel model(cfg);
  model->set_backbone_frozen(true);
  const auto pc = count_parameters(*model);
  const NetGraph g = model->to_graph();
  const Shape hs = g.shape(g.outputs().front().id);
  std::printf("preset %s%s, %lld types, input %lldx%lld, heatmap %lldx%lld, head width %lld, dilation %lld, members %lld\n",
              cfg.preset.c_str(), cfg.cut.empty() ? "" : (" (" + cfg.cut + ")").c_str(),
              static_cast<long long>(cfg.types), static_cast<long long>(cfg.input_size),
              static_cast<long long>(cfg.input_size), static_cast<long long>(hs.h),
              static_cast<long long>(hs.w), static_cast<long long>(cfg.head_channels),
              static_cast<long long>(cfg.head_dilation), static_cast<long long>(cfg.members));
  std::printf("parameters: total %lld (%.2f M), trainable with frozen backbone %lld (%.2f M)\n",
              static_cast<long long>(pc.total), pc.total / 1e6, static_cast<long long>(pc.trainable),
              pc.trainable / 1e6);
  std::printf("  backbone %lld, head %lld\n", static_cast<long long>(pc.backbone), static_cast<long long>(pc.head));
  std::printf("FLOPs per image: %.3f GFLOP (multiply-add = 2)\n", g.flops() / 1e9);
  return 0;
}

int cmd_export(const CliArgs& a) {
  if (!a.has("types") && !a.has("type-names")) throw std::invalid_argument("give --types M or --type-names a,b,..");
  const ModelConfig cfg = config_from(a, 0);
  ExportRequest req;
  req.out_dir = a.required("out");
  torch::manual_seed(a.integer("seed", 1));
  req.types = types_from(a, cfg.types);
  req.resize = a.str("resize", req.resize);
  req.flip_average = a.str("flip-average", req.flip_average);
  req.precision = a.str("precision", req.precision);
  FcddModel model(cfg);
  const std::string weights = setup_backbone(*model, a);
  a.reject_unknown();
  req.provenance = {{"preset", cfg.preset}, {"cut", cfg.cut}, {"head_channels", cfg.head_channels},
                    {"head_dilation", cfg.head_dilation}, {"members", cfg.members},
                    {"weights", weights}, {"data", "none (untrained head)"},
                    {"trainer", "mtfcdd-train " MTFCDD_VERSION}};
  print_export(export_bundle(*model, req), req.out_dir);
  return 0;
}

int cmd_toy_data(const CliArgs& a) {
  const std::string out = a.required("out");
  const int64_t types = a.integer("types", 3), size = a.integer("size", 64);
  const int train = static_cast<int>(a.integer("train", 160)), val = static_cast<int>(a.integer("val", 48)),
            test = static_cast<int>(a.integer("test", 48));
  const auto seed = static_cast<uint64_t>(a.integer("seed", 5));
  a.reject_unknown();
  if (types < 1 || types > 8 || size < 32 || train < 1 || val < 0 || test < 0)
    throw std::invalid_argument("need 1..8 types, size >= 32, at least one training image");
  write_toy_dataset(out, types, size, {train, val, test}, seed);
  std::printf("toy dataset written to %s: %d train, %d val, %d test images of %lldx%lld, %lld types\n", out.c_str(),
              train, val, test, static_cast<long long>(size), static_cast<long long>(size), static_cast<long long>(types));
  return 0;
}

LoadOptions load_options(const CliArgs& a) {
  LoadOptions o;
  o.skip_bad = a.has("skip-bad");
  o.single_channel = a.has("single-channel");
  if (a.has("types")) o.types = split_names(a.str("types"));
  o.image_root = a.str("image-root");
  return o;
}

int cmd_train(const CliArgs& a) {
  TrainConfig t;
  t.data = a.required("data");
  t.out = a.required("out");
  t.load = load_options(a);
  t.model = model_options(a);
  t.weights = a.str("weights");
  t.epochs = static_cast<int>(a.integer("epochs", t.epochs));
  t.batch = static_cast<int>(a.integer("batch", t.batch));
  t.lr = a.real("lr", t.lr);
  t.lr_schedule = parse_lr_schedule(a.str("lr-schedule", to_string(t.lr_schedule)));
  t.weight_decay = a.real("weight-decay", t.weight_decay);
  t.ema = a.real("ema", t.ema);
  t.max_minutes = a.real("max-minutes", 0);
  t.resize = a.str("resize", t.resize);
  t.aug.probability = a.real("aug-prob", t.aug.probability);
  const std::string flip = a.str("flip", "none");
  if (flip != "none" && flip != "h" && flip != "v" && flip != "hv")
    throw std::invalid_argument("--flip must be none, h, v or hv, not '" + flip + "'");
  t.aug.flip_horizontal = flip.find('h') != std::string::npos;
  t.aug.flip_vertical = flip.find('v') != std::string::npos;
  t.aug.max_stretch = a.real("aug-stretch", t.aug.max_stretch);
  t.aug.max_scale = a.real("aug-scale", t.aug.max_scale);
  t.workers = static_cast<int>(a.integer("workers", t.workers));
  t.seed = static_cast<uint64_t>(a.integer("seed", 1));
  t.resume = a.has("resume");
  t.bf16 = a.has("bf16");
  t.select = a.str("select", t.select);
  t.snapshots = static_cast<int>(a.integer("snapshots", t.snapshots));
  t.flip_average = a.str("flip-average", t.flip_average);
  // Debian's LibTorch starts with one intra-op thread; use every core unless told otherwise.
  const int64_t threads = a.integer("threads", std::max(1u, std::thread::hardware_concurrency()));
  a.reject_unknown();
  if (threads < 1) throw std::invalid_argument("--threads must be positive");
  torch::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(t.seed);
  return run_training(t);
}

int cmd_eval(const CliArgs& a) {
  const std::string bundle = a.required("model"), data_path = a.required("data");
  const std::string split = a.str("split", "test");
  const int batch = static_cast<int>(a.integer("batch", 8));
  const std::string md = a.str("report"), js = a.str("json"), csv = a.str("scores-out");
  const std::string figure = a.str("figure");
  const int figure_rows = static_cast<int>(a.integer("figure-rows", 1));
  const bool pixel = !a.has("no-pixel");
  LoadOptions lo = load_options(a);
  a.reject_unknown();
  if (figure_rows < 1) throw std::invalid_argument("--figure-rows must be positive");
  DnnModel dnn(bundle);
  if (lo.types.empty() && !lo.single_channel)
    for (const auto& t : dnn.manifest().types) lo.types.push_back(t.name);
  const Dataset data = load_dataset(data_path, lo);
  for (const auto& w : data.warnings) std::cerr << "warning: " << w << "\n";
  const auto t0 = std::chrono::steady_clock::now();
  const auto scores = score_split(dnn, data, split, batch);
  if (scores.empty()) throw std::runtime_error(data_path + ": no images in split '" + split + "'");
  std::vector<std::string> names;
  for (const auto& t : dnn.manifest().types) names.push_back(t.name);
  const auto report = summarize(scores, names, dnn.manifest().input_width, dnn.manifest().input_height, pixel);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string text = markdown_report(report);
  std::cout << text;
  std::printf("\n%zu images evaluated in %.1f s (%.1f ms/image including decoding and metrics)\n", scores.size(), secs,
              1000 * secs / scores.size());
  if (!md.empty()) std::ofstream(md) << text;
  if (!js.empty()) std::ofstream(js) << report_json(report).dump(2) << "\n";
  if (!csv.empty()) write_scores_csv(scores, names, csv);
  if (!figure.empty()) {
    const cv::Mat fig = heatmap_figure(scores, names, figure_rows);
    // imwrite returns false when the file cannot be written, and throws on an unknown extension.
    std::string why;
    try {
      if (!cv::imwrite(figure, fig)) why = "the file cannot be written";
    } catch (const cv::Exception& e) {
      why = e.err;
    }
    if (!why.empty()) throw std::runtime_error("cannot write the figure " + figure + ": " + why);
    std::printf("figure: %s\n", figure.c_str());
  }
  return 0;
}

int cmd_epochs(const CliArgs& a) {
  LoadOptions lo = load_options(a);
  lo.check_files = false;
  const Dataset data = load_dataset(a.required("data"), lo);
  const int batch = static_cast<int>(a.integer("batch", 32));
  const int trials = static_cast<int>(a.integer("trials", 10000));
  a.reject_unknown();
  if (batch < 1 || trials < 1) throw std::invalid_argument("--batch and --trials must be positive");
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
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  keep_freed_memory_in_heap();
  try {
    const CliArgs args(argc, argv, 2, {"skip-bad", "single-channel", "resume", "no-pixel", "bf16"});
    if (cmd == "train") return cmd_train(args);
    if (cmd == "eval") return cmd_eval(args);
    if (cmd == "epochs") return cmd_epochs(args);
    if (cmd == "info") return cmd_info(args);
    if (cmd == "export") return cmd_export(args);
    if (cmd == "toy-data") return cmd_toy_data(args);
    std::cerr << "mtfcdd-train: unknown command '" << cmd << "'\n" << kUsage;
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "mtfcdd-train " << cmd << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mtfcdd-train " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
}
