#include "kiln/pipeline/audit.h"

#include <limits>

#include <fmt/format.h>

namespace kiln::pipeline {

Result<std::vector<auth::AuditRecord>> AuditLog(Home& home, int64_t since_ms,
                                                const std::string& actor, int64_t limit) {
  return home.catalog().AuditLog(since_ms, actor, limit);
}

Result<auth::AuditVerdict> VerifyAuditLog(Home& home) {
  KILN_ASSIGN_OR_RETURN(auto records,
                        home.catalog().AuditLog(0, "", std::numeric_limits<int64_t>::max()));
  KILN_ASSIGN_OR_RETURN(auto checkpoints, home.catalog().AuditCheckpoints());
  return auth::VerifyAudit(records, checkpoints, home.audit_key());
}

Result<storage::GcReport> CollectGarbage(Home& home) {
  KILN_ASSIGN_OR_RETURN(storage::GcReport r, home.datasets().CollectGarbage());
  KILN_RETURN_IF_ERROR(home.catalog().AppendAudit(
      "data.gc", "objects", "ok",
      fmt::format("removed {} objects and {} temp files; {} live", r.removed_objects,
                  r.removed_temp_files, r.live_objects)));
  return r;
}

}  // namespace kiln::pipeline
