// Dataset validation: typed rules checked against a dataset version's schema and profiles.
//
// Rules come from a rules file (ingest/config.h parses YAML into Rules) or are inferred from a
// reference version (InferRules). Validate() returns a report; the caller decides the exit code.
//
//   Rules rules = InferRules(reference);
//   ValidationReport r = Validate(current, rules, &reference, unique_checker);
//   if (!r.passed()) ...
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kiln/data/profile.h"

namespace kiln::data {

struct ColumnRule {
  std::string name;
  bool required = true;
  std::optional<DataType> type;
  std::optional<double> max_null_fraction;
  std::optional<double> min;                        // every present value >= min
  std::optional<double> max;                        // every present value <= max
  std::optional<std::vector<std::string>> allowed;  // categorical/string/bool values
  bool unique = false;
  std::optional<double> max_psi;  // against the reference version
};

struct Rules {
  std::optional<int64_t> min_rows, max_rows;
  bool allow_extra_columns = true;
  std::vector<ColumnRule> columns;
};

// What validation needs to know about one dataset version.
struct DatasetSummary {
  std::string label;  // "churn@v3", for messages
  Schema schema;
  int64_t rows = 0;
  std::vector<ColumnProfile> profiles;  // parallel to schema
};

struct RuleOutcome {
  std::string column;  // empty for dataset-level rules
  std::string rule;    // "type", "required", "null_fraction", "min", "max", "allowed",
                       // "unique", "psi", "min_rows", "max_rows", "extra_column"
  bool passed = true;
  std::string detail;
};

struct ValidationReport {
  std::vector<RuleOutcome> outcomes;
  bool passed() const;
  size_t failures() const;
};

// Returns the number of duplicated present values in a column (for `unique`), or an error.
using DuplicateCounter = std::function<Result<uint64_t>(size_t column_index)>;

ValidationReport Validate(const DatasetSummary& data, const Rules& rules,
                          const DatasetSummary* reference, const DuplicateCounter& duplicates);

// Expectations inferred from a reference version: same columns and types, null fraction at
// most reference + 0.05, numeric ranges widened by 10% of their span, categorical values
// limited to the reference's when it saw them all, rows within [ref/2, ref*2] and
// PSI <= 0.2 per column.
Rules InferRules(const DatasetSummary& reference);

// Counts values that appear more than once (exact; hashes every present value).
uint64_t CountDuplicates(const std::vector<const Column*>& chunks);

}  // namespace kiln::data
