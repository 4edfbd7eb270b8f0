// Convolutions through oneDNN inside OpenCV DNN: the same maps as OpenCV's own convolution, and
// OpenCV's layer factory left as it was for every other user in the process.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <opencv2/dnn.hpp>
#include <opencv2/dnn/all_layers.hpp>
#include <opencv2/dnn/layer.hpp>
#include <thread>
#include <unistd.h>

#include "detector.hpp"
#include <mtfcdd/dnn_model.hpp>
#include "onednn_conv.hpp"
#ifdef MTFCDD_WITH_ONEDNN
#include "onednn_layers.hpp"
#endif
#include "test_util.hpp"

using namespace mtfcdd;
using test::fixture_bundle;
using test::message_of;
namespace fs = std::filesystem;

namespace {

double relative_l2(const cv::Mat& a, const cv::Mat& b) {
  return cv::norm(a, b, cv::NORM_L2) / cv::norm(b, cv::NORM_L2);
}

cv::Mat random_blob(int n, const BundleManifest& m) {
  cv::Mat blob(std::vector<int>{n, 3, m.input_height, m.input_width}, CV_32F);
  cv::RNG rng(n);
  rng.fill(blob, cv::RNG::NORMAL, 0, 1);
  return blob;
}

DnnOptions with_conv(Conv conv) {
  DnnOptions o;
  o.conv = conv;
  return o;
}

// A copy of `bundle` in `dir` whose convolutions run in bfloat16.
std::string bf16_copy(const std::string& bundle, const fs::path& dir) {
  fs::copy(bundle, dir, fs::copy_options::recursive);
  BundleManifest m = read_manifest(dir.string());
  m.precision = Precision::BF16;
  write_manifest(m, dir.string());
  return dir.string();
}

// Bundles the trainer exports for one test, removed with it.
class Exports {
 public:
  Exports() : dir_(fs::temp_directory_path() / ("mtfcdd_test_onednn_" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
  }
  ~Exports() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string make(const std::string& trainer, const std::string& args) {
    const std::string out = (dir_ / std::to_string(count_++)).string();
    const std::string cmd = "'" + trainer + "' export " + args + " --out '" + out + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
    return out;
  }

 private:
  fs::path dir_;
  int count_ = 0;
};

class OneDnnConvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (fixture_bundle().empty()) GTEST_SKIP() << "MTFCDD_TEST_BUNDLE not set (run through ctest)";
    if (!have_onednn()) GTEST_SKIP() << "built without oneDNN";
  }
};

}  // namespace

TEST_F(OneDnnConvTest, MapsMatchOpenCvConvolution) {
  // Besides the fixture, when the trainer's path is compiled in: irv2 (block35: many small 1x1
  // and 3x3 convolutions with ReLUs fused into them), mobilenet_v1 (depthwise convolutions),
  // small with a dilated head, and an ensemble of three small networks (parallel branches).
  std::vector<std::string> bundles = {fixture_bundle()};
#ifdef MTFCDD_TRAINER
  Exports exports;
  for (const char* args : {"--preset irv2 --type-count 8 --input-size 107",
                           "--preset mobilenet_v1 --type-count 3 --input-size 99",
                           "--preset small --type-count 2 --input-size 96 --head-dilation 3",
                           "--preset small --type-count 2 --input-size 64 --members 3"})
    bundles.push_back(exports.make(MTFCDD_TRAINER, args));
#endif
  for (const auto& bundle : bundles) {
    SCOPED_TRACE(bundle);
    DnnModel onednn(bundle, with_conv(Conv::OneDnn)), opencv(bundle, with_conv(Conv::OpenCv));
    EXPECT_EQ(onednn.conv_in_use(), Conv::OneDnn);
    EXPECT_EQ(opencv.conv_in_use(), Conv::OpenCv);
    // Batch 1 (OpenCV then writes convolutions straight into concatenations), then 3 and 1
    // again on the same models: the batch is dynamic.
    for (int n : {1, 3, 1}) {
      const cv::Mat blob = random_blob(n, onednn.manifest());
      const cv::Mat got = onednn.forward(blob), want = opencv.forward(blob);
      ASSERT_EQ(got.dims, 4);
      ASSERT_EQ(got.size[0], n);
      EXPECT_LT(relative_l2(got, want), 1e-4) << "batch " << n;
    }
  }
}

