#include "kiln/base/json_reader.h"

#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace kiln {
namespace {

using nlohmann::json;
using Reader = JsonReader<json>;

TEST(JsonReaderTest, ReadsEveryTypeItChecks) {
  const json doc = json::parse(R"({"s": "x", "b": true, "d": 0.5, "u": 7, "i": -3,
      "n": null, "ss": ["a", "b"], "ds": [1, 2.5, null], "is": [-1, 0, 4],
      "t": "1e3", "o": {"k": "v"}, "a": [{"k": 1}, {"k": 2}]})");
  Reader r(doc, "doc");
  EXPECT_EQ(r.String("s"), "x");
  EXPECT_TRUE(r.Bool("b"));
  EXPECT_EQ(r.Number("d"), 0.5);
  EXPECT_EQ(r.Number("u"), 7.0);  // whole numbers are numbers too
  EXPECT_EQ(r.Unsigned("u", 10), 7u);
  EXPECT_EQ(r.Integer("i", -5, 5), -3);
  EXPECT_EQ(r.OptionalNumber("n"), std::nullopt);
  EXPECT_EQ(r.OptionalNumber("d"), 0.5);
  EXPECT_EQ(r.Strings("ss"), (std::vector<std::string>{"a", "b"}));
  const auto ds = r.Numbers("ds", /*null_is_nan=*/true);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_TRUE(std::isnan(ds[2]));
  EXPECT_EQ(r.Integers("is", -1, 4), (std::vector<int64_t>{-1, 0, 4}));
  EXPECT_EQ(r.NumberOrText("t"), 1000.0);
  EXPECT_EQ(r.NumberOrText("d"), 0.5);
  EXPECT_EQ(r.Object("o").String("k"), "v");
  std::vector<uint64_t> ks;
  r.Each("a", [&](Reader& e) { ks.push_back(e.Unsigned("k")); });
  EXPECT_EQ(ks, (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(r.Has("n"));
  EXPECT_FALSE(r.Has("missing"));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

// Each bad document and the first problem the reader names, with the path to it.
TEST(JsonReaderTest, NamesTheFirstProblemWithItsPath) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({})", "doc.s: is missing"},
      {R"({"s": 1})", "doc.s: must be a string"},
      {R"({"s": "x", "u": -1})", "doc.u: must be a whole number >= 0"},
      {R"({"s": "x", "u": 11})", "doc.u: must be at most 10"},
      {R"({"s": "x", "u": 1.5})", "doc.u: must be a whole number >= 0"},
      {R"({"s": "x", "u": 1, "i": 99999999999999999999})", "doc.i: must be a whole number"},
      {R"({"s": "x", "u": 1, "i": 6})", "doc.i: must be in [-5, 5]"},
      {R"({"s": "x", "u": 1, "i": 0, "a": [{"k": 1}, {"k": "2"}]})", "doc.a[1].k: must be"},
      {R"({"s": "x", "u": 1, "i": 0, "a": [{"k": 1}, 3]})", "doc.a[1]: must be an object"},
      {R"({"s": "x", "u": 1, "i": 0, "a": [], "ss": ["a", 1]})",
       "doc.ss: must be an array of "
       "strings"},
      {R"({"s": "x", "u": 1, "i": 0, "a": [], "ss": [], "t": "1x"})", "doc.t: must be a number"},
  };
  for (const auto& [text, problem] : cases) {
    const json doc = json::parse(text);
    Reader r(doc, "doc");
    r.String("s");
    r.Unsigned("u", 10);
    r.Integer("i", -5, 5);
    r.Each("a", [](Reader& e) { e.Unsigned("k"); });
    r.Strings("ss");
    r.NumberOrText("t");
    r.String("never reached");  // a later read does not replace the first problem
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind(problem, 0), 0u) << text << " -> " << r.status().message();
  }
}

TEST(JsonReaderTest, ANonObjectFailsAtOnceAndNestedReadersShareTheError) {
  for (const char* text : {"[]", "1", "\"s\"", "null"}) {
    const json doc = json::parse(text);
    Reader r(doc, "root");
    EXPECT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().message(), "root: must be an object");
    EXPECT_EQ(r.String("x"), "");  // defaults once failed
  }
  const json doc = json::parse(R"({"o": {"n": "not a number"}})");
  Reader r(doc, "root");
  Reader o = r.Object("o");
  EXPECT_EQ(o.Number("n"), 0.0);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "root.o.n: must be a number");
  Reader missing = r.Object("p");  // already failed: no new error, an empty reader
  EXPECT_EQ(r.status().message(), "root.o.n: must be a number");
  EXPECT_FALSE(missing.ok());
}

}  // namespace
}  // namespace kiln
