// The bundle manifest's writer and reader (plugins/mtfcdd/src/bundle.cpp): what is written is read
// back whole, with the oldest format version that holds what the bundle uses.
#include <gtest/gtest.h>

#include <functional>

#include <mtfcdd/bundle.hpp>

using namespace mtfcdd;

namespace {

// A manifest with every field away from its default (precision and its fields apart).
BundleManifest full_manifest(Precision precision) {
  BundleManifest m;
  m.model_file = "net.onnx";
  m.types = {{"scratch", "Scratch", 1.25, 0.5, 2.0, 0.6}, {"pit", "Pit", 3.5, 0.75, 0.0}};
  m.input_width = 96;
  m.input_height = 64;
  m.channel_order = ChannelOrder::BGR;
  m.resize = Resize::Fit;
  m.flip_average = FlipAverage::HV;
  m.precision = precision;
  if (precision == Precision::Int8) m.int8_ranges = {{"conv1", {0.f, 6.f}}, {"conv2", {-1.5f, 2.25f}}};
  if (precision == Precision::BF16) m.float32_convolutions = {"conv1", "head"};
  m.mean = {120, 115.5, 104};
  m.std = {58, 57.25, 57.5};
  m.input_name = "pixels";
  m.maps_output = "maps";
  m.heatmap_width = 12;
  m.heatmap_height = 8;
  m.receptive_field = {75, 8, 7.0};
  m.upsampling = Upsampling::ReceptiveNormalized;
  m.calibrated = true;
  m.provenance = {{"preset", "small"}, {"epochs", 3}};
  return m;
}

BundleManifest round_trip(const BundleManifest& m) { return manifest_from_json(manifest_to_json(m), "model.json"); }

int written_version(const BundleManifest& m) { return manifest_to_json(m).at("format_version").get<int>(); }

void expect_same(const BundleManifest& a, const BundleManifest& b) {
  EXPECT_EQ(a.model_file, b.model_file);
  ASSERT_EQ(a.types.size(), b.types.size());
  for (size_t i = 0; i < a.types.size(); ++i) {
    EXPECT_EQ(a.types[i].name, b.types[i].name);
    EXPECT_EQ(a.types[i].display, b.types[i].display);
    EXPECT_EQ(a.types[i].image_threshold, b.types[i].image_threshold);
    EXPECT_EQ(a.types[i].pixel_threshold, b.types[i].pixel_threshold);
    EXPECT_EQ(a.types[i].smoothing, b.types[i].smoothing);
    EXPECT_EQ(a.types[i].peak_fraction, b.types[i].peak_fraction);
  }
  EXPECT_EQ(a.input_width, b.input_width);
  EXPECT_EQ(a.input_height, b.input_height);
  EXPECT_EQ(a.channel_order, b.channel_order);
  EXPECT_EQ(a.resize, b.resize);
  EXPECT_EQ(a.flip_average, b.flip_average);
  EXPECT_EQ(a.precision, b.precision);
  ASSERT_EQ(a.int8_ranges.size(), b.int8_ranges.size());
  for (const auto& [layer, r] : a.int8_ranges) {
    EXPECT_EQ(r.min, b.int8_ranges.at(layer).min) << layer;
    EXPECT_EQ(r.max, b.int8_ranges.at(layer).max) << layer;
  }
  EXPECT_EQ(a.float32_convolutions, b.float32_convolutions);
  EXPECT_EQ(a.mean, b.mean);
  EXPECT_EQ(a.std, b.std);
  EXPECT_EQ(a.input_name, b.input_name);
  EXPECT_EQ(a.maps_output, b.maps_output);
  EXPECT_EQ(a.heatmap_width, b.heatmap_width);
  EXPECT_EQ(a.heatmap_height, b.heatmap_height);
  EXPECT_EQ(a.receptive_field.size, b.receptive_field.size);
  EXPECT_EQ(a.receptive_field.stride, b.receptive_field.stride);
  EXPECT_EQ(a.receptive_field.offset, b.receptive_field.offset);
  EXPECT_EQ(a.upsampling, b.upsampling);
  EXPECT_EQ(a.calibrated, b.calibrated);
  EXPECT_EQ(a.provenance, b.provenance);
}

// The least a manifest needs: float32, stretch, no flips, bilinear, no smoothing or peak fraction
// (version 1).
BundleManifest plain_manifest() {
  BundleManifest m = full_manifest(Precision::Float32);
  m.resize = Resize::Stretch;
  m.flip_average = FlipAverage::None;
  m.upsampling = Upsampling::Bilinear;
  for (auto& t : m.types) t.smoothing = t.peak_fraction = 0;
  return m;
}

}  // namespace

