// Tests for the dataset loader (training/data/dataset.cpp): the manifest format, Real-IAD JSON,
// error messages, skip_bad, --types, single_channel, and the real magnetic-tile manifest.
#include <gtest/gtest.h>

#include "test_util.hpp"
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <string>
#include <vector>

#include "dataset.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using mtfcdd::Dataset;
using mtfcdd::load_dataset;
using mtfcdd::LoadOptions;
using mtfcdd::Sample;
using mtfcdd::type_counts;
using mtfcdd::TypeCount;

namespace {

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << text;
}

void write_image(const fs::path& p, int w, int h, int value = 128) {
  fs::create_directories(p.parent_path());
  ASSERT_TRUE(cv::imwrite(p.string(), cv::Mat(h, w, CV_8UC1, cv::Scalar(value)))) << p;
}

using mtfcdd::test::message_of;

#define EXPECT_HAS(haystack, needle)                               \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "'" << (haystack) << "' lacks '" << (needle) << "'"

const Sample* find_sample(const Dataset& ds, const std::string& suffix) {
  for (const Sample& s : ds.samples)
    if (s.image.size() >= suffix.size() && s.image.compare(s.image.size() - suffix.size(), suffix.size(), suffix) == 0)
      return &s;
  return nullptr;
}

const char* kDatasetJson = R"({"name": "toy", "manifest": "manifest.csv", "description": "test data",
  "types": [{"name": "blowhole", "display": "Blowhole"}, {"name": "crack", "display": "Crack"},
            {"name": "fray", "display": "Fray"}]})";

const char* kGoodCsv =
    "image,split,types,masks,group\n"
    "img/n1.png,train,,,g1\n"
    "img/n2.png,val,,,\n"
    "img/b1.png,train,blowhole,blowhole=m/b1.png,g2\n"
    "img/c1.png,test,crack,,g3\n"
    "img/bc.png,train,crack;blowhole,blowhole=m/bc_b.png;crack=m/bc_c.png,g4\n"
    "img/f1.png,val,fray,fray=m/f1.png,\n";

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("mtfcdd_test_dataset_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // The images and masks the manifests name: 8x6 images, masks of the same size.
    for (const char* n : {"n1", "n2", "n3", "b1", "c1", "bc", "f1", "a,b", "x y"})
      write_image(dir_ / "img" / (std::string(n) + ".png"), 8, 6);
    for (const char* n : {"b1", "bc_b", "bc_c", "f1", "ab_b", "ab_c"})
      write_image(dir_ / "m" / (std::string(n) + ".png"), 8, 6, 255);
    write_image(dir_ / "m" / "small.png", 3, 3, 255);
    write_text(dir_ / "img" / "garbage.png", "this is not a PNG file");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // dataset.json + manifest.csv in dir_; returns the folder.
  std::string manifest(const std::string& csv, const std::string& dataset_json = kDatasetJson) {
    write_text(dir_ / "dataset.json", dataset_json);
    write_text(dir_ / "manifest.csv", csv);
    return dir_.string();
  }

  fs::path dir_;
};

// ------------------------------------------------------------------ manifest format

TEST_F(DatasetTest, GoodManifest) {
  const Dataset ds = load_dataset(manifest(kGoodCsv));
  EXPECT_EQ(ds.name, "toy");
  ASSERT_EQ(ds.types.size(), 3u);
  EXPECT_EQ(ds.types[0].name, "blowhole");
  EXPECT_EQ(ds.types[0].display, "Blowhole");
  EXPECT_EQ(ds.types[2].name, "fray");
  ASSERT_EQ(ds.samples.size(), 6u);
  EXPECT_EQ(ds.split("train").size(), 3u);
  EXPECT_EQ(ds.split("val").size(), 2u);
  EXPECT_EQ(ds.split("test").size(), 1u);
  EXPECT_EQ(ds.skipped, 0u);
  EXPECT_TRUE(ds.warnings.empty());

  const Sample& n1 = ds.samples[0];
  EXPECT_TRUE(fs::path(n1.image).is_absolute());
  EXPECT_EQ(fs::path(n1.image), (fs::absolute(dir_) / "img" / "n1.png").lexically_normal());
  EXPECT_TRUE(n1.types.empty());
  EXPECT_TRUE(n1.masks.empty());
  EXPECT_EQ(n1.group, "g1");
  EXPECT_TRUE(n1.category.empty());
  EXPECT_HAS(n1.origin, "manifest.csv:2");

  const Sample* bc = find_sample(ds, "img/bc.png");
  ASSERT_NE(bc, nullptr);
  EXPECT_EQ(bc->types, (std::vector<int>{0, 1}));  // sorted, whatever the order in the file
  ASSERT_EQ(bc->masks.size(), 2u);
  EXPECT_EQ(fs::path(bc->masks.at(0)), (fs::absolute(dir_) / "m" / "bc_b.png").lexically_normal());
  EXPECT_EQ(fs::path(bc->masks.at(1)), (fs::absolute(dir_) / "m" / "bc_c.png").lexically_normal());
  EXPECT_HAS(bc->origin, "manifest.csv:6");

  const Sample* c1 = find_sample(ds, "img/c1.png");
  ASSERT_NE(c1, nullptr);
  EXPECT_EQ(c1->types, (std::vector<int>{1}));
  EXPECT_TRUE(c1->masks.empty());  // image-level label only
  EXPECT_EQ(c1->split, "test");

  // The dataset.json file itself works as the path too.
  const Dataset ds2 = load_dataset((dir_ / "dataset.json").string());
  EXPECT_EQ(ds2.samples.size(), 6u);
}

