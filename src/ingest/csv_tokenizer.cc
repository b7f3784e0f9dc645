// RFC 4180 CSV tokenizer: quoted fields with "" escapes and embedded newlines, CRLF/LF/CR line
// ends, a UTF-8 BOM, delimiter sniffing, blank lines skipped. Resumable across read blocks, so
// memory is bounded by the block and the chunk, not the file.
#include <array>

#include <fmt/format.h>

#include "ingest/raw_chunk.h"

namespace kiln::ingest {

Result<size_t> BlockSource::AppendBlock(std::string* out) {
  const size_t old = out->size();
  out->resize(old + block_bytes_);
  size_t got = 0;
  while (got < block_bytes_) {
    auto n = file_->Read(out->data() + old + got, block_bytes_ - got);
    if (!n.ok()) {
      out->resize(old);
      return n.status();
    }
    if (*n == 0) break;
    got += *n;
  }
  out->resize(old + got);
  bytes_.fetch_add(got, std::memory_order_relaxed);
  sha_->Update(std::string_view(out->data() + old, got));
  if (got == 0 && sha_done_.empty()) sha_done_ = sha_->FinishHex();
  return got;
}

Result<std::string_view> BlockSource::NextBlock() {
  buf_.clear();
  KILN_RETURN_IF_ERROR(AppendBlock(&buf_));
  return std::string_view(buf_);
}

Status BlockSource::Rewind() {
  KILN_RETURN_IF_ERROR(file_->Seek(0));
  bytes_.store(0, std::memory_order_relaxed);
  sha_ = std::make_unique<Sha256Stream>();
  sha_done_.clear();
  return Status::Ok();
}

namespace {

char SniffDelimiter(std::string_view block) {
  constexpr std::array<char, 4> kCandidates = {',', '\t', ';', '|'};
  std::array<std::vector<int>, 4> counts;
  bool quoted = false;
  int lines = 0;
  std::array<int, 4> cur{};
  for (size_t i = 0; i < block.size() && lines < 20; ++i) {
    char c = block[i];
    if (c == '"') quoted = !quoted;
    if (quoted) continue;
    if (c == '\n') {
      for (size_t k = 0; k < 4; ++k) counts[k].push_back(cur[k]), cur[k] = 0;
      ++lines;
      continue;
    }
    for (size_t k = 0; k < 4; ++k) cur[k] += c == kCandidates[k];
  }
  if (lines == 0) {
    for (size_t k = 0; k < 4; ++k) counts[k].push_back(cur[k]);
  }
  char best = ',';
  int best_score = 0;
  for (size_t k = 0; k < 4; ++k) {
    const auto& v = counts[k];
    if (v.empty() || v[0] == 0) continue;
    int consistent = 0;
    for (int n : v) consistent += n == v[0];
    int score = consistent * 1000 + v[0];
    if (score > best_score) best = kCandidates[k], best_score = score;
  }
  return best;
}

enum class Parse { kComplete, kNeedMore };

// The chunk's byte buffer is the file's bytes themselves (read blocks are appended to it), and
// fields are recorded as [begin, end) ranges into it, so unquoted fields are never copied.
// Quoted fields are unescaped in place once their record is known to be complete.
class CsvTokenizer final : public Tokenizer {
 public:
  CsvTokenizer(std::unique_ptr<SequentialFile> file, TokenizerOptions o)
      : source_(std::move(file), o.block_bytes), o_(std::move(o)) {}

  Status Init() {
    KILN_RETURN_IF_ERROR(FillFirst());
    if (carry_.empty()) return InvalidArgumentError(fmt::format("{}: file is empty", o_.path));
    if (o_.delimiter == 0) o_.delimiter = SniffDelimiter(carry_);
    BuildTable();
    RawChunk header;
    KILN_ASSIGN_OR_RETURN(bool any, NextChunk(1, &header));
    if (!any) return InvalidArgumentError(fmt::format("{}: file has no records", o_.path));
    for (size_t c = 0; c < header.cols; ++c) {
      std::string name(header.Field(0, c));
      if (!o_.header || name.empty()) name = fmt::format("column_{}", c + 1);
      if (!IsValidUtf8(name)) {
        return InvalidArgumentError(
            fmt::format("{}: line 1, column {}: header is not valid UTF-8", o_.path, c + 1));
      }
      names_.push_back(std::move(name));
    }
    if (!o_.header) return Rewind();
    return Status::Ok();
  }

