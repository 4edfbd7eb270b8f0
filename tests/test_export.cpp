#include <gtest/gtest.h>

#include "test_util.hpp"

#include <filesystem>
#include <fstream>
#include <opencv2/core/cuda.hpp>

#include "detector.hpp"
#include <mtfcdd/dnn_model.hpp>
#include "export.hpp"
#include "fcdd_math.hpp"
#include "fcdd_model.hpp"
#include "onnx_writer.hpp"
#include <mtfcdd/preprocess.hpp>

using namespace mtfcdd;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("mtfcdd_export_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Non-trivial BatchNorm statistics, so that folding is really exercised.
void randomise_batchnorm(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  for (const auto& child : m.modules()) {
    if (auto* bn = child->as<torch::nn::BatchNorm2dImpl>()) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.5, 2.0);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.3, 0.3);
    }
  }
}

std::vector<DefectType> types(int m) {
  std::vector<DefectType> t;
  for (int k = 0; k < m; ++k) t.push_back({"t" + std::to_string(k), "T" + std::to_string(k), 0.5, 0.5});
  return t;
}

// A seeded model with randomised BatchNorm statistics.
FcddModel make_model(const std::string& preset, int64_t size, int m, const std::string& cut = "conv_pw_5",
                     int64_t head = 64, int64_t dilation = 1, int64_t members = 1) {
  ModelConfig cfg;
  cfg.preset = preset;
  cfg.cut = cut;
  cfg.types = m;
  cfg.input_size = size;
  cfg.head_channels = head;
  cfg.head_dilation = dilation;
  cfg.members = members;
  torch::manual_seed(3);
  FcddModel model(cfg);
  randomise_batchnorm(*model);
  return model;
}

ExportResult export_preset(const std::string& preset, int64_t size, int m, const fs::path& dir,
                           const std::string& cut = "conv_pw_5") {
  FcddModel model = make_model(preset, size, m, cut);
  ExportRequest req;
  req.out_dir = dir.string();
  req.types = types(m);
  return export_bundle(*model, req);
}

// An export of two types into a fresh folder `name`.
ExportRequest two_type_request(const std::string& name) {
  ExportRequest req;
  req.types = types(2);
  req.out_dir = temp_dir(name).string();
  return req;
}

using test::message_of;

}  // namespace

TEST(Export, SmallRoundTripMatchesLibTorch) {
  const auto dir = temp_dir("small");
  const auto r = export_preset("small", 96, 3, dir);
  EXPECT_LT(r.maps_rel_l2, 1e-5);
  EXPECT_LT(r.scores_rel_l2, 1e-5);
  EXPECT_TRUE(fs::exists(dir / "model.onnx"));
  const auto m = read_manifest(dir.string());
  EXPECT_EQ(m.types.size(), 3u);
  EXPECT_EQ(m.heatmap_width, 12);
  EXPECT_EQ(m.provenance.is_object(), true);
}

// A dilated head keeps the map's size, and OpenCV DNN runs it as LibTorch does.
TEST(Export, DilatedHeadRoundTripMatchesLibTorch) {
  FcddModel model = make_model("small", 96, 2, "", 32, 3);
  const ExportRequest req = two_type_request("dilated");
  const auto r = export_bundle(*model, req);
  EXPECT_LT(r.maps_rel_l2, 1e-5);
  EXPECT_LT(r.scores_rel_l2, 1e-5);
  EXPECT_EQ(read_manifest(req.out_dir).heatmap_width, 12);
  // Does one pixel at (48, 48) reach the map cell (6, 0), 44 px away? Not through the plain
  // head (reach 21 px of backbone + 2 x 8 px), through the dilated one (21 + 2 x 24 px).
  const auto reaches = [](FcddModel& m) {
    m->eval();
    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::zeros({1, 3, 96, 96});
    const torch::Tensor base = m->forward(x);
    x.index_put_({0, 0, 48, 48}, 50.f);
    return (m->forward(x) - base).abs().sum(1)[0][6][0].item<float>() > 0;
  };
  FcddModel plain = make_model("small", 96, 2, "", 32);
  EXPECT_FALSE(reaches(plain));
  EXPECT_TRUE(reaches(model));
}

