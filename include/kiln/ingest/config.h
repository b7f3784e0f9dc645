// Parsers for the user's YAML files that shape ingestion: `--schema schema.yaml` (column types
// and roles) and `--rules rules.yaml` (validation rules). Both files are untrusted: size, depth
// and node count (after alias expansion) are limited, explicit tags are rejected, and unknown
// keys are errors so that typos do not pass silently. Formats: docs/formats/schema-and-rules.md.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "kiln/base/file_system.h"
#include "kiln/base/limits.h"
#include "kiln/data/validate.h"
#include "kiln/ingest/reader.h"

namespace kiln::ingest {

using SchemaOverrides = std::map<std::string, ColumnOverride>;

Result<SchemaOverrides> ParseSchemaYaml(std::string_view text, const Limits& limits);
Result<data::Rules> ParseRulesYaml(std::string_view text, const Limits& limits);

Result<SchemaOverrides> LoadSchemaFile(FileSystem& fs, const std::string& path,
                                       const Limits& limits);
Result<data::Rules> LoadRulesFile(FileSystem& fs, const std::string& path, const Limits& limits);

}  // namespace kiln::ingest
