// Re-running this executable in a child process, for measurements that must not share the
// parent's address space (the plugin's latency and peak RSS).
#pragma once

#include <string>
#include <vector>

namespace mtfcdd::bench {

struct ChildRun {
  std::string stdout_text;  // everything the child wrote to stdout
  double max_rss_mb = 0;    // the child's ru_maxrss, from wait4
};

// Runs /proc/self/exe with `args`; the child's stderr passes through. Throws std::runtime_error
// when it cannot start or does not exit with 0.
ChildRun run_self(const std::vector<std::string>& args);

}  // namespace mtfcdd::bench