// An ensemble's map is the mean of its members' maps, each member a network of its own (own
// initial weights), in LibTorch and in the exported graph that OpenCV DNN runs.
TEST(Export, EnsembleExportsTheMeanOfItsMembersMaps) {
  FcddModel ens = make_model("small", 64, 2, "", 16, 1, 3);
  const auto members = ens->member_list();
  ASSERT_EQ(members.size(), 3u);
  EXPECT_FALSE(torch::equal(members[0]->out->weight, members[1]->out->weight));
  FcddModel one = make_model("small", 64, 2, "", 16);
  EXPECT_EQ(count_parameters(*ens).total, 3 * count_parameters(*one).total);

  // Each member copied into a network of its own, run alone: the ensemble averages their maps.
  ens->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 64, 64}) * 2 - 1;
  torch::Tensor mean = torch::zeros({2, 2, 8, 8});
  for (auto* member : members) {
    FcddModel alone = make_model("small", 64, 2, "", 16);
    alone->copy_network_from(*member);
    alone->eval();
    mean += pseudo_huber(alone->forward(x)) / 3;
  }
  EXPECT_TRUE(torch::allclose(ens->maps(x), mean, 1e-5, 1e-6));
  EXPECT_EQ(ens->forward(x).size(1), 6);  // phi: every member's channels, for their own losses

  const ExportRequest req = two_type_request("ensemble");
  const auto r = export_bundle(*ens, req);  // its check compares OpenCV DNN with ens->maps()
  EXPECT_LT(r.maps_rel_l2, 1e-5);
  EXPECT_LT(r.scores_rel_l2, 1e-5);
  EXPECT_EQ(read_manifest(req.out_dir).heatmap_width, 8);
}

// Networks of two input sides with per-type shares export as one graph (the input and the
// smaller network's maps resized bilinearly in it) that OpenCV DNN runs as LibTorch does; its
// receptive field is the first network's, whose grid the maps are on.
TEST(Export, NetworksOfTwoSidesWithTypeSharesMatchLibTorch) {
  FcddModel at96 = make_model("small", 96, 2, "", 16);
  FcddModel ens = joined({at96, make_model("small", 64, 2, "", 16, 1, 2)});
  ens->set_type_weights({{1.f, 0.2f}, {0.f, 0.4f}, {0.f, 0.4f}});
  const ExportRequest req = two_type_request("two-sides");
  const auto r = export_bundle(*ens, req);
  EXPECT_LT(r.maps_rel_l2, 1e-5);
  EXPECT_LT(r.scores_rel_l2, 1e-5);
  const auto m = read_manifest(req.out_dir);
  EXPECT_EQ(m.input_width, 96);
  EXPECT_EQ(m.heatmap_width, 12);
  const ExportRequest alone = two_type_request("first-alone");
  export_bundle(*at96, alone);
  const ReceptiveField first = read_manifest(alone.out_dir).receptive_field;
  ASSERT_TRUE(first.known());
  EXPECT_EQ(m.receptive_field.size, first.size);
  EXPECT_EQ(m.receptive_field.stride, first.stride);
  EXPECT_EQ(m.receptive_field.offset, first.offset);
  EXPECT_EQ(m.upsampling, Upsampling::Bilinear);
}

// The resize travels in the manifest; only a bundle that needs version 2 is written as version 2.
TEST(Export, ResizeModeIsWrittenWithTheVersionItNeeds) {
  FcddModel model = make_model("small", 64, 2);
  ExportRequest req = two_type_request("fit");
  req.resize = Resize::Fit;
  export_bundle(*model, req);
  const auto fit = read_manifest(req.out_dir);
  EXPECT_EQ(fit.resize, Resize::Fit);
  EXPECT_EQ(fit.format_version, 2);
  req.out_dir = temp_dir("stretch").string();
  req.resize = Resize::Stretch;
  export_bundle(*model, req);
  EXPECT_EQ(read_manifest(req.out_dir).format_version, 1);
}

