#include <gtest/gtest.h>

#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <thread>

#include "pipeline.hpp"
#include "plugin_loader.hpp"
#include "sources.hpp"
#include "summary.hpp"
#include "test_util.hpp"

using namespace mtfcdd::host;
using mtfcdd::test::message_of;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string bundle() {
  const char* b = std::getenv("MTFCDD_TEST_BUNDLE");
  return b ? b : "";
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("mtfcdd_host_" + std::to_string(::getpid())) / name) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

fs::path write_pipeline(const fs::path& dir, const json& j) {
  const auto p = dir / "pipeline.json";
  std::ofstream(p) << j.dump(2);
  return p;
}

json good_pipeline(const fs::path& events) {
  return {{"stages",
           {{{"type", "resize"}, {"width", 96}},
            {{"type", "plugin"},
             {"path", MTFCDD_PLUGIN_PATH},
             {"config",
              {{"model", bundle()},
               {"thresholds", {{"pit", {{"image", 0.0}, {"pixel", 0.0}}}}},
               {"routing",
                {{"actions", {{"pass", json::object()}, {"check", {{"station", 2}}}}},
                 {"rules", {{{"types", {"pit"}}, {"action", "check"}, {"priority", 1}}}},
                 {"default", "pass"}}}}}}}},
          {"actions", {{"check", {{{"sink", "jsonl"}, {"path", events.string()}}}}}}};
}

std::vector<json> read_lines(const fs::path& p) {
  std::vector<json> out;
  std::ifstream f(p);
  for (std::string line; std::getline(f, line);) out.push_back(json::parse(line));
  return out;
}

int run(const std::string& args) { return WEXITSTATUS(std::system((std::string(MTFCDD_HOST_PATH) + " " + args + " >/dev/null 2>&1").c_str())); }

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (bundle().empty()) GTEST_SKIP() << "MTFCDD_TEST_BUNDLE not set (run through ctest)";
  }
};

}  // namespace

TEST(PluginLoader, LoadsTheRealPluginAndRejectsBrokenOnes) {
  const LoadedPlugin p(MTFCDD_PLUGIN_PATH);
  EXPECT_STREQ(p.info().name, "mtfcdd");
  EXPECT_NE(message_of([] { LoadedPlugin x(MTFCDD_NO_ENTRY_PLUGIN); }).find("no vp_get_api entry point"), std::string::npos);
  // A version-1 plugin is refused at load, not read for fields its results lack.
  EXPECT_NE(message_of([] { LoadedPlugin x(MTFCDD_OLD_ABI_PLUGIN); })
                .find("does not serve vision plugin ABI version " + std::to_string(VP_ABI_VERSION) + " (too old"),
            std::string::npos);
  EXPECT_NE(message_of([] { LoadedPlugin x("/nonexistent/libx.so"); }).find("no such file"), std::string::npos);
  EXPECT_NE(message_of([] { LoadedPlugin x("/etc/hostname"); }).find("cannot load"), std::string::npos);
}

TEST_F(HostTest, PipelineParsingNamesEachBadEntry) {
  TempDir d("parse");
  const json good = good_pipeline(d.path / "e.jsonl");
  EXPECT_NO_THROW(load_pipeline(write_pipeline(d.path, good).string()));
  const auto msg = [&](json j) { return message_of([&] { load_pipeline(write_pipeline(d.path, j).string()); }); };
  json j = good;
  j["stages"][0]["type"] = "sharpen";
  EXPECT_NE(msg(j).find("stages[0]"), std::string::npos);
  j = good;
  j["stages"].erase(1);
  EXPECT_NE(msg(j).find("no plugin stage"), std::string::npos);
  j = good;
  std::swap(j["stages"][0], j["stages"][1]);
  EXPECT_NE(msg(j).find("must be the last stage"), std::string::npos);
  j = good;
  j["stages"][1]["path"] = "missing.so";
  EXPECT_NE(msg(j).find("missing.so: no such file"), std::string::npos);
  j = good;
  j["stages"][1]["path"] = MTFCDD_NO_ENTRY_PLUGIN;
  EXPECT_NE(msg(j).find("no vp_get_api"), std::string::npos);
  j = good;
  j["actions"]["check"][0]["sink"] = "mail";
  EXPECT_NE(msg(j).find("mail"), std::string::npos);
  j = good;
  j["colour"] = 1;
  EXPECT_NE(msg(j).find("pipeline.json: colour: unknown key"), std::string::npos);
  std::ofstream(d.path / "pipeline.json") << "{ broken";
  EXPECT_NE(message_of([&] { load_pipeline((d.path / "pipeline.json").string()); }).find("not valid JSON"),
            std::string::npos);
  // A plugin configuration the plugin rejects stops the run before any image.
  j = good;
  j["stages"][1]["config"]["thresholds"] = {{"rust", {{"image", 1}}}};
  const Pipeline p = load_pipeline(write_pipeline(d.path, j).string());
  EXPECT_NE(message_of([&] { Inspector i(p); }).find("rust"), std::string::npos);
}

