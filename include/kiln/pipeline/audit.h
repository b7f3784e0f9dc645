// The audit log of a kiln home: `kiln audit log` and `kiln audit verify` (auth/audit.h has the
// records and the checks; the catalog appends them with each change).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/auth/audit.h"
#include "kiln/pipeline/home.h"
#include "kiln/storage/dataset_store.h"

namespace kiln::pipeline {

// The newest `limit` records at or after `since_ms` (of `actor` when not empty), oldest first.
Result<std::vector<auth::AuditRecord>> AuditLog(Home& home, int64_t since_ms,
                                                const std::string& actor, int64_t limit);
// Every record and checkpoint checked with the home's key.
Result<auth::AuditVerdict> VerifyAuditLog(Home& home);

// `kiln data gc`: unreferenced objects and temporary files removed, and the collection audited.
Result<storage::GcReport> CollectGarbage(Home& home);

}  // namespace kiln::pipeline
