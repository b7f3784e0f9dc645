#include "kiln/storage/manifest.h"

#include <gtest/gtest.h>

namespace kiln::storage {
namespace {

Manifest Sample() {
  Manifest m;
  m.name = "churn";
  m.parent = 2;
  m.created_at = "2026-01-01T00:00:00Z";
  m.message = "a \"quoted\" message";
  m.source = {"churn.csv", std::string(64, 'a'), 1234, "csv"};
  m.schema = *data::Schema::Make({{"x", data::DataType::kFloat64},
                                  {"y", data::DataType::kCategorical, data::ColumnRole::kLabel}});
  m.dictionaries = {{}, {"no", "yes"}};
  m.row_groups = {{10, {{std::string(64, 'b'), 7, 100}, {std::string(64, 'c'), 8, 50}}},
                  {5, {{std::string(64, 'd'), 9, 90}, {std::string(64, 'e'), 10, 40}}}};
  m.rows = 15;
  data::ColumnProfile p;
  p.count = 15;
  p.min = 1;
  p.max = 2;
  p.quantiles = {1, 1.5, 2};
  data::ColumnProfile q;
  q.count = 15;
  q.top = {{"no", 10}, {"yes", 5}};
  q.top_complete = true;
  m.profiles = {p, q};
  m.content_hash = ComputeContentHash(m);
  return m;
}

TEST(ManifestTest, RoundTrip) {
  Manifest m = Sample();
  auto back = DecodeManifest(EncodeManifest(m), "obj", Limits::Default());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->name, m.name);
  EXPECT_EQ(back->parent, 2);
  EXPECT_EQ(back->message, m.message);
  EXPECT_EQ(back->schema, m.schema);
  EXPECT_EQ(back->dictionaries, m.dictionaries);
  EXPECT_EQ(back->row_groups.size(), 2u);
  EXPECT_EQ(back->row_groups[1].chunks[1].xxh3, 10u);
  EXPECT_EQ(back->profiles, m.profiles);
  EXPECT_EQ(back->content_hash, m.content_hash);
}

TEST(ManifestTest, ContentHashIgnoresMessageAndTime) {
  Manifest a = Sample(), b = Sample();
  b.message = "other";
  b.created_at = "2030-01-01T00:00:00Z";
  EXPECT_EQ(ComputeContentHash(a), ComputeContentHash(b));
  b.dictionaries[1][0] = "NO";
  EXPECT_NE(ComputeContentHash(a), ComputeContentHash(b));
}

TEST(ManifestTest, CorruptionIsDataLoss) {
  std::string blob = EncodeManifest(Sample());
  for (size_t n = 0; n < blob.size(); n += 7) {
    EXPECT_EQ(DecodeManifest(blob.substr(0, n), "m1", Limits::Default()).status().code(),
              StatusCode::kDataLoss);
  }
  for (size_t i = 0; i < blob.size(); ++i) {
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    auto r = DecodeManifest(bad, "m1", Limits::Default());
    ASSERT_EQ(r.status().code(), StatusCode::kDataLoss) << i;
    ASSERT_NE(r.status().message().find("m1"), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln::storage
