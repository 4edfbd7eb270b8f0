#include "trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>

#include "batch_loader.hpp"
#include "dist_env.hpp"
#include "process_group.hpp"
#include "progress.hpp"
#include "score_transfer.hpp"
#include "train_step.hpp"
#include <mtfcdd/dnn_model.hpp>
#include "bundle_calibration.hpp"
#include "evaluate.hpp"
#include "export.hpp"
#include "fcdd_math.hpp"
#include <mtfcdd/flip_average.hpp>
#include "metrics.hpp"
#include "safetensors.hpp"
#include "sampler.hpp"
#include "util_files.hpp"
#include "weight_average.hpp"
#include "weights.hpp"

namespace mtfcdd {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }

torch::Tensor labels_tensor(const Batch& b, int64_t m) {
  return torch::from_blob(const_cast<float*>(b.labels.data()), {static_cast<int64_t>(b.indices.size()), m},
                          torch::kFloat)
      .clone();
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct RunState {
  int epoch = 0;            // completed epochs
  bool in_epoch = false;    // interrupted inside epoch `epoch`
  int64_t iteration = 0;
  double best_val = std::numeric_limits<double>::infinity();
  int best_epoch = -1;
  std::vector<uint64_t> sampler;
  uint64_t batches = 0;  // the loader's batch count, which seeds augmentation
};

// What a checkpoint must agree on to be resumed: the network, its types' names in channel order
// (none for a checkpoint written before they were recorded) and the input it was trained on.
nlohmann::json checkpoint_identity(const ModelConfig& m, Resize resize, const std::vector<std::string>& names) {
  nlohmann::json id = network_description(m);
  id.update({{"types", m.types}, {"input_size", m.input_size}, {"resize", name_of(resize)}});
  if (!names.empty()) id["type_names"] = names;
  return id;
}

// Whether a network trained as `trained` may go on as `asked`: the same identity, where a
// checkpoint that predates the recorded type names is matched on their count alone.
bool same_network(const nlohmann::json& trained, nlohmann::json asked) {
  if (!trained.contains("type_names")) asked.erase("type_names");
  return trained == asked;
}

void save_network(FcddModel& model, const std::string& path) {
  write_then_rename(path, [&](const std::string& tmp) { torch::save(model, tmp); });
}

void save_checkpoint(const std::string& path, FcddModelImpl& model, torch::optim::Adam& opt, WeightAverage* avg,
                     const RunState& st, const nlohmann::json& identity) {
  torch::serialize::OutputArchive ar, model_ar, opt_ar;
  model.save(model_ar);
  opt.save(opt_ar);
  ar.write("model", model_ar);
  ar.write("optimizer", opt_ar);
  if (avg) {
    for (size_t i = 0; i < avg->tensors().size(); ++i) ar.write("average." + std::to_string(i), avg->tensors()[i]);
    ar.write("average_updates", torch::tensor(avg->updates(), torch::kLong));
  }
  std::vector<int64_t> s(st.sampler.begin(), st.sampler.end());
  ar.write("sampler", torch::tensor(s, torch::kLong));
  const nlohmann::json meta = {{"epoch", st.epoch},           {"in_epoch", st.in_epoch},
                               {"iteration", st.iteration},   {"best_val", st.best_val},
                               {"best_epoch", st.best_epoch}, {"batches", st.batches},
                               {"model", identity}};
  ar.write("meta", c10::IValue(meta.dump()));
  write_then_rename(path, [&](const std::string& tmp) { ar.save_to(tmp); });
}

// `bytes`: a checkpoint's file, read by rank 0 and handed to the others through the store, so
// that ranks on other machines need no shared folder.
RunState load_checkpoint(const std::string& bytes, const std::string& path, FcddModelImpl& model,
                         torch::optim::Adam& opt, WeightAverage* avg, const nlohmann::json& identity,
                         const torch::Device& device) {
  torch::serialize::InputArchive ar, model_ar, opt_ar;
  ar.load_from(bytes.data(), bytes.size(), device);
  c10::IValue meta_v;
  ar.read("meta", meta_v);
  const auto meta = nlohmann::json::parse(meta_v.toStringRef());
  if (!same_network(meta.at("model"), identity))
    throw std::runtime_error("--resume: the checkpoint " + path + " was trained as " + meta.at("model").dump() +
                             ", this run asks for " + identity.dump());
  ar.read("model", model_ar);
  model.load(model_ar);
  ar.read("optimizer", opt_ar);
  opt.load(opt_ar);
  if (avg) {
    torch::Tensor n;
    if (!ar.try_read("average_updates", n))
      throw std::runtime_error("--resume: the checkpoint has no weight average; resume without --ema");
    for (size_t i = 0; i < avg->tensors().size(); ++i) ar.read("average." + std::to_string(i), avg->tensors()[i]);
    avg->set_updates(n.item<int64_t>());
  }
  torch::Tensor s;
  ar.read("sampler", s);
  RunState st;
  st.epoch = meta.at("epoch");
  st.in_epoch = meta.at("in_epoch");
  st.iteration = meta.at("iteration");
  st.best_val = meta.at("best_val").is_null() ? std::numeric_limits<double>::infinity() : meta.at("best_val").get<double>();
  st.best_epoch = meta.at("best_epoch");
  if (!st.in_epoch) ++st.epoch;  // written after the epoch ended: continue with the next one
  st.batches = meta.value("batches", uint64_t{0});
  const auto cpu = s.cpu();
  const auto* p = cpu.data_ptr<int64_t>();
  st.sampler.assign(p, p + cpu.numel());
  return st;
}

struct Validation {
  double loss = 0;
  double auroc = std::numeric_limits<double>::quiet_NaN();  // mean one-vs-normal image AUROC of z
};

// Mean one-vs-normal image AUROC over the types with val images: z [n, M] of the images `val`.
double mean_auroc(const torch::Tensor& z, const Dataset& data, const std::vector<int>& val) {
  const int64_t m = z.size(1);
  const auto za = z.accessor<double, 2>();
  double total = 0;
  int counted = 0;
  for (int64_t k = 0; k < m; ++k) {
    std::vector<double> s;
    std::vector<int> y;
    for (size_t r = 0; r < val.size(); ++r) {
      const auto& types = data.samples[val[r]].types;
      const bool normal = types.empty();
      if (!normal && std::find(types.begin(), types.end(), k) == types.end()) continue;
      s.push_back(za[static_cast<int64_t>(r)][k]);
      y.push_back(normal ? 0 : 1);
    }
    const double a = auroc(s, y);
    if (std::isnan(a)) continue;
    total += a;
    ++counted;
  }
  return counted > 0 ? total / counted : std::numeric_limits<double>::quiet_NaN();
}

// Each rank scores its shard of `val`; the scores, put in place in a zeroed [n, M] table, and the
// loss sums are summed over the ranks, so every rank ends with the whole split's figures.
Validation validate(FcddModelImpl& model, BatchLoader& loader, const Dataset& data, const std::vector<int>& val,
                    int batch, const torch::Device& device, Collective* c) {
  torch::NoGradGuard ng;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t m = static_cast<int64_t>(data.types.size());
  const auto [first, last] = shard_range(val.size(), c ? c->rank() : 0, c ? c->size() : 1);
  const uint64_t numbered = loader.taken();
  for (size_t i = first; i < last; i += batch)
    loader.submit({val.begin() + i, val.begin() + std::min(last, i + batch)}, false);
  auto table = torch::zeros({static_cast<int64_t>(val.size()) * m + 1}, torch::kDouble);
  for (size_t i = first; i < last; i += batch) {
    const Batch b = loader.next();
    const auto n = static_cast<int64_t>(b.indices.size());
    const auto z = anomaly_scores(model.maps(channels_last(to_device(tensor_from_blob(b.blob), device))));
    const auto y = to_device(labels_tensor(b, m), device);
    table[-1] += fcdd_loss(z, y).item<double>() * n;
    table.slice(0, static_cast<int64_t>(i) * m, (static_cast<int64_t>(i) + n) * m) +=
        z.to(torch::kCPU, torch::kDouble).reshape(-1);
  }
  model.train(was_training);
  // Number the next batches as one process would have (it needs ceil(n / batch) for all of val),
  // so that augmentation after validation does not depend on the number of ranks.
  loader.continue_numbering(numbered + (val.size() + batch - 1) / batch);
  if (c && c->size() > 1) {  // summed in float64, as kept: float32 would round the scores
    auto t = table.to(device);
    c->allreduce_sum(t);
    table = t.to(torch::kCPU);
  }
  const auto z = table.slice(0, 0, static_cast<int64_t>(val.size()) * m).view({-1, m});
  return {table[-1].item<double>() / val.size(), mean_auroc(z, data, val)};
}

std::string snapshot_path(const std::string& out, int epoch) {
  return (fs::path(out) / "snapshots" / ("epoch_" + std::to_string(epoch) + ".pt")).string();
}

// One model whose members are those of each chosen epoch's snapshot, in epoch order.
FcddModel snapshot_ensemble(const ModelConfig& mc, const std::string& out, const std::vector<int>& epochs) {
  std::vector<std::string> paths;
  for (int e : epochs) {
    paths.push_back(snapshot_path(out, e));
    if (!fs::exists(paths.back()))
      throw std::runtime_error("no snapshot of epoch " + std::to_string(e) + " at " + paths.back() +
                               ": a run keeps snapshots only when trained with --snapshots from its start");
  }
  return ensemble_of(std::vector<ModelConfig>(paths.size(), mc), paths);
}

std::vector<int> indices_of(const Dataset& d, const std::string& split) {
  std::vector<int> out;
  for (size_t i = 0; i < d.samples.size(); ++i)
    if (d.samples[i].split == split) out.push_back(static_cast<int>(i));
  return out;
}

// A type whose val images show few parts (Magnetic Tile's `fray`: two tiles) is ranked, mapped and
// thresholded on those parts alone, and runs that differ only in their seed can then differ far on
// it: said once, at the start, where a user can still add parts to val.
void warn_about_few_val_parts(const Dataset& d) {
  constexpr size_t kFewParts = 3;
  const std::vector<TypeCount> counts = type_counts(d, "val");
  for (size_t k = 0; k < counts.size(); ++k) {
    if (counts[k].parts >= kFewParts) continue;
    std::cerr << "warning: val shows " << counts[k].parts << (counts[k].parts == 1 ? " part" : " parts") << " of '"
              << d.types[k].name << "' (" << counts[k].images << " images; parts told apart by the manifest's "
              << "`group`): the epoch chosen and its map and thresholds rest on them, so runs differing only in "
              << "--seed may differ far on it\n";
  }
}


void check_config(const TrainConfig& cfg) {
  if (cfg.out.empty()) throw std::invalid_argument("--out is required");
  if (cfg.batch < 1 || cfg.epochs < 1) throw std::invalid_argument("--batch and --epochs must be positive");
  if (cfg.batch < cfg.dist.world_size)
    throw std::invalid_argument("--batch " + std::to_string(cfg.batch) + " is the global batch: it must be at least the " +
                                std::to_string(cfg.dist.world_size) + " ranks, each training on a part of it");
  if (!(cfg.lr > 0)) throw std::invalid_argument("--lr must be positive");
  if (!(cfg.weight_decay >= 0)) throw std::invalid_argument("--weight-decay must be >= 0");
  if (!(cfg.ema >= 0 && cfg.ema < 1)) throw std::invalid_argument("--ema must be in [0, 1)");
  if (!(cfg.aug.max_stretch >= 0 && cfg.aug.max_stretch <= 1))
    throw std::invalid_argument("--aug-stretch must be in [0, 1]");
  if (!(cfg.aug.max_scale >= 0 && cfg.aug.max_scale <= 1)) throw std::invalid_argument("--aug-scale must be in [0, 1]");
  if (!(cfg.aug.max_rotation_deg >= 0 && cfg.aug.max_rotation_deg <= 180))
    throw std::invalid_argument("--aug-rotate must be in [0, 180] degrees");
  if (!(cfg.aug.max_shift_px >= 0)) throw std::invalid_argument("--aug-shift must be >= 0");
  if (cfg.snapshots < 1) throw std::invalid_argument("--snapshots must be positive");
  if (!(cfg.snapshot_span > 0 && cfg.snapshot_span <= 1))
    throw std::invalid_argument("--snapshot-span must be in (0, 1]");
  if (cfg.model.members <= 16 && cfg.snapshots * cfg.model.members > 16)  // more members: the model says so
    throw std::invalid_argument("--members x --snapshots must be at most 16 networks in all");
  if (cfg.max_steps < 0) throw std::invalid_argument("--max-steps must be >= 0");
  if (cfg.resume && !cfg.init.empty())
    throw std::invalid_argument("--init starts a new run from another and --resume continues this one: give one");
}

// Loads `run_dir`'s best network into `model`, refusing a run of another network, types or resize
// (its input side may differ: the network is fully convolutional).
void load_init(FcddModel& model, const std::string& run_dir, const nlohmann::json& identity) {
  RunNetwork from;
  try {
    from = run_network(run_dir);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("--init: ") + e.what());
  }
  const nlohmann::json trained = checkpoint_identity(from.model, from.resize, from.type_names);
  from.model.input_size = identity.at("input_size");
  if (!same_network(checkpoint_identity(from.model, from.resize, from.type_names), identity))
    throw std::runtime_error("--init: " + run_dir + " was trained as " + trained.dump() + ", this run asks for " +
                             identity.dump() + " (only --input-size may differ)");
  const std::string best = (fs::path(run_dir) / "best.pt").string();
  if (!fs::exists(best)) throw std::runtime_error("--init: " + run_dir + " has no best.pt (no epoch finished)");
  try {
    torch::load(model, best);
  } catch (const c10::Error& e) {
    throw std::runtime_error("--init: " + best + " is not a readable network: " + e.what_without_backtrace());
  }
}

