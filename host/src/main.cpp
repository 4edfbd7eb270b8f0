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

#include "pipeline.hpp"
#include "sources.hpp"
#include "summary.hpp"

namespace mtfcdd::host {
namespace {

namespace fs = std::filesystem;

const char* kUsage = R"(usage:
  vision-host run --pipeline P.json [--report R.jsonl] [--overlays DIR] [--threads N] INPUT...
      INPUT: image files, folders, globs, video files, camera indices, or - (paths on stdin)
  vision-host info PLUGIN.so

exit codes: 0 every input inspected; 1 some inputs failed (see their report lines);
            2 bad usage, pipeline or plugin (nothing inspected); 130 interrupted by Ctrl-C
)";

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

std::string value_of(int& i, int argc, char** argv) {
  if (i + 1 >= argc) throw std::invalid_argument(std::string(argv[i]) + " needs a value");
  return argv[++i];
}

int cmd_run(int argc, char** argv) {
  std::string pipeline_path, report_path, overlay_dir;
  int threads = 1;
  std::vector<std::string> inputs;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--pipeline") pipeline_path = value_of(i, argc, argv);
    else if (a == "--report") report_path = value_of(i, argc, argv);
    else if (a == "--overlays") overlay_dir = value_of(i, argc, argv);
    else if (a == "--threads") {
      const std::string v = value_of(i, argc, argv);
      if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) < 1 || std::stoi(v) > 256)
        throw std::invalid_argument("--threads needs a number from 1 to 256, got '" + v + "'");
      threads = std::stoi(v);
    } else if (a.rfind("--", 0) == 0) throw std::invalid_argument("unknown option " + a);
    else inputs.push_back(a);
  }
  if (pipeline_path.empty()) throw std::invalid_argument("missing --pipeline");
  if (inputs.empty()) throw std::invalid_argument("no inputs");
  if (!overlay_dir.empty()) fs::create_directories(overlay_dir);

  const Pipeline pipeline = load_pipeline(pipeline_path);
  const std::vector<Source> sources = expand_inputs(inputs, std::cin);
  // Detector handles are made up front so a bad plugin configuration stops the run before any image.
  std::vector<std::unique_ptr<Inspector>> inspectors;
  for (int t = 0; t < threads; ++t) inspectors.push_back(std::make_unique<Inspector>(pipeline));
  size_t images = 0;
  for (const auto& s : sources) images += s.kind == Source::Kind::Image;
  Reporter reporter(report_path, images == sources.size() ? images : 0);

  g_stop = false;
  auto* previous = std::signal(SIGINT, on_sigint);
  JobQueue queue(2 * static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      Job job;
      while (queue.pop(job)) {
        Inspection ins;
        cv::Mat frame = job.frame;
        try {
          if (!job.error.empty()) throw std::runtime_error(job.error);
          if (!job.path.empty()) frame = read_image(job.path);
          ins = inspectors[t]->inspect(job.name, frame, overlay_dir);
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
  if (!report_path.empty()) std::cout << "report: " << report_path << "\n";
  if (!overlay_dir.empty()) std::cout << "overlays: " << overlay_dir << "\n";
  if (g_stop) {
    std::cout << "interrupted: " << dropped << " queued images were not inspected\n";
    return 130;
  }
  return reporter.summary().failed() > 0 ? 1 : 0;
}

int cmd_info(int argc, char** argv) {
  if (argc != 3) throw std::invalid_argument("info takes one plugin path");
  const LoadedPlugin p(argv[2]);
  const VpPluginInfo& i = p.info();
  std::cout << "plugin " << i.name << " " << i.version << "\n"
            << "  " << i.description << "\n"
            << "  ABI version " << i.abi_version << " (this host: " << VP_ABI_VERSION << "), API revision "
            << i.api_version << "\n"
            << "  file " << p.path() << "\n";
  return 0;
}

}  // namespace
}  // namespace mtfcdd::host

int main(int argc, char** argv) {
  using namespace mtfcdd::host;
  const std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "run") return cmd_run(argc, argv);
    if (cmd == "info") return cmd_info(argc, argv);
    std::cerr << kUsage;
    return cmd == "--help" || cmd == "-h" ? 0 : 2;
  } catch (const std::exception& e) {
    std::cerr << "vision-host " << cmd << ": " << e.what() << "\n";
    return 2;
  }
}
