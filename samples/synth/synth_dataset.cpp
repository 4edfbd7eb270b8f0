#include "synth_dataset.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "defects.hpp"
#include "rng.hpp"
#include "scenes.hpp"

namespace mtfcdd::synth {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kPlanStream = 0x706c616eULL;  // keeps the plan's stream apart from image streams

int split_index(const std::string& name) {
  for (size_t i = 0; i < kSplits.size(); ++i)
    if (name == kSplits[i]) return static_cast<int>(i);
  return -1;
}

// Names as indices, checked: known (index >= 0) and listed once.
std::vector<int> resolve(const std::vector<std::string>& names, int (*index_of)(const std::string&),
                         const std::string& option, const std::string& known) {
  std::vector<int> ids;
  for (const std::string& n : names) {
    const int id = index_of(n);
    if (id < 0) throw std::invalid_argument("--" + option + ": unknown name '" + n + "' (known: " + known + ")");
    if (std::find(ids.begin(), ids.end(), id) != ids.end())
      throw std::invalid_argument("--" + option + ": '" + n + "' is listed twice");
    ids.push_back(id);
  }
  if (ids.empty()) throw std::invalid_argument("--" + option + " lists nothing");
  return ids;
}

template <class T>
std::string names_of(const std::vector<T>& all) {
  std::string out;
  for (const T& t : all) out += (out.empty() ? "" : ",") + std::string(t.name);
  return out;
}

// Indices 0..n-1 of a table, when the options name none of its entries.
std::vector<int> all_of(size_t n) {
  std::vector<int> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = static_cast<int>(i);
  return ids;
}

std::vector<int> category_ids(const SynthOptions& o) {
  return o.categories.empty() ? all_of(categories().size())
                              : resolve(o.categories, category_index, "categories", names_of(categories()));
}

std::vector<int> split_ids(const SynthOptions& o) {
  std::vector<int> ids = resolve(o.splits, split_index, "splits", "train,val,test");
  std::sort(ids.begin(), ids.end());  // the manifest lists splits in their usual order
  return ids;
}

void check_fraction(double v, const std::string& option) {
  if (v >= 0 && v <= 1) return;
  std::ostringstream msg;
  msg << "--" << option << " must be in [0, 1], got " << v;
  throw std::invalid_argument(msg.str());
}

template <class T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i)
    std::swap(v[i - 1], v[static_cast<size_t>(rng.randint(0, static_cast<int>(i) - 1))]);
}

// Runs fn(0..n-1) on `threads` threads; the first exception stops the work and is rethrown.
void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex m;
  auto worker = [&] {
    for (size_t i; !failed && (i = next++) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(m);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

void write_png(const fs::path& path, const cv::Mat& image) {
  bool ok = false;
  try {
    ok = cv::imwrite(path.string(), image);
  } catch (const cv::Exception&) {
  }
  if (!ok) throw std::runtime_error("cannot write " + path.string());
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f.flush()) throw std::runtime_error("cannot write " + path.string());
}

void make_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::string padded(int index, int count) {
  const std::string s = std::to_string(index);
  const size_t width = std::max<size_t>(5, std::to_string(std::max(0, count - 1)).size());
  return std::string(width - std::min(width, s.size()), '0') + s;
}

// Renders and writes one image and its masks; returns its manifest row.
std::string write_image(const SynthOptions& o, const ImagePlan& p) {
  const RenderedImage r = render_image(p, o.seed, o.size);
  const std::string folder = std::string("img/") + kSplits[p.split] + "/";
  const std::string stem = padded(p.index, o.counts[p.split]);
  std::vector<std::string> names, masks;
  for (size_t k = 0; k < p.types.size(); ++k) {
    const std::string type = defect_types()[static_cast<size_t>(p.types[k])].name;
    const std::string mask = folder + "masks/" + stem + "_" + type + ".png";
    write_png(fs::path(o.out) / mask, r.masks[k]);
    names.push_back(type);
    masks.push_back(type + "=" + mask);
  }
  const std::string image = folder + stem + "_" + categories()[static_cast<size_t>(p.category)].name + "_" +
                            (names.empty() ? "normal" : join(names, "+")) + ".png";
  write_png(fs::path(o.out) / image, r.image);
  return image + "," + kSplits[p.split] + "," + join(names, ";") + "," + join(masks, ";") + ",s" +
         std::to_string(o.seed) + "-" + kSplits[p.split] + "-" + std::to_string(p.index) + "\n";
}

nlohmann::ordered_json declaration(const SynthOptions& o) {
  nlohmann::ordered_json types = nlohmann::ordered_json::array(), cats = nlohmann::ordered_json::array(), counts;
  for (int k : type_ids(o)) types.push_back({{"name", defect_types()[k].name}, {"display", defect_types()[k].display}});
  for (int c : category_ids(o)) cats.push_back(categories()[c].name);
  for (int s : split_ids(o)) counts[kSplits[s]] = o.counts[s];
  return {{"name", "synthetic-parts"},
          {"manifest", "manifest.csv"},
          {"types", types},
          {"description", "Synthetic industrial parts with eight visually distinct defect types"},
          {"generator", kGeneratorVersion},
          {"seed", o.seed},
          {"size", o.size},
          {"alpha", o.alpha},
          {"eval_defective", o.eval_defective},
          {"two_type_ratio", o.two_type_ratio},
          {"categories", cats},
          {"images", counts}};
}

}  // namespace

