#include "routing.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <mtfcdd/json_input.hpp>
#include <stdexcept>
#include <unordered_map>

namespace mtfcdd {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

std::string in_quotes(const std::string& s) { return "'" + excerpt(s) + "'"; }

// Rejects keys outside `allowed`, so a typo cannot silently drop a setting.
void check_keys(const json& obj, const std::string& path, std::initializer_list<const char*> allowed) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) != allowed.end()) continue;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    fail(path + "." + it.key(), "unknown key (expected one of: " + list + ")");
  }
}

const json& required(const json& obj, const std::string& key, const std::string& path) {
  if (!obj.contains(key)) fail(path + "." + key, "missing");
  return obj.at(key);
}

const std::string& string_of(const json& j, const std::string& path) {
  if (!j.is_string() || j.get_ref<const std::string&>().empty())
    fail(path, "must be a non-empty string, got " + excerpt(j));
  return j.get_ref<const std::string&>();
}

int int_of(const json& j, const std::string& path) {
  // Unsigned and signed are checked separately: get<int64_t> would wrap a huge unsigned value.
  const bool fits = j.is_number_unsigned()
                        ? j.get<uint64_t>() <= uint64_t(std::numeric_limits<int>::max())
                        : j.is_number_integer() && j.get<int64_t>() >= std::numeric_limits<int>::min() &&
                              j.get<int64_t>() <= std::numeric_limits<int>::max();
  if (!fits) fail(path, "must be an integer, got " + excerpt(j));
  return j.get<int>();
}

double number_of(const json& j, const std::string& path, double lo, double hi) {
  if (!j.is_number()) fail(path, "must be a number, got " + excerpt(j));
  const double v = j.get<double>();
  if (v < lo || v > hi) {
    const std::string range = hi == std::numeric_limits<double>::infinity()
                                  ? ">= " + json(lo).dump()
                                  : json(lo).dump() + " .. " + json(hi).dump();
    fail(path, "must be " + range + ", got " + excerpt(j));
  }
  return v;
}

}  // namespace

Router::Router() : Router(json::object(), {}) { check_size_ = false; }

