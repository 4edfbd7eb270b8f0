#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <opencv2/imgproc.hpp>

#include "detector.hpp"
#include <mtfcdd/flip_average.hpp>
#include <mtfcdd/onnx_wire.hpp>
#include "test_util.hpp"

using namespace mtfcdd;
using test::message_of;
using nlohmann::json;

namespace {

// The bundle made by the make_test_bundle CTest fixture (types scratch, pit, stain).
std::string bundle() {
  const char* b = std::getenv("MTFCDD_TEST_BUNDLE");
  return b ? b : "";
}

json config(const json& extra = json::object()) {
  json c = {{"model", bundle()}};
  c.update(extra);
  return c;
}

cv::Mat gradient(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(x % 256, y % 256, (x + y) % 256);
  return m;
}

// The test bundle copied into `dir` as `name` (once), with `patch` merged into its model.json.
std::filesystem::path patched_bundle(const test::TempDir& dir, const std::string& name, const json& patch) {
  const std::filesystem::path copy = dir.file(name);
  if (!std::filesystem::exists(copy)) std::filesystem::copy(bundle(), copy);
  json man;
  std::ifstream(copy / "model.json") >> man;
  man.merge_patch(patch);
  std::ofstream(copy / "model.json") << man.dump();
  return copy;
}

// As patched_bundle, with model.onnx replaced by `onnx` of the fuzz corpus (tests/fuzz/corpus/onnx).
std::filesystem::path bundle_with_onnx(const test::TempDir& dir, const std::string& onnx,
                                       const json& patch = json::object()) {
  const auto copy = patched_bundle(dir, onnx, patch);
  std::filesystem::copy_file(std::filesystem::path(MTFCDD_FUZZ_CORPUS) / "onnx" / onnx, copy / "model.onnx",
                             std::filesystem::copy_options::overwrite_existing);
  return copy;
}

class DetectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (bundle().empty()) GTEST_SKIP() << "MTFCDD_TEST_BUNDLE not set (run through ctest)";
  }
};

}  // namespace

TEST_F(DetectorTest, ScoresDecisionsHeatmapsAndRouting) {
  Detector d(config({{"heatmaps", {{"model", true}, {"full", true}}},
                     {"thresholds", {{"pit", {{"image", 0.0}, {"pixel", 0.0}}}}},
                     {"routing",
                      {{"actions", {{"pass", json::object()}, {"check", {{"station", 2}}}}},
                       {"rules", {{{"types", {"pit"}}, {"action", "check"}, {"priority", 5}}}},
                       {"default", "pass"}}}}),
             "");
  const auto out = d.process({{gradient(120, 90), ""}, {gradient(60, 60), ""}});
  ASSERT_EQ(out.size(), 2u);
  const auto& f = out[0];
  ASSERT_EQ(f.types.size(), 3u);
  EXPECT_EQ(f.types[1].name, "pit");
  EXPECT_TRUE(f.types[1].decision);  // threshold 0
  EXPECT_TRUE(f.decision);
  EXPECT_EQ(f.routing.action, "check");
  EXPECT_EQ(f.routing.params.at("station"), 2);
  EXPECT_EQ(f.types[1].heatmap_full.size(), cv::Size(120, 90));
  EXPECT_EQ(f.types[1].heatmap.size(), cv::Size(8, 8));
  // Pixel threshold 0: the whole frame is one region.
  ASSERT_EQ(f.types[1].regions.size(), 1u);
  EXPECT_EQ(f.types[1].regions[0].area, 120 * 90);
  // z is the mean of the map; p = 1 - exp(-z).
  EXPECT_NEAR(f.types[0].score, cv::mean(f.types[0].heatmap)[0], 1e-6);
  EXPECT_NEAR(f.types[0].probability, 1 - std::exp(-f.types[0].score), 1e-6);
}

TEST_F(DetectorTest, BatchEqualsSingleFrames) {
  Detector d(config(), "");
  const auto a = gradient(100, 70), b = gradient(50, 90);
  const auto both = d.process({{a, ""}, {b, ""}});
  const auto one = d.process({{b, ""}});
  for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(both[1].types[k].score, one[0].types[k].score, 1e-5);
}

// One detector per thread (the header's rule), four at once: the same scores as one alone. Run
// under ThreadSanitizer by scripts/tsan.sh.
TEST_F(DetectorTest, FourThreadsEachWithADetectorAgree) {
  const std::vector<Frame> frames = {{gradient(120, 90), "disc"}, {gradient(64, 64), ""}};
  const json cfg = config({{"heatmaps", {{"full", true}}}, {"thresholds", {{"pit", {{"image", 0.0}}}}}});
  const auto alone = Detector(cfg, "").process(frames);
  // Each thread's outputs, and for the odd ones those after raising pit's threshold out of reach.
  std::vector<std::vector<FrameOutput>> outs(4), raised(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Detector d(cfg, "");
      for (int i = 0; i < 5; ++i) outs[t] = d.process(frames);
      if (t % 2 == 0) return;
      d.reconfigure({{"thresholds", {{"pit", {{"image", 1e6}}}}}});
      raised[t] = d.process(frames);
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t)
    for (size_t f = 0; f < frames.size(); ++f) {
      EXPECT_TRUE(alone[f].types[1].decision);  // threshold 0
      for (size_t k = 0; k < 3; ++k) {
        EXPECT_EQ(outs[t][f].types[k].score, alone[f].types[k].score);
        EXPECT_EQ(outs[t][f].types[k].regions.size(), alone[f].types[k].regions.size());
      }
      if (t % 2 == 0) continue;
      EXPECT_EQ(raised[t][f].types[1].score, alone[f].types[1].score);
      EXPECT_FALSE(raised[t][f].types[1].decision) << "thread " << t << ", frame " << f;
    }
}