TEST_F(HostTest, StagesChainBeforeTheDetectorAndActionsDispatch) {
  TempDir d("inspect");
  const Pipeline p = load_pipeline(write_pipeline(d.path, good_pipeline(d.path / "events.jsonl")).string());
  Inspector ins(p);
  cv::Mat img(50, 200, CV_8UC1, cv::Scalar(90));
  const Inspection r = ins.inspect("frame-1", img, (d.path / "ov").string() + "");
  ASSERT_TRUE(r.ok) << r.line.dump();
  EXPECT_EQ(r.line.at("action"), "check");
  EXPECT_EQ(r.line.at("types").size(), 3u);
  // The resize stage ran first: the pit region covers the resized 96 x 24 frame.
  EXPECT_EQ(r.line.at("types")[1].at("regions")[0].at("width"), 96);
  EXPECT_EQ(r.line.at("types")[1].at("regions")[0].at("height"), 24);
  const auto events = read_lines(d.path / "events.jsonl");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].at("type"), "pit");
  EXPECT_EQ(events[0].at("params").at("station"), 2);
}

// The stages run in the file's order before the plugin: crop then resize gives 8 x 4 (resize then
// crop would give 4 x 2); a bad stage is named by its place.
TEST_F(HostTest, StagesRunInTheFilesOrder) {
  TempDir d("order");
  json j = good_pipeline(d.path / "events.jsonl");
  j["stages"] = {{{"type", "crop"}, {"x", 0}, {"y", 0}, {"width", 4}, {"height", 2}},
                 {{"type", "resize"}, {"width", 8}},
                 {{"type", "color"}, {"to", "bgr"}},
                 j["stages"][1]};
  const Pipeline p = load_pipeline(write_pipeline(d.path, j).string());
  ASSERT_EQ(p.stages.size(), 3u);
  EXPECT_EQ(p.stages[1]->name(), "resize");
  Inspector ins(p);
  const Inspection r = ins.inspect("frame", cv::Mat(8, 10, CV_8UC1, cv::Scalar(90)), "");
  ASSERT_TRUE(r.ok) << r.line.dump();
  // pit's pixel threshold is 0: its one region is the whole staged frame.
  EXPECT_EQ(r.line.at("types")[1].at("regions")[0].at("width"), 8);
  EXPECT_EQ(r.line.at("types")[1].at("regions")[0].at("height"), 4);
  j["stages"][1]["type"] = "blur";
  EXPECT_NE(message_of([&] { load_pipeline(write_pipeline(d.path, j).string()); }).find("stages[1].type"),
            std::string::npos);
}

