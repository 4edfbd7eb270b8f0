#include "bundle.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <mtfcdd/json_input.hpp>
#include <stdexcept>

#include "flip_average.hpp"

namespace mtfcdd {
namespace {

using nlohmann::json;

struct Reader {
  const std::string& source;
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(source + ": " + what);
  }
  const json& at(const json& j, const std::string& key, const std::string& path) const {
    if (!j.is_object() || !j.contains(key)) fail("missing key '" + path + key + "'");
    return j.at(key);
  }
  template <typename T>
  T get(const json& j, const std::string& key, const std::string& path = "") const {
    const json& v = at(j, key, path);
    try {
      return v.get<T>();
    } catch (const json::exception&) {
      fail("key '" + path + key + "' has the wrong type: " + excerpt(v));
    }
  }
  int integer(const json& j, const std::string& key, const std::string& path, int lo, int hi) const {
    const json& v = at(j, key, path);
    const auto i = integer_in(v, lo, hi);
    if (!i)
      fail("key '" + path + key + "' must be an integer " + std::to_string(lo) + " .. " + std::to_string(hi) +
           ", got " + excerpt(v));
    return static_cast<int>(*i);
  }
  int positive(const json& j, const std::string& key, const std::string& path) const {
    return integer(j, key, path, 1, 16384);
  }
};

}  // namespace

bool is_resize_mode(const std::string& s) { return s == "stretch" || s == "fit"; }

BundleManifest manifest_from_json(const json& j, const std::string& source) {
  const Reader r{source};
  if (!j.is_object()) r.fail("the manifest is not a JSON object");
  BundleManifest m;
  if (r.get<std::string>(j, "format") != "mtfcdd-bundle") r.fail("'format' is not \"mtfcdd-bundle\"");
  const json& version = r.at(j, "format_version", "");
  if (!integer_in(version, 1, kBundleFormatVersion))  // a newer one this build would misread
    r.fail("format_version " + excerpt(version) + " is not supported (this build reads the integers 1 to " +
           std::to_string(kBundleFormatVersion) + ")");
  m.format_version = version.get<int>();
  m.model_file = r.get<std::string>(j, "model");
  if (m.model_file.empty() || m.model_file.find('/') != std::string::npos)
    r.fail("'model' must be a file name inside the bundle");

  const json& types = r.at(j, "types", "");
  if (!types.is_array() || types.empty()) r.fail("'types' must be a non-empty array");
  for (size_t i = 0; i < types.size(); ++i) {
    const std::string p = "types[" + std::to_string(i) + "].";
    DefectType t;
    t.name = r.get<std::string>(types[i], "name", p);
    t.display = types[i].contains("display") ? r.get<std::string>(types[i], "display", p) : t.name;
    t.image_threshold = r.get<double>(types[i], "image_threshold", p);
    t.pixel_threshold = r.get<double>(types[i], "pixel_threshold", p);
    if (t.name.empty()) r.fail("'" + p + "name' is empty");
    if (!is_finite_float(t.image_threshold) || !is_finite_float(t.pixel_threshold))
      r.fail("thresholds of type '" + excerpt(t.name) + "' must be finite float32 numbers");
    for (const auto& other : m.types)
      if (other.name == t.name) r.fail("type '" + excerpt(t.name) + "' is listed twice");
    m.types.push_back(t);
  }

  const json& in = r.at(j, "input", "");
  m.input_name = r.get<std::string>(in, "name", "input.");
  m.input_width = r.positive(in, "width", "input.");
  m.input_height = r.positive(in, "height", "input.");
  // The only layout make_blob() produces; an "NHWC" model would read planes as pixels.
  if (in.contains("layout") && r.get<std::string>(in, "layout", "input.") != "NCHW")
    r.fail("'input.layout' must be NCHW, got " + excerpt(in.at("layout")));
  m.channel_order = r.get<std::string>(in, "channel_order", "input.");
  if (m.channel_order != "RGB" && m.channel_order != "BGR")
    r.fail("'input.channel_order' must be RGB or BGR, got " + excerpt(m.channel_order));
  if (in.contains("resize")) m.resize = r.get<std::string>(in, "resize", "input.");
  if (!is_resize_mode(m.resize))
    r.fail("'input.resize' must be stretch or fit, got " + excerpt(m.resize));
  if (m.resize != "stretch" && m.format_version < 2)
    r.fail("'input.resize' " + m.resize + " needs format_version 2");
  m.mean = r.get<std::array<double, 3>>(in, "mean", "input.");
  m.std = r.get<std::array<double, 3>>(in, "std", "input.");
  for (size_t c = 0; c < 3; ++c)
    if (!std::isfinite(m.mean[c]) || !(m.std[c] > 0) || !std::isfinite(m.std[c]))
      r.fail("'input.mean' values must be finite and 'input.std' values finite and positive");

  if (j.contains("flip_average")) m.flip_average = r.get<std::string>(j, "flip_average");
  if (!is_flip_average_mode(m.flip_average))
    r.fail("'flip_average' must be none, h, v or hv, got " + excerpt(m.flip_average));
  if (m.flip_average != "none" && m.format_version < 3)
    r.fail("'flip_average' " + m.flip_average + " needs format_version 3");

  if (j.contains("precision")) m.precision = r.get<std::string>(j, "precision");
  if (m.precision != "float32" && m.precision != "bf16")
    r.fail("'precision' must be float32 or bf16, got " + m.precision);
  if (m.precision != "float32" && m.format_version < 4)
    r.fail("'precision' " + m.precision + " needs format_version 4");

  const json& out = r.at(j, "outputs", "");
  m.maps_output = r.get<std::string>(out, "anomaly_maps", "outputs.");
  m.scores_output = r.get<std::string>(out, "scores", "outputs.");
  const json& hm = r.at(j, "heatmap", "");
  m.heatmap_width = r.positive(hm, "width", "heatmap.");
  m.heatmap_height = r.positive(hm, "height", "heatmap.");
  if (j.contains("receptive_field")) {
    const json& rf = j.at("receptive_field");
    m.receptive_field.size = r.positive(rf, "size", "receptive_field.");
    m.receptive_field.stride = r.positive(rf, "stride", "receptive_field.");
    m.receptive_field.offset = r.get<double>(rf, "offset", "receptive_field.");
    if (!(std::fabs(m.receptive_field.offset) <= 16384))
      r.fail("'receptive_field.offset' must be a number within +-16384");
  }
  if (j.contains("upsampling")) {
    try {
      m.upsampling = parse_upsampling(r.get<std::string>(j, "upsampling"));
    } catch (const std::runtime_error& e) {
      r.fail(std::string("'upsampling': ") + e.what());
    }
  }
  if (m.upsampling == Upsampling::Receptive && m.format_version < 5) r.fail("'upsampling' receptive needs format_version 5");
  if (m.upsampling == Upsampling::Receptive && !m.receptive_field.known())
    r.fail("'upsampling' receptive needs 'receptive_field'");
  if (j.contains("calibrated")) m.calibrated = r.get<bool>(j, "calibrated");
  if (j.contains("provenance")) m.provenance = j.at("provenance");
  return m;
}

