#include <gtest/gtest.h>

#include "testing/read_table.h"

namespace kiln::ingest {
namespace {

using data::DataType;
using kiln::testing::ReadTable;

TEST(JsonLinesTest, ReadsObjectsWithMissingKeysAndNulls) {
  auto r = ReadTable(
      "{\"id\": 1, \"x\": 1.5, \"ok\": true, \"tag\": \"a\"}\n"
      "{\"id\": 2, \"x\": null, \"ok\": false, \"tag\": \"a\", \"extra\": [1, {\"k\": 2}]}\r\n"
      "\n"
      "{\"id\": 3, \"tag\": \"b\"}",
      {}, "/in/t.jsonl");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& d = r->data;
  ASSERT_EQ(d.num_rows(), 3u);
  ASSERT_EQ(d.schema.size(), 5u);
  EXPECT_EQ(d.schema.field(0).type, DataType::kInt64);
  EXPECT_EQ(d.schema.field(1).type, DataType::kFloat64);
  EXPECT_EQ(d.schema.field(2).type, DataType::kBool);
  EXPECT_EQ(d.schema.field(3).type, DataType::kCategorical);
  EXPECT_FALSE(d.columns[1].IsValid(1));
  EXPECT_FALSE(d.columns[1].IsValid(2));
  EXPECT_FALSE(d.columns[2].IsValid(2));
  EXPECT_EQ(d.columns[4].TextAt(1), "[1,{\"k\":2}]");
  EXPECT_FALSE(d.columns[4].IsValid(0));
}

TEST(JsonLinesTest, KeysFirstSeenAfterTheFirstChunkRestartTheRead) {
  ReadOptions o;
  o.chunk_rows = 2;
  std::string in;
  for (int i = 0; i < 5; ++i) in += "{\"a\": " + std::to_string(i) + "}\n";
  in += "{\"a\": 5, \"late\": 2.5}\n";
  auto r = ReadTable(in, o, "/in/t.jsonl");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->restarts, 1);
  ASSERT_EQ(r->data.schema.size(), 2u);
  EXPECT_EQ(r->data.schema.field(1).type, DataType::kFloat64);
  EXPECT_EQ(r->data.columns[1].null_count(), 5u);
  EXPECT_EQ(r->data.columns[1].float64s()[5], 2.5);
}

}  // namespace
}  // namespace kiln::ingest
