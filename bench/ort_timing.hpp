// The ONNX Runtime side of the benchmark: the bundle's model.onnx through ONNX Runtime's CPU
// execution provider (its Node binding, installed by scripts/setup-bench.sh), in a child process
// like the plugin, on the same input blob the plugin made.
#pragma once

#include <string>
#include <vector>

namespace mtfcdd::bench {

// Where setup-bench.sh installs it, and the command that does.
extern const char* const kOrtInstallHint;

// Whether `ort_dir` holds an onnxruntime-node install and `node` runs.
bool ort_available(const std::string& ort_dir);

struct OrtRequest {
  std::string ort_dir, model, input_name, output_name;
  std::string blob_path;  // raw float32 [shape]
  std::vector<int> shape;
  int threads = 1, runs = 50, warmup = 5;
  std::string maps_out;  // where the last run's maps are written, raw float32
  bool spin = true;      // the intra-op threads spin while waiting (ONNX Runtime's default)
};

struct OrtResult {
  std::vector<double> call_ms;  // per InferenceSession.run of the whole batch
  std::string version;
};

OrtResult run_ort_child(const OrtRequest& r);

// A raw float32 file's values; throws std::runtime_error when it cannot be read.
std::vector<float> read_floats(const std::string& path);
void write_floats(const std::string& path, const float* data, size_t count);

}  // namespace mtfcdd::bench
