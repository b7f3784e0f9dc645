// The audit log's records and their tamper evidence (docs/security.md, SC-04).
//
// Every state change is one AuditRecord, appended by the catalog in the transaction that makes
// the change. Records form a hash chain: each holds the SHA-256 of the one before it, and its
// own hash covers that and all of its fields. Every kCheckpointEvery records the chain's hash is
// signed with HMAC-SHA256 under a key kept outside the catalog (<home>/keys/audit.key), so
// even someone who can rewrite the catalog and recompute every hash cannot make a rewritten
// chain pass VerifyAudit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::auth {

struct AuditRecord {
  int64_t seq = 0;  // 1, 2, ... in append order
  int64_t time_ms = 0;
  std::string actor;       // "token:NAME", an OS user, "job N", "monitor", "api"
  std::string action;      // e.g. "alias.set", "dataset.commit", "token.create"
  std::string target;      // what it changed: "credit-risk@production", "credit@v2"
  std::string outcome;     // "ok", or what failed
  std::string request_id;  // the HTTP request's id, "" from the CLI
  std::string detail;      // short, human-readable
  std::string prev_hash;   // hex SHA-256 of the record before ("" for the first)
  std::string hash;        // hex SHA-256 of this record (AuditHash)
};

struct AuditCheckpoint {
  int64_t seq = 0;   // the record it signs
  std::string hash;  // that record's hash
  std::string mac;   // hex HMAC-SHA256(key, "kiln-audit\n" seq "\n" hash)
  int64_t time_ms = 0;
};

inline constexpr int64_t kCheckpointEvery = 16;

// The hash of `r` (its seq, time, actor, action, target, outcome, request id, detail and
// prev_hash; each length-prefixed).
std::string AuditHash(const AuditRecord& r);
// The MAC of a checkpoint at `seq` over `hash`; `key` is raw bytes.
std::string CheckpointMac(std::string_view key, int64_t seq, std::string_view hash);
// A new random key for checkpoints (32 bytes).
Result<std::string> NewAuditKey();

struct AuditVerdict {
  bool ok = true;
  int64_t records = 0;
  int64_t checkpoints = 0;
  int64_t first_bad = 0;  // the first record that does not verify (0: none)
  std::string problem;    // what is wrong with it
};
// Checks `records` (by seq, as stored) and `checkpoints` under `key`: seq numbers 1..n with no
// gap, each prev_hash the hash before it, each hash recomputed, each checkpoint's MAC and the
// hash it signs, a checkpoint at every kCheckpointEvery-th record, and none past the last record
// (a truncated tail). With an empty key only the chain is checked.
AuditVerdict VerifyAudit(const std::vector<AuditRecord>& records,
                         const std::vector<AuditCheckpoint>& checkpoints, std::string_view key);

}  // namespace kiln::auth
