// The training run: balanced sampling, augmentation in worker threads, Adam, validation and a
// checkpoint every balanced epoch, resume, Ctrl-C and time budgets, then export of the best
// epoch with thresholds calibrated on the validation split.
#pragma once

#include <mtfcdd/bundle.hpp>
#include <string>
#include <vector>

#include "augment.hpp"
#include "dataset.hpp"
#include "dist_env.hpp"
#include "fcdd_model.hpp"
#include "lr_schedule.hpp"

namespace mtfcdd {

// Which epoch the bundle keeps: the best by a validation figure, or the last (no early stopping).
enum class Select { Loss, Auroc, Last };
template <>
struct Names<Select> {
  static constexpr std::pair<Select, const char*> table[] = {
      {Select::Loss, "loss"}, {Select::Auroc, "auroc"}, {Select::Last, "last"}};
};

struct TrainConfig {
  std::string data;         // dataset path (manifest folder or Real-IAD JSON)
  LoadOptions load;
  ModelConfig model;
  std::string weights;      // backbone .safetensors; empty = train the backbone from scratch
  bool head_only = false;   // keep even a random backbone frozen (measuring the paper's head-only step)
  std::string out;          // run folder: checkpoint.pt, best.pt, history.jsonl, bundle/
  int batch = 32;
  double lr = 1e-4;
  // Annealed over the planned iterations (epochs x the expected balanced epoch), not the clock, so
  // runs stay reproducible and --resume continues the curve: size --epochs to fit --max-minutes.
  LrSchedule lr_schedule = LrSchedule::constant;
  double weight_decay = 0;  // Adam's L2 penalty; regularises a backbone trained from scratch
  double ema = 0;           // decay of the weight average validated and exported; 0 = last weights
  int epochs = 10;          // balanced epochs
  double max_minutes = 0;   // 0 = no time budget
  // Forward passes of training in bfloat16 (autocast; fast on CPUs with AVX-512 BF16 or AMX);
  // weights, gradients, the loss, validation and the exported model stay float32.
  bool bf16 = false;
  // One process normalises BatchNorm as N processes do (SyncBatchNormScope): slower than the
  // layers' fused kernels, but the run then matches an N-process run of the same global batch to
  // float rounding, where otherwise Adam's first steps amplify float32 accumulation differences.
  bool global_bn = false;
  // How images become the input: Fit for parts imaged at several aspect ratios, whose defects
  // would otherwise reach the network stretched differently.
  Resize resize = Resize::Stretch;
  AugmentConfig aug;
  int workers = 2;
  uint64_t seed = 1;
  bool resume = false;
  // A new run that starts from another run's best network (its weight average with --ema): the
  // same network and types, trained at another --input-size, fine-tuned here at the side it will
  // be inspected at (FixRes, Touvron et al. 2019). Optimizer, epochs and the best epoch start afresh.
  std::string init;
  // Which validation figure picks the best epoch: Loss (the paper's objective) or Auroc (mean
  // one-vs-normal image AUROC of z, the figure users judge a model by; needs val defects).
  Select select = Select::Loss;
  // The bundle averages the maps of this many epochs' weights (the weight average's with --ema),
  // evenly spaced over the run and ending at its last epoch (a snapshot ensemble): networks from
  // different stages of a run rank differently, and their mean is steadier than any one epoch
  // picked by a small validation split. Inference costs this many networks; 1 = the best epoch.
  int snapshots = 1;
  // The snapshots are spaced over the run's last fraction this large: early epochs' maps can pull
  // the mean below the best epoch (`small` on Magnetic Tile, docs/results.md L-SM-D2S80).
  double snapshot_span = 1;
  // The bundle's maps are the mean over each image and its mirror images, thresholds calibrated
  // on that mean. Validation during training (and so the epoch chosen) uses one view.
  FlipAverage flip_average = FlipAverage::None;
  // How the bundle brings maps to input resolution (pixel thresholds calibrated on it); unset:
  // the better of bilinear and receptive on the validation masks (bilinear without any).
  std::optional<Upsampling> upsampling;
  // Each type's map smoothing chosen on the validation masks (bundle_calibration.hpp); false: none.
  bool smoothing = true;
  // Each type's regions' share of the map's peak chosen on the validation masks; false: 0.
  bool peak_fraction = true;
  // The caller bundles the run again from best.pt and calibrates that (train --bundle-size), so
  // the run needs a validation split and leaves its own bundle uncalibrated.
  bool bundled_again = false;
  // Where the run computes: "cpu", "cuda" or "cuda:N" (checked before any work).
  std::string device = "cpu";
  // This process's place in a data-parallel run (one process when world_size is 1): every rank
  // draws the same global batch of `batch` images and trains on its shard of it.
  DistConfig dist;
  // Stop (as the time budget does) after this many iterations in all; a --resume that has taken
  // them takes none. 0 = no limit.
  int64_t max_steps = 0;
};

// The epochs a snapshot ensemble of `snapshots` takes from a run of `epochs`, evenly spaced over
// its last ceil(span x epochs) epochs (the window, at least `snapshots` long) and ending at the
// last: first + ceil(i * window / snapshots) for i = 1 .. snapshots, first = epochs - window
// (every epoch of the window when there are fewer).
std::vector<int> snapshot_epochs(int epochs, int snapshots, double span = 1);

// The weights saved at each path (torch::save of a model of network configs[i], members
// included) as one deep ensemble, members in path order: what a snapshot bundle and
// `mtfcdd-train ensemble` export.
FcddModel ensemble_of(const std::vector<ModelConfig>& configs, const std::vector<std::string>& paths);

// A run folder's network and input as its checkpoint records them (what --resume must match).
struct RunNetwork {
  ModelConfig model;
  Resize resize = Resize::Stretch;
  // Its types' names in channel order: the checkpoint's, else (written before they were
  // recorded) its bundle's; empty when neither says.
  std::vector<std::string> type_names;
};
RunNetwork run_network(const std::string& run_dir);

// The names of `types` (a dataset's or a bundle's), in channel order.
template <class Type>
std::vector<std::string> type_names_of(const std::vector<Type>& types) {
  std::vector<std::string> out;
  for (const auto& t : types) out.push_back(t.name);
  return out;
}

// What every rank must agree on before training together, as text naming a hash: the data (each
// sample's image path below the dataset's folder or --image-root, split and types; the folder
// itself may differ between machines, and --data may be relative) and the run's settings that
// shape the steps.
std::string run_fingerprint(const Dataset& d, const TrainConfig& cfg);

// The balanced sampler's pools over one split: pool 0 the normal images, pool k + 1 the images
// of type k (an image with several types is in each of their pools); indices into data.samples.
std::vector<std::vector<int>> class_pools(const Dataset& data, const std::string& split);

// Returns the process exit code: 0 when finished (bundle written), 130 when interrupted by
// Ctrl-C (checkpoint written, resume with --resume). Throws on bad data or configuration. With
// several ranks, rank 0 alone writes files; all ranks stop at the same step.
int run_training(const TrainConfig& cfg);

}  // namespace mtfcdd
