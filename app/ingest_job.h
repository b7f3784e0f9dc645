// The ingest job: file -> TableReader -> profiles + chunks -> (validation) -> committed version.
// Shared by `kiln data ingest`, the tests and (later) the control-plane API.
#pragma once

#include <optional>
#include <string>

#include "kiln/base/exec_context.h"
#include "kiln/data/validate.h"
#include "kiln/ingest/reader.h"
#include "kiln/storage/dataset_store.h"

namespace kiln::app {

struct IngestRequest {
  std::string path;
  std::string name;
  std::string message;
  ingest::ReadOptions read;
  std::optional<data::Rules> rules;  // refuse to commit when any rule fails
  bool append = false;               // add the file's rows to the newest version
  // Called after every chunk with rows and source bytes so far (progress display).
  std::function<void(uint64_t rows, uint64_t bytes)> progress;
};

struct IngestResult {
  storage::VersionRecord record;
  uint64_t source_bytes = 0;
  std::optional<data::ValidationReport> report;
};

// On a failed rule: FailedPrecondition, nothing committed, and `*report` (if given) is filled.
Result<IngestResult> IngestFile(FileSystem& fs, storage::DatasetStore& store,
                                const IngestRequest& request, const ExecContext& ctx,
                                data::ValidationReport* report = nullptr);

// Summary of a stored version for validation.
data::DatasetSummary Summarize(const storage::VersionRecord& rec, const storage::Manifest& m);

}  // namespace kiln::app
