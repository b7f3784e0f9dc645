// The ingest job: file -> TableReader -> profiles + chunks -> (validation) -> committed version.
// Shared by `kiln data ingest`, ingest jobs and the tests.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "kiln/base/exec_context.h"
#include "kiln/data/validate.h"
#include "kiln/ingest/reader.h"
#include "kiln/pipeline/home.h"
#include "kiln/storage/dataset_store.h"

namespace kiln::pipeline {

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

// What `kiln data ingest` (or an ingest job) asks for, as its flags say it.
struct IngestOptions {
  std::string file, name, message;
  std::string schema, rules;  // schema.yaml / rules.yaml files ("" none)
  std::string format;         // csv | jsonl | "" (by extension)
  std::string delimiter;      // one character or "tab"; "" = ','
  bool append = false;
  bool header = true;
  std::function<void(uint64_t rows, uint64_t bytes)> progress;
};

// Reads the schema and rules files and ingests `options.file` into the home's store.
Result<IngestResult> Ingest(Home& home, const IngestOptions& options, const ExecContext& ctx,
                            data::ValidationReport* report = nullptr);

// On a failed rule: FailedPrecondition, nothing committed, and `*report` (if given) is filled.
Result<IngestResult> IngestFile(FileSystem& fs, storage::DatasetStore& store,
                                const IngestRequest& request, const ExecContext& ctx,
                                data::ValidationReport* report = nullptr);

// Summary of a stored version for validation.
data::DatasetSummary Summarize(const storage::VersionRecord& rec, const storage::Manifest& m);

// `kiln data validate REF (--rules FILE | --against REF)`.
struct ValidateOptions {
  std::string ref;
  std::string rules;    // a rules.yaml: the outcome is recorded for train.require_validated
  std::string against;  // or a version whose inferred expectations are checked (not recorded)
};
struct ValidateResult {
  data::ValidationReport report;
  std::string label;  // "credit@v2"
};
Result<ValidateResult> ValidateVersion(Home& home, const ValidateOptions& options);

// kiln.yaml `train: {require_validated: true}`: the dataset version a training reads (`label`,
// as LoadData names it) must have passed its rules at its latest check — FailedPrecondition
// otherwise, and for files. Returns the check for the run's lineage ("" when the policy is off).
Result<std::string> RequireValidated(Home& home, const std::string& label);

}  // namespace kiln::pipeline
