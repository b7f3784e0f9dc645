// TableReader: type inference, widening restarts and parallel per-column conversion of the
// tokenized chunks produced by the CSV / JSON Lines tokenizers.
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ingest/raw_chunk.h"
#include "ingest/value_parse.h"
#include "kiln/base/thread_pool.h"
#include "kiln/ingest/reader.h"

namespace kiln::ingest {

using data::Column;
using data::ColumnRole;
using data::DataType;

std::string_view FormatName(Format f) { return f == Format::kCsv ? "csv" : "jsonl"; }

std::vector<std::string> ReadOptions::DefaultMissingTokens() {
  return {"",     "NA",   "N/A",  "n/a",  "NaN",  "nan", "-nan", "-NaN",
          "NULL", "null", "None", "#N/A", "<NA>", "#NA", "NAN",  "?"};
}

namespace {

enum class Kind : uint8_t { kNull, kBool, kInt, kFloat, kTimestamp, kString };

Kind Combine(Kind a, Kind b) {
  if (a == Kind::kNull) return b;
  if (b == Kind::kNull || a == b) return a;
  if ((a == Kind::kInt && b == Kind::kFloat) || (a == Kind::kFloat && b == Kind::kInt)) {
    return Kind::kFloat;
  }
  return Kind::kString;
}

Kind KindOf(DataType t) {
  switch (t) {
    case DataType::kBool:
      return Kind::kBool;
    case DataType::kInt64:
      return Kind::kInt;
    case DataType::kFloat32:
    case DataType::kFloat64:
      return Kind::kFloat;
    case DataType::kTimestamp:
      return Kind::kTimestamp;
    default:
      return Kind::kString;
  }
}

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct ColumnState {
  std::string name;
  DataType type = DataType::kString;
  ColumnRole role = ColumnRole::kFeature;
  bool fixed = false;
  std::unordered_map<std::string, uint32_t, TransparentHash, std::equal_to<>> index;
  std::vector<std::string> dict;
  std::shared_ptr<const data::Dictionary> snapshot;
  Kind widen_to = Kind::kNull;  // set when a value did not fit `type`
  bool infer = false;           // first seen after the sample: type comes from the scan
};

DataType TypeForKind(Kind k, DataType previous) {
  switch (k) {
    case Kind::kNull:
    case Kind::kFloat:
      return previous == DataType::kFloat32 ? previous : DataType::kFloat64;
    case Kind::kBool:
      return DataType::kBool;
    case Kind::kInt:
      return DataType::kInt64;
    case Kind::kTimestamp:
      return DataType::kTimestamp;
    case Kind::kString:
      return previous == DataType::kCategorical ? previous : DataType::kString;
  }
  return DataType::kString;
}

class TableReaderImpl final : public TableReader {
 public:
  TableReaderImpl(std::unique_ptr<Tokenizer> tok, ReadOptions o, const ExecContext& ctx,
                  std::string path, Format format)
      : tok_(std::move(tok)), o_(std::move(o)), ctx_(ctx), path_(std::move(path)), format_(format) {
    missing_.insert(o_.missing_tokens.begin(), o_.missing_tokens.end());
    for (const auto& t : o_.missing_tokens) {
      max_missing_len_ = std::max(max_missing_len_, t.size());
      if (!t.empty()) missing_first_[static_cast<unsigned char>(t[0])] = true;
      double d;
      int64_t i;
      if (FastParseDouble(t, &d) || ParseInt(t, &i) != NumParse::kNotNumber) {
        numeric_missing_token_ = true;
      }
    }
  }

  ~TableReaderImpl() override { WaitPrefetch(); }

  Status Init();
  const data::Schema& schema() const override { return schema_; }
  Result<ReadEvent> Next(data::Dataset* chunk, const ColumnSink& sink) override;
  std::vector<std::shared_ptr<const data::Dictionary>> dictionaries() const override;
  std::string source_sha256() const override { return tok_->Sha256(); }
  uint64_t source_bytes() const override { return tok_->bytes(); }
  Format format() const override { return format_; }

