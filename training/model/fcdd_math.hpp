// The FCDD math, as pure functions of tensors (paper Eqs. 1-3).
#pragma once

#include <torch/torch.h>

namespace mtfcdd {

// A = sqrt(phi^2 + 1) - 1, computed as phi^2 / (sqrt(phi^2 + 1) + 1): exact near 0 in float32.
torch::Tensor pseudo_huber(const torch::Tensor& phi);
// z_k = mean of A_k over the map: [N, M, u, v] -> [N, M].
torch::Tensor anomaly_scores(const torch::Tensor& maps);
// p = 1 - exp(-z), as -expm1(-z).
torch::Tensor probabilities(const torch::Tensor& z);
// log(1 - exp(-z)) for z > 0 without cancellation (Maechler's log1mexp).
torch::Tensor log1mexp(const torch::Tensor& z);
// (1/MN) sum (1 - y) z - y log(1 - exp(-z)), z clamped >= 1e-6 inside the log term;
// z and y are [N, M], y in {0, 1}.
torch::Tensor fcdd_loss(const torch::Tensor& z, const torch::Tensor& y);

}  // namespace mtfcdd