Router::Router(const json& routing, const std::vector<std::string>& type_names) : type_names_(type_names) {
  std::unordered_map<std::string, size_t> type_index;
  for (size_t i = 0; i < type_names_.size(); ++i)
    if (!type_index.emplace(type_names_[i], i).second) fail("type_names", "duplicate type " + in_quotes(type_names_[i]));

  if (routing.is_null() || (routing.is_object() && routing.empty())) {
    actions_.push_back({"pass", json::object()});
    return;
  }
  if (!routing.is_object()) fail("routing", "must be an object, got " + excerpt(routing));
  check_keys(routing, "routing", {"actions", "rules", "default", "unrouted"});

  // Actions. json objects iterate in key order, so actions_ comes out sorted by name.
  const json actions = routing.value("actions", json::object());
  if (!actions.is_object()) fail("routing.actions", "must be an object, got " + excerpt(actions));
  for (auto it = actions.begin(); it != actions.end(); ++it) {
    const std::string path = "routing.actions." + it.key();
    if (it.key().empty()) fail("routing.actions", "action names must be non-empty");
    if (!it->is_object()) fail(path, "must be an object, got " + excerpt(*it));
    if (it->contains("extends")) {
      const std::string& base = string_of(it->at("extends"), path + ".extends");
      if (!actions.contains(base)) fail(path + ".extends", "unknown action " + in_quotes(base));
    }
  }

  // Resolve inheritance depth-first; `chain` holds the actions being resolved, to detect cycles.
  std::map<std::string, json> resolved;
  std::vector<std::string> chain;
  std::function<const json&(const std::string&)> resolve = [&](const std::string& name) -> const json& {
    if (auto it = resolved.find(name); it != resolved.end()) return it->second;
    if (auto it = std::find(chain.begin(), chain.end(), name); it != chain.end()) {
      std::string cycle;
      for (; it != chain.end(); ++it) cycle += *it + " -> ";
      fail("routing.actions." + name + ".extends", "inheritance cycle " + cycle + name);
    }
    const json& raw = actions.at(name);
    json params = json::object();
    if (raw.contains("extends")) {
      chain.push_back(name);
      params = resolve(raw.at("extends").get<std::string>());
      chain.pop_back();
    }
    for (auto it = raw.begin(); it != raw.end(); ++it)
      if (it.key() != "extends") params[it.key()] = *it;  // shallow: a child key replaces the whole value
    return resolved.emplace(name, std::move(params)).first->second;
  };
  for (auto it = actions.begin(); it != actions.end(); ++it) actions_.push_back({it.key(), resolve(it.key())});

  const auto action_at = [&](const json& j, const std::string& path) -> size_t {
    const std::string& name = string_of(j, path);
    const auto it = std::lower_bound(actions_.begin(), actions_.end(), name,
                                     [](const Action& a, const std::string& n) { return a.name < n; });
    if (it == actions_.end() || it->name != name) fail(path, "unknown action " + in_quotes(name));
    return size_t(it - actions_.begin());
  };

  // Rules.
  const json rules = routing.value("rules", json::array());
  if (!rules.is_array()) fail("routing.rules", "must be an array, got " + excerpt(rules));
  std::map<std::string, size_t> names;  // name -> rule index, for duplicate messages
  std::map<int, size_t> priorities;     // priority -> rule index
  for (size_t i = 0; i < rules.size(); ++i) {
    const std::string path = "routing.rules[" + std::to_string(i) + "]";
    const json& r = rules[i];
    if (!r.is_object()) fail(path, "must be an object, got " + excerpt(r));
    check_keys(r, path,
               {"name", "types", "action", "priority", "min_probability", "min_region_area", "categories"});
    Rule rule;

    rule.name = r.contains("name") ? string_of(r.at("name"), path + ".name") : "rule" + std::to_string(i);
    if (auto [it, fresh] = names.emplace(rule.name, i); !fresh)
      fail(path + ".name", "duplicate rule name " + in_quotes(rule.name) + " (also routing.rules[" +
                               std::to_string(it->second) + "])");

    const json& types = required(r, "types", path);
    if (!types.is_array() || types.empty()) fail(path + ".types", "must be a non-empty array of type names");
    for (size_t t = 0; t < types.size(); ++t) {
      const std::string tpath = path + ".types[" + std::to_string(t) + "]";
      const std::string& type = string_of(types[t], tpath);
      const auto it = type_index.find(type);
      if (it == type_index.end()) fail(tpath, "unknown defect type " + in_quotes(type));
      if (std::find(rule.types.begin(), rule.types.end(), type) != rule.types.end())
        fail(tpath, "type " + in_quotes(type) + " is listed twice");
      rule.types.push_back(type);
      rule.type_index.push_back(it->second);
    }
    std::sort(rule.type_index.begin(), rule.type_index.end());  // matches list types in model order

    rule.action = action_at(required(r, "action", path), path + ".action");

    rule.priority = int_of(required(r, "priority", path), path + ".priority");
    // Unique priorities keep the decisive action independent of rule order.
    if (auto [it, fresh] = priorities.emplace(rule.priority, i); !fresh)
      fail(path + ".priority", "rules " + in_quotes(rule.name) + " and " + in_quotes(rules_[it->second].name) +
                                   " (routing.rules[" + std::to_string(it->second) + "]) both have priority " +
                                   std::to_string(rule.priority));

    if (r.contains("min_probability"))
      rule.min_probability = number_of(r.at("min_probability"), path + ".min_probability", 0.0, 1.0);
    if (r.contains("min_region_area"))
      rule.min_region_area = number_of(r.at("min_region_area"), path + ".min_region_area", 0.0,
                                       std::numeric_limits<double>::infinity());
    if (r.contains("categories")) {
      const json& cats = r.at("categories");
      if (!cats.is_array()) fail(path + ".categories", "must be an array of strings, got " + excerpt(cats));
      for (size_t c = 0; c < cats.size(); ++c)
        rule.categories.push_back(string_of(cats[c], path + ".categories[" + std::to_string(c) + "]"));
    }
    rules_.push_back(std::move(rule));
  }
  order_.resize(rules_.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  std::sort(order_.begin(), order_.end(),
            [&](size_t a, size_t b) { return rules_[a].priority > rules_[b].priority; });

  default_ = action_at(required(routing, "default", "routing"), "routing.default");
  has_unrouted_ = routing.contains("unrouted");
  unrouted_ = has_unrouted_ ? action_at(routing.at("unrouted"), "routing.unrouted") : default_;
}

namespace {

// The positive outcome with the highest probability (the first on ties); -1 when none is positive.
int most_probable_positive(const std::vector<TypeOutcome>& outcomes) {
  int best = -1;
  for (size_t k = 0; k < outcomes.size(); ++k)
    if (outcomes[k].decision && (best < 0 || outcomes[k].probability > outcomes[best].probability))
      best = static_cast<int>(k);
  return best;
}

}  // namespace

RoutingDecision Router::route(const std::vector<TypeOutcome>& outcomes, const std::string& category) const {
  if (check_size_ && outcomes.size() != type_names_.size())
    throw std::invalid_argument("Router::route: " + std::to_string(outcomes.size()) + " outcomes for " +
                                std::to_string(type_names_.size()) + " types");
  RoutingDecision d;
  size_t decisive = default_;
  for (const size_t ri : order_) {
    const Rule& r = rules_[ri];
    if (!r.categories.empty() && std::find(r.categories.begin(), r.categories.end(), category) == r.categories.end())
      continue;
    for (const size_t t : r.type_index) {
      const TypeOutcome& o = outcomes[t];
      if (!o.decision || !(o.probability >= r.min_probability) || double(o.largest_region_area) < r.min_region_area)
        continue;
      if (d.matches.empty()) {  // order_ is highest priority first
        decisive = r.action;
        d.decisive_type = static_cast<int>(t);
      }
      d.matches.push_back({r.name, actions_[r.action].name, type_names_[t], r.priority});
    }
  }
  if (d.matches.empty()) {
    d.decisive_type = most_probable_positive(outcomes);
    decisive = d.decisive_type >= 0 ? unrouted_ : default_;
  }
  d.action = actions_[decisive].name;
  d.params = actions_[decisive].params;
  return d;
}

json Router::describe() const {
  json d = json::object();
  d["actions"] = json::object();
  for (const Action& a : actions_) d["actions"][a.name] = a.params;
  d["rules"] = json::array();
  for (const Rule& r : rules_) {
    // Whole areas print as integers, the way they are usually written.
    const json area = r.min_region_area == std::floor(r.min_region_area) && r.min_region_area < 9e18
                          ? json(int64_t(r.min_region_area))
                          : json(r.min_region_area);
    d["rules"].push_back({{"name", r.name},
                          {"types", r.types},
                          {"action", actions_[r.action].name},
                          {"priority", r.priority},
                          {"min_probability", r.min_probability},
                          {"min_region_area", area},
                          {"categories", r.categories}});
  }
  d["default"] = actions_[default_].name;
  if (has_unrouted_) d["unrouted"] = actions_[unrouted_].name;
  return d;
}

}  // namespace mtfcdd