TEST_F(DetectorTest, ReconfigureChangesThresholdsOrNothing) {
  Detector d(config(), "");
  d.reconfigure({{"thresholds", {{"stain", {{"image", 123.0}}}}}});
  EXPECT_EQ(d.describe().at("types")[2].at("image_threshold"), 123.0);
  EXPECT_THROW(d.reconfigure({{"thresholds", {{"rust", {{"image", 1}}}}}}), ConfigError);
  EXPECT_THROW(d.reconfigure({{"backend", "cpu"}}), ConfigError);
  EXPECT_THROW(d.reconfigure({{"routing", {{"default", "nowhere"}}}}), ConfigError);
  EXPECT_EQ(d.describe().at("types")[2].at("image_threshold"), 123.0);  // unchanged by the failures
  // Reconfigure merges: another type's threshold leaves this one as it was.
  d.reconfigure({{"thresholds", {{"pit", {{"pixel", 0.5}}}}}});
  EXPECT_EQ(d.describe().at("types")[2].at("image_threshold"), 123.0);
  EXPECT_EQ(d.describe().at("types")[1].at("pixel_threshold"), 0.5);
}

// Each value an outside client found accepted but wrong, or crashing, is now a ConfigError naming the key.
TEST_F(DetectorTest, RefusesOutOfRangeSettings) {
  const auto refused = [](const json& extra, const std::string& key) {
    try {
      Detector d(config(extra), "");
    } catch (const ConfigError& e) {
      return std::string(e.what()).find(key) != std::string::npos ? "" : std::string(e.what());
    } catch (const std::exception& e) {
      return "not a ConfigError: " + std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refused({{"threads", 100000}}, "config: threads: must be an integer 0 .. 256"), "");
  EXPECT_EQ(refused({{"threads", kMaxThreads + 1}}, "threads"), "");
  EXPECT_EQ(refused({{"threads", 2.5}}, "threads"), "");
  EXPECT_EQ(refused({{"threads", -1}}, "threads"), "");
  EXPECT_EQ(refused({{"min_region_area", 1.5}}, "min_region_area: must be an integer"), "");
  EXPECT_EQ(refused({{"thresholds", {{"pit", {{"image", 1e39}}}}}}, "config: thresholds.pit.image: must be a finite float32"), "");
  EXPECT_EQ(refused({{"thresholds", {{"pit", {{"pixel", -1e39}}}}}}, "thresholds.pit.pixel"), "");
  EXPECT_EQ(refused({{"backend", "tpu"}}, "backend: must be cpu, cuda, cuda_fp16 or auto, got \"tpu\""), "");
  EXPECT_EQ(refused({{"conv", "bogus"}}, "conv: must be onednn, opencv or auto, got \"bogus\""), "");
  // A long bad value is echoed cut short.
  const std::string msg = refused({{"upsampling", std::string(100000, 'u')}}, "upsampling");
  EXPECT_EQ(msg, "");
  EXPECT_LT(message_of([] { Detector d(config({{"min_region_area", std::string(100000, 'a')}}), ""); }).size(), 400u);
}

// outputs.scores, which older trainers wrote, is optional and not read: a bundle loads with it
// (naming any output) and without it.
TEST_F(DetectorTest, ManifestScoresOutputIsOptional) {
  test::TempDir dir;
  int n = 0;
  for (const json& scores : {json("nope"), json("scores"), json(nullptr)}) {
    const auto copy = patched_bundle(dir, "s" + std::to_string(n++), {{"outputs", {{"scores", scores}}}});
    Detector d({{"model", copy.string()}}, "");
    const auto out = d.process({{gradient(64, 48), ""}});
    ASSERT_EQ(out.size(), 1u) << scores;
    ASSERT_EQ(out[0].types.size(), 3u) << scores;
    EXPECT_EQ(out[0].types[0].name, "scratch") << scores;
    EXPECT_EQ(out[0].types[1].name, "pit") << scores;
    EXPECT_EQ(out[0].types[2].name, "stain") << scores;
    EXPECT_TRUE(std::isfinite(out[0].types[0].score)) << scores;
  }
}

// model.json values that used to be truncated, wrapped or ignored are refused, naming file and key.
TEST_F(DetectorTest, RefusesMalformedManifests) {
  test::TempDir dir;
  int n = 0;
  const auto message = [&](const json& patch) {
    const auto copy = patched_bundle(dir, "m" + std::to_string(n++), patch);
    return message_of([&] { Detector d({{"model", copy.string()}}, ""); });
  };
  const auto names = [](const std::string& msg, const std::string& key) {
    return msg.find("model.json") != std::string::npos && msg.find(key) != std::string::npos ? "" : msg;
  };
  EXPECT_EQ(names(message({{"input", {{"width", 128.5}}}}), "input.width: must be an integer 1 .. 16384"), "");
  EXPECT_EQ(names(message({{"input", {{"width", 4294967424ull}}}}), "input.width"), "");
  EXPECT_EQ(names(message({{"input", {{"layout", "NHWC"}}}}), "input.layout: must be NCHW"), "");
  // An output the network lacks: found at load, before anything runs, naming the ONNX file.
  EXPECT_NE(message({{"outputs", {{"anomaly_maps", "nope"}}}}).find("model.onnx has no output 'nope'"),
            std::string::npos);
  EXPECT_NE(message({{"heatmap", {{"width", 7}}}}).find("output 'anomaly_maps' is [ 1 3 8 8 ], the manifest says "
                                                        "[ 1 3 8 7 ]"),
            std::string::npos);
  EXPECT_EQ(names(message({{"format_version", 1.5}}), "format_version: 1.5 is not supported"), "");
  EXPECT_EQ(names(message({{"calibrated", "yes"}}), "calibrated: must be true or false"), "");
  EXPECT_EQ(names(message({{"types", {{{"name", "a"}, {"image_threshold", 1e39}, {"pixel_threshold", 0}}}}}),
                  "finite float32"),
            "");
  // A provenance nested 100,000 deep (it used to overflow the stack when copied).
  const auto deep = patched_bundle(dir, "deep", json::object());
  json man;
  std::ifstream(deep / "model.json") >> man;
  std::string text = man.dump();
  text.insert(text.size() - 1, ",\"provenance\": " + std::string(100000, '[') + std::string(100000, ']'));
  std::ofstream(deep / "model.json") << text;
  EXPECT_EQ(names(message_of([&] { Detector d({{"model", deep.string()}}, ""); }), "nested deeper than 64"), "");
}

// A length-delimited protobuf field (number < 16, body < 128 bytes).
static std::string proto_field(int number, const std::string& body) {
  return std::string{char(number << 3 | 2), char(body.size())} + body;
}

TEST(OnnxDeclaredInputShape, ReadsTheNamedGraphInput) {
  // ModelProto{ir_version 7, graph{input{name "image", type{tensor_type{elem_type 1,
  // shape{dim{dim_param "N"}, dim{dim_value 3}, dim{dim_value 300}}}}}}}; 300 is varint ac 02.
  const std::string dims = proto_field(1, proto_field(2, "N")) + proto_field(1, "\x08\x03") +
                           proto_field(1, std::string("\x08\xac\x02", 3));
  const std::string input = proto_field(1, "image") + proto_field(2, proto_field(1, "\x08\x01" + proto_field(2, dims)));
  const std::string model = std::string("\x08\x07", 2) + proto_field(7, proto_field(11, input));
  EXPECT_EQ(onnx_declared_input_shape(model, "image"), (std::vector<int64_t>{-1, 3, 300}));
  EXPECT_TRUE(onnx_declared_input_shape(model, "scores").empty());
  EXPECT_THROW(onnx_declared_input_shape(model.substr(0, model.size() - 1), "image"), std::runtime_error);
}

// A TensorProto (fields: dims 1, data_type 2, name 8, raw_data 9, float_data 4) of FLOAT (1) or
// INT64 (7) values with dims below 128.
static std::string tensor(const std::string& name, const std::vector<int>& dims, int data_type,
                          const std::string& data_fields) {
  std::string t;
  for (int d : dims) t += std::string{'\x08', char(d)};
  return t + std::string{'\x10', char(data_type)} + proto_field(8, name) + data_fields;
}
static std::string model_with(const std::string& graph) { return std::string("\x08\x07", 2) + proto_field(7, graph); }

// A field of another wire type than its own is skipped, as protobuf's parser skips it (keeping it
// as an unknown field), so what is checked is what OpenCV reads.
TEST(OnnxDeclaredInputShape, SkipsFieldsOfAnotherWireType) {
  const std::string varint_1("\x08\x05", 2), fixed32_1("\x0d\x01\x02\x03\x04", 5), fixed32_2("\x15\0\0\0\0", 5);
  const auto shape_of = [](const std::string& input) {
    return onnx_declared_input_shape(model_with(proto_field(11, proto_field(1, "image") + input)), "image");
  };
  const auto type = [](const std::string& dims) {  // TypeProto{tensor_type{elem_type 1, shape{dims}}}
    return proto_field(2, proto_field(1, "\x08\x01" + proto_field(2, dims)));
  };
  const std::string dims = proto_field(1, "\x08\x03") + proto_field(1, "\x08\x40");  // dim_value 3, dim_value 64
  // A varint "name" after the name, a fixed32 "type" before the type: the input stays "image" [3 64].
  EXPECT_EQ(shape_of(varint_1 + fixed32_2 + type(dims)), (std::vector<int64_t>{3, 64}));
  // A dim_value of wire type fixed32 is no dim_value (the dimension is unset); a varint "dim" or
  // "tensor_type" is no message and declares nothing.
  EXPECT_EQ(shape_of(type(proto_field(1, fixed32_1) + dims)), (std::vector<int64_t>{-1, 3, 64}));
  EXPECT_EQ(shape_of(type(varint_1 + dims)), (std::vector<int64_t>{3, 64}));
  EXPECT_TRUE(shape_of(proto_field(2, varint_1)).empty());
  // The same in the model checks: a graph input's last name is the one defined.
  const std::string input = proto_field(11, proto_field(1, "image") + proto_field(1, "other"));
  const std::string relu = proto_field(1, proto_field(1, "image") + proto_field(2, "r") + proto_field(4, "Relu"));
  EXPECT_EQ(onnx_model_problem(model_with(input + relu)),
            "node 0 (Relu) reads 'image', which no graph input, initializer or earlier node defines");
}

// OpenCV divides by a convolution's group: anything but an integer >= 1 is refused.
TEST(OnnxModelProblem, GroupIsAnIntegerOfAtLeastOne) {
  const auto conv = [](const std::string& attribute) {  // Conv(image) -> c with that attribute
    const std::string node = proto_field(1, "image") + proto_field(2, "c") + proto_field(4, "Conv");
    return model_with(proto_field(11, proto_field(1, "image")) + proto_field(1, node + proto_field(5, attribute)));
  };
  const auto group = [](const std::string& value_fields) { return proto_field(1, "group") + value_fields; };
  EXPECT_EQ(onnx_model_problem(conv(group("\x18\x01"))), "");  // i = 1
  EXPECT_EQ(onnx_model_problem(conv(group("\x18\x02"))), "");
  EXPECT_EQ(onnx_model_problem(conv(group(std::string("\x18\x00", 2)))),
            "node 0 (Conv) has group 0, not an integer >= 1");
  EXPECT_EQ(onnx_model_problem(conv(group(std::string("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11)))),
            "node 0 (Conv) has group -1, not an integer >= 1");
  // f = 0.0 (OpenCV would read the float) or i of another wire type: no integer.
  EXPECT_EQ(onnx_model_problem(conv(group(std::string("\x15\0\0\0\0", 5)))),
            "node 0 (Conv) has group without an integer value, not an integer >= 1");
  EXPECT_EQ(onnx_model_problem(conv(group(proto_field(3, "\x01")))),
            "node 0 (Conv) has group without an integer value, not an integer >= 1");
  EXPECT_EQ(onnx_model_problem(conv(proto_field(1, "dilations") + std::string("\x18\x00", 2))), "");  // not group
}

TEST(OnnxModelProblem, CountsTheValuesOpenCvCopies) {
  const auto raw = [](size_t bytes) { return proto_field(9, std::string(bytes, '\0')); };
  const auto floats = [](size_t n) { return proto_field(4, std::string(4 * n, '\0')); };  // packed float_data
  const auto initializer = [](const std::string& t) { return model_with(proto_field(5, t)); };
  // Exact: 2 x 3 float32 in raw_data (24 bytes), or in float_data; a scalar (no dims) of 4 bytes.
  EXPECT_EQ(onnx_model_problem(initializer(tensor("w", {2, 3}, 1, raw(24)))), "");
  EXPECT_EQ(onnx_model_problem(initializer(tensor("w", {2, 3}, 1, floats(6) + raw(4)))), "");  // float_data wins
  EXPECT_EQ(onnx_model_problem(initializer(tensor("s", {}, 1, raw(4)))), "");
  EXPECT_EQ(onnx_model_problem(initializer(tensor("e", {0, 3}, 1, ""))), "");  // no values needed
  // Short: 20 bytes are 5 values, 22 are 5 and a part; 5 in float_data; none at all.
  EXPECT_EQ(onnx_model_problem(initializer(tensor("w", {2, 3}, 1, raw(20)))),
            "tensor 'w' holds 5 values where its dims [ 2 3 ] need 6");
  EXPECT_EQ(onnx_model_problem(initializer(tensor("w", {2, 3}, 1, raw(22)))),
            "tensor 'w' holds 5 and a part values where its dims [ 2 3 ] need 6");
  EXPECT_EQ(onnx_model_problem(initializer(tensor("w", {2, 3}, 1, floats(5)))),
            "tensor 'w' holds 5 values where its dims [ 2 3 ] need 6");
  EXPECT_EQ(onnx_model_problem(initializer(tensor("s", {}, 1, ""))),
            "tensor 's' holds no values where its dims [ ] need 1 (external data is not read)");
  // INT64 reads int64_data or raw_data (8 bytes a value): float_data does not count.
  EXPECT_EQ(onnx_model_problem(initializer(tensor("shape", {2}, 7, raw(16)))), "");
  EXPECT_EQ(onnx_model_problem(initializer(tensor("shape", {2}, 7, floats(4)))),
            "tensor 'shape' holds no values where its dims [ 2 ] need 2 (external data is not read)");
  // A node attribute's tensor (a Constant's value) is checked too, after the initializers.
  const std::string node = proto_field(1, proto_field(5, proto_field(1, "value") + proto_field(5, tensor("c", {4}, 1, raw(12)))));
  EXPECT_EQ(onnx_model_problem(model_with(node)), "tensor 'c' holds 3 values where its dims [ 4 ] need 4");
  // A negative dimension (varint -1: ten bytes); bytes that are no protobuf.
  const std::string negative = std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x10\x01", 13) + proto_field(8, "n");
  EXPECT_EQ(onnx_model_problem(initializer(negative)), "tensor 'n' has dims [ -1 ], negative or over 2^40 values");
  EXPECT_THROW(onnx_model_problem(initializer(tensor("w", {2, 3}, 1, raw(24))).substr(0, 10)), std::runtime_error);
}

TEST(OnnxModelProblem, NodesReadOnlyWhatIsDefinedBeforeThem) {
  // graph{input "image", initializer "w", node Conv(image, w) -> conv, node Relu(conv) -> r}
  const std::string image = proto_field(11, proto_field(1, "image"));
  const std::string w = proto_field(5, tensor("w", {1}, 1, proto_field(9, std::string(4, '\0'))));
  const auto node = [](const std::string& op, const std::vector<std::string>& in, const std::string& out) {
    std::string n;
    for (const auto& i : in) n += proto_field(1, i);
    return proto_field(1, n + proto_field(2, out) + proto_field(4, op));
  };
  const std::string conv = node("Conv", {"image", "w"}, "conv"), relu = node("Relu", {"conv"}, "r");
  EXPECT_EQ(onnx_model_problem(model_with(image + w + conv + relu)), "");
  EXPECT_EQ(onnx_model_problem(model_with(image + w + node("Conv", {"image", "w", ""}, "conv"))), "");  // "": unset
  EXPECT_EQ(onnx_model_problem(model_with(image + node("Conv", {"image", "b"}, "conv"))),
            "node 0 (Conv) reads 'b', which no graph input, initializer or earlier node defines");
  EXPECT_EQ(onnx_model_problem(model_with(image + w + relu + conv)),  // out of order
            "node 0 (Relu) reads 'conv', which no graph input, initializer or earlier node defines");
}

// The tensor OpenCV's importer would have copied past its data (found by fuzz_onnx: w's dims
// [3 12 3 3] over 81 values) is refused before OpenCV reads the file, naming it.
TEST_F(DetectorTest, RefusesAModelWhoseTensorHoldsFewerValuesThanItsDims) {
  test::TempDir dir;
  const auto copy = bundle_with_onnx(dir, "dims_beyond_raw_data.onnx");
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); })
                .find("tensor 'w' holds 81 values where its dims [ 3 12 3 3 ] need 324"),
            std::string::npos);
}

// The test bundle's model.onnx declares a 64x64 input; OpenCV sizes layers from that, and ran them
// out of bounds on a smaller input (found by fuzz_onnx). Refused before OpenCV reads the file.
TEST_F(DetectorTest, RefusesAModelDeclaringAnotherInputSize) {
  test::TempDir dir;
  const auto copy = patched_bundle(dir, "small", {{"input", {{"width", 32}, {"height", 32}}}});
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); })
                .find("it declares input 'image' as [ ? 3 64 64 ], the manifest says [ 1 3 32 32 ]"),
            std::string::npos);
}

