// A pipeline file: preprocessing stages, then one detector plugin, then the sinks each routed
// action goes to. An Inspector runs one frame through it; each worker thread owns one.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "plugin_loader.hpp"
#include "sinks.hpp"
#include "stages.hpp"
#include "vision_plugin.hpp"

namespace mtfcdd::host {

struct Pipeline {
  std::string path;
  std::vector<std::unique_ptr<Stage>> stages;
  std::shared_ptr<LoadedPlugin> plugin;  // outlives every detector made from it
  std::string plugin_config;             // the plugin's JSON configuration
  std::string base_dir;                  // the pipeline file's folder
  ActionSinks sinks;
};

// Throws std::runtime_error naming the file and the entry: malformed JSON, unknown stage,
// no or several plugin stages, a plugin stage that is not last, a plugin that fails to load.
Pipeline load_pipeline(const std::string& path);

// The report line's part that comes from a plugin's frame result: ok, decision, action, params,
// matches, types with their regions, timings. Throws "plugin result: ..." on a NULL string or
// malformed JSON where the ABI promises one.
nlohmann::json report_fields(const VpFrameResult& f);

// One input's outcome: the JSONL report line, and the overlay when one was rendered. A line whose
// overlay failed holds "overlay_error"; its sinks still ran.
struct Inspection {
  nlohmann::json line;
  cv::Mat overlay;
  bool ok = false;
};

class Inspector {
 public:
  // Creates this worker's detector handle; throws vp::Error naming the cause.
  explicit Inspector(const Pipeline& p);
  // Throws naming the pipeline, the action and the plugin's actions when the pipeline's "actions"
  // name one the plugin's routing (describe()'s routing.actions) lacks: its sinks would never
  // run. Checks nothing when the plugin describes no routing actions.
  void check_actions();
  // Never throws: a failure becomes {"ok": false, "error": ...} on the line.
  Inspection inspect(const std::string& name, const cv::Mat& image, const std::string& overlay_dir);

 private:
  const Pipeline& p_;
  vp::Detector detector_;
};

}  // namespace mtfcdd::host
