// What the oneDNN layers inside OpenCV DNN share (onednn_conv.cpp, onednn_pool_sum.cpp): the
// engine, the thread count, scratch buffers and the blocked layout their blobs may hold.
#pragma once

#include <cstdlib>
#include <memory>
#include <unordered_map>
#include <oneapi/dnnl/dnnl.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <vector>

// Debian's oneDNN runs on GNU OpenMP (DNNL_CPU_RUNTIME OMP); its thread count is that runtime's.
extern "C" {
int omp_get_max_threads();
void omp_set_num_threads(int n);
}

namespace mtfcdd::onednn {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr auto kF32 = memory::data_type::f32;
// oneDNN's AVX-512 float32 layout: channels in blocks of 16, each block a NHW image of 16-vectors.
// With a channel count that is a multiple of 16 it is as large as NCHW, and a concatenation of
// such blobs along the channels is the same copy in both layouts.
constexpr auto kBlocked = Tag::nChw16c;
constexpr int kBlock = 16;

inline const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

inline memory::dims to_dims(const std::vector<size_t>& v) { return memory::dims(v.begin(), v.end()); }
inline memory::dims dims_of(const cv::Mat& m) { return memory::dims(m.size.p, m.size.p + m.dims); }

// The thread count a net's oneDNN layers run with (DnnOptions::threads), for one forward: the
// OpenMP setting is the calling thread's, which other OpenMP users in the process (LibTorch in
// the trainer) share, so it is put back afterwards. 0 leaves it as it is.
class OmpThreads {
 public:
  explicit OmpThreads(int n) : saved_(omp_get_max_threads()) {
    if (n > 0 && n != saved_) omp_set_num_threads(n);
  }
  ~OmpThreads() {
    if (omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
  }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;
  int threads() const { return omp_get_max_threads(); }

 private:
  int saved_;
};

// Room for a blob in oneDNN's layout. A net runs its layers one at a time on the thread that
// calls forward, so one buffer per thread and side serves every layer of every net (a buffer per
// layer tripled the peak memory of irv2 at batch 8); it grows to the largest asked for.
class Scratch {
 public:
  void* get(size_t bytes) {
    if (bytes > size_) {
      constexpr size_t kAlign = 64;  // a cache line, what oneDNN's own allocations use
      void* p = std::aligned_alloc(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
      if (!p) throw std::bad_alloc();
      data_.reset(p);
      size_ = bytes;
    }
    return data_.get();
  }
  static Scratch& src() {
    thread_local Scratch s;
    return s;
  }
  static Scratch& dst() {
    thread_local Scratch s;
    return s;
  }
  // A primitive's own working memory (Winograd's transformed tiles, say): oneDNN's default keeps
  // it where the primitive was created, which a forward on another thread then overwrote or
  // found freed (a crash in the host's stage threads), so every primitive here takes it per call.
  static Scratch& pad() {
    thread_local Scratch s;
    return s;
  }

 private:
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> data_;
  size_t size_ = 0;
};

// Asks for the scratchpad to be given at each execution (Scratch::pad).
inline dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// The arguments of an execution plus a scratchpad of `d` (a primitive_desc's scratchpad_desc()).
inline std::unordered_map<int, memory> with_scratchpad(const memory::desc& d, std::unordered_map<int, memory> args) {
  if (d.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, memory(d, cpu_engine(), Scratch::pad().get(d.get_size())));
  return args;
}

// A layer that runs oneDNN primitives on `threads` OpenMP threads (0: the caller's setting).
// `opencv` is OpenCV's own layer for the same parameters: it parsed them, and it gives the output
// shapes, so both implementations agree on them by construction.
class OneDnnLayer : public cv::dnn::Layer {
 public:
  OneDnnLayer(const cv::dnn::LayerParams& params, cv::Ptr<cv::dnn::Layer> opencv)
      : Layer(params), opencv_layer_(std::move(opencv)) {}
  void set_threads(int threads) { threads_ = threads; }

  bool getMemoryShapes(const std::vector<cv::dnn::MatShape>& inputs, int required_outputs,
                       std::vector<cv::dnn::MatShape>& outputs,
                       std::vector<cv::dnn::MatShape>& internals) const override {
    return opencv_layer_->getMemoryShapes(inputs, required_outputs, outputs, internals);
  }
  // What OpenCV's layer needs to run the cases left to it.
  void finalize(cv::InputArrayOfArrays inputs, cv::OutputArrayOfArrays outputs) override {
    opencv_layer_->finalize(inputs, outputs);
  }

 protected:
  cv::Ptr<cv::dnn::Layer> opencv_layer_;
  int threads_ = 0;
};

// A layer with one input whose input and output blobs may hold the blocked layout instead of
// NCHW (see choose_layouts in onednn_conv.cpp); fixed once, before the first forward.
class BlockedLayer : public OneDnnLayer {
 public:
  using OneDnnLayer::OneDnnLayer;
  void set_layouts(bool src_blocked, bool dst_blocked) {
    src_blocked_ = src_blocked;
    dst_blocked_ = dst_blocked;
    layouts_changed();
  }
  bool src_blocked() const { return src_blocked_; }
  bool dst_blocked() const { return dst_blocked_; }

 protected:
  virtual void layouts_changed() = 0;  // drop what was planned for the old layouts
  static memory::desc blob_desc(const memory::dims& dims, bool blocked) {
    return memory::desc(dims, kF32, blocked ? kBlocked : Tag::nchw);
  }
  bool src_blocked_ = false, dst_blocked_ = false;
};

// OpenCV's "Pooling" (max, or average over 2-D windows) and "Eltwise" (the sum of two blobs of
// one shape) as oneDNN primitives, so that a whole network runs on oneDNN's OpenMP threads (a
// layer left to OpenCV's own thread pool makes the two pools' spinning threads take turns on
// the cores) and its pooling passes the blocked layout on; other parameters get OpenCV's layer.
cv::Ptr<cv::dnn::Layer> create_pooling_layer(cv::dnn::LayerParams& params);
cv::Ptr<cv::dnn::Layer> create_sum_layer(cv::dnn::LayerParams& params);
extern const char* const kPoolingType;  // the layer type of the oneDNN pooling
extern const char* const kSumType;      // and of the oneDNN sum

}  // namespace mtfcdd::onednn
