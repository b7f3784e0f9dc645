// The catalog's job queue (registry/job_queue.h): jobs, attempts, logs and schedules in the
// catalog's own tables (migration 5), one transaction per state change. Writers serialize on
// the catalog's writer lock (SQLite's, or PostgreSQL's advisory lock); on PostgreSQL the
// candidate row is also taken FOR UPDATE SKIP LOCKED.
#include <fmt/format.h>

#include "kiln/base/mutex.h"
#include "kiln/base/names.h"
#include "kiln/registry/job_queue.h"
#include "kiln/registry/sql_catalog.h"
#include "registry/sql_audit.h"
#include "registry/sql_db.h"

namespace kiln::registry {

namespace {

constexpr const char* kJobColumns =
    "id, verb, payload, queue, COALESCE(idempotency_key, ''), max_attempts, schedule, state, "
    "attempts, created_ms, run_after_ms, worker, lease_expires_ms, cancel_requested, result, "
    "produced, error, end_ms";

JobRecord ReadJob(Stmt& s) {
  JobRecord j;
  j.id = s.Int(0);
  j.spec.verb = s.Text(1);
  j.spec.payload = s.Text(2);
  j.spec.queue = s.Text(3);
  j.spec.idempotency_key = s.Text(4);
  j.spec.max_attempts = static_cast<int>(s.Int(5));
  j.spec.schedule = s.Text(6);
  auto state = ParseJobState(s.Text(7));
  j.state = state.ok() ? *state : JobState::kFailed;
  j.attempts = static_cast<int>(s.Int(8));
  j.created_ms = s.Int(9);
  j.run_after_ms = s.Int(10);
  j.worker = s.Text(11);
  j.lease_expires_ms = s.Int(12);
  j.cancel_requested = s.Int(13) != 0;
  j.result = s.Text(14);
  j.produced = s.Text(15);
  j.error = s.Text(16);
  j.end_ms = s.Int(17);
  return j;
}

std::string Clip(std::string_view text, size_t max) {
  return std::string(text.substr(0, std::min(text.size(), max)));
}

class SqlJobQueue final : public JobQueue {
 public:
  SqlJobQueue(std::unique_ptr<SqlDb> db, std::string audit_key)
      : db_(std::move(db)), audit_key_(std::move(audit_key)) {}

