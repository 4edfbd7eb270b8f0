#include "batch_loader.hpp"

#include <opencv2/imgcodecs.hpp>
#include <stdexcept>

#include <mtfcdd/preprocess.hpp>

namespace mtfcdd {

BatchLoader::BatchLoader(const Dataset& data, const BundleManifest& input, AugmentConfig aug, int workers,
                         uint64_t seed, size_t cache_bytes)
    : data_(data),
      input_(input),
      aug_(aug),
      seed_(seed),
      use_cache_(data.samples.size() * size_t(input.input_width) * input.input_height * 3 <= cache_bytes),
      cache_(use_cache_ ? data.samples.size() : 0),
      cache_once_(use_cache_ ? data.samples.size() : 0) {
  for (int i = 0; i < std::max(1, workers); ++i) threads_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  jobs_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void BatchLoader::submit(std::vector<int> indices, bool augmented, size_t first) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back({submitted_++, std::move(indices), augmented, first});
  }
  jobs_cv_.notify_one();
}

size_t BatchLoader::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return submitted_ - taken_;
}

uint64_t BatchLoader::taken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return taken_;
}

void BatchLoader::continue_numbering(uint64_t next) {
  std::lock_guard<std::mutex> lock(mu_);
  if (submitted_ != taken_) throw std::logic_error("BatchLoader::continue_numbering() with batches pending");
  submitted_ = taken_ = next;
}

Batch BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (taken_ == submitted_) throw std::logic_error("BatchLoader::next() with nothing submitted");
  const uint64_t n = taken_++;
  done_cv_.wait(lock, [&] { return done_.count(n) || failed_.count(n); });
  if (auto it = failed_.find(n); it != failed_.end()) {
    auto e = it->second;
    failed_.erase(it);
    std::rethrow_exception(e);
  }
  Batch b = std::move(done_.at(n));
  done_.erase(n);
  return b;
}

void BatchLoader::work() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      jobs_cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      Batch b = build(job);
      std::lock_guard<std::mutex> lock(mu_);
      done_.emplace(job.number, std::move(b));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      failed_.emplace(job.number, std::current_exception());
    }
    done_cv_.notify_all();
  }
}

cv::Mat BatchLoader::load(int index) {
  const Sample& s = data_.samples.at(index);
  const auto decode = [&] {
    cv::Mat img = cv::imread(s.image, cv::IMREAD_COLOR);
    if (img.empty()) throw std::runtime_error(s.origin + ": cannot read image " + s.image);
    return resize_to_input(img, input_);
  };
  if (!use_cache_) return decode();
  std::call_once(cache_once_[index], [&] { cache_[index] = decode(); });
  return cache_[index];
}

Batch BatchLoader::build(const Job& job) {
  const size_t m = data_.types.size();
  Batch b;
  b.indices = job.indices;
  b.labels.assign(job.indices.size() * m, 0.f);
  std::vector<cv::Mat> images;
  for (size_t i = 0; i < job.indices.size(); ++i) {
    cv::Mat img = load(job.indices[i]);
    if (job.augmented) {
      std::mt19937_64 rng(seed_ ^ (job.number * 0x9E3779B97F4A7C15ull) ^ ((job.first + i) * 0xBF58476D1CE4E5B9ull));
      img = augment(img, aug_, rng);
    }
    images.push_back(img);
    for (int t : data_.samples[job.indices[i]].types) b.labels[i * m + t] = 1.f;
  }
  b.blob = make_blob(images, input_);
  return b;
}

}  // namespace mtfcdd
