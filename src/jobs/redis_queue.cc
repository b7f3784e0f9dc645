#include "kiln/jobs/redis_queue.h"

#include <hiredis/hiredis.h>

#include <chrono>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "kiln/base/clock.h"
#include "kiln/base/mutex.h"
#include "kiln/base/names.h"
#include "kiln/base/numbers.h"

namespace kiln::jobs {

namespace {

using registry::JobRecord;
using registry::JobState;

// Shared by the scripts that queue a job: ARGV[base..base+6] = verb, payload, queue,
// idempotency key, max attempts, schedule, now. Returns the job id.
constexpr const char* kEnqueueLua = R"lua(
local function enqueue(a, base)
  local verb, payload, queue, idem = a[base], a[base + 1], a[base + 2], a[base + 3]
  if idem ~= '' then
    local existing = redis.call('HGET', 'kiln:idem', idem)
    if existing then return tonumber(existing) end
  end
  local id = redis.call('INCR', 'kiln:job:next')
  local key = 'kiln:job:' .. id
  redis.call('HSET', key, 'verb', verb, 'payload', payload, 'queue', queue,
    'idempotency_key', idem, 'max_attempts', a[base + 4], 'schedule', a[base + 5],
    'state', 'queued', 'attempts', 0, 'created_ms', a[base + 6], 'run_after_ms', 0,
    'worker', '', 'lease_expires_ms', 0, 'cancel_requested', 0, 'result', '',
    'produced', '', 'error', '', 'end_ms', 0)
  redis.call('ZADD', 'kiln:jobs', id, id)
  if idem ~= '' then redis.call('HSET', 'kiln:idem', idem, id) end
  local stream = 'kiln:queue:' .. queue
  redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
  redis.call('HSET', key, 'entry', redis.call('XADD', stream, '*', 'job', id))
  return id
end
)lua";

constexpr const char* kEnqueueScript = "return enqueue(ARGV, 1)";

// ARGV: queue, worker, lease_ms, now. The job id leased, or false. Expired leases are found
// from the pending entries (each job's own lease_expires_ms decides, whatever lease the
// caller asks for); then new entries are read.
constexpr const char* kLeaseScript = R"lua(
local stream, delayed = 'kiln:queue:' .. ARGV[1], 'kiln:delayed:' .. ARGV[1]
local worker, lease, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
for _, id in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now)) do
  redis.call('ZREM', delayed, id)
  redis.call('HSET', 'kiln:job:' .. id, 'entry', redis.call('XADD', stream, '*', 'job', id))
end
local function drop(entry)
  redis.call('XACK', stream, 'workers', entry)
  redis.call('XDEL', stream, entry)
end
-- Leases `id` (its stream entry `entry`, now held by this worker); false if it was buried.
local function take(entry, id, state)
  local key = 'kiln:job:' .. id
  local attempts = tonumber(redis.call('HGET', key, 'attempts'))
  if state == 'running' then
    local err = 'lease expired (worker ' .. redis.call('HGET', key, 'worker') .. ')'
    redis.call('HSET', key .. ':attempt:' .. attempts, 'end_ms', now, 'outcome', 'lost',
               'error', err)
    if attempts >= tonumber(redis.call('HGET', key, 'max_attempts')) then
      redis.call('HSET', key, 'state', 'dead', 'worker', '', 'lease_expires_ms', 0,
                 'error', err, 'end_ms', now)
      drop(entry)
      return false
    end
  end
  attempts = attempts + 1
  redis.call('HSET', key, 'state', 'running', 'attempts', attempts, 'worker', worker,
             'lease_expires_ms', now + lease)
  redis.call('HSET', key .. ':attempt:' .. attempts, 'worker', worker, 'start_ms', now,
             'end_ms', 0, 'outcome', '', 'error', '')
  return tonumber(id)
