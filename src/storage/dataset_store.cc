#include "kiln/storage/dataset_store.h"

#include <chrono>
#include <ctime>
#include <set>

#include <fmt/format.h>

#include "kiln/base/clock.h"
#include "kiln/base/hash.h"
#include "kiln/base/thread_pool.h"
#include "kiln/storage/chunk_codec.h"

namespace kiln::storage {

namespace {

std::string NowIso() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool SameColumns(const data::Schema& a, const data::Schema& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a.field(i).name != b.field(i).name || a.field(i).type != b.field(i).type) return false;
  }
  return true;
}

}  // namespace

// ---- VersionWriter ---------------------------------------------------------------------------

VersionWriter::VersionWriter(DatasetStore* store, std::unique_ptr<FileLock> lock, Manifest manifest,
                             int zstd_level)
    : store_(store),
      lock_(std::move(lock)),
      manifest_(std::move(manifest)),
      zstd_level_(zstd_level),
      batch_(&store->blobs_) {}

VersionWriter::~VersionWriter() {
  if (!done_) Abort();
}

Status VersionWriter::Append(const data::Dataset& chunk, const ExecContext& ctx) {
  if (done_) return FailedPreconditionError("version writer already finished");
  if (!SameColumns(chunk.schema, manifest_.schema)) {
    return InvalidArgumentError("chunk schema differs from the version's schema");
  }
  std::vector<ChunkRef> refs(chunk.columns.size());
  KILN_RETURN_IF_ERROR(ParallelFor(ctx, chunk.columns.size(), [&](size_t c) -> Status {
    if (chunk.columns[c].size() != chunk.num_rows()) return InvalidArgumentError("ragged chunk");
    KILN_ASSIGN_OR_RETURN(refs[c], StageColumn(chunk.columns[c]));
    return Status::Ok();
  }));
  return AddRowGroup(chunk.num_rows(), std::move(refs));
}

Result<ChunkRef> VersionWriter::StageColumn(const data::Column& column) {
  if (done_) return FailedPreconditionError("version writer already finished");
  KILN_ASSIGN_OR_RETURN(std::string blob, EncodeChunk(column, zstd_level_));
  KILN_ASSIGN_OR_RETURN(std::string hash, batch_.Add(blob));
  return ChunkRef{std::move(hash), TrailerChecksum(blob), blob.size()};
}

Status VersionWriter::AddRowGroup(uint64_t rows, std::vector<ChunkRef> chunks) {
  if (done_) return FailedPreconditionError("version writer already finished");
  if (chunks.size() != manifest_.schema.size()) {
    return InvalidArgumentError("row group needs one chunk per column");
  }
  if (rows == 0 || rows > store_->limits().max_chunk_rows) {
    return InvalidArgumentError("row group size out of range");
  }
  manifest_.rows += rows;
  manifest_.row_groups.push_back({rows, std::move(chunks)});
  return Status::Ok();
}

Result<data::Column> VersionWriter::ReadChunk(size_t row_group, size_t column) {
  if (row_group >= manifest_.row_groups.size() || column >= manifest_.schema.size()) {
    return OutOfRangeError("no such chunk");
  }
  const ChunkRef& ref = manifest_.row_groups[row_group].chunks[column];
  KILN_ASSIGN_OR_RETURN(std::string blob, batch_.Read(ref.hash, store_->limits().max_chunk_bytes));
  return store_->DecodeRef(blob, manifest_, row_group, column);
}

Result<VersionRecord> VersionWriter::Commit(std::vector<data::ColumnProfile> profiles,
                                            std::vector<data::Dictionary> dictionaries) {
  if (done_) return FailedPreconditionError("version writer already finished");
  const size_t cols = manifest_.schema.size();
  if (profiles.size() != cols || dictionaries.size() != cols) {
    return InvalidArgumentError("profiles/dictionaries do not match the schema");
  }
  for (size_t c = 0; c < cols && !manifest_.dictionaries.empty(); ++c) {
    const auto& old = manifest_.dictionaries[c];
    if (dictionaries[c].size() < old.size() ||
        !std::equal(old.begin(), old.end(), dictionaries[c].begin())) {
      return InvalidArgumentError(
          fmt::format("dictionary of column '{}' does not extend the "
                      "parent's",
                      manifest_.schema.field(c).name));
    }
  }
  manifest_.profiles = std::move(profiles);
  manifest_.dictionaries = std::move(dictionaries);
  manifest_.content_hash = ComputeContentHash(manifest_);
  KILN_ASSIGN_OR_RETURN(std::string manifest_hash, batch_.Add(EncodeManifest(manifest_)));
  KILN_RETURN_IF_ERROR(batch_.Publish());
  VersionRecord rec;
  rec.name = manifest_.name;
  rec.manifest = manifest_hash;
  rec.content_hash = manifest_.content_hash;
  rec.rows = static_cast<int64_t>(manifest_.rows);
  rec.parent = manifest_.parent;
  rec.message = manifest_.message;
  rec.created_at_ms = UnixMillis();
  KILN_ASSIGN_OR_RETURN(VersionRecord stored, store_->catalog_->CommitVersion(rec));
  done_ = true;
  lock_.reset();
  return stored;
}

