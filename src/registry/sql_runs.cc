// SqlCatalog: runs, metric curves and the model registry (see catalog_store.h).
#include <cmath>
#include <cstring>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/registry/sql_catalog.h"
#include "kiln/storage/blob_store.h"
#include "registry/run_filter.h"
#include "registry/sql_audit.h"
#include "registry/sql_db.h"

namespace kiln::registry {

namespace {

constexpr size_t kMaxKeyBytes = 250;
constexpr size_t kMaxValueBytes = 64 * 1024;
constexpr size_t kMaxCurvePoints = 10'000'000;

Status CheckKeys(const char* what, const auto& map) {
  for (const auto& [k, v] : map) {
    if (k.empty() || k.size() > kMaxKeyBytes) {
      return InvalidArgumentError(fmt::format("{} key must be 1..{} bytes", what, kMaxKeyBytes));
    }
    if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>) {
      if (v.size() > kMaxValueBytes) {
        return InvalidArgumentError(fmt::format("{} '{}': value longer than {} bytes", what,
                                                k.substr(0, 64), kMaxValueBytes));
      }
    }
  }
  return Status::Ok();
}

Status CheckRunId(const std::string& id) {
  if (!IsRunId(id)) {
    return InvalidArgumentError(
        fmt::format("'{}' is not a run id (32 hex digits)", id.substr(0, 64)));
  }
  return Status::Ok();
}

// A parameter's numeric value when its text is a number (for numeric filters and ordering).
std::optional<double> AsNumber(const std::string& v) {
  if (v.empty() || v.size() > 64) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (end != v.c_str() + v.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

constexpr const char* kRunColumns =
    "r.seq, r.id, r.experiment, r.name, r.status, r.start_ms, r.end_ms, r.train_data, "
    "r.train_hash, r.valid_data, r.valid_hash, r.artifact, r.kiln_version, r.build_commit, "
    "r.host, r.parent_id, r.cpu_seconds, r.peak_rss_bytes";

RunRecord ReadRun(Stmt& s, int64_t* seq) {
  RunRecord r;
  *seq = s.Int(0);
  r.id = s.Text(1);
  r.experiment = s.Text(2);
  r.name = s.Text(3);
  auto status = ParseRunStatus(s.Text(4));
  r.status = status.ok() ? *status : RunStatus::kFailed;
  r.start_ms = s.Int(5);
  r.end_ms = s.Int(6);
  RunAttributes& a = r.attributes;
  a.train_data = s.Text(7);
  a.train_hash = s.Text(8);
  a.valid_data = s.Text(9);
  a.valid_hash = s.Text(10);
  a.artifact = s.Text(11);
  a.kiln_version = s.Text(12);
  a.build_commit = s.Text(13);
  a.host = s.Text(14);
  a.parent_id = s.Text(15);
  a.cpu_seconds = s.Double(16);
  a.peak_rss_bytes = s.Int(17);
  return r;
}

Status InsertKeyValues(SqlDb* db, const char* table, int64_t seq,
                       const std::map<std::string, std::string>& kv) {
  const std::string sql = fmt::format(
      "INSERT INTO {}(run_seq, key, value) VALUES (?1, ?2, ?3) ON CONFLICT(run_seq, "
      "key) DO UPDATE SET value = excluded.value",
      table);
  for (const auto& [k, v] : kv) {
    Stmt s(db, sql);
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, seq).Bind(2, k).Bind(3, v);
    KILN_RETURN_IF_ERROR(s.Step().status());
  }
  return Status::Ok();
}

Result<int64_t> RunSeq(SqlDb* db, const std::string& id) {
  Stmt s(db, "SELECT seq FROM runs WHERE id = ?1");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, id);
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFoundError(fmt::format("run {} not found", id));
  return s.Int(0);
}

}  // namespace

