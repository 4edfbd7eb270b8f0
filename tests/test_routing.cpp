#include <gtest/gtest.h>

#include "test_util.hpp"

#include <stdexcept>

#include "routing.hpp"

using namespace mtfcdd;
using mtfcdd::test::message_of;
using nlohmann::json;

namespace {

const std::vector<std::string> kTypes = {"contamination", "scratch",       "abrasion",
                                         "deformation",   "damage",        "missing_parts"};

json example() {
  return json::parse(R"({
    "actions": {
      "pass":    {},
      "clean":   {"station": 3, "note": "blow off"},
      "rework":  {"extends": "clean", "station": 5},
      "scrap":   {"bin": "red"}
    },
    "rules": [
      {"name": "contamination", "types": ["contamination"], "action": "clean", "priority": 10},
      {"name": "surface", "types": ["scratch", "abrasion"], "action": "rework", "priority": 20, "min_probability": 0.6},
      {"name": "structural", "types": ["deformation", "damage", "missing_parts"], "action": "scrap", "priority": 30,
       "min_region_area": 50, "categories": ["disc", "plate"]}
    ],
    "default": "pass",
    "unrouted": "scrap"
  })");
}

// A clean frame in model order; `defect` marks types as detected.
struct Frame {
  std::vector<TypeOutcome> outcomes;
  Frame() {
    for (const auto& t : kTypes) outcomes.push_back({t, false, 0.1, 0});
  }
  Frame& defect(const std::string& type, double probability, int64_t area, double length = 0) {
    for (auto& o : outcomes)
      if (o.name == type) o = {type, true, probability, area, length};
    return *this;
  }
};

// The (rule, type) pairs of a decision, in order, for compact comparisons.
std::vector<std::string> matched(const RoutingDecision& d) {
  std::vector<std::string> out;
  for (const auto& m : d.matches) out.push_back(m.rule + "/" + m.type);
  return out;
}

// The message of the error building a router from `routing` (with kTypes).
std::string error_of(const json& routing) {
  return message_of([&] { Router r(routing, kTypes); });
}

json with(json base, const json::json_pointer& at, const json& value) {
  base[at] = value;
  return base;
}

}  // namespace

// ---- routing ------------------------------------------------------------------------------

TEST(Routing, CleanFrameGetsDefault) {
  const Router r(example(), kTypes);
  const auto d = r.route(Frame().outcomes, "disc");
  EXPECT_EQ(d.action, "pass");
  EXPECT_EQ(d.params, json::object());
  EXPECT_TRUE(d.matches.empty());
  EXPECT_EQ(d.decisive_type, -1);
}

// A rule on the longest region's caliper length sends long scratches elsewhere than short ones.
TEST(Routing, MinRegionLengthSeparatesLongDefects) {
  const json cfg = json::parse(R"({
    "actions": {"pass": {}, "rework": {}, "scrap": {}},
    "rules": [{"name": "long scratch", "types": ["scratch"], "action": "scrap", "priority": 2, "min_region_length": 20},
              {"name": "scratch", "types": ["scratch"], "action": "rework", "priority": 1}],
    "default": "pass"
  })");
  const Router r(cfg, kTypes);
  EXPECT_EQ(r.route(Frame().defect("scratch", 0.9, 40, 25).outcomes).action, "scrap");
  EXPECT_EQ(r.route(Frame().defect("scratch", 0.9, 40, 20).outcomes).action, "scrap");  // at least 20
  EXPECT_EQ(r.route(Frame().defect("scratch", 0.9, 40, 19.5).outcomes).action, "rework");
  EXPECT_EQ(r.describe()["rules"][0]["min_region_length"], 20);
  EXPECT_NE(error_of(with(cfg, "/rules/0/min_region_length"_json_pointer, -1)).find("routing.rules[0].min_region_length"),
            std::string::npos);
}

TEST(Routing, SingleTypeRoutesToItsRule) {
  const Router r(example(), kTypes);
  const auto d = r.route(Frame().defect("contamination", 0.9, 120).outcomes);
  EXPECT_EQ(d.action, "clean");
  EXPECT_EQ(d.params, json({{"station", 3}, {"note", "blow off"}}));
  ASSERT_EQ(d.matches.size(), 1u);
  EXPECT_EQ(d.matches[0].rule, "contamination");
  EXPECT_EQ(d.matches[0].action, "clean");
  EXPECT_EQ(d.matches[0].type, "contamination");
  EXPECT_EQ(d.matches[0].priority, 10);
  EXPECT_EQ(d.decisive_type, 0);
}

