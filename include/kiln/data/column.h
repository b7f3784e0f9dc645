// Column: one typed column of a Dataset (a chunk of rows or a whole dataset).
//
// Storage by type: kBool -> u8 (0/1); kInt64, kTimestamp -> i64; kFloat32 -> f32;
// kFloat64 -> f64; kCategorical -> u32 codes into `dictionary`; kString -> `offsets` (size+1
// entries) into `bytes`. The validity bitmap holds one bit per row (1 = present); when it is
// empty every row is present. A null row holds a zero/empty value in the typed buffer.
// Thread-safety: a value type; not synchronized.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/data/schema.h"

namespace kiln::data {

using RowIndex = uint64_t;
using Dictionary = std::vector<std::string>;

class Column {
 public:
  Column() = default;
  explicit Column(DataType type) : type_(type) {}

  DataType type() const { return type_; }
  RowIndex size() const { return size_; }
  RowIndex null_count() const { return null_count_; }
  bool IsValid(RowIndex i) const {
    return validity_.empty() || ((validity_[i >> 3] >> (i & 7)) & 1);
  }

  // Appenders; the caller appends with the method matching type().
  void AppendNull();
  void AppendBool(bool v) { u8_.push_back(v ? 1 : 0), MarkValid(); }
  void AppendInt64(int64_t v) { i64_.push_back(v), MarkValid(); }
  void AppendFloat32(float v) { f32_.push_back(v), MarkValid(); }
  void AppendFloat64(double v) { f64_.push_back(v), MarkValid(); }
  void AppendCode(uint32_t code) { u32_.push_back(code), MarkValid(); }
  void AppendString(std::string_view v);
  void Reserve(RowIndex rows);

  // Typed access (precondition: matching type()).
  const std::vector<uint8_t>& bools() const { return u8_; }
  const std::vector<int64_t>& int64s() const { return i64_; }
  const std::vector<float>& float32s() const { return f32_; }
  const std::vector<double>& float64s() const { return f64_; }
  const std::vector<uint32_t>& codes() const { return u32_; }
  std::string_view StringAt(RowIndex i) const {
    return std::string_view(bytes_).substr(offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  const std::vector<uint8_t>& validity() const { return validity_; }
  const std::vector<uint64_t>& string_offsets() const { return offsets_; }
  const std::string& string_bytes() const { return bytes_; }

  // Categorical dictionary (shared, immutable snapshot); null for other types.
  const std::shared_ptr<const Dictionary>& dictionary() const { return dictionary_; }
  void set_dictionary(std::shared_ptr<const Dictionary> d) { dictionary_ = std::move(d); }

  // Value as a numeric double (bool/int/float/timestamp); NaN for null or non-numeric types.
  double NumericAt(RowIndex i) const;
  // Value rendered as text (CSV export); empty for null.
  std::string TextAt(RowIndex i) const;

  // Builds a column from raw decoded buffers (used by the chunk decoder).
  struct Buffers {
    std::vector<uint8_t> validity;
    std::vector<uint8_t> u8;
    std::vector<int64_t> i64;
    std::vector<float> f32;
    std::vector<double> f64;
    std::vector<uint32_t> u32;
    std::vector<uint64_t> offsets;
    std::string bytes;
  };
  static Column FromBuffers(DataType type, RowIndex rows, RowIndex nulls, Buffers buffers);
  // Appends all rows of `other` (same type; categorical codes must share the dictionary).
  void AppendColumn(const Column& other);

 private:
  void MarkValid() {
    if (!validity_.empty()) GrowAndSet();
    ++size_;
  }
  void GrowAndSet();
  void SetBit(RowIndex i);

  DataType type_ = DataType::kString;
  RowIndex size_ = 0;
  RowIndex null_count_ = 0;
  std::vector<uint8_t> validity_;
  std::vector<uint8_t> u8_;
  std::vector<int64_t> i64_;
  std::vector<float> f32_;
  std::vector<double> f64_;
  std::vector<uint32_t> u32_;
  std::vector<uint64_t> offsets_{0};
  std::string bytes_;
  std::shared_ptr<const Dictionary> dictionary_;
};

// A set of equally long columns with a schema.
struct Dataset {
  Schema schema;
  std::vector<Column> columns;
  RowIndex num_rows() const { return columns.empty() ? 0 : columns[0].size(); }
};

// The rows `rows` of `column`, in that order (dictionary shared).
Column Take(const Column& column, const std::vector<RowIndex>& rows);
// The same rows of every column.
Dataset TakeRows(const Dataset& data, const std::vector<RowIndex>& rows);

// Renders microseconds since the epoch as "YYYY-MM-DDTHH:MM:SS[.ffffff]Z".
std::string FormatTimestamp(int64_t micros);
// The same for milliseconds since the epoch (catalog times), to the second.
std::string FormatMillis(int64_t ms);
// Parses ISO 8601 dates and date-times ("2024-01-31", "2024-01-31 12:00:00",
// "2024-01-31T12:00:00.5+02:00", "...Z"); false if `text` is not one.
bool ParseTimestamp(std::string_view text, int64_t* micros);

}  // namespace kiln::data
