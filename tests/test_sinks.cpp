#include <gtest/gtest.h>

#include "test_util.hpp"

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "sinks.hpp"

using namespace mtfcdd::host;
using mtfcdd::test::message_of;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The message of the error parsing `actions`.
std::string error_of(const json& actions) {
  return message_of([&] { ActionSinks s(actions, "/tmp"); });
}

ActionEvent event(const std::string& input, const std::string& action = "clean") {
  ActionEvent e;
  e.input = input;
  e.action = action;
  e.params = {{"station", 3}, {"bin", "red"}};
  e.type = "scratch";
  e.score = 3.25;
  e.probability = 0.9;
  e.types = json::array({{{"name", "scratch"}, {"score", 3.25}, {"probability", 0.9}, {"decision", true}}});
  return e;
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Each test gets a fresh folder with one input image, a.png.
class SinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "test_sinks_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
    frame = cv::Mat(8, 12, CV_8UC3, cv::Scalar(10, 20, 30));
    input = dir / "a.png";
    ASSERT_TRUE(cv::imwrite(input.string(), frame));
  }
  void TearDown() override { fs::remove_all(dir); }

  ActionSinks sinks(const json& list) const { return ActionSinks({{"clean", list}}, dir.string()); }

  fs::path dir, input;
  cv::Mat frame;
};

}  // namespace

// ---- parsing ------------------------------------------------------------------------------------

TEST(SinksParse, UnknownSinkNamesTheEntry) {
  const std::string m = error_of({{"clean", {{{"sink", "print"}}, {{"sink", "print"}}, {{"sink", "mail"}}}}});
  EXPECT_NE(m.find("actions.clean[2].sink: unknown sink 'mail'"), std::string::npos) << m;
}

TEST(SinksParse, UnknownKeyNamesTheEntry) {
  const std::string m = error_of({{"scrap", {{{"sink", "copy"}, {"dir", "out"}, {"folder", "x"}}}}});
  EXPECT_NE(m.find("actions.scrap[0].folder: unknown key"), std::string::npos) << m;
  EXPECT_NE(error_of({{"a", {{{"sink", "print"}, {"path", "x"}}}}}).find("actions.a[0].path"), std::string::npos);
}

TEST(SinksParse, MissingOrBadSettings) {
  EXPECT_NE(error_of({{"a", {{{"sink", "run"}}}}}).find("actions.a[0].program: missing"), std::string::npos);
  EXPECT_NE(error_of({{"a", {{{"sink", "run"}, {"program", ""}}}}}).find("actions.a[0].program"), std::string::npos);
  EXPECT_NE(error_of({{"a", {{{"sink", "jsonl"}}}}}).find("actions.a[0].path: missing"), std::string::npos);
  EXPECT_NE(error_of({{"a", {{{"sink", "copy"}}}}}).find("actions.a[0].dir: missing"), std::string::npos);
  EXPECT_NE(error_of({{"a", {{{"dir", "x"}}}}}).find("actions.a[0].sink: missing"), std::string::npos);
  EXPECT_NE(error_of({{"a", {{{"sink", "run"}, {"program", "/bin/true"}, {"args", "x"}}}}}).find("actions.a[0].args"),
            std::string::npos);
  EXPECT_NE(error_of({{"a", {{{"sink", "run"}, {"program", "/bin/true"}, {"args", {"x", 1}}}}}}).find("actions.a[0].args[1]"),
            std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"a": ["print"]})")).find("actions.a[0]: must be an object"), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"a": {"sink": "print"}})")).find("actions.a: must be an array"), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"a": [{"sink": 3}]})")).find("actions.a[0].sink"), std::string::npos);
  EXPECT_NE(error_of(json::array()).find("actions: "), std::string::npos);
}

TEST(SinksParse, BadTimeout) {
  for (const json& t : {json(0), json(-1), json("5"), json(true), json(1e9)}) {
    const std::string m = error_of({{"a", {{{"sink", "run"}, {"program", "/bin/true"}, {"timeout_s", t}}}}});
    EXPECT_NE(m.find("actions.a[0].timeout_s"), std::string::npos) << t.dump() << ": " << m;
  }
  EXPECT_EQ(error_of({{"a", {{{"sink", "run"}, {"program", "/bin/true"}, {"timeout_s", 0.5}}}}}), "<no exception>");
}

