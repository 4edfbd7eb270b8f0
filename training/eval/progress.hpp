// A progress line on stderr for long work (an epoch, scoring a split): rewritten in place on a
// terminal; in a log, a line at most every `log_every_s` seconds, so that a long job shows it is
// alive without flooding the log, and a short one writes nothing.
#pragma once

#include <chrono>
#include <string>

namespace mtfcdd {

// "h:mm:ss".
std::string format_duration(double seconds);

// "LABEL [#####...] DONE/TOTAL UNIT  RATE UNIT/s  EXTRA  ETA h:mm:ss"; the rate is DONE over the
// time since construction. `approx_total` writes the total as "~TOTAL" (an expected count).
std::string progress_text(const std::string& label, double done, double total, const std::string& unit,
                          bool approx_total, double seconds, const std::string& extra);

class ProgressLine {
 public:
  ProgressLine(std::string label, std::string unit, bool approx_total = false, double log_every_s = 10);
  void update(double done, double total, const std::string& extra = "");
  void end();  // ends the rewritten line on a terminal; nothing in a log

 private:
  using Clock = std::chrono::steady_clock;
  std::string label_, unit_;
  bool approx_, tty_;
  double log_every_s_;
  Clock::time_point start_ = Clock::now(), last_{};
  bool shown_ = false;
};

}  // namespace mtfcdd
