// The synthetic multi-type defect dataset: which image gets which category and defects (per split), rendering
// one image, and writing the whole dataset (dataset.json, manifest.csv, PNG images and masks).
#pragma once

#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace mtfcdd::synth {

constexpr const char* kGeneratorVersion = "mtfcdd-synth 2";  // 2: no defect over another, masks to the visible edge
constexpr std::array<const char*, 3> kSplits{"train", "val", "test"};
// The accepted ranges, checked by validate() and declared by the command line.
constexpr int kMinSize = 32, kMaxSize = 4096;
constexpr int kMaxImagesPerSplit = 10000000;

struct SynthOptions {
  std::string out;  // the dataset folder
  uint64_t seed = 1;
  int size = 128;                                                   // images are size x size
  std::array<int, 3> counts{1600, 320, 320};                        // images per split, in kSplits order
  double alpha = 0.2;                                               // fraction of defective images in train
  double eval_defective = 0.5;                                      // fraction of defective images in val and test
  double two_type_ratio = 0.15;                                     // fraction of defective images that carry two types
  std::vector<std::string> splits{kSplits.begin(), kSplits.end()};  // the splits to write
  std::vector<std::string> categories;                              // scene categories to draw from; empty = all
  std::vector<std::string> types;                                   // defect types, in the dataset's order; empty = all
  int threads = 0;                                                  // 0 = one per hardware thread
};

// Throws std::invalid_argument naming the offending option.
void validate(const SynthOptions& o);
// The selected defect types as indices in defect_types(), in the options' order.
std::vector<int> type_ids(const SynthOptions& o);

struct ImagePlan {
  int split = 0;           // index in kSplits
  int index = 0;           // position in the split
  int category = 0;        // index in categories()
  std::vector<int> types;  // indices in defect_types(); empty = normal
};

// Every image of one split. Categories are balanced, defective images are spread evenly over the types, and
// which image is which is shuffled by (seed, split) alone, so a split can be regenerated on its own.
std::vector<ImagePlan> plan_split(const SynthOptions& o, int split);

struct RenderedImage {
  cv::Mat3b image;
  std::vector<cv::Mat1b> masks;  // one per planned type, 0/255
};

// Drawn from its own random stream, seeded by (seed, split, index): any order or thread gives the same bytes.
RenderedImage render_image(const ImagePlan& plan, uint64_t seed, int size);

struct SynthSummary {
  std::array<int, 3> images{}, defective{};  // per split, in kSplits order
  std::vector<int> per_type;                 // images showing each type, in options' type order
  int two_types = 0;
  double seconds = 0;
};

// Writes the selected splits and a manifest holding exactly their rows. Throws std::invalid_argument for bad
// options and std::runtime_error naming the file that could not be written.
SynthSummary write_dataset(const SynthOptions& o);

// One line: counts per split and per type, and the time taken.
std::string describe(const SynthOptions& o, const SynthSummary& s);

}  // namespace mtfcdd::synth
