// vp_soak: a long run of the plugin through the C ABI on synthetic frames (sizes, formats,
// strides, categories, batches, and a reconfigure every 500 calls), sampling resident memory
// and latency every --window frames. After --warmup windows, RSS may grow at most
// --max-rss-growth (fraction) and the windows' p99 latency in the run's second half at most
// --max-p99-ratio times that of its first half, each half by the lower quartile of its windows'
// p99: drift slows every window, a burst of the machine's other work only some, so a burst alone
// does not fail it. The exit status says whether both held.
//   vp_soak --plugin LIB --bundle DIR [--calls N] [--seconds S] [--threads T] [--window W]
// (a call is one process() of 1 frame, or of 3 for every 7th call; windows count frames)
// One JSON line per window on stdout, a verdict line last. Used by scripts/soak.sh and CTest.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <thread>
#include <vector>

#include "plugin_loader.hpp"
#include "summary.hpp"
#include "vision_plugin.hpp"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string plugin, bundle;
  long calls = 10000;
  double seconds = 0;  // > 0: run this long instead of a frame count
  int threads = 1;
  long window = 1000;
  int warmup = 2;  // windows
  double max_rss_growth = 0.05, max_p99_ratio = 1.5;
};

double rss_mib() {
  long pages = 0, resident = 0;
  std::ifstream("/proc/self/statm") >> pages >> resident;
  return double(resident) * double(::sysconf(_SC_PAGESIZE)) / (1 << 20);
}

// The frame mix: every pixel format, padded strides, sizes from 33 to 200 pixels a side.
struct Frames {
  std::vector<cv::Mat> mats;
  std::vector<VpImage> images;
  Frames() {
    const struct { int w, h, type, pad, format; } kinds[] = {{64, 48, CV_8UC1, 0, VP_PIXEL_GRAY8},
                                                            {100, 80, CV_8UC3, 0, VP_PIXEL_BGR8},
                                                            {160, 120, CV_8UC3, 16, VP_PIXEL_RGB8},
                                                            {33, 200, CV_8UC4, 4, VP_PIXEL_BGRA8}};
    cv::RNG rng(7);
    for (const auto& k : kinds) {
      cv::Mat padded(k.h, k.w + k.pad, k.type);
      rng.fill(padded, cv::RNG::UNIFORM, 0, 256);
      mats.push_back(padded);
      const cv::Mat m = padded.colRange(0, k.w);
      images.push_back({sizeof(VpImage), k.w, k.h, int32_t(m.step[0]), k.format, m.data, nullptr});
    }
  }
};

class Sampler {
 public:
  explicit Sampler(const Options& o) : o_(o) {}
  // Records one call's latency per frame; prints a window's line when one is complete.
  void add(double ms, int frames) {
    std::lock_guard<std::mutex> l(m_);
    for (int i = 0; i < frames; ++i) window_.push_back(ms / frames);
    if (long(window_.size()) < o_.window) return;
    const json line = {{"frames", done_ += long(window_.size())}, {"rss_mib", rss_mib()},
                       {"p50_ms", mtfcdd::host::percentile(window_, 0.5)}, {"p99_ms", mtfcdd::host::percentile(window_, 0.99)}};
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
    lines_.push_back(line);
    window_.clear();
  }
  // Whether memory and latency stayed within the bounds after warm-up.
  bool verdict() const {
    if (long(lines_.size()) < o_.warmup + 2) {
      std::printf("{\"verdict\": \"too short\", \"windows\": %zu}\n", lines_.size());
      return false;
    }
    const double base = lines_[o_.warmup - 1].at("rss_mib");
    double peak = base;
    std::vector<double> p99;
    for (size_t i = o_.warmup; i < lines_.size(); ++i) {
      peak = std::max(peak, lines_[i].at("rss_mib").get<double>());
      p99.push_back(lines_[i].at("p99_ms"));
    }
    const size_t half = p99.size() / 2;
    const double first = mtfcdd::host::percentile({p99.begin(), p99.begin() + half}, 0.25);
    const double second = mtfcdd::host::percentile({p99.begin() + half, p99.end()}, 0.25);
    const double growth = (peak - base) / base, ratio = second / first;
    const bool ok = growth <= o_.max_rss_growth && ratio <= o_.max_p99_ratio;
    std::printf("%s\n", json{{"verdict", ok ? "ok" : "fail"}, {"frames", done_}, {"rss_warm_mib", base},
                             {"rss_peak_mib", peak}, {"rss_growth", growth}, {"p99_first_half_ms", first},
                             {"p99_second_half_ms", second}, {"p99_ratio", ratio}}
                            .dump()
                            .c_str());
    return ok;
  }

