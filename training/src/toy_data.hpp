// Generated images with planted defects, one look per type, for smoke runs and tests:
// a textured background, and for type k a small patch of stripes whose period and angle depend on k.
#pragma once

#include <torch/torch.h>

namespace mtfcdd {

struct ToyBatch {
  torch::Tensor images;  // [N, 3, S, S], normalised to [-1, 1]
  torch::Tensor labels;  // [N, M] in {0, 1}
  torch::Tensor masks;   // [N, M, S, S] in {0, 1}
};

// Half the images are normal; the rest carry exactly one type drawn uniformly, at a random place.
ToyBatch toy_batch(int64_t n, int64_t types, int64_t size, torch::Generator& gen);

}  // namespace mtfcdd
