// RFC 4180 CSV tokenizer: quoted fields with "" escapes and embedded newlines, CRLF/LF/CR line
// ends, a UTF-8 BOM, delimiter sniffing, blank lines skipped. Resumable across read blocks, so
// memory is bounded by the block and the chunk, not the file.
#include <array>

#include <fmt/format.h>

#include "ingest/raw_chunk.h"

namespace kiln::ingest {

Result<std::string_view> BlockSource::NextBlock() {
  buf_.resize(block_bytes_);
  size_t got = 0;
  while (got < block_bytes_) {
    KILN_ASSIGN_OR_RETURN(size_t n, file_->Read(buf_.data() + got, block_bytes_ - got));
    if (n == 0) break;
    got += n;
  }
  bytes_ += got;
  sha_->Update(std::string_view(buf_.data(), got));
  if (got == 0 && sha_done_.empty()) sha_done_ = sha_->FinishHex();
  return std::string_view(buf_.data(), got);
}

Status BlockSource::Rewind() {
  KILN_RETURN_IF_ERROR(file_->Seek(0));
  bytes_ = 0;
  sha_ = std::make_unique<Sha256Stream>();
  sha_done_.clear();
  return Status::Ok();
}

namespace {

enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };

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

class CsvTokenizer final : public Tokenizer {
 public:
  CsvTokenizer(std::unique_ptr<SequentialFile> file, TokenizerOptions o)
      : source_(std::move(file), o.block_bytes), o_(std::move(o)) {}

  Status Init() {
    KILN_RETURN_IF_ERROR(Fill());
    if (block_.empty()) return InvalidArgumentError(fmt::format("{}: file is empty", o_.path));
    if (o_.delimiter == 0) o_.delimiter = SniffDelimiter(block_.substr(pos_));
    BuildTables();
    RawChunk header;
    KILN_ASSIGN_OR_RETURN(bool any, NextChunk(1, &header));
    if (!any) return InvalidArgumentError(fmt::format("{}: file has no records", o_.path));
    for (size_t c = 0; c < header_fields_; ++c) {
      std::string name(header.Field(0, c));
      if (!o_.header || name.empty()) name = fmt::format("column_{}", c + 1);
      if (!IsValidUtf8(name)) {
        return InvalidArgumentError(
            fmt::format("{}: line 1, column {}: header is not valid UTF-8", o_.path, c + 1));
      }
      names_.push_back(std::move(name));
    }
    if (!o_.header) {
      KILN_RETURN_IF_ERROR(Rewind());
    }
    data_start_line_ = line_;
    return Status::Ok();
  }

  const std::vector<std::string>& names() const override { return names_; }
  uint64_t bytes() const override { return source_.bytes(); }
  std::string Sha256() override { return source_.Sha256(); }

  Status Rewind() override {
    KILN_RETURN_IF_ERROR(source_.Rewind());
    block_ = {};
    pos_ = 0;
    line_ = 1;
    eof_ = false;
    first_block_ = true;
    skip_lf_ = false;
    state_ = State::kFieldStart;
    KILN_RETURN_IF_ERROR(Fill());
    if (o_.header && !names_.empty()) {
      RawChunk skip;
      size_t saved = header_fields_;
      KILN_ASSIGN_OR_RETURN(bool any, NextChunk(1, &skip));
      (void)any;
      header_fields_ = saved;
    }
    return Status::Ok();
  }

  Result<bool> NextChunk(size_t max_rows, RawChunk* chunk) override {
    chunk->Clear();
    chunk->cols = names_.empty() ? 0 : names_.size();
    // Chunks always end on a record boundary, so each starts a fresh record.
    record_bytes_start_ = 0;
    field_start_ = 0;
    while (chunk->rows < max_rows) {
      if (pos_ == block_.size()) {
        if (eof_) break;
        KILN_RETURN_IF_ERROR(Fill());
        if (block_.empty()) {
          eof_ = true;
          KILN_RETURN_IF_ERROR(FinishAtEof(chunk));
          break;
        }
      }
      KILN_RETURN_IF_ERROR(Scan(chunk, max_rows));
    }
    return chunk->rows > 0;
  }

