// The run filter language of `kiln runs list --filter` and its translation to SQL.
//
//   metrics.auc > 0.8 and (params.max_depth in (6, 8) or tags.team = 'risk')
//   attributes.status = 'finished' and not params.eta is null
//
// Terms: `params.K`, `metrics.K`, `tags.K`, `attributes.NAME` (K may contain dots, or be quoted
// with backticks: metrics.`valid auc`); comparisons = == != < <= > >=, `in (v, ...)`,
// `not in (...)`, `is null`, `is not null`, `like 'pat%'`; `and`, `or`, `not`, parentheses.
// Values are numbers or quoted strings ('..' with '' for a quote, or "..").
//
// The filter is parsed into a tree and emitted as SQL whose every value and key is a bound
// parameter; only fixed fragments of this file are ever pasted, so no input reaches SQL text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::registry {

// How parameters are written: SQLite `?N`, PostgreSQL `$N` with a type cast.
enum class SqlDialect { kSqlite, kPostgres };

using SqlValue = std::variant<std::string, double>;

struct SqlFragment {
  std::string sql;
  std::vector<SqlValue> args;  // parameter i (1-based in SQL) is args[i - 1]
};

// The WHERE condition for `filter` over `runs r` (with tables run_params, run_metrics, run_tags
// keyed by run_seq); "" filter gives "1=1". Parameter numbers start at `first_param`.
Result<SqlFragment> CompileRunFilter(std::string_view filter, SqlDialect dialect, int first_param);

// The ORDER BY list for `order_by` ("metrics.auc desc, attributes.start_time"), "" = newest
// first. Parameter numbers start at `first_param`.
Result<SqlFragment> CompileRunOrder(std::string_view order_by, SqlDialect dialect, int first_param);

}  // namespace kiln::registry
