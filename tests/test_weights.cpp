#include <gtest/gtest.h>

#include "test_util.hpp"

#include <filesystem>
#include <fstream>

#include "backbone.hpp"
#include "safetensors.hpp"
#include "weights.hpp"

using namespace mtfcdd;
namespace fs = std::filesystem;

namespace {

std::string temp_path(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("mtfcdd_weights_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

using test::message_of;

}  // namespace

TEST(Weights, LoadsTestWrittenIrv2FileAndIgnoresLaterLayers) {
  auto src = make_irv2_backbone();
  for (auto& p : src->parameters()) p.data().uniform_(-1, 1);
  auto tensors = state_tensors(*src);
  tensors["mixed_6a.branch0.conv.weight"] = {{2, 2}, {1, 2, 3, 4}};  // later layers of timm's file
  tensors["classif.bias"] = {{1}, {0.5f}};
  tensors["conv2d_1a.bn.num_batches_tracked"] = {{}, {0.f}};
  const auto path = temp_path("irv2.safetensors");
  write_safetensors(path, tensors);

  auto dst = make_irv2_backbone();
  const auto report = load_weights(*dst, read_safetensors(path), path);
  EXPECT_EQ(report.ignored, 2u);
  EXPECT_EQ(report.loaded, state_tensors(*dst).size());
  EXPECT_TRUE(torch::equal(dst->named_parameters()["repeat.3.conv2d.weight"],
                           src->named_parameters()["repeat.3.conv2d.weight"]));
}

TEST(Weights, MisShapedMissingAndUnexpectedTensorsAreNamed) {
  auto net = make_small_backbone();
  auto good = state_tensors(*net);

  auto bad = good;
  bad["features.0.conv.weight"].shape = {32, 3, 3, 1};
  bad["features.0.conv.weight"].data.resize(32 * 3 * 3);
  EXPECT_NE(message_of([&] { load_weights(*net, bad, "f"); }).find("'features.0.conv.weight' has shape"),
            std::string::npos);

  bad = good;
  bad.erase("features.2.bn.running_var");
  EXPECT_NE(message_of([&] { load_weights(*net, bad, "f"); }).find("missing tensor 'features.2.bn.running_var'"),
            std::string::npos);

  bad = good;
  bad["features.1.extra"] = {{1}, {1.f}};
  EXPECT_NE(message_of([&] { load_weights(*net, bad, "f"); }).find("unexpected tensor 'features.1.extra'"),
            std::string::npos);
}

TEST(Safetensors, RoundTripAndHalfPrecision) {
  TensorMap t;
  t["a"] = {{2, 3}, {1, 2, 3, 4, 5, 6}};
  t["b.c"] = {{1}, {-0.25f}};
  const auto path = temp_path("rt.safetensors");
  write_safetensors(path, t);
  const auto r = read_safetensors(path);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r.at("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.at("a").data, t.at("a").data);
  EXPECT_EQ(r.at("b.c").data, t.at("b.c").data);

  // Hand-made F16 file: 1.0 = 0x3C00, -2.0 = 0xC000, 2^-24 = 0x0001 (subnormal).
  const std::string header = R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]}})";
  const auto hp = temp_path("half.safetensors");
  std::ofstream f(hp, std::ios::binary);
  uint64_t len = header.size();
  f.write(reinterpret_cast<const char*>(&len), 8);
  f << header;
  const uint16_t vals[3] = {0x3C00, 0xC000, 0x0001};
  f.write(reinterpret_cast<const char*>(vals), 6);
  f.close();
  const auto h = read_safetensors(hp).at("h").data;
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], std::ldexp(1.0f, -24));
}

TEST(Safetensors, TruncatedAndCorruptFilesAreRejected) {
  TensorMap t;
  t["w"] = {{4, 4}, std::vector<float>(16, 1.f)};
  const auto path = temp_path("trunc.safetensors");
  write_safetensors(path, t);
  fs::resize_file(path, fs::file_size(path) - 8);
  EXPECT_NE(message_of([&] { read_safetensors(path); }).find("'w' lies outside the file"), std::string::npos);

  fs::resize_file(path, 5);
  EXPECT_NE(message_of([&] { read_safetensors(path); }).find("8-byte header"), std::string::npos);

  const auto junk = temp_path("junk.safetensors");
  std::ofstream(junk, std::ios::binary) << std::string("\x05\0\0\0\0\0\0\0{abc}", 13);
  EXPECT_NE(message_of([&] { read_safetensors(junk); }).find("not JSON"), std::string::npos);
  EXPECT_NE(message_of([&] { read_safetensors(temp_path("absent")); }).find("cannot open"), std::string::npos);
}