TEST(Routing, HighestPriorityDecidesAndAllMatchesAreListed) {
  const Router r(example(), kTypes);
  const auto d = r.route(Frame().defect("scratch", 0.7, 30).defect("contamination", 0.9, 120).outcomes);
  EXPECT_EQ(d.action, "rework");
  EXPECT_EQ(d.params, json({{"station", 5}, {"note", "blow off"}}));
  EXPECT_EQ(d.decisive_type, 1);  // the decisive rule's scratch, though contamination is more probable
  ASSERT_EQ(d.matches.size(), 2u);
  EXPECT_EQ(d.matches[0].rule, "surface");
  EXPECT_EQ(d.matches[0].action, "rework");
  EXPECT_EQ(d.matches[0].type, "scratch");
  EXPECT_EQ(d.matches[0].priority, 20);
  EXPECT_EQ(d.matches[1].rule, "contamination");
  EXPECT_EQ(d.matches[1].action, "clean");
  EXPECT_EQ(d.matches[1].priority, 10);
}

TEST(Routing, MatchOrderIsPriorityThenModelTypeOrder) {
  const Router r(example(), kTypes);
  const auto d = r.route(Frame()
                             .defect("missing_parts", 0.9, 500)
                             .defect("abrasion", 0.8, 10)
                             .defect("contamination", 0.9, 5)
                             .defect("deformation", 0.9, 60)
                             .defect("scratch", 0.9, 10)
                             .outcomes,
                         "plate");
  EXPECT_EQ(d.action, "scrap");
  EXPECT_EQ(d.decisive_type, 3);  // deformation
  EXPECT_EQ(matched(d), (std::vector<std::string>{"structural/deformation", "structural/missing_parts",
                                                  "surface/scratch", "surface/abrasion",
                                                  "contamination/contamination"}));
}

TEST(Routing, RuleTypeListOrderDoesNotChangeMatchOrder) {
  const json cfg = with(example(), "/rules/1/types"_json_pointer, {"abrasion", "scratch"});
  const Router r(cfg, kTypes);
  const auto d = r.route(Frame().defect("abrasion", 0.9, 1).defect("scratch", 0.9, 1).outcomes);
  EXPECT_EQ(matched(d), (std::vector<std::string>{"surface/scratch", "surface/abrasion"}));
}

TEST(Routing, WeakDetectionFailsMinProbabilityAndIsUnrouted) {
  const Router r(example(), kTypes);
  const auto d = r.route(Frame().defect("scratch", 0.5, 200).outcomes);
  EXPECT_EQ(d.action, "scrap");
  EXPECT_EQ(d.params, json({{"bin", "red"}}));
  EXPECT_TRUE(d.matches.empty());
  EXPECT_EQ(d.decisive_type, 1);
}

// With no match, the decisive type is the most probable positive one, the first in model order on a tie.
TEST(Routing, UnmatchedDefectsDecisiveTypeIsTheMostProbable) {
  const Router r(example(), kTypes);
  EXPECT_EQ(r.route(Frame().defect("scratch", 0.5, 200).defect("abrasion", 0.55, 200).outcomes).decisive_type, 2);
  EXPECT_EQ(r.route(Frame().defect("abrasion", 0.5, 200).defect("scratch", 0.5, 200).outcomes).decisive_type, 1);
  EXPECT_EQ(Router().route(Frame().defect("damage", 0.2, 1).outcomes).decisive_type, 4);
}

TEST(Routing, WithoutUnroutedAFilteredDetectionGetsDefault) {
  json cfg = example();
  cfg.erase("unrouted");
  const Router r(cfg, kTypes);
  const auto d = r.route(Frame().defect("scratch", 0.5, 200).outcomes);
  EXPECT_EQ(d.action, "pass");
  EXPECT_EQ(d.params, json::object());
  EXPECT_TRUE(d.matches.empty());
}

