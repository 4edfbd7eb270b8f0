// Reading JSON that users hand us (configs, manifests, pipelines, datasets).
// - A nesting limit: nlohmann::json copies, compares and dumps values recursively, so a document
//   nested 100,000 deep overflows the stack long after parsing, and dump(2) of one nested 3,000
//   deep is quadratic in size. Real configs nest a handful of levels.
// - Short echoes: an error message quotes at most a few hundred bytes of the bad value.
// - Strict integers: get<int>() truncates 128.5 and wraps 4294967424 to 128.
// - Float range: 1e39 is a finite double but an infinite float32.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <istream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "names.hpp"

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

// A detector config the user wrote is wrong (the C ABI's VP_ERR_CONFIG).
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reads one JSON object users hand us: the one reader of bundle manifests, detector configs,
// routing, stages and sinks. Every error is thrown as Error with the message
// "SOURCE: PATH.KEY: what" ("model.json: input.width: must be an integer 1 .. 16384, got 128.5"),
// so it names the file or config and the key; values are echoed shortened (excerpt()).
template <class Error = std::runtime_error>
class JsonReader {
 public:
  // `source` names the document (a file, "config"; may be empty), `path` the object inside it.
  JsonReader(const nlohmann::json& j, std::string source, std::string path = "")
      : j_(j), source_(std::move(source)), path_(std::move(path)) {
    if (!j_.is_object()) fail("", "must be an object, got " + excerpt(j_));
  }
  // The reader refers to the document: it must outlive the reader.
  JsonReader(nlohmann::json&&, std::string, std::string = "") = delete;

  const nlohmann::json& json() const { return j_; }
  std::string path(const std::string& key) const { return path_.empty() || key.empty() ? path_ + key : path_ + "." + key; }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    const std::string p = path(key);
    throw Error((source_.empty() ? "" : source_ + ": ") + (p.empty() ? "" : p + ": ") + what);
  }

  bool has(const std::string& key) const { return j_.contains(key); }
  // Rejects keys outside `known` and `more`, so that a typo cannot drop a setting silently.
  void only(std::initializer_list<std::string_view> known, std::initializer_list<std::string_view> more = {}) const {
    const auto listed = [&](std::string_view k) {
      return std::find(known.begin(), known.end(), k) != known.end() || std::find(more.begin(), more.end(), k) != more.end();
    };
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (listed(it.key())) continue;
      std::string list;
      for (auto keys : {known, more})
        for (std::string_view k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
      fail(excerpt(it.key()), list.empty() ? "unknown key (none is taken)" : "unknown key (expected one of: " + list + ")");
    }
  }
  const nlohmann::json& at(const std::string& key) const {
    if (!has(key)) fail(key, "missing");
    return j_.at(key);
  }
  JsonReader child(const std::string& key) const { return JsonReader(at(key), source_, path(key)); }
  // The object at `key`[i] of an array.
  JsonReader child_at(const std::string& key, size_t i) const {
    const nlohmann::json& a = at(key);
    if (!a.is_array() || i >= a.size()) fail(key, "must be an array of at least " + std::to_string(i + 1) + " objects");
    return JsonReader(a[i], source_, path(key) + "[" + std::to_string(i) + "]");
  }
  // The object in `key`, or an empty one when it is absent.
  JsonReader child_or_empty(const std::string& key) const {
    static const nlohmann::json empty = nlohmann::json::object();
    return has(key) ? child(key) : JsonReader(empty, source_, path(key));
  }

  std::string text(const std::string& key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_string()) fail(key, "must be a string, got " + excerpt(v));
    return v.get<std::string>();
  }
  std::string text(const std::string& key, const std::string& fallback) const { return has(key) ? text(key) : fallback; }
  bool flag(const std::string& key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_boolean()) fail(key, "must be true or false, got " + excerpt(v));
    return v.get<bool>();
  }
  bool flag(const std::string& key, bool fallback) const { return has(key) ? flag(key) : fallback; }
  // An integer JSON number in [lo, hi]: 128.5, 1.0 and values beyond 64 bits are refused, not cut.
  int64_t integer(const std::string& key, int64_t lo, int64_t hi = std::numeric_limits<int>::max()) const {
    const nlohmann::json& v = at(key);
    const auto i = integer_in(v, lo, hi);
    if (!i) fail(key, "must be an integer " + std::to_string(lo) + " .. " + std::to_string(hi) + ", got " + excerpt(v));
    return *i;
  }
  int64_t integer(const std::string& key, int64_t lo, int64_t hi, int64_t fallback) const {
    return has(key) ? integer(key, lo, hi) : fallback;
  }
  // A number in [lo, hi]; with the default range, any value that stays finite as a float32.
  double number(const std::string& key, double lo = -std::numeric_limits<float>::max(),
                double hi = std::numeric_limits<float>::max()) const {
    const nlohmann::json& v = at(key);
    if (!v.is_number()) fail(key, "must be a number, got " + excerpt(v));
    const double d = v.get<double>();
    const bool float_range = lo == -std::numeric_limits<float>::max() && hi == std::numeric_limits<float>::max();
    const std::string range = float_range ? "a finite float32 number"
                              : hi == std::numeric_limits<double>::max() ? ">= " + nlohmann::json(lo).dump()
                                                                         : nlohmann::json(lo).dump() + " .. " + nlohmann::json(hi).dump();
    if (!(d >= lo && d <= hi)) fail(key, "must be " + range + ", got " + excerpt(v));
    return d;
  }
  double number(const std::string& key, double lo, double hi, double fallback) const {
    return has(key) ? number(key, lo, hi) : fallback;
  }
  // The index of the value among `options`; with a fallback, the index when the key is absent.
  size_t one_of(const std::string& key, std::initializer_list<const char*> options) const {
    const nlohmann::json& v = at(key);
    size_t i = 0;
    for (const char* o : options) {
      if (v.is_string() && v.get_ref<const std::string&>() == o) return i;
      ++i;
    }
    std::string list;
    for (const char* o : options) list += (list.empty() ? "" : ", ") + std::string(o);
    fail(key, "must be one of " + list + ", got " + excerpt(v));
  }
  size_t one_of(const std::string& key, std::initializer_list<const char*> options, size_t fallback) const {
    return has(key) ? one_of(key, options) : fallback;
  }
  // An array of N finite numbers.
  template <size_t N>
  std::array<double, N> numbers(const std::string& key) const {
    const nlohmann::json& v = at(key);
    std::array<double, N> out{};
    const bool ok = v.is_array() && v.size() == N && std::all_of(v.begin(), v.end(), [](const auto& e) {
      return e.is_number() && std::isfinite(e.template get<double>());
    });
    if (!ok) fail(key, "must be an array of " + std::to_string(N) + " finite numbers, got " + excerpt(v));
    for (size_t i = 0; i < N; ++i) out[i] = v[i].template get<double>();
    return out;
  }
  // One of the names in Names<E>.
  template <class E>
  E choice(const std::string& key) const {
    const nlohmann::json& v = at(key);
    const auto e = v.is_string() ? parse_name<E>(v.get<std::string>()) : std::nullopt;
    if (!e) fail(key, "must be " + names_list<E>() + ", got " + excerpt(v));
    return *e;
  }
  template <class E>
  E choice(const std::string& key, E fallback) const {
    return has(key) ? choice<E>(key) : fallback;
  }

 private:
  const nlohmann::json& j_;
  std::string source_, path_;
};

}  // namespace mtfcdd
