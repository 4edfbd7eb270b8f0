// Linked into every LibTorch test program: a fixed number of intra-op threads. LibTorch's default
// depends on the build and the machine (one in Debian's, the core count in others), and sums
// split over threads round differently, so results such as the epoch a run selects would change
// with the machine the tests run on.
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

class TorchThreads : public ::testing::Environment {
 public:
  void SetUp() override { torch::set_num_threads(2); }
};

[[maybe_unused]] const auto* const kTorchThreads = ::testing::AddGlobalTestEnvironment(new TorchThreads);

}  // namespace