// The absolute folders, each ending in '/', that the dataset's relative image paths may have been
// joined to: --image-root (Real-IAD), and the dataset's folder (--data itself, or the folder of
// the file it names).
std::vector<std::string> dataset_roots(const TrainConfig& cfg) {
  std::vector<std::string> roots;
  if (!cfg.load.image_root.empty()) roots.push_back((fs::absolute(cfg.load.image_root) / "").lexically_normal().string());
  const fs::path data = fs::absolute(cfg.data).lexically_normal();
  roots.push_back(((fs::is_directory(data) ? data / "" : data).parent_path() / "").string());
  return roots;
}

// `image` below the first of `roots` it lies in; as it is when in none.
std::string below_root(const std::string& image, const std::vector<std::string>& roots) {
  for (const auto& r : roots)
    if (image.rfind(r, 0) == 0) return image.substr(r.size());
  return image;
}

}  // namespace

std::string run_fingerprint(const Dataset& d, const TrainConfig& cfg) {
  std::string text;
  const std::vector<std::string> roots = dataset_roots(cfg);
  for (const auto& t : d.types) text += t.name + ";";
  for (const auto& s : d.samples) {
    text += below_root(s.image, roots) + "," + s.split + ",";
    for (int t : s.types) text += std::to_string(t) + " ";
    text += "\n";
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(text)));
  return std::string(hex) + " (" + std::to_string(d.samples.size()) + " images; batch " + std::to_string(cfg.batch) +
         ", seed " + std::to_string(cfg.seed) + ", epochs " + std::to_string(cfg.epochs) + ")";
}