// A result struct smaller than the negotiated version's is refused before a field past it is read.
TEST(PluginResults, StructsSmallerThanTheServedVersionAreRefused) {
  VpTypeResult types[2]{};
  for (auto& t : types) t.struct_size = sizeof(VpTypeResult);
  VpFrameResult frame{};
  frame.struct_size = sizeof(VpFrameResult);
  frame.types = types;
  frame.type_count = 2;
  const VpResult result{sizeof(VpResult), &frame, 1};
  EXPECT_NO_THROW(vp::check_result_sizes(result));
  types[0].struct_size = types[1].struct_size = offsetof(VpTypeResult, pixel_threshold);  // a version-1 plugin's
  EXPECT_NE(message_of([&] { vp::check_result_sizes(result); }).find("VpTypeResult.struct_size"), std::string::npos);
  frame.struct_size = offsetof(VpFrameResult, decisive_type);
  EXPECT_NE(message_of([&] { vp::check_result_sizes(result); }).find("VpFrameResult.struct_size"), std::string::npos);
}

TEST_F(HostTest, FolderRunWithACorruptImageReportsEveryInputAndThreadsAgree) {
  TempDir d("run");
  const auto in = d.path / "in";
  fs::create_directories(in);
  for (int i = 0; i < 7; ++i) {
    cv::Mat m(40 + i, 60, CV_8UC3, cv::Scalar(20 * i, 100, 200 - 20 * i));
    cv::imwrite((in / ("img" + std::to_string(i) + ".png")).string(), m);
  }
  std::ofstream(in / "corrupt.png") << "not a png at all";
  const auto pipe = write_pipeline(d.path, good_pipeline(d.path / "events.jsonl"));
  EXPECT_EQ(run("run --pipeline " + pipe.string() + " --report " + (d.path / "r1.jsonl").string() + " --overlays " +
                (d.path / "ov").string() + " " + in.string()),
            1);  // one input failed
  EXPECT_EQ(run("run --pipeline " + pipe.string() + " --threads 3 --report " + (d.path / "r3.jsonl").string() + " " +
                in.string()),
            1);
  const auto r1 = read_lines(d.path / "r1.jsonl"), r3 = read_lines(d.path / "r3.jsonl");
  ASSERT_EQ(r1.size(), 8u);
  ASSERT_EQ(r3.size(), 8u);
  EXPECT_FALSE(r1[0].at("ok"));  // corrupt.png sorts first
  EXPECT_NE(r1[0].at("error").get<std::string>().find("corrupt.png"), std::string::npos);
  for (size_t i = 0; i < r1.size(); ++i) {
    EXPECT_EQ(r1[i].at("input"), r3[i].at("input"));
    if (!r1[i].at("ok")) continue;
    for (size_t k = 0; k < 3; ++k)
      EXPECT_FLOAT_EQ(r1[i].at("types")[k].at("score").get<float>(), r3[i].at("types")[k].at("score").get<float>());
    EXPECT_TRUE(fs::exists(r1[i].at("overlay").get<std::string>()));
  }
  EXPECT_EQ(run("run --pipeline " + (d.path / "missing.json").string() + " " + in.string()), 2);
  EXPECT_EQ(run("run " + in.string()), 2);
  EXPECT_EQ(run("info " + std::string(MTFCDD_PLUGIN_PATH)), 0);
  EXPECT_EQ(run("info " + std::string(MTFCDD_OLD_ABI_PLUGIN)), 2);
}