TEST(Routing, ConditionBoundariesAreInclusive) {
  const Router r(example(), kTypes);
  EXPECT_EQ(matched(r.route(Frame().defect("scratch", 0.6, 0).outcomes)),
            std::vector<std::string>{"surface/scratch"});
  EXPECT_EQ(matched(r.route(Frame().defect("damage", 0.9, 50).outcomes, "disc")),
            std::vector<std::string>{"structural/damage"});
}

TEST(Routing, SmallRegionIsFilteredByArea) {
  const Router r(example(), kTypes);
  const auto d = r.route(Frame().defect("damage", 0.99, 49).outcomes, "disc");
  EXPECT_TRUE(d.matches.empty());
  EXPECT_EQ(d.action, "scrap");  // via unrouted, not via the structural rule
  const auto big = r.route(Frame().defect("damage", 0.99, 51).outcomes, "disc");
  EXPECT_EQ(matched(big), std::vector<std::string>{"structural/damage"});
}

TEST(Routing, OtherCategoryDoesNotMatch) {
  const Router r(example(), kTypes);
  EXPECT_TRUE(r.route(Frame().defect("damage", 0.99, 500).outcomes, "fabric").matches.empty());
  EXPECT_EQ(matched(r.route(Frame().defect("damage", 0.99, 500).outcomes, "plate")),
            std::vector<std::string>{"structural/damage"});
}

TEST(Routing, UnknownCategoryDoesNotMatchRuleWithCategories) {
  const Router r(example(), kTypes);
  const auto d = r.route(Frame().defect("damage", 0.99, 500).defect("contamination", 0.9, 10).outcomes);
  // structural needs a category; contamination has no categories, so it still matches.
  EXPECT_EQ(matched(d), std::vector<std::string>{"contamination/contamination"});
  EXPECT_EQ(d.action, "clean");
}

TEST(Routing, NegativeDecisionNeverMatches) {
  const Router r(example(), kTypes);
  Frame f;
  f.outcomes[0] = {"contamination", false, 0.99, 1000};  // high score but below the type's threshold
  const auto d = r.route(f.outcomes);
  EXPECT_EQ(d.action, "pass");
  EXPECT_TRUE(d.matches.empty());
}

TEST(Routing, OutcomeCountMismatchIsInvalidArgument) {
  const Router r(example(), kTypes);
  auto outcomes = Frame().outcomes;
  outcomes.pop_back();
  EXPECT_THROW(r.route(outcomes), std::invalid_argument);
  EXPECT_THROW(r.route({}), std::invalid_argument);
}

TEST(Routing, RouterIsCopyable) {
  Router copy;
  {
    const Router r(example(), kTypes);
    copy = r;
  }
  EXPECT_EQ(copy.route(Frame().defect("scratch", 0.7, 1).outcomes).action, "rework");
}

// ---- actions ------------------------------------------------------------------------------

TEST(RoutingActions, ExtendsInheritsAndOverrides) {
  const json d = Router(example(), kTypes).describe();
  EXPECT_EQ(d["actions"]["rework"], json({{"station", 5}, {"note", "blow off"}}));
  EXPECT_EQ(d["actions"]["clean"], json({{"station", 3}, {"note", "blow off"}}));
}

TEST(RoutingActions, ExtendsIsTransitiveAndShallow) {
  const json cfg = json::parse(R"({
    "actions": {
      "c": {"extends": "b", "z": 3},
      "b": {"extends": "a", "y": 2, "x": 20},
      "a": {"x": 1, "nested": {"p": 1, "q": 2}},
      "d": {"extends": "a", "nested": {"p": 9}}
    },
    "default": "c"
  })");
  const Router r(cfg, kTypes);
  const json actions = r.describe()["actions"];
  EXPECT_EQ(actions["c"], json({{"x", 20}, {"y", 2}, {"z", 3}, {"nested", {{"p", 1}, {"q", 2}}}}));
  EXPECT_EQ(actions["d"], json({{"x", 1}, {"nested", {{"p", 9}}}}));  // a child key replaces the whole value
  EXPECT_EQ(r.route(Frame().outcomes).params, actions["c"]);
}

// ---- empty routing ------------------------------------------------------------------------

