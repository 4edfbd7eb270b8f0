// mtfcdd-bench: the plugin's per-image latency through the C ABI against ONNX Runtime and
// LibTorch on the same weights, all against the machine's float32 FMA peak; optionally training
// throughput.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/core/version.hpp>
#include <thread>

#include <mtfcdd/bundle.hpp>
#include "child_process.hpp"
#include <mtfcdd/flip_average.hpp>
#include "fma_peak.hpp"
#include "layer_profile.hpp"
#include "mtfcdd/cli.hpp"
#include "ort_timing.hpp"
#include "plugin_timing.hpp"
#include "quantize.hpp"
#include "stats.hpp"
#include "torch_timing.hpp"
#include "util_files.hpp"

namespace mtfcdd::bench {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ModelFacts, input_size, flops_per_image, params, model_bytes, bundle_dir,
                                   weights_path)

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The exported bundles live only as long as the run.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mtfcdd-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary folder in " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct Options {
  std::vector<std::string> presets;
  std::vector<int> batches;
  int runs = 50, warmup = 5, types = 8, threads = 1, gemm_size = 2048, train_batch = 32, train_steps = 3, rounds = 3;
  bool train = true, train_bf16 = false, spin = true, bf16 = false, int8 = false;
  std::string plugin, json_path, ort_dir;
  FlipAverage flip_average = FlipAverage::None;  // None: no flip-averaging rows
  std::vector<std::string> bundles;              // --bundle: trained bundles instead of the presets
  std::string ort_model;                         // --ort-model: ONNX Runtime's form of the one --bundle
};

constexpr int kMaxCount = 1'000'000;  // the upper bound of every count option

// What is timed: the presets (or trained bundles) at each batch.
void declare_models(CLI::App& app, Options& o) {
  o.presets = {"irv2", "small"};
  o.batches = {1, 8};
  o.plugin = MTFCDD_BENCH_PLUGIN;
  app.add_option("--presets", o.presets,
                 "presets, each at its default input size (irv2 299, mobilenet_v1 224, small 224)")
      ->delimiter(',')
      ->check(CLI::IsMember({"irv2", "mobilenet_v1", "small"}));
  app.add_option("--batches", o.batches, "images per call")->delimiter(',')->check(CLI::Range(1, kMaxCount));
  app.add_option("--type-count", o.types, "number of defect types (output channels)")->check(CLI::Range(1, kMaxCount));
  app.add_option("--plugin", o.plugin, "the plugin .so (default: the one built with this bench)")
      ->check(CLI::ExistingFile);
  app.add_option("--bundle", o.bundles,
                 "time these trained bundles (comma-separated folders) instead of the presets: one view of the network's "
                 "maps through the plugin against ONNX Runtime on its model.onnx, and the bundle as configured when it "
                 "averages flips, smooths or fits")
      ->delimiter(',')
      ->check(CLI::ExistingDirectory)
      ->type_name("DIR");
  o.ort_dir = MTFCDD_BENCH_ORT_DIR;
  app.add_option("--ort", o.ort_dir, "ONNX Runtime's install (default: build/ort, from scripts/setup-bench.sh)")
      ->type_name("DIR");
  app.add_option("--ort-model", o.ort_model,
                 "with one --bundle: ONNX Runtime runs this file instead of the bundle's model.onnx, the same network "
                 "in the form it runs fastest (bench/ort_clip_graph.py writes MobileNet's ReLU6 as one Clip, which "
                 "OpenCV 4.6 cannot import); the maps are still compared")
      ->check(CLI::ExistingFile)
      ->type_name("FILE");
}

// How each is timed.
void declare_timing(CLI::App& app, Options& o) {
  o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--runs", o.runs, "timed calls per (preset, batch), in each child")->check(CLI::Range(1, kMaxCount));
  app.add_option("--warmup", o.warmup, "untimed calls before them")->check(CLI::Range(0, kMaxCount));
  app.add_option("--threads", o.threads, "threads for the plugin, LibTorch and ONNX Runtime (default: every core)")
      ->check(CLI::Range(1, kMaxCount));
  app.add_option("--rounds", o.rounds,
                 "the plugin's, LibTorch's and ONNX Runtime's children take turns this many times per row")
      ->check(CLI::Range(1, kMaxCount));
  app.add_flag_callback("--no-spin", [&o] { o.spin = false; },
                        "threads sleep as soon as they wait, on every side (OMP_WAIT_POLICY=passive for the plugin and "
                        "LibTorch, allow_spinning 0 for ONNX Runtime): for busy cores");
  app.add_option("--gemm-size", o.gemm_size, "side of the square GEMM that measures the peak")
      ->check(CLI::Range(64, kMaxCount));
  app.add_option("--json", o.json_path, "also write the results as JSON")->type_name("PATH");
}

// Further configurations of each preset's bundle, timed in the same rounds, and training.
void declare_extras(CLI::App& app, Options& o) {
  app.add_flag("--bf16", o.bf16,
               "also time each bundle in bf16 (as `mtfcdd-train quantize --precision bf16` makes it, checked on the "
               "bench's random frames), alternating with the float32 plugin, and compare its maps");
  app.add_flag("--int8", o.int8,
               "also time each bundle quantized to int8 (input ranges calibrated on the bench's random frames), "
               "alternating with the float32 plugin, and compare its maps");
  cli::add_choice(&app, "--flip-average", o.flip_average,
                  "also time each bundle averaging over those flips (model.json flip_average), against the same "
                  "bundle without");
  app.add_flag_callback("--no-train-throughput", [&o] { o.train = false; },
                        "skip training throughput (small: full network; others: head only)");
  app.add_option("--train-batch", o.train_batch, "images per training step")->check(CLI::Range(1, kMaxCount));
  app.add_option("--train-steps", o.train_steps, "timed training steps")->check(CLI::Range(1, kMaxCount));
  app.add_flag("--train-bf16", o.train_bf16, "training forward passes in bfloat16, as the trainer's --bf16");
}

