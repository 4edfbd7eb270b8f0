// training/util's file helpers: failures named by path, folders removed on every way out.
#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

#include "test_util.hpp"
#include "util_files.hpp"

using namespace mtfcdd;
namespace fs = std::filesystem;

TEST(UtilFiles, WritesAndReadsBackOrNamesThePath) {
  test::TempDir dir;
  const std::string path = dir.file("a.bin"), bytes("x\0y", 3);
  write_file(path, bytes);
  EXPECT_EQ(read_file(path), bytes);
  const std::string nowhere = dir.file("no/such/folder/a.bin");
  EXPECT_EQ(test::message_of([&] { write_file(nowhere, bytes); }), "cannot write " + nowhere);
  EXPECT_EQ(test::message_of([&] { read_file(nowhere); }), "cannot read " + nowhere + ": No such file or directory");
}

TEST(UtilFiles, RemovedFoldersGoAlsoWhenAnExceptionLeaves) {
  test::TempDir dir;
  const std::string kept = dir.file("copy");
  try {
    RemovedFolders copy(kept);
    fs::create_directories(fs::path(kept) / "inner");
    write_file(kept + "/inner/f", "data");
    throw std::runtime_error("scoring failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(fs::exists(kept));
  RemovedFolders never_made(dir.file("never"));  // nothing there: nothing to do, no throw
}
