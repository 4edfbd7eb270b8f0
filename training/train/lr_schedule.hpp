// The learning rate along a run. A constant rate leaves the weights wandering at full step size
// when the run ends; annealing it over the planned iterations lets them settle, which matters
// most for a backbone trained from scratch in a fixed time.
#pragma once

#include <string>

namespace mtfcdd {

enum class LrSchedule { constant, cosine };

// "constant" or "cosine"; anything else throws std::invalid_argument naming the value.
LrSchedule parse_lr_schedule(const std::string& name);
const char* to_string(LrSchedule s);

// The rate after `done` of `planned` iterations: constant -> base; cosine -> base * (1 + cos(pi t)) / 2
// with t = done / planned clamped to [0, 1] (so base at the start, base / 2 halfway, 0 at the end).
double scheduled_lr(LrSchedule s, double base, double done, double planned);

}  // namespace mtfcdd
