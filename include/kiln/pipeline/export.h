// Writing data out of kiln as CSV: `kiln data export` and the predictions of `kiln predict`.
#pragma once

#include <string>
#include <string_view>

#include "kiln/base/file_system.h"
#include "kiln/base/status.h"
#include "kiln/storage/dataset_store.h"

namespace kiln::pipeline {

// Appends `v` as one CSV field (RFC 4180: quoted when it holds a comma, quote, line break or
// edge spaces).
void AppendCsvField(std::string* out, std::string_view v);

// Writes a dataset version as CSV (header, RFC 4180 quoting, empty field = null), atomically.
Status ExportCsv(storage::DatasetStore& store, const storage::Manifest& m, FileSystem& fs,
                 const std::string& path);

}  // namespace kiln::pipeline
