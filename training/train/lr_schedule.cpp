#include "lr_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace mtfcdd {

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "constant") return LrSchedule::constant;
  if (name == "cosine") return LrSchedule::cosine;
  throw std::invalid_argument("--lr-schedule must be constant or cosine, not '" + name + "'");
}

const char* to_string(LrSchedule s) { return s == LrSchedule::cosine ? "cosine" : "constant"; }

double scheduled_lr(LrSchedule s, double base, double done, double planned) {
  if (s == LrSchedule::constant) return base;
  const double t = planned > 0 ? std::clamp(done / planned, 0.0, 1.0) : 1.0;
  return base * (1 + std::cos(M_PI * t)) / 2;
}

}  // namespace mtfcdd