void declare_options(CLI::App& app, Options& o) {
  app.description(
      "Per-image latency of the mtfcdd plugin (C ABI, OpenCV DNN), of ONNX Runtime (when installed:\n"
      "scripts/setup-bench.sh) and of LibTorch on the same random weights, FLOPs, achieved GFLOP/s against\n"
      "the machine's float32 FMA peak, the plugin's peak RSS, and training throughput. Training runs in the\n"
      "trainer's channels-last layout, and again in NCHW as its peer.");
  declare_models(app, o);
  declare_timing(app, o);
  declare_extras(app, o);
  app.callback([&o] {
    if (!o.ort_model.empty() && o.bundles.size() != 1)
      throw CLI::ValidationError("--ort-model", "needs exactly one --bundle, the network it is a form of");
    if (!o.bundles.empty() && (o.bf16 || o.int8 || o.flip_average != FlipAverage::None))
      throw CLI::ValidationError("--bundle", "cannot be combined with --bf16, --int8 or --flip-average, which time "
                                             "copies of the presets; a bundle is timed as it is configured");
  });
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::vector<double> load_average() {
  std::ifstream in("/proc/loadavg");
  std::vector<double> l(3, 0.0);
  in >> l[0] >> l[1] >> l[2];
  return l;
}

// Child (the hidden export-only subcommand): the bundle export runs in its own process so that this process never
// holds a network while the plugin children run: on Linux a child's ru_maxrss includes the
// spawning process's peak RSS, carried across exec.
struct ExportRequest {
  std::string preset, dir;
  int types = 8;
};

int export_child_main(const ExportRequest& r) {
  std::cout << json(export_model(r.preset, r.types, r.dir)).dump() << std::endl;
  return 0;
}

// Child (the hidden reduce-only subcommand): the int8 or bf16 copy of a bundle as `mtfcdd-train
// quantize` makes it, checked on the frames the plugin children time (a random-weight network has
// no images of its own). In its own process for the reason above.
struct ReduceRequest {
  std::string bundle, out;
  Precision precision = Precision::Int8;
};

int reduce_child_main(const ReduceRequest& r) {
  const BundleManifest m = read_manifest(r.bundle);
  std::vector<std::vector<uint8_t>> pixels = random_frames(m.input_width, m.input_height, 8);
  quantize_bundle(r.bundle, std::vector<cv::Mat>{blob_of(pixels, m)}, r.out, kQuantizeTolerance, r.precision);
  return 0;
}

std::string reduced_in_child(const std::string& bundle, Precision precision) {
  const std::string out = bundle + "-" + name_of(precision);
  run_self({"reduce-only", "--bundle", bundle, "--out", out, "--precision", name_of(precision)});
  return out;
}

ModelFacts export_in_child(const std::string& preset, int types, const fs::path& dir) {
  const ChildRun run =
      run_self({"export-only", "--preset", preset, "--type-count", std::to_string(types), "--dir", dir.string()});
  return stdout_json(run, "export").get<ModelFacts>();
}

// A further configuration of the plugin, timed in every round after the default one: another
// bundle (a bf16, int8 or flip-averaging copy, a trained bundle as configured) or another "conv".
struct Arm {
  std::string name;  // the prefix of its JSON keys
  std::string bundle;
  std::string conv;           // empty: the plugin's default
  bool compare_maps = false;  // its first round writes its maps, compared with the default's
};

struct Entry {
  std::string preset;
  int batch = 1;
  ModelFacts facts;
  PluginResult plugin;  // the plugin's default configuration
  // Each Arm, by name: its calls over all rounds; per round, its median over the default's; its
  // maps against the default's.
  struct ArmResult {
    PluginResult result;
    std::vector<double> round_ratios;
    double maps_relative_l2 = 0;
  };
  std::map<std::string, ArmResult> arms;
  // LibTorch (presets only) and ONNX Runtime (when installed): per call over all rounds; per
  // round, the plugin's median over theirs.
  std::vector<double> libtorch_ms, libtorch_round_ratios, ort_ms, ort_round_ratios;
  double ort_maps_relative_l2 = 0;  // ONNX Runtime's maps against the plugin's on the same blob
  std::string ort_version;
};

// Adds a further child's samples of the same configuration (the first child's: all of it).
void append(PluginResult& to, const PluginResult& from) {
  if (to.call_ms.empty()) {
    to = from;
    return;
  }
  for (auto [a, b] : {std::pair{&to.call_ms, &from.call_ms}, {&to.pre_ms, &from.pre_ms}, {&to.net_ms, &from.net_ms},
                      {&to.post_ms, &from.post_ms}})
    a->insert(a->end(), b->begin(), b->end());
  to.peak_rss_mb = std::max(to.peak_rss_mb, from.peak_rss_mb);
}

// A peer's calls of one round (LibTorch's, ONNX Runtime's) added to `all`, and the plugin's median
// over theirs to `ratios`.
void add_round(std::vector<double>& all, std::vector<double>& ratios, const std::vector<double>& ms,
               const PluginResult& plugin) {
  all.insert(all.end(), ms.begin(), ms.end());
  ratios.push_back(median(plugin.call_ms) / median(ms));
}

// One round of `arm` after the default's `plugin`; `dump` (first round only) holds the default's maps.
void time_arm(const Options& o, const Arm& arm, const PluginResult& plugin, const fs::path& dump,
              const std::string& label, Entry& e) {
  Entry::ArmResult& a = e.arms[arm.name];
  if (arm.conv == plugin.conv) {  // the default already is that conv (a plugin built without oneDNN)
    append(a.result, plugin);
    return;
  }
  std::cerr << "plugin " << arm.name << " " << label << "\n";
  const bool dumps = arm.compare_maps && !dump.empty();
  if (dumps) fs::create_directories(dump / arm.name);
  const PluginResult run = run_plugin_child({o.plugin, arm.bundle, e.batch, o.runs, o.warmup, o.threads, arm.conv,
                                             dumps ? (dump / arm.name).string() : "", o.spin});
  append(a.result, run);
  a.round_ratios.push_back(median(run.call_ms) / median(plugin.call_ms));
  if (dumps)
    a.maps_relative_l2 =
        relative_l2(read_floats((dump / arm.name / "maps.f32").string()), read_floats((dump / "maps.f32").string()));
}

// ONNX Runtime on the blob the first plugin child writes into `work`, its maps beside it.
OrtRequest ort_request(const Options& o, const ModelFacts& facts, int batch, const fs::path& work) {
  const BundleManifest m = read_manifest(facts.bundle_dir);
  const std::string model = o.ort_model.empty() ? (fs::path(facts.bundle_dir) / m.model_file).string() : o.ort_model;
  return {o.ort_dir, model, m.input_name, m.maps_output, (work / "blob.f32").string(),
          {batch, 3, m.input_height, m.input_width}, o.threads, o.runs, o.warmup, (work / "ort_maps.f32").string(),
          o.spin};
}

// Row `name` at `batch`: the plugin's default configuration, each of `arms`, LibTorch (when the
// facts have its weights) and ONNX Runtime, taking turns o.rounds times so that a change in the
// load on the shared cores falls on all; each round's ratio shows the spread. The first plugin
// child writes its input blob and maps into `work`; ONNX Runtime runs on that blob, and its maps
// are checked against the plugin's.
Entry time_in_rounds(const Options& o, const std::string& name, int batch, const ModelFacts& facts, bool with_ort,
                     const std::vector<Arm>& arms, const fs::path& work) {
  Entry e;
  e.preset = name;
  e.batch = batch;
  e.facts = facts;
  fs::create_directories(work);
  const OrtRequest ort = ort_request(o, facts, e.batch, work);
  for (int round = 0; round < o.rounds; ++round) {
    const std::string label = e.preset + " batch " + std::to_string(e.batch) + " round " + std::to_string(round + 1) +
                              "/" + std::to_string(o.rounds);
    const fs::path dump = round == 0 ? work : fs::path();
    std::cerr << "plugin " << label << ": " << o.warmup << " + " << o.runs << " calls\n";
    const PluginResult plugin = run_plugin_child(
        {o.plugin, facts.bundle_dir, e.batch, o.runs, o.warmup, o.threads, "", dump.string(), o.spin});
    append(e.plugin, plugin);
    for (const Arm& arm : arms) time_arm(o, arm, plugin, dump, label, e);
    if (!facts.weights_path.empty()) {
      std::cerr << "LibTorch " << label << "\n";
      const LibtorchRequest request{e.preset, facts.weights_path, o.types, e.batch, o.runs, o.warmup, o.threads, o.spin};
      add_round(e.libtorch_ms, e.libtorch_round_ratios, run_libtorch_child(request), plugin);
    }
    if (!with_ort) continue;
    std::cerr << "ONNX Runtime " << label << "\n";
    const OrtResult r = run_ort_child(ort);
    add_round(e.ort_ms, e.ort_round_ratios, r.call_ms, plugin);
    e.ort_version = r.version;
    if (round == 0) e.ort_maps_relative_l2 = relative_l2(read_floats((work / "maps.f32").string()),
                                                         read_floats(ort.maps_out));
  }
  return e;
}

// Per-image milliseconds: the call's time shared by the batch.
std::vector<double> per_image(std::vector<double> ms, int batch) {
  for (auto& v : ms) v /= batch;
  return ms;
}

// The plugin's default configuration: per image, and the parts the plugin times itself.
json plugin_json(const Entry& e) {
  const auto plugin = per_image(e.plugin.call_ms, e.batch);
  return {{"plugin_ms_median", median(plugin)},
          {"plugin_ms_p95", p95(plugin)},
          {"plugin_preprocess_ms_median", median(per_image(e.plugin.pre_ms, e.batch))},
          {"plugin_network_ms_median", median(per_image(e.plugin.net_ms, e.batch))},
          {"plugin_postprocess_ms_median", median(per_image(e.plugin.post_ms, e.batch))},
          {"plugin_conv", e.plugin.conv},
          {"plugin_peak_rss_mb", e.plugin.peak_rss_mb}};
}

// An arm's calls per image.
std::vector<double> arm_ms(const Entry& e, const std::string& name) {
  return per_image(e.arms.at(name).result.call_ms, e.batch);
}

json entry_json(const Entry& e, double peak_gflops) {
  const double gflop = e.facts.flops_per_image / 1e9;
  const auto plugin = per_image(e.plugin.call_ms, e.batch), torch = per_image(e.libtorch_ms, e.batch);
  const PluginResult& opencv_conv_calls = e.arms.at("opencv_conv").result;
  const auto opencv_conv = per_image(opencv_conv_calls.call_ms, e.batch);
  const double plugin_gflops = gflop / (median(plugin) / 1e3), torch_gflops = gflop / (median(torch) / 1e3);
  json r = {{"preset", e.preset},
            {"input_size", e.facts.input_size},
            {"batch", e.batch},
            {"libtorch_ms_median", median(torch)},
            {"libtorch_ms_p95", p95(torch)},
            {"gflop_per_image", gflop},
            {"plugin_gflops", plugin_gflops},
            {"libtorch_gflops", torch_gflops},
            {"peak_gflops", peak_gflops},
            {"plugin_over_libtorch_ratio", median(plugin) / median(torch)},
            {"plugin_over_libtorch_ratio_rounds", e.libtorch_round_ratios},
            {"plugin_fraction_of_peak", plugin_gflops / peak_gflops},
            {"libtorch_fraction_of_peak", torch_gflops / peak_gflops},
            {"params", e.facts.params},
            {"model_bytes", e.facts.model_bytes},
            {"plugin_baseline_rss_mb", e.plugin.baseline_rss_mb},
            {"plugin_backend", e.plugin.backend},
            {"plugin_threads", e.plugin.threads},
            {"opencv_conv_ms_median", median(opencv_conv)},
            {"opencv_conv_ms_p95", p95(opencv_conv)},
            {"opencv_conv_network_ms_median", median(per_image(opencv_conv_calls.net_ms, e.batch))},
            {"opencv_conv_over_libtorch_ratio", median(opencv_conv) / median(torch)},
            {"opencv_conv_fraction_of_peak", gflop / (median(opencv_conv) / 1e3) / peak_gflops}};
  r.update(plugin_json(e));
  return r;
}

// The plugin's maps and ONNX Runtime's on the same blob agree within this relative L2 distance.
constexpr double kMapsTolerance = 1e-4;

// ONNX Runtime's figures beside the plugin's, when it ran.
void add_ort(json& r, const Entry& e, double peak_gflops) {
  const auto ort = per_image(e.ort_ms, e.batch), plugin = per_image(e.plugin.call_ms, e.batch);
  const double gflop = e.facts.flops_per_image / 1e9;
  r["ort_ms_median"] = median(ort);
  r["ort_ms_p95"] = p95(ort);
  r["ort_gflops"] = gflop / (median(ort) / 1e3);
  r["ort_fraction_of_peak"] = gflop / (median(ort) / 1e3) / peak_gflops;
  r["plugin_over_ort_ratio"] = median(plugin) / median(ort);
  r["plugin_over_ort_ratio_rounds"] = e.ort_round_ratios;
  r["ort_maps_relative_l2"] = e.ort_maps_relative_l2;
  r["ort_maps_match"] = e.ort_maps_relative_l2 <= kMapsTolerance;
}

// Each reduced-precision copy's figures beside the float32 plugin's (--bf16, --int8), keys named
// after the precision. Its "fraction of peak" counts the float32 FLOPs against the float32 peak:
// how much sooner it is done, not a bf16 or int8 peak.
void add_reduced(json& r, const Entry& e, double peak_gflops) {
  const auto plugin = per_image(e.plugin.call_ms, e.batch);
  for (Precision precision : {Precision::BF16, Precision::Int8}) {
    const std::string n = name_of(precision);
    if (!e.arms.count(n)) continue;
    const Entry::ArmResult& v = e.arms.at(n);
    const auto ms = arm_ms(e, n);
    r[n + "_ms_median"] = median(ms);
    r[n + "_ms_p95"] = p95(ms);
    r[n + "_fraction_of_peak"] = e.facts.flops_per_image / 1e9 / (median(ms) / 1e3) / peak_gflops;
    r[n + "_over_plugin_ratio"] = median(ms) / median(plugin);
    r[n + "_over_plugin_ratio_rounds"] = v.round_ratios;
    r[n + "_maps_relative_l2"] = v.maps_relative_l2;
    if (!e.ort_ms.empty()) r[n + "_over_ort_ratio"] = median(ms) / median(per_image(e.ort_ms, e.batch));
  }
}

// The bundle of `dir` copied beside it, with `suffix` on its name and its manifest changed by `change`.
std::string bundle_variant(const fs::path& dir, const std::string& suffix,
                           const std::function<void(BundleManifest&)>& change) {
  const fs::path copy = dir.string() + suffix;
  fs::copy(dir, copy, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  BundleManifest m = read_manifest(copy.string());
  change(m);
  write_manifest(m, copy.string());
  return copy.string();
}

// The bundle of `dir` averaging over `mode`'s flips.
std::string flip_average_bundle(const fs::path& dir, FlipAverage mode) {
  return bundle_variant(dir, std::string("-flips-") + name_of(mode), [&](BundleManifest& m) { m.flip_average = mode; });
}

// "0.91 1.02 ...": a JSON array of numbers for a table cell.
std::string two_decimals(const json& values) {
  std::string out;
  for (const auto& x : values) {
    char b[32];
    std::snprintf(b, sizeof b, "%s%.2f", out.empty() ? "" : " ", x.get<double>());
    out += b;
  }
  return out;
}

void print_machine(const json& report) {
  const json& m = report.at("machine");
  std::printf("machine: %s, %d cores; %d threads on every side; OpenCV %s, LibTorch %s; load average at start %.2f\n",
              m.at("cpu_model").get<std::string>().c_str(), m.at("cores").get<int>(), m.at("threads").get<int>(),
              m.at("opencv_version").get<std::string>().c_str(), m.at("libtorch_version").get<std::string>().c_str(),
              m.at("load_average_at_start")[0].get<double>());
}

void print_machine_and_peak(const json& report) {
  print_machine(report);
  const json& p = report.at("peak");
  const double peak = p.at("peak_gflops");
  std::printf("peak: %.1f GFLOP/s float32, a register-only FMA loop on %d threads, %s, best of %d bursts of %.0f ms\n",
              peak, p.at("fma_threads").get<int>(), p.at("fma_isa").get<std::string>().c_str(),
              p.at("fma_bursts").get<int>(), 1e3 * p.at("fma_burst_seconds").get<double>());
  std::printf("library kernels, float32 %dx%dx%d matrix product, best of up to %d calls:", p.at("n").get<int>(),
              p.at("n").get<int>(), p.at("n").get<int>(), p.at("max_repeats").get<int>());
  for (const auto& [name, gflops] : p.at("kernels_gflops").items())
    std::printf(" %s %.1f (%.0f%%),", name.c_str(), gflops.get<double>(), 100 * gflops.get<double>() / peak);
  std::printf("\n\n");
}

void print_ort_table(const json& report) {
  const json& ort = report.at("ort");
  if (ort.at("installed")) {
    std::printf("ONNX Runtime %s (CPU execution provider, Node binding), on the blob the plugin made of the same "
                "frames:\n",
                ort.value("version", "?").c_str());
    std::printf("| preset | batch | plugin ms/img p50 | ORT ms/img p50 | ORT p95 | plugin/ORT | per round "
                "| plugin %% peak | ORT %% peak | maps rel. L2 |\n|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n");
    for (const auto& r : report.at("results")) {
      const std::string rounds = two_decimals(r.at("plugin_over_ort_ratio_rounds"));
      std::printf("| %s | %d | %.2f | %.2f | %.2f | %.3f | %s | %.1f | %.1f | %.1e%s |\n",
                  r.at("preset").get<std::string>().c_str(), r.at("batch").get<int>(),
                  r.at("plugin_ms_median").get<double>(), r.at("ort_ms_median").get<double>(),
                  r.at("ort_ms_p95").get<double>(), r.at("plugin_over_ort_ratio").get<double>(), rounds.c_str(),
                  100 * r.at("plugin_fraction_of_peak").get<double>(), 100 * r.at("ort_fraction_of_peak").get<double>(),
                  r.at("ort_maps_relative_l2").get<double>(), r.at("ort_maps_match").get<bool>() ? "" : " MISMATCH");
    }
    std::printf("\n");
  } else {
    std::printf("%s\n\n", ort.at("hint").get<std::string>().c_str());
  }
}

void print_plugin_tables(const json& report) {
  std::printf(
      "| preset | input | batch | GFLOP/img | plugin ms/img p50 | p95 | LibTorch ms/img p50 | p95 | plugin/LibTorch "
      "| per round | plugin GFLOP/s | LibTorch GFLOP/s | plugin %% peak | LibTorch %% peak | plugin conv "
      "| OpenCV conv ms/img p50 | OpenCV conv/LibTorch |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|\n");
  for (const auto& r : report.at("results"))
    std::printf(
        "| %s | %d | %d | %.3f | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %.1f | %.1f | %.1f | %.1f | %s | %.2f "
        "| %.2f |\n",
                r.at("preset").get<std::string>().c_str(), r.at("input_size").get<int>(), r.at("batch").get<int>(),
                r.at("gflop_per_image").get<double>(), r.at("plugin_ms_median").get<double>(),
                r.at("plugin_ms_p95").get<double>(), r.at("libtorch_ms_median").get<double>(),
                r.at("libtorch_ms_p95").get<double>(), r.at("plugin_over_libtorch_ratio").get<double>(),
                two_decimals(r.at("plugin_over_libtorch_ratio_rounds")).c_str(), r.at("plugin_gflops").get<double>(),
                r.at("libtorch_gflops").get<double>(),
                100 * r.at("plugin_fraction_of_peak").get<double>(),
                100 * r.at("libtorch_fraction_of_peak").get<double>(), r.at("plugin_conv").get<std::string>().c_str(),
                r.at("opencv_conv_ms_median").get<double>(), r.at("opencv_conv_over_libtorch_ratio").get<double>());
  std::printf(
      "\n| preset | batch | plugin pre ms/img | network ms/img | post ms/img | params | model.onnx MB "
      "| plugin peak RSS MiB | of which before dlopen |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : report.at("results"))
    std::printf("| %s | %d | %.3f | %.2f | %.3f | %lld | %.2f | %.0f | %.0f |\n",
                r.at("preset").get<std::string>().c_str(), r.at("batch").get<int>(),
                r.at("plugin_preprocess_ms_median").get<double>(), r.at("plugin_network_ms_median").get<double>(),
                r.at("plugin_postprocess_ms_median").get<double>(), r.at("params").get<long long>(),
                r.at("model_bytes").get<double>() / 1e6, r.at("plugin_peak_rss_mb").get<double>(),
                r.at("plugin_baseline_rss_mb").get<double>());
}

// The table of one reduced precision (`n`: bf16 or int8) against float32 and ONNX Runtime.
void print_reduced_table(const json& report, const std::string& n) {
  const auto at = [&n](const json& r, const char* key) { return r.at(n + key).get<double>(); };
  std::printf("\n%s bundles (model.json precision %s):\n"
              "| preset | batch | float32 ms/img p50 | %s ms/img p50 | %s p95 | %s/float32 | per round "
              "| %s/ORT float32 | float32 FLOPs %% peak | maps vs float32 (rel. L2) |\n"
              "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n",
              n.c_str(), n.c_str(), n.c_str(), n.c_str(), n.c_str(), n.c_str());
  for (const auto& r : report.at("results")) {
    const std::string rounds = two_decimals(r.at(n + "_over_plugin_ratio_rounds"));
    char vs_ort[32] = "-";
    if (r.contains(n + "_over_ort_ratio")) std::snprintf(vs_ort, sizeof vs_ort, "%.3f", at(r, "_over_ort_ratio"));
    std::printf("| %s | %d | %.2f | %.2f | %.2f | %.3f | %s | %s | %.1f | %.1e |\n",
                r.at("preset").get<std::string>().c_str(), r.at("batch").get<int>(),
                r.at("plugin_ms_median").get<double>(), at(r, "_ms_median"), at(r, "_ms_p95"),
                at(r, "_over_plugin_ratio"), rounds.c_str(), vs_ort, 100 * at(r, "_fraction_of_peak"),
                at(r, "_maps_relative_l2"));
  }
}

void print_optional_tables(const json& report) {
  if (!report.at("training").empty()) {
    std::printf("\n| training preset | what trains | bf16 | batch | steps | images/s (channels-last) | images/s (NCHW) | ratio |\n"
                "|---|---|---|---:|---:|---:|---:|---:|\n");
    for (const auto& t : report.at("training")) {
      const double nhwc = t.at("train_images_per_s"), nchw = t.at("train_images_per_s_nchw");
      std::printf("| %s | %s | %s | %d | %d | %.2f | %.2f | %.2f |\n", t.at("preset").get<std::string>().c_str(),
                  t.at("mode").get<std::string>().c_str(), t.at("bf16").get<bool>() ? "yes" : "no",
                  t.at("batch").get<int>(), t.at("steps").get<int>(), nhwc, nchw, nhwc / nchw);
    }
  }
  if (report.at("settings").at("flip_average") != "none") {
    std::printf("\n| preset | batch | flip average | plugin ms/img p50 | with flip average ms/img p50 | p95 | ratio |\n"
                "|---|---:|---|---:|---:|---:|---:|\n");
    for (const auto& r : report.at("results"))
      std::printf("| %s | %d | %s | %.2f | %.2f | %.2f | %.2f |\n", r.at("preset").get<std::string>().c_str(),
                  r.at("batch").get<int>(), r.at("flip_average").get<std::string>().c_str(),
                  r.at("plugin_ms_median").get<double>(), r.at("flip_average_ms_median").get<double>(),
                  r.at("flip_average_ms_p95").get<double>(), r.at("flip_average_over_plugin_ratio").get<double>());
  }
  for (const char* n : {"bf16", "int8"})
    if (report.at("settings").at(n)) print_reduced_table(report, n);
}

void print_report(const json& report) {
  print_machine_and_peak(report);
  print_ort_table(report);
  print_plugin_tables(report);
  print_optional_tables(report);
  const json& s = report.at("settings");
  std::printf("\n%d timed calls after %d warm-up calls per child; per row, each plugin configuration, LibTorch and "
              "ONNX Runtime take turns in %d rounds, each in its own child process; ms/img = call time / batch; "
              "waiting threads %s.\n",
              s.at("runs").get<int>(), s.at("warmup").get<int>(), s.at("rounds").get<int>(),
              s.at("spin").get<bool>() ? "spin first (the libraries' defaults)" : "sleep (--no-spin)");
  std::printf("plugin: %s.\n", s.at("plugin_includes").get<std::string>().c_str());
  std::printf("LibTorch: %s.\n", s.at("libtorch_includes").get<std::string>().c_str());
  std::printf("GFLOP/img, GFLOP/s and %% peak count every convolution's direct products; the plugin runs 3x3 "
              "stride-1 convolutions with Winograd's F(4x4, 3x3), which needs fewer, so its %% peak can pass 100.\n");
}

json report_header(const Options& o) {
  return {{"machine",
                  {{"cpu_model", cpu_model()},
                   {"cores", std::thread::hardware_concurrency()},
                   {"threads", o.threads},
                   {"opencv_version", CV_VERSION},
                   {"libtorch_version", torch_version()},
                   {"load_average_at_start", load_average()}}},
                 {"settings",
                  {{"runs", o.runs},
                   {"warmup", o.warmup},
                   {"types", o.types},
                   {"flip_average", name_of(o.flip_average)},
                   {"rounds", o.rounds},
                   {"spin", o.spin},
                   {"bf16", o.bf16},
                   {"int8", o.int8},
                   {"plugin", o.plugin},
                   {"plugin_includes", kPluginIncludes},
                   {"libtorch_includes", kLibtorchIncludes}}}};
}

// The further configurations each of a preset's rows times: OpenCV DNN's own convolutions beside
// the default (oneDNN's, when the plugin has them), and the copies the options ask for.
std::vector<Arm> preset_arms(const Options& o, const ModelFacts& facts) {
  std::vector<Arm> arms{{"opencv_conv", facts.bundle_dir, "opencv", false}};
  if (o.flip_average != FlipAverage::None)
    arms.push_back({"flip_average", flip_average_bundle(facts.bundle_dir, o.flip_average), "", false});
  for (auto [asked, precision] : {std::pair{o.bf16, Precision::BF16}, {o.int8, Precision::Int8}})
    if (asked) arms.push_back({name_of(precision), reduced_in_child(facts.bundle_dir, precision), "", true});
  return arms;
}

// Every (preset, batch): the plugin (default conv, OpenCV's conv, flip average, bf16, int8),
// LibTorch and ONNX Runtime on the same model, in rounds. Bundles live in `tmp`.
std::vector<Entry> time_inference(const Options& o, bool with_ort, const TempDir& tmp) {
  std::vector<Entry> entries;
  for (const auto& preset : o.presets) {
    std::cerr << "exporting " << preset << " (" << o.types << " types, random weights)\n";
    const ModelFacts facts = export_in_child(preset, o.types, tmp.path() / preset);
    const std::vector<Arm> arms = preset_arms(o, facts);
    for (int batch : o.batches)
      entries.push_back(time_in_rounds(o, preset, batch, facts, with_ort, arms,
                                       tmp.path() / (preset + "-batch" + std::to_string(batch))));
  }
  return entries;
}

// The physical FMA peak and the library GEMM kernels measured against it.
json peak_json(const Options& o) {
  std::cerr << "FMA peak and library GEMM kernels\n";
  constexpr int kPeakRepeats = 5;
  const FmaPeak fma = fma_peak(o.threads);
  const double peak_gflops = fma.gflops;
  const GemmPeak gemm = gemm_peak(o.gemm_size, kPeakRepeats);
  json kernels = json::object(), kernel_fractions = json::object();
  for (const auto& k : gemm.kernels) {
    kernels[k.name] = k.gflops;
    kernel_fractions[k.name] = k.gflops / peak_gflops;
  }
  return {{"peak_gflops", peak_gflops},
          {"fma_isa", fma.isa},
          {"fma_threads", fma.threads},
          {"fma_bursts", fma.bursts},
          {"fma_burst_seconds", fma.seconds},
          {"max_repeats", kPeakRepeats},
          {"n", gemm.n},
          {"kernels_gflops", kernels},
          {"kernels_fraction_of_peak", kernel_fractions}};
}

json results_json(const Options& o, const std::vector<Entry>& entries, bool with_ort, double peak_gflops) {
  json results = json::array();
  for (const auto& e : entries) {
    json r = entry_json(e, peak_gflops);
    if (with_ort) add_ort(r, e, peak_gflops);
    if (o.flip_average != FlipAverage::None) {
      const auto flips = arm_ms(e, "flip_average"), plugin = per_image(e.plugin.call_ms, e.batch);
      r["flip_average"] = name_of(o.flip_average);
      r["flip_average_ms_median"] = median(flips);
      r["flip_average_ms_p95"] = p95(flips);
      r["flip_average_over_plugin_ratio"] = median(flips) / median(plugin);
      r["flip_average_over_plugin_ratio_rounds"] = e.arms.at("flip_average").round_ratios;
    }
    add_reduced(r, e, peak_gflops);
    results.push_back(r);
  }
  return results;
}

// --bundle: a trained bundle's two files (manifest `m` and its network) copied into `dir`, so that
// nothing is written beside the user's, and the facts the timing needs (no FLOPs or parameters:
// its network is not rebuilt here).
ModelFacts copied_bundle(const fs::path& bundle, const BundleManifest& m, const fs::path& dir) {
  fs::create_directories(dir);
  for (const std::string& file : {std::string("model.json"), m.model_file}) fs::copy_file(bundle / file, dir / file);
  ModelFacts f;
  f.input_size = m.input_width;
  f.model_bytes = static_cast<int64_t>(fs::file_size(dir / m.model_file));
  f.bundle_dir = dir.string();
  return f;
}

// A trained bundle's row: which bundle, the plugin's figures, ONNX Runtime's and the bundle's as
// configured, when they were timed.
json bundle_row(const Options& o, bool with_ort, const std::string& bundle, const BundleManifest& m, const Entry& e) {
  json r = {{"bundle", bundle}, {"name", e.preset}, {"input_size", e.facts.input_size},
            {"precision", name_of(m.precision)}, {"flip_average", name_of(m.flip_average)}, {"batch", e.batch}};
  r.update(plugin_json(e));
  if (with_ort) {
    add_ort(r, e, 0);
    for (const char* unknown : {"ort_gflops", "ort_fraction_of_peak"}) r.erase(unknown);  // no FLOP count here
    if (m.precision != Precision::Float32) r.erase("ort_maps_match");  // ONNX Runtime runs the float32 graph
    r["ort_version"] = e.ort_version;
    if (!o.ort_model.empty()) r["ort_model"] = o.ort_model;
  }
  if (e.arms.count("as_configured")) {
    const auto ms = arm_ms(e, "as_configured");
    r["as_configured_ms_median"] = median(ms);
    r["as_configured_ms_p95"] = p95(ms);
  }
  return r;
}

// One view with the network's own maps, which ONNX Runtime gives and the maps are compared with:
// no flips, no smoothing, and "stretch" (on frames at the input size it makes fit's blob, but
// returns the maps as they are, not brought to the part's cells through the input).
ModelFacts one_view_of(const ModelFacts& facts) {
  ModelFacts one_view = facts;
  one_view.bundle_dir = bundle_variant(facts.bundle_dir, "-one-view", [](BundleManifest& v) {
    v.flip_average = FlipAverage::None;
    v.resize = Resize::Stretch;
    for (auto& t : v.types) t.smoothing = 0;
  });
  return one_view;
}

// Each --bundle at each batch: one view of the network's maps through the plugin and ONNX Runtime
// in rounds, as for the presets, with the bundle as configured in the same rounds when it averages
// flips, smooths or fits.
json time_bundles(const Options& o, bool with_ort, const TempDir& tmp) {
  json rows = json::array();
  for (size_t i = 0; i < o.bundles.size(); ++i) {
    const std::string name = fs::path(o.bundles[i] + "/.").lexically_normal().parent_path().filename().string();
    const BundleManifest m = read_manifest(o.bundles[i]);  // names the user's folder when it is no bundle
    const fs::path dir = tmp.path() / ("bundle" + std::to_string(i));
    const ModelFacts facts = copied_bundle(o.bundles[i], m, dir / "as-configured"), one_view = one_view_of(facts);
    std::vector<Arm> arms;
    if (m.flip_average != FlipAverage::None || m.resize != Resize::Stretch ||
        std::any_of(m.types.begin(), m.types.end(), [](const DefectType& t) { return t.smoothing > 0; }))
      arms.push_back({"as_configured", facts.bundle_dir, "", false});
    for (int batch : o.batches)
      rows.push_back(bundle_row(o, with_ort, o.bundles[i], m,
                                time_in_rounds(o, name, batch, one_view, with_ort, arms, dir / std::to_string(batch))));
  }
  return rows;
}

void print_bundle_table(const json& report) {
  const bool ort = report.at("ort").at("installed");
  const std::string ort_model = report.at("ort").value("model", std::string("its model.onnx"));
  std::printf("Trained bundles: one view of the network's own maps (no flip averaging, smoothing or fit) through the "
              "plugin%s; \"as configured\": the bundle as it is. ms/img p50 (p95), the plugin's parts p50:\n",
              ort ? (" against ONNX Runtime on " + ort_model + " and the same blob (ONNX Runtime runs the float32 graph)").c_str()
                  : "");
  std::printf("| bundle | input | precision | batch | plugin conv | plugin | pre / network / post | ORT | plugin/ORT "
              "| per round | maps rel. L2 | flip average | as configured | peak RSS MiB |\n"
              "|---|---:|---|---:|---|---:|---|---:|---:|---|---:|---|---:|---:|\n");
  for (const auto& r : report.at("bundles")) {
    const auto cell = [&r](const char* p50, const char* p95key) {
      char b[48] = "-";
      if (r.contains(p50)) std::snprintf(b, sizeof b, "%.2f (%.2f)", r.at(p50).get<double>(), r.at(p95key).get<double>());
      return std::string(b);
    };
    char ratio[32] = "-", l2[32] = "-";
    if (ort) {
      std::snprintf(ratio, sizeof ratio, "%.3f", r.at("plugin_over_ort_ratio").get<double>());
      std::snprintf(l2, sizeof l2, "%.1e", r.at("ort_maps_relative_l2").get<double>());
    }
    std::printf("| %s | %d | %s | %d | %s | %s | %.2f / %.2f / %.2f | %s | %s | %s | %s | %s | %s | %.0f |\n",
                r.at("name").get<std::string>().c_str(), r.at("input_size").get<int>(),
                r.at("precision").get<std::string>().c_str(), r.at("batch").get<int>(),
                r.at("plugin_conv").get<std::string>().c_str(), cell("plugin_ms_median", "plugin_ms_p95").c_str(),
                r.at("plugin_preprocess_ms_median").get<double>(), r.at("plugin_network_ms_median").get<double>(),
                r.at("plugin_postprocess_ms_median").get<double>(), cell("ort_ms_median", "ort_ms_p95").c_str(), ratio,
                ort ? two_decimals(r.at("plugin_over_ort_ratio_rounds")).c_str() : "-", l2,
                r.at("flip_average").get<std::string>().c_str(),
                cell("as_configured_ms_median", "as_configured_ms_p95").c_str(), r.at("plugin_peak_rss_mb").get<double>());
  }
}

// Training images/s per preset, channels-last against NCHW.
json training_json(const Options& o) {
  json training = json::array();
  if (o.train)
    for (const auto& preset : o.presets) {
      // small is trained from scratch; the others train their head on a frozen pretrained backbone.
      TrainStep how;
      how.frozen_backbone = preset != "small";
      how.bf16 = o.train_bf16;
      std::cerr << "training " << preset << (how.frozen_backbone ? " (head only)" : " (full network)") << "\n";
      const double nhwc = train_images_per_s(preset, o.types, how, o.train_batch, o.train_steps);
      how.channels_last = false;
      const double nchw = train_images_per_s(preset, o.types, how, o.train_batch, o.train_steps);
      training.push_back({{"preset", preset},
                          {"mode", how.frozen_backbone ? "head only (frozen backbone)" : "full network"},
                          {"bf16", how.bf16},
                          {"batch", o.train_batch},
                          {"steps", o.train_steps},
                          {"train_images_per_s", nhwc},
                          {"train_images_per_s_nchw", nchw}});
    }
  return training;
}

// Replaces the file only once the whole report is written: a committed results.json never ends
// up truncated.
void write_json(const json& report, const std::string& path) {
  if (path.empty()) return;
  write_then_rename(path, [&](const std::string& tmp) { write_file(tmp, report.dump(2) + "\n"); });
  std::printf("results written to %s\n", path.c_str());
}

int run_bundles(const Options& o, bool with_ort, const TempDir& tmp, json& report) {
  report["ort"] = {{"installed", with_ort}, {"dir", o.ort_dir}};
  if (!o.ort_model.empty()) report["ort"]["model"] = o.ort_model;
  report["bundles"] = time_bundles(o, with_ort, tmp);
  print_machine(report);
  std::printf("\n");
  print_bundle_table(report);
  write_json(report, o.json_path);
  return 0;
}

int run(const Options& o) {
  json report = report_header(o);
  const bool with_ort = ort_available(o.ort_dir);
  if (!with_ort)
    std::cerr << "mtfcdd-bench: " << kOrtInstallHint << " (looked in " << o.ort_dir << "); its columns are left out\n";
  const TempDir tmp;
  if (!o.bundles.empty()) return run_bundles(o, with_ort, tmp, report);
  const std::vector<Entry> entries = time_inference(o, with_ort, tmp);
  set_threads(o.threads);  // the peak's kernels and training run in this process
  report["peak"] = peak_json(o);
  report["ort"] = {{"installed", with_ort}, {"dir", o.ort_dir}};
  if (!with_ort) report["ort"]["hint"] = kOrtInstallHint;
  for (const auto& e : entries)
    if (!e.ort_version.empty()) report["ort"]["version"] = e.ort_version;
  report["results"] = results_json(o, entries, with_ort, report["peak"]["peak_gflops"].get<double>());
  report["training"] = training_json(o);
  print_report(report);
  write_json(report, o.json_path);
  return 0;
}

// The children the bench spawns of itself (hidden: group ""), each measuring in its own process.
CLI::App* declare_plugin_child(CLI::App& app, PluginRequest& r) {
  CLI::App* cmd = app.add_subcommand("plugin-only", "time the plugin on a bundle; print JSON")->group("");
  cmd->add_option("--plugin", r.plugin, "the plugin .so")->required();
  cmd->add_option("--bundle", r.bundle, "the model bundle folder")->required();
  cmd->add_option("--batch", r.batch, "images per call");
  cmd->add_option("--runs", r.runs, "timed calls");
  cmd->add_option("--warmup", r.warmup, "untimed calls before them");
  cmd->add_option("--threads", r.threads, "the detector's threads");
  cmd->add_option("--conv", r.conv, "the detector's \"conv\" (default: its own)");
  cmd->add_option("--dump", r.dump_dir,
                  "write the input blob (blob.f32) and the last call's maps (maps.f32) here, raw float32");
  return cmd;
}

CLI::App* declare_libtorch_child(CLI::App& app, LibtorchRequest& r) {
  CLI::App* cmd =
      app.add_subcommand("libtorch-only", "time LibTorch on a preset's saved weights; print JSON")->group("");
  cmd->add_option("--preset", r.preset, "the preset")->required();
  cmd->add_option("--weights", r.weights_path, "the weights export-only saved")->required();
  cmd->add_option("--type-count", r.types, "number of defect types");
  cmd->add_option("--batch", r.batch, "images per forward");
  cmd->add_option("--runs", r.runs, "timed forwards");
  cmd->add_option("--warmup", r.warmup, "untimed forwards before them");
  cmd->add_option("--threads", r.threads, "LibTorch's threads");
  return cmd;
}

CLI::App* declare_export_child(CLI::App& app, ExportRequest& r) {
  CLI::App* cmd = app.add_subcommand("export-only", "export a random-weight bundle; print its facts")->group("");
  cmd->add_option("--preset", r.preset, "the preset")->required();
  cmd->add_option("--dir", r.dir, "the bundle folder")->required();
  cmd->add_option("--type-count", r.types, "number of defect types");
  return cmd;
}

CLI::App* declare_reduce_child(CLI::App& app, ReduceRequest& r) {
  CLI::App* cmd = app.add_subcommand("reduce-only", "the int8 or bf16 copy of a bundle")->group("");
  cmd->add_option("--bundle", r.bundle, "the float32 bundle")->required();
  cmd->add_option("--out", r.out, "the new bundle")->required();
  cli::add_choice(cmd, "--precision", r.precision, "int8 or bf16", {Precision::BF16, Precision::Int8});
  return cmd;
}

CLI::App* declare_layers(CLI::App& app, LayerProfileRequest& r, int threads) {
  CLI::App* cmd =
      app.add_subcommand("layers", "where a bundle's forward spends its time: OpenCV DNN's per-layer profile of the "
                                   "plugin's engine, summed per layer type");
  cmd->add_option("--bundle", r.bundle, "the bundle folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--batch", r.batch, "images per forward")->check(CLI::Range(1, 1024));
  cmd->add_option("--runs", r.runs, "timed forwards")->check(CLI::Range(1, 100000));
  cmd->add_option("--warmup", r.warmup, "untimed forwards before them")->check(CLI::Range(0, 100000));
  r.threads = threads;
  cmd->add_option("--threads", r.threads, "threads (default: every core)")->check(CLI::Range(1, 1024));
  cmd->add_option("--top", r.top, "slowest layers listed")->check(CLI::Range(0, 100000));
  cli::add_choice(cmd, "--conv", r.conv, "the engine's convolutions");
  return cmd;
}

}  // namespace
}  // namespace mtfcdd::bench

int main(int argc, char** argv) {
  using namespace mtfcdd::bench;
  CLI::App app{"", "mtfcdd-bench"};
  mtfcdd::cli::configure(app);
  Options options;
  declare_options(app, options);
  PluginRequest plugin_child;
  LibtorchRequest libtorch_child;
  ExportRequest export_child;
  ReduceRequest reduce_child;
  LayerProfileRequest layers;
  CLI::App* plugin_cmd = declare_plugin_child(app, plugin_child);
  CLI::App* libtorch_cmd = declare_libtorch_child(app, libtorch_child);
  CLI::App* export_cmd = declare_export_child(app, export_child);
  CLI::App* reduce_cmd = declare_reduce_child(app, reduce_child);
  CLI::App* layers_cmd = declare_layers(app, layers, options.threads);
  if (const auto exit_code = mtfcdd::cli::parse(app, argc, argv)) return *exit_code;
  try {
    if (plugin_cmd->parsed()) return plugin_child_main(plugin_child);
    if (libtorch_cmd->parsed()) return libtorch_child_main(libtorch_child);
    if (export_cmd->parsed()) return export_child_main(export_child);
    if (reduce_cmd->parsed()) return reduce_child_main(reduce_child);
    if (layers_cmd->parsed()) return layer_profile_main(layers);
    return run(options);
  } catch (const std::exception& e) {
    std::cerr << mtfcdd::cli::command_name(app) << ": error: " << e.what() << "\n";
    return 1;
  }
}
