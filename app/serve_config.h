// The `serving:` section of kiln.yaml: `kiln serve`'s batching and prediction cache, for every
// model and per model, and per-model traffic routing (docs/serving.md, "Configuration").
//
//   serving:
//     max_batch_size: 256          # defaults for every model
//     max_queue_delay_us: 0
//     models:
//       credit-risk:               # a registered model's name
//         max_batch_size: 64       # unset fields come from the defaults above
//         max_queue_delay_us: 200
//         cache: {max_entries: 10000, max_mb: 64, ttl_seconds: 60}
//         routing:                 # requests naming the model only
//           split: {production: 90, canary: 10}   # aliases or versions: weights
//           sticky_key: customer_id              # this request parameter keeps a client on one
//           route shadow: staging                      # mirrored, answer discarded, compared
//
// Unknown keys and out-of-range values are errors naming the key.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "kiln/base/status.h"
#include "kiln/serve/batcher.h"
#include "kiln/serve/dispatcher.h"

namespace kiln::app {

struct ServingConfig {
  serve::BatcherOptions batcher;
  std::map<std::string, serve::RoutingPolicy> routing;  // by model name
};

// `yaml` is the whole kiln.yaml (empty: the defaults).
Result<ServingConfig> ParseServingConfig(std::string_view yaml);

}  // namespace kiln::app
