#include "sources.hpp"

#include <glob.h>

#include <algorithm>
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
  out.push_back({is_video(path) ? Source::Kind::Video : Source::Kind::Image, path, -1});
}

}  // namespace

std::vector<Source> expand_inputs(const std::vector<std::string>& args, std::istream& list) {
  std::vector<Source> out;
  for (const auto& a : args) {
    if (a == "-") {
      for (std::string line; std::getline(list, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) add_path(out, line);
      }
    } else if (!a.empty() && a.find_first_not_of("0123456789") == std::string::npos && !fs::exists(a)) {
      out.push_back({Source::Kind::Camera, "camera:" + a, std::stoi(a)});
    } else if (fs::is_directory(a)) {
      std::vector<std::string> files;
      for (const auto& e : fs::directory_iterator(a))
        if (e.is_regular_file() && is_image(e.path())) files.push_back(e.path().string());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) add_path(out, f);
    } else if (a.find_first_of("*?[") != std::string::npos && !fs::exists(a)) {
      glob_t g{};
      if (glob(a.c_str(), 0, nullptr, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i) add_path(out, g.gl_pathv[i]);  // glob sorts
      globfree(&g);
    } else {
      add_path(out, a);
    }
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
