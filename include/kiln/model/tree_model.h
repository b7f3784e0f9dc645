// TreeModel: a gradient-boosted tree ensemble as trained by learn/gbdt and loaded from model
// files (docs/formats/model.md). Immutable once built; share as shared_ptr<const TreeModel>.
//
// Trees are flat node arrays. A split node sends a row left when its feature value is
// <= threshold (numeric) or its category is in the node's category set (categorical); a missing
// value (and an unknown category) follows `default_left`. Children always have larger indices
// than their parent, so every tree is acyclic by construction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/base/status.h"
#include "kiln/data/schema.h"
#include "kiln/model/reference.h"

namespace kiln::model {

enum class Objective : uint8_t {
  kBinaryLogistic = 1,
  kMulticlassSoftmax = 2,
  kRegressionL2 = 3,
  kRegressionL1 = 4,
  kPoisson = 5,
};
std::string_view ObjectiveName(Objective o);
Result<Objective> ParseObjective(std::string_view text);

struct FeatureInfo {
  std::string name;
  bool categorical = false;
  std::vector<std::string> categories;  // categorical: the training dictionary, code order
  std::vector<double> bin_edges;        // numeric: upper bin bounds from training (drift reference)
};

struct Node {
  int32_t left = -1;  // -1: leaf
  int32_t right = -1;
  uint32_t feature = 0;
  bool default_left = false;
  bool categorical = false;
  double threshold = 0;    // numeric split
  uint32_t cat_begin = 0;  // categorical split: indices into Tree::categories (sorted codes)
  uint32_t cat_end = 0;
  double value = 0;  // leaf output (margin contribution)
  double gain = 0;   // split gain (importance)
  double cover = 0;  // sum of hessians reaching the node
  bool is_leaf() const { return left < 0; }
};

struct Tree {
  std::vector<Node> nodes;           // nodes[0] is the root
  std::vector<uint32_t> categories;  // category codes of categorical splits, per-node ranges
  int32_t class_index = 0;           // multiclass: the class this tree scores
};

struct TreeModel {
  Objective objective = Objective::kBinaryLogistic;
  int32_t num_classes = 1;         // 1 for binary and regression
  std::vector<double> base_score;  // one margin per output group
  std::vector<FeatureInfo> features;
  std::string target;
  std::vector<std::string> class_labels;  // classification: label text per class index
  std::vector<Tree> trees;
  int32_t best_iteration = -1;  // early stopping: trees [0, (best+1)*groups) are used
  std::string params_json;      // training parameters, for inspection
  ReferenceProfile reference;   // the training data's profile, for drift (may be empty)
  // Checkpoints only: the trainer's state to resume from (iteration, early-stopping state).
  std::string train_state_json;

  int32_t num_groups() const {
    return objective == Objective::kMulticlassSoftmax ? num_classes : 1;
  }
  // Binary or multiclass (labels are classes), else regression.
  bool is_classification() const {
    return objective == Objective::kBinaryLogistic || objective == Objective::kMulticlassSoftmax;
  }
  // Structural checks (indices in range, children after parents, categories sorted and below
  // 256, sizes).
  Status Validate() const;
};

}  // namespace kiln::model
