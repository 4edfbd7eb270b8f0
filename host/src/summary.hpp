// The end-of-run summary: counts per defect type and per action, latency percentiles and
// throughput, built from the report lines.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mtfcdd::host {

// The q-quantile, q in 0..1: linear interpolation between order statistics (numpy's default);
// NaN for no values. Throws std::invalid_argument for q outside 0..1 or NaN.
double percentile(std::vector<double> values, double q);

// What failed after an input was inspected, one message per failed sink and per failed overlay,
// naming the sink, the action and the input: "sink 'run' of action 'scrap' failed for a.png: ...".
std::vector<std::string> delivery_failures(const nlohmann::json& line);

class Summary {
 public:
  void add(const nlohmann::json& line);
  std::string table(double wall_seconds) const;
  size_t inputs() const { return inputs_; }
  size_t failed() const { return failed_; }  // inputs not inspected
  size_t sink_failures() const { return sink_failures_; }
  size_t overlay_failures() const { return overlay_failures_; }

 private:
  size_t inputs_ = 0, failed_ = 0, defective_ = 0, sink_failures_ = 0, overlay_failures_ = 0;
  std::map<std::string, size_t> per_type_, per_action_;
  std::vector<double> latencies_;
};

}  // namespace mtfcdd::host