Result<RunRecord> SqlCatalog::CreateRun(const RunRecord& run) {
  RunRecord out = run;
  if (out.id.empty()) out.id = NewRunId();
  if (out.start_ms == 0) out.start_ms = NowMs();
  if (out.experiment.empty()) out.experiment = "default";
  out.status = RunStatus::kRunning;
  out.end_ms = 0;
  KILN_RETURN_IF_ERROR(CheckRunId(out.id));
  KILN_RETURN_IF_ERROR(ValidateName(out.experiment, "experiment name"));
  if (!out.attributes.parent_id.empty()) KILN_RETURN_IF_ERROR(CheckRunId(out.attributes.parent_id));
  if (out.name.size() > kMaxKeyBytes) return InvalidArgumentError("run name too long");
  KILN_RETURN_IF_ERROR(CheckKeys("param", out.params));
  KILN_RETURN_IF_ERROR(CheckKeys("tag", out.tags));
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
    // The lineage is fixed here; FinishRun adds only what the job produced.
    const RunAttributes& a = out.attributes;
    Stmt s(db,
           "INSERT INTO runs(id, experiment, name, status, start_ms, train_data, train_hash, "
           "valid_data, valid_hash, kiln_version, build_commit, host, parent_id) VALUES (?1, ?2, "
           "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT(id) DO NOTHING "
           "RETURNING seq");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, out.id).Bind(2, out.experiment).BindOptional(3, out.name);
    s.Bind(4, std::string(RunStatusName(out.status))).Bind(5, out.start_ms);
    s.BindOptional(6, a.train_data).BindOptional(7, a.train_hash).BindOptional(8, a.valid_data);
    s.BindOptional(9, a.valid_hash).BindOptional(10, a.kiln_version);
    s.BindOptional(11, a.build_commit).BindOptional(12, a.host).BindOptional(13, a.parent_id);
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return AlreadyExistsError(fmt::format("run {} already exists", out.id));
    const int64_t seq = s.Int(0);
    KILN_RETURN_IF_ERROR(s.Step().status());
    for (const auto& [k, v] : out.params) {
      Stmt p(db, "INSERT INTO run_params(run_seq, key, value, num) VALUES (?1, ?2, ?3, ?4)");
      KILN_RETURN_IF_ERROR(p.ok());
      p.Bind(1, seq).Bind(2, k).Bind(3, v);
      if (auto num = AsNumber(v)) {
        p.Bind(4, *num);
      } else {
        p.BindNull(4);
      }
      KILN_RETURN_IF_ERROR(p.Step().status());
    }
    KILN_RETURN_IF_ERROR(InsertKeyValues(db, "run_tags", seq, out.tags));
    return RecordAudit(db, audit_key_, "run.start", out.id, "ok",
                       fmt::format("experiment {}", out.experiment));
  }));
  return out;
}

Status SqlCatalog::FinishRun(const std::string& id, RunStatus status,
                             const std::map<std::string, double>& metrics,
                             std::span<const Curve> curves, const RunAttributes& attributes) {
  KILN_RETURN_IF_ERROR(CheckRunId(id));
  if (status == RunStatus::kRunning)
    return InvalidArgumentError("a run ends as finished, failed or killed");
  KILN_RETURN_IF_ERROR(CheckKeys("metric", metrics));
  if (!attributes.artifact.empty() && !storage::IsObjectName(attributes.artifact)) {
    return InvalidArgumentError("artifact must be an object name");
  }
  for (const auto& c : curves) {
    if (c.key.empty() || c.key.size() > kMaxKeyBytes || c.steps.size() != c.values.size() ||
        c.steps.size() > kMaxCurvePoints) {
      return InvalidArgumentError(fmt::format("curve '{}': bad key or sizes", c.key.substr(0, 64)));
    }
  }
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  return Transaction(db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, id));
    Stmt s(db,
           "UPDATE runs SET status = ?2, end_ms = ?3, artifact = ?4, cpu_seconds = ?5, "
           "peak_rss_bytes = ?6 WHERE seq = ?1 AND status = 'running' RETURNING seq");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, seq).Bind(2, std::string(RunStatusName(status))).Bind(3, NowMs());
    s.BindOptional(4, attributes.artifact).Bind(5, attributes.cpu_seconds);
    s.Bind(6, attributes.peak_rss_bytes);
    KILN_ASSIGN_OR_RETURN(bool changed, s.Step());
    if (changed) KILN_RETURN_IF_ERROR(s.Step().status());
    if (!changed) {
      return FailedPreconditionError(fmt::format("run {} has already ended", id));
    }
    for (const auto& [k, v] : metrics) {
      Stmt m(db,
             "INSERT INTO run_metrics(run_seq, key, value) VALUES (?1, ?2, ?3) "
             "ON CONFLICT(run_seq, key) DO UPDATE SET value = excluded.value");
      KILN_RETURN_IF_ERROR(m.ok());
      m.Bind(1, seq).Bind(2, k).Bind(3, v);
      KILN_RETURN_IF_ERROR(m.Step().status());
    }
    // Curves: one row per key, steps and values as little-endian int64 / float64 arrays.
    for (const auto& c : curves) {
      Stmt m(db,
             "INSERT INTO run_curves(run_seq, key, steps, vals) VALUES (?1, ?2, ?3, ?4) ON "
             "CONFLICT(run_seq, key) DO UPDATE SET steps = excluded.steps, vals = excluded.vals");
      KILN_RETURN_IF_ERROR(m.ok());
      m.Bind(1, seq).Bind(2, c.key);
      m.BindBlob(3, c.steps.data(), c.steps.size() * sizeof(int64_t));
      m.BindBlob(4, c.values.data(), c.values.size() * sizeof(double));
      KILN_RETURN_IF_ERROR(m.Step().status());
    }
    return RecordAudit(db, audit_key_, "run.end", id, RunStatusName(status), "");
  });
}