  Result<JobRecord> Enqueue(const JobSpec& spec) override {
    KILN_RETURN_IF_ERROR(ValidateJobSpec(spec));
    MutexLock lock(&mu_);
    SqlDb* db = db_.get();
    int64_t id = 0;
    KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
      KILN_ASSIGN_OR_RETURN(id, InsertJob(db, spec, NowMs()));
      return Status::Ok();
    }));
    return GetLocked(id);
  }

  Result<std::optional<JobRecord>> Lease(const std::string& queue, const std::string& worker,
                                         int64_t lease_ms) override {
    MutexLock lock(&mu_);
    SqlDb* db = db_.get();
    int64_t leased = 0;
    KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
      const int64_t now = NowMs();
      // Candidates in order; an expired lease out of attempts is buried and the next one tried.
      for (int tries = 0; tries < 100 && leased == 0; ++tries) {
        Stmt s(db, fmt::format(
                       "SELECT id, state, attempts, max_attempts, worker FROM jobs "
                       "WHERE queue = ?1 AND ((state = 'queued' AND run_after_ms <= ?2) "
                       "OR (state = 'running' AND lease_expires_ms < ?2)) "
                       "ORDER BY id LIMIT 1{}",
                       db->dialect() == SqlDialect::kPostgres ? " FOR UPDATE SKIP LOCKED" : ""));
        KILN_RETURN_IF_ERROR(s.ok());
        s.Bind(1, queue).Bind(2, now);
        KILN_ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) return Status::Ok();
        const int64_t id = s.Int(0);
        const bool expired = s.Text(1) == "running";
        const int64_t attempts = s.Int(2), max_attempts = s.Int(3);
        const std::string holder = s.Text(4);
        KILN_RETURN_IF_ERROR(s.Step().status());
        if (expired) {
          const std::string error = fmt::format("lease expired (worker {})", holder);
          KILN_RETURN_IF_ERROR(EndAttempt(db, id, attempts, now, "lost", error));
          if (attempts >= max_attempts) {
            KILN_RETURN_IF_ERROR(SetFinal(db, id, JobState::kDead, now, error));
            continue;
          }
        }
        Stmt up(db,
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?2, "
                "lease_expires_ms = ?3 WHERE id = ?1");
        KILN_RETURN_IF_ERROR(up.ok());
        up.Bind(1, id).Bind(2, worker).Bind(3, now + lease_ms);
        KILN_RETURN_IF_ERROR(up.Step().status());
        Stmt at(db,
                "INSERT INTO job_attempts(job_id, number, worker, start_ms, end_ms, outcome, "
                "error) VALUES (?1, ?2, ?3, ?4, 0, '', '')");
        KILN_RETURN_IF_ERROR(at.ok());
        at.Bind(1, id).Bind(2, attempts + 1).Bind(3, worker).Bind(4, now);
        KILN_RETURN_IF_ERROR(at.Step().status());
        leased = id;
      }
      return Status::Ok();
    }));
    if (leased == 0) return std::optional<JobRecord>();
    KILN_ASSIGN_OR_RETURN(JobRecord j, GetLocked(leased));
    return std::optional<JobRecord>(std::move(j));
  }

  Result<bool> Heartbeat(int64_t id, const std::string& worker, int64_t lease_ms) override {
    MutexLock lock(&mu_);
    SqlDb* db = db_.get();
    bool cancel = false;
    KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
      Stmt s(db,
             "UPDATE jobs SET lease_expires_ms = ?3 WHERE id = ?1 AND state = 'running' AND "
             "worker = ?2 RETURNING cancel_requested");
      KILN_RETURN_IF_ERROR(s.ok());
      s.Bind(1, id).Bind(2, worker).Bind(3, NowMs() + lease_ms);
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return LeaseLost(id, worker);
      cancel = s.Int(0) != 0;
      return s.Step().status();
    }));
    return cancel;
  }

  Status Finish(int64_t id, const std::string& worker, const JobOutcome& o) override {
    if (o.state == JobState::kRunning) return InvalidArgumentError("a job cannot finish running");
    MutexLock lock(&mu_);
    SqlDb* db = db_.get();
    return Transaction(db, [&]() -> Status {
      Stmt s(db, "SELECT attempts FROM jobs WHERE id = ?1 AND state = 'running' AND worker = ?2");
      KILN_RETURN_IF_ERROR(s.ok());
      s.Bind(1, id).Bind(2, worker);
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return LeaseLost(id, worker);
      const int64_t attempt = s.Int(0);
      KILN_RETURN_IF_ERROR(s.Step().status());
      const int64_t now = NowMs();
      const std::string error = Clip(o.error, kMaxJobErrorBytes);
      Stmt up(db,
              "UPDATE jobs SET state = ?2, worker = '', lease_expires_ms = 0, result = ?3, "
              "produced = ?4, error = ?5, run_after_ms = ?6, end_ms = ?7 WHERE id = ?1");
      KILN_RETURN_IF_ERROR(up.ok());
      up.Bind(1, id).Bind(2, std::string(JobStateName(o.state)));
      up.Bind(3, Clip(o.result, kMaxJobResultBytes)).Bind(4, Clip(o.produced, 1024));
      up.Bind(5, error).Bind(6, o.retry_after_ms).Bind(7, IsFinal(o.state) ? now : int64_t{0});
      KILN_RETURN_IF_ERROR(up.Step().status());
      const std::string label =
          o.attempt_outcome.empty() ? std::string(JobStateName(o.state)) : o.attempt_outcome;
      return EndAttempt(db, id, attempt, now, label, error);
    });
  }

  Result<JobRecord> Cancel(int64_t id) override {
    MutexLock lock(&mu_);
    SqlDb* db = db_.get();
    KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
      Stmt s(db, "SELECT state FROM jobs WHERE id = ?1");
      KILN_RETURN_IF_ERROR(s.ok());
      s.Bind(1, id);
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return NotFoundError(fmt::format("job {} not found", id));
      const std::string state = s.Text(0);
      KILN_RETURN_IF_ERROR(s.Step().status());
      KILN_RETURN_IF_ERROR(
          RecordAudit(db, audit_key_, "job.cancel", fmt::format("job {}", id), "ok", state));
      if (state == "queued") return SetFinal(db, id, JobState::kCancelled, NowMs(), "cancelled");
      if (state != "running") {
        return FailedPreconditionError(fmt::format("job {} has already ended ({})", id, state));
      }
      Stmt up(db, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1");
      KILN_RETURN_IF_ERROR(up.ok());
      up.Bind(1, id);
      return up.Step().status();
    }));
    return GetLocked(id);
  }

  Result<JobRecord> Get(int64_t id) override {
    MutexLock lock(&mu_);
    return GetLocked(id);
  }

  Result<std::vector<JobRecord>> List(std::optional<JobState> state, int64_t limit) override {
    MutexLock lock(&mu_);
    Stmt s(db_.get(), fmt::format("SELECT {} FROM jobs {} ORDER BY id DESC LIMIT ?1", kJobColumns,
                                  state ? "WHERE state = ?2" : ""));
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, limit);
    if (state) s.Bind(2, std::string(JobStateName(*state)));
    std::vector<JobRecord> out;
    while (true) {
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      out.push_back(ReadJob(s));
    }
  }

  Result<JobStats> Stats() override {
    MutexLock lock(&mu_);
    JobStats out;
    Stmt s(db_.get(),
           "SELECT queue, state, COUNT(*), SUM(attempts) FROM jobs GROUP BY queue, state");
    KILN_RETURN_IF_ERROR(s.ok());
    while (true) {
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      if (auto st = ParseJobState(s.Text(1)); st.ok()) out.jobs[{s.Text(0), *st}] = s.Int(2);
      out.attempts += s.Int(3);
    }
    // The histogram is counted by the database: one row however many jobs ended.
    std::string sql = "SELECT COUNT(*), COALESCE(SUM(end_ms - created_ms), 0)";
    for (double b : kJobDurationBounds) {
      sql +=
          fmt::format(", COALESCE(SUM(CASE WHEN end_ms - created_ms <= {} THEN 1 ELSE 0 END), 0)",
                      static_cast<int64_t>(b * 1000));
    }
    Stmt d(db_.get(), sql + " FROM jobs WHERE end_ms > 0");
    KILN_RETURN_IF_ERROR(d.ok());
    KILN_ASSIGN_OR_RETURN(bool row, d.Step());
    if (!row) return out;
    out.ended = d.Int(0);
    out.duration_seconds = static_cast<double>(d.Int(1)) / 1000;
    for (size_t i = 0; i < out.duration_buckets.size(); ++i) {
      out.duration_buckets[i] = d.Int(static_cast<int>(i) + 2);
    }
    return out;
  }

  Status AppendLog(int64_t id, const std::vector<std::string>& lines) override {
    if (lines.empty()) return Status::Ok();
    MutexLock lock(&mu_);
    SqlDb* db = db_.get();
    return Transaction(db, [&]() -> Status {
      for (const auto& line : lines) {
        Stmt s(db, "INSERT INTO job_logs(job_id, line) VALUES (?1, ?2)");
        KILN_RETURN_IF_ERROR(s.ok());
        s.Bind(1, id).Bind(2, Clip(line, 4096));
        KILN_RETURN_IF_ERROR(s.Step().status());
      }
      // Keep the newest lines only.
      Stmt trim(db,
                "DELETE FROM job_logs WHERE job_id = ?1 AND seq <= (SELECT seq FROM job_logs "
                "WHERE job_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)");
      KILN_RETURN_IF_ERROR(trim.ok());
      trim.Bind(1, id).Bind(2, static_cast<int64_t>(kMaxJobLogLines));
      return trim.Step().status();
    });
  }

  Result<std::vector<std::string>> Logs(int64_t id) override {
    MutexLock lock(&mu_);
    Stmt s(db_.get(), "SELECT line FROM job_logs WHERE job_id = ?1 ORDER BY seq");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, id);
    std::vector<std::string> out;
    while (true) {
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      out.push_back(s.Text(0));
    }
  }

  Status AddSchedule(const Schedule& sc) override {
    KILN_RETURN_IF_ERROR(ValidateName(sc.name, "schedule name"));
    KILN_RETURN_IF_ERROR(ValidateJobSpec(sc.job));
    MutexLock lock(&mu_);
    SqlDb* db = db_.get();
    return Transaction(db, [&]() -> Status {
      Stmt s(db, "SELECT 1 FROM job_schedules WHERE name = ?1");
      KILN_RETURN_IF_ERROR(s.ok());
      s.Bind(1, sc.name);
      KILN_ASSIGN_OR_RETURN(bool taken, s.Step());
      if (taken) return AlreadyExistsError(fmt::format("schedule '{}' exists", sc.name));
      Stmt ins(db,
               "INSERT INTO job_schedules(name, every, cron, verb, payload, queue, max_attempts, "
               "next_run_ms, last_run_ms, last_job) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0)");
      KILN_RETURN_IF_ERROR(ins.ok());
      ins.Bind(1, sc.name).Bind(2, sc.every).Bind(3, sc.cron).Bind(4, sc.job.verb);
      ins.Bind(5, sc.job.payload).Bind(6, sc.job.queue);
      ins.Bind(7, static_cast<int64_t>(sc.job.max_attempts)).Bind(8, sc.next_run_ms);
      KILN_RETURN_IF_ERROR(ins.Step().status());
      return RecordAudit(db, audit_key_, "schedule.add", sc.name, "ok",
                         fmt::format("{} every '{}' cron '{}'", sc.job.verb, sc.every, sc.cron));
    });
  }

  Result<std::vector<Schedule>> ListSchedules() override {
    MutexLock lock(&mu_);
    return SchedulesWhere(db_.get(), std::nullopt);
  }

  Status RemoveSchedule(const std::string& name) override {
    MutexLock lock(&mu_);
    SqlDb* db = db_.get();
    return Transaction(db, [&]() -> Status {
      Stmt s(db, "DELETE FROM job_schedules WHERE name = ?1 RETURNING name");
      KILN_RETURN_IF_ERROR(s.ok());
      s.Bind(1, name);
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return NotFoundError(fmt::format("no schedule '{}'", Printable(name)));
      KILN_RETURN_IF_ERROR(s.Step().status());
      return RecordAudit(db, audit_key_, "schedule.rm", name, "ok", "");
    });
  }

  Result<std::vector<JobRecord>> EnqueueDue(
      int64_t now_ms, const std::function<int64_t(const Schedule&, int64_t)>& next) override {
    MutexLock lock(&mu_);
    SqlDb* db = db_.get();
    std::vector<int64_t> ids;
    KILN_RETURN_IF_ERROR(Transaction(db, [&]() -> Status {
      ids.clear();
      KILN_ASSIGN_OR_RETURN(auto due, SchedulesWhere(db, now_ms));
      for (auto& sc : due) {
        sc.job.schedule = sc.name;
        KILN_ASSIGN_OR_RETURN(int64_t id, InsertJob(db, sc.job, now_ms));
        Stmt up(db,
                "UPDATE job_schedules SET next_run_ms = ?2, last_run_ms = ?3, last_job = ?4 "
                "WHERE name = ?1");
        KILN_RETURN_IF_ERROR(up.ok());
        up.Bind(1, sc.name).Bind(2, next(sc, now_ms)).Bind(3, now_ms).Bind(4, id);
        KILN_RETURN_IF_ERROR(up.Step().status());
        ids.push_back(id);
      }
      return Status::Ok();
    }));
    std::vector<JobRecord> out;
    for (int64_t id : ids) {
      KILN_ASSIGN_OR_RETURN(JobRecord j, GetLocked(id));
      out.push_back(std::move(j));
    }
    return out;
  }

 private:
  // Inside a transaction: a new queued job (audited), or the id of the job holding the
  // idempotency key.
  Result<int64_t> InsertJob(SqlDb* db, const JobSpec& spec, int64_t now) {
    if (!spec.idempotency_key.empty()) {
      Stmt s(db, "SELECT id FROM jobs WHERE idempotency_key = ?1");
      KILN_RETURN_IF_ERROR(s.ok());
      s.Bind(1, spec.idempotency_key);
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (row) return s.Int(0);
    }
    Stmt ins(db,
             "INSERT INTO jobs(verb, payload, queue, idempotency_key, max_attempts, schedule, "
             "state, attempts, created_ms, run_after_ms, worker, lease_expires_ms, "
             "cancel_requested, result, produced, error, end_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
             "'queued', 0, ?7, 0, '', 0, 0, '', '', '', 0) RETURNING id");
    KILN_RETURN_IF_ERROR(ins.ok());
    ins.Bind(1, spec.verb).Bind(2, spec.payload).Bind(3, spec.queue);
    ins.BindOptional(4, spec.idempotency_key);
    ins.Bind(5, static_cast<int64_t>(spec.max_attempts)).Bind(6, spec.schedule).Bind(7, now);
    KILN_ASSIGN_OR_RETURN(const int64_t id, ReturnedId(ins, "job id"));
    KILN_RETURN_IF_ERROR(RecordAudit(
        db, audit_key_, "job.submit", fmt::format("job {}", id), "ok",
        spec.schedule.empty() ? spec.verb
                              : fmt::format("{} (schedule {})", spec.verb, spec.schedule)));
    return id;
  }

  static Status EndAttempt(SqlDb* db, int64_t id, int64_t number, int64_t now,
                           const std::string& outcome, const std::string& error) {
    Stmt s(db,
           "UPDATE job_attempts SET end_ms = ?3, outcome = ?4, error = ?5 WHERE job_id = ?1 AND "
           "number = ?2");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, id).Bind(2, number).Bind(3, now).Bind(4, outcome).Bind(5, error);
    return s.Step().status();
  }

  static Status SetFinal(SqlDb* db, int64_t id, JobState state, int64_t now,
                         const std::string& error) {
    Stmt s(db,
           "UPDATE jobs SET state = ?2, worker = '', lease_expires_ms = 0, error = ?3, end_ms = "
           "?4 WHERE id = ?1");
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, id).Bind(2, std::string(JobStateName(state))).Bind(3, error).Bind(4, now);
    return s.Step().status();
  }

  static Status LeaseLost(int64_t id, const std::string& worker) {
    return FailedPreconditionError(
        fmt::format("job {} is no longer leased to {} (its lease expired)", id, worker));
  }

  Result<JobRecord> GetLocked(int64_t id) KILN_REQUIRES(mu_) {
    Stmt s(db_.get(), fmt::format("SELECT {} FROM jobs WHERE id = ?1", kJobColumns));
    KILN_RETURN_IF_ERROR(s.ok());
    s.Bind(1, id);
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return NotFoundError(fmt::format("job {} not found", id));
    JobRecord j = ReadJob(s);
    KILN_RETURN_IF_ERROR(s.Step().status());
    Stmt a(db_.get(),
           "SELECT number, worker, start_ms, end_ms, outcome, error FROM job_attempts WHERE "
           "job_id = ?1 ORDER BY number");
    KILN_RETURN_IF_ERROR(a.ok());
    a.Bind(1, id);
    while (true) {
      KILN_ASSIGN_OR_RETURN(bool more, a.Step());
      if (!more) break;
      j.history.push_back(
          {static_cast<int>(a.Int(0)), a.Text(1), a.Int(2), a.Int(3), a.Text(4), a.Text(5)});
    }
    return j;
  }

  // Every schedule, or those due at `due_at`.
  static Result<std::vector<Schedule>> SchedulesWhere(SqlDb* db, std::optional<int64_t> due_at) {
    Stmt s(db, fmt::format("SELECT name, every, cron, verb, payload, queue, max_attempts, "
                           "next_run_ms, last_run_ms, last_job FROM job_schedules {} "
                           "ORDER BY name",
                           due_at ? "WHERE next_run_ms <= ?1" : ""));
    KILN_RETURN_IF_ERROR(s.ok());
    if (due_at) s.Bind(1, *due_at);
    std::vector<Schedule> out;
    while (true) {
      KILN_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) return out;
      Schedule sc;
      sc.name = s.Text(0);
      sc.every = s.Text(1);
      sc.cron = s.Text(2);
      sc.job.verb = s.Text(3);
      sc.job.payload = s.Text(4);
      sc.job.queue = s.Text(5);
      sc.job.max_attempts = static_cast<int>(s.Int(6));
      sc.next_run_ms = s.Int(7);
      sc.last_run_ms = s.Int(8);
      sc.last_job = s.Int(9);
      out.push_back(std::move(sc));
    }
  }

  Mutex mu_;
  std::unique_ptr<SqlDb> db_ KILN_GUARDED_BY(mu_);
  const std::string audit_key_;  // signs audit checkpoints (SqlCatalog::SetAuditKey)
};

}  // namespace