TEST_F(DatasetTest, QuotedFields) {
  const Dataset ds = load_dataset(manifest(
      "image,split,types,masks,group\n"
      "\"img/a,b.png\",train,\"blowhole;crack\",\"blowhole=m/ab_b.png;crack=m/ab_c.png\",\"say \"\"hi\"\", ok\"\n"
      "\"img/x y.png\",\"test\",\"\",\"\",\"two\nlines\"\n"
      "img/n1.png,val,,,plain\n"));
  ASSERT_EQ(ds.samples.size(), 3u);
  EXPECT_EQ(fs::path(ds.samples[0].image).filename(), "a,b.png");
  EXPECT_EQ(ds.samples[0].types, (std::vector<int>{0, 1}));
  EXPECT_EQ(fs::path(ds.samples[0].masks.at(1)).filename(), "ab_c.png");
  EXPECT_EQ(ds.samples[0].group, "say \"hi\", ok");
  EXPECT_EQ(fs::path(ds.samples[1].image).filename(), "x y.png");
  EXPECT_EQ(ds.samples[1].group, "two\nlines");
  // The record after a two-line field starts on physical line 5.
  EXPECT_HAS(ds.samples[2].origin, "manifest.csv:5");
}

TEST_F(DatasetTest, ColumnsInAnotherOrder) {
  const Dataset ds =
      load_dataset(manifest("group,masks,types,image,split\n"
                            "g2,blowhole=m/b1.png,blowhole,img/b1.png,train\n"
                            ",,,img/n1.png,test\n"));
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_EQ(fs::path(ds.samples[0].image).filename(), "b1.png");
  EXPECT_EQ(ds.samples[0].split, "train");
  EXPECT_EQ(ds.samples[0].types, (std::vector<int>{0}));
  EXPECT_EQ(ds.samples[0].group, "g2");
  EXPECT_EQ(ds.samples[1].split, "test");
  EXPECT_TRUE(ds.samples[1].types.empty());

  // group is optional.
  const Dataset ds2 = load_dataset(manifest("split,image,masks,types\ntrain,img/n1.png,,\n"));
  ASSERT_EQ(ds2.samples.size(), 1u);
  EXPECT_TRUE(ds2.samples[0].group.empty());
}

TEST_F(DatasetTest, BomCrlfAndNoTrailingNewline) {
  const Dataset ds =
      load_dataset(manifest("\xEF\xBB\xBFimage,split,types,masks\r\n"
                            "img/n1.png,train,,\r\n"
                            "\r\n"
                            "img/b1.png,test,blowhole,blowhole=m/b1.png"));  // no final line end
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_EQ(fs::path(ds.samples[0].image).filename(), "n1.png");
  EXPECT_EQ(ds.samples[1].split, "test");
  EXPECT_EQ(fs::path(ds.samples[1].masks.at(0)).filename(), "b1.png");  // no stray '\r'
  EXPECT_HAS(ds.samples[1].origin, "manifest.csv:4");                   // the blank line counts

  // Trailing CRLF and blank lines at the end are fine too.
  const Dataset ds2 = load_dataset(manifest("image,split,types,masks\r\nimg/n1.png,train,,\r\n\r\n"));
  EXPECT_EQ(ds2.samples.size(), 1u);
}

// ------------------------------------------------------------------ errors

struct ErrorCase {
  std::string what, csv;
  std::vector<std::string> expect;  // substrings of the message
};

