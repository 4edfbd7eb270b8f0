#include "summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

namespace mtfcdd::host {

double percentile(std::vector<double> v, double q) {
  if (!(q >= 0 && q <= 1)) {  // NaN too
    char got[32];
    std::snprintf(got, sizeof got, "%g", q);
    throw std::invalid_argument(std::string("percentile: q must be in 0..1, got ") + got);
  }
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

std::vector<std::string> delivery_failures(const nlohmann::json& line) {
  std::vector<std::string> out;
  const std::string input = line.value("input", std::string("?")), action = line.value("action", std::string("?"));
  if (line.contains("overlay_error"))
    out.push_back("overlay of " + input + " failed: " + line.at("overlay_error").get<std::string>());
  for (const auto& s : line.value("sinks", nlohmann::json::array()))
    if (!s.value("ok", true))
      out.push_back("sink '" + s.value("sink", std::string("?")) + "' of action '" + action + "' failed for " + input +
                    ": " + s.value("message", std::string()));
  return out;
}

void Summary::add(const nlohmann::json& line) {
  ++inputs_;
  if (!line.value("ok", false)) {
    ++failed_;
    return;
  }
  overlay_failures_ += line.contains("overlay_error");
  for (const auto& s : line.value("sinks", nlohmann::json::array())) sink_failures_ += !s.value("ok", true);
  latencies_.push_back(line.value("latency_ms", 0.0));
  if (line.value("decision", false)) ++defective_;
  ++per_action_[line.value("action", std::string("?"))];
  for (const auto& t : line.at("types"))
    if (t.value("decision", false)) ++per_type_[t.at("name").get<std::string>()];
}

std::string Summary::table(double wall_seconds) const {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "inputs %zu: %zu inspected (%zu defective), %zu failed\n", inputs_,
                inputs_ - failed_, defective_, failed_);
  out += buf;
  if (sink_failures_ || overlay_failures_) {
    std::snprintf(buf, sizeof buf, "%zu sink failures, %zu overlay failures (each named on stderr)\n", sink_failures_,
                  overlay_failures_);
    out += buf;
  }
  out += "\n| defect type | images |\n|---|---:|\n";
  for (const auto& [t, n] : per_type_) out += "| " + t + " | " + std::to_string(n) + " |\n";
  if (per_type_.empty()) out += "| (none) | 0 |\n";
  out += "\n| action | images |\n|---|---:|\n";
  for (const auto& [a, n] : per_action_) out += "| " + a + " | " + std::to_string(n) + " |\n";
  std::snprintf(buf, sizeof buf, "\nlatency per image: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; throughput %.2f images/s (%.1f s)\n",
                percentile(latencies_, 0.5), percentile(latencies_, 0.95), percentile(latencies_, 0.99),
                wall_seconds > 0 ? (inputs_ - failed_) / wall_seconds : 0.0, wall_seconds);
  out += buf;
  return out;
}

}  // namespace mtfcdd::host