namespace {

// Refuses, on every rank, a run whose ranks see different data or settings, naming both.
void agree_with_rank0(C10dGroup& g, const std::string& mine) {
  if (g.rank() == 0) g.put("fingerprint", mine);
  const std::string lead = g.fetch("fingerprint", 0);
  g.barrier();  // rank 0 keeps the store up until every rank has compared
  if (lead != mine)
    throw std::runtime_error("rank " + std::to_string(g.rank()) + " sees data or settings " + mine +
                             " but rank 0 sees " + lead + ": every rank must train on the same manifest");
}

// Epochs trained to their end: one cut short by the time or step budget is counted in st.epoch
// (for the snapshots) and not here.
int epochs_completed(const RunState& st) { return st.epoch - (st.in_epoch ? 1 : 0); }

nlohmann::json provenance(const ModelConfig& mc, const TrainConfig& cfg, const std::string& weights, const RunState& st,
                          const std::vector<int>& chosen) {
  nlohmann::json p = network_description(mc);
  p.update({{"weights", weights},
          {"init", cfg.init.empty() ? nlohmann::json() : nlohmann::json(cfg.init)},
          {"data", cfg.data},
          {"best_epoch", st.best_epoch},
          {"epochs_completed", epochs_completed(st)},
          {"epochs_planned", cfg.epochs},
          {"snapshot_epochs", cfg.snapshots > 1 ? nlohmann::json(chosen) : nlohmann::json()},
          {"selected_by", cfg.select == Select::Last ? std::string("last epoch") : std::string("val ") + name_of(cfg.select)},
          {"lr", cfg.lr},
          {"lr_schedule", to_string(cfg.lr_schedule)},
          {"weight_decay", cfg.weight_decay},
          {"ema", cfg.ema},
          {"bf16", cfg.bf16},
          {"global_bn", cfg.global_bn},
          {"augment", {{"probability", cfg.aug.probability},
                       {"flip", std::string(cfg.aug.flip_horizontal ? "h" : "") + (cfg.aug.flip_vertical ? "v" : "")},
                       {"stretch", cfg.aug.max_stretch},
                       {"scale", cfg.aug.max_scale},
                       {"rotation_deg", cfg.aug.max_rotation_deg},
                       {"shift_px", cfg.aug.max_shift_px}}},
          {"seed", cfg.seed},
          {"iterations", st.iteration},
          {"ranks", cfg.dist.world_size},
          {"device", cfg.device},
          {"trainer", "mtfcdd-train " MTFCDD_VERSION}});
  return p;
}

// The files of a bundle folder as one string (name, size, bytes; twice), for the store.
std::string pack_bundle(const std::string& dir) {
  std::string out;
  for (const char* name : {"model.json", "model.onnx"}) {
    const std::string bytes = read_file((fs::path(dir) / name).string());
    out += std::string(name) + "\n" + std::to_string(bytes.size()) + "\n" + bytes;
  }
  return out;
}

void unpack_bundle(const std::string& packed, const std::string& dir) {
  fs::create_directories(dir);
  std::istringstream in(packed);
  std::string name, size;
  while (std::getline(in, name) && std::getline(in, size)) {
    std::string bytes(std::stoull(size), '\0');
    if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
      throw std::runtime_error("the bundle rank 0 sent ends inside " + name);
    write_file((fs::path(dir) / name).string(), bytes);
  }
}

// Image thresholds from the validation split, on the bundle as deployed (OpenCV DNN): each rank
// scores its shard; rank 0 gathers the scores, calibrates and rewrites model.json. Ranks other
// than 0 read the bundle from the store into a private temporary folder, removed afterwards.
// `plan`: what to choose on the validation masks before the thresholds.
void calibrate_bundle(const std::string& bundle_dir, const Dataset& data, C10dGroup* g, const CalibrationPlan& plan) {
  const int rank = g ? g->rank() : 0, world = g ? g->size() : 1;
  std::string dir = bundle_dir;
  RemovedFolders copy;  // the private copy goes also when scoring or the store fails
  if (rank != 0) {
    dir = (fs::temp_directory_path() / ("mtfcdd-rank" + std::to_string(rank) + "-" + std::to_string(::getpid()))).string();
    copy.paths.push_back(dir);
    unpack_bundle(g->fetch("bundle", 0), dir);
  }
  DnnModel dnn(dir);
  const auto val = data.split("val");
  const auto [first, last] = shard_range(val.size(), rank, world);
  auto scores = score_samples(dnn, data, {val.begin() + first, val.begin() + last}, upsampler_of(dnn.manifest()));
  if (rank != 0) {
    g->put("scores/" + std::to_string(rank), encode_scores(scores, data));
    return;
  }
  for (int r = 1; r < world; ++r) {
    auto part = decode_scores(g->fetch("scores/" + std::to_string(r), r), data);
    scores.insert(scores.end(), part.begin(), part.end());
  }
  BundleManifest man = dnn.manifest();
  calibrate_manifest(man, scores, plan);
  write_manifest(man, bundle_dir);
  std::printf("thresholds calibrated on %zu validation images\n", scores.size());
}

}  // namespace