// declared_input_65_wide_varint_name.onnx follows its input's name with a varint field 1, which
// protobuf skips: OpenCV sees "image" declared 65 high. Our reader took the varint for the name,
// found no input "image" and checked nothing; fields of the wrong wire type are skipped now.
TEST_F(DetectorTest, RefusesADeclaredInputShapeBehindAFieldOfAnotherWireType) {
  test::TempDir dir;
  const auto copy = bundle_with_onnx(dir, "declared_input_65_wide_varint_name.onnx");
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); })
                .find("it declares input 'image' as [ 1 3 64 65 ], the manifest says [ 1 3 64 64 ]"),
            std::string::npos);
}

// conv_group_0.onnx: a Conv with group 0, which OpenCV's importer divides by (SIGFPE).
TEST_F(DetectorTest, RefusesAConvolutionWithGroupZero) {
  test::TempDir dir;
  const auto copy = bundle_with_onnx(dir, "conv_group_0.onnx");
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); })
                .find("model.onnx: node 0 (Conv) has group 0, not an integer >= 1"),
            std::string::npos);
}

// slice_batch.onnx returns the first frame's maps only: it passes loading (batch 1) and the
// first call; a batch of 2, or one frame with its flipped views, is an error naming the shapes
// where process() used to read past the maps.
TEST_F(DetectorTest, RefusesMapsOfAnotherBatchAtEveryCall) {
  test::TempDir dir;
  Detector d({{"model", bundle_with_onnx(dir, "slice_batch.onnx").string()}}, "");
  EXPECT_EQ(d.process({{gradient(64, 64), ""}}).size(), 1u);
  EXPECT_NE(message_of([&] { d.process({{gradient(64, 64), ""}, {gradient(32, 32), ""}}); })
                .find("on 2 frame(s): output 'anomaly_maps' is [ 1 3 8 8 ], the manifest says float32 [ 2 3 8 8 ]"),
            std::string::npos);
  const auto flips = bundle_with_onnx(dir, "slice_batch.onnx", {{"format_version", 3}, {"flip_average", "h"}});
  Detector flipped({{"model", flips.string()}}, "");
  EXPECT_NE(message_of([&] { flipped.process({{gradient(64, 64), ""}}); })
                .find("on 1 frame(s) in 2 views each (flip_average): output 'anomaly_maps' is [ 1 3 8 8 ], "
                      "the manifest says float32 [ 2 3 8 8 ]"),
            std::string::npos);
}

