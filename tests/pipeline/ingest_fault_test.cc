// The whole ingest pipeline (reader -> profiles -> chunks -> commit) under injected faults, and
// its refusals (rules, restarts) leaving nothing behind.
#include <gtest/gtest.h>

#include "kiln/base/mem_file_system.h"
#include "kiln/pipeline/ingest.h"
#include "kiln/registry/sql_catalog.h"

namespace kiln::pipeline {
namespace {

std::string Csv(int rows) {
  std::string s = "id,x,cat\n";
  for (int i = 0; i < rows; ++i) {
    s += std::to_string(i) + "," + std::to_string(i * 0.5) + ",k" + std::to_string(i % 5) + "\n";
  }
  return s;
}

struct Env {
  MemFileSystem mem;
  FaultInjectingFileSystem fault{&mem};
  std::unique_ptr<registry::SqlCatalog> catalog = *registry::SqlCatalog::OpenSqlite(":memory:");
  std::unique_ptr<storage::DatasetStore> store;
  ExecContext ctx{ExecContext::Options{.threads = 2}};

  Env() {
    EXPECT_TRUE(mem.CreateDirs("/in").ok());
    EXPECT_TRUE(AtomicWriteFile(mem, "/in/t.csv", Csv(3000)).ok());
    store = std::make_unique<storage::DatasetStore>(
        &fault, "/home", catalog.get(), storage::DatasetStore::Options{.lock_home = false});
    EXPECT_TRUE(store->Init().ok());
  }
  Result<IngestResult> Ingest(ingest::ReadOptions read = {}) {
    IngestRequest req;
    req.path = "/in/t.csv";
    req.name = "t";
    read.chunk_rows = 1000;
    req.read = read;
    return IngestFile(fault, *store, req, ctx);
  }
};

// ENOSPC at operation n = 1, 2, ... until the fault no longer fires (the operation count can
// vary by one with the manifest's creation time).
TEST(IngestFaultTest, EveryFaultFailsCleanly) {
  int faults = 0;
  for (int64_t n = 1;; ++n) {
    ASSERT_LT(n, 1000);
    Env env;
    env.fault.Arm(FaultInjectingFileSystem::Fault::kEnospc, n);
    auto r = env.Ingest();
    if (!env.fault.fired()) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      break;
    }
    ++faults;
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
    EXPECT_EQ(env.catalog->ListVersions("t")->size(), 0u);
    env.fault.Arm(FaultInjectingFileSystem::Fault::kNone, 0);
    // Nothing half-written is left for anyone to trip over.
    EXPECT_EQ(*env.store->blobs().RemoveTempFiles(), 0u) << n;
    ASSERT_TRUE(env.Ingest().ok());
  }
  EXPECT_GT(faults, 10);
}

TEST(IngestFaultTest, WideningRestartDiscardsTheFirstAttempt) {
  Env env;
  std::string csv = Csv(2500) + "oops,1,k1\n";
  ASSERT_TRUE(AtomicWriteFile(env.mem, "/in/t.csv", csv).ok());
  auto r = env.Ingest();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto m = env.store->LoadManifest(r->record);
  EXPECT_EQ(m->schema.field(0).type, data::DataType::kString);
  EXPECT_EQ(m->rows, 2501u);
  // The first attempt's chunks were only staged, never published: nothing to collect.
  auto gc = env.store->CollectGarbage();
  EXPECT_EQ(gc->removed_objects, 0u);
  EXPECT_EQ(gc->removed_temp_files, 0u);
  EXPECT_TRUE(env.store->Verify(true)->problems.empty());
}

}  // namespace
}  // namespace kiln::pipeline
