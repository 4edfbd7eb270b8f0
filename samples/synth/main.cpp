// mtfcdd-synth: writes the synthetic multi-type defect dataset (`mtfcdd-synth --help` lists the options).
#include <cstdio>
#include <exception>
#include <opencv2/core/utility.hpp>

#include "mtfcdd/cli.hpp"
#include "synth_cli.hpp"

int main(int argc, char** argv) {
  using namespace mtfcdd::synth;
  SynthOptions options;
  CLI::App app{"", "mtfcdd-synth"};
  declare_options(app, options);
  if (const auto exit_code = mtfcdd::cli::parse(app, argc, argv)) return *exit_code;
  // Images are rendered in parallel already; OpenCV's own threads inside each would only contend.
  cv::setNumThreads(1);
  try {
    const SynthSummary s = write_dataset(options);
    std::printf("mtfcdd-synth: %s\n", describe(options, s).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mtfcdd-synth: %s\n", e.what());
    return 1;
  }
  return 0;
}
