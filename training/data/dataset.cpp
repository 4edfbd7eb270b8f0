#include "dataset.hpp"

#include "image_header.hpp"
#include "util_files.hpp"
#include "util_text.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mtfcdd/json_input.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <stdexcept>
#include <thread>

namespace mtfcdd {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A problem with one record: dropped under skip_bad, else rethrown as runtime_error with the origin.
struct RecordError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

json parse_json(const fs::path& p) {
  const std::string text = read_file(p.string());
  try {
    return mtfcdd::parse_json(std::string_view(text));  // with a nesting limit
  } catch (const json::exception& e) {
    throw std::runtime_error(p.string() + ": malformed JSON: " + e.what());
  } catch (const JsonTooDeep& e) {
    throw std::runtime_error(p.string() + ": " + e.what());
  }
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Splits on `sep`, trims each piece, drops empty pieces ("a; b;" -> {a, b}).
std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    std::string piece = trim(s.substr(start, end - start));
    if (!piece.empty()) out.push_back(piece);
    start = end + 1;
  }
  return out;
}

std::string squote(const std::string& s) { return "'" + s + "'"; }

// `p` as is when absolute, else joined to `base` (which is absolute).
std::string resolve(const fs::path& base, const std::string& p) {
  const fs::path q(p);
  return (q.is_absolute() ? q : base / q).lexically_normal().string();
}

fs::path absolute_dir(const fs::path& p) { return fs::absolute(p).lexically_normal(); }

// ---------------------------------------------------------------- CSV (RFC 4180)

struct CsvRecord {
  int line = 0;  // physical line where the record starts (1-based)
  std::vector<std::string> fields;
};

// Accepts CRLF, LF or lone-CR line ends, a missing final line end, a UTF-8 BOM, and quoted fields
// with commas, doubled quotes and line breaks. Blank lines are skipped.
class CsvReader {
 public:
  CsvReader(const std::string& s, const std::string& file) : s_(s), file_(file) {
    if (s_.compare(0, 3, "\xEF\xBB\xBF") == 0) i_ = 3;
  }

  std::vector<CsvRecord> records() {
    std::vector<CsvRecord> out;
    while (i_ < s_.size()) {
      CsvRecord rec{line_, {}};
      bool any_quoted = false;
      do {
        const bool quoted = i_ < s_.size() && s_[i_] == '"';
        any_quoted = any_quoted || quoted;
        rec.fields.push_back(quoted ? quoted_field() : plain_field());
      } while (comma());
      if (i_ < s_.size()) eat_eol();
      const bool blank = rec.fields.size() == 1 && rec.fields[0].empty() && !any_quoted;
      if (!blank) out.push_back(std::move(rec));
    }
    return out;
  }

 private:
  bool at_eol() const { return i_ < s_.size() && (s_[i_] == '\n' || s_[i_] == '\r'); }
  bool crlf_at(size_t k) const { return s_[k] == '\r' && k + 1 < s_.size() && s_[k + 1] == '\n'; }

  void eat_eol() {  // s_[i_] is '\r' or '\n'
    i_ += crlf_at(i_) ? 2 : 1;
    ++line_;
  }

  bool comma() {
    if (i_ >= s_.size() || s_[i_] != ',') return false;
    ++i_;
    return true;
  }

  std::string plain_field() {
    std::string field;
    while (i_ < s_.size() && s_[i_] != ',' && !at_eol()) field += s_[i_++];
    return field;
  }

  // From the opening quote to just past the closing one; "" inside is one quote.
  std::string quoted_field() {
    const int open_line = line_;
    std::string field;
    for (++i_;; ++i_) {
      if (i_ >= s_.size())
        throw std::runtime_error(where(open_line) + ": unterminated quoted field (a '\"' is never closed)");
      if (s_[i_] == '"' && !(i_ + 1 < s_.size() && s_[i_ + 1] == '"')) break;
      if (s_[i_] == '"') ++i_;  // a doubled quote: keep one
      else if (s_[i_] == '\n' || (s_[i_] == '\r' && !crlf_at(i_))) ++line_;
      field += s_[i_];
    }
    ++i_;
    if (i_ < s_.size() && s_[i_] != ',' && !at_eol())
      throw std::runtime_error(where(line_) + ": text after the closing quote of a field");
    return field;
  }

