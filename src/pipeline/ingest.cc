#include "kiln/pipeline/ingest.h"

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/base/thread_pool.h"
#include "kiln/data/profile.h"
#include "kiln/ingest/config.h"

namespace kiln::pipeline {

using storage::DatasetStore;
using storage::VersionWriter;

data::DatasetSummary Summarize(const storage::VersionRecord& rec, const storage::Manifest& m) {
  return {fmt::format("{}@v{}", rec.name, rec.version), m.schema, static_cast<int64_t>(m.rows),
          m.profiles};
}

namespace {

// zstd level 1: close to level 3's ratio on tabular chunks at a fraction of the CPU time
// (docs/benchmarks.md).
constexpr int kZstdLevel = 1;

std::string BaseName(const std::string& path) {
  size_t pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

Status FeedParent(DatasetStore& store, const storage::Manifest& parent,
                  std::vector<data::ProfileBuilder>& builders, const ExecContext& ctx) {
  for (size_t rg = 0; rg < parent.row_groups.size(); ++rg) {
    KILN_RETURN_IF_ERROR(ParallelFor(ctx, builders.size(), [&](size_t c) -> Status {
      KILN_ASSIGN_OR_RETURN(data::Column col, store.ReadChunk(parent, rg, c));
      builders[c].Add(col);
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

Status CheckRules(const IngestRequest& req, VersionWriter& writer,
                  const std::vector<data::ColumnProfile>& profiles,
                  data::ValidationReport* report_out) {
  const storage::Manifest& m = writer.manifest();
  data::DatasetSummary summary{fmt::format("{} (uncommitted)", req.name), m.schema,
                               static_cast<int64_t>(m.rows), profiles};
  auto duplicates = [&](size_t col) -> Result<uint64_t> {
    std::vector<data::Column> chunks;
    for (size_t rg = 0; rg < m.row_groups.size(); ++rg) {
      KILN_ASSIGN_OR_RETURN(data::Column c, writer.ReadChunk(rg, col));
      chunks.push_back(std::move(c));
    }
    std::vector<const data::Column*> ptrs;
    for (const auto& c : chunks) ptrs.push_back(&c);
    return data::CountDuplicates(ptrs);
  };
  data::ValidationReport report = data::Validate(summary, *req.rules, nullptr, duplicates);
  if (report_out) *report_out = report;
  if (report.passed()) return Status::Ok();
  std::string first;
  for (const auto& o : report.outcomes) {
    if (!o.passed) {
      first = fmt::format("{} {}: {}", o.column, o.rule, o.detail);
      break;
    }
  }
  return FailedPreconditionError(fmt::format(
      "{} validation rule(s) failed, nothing committed (first: {})", report.failures(), first));
}

}  // namespace

Result<IngestResult> IngestFile(FileSystem& fs, DatasetStore& store, const IngestRequest& req,
                                const ExecContext& ctx, data::ValidationReport* report) {
  KILN_RETURN_IF_ERROR(ValidateName(req.name, "dataset name"));
  ingest::ReadOptions read = req.read;
  std::optional<storage::VersionRecord> parent_rec;
  std::optional<storage::Manifest> parent;
  if (req.append) {
    KILN_ASSIGN_OR_RETURN(parent_rec, store.Resolve({req.name, 0}));
    KILN_ASSIGN_OR_RETURN(parent, store.LoadManifest(*parent_rec));
    read.fixed_schema = parent->schema;
    read.initial_dictionaries = parent->dictionaries;
    read.overrides.clear();
  }
  KILN_ASSIGN_OR_RETURN(auto reader, ingest::TableReader::Open(fs, req.path, read, ctx));
  while (true) {
    KILN_ASSIGN_OR_RETURN(
        auto writer,
        store.BeginVersion({req.name, reader->schema(), req.message, {}, parent_rec, kZstdLevel}));
    std::vector<data::ProfileBuilder> builders;
    for (const auto& f : reader->schema().fields()) builders.emplace_back(f.type);
    if (parent) KILN_RETURN_IF_ERROR(FeedParent(store, *parent, builders, ctx));
    data::Dataset chunk;
    uint64_t rows = 0;
    ingest::ReadEvent ev;
    std::vector<storage::ChunkRef> refs(builders.size());
    // Profile, encode, checksum and stage each column on the thread that converted it.
    const ingest::ColumnSink sink = [&](size_t c, const data::Column& values) -> Status {
      builders[c].Add(values);
      KILN_ASSIGN_OR_RETURN(refs[c], writer->StageColumn(values));
      return Status::Ok();
    };
    while (true) {
      KILN_ASSIGN_OR_RETURN(ev, reader->Next(&chunk, sink));
      if (ev != ingest::ReadEvent::kChunk) break;
      KILN_RETURN_IF_ERROR(writer->AddRowGroup(chunk.num_rows(), refs));
      rows += chunk.num_rows();
      if (req.progress) req.progress(rows, reader->source_bytes());
    }
    if (ev == ingest::ReadEvent::kRestart) {
      writer->Abort();
      continue;
    }
    writer->set_source({BaseName(req.path), reader->source_sha256(), reader->source_bytes(),
                        std::string(ingest::FormatName(reader->format()))});
    std::vector<data::ColumnProfile> profiles;
    for (const auto& b : builders) profiles.push_back(b.Finish());
    std::vector<data::Dictionary> dictionaries;
    for (const auto& d : reader->dictionaries())
      dictionaries.push_back(d ? *d : data::Dictionary{});
    IngestResult result;
    if (req.rules) {
      data::ValidationReport r;
      Status checked = CheckRules(req, *writer, profiles, &r);
      if (report) *report = r;
      KILN_RETURN_IF_ERROR(checked);
      result.report = r;
    }
    KILN_ASSIGN_OR_RETURN(result.record,
                          writer->Commit(std::move(profiles), std::move(dictionaries)));
    result.source_bytes = reader->source_bytes();
    return result;
  }
}

Result<IngestResult> Ingest(Home& home, const IngestOptions& o, const ExecContext& ctx,
                            data::ValidationReport* report) {
  IngestRequest req;
  req.path = o.file;
  req.name = o.name;
  req.message = o.message;
  req.append = o.append;
  req.progress = o.progress;
  if (o.format == "csv") {
    req.read.format = ingest::Format::kCsv;
  } else if (o.format == "jsonl") {
    req.read.format = ingest::Format::kJsonLines;
  } else if (!o.format.empty()) {
    return InvalidArgumentError(
        fmt::format("--format must be csv or jsonl, not '{}'", Printable(o.format)));
  }
  if (o.delimiter == "\\t" || o.delimiter == "tab") {
    req.read.delimiter = '\t';
  } else if (o.delimiter.size() == 1) {
    req.read.delimiter = o.delimiter[0];
  } else if (!o.delimiter.empty()) {
    return InvalidArgumentError("--delimiter must be one character (or 'tab')");
  }
  req.read.header = o.header;
  if (!o.schema.empty()) {
    KILN_ASSIGN_OR_RETURN(req.read.overrides,
                          ingest::LoadSchemaFile(home.fs(), o.schema, Limits::Default()));
  }
  if (!o.rules.empty()) {
    KILN_ASSIGN_OR_RETURN(req.rules, ingest::LoadRulesFile(home.fs(), o.rules, Limits::Default()));
  }
  return IngestFile(home.fs(), home.datasets(), req, ctx, report);
}

}  // namespace kiln::pipeline
