#include "ort_timing.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "child_process.hpp"

namespace mtfcdd::bench {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kOrtInstallHint =
    "ONNX Runtime is not installed: scripts/setup-bench.sh installs onnxruntime-node 1.30 into "
    "build/ort (node, npm and the npm registry needed), or pass --ort DIR";

bool ort_available(const std::string& ort_dir) {
  if (!fs::exists(fs::path(ort_dir) / "node_modules" / "onnxruntime-node" / "package.json")) return false;
  try {
    run_child("node", {"--version"});
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

OrtResult run_ort_child(const OrtRequest& r) {
  std::string shape;
  for (int d : r.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
  const ChildRun run = run_child("node", {MTFCDD_BENCH_ORT_SCRIPT, r.ort_dir, r.model, r.input_name, r.output_name,
                                          r.blob_path, shape, std::to_string(r.threads), std::to_string(r.runs),
                                          std::to_string(r.warmup), r.maps_out, r.spin ? "1" : "0"});
  const json j = stdout_json(run, "ONNX Runtime");
  return {j.at("call_ms").get<std::vector<double>>(), j.at("version").get<std::string>()};
}

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot read " + path);
  const auto bytes = static_cast<size_t>(in.tellg());
  if (bytes % sizeof(float) != 0) throw std::runtime_error(path + " is not a whole number of float32 values");
  std::vector<float> v(bytes / sizeof(float));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes)))
    throw std::runtime_error("cannot read " + path);
  return v;
}

void write_floats(const std::string& path, const float* data, size_t count) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(count * sizeof(float)));
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace mtfcdd::bench