TEST(SinksParse, UnknownPlaceholderNamesTheEntry) {
  std::string m = error_of({{"a", {{{"sink", "run"}, {"program", "/bin/echo"}, {"args", {"-n", "{action} {foo}"}}}}}});
  EXPECT_NE(m.find("actions.a[0].args[1]: unknown placeholder '{foo}'"), std::string::npos) << m;
  m = error_of({{"a", {{{"sink", "print"}}, {{"sink", "copy"}, {"dir", "out/{actoin}"}}}}});
  EXPECT_NE(m.find("actions.a[1].dir: unknown placeholder '{actoin}'"), std::string::npos) << m;
  m = error_of({{"a", {{{"sink", "jsonl"}, {"path", "log-{type.jsonl"}}}}});
  EXPECT_NE(m.find("actions.a[0].path: unterminated"), std::string::npos) << m;
  m = error_of({{"a", {{{"sink", "jsonl"}, {"path", "{param:}.jsonl"}}}}});
  EXPECT_NE(m.find("actions.a[0].path"), std::string::npos) << m;
}

TEST(SinksParse, ValidConfiguration) {
  const json actions = json::parse(R"({
    "clean": [{"sink": "print"},
              {"sink": "jsonl", "path": "events.jsonl"},
              {"sink": "copy", "dir": "out/{action}"},
              {"sink": "link", "dir": "out/links"},
              {"sink": "run", "program": "/usr/bin/logger", "args": ["-t", "inspect", "{action} {type} {score} {image}"],
               "timeout_s": 5},
              {"sink": "overlay", "dir": "overlays/{action}/{param:station}"}],
    "scrap": [{"sink": "print"}],
    "pass": []
  })");
  const ActionSinks s(actions, "/tmp");
  EXPECT_EQ(s.actions(), (std::vector<std::string>{"clean", "pass", "scrap"}));
  EXPECT_TRUE(s.wants_overlay("clean"));
  EXPECT_FALSE(s.wants_overlay("scrap"));
  EXPECT_FALSE(s.wants_overlay("unknown"));
  EXPECT_TRUE(ActionSinks(json(), "").actions().empty());
}

TEST(SinksParse, DefaultDispatchesNothing) {
  const ActionSinks s;
  EXPECT_TRUE(s.actions().empty());
  EXPECT_TRUE(s.dispatch(event("/x.png")).empty());
  const ActionSinks p({{"scrap", {{{"sink", "print"}}}}}, "");
  EXPECT_TRUE(p.dispatch(event("/x.png", "clean")).empty());  // an action without sinks
}

// ---- templates ----------------------------------------------------------------------------------

TEST(SinksTemplate, Expansion) {
  ActionEvent e = event("/data/parts/a.b.png");
  e.params["note"] = "blow off";
  e.params["pos"] = {1, 2};
  EXPECT_EQ(expand_template("{image}|{name}|{stem}|{action}|{type}", e), "/data/parts/a.b.png|a.b.png|a.b|clean|scratch");
  EXPECT_EQ(expand_template("{score} {probability}", e), "3.25 0.9");
  e.score = 1.0 / 3;
  EXPECT_EQ(expand_template("{score}", e), "0.333333");
  EXPECT_EQ(expand_template("{param:station}/{param:bin}/{param:note}/{param:pos}", e), "3/red/blow off/[1,2]");
  EXPECT_EQ(expand_template("{{literal}} }", e), "{literal} }");
  EXPECT_EQ(expand_template("no placeholders", e), "no placeholders");
  EXPECT_EQ(expand_template("{name}", event("camera:0#17")), "camera:0#17");

  ActionEvent clean = event("video.mp4#3", "pass");
  clean.type = "";
  clean.score = 0;
  EXPECT_EQ(expand_template("[{type}] {score} {stem}", clean), "[] 0 video");

  EXPECT_NE(message_of([&] { expand_template("{bogus}", e); }).find("unknown placeholder '{bogus}'"), std::string::npos);
  EXPECT_NE(message_of([&] { expand_template("{param:missing}", e); }).find("'missing'"), std::string::npos);
  EXPECT_NE(message_of([&] { expand_template("open {", e); }).find("unterminated"), std::string::npos);
}

// ---- print --------------------------------------------------------------------------------------