TEST(RoutingEmpty, EmptyObjectAndNullMeanPassEverything) {
  for (const json& cfg : {json::object(), json()}) {
    const Router r(cfg, kTypes);
    for (const auto& frame : {Frame(), Frame().defect("damage", 0.99, 1000)}) {
      const auto d = r.route(frame.outcomes, "disc");
      EXPECT_EQ(d.action, "pass");
      EXPECT_EQ(d.params, json::object());
      EXPECT_TRUE(d.matches.empty());
    }
    EXPECT_EQ(r.describe(), json::parse(R"({"actions": {"pass": {}}, "rules": [], "default": "pass"})"));
  }
}

TEST(RoutingEmpty, DefaultConstructedRoutesAnyOutcomes) {
  const Router r;
  EXPECT_EQ(r.route({}).action, "pass");
  EXPECT_EQ(r.route(Frame().defect("scratch", 0.9, 10).outcomes).action, "pass");
  EXPECT_EQ(r.describe(), Router(json::object(), kTypes).describe());
}

// ---- describe -----------------------------------------------------------------------------

TEST(RoutingDescribe, ShowsResolvedConfiguration) {
  const json expected = json::parse(R"({
    "actions": {
      "pass":   {},
      "clean":  {"station": 3, "note": "blow off"},
      "rework": {"station": 5, "note": "blow off"},
      "scrap":  {"bin": "red"}
    },
    "rules": [
      {"name": "contamination", "types": ["contamination"], "action": "clean", "priority": 10,
       "min_probability": 0.0, "min_region_area": 0, "min_region_length": 0,
       "categories": []},
      {"name": "surface", "types": ["scratch", "abrasion"], "action": "rework", "priority": 20,
       "min_probability": 0.6, "min_region_area": 0, "min_region_length": 0,
       "categories": []},
      {"name": "structural", "types": ["deformation", "damage", "missing_parts"], "action": "scrap", "priority": 30,
       "min_probability": 0.0, "min_region_area": 50, "min_region_length": 0, "categories": ["disc", "plate"]}
    ],
    "default": "pass",
    "unrouted": "scrap"
  })");
  EXPECT_EQ(Router(example(), kTypes).describe(), expected);
}

TEST(RoutingDescribe, DefaultRuleNamesAndNoUnrouted) {
  const json cfg = json::parse(R"({
    "actions": {"pass": {}, "scrap": {}},
    "rules": [{"types": ["damage"], "action": "scrap", "priority": 1},
              {"types": ["scratch"], "action": "scrap", "priority": 2, "min_region_area": 12.5}],
    "default": "pass"
  })");
  const Router r(cfg, kTypes);
  const json d = r.describe();
  EXPECT_EQ(d["rules"][0]["name"], "rule0");
  EXPECT_EQ(d["rules"][1]["name"], "rule1");
  EXPECT_EQ(d["rules"][1]["min_region_area"], 12.5);
  EXPECT_FALSE(d.contains("unrouted"));
  EXPECT_EQ(r.route(Frame().defect("damage", 0.9, 1).outcomes).matches.at(0).rule, "rule0");
}

TEST(RoutingDescribe, IsAnEquivalentConfiguration) {
  const Router r(example(), kTypes);
  const Router again(r.describe(), kTypes);
  EXPECT_EQ(again.describe(), r.describe());
  const auto frame = Frame().defect("scratch", 0.7, 30).defect("contamination", 0.9, 120).outcomes;
  EXPECT_EQ(matched(again.route(frame)), matched(r.route(frame)));
  EXPECT_EQ(again.route(frame).params, r.route(frame).params);
}

// ---- configuration errors -----------------------------------------------------------------

TEST(RoutingErrors, UnknownType) {
  const auto msg = error_of(with(example(), "/rules/1/types/1"_json_pointer, "abrasions"));
  EXPECT_NE(msg.find("routing.rules[1].types[1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'abrasions'"), std::string::npos) << msg;
}

TEST(RoutingErrors, DuplicateTypeInRule) {
  const auto msg = error_of(with(example(), "/rules/1/types/1"_json_pointer, "scratch"));
  EXPECT_NE(msg.find("routing.rules[1].types[1]"), std::string::npos) << msg;
}