  std::string where(int line) const { return file_ + ":" + std::to_string(line); }

  const std::string& s_;
  const std::string& file_;
  size_t i_ = 0;
  int line_ = 1;
};

std::vector<CsvRecord> parse_csv(const std::string& s, const std::string& file) { return CsvReader(s, file).records(); }

// ---------------------------------------------------------------- collecting records

class Collector {
 public:
  Collector(const LoadOptions& opt, Dataset& ds) : opt_(opt), ds_(ds) {}

  void bad(const std::string& origin, const std::string& cause) {
    const std::string msg = origin + ": " + cause;
    if (!opt_.skip_bad) throw std::runtime_error(msg);
    ds_.warnings.push_back(msg);
    ++ds_.skipped;
  }

  void add(Sample s) {
    auto [it, fresh] = seen_.emplace(s.image, s.origin);
    if (!fresh) return bad(s.origin, "duplicate image path " + squote(s.image) + " (first at " + it->second + ")");
    ds_.samples.push_back(std::move(s));
  }

 private:
  const LoadOptions& opt_;
  Dataset& ds_;
  std::map<std::string, std::string> seen_;  // resolved image path -> origin
};

int type_index(const std::vector<TypeName>& types, const std::string& name) {
  for (size_t k = 0; k < types.size(); ++k)
    if (types[k].name == name) return static_cast<int>(k);
  return -1;
}

std::string type_list(const std::vector<TypeName>& types) {
  std::vector<std::string> names;
  for (const auto& t : types) names.push_back(t.name);
  return names.empty() ? "(none)" : join(names, ", ");
}

// ---------------------------------------------------------------- manifest format

TypeName read_type_name(const json& t, const std::string& where) {
  TypeName tn;
  if (t.is_string()) {
    tn.name = t.get<std::string>();
  } else if (t.is_object() && t.contains("name") && t["name"].is_string()) {
    tn.name = t["name"].get<std::string>();
    if (t.contains("display")) {
      if (!t["display"].is_string()) throw std::runtime_error(where + ": \"display\" must be a string");
      tn.display = t["display"].get<std::string>();
    }
  } else {
    throw std::runtime_error(where + ": needs a string \"name\"");
  }
  if (tn.name.empty() || trim(tn.name) != tn.name || tn.name.find_first_of(";=,\"") != std::string::npos)
    throw std::runtime_error(where + ": bad type name " + squote(tn.name) +
                             " (non-empty, no surrounding spaces, none of ; = , \")");
  if (tn.display.empty()) tn.display = tn.name;
  return tn;
}

// dataset.json: the name and types go into `ds`; returns the manifest's path.
fs::path read_dataset_json(const fs::path& json_path, Dataset& ds) {
  const std::string jfile = json_path.string();
  const json j = parse_json(json_path);
  if (!j.is_object()) throw std::runtime_error(jfile + ": dataset.json must hold a JSON object");
  ds.name = absolute_dir(json_path).parent_path().filename().string();
  if (j.contains("name")) {
    if (!j["name"].is_string()) throw std::runtime_error(jfile + ": \"name\" must be a string");
    ds.name = j["name"].get<std::string>();
  }
  std::string manifest = "manifest.csv";
  if (j.contains("manifest")) {
    if (!j["manifest"].is_string() || j["manifest"].get<std::string>().empty())
      throw std::runtime_error(jfile + ": \"manifest\" must be a non-empty string");
    manifest = j["manifest"].get<std::string>();
  }
  if (!j.contains("types") || !j["types"].is_array())
    throw std::runtime_error(jfile + ": \"types\" must be an array of {\"name\", \"display\"}");
  for (size_t k = 0; k < j["types"].size(); ++k) {
    const std::string where = jfile + ": types[" + std::to_string(k) + "]";
    const TypeName tn = read_type_name(j["types"][k], where);
    if (type_index(ds.types, tn.name) >= 0)
      throw std::runtime_error(where + ": type " + squote(tn.name) + " is declared twice");
    ds.types.push_back(tn);
  }
  return fs::path(manifest).is_absolute() ? fs::path(manifest) : json_path.parent_path() / manifest;
}