 private:
  Kind Classify(std::string_view s) const;
  bool IsMissing(const RawChunk& raw, size_t r, size_t c) const {
    return raw.IsNull(r, c) || IsMissingToken(raw.Field(r, c));
  }
  // Hot path: most fields are longer than every missing token or differ in the first byte.
  bool IsMissingToken(std::string_view s) const {
    if (s.size() > max_missing_len_) return false;
    if (!s.empty() && !missing_first_[static_cast<unsigned char>(s[0])]) return false;
    return missing_.count(s) > 0;
  }
  Status InferTypes(const RawChunk& raw);
  Status BuildSchema();
  Status Convert(const RawChunk& raw, size_t c, Column* out);
  // Fast path for float64/int64 columns whose every field is a plain number; false (and `out`
  // untouched) otherwise, including when a missing token could itself parse as a number.
  bool ConvertDense(const RawChunk& raw, size_t c, Column* out) const;
  Status ConvertValue(std::string_view s, ColumnState& st, Column* out, const RawChunk& raw,
                      size_t r, size_t c);
  Status ValueError(const RawChunk& raw, size_t r, size_t c, std::string_view what) const;
  Result<ReadEvent> ScanAndRestart();
  // The next raw chunk into raw_: the prefetched one if a prefetch ran, else read now.
  Result<bool> FetchNext();
  // Starts tokenizing the chunk after raw_ on the pool (threads > 1 only).
  void StartPrefetch();
  void WaitPrefetch();

