#include "kiln/pipeline/training_data.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/names.h"
#include "kiln/ingest/reader.h"

namespace kiln::pipeline {

Result<Labels> MakeLabels(const data::Dataset& d, const std::string& target,
                          const std::string& task, const std::vector<std::string>* classes) {
  auto idx = d.schema.IndexOf(target);
  if (!idx) return InvalidArgumentError(fmt::format("no target column '{}'", target));
  const data::Column& c = d.columns[*idx];
  for (size_t r = 0; r < c.size(); ++r) {
    if (!c.IsValid(r)) {
      return InvalidArgumentError(fmt::format("target '{}' is missing in row {}", target, r + 1));
    }
  }
  Labels l;
  const bool numeric = data::IsNumeric(c.type());
  // Distinct target values in first-seen order (as text), capped.
  std::vector<std::string> seen;
  std::map<std::string, int32_t> index;
  bool integral = true;
  for (size_t r = 0; r < c.size() && seen.size() <= 1000; ++r) {
    std::string v = c.TextAt(r);
    if (numeric && c.NumericAt(r) != std::floor(c.NumericAt(r))) integral = false;
    if (index.emplace(v, static_cast<int32_t>(seen.size())).second) seen.push_back(v);
  }
  std::string t = task;
  if (t.empty()) {
    if (classes)
      t = classes->size() == 2 ? "binary" : "multiclass";
    else if (seen.size() == 2)
      t = "binary";
    else if (!numeric || (integral && seen.size() <= 30))
      t = "multiclass";
    else
      t = "regression";
  }
  if (seen.size() < 2 && !classes) {
    return InvalidArgumentError(fmt::format("target '{}' is constant: nothing to learn", target));
  }
  if (t == "regression") {
    if (!numeric)
      return InvalidArgumentError(fmt::format("regression target '{}' is not numeric", target));
    l.objective = model::Objective::kRegressionL2;
    for (size_t r = 0; r < c.size(); ++r) l.values.push_back(static_cast<float>(c.NumericAt(r)));
    return l;
  }
  if (t != "binary" && t != "multiclass") {
    return InvalidArgumentError(
        fmt::format("unknown task '{}' (binary, multiclass, regression)", t));
  }
  if (classes) {
    l.class_labels = *classes;
  } else {
    l.class_labels = seen;
    if (numeric) {  // numeric classes in numeric order
      std::sort(
          l.class_labels.begin(), l.class_labels.end(),
          [](const std::string& a, const std::string& b) { return std::stod(a) < std::stod(b); });
    }
  }
  std::map<std::string, int32_t> class_index;
  for (size_t k = 0; k < l.class_labels.size(); ++k) {
    class_index[l.class_labels[k]] = static_cast<int32_t>(k);
  }
  if (t == "binary" && l.class_labels.size() != 2) {
    return InvalidArgumentError(
        fmt::format("binary target '{}' has {} classes", target, l.class_labels.size()));
  }
  l.objective =
      t == "binary" ? model::Objective::kBinaryLogistic : model::Objective::kMulticlassSoftmax;
  l.num_classes = static_cast<int32_t>(l.class_labels.size());
  for (size_t r = 0; r < c.size(); ++r) {
    auto it = class_index.find(c.TextAt(r));
    if (it == class_index.end()) {
      return InvalidArgumentError(
          fmt::format("row {}: class '{}' of '{}' is not one the model knows", r + 1,
                      c.TextAt(r).substr(0, 64), target));
    }
    l.values.push_back(static_cast<float>(it->second));
  }
  return l;
}

std::vector<size_t> FeatureColumns(const data::Dataset& d, const std::string& target,
                                   std::vector<std::string>* skipped) {
  std::vector<size_t> out;
  for (size_t i = 0; i < d.schema.size(); ++i) {
    const auto& f = d.schema.field(i);
    if (f.name == target || f.role != data::ColumnRole::kFeature) continue;
    if (f.type == data::DataType::kString) {
      if (skipped) skipped->push_back(f.name);
      continue;
    }
    out.push_back(i);
  }
  return out;
}

Result<LoadedData> LoadData(storage::DatasetStore* store, FileSystem& fs, const std::string& ref,
                            const ExecContext& ctx) {
  LoadedData out;
  const auto parsed = AsDatasetRef(ref);
  if (parsed && store) {
    KILN_ASSIGN_OR_RETURN(auto rec, store->Resolve(*parsed));
    KILN_ASSIGN_OR_RETURN(auto manifest, store->LoadManifest(rec));
    KILN_ASSIGN_OR_RETURN(out.data, store->ReadAll(manifest, {}));
    out.label = fmt::format("{}@v{}", rec.name, rec.version);
    out.content_hash = rec.content_hash;
    return out;
  }
  KILN_ASSIGN_OR_RETURN(auto reader, ingest::TableReader::Open(fs, ref, {}, ctx));
  data::Dataset chunk;
  while (true) {
    KILN_ASSIGN_OR_RETURN(ingest::ReadEvent ev, reader->Next(&chunk));
    if (ev == ingest::ReadEvent::kEnd) break;
    if (ev == ingest::ReadEvent::kRestart) {
      out.data = {};
      continue;
    }
    if (out.data.columns.empty()) {
      out.data.schema = chunk.schema;
      for (const auto& c : chunk.columns) out.data.columns.emplace_back(c.type());
    }
    for (size_t c = 0; c < chunk.columns.size(); ++c)
      out.data.columns[c].AppendColumn(chunk.columns[c]);
  }
  auto dicts = reader->dictionaries();
  for (size_t c = 0; c < out.data.columns.size(); ++c) {
    if (dicts[c]) out.data.columns[c].set_dictionary(dicts[c]);
  }
  out.label = ref;
  out.content_hash = reader->source_sha256();
  return out;
}

std::pair<std::vector<data::RowIndex>, std::vector<data::RowIndex>> SplitRows(size_t rows,
                                                                              double fraction,
                                                                              uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x5eedull);
  std::bernoulli_distribution pick(fraction);
  std::vector<data::RowIndex> train, valid;
  for (size_t r = 0; r < rows; ++r) (pick(rng) ? valid : train).push_back(r);
  return {train, valid};
}

Result<learn::GbdtParams> ParseParams(const std::vector<std::string>& kvs) {
  learn::GbdtParams p;
  for (const auto& kv : kvs) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      return InvalidArgumentError(fmt::format("--param expects k=v, got '{}'", kv.substr(0, 64)));
    }
    KILN_RETURN_IF_ERROR(p.Set(kv.substr(0, eq), kv.substr(eq + 1)));
  }
  KILN_RETURN_IF_ERROR(p.Validate());
  return p;
}

std::map<std::string, std::string> RunParams(const learn::GbdtParams& p) {
  std::map<std::string, std::string> out;
  const nlohmann::json resolved = nlohmann::json::parse(p.ToJson());
  for (auto it = resolved.begin(); it != resolved.end(); ++it) {
    out[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  return out;
}

learn::TrainOptions TrainOptionsFor(const learn::GbdtParams& params, const Labels& labels,
                                    const std::string& target) {
  learn::TrainOptions o;
  o.params = params;
  o.objective = labels.objective;
  o.num_classes = labels.num_classes;
  o.target = target;
  o.class_labels = labels.class_labels;
  return o;
}

}  // namespace kiln::pipeline