// Where each column of the manifest is (group is optional).
struct ManifestColumns {
  size_t image = 0, split = 0, types = 0, masks = 0, group = 0, count = 0;
  bool has_group = false;
};

ManifestColumns read_header(const CsvRecord& header, const std::string& cfile) {
  std::map<std::string, size_t> col;
  const std::string at = cfile + ":" + std::to_string(header.line) + ": ";
  for (size_t c = 0; c < header.fields.size(); ++c) {
    const std::string h = trim(header.fields[c]);
    if (h.empty()) continue;
    if (!col.emplace(h, c).second) throw std::runtime_error(at + "column " + squote(h) + " appears twice");
  }
  for (const char* req : {"image", "split", "types", "masks"})
    if (!col.count(req))
      throw std::runtime_error(at + "missing column " + squote(req) +
                               " in the header (required: image, split, types, masks; optional: group)");
  ManifestColumns c{col["image"], col["split"], col["types"], col["masks"], 0, header.fields.size(), col.count("group") > 0};
  if (c.has_group) c.group = col["group"];
  return c;
}

// The types of one record (declared names, sorted, each once) and its masks ("type=path;...").
void read_types_and_masks(const std::string& types_field, const std::string& masks_field,
                          const std::vector<TypeName>& types, const fs::path& dir, Sample& s) {
  for (const std::string& t : split_list(types_field, ';')) {
    const int k = type_index(types, t);
    if (k < 0)
      throw RecordError("unknown type " + squote(t) + " (not declared in dataset.json; declared: " + type_list(types) + ")");
    s.types.push_back(k);
  }
  std::sort(s.types.begin(), s.types.end());
  s.types.erase(std::unique(s.types.begin(), s.types.end()), s.types.end());
  for (const std::string& entry : split_list(masks_field, ';')) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos) throw RecordError("mask entry " + squote(entry) + " is not type=path");
    const std::string t = trim(entry.substr(0, eq)), path = trim(entry.substr(eq + 1));
    const int k = type_index(types, t);
    if (k < 0)
      throw RecordError("mask for unknown type " + squote(t) +
                        " (not declared in dataset.json; declared: " + type_list(types) + ")");
    if (!std::binary_search(s.types.begin(), s.types.end(), k))
      throw RecordError("mask for type " + squote(t) + ", which the image does not have (types: " +
                        (trim(types_field).empty() ? "none, normal" : trim(types_field)) + ")");
    if (path.empty()) throw RecordError("empty mask path for type " + squote(t));
    if (!s.masks.emplace(k, resolve(dir, path)).second) throw RecordError("two masks for type " + squote(t));
  }
}

// One manifest row; throws RecordError naming what is wrong with it.
void read_record(const CsvRecord& row, const ManifestColumns& c, const std::vector<TypeName>& types,
                 const fs::path& dir, Sample& s) {
  if (row.fields.size() != c.count)
    throw RecordError("has " + std::to_string(row.fields.size()) + " fields, the header has " + std::to_string(c.count));
  const std::string image = trim(row.fields[c.image]);
  if (image.empty()) throw RecordError("empty image path");
  s.image = resolve(dir, image);
  s.split = trim(row.fields[c.split]);
  if (s.split != "train" && s.split != "val" && s.split != "test")
    throw RecordError("unknown split " + squote(s.split) + " (expected train, val or test)");
  read_types_and_masks(row.fields[c.types], row.fields[c.masks], types, dir, s);
  if (c.has_group) s.group = trim(row.fields[c.group]);
}

