// vision-host: runs images through a pipeline of preprocessing stages and a detector plugin,
// dispatches each routed action to its sinks, and writes a report and a summary.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <opencv2/videoio.hpp>
#include <thread>

#include "mtfcdd/cli.hpp"
#include "pipeline.hpp"
#include "sources.hpp"
#include "summary.hpp"

namespace mtfcdd::host {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_stop{false};
extern "C" void on_sigint(int) { g_stop = true; }

struct Job {
  size_t seq;
  std::string name;
  std::string path;  // read by the worker when set
  cv::Mat frame;     // else the frame itself (video, camera)
  std::string error; // a source that could not be opened
};

// A bounded queue of jobs feeding the workers.
class JobQueue {
 public:
  explicit JobQueue(size_t cap) : cap_(cap) {}
  void push(Job j) {
    std::unique_lock<std::mutex> l(m_);
    not_full_.wait(l, [&] { return q_.size() < cap_; });
    q_.push_back(std::move(j));
    not_empty_.notify_one();
  }
  bool pop(Job& j) {
    std::unique_lock<std::mutex> l(m_);
    not_empty_.wait(l, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    j = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> l(m_);
    closed_ = true;
    not_empty_.notify_all();
  }
  size_t drop_pending() {  // Ctrl-C: images not started are not inspected
    std::lock_guard<std::mutex> l(m_);
    const size_t n = q_.size();
    q_.clear();
    not_full_.notify_all();
    return n;
  }

 private:
  size_t cap_;
  std::mutex m_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Job> q_;
  bool closed_ = false;
};

// Writes report lines in input order, keeps the summary and the progress display.
class Reporter {
 public:
  Reporter(const std::string& report_path, size_t expected)
      : expected_(expected), tty_(isatty(fileno(stderr))), t0_(std::chrono::steady_clock::now()) {
    if (!report_path.empty()) {
      report_.open(report_path, std::ios::trunc);
      if (!report_) throw std::runtime_error("cannot write report " + report_path);
    }
  }
  void add(size_t seq, nlohmann::json line) {
    std::lock_guard<std::mutex> l(m_);
    pending_.emplace(seq, std::move(line));
    for (auto it = pending_.find(next_); it != pending_.end(); it = pending_.find(next_)) {
      // One flushed line per input: a host killed mid-run leaves complete lines. Input names are
      // file names, bytes that need not be UTF-8.
      if (report_.is_open())
        report_ << it->second.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n" << std::flush;
      summary_.add(it->second);
      pending_.erase(it);
      ++next_;
      progress();
    }
  }
  void finish() {
    if (tty_) std::fprintf(stderr, "\n");
  }
  const Summary& summary() const { return summary_; }
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  void progress() {
    if (!tty_ && next_ % 50 != 0) return;
    const double s = seconds();
    std::fprintf(stderr, "%s%zu/%s inspected, %zu failed, %.1f images/s%s", tty_ ? "\r" : "", next_,
                 expected_ ? std::to_string(expected_).c_str() : "?", summary_.failed(), s > 0 ? next_ / s : 0.0,
                 tty_ ? "\033[K" : "\n");
  }
  std::mutex m_;
  std::map<size_t, nlohmann::json> pending_;
  size_t next_ = 0, expected_;
  bool tty_;
  std::ofstream report_;
  Summary summary_;
  std::chrono::steady_clock::time_point t0_;
};

struct RunOptions {
  std::string pipeline_path, report_path, overlay_dir;
  int threads = 1;
  std::vector<std::string> inputs;
};

int cmd_run(const RunOptions& o) {
  if (!o.overlay_dir.empty()) fs::create_directories(o.overlay_dir);

  const Pipeline pipeline = load_pipeline(o.pipeline_path);
  const std::vector<Source> sources = expand_inputs(o.inputs, std::cin);
  // Detector handles are made up front so a bad plugin configuration stops the run before any image.
  std::vector<std::unique_ptr<Inspector>> inspectors;
  for (int t = 0; t < o.threads; ++t) inspectors.push_back(std::make_unique<Inspector>(pipeline));
  size_t images = 0;
  for (const auto& s : sources) images += s.kind == Source::Kind::Image;
  Reporter reporter(o.report_path, images == sources.size() ? images : 0);

  g_stop = false;
  auto* previous = std::signal(SIGINT, on_sigint);
  JobQueue queue(2 * static_cast<size_t>(o.threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t)
    workers.emplace_back([&, t] {
      Job job;
      while (queue.pop(job)) {
        Inspection ins;
        cv::Mat frame = job.frame;
        try {
          if (!job.error.empty()) throw std::runtime_error(job.error);
          if (!job.path.empty()) frame = read_image(job.path);
          ins = inspectors[t]->inspect(job.name, frame, o.overlay_dir);
        } catch (const std::exception& e) {
          ins.line = {{"input", job.name}, {"ok", false}, {"error", e.what()}};
        }
        reporter.add(job.seq, std::move(ins.line));
      }
    });

  size_t seq = 0;
  for (const auto& s : sources) {
    if (g_stop) break;
    if (s.kind == Source::Kind::Image) {
      queue.push({seq++, s.name, s.name, {}, ""});
      continue;
    }
    cv::VideoCapture cap;
    const bool opened = s.kind == Source::Kind::Camera ? cap.open(s.camera) : cap.open(s.name);
    if (!opened) {
      queue.push({seq++, s.name, "", {}, "cannot open " + s.name + " as a video or camera"});
      continue;
    }
    cv::Mat frame;
    for (size_t n = 0; !g_stop && cap.read(frame); ++n) queue.push({seq++, s.name + "#" + std::to_string(n), "", frame.clone(), ""});
  }
  const size_t dropped = g_stop ? queue.drop_pending() : 0;
  queue.close();
  for (auto& w : workers) w.join();
  reporter.finish();
  std::signal(SIGINT, previous);
  inspectors.clear();  // every detector goes before the plugin library

  std::cout << reporter.summary().table(reporter.seconds());
  if (!o.report_path.empty()) std::cout << "report: " << o.report_path << "\n";
  if (!o.overlay_dir.empty()) std::cout << "overlays: " << o.overlay_dir << "\n";
  if (g_stop) {
    std::cout << "interrupted: " << dropped << " queued images were not inspected\n";
    return 130;
  }
  return reporter.summary().failed() > 0 ? 1 : 0;
}

int cmd_info(const std::string& plugin_path) {
  const LoadedPlugin p(plugin_path);
  const VpPluginInfo& i = p.info();
  std::cout << "plugin " << i.name << " " << i.version << "\n"
            << "  " << i.description << "\n"
            << "  ABI version " << i.abi_version << " (this host: " << VP_ABI_VERSION << "), API revision "
            << i.api_version << "\n"
            << "  file " << p.path() << "\n";
  return 0;
}

constexpr const char* kExitCodes =
    "exit codes: 0 every input inspected; 1 some inputs failed (see their report lines);\n"
    "            2 bad usage, pipeline or plugin (nothing inspected); 130 interrupted by Ctrl-C";

}  // namespace
}  // namespace mtfcdd::host

int main(int argc, char** argv) {
  using namespace mtfcdd::host;
  CLI::App app{"Inspects images through a pipeline of preprocessing stages and a detector plugin.", "vision-host"};
  mtfcdd::cli::configure(app);
  app.require_subcommand(1);
  app.footer(kExitCodes);

  RunOptions run;
  CLI::App* run_cmd = app.add_subcommand("run", "inspect inputs; routed actions go to the pipeline's sinks");
  run_cmd->add_option("--pipeline", run.pipeline_path,
                      "the pipeline file: stages, then the plugin; per action, its sinks")
      ->required()
      ->type_name("P.json");
  run_cmd->add_option("--report", run.report_path, "write one JSON line per input here")->type_name("R.jsonl");
  run_cmd->add_option("--overlays", run.overlay_dir, "write each frame with its heatmaps here")->type_name("DIR");
  run_cmd->add_option("--threads", run.threads, "worker threads, one detector each")->check(CLI::Range(1, 256));
  run_cmd->add_option("inputs", run.inputs,
                      "image files, folders, globs, video files, camera indices, or - (paths on stdin)")
      ->required()
      ->type_name("INPUT...")
      ->default_str("");

  std::string plugin_path;
  CLI::App* info_cmd = app.add_subcommand("info", "what a plugin says about itself, and its ABI version");
  info_cmd->add_option("plugin", plugin_path, "the plugin library")->required()->type_name("PLUGIN.so");

  if (const auto exit_code = mtfcdd::cli::parse(app, argc, argv)) return *exit_code;
  try {
    return run_cmd->parsed() ? cmd_run(run) : cmd_info(plugin_path);
  } catch (const std::exception& e) {
    std::cerr << mtfcdd::cli::command_name(app) << ": " << e.what() << "\n";
    return 2;
  }
}
