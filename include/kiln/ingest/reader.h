// TableReader: streaming, multithreaded readers of untrusted tabular files (CSV, JSON Lines)
// into Dataset chunks of at most ReadOptions::chunk_rows rows.
//
// Memory is bounded by the chunk size and the read block, not by the file size. Column types
// are inferred from a sample of the first chunk (bool, int64, float64, timestamp, categorical
// for low-cardinality strings, string) unless ReadOptions::overrides fixes them. When a later
// value does not fit an inferred type (an int column meets "1.5"), the reader scans the rest of
// the file for the final types, rewinds, and Next() returns ReadEvent::kRestart: the consumer
// drops what it received and starts over with the new schema().
//
//   KILN_ASSIGN_OR_RETURN(auto reader, TableReader::Open(fs, "churn.csv", {}, ctx));
//   data::Dataset chunk;
//   while (true) {
//     KILN_ASSIGN_OR_RETURN(ReadEvent ev, reader->Next(&chunk));
//     if (ev == ReadEvent::kEnd) break;
//     ...
//   }
//
// Every malformed input ends in InvalidArgument naming the file, line and column.
// Thread-safety: one thread drives a reader; it parallelises internally through the context.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/base/exec_context.h"
#include "kiln/base/file_system.h"
#include "kiln/base/limits.h"
#include "kiln/data/column.h"

namespace kiln::ingest {

enum class Format { kCsv, kJsonLines };
std::string_view FormatName(Format f);

struct ColumnOverride {
  std::optional<data::DataType> type;
  std::optional<data::ColumnRole> role;
};

struct ReadOptions {
  std::optional<Format> format;  // default: from the file extension (.jsonl/.ndjson/.json)
  char delimiter = 0;            // CSV; 0 = sniff among , \t ; |
  bool header = true;            // CSV
  std::vector<std::string> missing_tokens = DefaultMissingTokens();
  size_t chunk_rows = 65536;
  size_t sample_rows = 20000;
  size_t block_bytes = 4u << 20;
  // Strings with at most this many distinct values in the sample (and repeating) become
  // categorical.
  size_t categorical_max_distinct = 1000;
  std::map<std::string, ColumnOverride> overrides;
  // When set, every column's type is fixed (appending to an existing version).
  std::optional<data::Schema> fixed_schema;
  // With fixed_schema: categorical codes continue these dictionaries (one per column).
  std::vector<data::Dictionary> initial_dictionaries;
  Limits limits;

  static std::vector<std::string> DefaultMissingTokens();
};

enum class ReadEvent { kChunk, kEnd, kRestart };

// Called on the converting thread for each column of a chunk right after it is converted, so
// that per-column work (profiling, encoding) runs while the column is hot in cache and in
// parallel across columns. Must be thread-safe across different columns.
using ColumnSink = std::function<Status(size_t column, const data::Column& values)>;

class TableReader {
 public:
  static Result<std::unique_ptr<TableReader>> Open(FileSystem& fs, const std::string& path,
                                                   const ReadOptions& options,
                                                   const ExecContext& ctx);
  virtual ~TableReader() = default;

  virtual const data::Schema& schema() const = 0;
  // Reads and converts the next chunk. With threads > 1 the chunk after it is tokenized in the
  // background meanwhile. `sink`, if set, sees every column of a kChunk result.
  virtual Result<ReadEvent> Next(data::Dataset* chunk, const ColumnSink& sink = nullptr) = 0;
  // Final categorical dictionaries, one per column (null for non-categorical columns).
  virtual std::vector<std::shared_ptr<const data::Dictionary>> dictionaries() const = 0;
  // SHA-256 of the file and its size; complete once Next() returned kEnd.
  virtual std::string source_sha256() const = 0;
  virtual uint64_t source_bytes() const = 0;
  virtual Format format() const = 0;
};

}  // namespace kiln::ingest