void load_manifest(const fs::path& json_path, const LoadOptions& opt, Dataset& ds) {
  const fs::path csv_path = read_dataset_json(json_path, ds);
  const std::string cfile = csv_path.string();
  if (!fs::exists(csv_path)) throw std::runtime_error(json_path.string() + ": manifest " + squote(cfile) + " not found");
  const std::vector<CsvRecord> rows = parse_csv(read_file(cfile), cfile);
  if (rows.empty()) throw std::runtime_error(cfile + ":1: empty manifest (a header row is required)");
  const ManifestColumns columns = read_header(rows[0], cfile);
  const fs::path dir = absolute_dir(json_path).parent_path();
  Collector collect(opt, ds);
  for (size_t r = 1; r < rows.size(); ++r) {
    Sample s;
    s.origin = cfile + ":" + std::to_string(rows[r].line);
    try {
      read_record(rows[r], columns, ds.types, dir, s);
    } catch (const RecordError& e) {
      collect.bad(s.origin, e.what());
      continue;
    }
    collect.add(std::move(s));
  }
}

// ---------------------------------------------------------------- Real-IAD

bool is_sample_folder(const std::string& name) {
  if (name.size() < 2 || name[0] != 'S') return false;
  return std::all_of(name.begin() + 1, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string realiad_group(const std::string& category, const std::string& image_path) {
  const fs::path parent = fs::path(image_path).parent_path();
  if (!is_sample_folder(parent.filename().string())) return "";
  return category + "/" + parent.generic_string();
}

uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// What a Real-IAD file says about all its records: where their paths hang from, their default
// category, the normal class's name and whether the file has its own val split.
struct RealiadFile {
  std::string name;  // the file, for messages
  fs::path base;
  std::string category, normal_class = "OK";
  bool has_val = false;
};

// `key` of meta: a string, or "" when absent or null.
std::string meta_string(const json& meta, const char* key, const std::string& jfile) {
  if (!meta.contains(key) || meta[key].is_null()) return "";
  if (!meta[key].is_string()) throw std::runtime_error(jfile + ": meta." + key + " must be a string");
  return meta[key].get<std::string>();
}

RealiadFile read_realiad_header(const json& j, const fs::path& file, const LoadOptions& opt) {
  RealiadFile f;
  f.name = file.string();
  if (!j.is_object() || !(j.contains("train") || j.contains("test")))
    throw std::runtime_error(f.name + ": not a Real-IAD JSON (an object with \"train\" and/or \"test\" arrays)");
  std::string prefix;
  if (j.contains("meta")) {
    if (!j["meta"].is_object()) throw std::runtime_error(f.name + ": \"meta\" must be an object");
    prefix = meta_string(j["meta"], "prefix", f.name);
    const std::string normal = meta_string(j["meta"], "normal_class", f.name);
    if (!normal.empty()) f.normal_class = normal;
  }
  f.base = opt.image_root.empty() ? absolute_dir(file).parent_path() : absolute_dir(opt.image_root);
  if (!prefix.empty()) f.base = (f.base / prefix).lexically_normal();
  f.category = prefix.empty() ? file.stem().string() : fs::path(prefix).filename().string();
  f.has_val = j.contains("val");
  return f;
}

// The Real-IAD type index of anomaly class `cls` (its code or its name) in ds.types.
int realiad_type(const std::string& cls, const RealiadFile& f, const Dataset& ds) {
  for (const auto& [code, type] : realiad_codes())
    if (code == cls || type.name == cls) return type_index(ds.types, type.name);
  std::vector<std::string> codes;
  for (const auto& c : realiad_codes()) codes.push_back(c.first);
  throw RecordError("unknown anomaly_class " + squote(cls) + " (expected " + f.normal_class + " or one of " +
                    join(codes, ", ") + ")");
}

// One record of split `key` into s; throws RecordError naming what is wrong with it.
void read_realiad_record(const json& rec, const char* key, const RealiadFile& f, const Dataset& ds, Sample& s) {
  if (!rec.is_object()) throw RecordError("record is not a JSON object");
  const auto get_string = [&](const char* field, bool required) -> std::string {
    if (!rec.contains(field) || rec[field].is_null()) {
      if (required) throw RecordError(std::string("missing \"") + field + "\"");
      return "";
    }
    if (!rec[field].is_string()) throw RecordError(std::string("\"") + field + "\" must be a string");
    return rec[field].get<std::string>();
  };
  const std::string image_path = trim(get_string("image_path", true));
  if (image_path.empty()) throw RecordError("empty image_path");
  s.category = get_string("category", false);
  if (s.category.empty()) s.category = f.category;
  const std::string cls = trim(get_string("anomaly_class", true));
  const std::string mask_path = trim(get_string("mask_path", false));
  s.image = resolve(f.base, image_path);
  if (cls != f.normal_class) {
    const int k = realiad_type(cls, f, ds);
    s.types.push_back(k);
    if (!mask_path.empty()) s.masks[k] = resolve(f.base, mask_path);
  } else if (!mask_path.empty()) {
    throw RecordError("mask for a type the image does not have: mask_path " + squote(mask_path) + " on a normal (" +
                      f.normal_class + ") record");
  }
  s.split = key;
  if (s.split == "train" && !f.has_val && realiad_holdout(s.category, image_path)) s.split = "val";
  s.group = realiad_group(s.category, image_path);
}

void load_realiad_file(const fs::path& file, const LoadOptions& opt, Dataset& ds, Collector& collect) {
  const json j = parse_json(file);
  const RealiadFile f = read_realiad_header(j, file, opt);
  for (const char* key : {"train", "val", "test"}) {
    if (!j.contains(key)) continue;
    const json& arr = j[key];
    if (!arr.is_array()) throw std::runtime_error(f.name + ": \"" + key + "\" must be an array of records");
    for (size_t i = 0; i < arr.size(); ++i) {
      Sample s;
      s.origin = f.name + ":" + key + "[" + std::to_string(i) + "]";
      try {
        read_realiad_record(arr[i], key, f, ds, s);
      } catch (const RecordError& e) {
        collect.bad(s.origin, e.what());
        continue;
      }
      collect.add(std::move(s));
    }
  }
}

void load_realiad(const std::vector<fs::path>& files, const std::string& name, const LoadOptions& opt, Dataset& ds) {
  ds.name = name;
  for (const auto& c : realiad_codes()) ds.types.push_back(c.second);
  Collector collect(opt, ds);
  for (const fs::path& f : files) load_realiad_file(f, opt, ds, collect);
}

// ---------------------------------------------------------------- after loading

// --types: keep and order the chosen types; drop defect images left with none of them.
void select_types(const LoadOptions& opt, Dataset& ds) {
  if (opt.types.empty()) return;
  std::vector<TypeName> chosen;
  std::vector<int> remap(ds.types.size(), -1);
  for (const std::string& raw : opt.types) {
    const std::string t = trim(raw);
    const int k = type_index(ds.types, t);
    if (k < 0)
      throw std::runtime_error("--types: unknown type " + squote(t) + " (declared: " + type_list(ds.types) + ")");
    if (remap[k] >= 0) throw std::runtime_error("--types: type " + squote(t) + " is named twice");
    remap[k] = static_cast<int>(chosen.size());
    chosen.push_back(ds.types[k]);
  }
  std::map<std::string, size_t> dropped_per_type;
  std::vector<Sample> kept;
  kept.reserve(ds.samples.size());
  for (Sample& s : ds.samples) {
    std::vector<int> types;
    std::map<int, std::string> masks;
    for (int k : s.types)
      if (remap[k] >= 0) types.push_back(remap[k]);
    for (auto& [k, m] : s.masks)
      if (remap[k] >= 0) masks[remap[k]] = m;
    if (!s.types.empty() && types.empty()) {
      for (int k : s.types) ++dropped_per_type[ds.types[k].name];
      ++ds.dropped_by_types;
      continue;
    }
    std::sort(types.begin(), types.end());
    s.types = std::move(types);
    s.masks = std::move(masks);
    kept.push_back(std::move(s));
  }
  ds.samples = std::move(kept);
  ds.types = std::move(chosen);
  if (ds.dropped_by_types) {
    std::vector<std::string> per;
    for (const auto& [t, n] : dropped_per_type) per.push_back(t + ": " + std::to_string(n));
    ds.warnings.push_back(std::to_string(ds.dropped_by_types) +
                          " defect image(s) dropped, their types not in --types (" + join(per, ", ") + ")");
  }
}

// single_channel: one type "anomaly". A mask survives only when it covers all the image's defects
// (one type with a mask, or every type pointing at the same mask file).
void merge_channels(const LoadOptions& opt, Dataset& ds) {
  if (!opt.single_channel) return;
  ds.types = {TypeName{"anomaly", "Anomaly"}};
  for (Sample& s : ds.samples) {
    if (s.types.empty()) continue;
    std::set<std::string> paths;
    for (const auto& [k, m] : s.masks) paths.insert(m);
    const bool mergeable = s.masks.size() == s.types.size() && paths.size() == 1;
    if (!s.masks.empty() && !mergeable)
      ds.warnings.push_back(s.origin + ": single channel: the masks of " + std::to_string(s.types.size()) +
                            " types cannot be merged into one file; the image keeps its image-level label only");
    std::map<int, std::string> masks;
    if (mergeable) masks[0] = *paths.begin();
    s.types = {0};
    s.masks = std::move(masks);
  }
}

bool exists_file(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The image's size: from its PNG or JPEG header unless `decode` (or another format), else by
// decoding it; empty when it cannot be read.
cv::Size size_of(const std::string& path, bool decode) {
  if (!decode)
    if (const auto h = image_header_size(path)) return {h->width, h->height};
  return cv::imread(path, cv::IMREAD_UNCHANGED).size();
}

// Returns "" when the image and its masks are fine, else the cause.
std::string check_sample(const Sample& s, const std::vector<TypeName>& types, bool decode) {
  if (!exists_file(s.image)) return "image " + squote(s.image) + " not found";
  const cv::Size img = size_of(s.image, decode);
  if (img.empty()) return "cannot read or decode image " + squote(s.image);
  for (const auto& [k, m] : s.masks) {
    const std::string tname = k >= 0 && k < static_cast<int>(types.size()) ? types[k].name : std::to_string(k);
    if (!exists_file(m)) return "mask " + squote(m) + " for type " + squote(tname) + " not found";
    const cv::Size mask = size_of(m, decode);
    if (mask.empty()) return "cannot read or decode mask " + squote(m) + " for type " + squote(tname);
    if (mask != img)
      return "mask " + squote(m) + " for type " + squote(tname) + " is " + std::to_string(mask.width) + "x" +
             std::to_string(mask.height) + " but the image is " + std::to_string(img.width) + "x" +
             std::to_string(img.height);
  }
  return "";
}

void check_files(const LoadOptions& opt, Dataset& ds) {
  if (!opt.check_files || ds.samples.empty()) return;
  const size_t n = ds.samples.size();
  std::vector<std::string> errors(n);
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  auto work = [&]() {
    for (;;) {
      if (stop.load()) return;
      const size_t i = next.fetch_add(1);
      if (i >= n) return;
      errors[i] = check_sample(ds.samples[i], ds.types, opt.decode_check);
      if (!errors[i].empty() && !opt.skip_bad) stop.store(true);
    }
  };
  const size_t nthreads = std::max<size_t>(1, std::min<size_t>({std::thread::hardware_concurrency(), 16, n}));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < nthreads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  // Every index below the largest one handed out was checked, so the first error found is the first in order.
  std::vector<Sample> kept;
  kept.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (errors[i].empty()) {
      kept.push_back(std::move(ds.samples[i]));
      continue;
    }
    const std::string msg = ds.samples[i].origin + ": " + errors[i];
    if (!opt.skip_bad) throw std::runtime_error(msg);
    ds.warnings.push_back(msg);
    ++ds.skipped;
  }
  ds.samples = std::move(kept);
}

}  // namespace

// ---------------------------------------------------------------- public

const std::vector<std::pair<std::string, TypeName>>& realiad_codes() {
  static const std::vector<std::pair<std::string, TypeName>> codes = {
      {"AK", {"pit", "Pit"}},
      {"BX", {"deformation", "Deformation"}},
      {"CH", {"abrasion", "Abrasion"}},
      {"HS", {"scratch", "Scratch"}},
      {"PS", {"damage", "Damage"}},
      {"QS", {"missing_parts", "Missing parts"}},
      {"YW", {"foreign_object", "Foreign object"}},
      {"ZW", {"contamination", "Contamination"}},
  };
  return codes;
}

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool realiad_holdout(const std::string& category, const std::string& image_path) {
  std::string key = realiad_group(category, image_path);
  if (key.empty()) key = category + "/" + image_path;
  return fmix64(fnv1a64(key)) % 1000 < 100;
}

std::vector<const Sample*> Dataset::split(const std::string& s) const {
  std::vector<const Sample*> out;
  for (const Sample& x : samples)
    if (x.split == s) out.push_back(&x);
  return out;
}

std::vector<TypeCount> type_counts(const Dataset& d, const std::string& split) {
  std::vector<TypeCount> out(d.types.size());
  std::vector<std::set<std::string>> groups(d.types.size());
  for (const Sample* s : d.split(split))
    for (int k : s->types) {
      ++out[k].images;
      // A sample without a group is its own part: its path, which no group equals.
      groups[k].insert(s->group.empty() ? "\n" + s->image : s->group);
    }
  for (size_t k = 0; k < out.size(); ++k) out[k].parts = groups[k].size();
  return out;
}

Dataset load_dataset(const std::string& path, const LoadOptions& opt) {
  const fs::path p(path);
  std::error_code ec;
  if (path.empty() || !fs::exists(p, ec)) throw std::runtime_error("dataset " + squote(path) + " not found");
  Dataset ds;
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "dataset.json", ec)) {
      load_manifest(p / "dataset.json", opt, ds);
    } else {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
      if (files.empty())
        throw std::runtime_error(path + ": no dataset.json and no Real-IAD *.json files in this folder");
      std::sort(files.begin(), files.end());
      load_realiad(files, absolute_dir(p).filename().string(), opt, ds);
    }
  } else {
    const json j = parse_json(p);
    const bool realiad = j.is_object() && (j.contains("train") || j.contains("test")) && !j.contains("manifest");
    if (realiad)
      load_realiad({p}, p.stem().string(), opt, ds);
    else if (j.is_object() && (j.contains("manifest") || j.contains("types")))
      load_manifest(p, opt, ds);
    else
      throw std::runtime_error(path +
                               ": neither a dataset.json (\"manifest\", \"types\") nor a Real-IAD JSON "
                               "(\"train\", \"test\")");
  }
  select_types(opt, ds);
  merge_channels(opt, ds);
  check_files(opt, ds);
  return ds;
}

}  // namespace mtfcdd
