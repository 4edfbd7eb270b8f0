// gst-launch-1.0 over synthetic images with the visionplugin element: every image's routed action
// equals the one vision-host reports for the same image with the same plugin and configuration.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int sh(const std::string& cmd) { return WEXITSTATUS(std::system(cmd.c_str())); }

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST(GstLaunch, PerImageActionsEqualVisionHostReport) {
  mtfcdd::test::TempDir dir;
  const fs::path frames = dir.file("frames");
  fs::create_directories(frames);
  std::vector<fs::path> images;
  for (const auto& e : fs::directory_iterator(fs::path(MTFCDD_GST_SYNTH) / "img" / "test"))
    if (e.path().extension() == ".png") images.push_back(e.path());
  std::sort(images.begin(), images.end());
  ASSERT_GE(images.size(), 10u);
  // multifilesrc reads a numbered sequence; the host reads the same files under the same names.
  std::vector<std::string> names;
  std::string inputs;
  for (size_t i = 0; i < images.size(); ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "%03zu.png", i);
    fs::create_symlink(images[i], frames / name);
    names.push_back((frames / name).string());
    inputs += " '" + names.back() + "'";
  }

  // The demo detector config inline, its model made absolute (the host resolves against the pipeline's folder).
  json detector = json::parse(std::ifstream(MTFCDD_DEMO_CONFIG));
  detector["model"] = (fs::path(MTFCDD_DEMO_CONFIG).parent_path() / detector["model"].get<std::string>()).string();
  const json pipeline = {{"stages", {{{"type", "plugin"}, {"path", MTFCDD_PLUGIN_PATH}, {"config", detector}}}}};
  std::ofstream(dir.file("pipeline.json")) << pipeline.dump();
  ASSERT_EQ(sh(std::string(MTFCDD_HOST_PATH) + " run --pipeline '" + dir.file("pipeline.json") + "' --report '" +
               dir.file("report.jsonl") + "'" + inputs + " >/dev/null 2>&1"),
            0);
  std::map<std::string, std::string> host_action;
  for (const auto& l : lines_of(dir.file("report.jsonl"))) {
    const json j = json::parse(l);
    host_action[j.at("input").get<std::string>()] = j.value("action", "<failed>");
  }
  ASSERT_EQ(host_action.size(), images.size());

  const std::string launch = "GST_PLUGIN_PATH='" + std::string(MTFCDD_GST_PLUGIN_DIR) + "' gst-launch-1.0 -m " +
                             "multifilesrc location='" + (frames / "%03d.png").string() +
                             "' caps=image/png,framerate=5/1 ! pngdec ! videoconvert ! visionplugin plugin='" +
                             MTFCDD_PLUGIN_PATH + "' config='" + MTFCDD_DEMO_CONFIG + "' ! fakesink > '" +
                             dir.file("gst.txt") + "' 2>&1";
  ASSERT_EQ(sh(launch), 0) << launch;
  const std::regex result(
      R"(vision-result, pts=\(guint64\)\d+, frame=\(guint64\)(\d+), .*action=\(string\)\"?([\w-]+))");
  std::map<size_t, std::string> gst_action;
  for (const auto& l : lines_of(dir.file("gst.txt"))) {
    std::smatch m;
    if (std::regex_search(l, m, result)) gst_action[std::stoul(m[1])] = m[2];
  }
  ASSERT_EQ(gst_action.size(), images.size()) << "see " << dir.file("gst.txt");
  size_t defects = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(gst_action[i], host_action[names[i]]) << names[i] << " = " << images[i];
    defects += gst_action[i] != "pass";
  }
  EXPECT_GT(defects, 0u) << "the split should route some images away from pass";
}