end
for _, p in ipairs(redis.call('XPENDING', stream, 'workers', '-', '+', 1000)) do
  local entry = p[1]
  local e = redis.call('XRANGE', stream, entry, entry)
  if not e[1] then
    redis.call('XACK', stream, 'workers', entry)
  else
    local id = e[1][2][2]
    local key = 'kiln:job:' .. id
    local state = redis.call('HGET', key, 'state')
    local current = redis.call('HGET', key, 'entry') == entry
    if not current or (state ~= 'queued' and state ~= 'running') then
      drop(entry)
    elseif state == 'queued' or tonumber(redis.call('HGET', key, 'lease_expires_ms')) < now then
      redis.call('XCLAIM', stream, 'workers', worker, 0, entry, 'JUSTID')
      local got = take(entry, id, state)
      if got then return got end
    end
  end
end
for _ = 1, 100 do
  local read = redis.call('XREADGROUP', 'GROUP', 'workers', worker, 'COUNT', 1,
                          'STREAMS', stream, '>')
  if not read or not read[1][2][1] then return false end
  local entry, id = read[1][2][1][1], read[1][2][1][2][2]
  local key = 'kiln:job:' .. id
  local state = redis.call('HGET', key, 'state')
  if state ~= 'queued' or redis.call('HGET', key, 'entry') ~= entry then
    drop(entry)
  else
    return take(entry, id, state)
  end
end
return false
)lua";

// ARGV: id, worker, lease_ms, now. cancel_requested, or -1 when the lease is not the worker's.
constexpr const char* kHeartbeatScript = R"lua(
local key = 'kiln:job:' .. ARGV[1]
if redis.call('HGET', key, 'state') ~= 'running' or redis.call('HGET', key, 'worker') ~= ARGV[2]
then return -1 end
redis.call('HSET', key, 'lease_expires_ms', tonumber(ARGV[4]) + tonumber(ARGV[3]))
redis.call('XCLAIM', 'kiln:queue:' .. redis.call('HGET', key, 'queue'), 'workers', ARGV[2], 0,
           redis.call('HGET', key, 'entry'), 'JUSTID')
return tonumber(redis.call('HGET', key, 'cancel_requested'))
)lua";

// ARGV: id, worker, state, result, produced, error, retry_after_ms, now, attempt label.
constexpr const char* kFinishScript = R"lua(
local key = 'kiln:job:' .. ARGV[1]
if redis.call('HGET', key, 'state') ~= 'running' or redis.call('HGET', key, 'worker') ~= ARGV[2]
then return -1 end
local now, state, retry = tonumber(ARGV[8]), ARGV[3], tonumber(ARGV[7])
local attempts = redis.call('HGET', key, 'attempts')
redis.call('HSET', key, 'state', state, 'worker', '', 'lease_expires_ms', 0, 'result', ARGV[4],
           'produced', ARGV[5], 'error', ARGV[6], 'run_after_ms', retry,
           'end_ms', state == 'queued' and 0 or now)
redis.call('HSET', key .. ':attempt:' .. attempts, 'end_ms', now, 'outcome', ARGV[9],
           'error', ARGV[6])
local queue = redis.call('HGET', key, 'queue')
local stream = 'kiln:queue:' .. queue
local entry = redis.call('HGET', key, 'entry')
redis.call('XACK', stream, 'workers', entry)
redis.call('XDEL', stream, entry)
if state == 'queued' then
  if retry > now then
    redis.call('HSET', key, 'entry', '')
    redis.call('ZADD', 'kiln:delayed:' .. queue, retry, ARGV[1])
  else
    redis.call('HSET', key, 'entry', redis.call('XADD', stream, '*', 'job', ARGV[1]))
  end
end
return 0
)lua";

// ARGV: id, now. 1 cancelled, 2 cancel requested, 0 already ended, -2 no such job.
constexpr const char* kCancelScript = R"lua(
local key = 'kiln:job:' .. ARGV[1]
local state = redis.call('HGET', key, 'state')
if not state then return -2 end
if state == 'queued' then
  redis.call('HSET', key, 'state', 'cancelled', 'error', 'cancelled', 'end_ms', ARGV[2])
  redis.call('ZREM', 'kiln:delayed:' .. redis.call('HGET', key, 'queue'), ARGV[1])
  return 1
end
if state == 'running' then
  redis.call('HSET', key, 'cancel_requested', 1)
  return 2
end
return 0
)lua";