 private:
  const Options& o_;
  std::mutex m_;
  std::vector<double> window_;
  std::vector<json> lines_;
  long done_ = 0;
};

void worker(const VpApi& api, const Options& o, int id, std::atomic<long>& next, Clock::time_point end, Sampler& s) {
  const json config = {{"model", o.bundle},
                       {"heatmaps", {{"model", true}, {"full", true}}},
                       {"routing", {{"actions", {{"pass", json::object()}, {"check", {{"station", id}}}}},
                                    {"rules", json::array()},
                                    {"default", "pass"},
                                    {"unrouted", "check"}}}};
  vp::Detector d(api, config.dump());
  const std::string type = json::parse(d.describe()).at("types").at(0).at("name");
  const Frames f;
  const char* categories[] = {nullptr, "disc", "plate"};
  for (long i = next++; o.seconds > 0 ? Clock::now() < end : i < o.calls; i = next++) {
    if (i % 500 == 0)  // alternate between regions everywhere and no decisions
      d.reconfigure(json{{"thresholds", {{type, {{"image", i % 1000 ? 1e6 : 0.0}, {"pixel", 0.0}}}}}}.dump());
    const int count = i % 7 == 0 ? 3 : 1;
    VpImage batch[3];
    for (int k = 0; k < count; ++k) {
      batch[k] = f.images[(i + k) % f.images.size()];
      batch[k].category = categories[(i + k) % 3];
    }
    const auto t0 = Clock::now();
    const vp::Result r = d.process(batch, count);
    s.add(std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), count);
  }
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) try {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--plugin") o.plugin = v;
    else if (k == "--bundle") o.bundle = v;
    else if (k == "--calls") o.calls = std::stol(v);
    else if (k == "--seconds") o.seconds = std::stod(v);
    else if (k == "--threads") o.threads = std::stoi(v);
    else if (k == "--window") o.window = std::stol(v);
    else if (k == "--warmup") o.warmup = std::stoi(v);
    else if (k == "--max-rss-growth") o.max_rss_growth = std::stod(v);
    else if (k == "--max-p99-ratio") o.max_p99_ratio = std::stod(v);
    else throw std::runtime_error("unknown option " + k);
  } catch (const std::logic_error&) {  // std::sto* on a value that is no number
    throw std::runtime_error(std::string(argv[i]) + " " + argv[i + 1] + ": not a number");
  }
  if (argc % 2 == 0 || o.plugin.empty() || o.bundle.empty() || o.threads < 1 || o.window < 1 || o.warmup < 1)
    throw std::runtime_error("usage: vp_soak --plugin LIB --bundle DIR [--calls N] [--seconds S] [--threads T] "
                             "[--window W] [--warmup K] [--max-rss-growth F] [--max-p99-ratio R]");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    const mtfcdd::host::LoadedPlugin plugin(o.plugin);
    Sampler s(o);
    std::atomic<long> next{0};
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    std::vector<std::thread> threads;
    std::mutex failed_mutex;
    std::exception_ptr failed;  // a worker's error (a bundle the plugin refuses), ended as main's
    for (int t = 0; t < o.threads; ++t)
      threads.emplace_back([&, t] {
        try {
          worker(plugin.api(), o, t, next, end, s);
        } catch (...) {
          const std::lock_guard<std::mutex> lock(failed_mutex);
          if (!failed) failed = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    if (failed) std::rethrow_exception(failed);
    return s.verdict() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vp_soak: %s\n", e.what());
    return 2;
  }
}
