#include "registry/sql_audit.h"

#include <algorithm>

#include <fmt/format.h>

#include "kiln/base/clock.h"
#include "kiln/registry/audit.h"

namespace kiln::registry {

namespace {

constexpr size_t kMaxField = 4096;

std::string Clip(std::string_view v) { return std::string(v.substr(0, kMaxField)); }

}  // namespace

Status RecordAudit(SqlDb* db, std::string_view key, std::string_view action,
                   std::string_view target, std::string_view outcome, std::string_view detail) {
  const AuditContext who = CurrentAuditContext();
  auth::AuditRecord r;
  {
    Stmt last(db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
    KILN_RETURN_IF_ERROR(last.ok());
    KILN_ASSIGN_OR_RETURN(bool row, last.Step());
    r.seq = row ? last.Int(0) + 1 : 1;
    r.prev_hash = row ? last.Text(1) : "";
    if (row) KILN_RETURN_IF_ERROR(last.Step().status());
  }
  r.time_ms = UnixMillis();
  r.actor = Clip(who.actor);
  r.action = Clip(action);
  r.target = Clip(target);
  r.outcome = Clip(outcome);
  r.request_id = Clip(who.request_id);
  r.detail = Clip(detail);
  r.hash = auth::AuditHash(r);
  Stmt ins(db,
           "INSERT INTO audit_log(seq, time_ms, actor, action, target, outcome, request_id, "
           "detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  KILN_RETURN_IF_ERROR(ins.ok());
  ins.Bind(1, r.seq).Bind(2, r.time_ms).Bind(3, r.actor).Bind(4, r.action).Bind(5, r.target);
  ins.Bind(6, r.outcome).Bind(7, r.request_id).Bind(8, r.detail).Bind(9, r.prev_hash);
  ins.Bind(10, r.hash);
  KILN_RETURN_IF_ERROR(ins.Step().status());
  if (key.empty() || r.seq % auth::kCheckpointEvery != 0) return Status::Ok();
  Stmt cp(db, "INSERT INTO audit_checkpoints(seq, hash, mac, time_ms) VALUES (?1, ?2, ?3, ?4)");
  KILN_RETURN_IF_ERROR(cp.ok());
  cp.Bind(1, r.seq).Bind(2, r.hash).Bind(3, auth::CheckpointMac(key, r.seq, r.hash));
  cp.Bind(4, r.time_ms);
  return cp.Step().status();
}

Result<std::vector<auth::AuditRecord>> ReadAudit(SqlDb* db, int64_t since_ms,
                                                 const std::string& actor, int64_t limit) {
  // The newest `limit` matching records, returned oldest first.
  Stmt s(db,
         "SELECT seq, time_ms, actor, action, target, outcome, request_id, detail, prev_hash, "
         "hash FROM audit_log WHERE time_ms >= ?1 AND (?2 = '' OR actor = ?2) "
         "ORDER BY seq DESC LIMIT ?3");
  KILN_RETURN_IF_ERROR(s.ok());
  s.Bind(1, since_ms).Bind(2, actor).Bind(3, limit);
  std::vector<auth::AuditRecord> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Int(0), s.Int(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5), s.Text(6),
                   s.Text(7), s.Text(8), s.Text(9)});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::vector<auth::AuditCheckpoint>> ReadCheckpoints(SqlDb* db) {
  Stmt s(db, "SELECT seq, hash, mac, time_ms FROM audit_checkpoints ORDER BY seq");
  KILN_RETURN_IF_ERROR(s.ok());
  std::vector<auth::AuditCheckpoint> out;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({s.Int(0), s.Text(1), s.Text(2), s.Int(3)});
  }
  return out;
}

}  // namespace kiln::registry
