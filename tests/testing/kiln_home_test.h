// KilnHomeTest: a fixture with a fresh temp dir holding a kiln home, removed afterwards.
// Kiln(args) runs the real binary on that home; Write(name, text) puts a file in the dir.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "testing/run_kiln.h"

namespace kiln::testing {

class KilnHomeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("kiln-test");
    home_ = dir_ + "/home";
    std::filesystem::create_directories(home_);  // an empty directory becomes a home
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  RunResult Kiln(std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", home_});
    return RunKiln(args, dir_);
  }
  std::string Write(const std::string& name, const std::string& contents) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << contents;
    return dir_ + "/" + name;
  }

  std::string dir_, home_;
};

}  // namespace kiln::testing
