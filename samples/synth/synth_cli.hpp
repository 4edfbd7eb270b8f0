// The mtfcdd-synth command line (kept in the library so tests can drive it).
#pragma once

#include <CLI/CLI.hpp>

#include "synth_dataset.hpp"

namespace mtfcdd::synth {

// Declares mtfcdd-synth's options on `app`, parsed into `o`; a successful parse has validated `o`
// as a whole, and every failure is a CLI::ParseError naming the option.
void declare_options(CLI::App& app, SynthOptions& o);

}  // namespace mtfcdd::synth
