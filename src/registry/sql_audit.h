// The audit log in the catalog's tables (migration 8): appended inside the transaction of the
// change it records, read back for `kiln audit log` and `kiln audit verify`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kiln/auth/audit.h"
#include "registry/sql_db.h"

namespace kiln::registry {

// Appends one record for the calling thread's actor and request id (registry/audit.h), chained
// to the last one; every auth::kCheckpointEvery records, signs a checkpoint with `key` (raw
// bytes; none when empty). Call inside a write transaction: the catalog's writer lock keeps the
// chain in order across processes.
Status RecordAudit(SqlDb* db, std::string_view key, std::string_view action,
                   std::string_view target, std::string_view outcome, std::string_view detail);

Result<std::vector<auth::AuditRecord>> ReadAudit(SqlDb* db, int64_t since_ms,
                                                 const std::string& actor, int64_t limit);
Result<std::vector<auth::AuditCheckpoint>> ReadCheckpoints(SqlDb* db);

}  // namespace kiln::registry