Status SqlCatalog::SetRunTags(const std::string& id,
                              const std::map<std::string, std::string>& tags) {
  KILN_RETURN_IF_ERROR(CheckRunId(id));
  KILN_RETURN_IF_ERROR(CheckKeys("tag", tags));
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  return Transaction(db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, id));
    return InsertKeyValues(db, "run_tags", seq, tags);
  });
}

Status SqlCatalog::ReopenRun(const std::string& id) {
  KILN_RETURN_IF_ERROR(CheckRunId(id));
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  return Transaction(db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, id));
    Stmt s(db,
           "UPDATE runs SET status = 'running', end_ms = NULL WHERE seq = ?1 AND status = "
           "'killed' RETURNING seq");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, seq);
    KILN_ASSIGN_OR_RETURN(bool changed, s.Step());
    if (!changed) return FailedPreconditionError(fmt::format("run {} was not killed", id));
    KILN_RETURN_IF_ERROR(s.Step().status());
    return RecordAudit(db, audit_key_, "run.reopen", id, "ok", "resumed");
  });
}

Status SqlCatalog::LoadRunDetails(std::vector<std::pair<int64_t, RunRecord>>* runs) {
  // A few statements for the whole page instead of three per run: on PostgreSQL each statement
  // is a round trip.
  constexpr size_t kChunk = 500;
  SqlDb* db = db_.get();
  std::unordered_map<int64_t, RunRecord*> by_seq;
  for (auto& [seq, r] : *runs) by_seq[seq] = &r;
  for (size_t begin = 0; begin < runs->size(); begin += kChunk) {
    const size_t n = std::min(kChunk, runs->size() - begin);
    std::string list;
    for (size_t i = 0; i < n; ++i) list += fmt::format("{}?{}", i ? ", " : "", i + 1);
    enum class Part { kParams, kMetrics, kTags };
    for (Part part : {Part::kParams, Part::kMetrics, Part::kTags}) {
      const char* table = part == Part::kParams
                              ? "run_params"
                              : (part == Part::kMetrics ? "run_metrics" : "run_tags");
      Stmt s(db,
             fmt::format("SELECT run_seq, key, value FROM {} WHERE run_seq IN ({})", table, list));
      KILN_RETURN_IF_ERROR(s.ok());
      for (size_t i = 0; i < n; ++i) s.Bind(static_cast<int>(i + 1), (*runs)[begin + i].first);
      while (true) {
        KILN_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        RunRecord* r = by_seq.at(s.Int(0));
        if (part == Part::kMetrics) {
          r->metrics[s.Text(1)] = s.Double(2);
        } else {
          (part == Part::kParams ? r->params : r->tags)[s.Text(1)] = s.Text(2);
        }
      }
    }
  }
  return Status::Ok();
}

Result<std::vector<std::string>> SqlCatalog::FindRuns(const std::string& prefix,
                                                      const std::string& name, int64_t limit) {
  const bool hex = prefix.size() >= 4 && prefix.size() <= 32 &&
                   prefix.find_first_not_of("0123456789abcdef") == std::string::npos;
  MutexLock lock(&mu_);
  // The id range [prefix, prefix + "g") holds exactly the ids starting with the prefix.
  Stmt s(
      db_.get(),
      "SELECT id FROM runs WHERE (?1 <> '' AND id >= ?1 AND id < ?2) OR (?3 <> '' AND name = ?3) "
      "ORDER BY start_ms DESC LIMIT ?4");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, hex ? prefix : std::string()).Bind(2, hex ? prefix + "g" : std::string());
  s.Bind(3, name).Bind(4, limit);
  std::vector<std::string> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    out.push_back(s.Text(0));
  }
}