TEST_F(DatasetTest, ErrorsNameFileAndLine) {
  const std::string h = "image,split,types,masks,group\n", ok = "img/n1.png,train,,,\n";
  const std::vector<ErrorCase> cases = {
      {"missing column",
       "image,split,types,group\nimg/n1.png,train,,\n",
       {"manifest.csv:1:", "missing column 'masks'"}},
      {"unknown split", h + ok + "img/n2.png,training,,,\n", {"manifest.csv:3:", "unknown split 'training'"}},
      {"unknown type",
       h + ok + "img/b1.png,train,blowhole;scratch,,\n",
       {"manifest.csv:3:", "unknown type 'scratch'", "not declared in dataset.json"}},
      {"mask of an unknown type",
       h + ok + "img/b1.png,train,blowhole,dent=m/b1.png,\n",
       {"manifest.csv:3:", "unknown type 'dent'"}},
      {"mask for a type the image lacks",
       h + ok + "img/b1.png,train,blowhole,crack=m/b1.png,\n",
       {"manifest.csv:3:", "mask for type 'crack', which the image does not have"}},
      {"mask on a normal image",
       h + ok + "img/n2.png,train,,blowhole=m/b1.png,\n",
       {"manifest.csv:3:", "which the image does not have"}},
      {"malformed mask entry", h + ok + "img/b1.png,train,blowhole,m/b1.png,\n", {"manifest.csv:3:", "not type=path"}},
      {"missing image", h + ok + "img/nope.png,test,,,\n", {"manifest.csv:3:", "nope.png", "not found"}},
      {"unreadable image",
       h + ok + "img/garbage.png,test,,,\n",
       {"manifest.csv:3:", "garbage.png", "cannot read or decode image"}},
      {"missing mask",
       h + ok + "img/b1.png,train,blowhole,blowhole=m/none.png,\n",
       {"manifest.csv:3:", "none.png", "not found"}},
      {"unreadable mask",
       h + ok + "img/b1.png,train,blowhole,blowhole=img/garbage.png,\n",
       {"manifest.csv:3:", "cannot read or decode mask"}},
      {"mask of the wrong size",
       h + ok + "img/b1.png,train,blowhole,blowhole=m/small.png,\n",
       {"manifest.csv:3:", "small.png", "is 3x3 but the image is 8x6"}},
      {"duplicate image",
       h + ok + "img/b1.png,train,,,\n./img/../img/n1.png,val,,,\n",
       {"manifest.csv:4:", "duplicate image path", "first at", "manifest.csv:2"}},
      {"field count", h + ok + "img/n2.png,train,,\n", {"manifest.csv:3:", "has 4 fields, the header has 5"}},
      {"empty image", h + ok + ",train,,,\n", {"manifest.csv:3:", "empty image path"}},
      {"line after a multi-line field",
       h + "img/n1.png,train,,,\"a\nb\"\nimg/n2.png,tset,,,\n",
       {"manifest.csv:4:", "unknown split 'tset'"}},
      {"unterminated quote", h + ok + "\"img/n2.png,train,,,\n", {"manifest.csv:3:", "unterminated quoted field"}},
      {"text after a closing quote",
       h + ok + "\"img/n2.png\"x,train,,,\n",
       {"manifest.csv:3:", "after the closing quote"}},
      {"empty manifest", "", {"manifest.csv:1:", "header row is required"}},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string msg = message_of([&] { load_dataset(manifest(c.csv)); });
    EXPECT_HAS(msg, (dir_ / "manifest.csv").string());
    for (const std::string& e : c.expect) EXPECT_HAS(msg, e);
  }
}

TEST_F(DatasetTest, DatasetJsonErrors) {
  // Missing dataset.json (and no other JSON): a folder that is no dataset.
  fs::create_directories(dir_ / "empty");
  EXPECT_HAS(message_of([&] { load_dataset((dir_ / "empty").string()); }), "no dataset.json");
  EXPECT_HAS(message_of([&] { load_dataset((dir_ / "absent").string()); }), "not found");

  const std::string csv = "image,split,types,masks\nimg/n1.png,train,,\n";
  std::string msg = message_of([&] { load_dataset(manifest(csv, "{\"types\": [{\"name\": \"a\"},]}")); });
  EXPECT_HAS(msg, "dataset.json");
  EXPECT_HAS(msg, "malformed JSON");

  msg = message_of([&] { load_dataset(manifest(csv, R"({"types": [{"name": "a"}, {"name": "a"}]})")); });
  EXPECT_HAS(msg, "declared twice");
  msg = message_of([&] { load_dataset(manifest(csv, R"({"types": [{"name": "a;b"}]})")); });
  EXPECT_HAS(msg, "bad type name");
  msg = message_of([&] { load_dataset(manifest(csv, R"({"manifest": "other.csv", "types": []})")); });
  EXPECT_HAS(msg, "other.csv");
  EXPECT_HAS(msg, "not found");
  msg = message_of([&] { load_dataset(manifest(csv, R"({"manifest": "manifest.csv"})")); });
  EXPECT_HAS(msg, "\"types\"");
}