FcddModel ensemble_of(const std::vector<ModelConfig>& configs, const std::vector<std::string>& paths) {
  std::vector<FcddModel> models;
  for (size_t s = 0; s < paths.size(); ++s) {
    models.emplace_back(configs.at(s));
    torch::load(models.back(), paths[s]);
  }
  return joined(models);
}

RunNetwork run_network(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "checkpoint.pt").string();
  if (!fs::exists(path)) throw std::runtime_error(run_dir + ": no checkpoint.pt (not a run folder of mtfcdd-train train)");
  RunNetwork n;
  nlohmann::json id;
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path);
    c10::IValue meta_v;
    ar.read("meta", meta_v);
    id = nlohmann::json::parse(meta_v.toStringRef()).at("model");
    n.model.preset = id.at("preset");
    n.model.cut = id.at("cut");
    n.model.second_cut = id.value("second_cut", "");
    n.model.head_channels = id.at("head_channels");
    n.model.head_dilation = id.at("head_dilation");
    n.model.members = id.at("members");
    n.model.types = id.at("types");
    n.model.input_size = id.at("input_size");
    n.type_names = id.value("type_names", std::vector<std::string>{});
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": not a readable checkpoint: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": not a readable checkpoint: " + e.what());
  }
  const auto resize = parse_name<Resize>(id.value("resize", ""));
  if (!resize || checkpoint_identity(n.model, *resize, n.type_names) != id)
    throw std::runtime_error(path + ": a network this trainer does not know: " + id.dump());
  n.resize = *resize;
  const fs::path bundle = fs::path(run_dir) / "bundle";  // an older checkpoint: its bundle names the types
  if (n.type_names.empty() && fs::exists(bundle / "model.json"))
    n.type_names = type_names_of(read_manifest(bundle.string()).types);
  return n;
}