void VersionWriter::Abort() {
  batch_.Abandon();
  done_ = true;
  lock_.reset();
}

// ---- DatasetStore ----------------------------------------------------------------------------

DatasetStore::DatasetStore(FileSystem* fs, std::string home, DatasetCatalog* catalog,
                           Options options)
    : fs_(fs),
      home_(std::move(home)),
      catalog_(catalog),
      options_(std::move(options)),
      blobs_(fs, JoinPath(home_, "objects")) {}

Status DatasetStore::Init() {
  KILN_RETURN_IF_ERROR(fs_->CreateDirs(home_));
  return blobs_.Init();
}

Result<std::unique_ptr<FileLock>> DatasetStore::Lock(LockMode mode) {
  if (!options_.lock_home) return std::unique_ptr<FileLock>();
  return FileLock::Acquire(JoinPath(home_, "lock"), mode);
}

Result<std::unique_ptr<VersionWriter>> DatasetStore::BeginVersion(NewVersionOptions o) {
  KILN_RETURN_IF_ERROR(ValidateName(o.name, "dataset name", options_.limits));
  // Lock first: from here until Commit/Abort no GC can run, so every object that a live
  // version references now (e.g. the parent's chunks we are about to share) stays on disk.
  KILN_ASSIGN_OR_RETURN(auto lock, Lock(LockMode::kShared));
  Manifest m;
  m.name = o.name;
  m.schema = o.schema;
  m.message = o.message;
  m.source = o.source;
  m.created_at = NowIso();
  if (o.append_to) {
    auto live = catalog_->GetVersion(o.name, o.append_to->version);
    if (!live.ok()) {
      return FailedPreconditionError(
          fmt::format("cannot append: {}@v{} was deleted", o.name, o.append_to->version));
    }
    KILN_ASSIGN_OR_RETURN(Manifest parent, LoadManifest(*live));
    if (!SameColumns(parent.schema, o.schema)) {
      return InvalidArgumentError(
          fmt::format("cannot append: columns differ from {}@v{}", o.name, o.append_to->version));
    }
    m.parent = o.append_to->version;
    m.rows = parent.rows;
    m.row_groups = std::move(parent.row_groups);
    m.dictionaries = std::move(parent.dictionaries);
  } else {
    auto newest = catalog_->GetVersion(o.name, 0);
    if (newest.ok()) {
      m.parent = newest->version;
    } else if (newest.status().code() != StatusCode::kNotFound) {
      return newest.status();
    }
  }
  return std::unique_ptr<VersionWriter>(
      new VersionWriter(this, std::move(lock), std::move(m), o.zstd_level));
}

Result<VersionRecord> DatasetStore::Resolve(const DatasetRef& ref) {
  auto r = catalog_->GetVersion(std::string(ref.name), ref.version);
  if (!r.ok() && r.status().code() == StatusCode::kNotFound) {
    return ref.version == 0 ? NotFoundError(fmt::format("dataset '{}' not found", ref.name))
                            : NotFoundError(fmt::format("dataset '{}' has no version {}", ref.name,
                                                        ref.version));
  }
  return r;
}

Result<Manifest> DatasetStore::LoadManifest(const VersionRecord& rec) {
  KILN_ASSIGN_OR_RETURN(std::string blob,
                        blobs_.Read(rec.manifest, options_.limits.max_manifest_bytes));
  KILN_ASSIGN_OR_RETURN(Manifest m, DecodeManifest(blob, rec.manifest, options_.limits));
  if (m.name != rec.name || m.content_hash != rec.content_hash) {
    return DataLossError(fmt::format("object {}: manifest does not match catalog record {}@v{}",
                                     rec.manifest, rec.name, rec.version));
  }
  return m;
}

Result<data::Column> DatasetStore::DecodeRef(std::string_view blob, const Manifest& m, size_t rg,
                                             size_t col) {
  const ChunkRef& ref = m.row_groups[rg].chunks[col];
  if (TrailerChecksum(blob) != ref.xxh3 || blob.size() != ref.bytes) {
    return DataLossError(fmt::format("object {}: does not match its manifest checksum", ref.hash));
  }
  const data::Field& f = m.schema.field(col);
  const auto& dict = col < m.dictionaries.size() ? m.dictionaries[col] : data::Dictionary{};
  ChunkExpectation expect{f.type, m.row_groups[rg].rows, dict.size()};
  KILN_ASSIGN_OR_RETURN(data::Column c, DecodeChunk(blob, expect, ref.hash, options_.limits));
  if (f.type == data::DataType::kCategorical) {
    c.set_dictionary(std::make_shared<const data::Dictionary>(dict));
  }
  return c;
}