TEST_F(DatasetTest, SkipBadCountsAndKeepsGoing) {
  LoadOptions opt;
  opt.skip_bad = true;
  const Dataset ds = load_dataset(manifest("image,split,types,masks,group\n"
                                           "img/n1.png,train,,,\n"                              // 2 ok
                                           "img/n2.png,training,,,\n"                           // 3 unknown split
                                           "img/b1.png,train,scratch,,\n"                       // 4 unknown type
                                           "img/nope.png,test,,,\n"                             // 5 missing image
                                           "img/b1.png,train,blowhole,blowhole=m/small.png,\n"  // 6 wrong mask size
                                           "img/n1.png,val,,,\n"                                // 7 duplicate of 2
                                           "img/c1.png,test,crack,blowhole=m/b1.png,\n"         // 8 mask, type lacking
                                           "img/f1.png,val,fray,fray=m/f1.png,\n"),             // 9 ok
                                  opt);
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_EQ(fs::path(ds.samples[0].image).filename(), "n1.png");
  EXPECT_EQ(ds.samples[0].split, "train");
  EXPECT_EQ(fs::path(ds.samples[1].image).filename(), "f1.png");
  EXPECT_EQ(ds.skipped, 6u);
  ASSERT_EQ(ds.warnings.size(), 6u);
  std::set<std::string> lines;
  for (const std::string& w : ds.warnings)
    for (int l = 3; l <= 8; ++l)
      if (w.find("manifest.csv:" + std::to_string(l) + ":") != std::string::npos) lines.insert(std::to_string(l));
  EXPECT_EQ(lines.size(), 6u);

  // Structural problems still throw under skip_bad.
  EXPECT_HAS(message_of([&] { load_dataset(manifest("image,split,types\nimg/n1.png,train,\n"), opt); }),
             "missing column 'masks'");
  EXPECT_HAS(message_of([&] { load_dataset(manifest("image,split,types,masks\n", "{not json"), opt); }),
             "malformed JSON");
  fs::remove(dir_ / "dataset.json");
  EXPECT_HAS(message_of([&] { load_dataset(dir_.string(), opt); }), "no dataset.json");
}

// ------------------------------------------------------------------ --types, single_channel

TEST_F(DatasetTest, TypesSubsetAndOrder) {
  LoadOptions opt;
  opt.types = {"fray", "blowhole"};
  const Dataset ds = load_dataset(manifest(kGoodCsv), opt);
  ASSERT_EQ(ds.types.size(), 2u);
  EXPECT_EQ(ds.types[0].name, "fray");
  EXPECT_EQ(ds.types[1].name, "blowhole");
  EXPECT_EQ(ds.types[1].display, "Blowhole");
  // c1 (crack only) is dropped; everything else stays.
  ASSERT_EQ(ds.samples.size(), 5u);
  EXPECT_EQ(find_sample(ds, "img/c1.png"), nullptr);
  EXPECT_EQ(ds.dropped_by_types, 1u);
  EXPECT_EQ(ds.skipped, 0u);
  ASSERT_EQ(ds.warnings.size(), 1u);
  EXPECT_HAS(ds.warnings[0], "not in --types");
  EXPECT_HAS(ds.warnings[0], "crack: 1");

  const Sample* b1 = find_sample(ds, "img/b1.png");
  ASSERT_NE(b1, nullptr);
  EXPECT_EQ(b1->types, (std::vector<int>{1}));
  EXPECT_EQ(fs::path(b1->masks.at(1)).filename(), "b1.png");
  const Sample* bc = find_sample(ds, "img/bc.png");  // crack;blowhole keeps blowhole and its mask only
  ASSERT_NE(bc, nullptr);
  EXPECT_EQ(bc->types, (std::vector<int>{1}));
  ASSERT_EQ(bc->masks.size(), 1u);
  EXPECT_EQ(fs::path(bc->masks.at(1)).filename(), "bc_b.png");
  const Sample* f1 = find_sample(ds, "img/f1.png");
  ASSERT_NE(f1, nullptr);
  EXPECT_EQ(f1->types, (std::vector<int>{0}));
  EXPECT_EQ(fs::path(f1->masks.at(0)).filename(), "f1.png");
  EXPECT_TRUE(find_sample(ds, "img/n1.png")->types.empty());

  opt.types = {"blowhole", "scratch"};
  EXPECT_HAS(message_of([&] { load_dataset(manifest(kGoodCsv), opt); }), "--types: unknown type 'scratch'");
  opt.types = {"crack", "crack"};
  EXPECT_HAS(message_of([&] { load_dataset(manifest(kGoodCsv), opt); }), "named twice");
}

