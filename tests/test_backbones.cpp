#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "backbone.hpp"
#include "export.hpp"
#include "fcdd_model.hpp"
#include "npy.hpp"
#include "safetensors.hpp"
#include "test_util.hpp"
#include "weights.hpp"

using namespace mtfcdd;
namespace fs = std::filesystem;

namespace {

const std::string kMobileNetDir = MTFCDD_SHARED_DIR "/weights/mobilenet_v1_1.0_224";

torch::Tensor to_tensor(const test::Npy& n) {
  return torch::from_blob(const_cast<float*>(n.data.data()), n.shape, torch::kFloat).clone();
}

std::shared_ptr<BackboneImpl> pretrained_mobilenet(int blocks) {
  auto net = make_mobilenet_v1_backbone(blocks);
  load_weights(*net, read_safetensors(kMobileNetDir + "/mobilenet_v1_1.0_224.conv_pw_11.safetensors"), "mobilenet");
  net->eval();
  return net;
}

}  // namespace

class MobileNetReference : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(MobileNetReference, FeaturesMatchKerasReference) {
  if (!fs::exists(kMobileNetDir)) GTEST_SKIP() << "shared weights not found at " << kMobileNetDir;
  const auto [input, blocks] = GetParam();
  auto net = pretrained_mobilenet(blocks);
  torch::NoGradGuard ng;
  const auto x = to_tensor(test::read_npy(kMobileNetDir + "/ref_" + input + "_input.npy"));
  const auto ref = to_tensor(test::read_npy(kMobileNetDir + "/ref_" + input + "_conv_pw_" +
                                            std::to_string(blocks) + "_relu.npy"));
  const auto got = net->forward(x);
  ASSERT_EQ(got.sizes(), ref.sizes());
  EXPECT_LT(relative_l2(got, ref), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Shared, MobileNetReference,
                         ::testing::Values(std::make_tuple("chelsea", 5), std::make_tuple("chelsea", 11),
                                           std::make_tuple("random", 1), std::make_tuple("random", 5),
                                           std::make_tuple("random", 11)));

TEST(MobileNet, CutIsValidated) {
  EXPECT_THROW(make_backbone("mobilenet_v1", "conv_pw_12"), std::invalid_argument);
  EXPECT_THROW(make_backbone("mobilenet_v1", "conv_dw_5"), std::invalid_argument);
  EXPECT_THROW(make_backbone("resnet", ""), std::invalid_argument);
  EXPECT_EQ(make_backbone("mobilenet_v1", "conv_pw_5")->out_channels(), 256);
}

TEST(Irv2, TimmNamesAndShapes) {
  auto net = make_irv2_backbone();
  std::set<std::string> names;
  for (const auto& [name, t] : state_tensors(*net)) names.insert(name);
  // 5 stem convs + 7 in mixed_5b + 10 x (6 convs) = 72 conv+BN blocks of 5 tensors, plus
  // 10 x conv2d weight and bias.
  EXPECT_EQ(names.size(), 72u * 5 + 20);
  for (const char* n : {"conv2d_1a.conv.weight", "conv2d_1a.bn.running_mean", "conv2d_2b.bn.running_var",
                        "conv2d_4a.conv.weight", "mixed_5b.branch0.bn.weight", "mixed_5b.branch1.0.conv.weight",
                        "mixed_5b.branch1.1.conv.weight", "mixed_5b.branch2.2.bn.bias",
                        "mixed_5b.branch3.1.conv.weight", "repeat.0.branch2.2.bn.bias",
                        "repeat.9.branch1.1.conv.weight", "repeat.9.conv2d.weight", "repeat.9.conv2d.bias"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_EQ(net->named_parameters()["mixed_5b.branch1.1.conv.weight"].sizes(), (std::vector<int64_t>{64, 48, 5, 5}));
  net->eval();
  torch::NoGradGuard ng;
  EXPECT_EQ(net->forward(torch::zeros({1, 3, 299, 299})).sizes(), (std::vector<int64_t>{1, 320, 35, 35}));
}

TEST(Irv2, ParameterCountMatchesPaper) {
  ModelConfig cfg;
  cfg.preset = "irv2";
  cfg.types = 8;
  FcddModel m(cfg);
  const auto pc = count_parameters(*m);
  EXPECT_NEAR(pc.total / 1e6, 5.5, 0.05);  // paper: ~5.5 M
}

TEST(Model, FrozenBackboneStaysInEvalMode) {
  ModelConfig cfg;
  cfg.types = 2;
  cfg.input_size = 64;
  FcddModel m(cfg);
  m->set_backbone_frozen(true);
  m->train();
  EXPECT_TRUE(m->is_training());
  EXPECT_FALSE(m->backbone->is_training());
  for (const auto& p : m->backbone->parameters()) EXPECT_FALSE(p.requires_grad());
  EXPECT_EQ(count_parameters(*m).trainable, count_parameters(*m).head);
  m->set_backbone_frozen(false);
  EXPECT_TRUE(m->backbone->is_training());
}

namespace {

// A `small` network for two types.
ModelConfig two_types(int64_t side, int64_t head, int64_t members = 1) {
  ModelConfig c;
  c.types = 2;
  c.input_size = side;
  c.head_channels = head;
  c.members = members;
  return c;
}

}  // namespace

// Runs trained apart join as one ensemble: its maps are the mean over all their networks (each
// with its own head), and networks whose maps would not align are refused, naming why.
TEST(Model, JoinedNetworksMapTheMeanOverAllTheirMembers) {
  torch::manual_seed(3);
  const ModelConfig two = two_types(64, 16, 2);
  ModelConfig dilated = two;
  dilated.members = 1;
  dilated.head_dilation = 2;
  dilated.head_channels = 8;
  FcddModel a(two), b(dilated);
  FcddModel both = joined({a, b});
  EXPECT_EQ(both->config().members, 3);
  EXPECT_EQ(both->member_list()[2]->config().head_dilation, 2);
  a->eval();
  b->eval();
  both->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 64, 64}) * 2 - 1;
  const torch::Tensor mean = (2 * a->maps(x) + b->maps(x)) / 3;  // a's two members, b's one
  EXPECT_TRUE(torch::allclose(both->maps(x), mean, 1e-5, 1e-7));
  EXPECT_EQ(joined({a})->config().members, 2);  // a copy, not the same modules
  EXPECT_NE(joined({a})->conv1->weight.data_ptr(), a->conv1->weight.data_ptr());

  ModelConfig other = dilated;
  other.preset = "mobilenet_v1";
  const std::string why = test::message_of([&] { joined({a, FcddModel(other)}); });
  EXPECT_NE(why.find("mobilenet_v1"), std::string::npos) << why;
}

namespace {

torch::Tensor bilinear_to(const torch::Tensor& x, int64_t side) {
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{side, side}).mode(torch::kBilinear).align_corners(false));
}

}  // namespace

