// Who is changing the catalog: the actor and request id the audit log records with each state
// change (auth/audit.h has the records and their verification).
//
//   registry::SetDefaultAuditActor("user:alice");          // the CLI, once per process
//   { registry::AuditScope scope({"token:ci", "req-42"});  // a request, a job, the monitor
//     catalog.SetAlias(...); }                              // recorded with token:ci, req-42
//
// The context belongs to the calling thread; scopes nest and restore the outer one. Without a
// scope the process default applies ("unknown" until one is set).
#pragma once

#include <string>

namespace kiln::registry {

struct AuditContext {
  std::string actor;
  std::string request_id;
};

class AuditScope {
 public:
  explicit AuditScope(AuditContext context);
  ~AuditScope();
  AuditScope(const AuditScope&) = delete;
  AuditScope& operator=(const AuditScope&) = delete;

 private:
  AuditContext saved_;
  bool had_ = false;
};

void SetDefaultAuditActor(std::string actor);
// The calling thread's context (its innermost scope, else the default actor).
AuditContext CurrentAuditContext();

}  // namespace kiln::registry
