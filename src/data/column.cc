#include "kiln/data/column.h"

#include <charconv>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace kiln::data {

void Column::SetBit(RowIndex i) { validity_[i >> 3] |= static_cast<uint8_t>(1u << (i & 7)); }

void Column::GrowAndSet() {
  if (validity_.size() * 8 <= size_) validity_.resize(validity_.size() * 2 + 1, 0);
  SetBit(size_);
}

void Column::AppendNull() {
  if (validity_.empty()) {
    validity_.assign((size_ + 8) / 8 + 1, 0);
    for (RowIndex i = 0; i < size_; ++i) SetBit(i);
  }
  if (validity_.size() * 8 <= size_) validity_.resize(validity_.size() * 2 + 1, 0);
  switch (type_) {
    case DataType::kBool:
      u8_.push_back(0);
      break;
    case DataType::kInt64:
    case DataType::kTimestamp:
      i64_.push_back(0);
      break;
    case DataType::kFloat32:
      f32_.push_back(0);
      break;
    case DataType::kFloat64:
      f64_.push_back(0);
      break;
    case DataType::kCategorical:
      u32_.push_back(0);
      break;
    case DataType::kString:
      offsets_.push_back(bytes_.size());
      break;
  }
  ++size_;
  ++null_count_;
}

void Column::AppendString(std::string_view v) {
  bytes_.append(v);
  offsets_.push_back(bytes_.size());
  MarkValid();
}

void Column::Reserve(RowIndex rows) {
  switch (type_) {
    case DataType::kBool:
      u8_.reserve(rows);
      break;
    case DataType::kInt64:
    case DataType::kTimestamp:
      i64_.reserve(rows);
      break;
    case DataType::kFloat32:
      f32_.reserve(rows);
      break;
    case DataType::kFloat64:
      f64_.reserve(rows);
      break;
    case DataType::kCategorical:
      u32_.reserve(rows);
      break;
    case DataType::kString:
      offsets_.reserve(rows + 1);
      break;
  }
}

double Column::NumericAt(RowIndex i) const {
  if (!IsValid(i)) return std::nan("");
  switch (type_) {
    case DataType::kBool:
      return u8_[i];
    case DataType::kInt64:
    case DataType::kTimestamp:
      return static_cast<double>(i64_[i]);
    case DataType::kFloat32:
      return f32_[i];
    case DataType::kFloat64:
      return f64_[i];
    default:
      return std::nan("");
  }
}

std::string Column::TextAt(RowIndex i) const {
  if (!IsValid(i)) return {};
  switch (type_) {
    case DataType::kBool:
      return u8_[i] ? "true" : "false";
    case DataType::kInt64:
      return fmt::format("{}", i64_[i]);
    case DataType::kTimestamp:
      return FormatTimestamp(i64_[i]);
    case DataType::kFloat32:
      return fmt::format("{}", f32_[i]);
    case DataType::kFloat64:
      return fmt::format("{}", f64_[i]);
    case DataType::kCategorical:
      if (dictionary_ && u32_[i] < dictionary_->size()) return (*dictionary_)[u32_[i]];
      return {};
    case DataType::kString:
      return std::string(StringAt(i));
  }
  return {};
}

Column Column::FromBuffers(DataType type, RowIndex rows, RowIndex nulls, Buffers b) {
  Column c(type);
  c.size_ = rows;
  c.null_count_ = nulls;
  c.validity_ = std::move(b.validity);
  c.u8_ = std::move(b.u8);
  c.i64_ = std::move(b.i64);
  c.f32_ = std::move(b.f32);
  c.f64_ = std::move(b.f64);
  c.u32_ = std::move(b.u32);
  if (type == DataType::kString) {
    c.offsets_ = std::move(b.offsets);
    c.bytes_ = std::move(b.bytes);
  }
  return c;
}

