#include "sinks.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <mtfcdd/json_input.hpp>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>  // renameat2
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <stdexcept>
#include <thread>

namespace mtfcdd::host {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what);
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string format_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// ---- templates ----------------------------------------------------------------------------------

// The value of one placeholder; with e == nullptr only checks that the placeholder exists, since
// {param:KEY} can only be looked up once there is an event.
std::string placeholder(const std::string& key, const std::string& tmpl, const ActionEvent* e) {
  if (key.rfind("param:", 0) == 0) {
    const std::string name = key.substr(6);
    if (name.empty()) throw std::runtime_error("empty parameter name '{param:}' in " + quoted(tmpl));
    if (!e) return "";
    if (!e->params.is_object() || !e->params.contains(name))
      throw std::runtime_error("action " + quoted(e->action) + " has no parameter " + quoted(name) +
                               " (template " + quoted(tmpl) + ")");
    const json& v = e->params.at(name);
    return v.is_string() ? v.get<std::string>() : v.dump();
  }
  static const std::array<const char*, 7> kNames = {"image", "name",  "stem",       "action",
                                                    "type",  "score", "probability"};
  if (std::find(kNames.begin(), kNames.end(), key) == kNames.end())
    throw std::runtime_error("unknown placeholder '{" + key + "}' in " + quoted(tmpl) +
                             " (known: {image} {name} {stem} {action} {type} {score} {probability} "
                             "{param:KEY})");
  if (!e) return "";
  if (key == "image") return e->input;
  if (key == "name") return fs::path(e->input).filename().string();
  if (key == "stem") return fs::path(e->input).stem().string();
  if (key == "action") return e->action;
  if (key == "type") return e->type;
  if (key == "score") return format_g(e->score);
  return format_g(e->probability);
}

// A placeholder's value inside a path setting is one path component, so that no input name,
// type or parameter can lead the path out of its folder ("../../etc", "/root").
std::string path_component(std::string v) {
  std::replace(v.begin(), v.end(), '/', '_');
  return v == "." || v == ".." ? "_" : v;
}

// `tmpl` with its placeholders replaced; in_path: each value made a path_component().
std::string expand(const std::string& tmpl, const ActionEvent* e, bool in_path = false) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {  // "{{", "}}": literal
      out += c;
      ++i;
    } else if (c == '{') {
      const size_t close = tmpl.find('}', i);
      if (close == std::string::npos) throw std::runtime_error("unterminated '{' in " + quoted(tmpl));
      const std::string value = placeholder(tmpl.substr(i + 1, close - i - 1), tmpl, e);
      out += in_path ? path_component(value) : value;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

// ---- configuration ------------------------------------------------------------------------------

// The template at `key`: a non-empty string whose {placeholders} are known.
std::string template_at(const JsonReader<>& r, const std::string& key) {
  const std::string t = r.text(key);
  if (t.empty()) r.fail(key, "must be a non-empty string");
  try {
    expand(t, nullptr);
  } catch (const std::exception& ex) {
    r.fail(key, ex.what());
  }
  return t;
}

// The run sink's arguments: templates, each may be empty (unlike paths).
std::vector<std::string> template_args(const JsonReader<>& r) {
  const json& args = r.at("args");
  if (!args.is_array()) r.fail("args", "must be an array of strings, got " + excerpt(args));
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string at = "args[" + std::to_string(i) + "]";
    if (!args[i].is_string()) r.fail(at, "must be a string, got " + excerpt(args[i]));
    try {
      expand(args[i].get<std::string>(), nullptr);
    } catch (const std::exception& ex) {
      r.fail(at, ex.what());
    }
    out.push_back(args[i].get<std::string>());
  }
  return out;
}

// ---- files --------------------------------------------------------------------------------------

// File names from camera and video inputs ("camera:0#17") hold characters unsafe in file names.
std::string sanitize(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  return s.empty() || s == "." || s == ".." ? "frame" : s;
}

// Creates dir/name, or dir/stem_N.ext when that is taken. `create` must fail with file_exists rather
// than replace an existing file, so sinks on other threads never overwrite each other.
fs::path create_unique(const fs::path& dir, const std::string& name,
                       const std::function<std::error_code(const fs::path&)>& create) {
  fs::create_directories(dir);
  const fs::path n(name);
  const std::string stem = n.stem().string(), ext = n.extension().string();
  for (int i = 0; i < 100000; ++i) {
    const fs::path target = dir / (i == 0 ? name : stem + "_" + std::to_string(i) + ext);
    const std::error_code ec = create(target);
    if (!ec) return target;
    if (ec != std::errc::file_exists) throw std::runtime_error("cannot create " + quoted(target.string()) + ": " + ec.message());
  }
  throw std::runtime_error("no free name for " + quoted(name) + " in " + quoted(dir.string()));
}