json manifest_to_json(const BundleManifest& m) {
  json types = json::array();
  for (const auto& t : m.types)
    types.push_back({{"name", t.name}, {"display", t.display}, {"image_threshold", t.image_threshold},
                     {"pixel_threshold", t.pixel_threshold}});
  json j = {{"format", "mtfcdd-bundle"},
          {"format_version", m.upsampling != Upsampling::Bilinear ? 5
                             : m.precision != "float32"  ? 4
                             : m.flip_average != "none" ? 3
                             : m.resize != "stretch"    ? 2
                                                        : 1},
          {"model", m.model_file},
          {"types", types},
          {"input",
           {{"name", m.input_name},
            {"width", m.input_width},
            {"height", m.input_height},
            {"layout", "NCHW"},
            {"channel_order", m.channel_order},
            {"resize", m.resize},
            {"mean", m.mean},
            {"std", m.std}}},
          {"outputs", {{"anomaly_maps", m.maps_output}, {"scores", m.scores_output}}},
          {"heatmap", {{"width", m.heatmap_width}, {"height", m.heatmap_height}}},
          {"flip_average", m.flip_average},
          {"precision", m.precision},
          {"upsampling", upsampling_name(m.upsampling)},
          {"calibrated", m.calibrated},
          {"provenance", m.provenance}};
  if (m.receptive_field.known())
    j["receptive_field"] = {{"size", m.receptive_field.size}, {"stride", m.receptive_field.stride},
                            {"offset", m.receptive_field.offset}};
  return j;
}

Upsampler upsampler_of(const BundleManifest& m, std::optional<Upsampling> mode) {
  const Upsampler up{mode.value_or(m.upsampling), m.receptive_field, {m.input_width, m.input_height}};
  if (up.mode == Upsampling::Receptive && !up.field.known())
    throw std::runtime_error("upsampling \"receptive\" needs the bundle's receptive_field (export it with a newer trainer)");
  return up;
}

BundleManifest read_manifest(const std::string& bundle_dir) {
  const std::string path = bundle_dir + "/model.json";
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open bundle manifest " + path);
  json j;
  try {
    j = parse_json(f);
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