TEST(BundleManifest, EveryFieldSurvivesWritingAndReading) {
  for (Precision p : {Precision::Float32, Precision::BF16, Precision::Int8}) {
    SCOPED_TRACE(name_of(p));
    const BundleManifest m = full_manifest(p);
    const BundleManifest back = round_trip(m);
    expect_same(m, back);
    EXPECT_EQ(back.format_version, 10);  // a type's peak_fraction
    expect_same(m, round_trip(back));
  }
  const BundleManifest plain = plain_manifest();
  expect_same(plain, round_trip(plain));
}

// Each feature raises the written version to the one that introduced it, and no further.
TEST(BundleManifest, WrittenVersionIsTheOldestThatHoldsWhatTheBundleUses) {
  EXPECT_EQ(written_version(plain_manifest()), 1);
  const auto with = [](const std::function<void(BundleManifest&)>& change) {
    BundleManifest m = plain_manifest();
    change(m);
    return written_version(m);
  };
  EXPECT_EQ(with([](BundleManifest& m) { m.resize = Resize::Fit; }), 2);
  EXPECT_EQ(with([](BundleManifest& m) { m.flip_average = FlipAverage::H; }), 3);
  EXPECT_EQ(with([](BundleManifest& m) { m.precision = Precision::BF16; }), 4);
  EXPECT_EQ(with([](BundleManifest& m) { m.upsampling = Upsampling::Receptive; }), 5);
  EXPECT_EQ(with([](BundleManifest& m) {
              m.precision = Precision::Int8;
              m.int8_ranges = {{"conv1", {0.f, 1.f}}};
            }),
            6);
  EXPECT_EQ(with([](BundleManifest& m) {
              m.precision = Precision::BF16;
              m.float32_convolutions = {"conv1"};
            }),
            7);
  EXPECT_EQ(with([](BundleManifest& m) { m.types[1].smoothing = 1.5; }), 8);
  EXPECT_EQ(with([](BundleManifest& m) { m.upsampling = Upsampling::ReceptiveNormalized; }), 9);
  EXPECT_EQ(with([](BundleManifest& m) { m.types[0].peak_fraction = 0.7; }), 10);
  // Several features: the newest of them.
  EXPECT_EQ(with([](BundleManifest& m) {
              m.resize = Resize::Fit;
              m.upsampling = Upsampling::Receptive;
              m.flip_average = FlipAverage::V;
            }),
            5);
  EXPECT_EQ(kBundleFormatVersion, 10);  // a new feature needs its row above
}

// Written with its version, a manifest is also refused below it: a reader of that older version
// would misread the feature.
TEST(BundleManifest, AVersionBelowAFeatureIsRefusedNamingIt) {
  BundleManifest m = plain_manifest();
  m.types[0].smoothing = 2;
  nlohmann::json j = manifest_to_json(m);
  j["format_version"] = 7;
  try {
    manifest_from_json(j, "model.json");
    ADD_FAILURE() << "read a smoothing type at format_version 7";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("a type's smoothing needs format_version 8"), std::string::npos) << e.what();
  }
}
