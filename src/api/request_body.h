// Reading the JSON bodies of control-plane writes (private to api).
#pragma once

#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kiln/base/status.h"

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

}  // namespace kiln::api
