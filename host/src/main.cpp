// vision-host: runs images through a pipeline of preprocessing stages and a detector plugin,
// dispatches each routed action to its sinks, and writes a report and a summary.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
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
static_assert(std::atomic<bool>::is_always_lock_free, "g_stop is used in a signal handler");

// The first Ctrl-C lets the inputs in flight finish (and kills run sinks' programs), saying so on
// stderr; a second one exits at once, for a run hung in a read or in the plugin.
extern "C" void on_sigint(int) {
  if (g_stop) ::_exit(130);
  g_stop = true;
  static const char kSaid[] = "vision-host: Ctrl-C: finishing the inputs in flight (Ctrl-C again exits at once)\n";
  [[maybe_unused]] const ssize_t n = ::write(2, kSaid, sizeof kSaid - 1);  // async-signal-safe, unlike stdio
}

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

// Writes report lines in input order, keeps the summary and the progress display, and names each
// failed sink or overlay on stderr.
class Reporter {
 public:
  Reporter(const std::string& report_path, size_t expected)
      : path_(report_path), expected_(expected), tty_(isatty(fileno(stderr))), t0_(std::chrono::steady_clock::now()) {
    if (!report_path.empty()) {
      report_.open(report_path, std::ios::trunc);
      if (!report_) throw std::runtime_error("cannot write report " + report_path);
    }
  }
  void add(size_t seq, nlohmann::json line) {
    std::lock_guard<std::mutex> l(m_);
    pending_.emplace(seq, std::move(line));
    for (auto it = pending_.find(next_); it != pending_.end(); it = pending_.find(next_)) {
      write(it->second);
      for (const auto& f : delivery_failures(it->second))
        std::fprintf(stderr, "%svision-host: %s\n", tty_ ? "\r\033[K" : "", f.c_str());
      summary_.add(it->second);
      pending_.erase(it);
      ++next_;
      progress();
    }
  }
  void finish() {
    if (tty_) std::fprintf(stderr, "\n");
  }
  // Whether a report line could not be written; the run then stops.
  bool broken() const { return broken_; }
  // Why; read once the workers are done.
  const std::string& write_error() const { return write_error_; }
  const Summary& summary() const { return summary_; }
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  // One flushed line per input: a host killed mid-run leaves complete lines. Input names are file
  // names, bytes that need not be UTF-8.
  void write(const nlohmann::json& line) {
    if (!report_.is_open() || broken_) return;
    report_ << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n" << std::flush;
    if (report_) return;
    write_error_ = "cannot write report " + path_ + ": " + std::strerror(errno);
    broken_ = true;
  }
  void progress() {
    if (!tty_ && next_ % 50 != 0) return;
    const double s = seconds();
    std::fprintf(stderr, "%s%zu/%s inspected, %zu failed, %.1f images/s%s", tty_ ? "\r" : "", next_,
                 expected_ ? std::to_string(expected_).c_str() : "?", summary_.failed(), s > 0 ? next_ / s : 0.0,
                 tty_ ? "\033[K" : "\n");
  }
  std::mutex m_;
  std::map<size_t, nlohmann::json> pending_;
  std::string path_;
  size_t next_ = 0, expected_;
  bool tty_;
  std::ofstream report_;
  std::atomic<bool> broken_{false};
  std::string write_error_;
  Summary summary_;
  std::chrono::steady_clock::time_point t0_;
};

struct RunOptions {
  std::string pipeline_path, report_path, overlay_dir;
  int threads = 1;
  std::vector<std::string> inputs;
};

// One worker: inspects jobs, with its own detector, until the queue closes.
void work(JobQueue& queue, Inspector& inspector, Reporter& reporter, const std::string& overlay_dir) {
  Job job;
  while (queue.pop(job)) {
    Inspection ins;
    cv::Mat frame = job.frame;
    try {
      if (!job.error.empty()) throw std::runtime_error(job.error);
      if (!job.path.empty()) frame = read_image(job.path);
      ins = inspector.inspect(job.name, frame, overlay_dir);
    } catch (const std::exception& e) {
      ins.line = {{"input", job.name}, {"ok", false}, {"error", e.what()}};
    }
    reporter.add(job.seq, std::move(ins.line));
  }
}