// A flip-averaging bundle passes the network check (one view) and is written as version 3.
TEST(Export, FlipAverageIsWrittenWithVersionThree) {
  FcddModel model = make_model("small", 64, 2);
  ExportRequest req = two_type_request("flips");
  req.resize = Resize::Fit;
  req.flip_average = FlipAverage::HV;
  EXPECT_LT(export_bundle(*model, req).maps_rel_l2, 1e-4);
  const auto m = read_manifest(req.out_dir);
  EXPECT_EQ(m.flip_average, FlipAverage::HV);
  EXPECT_EQ(m.format_version, 3);
}

// The bundle carries the network's receptive field; a receptive bundle is written as version 5.
// mobilenet_v1 at conv_pw_5 by hand: conv1 3x3/2 (TF SAME at an even size pads bottom/right only,
// offset +1) r 3; dw1 r 7; dw2 3x3/2 (offset +1 * 2) r 11, stride 4; dw3 r 19; dw4 3x3/2
// (offset +1 * 4) r 27, stride 8; dw5 r 43; the head's two 3x3 convs r 59, 75. Offset 1 + 2 + 4.
TEST(Export, ReceptiveFieldAndUpsamplingAreWritten) {
  FcddModel model = make_model("mobilenet_v1", 64, 2);
  ExportRequest req = two_type_request("receptive");
  req.upsampling = Upsampling::Receptive;
  export_bundle(*model, req);
  const auto m = read_manifest(req.out_dir);
  EXPECT_EQ(m.receptive_field.size, 75);
  EXPECT_EQ(m.receptive_field.stride, 8);
  EXPECT_EQ(m.receptive_field.offset, 7.0);
  EXPECT_EQ(m.upsampling, Upsampling::Receptive);
  EXPECT_EQ(m.format_version, 5);
}

