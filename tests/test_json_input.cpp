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
