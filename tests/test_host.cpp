#include <gtest/gtest.h>

#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <set>
#include <sstream>
#include <sys/stat.h>

#include "pipeline.hpp"
#include "plugin_loader.hpp"
#include "sources.hpp"
#include "summary.hpp"
#include "test_util.hpp"

using namespace mtfcdd::host;
using mtfcdd::test::Child;
using mtfcdd::test::message_of;
using mtfcdd::test::wait_until;
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

std::string contents(const fs::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Runs vision-host to the end; its exit status, and what it printed (stdout and stderr) in `output`.
int run(const std::string& args, std::string* output = nullptr) {
  const fs::path log = fs::temp_directory_path() / ("mtfcdd_host_run_" + std::to_string(::getpid()) + ".log");
  const int status = std::system((std::string(MTFCDD_HOST_PATH) + " " + args + " >" + log.string() + " 2>&1").c_str());
  if (output) *output = contents(log);
  fs::remove(log);
  return WEXITSTATUS(status);
}

// Starts vision-host with `args`, its stdout and stderr going to `log`.
Child spawn_host(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid != 0) return Child(pid);
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(log_fd, 1);
  ::dup2(log_fd, 2);
  std::vector<char*> argv{const_cast<char*>(MTFCDD_HOST_PATH)};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(MTFCDD_HOST_PATH, argv.data());
  ::_exit(127);
}

size_t line_count(const fs::path& p) {
  std::ifstream f(p);
  return std::count(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>(), '\n');
}

// `n` small PNGs, img0000.png ..., in `dir`.
void write_images(const fs::path& dir, int n) {
  fs::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "img%04d.png", i);
    cv::imwrite((dir / name).string(), cv::Mat(48, 64, CV_8UC3, cv::Scalar(i % 256, 90, 200)));
  }
}

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
  j["stages"].push_back(j["stages"][1]);  // two plugin stages: named as such, not as out of order
  EXPECT_NE(msg(j).find("stages: a pipeline has one plugin stage, found stages[1], stages[2]"), std::string::npos)
      << msg(j);
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
  // Its calipers: centres span 7 x 3, so sqrt(58) + 1 long and 3 + 1 across.
  EXPECT_FLOAT_EQ(r.line.at("types")[1].at("regions")[0].at("length").get<float>(), float(std::sqrt(58.0) + 1));
  EXPECT_EQ(r.line.at("types")[1].at("regions")[0].at("caliper_width"), 4);
  j["stages"][1]["type"] = "blur";
  EXPECT_NE(message_of([&] { load_pipeline(write_pipeline(d.path, j).string()); }).find("stages[1].type"),
            std::string::npos);
}