// Makes `path` appear whole or not at all: `fill` writes a hidden temporary file beside it, which is
// then renamed to `path` unless that exists (file_exists; RENAME_NOREPLACE: no check-then-write
// race). A host killed mid-write leaves at most a ".NAME.part-PID-N" file, never a half-written NAME.
std::error_code publish_new(const fs::path& path, const std::function<std::error_code(const fs::path&)>& fill) {
  static std::atomic<unsigned> counter{0};
  const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".part-" + std::to_string(::getpid()) +
                                             "-" + std::to_string(counter++));
  std::error_code ec = fill(tmp);
  if (!ec && ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0)
    ec = {errno, std::generic_category()};
  if (ec) ::unlink(tmp.c_str());
  return ec;
}

// Writes `bytes` to a new file at `path` (which must not exist).
std::error_code write_new_file(const fs::path& path, const std::vector<uchar>& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return {errno, std::generic_category()};
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::error_code ec(errno, std::generic_category());
      ::close(fd);
      return ec;
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return {errno, std::generic_category()};
  return {};
}

// One lock per file would grow without bound with templated paths; a fixed set of stripes keyed by
// the path's hash still serialises every writer of the same file.
std::mutex& file_mutex(const fs::path& path) {
  static std::array<std::mutex, 64> stripes;
  return stripes[std::hash<std::string>{}(fs::absolute(path).lexically_normal().string()) % stripes.size()];
}

std::string utc_now_iso() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

}  // namespace

fs::path write_png(const fs::path& dir, const std::string& name, const cv::Mat& image) {
  std::vector<uchar> png;
  if (image.empty() || !cv::imencode(".png", image, png)) throw std::runtime_error("cannot encode the frame as PNG");
  return create_unique(dir, name, [&](const fs::path& p) {
    return publish_new(p, [&](const fs::path& tmp) { return write_new_file(tmp, png); });
  });
}

namespace {

// ---- sinks --------------------------------------------------------------------------------------

SinkOutcome print_event(const ActionEvent& e) {
  std::string line = e.input + " -> " + e.action + ": ";
  line += e.type.empty() ? "clean" : e.type + " z=" + format_g(e.score) + " p=" + format_g(e.probability);
  static std::mutex stdout_mutex;  // whole lines from concurrent workers
  std::lock_guard<std::mutex> lock(stdout_mutex);
  std::cout << line << std::endl;
  return {};
}

SinkOutcome append_jsonl(const fs::path& path, const ActionEvent& e) {
  const json record = {{"time", utc_now_iso()}, {"input", e.input},   {"action", e.action},
                       {"params", e.params},    {"type", e.type},     {"score", e.score},
                       {"probability", e.probability},                {"types", e.types}};
  const std::string line = record.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::lock_guard<std::mutex> lock(file_mutex(path));
  std::ofstream out(path, std::ios::app | std::ios::binary);
  if (!out) return {"", false, "cannot open " + quoted(path.string()) + " for appending"};
  out << line << std::flush;
  if (!out) return {"", false, "cannot write to " + quoted(path.string())};
  return {"", true, "appended to " + path.string()};
}

// Copies (or links) the input file into `dir`; an input that is no file has its frame written.
SinkOutcome copy_input(const fs::path& dir, const ActionEvent& e, bool link) {
  std::error_code ec;
  if (!fs::is_regular_file(e.input, ec)) {
    if (!e.image || e.image->empty())
      return {"", false, "input " + quoted(e.input) + " is not a file and no frame was kept to write"};
    return {"", true, "wrote " + write_png(dir, png_name(e.input, false), *e.image).string()};
  }
  const fs::path src = fs::absolute(e.input);  // absolute, so the link works from its folder
  const fs::path made = create_unique(dir, src.filename().string(), [&](const fs::path& target) {
    std::error_code err;
    if (link) {
      fs::create_symlink(src, target, err);
      return err;
    }
    return publish_new(target, [&](const fs::path& tmp) {
      fs::copy_file(src, tmp, fs::copy_options::none, err);
      return err;
    });
  });
  return {"", true, (link ? "linked to " : "copied to ") + made.string()};
}

SinkOutcome write_event_overlay(const fs::path& dir, const ActionEvent& e) {
  std::error_code ec;
  const bool is_file = fs::is_regular_file(e.input, ec);
  return {"", true, "wrote " + write_png(dir, png_name(e.input, is_file), *e.overlay).string()};
}

// ---- run ----------------------------------------------------------------------------------------

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// The child's side of fork(): only async-signal-safe calls here, the host is multithreaded. A failed
// exec reports its errno through `report`.
[[noreturn]] void exec_child(char* const* argv, int report) {
  ::setpgid(0, 0);  // its own group, so a timeout kills what it spawned too
  sigset_t no_signals;
  sigemptyset(&no_signals);
  ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // the dup2 copy stays open
  if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);  // the host may be reading frames from stdin
  ::execvp(argv[0], argv);
  const int err = errno;
  (void)!::write(report, &err, sizeof err);
  ::_exit(127);
}

