// Wall-clock time as kiln records it (catalog rows, tokens, jobs, alerts): milliseconds since
// the Unix epoch. Durations and deadlines use std::chrono::steady_clock instead.
#pragma once

#include <chrono>
#include <cstdint>

namespace kiln {

inline int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace kiln