// Every model.json key is known: a typo is refused naming it, not ignored.
TEST_F(DetectorTest, ManifestRefusesUnknownKeysNamingThem) {
  test::TempDir dir;
  int n = 0;
  const auto message = [&](const json& patch) {
    const auto copy = patched_bundle(dir, "k" + std::to_string(n++), patch);
    return message_of([&] { Detector d({{"model", copy.string()}}, ""); });
  };
  const json type = {{"name", "scratch"}, {"image_threshold", 1}, {"pixel_threshold", 1}, {"smoothng", 2}};
  for (const auto& [patch, key] : std::vector<std::pair<json, std::string>>{
           {{{"flip_averge", "h"}}, "model.json: flip_averge: unknown key"},
           {{{"input", {{"widht", 64}}}}, "model.json: input.widht: unknown key"},
           {{{"types", {type}}}, "model.json: types[0].smoothng: unknown key"},
           {{{"outputs", {{"anomaly_map", "x"}}}}, "model.json: outputs.anomaly_map: unknown key"},
           {{{"heatmap", {{"hieght", 8}}}}, "model.json: heatmap.hieght: unknown key"},
           {{{"receptive_field", {{"strid", 8}}}}, "model.json: receptive_field.strid: unknown key"}})
    EXPECT_NE(message(patch).find(key), std::string::npos) << patch;
}

