// The settings and job parsers on arbitrary bytes: kiln.yaml (pipeline::ParseConfig),
// space.yaml (tune::ParseSpace) and job payloads as a worker or the control plane reads them
// from the queue (jobs::ValidatePayload, jobs::CheckRemotePayload). The first byte picks the
// job verb.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kiln/jobs/operations.h"
#include "kiln/pipeline/config.h"
#include "kiln/tune/space.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& verbs = kiln::jobs::JobVerbs();
  const std::string_view verb = verbs[data[0] % verbs.size()];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  (void)kiln::pipeline::ParseConfig(text);
  (void)kiln::tune::ParseSpace(text);
  (void)kiln::jobs::ValidatePayload(verb, text);
  (void)kiln::jobs::CheckRemotePayload(verb, text);
  return 0;
}
