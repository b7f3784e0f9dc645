#include "kiln/storage/dataset_store.h"

#include <gtest/gtest.h>

#include "kiln/base/mem_file_system.h"
#include "kiln/data/profile.h"
#include "kiln/registry/sql_catalog.h"

namespace kiln::storage {
namespace {

using data::Column;
using data::DataType;

data::Dataset MakeChunk(int start, int rows) {
  data::Dataset d;
  d.schema = *data::Schema::Make({{"x", DataType::kInt64}, {"s", DataType::kString}});
  Column x(DataType::kInt64), s(DataType::kString);
  for (int i = start; i < start + rows; ++i) {
    x.AppendInt64(i);
    s.AppendString("row" + std::to_string(i));
  }
  d.columns = {x, s};
  return d;
}

std::vector<data::ColumnProfile> Profiles(const data::Dataset& d) {
  std::vector<data::ColumnProfile> out;
  for (const auto& c : d.columns) {
    data::ProfileBuilder b(c.type());
    b.Add(c);
    out.push_back(b.Finish());
  }
  return out;
}

struct Env {
  MemFileSystem mem;
  std::unique_ptr<registry::SqlCatalog> catalog = *registry::SqlCatalog::OpenSqlite(":memory:");
  ExecContext ctx{ExecContext::Options{.threads = 2}};

  std::unique_ptr<DatasetStore> Store(FileSystem* fs) {
    auto s = std::make_unique<DatasetStore>(fs, "/home", catalog.get(),
                                            DatasetStore::Options{.lock_home = false});
    EXPECT_TRUE(s->Init().ok());
    return s;
  }
};

Result<VersionRecord> Commit(DatasetStore& store, const ExecContext& ctx, int rows,
                             std::optional<VersionRecord> append = std::nullopt) {
  data::Dataset chunk = MakeChunk(0, rows);
  KILN_ASSIGN_OR_RETURN(auto w, store.BeginVersion({"d", chunk.schema, "m", {}, append, 1}));
  KILN_RETURN_IF_ERROR(w->Append(chunk, ctx));
  return w->Commit(Profiles(chunk), {{}, {}});
}

TEST(DatasetStoreTest, CommitReadAndVersionNumbers) {
  Env env;
  auto store = env.Store(&env.mem);
  auto v1 = Commit(*store, env.ctx, 100);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ(v1->version, 1);
  auto v2 = Commit(*store, env.ctx, 50);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->parent, 1);
  auto newest = store->Resolve({"d", 0});
  EXPECT_EQ(newest->version, 2);
  auto m = store->LoadManifest(*v1);
  ASSERT_TRUE(m.ok());
  auto all = store->ReadAll(*m, {});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->num_rows(), 100u);
  EXPECT_EQ(all->columns[1].StringAt(42), "row42");
  EXPECT_EQ(store->Resolve({"d", 9}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Resolve({"nope", 0}).status().code(), StatusCode::kNotFound);
}

TEST(DatasetStoreTest, SameDataSharesObjectsAndContentHash) {
  Env env;
  auto store = env.Store(&env.mem);
  auto v1 = Commit(*store, env.ctx, 100);
  size_t objects = store->blobs().List()->size();
  auto v2 = Commit(*store, env.ctx, 100);
  EXPECT_EQ(v1->content_hash, v2->content_hash);
  EXPECT_EQ(store->blobs().List()->size(), objects + 1);  // only the new manifest
}

TEST(DatasetStoreTest, AppendSharesTheParentsChunks) {
  Env env;
  auto store = env.Store(&env.mem);
  auto v1 = Commit(*store, env.ctx, 100);
  auto v2 = Commit(*store, env.ctx, 30, *v1);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  auto m1 = *store->LoadManifest(*v1);
  auto m2 = *store->LoadManifest(*v2);
  EXPECT_EQ(m2.rows, 130u);
  EXPECT_EQ(m2.parent, 1);
  ASSERT_EQ(m2.row_groups.size(), 2u);
  EXPECT_EQ(m2.row_groups[0].chunks[0].hash, m1.row_groups[0].chunks[0].hash);
}

TEST(DatasetStoreTest, RemoveAndGarbageCollect) {
  Env env;
  auto store = env.Store(&env.mem);
  auto v1 = Commit(*store, env.ctx, 100);
  auto v2 = Commit(*store, env.ctx, 10);
  ASSERT_TRUE(store->Remove("d", 1).ok());
  EXPECT_EQ(store->Remove("d", 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Remove("../d", 1).code(), StatusCode::kInvalidArgument);
  auto gc = store->CollectGarbage();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->removed_objects, 3u);  // v1's manifest and its two chunks
  EXPECT_TRUE(store->Verify(true)->problems.empty());
  // Numbers are never reused.
  EXPECT_EQ(Commit(*store, env.ctx, 5)->version, 3);
}

TEST(DatasetStoreTest, CorruptChunkIsReportedByNameOnReadAndVerify) {
  Env env;
  auto store = env.Store(&env.mem);
  auto v1 = Commit(*store, env.ctx, 100);
  auto m = *store->LoadManifest(*v1);
  const std::string hash = m.row_groups[0].chunks[1].hash;
  std::string bytes = *env.mem.ReadFile(store->blobs().PathOf(hash), 1 << 20);
  bytes[bytes.size() / 2] ^= 0x04;
  ASSERT_TRUE(env.mem.Corrupt(store->blobs().PathOf(hash), bytes).ok());
  auto r = store->ReadChunk(m, 0, 1);
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find(hash), std::string::npos);
  auto report = store->Verify(false);
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].find(hash), std::string::npos);
  // GC still accounts for the version (its manifest is intact) and deletes nothing live.
  EXPECT_EQ(store->CollectGarbage()->removed_objects, 0u);
}