// A file that cannot be read is named with the system's reason; "." and ".." are no model file.
TEST_F(DetectorTest, UnreadableFilesNameTheCause) {
  test::TempDir dir;
  const auto load = [](const std::filesystem::path& b) {
    return message_of([&] { Detector d({{"model", b.string()}}, ""); });
  };
  const std::string none = dir.file("none");
  EXPECT_NE(load(none).find("cannot open bundle manifest " + none + "/model.json: No such file"), std::string::npos);
  const auto gone = patched_bundle(dir, "gone", json::object());
  std::filesystem::remove(gone / "model.onnx");
  EXPECT_NE(load(gone).find("cannot load ONNX model " + (gone / "model.onnx").string() + ": No such file"),
            std::string::npos);
  const auto folder = patched_bundle(dir, "folder", {{"model", "sub"}});
  std::filesystem::create_directory(folder / "sub");
  EXPECT_NE(load(folder).find("cannot load ONNX model " + (folder / "sub").string() + ": Is a directory"),
            std::string::npos);
  for (const char* name : {".", ".."})
    EXPECT_NE(load(patched_bundle(dir, "folder", {{"model", name}})).find("model: must be a file name inside"),
              std::string::npos)
        << name;
}

// OpenCV has one thread pool per process: the first detector that sizes it decides, and later
// ones (another count, or oneDNN's 1) leave it, since resizing it could race with another
// handle's call. describe() reports the pool a handle on OpenCV's convolutions runs on.
// The pool is sized by the first detector of a process, so the check runs in a fresh one: the
// "threadsafe" death-test style runs the statement in a re-executed copy of this program.
TEST_F(DetectorTest, OpenCvPoolIsSizedOnceForTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Detector first(config({{"conv", "opencv"}, {"threads", 2}}), "");
        const int pool = cv::getNumThreads();
        Detector second(config({{"conv", "opencv"}, {"threads", 3}}), "");
        Detector third(config(), "");  // oneDNN's convolutions, where the build has them
        const bool kept = pool == 2 && cv::getNumThreads() == pool && second.describe().at("threads") == pool;
        std::exit(kept ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(DetectorTest, BadConfigurationsNameTheCause) {
  EXPECT_NE(message_of([] { Detector d(json::array(), ""); }).find("config: must be an object"), std::string::npos);
  EXPECT_NE(message_of([] { Detector d(config({{"colour", 1}}), ""); }).find("config: colour: unknown key"), std::string::npos);
  EXPECT_NE(message_of([] { Detector d(config({{"upsampling", "nearest"}}), ""); }).find("upsampling"), std::string::npos);
  EXPECT_NE(message_of([] { Detector d(config({{"min_region_area", 0}}), ""); }).find("min_region_area"), std::string::npos);
  EXPECT_NE(message_of([] { Detector d(config({{"thresholds", {{"pit", {{"image", "high"}}}}}}), ""); })
                .find("thresholds.pit"),
            std::string::npos);
  EXPECT_NE(message_of([] { Detector d(config({{"backend", "cuda"}}), ""); }).find("CUDA"), std::string::npos);
  EXPECT_NE(message_of([] { Detector d({{"model", "no-such-bundle"}}, "/tmp"); }).find("/tmp/no-such-bundle"),
            std::string::npos);
}

TEST_F(DetectorTest, DescribeListsTypesBackendAndVersions) {
  Detector d(config({{"fallback", "cpu"}, {"backend", "auto"}}), "");
  const json j = d.describe();
  EXPECT_EQ(j.at("types").size(), 3u);
  EXPECT_EQ(j.at("backend"), "cpu");
  EXPECT_TRUE(j.at("versions").contains("opencv"));
  EXPECT_EQ(j.at("input").at("width"), 64);
}

// A "fit" bundle holds the frame in part of its input: the maps it returns cover the frame only,
// the full one at frame size, the model-resolution one at the frame's aspect ratio.
TEST_F(DetectorTest, FitBundleMapsCoverTheFrameOnly) {
  test::TempDir dir;
  const auto copy = patched_bundle(dir, "fit", {{"format_version", 2}, {"input", {{"resize", "fit"}}}});
  Detector d({{"model", copy.string()}, {"heatmaps", {{"model", true}, {"full", true}}}}, "");
  EXPECT_EQ(d.describe().at("input").at("resize"), "fit");
  const auto out = d.process({{gradient(120, 60), ""}});  // placed at rows 16..47 of the 64x64 input
  for (const auto& t : out[0].types) {
    EXPECT_EQ(t.heatmap_full.size(), cv::Size(120, 60));
    EXPECT_EQ(t.heatmap.size(), cv::Size(8, 4));  // of the 8x8 map, the part over the frame
  }
}

// A bundle that averages over flips: its scores are the mean of the plain bundle's scores on the
// frame and its mirror images (a frame of the input's size, so that resizing does not enter).
TEST_F(DetectorTest, FlipAverageBundleScoresTheMeanOfTheMirroredFrames) {
  test::TempDir dir;
  const auto copy = patched_bundle(dir, "hv", {{"format_version", 3}, {"flip_average", "hv"}});
  Detector plain(config(), ""), averaged({{"model", copy.string()}}, "");
  EXPECT_EQ(averaged.describe().at("flip_average"), "hv");
  EXPECT_EQ(plain.describe().at("flip_average"), "none");
  const cv::Mat frame = gradient(64, 64);
  std::vector<Frame> views;
  for (int code : flip_views(FlipAverage::HV)) {
    cv::Mat f = frame.clone();
    if (code != kNoFlip) cv::flip(frame, f, code);
    views.push_back({f, ""});
  }
  const auto each = plain.process(views);
  const auto mean = averaged.process({{frame, ""}, {frame, ""}});
  for (size_t k = 0; k < 3; ++k) {
    double expected = 0;
    for (const auto& v : each) expected += v.types[k].score / 4.0;
    EXPECT_NEAR(mean[0].types[k].score, expected, 1e-5 * (1 + expected));
    EXPECT_EQ(mean[1].types[k].score, mean[0].types[k].score);
  }
  patched_bundle(dir, "hv", {{"format_version", 2}});  // version 2 readers would not average: it needs version 3
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); }).find("needs format_version 3"),
            std::string::npos);
  patched_bundle(dir, "hv", {{"format_version", 3}, {"flip_average", "rot90"}});
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); }).find("flip_average: must be none, h, v or hv"),
            std::string::npos);
}

