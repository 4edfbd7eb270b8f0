// Re-running this executable (or another program) in a child process, for measurements that must
// not share the parent's address space (the plugin's latency and peak RSS, LibTorch's latency, ONNX Runtime).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mtfcdd::bench {

struct ChildRun {
  std::string stdout_text;  // everything the child wrote to stdout
  double max_rss_mb = 0;    // the child's ru_maxrss, from wait4
};

// Runs `program` (a path, or a name looked up in PATH) with `args`, in this process's environment
// plus `env` ("NAME=value" entries, which win); the child's stderr passes through. Throws
// std::runtime_error when it cannot start or does not exit with 0.
ChildRun run_child(const std::string& program, const std::vector<std::string>& args,
                   const std::vector<std::string>& env = {});

// The one JSON value a child printed to stdout; throws std::runtime_error naming `child` when it
// printed none.
nlohmann::json stdout_json(const ChildRun& run, const std::string& child);

// run_child on /proc/self/exe.
ChildRun run_self(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

// The environment that makes a child's OpenMP threads (oneDNN's in the plugin, LibTorch's: both
// GNU OpenMP) sleep as soon as they wait when `spin` is false; libgomp reads OMP_WAIT_POLICY once,
// when it is loaded, so only a fresh process can change it.
std::vector<std::string> wait_policy_env(bool spin);

}  // namespace mtfcdd::bench
