// Decodes, augments and preprocesses training batches in worker threads, so the network
// never waits on I/O. Batches come back in the order they were submitted; each image's
// augmentation is seeded from (seed, batch number, position), so results do not depend on
// thread timing.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <opencv2/core.hpp>
#include <thread>
#include <vector>

#include "augment.hpp"
#include <mtfcdd/bundle.hpp>
#include "dataset.hpp"

namespace mtfcdd {

struct Batch {
  std::vector<int> indices;   // into Dataset::samples
  cv::Mat blob;               // [B, 3, H, W] float32, normalised as the manifest says
  std::vector<float> labels;  // [B * M] multi-hot
};

class BatchLoader {
 public:
  // `input` supplies size and normalisation (the same preprocessing as inference).
  // Decoded, resized images are cached in memory when they fit in `cache_bytes`.
  BatchLoader(const Dataset& data, const BundleManifest& input, AugmentConfig aug, int workers,
              uint64_t seed, size_t cache_bytes = size_t(2) << 30);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // `first` is the position of indices[0] in the global batch they are a shard of (a data-parallel
  // rank's part): augmentation is seeded by the global position, so N ranks augment each image as
  // one process would.
  void submit(std::vector<int> indices, bool augmented, size_t first = 0);
  // Blocks until the oldest submitted batch is ready; rethrows a worker's error (naming the file).
  Batch next();
  size_t pending() const;
  // Batches handed out by next() so far: the number (and so the augmentation) of the next one.
  uint64_t taken() const;
  // A resumed run numbers its batches on from where the checkpoint left off, so it augments
  // them as the uninterrupted run did. Only with nothing pending.
  void continue_numbering(uint64_t next);

 private:
  struct Job {
    uint64_t number;
    std::vector<int> indices;
    bool augmented;
    size_t first;
  };
  void work();
  Batch build(const Job& job);
  cv::Mat load(int index);

  const Dataset& data_;
  BundleManifest input_;
  AugmentConfig aug_;
  uint64_t seed_;
  bool use_cache_;
  std::vector<cv::Mat> cache_;
  std::vector<std::once_flag> cache_once_;

  mutable std::mutex mu_;
  std::condition_variable jobs_cv_, done_cv_;
  std::deque<Job> jobs_;
  std::map<uint64_t, Batch> done_;
  std::map<uint64_t, std::exception_ptr> failed_;
  uint64_t submitted_ = 0, taken_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mtfcdd