TEST_F(DatasetTest, SingleChannel) {
  LoadOptions opt;
  opt.single_channel = true;
  const Dataset ds = load_dataset(manifest(kGoodCsv), opt);
  ASSERT_EQ(ds.types.size(), 1u);
  EXPECT_EQ(ds.types[0].name, "anomaly");
  ASSERT_EQ(ds.samples.size(), 6u);
  for (const Sample& s : ds.samples) {
    const bool normal = s.image.find("/n") != std::string::npos;
    EXPECT_EQ(s.types, normal ? std::vector<int>{} : std::vector<int>{0}) << s.image;
  }
  EXPECT_EQ(fs::path(find_sample(ds, "img/b1.png")->masks.at(0)).filename(), "b1.png");
  EXPECT_TRUE(find_sample(ds, "img/c1.png")->masks.empty());
  // Two types with two mask files cannot share one channel's mask: image-level label only, with a warning.
  EXPECT_TRUE(find_sample(ds, "img/bc.png")->masks.empty());
  ASSERT_EQ(ds.warnings.size(), 1u);
  EXPECT_HAS(ds.warnings[0], "manifest.csv:6");
  EXPECT_EQ(ds.skipped, 0u);

  // With --types the chosen types are merged: bc keeps its crack mask.
  opt.types = {"crack"};
  const Dataset ds2 = load_dataset(manifest(kGoodCsv), opt);
  ASSERT_EQ(ds2.types.size(), 1u);
  EXPECT_EQ(ds2.types[0].name, "anomaly");
  EXPECT_EQ(ds2.samples.size(), 4u);  // n1, n2, c1, bc
  EXPECT_EQ(fs::path(find_sample(ds2, "img/bc.png")->masks.at(0)).filename(), "bc_c.png");
}

// ------------------------------------------------------------------ Real-IAD

json realiad_record(const std::string& cls, const std::string& image, const json& mask = nullptr,
                    const std::string& category = "audiojack") {
  return json{{"category", category}, {"anomaly_class", cls}, {"image_path", image}, {"mask_path", mask}};
}

TEST_F(DatasetTest, RealIadJson) {
  const fs::path root = dir_ / "ri";
  json j;
  j["meta"] = {{"prefix", "audiojack"}, {"normal_class", "OK"}, {"pre_transform", {{"type", "none"}}}};
  j["train"] = json::array({realiad_record("OK", "OK/S0001/audiojack_0001_OK_C1_1.jpg"),
                            realiad_record("OK", "OK/S0001/audiojack_0001_OK_C2_1.jpg")});
  j["test"] = json::array(
      {realiad_record("HS", "NG/HS/S0002/audiojack_0002_NG_HS_C1_1.jpg", "NG/HS/S0002/audiojack_0002_NG_HS_C1_1.png"),
       json{{"category", "audiojack"},
            {"anomaly_class", "OK"},
            {"image_path", "OK/S0003/audiojack_0003_OK_C1_1.jpg"}},  // no mask_path key
       realiad_record("ZW", "NG/ZW/S0004/audiojack_0004_NG_ZW_C3_1.jpg")});
  write_text(root / "audiojack.json", j.dump(1));
  const fs::path img = root / "audiojack";
  for (const char* p : {"OK/S0001/audiojack_0001_OK_C1_1.jpg", "OK/S0001/audiojack_0001_OK_C2_1.jpg",
                        "NG/HS/S0002/audiojack_0002_NG_HS_C1_1.jpg", "OK/S0003/audiojack_0003_OK_C1_1.jpg",
                        "NG/ZW/S0004/audiojack_0004_NG_ZW_C3_1.jpg"})
    write_image(img / p, 16, 12);
  write_image(img / "NG/HS/S0002/audiojack_0002_NG_HS_C1_1.png", 16, 12, 255);

  const Dataset ds = load_dataset((root / "audiojack.json").string());
  EXPECT_EQ(ds.name, "audiojack");
  const std::vector<std::string> names = {"pit",    "deformation",   "abrasion",       "scratch",
                                          "damage", "missing_parts", "foreign_object", "contamination"};
  ASSERT_EQ(ds.types.size(), names.size());
  for (size_t k = 0; k < names.size(); ++k) EXPECT_EQ(ds.types[k].name, names[k]);
  ASSERT_EQ(ds.samples.size(), 5u);
  EXPECT_EQ(ds.split("test").size(), 3u);
  EXPECT_EQ(ds.split("train").size() + ds.split("val").size(), 2u);

  const Sample* hs = find_sample(ds, "audiojack_0002_NG_HS_C1_1.jpg");
  ASSERT_NE(hs, nullptr);
  EXPECT_EQ(fs::path(hs->image), (fs::absolute(img) / "NG/HS/S0002/audiojack_0002_NG_HS_C1_1.jpg").lexically_normal());
  EXPECT_EQ(hs->types, (std::vector<int>{3}));
  EXPECT_EQ(fs::path(hs->masks.at(3)),
            (fs::absolute(img) / "NG/HS/S0002/audiojack_0002_NG_HS_C1_1.png").lexically_normal());
  EXPECT_EQ(hs->category, "audiojack");
  EXPECT_EQ(hs->group, "audiojack/NG/HS/S0002");
  EXPECT_HAS(hs->origin, "audiojack.json:test[0]");
  const Sample* zw = find_sample(ds, "audiojack_0004_NG_ZW_C3_1.jpg");
  ASSERT_NE(zw, nullptr);
  EXPECT_EQ(zw->types, (std::vector<int>{7}));
  EXPECT_TRUE(zw->masks.empty());
  EXPECT_TRUE(find_sample(ds, "audiojack_0003_OK_C1_1.jpg")->types.empty());
  // Both views of S0001 land in the same split.
  EXPECT_EQ(find_sample(ds, "audiojack_0001_OK_C1_1.jpg")->split, find_sample(ds, "audiojack_0001_OK_C2_1.jpg")->split);

  // image_root: the JSON elsewhere (the official layout: realiad_jsons/ beside realiad_256/).
  write_text(dir_ / "jsons" / "audiojack.json", j.dump());
  LoadOptions opt;
  opt.image_root = root.string();
  EXPECT_EQ(load_dataset((dir_ / "jsons").string(), opt).samples.size(), 5u);
  EXPECT_HAS(message_of([&] { load_dataset((dir_ / "jsons").string()); }), "not found");

  // --types works on Real-IAD names.
  opt.types = {"contamination"};
  const Dataset sub = load_dataset((dir_ / "jsons").string(), opt);
  EXPECT_EQ(sub.samples.size(), 4u);
  EXPECT_EQ(sub.dropped_by_types, 1u);
}

