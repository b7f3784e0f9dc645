#include <mutex>
#include <optional>

#include "kiln/registry/audit.h"

namespace kiln::registry {

namespace {

thread_local std::optional<AuditContext> current;

std::mutex default_mu;
std::string& DefaultActor() {
  static std::string actor = "unknown";
  return actor;
}

}  // namespace

AuditScope::AuditScope(AuditContext context) {
  had_ = current.has_value();
  if (had_) saved_ = std::move(*current);
  current = std::move(context);
}

AuditScope::~AuditScope() {
  if (had_) {
    current = std::move(saved_);
  } else {
    current.reset();
  }
}

void SetDefaultAuditActor(std::string actor) {
  std::lock_guard lock(default_mu);
  DefaultActor() = std::move(actor);
}

AuditContext CurrentAuditContext() {
  if (current) return *current;
  std::lock_guard lock(default_mu);
  return {DefaultActor(), ""};
}

}  // namespace kiln::registry