TEST_F(SinksTest, PrintWritesOneLine) {
  const ActionSinks s = sinks({{{"sink", "print"}}});
  testing::internal::CaptureStdout();
  const auto out = s.dispatch(event("/data/a.png"));
  const std::string printed = testing::internal::GetCapturedStdout();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sink, "print");
  EXPECT_TRUE(out[0].ok);
  EXPECT_EQ(printed, "/data/a.png -> clean: scratch z=3.25 p=0.9\n");
}

// ---- jsonl --------------------------------------------------------------------------------------

TEST_F(SinksTest, JsonlAppendsOneObjectPerEvent) {
  const ActionSinks s = sinks({{{"sink", "jsonl"}, {"path", "logs/events.jsonl"}}});  // relative: under dir
  ASSERT_TRUE(s.dispatch(event("/data/a.png"))[0].ok);
  ActionEvent second = event("camera:0#17");
  second.type = "";
  second.score = 0;
  const auto out = s.dispatch(second);
  ASSERT_TRUE(out[0].ok) << out[0].message;

  const auto lines = lines_of(dir / "logs/events.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  const json a = json::parse(lines[0]), b = json::parse(lines[1]);
  EXPECT_EQ(a["input"], "/data/a.png");
  EXPECT_EQ(a["action"], "clean");
  EXPECT_EQ(a["params"]["station"], 3);
  EXPECT_EQ(a["type"], "scratch");
  EXPECT_DOUBLE_EQ(a["score"].get<double>(), 3.25);
  EXPECT_DOUBLE_EQ(a["probability"].get<double>(), 0.9);
  EXPECT_EQ(a["types"].size(), 1u);
  const std::string time = a["time"];
  ASSERT_EQ(time.size(), 24u) << time;  // 2024-05-01T12:00:00.123Z
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time.back(), 'Z');
  EXPECT_EQ(b["input"], "camera:0#17");
  EXPECT_EQ(b["type"], "");
}

TEST_F(SinksTest, JsonlWholeLinesFromManyThreads) {
  // Two configurations naming the same file (absolute, relative), four threads x 50 events.
  const ActionSinks absolute = sinks({{{"sink", "jsonl"}, {"path", (dir / "events.jsonl").string()}}});
  const ActionSinks relative = sinks({{{"sink", "jsonl"}, {"path", "./events.jsonl"}}});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      const ActionSinks& s = t % 2 ? relative : absolute;
      for (int i = 0; i < 50; ++i) {
        ActionEvent e = event("/data/" + std::to_string(t) + "_" + std::to_string(i) + ".png");
        e.types = json::array();  // long lines, more likely to tear if writes were not serialised
        for (int k = 0; k < 20; ++k) e.types.push_back({{"name", "type" + std::to_string(k)}, {"score", k}});
        for (const auto& o : s.dispatch(e)) EXPECT_TRUE(o.ok) << o.message;
      }
    });
  for (auto& th : threads) th.join();
  const auto lines = lines_of(dir / "events.jsonl");
  ASSERT_EQ(lines.size(), 200u);
  std::set<std::string> inputs;
  for (const auto& l : lines) {
    const json j = json::parse(l);  // throws on a torn line
    EXPECT_EQ(j["types"].size(), 20u);
    inputs.insert(j["input"].get<std::string>());
  }
  EXPECT_EQ(inputs.size(), 200u);
}

// ---- copy, link ---------------------------------------------------------------------------------

TEST_F(SinksTest, CopyNeverOverwrites) {
  const ActionSinks s = sinks({{{"sink", "copy"}, {"dir", "out/{action}"}}});
  for (int i = 0; i < 3; ++i) {
    const auto out = s.dispatch(event(input.string()));
    ASSERT_TRUE(out[0].ok) << out[0].message;
    EXPECT_EQ(out[0].sink, "copy");
    EXPECT_NE(out[0].message.find("copied to"), std::string::npos);
  }
  const std::string original = contents(input);
  for (const char* name : {"a.png", "a_1.png", "a_2.png"}) {
    const fs::path p = dir / "out/clean" / name;
    ASSERT_TRUE(fs::is_regular_file(p)) << p;
    EXPECT_FALSE(fs::is_symlink(p));
    EXPECT_EQ(contents(p), original);
  }
  EXPECT_FALSE(fs::exists(dir / "out/clean/a_3.png"));
}

