// Minimal "--key value" / "--flag" command-line parsing with clear errors.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace mtfcdd {

class CliArgs {
 public:
  // `flags` take no value; every other option takes exactly one.
  CliArgs(int argc, char** argv, int first, const std::set<std::string>& flags) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument '" + a + "'");
      a = a.substr(2);
      if (flags.count(a)) {
        values_[a] = "1";
      } else {
        if (i + 1 >= argc) throw std::invalid_argument("option --" + a + " needs a value");
        values_[a] = argv[++i];
      }
    }
  }
  bool has(const std::string& k) const {
    used_.insert(k);
    return values_.count(k) > 0;
  }
  std::string str(const std::string& k, const std::string& def = "") const {
    used_.insert(k);
    auto it = values_.find(k);
    return it == values_.end() ? def : it->second;
  }
  std::string required(const std::string& k) const {
    if (!has(k)) throw std::invalid_argument("missing required option --" + k);
    return str(k);
  }
  long long integer(const std::string& k, long long def) const {
    if (!has(k)) return def;
    const std::string v = str(k);
    size_t pos = 0;
    long long r = 0;
    try {
      r = std::stoll(v, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != v.size() || v.empty()) throw std::invalid_argument("--" + k + " needs an integer, got '" + v + "'");
    return r;
  }
  double real(const std::string& k, double def) const {
    if (!has(k)) return def;
    const std::string v = str(k);
    size_t pos = 0;
    double r = 0;
    try {
      r = std::stod(v, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != v.size() || v.empty()) throw std::invalid_argument("--" + k + " needs a number, got '" + v + "'");
    return r;
  }
  // Call after reading every option: an option nobody asked for is a typo.
  void reject_unknown() const {
    for (const auto& [k, v] : values_)
      if (!used_.count(k)) throw std::invalid_argument("unknown option --" + k);
  }

 private:
  std::map<std::string, std::string> values_;
  mutable std::set<std::string> used_;
};

}  // namespace mtfcdd
