#include "kiln/base/numbers.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(ParseIntegerTest, WholeTextInRange) {
  EXPECT_EQ(*ParseInteger("42", "n", 0, 100), 42);
  EXPECT_EQ(*ParseInteger("-7", "n", -10, 10), -7);
  EXPECT_EQ(*ParseInteger("9223372036854775807", "n", 0, INT64_MAX), INT64_MAX);
  EXPECT_EQ(*ParseUnsigned("18446744073709551615", "n", UINT64_MAX), UINT64_MAX);
}

TEST(ParseIntegerTest, RefusesWhatIsNotAWholeNumber) {
  for (const char* bad : {"", " 1", "1 ", "+1", "1.5", "0x10", "1e3", "12abc", "--1", "\xff"}) {
    auto v = ParseInteger(bad, "count", INT64_MIN, INT64_MAX);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(v.status().message().find("count must be a whole number"), std::string::npos)
        << v.status().message();
  }
  EXPECT_FALSE(ParseUnsigned("-1", "n", 10).ok());
}

TEST(ParseIntegerTest, NamesTheRange) {
  auto low = ParseInteger("0", "version", 1, 100);
  EXPECT_NE(low.status().message().find("version must be at least 1"), std::string::npos);
  auto high = ParseInteger("101", "version", 1, 100);
  EXPECT_NE(high.status().message().find("version must be at most 100"), std::string::npos);
  auto overflow = ParseInteger("99999999999999999999", "version", 1, 100);
  EXPECT_NE(overflow.status().message().find("at most 100"), std::string::npos);
  auto underflow = ParseInteger("-99999999999999999999", "v", -5, 5);
  EXPECT_NE(underflow.status().message().find("at least -5"), std::string::npos);
}

TEST(ParseHex64Test, StoredChecksums) {
  EXPECT_EQ(*ParseHex64("ffffffffffffffff", "xxh3"), UINT64_MAX);
  EXPECT_EQ(*ParseHex64("0A1b", "xxh3"), 0x0a1bu);
  for (const char* bad :
       {"", "0x10", "-1", "12g", "1 ", "10000000000000000", "00000000000000001"}) {
    EXPECT_FALSE(ParseHex64(bad, "xxh3").ok()) << bad;
  }
}

TEST(ParseDoubleTest, WholeTextOnly) {
  EXPECT_EQ(*ParseDouble("0.5", "score"), 0.5);
  EXPECT_EQ(*ParseDouble("-1e-3", "score"), -1e-3);
  EXPECT_EQ(*ParseDouble("7", "score"), 7.0);
  for (const char* bad : {"", " 1", "1 ", "+1", "1e999", "0.5x", "--1", "\xff"}) {
    auto v = ParseDouble(bad, "score");
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_NE(v.status().message().find("score must be a finite number"), std::string::npos);
  }
}

TEST(ParseDurationTest, UnitsAndRange) {
  EXPECT_EQ(*ParseDuration("250ms", "w", 0, INT64_MAX), 250);
  EXPECT_EQ(*ParseDuration("30s", "w", 0, INT64_MAX), 30'000);
  EXPECT_EQ(*ParseDuration("10m", "w", 0, INT64_MAX), 600'000);
  EXPECT_EQ(*ParseDuration("6h", "w", 0, INT64_MAX), 21'600'000);
  EXPECT_EQ(*ParseDuration("2d", "w", 0, INT64_MAX), 172'800'000);
  for (const char* bad : {"", "m", "10", "10w", "1.5h", "-1s", " 1s", "1 s", "10mm", "1e3s"}) {
    auto d = ParseDuration(bad, "window", 0, INT64_MAX);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_NE(d.status().message().find("window"), std::string::npos);
  }
  EXPECT_FALSE(ParseDuration("4s", "window", 5'000, 10'000).ok());
  EXPECT_FALSE(ParseDuration("11s", "window", 5'000, 10'000).ok());
  EXPECT_FALSE(ParseDuration("99999999999999d", "window", 0, INT64_MAX).ok());  // no overflow
}

}  // namespace
}  // namespace kiln
