// The safetensors format (8-byte little-endian header length, JSON header, raw tensors),
// parsed by hand so that timm's weight files load without Python.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mtfcdd {

struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // converted to float32 whatever the stored dtype (F32, F16, BF16, F64)
};

using TensorMap = std::map<std::string, HostTensor>;

// Throws std::runtime_error naming the file and, where there is one, the offending tensor.
TensorMap read_safetensors(const std::string& path);

// Writes F32 tensors; used for checkpoints' weights and by tests.
void write_safetensors(const std::string& path, const TensorMap& tensors);

}  // namespace mtfcdd
