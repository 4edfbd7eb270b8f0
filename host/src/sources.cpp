#include "sources.hpp"

#include <glob.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <stdexcept>

namespace mtfcdd::host {
namespace {

namespace fs = std::filesystem;

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

bool is_image(const fs::path& p) {
  static const std::set<std::string> exts = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff",
                                             ".pgm", ".ppm", ".pbm", ".webp", ".jp2"};
  return exts.count(lower_ext(p)) > 0;
}

bool is_video(const fs::path& p) {
  static const std::set<std::string> exts = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"};
  return exts.count(lower_ext(p)) > 0;
}

void add_path(std::vector<Source>& out, const std::string& path) {
  out.push_back({is_video(path) ? Source::Kind::Video : Source::Kind::Image, path, -1, ""});
}

void add_failure(std::vector<Source>& out, const std::string& arg, const std::string& error) {
  out.push_back({Source::Kind::Image, arg, -1, error});
}

void add_camera(std::vector<Source>& out, const std::string& arg) {
  int index = 0;
  const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), index);
  if (ec != std::errc() || end != arg.data() + arg.size())
    add_failure(out, arg, "camera index out of range: " + arg + " (at most " + std::to_string(INT_MAX) + ")");
  else
    out.push_back({Source::Kind::Camera, "camera:" + arg, index, ""});
}

void add_folder(std::vector<Source>& out, const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_image(e.path())) files.push_back(e.path().string());
  if (files.empty()) add_failure(out, dir, "folder " + dir + " holds no image files (.png, .jpg, .bmp, .tif, ...)");
  std::sort(files.begin(), files.end());
  for (const auto& f : files) add_path(out, f);
}

void add_glob(std::vector<Source>& out, const std::string& pattern) {
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) add_path(out, g.gl_pathv[i]);  // glob sorts
  else
    add_failure(out, pattern, "no files match " + pattern);
  globfree(&g);
}

void add_list(std::vector<Source>& out, std::istream& list) {
  const size_t before = out.size();
  for (std::string line; std::getline(list, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) add_path(out, line);
  }
  if (out.size() == before) add_failure(out, "-", "standard input ('-') listed no paths");
}

}  // namespace

std::vector<Source> expand_inputs(const std::vector<std::string>& args, std::istream& list) {
  if (args.empty()) throw std::runtime_error("no inputs given");
  std::vector<Source> out;
  for (const auto& a : args) {
    if (a == "-")
      add_list(out, list);
    else if (!a.empty() && a.find_first_not_of("0123456789") == std::string::npos && !fs::exists(a))
      add_camera(out, a);
    else if (fs::is_directory(a))
      add_folder(out, a);
    else if (a.find_first_of("*?[") != std::string::npos && !fs::exists(a))
      add_glob(out, a);
    else
      add_path(out, a);
  }
  return out;
}

cv::Mat read_image(const std::string& path) {
  if (!fs::exists(path)) throw std::runtime_error("cannot read image " + path + ": no such file");
  cv::Mat img = cv::imread(path, cv::IMREAD_ANYCOLOR);
  if (img.empty()) throw std::runtime_error("cannot read image " + path + ": not a decodable image (corrupt or unsupported format)");
  return img;
}

}  // namespace mtfcdd::host