// The host and the GStreamer element run a detector on stage threads after loading it on another:
// oneDNN kept a primitive's working memory with the thread that created it, and Winograd's
// convolutions (the fixture's 3x3 layers) crashed on the next thread that ran them.
TEST_F(OneDnnConvTest, AnotherThreadRunsTheLoadedModel) {
  DnnModel model(fixture_bundle(), with_conv(Conv::OneDnn));
  const cv::Mat blob = random_blob(2, model.manifest());
  const cv::Mat here = model.forward(blob).clone();
  cv::Mat there;
  std::thread([&] { there = model.forward(blob).clone(); }).join();
  EXPECT_EQ(cv::norm(here, there, cv::NORM_INF), 0);
}

TEST_F(OneDnnConvTest, AutoIsOneDnnOnTheCpu) {
  EXPECT_EQ(DnnModel(fixture_bundle()).conv_in_use(), Conv::OneDnn);
  const auto info = Detector({{"model", fixture_bundle()}}, "").describe();
  EXPECT_EQ(info.at("conv"), "onednn");
  EXPECT_EQ(Detector({{"model", fixture_bundle()}, {"conv", "opencv"}}, "").describe().at("conv"), "opencv");
}

#ifdef MTFCDD_WITH_ONEDNN
TEST_F(OneDnnConvTest, OtherOpenCvUsersKeepOpenCvConvolution) {
  const std::string onnx = fixture_bundle() + "/model.onnx";
  int ours = 0;  // every convolution of this model is one oneDNN runs
  const BundleManifest m = read_manifest(fixture_bundle());
  cv::dnn::Net with = read_onnx_with_onednn(read_onnx_file(onnx), m);
  for (const auto& name : with.getLayerNames()) ours += with.getLayer(with.getLayerId(name))->type == kOneDnnConvType;
  EXPECT_GT(ours, 0);
  const DnnModel model(fixture_bundle(), with_conv(Conv::OneDnn));

  // Another OpenCV DNN user in the same process, after the plugin loaded its model.
  cv::dnn::Net plain = cv::dnn::readNetFromONNX(onnx);
  int opencv = 0;
  for (const auto& name : plain.getLayerNames()) {
    const auto layer = plain.getLayer(plain.getLayerId(name));
    EXPECT_NE(layer->type, kOneDnnConvType) << name;
    opencv += layer->type == "Convolution";
  }
  EXPECT_EQ(opencv, ours);
  cv::dnn::LayerParams params;
  params.type = "Convolution";
  params.blobs = {cv::Mat(std::vector<int>{2, 1, 1, 1}, CV_32F, cv::Scalar(1))};
  params.set("kernel_size", 1);
  params.set("num_output", 2);
  // What the factory makes for "Convolution" now is OpenCV's own.
  const auto made = cv::dnn::LayerFactory::createLayerInstance("Convolution", params);
  EXPECT_TRUE(made.dynamicCast<cv::dnn::ConvolutionLayer>());
}

TEST(OneDnnPostOps, SixMinusReluOfSixMinusIsOneClip) {
  using Kind = PostOp::Kind;
  const PostOp relu{Kind::Relu, 0.f, 0.f}, six_minus{Kind::Linear, -1.f, 6.f};
  // ReLU6 as the trainer writes it: min(relu(x), 6) = 6 - relu(6 - relu(x)).
  EXPECT_EQ(simplified({relu, six_minus, relu, six_minus}), (std::vector<PostOp>{{Kind::Clip, 0.f, 6.f}}));
  // Without the ReLU before: min(x, 6), a clip with no lower bound.
  EXPECT_EQ(simplified({six_minus, relu, six_minus}),
            (std::vector<PostOp>{{Kind::Clip, std::numeric_limits<float>::lowest(), 6.f}}));
  // A ReLU, then a clip to [-1, 6]: the clip's lower bound becomes 0.
  EXPECT_EQ(simplified({relu, {Kind::Clip, -1.f, 6.f}}), (std::vector<PostOp>{{Kind::Clip, 0.f, 6.f}}));
}