std::vector<int> snapshot_epochs(int epochs, int snapshots, double span) {
  const int window =
      std::clamp(static_cast<int>(std::ceil(span * epochs - 1e-9)), std::min(epochs, snapshots), epochs);
  const int first = epochs - window, k = std::min(window, snapshots);
  std::vector<int> out;
  for (int i = 1; i <= k; ++i) out.push_back(first + (i * window + k - 1) / k);
  return out;
}

std::vector<std::vector<int>> class_pools(const Dataset& data, const std::string& split) {
  std::vector<std::vector<int>> pools(data.types.size() + 1);
  for (size_t i = 0; i < data.samples.size(); ++i) {
    const auto& s = data.samples[i];
    if (s.split != split) continue;
    if (s.types.empty()) pools[0].push_back(static_cast<int>(i));
    for (int t : s.types) pools[t + 1].push_back(static_cast<int>(i));
  }
  return pools;
}


namespace {

// One epoch's global batches drawn ahead of training (a window of 3) while the network trains:
// every rank draws the same global batches (same sampler, same seed) and loads its shard of each.
// The sampler state after each batch travels with it, so that a checkpoint resumes at exactly the
// next batch.
class BatchesAhead {
 public:
  BatchesAhead(BalancedSampler& sampler, BatchLoader& loader, int batch, int rank, int world)
      : sampler_(sampler), loader_(loader), batch_(batch), rank_(rank), world_(world) {
    fill();
  }
  // No batch left: the epoch's last one has been taken.
  bool done() const { return loader_.pending() == 0; }
  // The next batch; `state` becomes the sampler's state after it.
  Batch next(std::vector<uint64_t>& state) {
    Batch b = loader_.next();
    state = std::move(states_.front());
    states_.pop_front();
    fill();
    return b;
  }
  // Leaving the epoch early: the workers finish the batches drawn ahead, which --resume draws again.
  void drain() {
    while (loader_.pending() > 0) loader_.next();
  }

 private:
  void fill() {
    while (!drawn_all_ && loader_.pending() < 3) {
      const auto global = sampler_.next_batch(batch_);
      const auto [first, last] = shard_range(global.size(), rank_, world_);
      loader_.submit({global.begin() + first, global.begin() + last}, true, first);
      states_.push_back(sampler_.state());
      drawn_all_ = sampler_.epoch_complete();
    }
  }

  BalancedSampler& sampler_;
  BatchLoader& loader_;
  const int batch_, rank_, world_;
  std::deque<std::vector<uint64_t>> states_;
  bool drawn_all_ = false;
};

// One training run, split into its phases; every rank runs the same phases in the same order.
class Run {
 public:
  Run(const TrainConfig& cfg, const torch::Device& device) : cfg_(cfg), device_(device), lead_(cfg.dist.rank == 0) {}

  void setup();
  int train();  // returns the exit code: 0, or 130 after Ctrl-C
  void finish();

 private:
  struct EpochEnd {
    size_t iters = 0;
    double loss = 0, data_wait = 0;
    StopFlags stop;        // why training stops after this epoch, if it does
    bool partial = false;  // the stop came before the epoch's last batch
  };
  // setup's phases, in order.
  void load_data();
  void build_model();
  void build_sampling();
  void resume();
  EpochEnd train_epoch();
  StopFlags stop_request() const;
  StepOutcome step(const Batch& b);
  void end_epoch(const EpochEnd& e, double seconds);
  void log_epoch(const EpochEnd& e, const Validation& v, double seconds, bool best);
  bool steps_spent() const;
  int leave_interrupted(bool partial);
  void keep_last_as_best();
  Collective* collective() { return group_.get(); }
  // The step's: the group, a SingleProcess with --global-bn, else none (the layers' own BatchNorm).
  Collective* step_collective() {
    if (group_) return group_.get();
    return cfg_.global_bn ? &single_ : nullptr;
  }

