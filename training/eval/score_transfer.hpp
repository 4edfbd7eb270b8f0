// ImageScores as bytes: how data-parallel ranks hand their shard of a calibration split to rank 0.
// No torch here.
#pragma once

#include <string>
#include <vector>

#include "evaluate.hpp"

namespace mtfcdd {

// Each image as its index in data.samples, z, max_pixel, the maps, the input size and placement.
std::string encode_scores(const std::vector<ImageScores>& scores, const Dataset& data);
// The inverse, pointing into `data` (the same dataset the encoder had). Throws std::runtime_error
// on bytes that are cut short or index outside the dataset.
std::vector<ImageScores> decode_scores(const std::string& bytes, const Dataset& data);

}  // namespace mtfcdd