 private:
  Status Fill() {
    KILN_ASSIGN_OR_RETURN(block_, source_.NextBlock());
    pos_ = 0;
    if (first_block_) {
      first_block_ = false;
      if (block_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    }
    return Status::Ok();
  }

  void BuildTables() {
    unquoted_special_.fill(0);
    quoted_special_.fill(0);
    for (unsigned char c :
         {static_cast<unsigned char>(o_.delimiter), static_cast<unsigned char>('\n'),
          static_cast<unsigned char>('\r'), static_cast<unsigned char>('\0')}) {
      unquoted_special_[c] = 1;
    }
    for (unsigned char c : {'"', '\n', '\0'}) quoted_special_[c] = 1;
  }

  Status Error(size_t field, const std::string& what) const {
    return InvalidArgumentError(
        fmt::format("{}: line {}, column {}: {}", o_.path, line_, field + 1, what));
  }

  Status EndField(RawChunk* chunk) {
    const uint64_t len = chunk->bytes.size() - field_start_;
    if (len > o_.limits.max_field_bytes) {
      return Error(record_fields_,
                   fmt::format("field is longer than {} bytes", o_.limits.max_field_bytes));
    }
    chunk->ends.push_back(chunk->bytes.size());
    ++record_fields_;
    if (record_fields_ > o_.limits.max_columns) {
      return Error(record_fields_ - 1, fmt::format("more than {} columns", o_.limits.max_columns));
    }
    field_start_ = chunk->bytes.size();
    return Status::Ok();
  }

  Status EndRecord(RawChunk* chunk) {
    KILN_RETURN_IF_ERROR(EndField(chunk));
    const bool blank =
        record_fields_ == 1 && chunk->ends.back() == record_bytes_start_ && !record_had_quote_;
    if (blank) {
      chunk->ends.pop_back();
    } else if (chunk->cols == 0) {
      chunk->cols = record_fields_;
      header_fields_ = record_fields_;
      chunk->lines.push_back(record_line_);
      ++chunk->rows;
    } else if (record_fields_ != chunk->cols) {
      return InvalidArgumentError(fmt::format("{}: line {}: expected {} fields, found {}", o_.path,
                                              record_line_, chunk->cols, record_fields_));
    } else {
      chunk->lines.push_back(record_line_);
      ++chunk->rows;
    }
    record_fields_ = 0;
    record_had_quote_ = false;
    record_bytes_start_ = chunk->bytes.size();
    return Status::Ok();
  }

  Status FinishAtEof(RawChunk* chunk) {
    if (state_ == State::kQuoted) {
      return InvalidArgumentError(
          fmt::format("{}: line {}: unterminated quoted field (opened on line {})", o_.path, line_,
                      quote_line_));
    }
    if (record_fields_ > 0 || chunk->bytes.size() > record_bytes_start_ || record_had_quote_) {
      KILN_RETURN_IF_ERROR(EndRecord(chunk));
    }
    state_ = State::kFieldStart;
    return Status::Ok();
  }

  // Consumes the current block until it is exhausted or the chunk holds max_rows rows.
  Status Scan(RawChunk* chunk, size_t max_rows) {
    const char* data = block_.data();
    const size_t n = block_.size();
    const char delim = o_.delimiter;
    while (pos_ < n) {
      if (state_ == State::kFieldStart && record_fields_ == 0 &&
          chunk->bytes.size() == record_bytes_start_) {
        if (skip_lf_ && data[pos_] == '\n') {
          skip_lf_ = false;
          ++pos_;
          continue;
        }
        record_line_ = line_;
      }
      skip_lf_ = false;
      const char c = data[pos_];
      switch (state_) {
        case State::kFieldStart:
          if (c == '"') {
            state_ = State::kQuoted;
            record_had_quote_ = true;
            quote_line_ = line_;
            ++pos_;
            continue;
          }
          state_ = State::kUnquoted;
          [[fallthrough]];
        case State::kUnquoted: {
          size_t start = pos_;
          while (pos_ < n && !unquoted_special_[static_cast<unsigned char>(data[pos_])]) ++pos_;
          chunk->bytes.append(data + start, pos_ - start);
          if (chunk->bytes.size() - field_start_ > o_.limits.max_field_bytes) {
            return Error(record_fields_,
                         fmt::format("field is longer than {} bytes", o_.limits.max_field_bytes));
          }
          if (pos_ == n) return Status::Ok();
          const char d = data[pos_++];
          if (d == delim) {
            KILN_RETURN_IF_ERROR(EndField(chunk));
            state_ = State::kFieldStart;
          } else if (d == '\0') {
            --pos_;
            return Error(record_fields_, "NUL byte in field");
          } else {  // '\n' or '\r'
            KILN_RETURN_IF_ERROR(EndRecord(chunk));
            ++line_;
            skip_lf_ = d == '\r';
            state_ = State::kFieldStart;
            if (chunk->rows >= max_rows) return Status::Ok();
          }
          break;
        }
        case State::kQuoted: {
          size_t start = pos_;
          while (pos_ < n && !quoted_special_[static_cast<unsigned char>(data[pos_])]) ++pos_;
          chunk->bytes.append(data + start, pos_ - start);
          if (chunk->bytes.size() - field_start_ > o_.limits.max_field_bytes) {
            return Error(record_fields_,
                         fmt::format("field is longer than {} bytes", o_.limits.max_field_bytes));
          }
          if (pos_ == n) return Status::Ok();
          const char d = data[pos_++];
          if (d == '"') {
            state_ = State::kQuoteInQuoted;
          } else if (d == '\n') {
            chunk->bytes.push_back('\n');
            ++line_;
          } else {
            return Error(record_fields_, "NUL byte in field");
          }
          break;
        }
        case State::kQuoteInQuoted:
          ++pos_;
          if (c == '"') {
            chunk->bytes.push_back('"');
            state_ = State::kQuoted;
          } else if (c == delim) {
            KILN_RETURN_IF_ERROR(EndField(chunk));
            state_ = State::kFieldStart;
          } else if (c == '\n' || c == '\r') {
            KILN_RETURN_IF_ERROR(EndRecord(chunk));
            ++line_;
            skip_lf_ = c == '\r';
            state_ = State::kFieldStart;
            if (chunk->rows >= max_rows) return Status::Ok();
          } else {
            return Error(record_fields_,
                         fmt::format("unexpected character '{}' after a closing quote",
                                     c >= 0x20 && c < 0x7f ? std::string(1, c) : "\\x??"));
          }
          break;
      }
      if (chunk->bytes.size() - record_bytes_start_ > o_.limits.max_record_bytes) {
        return Error(record_fields_,
                     fmt::format("record is longer than {} bytes", o_.limits.max_record_bytes));
      }
    }
    return Status::Ok();
  }

  BlockSource source_;
  TokenizerOptions o_;
  std::vector<std::string> names_;
  std::string_view block_;
  size_t pos_ = 0;
  bool eof_ = false;
  bool first_block_ = true;
  State state_ = State::kFieldStart;
  uint64_t line_ = 1;
  uint64_t record_line_ = 1;
  uint64_t quote_line_ = 1;
  bool skip_lf_ = false;
  size_t record_fields_ = 0;
  size_t header_fields_ = 0;
  bool record_had_quote_ = false;
  uint64_t field_start_ = 0;
  uint64_t record_bytes_start_ = 0;
  uint64_t data_start_line_ = 1;
  std::array<uint8_t, 256> unquoted_special_{};
  std::array<uint8_t, 256> quoted_special_{};
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> NewCsvTokenizer(std::unique_ptr<SequentialFile> file,
                                                   const TokenizerOptions& options) {
  auto t = std::make_unique<CsvTokenizer>(std::move(file), options);
  KILN_RETURN_IF_ERROR(t->Init());
  return std::unique_ptr<Tokenizer>(std::move(t));
}

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    int len;
    uint32_t cp;
    if ((*p & 0xE0) == 0xC0)
      len = 2, cp = *p & 0x1F;
    else if ((*p & 0xF0) == 0xE0)
      len = 3, cp = *p & 0x0F;
    else if ((*p & 0xF8) == 0xF0)
      len = 4, cp = *p & 0x07;
    else
      return false;
    if (end - p < len) return false;
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += len;
  }
  return true;
}

}  // namespace kiln::ingest