// A host killed with SIGKILL mid-run leaves a report of complete lines, one per finished input in
// input order, and sink files that are whole (written beside, then renamed).
TEST_F(HostTest, KilledHostLeavesACompleteReportAndWholeFiles) {
  TempDir d("kill");
  const auto in = d.path / "in";
  fs::create_directories(in);
  constexpr int kImages = 600;
  for (int i = 0; i < kImages; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "img%04d.png", i);
    cv::imwrite((in / name).string(), cv::Mat(48, 64, CV_8UC3, cv::Scalar(i % 256, 90, 200)));
  }
  json pipe = good_pipeline(d.path / "events.jsonl");
  pipe["actions"]["check"].push_back({{"sink", "copy"}, {"dir", (d.path / "copies").string()}});
  pipe["actions"]["check"].push_back({{"sink", "overlay"}, {"dir", (d.path / "overlays").string()}});
  const auto pipe_path = write_pipeline(d.path, pipe);
  const auto report = d.path / "report.jsonl";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int log_fd = ::open((d.path / "host.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execl(MTFCDD_HOST_PATH, MTFCDD_HOST_PATH, "run", "--pipeline", pipe_path.c_str(), "--threads", "2", "--report",
            report.c_str(), in.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Kill it once some lines are out, mid-write as likely as not.
  const auto lines_now = [&] {
    std::ifstream f(report);
    return std::count(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>(), '\n');
  };
  for (int i = 0; i < 3000 && lines_now() < 20; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::ifstream log(d.path / "host.log");
  ASSERT_TRUE(WIFSIGNALED(status)) << "the host exited (" << WEXITSTATUS(status) << ") before it was killed:\n"
                                   << std::string(std::istreambuf_iterator<char>(log), {}).substr(0, 4000);
  const auto lines = read_lines(report);  // throws on a partial line
  ASSERT_GE(lines.size(), 20u);
  ASSERT_LT(lines.size(), size_t(kImages));
  for (size_t i = 0; i < lines.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "img%04zu.png", i);
    EXPECT_EQ(fs::path(lines[i].at("input").get<std::string>()).filename(), name);
  }
  for (const char* dir : {"copies", "overlays"}) {
    if (!fs::exists(d.path / dir)) continue;
    for (const auto& e : fs::directory_iterator(d.path / dir)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(".", 0) == 0) continue;  // a temporary beside the final name
      EXPECT_FALSE(cv::imread(e.path().string()).empty()) << name << " is not a whole PNG";
    }
  }
}

TEST_F(HostTest, VideoFramesAreInspectedOneLineEach) {
  TempDir d("video");
  const auto video = d.path / "line.avi";
  cv::VideoWriter w(video.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 5, cv::Size(64, 48));
  ASSERT_TRUE(w.isOpened());
  for (int i = 0; i < 3; ++i) w.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar(40 * i, 80, 120)));
  w.release();
  const auto pipe = write_pipeline(d.path, good_pipeline(d.path / "events.jsonl"));
  EXPECT_EQ(run("run --pipeline " + pipe.string() + " --report " + (d.path / "r.jsonl").string() + " " +
                video.string() + " " + (d.path / "missing.avi").string()),
            1);
  const auto r = read_lines(d.path / "r.jsonl");
  ASSERT_EQ(r.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r[i].at("input"), video.string() + "#" + std::to_string(i));
    EXPECT_TRUE(r[i].at("ok"));
  }
  EXPECT_NE(r[3].at("error").get<std::string>().find("cannot open"), std::string::npos);
}

TEST(HostSources, ExpandsFoldersGlobsCamerasAndStdin) {
  TempDir d("src");
  for (const char* n : {"b.png", "a.jpg", "c.txt", "v.mp4"}) std::ofstream(d.path / n) << "x";
  std::istringstream list("x1.png\n\ny2.png\r\n");
  const auto s = expand_inputs({d.path.string(), (d.path / "*.png").string(), "0", "-", (d.path / "v.mp4").string()}, list);
  std::vector<std::string> names;
  for (const auto& x : s) names.push_back(fs::path(x.name).filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"a.jpg", "b.png", "b.png", "camera:0", "x1.png", "y2.png", "v.mp4"}));
  EXPECT_EQ(s[3].kind, Source::Kind::Camera);
  EXPECT_EQ(s.back().kind, Source::Kind::Video);
  EXPECT_NE(message_of([&] { read_image((d.path / "c.txt").string()); }).find("not a decodable image"), std::string::npos);
}

TEST(HostSummary, PercentilesAndCounts) {
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(percentile({5}, 0.99), 5);
  Summary s;
  s.add({{"ok", true}, {"decision", true}, {"action", "scrap"}, {"latency_ms", 10},
         {"types", {{{"name", "pit"}, {"decision", true}}}}});
  s.add({{"ok", false}, {"error", "x"}});
  EXPECT_EQ(s.inputs(), 2u);
  EXPECT_EQ(s.failed(), 1u);
  const std::string t = s.table(1.0);
  EXPECT_NE(t.find("| pit | 1 |"), std::string::npos);
  EXPECT_NE(t.find("| scrap | 1 |"), std::string::npos);
}