// ARGV: name, every, cron, next_run_ms, then the job (enqueue's 7 fields). 0 if taken.
constexpr const char* kAddScheduleScript = R"lua(
local key = 'kiln:schedule:' .. ARGV[1]
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, 'name', ARGV[1], 'every', ARGV[2], 'cron', ARGV[3],
           'next_run_ms', ARGV[4], 'last_run_ms', 0, 'last_job', 0, 'verb', ARGV[5],
           'payload', ARGV[6], 'queue', ARGV[7], 'max_attempts', ARGV[9])
redis.call('SADD', 'kiln:schedules', ARGV[1])
return 1
)lua";

// ARGV: name, expected next_run_ms, new next_run_ms, then enqueue's 7 fields. The job id, or 0
// when another worker claimed this run first.
constexpr const char* kClaimScheduleScript = R"lua(
local key = 'kiln:schedule:' .. ARGV[1]
if redis.call('HGET', key, 'next_run_ms') ~= ARGV[2] then return 0 end
local id = enqueue(ARGV, 4)
redis.call('HSET', key, 'next_run_ms', ARGV[3], 'last_run_ms', ARGV[10], 'last_job', id)
return id
)lua";

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  int64_t db = 0;
};

Result<Endpoint> ParseUrl(const std::string& url) {
  if (!url.starts_with("redis://")) return InvalidArgumentError("a Redis URL starts with redis://");
  std::string_view rest = std::string_view(url).substr(8);
  Endpoint e;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    if (slash + 1 < rest.size()) {
      KILN_ASSIGN_OR_RETURN(e.db, ParseInteger(rest.substr(slash + 1), "redis db", 0, 1000));
    }
    rest = rest.substr(0, slash);
  }
  if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    KILN_ASSIGN_OR_RETURN(int64_t port,
                          ParseInteger(rest.substr(colon + 1), "redis port", 1, 65535));
    e.port = static_cast<int>(port);
    rest = rest.substr(0, colon);
  }
  if (rest.empty() || rest.find('@') != std::string_view::npos) {
    return InvalidArgumentError(
        fmt::format("redis URL '{}': expected redis://host[:port][/db]", Printable(url)));
  }
  e.host = std::string(rest);
  return e;
}

class RedisJobQueue final : public registry::JobQueue {
 public:
  explicit RedisJobQueue(Endpoint e) : endpoint_(std::move(e)) {}
  ~RedisJobQueue() override {
    if (ctx_) redisFree(ctx_);
  }

  Status Connect() {
    MutexLock lock(&mu_);
    return ConnectLocked();
  }

  Result<JobRecord> Enqueue(const registry::JobSpec& spec) override {
    KILN_RETURN_IF_ERROR(registry::ValidateJobSpec(spec));
    std::vector<std::string> args = {kEnqueueScript};
    AppendSpec(spec, UnixMillis(), &args);
    KILN_ASSIGN_OR_RETURN(int64_t id, Script(args));
    return Get(id);
  }

  Result<std::optional<JobRecord>> Lease(const std::string& queue, const std::string& worker,
                                         int64_t lease_ms) override {
    KILN_ASSIGN_OR_RETURN(int64_t id, Script({kLeaseScript, queue, worker, std::to_string(lease_ms),
                                              std::to_string(UnixMillis())}));
    if (id == 0) return std::optional<JobRecord>();
    KILN_ASSIGN_OR_RETURN(JobRecord j, Get(id));
    return std::optional<JobRecord>(std::move(j));
  }

  Result<bool> Heartbeat(int64_t id, const std::string& worker, int64_t lease_ms) override {
    KILN_ASSIGN_OR_RETURN(
        int64_t r, Script({kHeartbeatScript, std::to_string(id), worker, std::to_string(lease_ms),
                           std::to_string(UnixMillis())}));
    if (r < 0) return LeaseLost(id, worker);
    return r != 0;
  }