Result<data::Column> DatasetStore::ReadChunk(const Manifest& m, size_t row_group, size_t column) {
  if (row_group >= m.row_groups.size() || column >= m.schema.size()) {
    return OutOfRangeError("no such chunk");
  }
  const ChunkRef& ref = m.row_groups[row_group].chunks[column];
  KILN_ASSIGN_OR_RETURN(std::string blob, blobs_.Read(ref.hash, options_.limits.max_chunk_bytes));
  return DecodeRef(blob, m, row_group, column);
}

Result<data::Dataset> DatasetStore::ReadAll(const Manifest& m, const std::vector<size_t>& columns) {
  std::vector<size_t> cols = columns;
  if (cols.empty()) {
    for (size_t c = 0; c < m.schema.size(); ++c) cols.push_back(c);
  }
  data::Dataset out;
  std::vector<data::Field> fields;
  for (size_t c : cols) {
    if (c >= m.schema.size()) return OutOfRangeError("no such column");
    fields.push_back(m.schema.field(c));
    out.columns.emplace_back(m.schema.field(c).type);
  }
  KILN_ASSIGN_OR_RETURN(out.schema, data::Schema::Make(std::move(fields)));
  for (size_t rg = 0; rg < m.row_groups.size(); ++rg) {
    for (size_t i = 0; i < cols.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(data::Column c, ReadChunk(m, rg, cols[i]));
      out.columns[i].AppendColumn(c);
    }
  }
  return out;
}

Status DatasetStore::Remove(const std::string& name, int64_t version) {
  KILN_RETURN_IF_ERROR(ValidateName(name, "dataset name", options_.limits));
  return catalog_->DeleteVersion(name, version);
}

Result<GcReport> DatasetStore::CollectGarbage() {
  KILN_ASSIGN_OR_RETURN(auto lock, Lock(LockMode::kExclusive));
  GcReport report;
  std::set<std::string> live;
  KILN_ASSIGN_OR_RETURN(auto manifests, catalog_->LiveManifests());
  for (const auto& mh : manifests) {
    KILN_ASSIGN_OR_RETURN(std::string blob, blobs_.Read(mh, options_.limits.max_manifest_bytes));
    // A live manifest that cannot be read stops GC: never delete what we cannot account for.
    KILN_ASSIGN_OR_RETURN(Manifest m, DecodeManifest(blob, mh, options_.limits));
    live.insert(mh);
    for (const auto& rg : m.row_groups) {
      for (const auto& c : rg.chunks) live.insert(c.hash);
    }
  }
  KILN_ASSIGN_OR_RETURN(auto artifacts, catalog_->LiveArtifacts());
  live.insert(artifacts.begin(), artifacts.end());
  KILN_ASSIGN_OR_RETURN(auto objects, blobs_.List());
  for (const auto& o : objects) {
    if (live.count(o)) continue;
    KILN_RETURN_IF_ERROR(blobs_.Remove(o));
    ++report.removed_objects;
  }
  report.live_objects = live.size();
  KILN_ASSIGN_OR_RETURN(report.removed_temp_files, blobs_.RemoveTempFiles());
  return report;
}

Result<VerifyReport> DatasetStore::Verify(bool deep) {
  VerifyReport report;
  KILN_ASSIGN_OR_RETURN(auto datasets, catalog_->ListDatasets());
  std::set<std::string> checked;
  for (const auto& d : datasets) {
    KILN_ASSIGN_OR_RETURN(auto versions, catalog_->ListVersions(d.name));
    for (const auto& v : versions) {
      ++report.versions;
      const std::string label = fmt::format("{}@v{}", v.name, v.version);
      auto m = LoadManifest(v);
      if (!m.ok()) {
        report.problems.push_back(fmt::format("{}: {}", label, m.status().message()));
        continue;
      }
      for (size_t rg = 0; rg < m->row_groups.size(); ++rg) {
        for (size_t c = 0; c < m->schema.size(); ++c) {
          const std::string& h = m->row_groups[rg].chunks[c].hash;
          if (!checked.insert(h).second) continue;
          ++report.objects_checked;
          auto blob = blobs_.Read(h, options_.limits.max_chunk_bytes);
          Status s = blob.status();
          if (s.ok()) s = DecodeRef(*blob, *m, rg, c).status();
          if (s.ok() && deep && Sha256Hex(*blob) != h) {
            s = DataLossError(fmt::format("object {}: content does not match its name", h));
          }
          if (!s.ok()) report.problems.push_back(fmt::format("{}: {}", label, s.message()));
        }
      }
    }
  }
  return report;
}

}  // namespace kiln::storage
