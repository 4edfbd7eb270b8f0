#include "progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace mtfcdd {

std::string format_duration(double seconds) {
  char buf[32];
  const int t = static_cast<int>(seconds + 0.5);
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

std::string progress_text(const std::string& label, double done, double total, const std::string& unit,
                          bool approx_total, double seconds, const std::string& extra) {
  const double frac = total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0;
  constexpr int kWidth = 24;
  std::string bar(static_cast<size_t>(frac * kWidth), '#');
  bar.resize(kWidth, '.');
  const double rate = seconds > 0 ? done / seconds : 0;
  const double eta = rate > 0 ? std::max(0.0, total - done) / rate : 0;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s [%s] %.0f/%s%.0f %s  %.2f %s/s  %s%sETA %s", label.c_str(), bar.c_str(), done,
                approx_total ? "~" : "", total, unit.c_str(), rate, unit.c_str(), extra.c_str(), extra.empty() ? "" : "  ",
                format_duration(eta).c_str());
  return buf;
}

ProgressLine::ProgressLine(std::string label, std::string unit, bool approx_total, double log_every_s)
    : label_(std::move(label)), unit_(std::move(unit)), approx_(approx_total), tty_(isatty(fileno(stderr))),
      log_every_s_(log_every_s) {}

void ProgressLine::update(double done, double total, const std::string& extra) {
  const auto now = Clock::now();
  const double since_last = std::chrono::duration<double>(now - last_).count();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  // A terminal at most 5 times a second; a log every log_every_s_, the first after as long.
  if (tty_ ? shown_ && since_last < 0.2 : (shown_ ? since_last : elapsed) < log_every_s_) return;
  last_ = now;
  shown_ = true;
  std::fprintf(stderr, "%s%s%s", tty_ ? "\r" : "",
               progress_text(label_, done, total, unit_, approx_, elapsed, extra).c_str(), tty_ ? "\033[K" : "\n");
  std::fflush(stderr);
}

void ProgressLine::end() {
  if (tty_ && shown_) std::fprintf(stderr, "\n");
}

}  // namespace mtfcdd