// A network trained at another side joins too: it sees the input resized to its own side and its
// maps are resized to the first network's grid; per-type shares take each type from the networks
// given, and shares that do not add up per type are refused.
TEST(Model, JoinedNetworksOfOtherSidesAndTypeSharesMapAsTold) {
  torch::manual_seed(4);
  FcddModel a(two_types(64, 8)), b(two_types(96, 8));
  FcddModel both = joined({a, b});
  a->eval();
  b->eval();
  both->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 64, 64}) * 2 - 1;
  const torch::Tensor bs = bilinear_to(b->maps(bilinear_to(x, 96)), 8);  // 12x12 maps on the 8x8 grid
  EXPECT_TRUE(torch::allclose(both->maps(x), (a->maps(x) + bs) / 2, 1e-5, 1e-7));

  both->set_type_weights({{1.f, 0.25f}, {0.f, 0.75f}});
  const torch::Tensor m = both->maps(x);
  EXPECT_TRUE(torch::allclose(m.select(1, 0), a->maps(x).select(1, 0), 1e-5, 1e-7));
  EXPECT_TRUE(torch::allclose(m.select(1, 1), 0.25 * a->maps(x).select(1, 1) + 0.75 * bs.select(1, 1), 1e-5, 1e-7));
  EXPECT_THROW(both->set_type_weights({{1.f, 0.5f}, {0.f, 0.25f}}), std::invalid_argument);   // type 1 sums to .75
  EXPECT_THROW(both->set_type_weights({{1.f, 1.5f}, {0.f, -0.5f}}), std::invalid_argument);  // a negative share
  EXPECT_THROW(both->set_type_weights({{1.f, 1.f}}), std::invalid_argument);                 // one row of two
}
