#include <charconv>
#include <cmath>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "testing/read_table.h"

namespace kiln::ingest {
namespace {

using data::DataType;
using kiln::testing::ReadTable;

TEST(CsvTest, InfersTypesAndReadsValues) {
  auto r = ReadTable(
      "id,price,flag,when,color,name\n"
      "1,1.5,true,2024-01-01,red,alice\n"
      "2,,false,2024-01-02 10:00:00,blue,bob\n"
      "3,-2e3,TRUE,2024-01-03T00:00:00Z,red,carol\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& d = r->data;
  ASSERT_EQ(d.num_rows(), 3u);
  EXPECT_EQ(d.schema.field(0).type, DataType::kInt64);
  EXPECT_EQ(d.schema.field(1).type, DataType::kFloat64);
  EXPECT_EQ(d.schema.field(2).type, DataType::kBool);
  EXPECT_EQ(d.schema.field(3).type, DataType::kTimestamp);
  EXPECT_EQ(d.schema.field(3).role, data::ColumnRole::kTimestamp);
  EXPECT_EQ(d.schema.field(4).type, DataType::kCategorical);  // repeats in the sample
  EXPECT_EQ(d.schema.field(5).type, DataType::kString);       // all distinct
  EXPECT_EQ(d.columns[0].int64s()[2], 3);
  EXPECT_FALSE(d.columns[1].IsValid(1));
  EXPECT_EQ(d.columns[1].float64s()[2], -2000.0);
  EXPECT_EQ(d.columns[2].bools()[2], 1);
  EXPECT_EQ(d.columns[4].TextAt(2), "red");
  EXPECT_EQ(d.columns[4].codes()[0], d.columns[4].codes()[2]);
  EXPECT_EQ(d.columns[5].StringAt(1), "bob");
}

TEST(CsvTest, Rfc4180QuotingCrlfAndBom) {
  auto r =
      ReadTable("\xEF\xBB\xBFname,note\r\n\"a, b\",\"say \"\"hi\"\"\"\r\n\"multi\r\nline\",x\r\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& d = r->data;
  EXPECT_EQ(d.schema.field(0).name, "name");  // BOM stripped
  ASSERT_EQ(d.num_rows(), 2u);
  EXPECT_EQ(d.columns[0].TextAt(0), "a, b");
  EXPECT_EQ(d.columns[1].TextAt(0), "say \"hi\"");
  EXPECT_EQ(d.columns[0].TextAt(1), "multi\r\nline");
}

TEST(CsvTest, NoTrailingNewlineAndBlankLines) {
  auto r = ReadTable("a,b\n1,2\n\n3,4");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->data.num_rows(), 2u);
  EXPECT_EQ(r->data.columns[1].int64s()[1], 4);
}

TEST(CsvTest, SniffsDelimiters) {
  for (std::string d : {";", "\t", "|"}) {
    auto r = ReadTable("a" + d + "b" + d + "c\n1" + d + "2,5" + d + "x\n3" + d + "4" + d + "y\n");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->data.schema.size(), 3u) << d;
  }
}

TEST(CsvTest, MissingTokensAndNanInfSpellings) {
  auto r = ReadTable("x\n1.5\nNA\nnan\nNaN\ninf\n-Infinity\n+2\n\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& c = r->data.columns[0];
  ASSERT_EQ(c.type(), DataType::kFloat64);
  ASSERT_EQ(c.size(), 7u);
  EXPECT_EQ(c.null_count(), 3u);
  EXPECT_TRUE(std::isinf(c.float64s()[4]) && c.float64s()[4] > 0);
  EXPECT_TRUE(std::isinf(c.float64s()[5]) && c.float64s()[5] < 0);
  EXPECT_EQ(c.float64s()[6], 2.0);
  ReadOptions o;
  o.missing_tokens = {"", "-"};
  auto custom = ReadTable("x\n-\n1\n", o);
  ASSERT_TRUE(custom.ok());
  EXPECT_EQ(custom->data.columns[0].null_count(), 1u);
  // A numeric missing token must win over the dense numeric fast path.
  o.missing_tokens = {"", "-999"};
  auto sentinel = ReadTable("x,y\n1.5,1\n-999,-999\n2,3\n", o);
  ASSERT_TRUE(sentinel.ok());
  EXPECT_EQ(sentinel->data.columns[0].null_count(), 1u);
  EXPECT_EQ(sentinel->data.columns[1].null_count(), 1u);
  EXPECT_EQ(sentinel->data.columns[1].type(), DataType::kInt64);
}

TEST(CsvTest, WidensTypesWhenLaterRowsDisagree) {
  ReadOptions o;
  o.chunk_rows = 4;
  o.sample_rows = 4;
  std::string csv = "n,s\n";
  for (int i = 0; i < 10; ++i) csv += std::to_string(i) + "," + std::to_string(i) + "\n";
  csv += "2.5,word\n";
  auto r = ReadTable(csv, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->restarts, 1);
  EXPECT_EQ(r->data.schema.field(0).type, DataType::kFloat64);
  EXPECT_EQ(r->data.schema.field(1).type, DataType::kString);
  ASSERT_EQ(r->data.num_rows(), 11u);
  EXPECT_EQ(r->data.columns[0].float64s()[10], 2.5);
  EXPECT_EQ(r->data.columns[1].StringAt(3), "3");
  EXPECT_EQ(r->data.columns[1].StringAt(10), "word");
}

TEST(CsvTest, SchemaOverridesTypesAndRoles) {
  ReadOptions o;
  o.overrides["y"] = {DataType::kCategorical, data::ColumnRole::kLabel};
  o.overrides["x"] = {DataType::kFloat32, std::nullopt};
  auto r = ReadTable("x,y\n1,0\n2,1\n", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data.schema.field(0).type, DataType::kFloat32);
  EXPECT_EQ(r->data.schema.field(1).type, DataType::kCategorical);
  EXPECT_EQ(r->data.schema.field(1).role, data::ColumnRole::kLabel);
  EXPECT_EQ(r->data.columns[1].TextAt(1), "1");
  o.overrides["nope"] = {};
  EXPECT_EQ(ReadTable("x,y\n1,0\n", o).status().code(), StatusCode::kInvalidArgument);
}

TEST(CsvTest, ForcedTypeMismatchNamesLineAndColumn) {
  ReadOptions o;
  o.overrides["x"] = {DataType::kInt64, std::nullopt};
  auto r = ReadTable("x\n1\n2\nthree\n", o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 4, column 1 ('x')"), std::string::npos)
      << r.status().message();
}

TEST(CsvTest, ManyChunksAndThreadsGiveTheSameData) {
  std::string csv = "a,b,c\n";
  for (int i = 0; i < 5000; ++i) {
    csv += std::to_string(i) + "," + std::to_string(i * 0.5) + ",k" + std::to_string(i % 7) + "\n";
  }
  ReadOptions small;
  small.chunk_rows = 333;
  small.block_bytes = 1000;  // records straddle read blocks
  auto a = ReadTable(csv, small, "/in/t.csv", 1);
  auto b = ReadTable(csv, {}, "/in/t.csv", 4);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->chunks, 16);
  ASSERT_EQ(a->data.num_rows(), 5000u);
  for (size_t c = 0; c < 3; ++c) {
    for (data::RowIndex i = 0; i < 5000; i += 97) {
      EXPECT_EQ(a->data.columns[c].TextAt(i), b->data.columns[c].TextAt(i));
    }
  }
}

TEST(CsvTest, NoHeader) {
  ReadOptions o;
  o.header = false;
  auto r = ReadTable("1,x\n2,y\n", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data.schema.field(0).name, "column_1");
  EXPECT_EQ(r->data.num_rows(), 2u);
}

}  // namespace
}  // namespace kiln::ingest

namespace kiln::ingest {
namespace {

// The fast float path must give exactly what from_chars gives (correct rounding).
TEST(CsvTest, FloatParsingMatchesFromChars) {
  std::mt19937_64 rng(5);
  std::string csv = "x\n";
  std::vector<std::string> texts;
  const char* fixed[] = {"0.1",
                         "-0.0",
                         "1e22",
                         "1e-22",
                         "123456789012345",
                         "0.30000000000000004",
                         "4.9e-324",
                         "1.7976931348623157e308",
                         "9007199254740993",
                         "1.5E+03",
                         "-2.5e-7",
                         ".5",
                         "5.",
                         "1e23"};
  for (const char* f : fixed) texts.push_back(f);
  char buf[64];
  for (int i = 0; i < 20000; ++i) {
    double v = std::ldexp(static_cast<double>(rng() >> 11), static_cast<int>(rng() % 120) - 80);
    const char* fmt = i % 3 == 0 ? "%.6g" : i % 3 == 1 ? "%.15g" : "%.17g";
    std::snprintf(buf, sizeof buf, fmt, (rng() & 1) ? -v : v);
    texts.push_back(buf);
  }
  for (const auto& t : texts) csv += t + "\n";
  auto r = kiln::testing::ReadTable(csv);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& c = r->data.columns[0];
  ASSERT_EQ(c.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    double expected;
    std::from_chars(texts[i].data(), texts[i].data() + texts[i].size(), expected);
    ASSERT_EQ(std::memcmp(&expected, &c.float64s()[i], 8), 0) << texts[i];
  }
}

}  // namespace
}  // namespace kiln::ingest
