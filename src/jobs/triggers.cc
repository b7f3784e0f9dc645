#include "kiln/jobs/triggers.h"

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/jobs/operations.h"
#include "kiln/jobs/schedule.h"

namespace kiln::jobs {

namespace {

constexpr std::string_view kSchedulePrefix = "retrain-";

// The dataset a policy retrains on when it follows new versions ("" when it is pinned to one
// version), and the version the champion was trained on (0: another dataset, or none).
Result<std::pair<std::string, int64_t>> FollowedData(pipeline::Home& home,
                                                     const pipeline::RetrainPolicy& p) {
  auto& catalog = home.catalog();
  auto champion = catalog.ResolveAlias(p.model, p.alias);
  if (!champion.ok()) {
    if (champion.status().code() == StatusCode::kNotFound) return std::pair<std::string, int64_t>();
    return champion.status();
  }
  KILN_ASSIGN_OR_RETURN(registry::ModelVersion mv, catalog.GetModelVersion(p.model, *champion));
  auto run = catalog.GetRun(mv.run_id);
  const std::string trained_on = run.ok() ? run->attributes.train_data : "";
  auto data = pipeline::RetrainData(p, trained_on);
  const auto followed = data.ok() ? AsDatasetRef(*data) : std::nullopt;
  if (!followed || followed->version != 0) return std::pair<std::string, int64_t>();
  const auto trained = AsDatasetRef(trained_on);
  const int64_t version = trained && trained->name == followed->name ? trained->version : 0;
  return std::pair<std::string, int64_t>(std::string(followed->name), version);
}

}  // namespace

registry::JobSpec RetrainJobSpec(const std::string& model, const std::string& trigger,
                                 int max_attempts) {
  pipeline::RetrainOptions o;
  o.model = model;
  o.trigger = trigger;
  registry::JobSpec spec;
  spec.verb = "retrain";
  spec.payload = Payload(o);
  spec.max_attempts = max_attempts;
  return spec;
}

Result<std::vector<std::string>> SyncRetrainSchedules(pipeline::Home& home,
                                                      registry::JobQueue& queue, int64_t now_ms) {
  std::vector<std::string> changed;
  std::map<std::string, registry::Schedule> wanted;
  for (const auto& p : home.config().monitoring.retraining) {
    if (p.every.empty() && p.cron.empty()) continue;
    registry::Schedule s;
    s.name = std::string(kSchedulePrefix) + p.model;
    s.every = p.every;
    s.cron = p.cron;
    s.job = RetrainJobSpec(p.model, "manual", home.config().queue.max_attempts);
    s.job.schedule = s.name;
    auto next = NextRun(s, now_ms);
    if (!next.ok()) {
      return InvalidArgumentError(fmt::format("kiln.yaml: the retraining policy of {}: {}", p.model,
                                              next.status().message()));
    }
    s.next_run_ms = *next;
    wanted[s.name] = std::move(s);
  }
  KILN_ASSIGN_OR_RETURN(auto existing, queue.ListSchedules());
  for (const auto& s : existing) {
    if (!s.name.starts_with(kSchedulePrefix) || s.job.verb != "retrain") continue;
    auto it = wanted.find(s.name);
    if (it != wanted.end() && it->second.every == s.every && it->second.cron == s.cron &&
        it->second.job.payload == s.job.payload) {
      wanted.erase(it);  // as the policy says already
      continue;
    }
    KILN_RETURN_IF_ERROR(queue.RemoveSchedule(s.name));
  }
  for (const auto& [name, s] : wanted) {
    Status added = queue.AddSchedule(s);
    // Another worker added it at the same moment: it is the same schedule.
    if (!added.ok() && added.code() != StatusCode::kAlreadyExists) return added;
    changed.push_back(name);
  }
  return changed;
}

Result<std::vector<registry::JobRecord>> QueueNewDataRetrainings(pipeline::Home& home,
                                                                 registry::JobQueue& queue) {
  std::vector<registry::JobRecord> queued;
  for (const auto& p : home.config().monitoring.retraining) {
    if (!p.new_data) continue;
    KILN_ASSIGN_OR_RETURN(auto followed, FollowedData(home, p));
    const auto& [name, trained] = followed;
    if (name.empty()) continue;
    auto versions = home.catalog().ListVersions(name);
    if (!versions.ok()) {
      if (versions.status().code() == StatusCode::kNotFound) continue;
      return versions.status();
    }
    int64_t newest = 0;
    for (const auto& v : *versions) newest = std::max(newest, v.version);
    if (newest <= trained) continue;
    const std::string data = fmt::format("{}@v{}", name, newest);
    registry::JobSpec spec =
        RetrainJobSpec(p.model, "data:" + data, home.config().queue.max_attempts);
    spec.idempotency_key = fmt::format("retrain:{}:data:{}", p.model, data);
    KILN_ASSIGN_OR_RETURN(registry::JobRecord job, queue.Enqueue(spec));
    queued.push_back(std::move(job));
  }
  return queued;
}

}  // namespace kiln::jobs