Result<RunRecord> SqlCatalog::GetRun(const std::string& id) {
  KILN_RETURN_IF_ERROR(CheckRunId(id));
  MutexLock lock(&mu_);
  const std::string sql = fmt::format("SELECT {} FROM runs r WHERE r.id = ?1", kRunColumns);
  Stmt s(db_.get(), sql);
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, id);
  KILN_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFoundError(fmt::format("run {} not found", id));
  std::vector<std::pair<int64_t, RunRecord>> rows(1);
  rows[0].second = ReadRun(s, &rows[0].first);
  KILN_RETURN_IF_ERROR(LoadRunDetails(&rows));
  return std::move(rows[0].second);
}

Result<std::vector<Curve>> SqlCatalog::GetCurves(const std::string& id, const std::string& key) {
  KILN_RETURN_IF_ERROR(CheckRunId(id));
  MutexLock lock(&mu_);
  KILN_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db_.get(), id));
  Stmt s(db_.get(),
         "SELECT key, steps, vals FROM run_curves WHERE run_seq = ?1 AND (?2 = '' OR key = ?2) "
         "ORDER BY key");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, seq).Bind(2, key);
  std::vector<Curve> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    Curve c;
    c.key = s.Text(0);
    const std::string_view steps = s.Blob(1), vals = s.Blob(2);
    if (steps.size() % 8 != 0 || vals.size() != steps.size()) {
      return DataLossError(fmt::format("run {} curve '{}': malformed", id, c.key));
    }
    c.steps.resize(steps.size() / 8);
    c.values.resize(vals.size() / 8);
    if (!steps.empty()) {
      std::memcpy(c.steps.data(), steps.data(), steps.size());
      std::memcpy(c.values.data(), vals.data(), vals.size());
    }
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<RunRecord>> SqlCatalog::SearchRuns(const RunQuery& query) {
  if (!query.experiment.empty()) KILN_RETURN_IF_ERROR(ValidateName(query.experiment, "experiment"));
  if (query.limit <= 0 || query.limit > 1'000'000) {
    return InvalidArgumentError("limit must be 1..1000000");
  }
  MutexLock lock(&mu_);
  KILN_ASSIGN_OR_RETURN(SqlFragment where, CompileRunFilter(query.filter, db_->dialect(), 3));
  KILN_ASSIGN_OR_RETURN(
      SqlFragment order,
      CompileRunOrder(query.order_by, db_->dialect(), 3 + static_cast<int>(where.args.size())));
  const std::string sql = fmt::format(
      "SELECT {} FROM runs r WHERE (?1 = '' OR r.experiment = ?1) AND {} ORDER BY {} LIMIT ?2",
      kRunColumns, where.sql, order.sql);
  Stmt s(db_.get(), sql);
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, query.experiment).Bind(2, query.limit);
  int i = 3;
  for (const auto* f : {&where, &order}) {
    for (const auto& v : f->args) {
      if (const auto* d = std::get_if<double>(&v)) {
        s.Bind(i++, *d);
      } else {
        s.Bind(i++, std::get<std::string>(v));
      }
    }
  }
  std::vector<std::pair<int64_t, RunRecord>> rows;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    int64_t seq = 0;
    RunRecord r = ReadRun(s, &seq);
    rows.emplace_back(seq, std::move(r));
  }
  KILN_RETURN_IF_ERROR(LoadRunDetails(&rows));
  std::vector<RunRecord> out;
  out.reserve(rows.size());
  for (auto& [seq, r] : rows) out.push_back(std::move(r));
  return out;
}

Status SqlCatalog::DeleteRun(const std::string& id) {
  KILN_RETURN_IF_ERROR(CheckRunId(id));
  MutexLock lock(&mu_);
  SqlDb* db = db_.get();
  return Transaction(db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(int64_t seq, RunSeq(db, id));
    Stmt used(db, "SELECT name, version FROM model_versions WHERE run_id = ?1 LIMIT 1");
    KILN_RETURN_IF_ERROR(used.ok());
    used.Bind(1, id);
    KILN_ASSIGN_OR_RETURN(bool row, used.Step());
    if (row) {
      return FailedPreconditionError(fmt::format("run {} is registered as model {} version {}", id,
                                                 used.Text(0), used.Int(1)));
    }
    Stmt s(db, "DELETE FROM runs WHERE seq = ?1");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, seq);
    KILN_RETURN_IF_ERROR(s.Step().status());
    return RecordAudit(db, audit_key_, "run.delete", id, "ok", "");
  });
}

}  // namespace kiln::registry