// The manifest's precision: bf16 needs format_version 4 (older readers would run it in float32
// against thresholds calibrated on bf16 maps); anything else is refused by name.
TEST_F(DetectorTest, PrecisionIsFloat32Bf16OrInt8FromTheirFormatVersions) {
  test::TempDir dir;
  const auto copy = patched_bundle(dir, "bf16", {{"format_version", 3}, {"precision", "bf16"}});
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); }).find("needs format_version 4"),
            std::string::npos);
  patched_bundle(dir, "bf16", {{"format_version", 4}, {"precision", "fp8"}});
  EXPECT_NE(
      message_of([&] { Detector d({{"model", copy.string()}}, ""); }).find("precision: must be float32, bf16 or int8"),
      std::string::npos);
  EXPECT_EQ(Detector(config(), "").describe().at("precision"), "float32");
  // int8 needs format_version 6 and the calibrated ranges of its convolutions.
  patched_bundle(dir, "bf16", {{"format_version", 6}, {"precision", "int8"}});
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); }).find("int8_input_ranges: missing"),
            std::string::npos);
  patched_bundle(dir, "bf16", {{"format_version", 5}, {"precision", "int8"}, {"int8_input_ranges", {{"c", {0, 6}}}}});
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); }).find("needs format_version 6"),
            std::string::npos);
  patched_bundle(dir, "bf16", {{"format_version", 6}, {"precision", "int8"}, {"int8_input_ranges", {{"c", {6, 0}}}}});
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); }).find("int8_input_ranges.c: must be [min, max]"),
            std::string::npos);
  // bf16 with convolutions kept in float32 needs format_version 7 and a list of distinct names.
  patched_bundle(dir, "bf16", {{"format_version", 6}, {"precision", "bf16"}, {"float32_convolutions", {"c"}}});
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); }).find("needs format_version 7"),
            std::string::npos);
  patched_bundle(dir, "bf16", {{"format_version", 7}, {"precision", "bf16"}, {"float32_convolutions", {"c", "c"}}});
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); })
                .find("float32_convolutions: must list non-empty layer names, each once"),
            std::string::npos);
  patched_bundle(dir, "bf16", {{"format_version", 7}, {"precision", "bf16"}, {"float32_convolutions", "c"}});
  EXPECT_NE(message_of([&] { Detector d({{"model", copy.string()}}, ""); }).find("must be an array of layer names"),
            std::string::npos);
}

