// Limits: every size kiln accepts from untrusted input, in one place (docs/design/conventions.md).
// Checked before allocating. Later subsystems (HTTP bodies, JSON depth, rows per request) add
// their fields here rather than defining their own constants.
#pragma once

#include <cstdint>

namespace kiln {

struct Limits {
  // Names (datasets, versions, models, aliases, ...).
  uint32_t max_name_bytes = 128;
  // Tabular input files.
  uint64_t max_field_bytes = 16u << 20;   // one CSV/JSON field
  uint64_t max_record_bytes = 64u << 20;  // one CSV record / JSON line
  uint32_t max_columns = 20000;
  uint64_t max_categories = 1u << 24;  // distinct values of one categorical column
  // Config files (schema.yaml, rules.yaml) and JSON documents.
  uint64_t max_config_bytes = 4u << 20;
  uint32_t max_nesting_depth = 100;
  uint64_t max_config_nodes = 1u << 20;  // after alias expansion (alias bombs)
  // Stored objects (manifests and chunks): sanity bounds for headers read from disk.
  uint64_t max_manifest_bytes = 256u << 20;
  uint64_t max_chunk_bytes = 1ull << 31;
  uint64_t max_chunk_rows = 1u << 20;
  // Model files and registered model artifacts.
  uint64_t max_model_bytes = 2ull << 30;
  // The inference server (BI-20..BI-28): checked before anything is allocated for a request.
  uint64_t max_request_body_bytes = 64u << 20;
  uint32_t max_request_header_bytes = 16u << 10;
  uint32_t header_timeout_ms = 15000;  // the whole header, incl. keep-alive idle (slowloris)
  uint32_t body_timeout_ms = 30000;    // the whole body (slow drip)
  uint32_t max_tensors = 4096;         // inputs or outputs of one request
  uint64_t max_rows_per_request = 1u << 20;
  uint64_t max_tensor_elements = 1ull << 26;
  // An inference request's deadline (from its arrival): the default, and the cap on the
  // `timeout` a request asks for.
  uint32_t default_request_timeout_ms = 30000;
  uint32_t max_request_timeout_ms = 300000;

  static const Limits& Default() {
    static const Limits kDefault;
    return kDefault;
  }
};

}  // namespace kiln
