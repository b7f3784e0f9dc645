// What the control plane's handlers share (private to api): reading the JSON bodies of writes,
// and the responses they answer with.
#pragma once

#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/api/v2_service.h"
#include "kiln/base/status.h"
#include "kiln/http/server.h"

namespace kiln::api {

// The optional JSON object body of a write: {"version": N, "reason": "..."}.
inline Result<nlohmann::json> BodyObject(const std::string& body) {
  if (body.empty()) return nlohmann::json::object();
  bool too_deep = false;
  nlohmann::json j = nlohmann::json::parse(
      body,
      [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (depth > 4) too_deep = true;
        return !too_deep;
      },
      /*allow_exceptions=*/false);
  if (too_deep || j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("the body must be a JSON object");
  }
  return j;
}

inline Result<std::string> Text(const nlohmann::json& body, const char* key) {
  if (!body.contains(key)) return std::string();
  if (!body[key].is_string()) return InvalidArgumentError(fmt::format("'{}' must be text", key));
  return body[key].get<std::string>();
}

// 200 with the JSON text, or the error.
inline http::HttpResponse JsonResponse(Result<std::string> r) {
  if (!r.ok()) return ErrorResponse(r.status());
  return http::HttpResponse{200, "application/json", std::move(*r), {}};
}

// 405 with the methods the route allows.
inline http::HttpResponse MethodNotAllowed(const char* allowed) {
  http::HttpResponse r = ErrorResponse(InvalidArgumentError("method not allowed"));
  r.status = 405;
  r.headers.emplace_back("Allow", allowed);
  return r;
}

}  // namespace kiln::api
