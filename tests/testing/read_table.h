// Test helper: reads a whole table from in-memory file contents through TableReader.
#pragma once

#include <string>

#include "kiln/base/mem_file_system.h"
#include "kiln/ingest/reader.h"

namespace kiln::testing {

struct ReadOutcome {
  data::Dataset data;
  int chunks = 0;
  int restarts = 0;
};

inline Result<ReadOutcome> ReadTable(const std::string& contents, ingest::ReadOptions options = {},
                                     const std::string& name = "/in/t.csv", int threads = 2) {
  MemFileSystem fs;
  KILN_RETURN_IF_ERROR(fs.CreateDirs("/in"));
  KILN_RETURN_IF_ERROR(AtomicWriteFile(fs, name, contents));
  ExecContext ctx(ExecContext::Options{.threads = threads});
  KILN_ASSIGN_OR_RETURN(auto reader, ingest::TableReader::Open(fs, name, options, ctx));
  ReadOutcome out;
  data::Dataset chunk;
  while (true) {
    KILN_ASSIGN_OR_RETURN(ingest::ReadEvent ev, reader->Next(&chunk));
    if (ev == ingest::ReadEvent::kEnd) break;
    if (ev == ingest::ReadEvent::kRestart) {
      ++out.restarts;
      out.data = {};
      out.chunks = 0;
      continue;
    }
    if (out.chunks++ == 0) {
      out.data.schema = chunk.schema;
      for (const auto& c : chunk.columns) out.data.columns.emplace_back(c.type());
    }
    for (size_t c = 0; c < chunk.columns.size(); ++c)
      out.data.columns[c].AppendColumn(chunk.columns[c]);
  }
  if (out.data.columns.empty()) out.data.schema = reader->schema();
  auto dicts = reader->dictionaries();
  for (size_t c = 0; c < out.data.columns.size(); ++c) {
    if (dicts[c]) out.data.columns[c].set_dictionary(dicts[c]);
  }
  return out;
}

}  // namespace kiln::testing