TEST_F(DatasetTest, RealIadErrors) {
  LoadOptions opt;
  opt.check_files = false;
  auto write = [&](const std::vector<json>& test) {
    json j;
    j["meta"] = {{"prefix", "pcb"}, {"normal_class", "OK"}};
    j["train"] = json::array({realiad_record("OK", "OK/S0001/a.jpg", nullptr, "pcb")});
    j["test"] = json::array();
    for (const json& r : test) j["test"].push_back(r);
    write_text(dir_ / "pcb.json", j.dump());
    return (dir_ / "pcb.json").string();
  };
  std::string msg = message_of([&] {
    load_dataset(write({realiad_record("OK", "OK/S0002/b.jpg"), realiad_record("XX", "NG/XX/S1/c.jpg")}), opt);
  });
  EXPECT_HAS(msg, "pcb.json:test[1]");
  EXPECT_HAS(msg, "unknown anomaly_class 'XX'");

  msg = message_of([&] { load_dataset(write({realiad_record("OK", "OK/S0002/b.jpg", "OK/S0002/b.png")}), opt); });
  EXPECT_HAS(msg, "pcb.json:test[0]");
  EXPECT_HAS(msg, "mask for a type the image does not have");

  msg = message_of([&] { load_dataset(write({json{{"anomaly_class", "OK"}}}), opt); });
  EXPECT_HAS(msg, "pcb.json:test[0]");
  EXPECT_HAS(msg, "missing \"image_path\"");

  msg = message_of([&] { load_dataset(write({realiad_record("OK", "OK/S0001/a.jpg")}), opt); });
  EXPECT_HAS(msg, "pcb.json:test[0]");
  EXPECT_HAS(msg, "duplicate image path");

  // check_files: the image is missing.
  msg = message_of([&] { load_dataset(write({}), LoadOptions{}); });
  EXPECT_HAS(msg, "pcb.json:train[0]");
  EXPECT_HAS(msg, "not found");

  // skip_bad drops the bad records only.
  opt.skip_bad = true;
  const Dataset ds = load_dataset(
      write({realiad_record("XX", "NG/XX/S1/c.jpg"), realiad_record("AK", "NG/AK/S0002/d.jpg", "NG/AK/S0002/d.png"),
             realiad_record("OK", "OK/S0003/e.jpg", "OK/S0003/e.png")}),
      opt);
  EXPECT_EQ(ds.samples.size(), 2u);
  EXPECT_EQ(ds.skipped, 2u);
  EXPECT_EQ(ds.warnings.size(), 2u);

  // Malformed JSON and non-Real-IAD JSON are structural errors, skip_bad or not.
  write_text(dir_ / "broken.json", "{\"train\": [ {\"image_path\": \"a.jpg\" ");
  msg = message_of([&] { load_dataset((dir_ / "broken.json").string(), opt); });
  EXPECT_HAS(msg, "broken.json");
  EXPECT_HAS(msg, "malformed JSON");
  write_text(dir_ / "other.json", "{\"hello\": 1}");
  EXPECT_HAS(message_of([&] { load_dataset((dir_ / "other.json").string(), opt); }), "neither");
  write_text(dir_ / "other.json", "{\"train\": {}}");
  EXPECT_HAS(message_of([&] { load_dataset((dir_ / "other.json").string(), opt); }), "must be an array");
}

