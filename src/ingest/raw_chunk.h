// Private to ingest: tokenized records before type conversion, and the tokenizer interface
// shared by the CSV and JSON Lines readers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/file_system.h"
#include "kiln/base/hash.h"
#include "kiln/base/limits.h"
#include "kiln/base/status.h"
#include "kiln/base/utf8.h"

namespace kiln::ingest {

// Rows x cols fields, row-major. Field i spans bytes [begins[i], ends[i]). A field flagged null
// is a JSON null or a missing key.
struct RawChunk {
  size_t rows = 0;
  size_t cols = 0;
  std::string bytes;
  std::vector<uint64_t> begins;
  std::vector<uint64_t> ends;
  std::vector<uint8_t> nulls;   // empty = no null flags (CSV)
  std::vector<uint64_t> lines;  // 1-based source line of each row

  void Clear() {
    rows = 0;
    bytes.clear();
    begins.clear();
    ends.clear();
    nulls.clear();
    lines.clear();
  }
  std::string_view Field(size_t row, size_t col) const {
    const size_t i = row * cols + col;
    return std::string_view(bytes.data() + begins[i], ends[i] - begins[i]);
  }
  bool IsNull(size_t row, size_t col) const { return !nulls.empty() && nulls[row * cols + col]; }
};

// Reads a file in blocks, hashing every byte.
class BlockSource {
 public:
  BlockSource(std::unique_ptr<SequentialFile> file, size_t block_bytes)
      : file_(std::move(file)), block_bytes_(block_bytes) {}
  // Returns the next block (empty at end of file). The view is valid until the next call.
  Result<std::string_view> NextBlock();
  // Appends up to block_bytes of the file to `out`; returns the count (0 at end of file).
  Result<size_t> AppendBlock(std::string* out);
  Status Rewind();
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  // Hex SHA-256 of the whole file; empty until the end of the file was reached.
  std::string Sha256() const { return sha_done_; }

 private:
  std::unique_ptr<SequentialFile> file_;
  size_t block_bytes_;
  std::string buf_;
  std::atomic<uint64_t> bytes_{0};  // read by progress reporting while a prefetch runs
  std::unique_ptr<Sha256Stream> sha_ = std::make_unique<Sha256Stream>();
  std::string sha_done_;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Column names known so far (JSON Lines discovers keys as it reads).
  virtual const std::vector<std::string>& names() const = 0;
  // Fills `chunk` with up to `max_rows` records; false when the file is exhausted and no rows
  // were produced.
  virtual Result<bool> NextChunk(size_t max_rows, RawChunk* chunk) = 0;
  // Restarts from the first data record.
  virtual Status Rewind() = 0;
  virtual uint64_t bytes() const = 0;
  virtual std::string Sha256() = 0;
};

struct TokenizerOptions {
  std::string path;  // for messages
  char delimiter = 0;
  bool header = true;
  size_t block_bytes = 4u << 20;
  Limits limits;
};

Result<std::unique_ptr<Tokenizer>> NewCsvTokenizer(std::unique_ptr<SequentialFile> file,
                                                   const TokenizerOptions& options);
Result<std::unique_ptr<Tokenizer>> NewJsonLinesTokenizer(std::unique_ptr<SequentialFile> file,
                                                         const TokenizerOptions& options);

using ::kiln::IsValidUtf8;

}  // namespace kiln::ingest