std::string_view JobStateName(JobState s) {
  switch (s) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kDead:
      return "dead";
  }
  return "failed";
}

Result<JobState> ParseJobState(std::string_view text) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                     JobState::kCancelled, JobState::kDead}) {
    if (JobStateName(s) == text) return s;
  }
  return InvalidArgumentError(
      fmt::format("unknown job state '{}' (queued, running, succeeded, failed, cancelled, dead)",
                  Printable(text)));
}

bool IsFinal(JobState s) { return s != JobState::kQueued && s != JobState::kRunning; }

Status ValidateJobSpec(const JobSpec& spec) {
  KILN_RETURN_IF_ERROR(ValidateName(spec.verb, "job verb"));
  KILN_RETURN_IF_ERROR(ValidateName(spec.queue, "queue name"));
  if (spec.payload.size() > kMaxJobPayloadBytes) {
    return InvalidArgumentError(
        fmt::format("job payload longer than {} bytes", kMaxJobPayloadBytes));
  }
  if (spec.idempotency_key.size() > 256) {
    return InvalidArgumentError("idempotency key longer than 256 bytes");
  }
  if (spec.max_attempts < 1 || spec.max_attempts > 100) {
    return InvalidArgumentError("max attempts must be 1..100");
  }
  return Status::Ok();
}

Result<std::unique_ptr<JobQueue>> OpenCatalogJobQueue(const std::string& catalog,
                                                      const std::string& sqlite_path,
                                                      const std::string& audit_key) {
  std::unique_ptr<SqlDb> db;
  if (catalog == "sqlite") {
    // Opening the catalog first brings its schema (and the job tables) up to date.
    KILN_RETURN_IF_ERROR(SqlCatalog::OpenSqlite(sqlite_path).status());
    KILN_ASSIGN_OR_RETURN(db, OpenSqliteDb(sqlite_path, SqliteOptions{}));
  } else if (SqlCatalog::IsPostgresUrl(catalog)) {
    KILN_RETURN_IF_ERROR(SqlCatalog::OpenPostgres(catalog).status());
    KILN_ASSIGN_OR_RETURN(db, OpenPostgresDb(catalog));
  } else {
    return InvalidArgumentError("the job queue's catalog must be sqlite or a postgresql:// URL");
  }
  return std::unique_ptr<JobQueue>(new SqlJobQueue(std::move(db), audit_key));
}

}  // namespace kiln::registry
