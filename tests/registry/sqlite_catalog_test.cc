#include "kiln/registry/sql_catalog.h"
#include "registry/catalog_contract.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

namespace kiln::registry {
namespace {

using storage::VersionRecord;

VersionRecord Rec(const std::string& name) {
  VersionRecord r;
  r.name = name;
  r.manifest = std::string(64, 'a');
  r.content_hash = std::string(64, 'b');
  r.rows = 10;
  return r;
}

TEST(SqliteCatalogTest, VersionsNumberUpAndNeverReuse) {
  auto c = *SqlCatalog::OpenSqlite(":memory:");
  EXPECT_EQ(*c->SchemaVersion(), 9);
  EXPECT_EQ(c->CommitVersion(Rec("a"))->version, 1);
  EXPECT_EQ(c->CommitVersion(Rec("a"))->version, 2);
  EXPECT_EQ(c->CommitVersion(Rec("b"))->version, 1);
  ASSERT_TRUE(c->DeleteVersion("a", 2).ok());
  EXPECT_EQ(c->GetVersion("a", 0)->version, 1);
  EXPECT_EQ(c->GetVersion("a", 2).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(c->CommitVersion(Rec("a"))->version, 3);
  EXPECT_EQ(c->ListVersions("a")->size(), 2u);
  EXPECT_EQ(c->ListDatasets()->size(), 2u);
  EXPECT_EQ(c->LiveManifests()->size(), 3u);
  EXPECT_EQ(c->DeleteVersion("a", 2).code(), StatusCode::kNotFound);
}

// Names are bound as parameters, never spliced into SQL.
TEST(SqliteCatalogTest, HostileNamesAreJustData) {
  auto c = *SqlCatalog::OpenSqlite(":memory:");
  const std::string evil = "x'; DROP TABLE dataset_versions; --";
  ASSERT_TRUE(c->CommitVersion(Rec(evil)).ok());
  EXPECT_EQ(c->GetVersion(evil, 1)->name, evil);
  EXPECT_EQ(c->ListDatasets()->size(), 1u);
}

TEST(SqliteCatalogTest, ReopenKeepsDataAndMigrationsAreIdempotent) {
  std::string dir = (std::filesystem::temp_directory_path() / "kiln-cat-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/meta.db";
  {
    auto c = *SqlCatalog::OpenSqlite(path);
    ASSERT_TRUE(c->CommitVersion(Rec("a")).ok());
  }
  auto c = *SqlCatalog::OpenSqlite(path);
  EXPECT_EQ(*c->SchemaVersion(), 9);
  EXPECT_EQ(c->GetVersion("a", 0)->version, 1);
  std::filesystem::remove_all(dir);
}

// FT-07: concurrent writers on one database file (separate connections) lose nothing and never
// hand out the same version number twice.
TEST(SqliteCatalogTest, ConcurrentWritersGetDistinctVersions) {
  std::string dir = (std::filesystem::temp_directory_path() / "kiln-cat-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/meta.db";
  ASSERT_TRUE(SqlCatalog::OpenSqlite(path).ok());
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> got(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto c = *SqlCatalog::OpenSqlite(path);
      for (int i = 0; i < 25; ++i) got[t].push_back(c->CommitVersion(Rec("shared"))->version);
    });
  }
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  for (const auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), 100u);
  EXPECT_EQ(*all.rbegin(), 100);
  std::filesystem::remove_all(dir);
}

TEST(SqliteCatalogTest, GarbageFileIsAClearError) {
  std::string dir = (std::filesystem::temp_directory_path() / "kiln-cat-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/meta.db";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("this is not a database, just some text that is long enough to matter......", f);
  std::fclose(f);
  auto c = SqlCatalog::OpenSqlite(path);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kDataLoss) << c.status().ToString();
  std::filesystem::remove_all(dir);
}

}  // namespace

CatalogBackend ContractBackend() { return SqliteBackend(); }

}  // namespace kiln::registry
