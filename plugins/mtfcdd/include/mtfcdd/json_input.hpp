// Reading JSON that users hand us (configs, manifests, pipelines, datasets).
// - A nesting limit: nlohmann::json copies, compares and dumps values recursively, so a document
//   nested 100,000 deep overflows the stack long after parsing, and dump(2) of one nested 3,000
//   deep is quadratic in size. Real configs nest a handful of levels.
// - Short echoes: an error message quotes at most a few hundred bytes of the bad value.
// - Strict integers: get<int>() truncates 128.5 and wraps 4294967424 to 128.
// - Float range: 1e39 is a finite double but an infinite float32.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mtfcdd {

constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxEcho = 200;

// Thrown by parse_json for a document nested deeper than its limit.
struct JsonTooDeep : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses `text`; malformed text throws nlohmann::json::parse_error, nesting deeper than
// `max_depth` arrays/objects throws JsonTooDeep (before the deep part is built).
inline nlohmann::json parse_json(std::string_view text, int max_depth = kMaxJsonDepth) {
  // The callback's depth is the number of enclosing containers of the one starting.
  const auto limit = [max_depth](int depth, nlohmann::json::parse_event_t ev, nlohmann::json&) {
    const bool opens = ev == nlohmann::json::parse_event_t::object_start ||
                       ev == nlohmann::json::parse_event_t::array_start;
    if (opens && depth >= max_depth)
      throw JsonTooDeep("nested deeper than " + std::to_string(max_depth) + " levels");
    return true;
  };
  return nlohmann::json::parse(text.begin(), text.end(), limit);
}

inline nlohmann::json parse_json(std::istream& in, int max_depth = kMaxJsonDepth) {
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return parse_json(std::string_view(text), max_depth);
}

// `s` when it is at most `max_bytes` long, else its first max_bytes (cut at a UTF-8 character
// boundary, so the message stays valid JSON text) and "...".
inline std::string excerpt(const std::string& s, size_t max_bytes = kMaxEcho) {
  if (s.size() <= max_bytes) return s;
  size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // s[n] continues a character
  return s.substr(0, n) + "...";
}

// A JSON value as it would be written, shortened by excerpt(); invalid UTF-8 is replaced.
inline std::string excerpt(const nlohmann::json& j, size_t max_bytes = kMaxEcho) {
  return excerpt(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), max_bytes);
}

// The value of an integer JSON number in [lo, hi]; nullopt for anything else (floats such as
// 128.5 or 1.0, strings, integers out of range).
inline std::optional<int64_t> integer_in(const nlohmann::json& j, int64_t lo, int64_t hi) {
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    if (hi < 0 || v > static_cast<uint64_t>(hi) || static_cast<int64_t>(v) < lo) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (!j.is_number_integer()) return std::nullopt;
  const int64_t v = j.get<int64_t>();
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

// Whether `v` stays finite as a float32 (scores and thresholds cross the C ABI as float).
inline bool is_finite_float(double v) {
  return std::isfinite(v) && std::abs(v) <= static_cast<double>(std::numeric_limits<float>::max());
}

}  // namespace mtfcdd
