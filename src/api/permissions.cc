#include "kiln/api/permissions.h"

#include <string>
#include <vector>

#include "kiln/api/v2_service.h"

namespace kiln::api {

namespace {

using auth::Permission;

constexpr RoutePermission kRest[] = {
    // Health: open, so orchestrators can probe without a token.
    {"GET", "/v2/health/live", Permission::kPublic},
    {"GET", "/v2/health/ready", Permission::kPublic},
    // The V2 data plane.
    {"GET", "/v2", Permission::kRead},
    {"GET", "/v2/models/stats", Permission::kRead},
    {"GET", "/v2/models/{m}", Permission::kRead},
    {"GET", "/v2/models/{m}/ready", Permission::kRead},
    {"GET", "/v2/models/{m}/stats", Permission::kRead},
    {"GET", "/v2/models/{m}/versions/{v}", Permission::kRead},
    {"GET", "/v2/models/{m}/versions/{v}/ready", Permission::kRead},
    {"GET", "/v2/models/{m}/versions/{v}/stats", Permission::kRead},
    {"POST", "/v2/models/{m}/infer", Permission::kInfer},
    {"POST", "/v2/models/{m}/versions/{v}/infer", Permission::kInfer},
    {"GET", "/v2/models/{m}/routing", Permission::kRead},
    {"PUT", "/v2/models/{m}/routing", Permission::kDeploy},
    // Triton's model repository extension.
    {"POST", "/v2/repository/index", Permission::kRead},
    {"POST", "/v2/repository/models/{m}/load", Permission::kDeploy},
    {"POST", "/v2/repository/models/{m}/unload", Permission::kDeploy},
    // Metrics and monitoring.
    {"GET", "/metrics", Permission::kRead},
    {"GET", "/api/v1/alerts", Permission::kRead},
    {"GET", "/api/v1/models/{m}/drift", Permission::kRead},
    {"GET", "/api/v1/models/{m}/performance", Permission::kRead},
    {"POST", "/api/v1/models/{m}/feedback", Permission::kInfer},
    // The control plane.
    {"GET", "/api/v1/datasets", Permission::kRead},
    {"GET", "/api/v1/datasets/{d}", Permission::kRead},
    {"GET", "/api/v1/runs", Permission::kRead},
    {"GET", "/api/v1/runs/{id}", Permission::kRead},
    {"GET", "/api/v1/models", Permission::kRead},
    {"GET", "/api/v1/models/{m}", Permission::kRead},
    {"GET", "/api/v1/models/{m}/history", Permission::kRead},
    {"PUT", "/api/v1/models/{m}/aliases/{a}", Permission::kDeploy},
    {"POST", "/api/v1/models/{m}/aliases/{a}/rollback", Permission::kDeploy},
    {"POST", "/api/v1/models/{m}/versions/{v}/promote", Permission::kDeploy},
    {"GET", "/api/v1/jobs", Permission::kRead},
    {"POST", "/api/v1/jobs", Permission::kSubmit},
    {"GET", "/api/v1/jobs/{id}", Permission::kRead},
    {"POST", "/api/v1/jobs/{id}/cancel", Permission::kSubmit},
};

constexpr RoutePermission kGrpc[] = {
    {"/inference.GRPCInferenceService/ServerLive", "", Permission::kPublic},
    {"/inference.GRPCInferenceService/ServerReady", "", Permission::kPublic},
    {"/inference.GRPCInferenceService/ServerMetadata", "", Permission::kRead},
    {"/inference.GRPCInferenceService/ModelMetadata", "", Permission::kRead},
    {"/inference.GRPCInferenceService/ModelReady", "", Permission::kRead},
    {"/inference.GRPCInferenceService/ModelInfer", "", Permission::kInfer},
};

bool Matches(std::string_view pattern, const std::vector<std::string>& segments) {
  size_t i = 0;
  while (!pattern.empty()) {
    pattern.remove_prefix(1);  // '/'
    const size_t slash = pattern.find('/');
    const std::string_view part = pattern.substr(0, slash);
    pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash);
    if (i >= segments.size()) return false;
    const bool any = part.size() >= 2 && part.front() == '{' && part.back() == '}';
    if (!any && part != segments[i]) return false;
    ++i;
  }
  return i == segments.size();
}

}  // namespace

std::span<const RoutePermission> RestPermissions() { return kRest; }
std::span<const RoutePermission> GrpcPermissions() { return kGrpc; }

std::optional<Permission> RestPermission(std::string_view method, std::string_view target) {
  auto segments = PathSegments(target);
  if (!segments.ok()) return std::nullopt;
  for (const RoutePermission& r : kRest) {
    if (r.method == method && Matches(r.path, *segments)) return r.permission;
  }
  return std::nullopt;
}

std::optional<Permission> GrpcPermission(std::string_view method) {
  for (const RoutePermission& r : kGrpc) {
    if (r.method == method) return r.permission;
  }
  return std::nullopt;
}

Permission JobPermission(std::string_view verb) {
  return verb == "promote" || verb == "retrain" ? Permission::kDeploy : Permission::kSubmit;
}

}  // namespace kiln::api