  Status Finish(int64_t id, const std::string& worker, const registry::JobOutcome& o) override {
    if (o.state == JobState::kRunning) return InvalidArgumentError("a job cannot finish running");
    const std::string label = o.attempt_outcome.empty()
                                  ? std::string(registry::JobStateName(o.state))
                                  : o.attempt_outcome;
    KILN_ASSIGN_OR_RETURN(
        int64_t r,
        Script({kFinishScript, std::to_string(id), worker,
                std::string(registry::JobStateName(o.state)),
                o.result.substr(0, registry::kMaxJobResultBytes), o.produced.substr(0, 1024),
                o.error.substr(0, registry::kMaxJobErrorBytes), std::to_string(o.retry_after_ms),
                std::to_string(UnixMillis()), label}));
    if (r < 0) return LeaseLost(id, worker);
    return Status::Ok();
  }

  Result<JobRecord> Cancel(int64_t id) override {
    KILN_ASSIGN_OR_RETURN(
        int64_t r, Script({kCancelScript, std::to_string(id), std::to_string(UnixMillis())}));
    if (r == -2) return NotFoundError(fmt::format("job {} not found", id));
    KILN_ASSIGN_OR_RETURN(JobRecord j, Get(id));
    if (r == 0) {
      return FailedPreconditionError(
          fmt::format("job {} has already ended ({})", id, registry::JobStateName(j.state)));
    }
    return j;
  }

  Result<JobRecord> Get(int64_t id) override {
    MutexLock lock(&mu_);
    return GetLocked(id);
  }

  Result<std::vector<JobRecord>> List(std::optional<JobState> state, int64_t limit) override {
    MutexLock lock(&mu_);
    KILN_ASSIGN_OR_RETURN(Reply ids, Command({"ZREVRANGE", "kiln:jobs", "0", "-1"}));
    std::vector<JobRecord> out;
    for (size_t i = 0; i < ids->elements && static_cast<int64_t>(out.size()) < limit; ++i) {
      auto id = ParseInteger(ids->element[i]->str, "job id", 1, INT64_MAX);
      if (!id.ok()) continue;
      KILN_ASSIGN_OR_RETURN(JobRecord j, GetLocked(*id));
      if (!state || j.state == *state) out.push_back(std::move(j));
    }
    return out;
  }

  Result<registry::JobStats> Stats() override {
    MutexLock lock(&mu_);
    KILN_ASSIGN_OR_RETURN(Reply ids, Command({"ZRANGE", "kiln:jobs", "0", "-1"}));
    registry::JobStats out;
    for (size_t i = 0; i < ids->elements; ++i) {
      KILN_ASSIGN_OR_RETURN(
          Reply r, Command({"HMGET", fmt::format("kiln:job:{}", Str(ids->element[i])), "queue",
                            "state", "attempts", "created_ms", "end_ms"}));
      if (r->elements != 5 || r->element[0]->type != REDIS_REPLY_STRING) continue;
      auto state = registry::ParseJobState(Str(r->element[1]));
      if (!state.ok()) continue;
      ++out.jobs[{Str(r->element[0]), *state}];
      out.attempts += Int(Str(r->element[2]));
      const int64_t end = Int(Str(r->element[4]));
      if (end > 0) out.AddDuration(end - Int(Str(r->element[3])));
    }
    return out;
  }

  Status AppendLog(int64_t id, const std::vector<std::string>& lines) override {
    if (lines.empty()) return Status::Ok();
    const std::string key = fmt::format("kiln:job:{}:log", id);
    std::vector<std::string> args = {"RPUSH", key};
    for (const auto& l : lines) args.push_back(l.substr(0, 4096));
    MutexLock lock(&mu_);
    KILN_RETURN_IF_ERROR(Command(args).status());
    return Command({"LTRIM", key, fmt::format("-{}", registry::kMaxJobLogLines), "-1"}).status();
  }

  Result<std::vector<std::string>> Logs(int64_t id) override {
    MutexLock lock(&mu_);
    KILN_ASSIGN_OR_RETURN(Reply r,
                          Command({"LRANGE", fmt::format("kiln:job:{}:log", id), "0", "-1"}));
    std::vector<std::string> out;
    for (size_t i = 0; i < r->elements; ++i) out.push_back(Str(r->element[i]));
    return out;
  }