TEST(OneDnnPostOps, OtherSequencesStayAsTheyAre) {
  using Kind = PostOp::Kind;
  const PostOp relu{Kind::Relu, 0.f, 0.f}, leaky{Kind::Relu, 0.1f, 0.f};
  const std::vector<std::vector<PostOp>> kept = {
      {},
      {relu},
      {{Kind::Linear, -1.f, 5.f}, relu, {Kind::Linear, -1.f, 6.f}},  // two constants: 6 - relu(5 - x)
      {{Kind::Linear, -2.f, 6.f}, relu, {Kind::Linear, -2.f, 6.f}},  // not a reflection
      {{Kind::Linear, -1.f, 6.f}, leaky, {Kind::Linear, -1.f, 6.f}},
      {leaky, {Kind::Clip, 0.f, 6.f}},                              // a leaky ReLU's negatives survive
      {relu, {Kind::Clip, 1.f, 6.f}},                               // a lower bound above 0 stays
      {relu, {Kind::Linear, -1.f, 6.f}, relu},                       // an unfinished pattern
  };
  for (const auto& ops : kept) EXPECT_EQ(simplified(ops), ops) << ops.size() << " ops";
}

TEST_F(OneDnnConvTest, ConsecutiveConvolutionsKeepTheBlockedLayout) {
  // The fixture is `small` with a 16-channel head: a chain of 3x3 convolutions (32..128
  // channels, ReLUs fused) and a 1x1 one to 3 maps. Every blob between two of them stays
  // blocked; the network input and the 3-channel maps are NCHW.
  const BundleManifest m = read_manifest(fixture_bundle());
  cv::dnn::Net net = read_onnx_with_onednn(read_onnx_file(fixture_bundle() + "/model.onnx"), m);
  const std::vector<BlockedLayout> convs = blocked_layouts(net);
  ASSERT_GE(convs.size(), 3u);
  for (size_t i = 0; i < convs.size(); ++i) {
    SCOPED_TRACE(convs[i].layer);
    EXPECT_EQ(convs[i].input, i > 0);
    EXPECT_EQ(convs[i].output, i + 1 < convs.size());
  }
}

// A convolution packs its weights once per layout its primitives chose (int8 ones scaled) and
// shares them between its plans. int8 packed a copy per plan, that is per batch size run; its
// layouts do not depend on the batch (float32's may: oneDNN picks other kernels for some).
TEST_F(OneDnnConvTest, Int8WeightsArePackedOnceNotPerBatchSize) {
  if (!have_int8()) GTEST_SKIP() << "no AVX512_VNNI";
  BundleManifest m = read_manifest(fixture_bundle());
  m.int8_ranges = DnnModel(fixture_bundle()).calibrate_int8({random_blob(2, m)});
  m.precision = Precision::Int8;
  cv::dnn::Net net = read_onnx_with_onednn(read_onnx_file(fixture_bundle() + "/model.onnx"), m);
  const auto run = [&](int n) {
    net.setInput(random_blob(n, m), m.input_name);
    net.forward(m.maps_output);
  };
  run(1);
  const size_t copies = packed_weight_copies(net);
  EXPECT_GE(copies, m.int8_ranges.size());
  for (int n : {2, 3, 5, 8, 16}) run(n);
  EXPECT_EQ(packed_weight_copies(net), copies);
}

// OpenCV takes a ReLU fused into the oneDNN sum back (setActivation of none) when it sets the
// network up again: the plan made with the ReLU must not run after that.
TEST(OneDnnSum, ReluTakenBackIsNoLongerApplied) {
  cv::dnn::LayerParams params;
  params.name = "sum";
  params.type = "Eltwise";
  const cv::Ptr<cv::dnn::Layer> sum = onednn::create_sum_layer(params);
  ASSERT_EQ(sum->type, onednn::kSumType);
  cv::dnn::LayerParams relu_params;
  relu_params.name = "relu";
  relu_params.type = "ReLU";
  const cv::Ptr<cv::dnn::ActivationLayer> relu = cv::dnn::ReLULayer::create(relu_params);
  const auto run = [&] {  // -1 + -2
    const std::vector<int> shape{1, 1, 2, 2};
    std::vector<cv::Mat> in{cv::Mat(shape, CV_32F, cv::Scalar(-1)), cv::Mat(shape, CV_32F, cv::Scalar(-2))};
    std::vector<cv::Mat> out{cv::Mat(shape, CV_32F)}, internals;
    sum->forward(in, out, internals);
    return out[0].ptr<float>()[3];
  };
  ASSERT_TRUE(sum->setActivation(relu));
  EXPECT_EQ(run(), 0.f);
  sum->setActivation(cv::Ptr<cv::dnn::ActivationLayer>());
  EXPECT_EQ(run(), -3.f);
  ASSERT_TRUE(sum->setActivation(relu));
  EXPECT_EQ(run(), 0.f);
}
#endif

