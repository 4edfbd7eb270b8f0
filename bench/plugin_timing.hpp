// The plugin side of the benchmark, free of torch: dlopen the plugin, time `process` through the
// C ABI. It runs in a child process (the hidden plugin-only subcommand) so that its latency and
// peak RSS are the plugin's alone.
#pragma once

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include <mtfcdd/bundle.hpp>

namespace mtfcdd::bench {

struct PluginRequest {
  std::string plugin;  // the .so
  std::string bundle;  // the model bundle folder
  int batch = 1, runs = 50, warmup = 5, threads = 1;
  std::string conv;  // the detector's "conv"; empty: its default
  // Where to write the input blob the frames make (blob.f32) and the maps of the last call
  // (maps.f32), raw float32 [batch, ...], for ONNX Runtime to run on and be checked against;
  // empty: nothing written.
  std::string dump_dir;
  // false: the child's OpenMP threads sleep as soon as they wait (wait_policy_env) instead of
  // spinning first, which costs little on idle cores and saves much on busy ones.
  bool spin = true;
};

struct PluginResult {
  // Per process() call, ms: the wall time measured around the call, and the plugin's own
  // breakdown summed over the batch's frames.
  std::vector<double> call_ms, pre_ms, net_ms, post_ms;
  int threads = 0;
  std::string backend, conv;  // as the plugin's describe reports them
  double baseline_rss_mb = 0;  // the child's RSS before dlopen (this executable, LibTorch mapped)
  double peak_rss_mb = 0;      // the child's ru_maxrss
};

// What the plugin call includes, for the table and the JSON.
extern const char* const kPluginIncludes;

// The frames the plugin child times: `count` BGR frames of w x h, random pixels, seeded.
std::vector<std::vector<uint8_t>> random_frames(int w, int h, int count);

// The input blob the plugin makes of `pixels`, frames at m's input size (make_blob on views of them).
cv::Mat blob_of(std::vector<std::vector<uint8_t>>& pixels, const BundleManifest& m);

// Parent: runs the measurement in a child process and reads its result.
PluginResult run_plugin_child(const PluginRequest& r);

// Child (the hidden plugin-only subcommand): measures, prints JSON to stdout.
int plugin_child_main(const PluginRequest& r);

}  // namespace mtfcdd::bench