  Status AddSchedule(const registry::Schedule& s) override {
    KILN_RETURN_IF_ERROR(ValidateName(s.name, "schedule name"));
    KILN_RETURN_IF_ERROR(registry::ValidateJobSpec(s.job));
    std::vector<std::string> args = {kAddScheduleScript, s.name, s.every, s.cron,
                                     std::to_string(s.next_run_ms)};
    AppendSpec(s.job, 0, &args);
    KILN_ASSIGN_OR_RETURN(int64_t r, Script(args));
    if (r == 0) return AlreadyExistsError(fmt::format("schedule '{}' exists", s.name));
    return Status::Ok();
  }

  Result<std::vector<registry::Schedule>> ListSchedules() override {
    MutexLock lock(&mu_);
    KILN_ASSIGN_OR_RETURN(Reply names, Command({"SMEMBERS", "kiln:schedules"}));
    std::vector<registry::Schedule> out;
    for (size_t i = 0; i < names->elements; ++i) {
      KILN_ASSIGN_OR_RETURN(auto f, Hash(fmt::format("kiln:schedule:{}", Str(names->element[i]))));
      if (f.empty()) continue;
      registry::Schedule s;
      s.name = f["name"];
      s.every = f["every"];
      s.cron = f["cron"];
      s.next_run_ms = Int(f["next_run_ms"]);
      s.last_run_ms = Int(f["last_run_ms"]);
      s.last_job = Int(f["last_job"]);
      s.job.verb = f["verb"];
      s.job.payload = f["payload"];
      s.job.queue = f["queue"];
      s.job.max_attempts = static_cast<int>(Int(f["max_attempts"]));
      out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }

  Status RemoveSchedule(const std::string& name) override {
    MutexLock lock(&mu_);
    KILN_ASSIGN_OR_RETURN(Reply r, Command({"DEL", "kiln:schedule:" + name}));
    KILN_RETURN_IF_ERROR(Command({"SREM", "kiln:schedules", name}).status());
    if (r->integer == 0) return NotFoundError(fmt::format("no schedule '{}'", Printable(name)));
    return Status::Ok();
  }

  Result<std::vector<JobRecord>> EnqueueDue(
      int64_t now_ms,
      const std::function<int64_t(const registry::Schedule&, int64_t)>& next) override {
    KILN_ASSIGN_OR_RETURN(auto schedules, ListSchedules());
    std::vector<JobRecord> out;
    for (auto& s : schedules) {
      if (s.next_run_ms > now_ms) continue;
      s.job.schedule = s.name;
      std::vector<std::string> args = {kClaimScheduleScript, s.name, std::to_string(s.next_run_ms),
                                       std::to_string(next(s, now_ms))};
      AppendSpec(s.job, now_ms, &args);
      KILN_ASSIGN_OR_RETURN(int64_t id, Script(args));
      if (id == 0) continue;  // another worker queued this run
      KILN_ASSIGN_OR_RETURN(JobRecord j, Get(id));
      out.push_back(std::move(j));
    }
    return out;
  }

 private:
  static void AppendSpec(const registry::JobSpec& spec, int64_t now,
                         std::vector<std::string>* args) {
    for (std::string v : {spec.verb, spec.payload, spec.queue, spec.idempotency_key,
                          std::to_string(spec.max_attempts), spec.schedule, std::to_string(now)}) {
      args->push_back(std::move(v));
    }
  }

  static std::string Str(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
               ? std::string(r->str, r->len)
               : std::string();
  }

  static int64_t Int(const std::string& text) {
    auto v = ParseInteger(text, "field", INT64_MIN, INT64_MAX);
    return v.ok() ? *v : 0;
  }

  Status LeaseLost(int64_t id, const std::string& worker) {
    return FailedPreconditionError(
        fmt::format("job {} is no longer leased to {} (its lease expired)", id, worker));
  }

  Status ConnectLocked() KILN_REQUIRES(mu_) {
    if (ctx_ && ctx_->err == 0) return Status::Ok();
    if (ctx_) {
      redisFree(ctx_);
      ctx_ = nullptr;
    }
    const timeval timeout{5, 0};
    ctx_ = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, timeout);
    if (ctx_ == nullptr || ctx_->err != 0) {
      const std::string why = ctx_ ? ctx_->errstr : "out of memory";
      return UnavailableError(fmt::format("redis {}:{}: {}", endpoint_.host, endpoint_.port, why));
    }
    redisSetTimeout(ctx_, timeout);
    if (endpoint_.db != 0) {
      Reply r(static_cast<redisReply*>(
          redisCommand(ctx_, "SELECT %lld", static_cast<long long>(endpoint_.db))));
      if (!r || r->type == REDIS_REPLY_ERROR) return UnavailableError("redis: SELECT failed");
    }
    return Status::Ok();
  }

