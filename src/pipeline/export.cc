#include "kiln/pipeline/export.h"

#include <fmt/format.h>

namespace kiln::pipeline {

void AppendCsvField(std::string* out, std::string_view v) {
  const bool quote = v.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!v.empty() && (v.front() == ' ' || v.back() == ' '));
  if (!quote) {
    out->append(v);
    return;
  }
  out->push_back('"');
  for (char c : v) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

Status ExportCsv(storage::DatasetStore& store, const storage::Manifest& m, FileSystem& fs,
                 const std::string& path) {
  KILN_ASSIGN_OR_RETURN(auto file, AtomicFileWriter::Open(fs, path));
  std::string buf;
  for (size_t c = 0; c < m.schema.size(); ++c) {
    if (c) buf.push_back(',');
    AppendCsvField(&buf, m.schema.field(c).name);
  }
  buf.push_back('\n');
  for (size_t rg = 0; rg < m.row_groups.size(); ++rg) {
    std::vector<data::Column> cols;
    for (size_t c = 0; c < m.schema.size(); ++c) {
      KILN_ASSIGN_OR_RETURN(data::Column col, store.ReadChunk(m, rg, c));
      cols.push_back(std::move(col));
    }
    for (data::RowIndex r = 0; r < m.row_groups[rg].rows; ++r) {
      for (size_t c = 0; c < cols.size(); ++c) {
        if (c) buf.push_back(',');
        AppendCsvField(&buf, cols[c].TextAt(r));
      }
      buf.push_back('\n');
      if (buf.size() > (1 << 20)) {
        KILN_RETURN_IF_ERROR(file->Append(buf));
        buf.clear();
      }
    }
  }
  KILN_RETURN_IF_ERROR(file->Append(buf));
  return file->Commit();
}

}  // namespace kiln::pipeline