  const std::vector<std::string>& names() const override { return names_; }
  uint64_t bytes() const override { return source_.bytes(); }
  std::string Sha256() override { return source_.Sha256(); }

  Status Rewind() override {
    KILN_RETURN_IF_ERROR(source_.Rewind());
    carry_.clear();
    eof_ = false;
    line_ = 1;
    KILN_RETURN_IF_ERROR(FillFirst());
    if (o_.header) {
      RawChunk skip;
      KILN_RETURN_IF_ERROR(NextChunk(1, &skip).status());
    }
    return Status::Ok();
  }

  Result<bool> NextChunk(size_t max_rows, RawChunk* chunk) override {
    chunk->Clear();
    chunk->cols = names_.size();  // 0 while reading the header: any width is accepted
    chunk->bytes.swap(carry_);
    size_t pos = 0;
    while (chunk->rows < max_rows) {
      KILN_ASSIGN_OR_RETURN(Parse p, ParseRecord(chunk, &pos));
      if (p == Parse::kComplete) continue;
      if (eof_) break;
      KILN_ASSIGN_OR_RETURN(size_t got, source_.AppendBlock(&chunk->bytes));
      if (got == 0) eof_ = true;
    }
    carry_.assign(chunk->bytes, pos, std::string::npos);
    chunk->bytes.resize(pos);
    return chunk->rows > 0;
  }

 private:
  Status FillFirst() {
    KILN_RETURN_IF_ERROR(source_.AppendBlock(&carry_).status());
    if (carry_.compare(0, 3, "\xEF\xBB\xBF") == 0) carry_.erase(0, 3);
    return Status::Ok();
  }

  void BuildTable() {
    special_.fill(0);
    for (unsigned char c : {static_cast<unsigned char>(o_.delimiter),
                            static_cast<unsigned char>('\n'), static_cast<unsigned char>('\r'),
                            static_cast<unsigned char>('"'), static_cast<unsigned char>('\0')}) {
      special_[c] = 1;
    }
  }

  Status Error(uint64_t line, size_t field, const std::string& what) const {
    return InvalidArgumentError(
        fmt::format("{}: line {}, column {}: {}", o_.path, line, field + 1, what));
  }

