#include "kiln/serve/model_manager.h"

#include <chrono>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "kiln/base/exec_context.h"
#include "kiln/base/logging.h"
#include "kiln/base/numbers.h"

#include "kiln/model/model_io.h"

namespace kiln::serve {

Result<std::shared_ptr<const model::TreeModel>> LoadModelVersion(registry::CatalogStore& catalog,
                                                                 const storage::BlobStore& blobs,
                                                                 const std::string& name,
                                                                 int64_t version,
                                                                 const Limits& limits) {
  KILN_ASSIGN_OR_RETURN(registry::ModelVersion mv, catalog.GetModelVersion(name, version));
  // The artifact's content address is checked on every load: a file swapped on disk, even for
  // another valid model, is refused.
  KILN_ASSIGN_OR_RETURN(std::string bytes, blobs.ReadVerified(mv.artifact, limits.max_model_bytes));
  KILN_ASSIGN_OR_RETURN(model::TreeModel m,
                        model::DecodeModel(bytes, fmt::format("{}:{}", mv.name, mv.version)));
  return std::shared_ptr<const model::TreeModel>(std::make_shared<model::TreeModel>(std::move(m)));
}

monitor::DriftReference DriftReferenceOf(const model::TreeModel& m) {
  monitor::DriftReference out;
  const model::ReferenceProfile& r = m.reference;
  if (r.empty()) return out;
  for (size_t f = 0; f < m.features.size(); ++f) {
    const model::FeatureInfo& info = m.features[f];
    out.features.push_back({info.name, info.categorical,
                            info.categorical ? std::vector<double>{} : info.bin_edges,
                            r.features[f].counts, r.features[f].min, r.features[f].max});
  }
  switch (r.score_kind) {
    case model::ScoreKind::kProbability:
      out.score = monitor::DriftReference::Score::kProbability;
      break;
    case model::ScoreKind::kClass:
      out.score = monitor::DriftReference::Score::kClass;
      break;
    case model::ScoreKind::kValue:
      out.score = monitor::DriftReference::Score::kValue;
      break;
    case model::ScoreKind::kNone:
      break;
  }
  out.score_edges = r.score_edges;
  out.score_counts = r.score_counts;
  return out;
}

namespace {

// The windows SaveMonitoring left for this version, when there are any that fit it.
void RestoreWindows(ServedModel& s) {
  auto restore = [&](const char* file, auto* windows) {
    const std::string path = s.state_dir + "/" + file;
    if (!windows) return;
    auto exists = s.fs->Exists(path);
    if (!exists.ok() || !*exists) return;
    auto text = s.fs->ReadFile(path, 64 << 20);
    Status restored = text.ok() ? windows->Restore(*text) : text.status();
    if (!restored.ok()) {
      KILN_LOG_WARN("model '{}' version {}: {} not restored: {}", s.name, s.version, path,
                    restored.ToString());
    }
  };
  restore("drift.window", s.drift.get());
  restore("performance.window", s.performance.get());
}

}  // namespace

Result<std::shared_ptr<const ServedModel>> ServedModel::Create(
    std::string name, int64_t version, std::shared_ptr<const model::TreeModel> model,
    const MonitoringOptions* monitoring, bool reject_out_of_range) {
  auto s = std::make_shared<ServedModel>();
  s->name = std::move(name);
  s->version = version;
  s->reject_out_of_range = reject_out_of_range;
  KILN_ASSIGN_OR_RETURN(s->predictor, model::Predictor::Create(model));
  s->category_codes.resize(model->features.size());
  for (size_t f = 0; f < model->features.size(); ++f) {
    const auto& info = model->features[f];
    s->feature_index[info.name] = f;
    for (size_t c = 0; c < info.categories.size(); ++c) {
      s->category_codes[f].emplace(info.categories[c], static_cast<double>(c));
    }
  }
  if (monitoring && !model->reference.empty()) {
    s->drift = std::make_shared<monitor::LiveDrift>(DriftReferenceOf(*model), monitoring->drift);
  }
  if (monitoring) {
    const monitor::Task task =
        model->objective == model::Objective::kBinaryLogistic      ? monitor::Task::kBinary
        : model->objective == model::Objective::kMulticlassSoftmax ? monitor::Task::kMulticlass
                                                                   : monitor::Task::kRegression;
    s->performance = std::make_shared<monitor::LivePerformance>(
        task, model->num_classes,
        monitor::PerformanceOptions{.window = monitoring->drift.window,
                                    .now_ms = monitoring->drift.now_ms});
    if (monitoring->fs) {
      s->fs = monitoring->fs;
      s->state_dir = fmt::format("{}/{}/v{}", monitoring->log_root, s->name, s->version);
      KILN_ASSIGN_OR_RETURN(
          auto log, monitor::PredictionLog::Open(monitoring->fs, s->state_dir, monitoring->log));
      s->log = std::move(log);
      RestoreWindows(*s);
    }
  }
  s->model = std::move(model);
  return std::shared_ptr<const ServedModel>(std::move(s));
}

Status ModelManager::SaveMonitoring() const {
  Status first = Status::Ok();
  for (const auto& served : Served()) {
    if (!served->fs || served->state_dir.empty()) continue;
    auto save = [&](const char* file, const std::string& text) {
      Status s = AtomicWriteFile(*served->fs, served->state_dir + "/" + file, text);
      if (!s.ok() && first.ok()) first = s;
    };
    if (served->drift) save("drift.window", served->drift->Save());
    if (served->performance) save("performance.window", served->performance->Save());
  }
  return first;
}

ModelManager::ModelManager(registry::CatalogStore* catalog, const storage::BlobStore* blobs,
                           Limits limits, monitor::MetricsRegistry* metrics,
                           std::string default_alias)
    : catalog_(catalog), blobs_(blobs), limits_(limits), default_alias_(std::move(default_alias)) {
  if (metrics) {
    load_time_ = &metrics->AddHistogram("kiln_model_load_seconds",
                                        "Time to read, compile and warm a model version.",
                                        {"model"}, monitor::LatencyBuckets());
    load_failures_ = &metrics->AddCounter("kiln_model_load_failures_total",
                                          "Model versions that failed to load or warm.", {"model"});
    served_version_ = &metrics->AddGauge(
        "kiln_model_version", "The version a model's default alias is served at.", {"model"});
  }
}

Result<std::shared_ptr<const ServedModel>> ModelManager::LoadVersion(const std::string& name,
                                                                     int64_t version) {
  const auto t0 = std::chrono::steady_clock::now();
  auto load = [&]() -> Result<std::shared_ptr<const ServedModel>> {
    KILN_ASSIGN_OR_RETURN(auto model, LoadModelVersion(*catalog_, *blobs_, name, version, limits_));
    const auto own = reject_.find(name);
    KILN_ASSIGN_OR_RETURN(
        auto served,
        ServedModel::Create(name, version, std::move(model), monitoring_ ? &*monitoring_ : nullptr,
                            own != reject_.end() ? own->second : reject_all_));
    // Warm-up: one prediction (a row of missing values) before the version takes traffic.
    const size_t cols = served->model->features.size();
    model::FeatureMatrix x{1, cols, std::vector<double>(cols, std::nan(""))};
    std::vector<float> out(served->predictor->output_width(model::PredictKind::kProbability));
    KILN_RETURN_IF_ERROR(served->predictor->Predict(
        x, model::PredictKind::kProbability, out, ExecContext(ExecContext::Options{.threads = 1})));
    return served;
  };
  auto served = load();
  // A version that does not exist is a client's mistake, not a failed load.
  if (!served.ok() && served.status().code() != StatusCode::kNotFound && load_failures_) {
    load_failures_->With({name})->Add();
  }
  if (served.ok() && load_time_) {
    load_time_->With({name})->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return served;
}

void ModelManager::EnableMonitoring(MonitoringOptions options) { monitoring_ = std::move(options); }

void ModelManager::RejectOutOfRange(bool all, std::map<std::string, bool> models) {
  reject_all_ = all;
  reject_ = std::move(models);
}

std::vector<std::shared_ptr<const ServedModel>> ModelManager::Served() const {
  std::vector<std::shared_ptr<const ServedModel>> out;
  MutexLock lock(&mu_);
  for (const auto& [name, m] : models_) {
    if (m.current) out.push_back(m.current);
    for (const auto& [number, other] : m.others) {
      if (other && other != m.current) out.push_back(other);
    }
  }
  return out;
}

Status ModelManager::LoadAll() {
  KILN_ASSIGN_OR_RETURN(int64_t seen, catalog_->LastAliasChange());
  KILN_ASSIGN_OR_RETURN(auto models, catalog_->ListModels());
  {
    MutexLock lock(&mu_);
    all_ = true;
    alias_seen_ = seen;
  }
  for (const auto& m : models) {
    if (!m.aliases.count(default_alias_)) continue;
    if (Status s = Load(m.name); !s.ok()) {
      KILN_LOG_ERROR("model '{}' is not served: {}", m.name, s.ToString());
    }
  }
  return Status::Ok();
}

Status ModelManager::Load(const std::string& name) {
  // One load or refresh at a time: a refresh cannot install a newer version between this
  // one's alias lookup and its swap.
  MutexLock loading(&refresh_mu_);
  auto version = catalog_->ResolveAlias(name, default_alias_);
  Result<std::shared_ptr<const ServedModel>> served =
      version.ok() ? LoadVersion(name, *version) : version.status();
  MutexLock lock(&mu_);
  unloaded_.erase(name);
  if (!served.ok()) {
    if (!models_.count(name) && served.status().code() != StatusCode::kNotFound) {
      failed_[name] = served.status().message();
    }
    return served.status();
  }
  // Loading (read, decode, compile, warm) happened outside the lock: requests kept being served.
  Install(name, std::move(*served));
  return Status::Ok();
}

Status ModelManager::Unload(const std::string& name) {
  MutexLock lock(&mu_);
  const bool failed = failed_.erase(name) > 0;
  if (models_.erase(name) == 0 && !failed) {
    return NotFoundError(fmt::format("model '{}' is not loaded", name));
  }
  unloaded_.insert(name);
  return Status::Ok();
}

void ModelManager::Install(const std::string& name, std::shared_ptr<const ServedModel> served) {
  if (served_version_) served_version_->With({name})->Set(static_cast<double>(served->version));
  models_[name].current = std::move(served);
  failed_.erase(name);
}

Result<std::vector<std::string>> ModelManager::Refresh() {
  MutexLock refreshing(&refresh_mu_);
  KILN_ASSIGN_OR_RETURN(int64_t seen, catalog_->LastAliasChange());
  std::set<std::string> names;
  bool all = false;
  {
    MutexLock lock(&mu_);
    if (seen == alias_seen_) return std::vector<std::string>{};
    // Aliases other than the default are resolved again at their next use.
    ++alias_generation_;
    for (auto& [name, m] : models_) m.aliases.clear();
    for (const auto& [name, m] : models_) names.insert(name);
    for (const auto& [name, error] : failed_) names.insert(name);
    all = all_;
  }
  if (all) {
    KILN_ASSIGN_OR_RETURN(auto models, catalog_->ListModels());
    for (const auto& m : models) {
      if (m.aliases.count(default_alias_)) names.insert(m.name);
    }
  }
  std::vector<std::string> changed;
  for (const std::string& name : names) {
    auto version = catalog_->ResolveAlias(name, default_alias_);
    if (!version.ok()) continue;  // alias removed: keep serving what is loaded
    {
      MutexLock lock(&mu_);
      if (unloaded_.count(name)) continue;
      auto it = models_.find(name);
      if (it != models_.end() && it->second.current->version == *version) continue;
    }
    auto served = LoadVersion(name, *version);
    MutexLock lock(&mu_);
    if (unloaded_.count(name)) continue;  // unloaded while it loaded
    if (!served.ok()) {
      KILN_LOG_ERROR("model '{}' version {} did not load; {}: {}", name, *version,
                     models_.count(name) ? "the previous version keeps serving" : "not served",
                     served.status().ToString());
      if (!models_.count(name)) failed_[name] = served.status().message();
      continue;
    }
    KILN_LOG_INFO("model '{}' now serves version {}", name, *version);
    Install(name, std::move(*served));
    changed.push_back(name);
  }
  MutexLock lock(&mu_);
  alias_seen_ = seen;
  return changed;
}

std::shared_ptr<const ServedModel> ModelManager::Model::Find(int64_t number) const {
  if (current && current->version == number) return current;
  auto v = others.find(number);
  return v == others.end() ? nullptr : v->second;
}

Result<std::shared_ptr<const ServedModel>> ModelManager::Get(const std::string& name,
                                                             const std::string& version) {
  int64_t number = 0;
  uint64_t generation = 0;
  {
    MutexLock lock(&mu_);
    generation = alias_generation_;
    auto it = models_.find(name);
    if (it == models_.end()) {
      auto failed = failed_.find(name);
      if (failed != failed_.end()) {
        return UnavailableError(fmt::format("model '{}' failed to load: {}", name, failed->second));
      }
      return NotFoundError(fmt::format("model '{}' is not loaded", name));
    }
    if (version.empty() || version == default_alias_) return it->second.current;
    if (auto n = ParseInteger(version, "version", 1, INT64_MAX); n.ok()) {
      number = *n;
    } else if (auto a = it->second.aliases.find(version); a != it->second.aliases.end()) {
      number = a->second;
    }
    if (number != 0) {
      if (auto held = it->second.Find(number)) return held;
    }
  }
  if (number == 0) {
    // An alias other than the default, not looked up since the last alias move.
    auto resolved = catalog_->ResolveAlias(name, version);
    if (!resolved.ok()) {
      return NotFoundError(
          fmt::format("model '{}' has no version or alias '{}'", name, version.substr(0, 64)));
    }
    number = *resolved;
    MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return NotFoundError(fmt::format("model '{}' is not loaded", name));
    // Remembered unless an alias moved meanwhile (Refresh forgets them all at a move).
    if (generation == alias_generation_ && it->second.aliases.size() < kMaxAliases) {
      it->second.aliases[version] = number;
    }
    if (auto held = it->second.Find(number)) return held;
  }
  // First use of this version: one load at a time, so requests arriving together for it wait
  // for one load instead of each loading it.
  MutexLock loading(&version_load_mu_);
  {
    MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return NotFoundError(fmt::format("model '{}' is not loaded", name));
    if (auto held = it->second.Find(number)) return held;
  }
  auto loaded = LoadVersion(name, number);
  if (!loaded.ok()) {
    if (loaded.status().code() == StatusCode::kNotFound) {
      return NotFoundError(fmt::format("model '{}' has no version {}", name, number));
    }
    return loaded.status();
  }
  MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFoundError(fmt::format("model '{}' is not loaded", name));
  auto& others = it->second.others;
  // Bounded: past kMaxOtherVersions the lowest version is forgotten (requests holding it keep
  // it until they end; a later request loads it again).
  if (others.size() >= kMaxOtherVersions) others.erase(others.begin());
  return others.emplace(number, std::move(*loaded)).first->second;
}

std::vector<ModelManager::Entry> ModelManager::List() const {
  MutexLock lock(&mu_);
  std::map<std::string, Entry> out;
  for (const auto& [name, m] : models_) out[name] = {name, m.current->version, ""};
  for (const auto& [name, error] : failed_) out[name] = {name, 0, error};
  std::vector<Entry> list;
  for (auto& [name, e] : out) list.push_back(std::move(e));
  return list;
}

}  // namespace kiln::serve
