// Loading a labelled defect dataset: the manifest format (dataset.json + manifest.csv, see
// shared/README.md) or Real-IAD's per-category JSON files. No torch here: this only lists images,
// their split, their defect types and their masks, checked against the files when asked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mtfcdd {

struct Sample {
  std::string image;                 // resolved path (absolute in the manifest, or joined to the dataset folder)
  std::string split;                 // train | val | test
  std::vector<int> types;            // indices into Dataset::types, sorted, unique; empty = normal
  std::map<int, std::string> masks;  // type index -> mask path (resolved); may be empty
  std::string group;     // may be empty; Real-IAD: "<category>/<folder of image_path>" for S0001-like folders
  std::string category;  // Real-IAD object category; empty otherwise
  std::string origin;    // "file:line" (manifest) or "file:split[index]" (Real-IAD), for messages
};

struct TypeName {
  std::string name, display;
};

struct Dataset {
  std::string name;
  std::vector<TypeName> types;
  std::vector<Sample> samples;        // in file order (Real-IAD: files by name, then train, val, test records)
  std::vector<std::string> warnings;  // records skipped under skip_bad, and a note on images dropped by --types
  size_t skipped = 0;                 // bad records skipped under skip_bad
  size_t dropped_by_types = 0;        // defect images dropped because none of their types is in --types
  std::vector<const Sample*> split(const std::string& s) const;
};

struct LoadOptions {
  bool skip_bad = false;           // warn and skip a bad record instead of throwing
  std::vector<std::string> types;  // --types: choose and order the channels (subset of declared types); empty = all
  bool single_channel = false;     // one type "anomaly": every defect image is positive
  // Verify that images and masks exist, can be read and masks have their image's size: sizes from
  // PNG/JPEG headers (a 150,000-record set checks in seconds), or by decoding every file.
  bool check_files = true;
  bool decode_check = false;
  // Real-IAD only: the folder the JSON paths are relative to (e.g. .../realiad_256, the layout of the
  // official release); empty = the JSON file's own folder. meta.prefix is joined to it either way.
  std::string image_root;
};

// What a split's figures for one type rest on: its images of that type and the parts they show
// (distinct `group`s; an image without a group is a part of its own). Magnetic Tile photographs
// each tile six times, so its 12 `fray` images of `val` are 2 parts.
struct TypeCount {
  size_t images = 0, parts = 0;
};
// Per type, in type order.
std::vector<TypeCount> type_counts(const Dataset& d, const std::string& split);

// Detects the format: a folder with dataset.json, a dataset.json file (any JSON with a "manifest"
// or "types" key), a Real-IAD .json file (with "train"/"test"), or a folder of Real-IAD *.json
// files (merged). Throws std::runtime_error naming the file and the line / record.
Dataset load_dataset(const std::string& path, const LoadOptions& opt = {});

// The Real-IAD anomaly codes in type order: AK pit, BX deformation, CH abrasion, HS scratch,
// PS damage, QS missing_parts, YW foreign_object, ZW contamination.
const std::vector<std::pair<std::string, TypeName>>& realiad_codes();

// 64-bit FNV-1a, used for the deterministic Real-IAD train -> val holdout.
uint64_t fnv1a64(const std::string& s);

// True when a Real-IAD train record goes to val (~10%): FNV-1a (plus a 64-bit finaliser) of its
// sample key: "<category>/<folder of image_path>" when that folder looks like "S0001" (the five
// camera views of one object then stay together), else "<category>/<image_path>".
bool realiad_holdout(const std::string& category, const std::string& image_path);

}  // namespace mtfcdd
