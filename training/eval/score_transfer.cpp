#include "score_transfer.hpp"

#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace mtfcdd {
namespace {

class Writer {
 public:
  template <class T>
  void put(const T& v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put_doubles(const std::vector<double>& v) {
    put<uint64_t>(v.size());
    for (double d : v) put(d);
  }
  std::string out;
};

class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}
  template <class T>
  T get() {
    if (s_.size() - at_ < sizeof(T)) throw std::runtime_error("score transfer: the bytes end early");
    T v;
    std::memcpy(&v, s_.data() + at_, sizeof v);
    at_ += sizeof v;
    return v;
  }
  // A count about to be read as that many `item_bytes`-sized items: no more than the bytes left.
  uint64_t count(size_t item_bytes) {
    const auto n = get<uint64_t>();
    if (n > (s_.size() - at_) / item_bytes) throw std::runtime_error("score transfer: a count beyond the bytes");
    return n;
  }
  std::vector<double> get_doubles() {
    std::vector<double> v(count(sizeof(double)));
    for (double& d : v) d = get<double>();
    return v;
  }
  bool done() const { return at_ == s_.size(); }
  size_t left() const { return s_.size() - at_; }

 private:
  const std::string& s_;
  size_t at_ = 0;
};

}  // namespace

std::string encode_scores(const std::vector<ImageScores>& scores, const Dataset& data) {
  Writer w;
  w.put<uint64_t>(scores.size());
  for (const auto& s : scores) {
    w.put<int64_t>(s.sample - data.samples.data());
    w.put_doubles(s.z);
    w.put_doubles(s.max_pixel);
    w.put<int32_t>(s.input.width);
    w.put<int32_t>(s.input.height);
    for (int v : {s.placed.x, s.placed.y, s.placed.width, s.placed.height}) w.put<int32_t>(v);
    w.put<uint64_t>(s.maps.size());
    for (const cv::Mat& m : s.maps) {
      const cv::Mat c = m.isContinuous() ? m : m.clone();
      w.put<int32_t>(c.rows);
      w.put<int32_t>(c.cols);
      w.out.append(reinterpret_cast<const char*>(c.ptr<float>()), c.total() * sizeof(float));
    }
  }
  return w.out;
}

std::vector<ImageScores> decode_scores(const std::string& bytes, const Dataset& data) {
  Reader r(bytes);
  std::vector<ImageScores> out(r.count(1));
  for (auto& s : out) {
    const auto index = r.get<int64_t>();
    if (index < 0 || index >= static_cast<int64_t>(data.samples.size()))
      throw std::runtime_error("score transfer: sample " + std::to_string(index) + " is not in the dataset");
    s.sample = &data.samples[static_cast<size_t>(index)];
    s.z = r.get_doubles();
    s.max_pixel = r.get_doubles();
    s.input.width = r.get<int32_t>();
    s.input.height = r.get<int32_t>();
    s.placed.x = r.get<int32_t>();
    s.placed.y = r.get<int32_t>();
    s.placed.width = r.get<int32_t>();
    s.placed.height = r.get<int32_t>();
    s.maps.resize(r.count(8));
    for (auto& m : s.maps) {
      const int rows = r.get<int32_t>(), cols = r.get<int32_t>();
      if (rows < 0 || cols < 0 || uint64_t(rows) * uint64_t(cols) > r.left() / sizeof(float))
        throw std::runtime_error("score transfer: a map larger than the bytes");
      m.create(rows, cols, CV_32F);
      for (int y = 0; y < rows; ++y)
        for (int x = 0; x < cols; ++x) m.at<float>(y, x) = r.get<float>();
    }
  }
  if (!r.done()) throw std::runtime_error("score transfer: bytes left over");
  return out;
}

}  // namespace mtfcdd
