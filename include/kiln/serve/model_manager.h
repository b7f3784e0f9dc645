// ModelManager: the registered model versions a server holds, addressed the way clients address
// them — `NAME` (its `production` alias), `NAME` + version "3", or `NAME` + alias "staging".
//
// A served version is an immutable snapshot (shared_ptr<const ServedModel>): a request keeps the
// version it started with even if the alias moves meanwhile, and the old version is freed when
// its last request ends. Models are only ever loaded from the registry by name (never from a
// path a client names, BI-27/28), their artifacts read from the content-addressed blob store.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/base/limits.h"
#include "kiln/base/mutex.h"
#include "kiln/base/status.h"
#include "kiln/model/predictor.h"
#include "kiln/model/tree_model.h"
#include "kiln/registry/catalog_store.h"
#include "kiln/storage/blob_store.h"

namespace kiln::serve {

// Version `version` (0: latest) of registered model `name`, read from `blobs`.
Result<std::shared_ptr<const model::TreeModel>> LoadModelVersion(registry::CatalogStore& catalog,
                                                                 const storage::BlobStore& blobs,
                                                                 const std::string& name,
                                                                 int64_t version,
                                                                 const Limits& limits);

// One loaded version: the model, its compiled predictor and the lookups a request needs.
struct ServedModel {
  std::string name;
  int64_t version = 0;
  std::shared_ptr<const model::TreeModel> model;
  std::unique_ptr<model::Predictor> predictor;
  std::unordered_map<std::string, size_t> feature_index;  // feature name -> column
  // Categorical features: category text -> code (empty map for numeric features).
  std::vector<std::unordered_map<std::string, double>> category_codes;

  static Result<std::shared_ptr<const ServedModel>> Create(
      std::string name, int64_t version, std::shared_ptr<const model::TreeModel> model);
};

class ModelManager {
 public:
  ModelManager(registry::CatalogStore* catalog, const storage::BlobStore* blobs, Limits limits,
               std::string default_alias = "production");

  // Loads every registered model that has the default alias.
  Status LoadAll();
  // Loads `name` at its default alias (a model repository "load"); NotFound for an unknown
  // model or one without that alias.
  Status Load(const std::string& name);
  // Forgets `name` (in-flight requests keep their versions); NotFound if it is not loaded.
  Status Unload(const std::string& name);

  // The version a request addresses: `version` "" = the default alias, digits = that version
  // number, else an alias. Loads a version of a loaded model on first use. NotFound when the
  // model is not loaded or the version / alias does not exist.
  Result<std::shared_ptr<const ServedModel>> Get(const std::string& name,
                                                 const std::string& version);

  struct Entry {
    std::string name;
    int64_t version = 0;  // the default alias's version
  };
  // The loaded models, by name.
  std::vector<Entry> List() const;

 private:
  struct Model {
    std::shared_ptr<const ServedModel> current;  // at the default alias
    std::map<int64_t, std::shared_ptr<const ServedModel>> others;
  };
  Result<std::shared_ptr<const ServedModel>> LoadVersion(const std::string& name, int64_t version);

  registry::CatalogStore* catalog_;
  const storage::BlobStore* blobs_;
  const Limits limits_;
  const std::string default_alias_;
  mutable Mutex mu_;
  std::map<std::string, Model> models_ KILN_GUARDED_BY(mu_);
};

}  // namespace kiln::serve