// Whatever the input name, type or parameters hold, templated paths stay inside their folder; and
// files appear by rename, leaving no temporary behind.
TEST_F(SinksTest, TemplatedPathsCannotLeaveTheirFolder) {
  const ActionSinks s = sinks({{{"sink", "copy"}, {"dir", "out/{type}/{param:bin}/{stem}"}},
                               {{"sink", "jsonl"}, {"path", "logs/{param:bin}/{type}.jsonl"}}});
  ActionEvent e = event(input.string());
  e.type = "..";
  e.params = {{"bin", "../../../escaped"}};
  for (const auto& o : s.dispatch(e)) EXPECT_TRUE(o.ok) << o.message;
  EXPECT_TRUE(fs::is_regular_file(dir / "out/_/.._.._.._escaped/a/a.png"));
  EXPECT_TRUE(fs::is_regular_file(dir / "logs/.._.._.._escaped/_.jsonl"));
  EXPECT_FALSE(fs::exists(dir.parent_path() / "escaped"));
  size_t files = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir)) {
    files += f.is_regular_file();
    EXPECT_EQ(f.path().filename().string().find(".part-"), std::string::npos) << f.path();
  }
  EXPECT_EQ(files, 3u);  // a.png, its copy, the jsonl file
}

TEST_F(SinksTest, LinkMakesSymlinks) {
  const ActionSinks s = sinks({{{"sink", "link"}, {"dir", (dir / "links").string()}}});
  ASSERT_TRUE(s.dispatch(event(input.string()))[0].ok);
  const auto out = s.dispatch(event(input.string()));
  ASSERT_TRUE(out[0].ok) << out[0].message;
  EXPECT_NE(out[0].message.find("linked to"), std::string::npos);
  for (const char* name : {"a.png", "a_1.png"}) {
    const fs::path p = dir / "links" / name;
    ASSERT_TRUE(fs::is_symlink(p)) << p;
    EXPECT_TRUE(fs::equivalent(p, input));
  }
}

TEST_F(SinksTest, NonFileInputWritesThePng) {
  const ActionSinks s = sinks({{{"sink", "copy"}, {"dir", "frames"}}, {{"sink", "link"}, {"dir", "frames"}}});
  ActionEvent e = event("camera:0#17");
  e.image = &frame;
  const auto out = s.dispatch(e);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& o : out) EXPECT_TRUE(o.ok) << o.message;
  for (const char* name : {"camera_0_17.png", "camera_0_17_1.png"}) {
    const cv::Mat back = cv::imread((dir / "frames" / name).string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(back.empty()) << name;
    EXPECT_EQ(cv::norm(back, frame, cv::NORM_INF), 0);
  }

  // A gray frame of a video input.
  const cv::Mat gray(5, 7, CV_8UC1, cv::Scalar(99));
  ActionEvent v = event("/videos/line 3.mp4#42");
  v.image = &gray;
  ASSERT_TRUE(s.dispatch(v)[0].ok);
  const cv::Mat back = cv::imread((dir / "frames/line_3.mp4_42.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(back.type(), CV_8UC1);
  EXPECT_EQ(back.size(), gray.size());

  // No file and no frame: reported, not thrown.
  const auto none = s.dispatch(event("camera:1#1"));
  EXPECT_FALSE(none[0].ok);
  EXPECT_NE(none[0].message.find("camera:1#1"), std::string::npos) << none[0].message;
}

// ---- run ----------------------------------------------------------------------------------------

TEST_F(SinksTest, RunReportsTheExitStatus) {
  const ActionSinks s = sinks({{{"sink", "run"}, {"program", "/bin/true"}},
                               {{"sink", "run"}, {"program", "/bin/false"}},
                               {{"sink", "run"}, {"program", "/nonexistent/program"}},
                               {{"sink", "run"}, {"program", "true"}}});  // found through PATH
  const auto out = s.dispatch(event(input.string()));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].sink, "run");
  EXPECT_TRUE(out[0].ok) << out[0].message;
  EXPECT_FALSE(out[1].ok);
  EXPECT_NE(out[1].message.find("exited 1"), std::string::npos) << out[1].message;
  EXPECT_FALSE(out[2].ok);
  EXPECT_NE(out[2].message.find("cannot run '/nonexistent/program'"), std::string::npos) << out[2].message;
  EXPECT_NE(out[2].message.find("No such file"), std::string::npos) << out[2].message;
  EXPECT_TRUE(out[3].ok) << out[3].message;
}