// A type that counts regions without its region or shape array is refused, naming the array.
TEST(PluginResults, RegionsWithoutTheirArraysAreRefused) {
  const VpRegion region{0, 0, 1, 1, 1, 1.0f, 1.0f};
  const VpRegionShape shape{1, 1};
  VpTypeResult type{};
  type.struct_size = sizeof type;
  type.region_count = 1;
  type.regions = &region;
  VpFrameResult frame{};
  frame.struct_size = sizeof frame;
  frame.types = &type;
  frame.type_count = 1;
  const VpResult result{sizeof(VpResult), &frame, 1};
  EXPECT_EQ(message_of([&] { vp::check_region_arrays(result); }),
            "plugin result: frames[0].types[0] counts 1 regions but its region_shapes array is NULL");
  type.region_shapes = &shape;
  EXPECT_NO_THROW(vp::check_region_arrays(result));
  type.regions = nullptr;
  EXPECT_NE(message_of([&] { vp::check_region_arrays(result); }).find("its regions array is NULL"), std::string::npos);
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
  for (const size_t older : {offsetof(VpTypeResult, pixel_threshold), offsetof(VpTypeResult, configured_pixel_threshold)}) {
    types[0].struct_size = types[1].struct_size = static_cast<uint32_t>(older);  // a version-1 or -2 plugin's
    EXPECT_NE(message_of([&] { vp::check_result_sizes(result); }).find("VpTypeResult.struct_size"), std::string::npos);
  }
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
  constexpr int kImages = 600;
  write_images(in, kImages);
  json pipe = good_pipeline(d.path / "events.jsonl");
  pipe["actions"]["check"].push_back({{"sink", "copy"}, {"dir", (d.path / "copies").string()}});
  pipe["actions"]["check"].push_back({{"sink", "overlay"}, {"dir", (d.path / "overlays").string()}});
  const auto pipe_path = write_pipeline(d.path, pipe);
  const auto report = d.path / "report.jsonl", log = d.path / "host.log";
  Child host = spawn_host({"run", "--pipeline", pipe_path.string(), "--threads", "2", "--report", report.string(),
                           in.string()},
                          log);
  ASSERT_GT(host.pid(), 0);
  // Kill it once some lines are out, mid-write as likely as not.
  ASSERT_TRUE(wait_until([&] { return line_count(report) >= 20; }, 120)) << contents(log).substr(0, 4000);
  ::kill(host.pid(), SIGKILL);
  ASSERT_EQ(host.exit_code_within(60), 128 + SIGKILL) << "the host exited before it was killed:\n"
                                                       << contents(log).substr(0, 4000);
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

// Linear interpolation between order statistics of the sorted values: position q (n - 1).
TEST(HostSummary, PercentilesOfUnsortedValuesAndTheirLimits) {
  const std::vector<double> v = {40, 10, 50, 30, 20};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 10);
  EXPECT_DOUBLE_EQ(percentile(v, 0.5), 30);
  EXPECT_DOUBLE_EQ(percentile(v, 0.95), 48);    // position 3.8: 40 + 0.8 (50 - 40)
  EXPECT_DOUBLE_EQ(percentile(v, 0.99), 49.6);  // position 3.96
  EXPECT_DOUBLE_EQ(percentile(v, 1), 50);
  EXPECT_TRUE(std::isnan(percentile({}, 0.5)));
  for (double q : {-0.01, 1.01, 99.0, std::nan("")})
    EXPECT_NE(message_of([&] { percentile(v, q); }).find("percentile: q must be in 0..1"), std::string::npos) << q;
}

TEST(HostSummary, TableGivesLatencyPercentilesAndThroughput) {
  Summary s;
  for (double ms : {30, 10, 40, 20})
    s.add({{"ok", true}, {"decision", false}, {"action", "pass"}, {"latency_ms", ms}, {"types", json::array()}});
  s.add({{"ok", false}, {"error", "x"}});  // no latency, not counted in throughput
  // p50 at position 1.5: 25; p95 at 2.85: 38.5; p99 at 2.97: 39.7; 4 images in 2 s.
  EXPECT_NE(s.table(2.0).find("latency per image: p50 25.0 ms, p95 38.5 ms, p99 39.7 ms; throughput 2.00 images/s "
                              "(2.0 s)"),
            std::string::npos)
      << s.table(2.0);
}

// ---- delivery failures, sources, stopping --------------------------------------------------------

TEST(HostSummary, CountsAndNamesSinkAndOverlayFailures) {
  const json line = {{"input", "a.png"},
                     {"ok", true},
                     {"action", "scrap"},
                     {"types", json::array()},
                     {"overlay_error", "disk full"},
                     {"sinks",
                      {{{"sink", "print"}, {"ok", true}, {"message", ""}},
                       {{"sink", "run"}, {"ok", false}, {"message", "'/bin/false' exited 1"}}}}};
  EXPECT_EQ(delivery_failures(line),
            (std::vector<std::string>{"overlay of a.png failed: disk full",
                                      "sink 'run' of action 'scrap' failed for a.png: '/bin/false' exited 1"}));
  Summary s;
  s.add(line);
  EXPECT_EQ(s.failed(), 0u);
  EXPECT_EQ(s.sink_failures(), 1u);
  EXPECT_EQ(s.overlay_failures(), 1u);
  EXPECT_NE(s.table(1).find("1 sink failures, 1 overlay failures"), std::string::npos) << s.table(1);
}