TEST(RoutingErrors, UnknownAction) {
  const auto msg = error_of(with(example(), "/rules/2/action"_json_pointer, "scarp"));
  EXPECT_NE(msg.find("routing.rules[2].action"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'scarp'"), std::string::npos) << msg;
}

TEST(RoutingErrors, UnknownDefaultOrUnroutedAction) {
  EXPECT_NE(error_of(with(example(), "/default"_json_pointer, "ok")).find("routing.default: unknown action 'ok'"),
            std::string::npos);
  EXPECT_NE(error_of(with(example(), "/unrouted"_json_pointer, "bin")).find("routing.unrouted: unknown action 'bin'"),
            std::string::npos);
  // No implicit "pass" once a configuration is given.
  EXPECT_NE(error_of(json{{"default", "pass"}}).find("routing.default: unknown action 'pass'"), std::string::npos);
}

TEST(RoutingErrors, ExtendsUnknownAction) {
  const auto msg = error_of(with(example(), "/actions/rework/extends"_json_pointer, "cleen"));
  EXPECT_NE(msg.find("routing.actions.rework.extends"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'cleen'"), std::string::npos) << msg;
}

TEST(RoutingErrors, ExtendsCycle) {
  json cfg = example();
  cfg["actions"]["clean"]["extends"] = "rework";
  const auto msg = error_of(cfg);
  EXPECT_NE(msg.find("routing.actions.clean.extends"), std::string::npos) << msg;
  EXPECT_NE(msg.find("clean -> rework -> clean"), std::string::npos) << msg;

  // A longer cycle entered from outside names only the actions on the cycle.
  const json three = json::parse(R"({
    "actions": {"a": {"extends": "c"}, "b": {"extends": "d"}, "c": {"extends": "b"}, "d": {"extends": "c"}},
    "default": "a"
  })");
  const auto msg3 = error_of(three);
  EXPECT_NE(msg3.find("inheritance cycle c -> b -> d -> c"), std::string::npos) << msg3;
}

// "extends" is resolved without recursion (a chain of 50,000 actions overflowed the stack) and
// at most 64 links deep, whichever end of a chain comes first in name order.
TEST(RoutingErrors, ExtendsChainsAreCappedNotRecursed) {
  const auto chain = [](int links, bool root_first) {
    json cfg = {{"actions", json::object()}, {"default", "a00000"}};
    const auto name = [&](int i) {
      const std::string n = std::to_string(root_first ? i : links - i);
      return "a" + std::string(5 - n.size(), '0') + n;  // name order is chain order
    };
    cfg["actions"][name(0)] = {{"p0", 0}};
    for (int i = 1; i <= links; ++i) cfg["actions"][name(i)] = {{"extends", name(i - 1)}, {"p" + std::to_string(i), i}};
    return cfg;
  };
  for (bool root_first : {true, false}) {
    SCOPED_TRACE(root_first ? "root first" : "leaf first");
    const Router r(chain(64, root_first), kTypes);
    const json leaf = r.describe().at("actions").at(root_first ? "a00064" : "a00000");
    EXPECT_EQ(leaf.size(), 65u);  // its own key and its 64 ancestors'
    EXPECT_EQ(leaf.at("p0"), 0);
    for (int links : {65, 50000})
      EXPECT_NE(error_of(chain(links, root_first)).find("extends: more than 64 links up to its root action"),
                std::string::npos)
          << links;
  }
}

TEST(RoutingErrors, ExtendsSelf) {
  const auto msg = error_of(with(example(), "/actions/scrap/extends"_json_pointer, "scrap"));
  EXPECT_NE(msg.find("routing.actions.scrap.extends"), std::string::npos) << msg;
  EXPECT_NE(msg.find("scrap -> scrap"), std::string::npos) << msg;
}

TEST(RoutingErrors, DuplicatePriorityNamesBothRules) {
  const auto msg = error_of(with(example(), "/rules/2/priority"_json_pointer, 10));
  EXPECT_NE(msg.find("routing.rules[2].priority"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'structural'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'contamination'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("routing.rules[0]"), std::string::npos) << msg;
}

TEST(RoutingErrors, DuplicateRuleName) {
  const auto msg = error_of(with(example(), "/rules/2/name"_json_pointer, "surface"));
  EXPECT_NE(msg.find("routing.rules[2].name"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'surface'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("routing.rules[1]"), std::string::npos) << msg;
}

TEST(RoutingErrors, MissingRequiredEntries) {
  json cfg = example();
  cfg.erase("default");
  EXPECT_EQ(error_of(cfg), "routing.default: missing");
  for (const char* key : {"types", "action", "priority"}) {
    json c = example();
    c["rules"][1].erase(key);
    EXPECT_EQ(error_of(c), std::string("routing.rules[1].") + key + ": missing");
  }
}

TEST(RoutingErrors, UnknownKeys) {
  json rule = example();
  rule["rules"][1]["min_probabilty"] = 0.6;
  const auto msg = error_of(rule);
  EXPECT_NE(msg.find("routing.rules[1].min_probabilty: unknown key"), std::string::npos) << msg;

  json top = example();
  top["unroutd"] = "scrap";
  EXPECT_NE(error_of(top).find("routing.unroutd: unknown key"), std::string::npos) << error_of(top);
}

TEST(RoutingErrors, ConditionRanges) {
  const auto high = error_of(with(example(), "/rules/1/min_probability"_json_pointer, 1.5));
  EXPECT_NE(high.find("routing.rules[1].min_probability"), std::string::npos) << high;
  const auto low = error_of(with(example(), "/rules/1/min_probability"_json_pointer, -0.1));
  EXPECT_NE(low.find("routing.rules[1].min_probability"), std::string::npos) << low;
  const auto area = error_of(with(example(), "/rules/2/min_region_area"_json_pointer, -1));
  EXPECT_NE(area.find("routing.rules[2].min_region_area"), std::string::npos) << area;
  // The ends of the ranges are allowed.
  EXPECT_NO_THROW(Router(with(example(), "/rules/1/min_probability"_json_pointer, 1), kTypes));
  EXPECT_NO_THROW(Router(with(example(), "/rules/1/min_probability"_json_pointer, 0), kTypes));
}

TEST(RoutingErrors, WrongJsonTypes) {
  struct Case {
    const char* pointer;
    json value;
    const char* path;  // the entry the message must name
  };
  const std::vector<Case> cases = {
      {"/rules/0/priority", "10", "routing.rules[0].priority: must be an integer"},
      {"/rules/0/priority", 10.5, "routing.rules[0].priority: must be an integer"},
      {"/rules/0/priority", 5000000000LL, "routing.rules[0].priority: must be an integer"},
      {"/rules/0/types", "contamination", "routing.rules[0].types: must be a non-empty array"},
      {"/rules/0/types", json::array(), "routing.rules[0].types: must be a non-empty array"},
      {"/rules/0/types/0", 3, "routing.rules[0].types[0]: must be a non-empty string"},
      {"/rules/0/action", 1, "routing.rules[0].action: must be a non-empty string"},
      {"/rules/0/name", 7, "routing.rules[0].name: must be a non-empty string"},
      {"/rules/0/name", "", "routing.rules[0].name: must be a non-empty string"},
      {"/rules/0/min_probability", "0.5", "routing.rules[0].min_probability: must be a number"},
      {"/rules/0/min_region_area", true, "routing.rules[0].min_region_area: must be a number"},
      {"/rules/0/categories", "disc", "routing.rules[0].categories: must be an array"},
      {"/rules/0/categories", {1}, "routing.rules[0].categories[0]: must be a non-empty string"},
      {"/actions/clean", "station 3", "routing.actions.clean: must be an object"},
      {"/actions/rework/extends", 5, "routing.actions.rework.extends: must be a non-empty string"},
      {"/default", 0, "routing.default: must be a non-empty string"},
  };
  for (const auto& c : cases) {
    const auto msg = error_of(with(example(), json::json_pointer(c.pointer), c.value));
    EXPECT_NE(msg.find(c.path), std::string::npos) << c.pointer << ": " << msg;
  }
  EXPECT_NE(error_of(json::array()).find("routing: must be an object"), std::string::npos);
  EXPECT_NE(error_of(json{{"rules", json::object()}, {"default", "pass"}}).find("routing.rules: must be an array"),
            std::string::npos);
  EXPECT_NE(error_of(json{{"actions", json::array()}}).find("routing.actions: must be an object"), std::string::npos);
  EXPECT_NE(error_of(with(example(), "/rules/1"_json_pointer, "surface")).find("routing.rules[1]: must be an object"),
            std::string::npos);
}

TEST(RoutingErrors, DuplicateModelType) {
  const auto msg = message_of([] { Router r(example(), {"scratch", "scratch"}); });
  EXPECT_NE(msg.find("type_names: duplicate type 'scratch'"), std::string::npos) << msg;
}