  mutable std::unique_ptr<Tokenizer> tok_;
  ReadOptions o_;
  const ExecContext& ctx_;
  std::string path_;
  Format format_;
  std::unordered_set<std::string, TransparentHash, std::equal_to<>> missing_;
  size_t max_missing_len_ = 0;
  bool numeric_missing_token_ = false;  // e.g. "-999" configured as missing
  std::array<bool, 256> missing_first_{};
  std::vector<ColumnState> cols_;
  data::Schema schema_;
  RawChunk raw_;
  RawChunk raw_next_;
  struct Prefetch {
    Mutex mu;
    CondVar cv;
    bool pending KILN_GUARDED_BY(mu) = false;
    bool done KILN_GUARDED_BY(mu) = false;
    Status status KILN_GUARDED_BY(mu);
    bool any KILN_GUARDED_BY(mu) = false;
  };
  Prefetch pf_;
  bool first_ = true;
};

Kind TableReaderImpl::Classify(std::string_view s) const {
  if (IsMissingToken(s)) return Kind::kNull;
  bool b;
  if (ParseBool(s, &b)) return Kind::kBool;
  int64_t i;
  NumParse ip = ParseInt(s, &i);
  if (ip == NumParse::kOk) return Kind::kInt;
  if (ip == NumParse::kOverflow) return Kind::kInt;  // reported as overflow on conversion
  double d;
  if (ParseDouble(s, &d) != NumParse::kNotNumber) return Kind::kFloat;
  int64_t ts;
  if (data::ParseTimestamp(Trim(s), &ts)) return Kind::kTimestamp;
  return Kind::kString;
}

Status TableReaderImpl::Init() {
  KILN_ASSIGN_OR_RETURN(bool any, tok_->NextChunk(o_.chunk_rows, &raw_));
  if (!any) return InvalidArgumentError(fmt::format("{}: no data rows", path_));
  KILN_RETURN_IF_ERROR(InferTypes(raw_));
  return BuildSchema();
}

Status TableReaderImpl::InferTypes(const RawChunk& raw) {
  const auto& names = tok_->names();
  std::vector<ColumnState> cols(names.size());
  for (size_t c = 0; c < names.size(); ++c) {
    cols[c].name = names[c];
    if (c < cols_.size()) {  // restart: keep the decisions made so far
      cols[c].type = cols_[c].type;
      cols[c].role = cols_[c].role;
      cols[c].fixed = cols_[c].fixed;
    }
  }
  const bool restart = !cols_.empty();
  const size_t sample = std::min(raw.rows, o_.sample_rows);
  KILN_RETURN_IF_ERROR(ParallelFor(ctx_, names.size(), [&](size_t c) -> Status {
    ColumnState& st = cols[c];
    if (restart && c < cols_.size()) {
      if (cols_[c].widen_to != Kind::kNull || cols_[c].infer) {
        st.type = TypeForKind(cols_[c].widen_to, cols_[c].infer ? DataType::kFloat64 : st.type);
      }
      if (st.type == DataType::kTimestamp) st.role = ColumnRole::kTimestamp;
      return Status::Ok();
    }
    Kind k = Kind::kNull;
    std::unordered_set<std::string_view> distinct;
    bool repeats = false;
    for (size_t r = 0; r < sample; ++r) {
      if (raw.IsNull(r, c)) continue;
      std::string_view f = raw.Field(r, c);
      Kind fk = Classify(f);
      k = Combine(k, fk);
      if (fk != Kind::kNull && distinct.size() <= o_.categorical_max_distinct) {
        repeats |= !distinct.insert(f).second;
      }
    }
    switch (k) {
      case Kind::kNull:
      case Kind::kFloat:
        st.type = DataType::kFloat64;
        break;
      case Kind::kBool:
        st.type = DataType::kBool;
        break;
      case Kind::kInt:
        st.type = DataType::kInt64;
        break;
      case Kind::kTimestamp:
        st.type = DataType::kTimestamp;
        break;
      case Kind::kString:
        st.type = distinct.size() <= o_.categorical_max_distinct && repeats ? DataType::kCategorical
                                                                            : DataType::kString;
        break;
    }
    if (st.type == DataType::kTimestamp) st.role = ColumnRole::kTimestamp;
    return Status::Ok();
  }));
  cols_ = std::move(cols);
  return Status::Ok();
}

Status TableReaderImpl::BuildSchema() {
  for (const auto& [name, ov] : o_.overrides) {
    bool found = false;
    for (auto& st : cols_) {
      if (st.name != name) continue;
      found = true;
      if (ov.type) st.type = *ov.type, st.fixed = true;
      if (ov.role) st.role = *ov.role;
    }
    if (!found) {
      return InvalidArgumentError(
          fmt::format("schema names column '{}', which is not in {}", name.substr(0, 200), path_));
    }
  }
  if (o_.fixed_schema) {
    const data::Schema& fs = *o_.fixed_schema;
    if (fs.size() != cols_.size()) {
      return InvalidArgumentError(
          fmt::format("{} has {} columns, expected {}", path_, cols_.size(), fs.size()));
    }
    for (size_t c = 0; c < cols_.size(); ++c) {
      if (cols_[c].name != fs.field(c).name) {
        return InvalidArgumentError(fmt::format("{}: column {} is '{}', expected '{}'", path_,
                                                c + 1, cols_[c].name.substr(0, 200),
                                                fs.field(c).name));
      }
      cols_[c].type = fs.field(c).type;
      cols_[c].role = fs.field(c).role;
      cols_[c].fixed = true;
    }
  }
  for (size_t c = 0; c < o_.initial_dictionaries.size() && c < cols_.size(); ++c) {
    ColumnState& st = cols_[c];
    if (st.type != DataType::kCategorical || !st.dict.empty()) continue;
    st.dict = o_.initial_dictionaries[c];
    for (uint32_t i = 0; i < st.dict.size(); ++i) st.index.emplace(st.dict[i], i);
  }
  std::vector<data::Field> fields;
  for (const auto& st : cols_) fields.push_back({st.name, st.type, st.role});
  auto schema = data::Schema::Make(std::move(fields));
  if (!schema.ok()) return schema.status().WithContext(path_);
  schema_ = std::move(*schema);
  return Status::Ok();
}

Status TableReaderImpl::ValueError(const RawChunk& raw, size_t r, size_t c,
                                   std::string_view what) const {
  std::string value(raw.Field(r, c).substr(0, 60));
  for (char& ch : value) {
    if (static_cast<unsigned char>(ch) < 0x20) ch = '?';
  }
  return InvalidArgumentError(fmt::format("{}: line {}, column {} ('{}'): {} (value '{}')", path_,
                                          raw.lines[r], c + 1, cols_[c].name.substr(0, 100), what,
                                          IsValidUtf8(value) ? value : "<invalid UTF-8>"));
}

Status TableReaderImpl::ConvertValue(std::string_view s, ColumnState& st, Column* out,
                                     const RawChunk& raw, size_t r, size_t c) {
  auto mismatch = [&]() -> Status {
    if (!st.fixed) {
      st.widen_to =
          Combine(st.widen_to == Kind::kNull ? KindOf(st.type) : st.widen_to, Classify(s));
      out->AppendNull();
      return Status::Ok();
    }
    return ValueError(raw, r, c, fmt::format("not a valid {}", data::DataTypeName(st.type)));
  };
  switch (st.type) {
    case DataType::kFloat64:
    case DataType::kFloat32: {
      double v;
      NumParse p = ParseDouble(s, &v);
      if (p == NumParse::kOverflow) return ValueError(raw, r, c, "numeric overflow");
      if (p != NumParse::kOk) return mismatch();
      if (std::isnan(v)) {
        out->AppendNull();
      } else if (st.type == DataType::kFloat64) {
        out->AppendFloat64(v);
      } else {
        if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max()) {
          return ValueError(raw, r, c, "numeric overflow for float32");
        }
        out->AppendFloat32(static_cast<float>(v));
      }
      return Status::Ok();
    }
    case DataType::kInt64: {
      int64_t v;
      NumParse p = ParseInt(s, &v);
      if (p == NumParse::kOverflow) return ValueError(raw, r, c, "integer overflow (int64)");
      if (p != NumParse::kOk) return mismatch();
      out->AppendInt64(v);
      return Status::Ok();
    }
    case DataType::kBool: {
      bool v;
      if (!ParseBool(Trim(s), &v)) {
        if (st.fixed && (Trim(s) == "1" || Trim(s) == "0")) {
          v = Trim(s) == "1";
        } else {
          return mismatch();
        }
      }
      out->AppendBool(v);
      return Status::Ok();
    }
    case DataType::kTimestamp: {
      int64_t v;
      if (!data::ParseTimestamp(Trim(s), &v)) return mismatch();
      out->AppendInt64(v);
      return Status::Ok();
    }
    case DataType::kCategorical: {
      if (!IsValidUtf8(s)) return ValueError(raw, r, c, "invalid UTF-8");
      auto it = st.index.find(s);
      uint32_t code;
      if (it != st.index.end()) {
        code = it->second;
      } else {
        if (st.dict.size() >= o_.limits.max_categories) {
          return ValueError(raw, r, c,
                            fmt::format("more than {} categories", o_.limits.max_categories));
        }
        code = static_cast<uint32_t>(st.dict.size());
        st.dict.emplace_back(s);
        st.index.emplace(std::string(s), code);
      }
      out->AppendCode(code);
      return Status::Ok();
    }
    case DataType::kString:
      if (!IsValidUtf8(s)) return ValueError(raw, r, c, "invalid UTF-8");
      out->AppendString(s);
      return Status::Ok();
  }
  return InternalError("unknown column type");
}

bool TableReaderImpl::ConvertDense(const RawChunk& raw, size_t c, Column* out) const {
  const DataType type = cols_[c].type;
  if (!raw.nulls.empty() || numeric_missing_token_) return false;
  Column::Buffers b;
  size_t r = 0;
  if (type == DataType::kFloat64) {
    b.f64.resize(raw.rows);
    while (r < raw.rows && FastParseDouble(raw.Field(r, c), &b.f64[r])) ++r;
  } else if (type == DataType::kInt64) {
    b.i64.resize(raw.rows);
    for (; r < raw.rows; ++r) {
      const std::string_view f = raw.Field(r, c);
      const auto res = std::from_chars(f.data(), f.data() + f.size(), b.i64[r]);
      if (res.ec != std::errc() || res.ptr != f.data() + f.size() || f.empty()) break;
    }
  }
  if (r != raw.rows || r == 0) return false;
  *out = Column::FromBuffers(type, raw.rows, 0, std::move(b));
  return true;
}

Status TableReaderImpl::Convert(const RawChunk& raw, size_t c, Column* out) {
  // The common case first: a column of plain numbers with no missing values.
  if (ConvertDense(raw, c, out)) return Status::Ok();
  ColumnState& st = cols_[c];
  *out = Column(st.type);
  out->Reserve(raw.rows);
  for (size_t r = 0; r < raw.rows; ++r) {
    if (IsMissing(raw, r, c)) {
      out->AppendNull();
      continue;
    }
    KILN_RETURN_IF_ERROR(ConvertValue(raw.Field(r, c), st, out, raw, r, c));
    if (st.widen_to != Kind::kNull) return Status::Ok();  // the chunk will be discarded
  }
  if (st.type == DataType::kCategorical) {
    if (!st.snapshot || st.snapshot->size() != st.dict.size()) {
      st.snapshot = std::make_shared<const data::Dictionary>(st.dict);
    }
    out->set_dictionary(st.snapshot);
  }
  return Status::Ok();
}

void TableReaderImpl::StartPrefetch() {
  if (ctx_.threads() <= 1) return;
  {
    MutexLock lock(&pf_.mu);
    pf_.pending = true;
    pf_.done = false;
  }
  Status submitted = ctx_.pool().Submit([this] {
    Result<bool> r = tok_->NextChunk(o_.chunk_rows, &raw_next_);
    MutexLock lock(&pf_.mu);
    pf_.status = r.status();
    pf_.any = r.ok() && *r;
    pf_.done = true;
    pf_.cv.SignalAll();
  });
  if (!submitted.ok()) {
    MutexLock lock(&pf_.mu);
    pf_.pending = false;
  }
}

void TableReaderImpl::WaitPrefetch() {
  MutexLock lock(&pf_.mu);
  while (pf_.pending && !pf_.done) pf_.cv.Wait(&pf_.mu);
}

Result<bool> TableReaderImpl::FetchNext() {
  {
    MutexLock lock(&pf_.mu);
    if (pf_.pending) {
      while (!pf_.done) pf_.cv.Wait(&pf_.mu);
      pf_.pending = false;
      KILN_RETURN_IF_ERROR(pf_.status);
      std::swap(raw_, raw_next_);
      return pf_.any;
    }
  }
  return tok_->NextChunk(o_.chunk_rows, &raw_);
}

Result<ReadEvent> TableReaderImpl::Next(data::Dataset* chunk, const ColumnSink& sink) {
  KILN_RETURN_IF_ERROR(ctx_.CheckAlive());
  if (!first_) {
    KILN_ASSIGN_OR_RETURN(bool any, FetchNext());
    if (!any) return ReadEvent::kEnd;
  }
  first_ = false;
  if (tok_->names().size() != cols_.size()) return ScanAndRestart();  // JSON Lines: new keys
  StartPrefetch();  // tokenize the next chunk while this one converts
  chunk->schema = schema_;
  chunk->columns.assign(cols_.size(), Column());
  KILN_RETURN_IF_ERROR(ParallelFor(ctx_, cols_.size(), [&](size_t c) -> Status {
    KILN_RETURN_IF_ERROR(Convert(raw_, c, &chunk->columns[c]));
    if (!sink || cols_[c].widen_to != Kind::kNull) return Status::Ok();
    return sink(c, chunk->columns[c]);
  }));
  for (const auto& st : cols_) {
    if (st.widen_to != Kind::kNull) return ScanAndRestart();
  }
  return ReadEvent::kChunk;
}

Result<ReadEvent> TableReaderImpl::ScanAndRestart() {
  // Classify the rest of the file so that one restart suffices.
  do {
    KILN_RETURN_IF_ERROR(ctx_.CheckAlive());
    for (size_t c = cols_.size(); c < tok_->names().size(); ++c) {
      cols_.emplace_back();  // a key first seen after the first chunk
      cols_.back().name = tok_->names()[c];
      cols_.back().infer = true;
    }
    KILN_RETURN_IF_ERROR(ParallelFor(ctx_, std::min(cols_.size(), raw_.cols), [&](size_t c) {
      ColumnState& st = cols_[c];
      if (!st.infer &&
          (st.fixed || st.type == DataType::kString || st.type == DataType::kCategorical)) {
        return Status::Ok();
      }
      Kind k = st.infer || st.widen_to != Kind::kNull ? st.widen_to : KindOf(st.type);
      for (size_t r = 0; r < raw_.rows; ++r) {
        if (!raw_.IsNull(r, c)) k = Combine(k, Classify(raw_.Field(r, c)));
      }
      if (st.infer || k != KindOf(st.type)) st.widen_to = k;
      return Status::Ok();
    }));
    KILN_ASSIGN_OR_RETURN(bool any, FetchNext());
    if (!any) break;
  } while (true);
  KILN_RETURN_IF_ERROR(tok_->Rewind());
  KILN_ASSIGN_OR_RETURN(bool any, tok_->NextChunk(o_.chunk_rows, &raw_));
  if (!any) return InternalError(fmt::format("{}: file changed while reading", path_));
  KILN_RETURN_IF_ERROR(InferTypes(raw_));
  for (auto& st : cols_) st.fixed = true;  // a second widening would mean the file changed
  KILN_RETURN_IF_ERROR(BuildSchema());
  first_ = true;
  return ReadEvent::kRestart;
}

std::vector<std::shared_ptr<const data::Dictionary>> TableReaderImpl::dictionaries() const {
  std::vector<std::shared_ptr<const data::Dictionary>> out;
  for (const auto& st : cols_) {
    out.push_back(st.type == DataType::kCategorical
                      ? std::make_shared<const data::Dictionary>(st.dict)
                      : nullptr);
  }
  return out;
}

Format DetectFormat(const std::string& path) {
  auto ends = [&](std::string_view suf) {
    return path.size() >= suf.size() &&
           path.compare(path.size() - suf.size(), suf.size(), suf) == 0;
  };
  if (ends(".jsonl") || ends(".ndjson") || ends(".json")) return Format::kJsonLines;
  return Format::kCsv;
}

}  // namespace

Result<std::unique_ptr<TableReader>> TableReader::Open(FileSystem& fs, const std::string& path,
                                                       const ReadOptions& options,
                                                       const ExecContext& ctx) {
  const Format format = options.format.value_or(DetectFormat(path));
  KILN_ASSIGN_OR_RETURN(auto file, fs.NewSequentialFile(path));
  TokenizerOptions t;
  t.path = path;
  t.delimiter = options.delimiter;
  t.header = options.header;
  t.block_bytes = options.block_bytes;
  t.limits = options.limits;
  std::unique_ptr<Tokenizer> tok;
  if (format == Format::kCsv) {
    KILN_ASSIGN_OR_RETURN(tok, NewCsvTokenizer(std::move(file), t));
  } else {
    KILN_ASSIGN_OR_RETURN(tok, NewJsonLinesTokenizer(std::move(file), t));
  }
  auto reader = std::make_unique<TableReaderImpl>(std::move(tok), options, ctx, path, format);
  KILN_RETURN_IF_ERROR(reader->Init());
  return std::unique_ptr<TableReader>(std::move(reader));
}

}  // namespace kiln::ingest
