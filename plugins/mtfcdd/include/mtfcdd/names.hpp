// The spelling of each mode (model.json, detector configs, command lines), declared once per enum
// next to it as a specialization of Names<E>; everything else goes through the enum.
//   template <> struct Names<Resize> {
//     static constexpr std::pair<Resize, const char*> table[] = {{Resize::Stretch, "stretch"}, ...};
//   };
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace mtfcdd {

template <class E>
struct Names;

template <class E>
const char* name_of(E e) {
  for (const auto& [value, name] : Names<E>::table)
    if (value == e) return name;
  return "?";  // unreachable for a value of the enum
}

template <class E>
std::optional<E> parse_name(std::string_view s) {
  for (const auto& [value, name] : Names<E>::table)
    if (s == name) return value;
  return std::nullopt;
}

// "stretch or fit", "none, h, v or hv": for messages.
template <class E>
std::string names_list() {
  std::string out;
  const size_t n = std::size(Names<E>::table);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += i + 1 == n ? " or " : ", ";
    out += Names<E>::table[i].second;
  }
  return out;
}

// The table as a map, for CLI11's CheckedTransformer (the choices that --help lists).
template <class E>
std::map<std::string, E> name_map() {
  std::map<std::string, E> out;
  for (const auto& [value, name] : Names<E>::table) out.emplace(name, value);
  return out;
}

}  // namespace mtfcdd
