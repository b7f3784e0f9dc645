#include "kiln/storage/chunk_codec.h"

#include <gtest/gtest.h>

namespace kiln::storage {
namespace {

using data::Column;
using data::DataType;

std::vector<Column> SampleColumns() {
  std::vector<Column> cols;
  Column f(DataType::kFloat64), i(DataType::kInt64), s(DataType::kString), b(DataType::kBool),
      c(DataType::kCategorical), g(DataType::kFloat32), t(DataType::kTimestamp);
  for (int r = 0; r < 1000; ++r) {
    if (r % 17 == 3) {
      for (Column* col : {&f, &i, &s, &b, &c, &g, &t}) col->AppendNull();
      continue;
    }
    f.AppendFloat64(r * 0.25);
    i.AppendInt64(r - 500);
    s.AppendString(std::string(r % 5, 'x'));
    b.AppendBool(r % 2);
    c.AppendCode(r % 3);
    g.AppendFloat32(r * 0.5f);
    t.AppendInt64(r * 1000000LL);
  }
  return {f, i, s, b, c, g, t};
}

TEST(ChunkCodecTest, RoundTripsEveryType) {
  for (const Column& col : SampleColumns()) {
    auto blob = EncodeChunk(col, 3);
    ASSERT_TRUE(blob.ok());
    auto back = DecodeChunk(*blob, {col.type(), col.size(), 3}, "obj", Limits::Default());
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ASSERT_EQ(back->size(), col.size());
    EXPECT_EQ(back->null_count(), col.null_count());
    for (data::RowIndex r = 0; r < col.size(); ++r) {
      ASSERT_EQ(back->IsValid(r), col.IsValid(r));
      ASSERT_EQ(back->TextAt(r), col.TextAt(r)) << data::DataTypeName(col.type()) << " " << r;
    }
  }
}

TEST(ChunkCodecTest, RejectsMismatchedExpectations) {
  Column col = SampleColumns()[0];
  std::string blob = *EncodeChunk(col, 1);
  EXPECT_EQ(
      DecodeChunk(blob, {DataType::kInt64, col.size()}, "o", Limits::Default()).status().code(),
      StatusCode::kDataLoss);
  EXPECT_EQ(DecodeChunk(blob, {DataType::kFloat64, 7}, "o", Limits::Default()).status().code(),
            StatusCode::kDataLoss);
  Column cat = SampleColumns()[4];
  std::string cblob = *EncodeChunk(cat, 1);
  auto r = DecodeChunk(cblob, {DataType::kCategorical, cat.size(), 2}, "o", Limits::Default());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);  // code 2 is out of a 2-entry dictionary
}

// BI-17/BI-19: truncation at every byte and a bit flip at every byte give a clean DataLoss that
// names the object.
TEST(ChunkCodecTest, TruncationAndBitFlipsAreDataLoss) {
  for (const Column& col : SampleColumns()) {
    std::string blob = *EncodeChunk(col, 3);
    ChunkExpectation e{col.type(), col.size(), 3};
    for (size_t n = 0; n < blob.size(); ++n) {
      auto r = DecodeChunk(blob.substr(0, n), e, "deadbeef", Limits::Default());
      ASSERT_EQ(r.status().code(), StatusCode::kDataLoss) << n;
      ASSERT_NE(r.status().message().find("deadbeef"), std::string::npos);
    }
    for (size_t i = 0; i < blob.size(); ++i) {
      std::string bad = blob;
      bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
      ASSERT_EQ(DecodeChunk(bad, e, "o", Limits::Default()).status().code(), StatusCode::kDataLoss)
          << i;
    }
  }
}

}  // namespace
}  // namespace kiln::storage
