// Drift of served models over HTTP: GET /api/v1/models/{model}/drift[?version=V] (JSON, both
// windows) and the drift families of /metrics (monitor::DriftExposition, sliding window).
// Served by every `kiln serve`, with or without --control-plane (docs/serving.md, "Drift").
#pragma once

#include <string>

#include "kiln/base/status.h"
#include "kiln/serve/model_manager.h"

namespace kiln::api {

// The drift report of `model` at `version` ("" = its default alias) as JSON. A version that
// carries no reference answers {"monitored": false, "reason": ...}; NotFound for a model or
// version that is not served.
Result<std::string> DriftJson(serve::ModelManager& models, const std::string& model,
                              const std::string& version);

// The drift families for every served version that is watched ("" when none is).
std::string DriftMetricsText(const serve::ModelManager& models);

}  // namespace kiln::api