void Column::AppendColumn(const Column& o) {
  for (RowIndex i = 0; i < o.size(); ++i) {
    if (!o.IsValid(i)) {
      AppendNull();
      continue;
    }
    switch (type_) {
      case DataType::kBool:
        AppendBool(o.u8_[i]);
        break;
      case DataType::kInt64:
      case DataType::kTimestamp:
        AppendInt64(o.i64_[i]);
        break;
      case DataType::kFloat32:
        AppendFloat32(o.f32_[i]);
        break;
      case DataType::kFloat64:
        AppendFloat64(o.f64_[i]);
        break;
      case DataType::kCategorical:
        AppendCode(o.u32_[i]);
        break;
      case DataType::kString:
        AppendString(o.StringAt(i));
        break;
    }
  }
  if (!dictionary_) dictionary_ = o.dictionary_;
}

Column Take(const Column& c, const std::vector<RowIndex>& rows) {
  Column out(c.type());
  out.Reserve(rows.size());
  for (RowIndex r : rows) {
    if (!c.IsValid(r)) {
      out.AppendNull();
      continue;
    }
    switch (c.type()) {
      case DataType::kBool:
        out.AppendBool(c.bools()[r]);
        break;
      case DataType::kInt64:
      case DataType::kTimestamp:
        out.AppendInt64(c.int64s()[r]);
        break;
      case DataType::kFloat32:
        out.AppendFloat32(c.float32s()[r]);
        break;
      case DataType::kFloat64:
        out.AppendFloat64(c.float64s()[r]);
        break;
      case DataType::kCategorical:
        out.AppendCode(c.codes()[r]);
        break;
      case DataType::kString:
        out.AppendString(c.StringAt(r));
        break;
    }
  }
  out.set_dictionary(c.dictionary());
  return out;
}

Dataset TakeRows(const Dataset& d, const std::vector<RowIndex>& rows) {
  Dataset out;
  out.schema = d.schema;
  for (const auto& c : d.columns) out.columns.push_back(Take(c, rows));
  return out;
}

// ---- timestamps ------------------------------------------------------------------------------

namespace {

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool ParseTimeAndZone(std::string_view s, size_t p, int64_t* micros) {
  int hh, mm, ss = 0;
  if (!Digits(s, p, 2, &hh) || p + 2 >= s.size() || s[p + 2] != ':' || !Digits(s, p + 3, 2, &mm)) {
    return false;
  }
  p += 5;
  if (p < s.size() && s[p] == ':') {
    if (!Digits(s, p + 1, 2, &ss)) return false;
    p += 3;
  }
  if (hh > 23 || mm > 59 || ss > 60) return false;
  int64_t frac = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    int digits = 0;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      if (digits < 6) frac = frac * 10 + (s[p] - '0'), ++digits;
      ++p;
    }
    if (digits == 0) return false;
    while (digits++ < 6) frac *= 10;
  }
  int64_t offset = 0;
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z')) {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int oh, om = 0;
    if (!Digits(s, p + 1, 2, &oh)) return false;
    size_t q = p + 3;
    if (q < s.size() && s[q] == ':') ++q;
    if (q < s.size() && !Digits(s, q, 2, &om)) return false;
    if (q < s.size()) q += 2;
    offset = (oh * 60 + om) * 60 * (s[p] == '+' ? 1 : -1);
    p = q;
  }
  if (p != s.size()) return false;
  *micros += ((hh * 60 + mm) * 60 + ss - offset) * 1000000LL + frac;
  return true;
}

}  // namespace

bool ParseTimestamp(std::string_view s, int64_t* micros) {
  int y, m, d;
  if (s.size() < 10 || !Digits(s, 0, 4, &y) || s[4] != '-' || !Digits(s, 5, 2, &m) || s[7] != '-' ||
      !Digits(s, 8, 2, &d)) {
    return false;
  }
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  *micros = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d)) * 86400000000LL;
  if (s.size() == 10) return true;
  if (s[10] != 'T' && s[10] != ' ') return false;
  return ParseTimeAndZone(s, 11, micros);
}

std::string FormatTimestamp(int64_t micros) {
  int64_t secs = micros / 1000000;
  int64_t frac = micros % 1000000;
  if (frac < 0) frac += 1000000, --secs;
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  if (frac == 0) {
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

std::string FormatMillis(int64_t ms) { return FormatTimestamp(ms / 1000 * 1000000); }

}  // namespace kiln::data