TEST_F(HostTest, SinkFailuresAreNamedOnStderrAndTheExitCodeIs3) {
  TempDir d("sinkfail");
  write_images(d.path / "in", 2);
  json pipe = good_pipeline(d.path / "events.jsonl");
  pipe["actions"]["check"].push_back({{"sink", "run"}, {"program", "/bin/false"}});
  const auto pipe_path = write_pipeline(d.path, pipe);
  std::string out;
  EXPECT_EQ(run("run --pipeline " + pipe_path.string() + " " + (d.path / "in").string(), &out), 3) << out;
  for (const char* name : {"img0000.png", "img0001.png"})
    EXPECT_NE(out.find("vision-host: sink 'run' of action 'check' failed for " + (d.path / "in" / name).string() +
                       ": '/bin/false' exited 1"),
              std::string::npos)
        << out;
  EXPECT_NE(out.find("2 sink failures"), std::string::npos) << out;
}

// Writing the overlay fails (its folder is a file): the frame is still inspected and its sinks run.
TEST_F(HostTest, AFailedOverlayIsRecordedAndTheSinksStillRun) {
  TempDir d("overlayfail");
  const Pipeline p = load_pipeline(write_pipeline(d.path, good_pipeline(d.path / "events.jsonl")).string());
  std::ofstream(d.path / "file") << "x";
  Inspector ins(p);
  const Inspection r = ins.inspect("frame", cv::Mat(40, 60, CV_8UC3, cv::Scalar(90, 90, 90)), (d.path / "file" / "ov").string());
  ASSERT_TRUE(r.ok) << r.line.dump();
  EXPECT_NE(r.line.at("overlay_error").get<std::string>().find("file"), std::string::npos) << r.line.dump();
  EXPECT_FALSE(r.line.contains("overlay"));
  ASSERT_EQ(r.line.at("sinks").size(), 1u);
  EXPECT_TRUE(r.line.at("sinks")[0].at("ok"));
  EXPECT_EQ(read_lines(d.path / "events.jsonl").size(), 1u);
}

// dir1/a.png and dir2/a.png, inspected at once by two workers, get an overlay each.
TEST_F(HostTest, OverlaysOfInputsWithTheSameNameNeverOverwriteEachOther) {
  TempDir d("samename");
  for (const char* dir : {"d1", "d2"}) {
    fs::create_directories(d.path / dir);
    cv::imwrite((d.path / dir / "a.png").string(), cv::Mat(40, 60, CV_8UC3, cv::Scalar(90, 90, 90)));
  }
  const auto pipe = write_pipeline(d.path, good_pipeline(d.path / "events.jsonl"));
  const auto report = d.path / "r.jsonl";
  ASSERT_EQ(run("run --threads 2 --pipeline " + pipe.string() + " --report " + report.string() + " --overlays " +
                (d.path / "ov").string() + " " + (d.path / "d1").string() + " " + (d.path / "d2").string()),
            0);
  const auto lines = read_lines(report);
  ASSERT_EQ(lines.size(), 2u);
  const std::string a = lines[0].at("overlay"), b = lines[1].at("overlay");
  EXPECT_NE(a, b);
  EXPECT_EQ(std::set<std::string>({fs::path(a).filename().string(), fs::path(b).filename().string()}),
            (std::set<std::string>{"a.png", "a_1.png"}));
  for (const auto& f : {a, b}) EXPECT_FALSE(cv::imread(f).empty()) << f;
}

TEST(HostSources, ArgumentsThatNameNothingFailOnTheirOwnLine) {
  TempDir d("nothing");
  fs::create_directories(d.path / "empty");
  std::istringstream no_paths("\n\n");
  const auto s = expand_inputs({(d.path / "empty").string(), (d.path / "*.pgn").string(), "-", "99999999999"}, no_paths);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].error, "folder " + (d.path / "empty").string() + " holds no image files (.png, .jpg, .bmp, .tif, ...)");
  EXPECT_EQ(s[1].error, "no files match " + (d.path / "*.pgn").string());
  EXPECT_EQ(s[1].name, (d.path / "*.pgn").string());
  EXPECT_EQ(s[2].error, "standard input ('-') listed no paths");
  EXPECT_EQ(s[3].error, "camera index out of range: 99999999999 (at most 2147483647)");
  std::istringstream none;
  EXPECT_EQ(message_of([&] { expand_inputs({}, none); }), "no inputs given");
}

