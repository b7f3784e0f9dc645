// End-to-end tests of `kiln data ...` through the real binary on the real datasets.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testing/kiln_home_test.h"

namespace kiln {
namespace {

using kiln::testing::RunKiln;
using nlohmann::json;
namespace fs = std::filesystem;

class CliTest : public kiln::testing::KilnHomeTest {
 protected:
  std::string Data(const std::string& name) {
    return kiln::testing::SourceDir() + "/tests/data/" + name;
  }
};

TEST_F(CliTest, EveryVerbOnTheRealDatasets) {
  for (const char* f : {"credit_data.csv", "wa_churn.csv", "diamonds.csv", "letter.csv"}) {
    std::string name = fs::path(f).stem().string();
    auto r = Kiln({"data", "ingest", Data(f), "--name", name, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["version"], 1);
    auto show = Kiln({"data", "show", name, "--json"});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    json s = json::parse(show.out);
    for (const char* key : {"name", "version", "rows", "content_hash", "columns"}) {
      EXPECT_TRUE(s.contains(key)) << key;
    }
    for (const auto& col : s["columns"]) {
      for (const char* key : {"name", "type", "role", "profile"}) EXPECT_TRUE(col.contains(key));
    }
    // Export and re-ingest: the same content hash.
    const std::string out = dir_ + "/" + name + ".csv";
    ASSERT_EQ(Kiln({"data", "export", name + "@v1", "--to", out}).exit_code, 0);
    auto again = Kiln({"data", "ingest", out, "--name", name, "--json"});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(json::parse(again.out)["content_hash"], j["content_hash"]) << name;
  }
  EXPECT_EQ(json::parse(Kiln({"data", "list", "--json"}).out).size(), 4u);
  auto log = Kiln({"data", "log", "letter", "--json"});
  EXPECT_EQ(json::parse(log.out).size(), 2u);
  auto diff = Kiln({"data", "diff", "letter@v1", "letter@v2", "--json"});
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  EXPECT_EQ(json::parse(diff.out)["rows"]["change"], 0);
  auto val = Kiln({"data", "validate", "letter@v2", "--against", "letter@v1"});
  EXPECT_EQ(val.exit_code, 0) << val.out;
  ASSERT_EQ(Kiln({"data", "rm", "letter@v1"}).exit_code, 0);
  ASSERT_EQ(Kiln({"data", "gc"}).exit_code, 0);
  auto verify = Kiln({"data", "verify", "--deep", "--json"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_TRUE(json::parse(verify.out)["ok"].get<bool>());
}

TEST_F(CliTest, RulesRefuseACommit) {
  std::string csv = Write("t.csv", "age,color\n20,red\n-5,blue\n");
  std::string rules = Write("r.yaml", "columns:\n  age: {min: 0}\n  color: {allowed: [red]}\n");
  auto r = Kiln({"data", "ingest", csv, "--name", "t", "--rules", rules});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("FAIL"), std::string::npos);
  EXPECT_NE(r.err.find("2 validation rule(s) failed, nothing committed"), std::string::npos)
      << r.err;
  EXPECT_EQ(Kiln({"data", "show", "t"}).exit_code, 1);
  auto v = Kiln({"data", "ingest", csv, "--name", "t"});
  ASSERT_EQ(v.exit_code, 0);
  auto val = Kiln({"data", "validate", "t", "--rules", rules, "--json"});
  EXPECT_EQ(val.exit_code, 1);
  EXPECT_EQ(json::parse(val.out)["failures"], 2);
}

TEST_F(CliTest, AppendKeepsCodesAndSharesChunks) {
  std::string a = Write("a.csv", "k,v\nx,1\ny,2\nx,3\n");
  std::string b = Write("b.csv", "k,v\nz,4\nx,5\n");
  ASSERT_EQ(Kiln({"data", "ingest", a, "--name", "t"}).exit_code, 0);
  auto r = Kiln({"data", "ingest", b, "--name", "t", "--append", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["rows"], 5);
  ASSERT_EQ(Kiln({"data", "export", "t", "--to", dir_ + "/out.csv"}).exit_code, 0);
  EXPECT_EQ(kiln::testing::Slurp(dir_ + "/out.csv"), "k,v\nx,1\ny,2\nx,3\nz,4\nx,5\n");
  std::string bad = Write("c.csv", "k,other\nq,1\n");
  auto e = Kiln({"data", "ingest", bad, "--name", "t", "--append"});
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_NE(e.err.find("expected 'v'"), std::string::npos) << e.err;
}

// Bad input ends with exit 1 (2 for usage), a message, nothing committed and nothing written
// outside the kiln home.
TEST_F(CliTest, BadInputsFailCleanly) {
  std::string ragged = Write("ragged.csv", "a,b\n1,2\n3\n");
  auto r = Kiln({"data", "ingest", ragged, "--name", "t"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("ragged.csv: line 3: expected 2 fields, found 1"), std::string::npos)
      << r.err;
  for (const char* name : {"../evil", "/etc/passwd", "a/b", "..", "%2e%2e%2f", "x\ty"}) {
    auto n = Kiln({"data", "ingest", ragged, "--name", name});
    EXPECT_EQ(n.exit_code, 1) << name;
    EXPECT_NE(n.err.find("dataset name"), std::string::npos) << n.err;
  }
  EXPECT_EQ(Kiln({"data", "show", "../../etc@v1"}).exit_code, 1);
  EXPECT_EQ(Kiln({"data", "show", "nope"}).exit_code, 1);
  EXPECT_EQ(Kiln({"data", "rm", "nope"}).exit_code, 1);  // needs @vN
  EXPECT_EQ(Kiln({"data", "ingest", dir_ + "/missing.csv", "--name", "t"}).exit_code, 1);
  EXPECT_EQ(Kiln({"data", "ingest", dir_, "--name", "t"}).exit_code, 1);  // a directory
  EXPECT_EQ(Kiln({"data", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(Kiln({"data", "ingest"}).exit_code, 2);
  EXPECT_EQ(Kiln({"data", "validate", "t"}).exit_code, 1);
  // Nothing was committed; only the kiln home and our scratch files exist in dir_.
  EXPECT_EQ(json::parse(Kiln({"data", "list", "--json"}).out).size(), 0u);
  for (const auto& e : fs::directory_iterator(dir_)) {
    std::string n = e.path().filename().string();
    EXPECT_TRUE(n == "home" || n == "ragged.csv" || n == "stdout" || n == "stderr") << n;
  }
}

TEST_F(CliTest, CorruptObjectsAreNamed) {
  std::string csv = Write("t.csv", "a,b\n1,x\n2,y\n");
  auto r = Kiln({"data", "ingest", csv, "--name", "t", "--json"});
  ASSERT_EQ(r.exit_code, 0);
  std::string manifest = json::parse(r.out)["manifest"];
  std::string path = home_ + "/objects/" + manifest.substr(0, 2) + "/" + manifest.substr(2);
  fs::resize_file(path, fs::file_size(path) / 2);
  auto show = Kiln({"data", "show", "t"});
  EXPECT_EQ(show.exit_code, 1);
  EXPECT_NE(show.err.find(manifest), std::string::npos) << show.err;
  EXPECT_NE(show.err.find("corrupt manifest"), std::string::npos) << show.err;
  EXPECT_EQ(Kiln({"data", "verify"}).exit_code, 1);
  EXPECT_EQ(Kiln({"data", "gc"}).exit_code, 1);  // refuses to collect when it cannot account
}

}  // namespace
}  // namespace kiln
