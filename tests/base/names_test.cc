#include "kiln/base/names.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(NamesTest, AcceptsOrdinaryNames) {
  for (const char* n : {"churn", "credit_2024", "a", "A-b.c_9", "9lives"}) {
    EXPECT_TRUE(ValidateName(n, "dataset name").ok()) << n;
  }
}

// BI-01..BI-11: every hostile spelling is rejected by the one validator.
TEST(NamesTest, RejectsHostileNames) {
  const std::string cases[] = {
      "..",
      "../x",
      "a/../../x",
      "./../x",
      "....//",  // BI-01, BI-08
      "..\\..\\x",
      "../..\\x",  // BI-02
      "..%2f",
      "%2e%2e%2f",
      "%252E%252E%252F",  // BI-03
      "/etc/passwd",
      "C:/",
      "\\\\host\\share",
      "file:///etc/",  // BI-04
      "http:///?/../../etc/",
      "http:///#/../",  // BI-05
      ".",
      "",  // BI-06, BI-11
      std::string("a\0b", 3),
      "a/b",
      "tab\there",
      "new\nline",              // BI-11
      std::string(10000, 'a'),  // BI-11 length
      "d\xd0\xb0taset",         // look-alike Cyrillic 'a'
      "root_evil/",
      ".hidden",
      "-flag",
      "a..b",
  };
  for (const auto& n : cases) {
    Status s = ValidateName(n, "dataset name");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << n;
    // The message never echoes control bytes.
    for (char c : s.message()) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << n;
  }
}

TEST(NamesTest, ParsesDatasetRefs) {
  auto r = ParseDatasetRef("churn@v3");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name, "churn");
  EXPECT_EQ(r->version, 3);
  EXPECT_EQ(ParseDatasetRef("churn@7")->version, 7);
  EXPECT_EQ(ParseDatasetRef("churn")->version, 0);
  for (const char* bad : {"churn@", "churn@v", "churn@v0", "churn@v-1", "churn@vx", "../x@v1",
                          "churn@v1x", "churn@v99999999999999999999"}) {
    EXPECT_FALSE(ParseDatasetRef(bad).ok()) << bad;
  }
}

TEST(AsDatasetRefTest, DatasetsAreNotPaths) {
  EXPECT_EQ(AsDatasetRef("credit")->version, 0);
  EXPECT_EQ(AsDatasetRef("credit@v3")->version, 3);
  EXPECT_EQ(AsDatasetRef("credit@3")->name, "credit");
  for (const char* path : {"credit.csv", "./credit", "/data/credit", "a/b@v1", "", "credit@v0",
                           "credit@vx", "..", "-x"}) {
    EXPECT_FALSE(AsDatasetRef(path).has_value()) << path;
  }
}

TEST(ClosestWordTest, SuggestsOnlyLikelyMisspellings) {
  const std::vector<std::string_view> verbs = {"data", "train", "tune", "predict", "serve"};
  EXPECT_EQ(ClosestWord("trian", verbs), "train");
  EXPECT_EQ(ClosestWord("Predcit", verbs), "predict");
  EXPECT_EQ(ClosestWord("serv", verbs), "serve");
  EXPECT_EQ(ClosestWord("xyzzy", verbs), "");
  EXPECT_EQ(ClosestWord("", verbs), "");
  EXPECT_EQ(ClosestWord("train", {}), "");
}

}  // namespace
}  // namespace kiln