#if defined(MTFCDD_WITH_ONEDNN) && defined(MTFCDD_TRAINER)
// MobileNet at an even side: TF "SAME" pads its stride-2 convolutions one more at the bottom and
// right, which OpenCV's importer writes as Padding layers before them, and the trainer writes ReLU6
// as ReLU, 6 - x (Power), ReLU, 6 - x. Both run inside the oneDNN convolutions, so no ReLU or
// Padding layer runs on its own; the maps match OpenCV's layers, with OpenCV's fusion and without.
TEST_F(OneDnnConvTest, MobileNetPaddingAndReluSixRunInsideTheConvolutions) {
  Exports exports;
  const std::string bundle = exports.make(MTFCDD_TRAINER, "--preset mobilenet_v1 --type-count 3 --input-size 96");
  DnnModel onednn(bundle, with_conv(Conv::OneDnn)), opencv(bundle, with_conv(Conv::OpenCv));
  const cv::Mat blob = random_blob(2, onednn.manifest());
  const cv::Mat want = opencv.forward(blob).clone();
  // 1e-5: both agree within 7e-7 here; a padding misplaced by one pixel gave 1.05e-4 (the untrained
  // head's maps change little with the features).
  EXPECT_LT(relative_l2(onednn.forward(blob), want), 1e-5);
  int paddings = 0, powers_run = 0;
  for (const LayerTime& t : onednn.layer_times()) {
    SCOPED_TRACE(t.name + " " + t.type);
    paddings += t.type == kOneDnnPaddingType;
    EXPECT_NE(t.type, "Padding");
    if (t.type == "ReLU") EXPECT_EQ(t.ms, 0);
    powers_run += t.type == "Power" && t.ms > 0;
  }
  EXPECT_EQ(paddings, 3);  // before conv1 and the depthwise conv_dw_2 and conv_dw_4 (stride 2)
  EXPECT_LE(powers_run, 2);  // the head's pseudo-Huber's two additions, after no convolution

  // Without OpenCV's fusion the padding layers pad on their own (into blocked blobs where the
  // layout pass chose them).
  const BundleManifest m = read_manifest(bundle);
  cv::dnn::Net unfused = read_onnx_with_onednn(read_onnx_file(bundle + "/model.onnx"), m);
  unfused.enableFusion(false);
  unfused.setInput(blob, m.input_name);
  EXPECT_LT(relative_l2(unfused.forward(m.maps_output), want), 1e-5);
}
#endif

// bfloat16 keeps 8 of float32's 24 significant bits, so a bf16 bundle's maps differ from the
// float32 ones by a few parts in a thousand per layer: near, but not equal (equal would mean the
// convolutions still ran in float32).
TEST_F(OneDnnConvTest, Bf16BundleRunsNearFloat32OrSaysWhyNot) {
  std::vector<std::string> bundles = {fixture_bundle()};
#ifdef MTFCDD_TRAINER
  Exports exports;
  bundles.push_back(exports.make(MTFCDD_TRAINER, "--preset irv2 --type-count 8 --input-size 107"));
#endif
  for (size_t i = 0; i < bundles.size(); ++i) {
    SCOPED_TRACE(bundles[i]);
    test::TempDir dir;
    const std::string bf16 = bf16_copy(bundles[i], dir.file("bf16"));
    EXPECT_NE(message_of([&] { DnnModel d(bf16, with_conv(Conv::OpenCv)); }).find("runs on the oneDNN convolutions"),
              std::string::npos);
    if (!have_bf16()) {  // skipped below, after each bundle's refusal is checked
      EXPECT_NE(message_of([&] { DnnModel d(bf16); }).find("AVX512_BF16"), std::string::npos);
      continue;
    }
    DnnModel half(bf16), full(bundles[i]);
    for (int n : {1, 2}) {
      const cv::Mat blob = random_blob(n, full.manifest());
      const double d = relative_l2(half.forward(blob), full.forward(blob));
      EXPECT_GT(d, 1e-6) << "batch " << n;
      EXPECT_LT(d, 1e-2) << "batch " << n;
    }
  }
  if (!have_bf16()) GTEST_SKIP() << "this CPU lacks AVX512_BF16: only the refusals were checked";
}

