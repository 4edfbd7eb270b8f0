// Lists of names as text.
#pragma once

#include <string>
#include <vector>

namespace mtfcdd {

// The items with `sep` between them: join({"a", "b"}, ", ") = "a, b".
inline std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

}  // namespace mtfcdd