// Queues the sources' images and frames in order until done or `stopping`; returns how many sources
// it started.
size_t feed(const std::vector<Source>& sources, JobQueue& queue, const std::function<bool()>& stopping) {
  size_t seq = 0, started = 0;
  for (; started < sources.size() && !stopping(); ++started) {
    const Source& s = sources[started];
    if (s.kind == Source::Kind::Image) {  // also an argument that named nothing (s.error)
      queue.push({seq++, s.name, s.name, {}, s.error});
      continue;
    }
    cv::VideoCapture cap;
    const bool opened = s.kind == Source::Kind::Camera ? cap.open(s.camera) : cap.open(s.name);
    if (!opened) {
      queue.push({seq++, s.name, "", {}, "cannot open " + s.name + " as a video or camera"});
      continue;
    }
    cv::Mat frame;
    for (size_t n = 0; !stopping() && cap.read(frame); ++n)
      queue.push({seq++, s.name + "#" + std::to_string(n), "", frame.clone(), ""});
  }
  return started;
}

// Detector handles are made up front so a bad plugin configuration, or an action the plugin never
// routes to, stops the run before any image.
std::vector<std::unique_ptr<Inspector>> make_inspectors(const Pipeline& pipeline, int threads) {
  std::vector<std::unique_ptr<Inspector>> inspectors;
  for (int t = 0; t < threads; ++t) inspectors.push_back(std::make_unique<Inspector>(pipeline));
  inspectors.front()->check_actions();
  return inspectors;
}

// Prints the summary; returns the exit code (kExitCodes). `dropped`: queued inputs a stop left,
// `unread`: sources it left unopened.
int conclude(const RunOptions& o, const Reporter& reporter, size_t dropped, size_t unread) {
  const Summary& s = reporter.summary();
  std::cout << s.table(reporter.seconds());
  if (!o.report_path.empty()) std::cout << "report: " << o.report_path << "\n";
  if (!o.overlay_dir.empty()) std::cout << "overlays: " << o.overlay_dir << "\n";
  if (g_stop) {
    std::cout << "interrupted: " << dropped + unread << " inputs were not inspected (" << dropped << " queued, "
              << unread << " not yet read)\n";
    return 130;
  }
  if (s.failed() > 0) return 1;
  return s.sink_failures() + s.overlay_failures() > 0 ? 3 : 0;
}

int cmd_run(const RunOptions& o) {
  if (!o.overlay_dir.empty()) fs::create_directories(o.overlay_dir);
  Pipeline pipeline = load_pipeline(o.pipeline_path);
  pipeline.sinks.stop_when(&g_stop);
  const std::vector<Source> sources = expand_inputs(o.inputs, std::cin);
  std::vector<std::unique_ptr<Inspector>> inspectors = make_inspectors(pipeline, o.threads);
  const bool images_only =
      std::all_of(sources.begin(), sources.end(), [](const Source& s) { return s.kind == Source::Kind::Image; });
  Reporter reporter(o.report_path, images_only ? sources.size() : 0);

  g_stop = false;
  auto* previous = std::signal(SIGINT, on_sigint);
  JobQueue queue(2 * static_cast<size_t>(o.threads));
  std::vector<std::thread> workers;
  for (auto& ins : inspectors)
    workers.emplace_back(work, std::ref(queue), std::ref(*ins), std::ref(reporter), std::cref(o.overlay_dir));
  const auto stopping = [&] { return g_stop || reporter.broken(); };
  const size_t started = feed(sources, queue, stopping);
  const size_t dropped = stopping() ? queue.drop_pending() : 0;
  queue.close();
  for (auto& w : workers) w.join();
  reporter.finish();
  std::signal(SIGINT, previous);
  inspectors.clear();  // every detector goes before the plugin library
  if (reporter.broken()) throw std::runtime_error(reporter.write_error());
  return conclude(o, reporter, dropped, sources.size() - started);
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
    "exit codes: 0 every input inspected, its sinks and overlay done; 1 some inputs failed (see their\n"
    "            report lines); 2 bad usage, pipeline or plugin (nothing inspected), or the report\n"
    "            cannot be written (the run stops); 3 every input inspected, but some sinks or\n"
    "            overlays failed (each named on stderr); 130 interrupted by Ctrl-C";

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
  run_cmd->add_option("--overlays", run.overlay_dir, "write each frame's overlay here (the types found defective)")
      ->type_name("DIR");
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
