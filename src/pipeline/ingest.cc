#include "kiln/pipeline/ingest.h"

#include <fmt/format.h>

#include "kiln/base/clock.h"
#include "kiln/base/hash.h"
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

namespace {

// A check against a rules file, for the catalog: its hash, how many outcomes, which failed.
registry::ValidationRecord CheckRecord(const std::string& name, int64_t version,
                                       const std::string& rules_text,
                                       const data::ValidationReport& report) {
  registry::ValidationRecord v;
  v.name = name;
  v.version = version;
  v.rules_hash = Sha256Hex(rules_text);
  v.checks = static_cast<int64_t>(report.outcomes.size());
  v.passed = report.passed();
  for (const auto& o : report.outcomes) {
    if (o.passed) continue;
    if (!v.failed.empty()) v.failed += "; ";
    v.failed += o.column.empty() ? o.rule : fmt::format("{} {}", o.column, o.rule);
  }
  return v;
}

}  // namespace

Result<ValidateResult> ValidateVersion(Home& home, const ValidateOptions& o) {
  if (o.rules.empty() == o.against.empty()) {
    return InvalidArgumentError("validate needs exactly one of --rules FILE or --against NAME@vN");
  }
  auto load =
      [&](const std::string& text) -> Result<std::pair<storage::VersionRecord, storage::Manifest>> {
    KILN_ASSIGN_OR_RETURN(DatasetRef ref, ParseDatasetRef(text));
    KILN_ASSIGN_OR_RETURN(storage::VersionRecord record, home.datasets().Resolve(ref));
    KILN_ASSIGN_OR_RETURN(storage::Manifest manifest, home.datasets().LoadManifest(record));
    return std::pair{std::move(record), std::move(manifest)};
  };
  KILN_ASSIGN_OR_RETURN(auto version, load(o.ref));
  const data::DatasetSummary summary = Summarize(version.first, version.second);
  std::optional<data::DatasetSummary> reference;
  data::Rules rules;
  std::string rules_text;
  if (!o.rules.empty()) {
    KILN_ASSIGN_OR_RETURN(rules_text,
                          home.fs().ReadFile(o.rules, Limits::Default().max_config_bytes));
    KILN_ASSIGN_OR_RETURN(rules, ingest::LoadRulesFile(home.fs(), o.rules, Limits::Default()));
  } else {
    KILN_ASSIGN_OR_RETURN(auto against, load(o.against));
    reference = Summarize(against.first, against.second);
    rules = data::InferRules(*reference);
  }
  auto duplicates = [&](size_t col) -> Result<uint64_t> {
    KILN_ASSIGN_OR_RETURN(data::Dataset d, home.datasets().ReadAll(version.second, {col}));
    return data::CountDuplicates({&d.columns[0]});
  };
  ValidateResult out;
  out.label = summary.label;
  out.report = data::Validate(summary, rules, reference ? &*reference : nullptr, duplicates);
  if (!o.rules.empty()) {
    KILN_RETURN_IF_ERROR(home.catalog()
                             .RecordValidation(CheckRecord(
                                 version.first.name, version.first.version, rules_text, out.report))
                             .status());
  }
  return out;
}

Result<std::string> RequireValidated(Home& home, const std::string& label) {
  if (!home.config().train_require_validated) return std::string();
  const std::optional<DatasetRef> ref = AsDatasetRef(label);
  if (!ref || ref->version == 0) {
    return FailedPreconditionError(fmt::format(
        "train.require_validated: '{}' is not a dataset version; ingest it with --rules first",
        Printable(label)));
  }
  KILN_ASSIGN_OR_RETURN(auto checks,
                        home.catalog().Validations(std::string(ref->name), ref->version));
  if (checks.empty() || !checks.back().passed) {
    return FailedPreconditionError(fmt::format(
        "train.require_validated: {} has {} (kiln data validate {} --rules RULES.yaml)", label,
        checks.empty() ? "never been checked against its rules"
                       : "failed its latest check: " + checks.back().failed,
        label));
  }
  const auto& c = checks.back();
  return fmt::format("rules sha256:{} ({} checks) passed at {}", c.rules_hash.substr(0, 16),
                     c.checks, c.at_ms);
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
  std::string rules_text;
  if (!o.rules.empty()) {
    KILN_ASSIGN_OR_RETURN(rules_text,
                          home.fs().ReadFile(o.rules, Limits::Default().max_config_bytes));
    KILN_ASSIGN_OR_RETURN(req.rules, ingest::LoadRulesFile(home.fs(), o.rules, Limits::Default()));
  }
  KILN_ASSIGN_OR_RETURN(IngestResult result,
                        IngestFile(home.fs(), home.datasets(), req, ctx, report));
  // A version committed because it passed its rules: the check recorded for its trainings. A
  // crash before this leaves the version unchecked (train.require_validated refuses it).
  if (result.report) {
    KILN_RETURN_IF_ERROR(
        home.catalog()
            .RecordValidation(
                CheckRecord(result.record.name, result.record.version, rules_text, *result.report))
            .status());
  }
  return result;
}

}  // namespace kiln::pipeline
