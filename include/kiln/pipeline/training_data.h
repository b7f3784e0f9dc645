// Turning a dataset into trainer inputs: the target column into labels (with task inference),
// the feature columns, and a seeded train/validation split. Shared by train, eval and predict.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/base/file_system.h"
#include "kiln/data/column.h"
#include "kiln/learn/gbdt/trainer.h"
#include "kiln/learn/params.h"
#include "kiln/model/tree_model.h"
#include "kiln/storage/dataset_store.h"

namespace kiln::pipeline {

struct Labels {
  model::Objective objective = model::Objective::kBinaryLogistic;
  int32_t num_classes = 1;
  std::vector<std::string> class_labels;  // classification: text of each class index
  std::vector<float> values;              // class index or regression value per row
};

// Labels from `target`; `task` is "binary", "multiclass", "regression" or empty (inferred: two
// distinct values -> binary, up to 30 discrete values -> multiclass, else regression). With
// `classes` (from a model), class texts map to those indices and unknown ones are an error.
Result<Labels> MakeLabels(const data::Dataset& d, const std::string& target,
                          const std::string& task,
                          const std::vector<std::string>* classes = nullptr);

// Feature columns: everything but the target and columns whose role is not `feature`;
// string columns are skipped (listed in `skipped`).
std::vector<size_t> FeatureColumns(const data::Dataset& d, const std::string& target,
                                   std::vector<std::string>* skipped);

// A dataset reference NAME[@vN] read from the store, or a CSV / JSON Lines file path.
struct LoadedData {
  data::Dataset data;
  std::string label;  // "credit@v2" or the file name
  std::string content_hash;
};
Result<LoadedData> LoadData(storage::DatasetStore* store, FileSystem& fs, const std::string& ref,
                            const ExecContext& ctx);

// `--param k=v` flags -> validated training parameters.
Result<learn::GbdtParams> ParseParams(const std::vector<std::string>& kvs);

// Resolved parameters as a run's params (one text per name).
std::map<std::string, std::string> RunParams(const learn::GbdtParams& p);

// Trainer options for `params` and the labels of column `target`.
learn::TrainOptions TrainOptionsFor(const learn::GbdtParams& params, const Labels& labels,
                                    const std::string& target);

// Seeded random split: (train rows, validation rows), validation ~ `fraction` of the rows.
std::pair<std::vector<data::RowIndex>, std::vector<data::RowIndex>> SplitRows(size_t rows,
                                                                              double fraction,
                                                                              uint64_t seed);

}  // namespace kiln::pipeline
