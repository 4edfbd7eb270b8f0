// What `vision-host run` reads: image files, folders, globs, video files, camera indices, or
// `-` for a list of paths on standard input.
#pragma once

#include <istream>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace mtfcdd::host {

struct Source {
  enum class Kind { Image, Video, Camera };
  Kind kind = Kind::Image;
  std::string name;   // path, or "camera:N"
  int camera = -1;
  std::string error;  // set: an argument that names no input; it fails on its own report line
};

// Expands arguments in order: a folder gives its image files (sorted), a pattern with * ? [ the
// matching files (sorted), a bare integer a camera, a .mp4/.avi/.mkv/.mov/.webm file a video, `-`
// the lines of `list`. Anything else is an image path (a missing one fails on its own report line).
// A folder without images, a pattern that matches nothing, a `-` whose list is empty and a camera
// index out of int's range each give one Source with `error` set, named by the argument. Throws
// when there are no arguments.
std::vector<Source> expand_inputs(const std::vector<std::string>& args, std::istream& list);

// Reads an image as 8-bit gray or BGR (16-bit images are scaled down); throws naming the file.
cv::Mat read_image(const std::string& path);

}  // namespace mtfcdd::host
