// The mtfcdd-synth command line, parsed into SynthOptions (kept in the library so tests can drive it).
#pragma once

#include "synth_dataset.hpp"

namespace mtfcdd::synth {

extern const char* const kUsage;

struct CliRequest {
  bool help = false;
  SynthOptions options;
};

// argv[1..]; throws std::invalid_argument naming the offending option.
CliRequest parse_cli(int argc, char** argv);

}  // namespace mtfcdd::synth