TEST_F(SinksTest, RunKillsOnTimeout) {
  const ActionSinks s = sinks({{{"sink", "run"}, {"program", "/bin/sleep"}, {"args", {"600"}}, {"timeout_s", 1}}});
  const auto t0 = std::chrono::steady_clock::now();
  const auto out = s.dispatch(event(input.string()));
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_FALSE(out[0].ok);
  EXPECT_EQ(out[0].message, "'/bin/sleep' timed out after 1 s (killed)");
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 60.0);  // sleep would take 600 s
}

// Ctrl-C: a running program is killed at once, and no new one starts.
TEST_F(SinksTest, RunIsKilledOnceTheHostStops) {
  const fs::path started = dir / "started";  // the program writes it once it runs
  ActionSinks s = sinks({{{"sink", "run"},
                          {"program", "/bin/sh"},
                          {"args", {"-c", "echo > '" + started.string() + "'; exec sleep 600"}},
                          {"timeout_s", 600}}});
  std::atomic<bool> stop{false};
  s.stop_when(&stop);
  std::thread stopper([&] {
    mtfcdd::test::wait_until([&] { return fs::exists(started); }, 60);
    stop = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  const auto out = s.dispatch(event(input.string()));
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stopper.join();
  EXPECT_FALSE(out[0].ok);
  EXPECT_EQ(out[0].message, "'/bin/sh' killed: the host is stopping");
  EXPECT_LT(took, 60.0);  // sleep would take 600 s
  const auto after = s.dispatch(event(input.string()));
  EXPECT_FALSE(after[0].ok);
  EXPECT_EQ(after[0].message, "'/bin/sh' not run: the host is stopping");
}

TEST_F(SinksTest, RunExpandsArguments) {
  const std::string target = (dir / "copies").string() + "/{stem}-{action}-{param:bin}.png";
  const ActionSinks s = sinks({{{"sink", "run"}, {"program", "/bin/cp"}, {"args", {"{image}", target}}}});
  fs::create_directories(dir / "copies");
  const auto out = s.dispatch(event(input.string()));
  ASSERT_TRUE(out[0].ok) << out[0].message;
  EXPECT_EQ(out[0].message, "'/bin/cp' exited 0");
  EXPECT_EQ(contents(dir / "copies/a-clean-red.png"), contents(input));
}

TEST_F(SinksTest, RunArgumentsAreNotShellWords) {
  // One argument with spaces and shell syntax reaches the program intact.
  const ActionSinks s = sinks({{{"sink", "run"}, {"program", "/bin/cp"}, {"args", {"{image}", (dir / "x; y $(z).png").string()}}}});
  ASSERT_TRUE(s.dispatch(event(input.string()))[0].ok);
  EXPECT_TRUE(fs::exists(dir / "x; y $(z).png"));
}

TEST_F(SinksTest, MissingParamFailsOnlyThatSink) {
  const ActionSinks s = sinks({{{"sink", "copy"}, {"dir", "out/{param:nope}"}}, {{"sink", "run"}, {"program", "/bin/true"}}});
  const auto out = s.dispatch(event(input.string()));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].ok);
  EXPECT_NE(out[0].message.find("'nope'"), std::string::npos) << out[0].message;
  EXPECT_TRUE(out[1].ok);
}

// ---- overlay ------------------------------------------------------------------------------------

TEST_F(SinksTest, OverlayOnlyWhenPresent) {
  const ActionSinks s = sinks({{{"sink", "overlay"}, {"dir", "overlays/{action}"}}});
  const auto none = s.dispatch(event(input.string()));
  ASSERT_EQ(none.size(), 1u);
  EXPECT_TRUE(none[0].ok);
  EXPECT_FALSE(fs::exists(dir / "overlays"));

  const cv::Mat overlay(8, 12, CV_8UC3, cv::Scalar(0, 0, 255));
  ActionEvent e = event(input.string());
  e.overlay = &overlay;
  const auto out = s.dispatch(e);
  ASSERT_TRUE(out[0].ok) << out[0].message;
  const cv::Mat back = cv::imread((dir / "overlays/clean/a.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(back.empty());
  EXPECT_EQ(cv::norm(back, overlay, cv::NORM_INF), 0);
  ASSERT_TRUE(s.dispatch(e)[0].ok);
  EXPECT_TRUE(fs::exists(dir / "overlays/clean/a_1.png"));
}