// FT-02..FT-06: a fault at every counted file-system operation of a commit leaves either no
// new version or a complete one; after a simulated power loss the store verifies clean and GC
// removes every leftover temp file.
// The number of operations of a commit varies by one or two (the manifest embeds its creation
// time, so its object may or may not share a directory with a chunk): faults are armed at
// n = 1, 2, ... until one no longer fires, and that last commit must succeed.
TEST(DatasetStoreTest, FaultAtEveryOperation) {
  using Fault = FaultInjectingFileSystem::Fault;
  int crashes = 0, faults = 0;
  for (Fault fault : {Fault::kEio, Fault::kEnospc, Fault::kShortWrite, Fault::kPowerLoss}) {
    for (CrashMode mode :
         {CrashMode::kDropUnsynced, CrashMode::kKeepRandomPrefix, CrashMode::kGarbleUnsynced}) {
      if (fault != Fault::kPowerLoss && mode != CrashMode::kDropUnsynced) continue;
      for (int64_t n = 1;; ++n) {
        ASSERT_LT(n, 1000) << "the fault never stopped firing";
        Env env;
        FaultInjectingFileSystem fs(&env.mem);
        auto store = env.Store(&fs);
        ASSERT_TRUE(Commit(*store, env.ctx, 1000).ok());
        fs.Arm(fault, n);
        auto r = Commit(*store, env.ctx, 2000);
        if (!fs.fired()) {  // past the last operation: the commit went through untouched
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          EXPECT_GT(n, 5);
          break;
        }
        ++faults;
        ASSERT_FALSE(r.ok()) << "fault " << static_cast<int>(fault) << " at op " << n;
        if (fault == Fault::kPowerLoss) {
          env.mem.Crash(mode, static_cast<uint64_t>(n));
          ++crashes;
        }
        fs.Arm(Fault::kNone, 0);
        auto reopened = env.Store(&env.mem);
        auto versions = env.catalog->ListVersions("d");
        ASSERT_EQ(versions->size(), 1u) << n;  // only the baseline is visible
        auto verify = reopened->Verify(true);
        ASSERT_TRUE(verify.ok());
        ASSERT_TRUE(verify->problems.empty()) << verify->problems[0];
        auto gc = reopened->CollectGarbage();
        ASSERT_TRUE(gc.ok()) << gc.status().ToString();
        EXPECT_EQ(*reopened->blobs().RemoveTempFiles(), 0u);
        // The store is not wedged: the same commit now succeeds.
        auto again = Commit(*reopened, env.ctx, 2000);
        ASSERT_TRUE(again.ok()) << again.status().ToString();
        EXPECT_EQ(again->version, 2);
        // ... and is durable: a power loss right after the commit keeps all of it.
        env.mem.Crash(CrashMode::kDropUnsynced, 99);
        auto after = reopened->Verify(true);
        ASSERT_TRUE(after.ok());
        ASSERT_EQ(after->versions, 2u);
        ASSERT_TRUE(after->problems.empty()) << after->problems[0];
      }
    }
  }
  EXPECT_GT(crashes, 0);
  EXPECT_GT(faults, 30);
}

}  // namespace
}  // namespace kiln::storage
