#include "pipeline.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mtfcdd/json_input.hpp>

#include "overlay.hpp"

namespace mtfcdd::host {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  try {
    return parse_json(f);
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  } catch (const JsonTooDeep& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

VpImage to_vp(const cv::Mat& m) {
  VpImage im{};
  im.struct_size = sizeof im;
  im.width = m.cols;
  im.height = m.rows;
  im.stride = static_cast<int32_t>(m.step[0]);
  im.format = m.channels() == 1 ? VP_PIXEL_GRAY8 : m.channels() == 4 ? VP_PIXEL_BGRA8 : VP_PIXEL_BGR8;
  im.data = m.data;
  return im;
}

// The plugin stage: the library and its config (an object, or a JSON file beside the pipeline).
void read_plugin_stage(const JsonReader<>& s, Pipeline& p) {
  s.only({"type", "path", "config"});
  fs::path lib = s.text("path");
  if (lib.is_relative()) lib = fs::path(p.base_dir) / lib;
  if (s.has("config") && s.at("config").is_string()) {
    const fs::path cp = s.text("config");
    p.plugin_config = read_json((cp.is_relative() ? fs::path(p.base_dir) / cp : cp).string()).dump();
  } else {
    p.plugin_config = s.child_or_empty("config").json().dump();
  }
  try {
    p.plugin = std::make_shared<LoadedPlugin>(lib.lexically_normal().string());
  } catch (const std::exception& e) {
    s.fail("", e.what());
  }
}

// A string the plugin's result must hold (the ABI allows no NULL there).
const char* required(const char* s, const std::string& what) {
  if (!s) throw std::runtime_error("plugin result: " + what + " is NULL");
  return s;
}

json parsed(const char* s, const std::string& what) {
  const std::string_view text = required(s, what);
  try {
    return parse_json(text);
  } catch (const std::exception& e) {  // malformed, or nested too deep
    throw std::runtime_error("plugin result: " + what + ": " + e.what());
  }
}

// The overlay for --overlays and the overlay sinks. A failure here is the line's "overlay_error",
// not the frame's: the sinks still run (an overlay sink then finds no overlay).
void add_overlay(Inspection& out, const cv::Mat& frame, const VpFrameResult& f, const std::string& name,
                 const std::string& dir) {
  try {
    out.overlay = render_overlay(frame, overlay_types(f), f.action);
    std::error_code ec;
    if (!dir.empty())
      out.line["overlay"] = write_png(dir, png_name(name, fs::is_regular_file(name, ec)), out.overlay).string();
  } catch (const std::exception& e) {
    out.line["overlay_error"] = e.what();
  }
}

// The action's event for the sinks: the routed action, its parameters, the types and the
// decisive type (by the index the plugin gives).
ActionEvent action_event(const VpFrameResult& f, const json& line) {
  ActionEvent ev;
  ev.action = f.action;
  ev.params = line.at("params");
  ev.types = line.at("types");
  if (f.decisive_type < -1 || f.decisive_type >= static_cast<int64_t>(f.type_count))
    throw std::runtime_error("plugin result: decisive_type " + std::to_string(f.decisive_type) + " is not a type");
  if (f.decisive_type >= 0) {
    const VpTypeResult& t = vp::type_at(f, static_cast<uint32_t>(f.decisive_type));
    ev.type = t.name;
    ev.score = t.score;
    ev.probability = t.probability;
  }
  return ev;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

bool is_plugin_stage(const json& s) { return s.is_object() && s.contains("type") && s.at("type") == "plugin"; }

// Checked before the order of stages, so that two plugin stages are named as such.
void check_one_plugin_stage(const JsonReader<>& r, const json& stages) {
  std::vector<std::string> found;
  for (size_t i = 0; i < stages.size(); ++i)
    if (is_plugin_stage(stages[i])) found.push_back("stages[" + std::to_string(i) + "]");
  if (found.size() > 1) r.fail("stages", "a pipeline has one plugin stage, found " + joined(found));
}

}  // namespace

json report_fields(const VpFrameResult& f) {
  json types = json::array();
  for (uint32_t k = 0; k < f.type_count; ++k) {
    const VpTypeResult& t = vp::type_at(f, k);
    json regions = json::array();
    for (uint32_t r = 0; r < t.region_count; ++r) {
      const VpRegion& g = t.regions[r];
      const VpRegionShape& shape = t.region_shapes[r];
      regions.push_back({{"x", g.x}, {"y", g.y}, {"width", g.width}, {"height", g.height}, {"area", g.area},
                         {"peak", g.peak}, {"mean", g.mean}, {"length", shape.length}, {"caliper_width", shape.width}});
    }
    types.push_back({{"name", required(t.name, "types[" + std::to_string(k) + "].name")}, {"score", t.score},
                     {"probability", t.probability}, {"threshold", t.threshold}, {"decision", t.decision != 0},
                     {"pixel_threshold", t.pixel_threshold},
                     {"configured_pixel_threshold", t.configured_pixel_threshold}, {"regions", regions}});
  }
  return {{"ok", true},
          {"decision", f.decision != 0},
          {"action", required(f.action, "action")},
          {"params", parsed(f.action_params, "action_params")},
          {"matches", parsed(f.matches, "matches")},
          {"types", types},
          {"timings_ms", {{"preprocess", f.preprocess_ms}, {"inference", f.inference_ms}, {"postprocess", f.postprocess_ms}}}};
}

Pipeline load_pipeline(const std::string& path) {
  const json j = read_json(path);
  Pipeline p;
  p.path = path;
  p.base_dir = fs::absolute(path).parent_path().string();
  const JsonReader<> r(j, path);
  r.only({"stages", "actions"});
  const json& stages = r.at("stages");
  if (!stages.is_array()) r.fail("stages", "must be an array, got " + excerpt(stages));
  check_one_plugin_stage(r, stages);
  for (size_t i = 0; i < stages.size(); ++i) {
    const std::string where = "stages[" + std::to_string(i) + "]";
    const json& s = stages[i];
    if (is_plugin_stage(s)) {
      if (i + 1 != stages.size()) r.fail(where, "the plugin stage must be the last stage");
      read_plugin_stage(r.child_at("stages", i), p);
      continue;
    }
    try {
      p.stages.push_back(make_stage(s, where));
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
  }
  if (!p.plugin) r.fail("", "no plugin stage (add {\"type\": \"plugin\", \"path\": ...} as the last stage)");
  try {
    p.sinks = ActionSinks(r.child_or_empty("actions").json(), p.base_dir);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  return p;
}

Inspector::Inspector(const Pipeline& p) : p_(p), detector_(p.plugin->api(), p.plugin_config, p.base_dir) {}

void Inspector::check_actions() {
  const json d = json::parse(detector_.describe(), nullptr, false);
  const json::json_pointer at("/routing/actions");
  if (!d.is_object() || !d.contains(at) || !d.at(at).is_object()) return;  // a plugin without routing
  std::vector<std::string> known;
  for (const auto& [name, params] : d.at(at).items()) known.push_back(name);
  for (const std::string& a : p_.sinks.actions())
    if (!d.at(at).contains(a))
      throw std::runtime_error(p_.path + ": actions." + a + ": the plugin's routing has no action '" + a +
                               "', so these sinks would never run (its actions: " + joined(known) + ")");
}

Inspection Inspector::inspect(const std::string& name, const cv::Mat& image, const std::string& overlay_dir) {
  Inspection out;
  out.line = {{"input", name}};
  const auto t0 = std::chrono::steady_clock::now();
  try {
    cv::Mat frame = image;
    for (const auto& s : p_.stages) frame = s->apply(frame);
    const VpImage im = to_vp(frame);
    const vp::Result res = detector_.process(&im, 1);
    const VpFrameResult& f = res[0];
    out.line.update(report_fields(f));
    if (!overlay_dir.empty() || p_.sinks.wants_overlay(f.action)) add_overlay(out, frame, f, name, overlay_dir);
    ActionEvent ev = action_event(f, out.line);
    ev.input = name;
    ev.image = &image;
    ev.overlay = out.overlay.empty() ? nullptr : &out.overlay;
    json sinks = json::array();
    for (const auto& o : p_.sinks.dispatch(ev)) sinks.push_back({{"sink", o.sink}, {"ok", o.ok}, {"message", o.message}});
    out.line["sinks"] = sinks;
    out.ok = true;
  } catch (const std::exception& e) {
    out.line["ok"] = false;
    out.line["error"] = e.what();
  }
  out.line["latency_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace mtfcdd::host
