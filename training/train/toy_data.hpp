// Generated images with planted defects, one look per type, for smoke runs and tests:
// a textured background, and for type k a small patch of stripes whose period and angle depend on k.
#pragma once

#include <torch/torch.h>

#include <array>
#include <string>

namespace mtfcdd {

struct ToyBatch {
  torch::Tensor images;  // [N, 3, S, S], normalised to [-1, 1]
  torch::Tensor labels;  // [N, M] in {0, 1}
  torch::Tensor masks;   // [N, M, S, S] in {0, 1}
};

// Half the images are normal; the rest carry exactly one type drawn uniformly, at a random place.
ToyBatch toy_batch(int64_t n, int64_t types, int64_t size, torch::Generator& gen);

// The name of toy type k: its stripe period, e.g. "stripes_p3".
std::string toy_type_name(int64_t k);

// Writes a dataset in the manifest format (dataset.json, manifest.csv, img/SPLIT/N_TYPE.png,
// img/SPLIT/masks/N.png) with `counts` images per split (train, val, test), gray PNGs of size x size.
void write_toy_dataset(const std::string& dir, int64_t types, int64_t size, const std::array<int, 3>& counts,
                       uint64_t seed);

}  // namespace mtfcdd
