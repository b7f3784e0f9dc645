#include "kiln/data/column.h"

#include <cmath>

#include <gtest/gtest.h>

namespace kiln::data {
namespace {

TEST(ColumnTest, NullBitmapIsCreatedLazily) {
  Column c(DataType::kFloat64);
  c.AppendFloat64(1.5);
  c.AppendFloat64(2.5);
  EXPECT_TRUE(c.validity().empty());
  c.AppendNull();
  for (int i = 0; i < 20; ++i) c.AppendFloat64(i);
  ASSERT_EQ(c.size(), 23u);
  EXPECT_EQ(c.null_count(), 1u);
  EXPECT_TRUE(c.IsValid(0));
  EXPECT_TRUE(c.IsValid(1));
  EXPECT_FALSE(c.IsValid(2));
  for (RowIndex i = 3; i < 23; ++i) EXPECT_TRUE(c.IsValid(i)) << i;
  EXPECT_TRUE(std::isnan(c.NumericAt(2)));
  EXPECT_EQ(c.NumericAt(4), 1.0);
  EXPECT_EQ(c.TextAt(2), "");
  EXPECT_EQ(c.TextAt(0), "1.5");
}

TEST(ColumnTest, StringsAndAppendColumn) {
  Column a(DataType::kString);
  a.AppendString("x");
  a.AppendNull();
  a.AppendString("yz");
  Column b(DataType::kString);
  b.AppendColumn(a);
  b.AppendColumn(a);
  ASSERT_EQ(b.size(), 6u);
  EXPECT_EQ(b.StringAt(3), "x");
  EXPECT_EQ(b.StringAt(5), "yz");
  EXPECT_FALSE(b.IsValid(4));
  EXPECT_EQ(b.null_count(), 2u);
}

TEST(SchemaTest, RejectsDuplicatesAndEmptyNames) {
  EXPECT_FALSE(Schema::Make({{"a"}, {"a"}}).ok());
  EXPECT_FALSE(Schema::Make({{""}}).ok());
  auto s = Schema::Make({{"a", DataType::kInt64}, {"b", DataType::kString, ColumnRole::kLabel}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->IndexOf("b"), 1u);
  EXPECT_FALSE(s->IndexOf("c").has_value());
}

TEST(SchemaTest, TypeAndRoleNamesRoundTrip) {
  for (DataType t : {DataType::kBool, DataType::kInt64, DataType::kFloat32, DataType::kFloat64,
                     DataType::kCategorical, DataType::kString, DataType::kTimestamp}) {
    EXPECT_EQ(*ParseDataType(DataTypeName(t)), t);
  }
  EXPECT_FALSE(ParseDataType("int128").ok());
  EXPECT_EQ(*ParseColumnRole("pii"), ColumnRole::kPii);
  EXPECT_FALSE(ParseColumnRole("owner").ok());
}

TEST(TimestampTest, ParsesIsoForms) {
  int64_t t;
  ASSERT_TRUE(ParseTimestamp("1970-01-01", &t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(ParseTimestamp("2024-02-29T12:30:15Z", &t));
  EXPECT_EQ(FormatTimestamp(t), "2024-02-29T12:30:15Z");
  ASSERT_TRUE(ParseTimestamp("2024-02-29 14:30:15.25+02:00", &t));
  EXPECT_EQ(FormatTimestamp(t), "2024-02-29T12:30:15.250000Z");
  ASSERT_TRUE(ParseTimestamp("1969-12-31T23:59:59Z", &t));
  EXPECT_EQ(t, -1000000);
  for (const char* bad : {"2024-13-01", "2024-01-32", "2024/01/01", "2024-01-01T25:00:00",
                          "2024-01-01Tfoo", "20240101", "2024-01-01T10:00:00+", ""}) {
    EXPECT_FALSE(ParseTimestamp(bad, &t)) << bad;
  }
}

}  // namespace
}  // namespace kiln::data
