#include <mtfcdd/bundle.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <mtfcdd/json_input.hpp>
#include <stdexcept>

#include "mtfcdd/read_file.hpp"

namespace mtfcdd {
namespace {

using nlohmann::json;
using Reader = JsonReader<std::runtime_error>;

constexpr int kMaxSide = 16384;
constexpr double kMaxSmoothing = 64;  // map cells; more would blur any map flat

DefectType read_type(const Reader& r) {
  r.only({"name", "display", "image_threshold", "pixel_threshold", "smoothing", "peak_fraction"});
  DefectType t;
  t.name = r.text("name");
  if (t.name.empty()) r.fail("name", "is empty");
  t.display = r.text("display", t.name);
  // Scores cross the C ABI as float32: a threshold beyond its range would become infinite.
  t.image_threshold = r.number("image_threshold");
  t.pixel_threshold = r.number("pixel_threshold");
  t.smoothing = r.number("smoothing", 0, kMaxSmoothing, t.smoothing);
  t.peak_fraction = r.number("peak_fraction", 0, kMaxPeakFraction, t.peak_fraction);
  return t;
}

std::vector<DefectType> read_types(const Reader& r) {
  const json& types = r.at("types");
  if (!types.is_array() || types.empty()) r.fail("types", "must be a non-empty array");
  std::vector<DefectType> out;
  for (size_t i = 0; i < types.size(); ++i) {
    const DefectType t = read_type(r.child_at("types", i));
    for (const auto& other : out)
      if (other.name == t.name) r.fail("types", "type '" + excerpt(t.name) + "' is listed twice");
    out.push_back(t);
  }
  return out;
}

void read_input(const Reader& in, BundleManifest& m) {
  in.only({"name", "width", "height", "layout", "channel_order", "resize", "mean", "std"});
  m.input_name = in.text("name");
  m.input_width = static_cast<int>(in.integer("width", 1, kMaxSide));
  m.input_height = static_cast<int>(in.integer("height", 1, kMaxSide));
  // The only layout make_blob() produces; an "NHWC" model would read planes as pixels.
  if (in.text("layout", "NCHW") != "NCHW") in.fail("layout", "must be NCHW, got " + excerpt(in.at("layout")));
  m.channel_order = in.choice<ChannelOrder>("channel_order");
  m.resize = in.choice("resize", Resize::Stretch);
  m.mean = in.numbers<3>("mean");
  m.std = in.numbers<3>("std");
  if (!std::all_of(m.std.begin(), m.std.end(), [](double s) { return s > 0; }))
    in.fail("std", "values must be positive, got " + excerpt(in.at("std")));
}

// What each format version added, so that a bundle is written with the oldest version that holds
// what it uses and older builds refuse what they would misread.
struct Feature {
  bool used;
  int version;
  std::string what;
};
std::vector<Feature> features(const BundleManifest& m) {
  return {{m.resize != Resize::Stretch, 2, std::string("input.resize ") + name_of(m.resize)},
          {m.flip_average != FlipAverage::None, 3, std::string("flip_average ") + name_of(m.flip_average)},
          {m.precision == Precision::BF16, 4, "precision bf16"},
          {m.upsampling == Upsampling::Receptive, 5, "upsampling receptive"},
          {m.precision == Precision::Int8, 6, "precision int8"},
          {m.precision == Precision::BF16 && !m.float32_convolutions.empty(), 7, "bf16 with float32_convolutions"},
          {std::any_of(m.types.begin(), m.types.end(), [](const DefectType& t) { return t.smoothing > 0; }), 8,
           "a type's smoothing"},
          {m.upsampling == Upsampling::ReceptiveNormalized, 9, "upsampling receptive-normalized"},
          {std::any_of(m.types.begin(), m.types.end(), [](const DefectType& t) { return t.peak_fraction > 0; }), 10,
           "a type's peak_fraction"}};
}

// {"layer": [min, max], ...}: finite, min <= max, not all zero.
std::map<std::string, Int8Range> read_int8_ranges(const Reader& r) {
  std::map<std::string, Int8Range> out;
  for (auto it = r.json().begin(); it != r.json().end(); ++it) {
    const auto v = r.numbers<2>(it.key());
    if (!(v[0] <= v[1]) || !is_finite_float(v[0]) || !is_finite_float(v[1]) || (v[0] == 0 && v[1] == 0))
      r.fail(excerpt(it.key()), "must be [min, max] with min <= max, finite, not both 0");
    out[it.key()] = {static_cast<float>(v[0]), static_cast<float>(v[1])};
  }
  if (out.empty()) r.fail("", "must name at least one convolution");
  return out;
}

// ["layer", ...]: non-empty names, each once.
std::set<std::string> read_layer_names(const Reader& r, const std::string& key) {
  const json& a = r.at(key);
  if (!a.is_array()) r.fail(key, "must be an array of layer names, got " + excerpt(a));
  std::set<std::string> out;
  for (const json& name : a)
    if (!name.is_string() || name.get_ref<const std::string&>().empty() || !out.insert(name.get<std::string>()).second)
      r.fail(key, "must list non-empty layer names, each once; got " + excerpt(name));
  return out;
}

ReceptiveField read_receptive_field(const Reader& r) {
  r.only({"size", "stride", "offset"});
  ReceptiveField f;
  f.size = static_cast<int>(r.integer("size", 1, kMaxSide));
  f.stride = static_cast<int>(r.integer("stride", 1, kMaxSide));
  f.offset = r.number("offset", -kMaxSide, kMaxSide);
  return f;
}

int needed_format(const BundleManifest& m) {
  int v = 1;
  for (const Feature& f : features(m))
    if (f.used) v = std::max(v, f.version);
  return v;
}

}  // namespace

BundleManifest manifest_from_json(const json& j, const std::string& source) {
  const Reader r(j, source);
  // Every key any format version has had: a typo is refused rather than silently ignored.
  r.only({"format", "format_version", "model", "types", "input", "flip_average", "precision", "int8_input_ranges",
          "float32_convolutions", "upsampling", "outputs", "heatmap", "receptive_field", "calibrated", "provenance"});
  BundleManifest m;
  if (r.text("format") != "mtfcdd-bundle") r.fail("format", "is not \"mtfcdd-bundle\"");
  if (!integer_in(r.at("format_version"), 1, kBundleFormatVersion))  // a newer one this build would misread
    r.fail("format_version", excerpt(r.at("format_version")) + " is not supported (this build reads the integers 1 to " +
                                 std::to_string(kBundleFormatVersion) + ")");
  m.format_version = r.at("format_version").get<int>();
  m.model_file = r.text("model");
  const std::string& file = m.model_file;
  if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos)
    r.fail("model", "must be a file name inside the bundle, got " + excerpt(r.at("model")));
  m.types = read_types(r);
  read_input(r.child("input"), m);
  m.flip_average = r.choice("flip_average", FlipAverage::None);
  m.precision = r.choice("precision", Precision::Float32);
  if (m.precision == Precision::Int8) m.int8_ranges = read_int8_ranges(r.child("int8_input_ranges"));
  if (m.precision == Precision::BF16 && r.has("float32_convolutions"))
    m.float32_convolutions = read_layer_names(r, "float32_convolutions");
  m.upsampling = r.choice("upsampling", Upsampling::Bilinear);
  for (const Feature& f : features(m))
    if (f.used && m.format_version < f.version)
      r.fail("format_version", f.what + " needs format_version " + std::to_string(f.version));
  const Reader out = r.child("outputs");
  // Bundles of older trainers also name a "scores" output (z per type); z is taken from the
  // maps after flip averaging, so that output is neither run nor required.
  out.only({"anomaly_maps", "scores"});
  m.maps_output = out.text("anomaly_maps");
  const Reader hm = r.child("heatmap");
  hm.only({"width", "height"});
  m.heatmap_width = static_cast<int>(hm.integer("width", 1, kMaxSide));
  m.heatmap_height = static_cast<int>(hm.integer("height", 1, kMaxSide));
  if (r.has("receptive_field")) m.receptive_field = read_receptive_field(r.child("receptive_field"));
  if (needs_receptive_field(m.upsampling) && !m.receptive_field.known())
    r.fail("upsampling", std::string(name_of(m.upsampling)) + " needs 'receptive_field'");
  m.calibrated = r.flag("calibrated", false);
  if (r.has("provenance")) m.provenance = r.at("provenance");
  return m;
}

