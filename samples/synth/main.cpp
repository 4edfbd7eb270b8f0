// mtfcdd-synth: writes the synthetic multi-type defect dataset (see synth_cli.cpp for the options).
#include <cstdio>
#include <exception>
#include <opencv2/core/utility.hpp>
#include <stdexcept>

#include "synth_cli.hpp"

int main(int argc, char** argv) {
  using namespace mtfcdd::synth;
  CliRequest req;
  try {
    req = parse_cli(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "mtfcdd-synth: %s\n(mtfcdd-synth --help lists the options)\n", e.what());
    return 2;
  }
  if (req.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  // Images are rendered in parallel already; OpenCV's own threads inside each would only contend.
  cv::setNumThreads(1);
  try {
    const SynthSummary s = write_dataset(req.options);
    std::printf("mtfcdd-synth: %s\n", describe(req.options, s).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mtfcdd-synth: %s\n", e.what());
    return 1;
  }
  return 0;
}