  const TrainConfig& cfg_;
  const torch::Device device_;
  const bool lead_;
  const Clock::time_point t_start_ = Clock::now();
  std::unique_ptr<C10dGroup> group_;
  SingleProcess single_;
  Dataset data_;
  std::vector<int> train_, val_;
  int64_t m_ = 0;
  ModelConfig mc_;
  FcddModel model_{nullptr};
  std::string weights_;
  std::unique_ptr<torch::optim::Adam> opt_;
  std::optional<WeightAverage> average_;
  std::unique_ptr<BalancedSampler> sampler_;
  double expected_iters_ = 0;
  std::vector<DefectType> types_;
  BundleManifest input_;
  std::unique_ptr<BatchLoader> loader_;
  std::string ckpt_, best_;
  nlohmann::json identity_;
  RunState st_;
  std::ofstream history_;
  double lr_now_ = 0;
};

void Run::setup() {
  load_data();
  if (cfg_.dist.distributed()) {
    group_ = std::make_unique<C10dGroup>(cfg_.dist, device_);
    agree_with_rank0(*group_, run_fingerprint(data_, cfg_));
  }
  build_model();
  build_sampling();
  ckpt_ = (fs::path(cfg_.out) / "checkpoint.pt").string();
  best_ = (fs::path(cfg_.out) / "best.pt").string();
  if (lead_) fs::create_directories(cfg_.out);
  if (cfg_.resume) resume();
  if (lead_) {
    history_.open((fs::path(cfg_.out) / "history.jsonl").string(), std::ios::app);
    std::printf("training %s on %s (%s, %d rank%s): %zu train / %zu val images, %lld types, batch %d, "
                "~%.0f iterations per balanced epoch\n",
                mc_.preset.c_str(), cfg_.data.c_str(), device_.str().c_str(), cfg_.dist.world_size,
                cfg_.dist.world_size > 1 ? "s" : "", train_.size(), val_.size(), static_cast<long long>(m_), cfg_.batch,
                expected_iters_);
    std::fflush(stdout);
  }
  lr_now_ = cfg_.lr;
}

// The dataset, its splits, and what they must hold for the options given.
void Run::load_data() {
  const auto t_load = Clock::now();
  data_ = load_dataset(cfg_.data, cfg_.load);
  if (lead_) {
    std::printf("dataset %s: %zu images, read and checked in %.1f s (resident memory %.0f MiB)\n", cfg_.data.c_str(),
                data_.samples.size(), seconds_since(t_load), resident_mib());
    for (const auto& w : data_.warnings) std::cerr << "warning: " << w << "\n";
    if (data_.skipped) std::cerr << "warning: skipped " << data_.skipped << " bad records (--skip-bad)\n";
  }
  train_ = indices_of(data_, "train");
  val_ = indices_of(data_, "val");
  if (train_.empty()) throw std::runtime_error(cfg_.data + ": no training images");
  const auto val_has = [&](bool defect) {
    return std::any_of(val_.begin(), val_.end(), [&](int i) { return data_.samples[i].types.empty() != defect; });
  };
  if (cfg_.select == Select::Auroc && !(val_has(true) && val_has(false)))  // else every epoch's AUROC is NaN
    throw std::invalid_argument(std::string("--select auroc ranks val defect images against normal ones; ") +
                                cfg_.data + "'s val split has no " + (val_has(true) ? "normal" : "defect") + " images");
  if (lead_ && !val_.empty()) warn_about_few_val_parts(data_);
  if (cfg_.bundled_again && val_.empty())
    throw std::invalid_argument("--bundle-size calibrates the bundle on the val split; " + cfg_.data + " has none");
  m_ = static_cast<int64_t>(data_.types.size());
}

// The network (backbone weights, --init), on its device and one starting point on every rank, its
// optimizer and weight average.
void Run::build_model() {
  mc_ = cfg_.model;
  mc_.types = m_;
  model_ = FcddModel(mc_);
  mc_ = model_->config();
  weights_ = setup_backbone(*model_, cfg_.weights, lead_ && !cfg_.head_only);
  if (cfg_.head_only) model_->set_backbone_frozen(true);
  identity_ = checkpoint_identity(mc_, cfg_.resize, type_names_of(data_.types));
  if (!cfg_.init.empty() && lead_) {  // the other ranks receive it with the starting point below
    load_init(model_, cfg_.init, identity_);
    std::printf("starting from %s/best.pt\n", cfg_.init.c_str());
  }
  model_->to(device_);
  to_channels_last(*model_);  // before the optimizer and the average copy the weights' layout
  if (group_) broadcast_module(*model_, *group_);  // one starting point, whatever each rank drew
  opt_ = std::make_unique<torch::optim::Adam>(trainable_parameters(*model_),
                                              torch::optim::AdamOptions(cfg_.lr).weight_decay(cfg_.weight_decay));
  if (cfg_.ema > 0) average_.emplace(*model_, cfg_.ema);
}

// The balanced sampler over the training pools and the loader that turns its draws into batches.
void Run::build_sampling() {
  const auto pools = class_pools(data_, "train");
  for (int64_t k = 0; k < m_; ++k)
    if (pools[k + 1].empty() && lead_) std::cerr << "warning: no training image of type '" << data_.types[k].name << "'\n";
  sampler_ = std::make_unique<BalancedSampler>(pools, cfg_.seed);
  expected_iters_ = balanced_epoch_length(pools, 200, cfg_.seed).mean_draws / cfg_.batch;
  for (const auto& t : data_.types) types_.push_back(uncalibrated_type(t.name, t.display));
  input_ = manifest_for(*model_, types_);
  input_.resize = cfg_.resize;
  loader_ = std::make_unique<BatchLoader>(data_, input_, cfg_.aug, cfg_.workers, cfg_.seed);
}

// --resume: rank 0's checkpoint, sent to the others, restores network, optimizer, average,
// sampler and the loader's numbering.
void Run::resume() {
  if (lead_ && !fs::exists(ckpt_)) throw std::runtime_error("--resume: no checkpoint at " + ckpt_);
  std::string bytes = lead_ ? read_file(ckpt_) : "";
  if (group_) {
    if (lead_) group_->put("checkpoint", bytes);
    else bytes = group_->fetch("checkpoint", 0);
  }
  WeightAverage* avg = average_ ? &*average_ : nullptr;
  st_ = load_checkpoint(bytes, ckpt_, *model_, *opt_, avg, identity_, device_);
  to_channels_last(*model_);
  loader_->continue_numbering(st_.batches);
  sampler_->restore(st_.sampler);
  if (lead_) std::cerr << "resumed from " << ckpt_ << " at epoch " << st_.epoch + 1 << ", iteration " << st_.iteration << "\n";
}

Run::EpochEnd Run::train_epoch() {
  if (!st_.in_epoch) sampler_->begin_epoch();
  st_.in_epoch = true;
  ProgressLine progress("epoch " + std::to_string(st_.epoch + 1) + "/" + std::to_string(cfg_.epochs), "it", true);
  EpochEnd e;
  BatchesAhead ahead(*sampler_, *loader_, cfg_.batch, cfg_.dist.rank, cfg_.dist.world_size);
  while (!ahead.done()) {
    const auto t_wait = Clock::now();
    const Batch b = ahead.next(st_.sampler);
    e.data_wait += seconds_since(t_wait);
    const StepOutcome out = step(b);
    ++e.iters;
    e.loss = e.iters == 1 ? out.loss : 0.95 * e.loss + 0.05 * out.loss;
    if (lead_) {
      char loss[32];
      std::snprintf(loss, sizeof loss, "loss %.4f", e.loss);
      progress.update(static_cast<double>(e.iters), expected_iters_, loss);
    }
    if (out.stop.any()) {  // every rank leaves after this same step, for the same reason
      e.stop = out.stop;
      // On the epoch's last batch the epoch ends as any other: a partial one there would resume
      // past its end, drawing a batch the uninterrupted run never drew.
      e.partial = !ahead.done();
      if (e.partial) {
        st_.batches = loader_->taken();  // the count before the batches drawn ahead
        ahead.drain();
      }
      break;
    }
  }
  if (lead_) progress.end();
  return e;
}

// This rank's reason to stop after the next step: Ctrl-C, the time budget spent, or the step
// budget reached by that step.
StopFlags Run::stop_request() const {
  const bool out_of_time = cfg_.max_minutes > 0 && seconds_since(t_start_) > cfg_.max_minutes * 60;
  const bool last_step = cfg_.max_steps > 0 && st_.iteration + 1 >= cfg_.max_steps;
  return {g_interrupted, out_of_time || last_step};
}

// One step on the batch at the scheduled rate, and the weight average after it.
StepOutcome Run::step(const Batch& b) {
  lr_now_ = scheduled_lr(cfg_.lr_schedule, cfg_.lr, static_cast<double>(st_.iteration), expected_iters_ * cfg_.epochs);
  const StepOutcome out = train_step(*model_, *opt_, channels_last(to_device(tensor_from_blob(b.blob), device_)),
                                     to_device(labels_tensor(b, m_), device_), cfg_.batch, lr_now_, stop_request(),
                                     {cfg_.bf16, step_collective()});
  if (average_) average_->update(*model_);
  ++st_.iteration;
  if (!std::isfinite(out.loss))
    throw std::runtime_error("the loss became " + std::to_string(out.loss) + " at iteration " +
                             std::to_string(st_.iteration) + "; lower --lr");
  return out;
}

void Run::end_epoch(const EpochEnd& e, double seconds) {
  // An epoch cut short by the time or step budget is validated like any other, and a later
  // --resume finishes it, as after Ctrl-C.
  st_.in_epoch = e.partial;
  if (!e.partial) st_.sampler = sampler_->state();
  WeightAverage* avg = average_ ? &*average_ : nullptr;
  if (avg) avg->swap(*model_);  // validate and keep the average; train on with the last weights
  const Validation v = val_.empty() ? Validation{e.loss}
                                    : validate(*model_, *loader_, data_, val_, cfg_.batch, device_, collective());
  // Lower is better for both figures: the AUROC enters negated. Every rank computes the same.
  const double figure = cfg_.select == Select::Auroc ? -v.auroc : v.loss;
  if (std::isnan(figure) && lead_) std::cerr << "warning: epoch " << st_.epoch + 1 << "'s validation figure is NaN\n";
  const bool improved = cfg_.select == Select::Last || st_.best_epoch < 0 || figure < st_.best_val;
  if (improved) {
    // NaN never beats a number; kept as +inf (what the checkpoint's JSON null reads back as), any
    // later figure beats it, resumed or not.
    st_.best_val = std::isnan(figure) ? std::numeric_limits<double>::infinity() : figure;
    st_.best_epoch = st_.epoch + 1;
    if (lead_) save_network(model_, best_);
  }
  if (cfg_.snapshots > 1 && lead_) {
    fs::create_directories(fs::path(cfg_.out) / "snapshots");
    save_network(model_, snapshot_path(cfg_.out, st_.epoch + 1));
  }
  if (avg) avg->swap(*model_);
  if (!e.partial) st_.batches = loader_->taken();  // validation draws batches too; a cut kept the count before it
  if (!lead_) return;
  save_checkpoint(ckpt_, *model_, *opt_, avg, st_, identity_);
  log_epoch(e, v, seconds, improved && cfg_.select != Select::Last);
}

// Rank 0's history.jsonl line and printed line of the epoch just ended.
void Run::log_epoch(const EpochEnd& e, const Validation& v, double seconds, bool best) {
  const double wait_share = seconds > 0 ? e.data_wait / seconds : 0;
  nlohmann::json line = {{"epoch", st_.epoch + 1}, {"iterations", e.iters}, {"train_loss", e.loss}, {"lr", lr_now_},
                         {"val_loss", v.loss}, {"val_auroc", std::isnan(v.auroc) ? nlohmann::json() : nlohmann::json(v.auroc)},
                         {"seconds", seconds}, {"data_wait_share", wait_share}, {"ranks", cfg_.dist.world_size}};
  if (e.partial) line["partial"] = true;
  history_ << line.dump() << std::endl;
  std::printf("epoch %d: %zu iterations, train loss %.4f, %s loss %.4f, val AUROC %.4f%s, %.0f s (%.0f%% waiting for data)%s\n",
              st_.epoch + 1, e.iters, e.loss, val_.empty() ? "train" : "val", v.loss, v.auroc, best ? " (best)" : "",
              seconds, 100 * wait_share, e.partial ? " (stopped early: time or step budget)" : "");
  std::fflush(stdout);
}

// --resume of a run that has taken its --max-steps already: no step beyond them.
bool Run::steps_spent() const { return cfg_.max_steps > 0 && st_.iteration >= cfg_.max_steps; }

int Run::train() {
  if (steps_spent()) {
    if (lead_) std::cerr << "--max-steps " << cfg_.max_steps << ": the run has taken " << st_.iteration << " steps already\n";
    if (st_.in_epoch) ++st_.epoch;  // the cut epoch counts as run, as when the budget cut it
    return 0;
  }
  g_interrupted = false;
  auto* previous = std::signal(SIGINT, on_sigint);
  model_->train();
  int code = 0;
  for (; st_.epoch < cfg_.epochs; ++st_.epoch) {
    const auto t_epoch = Clock::now();
    const EpochEnd e = train_epoch();
    if (!(e.stop.interrupted && e.partial)) end_epoch(e, seconds_since(t_epoch));  // Ctrl-C mid-epoch: no validation
    if (e.stop.interrupted) {
      code = leave_interrupted(e.partial);
      break;
    }
    if (e.stop.out_of_budget) {
      ++st_.epoch;  // the cut epoch counts as run, for the snapshots
      break;
    }
  }
  std::signal(SIGINT, previous);
  return code;
}

// After Ctrl-C: the checkpoint (end_epoch wrote it when the epoch ended with the stop), and 130.
int Run::leave_interrupted(bool partial) {
  if (lead_) {
    if (partial) save_checkpoint(ckpt_, *model_, *opt_, average_ ? &*average_ : nullptr, st_, identity_);
    std::cerr << "interrupted: checkpoint written to " << ckpt_ << "; continue with --resume\n";
  }
  if (group_) group_->finish();
  return 130;
}

// --select last: the network trained last (its weight average with --ema) becomes best.pt, also
// when a run selected otherwise is resumed with it, so that `ensemble` takes the same network.
void Run::keep_last_as_best() {
  if (average_) average_->swap(*model_);
  save_network(model_, best_);
  st_.best_epoch = st_.epoch;
}

// The bundle is the best epoch's model, or the snapshot ensemble, with thresholds calibrated on
// the validation split. Rank 0 writes it; every rank scores its shard of the validation split.
void Run::finish() {
  ExportRequest req;
  req.out_dir = (fs::path(cfg_.out) / "bundle").string();
  const std::vector<int> chosen = snapshot_epochs(st_.epoch, cfg_.snapshots, cfg_.snapshot_span);
  const bool by_auroc = cfg_.select == Select::Auroc;
  const bool calibrate = !val_.empty() && !cfg_.bundled_again;
  if (lead_) {
    if (cfg_.snapshots > 1)
      model_ = snapshot_ensemble(mc_, cfg_.out, chosen);
    else if (cfg_.select == Select::Last)
      keep_last_as_best();
    else
      torch::load(model_, best_);
    model_->to(torch::kCPU);
    req.types = types_;
    req.resize = cfg_.resize;
    req.flip_average = cfg_.flip_average;
    req.upsampling = cfg_.upsampling.value_or(Upsampling::Bilinear);
    req.provenance = provenance(mc_, cfg_, weights_, st_, chosen);
    if (!val_.empty()) {
      loader_->submit({val_.begin(), val_.begin() + std::min<size_t>(val_.size(), 4)}, false);
      req.check_inputs = tensor_from_blob(loader_->next().blob);
    }
    const ExportResult ex = export_bundle(*model_, req);
    if (cfg_.snapshots > 1)
      std::printf("bundle %s: the mean of the maps of epochs %s (best single epoch %d, val %s %.4f)",
                  req.out_dir.c_str(), nlohmann::json(chosen).dump().c_str(), st_.best_epoch, name_of(cfg_.select),
                  by_auroc ? -st_.best_val : st_.best_val);
    else if (cfg_.select == Select::Last)
      std::printf("bundle %s: the last epoch, %d%s", req.out_dir.c_str(), st_.best_epoch,
                  average_ ? " (its weight average)" : "");
    else
      std::printf("bundle %s: best epoch %d (val %s %.4f)", req.out_dir.c_str(), st_.best_epoch, name_of(cfg_.select),
                  by_auroc ? -st_.best_val : st_.best_val);
    if (cfg_.flip_average != FlipAverage::None) std::printf(", maps averaged over flips %s", name_of(cfg_.flip_average));
    std::printf("; export check relative L2 %.2g\n", ex.maps_rel_l2);
    if (group_ && calibrate) group_->put("bundle", pack_bundle(req.out_dir));
  }
  if (calibrate)
    calibrate_bundle(req.out_dir, data_, group_.get(), {!cfg_.upsampling, cfg_.smoothing, cfg_.peak_fraction});
  else if (lead_ && val_.empty())
    std::cerr << "warning: no validation split: thresholds stay at p = 0.5 (uncalibrated)\n";
  if (group_) group_->finish();
  if (lead_ && epochs_completed(st_) < cfg_.epochs)  // a budget's run depends on the machine's load
    std::cerr << "warning: the time or step budget ended training after " << epochs_completed(st_)
              << " complete epochs of the planned " << cfg_.epochs
              << "; --resume with a larger budget (or none) trains the rest and makes the bundle again\n";
  if (lead_) std::printf("total time %s\n", format_duration(seconds_since(t_start_)).c_str());
}

}  // namespace

int run_training(const TrainConfig& cfg) {
  check_config(cfg);
  const torch::Device device = parse_device(rank_device(cfg.device, cfg.dist));  // before any work
  Run run(cfg, device);
  run.setup();
  const int code = run.train();
  if (code != 0) return code;
  run.finish();
  return 0;
}

}  // namespace mtfcdd
