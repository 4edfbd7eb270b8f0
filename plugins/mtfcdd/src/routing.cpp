#include "routing.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <mtfcdd/json_input.hpp>
#include <stdexcept>

namespace mtfcdd {
namespace {

using nlohmann::json;

using Reader = JsonReader<std::runtime_error>;

std::string in_quotes(const std::string& s) { return "'" + excerpt(s) + "'"; }

// A non-empty string at `key`.
std::string name_at(const Reader& r, const std::string& key) {
  const json& v = r.at(key);
  if (!v.is_string() || v.get_ref<const std::string&>().empty())
    r.fail(key, "must be a non-empty string, got " + excerpt(v));
  return v.get<std::string>();
}

// The strings of the array at `key` (each non-empty).
std::vector<std::string> names_at(const Reader& r, const std::string& key) {
  const json& a = r.at(key);
  if (!a.is_array()) r.fail(key, "must be an array of strings, got " + excerpt(a));
  std::vector<std::string> out;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string() || a[i].get_ref<const std::string&>().empty())
      r.fail(key + "[" + std::to_string(i) + "]", "must be a non-empty string, got " + excerpt(a[i]));
    out.push_back(a[i].get<std::string>());
  }
  return out;
}

std::map<std::string, int> count_names(const std::vector<std::string>& names) {
  std::map<std::string, int> out;
  for (const auto& n : names) ++out[n];
  return out;
}

// The most "extends" links from an action to its root: each link copies its parent's parameters,
// so a long chain of actions with a key each would be quadratic in memory; real ones have a few.
constexpr size_t kMaxExtends = 64;

// `name`, its parent, ... up to an action already in `resolved` or a root; an error on a cycle.
std::vector<std::string> unresolved_chain(const Reader& actions, const std::string& name,
                                          const std::map<std::string, json>& resolved) {
  std::vector<std::string> chain{name};
  std::set<std::string> on_chain{name};
  while (!resolved.count(chain.back()) && actions.json().at(chain.back()).contains("extends")) {
    const std::string parent = actions.json().at(chain.back()).at("extends").get<std::string>();
    if (!on_chain.insert(parent).second) {
      std::string cycle;
      for (auto it = std::find(chain.begin(), chain.end(), parent); it != chain.end(); ++it) cycle += *it + " -> ";
      actions.child(parent).fail("extends", "inheritance cycle " + cycle + parent);
    }
    chain.push_back(parent);
  }
  return chain;
}

// Each action's parameters with "extends" resolved (a child key replaces the parent's whole value),
// by name. Unknown parents, cycles and chains of more than kMaxExtends links are errors.
std::map<std::string, json> resolve_actions(const Reader& actions) {
  for (auto it = actions.json().begin(); it != actions.json().end(); ++it) {
    if (it.key().empty()) actions.fail("", "action names must be non-empty");
    const Reader a = actions.child(it.key());
    if (a.has("extends") && !actions.has(name_at(a, "extends")))
      a.fail("extends", "unknown action " + in_quotes(a.text("extends")));
  }
  std::map<std::string, json> resolved;
  std::map<std::string, size_t> links;  // from each resolved action to its root
  for (auto it = actions.json().begin(); it != actions.json().end(); ++it) {
    const std::vector<std::string> chain = unresolved_chain(actions, it.key(), resolved);
    for (auto c = chain.rbegin(); c != chain.rend(); ++c) {  // root first: each parent is resolved
      if (resolved.count(*c)) continue;
      const json& raw = actions.json().at(*c);
      const std::string* parent = raw.contains("extends") ? &raw.at("extends").get_ref<const std::string&>() : nullptr;
      const size_t depth = parent ? links.at(*parent) + 1 : 0;
      if (depth > kMaxExtends)
        actions.child(*c).fail("extends", "more than " + std::to_string(kMaxExtends) + " links up to its root action");
      links[*c] = depth;
      json params = parent ? resolved.at(*parent) : json::object();
      for (auto kv = raw.begin(); kv != raw.end(); ++kv)
        if (kv.key() != "extends") params[kv.key()] = *kv;
      resolved.emplace(*c, std::move(params));
    }
  }
  return resolved;
}

}  // namespace

Router::Router() : Router(json::object(), {}) { check_size_ = false; }