// A bf16 bundle passes the float32 check, then the bf16 one (near, not equal: bf16 did run), and
// is written as version 4; where the CPU lacks AVX512_BF16 the export says so and leaves nothing.
TEST(Export, Bf16IsCheckedInBf16AndWrittenWithVersionFour) {
  FcddModel model = make_model("small", 64, 2);
  ExportRequest req = two_type_request("bf16");
  req.precision = Precision::BF16;
  if (!have_bf16()) {
    EXPECT_NE(message_of([&] { export_bundle(*model, req); }).find("AVX512_BF16"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(req.out_dir + "/model.json"));
    GTEST_SKIP() << "this CPU lacks AVX512_BF16: only the refusal was checked";
  }
  const ExportResult r = export_bundle(*model, req);
  EXPECT_LT(r.maps_rel_l2, kExportTolerance);
  EXPECT_GT(r.bf16_maps_rel_l2, 0.0);
  EXPECT_LT(r.bf16_maps_rel_l2, kExportBf16Tolerance);
  const auto m = read_manifest(req.out_dir);
  EXPECT_EQ(m.precision, Precision::BF16);
  EXPECT_EQ(m.format_version, 4);
}

TEST(Export, Irv2AtSmallInputMatchesLibTorch) {
  const auto dir = temp_dir("irv2");
  const auto r = export_preset("irv2", 107, 2, dir);
  EXPECT_LT(r.maps_rel_l2, 1e-4);
  EXPECT_EQ(read_manifest(dir.string()).heatmap_width, 11);
}

TEST(Export, MobileNetOddSizeAsymmetricPaddingMatches) {
  const auto dir = temp_dir("mobilenet");
  const auto r = export_preset("mobilenet_v1", 99, 2, dir, "conv_pw_6");
  EXPECT_LT(r.maps_rel_l2, 1e-4);
}

// Maps from two depths: conv_pw_3 (16x16 at 64 px) and conv_pw_5 (8x8) upsampled to it, one head.
TEST(Export, MobileNetMapsFromTwoDepthsMatchLibTorch) {
  ModelConfig cfg;
  cfg.preset = "mobilenet_v1";
  cfg.cut = "conv_pw_3";
  cfg.second_cut = "conv_pw_5";
  cfg.types = 2;
  cfg.input_size = 64;
  cfg.head_channels = 16;
  FcddModel model(cfg);
  randomise_batchnorm(*model);
  EXPECT_EQ(model->conv1->options.in_channels(), 128 + 256);
  ExportRequest req = two_type_request("two-depths");
  const auto r = export_bundle(*model, req);
  EXPECT_LT(r.maps_rel_l2, 1e-4);
  const BundleManifest m = read_manifest(req.out_dir);
  EXPECT_EQ(m.heatmap_width, 16);
  EXPECT_EQ(m.receptive_field.stride, 4);  // the first cut's grid
  // 66 px: 17x17 at conv_pw_3, 9x9 at conv_pw_5, which does not divide it.
  cfg.input_size = 66;
  FcddModel odd(cfg);
  EXPECT_NE(message_of([&] { odd->to_graph(); }).find("does not divide"), std::string::npos);
  EXPECT_THROW(odd->forward(torch::zeros({1, 3, 66, 66})), std::invalid_argument);
  cfg.second_cut = "conv_pw_2";  // not deeper
  EXPECT_THROW(FcddModel{cfg}, std::invalid_argument);
  cfg.second_cut = "conv_pw_12";
  EXPECT_NE(message_of([&] { FcddModel{cfg}; }).find("second cut must be"), std::string::npos);
  cfg.second_cut = "conv_pw_5";
  cfg.cut = "pw3";  // not silently one depth
  EXPECT_NE(message_of([&] { FcddModel{cfg}; }).find("cut must be conv_pw_1"), std::string::npos);
  cfg.preset = "small";
  EXPECT_THROW(FcddModel{cfg}, std::invalid_argument);
}

TEST(Export, DnnModelBatchesAndPreprocessesLikeTheManifestSays) {
  const auto dir = temp_dir("batch");
  export_preset("small", 64, 2, dir);
  DnnModel dnn(dir.string());
  std::vector<cv::Mat> imgs = {cv::Mat(50, 70, CV_8UC1, cv::Scalar(200)), cv::Mat(64, 64, CV_8UC3, cv::Scalar(10, 20, 30)),
                               cv::Mat(80, 40, CV_8UC4, cv::Scalar(0, 0, 255, 255))};
  const cv::Mat blob = make_blob(imgs, dnn.manifest());
  ASSERT_EQ(blob.size[0], 3);
  // RGB order, x / 127.5 - 1: the BGR pixel (10, 20, 30) becomes R = 30 -> -0.7647 in channel 0.
  EXPECT_NEAR(blob.ptr<float>(1, 0)[0], 30 / 127.5 - 1, 1e-6);
  EXPECT_NEAR(blob.ptr<float>(1, 2)[0], 10 / 127.5 - 1, 1e-6);
  EXPECT_NEAR(blob.ptr<float>(0, 1)[5], 200 / 127.5 - 1, 1e-6);
  const cv::Mat maps = dnn.forward(blob);
  EXPECT_EQ(maps.size[0], 3);
  EXPECT_EQ(maps.size[1], 2);
  EXPECT_THROW(make_blob({cv::Mat()}, dnn.manifest()), std::invalid_argument);
  EXPECT_THROW(make_blob({cv::Mat(4, 4, CV_16UC1)}, dnn.manifest()), std::invalid_argument);
}

TEST(Bundle, CorruptBundlesAreRejectedWithTheCause) {
  const auto dir = temp_dir("corrupt");
  export_preset("small", 64, 2, dir);
  const auto json_path = dir / "model.json";
  std::ifstream in(json_path);
  const auto good = nlohmann::json::parse(in);

  auto write = [&](const nlohmann::json& j) { std::ofstream(json_path) << j.dump(); };

  auto j = good;
  j["types"].push_back({{"name", "extra"}, {"image_threshold", 1}, {"pixel_threshold", 1}});
  write(j);
  EXPECT_NE(message_of([&] { DnnModel d(dir.string()); }).find("does not match its manifest"), std::string::npos);

  j = good;
  j["heatmap"]["width"] = 9;
  write(j);
  EXPECT_NE(message_of([&] { DnnModel d(dir.string()); }).find("does not match its manifest"), std::string::npos);

  j = good;
  j.erase("input");
  write(j);
  EXPECT_NE(message_of([&] { DnnModel d(dir.string()); }).find("input: missing"), std::string::npos);

  j = good;
  j["format_version"] = 99;
  write(j);
  EXPECT_NE(message_of([&] { DnnModel d(dir.string()); }).find("format_version: 99 is not supported"), std::string::npos);

  j = good;
  j["input"]["resize"] = "fit";  // version 1 readers would stretch instead: it needs version 2
  write(j);
  EXPECT_NE(message_of([&] { DnnModel d(dir.string()); }).find("needs format_version 2"), std::string::npos);
  j["format_version"] = 2;
  j["input"]["resize"] = "crop";
  write(j);
  EXPECT_NE(message_of([&] { DnnModel d(dir.string()); }).find("input.resize: must be stretch or fit"),
            std::string::npos);

  j = good;
  j["types"][0]["image_threshold"] = "high";
  write(j);
  EXPECT_NE(message_of([&] { DnnModel d(dir.string()); }).find("types[0].image_threshold"), std::string::npos);

  std::ofstream(json_path) << "{ not json";
  EXPECT_NE(message_of([&] { DnnModel d(dir.string()); }).find("not valid JSON"), std::string::npos);

  write(good);
  fs::resize_file(dir / "model.onnx", fs::file_size(dir / "model.onnx") / 2);
  EXPECT_NE(message_of([&] { DnnModel d(dir.string()); }).find("cannot load ONNX model"), std::string::npos);

  fs::remove(dir / "model.onnx");
  EXPECT_NE(message_of([&] { DnnModel d(dir.string()); }).find("cannot load ONNX model"), std::string::npos);
  EXPECT_NE(message_of([&] { DnnModel d((dir / "nowhere").string()); }).find("cannot open bundle manifest"),
            std::string::npos);
}

TEST(Bundle, CudaBackendFailsClearlyWithoutCudaUnlessFallback) {
  if (cv::cuda::getCudaEnabledDeviceCount() > 0) GTEST_SKIP() << "this OpenCV has CUDA";
  const auto dir = temp_dir("cuda");
  export_preset("small", 64, 1, dir);
  EXPECT_NE(message_of([&] { DnnModel d(dir.string(), {Backend::Cuda, false}); }).find("needs OpenCV built with CUDA"),
            std::string::npos);
  DnnModel fallback(dir.string(), {Backend::Cuda, true});
  EXPECT_EQ(fallback.backend_in_use(), Backend::Cpu);
  DnnModel automatic(dir.string(), {Backend::Auto, false});
  EXPECT_EQ(automatic.backend_in_use(), Backend::Cpu);
}

TEST(Export, DetectorResultsEqualLibTorch) {
  // The plugin's detector, fed 8-bit frames, gives the scores LibTorch gives on the same
  // preprocessed input.
  const auto dir = temp_dir("detector");
  FcddModel model = make_model("small", 64, 2, "", 16);
  ExportRequest req;
  req.out_dir = dir.string();
  req.types = types(2);
  export_bundle(*model, req);

  cv::Mat a(90, 120, CV_8UC3), b(64, 64, CV_8UC1);
  cv::randu(a, 0, 255);
  cv::randu(b, 0, 255);
  Detector det({{"model", dir.string()}}, "");
  const auto out = det.process({{a, ""}, {b, ""}});
  const cv::Mat blob = make_blob({a, b}, read_manifest(dir.string()));
  model->eval();
  torch::NoGradGuard ng;
  const auto x = torch::from_blob(const_cast<float*>(blob.ptr<float>()), {2, 3, 64, 64}, torch::kFloat);
  const auto z = anomaly_scores(pseudo_huber(model->forward(x)));
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 2; ++k)
      EXPECT_NEAR(out[i].types[k].score, z[i][k].item<float>(), 1e-4 * (1 + std::fabs(z[i][k].item<float>())));
}

TEST(Bundle, ModelProducingNaNIsRejectedWithTheCause) {
  // A bundle whose weights hold a NaN (written without the export check) fails at load with a
  // message that says so, instead of passing NaN scores downstream.
  const auto dir = temp_dir("nan");
  FcddModel model = make_model("small", 64, 1, "", 8);
  model->eval();
  {
    torch::NoGradGuard ng;
    model->out->bias.fill_(std::numeric_limits<float>::quiet_NaN());
  }
  write_onnx(model->to_graph(), (dir / "model.onnx").string(), "test");
  write_manifest(manifest_for(*model, types(1)), dir.string());
  const std::string msg = message_of([&] { DnnModel d(dir.string()); });
  EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
}
