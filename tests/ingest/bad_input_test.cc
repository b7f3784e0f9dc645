// Malformed CSV and JSON Lines files (docs/design/bad-inputs.md, "Files"): each ends in
// InvalidArgument naming the file and, where there is one, the line and column.
#include <gtest/gtest.h>

#include "testing/read_table.h"

namespace kiln::ingest {
namespace {

using kiln::testing::ReadTable;

void ExpectError(const std::string& contents, const std::string& needle,
                 const std::string& name = "/in/t.csv", ReadOptions o = {}) {
  auto r = ReadTable(contents, o, name);
  ASSERT_FALSE(r.ok()) << "accepted: " << contents.substr(0, 80);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(BadCsvTest, RaggedRows) { ExpectError("a,b\n1,2\n3\n", "line 3: expected 2 fields, found 1"); }
TEST(BadCsvTest, TooManyFields) {
  ExpectError("a,b\n1,2,3\n", "line 2: expected 2 fields, found 3");
}
TEST(BadCsvTest, UnterminatedQuote) {
  ExpectError("a,b\n1,\"open\n2,3\n", "unterminated quoted field (opened on line 2)");
}
TEST(BadCsvTest, GarbageAfterClosingQuote) {
  ExpectError("a,b\n\"x\"y,2\n", "line 2, column 1: unexpected character 'y'");
}
TEST(BadCsvTest, InvalidUtf8) {
  ExpectError("a,b\nok,\xff\xfe\nx,y\n", "line 2, column 2 ('b'): invalid UTF-8");
}
TEST(BadCsvTest, InvalidUtf8InHeader) {
  ExpectError("a,\xc3\x28\n1,2\n", "header is not valid UTF-8");
}
TEST(BadCsvTest, NulByte) {
  ExpectError(std::string("a,b\n1,x\0y\n", 10), "line 2, column 2: NUL byte");
}
TEST(BadCsvTest, EmptyFile) { ExpectError("", "file is empty"); }
TEST(BadCsvTest, HeaderOnly) { ExpectError("a,b,c\n", "no data rows"); }
TEST(BadCsvTest, DuplicateColumnNames) {
  ExpectError("a,b,a\n1,2,3\n", "duplicate column name 'a'");
}
TEST(BadCsvTest, IntegerOverflow) {
  ExpectError("a\n1\n99999999999999999999\n", "line 3, column 1 ('a'): integer overflow");
}
TEST(BadCsvTest, FloatOverflow) {
  ExpectError("a\n1.5\n1e999\n", "line 3, column 1 ('a'): numeric overflow");
}

TEST(BadCsvTest, HugeField) {
  ReadOptions o;
  o.limits.max_field_bytes = 1 << 20;
  ExpectError("a,b\n1," + std::string(2 << 20, 'x') + "\n", "field is longer than 1048576 bytes",
              "/in/t.csv", o);
}

TEST(BadCsvTest, HundredMegabyteFieldWithDefaultLimits) {
  ExpectError("a,b\n1,\"" + std::string(100 << 20, 'x') + "\"\n", "field is longer than");
}

TEST(BadCsvTest, TooManyColumns) {
  std::string header;
  for (int i = 0; i < 100000; ++i) header += (i ? ",c" : "c") + std::to_string(i);
  ExpectError(header + "\n", "more than 20000 columns");
}

TEST(BadCsvTest, LabelColumnOverrideMissing) {
  ReadOptions o;
  o.overrides["label"] = {data::DataType::kCategorical, data::ColumnRole::kLabel};
  auto r = ReadTable("a,b\n1,2\n", o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'label'"), std::string::npos);
}

TEST(BadJsonLinesTest, Errors) {
  ExpectError("{\"a\":1}\n{\"a\":\n", "line 2: invalid JSON", "/in/t.jsonl");
  ExpectError("{\"a\":1}\n[1,2]\n", "line 2: expected a JSON object", "/in/t.jsonl");
  ExpectError("{\"a\":1,\"a\":2}\n", "line 1: duplicate key 'a'", "/in/t.jsonl");
  ExpectError("", "no data rows", "/in/t.jsonl");
  ExpectError("{\"a\":\"\xff\"}\n", "invalid JSON", "/in/t.jsonl");
  std::string deep(200, '[');
  ExpectError("{\"a\":" + deep + std::string(200, ']') + "}\n", "line 1: invalid JSON",
              "/in/t.jsonl");
}

}  // namespace
}  // namespace kiln::ingest
