// JSON Lines tokenizer (simdjson): one object per line; keys become columns in first-seen
// order; a missing key or null is a null field; nested arrays/objects are kept as minified JSON
// text.
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>

#include "ingest/raw_chunk.h"

namespace kiln::ingest {
namespace {

struct Entry {
  size_t row;
  size_t col;
  uint64_t off;
  uint64_t len;
  bool null;
};

class JsonLinesTokenizer final : public Tokenizer {
 public:
  JsonLinesTokenizer(std::unique_ptr<SequentialFile> file, TokenizerOptions o)
      : source_(std::move(file), o.block_bytes),
        o_(std::move(o)),
        parser_(o_.limits.max_record_bytes) {}

  Status Init() {
    KILN_RETURN_IF_ERROR(parser_.allocate(1 << 16, o_.limits.max_nesting_depth) == simdjson::SUCCESS
                             ? Status::Ok()
                             : ResourceExhaustedError("cannot allocate JSON parser"));
    return Status::Ok();
  }

  const std::vector<std::string>& names() const override { return names_; }
  uint64_t bytes() const override { return source_.bytes(); }
  std::string Sha256() override { return source_.Sha256(); }

  Status Rewind() override {
    KILN_RETURN_IF_ERROR(source_.Rewind());
    carry_.clear();
    block_ = {};
    pos_ = 0;
    eof_ = false;
    first_block_ = true;
    line_ = 0;
    return Status::Ok();
  }

  Result<bool> NextChunk(size_t max_rows, RawChunk* chunk) override {
    chunk->Clear();
    scratch_.clear();
    entries_.clear();
    std::string_view line;
    while (chunk->rows < max_rows) {
      KILN_ASSIGN_OR_RETURN(bool got, NextLine(&line));
      if (!got) break;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      KILN_RETURN_IF_ERROR(ParseLine(line, chunk->rows));
      chunk->lines.push_back(line_);
      ++chunk->rows;
    }
    Layout(chunk);
    return chunk->rows > 0;
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgumentError(fmt::format("{}: line {}: {}", o_.path, line_, what));
  }

  // Next '\n'-terminated line (or the unterminated last one).
  Result<bool> NextLine(std::string_view* line) {
    while (true) {
      size_t nl = block_.find('\n', pos_);
      if (nl != std::string_view::npos) {
        ++line_;
        if (carry_.empty()) {
          *line = block_.substr(pos_, nl - pos_);
        } else {
          carry_.append(block_.substr(pos_, nl - pos_));
          line_buf_.swap(carry_);
          carry_.clear();
          *line = line_buf_;
        }
        pos_ = nl + 1;
        return CheckLine(*line);
      }
      carry_.append(block_.substr(pos_));
      if (carry_.size() > o_.limits.max_record_bytes) {
        ++line_;
        return Error(fmt::format("line is longer than {} bytes", o_.limits.max_record_bytes));
      }
      if (eof_) {
        if (carry_.empty()) return false;
        ++line_;
        line_buf_.swap(carry_);
        carry_.clear();
        *line = line_buf_;
        return CheckLine(*line);
      }
      KILN_ASSIGN_OR_RETURN(block_, source_.NextBlock());
      pos_ = 0;
      if (block_.empty()) eof_ = true;
      if (first_block_) {
        first_block_ = false;
        if (block_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
      }
    }
  }

  Result<bool> CheckLine(std::string_view line) const {
    if (line.size() > o_.limits.max_record_bytes) {
      return Error(fmt::format("line is longer than {} bytes", o_.limits.max_record_bytes));
    }
    if (line.find('\0') != std::string_view::npos) return Error("NUL byte in line");
    return true;
  }

  size_t ColumnIndex(std::string_view key) {
    auto it = index_.find(std::string(key));
    if (it != index_.end()) return it->second;
    names_.emplace_back(key);
    index_.emplace(std::string(key), names_.size() - 1);
    return names_.size() - 1;
  }

  Status ParseLine(std::string_view line, size_t row) {
    simdjson::dom::element doc;
    auto err = parser_.parse(line.data(), line.size(), true).get(doc);
    if (err) return Error(fmt::format("invalid JSON: {}", simdjson::error_message(err)));
    simdjson::dom::object obj;
    if (doc.get(obj)) return Error("expected a JSON object");
    seen_.clear();
    for (auto field : obj) {
      if (!IsValidUtf8(field.key)) return Error("key is not valid UTF-8");
      const size_t col = ColumnIndex(field.key);
      if (names_.size() > o_.limits.max_columns) {
        return Error(fmt::format("more than {} distinct keys", o_.limits.max_columns));
      }
      if (seen_.size() <= col) seen_.resize(col + 1, 0);
      if (seen_[col]) return Error(fmt::format("duplicate key '{}'", field.key.substr(0, 100)));
      seen_[col] = 1;
      const uint64_t off = scratch_.size();
      bool null = false;
      switch (field.value.type()) {
        case simdjson::dom::element_type::STRING:
          scratch_.append(std::string_view(field.value));
          break;
        case simdjson::dom::element_type::INT64:
          fmt::format_to(std::back_inserter(scratch_), "{}", int64_t(field.value));
          break;
        case simdjson::dom::element_type::UINT64:
          fmt::format_to(std::back_inserter(scratch_), "{}", uint64_t(field.value));
          break;
        case simdjson::dom::element_type::DOUBLE:
          fmt::format_to(std::back_inserter(scratch_), "{}", double(field.value));
          break;
        case simdjson::dom::element_type::BOOL:
          scratch_.append(bool(field.value) ? "true" : "false");
          break;
        case simdjson::dom::element_type::NULL_VALUE:
          null = true;
          break;
        default:
          scratch_.append(simdjson::minify(field.value));
      }
      entries_.push_back({row, col, off, scratch_.size() - off, null});
    }
    return Status::Ok();
  }

  // Lays the parsed entries out row-major over all columns known now.
  void Layout(RawChunk* chunk) {
    const size_t cols = names_.size();
    chunk->cols = cols;
    std::vector<int64_t> where(chunk->rows * cols, -1);
    for (size_t i = 0; i < entries_.size(); ++i) {
      where[entries_[i].row * cols + entries_[i].col] = static_cast<int64_t>(i);
    }
    chunk->begins.resize(where.size());
    chunk->ends.resize(where.size());
    chunk->nulls.assign(where.size(), 0);
    chunk->bytes.reserve(scratch_.size());
    for (size_t i = 0; i < where.size(); ++i) {
      chunk->begins[i] = chunk->bytes.size();
      if (where[i] < 0) {
        chunk->nulls[i] = 1;
      } else {
        const Entry& e = entries_[static_cast<size_t>(where[i])];
        chunk->bytes.append(scratch_, e.off, e.len);
        chunk->nulls[i] = e.null;
      }
      chunk->ends[i] = chunk->bytes.size();
    }
  }

  BlockSource source_;
  TokenizerOptions o_;
  simdjson::dom::parser parser_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, size_t> index_;
  std::string_view block_;
  size_t pos_ = 0;
  bool eof_ = false;
  bool first_block_ = true;
  uint64_t line_ = 0;
  std::string carry_, line_buf_, scratch_;
  std::vector<Entry> entries_;
  std::vector<uint8_t> seen_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> NewJsonLinesTokenizer(std::unique_ptr<SequentialFile> file,
                                                         const TokenizerOptions& options) {
  auto t = std::make_unique<JsonLinesTokenizer>(std::move(file), options);
  KILN_RETURN_IF_ERROR(t->Init());
  return std::unique_ptr<Tokenizer>(std::move(t));
}

}  // namespace kiln::ingest