// A type's smoothing needs format_version 8 and a sigma in [0, 64]; the detector's heatmaps (and
// so its full maps and regions) are the smoothed map, its score z the network's own.
TEST_F(DetectorTest, TypeSmoothingShapesHeatmapsNotScores) {
  test::TempDir dir;
  json types;
  std::ifstream(std::filesystem::path(bundle()) / "model.json") >> types;
  types = types.at("types");
  types[0]["smoothing"] = 1.5;
  const auto v7 = patched_bundle(dir, "v7", {{"format_version", 7}, {"types", types}});
  EXPECT_NE(message_of([&] { Detector d({{"model", v7.string()}}, ""); }).find("needs format_version 8"),
            std::string::npos);
  types[0]["smoothing"] = -1;
  const auto bad = patched_bundle(dir, "bad", {{"format_version", 8}, {"types", types}});
  EXPECT_NE(message_of([&] { Detector d({{"model", bad.string()}}, ""); }).find("smoothing"), std::string::npos);
  types[0]["smoothing"] = 1.5;
  const auto copy = patched_bundle(dir, "v8", {{"format_version", 8}, {"types", types}});
  const json maps = {{"heatmaps", {{"model", true}}}};
  json cfg = {{"model", copy.string()}};
  cfg.update(maps);
  const cv::Mat frame = gradient(100, 70);
  const auto plain = Detector(config(maps), "").process({{frame, ""}})[0];
  Detector d(cfg, "");
  EXPECT_EQ(d.describe().at("types")[0].at("smoothing"), 1.5);
  const auto smoothed = d.process({{frame, ""}})[0];
  EXPECT_EQ(smoothed.types[0].score, plain.types[0].score);
  EXPECT_LT(cv::norm(smoothed.types[0].heatmap, smooth_map(plain.types[0].heatmap, 1.5), cv::NORM_INF), 1e-6);
  EXPECT_GT(cv::norm(smoothed.types[0].heatmap, plain.types[0].heatmap, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(smoothed.types[1].heatmap, plain.types[1].heatmap, cv::NORM_INF), 0.0);
}

// A type's peak_fraction needs format_version 10 and a value in [0, 0.99]. The result reports the
// higher of the pixel threshold and that share of the full map's peak as the threshold in force,
// and the regions are where the map reaches it; a config's thresholds group sets it per type. (This
// random network's maps vary by under 1%, so no share here leaves pixels out: the postprocess test
// shows the trimming.)
TEST_F(DetectorTest, PeakFractionSetsTheThresholdInForce) {
  test::TempDir dir;
  json types;
  std::ifstream(std::filesystem::path(bundle()) / "model.json") >> types;
  types = types.at("types");
  const std::string name = types[0].at("name");
  types[0]["peak_fraction"] = 0.5;
  const auto v9 = patched_bundle(dir, "v9", {{"format_version", 9}, {"types", types}});
  EXPECT_NE(message_of([&] { Detector d({{"model", v9.string()}}, ""); }).find("needs format_version 10"),
            std::string::npos);
  types[0]["peak_fraction"] = 1;
  const auto bad = patched_bundle(dir, "bad", {{"format_version", 10}, {"types", types}});
  EXPECT_NE(message_of([&] { Detector d({{"model", bad.string()}}, ""); }).find("peak_fraction"), std::string::npos);
  types[0]["peak_fraction"] = 0.5;
  const auto copy = patched_bundle(dir, "v10", {{"format_version", 10}, {"types", types}});
  // Every frame decided and every pixel above the threshold itself: only the share trims the regions.
  const json all = {{"heatmaps", {{"full", true}}}, {"thresholds", {{name, {{"image", -1}, {"pixel", 0}}}}}};
  json cfg = {{"model", copy.string()}};
  cfg.update(all);
  Detector d(cfg, "");
  EXPECT_EQ(d.describe().at("types")[0].at("peak_fraction"), 0.5);
  const TypeOutput t = d.process({{gradient(100, 70), ""}})[0].types[0];
  double peak = 0;
  cv::minMaxLoc(t.heatmap_full, nullptr, &peak);
  ASSERT_GT(peak, 0);
  EXPECT_DOUBLE_EQ(t.pixel_threshold, 0.5 * peak);
  // The type's own threshold stays beside the raised one.
  d.reconfigure({{"thresholds", {{name, {{"pixel", 0.25 * peak}}}}}});
  const TypeOutput own = d.process({{gradient(100, 70), ""}})[0].types[0];
  EXPECT_EQ(own.configured_pixel_threshold, 0.25 * peak);
  EXPECT_DOUBLE_EQ(own.pixel_threshold, 0.5 * peak);
  const auto area = [](const TypeOutput& out) {
    int64_t sum = 0;
    for (const Region& r : out.regions) sum += r.area;
    return sum;
  };
  EXPECT_EQ(area(t), cv::countNonZero(t.heatmap_full >= static_cast<float>(t.pixel_threshold)));
  // The config's share 0: the threshold 0 itself, every pixel in one region.
  d.reconfigure({{"thresholds", {{name, {{"peak_fraction", 0}, {"pixel", 0}}}}}});
  const TypeOutput whole = d.process({{gradient(100, 70), ""}})[0].types[0];
  EXPECT_EQ(whole.pixel_threshold, 0);
  ASSERT_EQ(whole.regions.size(), 1u);
  EXPECT_EQ(whole.regions[0].area, static_cast<int64_t>(whole.heatmap_full.total()));
  const json too_high = {{"thresholds", {{name, {{"peak_fraction", 1}}}}}};
  EXPECT_NE(message_of([&] { d.reconfigure(too_high); }).find("peak_fraction"), std::string::npos);
}

// The manifest's upsampling: receptive needs format_version 5 (receptive-normalized 9) and a
// receptive field; the detector
// then brings maps to frame resolution with the engine's Upsampler (receptive at the input size,
// bilinear to the frame), and a config may switch back to bilinear.
TEST_F(DetectorTest, ReceptiveUpsamplingFromTheBundleOrTheConfig) {
  test::TempDir dir;
  const json field = {{"size", 35}, {"stride", 8}, {"offset", 3.5}};  // 64 px input, 8x8 maps
  const auto old = patched_bundle(dir, "v4", {{"format_version", 4}, {"upsampling", "receptive"}, {"receptive_field", field}});
  EXPECT_NE(message_of([&] { Detector d({{"model", old.string()}}, ""); }).find("needs format_version 5"),
            std::string::npos);
  const auto bare = patched_bundle(dir, "bare", {{"format_version", 5}, {"upsampling", "receptive"}, {"receptive_field", nullptr}});
  EXPECT_NE(message_of([&] { Detector d({{"model", bare.string()}}, ""); }).find("needs 'receptive_field'"),
            std::string::npos);
  const auto no_field = patched_bundle(dir, "no-field", {{"receptive_field", nullptr}});
  EXPECT_NE(message_of([&] { Detector d({{"model", no_field.string()}, {"upsampling", "receptive"}}, ""); })
                .find("needs the bundle's receptive_field"),
            std::string::npos);

  const auto copy = patched_bundle(dir, "v5", {{"format_version", 5}, {"upsampling", "receptive"}, {"receptive_field", field}});
  const json all = {{"heatmaps", {{"model", true}, {"full", true}}}};
  json cfg = {{"model", copy.string()}};
  cfg.update(all);
  Detector d(cfg, "");
  EXPECT_EQ(d.describe().at("upsampling"), "receptive");
  const cv::Mat frame = gradient(100, 70);
  const auto t = d.process({{frame, ""}})[0].types[0];
  const Upsampler up{Upsampling::Receptive, {35, 8, 3.5}, {64, 64}, {}};
  EXPECT_LT(cv::norm(t.heatmap_full, up.scale(t.heatmap, frame.size()), cv::NORM_INF), 1e-5);
  d.reconfigure({{"upsampling", "bilinear"}});
  EXPECT_EQ(d.describe().at("upsampling"), "bilinear");
  const auto b = d.process({{frame, ""}})[0].types[0];
  cv::Mat bilinear;
  cv::resize(b.heatmap, bilinear, frame.size(), 0, 0, cv::INTER_LINEAR);
  EXPECT_LT(cv::norm(b.heatmap_full, bilinear, cv::NORM_INF), 1e-5);
  EXPECT_GT(cv::norm(b.heatmap_full, t.heatmap_full, cv::NORM_INF), 0.0);

  // receptive-normalized: format_version 9, the same engine Upsampler, maps unlike receptive's.
  const auto v8 = patched_bundle(dir, "v8", {{"format_version", 8}, {"upsampling", "receptive-normalized"}, {"receptive_field", field}});
  EXPECT_NE(message_of([&] { Detector n({{"model", v8.string()}}, ""); }).find("needs format_version 9"),
            std::string::npos);
  d.reconfigure({{"upsampling", "receptive-normalized"}});
  EXPECT_EQ(d.describe().at("upsampling"), "receptive-normalized");
  const auto n = d.process({{frame, ""}})[0].types[0];
  const Upsampler normalized{Upsampling::ReceptiveNormalized, {35, 8, 3.5}, {64, 64}, {}};
  EXPECT_LT(cv::norm(n.heatmap_full, normalized.scale(n.heatmap, frame.size()), cv::NORM_INF), 1e-5);
  EXPECT_GT(cv::norm(n.heatmap_full, t.heatmap_full, cv::NORM_INF), 0.0);
}
