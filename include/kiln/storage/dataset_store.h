// DatasetStore: immutable, versioned datasets in a kiln home — the commit protocol, reads with
// checksum verification, deletion, garbage collection and a consistency check.
//
// Commit protocol (crash-safe at every instant): chunks and the manifest are written as blobs
// (temp file + fsync, rename + fsync dir), then one catalog transaction records the version.
// Writers hold a shared lock on `<home>/lock` from their first blob to their commit; GC holds it
// exclusively, so it never deletes the blobs of an ingest in flight.
//
//   auto writer = store.BeginVersion({.name = "churn", .schema = schema});
//   writer->Append(chunk, ctx);  ...
//   KILN_ASSIGN_OR_RETURN(VersionRecord v, writer->Commit(profiles, dictionaries));
//
// Thread-safety: DatasetStore is thread-safe; a VersionWriter is driven by one thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/base/file_lock.h"
#include "kiln/base/file_system.h"
#include "kiln/base/limits.h"
#include "kiln/base/names.h"
#include "kiln/storage/blob_store.h"
#include "kiln/storage/catalog.h"
#include "kiln/storage/manifest.h"

namespace kiln::storage {

struct NewVersionOptions {
  std::string name;
  data::Schema schema;
  std::string message;
  SourceInfo source;
  // Append: the new version starts with every row (and chunk) of this version.
  std::optional<VersionRecord> append_to;
  int zstd_level = 3;
};

class VersionWriter {
 public:
  ~VersionWriter();
  VersionWriter(const VersionWriter&) = delete;
  VersionWriter& operator=(const VersionWriter&) = delete;

  // Encodes and stages one chunk (columns in parallel through `ctx`).
  Status Append(const data::Dataset& chunk, const ExecContext& ctx);
  // The two halves of Append, for callers that encode columns as they produce them:
  // StageColumn (thread-safe) encodes and stages one column chunk; AddRowGroup records a row
  // group from one staged chunk per column, in schema order.
  Result<ChunkRef> StageColumn(const data::Column& column);
  Status AddRowGroup(uint64_t rows, std::vector<ChunkRef> chunks);
  // Reads back a staged or inherited chunk (validation before commit).
  Result<data::Column> ReadChunk(size_t row_group, size_t column);
  const Manifest& manifest() const { return manifest_; }
  void set_source(SourceInfo source) { manifest_.source = std::move(source); }
  // Publishes the blobs and records the version. Dictionaries must extend the parent's.
  Result<VersionRecord> Commit(std::vector<data::ColumnProfile> profiles,
                               std::vector<data::Dictionary> dictionaries);
  // Drops everything staged; nothing becomes visible.
  void Abort();

 private:
  friend class DatasetStore;
  VersionWriter(class DatasetStore* store, std::unique_ptr<FileLock> lock, Manifest manifest,
                int zstd_level);

  DatasetStore* store_;
  std::unique_ptr<FileLock> lock_;
  Manifest manifest_;
  int zstd_level_;
  BlobStore::Batch batch_;
  bool done_ = false;
};

struct GcReport {
  uint64_t live_objects = 0;
  uint64_t removed_objects = 0;
  uint64_t removed_temp_files = 0;
};

struct VerifyReport {
  uint64_t versions = 0;
  uint64_t objects_checked = 0;
  std::vector<std::string> problems;  // empty = consistent
};

class DatasetStore {
 public:
  struct Options {
    bool lock_home = true;  // inter-process lock file; off for in-memory test file systems
    Limits limits;
  };
  DatasetStore(FileSystem* fs, std::string home, DatasetCatalog* catalog, Options options);
  Status Init();

  Result<std::unique_ptr<VersionWriter>> BeginVersion(NewVersionOptions options);
  Result<VersionRecord> Resolve(const DatasetRef& ref);
  Result<Manifest> LoadManifest(const VersionRecord& record);
  Result<data::Column> ReadChunk(const Manifest& m, size_t row_group, size_t column);
  // All rows of the given columns (all columns if empty), concatenated.
  Result<data::Dataset> ReadAll(const Manifest& m, const std::vector<size_t>& columns);
  Status Remove(const std::string& name, int64_t version);
  Result<GcReport> CollectGarbage();
  // Every live version's manifest and chunks read and checked; `deep` also re-hashes objects.
  Result<VerifyReport> Verify(bool deep);

  DatasetCatalog& catalog() { return *catalog_; }
  BlobStore& blobs() { return blobs_; }
  const Limits& limits() const { return options_.limits; }
  // The home lock: shared while objects are published and recorded in the catalog (GC holds it
  // exclusively), so an object is never collected between its write and its record.
  Result<std::unique_ptr<FileLock>> Lock(LockMode mode);

 private:
  friend class VersionWriter;
  Result<data::Column> DecodeRef(std::string_view blob, const Manifest& m, size_t rg, size_t col);

  FileSystem* fs_;
  std::string home_;
  DatasetCatalog* catalog_;
  Options options_;
  BlobStore blobs_;
};

}  // namespace kiln::storage