// The errno a failed exec wrote to the pipe, or 0 once a successful exec closed it. Closes `fd`.
int read_exec_errno(int fd) {
  int err = 0;
  ssize_t n;
  while ((n = ::read(fd, &err, sizeof err)) < 0 && errno == EINTR) {
  }
  ::close(fd);
  return n == static_cast<ssize_t>(sizeof err) ? err : 0;
}

// Starts the program in its own process group: its pid, or -1 and why it could not run.
std::pair<pid_t, std::string> start_program(const std::string& program, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The child reports a failed exec through this pipe; a successful exec closes it (O_CLOEXEC).
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return {-1, std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(report[0]);
    ::close(report[1]);
    return {-1, std::string("fork: ") + std::strerror(err)};
  }
  if (pid == 0) exec_child(argv.data(), report[1]);
  ::setpgid(pid, pid);  // also here, so kill(-pid) works even if the child has not run yet
  ::close(report[1]);
  const int exec_errno = read_exec_errno(report[0]);
  if (exec_errno == 0) return {pid, ""};
  reap(pid);
  return {-1, "cannot run " + quoted(program) + ": " + std::strerror(exec_errno)};
}

std::string exit_message(const std::string& name, int status) {
  if (WIFEXITED(status)) return name + " exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return name + " killed by signal " + std::to_string(WTERMSIG(status));
  return name + " ended with status " + std::to_string(status);
}

// Waits for the program; kills its process group after `timeout_s` or once *stop is set.
SinkOutcome wait_program(pid_t pid, const std::string& name, double timeout_s, const std::atomic<bool>* stop) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                                std::chrono::duration<double>(timeout_s));
  // Poll with a growing sleep: short programs finish promptly, long ones cost few wake-ups.
  auto nap = std::chrono::milliseconds(1);
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return {"", false, std::string("waitpid: ") + std::strerror(errno)};
    const auto now = std::chrono::steady_clock::now();
    const bool stopping = stop && *stop;
    if (now >= deadline || stopping) {
      ::kill(-pid, SIGKILL);
      reap(pid);
      return {"", false, name + (stopping ? " killed: the host is stopping"
                                          : " timed out after " + format_g(timeout_s) + " s (killed)")};
    }
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(nap, deadline - now));
    nap = std::min(nap * 2, std::chrono::milliseconds(50));
  }
  return {"", WIFEXITED(status) && WEXITSTATUS(status) == 0, exit_message(name, status)};
}

SinkOutcome run_program(const std::string& program, const std::vector<std::string>& args, double timeout_s,
                        const std::atomic<bool>* stop) {
  const std::string name = quoted(program);
  if (stop && *stop) return {"", false, name + " not run: the host is stopping"};
  const auto [pid, error] = start_program(program, args);
  if (pid < 0) return {"", false, error};
  return wait_program(pid, name, timeout_s, stop);
}

const char* kind_name(int kind) {
  static const char* kNames[] = {"print", "jsonl", "copy", "link", "run", "overlay"};
  return kNames[kind];
}

}  // namespace

std::string png_name(const std::string& input, bool is_file) {
  const std::filesystem::path p(input);
  return sanitize((is_file ? p.stem() : p.filename()).string()) + ".png";
}

std::string expand_template(const std::string& tmpl, const ActionEvent& e) { return expand(tmpl, &e); }

