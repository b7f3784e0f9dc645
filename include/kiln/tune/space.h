// The search space of `kiln tune` (space.yaml) and the samplers that draw from it.
//
//   max_depth:     {type: int, low: 3, high: 10}
//   learning_rate: {type: float, low: 0.01, high: 0.3, log: true}
//   colsample:     {type: float, low: 0.5, high: 1.0}
//   max_cat_to_onehot: {type: categorical, values: [2, 4, 8]}
//
// Every key is a training parameter (learn::GbdtParams names and aliases); `max_bin` and
// `threads` cannot be tuned (trials share one binning and the machine's threads).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::tune {

struct ParamSpec {
  enum class Type { kInt, kFloat, kCategorical };
  std::string name;
  Type type = Type::kFloat;
  double low = 0, high = 0;
  bool log = false;
  std::vector<std::string> values;  // categorical
};

struct SearchSpace {
  std::vector<ParamSpec> params;  // in the file's order
};

// The text of a space.yaml as a space, checked by ValidateSpace. InvalidArgument naming the
// parameter or the YAML error.
Result<SearchSpace> ParseSpace(std::string_view yaml);

// Checks a space (read from space.yaml by the CLI): each name must be a training parameter,
// listed once, and each range valid for it. InvalidArgument with the parameter's name.
Status ValidateSpace(const SearchSpace& space);

// One point of the space: numbers for int/float (ints are whole), the value's index for
// categoricals.
using Assignment = std::map<std::string, double>;

// The parameter's text as the trainer takes it ("7", "0.05", "binary").
std::string ValueText(const ParamSpec& spec, double value);
// The inverse of ValueText; InvalidArgument if `text` is not a value of the space.
Result<double> ParseValue(const ParamSpec& spec, std::string_view text);

// A finished trial as the sampler sees it: lower loss is better.
struct Observation {
  Assignment params;
  double loss = 0;
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual Assignment Suggest(const std::vector<Observation>& history, std::mt19937_64& rng) = 0;
};

std::unique_ptr<Sampler> NewRandomSampler(SearchSpace space);
// Tree-structured Parzen estimator (one estimator per parameter, as hyperopt): random for the
// first `startup` trials, then the candidate (of 24 drawn from the good trials' density l) with
// the largest l(x) / g(x).
std::unique_ptr<Sampler> NewTpeSampler(SearchSpace space, int startup);

}  // namespace kiln::tune
