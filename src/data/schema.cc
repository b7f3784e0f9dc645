#include "kiln/data/schema.h"

#include <unordered_set>

#include <fmt/format.h>

namespace kiln::data {

std::string_view DataTypeName(DataType type) {
  switch (type) {
    case DataType::kBool:
      return "bool";
    case DataType::kInt64:
      return "int64";
    case DataType::kFloat32:
      return "float32";
    case DataType::kFloat64:
      return "float64";
    case DataType::kCategorical:
      return "categorical";
    case DataType::kString:
      return "string";
    case DataType::kTimestamp:
      return "timestamp";
  }
  return "unknown";
}

Result<DataType> ParseDataType(std::string_view t) {
  for (DataType d : {DataType::kBool, DataType::kInt64, DataType::kFloat32, DataType::kFloat64,
                     DataType::kCategorical, DataType::kString, DataType::kTimestamp}) {
    if (t == DataTypeName(d)) return d;
  }
  if (t == "int" || t == "integer") return DataType::kInt64;
  if (t == "float" || t == "double") return DataType::kFloat64;
  if (t == "category") return DataType::kCategorical;
  return InvalidArgumentError(fmt::format(
      "unknown type '{}' (expected bool, int64, float32, float64, categorical, string or "
      "timestamp)",
      t.substr(0, 64)));
}

std::string_view ColumnRoleName(ColumnRole role) {
  switch (role) {
    case ColumnRole::kFeature:
      return "feature";
    case ColumnRole::kLabel:
      return "label";
    case ColumnRole::kId:
      return "id";
    case ColumnRole::kTimestamp:
      return "timestamp";
    case ColumnRole::kIgnored:
      return "ignored";
    case ColumnRole::kPii:
      return "pii";
  }
  return "unknown";
}

Result<ColumnRole> ParseColumnRole(std::string_view t) {
  for (ColumnRole r : {ColumnRole::kFeature, ColumnRole::kLabel, ColumnRole::kId,
                       ColumnRole::kTimestamp, ColumnRole::kIgnored, ColumnRole::kPii}) {
    if (t == ColumnRoleName(r)) return r;
  }
  return InvalidArgumentError(
      fmt::format("unknown role '{}' (expected feature, label, id, timestamp, ignored or pii)",
                  t.substr(0, 64)));
}

bool IsNumeric(DataType t) {
  return t == DataType::kBool || t == DataType::kInt64 || t == DataType::kFloat32 ||
         t == DataType::kFloat64 || t == DataType::kTimestamp;
}

Result<Schema> Schema::Make(std::vector<Field> fields) {
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name.empty()) {
      return InvalidArgumentError(fmt::format("column {} has an empty name", i + 1));
    }
    if (!seen.insert(fields[i].name).second) {
      return InvalidArgumentError(fmt::format("duplicate column name '{}' (column {})",
                                              fields[i].name.substr(0, 200), i + 1));
    }
  }
  Schema s;
  s.fields_ = std::move(fields);
  return s;
}

std::optional<size_t> Schema::IndexOf(std::string_view name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return i;
  }
  return std::nullopt;
}

}  // namespace kiln::data