Router::Router(const json& routing, const std::vector<std::string>& type_names) : type_names_(type_names) {
  for (const auto& [name, count] : count_names(type_names_))
    if (count > 1) throw std::runtime_error("type_names: duplicate type " + in_quotes(name));
  if (routing.is_null() || (routing.is_object() && routing.empty())) {
    actions_.push_back({"pass", json::object()});
    return;
  }
  const Reader r(routing, "", "routing");
  r.only({"actions", "rules", "default", "unrouted"});
  // std::map iterates in key order, so actions_ comes out sorted by name.
  for (auto& [name, params] : resolve_actions(r.child_or_empty("actions"))) actions_.push_back({name, params});
  const json rules = r.has("rules") ? r.at("rules") : json::array();
  if (!rules.is_array()) r.fail("rules", "must be an array, got " + excerpt(rules));
  std::map<std::string, size_t> names;  // name -> rule index, for duplicate messages
  std::map<int, size_t> priorities;     // priority -> rule index
  for (size_t i = 0; i < rules.size(); ++i) {
    const Reader rule = r.child_at("rules", i);
    rules_.push_back(read_rule(rule, i));
    const Rule& added = rules_.back();
    // Unique priorities keep the decisive action independent of rule order.
    if (auto [it, fresh] = names.emplace(added.name, i); !fresh)
      rule.fail("name", "duplicate rule name " + in_quotes(added.name) + " (also routing.rules[" +
                            std::to_string(it->second) + "])");
    if (auto [it, fresh] = priorities.emplace(added.priority, i); !fresh)
      rule.fail("priority", "rules " + in_quotes(added.name) + " and " + in_quotes(rules_[it->second].name) +
                                " (routing.rules[" + std::to_string(it->second) + "]) both have priority " +
                                std::to_string(added.priority));
  }
  order_.resize(rules_.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  std::sort(order_.begin(), order_.end(), [&](size_t a, size_t b) { return rules_[a].priority > rules_[b].priority; });
  default_ = action_index(r, "default");
  has_unrouted_ = r.has("unrouted");
  unrouted_ = has_unrouted_ ? action_index(r, "unrouted") : default_;
}

size_t Router::action_index(const JsonReader<>& r, const std::string& key) const {
  const std::string name = name_at(r, key);
  const auto it = std::lower_bound(actions_.begin(), actions_.end(), name,
                                   [](const Action& a, const std::string& n) { return a.name < n; });
  if (it == actions_.end() || it->name != name) r.fail(key, "unknown action " + in_quotes(name));
  return size_t(it - actions_.begin());
}

// Rule i (unnamed: "rule<i>").
Router::Rule Router::read_rule(const JsonReader<>& r, size_t i) const {
  r.only({"name", "types", "action", "priority", "min_probability", "min_region_area", "min_region_length",
          "categories"});
  Rule rule;
  rule.name = r.has("name") ? name_at(r, "name") : "rule" + std::to_string(i);
  if (!r.at("types").is_array() || r.at("types").empty())
    r.fail("types", "must be a non-empty array of type names, got " + excerpt(r.at("types")));
  rule.types = names_at(r, "types");
  for (size_t t = 0; t < rule.types.size(); ++t) {
    const std::string where = "types[" + std::to_string(t) + "]";
    const auto it = std::find(type_names_.begin(), type_names_.end(), rule.types[t]);
    if (it == type_names_.end()) r.fail(where, "unknown defect type " + in_quotes(rule.types[t]));
    if (std::find(rule.types.begin(), rule.types.begin() + t, rule.types[t]) != rule.types.begin() + t)
      r.fail(where, "type " + in_quotes(rule.types[t]) + " is listed twice");
    rule.type_index.push_back(size_t(it - type_names_.begin()));
  }
  std::sort(rule.type_index.begin(), rule.type_index.end());  // matches list types in model order
  rule.action = action_index(r, "action");
  rule.priority = static_cast<int>(r.integer("priority", std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
  rule.min_probability = r.has("min_probability") ? r.number("min_probability", 0.0, 1.0) : 0.0;
  rule.min_region_area = r.number("min_region_area", 0.0, std::numeric_limits<double>::max(), 0.0);
  rule.min_region_length = r.number("min_region_length", 0.0, std::numeric_limits<double>::max(), 0.0);
  if (r.has("categories")) rule.categories = names_at(r, "categories");
  return rule;
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
      if (!o.decision || !(o.probability >= r.min_probability) || double(o.largest_region_area) < r.min_region_area ||
          o.longest_region_length < r.min_region_length)
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
  // Whole pixel counts print as integers, the way they are usually written.
  const auto pixels = [](double v) { return v == std::floor(v) && v < 9e18 ? json(int64_t(v)) : json(v); };
  for (const Rule& r : rules_) {
    d["rules"].push_back({{"name", r.name},
                          {"types", r.types},
                          {"action", actions_[r.action].name},
                          {"priority", r.priority},
                          {"min_probability", r.min_probability},
                          {"min_region_area", pixels(r.min_region_area)},
                          {"min_region_length", pixels(r.min_region_length)},
                          {"categories", r.categories}});
  }
  d["default"] = actions_[default_].name;
  if (has_unrouted_) d["unrouted"] = actions_[unrouted_].name;
  return d;
}

}  // namespace mtfcdd
