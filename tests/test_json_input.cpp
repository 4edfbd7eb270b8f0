// The helpers every reader of user JSON goes through (plugins/mtfcdd/include/mtfcdd/json_input.hpp).
#include <gtest/gtest.h>

#include <mtfcdd/json_input.hpp>

using namespace mtfcdd;
using nlohmann::json;

namespace {

std::string nested(int depth, const std::string& inner = "1") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

}  // namespace

TEST(JsonInput, ParseRefusesNestingBeyondTheLimit) {
  EXPECT_EQ(parse_json(nested(kMaxJsonDepth)).dump(), nested(kMaxJsonDepth));
  EXPECT_THROW(parse_json(nested(kMaxJsonDepth + 1)), JsonTooDeep);
  EXPECT_THROW(parse_json(nested(3, "{\"a\": [1]}"), 4), JsonTooDeep);  // objects count too
  EXPECT_NO_THROW(parse_json(nested(2, "{\"a\": [1]}"), 4));
  // 100,000 deep used to overflow the stack when the value was copied; now it stops at the limit.
  EXPECT_THROW(parse_json(nested(100000)), JsonTooDeep);
  EXPECT_THROW(parse_json("{\"a\": "), json::parse_error);
}

TEST(JsonInput, ExcerptCutsLongValuesAtACharacterBoundary) {
  EXPECT_EQ(excerpt(std::string("short")), "short");
  EXPECT_EQ(excerpt(std::string(300, 'x')), std::string(200, 'x') + "...");
  // "é" is two bytes; a cut after byte 3 of "aéé" would split the second one.
  EXPECT_EQ(excerpt(std::string("a\xC3\xA9\xC3\xA9"), 4), "a\xC3\xA9...");
  EXPECT_EQ(excerpt(json(std::string(1000, 'y'))).size(), 203u);
}

TEST(JsonInput, IntegerInIsStrict) {
  EXPECT_EQ(integer_in(json(128), 1, 16384), 128);
  EXPECT_FALSE(integer_in(json(128.5), 1, 16384));
  EXPECT_FALSE(integer_in(json(128.0), 1, 16384));
  EXPECT_FALSE(integer_in(json(4294967424ull), 1, 16384));  // wrapped to 128 through get<int>()
  EXPECT_FALSE(integer_in(json(18446744073709551615ull), 0, std::numeric_limits<int64_t>::max()));
  EXPECT_FALSE(integer_in(json(-1), 0, 10));
  EXPECT_FALSE(integer_in(json("7"), 0, 10));
  EXPECT_EQ(integer_in(json(-5), -10, 10), -5);
}

TEST(JsonInput, FiniteFloat) {
  EXPECT_TRUE(is_finite_float(3.4e38));
  EXPECT_FALSE(is_finite_float(1e39));
  EXPECT_FALSE(is_finite_float(-1e39));
  EXPECT_FALSE(is_finite_float(std::nan("")));
}

namespace {

// The message JsonReader throws for `f`, or "" when it does not throw.
template <class F>
std::string reader_error(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

using Reader = JsonReader<ConfigError>;

enum class Fruit { Apple, Pear };

}  // namespace

template <>
struct mtfcdd::Names<Fruit> {
  static constexpr std::pair<Fruit, const char*> table[] = {{Fruit::Apple, "apple"}, {Fruit::Pear, "pear"}};
};

// Every message is "SOURCE: PATH.KEY: what", the value quoted shortened.
TEST(JsonReader, MessagesNameSourcePathAndKey) {
  const json j = {{"input", {{"width", 128.5}, {"layout", "NHWC"}}}, {"types", {{{"name", ""}}}}};
  const Reader r(j, "model.json");
  EXPECT_EQ(reader_error([&] { r.child("input").integer("width", 1, 16384); }),
            "model.json: input.width: must be an integer 1 .. 16384, got 128.5");
  EXPECT_EQ(reader_error([&] { r.child("heatmap"); }), "model.json: heatmap: missing");
  EXPECT_EQ(reader_error([&] { r.child_at("types", 0).integer("size", 0); }), "model.json: types[0].size: missing");
  EXPECT_EQ(reader_error([&] { r.child_at("types", 1); }),
            "model.json: types: must be an array of at least 2 objects");
  const json array = json::array();
  EXPECT_EQ(reader_error([&] { Reader(array, "config"); }), "config: must be an object, got []");
  EXPECT_EQ(reader_error([&] { Reader(j, "", "routing").text("input"); }),
            "routing.input: must be a string, got {\"layout\":\"NHWC\",\"width\":128.5}");
}

TEST(JsonReader, UnknownKeysAreRefusedListingTheKnownOnes) {
  const json j = {{"model", "m"}, {"colour", 1}}, one = {{"x", 1}};
  const Reader r(j, "config");
  EXPECT_EQ(reader_error([&] { r.only({"model", "threads"}); }),
            "config: colour: unknown key (expected one of: model, threads)");
  EXPECT_EQ(reader_error([&] { r.only({"model"}, {"colour"}); }), "");
  EXPECT_EQ(reader_error([&] { Reader(one, "s").only({}); }), "s: x: unknown key (none is taken)");
}

TEST(JsonReader, NumbersFlagsAndFallbacks) {
  const json j = {{"t", 1e39}, {"p", 0.5}, {"a", -1}, {"on", "yes"}, {"n", 4294967424ull}};
  const Reader r(j, "c");
  EXPECT_EQ(reader_error([&] { r.number("t"); }), "c: t: must be a finite float32 number, got 1e+39");
  EXPECT_EQ(r.number("p", 0, 1), 0.5);
  EXPECT_EQ(reader_error([&] { r.number("a", 0, std::numeric_limits<double>::max()); }), "c: a: must be >= 0.0, got -1");
  EXPECT_EQ(reader_error([&] { r.flag("on"); }), "c: on: must be true or false, got \"yes\"");
  EXPECT_EQ(reader_error([&] { r.integer("n", 0, 1000); }), "c: n: must be an integer 0 .. 1000, got 4294967424");
  EXPECT_EQ(r.integer("absent", 0, 10, 7), 7);
  EXPECT_EQ(r.flag("absent", true), true);
  EXPECT_EQ(r.text("absent", "x"), "x");
}

TEST(JsonReader, ChoicesAreNamedFromTheirTables) {
  const json j = {{"axis", "both"}, {"mode", 3}}, k = {{"fruit", "pear"}, {"bad", "plum"}};
  const Reader r(j, "stage");
  EXPECT_EQ(r.one_of("axis", {"horizontal", "vertical", "both"}), 2u);
  EXPECT_EQ(r.one_of("absent", {"a", "b"}, 1), 1u);
  EXPECT_EQ(reader_error([&] { r.one_of("mode", {"minmax", "equalize"}); }),
            "stage: mode: must be one of minmax, equalize, got 3");
  const Reader f(k, "basket.json", "shelf");
  EXPECT_EQ(f.choice<Fruit>("fruit"), Fruit::Pear);
  EXPECT_EQ(f.choice("absent", Fruit::Apple), Fruit::Apple);
  EXPECT_EQ(reader_error([&] { f.choice<Fruit>("bad"); }), "basket.json: shelf.bad: must be apple or pear, got \"plum\"");
}
