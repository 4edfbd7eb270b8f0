// The end-of-run summary: counts per defect type and per action, latency percentiles and
// throughput, built from the report lines.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mtfcdd::host {

// Linear interpolation between order statistics (numpy's default); NaN for no values.
double percentile(std::vector<double> values, double q);

class Summary {
 public:
  void add(const nlohmann::json& line);
  std::string table(double wall_seconds) const;
  size_t inputs() const { return inputs_; }
  size_t failed() const { return failed_; }

 private:
  size_t inputs_ = 0, failed_ = 0, defective_ = 0;
  std::map<std::string, size_t> per_type_, per_action_;
  std::vector<double> latencies_;
};

}  // namespace mtfcdd::host
