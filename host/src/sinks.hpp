// Action sinks: what the host does with each frame once the detector has routed it to an action.
// The pipeline's "actions" object maps an action name to a list of sinks:
//
//   {"clean": [{"sink": "print"},
//              {"sink": "jsonl", "path": "events.jsonl"},
//              {"sink": "copy", "dir": "out/{action}"},
//              {"sink": "link", "dir": "out/links"},
//              {"sink": "run", "program": "/usr/bin/logger", "args": ["-t", "inspect", "{type} {score}"],
//               "timeout_s": 5},
//              {"sink": "overlay", "dir": "overlays/{action}"}],
//    "scrap": [{"sink": "print"}]}
//
// - print:   one line to stdout: input, action, decisive type, score.
// - jsonl:   appends one JSON object per event (input, action, params, type, score, probability, types,
//            time in ISO-8601 UTC) to `path`, one whole line per event even from several threads.
// - copy:    copies the input file into `dir`; an input that is no file (camera, video frame) is written
//            as a PNG of the frame, named from the input with unsafe characters replaced.
// - link:    like copy, but a symlink to the input file (a PNG where the input is no file).
// - run:     runs `program` with `args` (no shell), killing its process group after `timeout_s`
//            (default 10), or at once when the host is stopping (see stop_when). Its stdin is
//            /dev/null; stdout and stderr are the host's.
// - overlay: writes the event's overlay image, when one was rendered, as a PNG into `dir`.
//
// copy, link and overlay never overwrite: a taken name gets a numeric suffix (a.png, a_1.png, ...).
// Folders and the jsonl file's folder are created on demand.
//
// Templates: every string setting (path, dir, program, args) may use {image} (the input), {name} (its
// file name), {stem} (file name without extension), {action}, {type}, {score} and {probability} (%.6g),
// and {param:KEY} (the action parameter KEY: strings as they are, other values as JSON). "{{" and "}}"
// are literal braces. Unknown placeholders are configuration errors; a {param:KEY} missing from an
// event's params fails that sink only. In path and dir settings each placeholder's value is one path
// component ('/' becomes '_', "." and ".." become "_"), so that whatever an image name, type or
// parameter holds, the file lands inside the configured folder. Relative path, dir and program (one
// with a '/') settings resolve against the base directory given to the parser; args are passed as
// they are.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace mtfcdd::host {

// One routed frame, as the sinks see it.
struct ActionEvent {
  std::string input;                 // the input's path or name ("/data/a.png", "camera:0#17", "video.mp4#3")
  std::string action;                // routed action name
  nlohmann::json params;             // the action's parameters (object)
  std::string type;                  // the decisive defect type ("" for a clean frame)
  double score = 0;                  // the decisive type's score z (0 when clean)
  double probability = 0;
  nlohmann::json types;              // every type's report entry: {name, score, probability, threshold,
                                     // decision, regions} (array)
  const cv::Mat* image = nullptr;    // the frame as read (BGR or gray); may be null
  const cv::Mat* overlay = nullptr;  // the rendered overlay when one was made, else null
};

// What one sink did with one event. `sink` is the sink's kind ("copy"); outcomes come in configuration
// order, so the n-th outcome belongs to the n-th sink of the action.
struct SinkOutcome {
  std::string sink;
  bool ok = true;
  std::string message;  // e.g. "copied to out/a.png", "'/bin/false' exited 1", "timed out after 5 s"
};

class ActionSinks {
 public:
  ActionSinks() = default;  // no actions: dispatch does nothing
  // Throws std::runtime_error naming the entry, e.g. "actions.clean[2].sink: unknown sink 'mail'".
  // Unknown keys are errors. A null `actions` means no actions.
  ActionSinks(const nlohmann::json& actions, const std::string& base_dir);

  // Runs every sink of event.action, in order (none when the action has no sinks). A failing sink
  // never throws and never stops the others: its outcome says what went wrong. Thread-safe.
  std::vector<SinkOutcome> dispatch(const ActionEvent& event) const;

  std::vector<std::string> actions() const;  // configured action names, sorted
  // Whether `action` has an overlay sink, so the caller renders an overlay only when one is used.
  bool wants_overlay(const std::string& action) const;
  // Once *stop is set (Ctrl-C), run sinks kill their program's process group instead of waiting for
  // it, and start no new one; both are failed outcomes. `stop` must outlive every dispatch.
  void stop_when(const std::atomic<bool>* stop) { stop_ = stop; }

 private:
  enum class Kind { kPrint, kJsonl, kCopy, kLink, kRun, kOverlay };
  struct Sink {
    Kind kind = Kind::kPrint;
    std::string target;             // jsonl: the file; copy, link, overlay: the folder (templates)
    std::string program;            // run (template)
    std::vector<std::string> args;  // run (templates)
    double timeout_s = 10;          // run
  };

  static Sink parse_sink(const nlohmann::json& j, const std::string& where);
  SinkOutcome run_sink(const Sink& s, const ActionEvent& e) const;
  std::filesystem::path resolve(const std::string& path) const;  // against base_dir_ when relative

  std::filesystem::path base_dir_;
  std::map<std::string, std::vector<Sink>> sinks_;  // by action name
  const std::atomic<bool>* stop_ = nullptr;
};

// Expands the placeholders above in `tmpl`. Throws std::runtime_error on an unknown placeholder, an
// unterminated '{', or a {param:KEY} that e.params lacks.
std::string expand_template(const std::string& tmpl, const ActionEvent& e);

// Writes `image` as a PNG named `name` into `dir` (created when missing), or as stem_N.png when that
// name is taken: it never overwrites, not even a file another thread writes at the same moment, and
// the file appears whole. Returns the path written; throws naming the cause.
std::filesystem::path write_png(const std::filesystem::path& dir, const std::string& name, const cv::Mat& image);

// The PNG name for a frame of `input`: its file name (without extension when the input is a file),
// with characters unsafe in file names replaced ("camera:0#17" -> "camera_0_17.png").
std::string png_name(const std::string& input, bool is_file);

}  // namespace mtfcdd::host
