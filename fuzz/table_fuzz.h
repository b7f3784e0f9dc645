// Shared body of the CSV and JSON Lines fuzzers: read the input through TableReader with small
// limits; any Status is fine, a crash, hang or sanitizer report is not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/base/mem_file_system.h"
#include "kiln/ingest/reader.h"

namespace kiln::fuzz {

inline void ReadAll(const uint8_t* data, size_t size, const std::string& name) {
  MemFileSystem fs;
  if (!fs.CreateDirs("/f").ok()) return;
  if (!AtomicWriteFile(fs, name, std::string(reinterpret_cast<const char*>(data), size)).ok())
    return;
  ExecContext ctx(ExecContext::Options{.threads = 2});
  ingest::ReadOptions o;
  o.chunk_rows = 7;  // many chunks, restarts and block boundaries from small inputs
  o.sample_rows = 5;
  o.block_bytes = 64;
  o.limits.max_field_bytes = 1024;
  o.limits.max_record_bytes = 4096;
  o.limits.max_columns = 64;
  auto reader = ingest::TableReader::Open(fs, name, o, ctx);
  if (!reader.ok()) return;
  data::Dataset chunk;
  for (int i = 0; i < 10000; ++i) {
    auto ev = (*reader)->Next(&chunk);
    if (!ev.ok() || *ev == ingest::ReadEvent::kEnd) return;
  }
}

}  // namespace kiln::fuzz
