#include "kiln/monitor/access_log.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace kiln::monitor {
namespace {

std::vector<nlohmann::json> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(AccessLogTest, FailuresAlwaysSuccessesSampled) {
  const std::string path = testing::TempDir() + "/access.log";
  std::filesystem::remove(path);
  {
    auto log = AccessLog::Open(path, 0.1);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 100; ++i) {
      (*log)->Log({"id", "http", "infer", "m", "1", "200", true, 5});
    }
    (*log)->Log({"bad\"id\n", "grpc", "grpc_infer", "", "", "NOT_FOUND", false, 7});
  }
  const auto lines = Lines(path);
  ASSERT_EQ(lines.size(), 11u);  // 10 of 100 successes, the failure
  EXPECT_EQ(lines[0]["route"], "infer");
  EXPECT_EQ(lines[0]["duration_us"], 5);
  EXPECT_EQ(lines.back()["request_id"], "bad\"id\n");  // escaped, read back intact
  EXPECT_EQ(lines.back()["status"], "NOT_FOUND");
  EXPECT_NE(lines.back()["ts"].get<std::string>().find('T'), std::string::npos);
  EXPECT_FALSE(AccessLog::Open(path, 1.5).ok());
  EXPECT_FALSE(AccessLog::Open("/nonexistent-dir/x.log", 1).ok());
}

TEST(AccessLogTest, RequestIds) {
  EXPECT_EQ(AccessLog::RequestId("abc-1.2_X"), "abc-1.2_X");
  for (const std::string& bad :
       std::vector<std::string>{"", "a b", std::string(65, 'a'), "x\ny", "é"}) {
    const std::string id = AccessLog::RequestId(bad);
    EXPECT_EQ(id.size(), 16u) << bad;  // a new one
  }
  EXPECT_NE(AccessLog::RequestId(""), AccessLog::RequestId(""));
}

}  // namespace
}  // namespace kiln::monitor
