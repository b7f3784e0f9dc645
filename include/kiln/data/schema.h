// Column types, roles and the Schema of a Dataset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::data {

enum class DataType : uint8_t {
  kBool = 1,
  kInt64 = 2,
  kFloat32 = 3,
  kFloat64 = 4,
  kCategorical = 5,  // dictionary + uint32 codes
  kString = 6,
  kTimestamp = 7,  // int64 microseconds since the Unix epoch, UTC
};

enum class ColumnRole : uint8_t { kFeature = 0, kLabel, kId, kTimestamp, kIgnored, kPii };

// "bool", "int64", "float32", "float64", "categorical", "string", "timestamp".
std::string_view DataTypeName(DataType type);
Result<DataType> ParseDataType(std::string_view text);
// "feature", "label", "id", "timestamp", "ignored", "pii".
std::string_view ColumnRoleName(ColumnRole role);
Result<ColumnRole> ParseColumnRole(std::string_view text);
bool IsNumeric(DataType type);  // int64, float32, float64, timestamp, bool

struct Field {
  std::string name;
  DataType type = DataType::kString;
  ColumnRole role = ColumnRole::kFeature;

  friend bool operator==(const Field&, const Field&) = default;
};

// An ordered list of uniquely named fields.
class Schema {
 public:
  Schema() = default;
  // InvalidArgument on duplicate or empty names.
  static Result<Schema> Make(std::vector<Field> fields);

  size_t size() const { return fields_.size(); }
  const Field& field(size_t i) const { return fields_[i]; }
  const std::vector<Field>& fields() const { return fields_; }
  std::optional<size_t> IndexOf(std::string_view name) const;

  friend bool operator==(const Schema&, const Schema&) = default;

 private:
  std::vector<Field> fields_;
};

}  // namespace kiln::data