TEST_F(HostTest, AGlobMatchingNothingFailsTheRun) {
  TempDir d("typo");
  const auto pipe = write_pipeline(d.path, good_pipeline(d.path / "events.jsonl"));
  const std::string pattern = (d.path / "imgs" / "*.pgn").string();
  EXPECT_EQ(run("run --pipeline " + pipe.string() + " --report " + (d.path / "r.jsonl").string() + " '" + pattern + "'"),
            1);
  const auto lines = read_lines(d.path / "r.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("input"), pattern);
  EXPECT_EQ(lines[0].at("error"), "no files match " + pattern);
}

TEST_F(HostTest, AnUnwritableReportStopsTheRun) {
  TempDir d("full");
  write_images(d.path / "in", 3);
  const auto pipe = write_pipeline(d.path, good_pipeline(d.path / "events.jsonl"));
  std::string out;
  EXPECT_EQ(run("run --pipeline " + pipe.string() + " --report /dev/full " + (d.path / "in").string(), &out), 2);
  EXPECT_NE(out.find("vision-host run: cannot write report /dev/full: No space left on device"), std::string::npos)
      << out;
}

TEST_F(HostTest, ActionsThePluginNeverRoutesToAreRefused) {
  TempDir d("unknown_action");
  json j = good_pipeline(d.path / "events.jsonl");
  j["actions"]["chek"] = j["actions"]["check"];
  const auto pipe = write_pipeline(d.path, j);
  const Pipeline p = load_pipeline(pipe.string());
  Inspector ins(p);
  EXPECT_EQ(message_of([&] { ins.check_actions(); }),
            pipe.string() + ": actions.chek: the plugin's routing has no action 'chek', so these sinks would never "
                            "run (its actions: check, pass)");
  std::string out;
  EXPECT_EQ(run("run --pipeline " + pipe.string() + " " + (d.path / "none.png").string(), &out), 2);
  EXPECT_NE(out.find("actions.chek"), std::string::npos) << out;
}

// Every input of an interrupted run is either on the report or counted as not inspected.
TEST_F(HostTest, InterruptedRunCountsEveryInputNotInspected) {
  TempDir d("interrupt");
  constexpr size_t kImages = 400;
  write_images(d.path / "in", kImages);
  const auto pipe = write_pipeline(d.path, good_pipeline(d.path / "events.jsonl"));
  const auto report = d.path / "r.jsonl", log = d.path / "host.log";
  Child host = spawn_host({"run", "--pipeline", pipe.string(), "--report", report.string(),
                           (d.path / "in").string()}, log);
  ASSERT_TRUE(wait_until([&] { return line_count(report) >= 10; }, 120)) << contents(log);
  ::kill(host.pid(), SIGINT);
  ASSERT_EQ(host.exit_code_within(120), 130) << contents(log);
  const std::string out = contents(log);
  const size_t at = out.find("interrupted: ");
  ASSERT_NE(at, std::string::npos) << out;
  const size_t not_inspected = std::stoul(out.substr(at + 13));
  EXPECT_EQ(read_lines(report).size() + not_inspected, kImages) << out;
}

// The first Ctrl-C lets the input in flight finish: its run sink's program, hung, is killed (process
// group and all), the input is reported with that sink's failure, and the run ends as interrupted.
TEST_F(HostTest, CtrlCKillsTheRunSinksProgramsAndReportsTheInput) {
  TempDir d("ctrlc_run");
  write_images(d.path / "in", 1);
  const auto pid_file = d.path / "sleep.pid", report = d.path / "r.jsonl", log = d.path / "host.log";
  json j = good_pipeline(d.path / "events.jsonl");
  j["actions"]["check"] = {{{"sink", "run"}, {"program", "/bin/sh"}, {"timeout_s", 600},
                            {"args", {"-c", "echo $$ > " + pid_file.string() + ".tmp && mv " + pid_file.string() +
                                                ".tmp " + pid_file.string() + " && exec sleep 600"}}}};
  Child host = spawn_host({"run", "--pipeline", write_pipeline(d.path, j).string(), "--report", report.string(),
                           (d.path / "in").string()},
                          log);
  ASSERT_TRUE(wait_until([&] { return fs::exists(pid_file); }, 120)) << contents(log);
  const pid_t sleeper = std::stoi(contents(pid_file));
  ::kill(host.pid(), SIGINT);
  EXPECT_EQ(host.exit_code_within(120), 130) << contents(log);
  EXPECT_EQ(::kill(sleeper, 0), -1);  // gone (and reaped)
  const auto lines = read_lines(report);
  ASSERT_EQ(lines.size(), 1u) << contents(log);
  EXPECT_TRUE(lines[0].at("ok")) << lines[0];
  EXPECT_EQ(lines[0].at("sinks")[0].at("message"), "'/bin/sh' killed: the host is stopping") << lines[0];
  EXPECT_NE(contents(log).find("interrupted: 0 inputs were not inspected"), std::string::npos) << contents(log);
}

// A worker hung reading a FIFO no one writes to (OpenCV opens the file more than once, so it
// cannot be fed through one): the first Ctrl-C waits for it; once the host has said so, a second
// one exits at once, before any summary (the run never concludes).
TEST_F(HostTest, ASecondCtrlCExitsAtOnce) {
  TempDir d("ctrlc_twice");
  const auto fifo = d.path / "hang.png", log = d.path / "host.log";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Child host = spawn_host(
      {"run", "--pipeline", write_pipeline(d.path, good_pipeline(d.path / "e.jsonl")).string(), fifo.string()}, log);
  int writer = -1;  // opens once the host's worker has the FIFO open for reading
  ASSERT_TRUE(wait_until([&] { return (writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK)) >= 0; }, 120))
      << contents(log);
  ::kill(host.pid(), SIGINT);
  // Two signals sent close together may arrive as one: the second goes once the first is handled.
  ASSERT_TRUE(wait_until([&] { return contents(log).find("vision-host: Ctrl-C:") != std::string::npos; }, 120))
      << contents(log);
  ::kill(host.pid(), SIGINT);
  EXPECT_EQ(host.exit_code_within(120), 130) << contents(log);
  EXPECT_EQ(contents(log).find("interrupted: "), std::string::npos) << contents(log);
  ::close(writer);
}

