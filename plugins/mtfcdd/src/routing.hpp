// Routing of per-type defect outcomes to downstream actions (modelled on DeepStream's per-class
// config groups). The configuration is a JSON object:
//
//   {
//     "actions": {"pass": {}, "clean": {"station": 3}, "rework": {"extends": "clean", "station": 5}},
//     "rules": [{"name": "surface", "types": ["scratch"], "action": "rework", "priority": 20,
//                "min_probability": 0.6, "min_region_area": 50, "min_region_length": 20,
//                "categories": ["disc"]}],
//     "default": "pass",
//     "unrouted": "scrap"
//   }
//
// - actions: named, with free parameters; "extends" inherits another action's parameters (child keys
//   override, resolved transitively over at most 64 links, "extends" itself dropped).
// - rules: a rule matches a type when the type's decision is true and every condition holds. The
//   matched rule with the highest priority decides the action; priorities and names are unique.
// - default: the action for a clean frame (no type decided defective).
// - unrouted: the action for a defective frame that no rule matched. When absent, such a frame gets
//   `default`: conditions like min_probability deliberately filter weak detections, so a filtered
//   detection is treated like no detection. Set `unrouted` to catch them instead.
// - An empty (or null) configuration means a single action "pass" with {} params as default, no rules.
//
// Unknown keys (top level, rules) are errors, so typos such as "min_probabilty" cannot silently
// disable a condition. Errors are std::runtime_error naming the entry, e.g. "routing.rules[2].action".
#pragma once

#include <cstdint>
#include <mtfcdd/json_input.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mtfcdd {

struct TypeOutcome {
  std::string name;
  bool decision = false;
  double probability = 0;
  int64_t largest_region_area = 0;    // frame pixels
  double longest_region_length = 0;  // frame pixels: the largest caliper length of its regions
};

struct RouteMatch {
  std::string rule, action, type;
  int priority = 0;
};

struct RoutingDecision {
  std::string action;               // the decisive action
  nlohmann::json params;            // its resolved parameters (object)
  std::vector<RouteMatch> matches;  // every (rule, type) that matched, highest priority first
                                    // (ties: rule order, then the model's type order)
  // Index into the outcomes of the type that decided: the first match's; with no match, the most
  // probable positive type (the first on ties); -1 when no type is positive.
  int decisive_type = -1;
};

class Router {
 public:
  // The empty routing: action "pass" for every frame. Knows no types, so route() accepts outcomes of
  // any size.
  Router();
  // Throws std::runtime_error naming the offending entry. type_names = the model's types, in order.
  Router(const nlohmann::json& routing, const std::vector<std::string>& type_names);

  // Outcomes are in the model's type order; a size mismatch with type_names is std::invalid_argument.
  // A rule matches a type when the type's decision is true, probability >= min_probability, largest
  // region area >= min_region_area, longest region length >= min_region_length and, when the rule
  // lists categories, `category` is one of them (an unknown category, "", then does not match).
  RoutingDecision route(const std::vector<TypeOutcome>& outcomes, const std::string& category = "") const;

  // The resolved configuration: actions with resolved params (no "extends"), rules in configuration
  // order with every condition spelled out, default, and unrouted when configured. It is itself a
  // valid configuration that routes identically.
  nlohmann::json describe() const;

 private:
  struct Action {
    std::string name;
    nlohmann::json params;
  };
  struct Rule {
    std::string name;
    std::vector<std::string> types;  // as configured, for describe()
    std::vector<size_t> type_index;  // into the outcomes, ascending (model order)
    size_t action = 0;               // into actions_
    int priority = 0;
    double min_probability = 0;
    double min_region_area = 0;
    double min_region_length = 0;
    std::vector<std::string> categories;  // empty = any
  };

  size_t action_index(const JsonReader<>& r, const std::string& key) const;
  Rule read_rule(const JsonReader<>& r, size_t i) const;

  std::vector<std::string> type_names_;
  bool check_size_ = true;       // false for Router(), which knows no types
  std::vector<Action> actions_;  // sorted by name
  std::vector<Rule> rules_;      // configuration order
  std::vector<size_t> order_;    // rules_ indices, highest priority first
  size_t default_ = 0;
  size_t unrouted_ = 0;          // == default_ when not configured
  bool has_unrouted_ = false;
};

}  // namespace mtfcdd
