// The permission table: what every REST route and gRPC method of `kiln serve` needs
// (auth/token.h has the roles; docs/security.md prints this table). A request that matches no
// row is denied, whatever the role: a new endpoint is closed until it is listed here.
//
// Paths are matched segment by segment after percent-decoding (api::PathSegments); `{x}`
// matches one segment, anything else itself; the query string is ignored.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "kiln/auth/token.h"

namespace kiln::api {

struct RoutePermission {
  std::string_view method;  // "GET", "POST", "PUT"; for gRPC the full method name
  std::string_view path;    // e.g. "/v2/models/{m}/infer"; "" for gRPC
  auth::Permission permission;
};

// Every REST route, in the order of docs/security.md.
std::span<const RoutePermission> RestPermissions();
// Every gRPC method of inference.GRPCInferenceService.
std::span<const RoutePermission> GrpcPermissions();

// What `method` on `target` needs; nullopt when no route matches.
std::optional<auth::Permission> RestPermission(std::string_view method, std::string_view target);
// What the gRPC method (e.g. "/inference.GRPCInferenceService/ModelInfer") needs; nullopt
// for a method not in the table.
std::optional<auth::Permission> GrpcPermission(std::string_view method);
// What queuing a job of `verb` needs on top of POST /api/v1/jobs: promote and retrain move
// aliases (deploy); the others produce datasets, runs and model versions (submit).
auth::Permission JobPermission(std::string_view verb);

}  // namespace kiln::api