TEST_F(DatasetTest, RealIadValHoldout) {
  LoadOptions opt;
  opt.check_files = false;
  json j;
  j["meta"] = {{"prefix", "toy"}, {"normal_class", "OK"}};
  j["train"] = json::array();
  char buf[64];
  for (int i = 0; i < 200; ++i) {
    std::snprintf(buf, sizeof buf, "OK/S%04d/toy_%04d_OK_C1.jpg", i, i);
    j["train"].push_back(realiad_record("OK", buf, nullptr, "toy"));
  }
  j["test"] = json::array({realiad_record("OK", "OK/S9999/t.jpg", nullptr, "toy")});
  write_text(dir_ / "a" / "toy.json", j.dump());
  const Dataset ds = load_dataset((dir_ / "a" / "toy.json").string(), opt);
  const size_t nval = ds.split("val").size();
  EXPECT_EQ(ds.split("train").size() + nval, 200u);
  EXPECT_EQ(ds.split("test").size(), 1u);
  EXPECT_GE(nval, 10u);
  EXPECT_LE(nval, 30u);

  // The same choice whatever the order of the records.
  std::set<std::string> val1, val2;
  for (const Sample* s : ds.split("val")) val1.insert(fs::path(s->image).filename().string());
  std::reverse(j["train"].begin(), j["train"].end());
  write_text(dir_ / "b" / "toy.json", j.dump());
  const Dataset rev = load_dataset((dir_ / "b" / "toy.json").string(), opt);
  for (const Sample* s : rev.split("val")) val2.insert(fs::path(s->image).filename().string());
  EXPECT_EQ(val1, val2);
  for (const Sample& s : ds.samples)
    EXPECT_EQ(s.split == "val",
              mtfcdd::realiad_holdout("toy", "OK/" + fs::path(s.image).parent_path().filename().string() + "/" +
                                                 fs::path(s.image).filename().string()));

  // Five camera views of one object stay together; ~10% of 1000 objects go to val.
  size_t held = 0;
  for (int i = 0; i < 1000; ++i) {
    std::set<bool> sides;
    for (int c = 1; c <= 5; ++c) {
      std::snprintf(buf, sizeof buf, "NG/AK/S%04d/toy_%04d_NG_AK_C%d_2023.jpg", i, i, c);
      sides.insert(mtfcdd::realiad_holdout("toy", buf));
    }
    EXPECT_EQ(sides.size(), 1u) << i;
    held += *sides.begin();
  }
  EXPECT_GE(held, 70u);
  EXPECT_LE(held, 130u);
  // FNV-1a 64 reference values.
  EXPECT_EQ(mtfcdd::fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(mtfcdd::fnv1a64("a"), 0xaf63dc4c8601ec8cULL);

  // A file with its own "val" array keeps it and holds nothing out.
  j["val"] = json::array({realiad_record("OK", "OK/S8888/v.jpg", nullptr, "toy")});
  write_text(dir_ / "c" / "toy.json", j.dump());
  const Dataset withval = load_dataset((dir_ / "c" / "toy.json").string(), opt);
  EXPECT_EQ(withval.split("val").size(), 1u);
  EXPECT_EQ(withval.split("train").size(), 200u);
}

TEST_F(DatasetTest, RealIadFolderMerges) {
  LoadOptions opt;
  opt.check_files = false;
  for (const char* cat : {"pcb", "mint"}) {
    json j;
    j["meta"] = {{"prefix", cat}, {"normal_class", "OK"}};
    j["train"] = json::array({realiad_record("OK", "OK/S0001/x_C1.jpg", nullptr, cat)});
    j["test"] = json::array({realiad_record("QS", "NG/QS/S0002/y_C1.jpg", "NG/QS/S0002/y_C1.png", cat)});
    write_text(dir_ / "realiad_jsons_fuiad_0.1" / (std::string(cat) + ".json"), j.dump());
  }
  const Dataset ds = load_dataset((dir_ / "realiad_jsons_fuiad_0.1").string(), opt);
  EXPECT_EQ(ds.name, "realiad_jsons_fuiad_0.1");
  ASSERT_EQ(ds.samples.size(), 4u);
  EXPECT_EQ(ds.samples[0].category, "mint");  // files in name order
  EXPECT_EQ(ds.samples[2].category, "pcb");
  EXPECT_HAS(ds.samples[0].image, "/mint/OK/S0001/x_C1.jpg");
  EXPECT_HAS(ds.samples[2].image, "/pcb/OK/S0001/x_C1.jpg");
  EXPECT_EQ(ds.samples[3].types, (std::vector<int>{5}));  // QS = missing_parts
  EXPECT_HAS(ds.samples[3].origin, "pcb.json:test[0]");

  // A JSON in the folder that is not Real-IAD is an error naming it.
  write_text(dir_ / "realiad_jsons_fuiad_0.1" / "notes.json", "[1, 2]");
  EXPECT_HAS(message_of([&] { load_dataset((dir_ / "realiad_jsons_fuiad_0.1").string(), opt); }), "notes.json");
}

TEST(TypeCounts, CountEachPartOnceAndEachImageWithoutAGroupAsOne) {
  Dataset d;
  d.types = {{"a", "A"}, {"b", "B"}};
  const auto add = [&](const char* split, std::vector<int> types, const char* group, const char* image) {
    Sample s;
    s.split = split;
    s.types = std::move(types);
    s.group = group;
    s.image = image;
    d.samples.push_back(s);
  };
  add("val", {0}, "t1", "1.png");
  add("val", {0}, "t1", "2.png");
  add("val", {0, 1}, "t2", "3.png");
  add("val", {1}, "", "4.png");
  add("val", {1}, "", "5.png");
  add("val", {}, "t9", "6.png");  // normal: counts for no type
  add("train", {0}, "t3", "7.png");
  const std::vector<TypeCount> val = type_counts(d, "val");
  ASSERT_EQ(val.size(), 2u);
  EXPECT_EQ(val[0].images, 3u);
  EXPECT_EQ(val[0].parts, 2u);  // t1 twice, t2
  EXPECT_EQ(val[1].images, 3u);
  EXPECT_EQ(val[1].parts, 3u);  // t2, and 4.png and 5.png on their own
  const std::vector<TypeCount> train = type_counts(d, "train");
  EXPECT_EQ(train[0].parts, 1u);
  EXPECT_EQ(train[1].images, 0u);
  EXPECT_EQ(train[1].parts, 0u);
}

// ------------------------------------------------------------------ the real data

TEST(DatasetMagneticTile, SplitCountsMatchReadme) {
  const std::string root = MTFCDD_SHARED_DIR "/data/magnetic-tile";
  if (!fs::exists(fs::path(root) / "dataset.json")) GTEST_SKIP() << root << " is absent";
  LoadOptions opt;
  opt.check_files = false;
  const Dataset ds = load_dataset(root, opt);
  EXPECT_EQ(ds.name, "magnetic-tile");
  const std::vector<std::string> names = {"blowhole", "break", "crack", "fray", "uneven"};
  ASSERT_EQ(ds.types.size(), names.size());
  for (size_t k = 0; k < names.size(); ++k) EXPECT_EQ(ds.types[k].name, names[k]);
  EXPECT_EQ(ds.samples.size(), 1344u);
  EXPECT_EQ(ds.skipped, 0u);

  // split -> [normal, blowhole, break, crack, fray, uneven], from shared/README.md.
  const std::map<std::string, std::vector<size_t>> expected = {
      {"train", {581, 67, 51, 36, 15, 59}}, {"val", {194, 24, 16, 12, 12, 19}}, {"test", {177, 24, 18, 9, 5, 25}}};
  for (const auto& [split, want] : expected) {
    std::vector<size_t> got(6, 0);
    for (const Sample* s : ds.split(split)) {
      ASSERT_LE(s->types.size(), 1u);  // one type per image
      ++got[s->types.empty() ? 0 : s->types[0] + 1];
      if (!s->types.empty()) {
        EXPECT_EQ(s->masks.count(s->types[0]), 1u) << s->image;
      }
      EXPECT_FALSE(s->group.empty());
    }
    EXPECT_EQ(got, want) << split;
  }
  // The tiles behind each type's images (docs/localization-runs.md): [blowhole .. uneven].
  const std::vector<size_t> test_tiles = {4, 3, 2, 2, 4};
  const std::vector<TypeCount> counts = type_counts(ds, "test");
  for (size_t k = 0; k < names.size(); ++k) EXPECT_EQ(counts[k].parts, test_tiles[k]) << names[k];
  // No tile (group) spans two splits.
  std::map<std::string, std::string> group_split;
  for (const Sample& s : ds.samples) {
    auto [it, fresh] = group_split.emplace(s.group, s.split);
    EXPECT_EQ(it->second, s.split) << s.group;
  }

  // --types subset on the real data: only blowhole and normal images stay.
  opt.types = {"blowhole"};
  const Dataset sub = load_dataset(root, opt);
  EXPECT_EQ(sub.samples.size(), 581u + 194 + 177 + 67 + 24 + 24);
  EXPECT_EQ(sub.dropped_by_types, 1344u - sub.samples.size());
}

TEST(DatasetMagneticTile, FilesCheckOut) {
  const std::string root = MTFCDD_SHARED_DIR "/data/magnetic-tile";
  if (!fs::exists(fs::path(root) / "dataset.json")) GTEST_SKIP() << root << " is absent";
  const Dataset ds = load_dataset(root);  // decodes every image and mask once
  EXPECT_EQ(ds.samples.size(), 1344u);
  EXPECT_EQ(ds.skipped, 0u);
}

}  // namespace