  // One command; a transport error drops the connection (the next call reconnects).
  Result<Reply> Command(const std::vector<std::string>& args) KILN_REQUIRES(mu_) {
    KILN_RETURN_IF_ERROR(ConnectLocked());
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    Reply r(static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!r) {
      const std::string why = ctx_->errstr;
      redisFree(ctx_);
      ctx_ = nullptr;
      return UnavailableError(fmt::format("redis: {}", why));
    }
    if (r->type == REDIS_REPLY_ERROR) return InternalError(fmt::format("redis: {}", Str(r.get())));
    return r;
  }

  // Runs a script (with the enqueue function in scope): its integer result, 0 for false/nil.
  Result<int64_t> Script(const std::vector<std::string>& script_and_args) {
    std::vector<std::string> args = {"EVAL", std::string(kEnqueueLua) + script_and_args[0], "0"};
    args.insert(args.end(), script_and_args.begin() + 1, script_and_args.end());
    MutexLock lock(&mu_);
    KILN_ASSIGN_OR_RETURN(Reply r, Command(args));
    if (r->type == REDIS_REPLY_INTEGER) return static_cast<int64_t>(r->integer);
    return int64_t{0};
  }

  Result<std::map<std::string, std::string>> Hash(const std::string& key) KILN_REQUIRES(mu_) {
    KILN_ASSIGN_OR_RETURN(Reply r, Command({"HGETALL", key}));
    std::map<std::string, std::string> out;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
      out[Str(r->element[i])] = Str(r->element[i + 1]);
    }
    return out;
  }

  Result<JobRecord> GetLocked(int64_t id) KILN_REQUIRES(mu_) {
    const std::string key = fmt::format("kiln:job:{}", id);
    KILN_ASSIGN_OR_RETURN(auto f, Hash(key));
    if (f.empty()) return NotFoundError(fmt::format("job {} not found", id));
    JobRecord j;
    j.id = id;
    j.spec.verb = f["verb"];
    j.spec.payload = f["payload"];
    j.spec.queue = f["queue"];
    j.spec.idempotency_key = f["idempotency_key"];
    j.spec.max_attempts = static_cast<int>(Int(f["max_attempts"]));
    j.spec.schedule = f["schedule"];
    auto state = registry::ParseJobState(f["state"]);
    j.state = state.ok() ? *state : JobState::kFailed;
    j.attempts = static_cast<int>(Int(f["attempts"]));
    j.created_ms = Int(f["created_ms"]);
    j.run_after_ms = Int(f["run_after_ms"]);
    j.worker = f["worker"];
    j.lease_expires_ms = Int(f["lease_expires_ms"]);
    j.cancel_requested = f["cancel_requested"] == "1";
    j.result = f["result"];
    j.produced = f["produced"];
    j.error = f["error"];
    j.end_ms = Int(f["end_ms"]);
    for (int n = 1; n <= j.attempts; ++n) {
      KILN_ASSIGN_OR_RETURN(auto a, Hash(fmt::format("{}:attempt:{}", key, n)));
      j.history.push_back(
          {n, a["worker"], Int(a["start_ms"]), Int(a["end_ms"]), a["outcome"], a["error"]});
    }
    return j;
  }

  const Endpoint endpoint_;
  Mutex mu_;
  redisContext* ctx_ KILN_GUARDED_BY(mu_) = nullptr;
};

}  // namespace

Result<std::unique_ptr<registry::JobQueue>> OpenRedisJobQueue(const std::string& url) {
  KILN_ASSIGN_OR_RETURN(Endpoint e, ParseUrl(url));
  auto q = std::make_unique<RedisJobQueue>(std::move(e));
  KILN_RETURN_IF_ERROR(q->Connect());
  return std::unique_ptr<registry::JobQueue>(std::move(q));
}

}  // namespace kiln::jobs
