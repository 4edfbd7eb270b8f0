#include "layer_profile.hpp"

#include <opencv2/core.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <vector>

namespace mtfcdd::bench {

int layer_profile_main(const LayerProfileRequest& r) {
  DnnOptions opts;
  opts.conv = r.conv;
  opts.threads = r.threads;
  cv::setNumThreads(r.threads);
  DnnModel model(r.bundle, opts);
  const BundleManifest& m = model.manifest();
  const int shape[4] = {r.batch, 3, m.input_height, m.input_width};
  cv::Mat blob(4, shape, CV_32F);
  cv::randu(blob, -1.f, 1.f);
  std::map<std::string, double> by_layer, by_type;  // summed over the timed forwards
  std::map<std::string, std::string> type_of;
  double total = 0;
  for (int i = 0; i < r.warmup + r.runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    model.forward(blob);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i < r.warmup) continue;
    total += ms;
    for (const LayerTime& l : model.layer_times()) {
      by_layer[l.name] += l.ms;
      by_type[l.type] += l.ms;
      type_of[l.name] = l.type;
    }
  }
  const double n = r.runs;
  std::printf("%s: %d layers, %s convolutions, %d threads, batch %d: %.3f ms per forward (%.3f ms/img), mean of %d\n\n",
              r.bundle.c_str(), static_cast<int>(by_layer.size()), name_of(model.conv_in_use()), model.threads_in_use(),
              r.batch, total / n, total / n / r.batch, r.runs);
  std::vector<std::pair<double, std::string>> types, layers;
  for (const auto& [t, ms] : by_type) types.push_back({ms / n, t});
  for (const auto& [l, ms] : by_layer) layers.push_back({ms / n, l});
  std::sort(types.rbegin(), types.rend());
  std::sort(layers.rbegin(), layers.rend());
  std::printf("| layer type | ms per forward | share |\n|---|---:|---:|\n");
  for (const auto& [ms, t] : types) std::printf("| %s | %.3f | %.1f%% |\n", t.c_str(), ms, 100 * ms / (total / n));
  std::printf("\n| slowest layers | type | ms per forward |\n|---|---|---:|\n");
  for (size_t i = 0; i < layers.size() && i < static_cast<size_t>(r.top); ++i)
    std::printf("| %s | %s | %.3f |\n", layers[i].second.c_str(), type_of[layers[i].second].c_str(), layers[i].first);
  return 0;
}

}  // namespace mtfcdd::bench