// 255 (u8) or 127 (s8) over the range's largest magnitude.
TEST(Int8, InputScaleFillsTheRange) {
  EXPECT_FLOAT_EQ(int8_input_scale({0.f, 6.f}), 42.5f);
  EXPECT_FLOAT_EQ(int8_input_scale({-1.f, 0.5f}), 127.f);
  EXPECT_FLOAT_EQ(int8_input_scale({-0.25f, 2.f}), 63.5f);
  EXPECT_FLOAT_EQ(int8_input_scale({0.f, 0.f}), 1.f);
}

// Calibrated on some blobs, an int8 bundle runs near float32 on others (and did run in int8); a
// convolution the manifest leaves out stays float32; without VNNI the bundle says why.
TEST_F(OneDnnConvTest, Int8BundleRunsNearFloat32OrSaysWhyNot) {
  test::TempDir dir;
  DnnModel full(fixture_bundle());
  std::vector<cv::Mat> calibration;
  for (int n : {4, 3}) calibration.push_back(random_blob(n, full.manifest()));
  const auto ranges = full.calibrate_int8(calibration);
  ASSERT_FALSE(ranges.empty());
  for (const auto& [layer, r] : ranges) EXPECT_LT(r.min, r.max) << layer;
  fs::copy(fixture_bundle(), dir.file("int8"), fs::copy_options::recursive);
  BundleManifest m = read_manifest(dir.file("int8"));
  m.precision = Precision::Int8;
  m.int8_ranges = ranges;
  write_manifest(m, dir.file("int8"));
  EXPECT_EQ(read_manifest(dir.file("int8")).format_version, 6);
  if (!have_int8()) {
    EXPECT_NE(message_of([&] { DnnModel d(dir.file("int8")); }).find("AVX512_VNNI"), std::string::npos);
    GTEST_SKIP() << "this CPU lacks AVX512_VNNI: only the refusal was checked";
  }
  DnnModel quantized(dir.file("int8"));
  const cv::Mat blob = random_blob(2, full.manifest());
  const double d = relative_l2(quantized.forward(blob), full.forward(blob));
  EXPECT_GT(d, 1e-6);
  EXPECT_LT(d, 0.1);
  m.int8_ranges.erase(m.int8_ranges.begin());  // the first convolution back in float32
  write_manifest(m, dir.file("int8"));
  EXPECT_LT(relative_l2(DnnModel(dir.file("int8")).forward(blob), full.forward(blob)), 0.1);
  EXPECT_THROW(quantized.calibrate_int8(calibration), std::invalid_argument);  // calibrates float32 only
}

// A convolution the manifest names but the network lacks is refused by name, not ignored.
TEST_F(OneDnnConvTest, ManifestNamingAnUnknownConvolutionIsRefused) {
  if (!have_bf16()) GTEST_SKIP() << "no AVX512_BF16";
  test::TempDir dir;
  fs::copy(fixture_bundle(), dir.file("b"), fs::copy_options::recursive);
  BundleManifest m = read_manifest(dir.file("b"));
  m.precision = Precision::BF16;
  m.float32_convolutions = {"no_such_conv"};
  write_manifest(m, dir.file("b"));
  EXPECT_NE(message_of([&] { DnnModel d(dir.file("b")); }).find("'no_such_conv'"), std::string::npos);
}

TEST(OneDnnConvAbsent, AskingForItIsABackendError) {
  if (have_onednn()) GTEST_SKIP() << "built with oneDNN";
  if (fixture_bundle().empty()) GTEST_SKIP() << "MTFCDD_TEST_BUNDLE not set (run through ctest)";
  EXPECT_THROW(DnnModel(fixture_bundle(), with_conv(Conv::OneDnn)), BackendError);
  EXPECT_EQ(DnnModel(fixture_bundle()).conv_in_use(), Conv::OpenCv);
}