namespace {

// A clean frame of one type, "pit", routed to "pass".
VpFrameResult one_type_frame(const VpTypeResult& type) {
  VpFrameResult f{};
  f.struct_size = sizeof f;
  f.types = &type;
  f.type_count = 1;
  f.action = "pass";
  f.action_params = "{}";
  f.matches = "[]";
  return f;
}

VpTypeResult pit() {
  VpTypeResult type{};
  type.struct_size = sizeof type;
  type.name = "pit";
  return type;
}

}  // namespace

// A report line keeps both pixel thresholds: the one in force that drew the regions and the type's own.
TEST(PluginResults, ReportCarriesBothPixelThresholds) {
  VpTypeResult type = pit();
  type.pixel_threshold = 0.75;  // raised by a share of the map's peak
  type.configured_pixel_threshold = 0.5;
  const json t = report_fields(one_type_frame(type)).at("types")[0];
  EXPECT_EQ(t.at("pixel_threshold"), 0.75);
  EXPECT_EQ(t.at("configured_pixel_threshold"), 0.5);
}

// A NULL string or malformed JSON in a plugin's result is named, not undefined behaviour.
TEST(PluginResults, NullOrMalformedStringsAreNamed) {
  VpTypeResult type = pit();
  VpFrameResult f = one_type_frame(type);
  EXPECT_EQ(report_fields(f).at("types")[0].at("name"), "pit");
  f.action = nullptr;
  EXPECT_EQ(message_of([&] { report_fields(f); }), "plugin result: action is NULL");
  f.action = "pass";
  f.action_params = "{\"station\": ";
  EXPECT_EQ(message_of([&] { report_fields(f); }).rfind("plugin result: action_params: ", 0), 0u);
  f.action_params = "{}";
  f.matches = nullptr;
  EXPECT_EQ(message_of([&] { report_fields(f); }), "plugin result: matches is NULL");
  f.matches = "[]";
  type.name = nullptr;
  EXPECT_EQ(message_of([&] { report_fields(f); }), "plugin result: types[0].name is NULL");
}