  // Parses one record at *pos. On kComplete the record's fields are appended to the chunk (blank
  // lines are skipped) and *pos moves past it; on kNeedMore nothing changes unless the file has
  // ended, in which case a final unterminated record is completed or reported.
  Result<Parse> ParseRecord(RawChunk* chunk, size_t* pos) {
    std::string& b = chunk->bytes;
    const char* data = b.data();
    const size_t n = b.size();
    const char delim = o_.delimiter;
    const size_t first_field = chunk->begins.size();
    uint64_t line = line_;
    size_t i = *pos;
    size_t fields = 0;
    unescape_.clear();
    auto rollback = [&] {
      chunk->begins.resize(first_field);
      chunk->ends.resize(first_field);
    };
    if (i >= n) {
      return Parse::kNeedMore;
    }
    while (true) {
      // One field starting at i.
      size_t begin = i, end;
      if (i < n && data[i] == '"') {
        const uint64_t quote_line = line;
        bool escaped = false;
        ++i;
        begin = i;
        while (true) {
          while (i < n && data[i] != '"' && data[i] != '\n' && data[i] != '\0') ++i;
          if (i >= n) {
            rollback();
            if (eof_) {
              return Error(
                  line, fields,
                  fmt::format("unterminated quoted field (opened on line {})", quote_line));
            }
            return Parse::kNeedMore;
          }
          if (data[i] == '\n') {
            ++line, ++i;
          } else if (data[i] == '\0') {
            rollback();
            return Error(line, fields, "NUL byte in field");
          } else if (i + 1 < n && data[i + 1] == '"') {
            escaped = true;
            i += 2;
          } else if (i + 1 >= n && !eof_) {
            rollback();
            return Parse::kNeedMore;  // a quote at the end of the data: escaped or closing?
          } else {
            break;  // the closing quote
          }
        }
        end = i++;
        if (i < n && data[i] != delim && data[i] != '\n' && data[i] != '\r') {
          rollback();
          const char c = data[i];
          return Error(line, fields,
                       fmt::format("unexpected character '{}' after a closing quote",
                                   c >= 0x20 && c < 0x7f ? std::string(1, c) : "\\x??"));
        }
        if (escaped) unescape_.push_back(first_field + fields);
      } else {
        while (!special_[static_cast<unsigned char>(data[i])]) ++i;  // data[n] is '\0'
        if (i < n && data[i] == '"') {
          // A quote inside an unquoted field is kept as a literal character.
          while (i < n && data[i] != delim && data[i] != '\n' && data[i] != '\r' && data[i] != '\0')
            ++i;
        }
        if (i < n && data[i] == '\0') {
          rollback();
          return Error(line, fields, "NUL byte in field");
        }
        end = i;
      }
      if (end - begin > o_.limits.max_field_bytes) {
        rollback();
        return Error(line, fields,
                     fmt::format("field is longer than {} bytes", o_.limits.max_field_bytes));
      }
      chunk->begins.push_back(begin);
      chunk->ends.push_back(end);
      if (++fields > o_.limits.max_columns) {
        rollback();
        return Error(line, fields - 1, fmt::format("more than {} columns", o_.limits.max_columns));
      }
      if (i >= n) {
        if (!eof_) {
          rollback();
          if (n - *pos > o_.limits.max_record_bytes) {
            return Error(line, fields - 1,
                         fmt::format("record is longer than {} bytes", o_.limits.max_record_bytes));
          }
          return Parse::kNeedMore;
        }
        break;  // the last record of a file without a final newline
      }
      const char c = data[i++];
      if (c == delim) continue;
      if (c == '\r' && i < n && data[i] == '\n') ++i;
      if (c == '\r' && i >= n && !eof_) {
        rollback();
        return Parse::kNeedMore;  // is the next byte the \n of a CRLF?
      }
      break;
    }
    const uint64_t record_line = line_;
    line_ = line + 1;
    *pos = i;
    return FinishRecord(chunk, first_field, fields, record_line);
  }

  Result<Parse> FinishRecord(RawChunk* chunk, size_t first_field, size_t fields,
                             uint64_t record_line) {
    if (fields == 1 && chunk->begins.back() == chunk->ends.back() &&
        (chunk->begins.back() == 0 || chunk->bytes[chunk->begins.back() - 1] != '"')) {
      chunk->begins.pop_back();  // a blank line
      chunk->ends.pop_back();
      return Parse::kComplete;
    }
    if (chunk->cols == 0) {
      chunk->cols = fields;
    } else if (fields != chunk->cols) {
      chunk->begins.resize(first_field);
      chunk->ends.resize(first_field);
      return InvalidArgumentError(fmt::format("{}: line {}: expected {} fields, found {}", o_.path,
                                              record_line, chunk->cols, fields));
    }
    for (size_t f : unescape_) {  // "" -> " in place; the field only shrinks
      char* p = chunk->bytes.data();
      uint64_t w = chunk->begins[f];
      for (uint64_t r = chunk->begins[f]; r < chunk->ends[f]; ++r) {
        p[w++] = p[r];
        if (p[r] == '"') ++r;
      }
      chunk->ends[f] = w;
    }
    chunk->lines.push_back(record_line);
    ++chunk->rows;
    return Parse::kComplete;
  }

  BlockSource source_;
  TokenizerOptions o_;
  std::vector<std::string> names_;
  std::string carry_;  // bytes read but not yet part of a chunk
  bool eof_ = false;
  uint64_t line_ = 1;
  std::vector<size_t> unescape_;
  std::array<uint8_t, 256> special_{};
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> NewCsvTokenizer(std::unique_ptr<SequentialFile> file,
                                                   const TokenizerOptions& options) {
  auto t = std::make_unique<CsvTokenizer>(std::move(file), options);
  KILN_RETURN_IF_ERROR(t->Init());
  return std::unique_ptr<Tokenizer>(std::move(t));
}

}  // namespace kiln::ingest
