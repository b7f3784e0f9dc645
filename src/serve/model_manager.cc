#include "kiln/serve/model_manager.h"

#include <fmt/format.h>

#include "kiln/model/model_io.h"

namespace kiln::serve {

Result<std::shared_ptr<const model::TreeModel>> LoadModelVersion(registry::CatalogStore& catalog,
                                                                 const storage::BlobStore& blobs,
                                                                 const std::string& name,
                                                                 int64_t version,
                                                                 const Limits& limits) {
  KILN_ASSIGN_OR_RETURN(registry::ModelVersion mv, catalog.GetModelVersion(name, version));
  KILN_ASSIGN_OR_RETURN(std::string bytes, blobs.Read(mv.artifact, limits.max_model_bytes));
  KILN_ASSIGN_OR_RETURN(model::TreeModel m,
                        model::DecodeModel(bytes, fmt::format("{}:{}", mv.name, mv.version)));
  return std::shared_ptr<const model::TreeModel>(std::make_shared<model::TreeModel>(std::move(m)));
}

Result<std::shared_ptr<const ServedModel>> ServedModel::Create(
    std::string name, int64_t version, std::shared_ptr<const model::TreeModel> model) {
  auto s = std::make_shared<ServedModel>();
  s->name = std::move(name);
  s->version = version;
  KILN_ASSIGN_OR_RETURN(s->predictor, model::Predictor::Create(model));
  s->category_codes.resize(model->features.size());
  for (size_t f = 0; f < model->features.size(); ++f) {
    const auto& info = model->features[f];
    s->feature_index[info.name] = f;
    for (size_t c = 0; c < info.categories.size(); ++c) {
      s->category_codes[f].emplace(info.categories[c], static_cast<double>(c));
    }
  }
  s->model = std::move(model);
  return std::shared_ptr<const ServedModel>(std::move(s));
}

ModelManager::ModelManager(registry::CatalogStore* catalog, const storage::BlobStore* blobs,
                           Limits limits, std::string default_alias)
    : catalog_(catalog), blobs_(blobs), limits_(limits), default_alias_(std::move(default_alias)) {}

Result<std::shared_ptr<const ServedModel>> ModelManager::LoadVersion(const std::string& name,
                                                                     int64_t version) {
  KILN_ASSIGN_OR_RETURN(auto model, LoadModelVersion(*catalog_, *blobs_, name, version, limits_));
  return ServedModel::Create(name, version, std::move(model));
}

Status ModelManager::LoadAll() {
  KILN_ASSIGN_OR_RETURN(auto models, catalog_->ListModels());
  for (const auto& m : models) {
    if (!m.aliases.count(default_alias_)) continue;
    KILN_RETURN_IF_ERROR(Load(m.name));
  }
  return Status::Ok();
}

Status ModelManager::Load(const std::string& name) {
  KILN_ASSIGN_OR_RETURN(int64_t version, catalog_->ResolveAlias(name, default_alias_));
  // Loading (read, decode, compile) happens outside the lock: requests keep being served.
  KILN_ASSIGN_OR_RETURN(auto served, LoadVersion(name, version));
  MutexLock lock(&mu_);
  models_[name].current = std::move(served);
  return Status::Ok();
}

Status ModelManager::Unload(const std::string& name) {
  MutexLock lock(&mu_);
  if (models_.erase(name) == 0) {
    return NotFoundError(fmt::format("model '{}' is not loaded", name));
  }
  return Status::Ok();
}

Result<std::shared_ptr<const ServedModel>> ModelManager::Get(const std::string& name,
                                                             const std::string& version) {
  int64_t number = 0;
  {
    MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return NotFoundError(fmt::format("model '{}' is not loaded", name));
    if (version.empty() || version == default_alias_) return it->second.current;
    const bool digits = version.find_first_not_of("0123456789") == std::string::npos;
    if (digits && version.size() < 18) {
      number = std::stoll(version);
      if (it->second.current && it->second.current->version == number) {
        return it->second.current;
      }
      auto v = it->second.others.find(number);
      if (v != it->second.others.end()) return v->second;
    }
  }
  if (number == 0) {
    // An alias other than the default: resolved at each request (it may move).
    auto resolved = catalog_->ResolveAlias(name, version);
    if (!resolved.ok()) {
      return NotFoundError(
          fmt::format("model '{}' has no version or alias '{}'", name, version.substr(0, 64)));
    }
    number = *resolved;
    MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return NotFoundError(fmt::format("model '{}' is not loaded", name));
    if (it->second.current && it->second.current->version == number) return it->second.current;
    auto v = it->second.others.find(number);
    if (v != it->second.others.end()) return v->second;
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
  return it->second.others.emplace(number, std::move(*loaded)).first->second;
}

std::vector<ModelManager::Entry> ModelManager::List() const {
  MutexLock lock(&mu_);
  std::vector<Entry> out;
  for (const auto& [name, m] : models_) {
    out.push_back({name, m.current->version});
  }
  return out;
}

}  // namespace kiln::serve