json manifest_to_json(const BundleManifest& m) {
  json types = json::array();
  for (const auto& t : m.types) {
    types.push_back({{"name", t.name}, {"display", t.display}, {"image_threshold", t.image_threshold},
                     {"pixel_threshold", t.pixel_threshold}});
    if (t.smoothing > 0) types.back()["smoothing"] = t.smoothing;
    if (t.peak_fraction > 0) types.back()["peak_fraction"] = t.peak_fraction;
  }
  json j = {{"format", "mtfcdd-bundle"},
          {"format_version", needed_format(m)},
          {"model", m.model_file},
          {"types", types},
          {"input",
           {{"name", m.input_name},
            {"width", m.input_width},
            {"height", m.input_height},
            {"layout", "NCHW"},
            {"channel_order", name_of(m.channel_order)},
            {"resize", name_of(m.resize)},
            {"mean", m.mean},
            {"std", m.std}}},
          {"outputs", {{"anomaly_maps", m.maps_output}}},
          {"heatmap", {{"width", m.heatmap_width}, {"height", m.heatmap_height}}},
          {"flip_average", name_of(m.flip_average)},
          {"precision", name_of(m.precision)},
          {"upsampling", name_of(m.upsampling)},
          {"calibrated", m.calibrated},
          {"provenance", m.provenance}};
  if (m.precision == Precision::Int8) {
    json ranges = json::object();
    for (const auto& [layer, r] : m.int8_ranges) ranges[layer] = {r.min, r.max};
    j["int8_input_ranges"] = ranges;
  }
  if (m.precision == Precision::BF16 && !m.float32_convolutions.empty())
    j["float32_convolutions"] = m.float32_convolutions;
  if (m.receptive_field.known())
    j["receptive_field"] = {{"size", m.receptive_field.size}, {"stride", m.receptive_field.stride},
                            {"offset", m.receptive_field.offset}};
  return j;
}

Upsampler upsampler_of(const BundleManifest& m, std::optional<Upsampling> mode) {
  Upsampler up{mode.value_or(m.upsampling), m.receptive_field, {m.input_width, m.input_height}, {}};
  for (const auto& t : m.types) up.smoothing.push_back(t.smoothing);
  if (needs_receptive_field(up.mode) && !up.field.known())
    throw std::runtime_error(std::string("upsampling \"") + name_of(up.mode) +
                             "\" needs the bundle's receptive_field, and this bundle has none (an older trainer's)");
  return up;
}

BundleManifest read_manifest(const std::string& bundle_dir) {
  const std::string path = bundle_dir + "/model.json";
  const std::string text = read_file(path, "cannot open bundle manifest");
  json j;
  try {
    j = parse_json(text);
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  } catch (const JsonTooDeep& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  return manifest_from_json(j, path);
}

void write_manifest(const BundleManifest& m, const std::string& bundle_dir) {
  const std::string path = bundle_dir + "/model.json", tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f || !(f << manifest_to_json(m).dump(2) << '\n') || !f.flush())
      throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot write " + path);
}

}  // namespace mtfcdd