void validate(const SynthOptions& o) {
  if (o.out.empty()) throw std::invalid_argument("--out is required");
  if (o.size < kMinSize || o.size > kMaxSize)
    throw std::invalid_argument("--size must be in [" + std::to_string(kMinSize) + ", " + std::to_string(kMaxSize) +
                                "], got " + std::to_string(o.size));
  for (size_t s = 0; s < kSplits.size(); ++s)
    if (o.counts[s] < 0 || o.counts[s] > kMaxImagesPerSplit)
      throw std::invalid_argument(std::string("--") + kSplits[s] + " must be in [0, " +
                                  std::to_string(kMaxImagesPerSplit) + "], got " + std::to_string(o.counts[s]));
  check_fraction(o.alpha, "alpha");
  check_fraction(o.eval_defective, "eval-defective");
  check_fraction(o.two_type_ratio, "two-type-ratio");
  if (o.threads < 0) throw std::invalid_argument("--threads must be at least 1, got " + std::to_string(o.threads));
  split_ids(o);
  category_ids(o);
  type_ids(o);
}

std::vector<int> type_ids(const SynthOptions& o) {
  return o.types.empty() ? all_of(defect_types().size())
                         : resolve(o.types, defect_index, "types", names_of(defect_types()));
}

std::vector<ImagePlan> plan_split(const SynthOptions& o, int split) {
  const std::vector<int> cats = category_ids(o), types = type_ids(o);
  const int n = o.counts[static_cast<size_t>(split)], t = static_cast<int>(types.size());
  const int defective = static_cast<int>(std::lround(n * (split == 0 ? o.alpha : o.eval_defective)));
  Rng rng(mix_seed({o.seed, static_cast<uint64_t>(split), kPlanStream}));
  std::vector<int> category(static_cast<size_t>(n)), ordinal(static_cast<size_t>(n), -1);
  for (int i = 0; i < n; ++i) category[i] = cats[static_cast<size_t>(i) % cats.size()];
  for (int j = 0; j < defective; ++j) ordinal[j] = j;
  shuffle(category, rng);
  shuffle(ordinal, rng);
  std::vector<ImagePlan> plan(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    ImagePlan& p = plan[static_cast<size_t>(i)];
    p.split = split;
    p.index = i;
    p.category = category[i];
    const int j = ordinal[i];
    if (j < 0) continue;
    p.types.push_back(types[j % t]);
    // Exactly floor(ratio * defective) images get a second, different type, spread along the ordinals.
    if (t > 1 && std::floor((j + 1) * o.two_type_ratio) > std::floor(j * o.two_type_ratio))
      p.types.push_back(types[(j % t + rng.randint(1, t - 1)) % t]);
  }
  return plan;
}

RenderedImage render_image(const ImagePlan& plan, uint64_t seed, int size) {
  Rng rng(mix_seed({seed, static_cast<uint64_t>(plan.split), static_cast<uint64_t>(plan.index)}));
  Scene scene = paint_scene(categories()[static_cast<size_t>(plan.category)], size, rng);
  RenderedImage out;
  out.masks = add_defects(scene, plan.types, rng);
  apply_lighting(scene.image, rng);
  scene.image.convertTo(out.image, CV_8UC3, 255.0);
  return out;
}

SynthSummary write_dataset(const SynthOptions& o) {
  validate(o);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int> types = type_ids(o);
  std::vector<ImagePlan> plans;
  for (int s : split_ids(o)) {
    make_dir(fs::path(o.out) / "img" / kSplits[s] / "masks");
    for (ImagePlan& p : plan_split(o, s)) plans.push_back(std::move(p));
  }
  std::vector<std::string> rows(plans.size());
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  parallel_for(plans.size(), threads, [&](size_t i) { rows[i] = write_image(o, plans[i]); });

  write_text(fs::path(o.out) / "dataset.json", declaration(o).dump(2) + "\n");
  write_text(fs::path(o.out) / "manifest.csv", "image,split,types,masks,group\n" + join(rows, ""));

  SynthSummary sum;
  sum.per_type.assign(types.size(), 0);
  for (const ImagePlan& p : plans) {
    ++sum.images[p.split];
    if (p.types.empty()) continue;
    ++sum.defective[p.split];
    sum.two_types += p.types.size() > 1;
    for (int k : p.types) ++sum.per_type[std::find(types.begin(), types.end(), k) - types.begin()];
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return sum;
}

std::string describe(const SynthOptions& o, const SynthSummary& s) {
  std::ostringstream line;
  line << "wrote " << o.out << ":";
  for (int k : split_ids(o)) line << " " << kSplits[k] << " " << s.images[k] << " (" << s.defective[k] << " defective)";
  line << "; types:";
  const std::vector<int> types = type_ids(o);
  for (size_t k = 0; k < types.size(); ++k) line << " " << defect_types()[types[k]].name << " " << s.per_type[k];
  line << "; " << s.two_types << " with two types; " << std::fixed;
  line.precision(1);
  line << s.seconds << " s";
  return line.str();
}

}  // namespace mtfcdd::synth
