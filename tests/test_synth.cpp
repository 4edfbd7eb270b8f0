// The synthetic dataset generator (mtfcdd-synth): determinism, split counts, defect masks, CLI errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>

#include "defects.hpp"
#include "raster.hpp"
#include "scenes.hpp"
#include "synth_cli.hpp"
#include "synth_dataset.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace mtfcdd::synth;
using mtfcdd::test::message_of;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char ch : s) {
    if (ch == sep)
      out.emplace_back();
    else
      out.back().push_back(ch);
  }
  return out;
}

struct Row {
  std::string image, split;
  std::vector<std::string> types;
  std::map<std::string, std::string> masks;  // type -> path
  std::string group;
};

std::vector<Row> read_manifest(const fs::path& dir) {
  std::istringstream in(read_file(dir / "manifest.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "image,split,types,masks,group");
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    const auto f = split(line, ',');
    EXPECT_EQ(f.size(), 5u) << line;
    if (f.size() != 5) continue;
    Row r{f[0], f[1], {}, {}, f[4]};
    if (!f[2].empty()) r.types = split(f[2], ';');
    if (!f[3].empty())
      for (const auto& entry : split(f[3], ';'))
        r.masks[entry.substr(0, entry.find('='))] = entry.substr(entry.find('=') + 1);
    rows.push_back(r);
  }
  return rows;
}

// The category named in an image's file name (<index>_<category>_<types>.png).
std::string category_of(const std::string& image) {
  for (const Category& c : categories())
    if (image.find(std::string("_") + c.name + "_") != std::string::npos) return c.name;
  return "";
}

class SynthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() / ("mtfcdd_test_synth_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // Small dataset options writing to root_/name.
  SynthOptions small(const std::string& name) const {
    SynthOptions o;
    o.out = (root_ / name).string();
    o.counts = {48, 16, 16};
    o.threads = 2;
    return o;
  }

  fs::path root_;
};

TEST_F(SynthTest, SameSeedSameBytesWhateverTheThreads) {
  SynthOptions a = small("a"), b = small("b"), c = small("c");
  a.threads = 1;
  b.threads = 3;
  c.seed = 2;
  write_dataset(a);
  write_dataset(b);
  write_dataset(c);
  EXPECT_EQ(read_file(fs::path(a.out) / "manifest.csv"), read_file(fs::path(b.out) / "manifest.csv"));
  EXPECT_EQ(read_file(fs::path(a.out) / "dataset.json"), read_file(fs::path(b.out) / "dataset.json"));
  int files = 0, differing = 0;
  for (const auto& e : fs::recursive_directory_iterator(a.out)) {
    if (!e.is_regular_file()) continue;
    const fs::path rel = fs::relative(e.path(), a.out);
    ++files;
    EXPECT_EQ(read_file(e.path()), read_file(fs::path(b.out) / rel)) << rel;
    differing += fs::exists(fs::path(c.out) / rel) && read_file(e.path()) != read_file(fs::path(c.out) / rel);
  }
  EXPECT_GT(files, 80);
  EXPECT_NE(read_file(fs::path(a.out) / "manifest.csv"), read_file(fs::path(c.out) / "manifest.csv"));
  EXPECT_GT(differing, 0) << "another seed gives other images";
}

TEST_F(SynthTest, CountsAlphaAndEvenTypes) {
  SynthOptions o = small("d");
  o.counts = {100, 48, 32};
  o.alpha = 0.3;
  const SynthSummary sum = write_dataset(o);
  std::map<std::string, int> images, defective;
  std::map<std::string, std::map<std::string, int>> first_type;  // split -> type -> images
  for (const Row& r : read_manifest(o.out)) {
    ++images[r.split];
    if (r.types.empty()) continue;
    ++defective[r.split];
    ++first_type[r.split][r.types[0]];
  }
  EXPECT_EQ(images["train"], 100);
  EXPECT_EQ(images["val"], 48);
  EXPECT_EQ(images["test"], 32);
  EXPECT_EQ(defective["train"], 30);
  EXPECT_EQ(defective["val"], 24);
  EXPECT_EQ(defective["test"], 16);
  EXPECT_EQ(sum.images, (std::array<int, 3>{100, 48, 32}));
  EXPECT_EQ(sum.defective, (std::array<int, 3>{30, 24, 16}));
  // Defective test images are spread evenly over the eight types: two each.
  ASSERT_EQ(first_type["test"].size(), defect_types().size());
  for (const auto& [type, n] : first_type["test"]) EXPECT_EQ(n, 2) << type;

  const auto json = read_file(fs::path(o.out) / "dataset.json");
  EXPECT_NE(json.find("\"name\": \"synthetic-parts\""), std::string::npos);
  for (const DefectType& t : defect_types()) EXPECT_NE(json.find(std::string("\"") + t.name + "\""), std::string::npos);
}

TEST_F(SynthTest, EveryTypeOnManyCategoriesWithBinaryMasks) {
  SynthOptions o = small("e");
  o.counts = {0, 0, 288};
  o.eval_defective = 1.0;
  o.two_type_ratio = 0.25;
  write_dataset(o);
  std::map<std::string, std::set<std::string>> cats;
  int two = 0;
  for (const Row& r : read_manifest(o.out)) {
    ASSERT_FALSE(r.types.empty()) << r.image;
    ASSERT_EQ(r.masks.size(), r.types.size()) << r.image;
    const cv::Mat image = cv::imread((fs::path(o.out) / r.image).string(), cv::IMREAD_UNCHANGED);
    ASSERT_EQ(image.type(), CV_8UC3) << r.image;
    ASSERT_EQ(image.size(), cv::Size(128, 128));
    if (r.types.size() == 2) {
      ++two;
      EXPECT_NE(r.types[0], r.types[1]);
    }
    for (const std::string& t : r.types) {
      cats[t].insert(category_of(r.image));
      ASSERT_TRUE(r.masks.count(t)) << r.image << " lacks a mask for " << t;
      const cv::Mat m = cv::imread((fs::path(o.out) / r.masks.at(t)).string(), cv::IMREAD_UNCHANGED);
      ASSERT_EQ(m.type(), CV_8UC1) << r.masks.at(t);
      ASSERT_EQ(m.size(), image.size());
      const int on = cv::countNonZero(m);
      EXPECT_GT(on, 3) << r.masks.at(t);
      EXPECT_LT(on, m.total() / 4) << r.masks.at(t);
      EXPECT_EQ(on, cv::countNonZero(m == 255)) << r.masks.at(t) << " is not binary 0/255";
    }
  }
  EXPECT_EQ(two, 72);  // floor(0.25 * 288)
  ASSERT_EQ(cats.size(), defect_types().size());
  for (const auto& [type, on] : cats) EXPECT_GE(on.size(), 5u) << type << " appears on few categories";
}

// How much each pixel's colour changed, summed over the channels.
cv::Mat1f change_of(const cv::Mat3f& after, const cv::Mat3f& before) {
  cv::Mat1f change;
  cv::transform(cv::abs(after - before), change, cv::Matx13f(1, 1, 1));
  return change;
}

constexpr float kVisible = 0.09f;  // a just-visible change, summed over the channels

cv::Mat1b changed(const cv::Mat3f& after, const cv::Mat3f& before) { return change_of(after, before) > kVisible; }

// Straight from the painters: every type on every category marks pixels on the object, visibly changed, and
// changes nothing visibly beyond its mask (by more than a pixel of anti-aliasing).
TEST(SynthDefects, MasksLieOnTheObjectAndMarkVisibleChange) {
  for (size_t c = 0; c < categories().size(); ++c) {
    for (size_t k = 0; k < defect_types().size(); ++k) {
      for (uint64_t seed = 0; seed < 4; ++seed) {
        Rng rng(mix_seed({seed, c, k}));
        Scene s = paint_scene(categories()[c], 128, rng);
        const cv::Mat3f before = s.image.clone();
        const cv::Mat1b object = s.object > 0.5f;
        const auto masks = add_defects(s, {static_cast<int>(k)}, rng);
        const std::string what = std::string(defect_types()[k].name) + " on " + categories()[c].name;
        ASSERT_EQ(masks.size(), 1u);
        const cv::Mat1b& m = masks[0];
        ASSERT_GT(cv::countNonZero(m), 0) << what;
        EXPECT_EQ(cv::countNonZero(m & ~object), 0) << what << ": mask off the object";
        const cv::Mat1f change = change_of(s.image, before);
        EXPECT_GT(cv::mean(change, m)[0] / 3, 0.05) << what << ": barely visible";
        cv::Mat1b near;
        cv::dilate(m, near, cv::Mat());
        EXPECT_LE(cv::countNonZero((change > kVisible) & ~near), cv::countNonZero(m) / 10)
            << what << ": changes beyond its mask";
      }
    }
  }
}

// What keeps two defects apart: no painter touches a pixel beyond its declared reach, at the radii and the
// image sizes it is drawn at (add_defects also clips what lies beyond, for shrunk radii and small images).
TEST(SynthDefects, EachPainterStaysWithinItsReach) {
  for (int size : {128, 256})
    for (size_t c = 0; c < categories().size(); ++c)
      for (const DefectType& t : defect_types())
        for (uint64_t seed = 0; seed < 6; ++seed) {
          Rng rng(mix_seed({seed, c, static_cast<uint64_t>(size)}));
          const Scene s = paint_scene(categories()[c], size, rng);
          const float r = rng.uniformf(t.min_radius, t.max_radius) * s.scale;
          const cv::Point2f centre(size / 2.f, size / 2.f);
          const Stroke st = t.paint(s, centre, r, rng);
          float farthest = 0;
          for_each_pixel(cv::Rect(0, 0, size, size), [&](int x, int y) {
            if (st.alpha(y, x) > 0) farthest = std::max(farthest, std::hypot(x - centre.x, y - centre.y));
          });
          EXPECT_LE(farthest, t.reach * r + kReachMargin * s.scale) << t.name << " at " << size << " px, r " << r;
        }
}

// Two types on one part: the second leaves the first's pixels and mask as they were without it (drawn from
// the same random stream, the first is the same), and neither is hidden. Placement falls back to the part's
// deepest point, where the second may cover the first, only when two large defects leave no room.
TEST(SynthDefects, ASecondDefectLeavesTheFirstAsItWas) {
  int pairs = 0, covered = 0;
  for (size_t c = 0; c < categories().size(); ++c)
    for (int a = 0; a < static_cast<int>(defect_types().size()); ++a)
      for (int b = 0; b < static_cast<int>(defect_types().size()); ++b) {
        if (a == b) continue;
        for (uint64_t seed = 0; seed < 3; ++seed) {
          const auto draw = [&](const std::vector<int>& types, Scene& s) {
            Rng rng(mix_seed({seed, c, static_cast<uint64_t>(a), static_cast<uint64_t>(b)}));
            s = paint_scene(categories()[c], 128, rng);
            return add_defects(s, types, rng);
          };
          Scene one, two;
          const auto first = draw({a}, one), both = draw({a, b}, two);
          const std::string what = std::string(defect_types()[a].name) + " then " + defect_types()[b].name +
                                   " on " + categories()[c].name;
          ++pairs;
          const int changed_under_first = cv::countNonZero(changed(two.image, one.image) & first[0]);
          covered += changed_under_first > 0 || cv::countNonZero(first[0] != both[0]) > 0;
          EXPECT_EQ(cv::countNonZero(both[0] & both[1]), 0) << what;
          EXPECT_GT(cv::countNonZero(both[0]), 3) << what;
          EXPECT_GT(cv::countNonZero(both[1]), 3) << what;
        }
      }
  std::printf("%d of %d parts with two defects have the second over the first\n", covered, pairs);
  EXPECT_LE(covered * 100, pairs) << "more than 1% of two-defect parts fell back to overlapping";
}

// argv (program name first) as mtfcdd-synth parses it.
SynthOptions parse_cli(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  CLI::App app;
  SynthOptions o;
  declare_options(app, o);
  app.parse(static_cast<int>(argv.size()), argv.data());
  return o;
}

TEST_F(SynthTest, OneSplitAloneMatchesTheFullRun) {
  SynthOptions full = small("full");
  full.seed = 99;
  write_dataset(full);

  const fs::path out = root_ / "only";
  std::vector<std::string> args{"mtfcdd-synth", "--out",  out.string(), "--splits",  "test", "--seed",
                                "99",           "--test", "16",         "--threads", "1"};
  const SynthSummary sum = write_dataset(parse_cli(args));
  EXPECT_EQ(sum.images, (std::array<int, 3>{0, 0, 16}));
  EXPECT_FALSE(fs::exists(out / "img" / "train"));
  const auto rows = read_manifest(out);
  ASSERT_EQ(rows.size(), 16u);
  for (const Row& r : rows) {
    EXPECT_EQ(r.split, "test");
    EXPECT_EQ(read_file(out / r.image), read_file(fs::path(full.out) / r.image)) << r.image;
  }
  std::set<std::string> groups;
  for (const Row& r : read_manifest(full.out)) groups.insert(r.group);
  EXPECT_EQ(groups.size(), 80u) << "every image is its own object";
}

TEST(SynthCli, BadOptionsNameTheOption) {
  auto error = [](std::vector<std::string> args) {
    args.insert(args.begin(), "mtfcdd-synth");
    return message_of([&] { parse_cli(args); });
  };
  EXPECT_NE(error({"--out", "x", "--alpha", "1.5"}).find("--alpha"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--alpha", "lots"}).find("--alpha"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--two-type-ratio", "-0.1"}).find("--two-type-ratio"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--types", "pit,bogus"}).find("bogus"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--types", "pit,pit"}).find("--types"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--categories", "disc,rust"}).find("--categories"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--seed", "-1"}).find("--seed"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--splits", "train,dev"}).find("--splits"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--size", "8"}).find("--size"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--train", "-1"}).find("--train"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--threads", "0"}).find("--threads"), std::string::npos);
  EXPECT_NE(error({"--out", "x", "--colour", "red"}).find("--colour"), std::string::npos);
  EXPECT_NE(error({"--seed", "1"}).find("--out"), std::string::npos);
  EXPECT_EQ(error({"--out", "x", "--types", "scratch,pit", "--categories", "wood"}), "<no exception>");
  EXPECT_THROW(parse_cli({"mtfcdd-synth", "--help"}), CLI::CallForHelp);
  // An empty entry of a list is skipped, as CLI11 splits lists.
  EXPECT_EQ(parse_cli({"mtfcdd-synth", "--out", "x", "--categories", "disc,,wood"}).categories,
            (std::vector<std::string>{"disc", "wood"}));
}

TEST_F(SynthTest, WriteErrorNamesTheFile) {
  fs::create_directories(root_);
  std::ofstream(root_ / "plain") << "a file, not a folder";
  SynthOptions o = small("x");
  o.out = (root_ / "plain" / "sub").string();
  EXPECT_NE(message_of([&] { write_dataset(o); }).find("plain"), std::string::npos);
}

}  // namespace
