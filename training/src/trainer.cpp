#include "trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "batch_loader.hpp"
#include "bf16_scope.hpp"
#include "dnn_model.hpp"
#include "evaluate.hpp"
#include "export.hpp"
#include "fcdd_math.hpp"
#include "flip_average.hpp"
#include "metrics.hpp"
#include "safetensors.hpp"
#include "sampler.hpp"
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

std::string format_duration(double s) {
  char buf[32];
  const int t = static_cast<int>(s + 0.5);
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

// One progress line, rewritten in place on a terminal, printed every 20 iterations otherwise.
class Progress {
 public:
  Progress() : tty_(isatty(fileno(stderr))) {}
  void update(int epoch, int epochs, size_t iter, double expected, double loss, double rate) {
    ++calls_;
    if (!tty_ && calls_ % 20 != 0) return;
    const double frac = expected > 0 ? std::min(1.0, iter / expected) : 0;
    const int width = 24, fill = static_cast<int>(frac * width);
    std::string bar(fill, '#');
    bar.resize(width, '.');
    const double eta = rate > 0 ? std::max(0.0, expected - iter) / rate : 0;
    std::fprintf(stderr, "%sepoch %d/%d [%s] %zu/~%.0f it  %.2f it/s  loss %.4f  ETA %s%s", tty_ ? "\r" : "",
                 epoch, epochs, bar.c_str(), iter, expected, rate, loss, format_duration(eta).c_str(),
                 tty_ ? "\033[K" : "\n");
    std::fflush(stderr);
  }
  void end_line() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool tty_;
  size_t calls_ = 0;
};

struct RunState {
  int epoch = 0;            // completed epochs
  bool in_epoch = false;    // interrupted inside epoch `epoch`
  int64_t iteration = 0;
  double best_val = std::numeric_limits<double>::infinity();
  int best_epoch = -1;
  std::vector<uint64_t> sampler;
  uint64_t batches = 0;  // the loader's batch count, which seeds augmentation
};

// What a checkpoint must agree on to be resumed: the network and the input it was trained on.
nlohmann::json checkpoint_identity(const ModelConfig& m, const std::string& resize) {
  return {{"preset", m.preset},
          {"cut", m.cut},
          {"types", m.types},
          {"head_channels", m.head_channels},
          {"head_dilation", m.head_dilation},
          {"members", m.members},
          {"input_size", m.input_size},
          {"resize", resize}};
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
  const std::string tmp = path + ".tmp";
  ar.save_to(tmp);
  fs::rename(tmp, path);
}

RunState load_checkpoint(const std::string& path, FcddModelImpl& model, torch::optim::Adam& opt, WeightAverage* avg,
                         const nlohmann::json& identity) {
  if (!fs::exists(path)) throw std::runtime_error("--resume: no checkpoint at " + path);
  torch::serialize::InputArchive ar, model_ar, opt_ar;
  ar.load_from(path);
  c10::IValue meta_v;
  ar.read("meta", meta_v);
  const auto meta = nlohmann::json::parse(meta_v.toStringRef());
  if (meta.at("model") != identity)
    throw std::runtime_error("--resume: the checkpoint was trained as " + meta.at("model").dump() +
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
  const auto* p = s.data_ptr<int64_t>();
  st.sampler.assign(p, p + s.numel());
  return st;
}

struct Validation {
  double loss = 0;
  double auroc = std::numeric_limits<double>::quiet_NaN();  // mean one-vs-normal image AUROC of z
};

Validation validate(FcddModelImpl& model, BatchLoader& loader, const std::vector<int>& val, int batch, int64_t m) {
  torch::NoGradGuard ng;
  const bool was_training = model.is_training();
  model.eval();
  for (size_t i = 0; i < val.size(); i += batch)
    loader.submit({val.begin() + i, val.begin() + std::min(val.size(), i + batch)}, false);
  double sum = 0;
  std::vector<std::vector<double>> z_of(m);
  std::vector<float> labels;
  for (size_t i = 0; i < val.size(); i += batch) {
    const Batch b = loader.next();
    const auto z = anomaly_scores(model.maps(channels_last(tensor_from_blob(b.blob))));
    sum += fcdd_loss(z, labels_tensor(b, m)).item<double>() * b.indices.size();
    const auto zc = z.contiguous();
    for (int64_t r = 0; r < zc.size(0); ++r)
      for (int64_t k = 0; k < m; ++k) z_of[k].push_back(zc[r][k].item<double>());
    labels.insert(labels.end(), b.labels.begin(), b.labels.end());
  }
  model.train(was_training);
  Validation v{sum / val.size()};
  // Per type: its images against the normal ones (no type at all); types without val images skipped.
  double total = 0;
  int counted = 0;
  for (int64_t k = 0; k < m; ++k) {
    std::vector<double> s;
    std::vector<int> y;
    for (size_t r = 0; r < val.size(); ++r) {
      const auto first = labels.begin() + static_cast<std::ptrdiff_t>(r * m);
      const bool normal = std::all_of(first, first + m, [](float l) { return l < 0.5f; });
      if (!normal && first[k] < 0.5f) continue;
      s.push_back(z_of[k][r]);
      y.push_back(normal ? 0 : 1);
    }
    const double a = auroc(s, y);
    if (std::isnan(a)) continue;
    total += a;
    ++counted;
  }
  if (counted > 0) v.auroc = total / counted;
  return v;
}

std::string snapshot_path(const std::string& out, int epoch) {
  return (fs::path(out) / "snapshots" / ("epoch_" + std::to_string(epoch) + ".pt")).string();
}

// One model whose members are those of each chosen epoch's snapshot, in epoch order.
FcddModel snapshot_ensemble(const ModelConfig& mc, const std::string& out, const std::vector<int>& epochs) {
  ModelConfig all = mc;
  all.members = mc.members * static_cast<int64_t>(epochs.size());
  FcddModel ensemble(all);
  const auto slots = ensemble->member_list();
  for (size_t s = 0; s < epochs.size(); ++s) {
    const std::string path = snapshot_path(out, epochs[s]);
    if (!fs::exists(path))
      throw std::runtime_error("no snapshot of epoch " + std::to_string(epochs[s]) + " at " + path +
                               ": a run keeps snapshots only when trained with --snapshots from its start");
    FcddModel snapshot(mc);
    torch::load(snapshot, path);
    const auto members = snapshot->member_list();
    for (size_t j = 0; j < members.size(); ++j) slots[s * members.size() + j]->copy_network_from(*members[j]);
  }
  return ensemble;
}

std::vector<int> indices_of(const Dataset& d, const std::string& split) {
  std::vector<int> out;
  for (size_t i = 0; i < d.samples.size(); ++i)
    if (d.samples[i].split == split) out.push_back(static_cast<int>(i));
  return out;
}

}  // namespace

std::vector<int> snapshot_epochs(int epochs, int snapshots) {
  std::vector<int> out;
  const int k = std::min(epochs, snapshots);
  for (int i = 1; i <= k; ++i) out.push_back((i * epochs + k - 1) / k);
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

int run_training(const TrainConfig& cfg) {
  if (cfg.out.empty()) throw std::invalid_argument("--out is required");
  if (cfg.batch < 1 || cfg.epochs < 1) throw std::invalid_argument("--batch and --epochs must be positive");
  if (!(cfg.lr > 0)) throw std::invalid_argument("--lr must be positive");
  if (!(cfg.weight_decay >= 0)) throw std::invalid_argument("--weight-decay must be >= 0");
  if (!(cfg.ema >= 0 && cfg.ema < 1)) throw std::invalid_argument("--ema must be in [0, 1)");
  if (!(cfg.aug.max_stretch >= 0 && cfg.aug.max_stretch <= 1))
    throw std::invalid_argument("--aug-stretch must be in [0, 1]");
  if (!(cfg.aug.max_scale >= 0 && cfg.aug.max_scale <= 1)) throw std::invalid_argument("--aug-scale must be in [0, 1]");
  if (!is_resize_mode(cfg.resize))
    throw std::invalid_argument("--resize must be stretch or fit, not '" + cfg.resize + "'");
  if (cfg.snapshots < 1) throw std::invalid_argument("--snapshots must be positive");
  if (!is_flip_average_mode(cfg.flip_average))
    throw std::invalid_argument("--flip-average must be none, h, v or hv, not '" + cfg.flip_average + "'");
  if (cfg.model.members <= 16 && cfg.snapshots * cfg.model.members > 16)  // more members: the model says so
    throw std::invalid_argument("--members x --snapshots must be at most 16 networks in all");
  if (cfg.select != "loss" && cfg.select != "auroc")
    throw std::invalid_argument("--select must be loss or auroc, not '" + cfg.select + "'");
  const bool by_auroc = cfg.select == "auroc";
  const auto t_start = Clock::now();
  Dataset data = load_dataset(cfg.data, cfg.load);
  for (const auto& w : data.warnings) std::cerr << "warning: " << w << "\n";
  if (data.skipped) std::cerr << "warning: skipped " << data.skipped << " bad records (--skip-bad)\n";
  const std::vector<int> train = indices_of(data, "train"), val = indices_of(data, "val");
  if (train.empty()) throw std::runtime_error(cfg.data + ": no training images");
  if (by_auroc && std::none_of(val.begin(), val.end(), [&](int i) { return !data.samples[i].types.empty(); }))
    throw std::invalid_argument("--select auroc needs defect images in the val split; " + cfg.data + " has none");
  const int64_t m = static_cast<int64_t>(data.types.size());

  ModelConfig mc = cfg.model;
  mc.types = m;
  FcddModel model(mc);
  mc = model->config();
  std::string weights = "random";
  if (!cfg.weights.empty()) {
    const auto tensors = read_safetensors(cfg.weights);
    LoadReport r;
    for (auto* member : model->member_list()) r = load_weights(*member->backbone, tensors, cfg.weights);
    std::cerr << "loaded " << r.loaded << " backbone tensors from " << cfg.weights << "; backbone frozen\n";
    model->set_backbone_frozen(true);
    weights = cfg.weights;
  } else if (mc.preset != "small") {
    std::cerr << "WARNING: no --weights: the " << mc.preset << " backbone is random and is trained from scratch\n";
  }
  to_channels_last(*model);  // before the optimizer and the average copy the weights' layout
  std::vector<torch::Tensor> params;
  for (auto& p : model->parameters())
    if (p.requires_grad()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(cfg.lr).weight_decay(cfg.weight_decay));
  std::optional<WeightAverage> average;
  if (cfg.ema > 0) average.emplace(*model, cfg.ema);
  WeightAverage* avg = average ? &*average : nullptr;

  const auto pools = class_pools(data, "train");
  for (int64_t k = 0; k < m; ++k)
    if (pools[k + 1].empty()) std::cerr << "warning: no training image of type '" << data.types[k].name << "'\n";
  BalancedSampler sampler(pools, cfg.seed);
  const double expected_iters = balanced_epoch_length(pools, 200, cfg.seed).mean_draws / cfg.batch;
  const double planned_iters = expected_iters * cfg.epochs;
  double lr_now = cfg.lr;

  std::vector<DefectType> types;
  for (const auto& t : data.types) types.push_back({t.name, t.display, std::log(2.0), std::log(2.0)});
  BundleManifest input = manifest_for(*model, types);
  input.resize = cfg.resize;
  BatchLoader loader(data, input, cfg.aug, cfg.workers, cfg.seed);

  fs::create_directories(cfg.out);
  const std::string ckpt = (fs::path(cfg.out) / "checkpoint.pt").string();
  const std::string best = (fs::path(cfg.out) / "best.pt").string();
  RunState st;
  const nlohmann::json identity = checkpoint_identity(mc, cfg.resize);
  if (cfg.resume) {
    st = load_checkpoint(ckpt, *model, opt, avg, identity);
    to_channels_last(*model);
    loader.continue_numbering(st.batches);
    sampler.restore(st.sampler);
    std::cerr << "resumed from " << ckpt << " at epoch " << st.epoch + 1 << ", iteration " << st.iteration << "\n";
  }
  std::printf("training %s on %s: %zu train / %zu val images, %lld types, batch %d, ~%.0f iterations per balanced epoch\n",
              mc.preset.c_str(), cfg.data.c_str(), train.size(), val.size(), static_cast<long long>(m), cfg.batch,
              expected_iters);

  g_interrupted = false;
  auto* previous = std::signal(SIGINT, on_sigint);
  std::ofstream history((fs::path(cfg.out) / "history.jsonl").string(), std::ios::app);
  Progress progress;
  model->train();
  bool out_of_time = false;
  const auto budget_hit = [&] { return cfg.max_minutes > 0 && seconds_since(t_start) > cfg.max_minutes * 60; };
  // Leaving an epoch early (Ctrl-C, time budget): the batches drawn ahead are drawn again after
  // --resume, so the checkpoint keeps the count before them; the workers finish before saving.
  const auto stop_mid_epoch = [&] {
    st.batches = loader.taken();
    while (loader.pending() > 0) loader.next();
  };

  for (; st.epoch < cfg.epochs && !out_of_time; ++st.epoch) {
    if (!st.in_epoch) sampler.begin_epoch();
    st.in_epoch = true;
    // Batches are drawn ahead (a window of 3) while the network trains; the sampler state
    // after each batch travels with it so a checkpoint resumes at exactly the next batch.
    std::deque<std::vector<uint64_t>> states;
    bool drawn_all = false;
    const auto fill = [&] {
      while (!drawn_all && loader.pending() < 3) {
        loader.submit(sampler.next_batch(cfg.batch), true);
        states.push_back(sampler.state());
        drawn_all = sampler.epoch_complete();
      }
    };
    const auto t_epoch = Clock::now();
    double loss_avg = 0;
    size_t iters = 0;
    fill();
    while (loader.pending() > 0) {
      const Batch b = loader.next();
      st.sampler = states.front();
      states.pop_front();
      fill();
      torch::Tensor phi;
      {
        Bf16Scope cast(cfg.bf16);
        phi = model->forward(channels_last(tensor_from_blob(b.blob)));
      }
      // Each member is scored on its own channels: the loss is the mean of the members' losses.
      const auto z = anomaly_scores(pseudo_huber(phi.to(torch::kFloat)));
      const auto loss = fcdd_loss(z, labels_tensor(b, m).repeat({1, mc.members}));
      opt.zero_grad();
      loss.backward();
      lr_now = scheduled_lr(cfg.lr_schedule, cfg.lr, static_cast<double>(st.iteration), planned_iters);
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr_now);
      opt.step();
      if (avg) avg->update(*model);
      ++st.iteration;
      ++iters;
      const double l = loss.item<double>();
      if (!std::isfinite(l)) throw std::runtime_error("the loss became " + std::to_string(l) + " at iteration " +
                                                      std::to_string(st.iteration) + "; lower --lr");
      loss_avg = iters == 1 ? l : 0.95 * loss_avg + 0.05 * l;
      progress.update(st.epoch + 1, cfg.epochs, iters, expected_iters, loss_avg, iters / seconds_since(t_epoch));
      if (g_interrupted) {
        stop_mid_epoch();
        progress.end_line();
        save_checkpoint(ckpt, *model, opt, avg, st, identity);
        std::signal(SIGINT, previous);
        std::cerr << "interrupted: checkpoint written to " << ckpt << "; continue with --resume\n";
        return 130;
      }
      if (budget_hit()) {
        out_of_time = true;
        stop_mid_epoch();
        break;
      }
    }
    progress.end_line();
    // An epoch cut short by the time budget is validated like any other, and a later --resume
    // finishes it, as after Ctrl-C.
    st.in_epoch = out_of_time;
    if (!out_of_time) st.sampler = sampler.state();
    if (avg) avg->swap(*model);  // validate and keep the average; train on with the last weights
    const Validation v = val.empty() ? Validation{loss_avg} : validate(*model, loader, val, cfg.batch, m);
    // Lower is better for both figures: the AUROC enters negated.
    const double figure = by_auroc ? -v.auroc : v.loss;
    const bool improved = st.best_epoch < 0 || figure < st.best_val;
    if (improved) {
      st.best_val = figure;
      st.best_epoch = st.epoch + 1;
      torch::save(model, best);
    }
    if (cfg.snapshots > 1) {
      fs::create_directories(fs::path(cfg.out) / "snapshots");
      torch::save(model, snapshot_path(cfg.out, st.epoch + 1));
    }
    if (avg) avg->swap(*model);
    if (!out_of_time) st.batches = loader.taken();  // validation draws batches too; a cut kept the count before it
    save_checkpoint(ckpt, *model, opt, avg, st, identity);
    nlohmann::json line = {{"epoch", st.epoch + 1}, {"iterations", iters}, {"train_loss", loss_avg}, {"lr", lr_now},
                           {"val_loss", v.loss}, {"val_auroc", std::isnan(v.auroc) ? nlohmann::json() : nlohmann::json(v.auroc)},
                           {"seconds", seconds_since(t_epoch)}};
    if (out_of_time) line["partial"] = true;
    history << line.dump() << std::endl;
    std::printf("epoch %d: %zu iterations, train loss %.4f, %s loss %.4f, val AUROC %.4f%s, %.0f s%s\n", st.epoch + 1,
                iters, loss_avg, val.empty() ? "train" : "val", v.loss, v.auroc, improved ? " (best)" : "", seconds_since(t_epoch),
                out_of_time ? " (time budget reached)" : "");
    std::fflush(stdout);
  }
  std::signal(SIGINT, previous);

  // The bundle is the best epoch's model, or the snapshot ensemble, with thresholds calibrated on
  // the validation split.
  const std::vector<int> chosen = snapshot_epochs(st.epoch, cfg.snapshots);
  if (cfg.snapshots > 1)
    model = snapshot_ensemble(mc, cfg.out, chosen);
  else
    torch::load(model, best);
  ExportRequest req;
  req.out_dir = (fs::path(cfg.out) / "bundle").string();
  req.types = types;
  req.resize = cfg.resize;
  req.flip_average = cfg.flip_average;
  req.provenance = {{"preset", mc.preset},
                    {"cut", mc.cut},
                    {"head_channels", mc.head_channels},
                    {"head_dilation", mc.head_dilation},
                    {"members", mc.members},
                    {"weights", weights},
                    {"data", cfg.data},
                    {"best_epoch", st.best_epoch},
                    {"snapshot_epochs", cfg.snapshots > 1 ? nlohmann::json(chosen) : nlohmann::json()},
                    {"selected_by", "val " + cfg.select},
                    {"lr", cfg.lr},
                    {"lr_schedule", to_string(cfg.lr_schedule)},
                    {"weight_decay", cfg.weight_decay},
                    {"ema", cfg.ema},
                    {"bf16", cfg.bf16},
                    {"augment", {{"probability", cfg.aug.probability},
                                 {"flip", std::string(cfg.aug.flip_horizontal ? "h" : "") +
                                              (cfg.aug.flip_vertical ? "v" : "")},
                                 {"stretch", cfg.aug.max_stretch},
                                 {"scale", cfg.aug.max_scale}}},
                    {"seed", cfg.seed},
                    {"iterations", st.iteration},
                    {"trainer", "mtfcdd-train " MTFCDD_VERSION}};
  if (!val.empty()) {
    loader.submit({val.begin(), val.begin() + std::min<size_t>(val.size(), 4)}, false);
    req.check_inputs = tensor_from_blob(loader.next().blob);
  }
  const ExportResult ex = export_bundle(*model, req);
  if (cfg.snapshots > 1)
    std::printf("bundle %s: the mean of the maps of epochs %s (best single epoch %d, val %s %.4f)",
                req.out_dir.c_str(), nlohmann::json(chosen).dump().c_str(), st.best_epoch, cfg.select.c_str(),
                by_auroc ? -st.best_val : st.best_val);
  else
    std::printf("bundle %s: best epoch %d (val %s %.4f)", req.out_dir.c_str(), st.best_epoch, cfg.select.c_str(),
                by_auroc ? -st.best_val : st.best_val);
  if (cfg.flip_average != "none") std::printf(", maps averaged over flips %s", cfg.flip_average.c_str());
  std::printf("; export check relative L2 %.2g\n", ex.maps_rel_l2);
  if (!val.empty()) {
    DnnModel dnn(req.out_dir);
    const auto scores = score_split(dnn, data, "val");
    std::vector<std::string> names;
    std::vector<double> fb_img, fb_pix;
    for (const auto& t : types) {
      names.push_back(t.name);
      fb_img.push_back(t.image_threshold);
      fb_pix.push_back(t.pixel_threshold);
    }
    const Calibration cal = calibrate(scores, names, input.input_width, input.input_height, fb_img, fb_pix);
    BundleManifest man = dnn.manifest();
    for (size_t k = 0; k < man.types.size(); ++k) {
      man.types[k].image_threshold = cal.image[k];
      man.types[k].pixel_threshold = cal.pixel[k];
    }
    man.calibrated = true;
    write_manifest(man, req.out_dir);
    for (const auto& n : cal.notes) std::cerr << "calibration: " << n << "\n";
    std::printf("thresholds calibrated on %zu validation images\n", scores.size());
  } else {
    std::cerr << "warning: no validation split: thresholds stay at p = 0.5 (uncalibrated)\n";
  }
  std::printf("total time %s\n", format_duration(seconds_since(t_start)).c_str());
  return 0;
}

}  // namespace mtfcdd
