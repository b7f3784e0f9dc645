#include "kiln/data/validate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include <fmt/format.h>

#include "kiln/base/hash.h"

namespace kiln::data {

bool ValidationReport::passed() const { return failures() == 0; }

size_t ValidationReport::failures() const {
  return static_cast<size_t>(std::count_if(outcomes.begin(), outcomes.end(),
                                           [](const RuleOutcome& o) { return !o.passed; }));
}

namespace {

void Check(ValidationReport* r, const std::string& column, std::string rule, bool ok,
           std::string detail) {
  r->outcomes.push_back({column, std::move(rule), ok, std::move(detail)});
}

void CheckColumn(const DatasetSummary& data, size_t idx, const ColumnRule& rule,
                 const DatasetSummary* reference, const DuplicateCounter& duplicates,
                 ValidationReport* r) {
  const Field& f = data.schema.field(idx);
  const ColumnProfile& p = data.profiles[idx];
  if (rule.type) {
    Check(r, f.name, "type", f.type == *rule.type,
          fmt::format("expected {}, found {}", DataTypeName(*rule.type), DataTypeName(f.type)));
  }
  if (rule.max_null_fraction) {
    Check(r, f.name, "null_fraction", p.null_fraction() <= *rule.max_null_fraction + 1e-12,
          fmt::format("null fraction {:.4f} (max {:.4f})", p.null_fraction(),
                      *rule.max_null_fraction));
  }
  if (rule.min) {
    bool ok = !p.min || *p.min >= *rule.min;
    Check(r, f.name, "min", ok,
          fmt::format("minimum {} (allowed >= {:.6g})",
                      p.min ? fmt::format("{:.6g}", *p.min) : "n/a", *rule.min));
  }
  if (rule.max) {
    bool ok = !p.max || *p.max <= *rule.max;
    Check(r, f.name, "max", ok,
          fmt::format("maximum {} (allowed <= {:.6g})",
                      p.max ? fmt::format("{:.6g}", *p.max) : "n/a", *rule.max));
  }
  if (rule.allowed) {
    std::vector<std::string> unexpected;
    for (const auto& v : p.top) {
      if (std::find(rule.allowed->begin(), rule.allowed->end(), v.value) == rule.allowed->end()) {
        unexpected.push_back(v.value);
      }
    }
    std::string detail = unexpected.empty()
                             ? fmt::format("{} distinct values, all allowed", p.distinct)
                             : fmt::format("unexpected values: {}", fmt::join(unexpected, ", "));
    if (unexpected.empty() && !p.top_complete) {
      detail += " (only the most frequent values are profiled)";
    }
    Check(r, f.name, "allowed", unexpected.empty(), std::move(detail));
  }
  if (rule.unique) {
    auto dups = duplicates(idx);
    if (!dups.ok()) {
      Check(r, f.name, "unique", false, dups.status().ToString());
    } else {
      Check(r, f.name, "unique", *dups == 0, fmt::format("{} duplicated values", *dups));
    }
  }
  if (rule.max_psi && reference) {
    auto ref_idx = reference->schema.IndexOf(f.name);
    std::optional<double> psi;
    if (ref_idx) psi = Psi(reference->profiles[*ref_idx], p);
    if (psi) {
      Check(r, f.name, "psi", *psi <= *rule.max_psi,
            fmt::format("PSI {:.4f} vs {} (max {:.4f})", *psi, reference->label, *rule.max_psi));
    }
  }
}

}  // namespace

ValidationReport Validate(const DatasetSummary& data, const Rules& rules,
                          const DatasetSummary* reference, const DuplicateCounter& duplicates) {
  ValidationReport r;
  if (rules.min_rows) {
    Check(&r, "", "min_rows", data.rows >= *rules.min_rows,
          fmt::format("{} rows (min {})", data.rows, *rules.min_rows));
  }
  if (rules.max_rows) {
    Check(&r, "", "max_rows", data.rows <= *rules.max_rows,
          fmt::format("{} rows (max {})", data.rows, *rules.max_rows));
  }
  for (const ColumnRule& rule : rules.columns) {
    auto idx = data.schema.IndexOf(rule.name);
    if (!idx) {
      Check(&r, rule.name, "required", !rule.required, "column is missing");
      continue;
    }
    CheckColumn(data, *idx, rule, reference, duplicates, &r);
  }
  if (!rules.allow_extra_columns) {
    for (const Field& f : data.schema.fields()) {
      bool known = std::any_of(rules.columns.begin(), rules.columns.end(),
                               [&](const ColumnRule& c) { return c.name == f.name; });
      if (!known) Check(&r, f.name, "extra_column", false, "column is not in the rules");
    }
  }
  return r;
}

Rules InferRules(const DatasetSummary& ref) {
  Rules rules;
  rules.min_rows = ref.rows / 2;
  rules.max_rows = ref.rows * 2;
  rules.allow_extra_columns = false;
  for (size_t i = 0; i < ref.schema.size(); ++i) {
    const Field& f = ref.schema.field(i);
    const ColumnProfile& p = ref.profiles[i];
    ColumnRule c;
    c.name = f.name;
    c.type = f.type;
    c.max_null_fraction = std::min(1.0, p.null_fraction() + 0.05);
    if (p.min && p.max && f.type != DataType::kBool) {
      const double margin = (*p.max - *p.min) * 0.1;
      c.min = *p.min - margin;
      c.max = *p.max + margin;
    }
    if ((f.type == DataType::kCategorical || f.type == DataType::kBool) && p.top_complete) {
      std::vector<std::string> values;
      for (const auto& v : p.top) values.push_back(v.value);
      c.allowed = std::move(values);
    }
    c.max_psi = 0.2;
    rules.columns.push_back(std::move(c));
  }
  return rules;
}

uint64_t CountDuplicates(const std::vector<const Column*>& chunks) {
  std::unordered_set<std::string> seen_text;
  std::unordered_set<uint64_t> seen_bits;
  uint64_t dups = 0;
  for (const Column* c : chunks) {
    for (RowIndex i = 0; i < c->size(); ++i) {
      if (!c->IsValid(i)) continue;
      bool fresh;
      if (c->type() == DataType::kString) {
        fresh = seen_text.emplace(c->StringAt(i)).second;
      } else if (c->type() == DataType::kCategorical) {
        fresh = seen_bits.insert(c->codes()[i]).second;
      } else if (c->type() == DataType::kInt64 || c->type() == DataType::kTimestamp) {
        fresh = seen_bits.insert(static_cast<uint64_t>(c->int64s()[i])).second;
      } else {
        double v = c->NumericAt(i);
        uint64_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        fresh = seen_bits.insert(bits).second;
      }
      dups += fresh ? 0 : 1;
    }
  }
  return dups;
}

}  // namespace kiln::data