ActionSinks::ActionSinks(const json& actions, const std::string& base_dir) : base_dir_(base_dir) {
  if (actions.is_null()) return;
  if (!actions.is_object()) fail("actions", "must be an object mapping action names to lists of sinks");
  for (auto it = actions.begin(); it != actions.end(); ++it) {
    const std::string where = "actions." + it.key();
    if (!it->is_array()) fail(where, "must be an array of sinks, got " + excerpt(*it));
    std::vector<Sink>& sinks = sinks_[it.key()];
    for (size_t i = 0; i < it->size(); ++i) sinks.push_back(parse_sink((*it)[i], where + "[" + std::to_string(i) + "]"));
  }
}

ActionSinks::Sink ActionSinks::parse_sink(const json& j, const std::string& where) {
  const JsonReader<> r(j, "", where);
  const std::string kind = r.text("sink");
  Sink s;
  if (kind == "print") {
    r.only({"sink"});
    s.kind = Kind::kPrint;
  } else if (kind == "jsonl") {
    r.only({"sink", "path"});
    s.kind = Kind::kJsonl;
    s.target = template_at(r, "path");
  } else if (kind == "copy" || kind == "link" || kind == "overlay") {
    r.only({"sink", "dir"});
    s.kind = kind == "copy" ? Kind::kCopy : kind == "link" ? Kind::kLink : Kind::kOverlay;
    s.target = template_at(r, "dir");
  } else if (kind == "run") {
    r.only({"sink", "program", "args", "timeout_s"});
    s.kind = Kind::kRun;
    s.program = template_at(r, "program");
    if (r.has("args")) s.args = template_args(r);
    // Bounded above so the deadline arithmetic cannot overflow.
    if (r.has("timeout_s")) s.timeout_s = r.number("timeout_s", 1e-3, 86400);
  } else {
    r.fail("sink", "unknown sink " + quoted(excerpt(kind)) + " (expected print, jsonl, copy, link, run or overlay)");
  }
  return s;
}

std::vector<std::string> ActionSinks::actions() const {
  std::vector<std::string> names;
  for (const auto& [name, sinks] : sinks_) names.push_back(name);
  return names;
}

bool ActionSinks::wants_overlay(const std::string& action) const {
  const auto it = sinks_.find(action);
  return it != sinks_.end() &&
         std::any_of(it->second.begin(), it->second.end(), [](const Sink& s) { return s.kind == Kind::kOverlay; });
}

fs::path ActionSinks::resolve(const std::string& path) const {
  const fs::path p(path);
  return p.is_relative() && !base_dir_.empty() ? base_dir_ / p : p;
}

std::vector<SinkOutcome> ActionSinks::dispatch(const ActionEvent& event) const {
  std::vector<SinkOutcome> outcomes;
  const auto it = sinks_.find(event.action);
  if (it == sinks_.end()) return outcomes;
  for (const Sink& s : it->second) {
    SinkOutcome o;
    try {
      o = run_sink(s, event);
    } catch (const std::exception& ex) {
      o = {"", false, ex.what()};
    } catch (...) {
      o = {"", false, "unknown error"};
    }
    o.sink = kind_name(static_cast<int>(s.kind));
    outcomes.push_back(std::move(o));
  }
  return outcomes;
}

SinkOutcome ActionSinks::run_sink(const Sink& s, const ActionEvent& e) const {
  const auto dir = [&] { return resolve(expand(s.target, &e, true)); };
  switch (s.kind) {
    case Kind::kPrint: return print_event(e);
    case Kind::kJsonl: return append_jsonl(dir(), e);
    case Kind::kCopy: return copy_input(dir(), e, false);
    case Kind::kLink: return copy_input(dir(), e, true);
    case Kind::kOverlay:
      if (!e.overlay || e.overlay->empty()) return {"", true, "no overlay"};
      return write_event_overlay(dir(), e);
    case Kind::kRun: {
      std::string program = expand(s.program, &e);
      // A relative path is the config's; a bare name is looked up in PATH by execvp.
      if (program.find('/') != std::string::npos) program = resolve(program).string();
      std::vector<std::string> args;
      for (const auto& a : s.args) args.push_back(expand(a, &e));
      return run_program(program, args, s.timeout_s, stop_);
    }
  }
  return {"", false, "unknown sink"};
}

}  // namespace mtfcdd::host
